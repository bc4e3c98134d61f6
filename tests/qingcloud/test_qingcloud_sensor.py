"""QingCloudClusterJobSensor and QingCloudClusterJobTrigger against the emulator: verdicts, reports, deferral."""

from __future__ import annotations

import json
import time

import pytest
from airflow.providers.common.compat.sdk import AirflowSensorTimeout
from helpers import failure_message, poke_until_done, round_trip, trigger_events

from airflow_joblogs.emulators.qingcloud import APP_ID, LEGACY_APP_ID
from airflow_joblogs.exceptions import InvalidParameterError, JobFailedError, JobLogsError
from airflow_joblogs.models import JobStatus
from airflow_joblogs.sensors.qingcloud import QingCloudClusterJobSensor
from airflow_joblogs.triggers.qingcloud import QingCloudClusterJobTrigger

REF = {"jobs": ["j-addnodes01"], "app": APP_ID}


def sensor(job_ids, app: str = APP_ID, **kwargs) -> QingCloudClusterJobSensor:
    kwargs.setdefault("timeout", 30)
    return QingCloudClusterJobSensor(task_id="wait", job_ids=job_ids, app=app, poke_interval=0.05, **kwargs)


def trigger(job_ref: dict, **kwargs) -> QingCloudClusterJobTrigger:
    kwargs.setdefault("success_states", ["successful"])
    kwargs.setdefault("failure_states", ["failed"])
    kwargs.setdefault("poll_interval", 0.05)
    return QingCloudClusterJobTrigger(conn_id="qingcloud_default", job_ref=job_ref, **kwargs)


def test_defaults_and_templated_fields():
    op = sensor("j-addnodes01")
    assert op.success_states == {"successful"} and op.failure_states == {"failed"}
    assert op.unknown_is_failure is True
    assert {"job_ids", "app", "cluster", "zone"} <= set(op.template_fields)


def test_poke_waits_then_succeeds(qc):
    op = sensor("j-addnodes01")
    assert op.poke({}) is False  # pending at first
    assert poke_until_done(op)


@pytest.mark.parametrize(
    "job_ids",
    [["j-addnodes01", "j-etkt94ebqra"], "j-addnodes01, j-etkt94ebqra", "['j-addnodes01', 'j-etkt94ebqra']"],
    ids=["list", "comma-separated", "rendered-list"],
)
def test_several_jobs_succeed_when_all_have(qc, job_ids):
    op = sensor(job_ids)
    assert op.job_ref()["jobs"] == ["j-addnodes01", "j-etkt94ebqra"]
    assert poke_until_done(op)


def test_failure_names_action_resources_and_error_codes(qc):
    op = sensor(["j-addnodes01", "j-resize0001"], log_tail_lines=3)
    text = failure_message(op)
    assert "QingCloud job j-addnodes01,j-resize0001 (AddClusterNodes, ResizeCluster) ended in status 'failed'" in text
    assert "- job j-resize0001 ResizeCluster on cl-chronus01: status 'failed', error_codes 2500" in text
    assert "| 2026-11-22T02:02:00Z  ResizeCluster  failed  cl-chronus01  2500" in text
    assert "- job j-addnodes01" not in text, "a job that did not fail is not a failure"


def test_an_undocumented_status_fails_loudly_unless_configured(qc):
    with pytest.raises(JobFailedError, match="undocumented status suspended"):
        poke_until_done(sensor("j-legacy0001", app=LEGACY_APP_ID))
    patient = sensor("j-legacy0001", app=LEGACY_APP_ID, unknown_is_failure=False)
    assert not any(patient.poke({}) for _ in range(3)), "keeps waiting on it"


