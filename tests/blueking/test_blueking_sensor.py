"""BlueKingJobSensor and BlueKingJobTrigger against the emulator: verdicts, failure reports, deferral, streaming."""

from __future__ import annotations

import json
import time

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout
from helpers import failure_message, poke_until_done, round_trip, trigger_events

from airflow_joblogs.exceptions import JobFailedError, JobLogsError
from airflow_joblogs.models import JobStatus
from airflow_joblogs.sensors.blueking import BlueKingJobSensor
from airflow_joblogs.triggers.blueking import BlueKingJobTrigger

REF = {"job_instance_id": 1001, "bk_scope_type": "biz", "bk_scope_id": "2"}


def sensor(job_id: int, **kwargs) -> BlueKingJobSensor:
    kwargs.setdefault("timeout", 30)
    return BlueKingJobSensor(
        task_id=f"wait_{job_id}", job_instance_id=job_id, bk_biz_id=2, poke_interval=0.05, **kwargs
    )


def trigger(job_id: int = 1001, **kwargs) -> BlueKingJobTrigger:
    kwargs.setdefault("success_states", [3])
    kwargs.setdefault("failure_states", [4])
    return BlueKingJobTrigger(
        conn_id=kwargs.pop("conn_id", "bk_job_default"),
        job_ref={**REF, "job_instance_id": job_id},
        poll_interval=0.05,
        **kwargs,
    )


def test_poke_waits_then_succeeds(bk):
    op = sensor(1001)
    assert op.poke({}) is False  # pending at first
    assert poke_until_done(op)


def test_failure_names_hosts_meaning_exit_codes_and_log_tail(bk):
    op = sensor(1002, log_tail_lines=2)
    text = failure_message(op)
    assert "job 1002 (deploy-api-v1.8) ended in status 4" in text
    assert "host 0:10.0.0.12: ip_status 104 (script exit code non-zero), exit code 1" in text
    assert "host 0:10.0.0.13: ip_status 104 (script exit code non-zero), exit code 2" in text
    assert "| [2026-11-22 10:00:04][PID:40013] job_fail exit=2" in text
    assert "10.0.0.11" not in text, "a host that succeeded is not a failure"


def test_waiting_for_user_keeps_waiting_or_fails_when_asked(bk):
    assert not any(sensor(1003).poke({}) for _ in range(3))
    time.sleep(0.2)
    assert sensor(1003).poke({}) is False
    with pytest.raises(JobFailedError, match="status 7"):
        sensor(1003, fail_on_waiting_user=True).poke({})


def test_custom_states(bk):
    op = sensor(1002, success_states=[3, 4], failure_states=[9])
    assert poke_until_done(op)


def test_trigger_serializes_to_json_and_round_trips(bk):
    round_trip(
        trigger(success_states=[3, 5, 6], stream_logs=True), "airflow_joblogs.triggers.blueking.BlueKingJobTrigger"
    )


def test_trigger_success_event_and_streamed_lines(bk, capfd):
    events = trigger_events(trigger(success_states=[3, 5, 6], stream_logs=True))
    out, err = capfd.readouterr()
    assert len(events) == 1 and events[0]["status"] == "success"
    status = JobStatus.from_dict(events[0]["job_status"])
    assert status.raw_status == 3 and status.job_id == "1001"
    streamed = [line for line in (out + err).splitlines() if "job_start deploy-web-v2.3" in line]
    assert len(streamed) == 12, streamed  # 3 steps x 4 hosts, each line once
    assert all("[step 1001" in line for line in streamed)
    assert len(json.dumps(events[0])) < 4096, "events stay small"


def test_trigger_failure_and_execute_complete_report(bk):
    events = trigger_events(trigger(1002))
    assert events[0]["status"] == "failure"
    with pytest.raises(JobFailedError, match=r"exit code 2"):
        sensor(1002).execute_complete({}, events[0])


def test_trigger_deadline_gives_a_timeout_event(bk):
    events = trigger_events(trigger(1003, end_time=time.time() + 0.5))
    assert events[0]["status"] == "timeout"
    with pytest.raises(AirflowSensorTimeout):
        sensor(1003).execute_complete({}, events[0])


def test_trigger_reports_errors_as_events(bk, monkeypatch):
    conn = dict(bk.connections()["bk_job_default"], password="wrong")
    monkeypatch.setenv("AIRFLOW_CONN_BK_JOB_WRONG", json.dumps(conn))
    events = trigger_events(trigger(conn_id="bk_job_wrong"))
    assert events[0]["status"] == "error" and "incorrect" in events[0]["message"]
    assert "wrong" not in events[0]["message"].replace("wrong secret", "")
    with pytest.raises(JobLogsError, match="incorrect"):
        sensor(1001).execute_complete({}, events[0])


def test_deferrable_execute_defers_with_a_deadline(bk):
    from airflow.providers.common.compat.sdk import TaskDeferred

    op = sensor(1001, deferrable=True, timeout=60)
    with pytest.raises(TaskDeferred) as info:
        op.execute({})
    trigger = info.value.trigger
    assert isinstance(trigger, BlueKingJobTrigger)
    assert 55 < trigger.end_time - time.time() <= 60
    assert info.value.method_name == "execute_complete"


def test_a_trigger_restarted_from_its_deferral_says_so_and_streams_again_from_the_deferral_cursor(bk, capfd):
    """As after a triggerer dies: a trigger rebuilt from its stored kwargs (the cursor of the deferral) streams
    again the lines since then, and its first check says so; nothing is lost."""
    from airflow_joblogs.emulators.blueking import FLEET_FIRST_ID, fleet_job_fails

    assert fleet_job_fails(FLEET_FIRST_ID + 9) and not fleet_job_fails(FLEET_FIRST_ID)
    stored = round_trip(trigger(1001, stream_logs=True), "airflow_joblogs.triggers.blueking.BlueKingJobTrigger")
    events = trigger_events(BlueKingJobTrigger(**stored))
    first = [line for line in "".join(capfd.readouterr()).splitlines() if "[step 1001" in line or "first check" in line]
    events = trigger_events(BlueKingJobTrigger(**stored))  # adopted: the same kwargs again
    again = [line for line in "".join(capfd.readouterr()).splitlines() if "[step 1001" in line or "first check" in line]
    assert events[0]["status"] == "success"
    assert "first check of this trigger run; streaming resumes from the log position saved" in first[0]
    assert sum("first check" in line for line in first) == 1, "once per trigger run"
    assert len(first) == 1 + 4 * (5 + 2 + 5)  # 4 hosts: two script steps of 5 lines, a file step of 2
    # the same lines (hosts interleave by when their lines arrived: the first run saw the job run, the second
    # found it ended)
    assert sorted(line.split("] ", 1)[-1] for line in again) == sorted(line.split("] ", 1)[-1] for line in first)
