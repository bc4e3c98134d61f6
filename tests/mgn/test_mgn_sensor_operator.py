"""MgnJobSensor, MgnJobTrigger and MgnJobLogOperator against the MGN emulator: verdicts, failure reports,
deferral, streamed log items, archives in both formats, and an export under injected faults."""

from __future__ import annotations

import hashlib
import json
import logging
import time

import pytest

pytest.importorskip("airflow.providers.amazon.aws.hooks.base_aws", reason="needs airflow-joblogs[amazon]")

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, TaskDeferred
from helpers import failure_message, poke_until_done, round_trip, trigger_events

from airflow_joblogs.emulators.mgn import (
    CONVERSION_ERROR,
    CUTOVER_JOB,
    FAILED_JOB,
    RETRIED_JOB,
    SECRET_ACCESS_KEY,
    TEST_LAUNCH_JOB,
    WAVE_JOB,
)
from airflow_joblogs.exceptions import InvalidParameterError, JobFailedError, JobLogsError
from airflow_joblogs.hooks.mgn import render_item
from airflow_joblogs.models import JobStatus
from airflow_joblogs.operators.mgn import MgnJobLogOperator
from airflow_joblogs.sensors.mgn import MgnJobSensor
from airflow_joblogs.triggers.mgn import MgnJobTrigger

FAILED_SERVER = "s-5e7a100000000000c"


def sensor(job_id: str, **kwargs) -> MgnJobSensor:
    kwargs.setdefault("timeout", 30)
    return MgnJobSensor(task_id="wait", job_id=job_id, poke_interval=0.05, **kwargs)


def trigger(job_id: str, **kwargs) -> MgnJobTrigger:
    ref = {"job_id": job_id, "require_post_launch_success": kwargs.pop("require_post_launch_success", False)}
    return MgnJobTrigger(
        conn_id=kwargs.pop("conn_id", "aws_default"),
        job_ref=ref,
        success_states=["COMPLETED"],
        failure_states=["FAILED"],
        poll_interval=0.02,
        **kwargs,
    )


# -- sensor ---------------------------------------------------------------------------------------------------
def test_defaults_and_templated_fields():
    op = MgnJobSensor(task_id="t", job_id="{{ params.job }}")
    assert op.conn_id == "aws_default"
    assert op.success_states == {"COMPLETED"} and op.failure_states == {"FAILED"}
    assert {"job_id", "account_id", "conn_id"} <= set(op.template_fields)
    assert MgnJobSensor(task_id="t", job_id=CUTOVER_JOB, aws_conn_id="aws_mgn").conn_id == "aws_mgn"


def test_unknown_state_names_are_rejected_when_the_dag_is_parsed():
    with pytest.raises(InvalidParameterError, match="success_states") as info:
        MgnJobSensor(task_id="t", job_id=CUTOVER_JOB, success_states=["SUCCEEDED"])
    assert "POST_LAUNCH_IN_PROGRESS" in str(info.value)


def test_poke_waits_then_succeeds(mgn):
    op = sensor(CUTOVER_JOB)
    assert op.poke({}) is False  # pending at first
    assert poke_until_done(op)


def test_a_cutover_whose_conversion_mgn_retried_passes_the_gate(mgn):
    assert poke_until_done(sensor(RETRIED_JOB))


def test_failure_lists_failed_servers_with_raw_error_and_last_events(mgn):
    op = sensor(FAILED_JOB, log_tail_lines=2)
    text = failure_message(op)
    assert f"AWS MGN job {FAILED_JOB} (LAUNCH START_CUTOVER) ended in status 'FAILED'" in text
    assert f"- source server {FAILED_SERVER}: launchStatus FAILED (expected LAUNCHED)" in text
    assert CONVERSION_ERROR in text, "rawError whole"
    tail = [line for line in text.splitlines() if line.startswith("    | 2026")]
    assert len(tail) == 2 and "LAUNCH_FAILED" in tail[-1], tail
    assert "s-5e7a100000000000b" not in text, "a launched server is not a failure"


