"""The MGN run operators (StartTest, StartCutover, TerminateTargetInstances) against the MGN emulator with a real
boto3 client: start, wait (poke and deferred, streaming the job's log), the launched instances, a failed launch's
report, reattach on a retry (the stored job, and a start whose answer was lost), no cancel, bad input."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest

pytest.importorskip("airflow.providers.amazon.aws.hooks.base_aws", reason="needs airflow-joblogs[amazon]")

from airflow.providers.common.compat.sdk import TaskDeferred
from helpers import round_trip, trigger_events
from test_run_operators import FakeTaskStateStore, FakeTI, context

from airflow_joblogs.emulators.mgn import CONVERSION_ERROR, CUTOVER_JOB
from airflow_joblogs.exceptions import InvalidParameterError, JobFailedError, RemoteValidationError, TransientError
from airflow_joblogs.hooks.mgn import MgnHook, render_item
from airflow_joblogs.operators.mgn import (
    MgnStartCutoverOperator,
    MgnStartTestOperator,
    MgnTerminateTargetInstancesOperator,
)
from airflow_joblogs.operators.run import CONSOLE_URL_KEY, START_SENT_KEY, STARTED_JOB_KEY
from airflow_joblogs.sensors.mgn import MgnJobSensor
from airflow_joblogs.triggers.mgn import MgnJobTrigger


def server_id(number: int) -> str:
    """The emulator's source server ``number`` (see ``airflow_joblogs.emulators.mgn.Server``)."""
    return f"s-{0x5E7A1000000000000 + number:017x}"


CUTOVER_SERVERS = [server_id(1), server_id(2), server_id(3)]  # each runs a post-launch action
FAILING_SERVERS = [server_id(11), server_id(12), server_id(13)]  # the 2nd fails conversion on every attempt
TEST_SERVERS = [server_id(71), server_id(72)]
TERMINATE_SERVERS = [server_id(31), server_id(32)]


@pytest.fixture(autouse=True)
def _requests_of_this_test(mgn):
    mgn.emulator.received.clear()


@pytest.fixture
def slow(mgn):
    """Jobs at about a sixtieth of the session's speed (a launch runs about six seconds), so a task defers before it ends."""
    mgn.app.clock.speed, speed = 0.3, mgn.app.clock.speed
    yield mgn
    mgn.app.clock.speed = speed


class Recording:
    """Log to a plain logger the test captures (Airflow versions set up task loggers differently)."""

    @property
    def log(self) -> logging.Logger:
        return logging.getLogger("mgn-run-test")


class RecordingCutover(Recording, MgnStartCutoverOperator):
    pass


def run(cls: type, servers: list[str], **kwargs: Any) -> Any:
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("poll_interval", 0.02)
    kwargs.setdefault("timeout", 30)
    return cls(task_id="run", source_server_ids=servers, **kwargs)


def starts(mgn: Any) -> list[dict[str, Any]]:
    """The start requests the emulator received."""
    return [
        r for r in mgn.emulator.received if r["operation"] in ("StartTest", "StartCutover", "TerminateTargetInstances")
    ]


def described(job_id: str) -> dict[str, Any]:
    return MgnHook().describe_job(job_id)


