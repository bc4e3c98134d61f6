"""CodeArtsBuildSensor, CodeArtsBuildTrigger and CodeArtsBuildLogOperator against the emulator."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import time

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout
from helpers import failure_message, poke_until_done, round_trip, trigger_events

from airflow_joblogs.emulators.codearts import ABORTED_JOB, FAILING_JOB, LARGE_JOB, WEB_JOB
from airflow_joblogs.exceptions import InvalidParameterError, JobFailedError, JobLogsError
from airflow_joblogs.hooks.codearts import CodeArtsBuildHook
from airflow_joblogs.models import JobStatus
from airflow_joblogs.operators.codearts import CodeArtsBuildLogOperator
from airflow_joblogs.sensors.codearts import CodeArtsBuildSensor
from airflow_joblogs.triggers.codearts import CodeArtsBuildTrigger

BUILDS = {WEB_JOB: 7, FAILING_JOB: 12, ABORTED_JOB: 5, LARGE_JOB: 3}


def sensor(job_id: str, **kwargs) -> CodeArtsBuildSensor:
    kwargs.setdefault("timeout", 30)
    return CodeArtsBuildSensor(
        task_id=f"wait_{job_id[:6]}", job_id=job_id, build_no=BUILDS[job_id], poke_interval=0.05, **kwargs
    )


def trigger(job_id: str, **kwargs) -> CodeArtsBuildTrigger:
    kwargs.setdefault("success_states", ["SUCCESS"])
    kwargs.setdefault("failure_states", ["ABORTED", "FAILURE", "timeout"])
    return CodeArtsBuildTrigger(
        conn_id=kwargs.pop("conn_id", "codearts_build_default"),
        job_ref={"job_id": job_id, "build_no": BUILDS[job_id]},
        poll_interval=0.05,
        **kwargs,
    )


# -- sensor -------------------------------------------------------------------------------------------------------
def test_defaults_are_the_documented_sets():
    op = sensor(WEB_JOB)
    assert op.success_states == {"SUCCESS"} and op.failure_states == {"FAILURE", "ABORTED", "timeout"}
    assert set(CodeArtsBuildSensor.template_fields) >= {"job_id", "build_no"}


def test_poke_waits_then_succeeds(cb):
    op = sensor(WEB_JOB)
    assert op.poke({}) is False  # the build is running at first
    assert poke_until_done(op)


def test_failure_names_the_failed_action_and_its_last_lines(cb):
    op = sensor(FAILING_JOB, log_tail_lines=3)
    text = failure_message(op)
    assert f"CodeArts Build job {FAILING_JOB} (build #12) ended in status 'FAILURE'" in text
    assert "Build action 'Run unit tests' failed." in text
    assert "- step 'Run unit tests' (id 3): status FAILED" in text
    assert "PaymentGatewayTest.refundTwice expected 409 but was 200" in text
    assert text.rstrip().endswith("[Run unit tests:unit_test] : This action failed.")
    assert "Build with Maven" not in text, "an action that succeeded is not a failure"


def test_an_aborted_build_fails_naming_the_stopped_action(cb):
    text = failure_message(sensor(ABORTED_JOB, log_tail_lines=1))
    assert "ended in status 'ABORTED'" in text
    assert "- step 'Build Docker image' (id 2): status ABORTED" in text


def test_custom_states(cb):
    assert poke_until_done(sensor(FAILING_JOB, success_states=["SUCCESS", "FAILURE"], failure_states=["ABORTED"]))


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"success_states": ["SUCCES"]}, "success_states"),
        ({"failure_states": "FAILURE"}, "failure_states"),
        ({"failure_states": ["failure"]}, "failure_states"),
        ({"success_states": ["SUCCESS"], "failure_states": ["SUCCESS"]}, "failure_states"),
    ],
)
def test_state_typos_are_rejected(kwargs, parameter):
    with pytest.raises(InvalidParameterError) as info:
        sensor(WEB_JOB, **kwargs)
    assert info.value.parameter == parameter


def test_an_undocumented_result_keeps_waiting_and_is_logged(cb, caplog):
    build = cb.emulator.builds[(WEB_JOB, 7)]
    build.result = "PAUSED"
    try:
        op = sensor(WEB_JOB)
        hook = CodeArtsBuildHook()
        deadline = time.monotonic() + 10
        while hook.get_build_status(WEB_JOB, 7).raw_status == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        with caplog.at_level(logging.WARNING, logger="airflow_joblogs.hooks.codearts"):
            assert op.poke({}) is False
        assert "undocumented build_result 'PAUSED'" in caplog.text
    finally:
        build.result = "SUCCESS"


def test_stream_logs_writes_every_line_once_while_poking(cb, capfd):
    poke_until_done(sensor(WEB_JOB, stream_logs=True))
    out, err = capfd.readouterr()
    source = cb.emulator.builds[(WEB_JOB, 7)].full_log.decode().splitlines()
    assert len(set(source)) == len(source)
    assert [(out + err).count(line) for line in source] == [1] * len(source)


def test_deferrable_execute_defers_with_a_deadline(cb):
    from airflow.providers.common.compat.sdk import TaskDeferred

    op = sensor(WEB_JOB, deferrable=True, timeout=60)
    with pytest.raises(TaskDeferred) as info:
        op.execute({})
    t = info.value.trigger
    assert isinstance(t, CodeArtsBuildTrigger) and t.job_ref == {"job_id": WEB_JOB, "build_no": 7}
    assert 55 < t.end_time - time.time() <= 60


# -- trigger ------------------------------------------------------------------------------------------------------
def test_trigger_serializes_to_json_and_round_trips():
    t = trigger(WEB_JOB, stream_logs=True, cursor={"offset": 10, "carried": "par"})
    round_trip(t, "airflow_joblogs.triggers.codearts.CodeArtsBuildTrigger")


def test_trigger_success_event_with_streamed_lines_and_cursor(cb, capfd):
    events = trigger_events(trigger(WEB_JOB, stream_logs=True))
    out, err = capfd.readouterr()
    assert len(events) == 1 and events[0]["status"] == "success"
    assert JobStatus.from_dict(events[0]["job_status"]).raw_status == "SUCCESS"
    source = cb.emulator.builds[(WEB_JOB, 7)].full_log
    assert events[0]["cursor"] == {"offset": len(source), "carried": ""}
    starts = [line for line in (out + err).splitlines() if ": This action starts." in line]
    assert len(starts) == 4, starts  # each action's first line, once


def test_trigger_failure_event_and_execute_complete_report(cb):
    events = trigger_events(trigger(FAILING_JOB))
    assert events[0]["status"] == "failure"
    with pytest.raises(JobFailedError, match=r"step 'Run unit tests' \(id 3\)"):
        sensor(FAILING_JOB).execute_complete({}, events[0])


def test_trigger_deadline_gives_a_timeout_event(cb):
    cb.emulator.clock.speed = 0.01
    try:
        events = trigger_events(trigger(WEB_JOB, end_time=time.time() + 0.3))
    finally:
        cb.emulator.clock.speed = 20.0
    assert events[0]["status"] == "timeout"
    with pytest.raises(AirflowSensorTimeout):
        sensor(WEB_JOB).execute_complete({}, events[0])


def test_trigger_reports_errors_as_events(cb, monkeypatch):
    conn = dict(cb.connections()["codearts_build_default"], password="wrong-secret-key-0000")
    monkeypatch.setenv("AIRFLOW_CONN_CB_WRONG", json.dumps(conn))
    events = trigger_events(trigger(WEB_JOB, conn_id="cb_wrong"))
    assert events[0]["status"] == "error" and "APIGW.0301" in events[0]["message"]
    assert "wrong-secret-key-0000" not in json.dumps(events)
    with pytest.raises(JobLogsError, match="verify aksk signature fail"):
        sensor(WEB_JOB).execute_complete({}, events[0])


def test_trigger_with_an_iam_user_connection(cb):
    events = trigger_events(trigger(WEB_JOB, conn_id="codearts_build_iam"))
    assert events[0]["status"] == "success"


# -- log operator ----------------------------------------------------------------------------------------------------
def finish(job_id: str) -> None:
    hook = CodeArtsBuildHook()
    deadline = time.monotonic() + 10
    while not hook.get_build_status(job_id, BUILDS[job_id]).state.is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.02)


def archive(tmp_path, name: str, **kwargs) -> tuple[dict, bytes]:
    kwargs.setdefault("job_id", WEB_JOB)
    kwargs.setdefault("build_no", BUILDS[kwargs["job_id"]])
    manifest = CodeArtsBuildLogOperator(task_id=name, destination=str(tmp_path / name) + "/", **kwargs).execute({})
    files = list((tmp_path / name).iterdir())
    assert len(files) == 1, files
    return manifest, files[0].read_bytes()


def test_operator_archives_the_whole_build_byte_for_byte(cb, tmp_path):
    finish(WEB_JOB)
    manifest, data = archive(tmp_path, "whole")
    source = cb.emulator.builds[(WEB_JOB, 7)].full_log
    assert data == source
    assert manifest["sha256"] == hashlib.sha256(source).hexdigest() and manifest["bytes"] == len(source)
    assert manifest["cursor"] == {"start_offset": 0, "end_offset": len(source)}
    assert manifest["uri"].endswith(f"codearts-{WEB_JOB}-7.log")
    assert manifest["job"] == {"job_id": WEB_JOB, "build_no": 7}


def test_operator_archives_one_step_as_jsonl_pages(cb, tmp_path):
    finish(FAILING_JOB)
    manifest, data = archive(tmp_path, "step", job_id=FAILING_JOB, step_id="3", log_format="jsonl")
    records = [json.loads(line) for line in data.decode().splitlines()]
    assert manifest["uri"].endswith(f"codearts-{FAILING_JOB}-12-step3.jsonl")
    assert {"start_offset", "end_offset", "log", "has_more", "location", "job_id", "build_no", "step_id"} == set(
        records[0]
    )
    assert records[0]["step_id"] == 3
    step = cb.emulator.builds[(FAILING_JOB, 12)].step_logs[2]
    assert "".join(r["log"] for r in records).encode() == step
    assert manifest["cursor"]["end_offset"] == len(step)


def test_operator_follow_archives_a_running_build_until_it_ends(cb, tmp_path):
    manifest, data = archive(tmp_path, "follow", follow=True, follow_interval=0.02, compression="gzip")
    assert gzip.decompress(data) == cb.emulator.builds[(WEB_JOB, 7)].full_log
    assert manifest["cursor"]["end_offset"] == len(cb.emulator.builds[(WEB_JOB, 7)].full_log)


def test_operator_to_xcom_is_capped_with_a_marker(cb):
    manifest = CodeArtsBuildLogOperator(task_id="x", job_id=LARGE_JOB, build_no=3, max_xcom_bytes=1000).execute({})
    assert manifest["uri"] is None and manifest["truncated"] is True
    assert manifest["content"].startswith("[2026/11/22 10:00:00.000 GMT+08:00] [INFO] [Code checkout")
    assert "output truncated at max_xcom_bytes=1000" in manifest["content"]
    assert manifest["bytes"] == len(cb.emulator.builds[(LARGE_JOB, 3)].full_log)


def test_operator_under_faults_equals_the_clean_archive(cb, tmp_path):
    from airflow_joblogs.http import RetryPolicy

    finish(LARGE_JOB)
    cb.emulator.set_knobs(max_page_bytes=40_000)
    # ~40% of attempts meet a fault here: 20 attempts make a page that fails every one vanishingly rare
    fast = RetryPolicy(max_attempts=20, initial_backoff=0.01, max_backoff=0.05)

    class FastHook(CodeArtsBuildHook):
        def __init__(self, conn_id=None, **kwargs):
            super().__init__(conn_id, retry_policy=fast, empty_log_backoff=0.005, **kwargs)

    def run(name: str, log_format: str) -> tuple[dict, bytes]:
        op = CodeArtsBuildLogOperator(
            task_id=name, job_id=LARGE_JOB, build_no=3, destination=str(tmp_path / name) + "/", log_format=log_format
        )
        op.hook_class = FastHook
        manifest = op.execute({})
        return manifest, next((tmp_path / name).iterdir()).read_bytes()

    clean_text = run("clean_text", "text")[1]
    clean_jsonl = run("clean_jsonl", "jsonl")[1]
    cb.app.faults.update(
        error_rate=0.1,
        throttle_rate=0.05,
        drop_rate=0.08,
        empty_rate=0.04,
        truncate_rate=0.04,
        retry_after=0.01,
        seed=11,
    )
    cb.emulator.set_knobs(empty_log_rate=0.1, too_frequent_rate=0.1)
    _, faulty_text = run("faulty_text", "text")
    _, faulty_jsonl = run("faulty_jsonl", "jsonl")
    injected = dict(cb.app.faults.injected)
    assert faulty_text == clean_text == cb.emulator.builds[(LARGE_JOB, 3)].full_log
    assert faulty_jsonl == clean_jsonl
    pages = [json.loads(line) for line in faulty_jsonl.decode().splitlines()]
    assert [p["start_offset"] for p in pages[1:]] == [p["end_offset"] for p in pages[:-1]], "no gap, no overlap"
    assert sum(injected.values()) > 10 and set(cb.emulator.log_faults_served) == {"empty_log", "too_frequent"}
