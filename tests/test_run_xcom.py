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


def test_the_result_fields_are_xcoms_by_default_and_not_without_multiple_outputs(job):
    op = plan()
    assert op.multiple_outputs is True
    ctx = context(ti=FakeTI("deploy"))
    op.execute(ctx)
    assert isinstance(ctx["ti"].xcom["job_instance_id"], int)
    ctx = context(ti=FakeTI("deploy"))
    plan(multiple_outputs=False).execute(ctx)
    assert "job_instance_id" not in ctx["ti"].xcom
