"""Run operators (start → wait → result) against the emulators: BlueKing JOB's job plans and fast scripts.

``FakeTaskStateStore`` stands in for Airflow 3.3's ``context["task_state_store"]`` (get/set/delete of JSON values,
kept across the tries of one task instance); ``FakeTI`` for the task instance's XCom calls.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta
from typing import Any

import httpx
import pytest
from airflow.providers.common.compat.sdk import AirflowTaskTimeout, TaskDeferred
from helpers import round_trip, set_connections, trigger_events

from airflow_joblogs.exceptions import InvalidParameterError, JobFailedError, JobLogsError, RemoteValidationError
from airflow_joblogs.hooks.blueking import BlueKingJobHook
from airflow_joblogs.operators.blueking import BlueKingExecuteJobPlanOperator, BlueKingFastExecuteScriptOperator
from airflow_joblogs.operators.run import CONSOLE_URL_KEY, STARTED_JOB_KEY
from airflow_joblogs.sensors.blueking import BlueKingJobSensor
from airflow_joblogs.triggers.blueking import BlueKingJobTrigger

CONSOLE = "https://job.example.com"


class FakeTI:
    def __init__(self, task_id: str = "run", try_number: int = 1) -> None:
        self.task_id = task_id
        self.try_number = try_number
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = json.loads(json.dumps(value))

    def xcom_pull(self, task_ids: str, key: str) -> Any:
        return self.xcom.get(key)


class FakeTaskStateStore:
    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    def get(self, key: str, default: Any = None) -> Any:
        return self.values.get(key, default)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = json.loads(json.dumps(value))

    def delete(self, key: str) -> None:
        self.values.pop(key, None)


def context(store: FakeTaskStateStore | None = None, ti: FakeTI | None = None) -> dict[str, Any]:
    ctx: dict[str, Any] = {"ti": ti or FakeTI()}
    if store is not None:
        ctx["task_state_store"] = store
    return ctx


@pytest.fixture
def job(bk, monkeypatch):
    """The BlueKing emulator with a console URL in the connection; yields the emulator."""
    conns = bk.connections()
    conns["bk_job_default"]["extra"]["console_url"] = CONSOLE
    set_connections(monkeypatch, conns)
    return bk.emulator


def plan(job_plan_id: Any = 101, **kwargs: Any) -> BlueKingExecuteJobPlanOperator:
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("poll_interval", 0.02)
    kwargs.setdefault("bk_biz_id", 2)
    return BlueKingExecuteJobPlanOperator(task_id="run", job_plan_id=job_plan_id, **kwargs)


def script(**kwargs: Any) -> BlueKingFastExecuteScriptOperator:
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("poll_interval", 0.02)
    kwargs.setdefault("bk_biz_id", 2)
    kwargs.setdefault("target_server", {"host_id_list": [501, 502]})
    return BlueKingFastExecuteScriptOperator(task_id="run", **kwargs)


def status_of(job_instance_id: int) -> int:
    return BlueKingJobHook().get_job_status(job_instance_id, bk_biz_id=2).raw_status


def wait_for_status(job_instance_id: int, wanted: set[int], limit: float = 10) -> None:
    deadline = time.monotonic() + limit
    while status_of(job_instance_id) not in wanted:
        assert time.monotonic() < deadline, f"job {job_instance_id} never reached {wanted}"
        time.sleep(0.02)


# -- start and wait ------------------------------------------------------------------------------------------
def test_plan_run_waits_and_returns_identifiers_the_sensor_takes(job):
    ctx = context()
    result = plan(global_vars={"version": "v2.4"}).execute(ctx)
    assert result["status"] == {"raw": 3, "state": "success", "meaning": "success"}
    assert result["job_instance_id"] >= 30001 and result["bk_biz_id"] == 2
    assert result["job_instance_name"] == "deploy-web-v2.3"
    # the variable set on start, and the plan's other one, as the job saw them
    assert result["outputs"] == {"global_vars": {"version": "v2.4", "env": "prod"}}
    assert result["console_url"] == f"{CONSOLE}/api_execute/{result['job_instance_id']}"
    assert ctx["ti"].xcom[CONSOLE_URL_KEY] == result["console_url"]
    json.dumps(result)
    sensor = BlueKingJobSensor(task_id="s", job_instance_id=result["job_instance_id"], bk_biz_id=result["bk_biz_id"])
    assert sensor.poke({})


def test_failed_plan_fails_the_task_with_host_and_exit_code(job):
    with pytest.raises(JobFailedError) as info:
        plan(102).execute(context())
    text = str(info.value)
    assert "ended in status 4 (failed)" in text
    assert "exit code 1" in text and "lock wait timeout" in text


def test_wait_for_completion_false_returns_right_after_the_start(job):
    before = job.start_requests
    result = plan(103, wait_for_completion=False).execute(context())
    assert job.start_requests == before + 1
    assert result["status"] is None
    assert status_of(result["job_instance_id"]) in (1, 2, 7)  # still running


def test_fast_script_runs_the_script_sent_base64(job):
    result = script(script_content="echo deploy-ok\nexit 0\n", stream_logs=True).execute(context())
    assert result["status"]["raw"] == 3 and result["step_instance_id"]
    logs = "".join(c.text for c in BlueKingJobHook().iter_host_logs(result["job_instance_id"], bk_biz_id=2))
    assert "deploy-ok" in logs


def test_failed_script_names_the_exit_code(job):
    with pytest.raises(JobFailedError, match="exit code 3"):
        script(script_content="echo start\nexit 3\n").execute(context())


# -- deferrable ----------------------------------------------------------------------------------------------
def test_deferrable_run_defers_then_returns_the_result(job):
    ctx = context()
    op = plan(deferrable=True, poll_interval=0.05, timeout=60)
    with pytest.raises(TaskDeferred) as info:
        op.execute(ctx)
    trigger = info.value.trigger
    assert isinstance(trigger, BlueKingJobTrigger)
    assert round_trip(trigger, "airflow_joblogs.triggers.blueking.BlueKingJobTrigger")["cancel_on_kill"] is True
    assert ctx["ti"].xcom[CONSOLE_URL_KEY].startswith(CONSOLE)  # the link is there while deferred
    # the deferral outlasts the operator's own timeout, so the trigger's timeout event comes first
    assert info.value.timeout.total_seconds() > 60
    events = trigger_events(trigger)
    assert events[-1]["status"] == "success"
    resumed = plan(deferrable=True)  # a new instance, as on the worker that resumes the task
    result = resumed.execute_complete(ctx, events[-1])
    assert result["status"]["raw"] == 3 and result["outputs"]["global_vars"]["version"] == "v2.3"


# -- cancel ----------------------------------------------------------------------------------------------------
def test_on_kill_terminates_the_started_job(job):
    op = plan(103, deferrable=True)
    with pytest.raises(TaskDeferred):
        op.execute(context())
    job_id = op.job_ref()["job_instance_id"]
    wait_for_status(job_id, {7})
    op.on_kill()
    assert job.terminate_requests[-1] == job_id
    wait_for_status(job_id, {11})


def test_on_kill_terminates_the_job_though_the_interrupted_wait_left_the_client_unusable(job):
    """execution_timeout's alarm can stop a status request anywhere in the HTTP client, leaving a kept-alive
    connection half used (h11: "can't handle event type Request when role=CLIENT and state=DONE"); on_kill
    then cancels over new connections."""
    op = plan(103, deferrable=True)
    with pytest.raises(TaskDeferred):
        op.execute(context())
    job_id = op.job_ref()["job_instance_id"]
    wait_for_status(job_id, {7})

    def half_used(request: httpx.Request) -> httpx.Response:
        raise httpx.LocalProtocolError("can't handle event type Request when role=CLIENT and state=DONE")

    op.run_hook.api._client = httpx.Client(transport=httpx.MockTransport(half_used))
    op.on_kill()
    assert job.terminate_requests[-1] == job_id
    wait_for_status(job_id, {11})


def test_on_kill_leaves_the_job_with_cancel_on_kill_false(job):
    op = plan(103, deferrable=True, cancel_on_kill=False)
    with pytest.raises(TaskDeferred):
        op.execute(context())
    before = list(job.terminate_requests)
    op.on_kill()
    assert job.terminate_requests == before


def test_timeout_terminates_the_job_and_fails_saying_so(job):
    with pytest.raises(JobFailedError) as info:
        plan(103, timeout=0.3).execute(context())
    text = str(info.value)
    assert "is still 7 (waiting for user)" in text and "terminated it" in text
    wait_for_status(job.terminate_requests[-1], {10, 11})


def test_deferred_timeout_terminates_the_job(job):
    ctx = context()
    op = plan(103, deferrable=True, poll_interval=0.05, timeout=0.3)
    with pytest.raises(TaskDeferred) as info:
        op.execute(ctx)
    event = trigger_events(info.value.trigger)[-1]
    assert event["status"] == "timeout"
    with pytest.raises(JobFailedError, match="terminated it"):
        plan(103, deferrable=True, timeout=0.3).execute_complete(ctx, event)
    assert job.terminate_requests[-1] == op.job_ref()["job_instance_id"]


def test_an_execution_timeout_shorter_than_timeout_is_named_and_the_job_terminated(job):
    """Airflow's task runner applies execution_timeout (an alarm), then calls on_kill: the error names the limit."""
    from test_sensor_options import _task_runner_timeout_call

    _run_execute_callable = _task_runner_timeout_call()

    op = plan(103, timeout=60, execution_timeout=timedelta(seconds=0.5))
    with pytest.raises(AirflowTaskTimeout) as info:
        _run_execute_callable(context(), op.execute, op)
    text = str(info.value)
    assert "is still 7 (waiting for user) after the execution_timeout of 0.5s" in text
    assert "it is terminated (cancel_on_kill)" in text
    assert job.terminate_requests[-1] == op.job_ref()["job_instance_id"]


