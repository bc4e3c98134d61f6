"""Injected faults (5xx, 429 + Retry-After, dropped connections, empty and cut-off bodies) are retried,
and the archive still equals the source byte for byte."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from helpers import wait_for_blueking_job

from airflow_joblogs.emulators.blueking import host_log
from airflow_joblogs.exceptions import JobLogsError, TransientError
from airflow_joblogs.hooks.blueking import BlueKingJobHook
from airflow_joblogs.http import ApiRequest, RetryPolicy, _may_send_again
from airflow_joblogs.operators.blueking import BlueKingJobLogOperator

FAST = RetryPolicy(max_attempts=6, initial_backoff=0.01, max_backoff=0.05)


def archive(tmp_path, conn_id: str, job_id: int, log_format: str, name: str) -> tuple[dict, bytes]:
    op = BlueKingJobLogOperator(
        task_id=name,
        job_instance_id=job_id,
        bk_biz_id=2,
        bk_job_conn_id=conn_id,
        destination=str(tmp_path / name) + "/",
        log_format=log_format,
        concurrency=1,  # one batch at a time: the seeded faults meet the requests in a fixed order
    )
    op.hook_class = type(
        "FastRetryHook",
        (BlueKingJobHook,),
        {"__init__": lambda self, conn_id=None, **kw: BlueKingJobHook.__init__(self, conn_id, retry_policy=FAST)},
    )
    manifest = op.execute({})
    return manifest, (tmp_path / name).joinpath(next(p.name for p in (tmp_path / name).iterdir())).read_bytes()


@pytest.mark.parametrize("conn_id", ["bk_job_default", "bk_job_esb"])
@pytest.mark.parametrize("log_format", ["text", "jsonl"])
def test_archive_under_faults_equals_the_clean_archive(bk, tmp_path, conn_id, log_format):
    wait_for_blueking_job(1001)
    clean_manifest, clean = archive(tmp_path, conn_id, 1001, log_format, "clean")
    # ESB v2 makes one request (5 faults, then the 6th and last attempt succeeds); the gateway several
    script = (
        ["error", "throttle", "drop", "empty", "truncate"]
        if conn_id == "bk_job_esb"
        else ["error", "throttle", "drop", "ok", "empty", "truncate", "ok", "error", "drop", "ok", "throttle"]
    )
    bk.app.faults.update(script=script, retry_after=0.05)
    faulty_manifest, faulty = archive(tmp_path, conn_id, 1001, log_format, "faulty")
    assert bk.app.faults.script == type(bk.app.faults.script)(), "every scripted fault was served"
    assert faulty == clean
    assert faulty_manifest["sha256"] == clean_manifest["sha256"] == hashlib.sha256(clean).hexdigest()
    job = bk.emulator.jobs[1001]
    expected = [host_log(job, step, host) for step in job.steps for host in step.hosts]
    if log_format == "jsonl":
        assert [json.loads(line)["log_content"] for line in faulty.decode().splitlines()] == expected
    else:
        text = faulty.decode()
        positions = [text.index(chunk) for chunk in expected]
        assert positions == sorted(positions), "host logs out of order"


def test_random_fault_rates_still_give_the_exact_log(bk, tmp_path):
    wait_for_blueking_job(1004)
    clean_manifest, _ = archive(tmp_path, "bk_job_default", 1004, "jsonl", "clean")
    bk.app.faults.update(
        error_rate=0.15, throttle_rate=0.1, drop_rate=0.1, empty_rate=0.05, truncate_rate=0.05, retry_after=0.01, seed=7
    )
    manifest, _ = archive(tmp_path, "bk_job_default", 1004, "jsonl", "faulty")
    assert manifest["sha256"] == clean_manifest["sha256"]
    assert manifest["chunks"] == 1000 and manifest["lines"] == 1000


def test_retries_are_bounded_and_the_error_names_the_fault(bk):
    bk.app.faults.update(error_rate=1.0)
    hook = BlueKingJobHook(
        "bk_job_default", retry_policy=RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
    )
    served = bk.app.faults.served
    with pytest.raises(TransientError) as info:
        hook.get_job_status(1001, bk_biz_id=2)
    assert bk.app.faults.served - served == 3
    assert "Internal error" in str(info.value) and "code=1240002" in str(info.value)


def test_retry_after_is_honoured(bk):
    bk.app.faults.update(script=["throttle", "throttle"], retry_after=0.4)
    hook = BlueKingJobHook("bk_job_default", retry_policy=RetryPolicy(initial_backoff=0.01, max_backoff=0.01))
    started = time.monotonic()
    hook.get_job_status(1001, bk_biz_id=2)
    assert time.monotonic() - started >= 0.8


def test_a_read_timeout_is_retried(bk, monkeypatch):
    conn = dict(bk.connections()["bk_job_default"])
    conn["extra"] = {**conn["extra"], "timeout": 1}
    monkeypatch.setenv("AIRFLOW_CONN_BK_JOB_SLOW", json.dumps(conn))
    bk.app.faults.update(script=["slow"], slow_seconds=1.5)
    hook = BlueKingJobHook("bk_job_slow", retry_policy=FAST)
    assert hook.get_job_status(1006, bk_biz_id=2).raw_status in (1, 2, 3)
    assert bk.app.faults.injected.get("slow") == 1


def _fast_hook() -> BlueKingJobHook:
    return BlueKingJobHook("bk_job_default", retry_policy=FAST)


@pytest.mark.parametrize(
    ("fault", "sent", "started"),
    [
        ("throttle", 2, True),  # a 429 is a refusal: the service did nothing, so it is asked again
        ("drop", 1, False),  # the connection was cut after the request went out: it may have started a job
        ("truncate", 1, False),  # the job started and its answer was cut: a second request would start another
        ("error", 1, False),
    ],
)
def test_a_start_request_is_sent_again_only_when_the_service_surely_did_not_act(bk, fault, sent, started):
    bk.app.faults.update(script=[fault], retry_after=0.01)
    before = bk.emulator.start_requests
    send = lambda: _fast_hook().fast_execute_script(  # noqa: E731
        bk_biz_id=2,
        target_server={"host_id_list": [501]},
        script_content="echo hi",
        script_language=1,
        account_alias="root",
    )
    if started:
        assert send()["data"]["job_instance_id"]
    else:
        with pytest.raises(JobLogsError, match="not sent again: the service may have carried out POST /api/v3/"):
            send()
    assert bk.app.faults.script == type(bk.app.faults.script)()
    # the requests the service itself saw (a 429 and a 5xx are answered in front of it, a drop after it)
    assert bk.emulator.start_requests - before == sent - (1 if fault in ("throttle", "error") else 0)


def test_a_start_request_is_sent_again_when_no_connection_was_made():
    request = ApiRequest("POST", "/api/v3/fast_execute_script", json={}, idempotent=False)
    unsent = TransientError("ConnectError", service="BlueKing JOB")
    unsent.unsent = True
    assert _may_send_again(request, unsent)
    assert not _may_send_again(request, TransientError("ReadTimeout", service="BlueKing JOB"))
    assert _may_send_again(ApiRequest("GET", "/api/v3/get_job_instance_status"), TransientError("x"))
