"""What a run operator leaves in XCom for later tasks: each identifier of the started job as its own XCom, right
after the start (so ``run.output["job_instance_id"]`` resolves, also for an archive of a failed job's logs)."""

from __future__ import annotations

import pytest
from helpers import set_connections
from test_run_operators import FakeTI, context, plan

from airflow_joblogs.exceptions import JobFailedError


@pytest.fixture
def job(bk, monkeypatch):
    """The BlueKing emulator, its connections set; yields the emulator."""
    set_connections(monkeypatch, bk.connections())
    return bk.emulator


def test_identifiers_are_in_xcom_from_the_start_even_when_the_job_fails(job):
    ctx = context(ti=FakeTI("failed_deploy"))
    with pytest.raises(JobFailedError):
        plan(102).execute(ctx)
    pushed = ctx["ti"].xcom
    assert job.jobs[pushed["job_instance_id"]].name == "deploy-api-v1.8"
    assert pushed["bk_biz_id"] == 2 and pushed["bk_scope_type"] == "biz" and pushed["job_plan_id"] == 102


def test_the_result_fields_with_a_value_are_xcoms_and_none_without_do_xcom_push(job):
    ctx = context(ti=FakeTI("deploy"))
    result = plan().execute(ctx)
    pushed = ctx["ti"].xcom
    assert pushed["job_instance_id"] == result["job_instance_id"]
    assert pushed["status"] == {"raw": 3, "state": "success", "meaning": "success"}
    assert pushed["outputs"] == result["outputs"]
    # no console_url extra: the result says None, and no None is pushed (Airflow 3.0 refuses one)
    assert result["console_url"] is None and "console_url" not in pushed
    ctx = context(ti=FakeTI("start"))
    assert plan(wait_for_completion=False).execute(ctx)["status"] is None
    assert "status" not in ctx["ti"].xcom and "job_instance_id" in ctx["ti"].xcom
    ctx = context(ti=FakeTI("deploy"))
    plan(do_xcom_push=False).execute(ctx)
    assert "job_instance_id" not in ctx["ti"].xcom
