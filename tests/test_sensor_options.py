"""The shared sensor's options as a user meets them: soft_fail/never_fail in every mode, strict booleans and
integers, the stream_logs volume caps, and messages that say what a status means (BlueKing's emulator)."""

from __future__ import annotations

import json
import logging
import time
from datetime import timedelta

import pytest
from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    TaskDeferred,
)
from helpers import poke_until_done, round_trip, trigger_events, wait_for_blueking_job

from airflow_joblogs.exceptions import InvalidParameterError, JobFailedError, JobLogsError
from airflow_joblogs.sensors.blueking import BlueKingJobSensor
from airflow_joblogs.streaming import StreamBudget

RECORDER = "joblogs-sensor-options"


class RecordingSensor(BlueKingJobSensor):
    """Logs to a plain logger, so the test reads what the task log would show (Airflow versions differ)."""

    @property
    def log(self):
        return logging.getLogger(RECORDER)


def sensor(job_id: int, **kwargs) -> RecordingSensor:
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("poke_interval", 0.05)
    return RecordingSensor(task_id=f"wait_{job_id}", job_instance_id=job_id, bk_biz_id=2, **kwargs)


def logged(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == RECORDER]


# -- soft_fail / never_fail ---------------------------------------------------------------------------------
@pytest.mark.parametrize("option", ["soft_fail", "never_fail"])
@pytest.mark.parametrize("deferrable", [True, False])
def test_a_job_that_already_failed_skips_with_the_report_in_the_log(bk, caplog, option, deferrable):
    wait_for_blueking_job(1002)  # the sensor starts after its job failed (a re-run, a retry, a late start)
    op = sensor(1002, deferrable=deferrable, **{option: True})
    with caplog.at_level(logging.INFO, logger=RECORDER), pytest.raises(AirflowSkipException, match=option):
        op.execute({})
    text = "\n".join(logged(caplog))
    assert "job 1002 (deploy-api-v1.8) ended in status 4 (failed)" in text
    assert "host 0:10.0.0.12: ip_status 104" in text, "the failure report is in the task log"


def test_without_soft_fail_an_already_failed_job_fails_before_deferring(bk):
    wait_for_blueking_job(1002)
    with pytest.raises(JobFailedError, match="ended in status 4"):
        sensor(1002, deferrable=True).execute({})


def test_a_failure_reported_by_the_trigger_skips_with_soft_fail(bk, caplog):
    op = sensor(1002, deferrable=True, soft_fail=True)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    events = trigger_events(deferred.value.trigger)
    assert events[-1]["status"] == "failure"
    with caplog.at_level(logging.INFO, logger=RECORDER), pytest.raises(AirflowSkipException):
        op.execute_complete({}, events[-1])
    assert any("host 0:10.0.0.13" in line for line in logged(caplog))


def test_never_fail_skips_when_the_first_check_cannot_reach_the_service(bk, monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BK_JOB_DEFAULT",
        '{"conn_type": "bk_job", "host": "http://127.0.0.1:9", "login": "app", "password": "s",'
        ' "extra": {"allow_http": true, "bk_username": "admin", "max_attempts": 1}}',
    )
    with pytest.raises(AirflowSkipException, match="never_fail"):
        sensor(1001, deferrable=True, never_fail=True).execute({})


# -- one rule for booleans and integers ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("option", "value"),
    [("deferrable", "false"), ("stream_logs", "no"), ("fail_on_waiting_user", "false"), ("stream_logs", 1)],
)
def test_a_boolean_option_refuses_anything_but_true_or_false(option, value):
    with pytest.raises(InvalidParameterError, match=f"'{option}'.*is not a boolean"):
        sensor(1001, **{option: value})


def test_integers_are_ints_or_strings_of_digits_everywhere():
    assert sensor(1001, log_tail_lines="5").log_tail_lines == 5
    assert sensor(1001, stream_logs_max_bytes="1000").stream_logs_max_bytes == 1000
    for bad in ("5.0", "five", 5.0, True):
        with pytest.raises(InvalidParameterError, match="'log_tail_lines'"):
            sensor(1001, log_tail_lines=bad)
    with pytest.raises(InvalidParameterError, match="'stream_logs_max_bytes_per_check'"):
        sensor(1001, stream_logs_max_bytes_per_check=0)