# -- start and wait ----------------------------------------------------------------------------------------------
def test_cutover_waits_for_post_launch_actions_and_returns_each_launched_instance(mgn, caplog, mgn_log):
    ctx = context()
    with caplog.at_level(logging.INFO, logger="mgn-run-test"):
        result = run(
            RecordingCutover,
            CUTOVER_SERVERS,
            tags={"wave": "3"},
            require_post_launch_success=True,
            stream_logs=True,
        ).execute(ctx)
    [start] = starts(mgn)
    assert start["operation"] == "StartCutover"
    assert start["body"] == {"sourceServerIDs": CUTOVER_SERVERS, "tags": {"wave": "3"}}
    assert "boto3/" in start["user_agent"].lower() and "aiobotocore" not in start["user_agent"]
    job_id = result["job_id"]
    assert job_id == mgn.emulator.started[0] and job_id != CUTOVER_JOB
    assert result["status"] == {"raw": "COMPLETED", "state": "success", "meaning": "success"}
    assert result["source_server_ids"] == CUTOVER_SERVERS and result["console_url"] is None
    job = described(job_id)
    assert job["initiatedBy"] == "START_CUTOVER"
    # the post-launch actions had finished when the task returned
    assert all(
        a["executionStatus"] == "SUCCESS"
        for s in job["participatingServers"]
        for a in s["postLaunchActionsStatus"]["postLaunchActionsLaunchStatusList"]
    )
    servers = result["outputs"]["servers"]
    assert servers == {
        s["sourceServerID"]: {"launch_status": "LAUNCHED", "launched_ec2_instance_id": s["launchedEc2InstanceID"]}
        for s in job["participatingServers"]
    }
    assert list(servers) == CUTOVER_SERVERS
    assert len({s["launched_ec2_instance_id"] for s in servers.values()}) == 3
    json.dumps(result)
    assert ctx["ti"].xcom.get(CONSOLE_URL_KEY) is None  # no console address
    assert ctx["ti"].xcom["job_id"] == job_id, "run.output['job_id'] names the job"
    # every log item of the job was streamed into the task log once, in log order, as the sensor streams it
    logged = [r.getMessage() for r in caplog.records if r.name == "mgn-run-test"]
    assert [line for line in logged if line.startswith("20")] == [render_item(item) for item in mgn_log(job_id)]
    assert MgnJobSensor(task_id="s", job_id=job_id, require_post_launch_success=True).poke({})


def test_deferred_test_launch_streams_and_resumes_with_the_result(slow):
    mgn = slow
    ctx = context()
    op = run(MgnStartTestOperator, TEST_SERVERS, deferrable=True, stream_logs=True, poll_interval=0.05)
    with pytest.raises(TaskDeferred) as info:
        op.execute(ctx)
    trigger = info.value.trigger
    assert isinstance(trigger, MgnJobTrigger)
    kwargs = round_trip(trigger, "airflow_joblogs.triggers.mgn.MgnJobTrigger")
    assert not kwargs.get("cancel_on_kill"), "MGN cannot cancel: the trigger does not try on kill"
    assert kwargs["job_ref"]["job_id"] == mgn.emulator.started[0]
    events = trigger_events(trigger)
    assert events[-1]["status"] == "success"
    assert events[-1]["cursor"]["items"] == len(mgn.emulator.log_items(mgn.emulator.started[0]))
    resumed = run(MgnStartTestOperator, TEST_SERVERS, deferrable=True)  # a new instance, as after the deferral
    result = resumed.execute_complete(ctx, events[-1])
    assert result["job_id"] == mgn.emulator.started[0]
    assert result["status"]["raw"] == "COMPLETED"
    assert {s["launch_status"] for s in result["outputs"]["servers"].values()} == {"LAUNCHED"}
    assert described(result["job_id"])["initiatedBy"] == "START_TEST"
    assert len(starts(mgn)) == 1


def test_a_failed_launch_fails_the_task_with_the_server_and_its_error(mgn):
    store = FakeTaskStateStore()
    ti = FakeTI()
    with pytest.raises(JobFailedError) as info:
        run(MgnStartCutoverOperator, FAILING_SERVERS, log_tail_lines=3).execute(context(store, ti))
    text = str(info.value)
    job_id = mgn.emulator.started[0]
    assert f"AWS MGN job {job_id} (LAUNCH START_CUTOVER) ended in status 'FAILED'" in text
    # "(attempt 3/3)" follows where the installed botocore's model has the attempt counts (1.40 has not)
    assert f"source server {server_id(12)}: launchStatus FAILED (expected LAUNCHED); CONVERSION_FAIL" in text
    assert CONVERSION_ERROR.splitlines()[2].strip() in text
    assert "LAUNCH_FAILED" in text
    assert ti.xcom["job_id"] == job_id, "pushed at the start: a task after the failed run can name the job"
    assert store.values == {}, "a failed job is forgotten: a retry starts a new launch"