def test_a_deferred_execution_timeout_is_named(job):
    ctx = context()
    limits = {"timeout": 60, "execution_timeout": timedelta(seconds=0.5)}
    op = plan(103, deferrable=True, poll_interval=0.05, **limits)
    with pytest.raises(TaskDeferred) as info:
        op.execute(ctx)
    event = trigger_events(info.value.trigger)[-1]
    assert event["status"] == "timeout"
    with pytest.raises(JobFailedError, match=r"after the execution_timeout of 0\.5s\. .*; terminated it"):
        plan(103, deferrable=True, **limits).execute_complete(ctx, event)


def test_trigger_on_kill_terminates_the_job(job):
    op = plan(103, deferrable=True, poll_interval=0.05)
    with pytest.raises(TaskDeferred) as info:
        op.execute(context())
    job_id = op.job_ref()["job_instance_id"]
    wait_for_status(job_id, {7})
    asyncio.run(info.value.trigger.on_kill())
    assert job.terminate_requests[-1] == job_id


# -- reattach ----------------------------------------------------------------------------------------------------
def test_a_retry_waits_on_the_job_the_first_try_started(job):
    store = FakeTaskStateStore()
    before = job.start_requests
    with pytest.raises(TaskDeferred):  # the first try starts the job, then its worker dies while deferred
        plan(deferrable=True).execute(context(store))
    assert store.values[STARTED_JOB_KEY]["job_instance_id"] >= 30001
    result = plan().execute(context(store, FakeTI(try_number=2)))
    assert job.start_requests == before + 1  # nothing new started
    assert result["status"]["raw"] == 3
    assert STARTED_JOB_KEY not in store.values  # forgotten once the task has its result
    plan().execute(context(store, FakeTI(try_number=3)))  # a cleared task: a new job
    assert job.start_requests == before + 2