# -- stream_logs volume caps --------------------------------------------------------------------------------
def test_stream_logs_writes_at_most_the_cap_per_check_and_says_what_it_skipped(bk, caplog):
    wait_for_blueking_job(1005)  # an 8 MB log
    op = sensor(1005, stream_logs=True, stream_logs_max_bytes_per_check=20_000, stream_logs_max_bytes=None)
    with caplog.at_level(logging.INFO, logger=RECORDER):
        assert op.poke({})
    lines = logged(caplog)
    streamed = [line for line in lines if line.startswith("[") and not line.startswith("[stream_logs]")]
    assert 0 < sum(len(line.encode()) + 1 for line in streamed) <= 20_000
    marker = [line for line in lines if line.startswith("[stream_logs]")]
    assert len(marker) == 1
    assert "not shown: over stream_logs_max_bytes_per_check=20000" in marker[0]
    assert "archive it" in marker[0]


def test_stream_logs_stops_at_the_task_cap(bk, caplog):
    op = sensor(1001, stream_logs=True, stream_logs_max_bytes=300)
    with caplog.at_level(logging.INFO, logger=RECORDER):
        assert poke_until_done(op)
    lines = logged(caplog)
    streamed = [line for line in lines if line.startswith("[") and not line.startswith("[stream_logs]")]
    assert 0 < sum(len(line.encode()) + 1 for line in streamed) <= 300
    markers = [line for line in lines if line.startswith("[stream_logs]")]
    assert len(markers) == 1, "the marker once; later checks stream nothing"
    assert "stream_logs_max_bytes=300 for this task" in markers[0]


def test_the_trigger_carries_the_caps_and_what_was_streamed(bk):
    op = sensor(1001, stream_logs=True, deferrable=True, stream_logs_max_bytes=5000)
    op.stream_budget.used = 123  # as if earlier checks of this task had streamed that much
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    stored = round_trip(deferred.value.trigger, "airflow_joblogs.triggers.blueking.BlueKingJobTrigger")
    assert stored["stream_logs_max_bytes"] == 5000
    assert stored["stream_logs_max_bytes_per_check"] == 512 * 1024
    assert stored["streamed_bytes"] == op.stream_budget.used >= 123


def test_an_exhausted_budget_streams_nothing_more_and_asks_nothing(bk, caplog):
    from airflow_joblogs.hooks.blueking import BlueKingJobHook

    served = bk.app.faults.served
    budget = StreamBudget(per_check=None, per_task=10, used=10)
    ref = {"job_instance_id": 1006, "bk_scope_type": "biz", "bk_scope_id": "2"}
    with caplog.at_level(logging.INFO, logger=RECORDER):
        assert BlueKingJobHook().tail_logs(ref, "cursor", logging.getLogger(RECORDER), budget) == "cursor"
    assert logged(caplog) == [] and bk.app.faults.served == served


def test_a_task_cap_filled_to_the_byte_is_reported_once(caplog):
    from airflow_joblogs.models import LogChunk

    budget = StreamBudget(per_check=None, per_task=12)
    with caplog.at_level(logging.INFO, logger=RECORDER):
        writer = budget.writer(logging.getLogger(RECORDER))
        writer.write(LogChunk(text="12345678901\n"))  # 11 characters and a newline: exactly the cap
        writer.finish()
    lines = logged(caplog)
    assert lines[0] == "12345678901" and budget.exhausted
    assert len(lines) == 2 and "stream_logs_max_bytes=12 reached" in lines[1]


# -- messages -----------------------------------------------------------------------------------------------
def test_numeric_statuses_are_listed_in_order_and_strings_are_explained():
    with pytest.raises(InvalidParameterError) as error:
        sensor(1001, success_states=["3"])
    text = str(error.value)
    assert "statuses are integers: write 3, not '3'" in text
    assert "allowed: 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15" in text


def test_a_waiting_job_is_not_said_to_have_ended(bk):
    with pytest.raises(JobFailedError) as error:
        for _ in range(100):
            sensor(1003, fail_on_waiting_user=True).poke({})
    assert "is in status 7 (waiting for user)" in str(error.value)
    assert "ended" not in str(error.value).splitlines()[0]


def test_the_timeout_says_what_the_status_means_and_how_to_stop_waiting(bk):
    op = sensor(1003, timeout=0.5, poke_interval=0.1)
    with pytest.raises(AirflowSensorTimeout) as error:
        op.execute({})
    text = str(error.value)
    assert "is still 7 (waiting for user) after the timeout of 0.5s" in text
    assert "fail_on_waiting_user=True" in text