def test_stream_logs_writes_each_new_item_once(mgn, caplog, mgn_log):
    recorder = logging.getLogger("mgn-stream-test")

    class RecordingSensor(MgnJobSensor):
        """Logs to a plain logger (Airflow versions set up task loggers differently)."""

        @property
        def log(self):
            return recorder

    op = RecordingSensor(task_id="wait", job_id=CUTOVER_JOB, poke_interval=0.05, timeout=30, stream_logs=True)
    with caplog.at_level(logging.INFO, logger="mgn-stream-test"):
        poke_until_done(op)
    logged = [r.getMessage() for r in caplog.records if r.name == "mgn-stream-test"]
    streamed = [line for line in logged if line.startswith("2026-")]
    assert streamed == [render_item(item) for item in mgn_log(CUTOVER_JOB)], "every item once, in log order"
    assert logged[-1].endswith("finished with 'COMPLETED': success")


def test_post_launch_requirement_reaches_the_sensor(mgn):
    assert poke_until_done(sensor(TEST_LAUNCH_JOB))
    with pytest.raises(JobFailedError, match="post-launch action 'Smoke test'"):
        poke_until_done(sensor(TEST_LAUNCH_JOB, require_post_launch_success=True))


def test_custom_states_can_wait_for_any_end(mgn):
    assert poke_until_done(sensor(FAILED_JOB, success_states=["COMPLETED", "FAILED"], failure_states=[]))


def test_deferrable_execute_defers_with_json_kwargs_and_a_deadline(mgn):
    op = sensor(CUTOVER_JOB, deferrable=True, timeout=60, stream_logs=True)
    with pytest.raises(TaskDeferred) as info:
        op.execute({})
    trig = info.value.trigger
    assert isinstance(trig, MgnJobTrigger) and 55 < trig.end_time - time.time() <= 60
    kwargs = round_trip(trig, "airflow_joblogs.triggers.mgn.MgnJobTrigger")
    assert kwargs["job_ref"] == {"job_id": CUTOVER_JOB, "require_post_launch_success": False}


# -- trigger --------------------------------------------------------------------------------------------------
def test_trigger_success_event_and_streamed_items(mgn, caplog, mgn_log):
    recorder = logging.getLogger("mgn-trigger-test")

    class RecordingTrigger(MgnJobTrigger):
        @property
        def log(self):
            return recorder

    ref = {"job_id": CUTOVER_JOB, "require_post_launch_success": False}
    trig = RecordingTrigger(
        conn_id="aws_default",
        job_ref=ref,
        success_states=["COMPLETED"],
        failure_states=["FAILED"],
        poll_interval=0.02,
        stream_logs=True,
    )
    with caplog.at_level(logging.INFO, logger="mgn-trigger-test"):
        events = trigger_events(trig)
    assert [e["status"] for e in events] == ["success"]
    status = JobStatus.from_dict(events[0]["job_status"])
    assert status.raw_status == "COMPLETED" and status.job_id == CUTOVER_JOB
    assert events[0]["cursor"] == {"items": 17}
    streamed = [r.getMessage() for r in caplog.records if r.name == "mgn-trigger-test"]
    assert [line for line in streamed if line.startswith("2026-")] == [render_item(i) for i in mgn_log(CUTOVER_JOB)]


def test_trigger_failure_and_execute_complete_report(mgn):
    events = trigger_events(trigger(FAILED_JOB))
    assert events[0]["status"] == "failure"
    assert len(json.dumps(events[0])) < 4096, "events stay small (rawError capped in the status)"
    with pytest.raises(JobFailedError) as info:
        sensor(FAILED_JOB).execute_complete({}, events[0])
    assert CONVERSION_ERROR in str(info.value)


def test_trigger_deadline_gives_a_timeout_event(mgn):
    events = trigger_events(trigger(CUTOVER_JOB, end_time=time.time() - 1))
    assert events[0]["status"] == "timeout"
    with pytest.raises(AirflowSensorTimeout):
        sensor(CUTOVER_JOB).execute_complete({}, events[0])


def test_trigger_reports_errors_as_events_without_secrets(mgn):
    mgn.emulator.require_access_key = "AKIASOMEOTHERKEY0000"
    events = trigger_events(trigger(CUTOVER_JOB))
    assert events[0]["status"] == "error" and "UnrecognizedClientException" in events[0]["message"]
    assert SECRET_ACCESS_KEY not in json.dumps(events)
    with pytest.raises(JobLogsError, match="security token"):
        sensor(CUTOVER_JOB).execute_complete({}, events[0])


# -- operator -------------------------------------------------------------------------------------------------
def archive(job_id: str, **kwargs) -> dict:
    return MgnJobLogOperator(task_id="archive", job_id=job_id, **kwargs).execute({})