def test_a_retry_after_the_job_failed_starts_a_new_one(job):
    store = FakeTaskStateStore()
    with pytest.raises(TaskDeferred):
        plan(102, deferrable=True).execute(context(store))
    first = store.values[STARTED_JOB_KEY]["job_instance_id"]
    wait_for_status(first, {4})
    before = job.start_requests
    with pytest.raises(JobFailedError):
        plan(102).execute(context(store, FakeTI(try_number=2)))
    assert job.start_requests == before + 1


def test_reattach_false_starts_a_new_job_on_retry(job):
    store = FakeTaskStateStore()
    with pytest.raises(TaskDeferred):
        plan(deferrable=True, reattach=False).execute(context(store))
    assert store.values == {}


# -- bad input ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "parameter"),
    [
        (lambda: plan(None), "job_plan_id"),
        (lambda: plan(0), "job_plan_id"),
        (lambda: plan(global_vars={"version": 2}), "global_vars"),
        (lambda: plan(global_vars=["version"]), "global_vars"),
        (lambda: plan(bk_biz_id=None), "bk_biz_id"),
        (lambda: script(), "script_content"),
        (lambda: script(script_content="echo", target_server={"host_id_list": []}), "target_server"),
        (lambda: script(script_content="echo", target_server={}), "target_server"),
        (lambda: script(script_content="echo", script_language=9), "script_language"),
        (lambda: script(script_content="echo", account_alias=None), "account_alias"),
        (lambda: script(script_content="echo", script_param=["a"]), "script_param"),
    ],
)
def test_bad_input_fails_before_any_request(job, bk, make, parameter):
    before = bk.app.faults.served
    with pytest.raises(InvalidParameterError) as info:
        make().execute(context())
    assert info.value.parameter == parameter
    assert bk.app.faults.served == before


# -- the emulator answers as bk-job does ----------------------------------------------------------------------------
def test_terminating_a_finished_job_is_refused_as_upstream(job):
    result = plan().execute(context())
    with pytest.raises(RemoteValidationError, match="Unsupported operation"):
        BlueKingJobHook().operate_job_instance(result["job_instance_id"], 1, bk_biz_id=2)
    assert "did not terminate" in BlueKingJobHook().cancel_job(
        {"job_instance_id": result["job_instance_id"], "bk_scope_type": "biz", "bk_scope_id": "2"}
    )


def test_unknown_plan_is_refused_as_upstream(job):
    with pytest.raises(JobLogsError, match="Job plan does not exist"):
        BlueKingJobHook().execute_job_plan(999, bk_biz_id=2)


class _NoCancelPlanOperator(BlueKingExecuteJobPlanOperator):
    """A run operator of a service without a cancel API."""

    can_cancel = False


def test_a_service_without_a_cancel_api_refuses_cancel_on_kill():
    assert BlueKingExecuteJobPlanOperator(task_id="t", job_plan_id=1).cancel_on_kill is True
    assert _NoCancelPlanOperator(task_id="t", job_plan_id=1).cancel_on_kill is False
    assert _NoCancelPlanOperator(task_id="t", job_plan_id=1, cancel_on_kill=False).cancel_on_kill is False
    with pytest.raises(ValueError, match="cancel_on_kill=True is not possible: BlueKing JOB has no API"):
        _NoCancelPlanOperator(task_id="t", job_plan_id=1, cancel_on_kill=True)