def test_the_deferred_timeout_says_the_same(bk):
    op = sensor(1003)
    event = {
        "status": "timeout",
        "message": "",
        "job_status": {
            "service": "BlueKing JOB",
            "job_id": "1003",
            "state": "waiting_user",
            "raw_status": 7,
        },
    }
    with pytest.raises(AirflowSensorTimeout, match=r"still 7 \(waiting for user\).*fail_on_waiting_user=True"):
        op.execute_complete({}, event)


def test_an_execution_timeout_shorter_than_timeout_is_named_when_poking(bk):
    """Airflow's own execution_timeout (its task runner's alarm) ends the poke loop: the error names it."""
    _run_execute_callable = _task_runner_timeout_call()

    op = sensor(1003, timeout=30, poke_interval=0.05, execution_timeout=timedelta(seconds=0.5))
    with pytest.raises(AirflowTaskTimeout) as error:
        _run_execute_callable({}, op.execute, op)
    text = str(error.value)
    assert "is still 7 (waiting for user) after the execution_timeout of 0.5s" in text
    assert "fail_on_waiting_user=True" in text


def test_an_execution_timeout_shorter_than_timeout_is_named_when_deferred(bk):
    op = sensor(1003, deferrable=True, timeout=30, poke_interval=0.05, execution_timeout=timedelta(seconds=0.5))
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    event = trigger_events(deferred.value.trigger)[-1]
    assert event["status"] == "timeout"
    resumed = sensor(1003, deferrable=True, timeout=30, poke_interval=0.05, execution_timeout=timedelta(seconds=0.5))
    with pytest.raises(
        AirflowSensorTimeout, match=r"still 7 \(waiting for user\) after the execution_timeout of 0\.5s"
    ):
        resumed.execute_complete({}, event)
    with pytest.raises(AirflowSensorTimeout, match=r"after the timeout of 30s"):  # the timeout, when it is shorter
        sensor(1003, timeout=30, execution_timeout=timedelta(hours=1)).execute_complete({}, event)


def test_never_fail_skips_when_the_trigger_reports_an_error(caplog):
    event = {"status": "error", "message": "TransientError: the service went away", "job_status": None}
    with pytest.raises(JobLogsError, match="went away"):
        sensor(1001).execute_complete({}, event)
    with caplog.at_level(logging.INFO, logger=RECORDER), pytest.raises(AirflowSkipException, match="never_fail"):
        sensor(1001, never_fail=True).execute_complete({}, event)
    assert any("went away" in line for line in logged(caplog))


def test_the_deferral_outlasts_the_triggers_own_deadline(bk):
    """The scheduler's deferral timeout comes after the trigger's deadline, so the trigger's timeout event (with
    the job's status, and soft_fail applied by the sensor) is what ends the task."""
    op = sensor(1003, deferrable=True, timeout=30, poke_interval=5)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    assert deferred.value.timeout is not None and deferred.value.timeout.total_seconds() >= 30 + 60


def test_the_connection_id_under_the_services_name_is_taken_from_default_args():
    """``bk_job_conn_id`` / ``codearts_build_conn_id`` in a DAG's ``default_args`` reach the tasks: Airflow fills
    only the arguments an operator's signature names, so each service's tasks keep that name as a parameter."""
    from airflow.providers.common.compat.sdk import DAG

    from airflow_joblogs.operators.blueking import BlueKingExecuteJobPlanOperator
    from airflow_joblogs.operators.codearts import CodeArtsBuildLogOperator

    names = {"bk_job_conn_id": "bk_other", "codearts_build_conn_id": "cb_other"}
    with DAG("conn_id_defaults", default_args=names, schedule=None):
        sensor = BlueKingJobSensor(task_id="wait", job_instance_id=1, bk_biz_id=2)
        run = BlueKingExecuteJobPlanOperator(task_id="run", job_plan_id=1, bk_biz_id=2)
        archive = CodeArtsBuildLogOperator(task_id="archive", job_id="a" * 32, build_no=1)
    assert (sensor.conn_id, run.conn_id, archive.conn_id) == ("bk_other", "bk_other", "cb_other")


