"""QingCloudClusterJobsOperator against the emulator: every record exported once, as JSON Lines or readable lines."""

from __future__ import annotations

import gzip
import hashlib
import json
import time

import pytest

from airflow_joblogs.emulators.qingcloud import APP_ID, SEED_JOB
from airflow_joblogs.exceptions import InvalidParameterError
from airflow_joblogs.hooks.qingcloud import QingCloudHook, job_line
from airflow_joblogs.http import RetryPolicy
from airflow_joblogs.operators.qingcloud import QingCloudClusterJobsOperator

FAST = RetryPolicy(max_attempts=6, initial_backoff=0.01, max_backoff=0.05)


def finished_records() -> list[dict]:
    """Every record of the application once its two live jobs have finished (raw, newest first)."""
    hook = QingCloudHook()
    deadline = time.monotonic() + 10
    while hook.get_job_status(["j-addnodes01", "j-resize0001"], app=APP_ID).raw_status != "failed" or (
        hook.get_job_status("j-addnodes01", app=APP_ID).raw_status != "successful"
    ):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return hook.describe_cluster_jobs(app=APP_ID, limit=100)["job_set"]


def export(**kwargs) -> dict:
    kwargs.setdefault("app", APP_ID)
    op = QingCloudClusterJobsOperator(task_id="export", **kwargs)
    op.hook_class = type(
        "FastRetryHook",
        (QingCloudHook,),
        {"__init__": lambda self, conn_id=None, **kw: QingCloudHook.__init__(self, conn_id, retry_policy=FAST)},
    )
    return op.execute({})


def test_text_to_xcom_is_one_readable_line_per_job(qc):
    records = finished_records()
    manifest = export(page_size=10)
    lines = manifest["content"].splitlines()
    assert lines == [job_line(r) for r in records]
    assert lines[0] == "2026-11-22T02:02:00Z  ResizeCluster  failed  cl-chronus01  2500"
    assert lines[-1] == "2018-03-04T05:37:58Z  CeaseResources  successful  cl-xi3aoihf  -"
    assert manifest["lines"] == manifest["chunks"] == 48 and manifest["truncated"] is False
    assert manifest["job"] == {"app": APP_ID} and manifest["service"] == "QingCloud"


def test_jsonl_records_are_unchanged_except_the_decoded_directive(qc, tmp_path):
    records = finished_records()
    qc.app.faults.update(script=["error", "ok", "throttle", "drop", "ok", "truncate"], retry_after=0.01)
    manifest = export(destination=str(tmp_path) + "/", log_format="jsonl", page_size=9)
    assert not qc.app.faults.script, "every scripted fault was served"
    path = tmp_path / "qingcloud-app-tg3lbp0a-jobs.jsonl"
    assert manifest["uri"].endswith(str(path))
    data = path.read_bytes()
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() and manifest["lines"] == 48
    exported = [json.loads(line) for line in data.decode().splitlines()]
    assert exported == [{**r, "directive": json.loads(r["directive"])} for r in records]
    seed = exported[-1]
    assert seed["directive"]["sender"]["role"] == "global_admin"
    assert {k: v for k, v in seed.items() if k != "directive"} == {
        k: v for k, v in SEED_JOB.items() if k != "directive"
    }


def test_filters_max_records_and_gzip(qc, tmp_path):
    finished_records()
    manifest = export(status="failed", destination=str(tmp_path) + "/", compression="gzip", max_records=3)
    path = tmp_path / "qingcloud-app-tg3lbp0a-jobs-failed.log.gz"
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert len(lines) == 3 and all("  failed  " in line for line in lines)
    assert manifest["lines"] == 3


def test_templated_fields():
    assert {"app", "cluster", "job_ids", "status", "zone", "destination"} <= set(
        QingCloudClusterJobsOperator.template_fields
    )


@pytest.mark.parametrize(
    ("kwargs", "parameter"), [({"page_size": 101}, "page_size"), ({"max_records": 0}, "max_records")]
)
def test_bad_options_fail_when_the_dag_is_parsed(kwargs, parameter):
    with pytest.raises(InvalidParameterError) as info:
        QingCloudClusterJobsOperator(task_id="export", app=APP_ID, **kwargs)
    assert info.value.parameter == parameter


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [({"status": "done"}, "status"), ({"app": None}, "app"), ({"job_ids": "x-1"}, "job_ids"), ({"zone": "x"}, "zone")],
)
def test_bad_filters_fail_at_execute_before_any_request(qc, kwargs, parameter):
    served = qc.app.faults.served
    with pytest.raises(InvalidParameterError) as info:
        export(**kwargs)
    assert info.value.parameter == parameter and qc.app.faults.served == served