def test_terminate_target_instances_waits_for_every_server_terminated(mgn):
    result = run(MgnTerminateTargetInstancesOperator, TERMINATE_SERVERS).execute(context())
    assert result["status"]["raw"] == "COMPLETED"
    assert {s["launch_status"] for s in result["outputs"]["servers"].values()} == {"TERMINATED"}
    assert described(result["job_id"])["type"] == "TERMINATE"


def test_terminating_servers_under_test_is_refused_with_mgns_conflict(mgn):
    run(MgnStartTestOperator, TEST_SERVERS).execute(context())
    store = FakeTaskStateStore()
    with pytest.raises(RemoteValidationError, match=f"source server {TEST_SERVERS[0]} in state TESTING"):
        run(MgnTerminateTargetInstancesOperator, TEST_SERVERS).execute(context(store))
    assert store.values == {}, "a refused start leaves nothing to look for on a retry"
    assert len(mgn.emulator.started) == 1
    assert mgn.emulator.start_requests == 2, "the refused start was received once"


def test_wait_for_completion_false_returns_the_job_id_at_once(mgn):
    result = run(MgnStartCutoverOperator, CUTOVER_SERVERS, wait_for_completion=False).execute(context())
    assert result["status"] is None and result["outputs"] == {}
    assert result["job_id"] == mgn.emulator.started[0]


# -- reattach ----------------------------------------------------------------------------------------------------
def test_a_retry_waits_on_the_stored_job(slow):
    mgn = slow
    store = FakeTaskStateStore()
    with pytest.raises(TaskDeferred):  # the first try starts the launch, then its worker dies while deferred
        run(MgnStartCutoverOperator, CUTOVER_SERVERS, deferrable=True).execute(context(store))
    assert store.values[STARTED_JOB_KEY]["job_id"] == mgn.emulator.started[0]
    assert START_SENT_KEY not in store.values
    result = run(MgnStartCutoverOperator, CUTOVER_SERVERS).execute(context(store, FakeTI(try_number=2)))
    assert len(starts(mgn)) == 1, "nothing new started"
    assert result["job_id"] == mgn.emulator.started[0] and result["status"]["raw"] == "COMPLETED"
    assert store.values == {}


def test_a_retry_finds_the_job_of_a_start_whose_answer_was_lost(mgn):
    store = FakeTaskStateStore()
    mgn.app.faults.update(script=["drop"])  # MGN starts the job; its answer is cut off
    with pytest.raises(TransientError, match="StartCutover"):
        run(MgnStartCutoverOperator, CUTOVER_SERVERS, tags={"wave": "3"}).execute(context(store))
    assert len(starts(mgn)) == 1, "the start request is not sent again by botocore"
    [lost] = mgn.emulator.started
    assert STARTED_JOB_KEY not in store.values and isinstance(store.values[START_SENT_KEY], float)
    mgn.emulator.received.clear()
    result = run(MgnStartCutoverOperator, CUTOVER_SERVERS, tags={"wave": "3"}).execute(
        context(store, FakeTI(try_number=2))
    )
    assert result["job_id"] == lost and result["status"]["raw"] == "COMPLETED"
    assert starts(mgn) == [] and mgn.emulator.started == [lost]
    [lookup] = [
        r["body"]
        for r in mgn.emulator.received
        if r["operation"] == "DescribeJobs" and "fromDate" in r["body"].get("filters", {})
    ]
    assert set(lookup["filters"]) == {"fromDate", "toDate"}
    assert store.values == {}


def test_a_lost_start_that_created_no_job_is_started_again(mgn):
    store = FakeTaskStateStore()
    mgn.app.faults.update(script=["error"])  # a 500 before MGN acted
    with pytest.raises(TransientError):
        run(MgnStartTestOperator, TEST_SERVERS).execute(context(store))
    assert mgn.emulator.started == [] and START_SENT_KEY in store.values
    result = run(MgnStartTestOperator, TEST_SERVERS).execute(context(store, FakeTI(try_number=2)))
    assert result["job_id"] == mgn.emulator.started[0] and len(starts(mgn)) == 1