# -- stream_logs in reschedule mode ----------------------------------------------------------------------------
class RescheduledTI:
    """What a rescheduled sensor reads of its task instance: the try and when its first poke was."""

    def __init__(self, try_number: int = 1) -> None:
        self.try_number = try_number
        self.first_poke = None

    def get_first_reschedule_date(self, context):
        return self.first_poke


class TaskStateStore:
    """The task's ``task_state_store`` (Airflow >= 3.3): JSON values that outlive a run of the task."""

    def __init__(self) -> None:
        self.values: dict = {}

    def get(self, key, default=None):
        return self.values.get(key, default)

    def set(self, key, value) -> None:
        self.values[key] = json.loads(json.dumps(value))

    def delete(self, key) -> None:
        self.values.pop(key, None)


def reschedule_until_done(job_id: int, ti: RescheduledTI, store: TaskStateStore, **kwargs) -> int:
    """Run the sensor as Airflow runs ``mode="reschedule"``: every poke a new operator instance (a new process)
    that raises ``AirflowRescheduleException`` until the job is done; the number of pokes."""
    try:
        from airflow.sdk import timezone
        from airflow.sdk.exceptions import AirflowRescheduleException
    except ImportError:  # the streaming progress lives in task_state_store, Airflow >= 3.3
        pytest.skip("this Airflow has no task_state_store for the sensor to keep its progress in")

    context = {"ti": ti, "task_state_store": store}
    for pokes in range(1, 400):
        try:
            sensor(job_id, mode="reschedule", stream_logs=True, **kwargs).execute(context)
            return pokes
        except AirflowRescheduleException:
            ti.first_poke = ti.first_poke or timezone.utcnow()
            time.sleep(0.05)
    raise AssertionError("the sensor was still waiting")


def streamed(lines: list[str]) -> list[str]:
    return [line for line in lines if line.startswith("[") and not line.startswith("[stream_logs]")]


def test_reschedule_mode_goes_on_where_the_last_poke_stopped(bk, caplog):
    store = TaskStateStore()
    with caplog.at_level(logging.INFO, logger=RECORDER):
        pokes = reschedule_until_done(1001, RescheduledTI(), store, stream_logs_max_bytes=None)
    assert pokes >= 3, "the job ran over several pokes"
    assert store.values == {}, "the progress is removed when the sensor succeeds"
    across_pokes = streamed(logged(caplog))
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=RECORDER):
        assert sensor(1001, stream_logs=True, stream_logs_max_bytes=None).poke({})  # the whole log at once
    whole_log = streamed(logged(caplog))
    assert whole_log and sorted(across_pokes) == sorted(whole_log), "every line once, none repeated"


def test_reschedule_mode_holds_the_task_cap_across_pokes(bk, caplog):
    with caplog.at_level(logging.INFO, logger=RECORDER):
        pokes = reschedule_until_done(1001, RescheduledTI(), TaskStateStore(), stream_logs_max_bytes=300)
    assert pokes >= 3
    lines = logged(caplog)
    assert 0 < sum(len(line.encode()) + 1 for line in streamed(lines)) <= 300
    assert len([line for line in lines if line.startswith("[stream_logs]")]) == 1


def test_a_new_try_streams_from_the_start(bk, caplog):
    store = TaskStateStore()
    reschedule_until_done(1001, RescheduledTI(try_number=1), store, stream_logs_max_bytes=None)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger=RECORDER):
        reschedule_until_done(1001, RescheduledTI(try_number=2), store, stream_logs_max_bytes=None)
    assert streamed(logged(caplog)), "the retry shows the log again, from its start"


def test_reschedule_mode_keeps_what_the_log_rules_matched_in_earlier_pokes(bk):
    """A line matched by an early poke fails the job at success, although later pokes do not read it again."""
    with pytest.raises(JobFailedError, match="fail_on_log_patterns") as error:
        reschedule_until_done(
            1001,
            RescheduledTI(),
            TaskStateStore(),
            stream_logs_max_bytes=None,
            fail_on_log_patterns=["stop service: stage 1/3"],
        )
    assert "stage 1/3 done" in str(error.value)


def _task_runner_timeout_call():
    """Airflow's task runner function that applies ``execution_timeout`` (newer releases only), else skip."""
    from airflow.sdk.execution_time import task_runner

    call = getattr(task_runner, "_run_execute_callable", None)
    if call is None:
        pytest.skip("this Airflow's task runner applies execution_timeout elsewhere")
    return call