def test_custom_states(qc):
    assert poke_until_done(sensor("j-resize0001", success_states=["successful", "failed"], failure_states=[]))


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"success_states": ["success"]}, "success_states"),
        ({"failure_states": ["error"]}, "failure_states"),
        ({"success_states": ["successful"], "failure_states": ["successful"]}, "failure_states"),
    ],
)
def test_state_typos_are_rejected_when_the_dag_is_parsed(kwargs, parameter):
    with pytest.raises(InvalidParameterError) as info:
        sensor("j-addnodes01", **kwargs)
    assert info.value.parameter == parameter


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [({"job_ids": "not-a-job"}, "job_ids"), ({"app": None}, "app"), ({"zone": "Beijing"}, "zone")],
)
def test_bad_job_reference_fails_at_execute_before_any_request(qc, kwargs, parameter):
    kwargs = {"job_ids": "j-addnodes01", "app": APP_ID, **kwargs}
    op = QingCloudClusterJobSensor(task_id="wait", poke_interval=0.05, timeout=5, **kwargs)
    served = qc.app.faults.served
    with pytest.raises(InvalidParameterError) as info:
        op.execute({})
    assert info.value.parameter == parameter and qc.app.faults.served == served


def test_stream_logs_writes_each_status_change_once(qc, capfd):
    poke_until_done(sensor("j-addnodes01", stream_logs=True))
    out, err = capfd.readouterr()
    changes = [line for line in (out + err).splitlines() if "[j-addnodes01] AddClusterNodes" in line]
    assert [line.split(" is ")[1].split(" since")[0] for line in changes] == ["pending", "working", "successful"]


def test_trigger_serializes_to_json_and_round_trips():
    t = trigger({"jobs": ["j-addnodes01", "j-resize0001"], "app": APP_ID, "zone": "pek3a"}, stream_logs=True)
    round_trip(t, "airflow_joblogs.triggers.qingcloud.QingCloudClusterJobTrigger")


def test_trigger_success_event_and_streamed_changes(qc, capfd):
    events = trigger_events(trigger(REF, stream_logs=True))
    out, err = capfd.readouterr()
    assert len(events) == 1 and events[0]["status"] == "success"
    status = JobStatus.from_dict(events[0]["job_status"])
    assert status.raw_status == "successful" and status.job_id == "j-addnodes01"
    streamed = [line for line in (out + err).splitlines() if "[j-addnodes01] AddClusterNodes" in line]
    assert len(streamed) == 3, streamed
    assert events[0]["cursor"] == {"j-addnodes01": "successful@2026-11-22T02:01:04Z"}
    assert len(json.dumps(events[0])) < 4096, "events stay small"


def test_trigger_failure_and_execute_complete_report(qc):
    ref = {"jobs": ["j-resize0001"], "app": APP_ID}
    events = trigger_events(trigger(ref))
    assert events[0]["status"] == "failure"
    with pytest.raises(JobFailedError, match=r"error_codes 2500"):
        sensor("j-resize0001").execute_complete({}, events[0])


def test_trigger_carries_unknown_is_failure(qc):
    ref = {"jobs": ["j-legacy0001"], "app": LEGACY_APP_ID}
    events = trigger_events(trigger(ref, unknown_is_failure=True))
    assert events[0]["status"] == "failure" and events[0]["job_status"]["raw_status"] == "suspended"
    events = trigger_events(trigger(ref, unknown_is_failure=False, end_time=time.time() + 0.5))
    assert events[0]["status"] == "timeout"


def test_trigger_deadline_gives_a_timeout_event(qc):
    events = trigger_events(trigger(REF, end_time=time.time() + 0.05, poll_interval=5))
    assert events[0]["status"] == "timeout"
    with pytest.raises(AirflowSensorTimeout):
        sensor("j-addnodes01").execute_complete({}, events[0])


def test_trigger_reports_errors_as_events(qc, monkeypatch):
    conn = dict(qc.connections()["qingcloud_default"], password="wrong-secret-value")
    monkeypatch.setenv("AIRFLOW_CONN_QC_WRONG", json.dumps(conn))
    t = QingCloudClusterJobTrigger(
        conn_id="qc_wrong", job_ref=REF, success_states=["successful"], failure_states=["failed"], poll_interval=0.05
    )
    events = trigger_events(t)
    assert events[0]["status"] == "error" and "signature not matched" in events[0]["message"]
    assert "wrong-secret-value" not in events[0]["message"]
    with pytest.raises(JobLogsError, match="signature not matched"):
        sensor("j-addnodes01").execute_complete({}, events[0])