def test_the_lookup_does_not_adopt_another_kind_of_job_or_other_servers(mgn):
    run(MgnStartTestOperator, TEST_SERVERS[:1]).execute(context())  # a test launch of one of the servers
    store = FakeTaskStateStore()
    mgn.app.faults.update(script=["error"])
    with pytest.raises(TransientError):
        run(MgnStartTestOperator, TEST_SERVERS).execute(context(store))
    result = run(MgnStartTestOperator, TEST_SERVERS).execute(context(store, FakeTI(try_number=2)))
    assert result["job_id"] == mgn.emulator.started[1], "a new launch, not the one of the first server alone"


# -- no cancel -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [MgnStartTestOperator, MgnStartCutoverOperator, MgnTerminateTargetInstancesOperator])
def test_cancel_on_kill_is_refused_and_off_by_default(cls):
    assert cls(task_id="t", source_server_ids=TEST_SERVERS).cancel_on_kill is False
    with pytest.raises(ValueError, match="cancel_on_kill=True is not possible: AWS MGN has no API"):
        cls(task_id="t", source_server_ids=TEST_SERVERS, cancel_on_kill=True)


def test_a_timeout_leaves_the_launch_running_and_says_so(mgn):
    mgn.app.clock.speed, speed = 0.2, mgn.app.clock.speed
    try:
        with pytest.raises(JobFailedError, match=r"the job keeps running \(cancel_on_kill=False\)"):
            run(MgnStartCutoverOperator, CUTOVER_SERVERS, timeout=0.2).execute(context())
    finally:
        mgn.app.clock.speed = speed


# -- bad input ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "parameter"),
    [
        (lambda: run(MgnStartCutoverOperator, []), "source_server_ids"),
        (lambda: run(MgnStartCutoverOperator, None), "source_server_ids"),
        (lambda: run(MgnStartCutoverOperator, server_id(1)), "source_server_ids"),
        (lambda: run(MgnStartCutoverOperator, ["s-1234"]), "source_server_ids"),
        (lambda: run(MgnStartCutoverOperator, ["i-0a1b2c000000000001"]), "source_server_ids"),
        (lambda: run(MgnStartCutoverOperator, [1]), "source_server_ids"),
        (lambda: run(MgnStartCutoverOperator, [server_id(1), server_id(1)]), "source_server_ids"),
        (lambda: run(MgnStartCutoverOperator, [server_id(n) for n in range(201)]), "source_server_ids"),
        (lambda: run(MgnStartTestOperator, TEST_SERVERS, tags={"wave": 3}), "tags"),
        (lambda: run(MgnStartTestOperator, TEST_SERVERS, tags=["wave"]), "tags"),
        (lambda: run(MgnStartTestOperator, TEST_SERVERS, tags={"k": "v" * 257}), "tags"),
        (lambda: run(MgnStartTestOperator, TEST_SERVERS, account_id="1234"), "account_id"),
        (
            lambda: run(MgnStartTestOperator, TEST_SERVERS, require_post_launch_success="yes"),
            "require_post_launch_success",
        ),
        (
            lambda: run(MgnTerminateTargetInstancesOperator, TERMINATE_SERVERS, require_post_launch_success=True),
            "require_post_launch_success",
        ),
    ],
)
def test_bad_input_fails_before_any_request(mgn, make, parameter):
    before = mgn.app.faults.served
    with pytest.raises(InvalidParameterError) as info:
        make().execute(context(FakeTaskStateStore()))
    assert info.value.parameter == parameter
    assert mgn.app.faults.served == before


def test_the_hook_checks_its_start_arguments_before_any_request(mgn):
    before = mgn.app.faults.served
    with pytest.raises(InvalidParameterError) as info:
        MgnHook().start_cutover([server_id(1)], tags={"k": None})
    assert info.value.parameter == "tags"
    assert mgn.app.faults.served == before


def test_the_async_start_twins_start_jobs_with_aiobotocore(mgn):
    import asyncio

    async def start() -> dict[str, Any]:
        hook = MgnHook()
        try:
            return await hook.astart_test(TEST_SERVERS)
        finally:
            await hook.aclose()

    job = asyncio.run(start())["job"]
    assert job["initiatedBy"] == "START_TEST" and job["jobID"] == mgn.emulator.started[0]
    assert "aiobotocore/" in starts(mgn)[-1]["user_agent"]