def finish(job_id: str) -> None:
    poke_until_done(sensor(job_id, success_states=["COMPLETED", "FAILED"], failure_states=[]))


def test_log_to_xcom_as_readable_lines(mgn, mgn_log):
    finish(FAILED_JOB)
    manifest = archive(FAILED_JOB)
    items = mgn_log(FAILED_JOB)
    assert manifest["content"] == "".join(render_item(i) + "\n" for i in items)
    assert manifest["service"] == "AWS MGN" and manifest["job"] == {"job_id": FAILED_JOB}
    assert manifest["chunks"] == len(items) and manifest["cursor"] == {"items": len(items)}
    assert manifest["content"].count(CONVERSION_ERROR) == 3
    assert SECRET_ACCESS_KEY not in json.dumps(manifest)


def test_jsonl_archive_holds_the_items_unchanged(mgn, tmp_path, mgn_log):
    finish(FAILED_JOB)
    manifest = archive(FAILED_JOB, destination=str(tmp_path) + "/", log_format="jsonl", compression="gzip")
    import gzip

    path = tmp_path / f"mgn-{FAILED_JOB}.jsonl.gz"
    assert manifest["uri"].endswith(path.name)
    lines = gzip.decompress(path.read_bytes()).decode().splitlines()
    assert [json.loads(line) for line in lines] == mgn_log(FAILED_JOB)


def test_grouped_by_server(mgn, mgn_log):
    finish(FAILED_JOB)
    text = archive(FAILED_JOB, group_by_server=True)["content"]
    headers = [line for line in text.splitlines() if line.startswith("=====")]
    assert headers == [
        "===== job events ===== (2 items)",
        "===== source server s-5e7a100000000000b ===== (5 items)",
        f"===== source server {FAILED_SERVER} ===== (9 items)",
        "===== source server s-5e7a100000000000d ===== (5 items)",
    ]
    block = text.split(f"===== source server {FAILED_SERVER} ===== (9 items)\n")[1].split("=====")[0]
    events = [line.split("  ")[1] for line in block.splitlines() if line.startswith("2026")]
    assert len(events) == 9 and events[-2:] == ["CONVERSION_FAIL", "LAUNCH_FAILED"]
    assert all(FAILED_SERVER in line for line in block.splitlines() if line.startswith("2026"))

    grouped_jsonl = archive(FAILED_JOB, group_by_server=True, log_format="jsonl")["content"]
    records = [json.loads(line) for line in grouped_jsonl.splitlines()]

    def key(record: dict) -> str:
        return json.dumps(record, sort_keys=True)

    assert sorted(map(key, records)) == sorted(map(key, mgn_log(FAILED_JOB)))


def test_bad_operator_options_fail_in_the_constructor():
    with pytest.raises(InvalidParameterError, match="max_results"):
        MgnJobLogOperator(task_id="t", job_id=CUTOVER_JOB, max_results=0)
    with pytest.raises(InvalidParameterError, match="group_by_server"):
        MgnJobLogOperator(task_id="t", job_id=CUTOVER_JOB, group_by_server="yes")


def test_export_under_injected_faults_has_every_item_exactly_once(mgn, tmp_path, mgn_log):
    finish(WAVE_JOB)
    clean = archive(WAVE_JOB, destination=str(tmp_path / "clean") + "/", log_format="jsonl", max_results=10)
    before = dict(mgn.app.faults.injected)
    mgn.app.faults.update(
        seed=22,
        error_rate=0.1,
        throttle_rate=0.04,
        drop_rate=0.08,
        empty_rate=0.08,
        truncate_rate=0.08,
        retry_after=0.05,
    )
    faulty = archive(WAVE_JOB, destination=str(tmp_path / "faulty") + "/", log_format="jsonl", max_results=10)
    injected = {k: v - before.get(k, 0) for k, v in mgn.app.faults.injected.items()}
    assert all(injected.get(kind) for kind in ("error", "throttle", "drop", "empty", "truncate")), injected
    data = (tmp_path / "faulty" / f"mgn-{WAVE_JOB}.jsonl").read_bytes()
    assert faulty["sha256"] == clean["sha256"] == hashlib.sha256(data).hexdigest()
    records = [json.loads(line) for line in data.decode().splitlines()]
    assert records == mgn_log(WAVE_JOB)
    assert len({json.dumps(r, sort_keys=True) for r in records}) == len(records) == 202
