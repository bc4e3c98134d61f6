"""CodeArts Build's run operator (start → wait → result) against the emulator, and the official SDK's RunJob,
StopBuildJob and ShowOutputInfo against the same emulator.

``FakeTaskStateStore`` and ``FakeTI`` are those of ``test_run_operators``: Airflow 3.3's ``task_state_store`` and
the task instance's XCom calls.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from helpers import round_trip, set_connections, trigger_events
from huaweicloudsdkcodeartsbuild.v3 import (
    ParameterItem,
    RunJobRequest,
    RunJobRequestBody,
    Scm,
    ShowBuildDetailsRequest,
    ShowOutputInfoRequest,
    StopBuildJobRequest,
)
from test_codearts_contract import sdk_client
from test_run_operators import FakeTaskStateStore, FakeTI, context

from airflow_joblogs.emulators.codearts import FAILING_JOB, WEB_JOB
from airflow_joblogs.exceptions import InvalidParameterError, JobFailedError, NotFoundError
from airflow_joblogs.hooks.codearts import CodeArtsBuildHook
from airflow_joblogs.operators.codearts import CodeArtsBuildLogOperator, CodeArtsBuildRunOperator
from airflow_joblogs.operators.run import CONSOLE_URL_KEY, STARTED_JOB_KEY
from airflow_joblogs.sensors.codearts import CodeArtsBuildSensor
from airflow_joblogs.triggers.codearts import CodeArtsBuildTrigger

CONSOLE = "https://devcloud.cn-north-4.huaweicloud.com/cloudbuild"


@pytest.fixture
def build(cb, monkeypatch):
    """The CodeArts emulator with a console URL in the connection; yields the emulator."""
    conns = cb.connections()
    conns["codearts_build_default"]["extra"]["console_url"] = CONSOLE
    set_connections(monkeypatch, conns)
    return cb.emulator


def run(job_id: Any = WEB_JOB, **kwargs: Any) -> CodeArtsBuildRunOperator:
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("poll_interval", 0.02)
    return CodeArtsBuildRunOperator(task_id="run", job_id=job_id, **kwargs)


def result_of(job_id: str, build_no: int) -> str:
    return CodeArtsBuildHook().get_build_status(job_id, build_no).raw_status


def wait_for_result(job_id: str, build_no: int, wanted: set[str], limit: float = 10) -> None:
    deadline = time.monotonic() + limit
    while result_of(job_id, build_no) not in wanted:
        assert time.monotonic() < deadline, f"build {job_id} #{build_no} never reached {wanted}"
        time.sleep(0.02)


# -- start and wait ------------------------------------------------------------------------------------------
def test_run_waits_and_returns_identifiers_the_sensor_and_log_operator_take(build, tmp_path):
    ctx = context()
    before = build.start_requests
    result = run(parameters={"version": "2.4.0"}, branch="release/2.4").execute(ctx)
    assert build.start_requests == before + 1
    assert result["status"] == {"raw": "SUCCESS", "state": "success", "meaning": "success"}
    assert result["job_id"] == WEB_JOB and result["build_no"] == 8  # the task's last build was #7
    assert result["console_url"] == f"{CONSOLE}/detail/history/{WEB_JOB}/8"
    assert ctx["ti"].xcom[CONSOLE_URL_KEY] == result["console_url"]
    package = result["outputs"]["package_info"]
    assert package["version"] == "2.4.0" and package["name"] == "web-portal.tar.gz"
    sensor = CodeArtsBuildSensor(task_id="s", job_id=result["job_id"], build_no=result["build_no"])
    assert sensor.poke({})
    manifest = CodeArtsBuildLogOperator(
        task_id="log", job_id=result["job_id"], build_no=result["build_no"], destination=str(tmp_path)
    ).execute({})
    text = "".join(p.read_text() for p in tmp_path.rglob("*") if p.is_file() and p.suffix in (".log", ".txt"))
    assert manifest and "parameter version=2.4.0" in text and "scm branch=release/2.4" in text


def test_a_failed_build_fails_the_task_naming_the_action(build):
    with pytest.raises(JobFailedError) as info:
        run(FAILING_JOB).execute(context())
    text = str(info.value)
    assert "FAILURE" in text and "Run unit tests" in text and "PaymentGatewayTest.refundTwice" in text


def test_wait_for_completion_false_returns_right_after_the_start(build):
    result = run(wait_for_completion=False).execute(context())
    assert result["status"] is None and result["outputs"] == {}
    assert result_of(result["job_id"], result["build_no"]) in ("RUNNING", "PENDING")


# -- deferrable ----------------------------------------------------------------------------------------------
def test_deferrable_run_defers_then_returns_the_result(build):
    ctx = context()
    op = run(deferrable=True, poll_interval=0.05, timeout=60)
    with pytest.raises(TaskDeferred) as info:
        op.execute(ctx)
    trigger = info.value.trigger
    assert isinstance(trigger, CodeArtsBuildTrigger)
    assert round_trip(trigger, "airflow_joblogs.triggers.codearts.CodeArtsBuildTrigger")["cancel_on_kill"] is True
    assert ctx["ti"].xcom[CONSOLE_URL_KEY].startswith(CONSOLE)
    events = trigger_events(trigger)
    assert events[-1]["status"] == "success"
    result = run(deferrable=True).execute_complete(ctx, events[-1])  # a new instance, as on the resuming worker
    assert result["status"]["raw"] == "SUCCESS" and result["build_no"] == op.job_ref()["build_no"]
    assert result["outputs"]["package_info"]["uri"].endswith("web-portal.tar.gz")


# -- cancel ----------------------------------------------------------------------------------------------------
def test_on_kill_stops_the_started_build(build):
    op = run(deferrable=True, poll_interval=5)
    with pytest.raises(TaskDeferred):
        op.execute(context())
    ref = op.job_ref()
    op.on_kill()
    assert build.stop_requests[-1] == (ref["job_id"], ref["build_no"])
    wait_for_result(ref["job_id"], ref["build_no"], {"ABORTED"})


def test_on_kill_leaves_the_build_with_cancel_on_kill_false(build):
    op = run(deferrable=True, poll_interval=5, cancel_on_kill=False)
    with pytest.raises(TaskDeferred):
        op.execute(context())
    before = list(build.stop_requests)
    op.on_kill()
    assert build.stop_requests == before


def test_trigger_on_kill_stops_the_build(build):
    op = run(deferrable=True, poll_interval=5)
    with pytest.raises(TaskDeferred) as info:
        op.execute(context())
    asyncio.run(info.value.trigger.on_kill())
    ref = op.job_ref()
    assert build.stop_requests[-1] == (ref["job_id"], ref["build_no"])


def test_timeout_stops_the_build_and_fails_saying_so(build):
    with pytest.raises(JobFailedError) as info:
        run(timeout=0.03, poll_interval=0.01).execute(context())
    text = str(info.value)
    assert "CodeArts Build stopped build" in text
    job_id, build_no = build.stop_requests[-1]
    wait_for_result(job_id, build_no, {"ABORTED"})
    record = CodeArtsBuildHook().get_record_info(job_id, build_no)
    assert record["status"] == "ABORTED" and "stopped" in record["err_msg"]


# -- reattach ----------------------------------------------------------------------------------------------------
def test_a_retry_waits_on_the_build_the_first_try_started(build):
    store = FakeTaskStateStore()
    before = build.start_requests
    with pytest.raises(TaskDeferred):
        run(deferrable=True, poll_interval=5).execute(context(store))
    assert store.values[STARTED_JOB_KEY]["build_no"] == 8
    result = run().execute(context(store, FakeTI(try_number=2)))
    assert build.start_requests == before + 1  # nothing new started
    assert result["build_no"] == 8 and result["status"]["raw"] == "SUCCESS"
    assert STARTED_JOB_KEY not in store.values


# -- bad input ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "parameter"),
    [
        (lambda: run(None), "job_id"),
        (lambda: run(WEB_JOB.upper()), "job_id"),
        (lambda: run("a1b2c3"), "job_id"),
        (lambda: run(branch="main", tag="v1.0"), "tag"),
        (lambda: run(branch="main", commit_id="0f1e2d3c"), "commit_id"),
        (lambda: run(branch=""), None),  # empty: the task's own code, not an error
        (lambda: run(tag=3), "tag"),
        (lambda: run(parameters={"version": 2}), "parameters"),
        (lambda: run(parameters=[("version", "2")]), "parameters"),
        (lambda: run(parameters={"bad name": "x"}), "parameters"),
        (lambda: run(parameters={"PATH": "/tmp"}), "parameters"),
    ],
)
def test_bad_input_fails_before_any_request(build, cb, make, parameter):
    if parameter is None:
        make().validate_start()
        return
    before, starts = cb.app.faults.served, build.start_requests
    with pytest.raises(InvalidParameterError) as info:
        make().execute(context())
    assert info.value.parameter == parameter
    assert cb.app.faults.served == before and build.start_requests == starts


def test_unknown_build_task_is_refused_as_upstream(build):
    with pytest.raises(NotFoundError, match="does not exist"):
        CodeArtsBuildHook().run_job("f" * 32)


# -- the official SDK ------------------------------------------------------------------------------------------------
def test_official_sdk_runs_stops_and_reads_outputs(build, cb):
    client = sdk_client(cb.url)
    body = RunJobRequestBody(
        job_id=WEB_JOB,
        parameter=[ParameterItem(name="version", value="3.0.0")],
        scm=Scm(build_tag="v3.0.0"),
    )
    started = client.run_job(RunJobRequest(body=body))
    assert started.actual_build_number == "8" and started.octopus_job_name
    assert build.builds[(WEB_JOB, 8)].scm == {"build_tag": "v3.0.0"}
    stopped = client.stop_build_job(StopBuildJobRequest(job_id=WEB_JOB, build_no=8))
    assert stopped.success is True
    details = client.show_build_details(ShowBuildDetailsRequest(job_id=WEB_JOB, build_no=8))
    assert details.result.building is False and details.result.build_result == "ABORTED"
    again = client.stop_build_job(StopBuildJobRequest(job_id=WEB_JOB, build_no=8))
    assert again.success is False  # not running any more
    assert client.show_output_info(ShowOutputInfoRequest(job_id=WEB_JOB, build_no=8)).result.package_info is None
    # a build that succeeded reports its package
    finished = client.run_job(RunJobRequest(body=RunJobRequestBody(job_id=WEB_JOB)))
    wait_for_result(WEB_JOB, int(finished.actual_build_number), {"SUCCESS"})
    outputs = client.show_output_info(ShowOutputInfoRequest(job_id=WEB_JOB, build_no=9)).result
    assert outputs.package_info.name == "web-portal.tar.gz" and outputs.package_info.version == "1.0.9"
