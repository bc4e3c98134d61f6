"""The run operators in a real Airflow 3.3: deferred with streamed logs and a console link, a worker crash and the
retry that reattaches, a user marking a deferred run failed, and a timeout while deferred.

The DAGs are ``tests/e2e/dags/e2e_run_operators.py``; each starts BlueKing JOB job plans on the stage's emulator,
which counts the start requests and records every terminate request (``operate_job_instance``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

# the first test in a session also waits for the stage to come up (minutes on a busy machine)
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

LOGICAL_DATE = "2026-01-16T00:00:00Z"
CONSOLE = "https://job.example.com"
CONN = "bk_job_console"
DAGS = ["e2e_run_deferred", "e2e_run_killed", "e2e_run_marked_failed", "e2e_run_timeout", "e2e_sensor_link"]
#: the triggerer's ``[triggerer] on_kill_timeout`` (its default): how long Airflow lets a trigger's on_kill run
ON_KILL_TIMEOUT = 30.0


@pytest.fixture(scope="module")
def stage(e2e_stage):
    """The stage with the ``bk_job_console`` connection (created through the REST API) and the DAGs parsed."""
    from airflow_joblogs.emulators.blueking import STAGE_PREFIX

    airflow = e2e_stage.airflow
    conn = e2e_stage.servers["blueking"].connections()["bk_job_default"]
    assert conn["host"].endswith(STAGE_PREFIX)
    airflow.api(
        "POST",
        "connections",
        json={
            "connection_id": CONN,
            "conn_type": conn["conn_type"],
            "host": conn["host"],
            "login": conn["login"],
            "password": conn["password"],
            "extra": json.dumps({**conn["extra"], "console_url": CONSOLE}),
        },
    )
    airflow.wait_dags(DAGS)
    return e2e_stage


def wait_for(what: str, check: Callable[[], Any], timeout: float, airflow: Any, interval: float = 0.3) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"not within {timeout:g}s: {what}\n{airflow.component_output_tail()}")


def state_of(airflow: Any, dag_id: str, run_id: str, task_id: str) -> str | None:
    return airflow.task_instances(dag_id, run_id).get(task_id, {}).get("state")


def log_text(airflow: Any, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
    """The try's log as the UI shows it (messages, then any exception's type and text); "" before it exists."""
    try:
        entries = airflow.task_log(dag_id, run_id, task_id, try_number)
    except httpx.HTTPStatusError:
        return ""
    lines = []
    for entry in entries:
        lines.append(str(entry.get("event", "")))
        for error in entry.get("error_detail") or []:
            lines.append(f"{error.get('exc_type')}: {error.get('exc_value')}")
    return "\n".join(lines)


def started_job(stage: Any, known: set[int], timeout: float = 90) -> int:
    """The id of the one job started since ``known`` was taken."""
    emulator = stage.emulators["blueking"]
    new = wait_for("a job started", lambda: set(emulator.jobs) - known, timeout, stage.airflow)
    assert len(new) == 1, new
    return next(iter(new))


def xcom(airflow: Any, dag_id: str, run_id: str, task_id: str) -> Any:
    value = airflow.xcom(dag_id, run_id, task_id)
    return json.loads(value) if isinstance(value, str) else value


def links(airflow: Any, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    return airflow.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/links")["extra_links"]


def test_deferred_run_streams_links_and_hands_its_result_on(stage):
    airflow, emulator = stage.airflow, stage.emulators["blueking"]
    dag_id, run_id = "e2e_run_deferred", "deferred"
    known, starts = set(emulator.jobs), emulator.start_requests
    airflow.trigger(dag_id, run_id, LOGICAL_DATE)
    job_id = started_job(stage, known)

    # while the task is deferred, the console link is there through the REST API
    wait_for("run_plan deferred", lambda: state_of(airflow, dag_id, run_id, "run_plan") == "deferred", 90, airflow)
    assert links(airflow, dag_id, run_id, "run_plan") == {"Job console": f"{CONSOLE}/api_execute/{job_id}"}
    assert state_of(airflow, dag_id, run_id, "run_plan") == "deferred", "the job ended before the link was read"

    run = wait_for(
        "the run ended",
        lambda: (r := airflow.api("GET", f"dags/{dag_id}/dagRuns/{run_id}"))["state"] in ("success", "failed") and r,
        120,
        airflow,
    )
    states = {task_id: ti["state"] for task_id, ti in airflow.task_instances(dag_id, run_id).items()}
    assert run["state"] == "success", states
    assert emulator.start_requests == starts + 1

    # the downstream task got the result: the job, its final status and the variable set at the start
    assert xcom(airflow, dag_id, run_id, "report") == {
        "job_instance_id": job_id,
        "status": {"raw": 3, "state": "success", "meaning": "success"},
        "version": "v2.9",
    }
    result = xcom(airflow, dag_id, run_id, "run_plan")
    assert result["console_url"] == f"{CONSOLE}/api_execute/{job_id}" and result["bk_biz_id"] == 2

    # stream_logs: every host's lines of every step in the task log, streamed (mostly by the trigger)
    from airflow_joblogs.emulators.blueking import host_log

    log = log_text(airflow, dag_id, run_id, "run_plan")
    job = emulator.jobs[job_id]
    for step in job.steps:
        for host in step.hosts:
            for line in host_log(job, step, host).splitlines():
                assert f"[step {step.step_instance_id} 0:{host.ip}] {line}" in log, line
    # the trigger's log file, or the triggerer's own output for its last lines (AirflowCluster.trigger_events)
    assert "Trigger fired event" in "".join(
        str(e.get("event", "")) for e in airflow.trigger_events(dag_id, run_id, "run_plan")
    )


def task_process(stage: Any, ti_id: str) -> Any:
    """The process running the task instance (the task runner titles itself ``airflow worker -- <ti id>``), found
    among the scheduler's descendants (the LocalExecutor's workers and their task runners)."""
    import psutil

    scheduler = psutil.Process(stage.airflow.processes["scheduler"].pid)
    title = f"airflow worker -- {ti_id}"
    found = []
    for proc in scheduler.children(recursive=True):
        try:
            if " ".join(proc.cmdline()).strip() == title:
                found.append(proc)
        except psutil.Error:
            continue
    assert len(found) <= 1, found
    return found[0] if found else None


def test_worker_killed_mid_wait_the_retry_reattaches_to_the_same_job(stage):
    airflow, emulator = stage.airflow, stage.emulators["blueking"]
    dag_id, run_id = "e2e_run_killed", "killed"
    known, starts = set(emulator.jobs), emulator.start_requests
    airflow.trigger(dag_id, run_id, LOGICAL_DATE)
    job_id = started_job(stage, known)
    job = emulator.jobs[job_id]
    # hold the job in its first step (running) until the retry has reattached, whatever the machine's pace
    job.steps[0].duration = 1e6
    try:
        wait_for(
            "the first try stored the job and polls it",
            lambda: f"BlueKing JOB job {job_id} is 2 (running)" in log_text(airflow, dag_id, run_id, "run_plan"),
            90,
            airflow,
        )
        ti = airflow.task_instances(dag_id, run_id)["run_plan"]
        assert ti["try_number"] == 1 and ti["state"] == "running"
        proc = wait_for("the task's process", lambda: task_process(stage, ti["id"]), 30, airflow)
        os.kill(proc.pid, signal.SIGKILL)  # that process only, by its pid
        killed_at = time.monotonic()

        wait_for(
            "the retry reattached",
            lambda: (
                (airflow.task_instances(dag_id, run_id)["run_plan"]["try_number"] == 2)
                and "waiting on it instead of starting another" in log_text(airflow, dag_id, run_id, "run_plan", 2)
            ),
            120,
            airflow,
        )
        print(f"\nretry reattached {time.monotonic() - killed_at:.1f}s after the kill")
    finally:
        job.steps[0].duration = 1.0
    wait_for("the retry succeeded", lambda: state_of(airflow, dag_id, run_id, "run_plan") == "success", 120, airflow)
    assert emulator.start_requests == starts + 1, "exactly one start request"
    assert set(emulator.jobs) - known == {job_id}
    assert job_id not in emulator.terminate_requests  # SIGKILL runs no on_kill: the job was left running
    log = log_text(airflow, dag_id, run_id, "run_plan", 2)
    assert f"BlueKing JOB job {job_id}, started by an earlier try, is 2 (running)" in log
    result = xcom(airflow, dag_id, run_id, "run_plan")
    assert result["job_instance_id"] == job_id and result["status"]["raw"] == 3


def test_marking_a_deferred_run_failed_terminates_the_job(stage):
    airflow, emulator = stage.airflow, stage.emulators["blueking"]
    dag_id, run_id = "e2e_run_marked_failed", "marked-failed"
    known = set(emulator.jobs)
    airflow.trigger(dag_id, run_id, LOGICAL_DATE)
    job_id = started_job(stage, known)
    wait_for("run_plan deferred", lambda: state_of(airflow, dag_id, run_id, "run_plan") == "deferred", 90, airflow)
    wait_for(
        "the trigger runs",
        lambda: list((airflow.logs / f"dag_id={dag_id}" / f"run_id={run_id}").rglob("*.trigger.*.log")),
        60,
        airflow,
    )
    assert job_id not in emulator.terminate_requests

    airflow.api("PATCH", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/run_plan", json={"new_state": "failed"})
    marked = time.monotonic()
    wait_for("the job terminated", lambda: job_id in emulator.terminate_requests, ON_KILL_TIMEOUT, airflow, 0.1)
    took = time.monotonic() - marked
    print(f"\nterminated {took:.1f}s after the task was marked failed")

    job = emulator.jobs[job_id]
    wait_for("the job force-terminated (11)", lambda: emulator.state(job)[0] == 11, 30, airflow)
    assert emulator.terminate_requests.count(job_id) == 1
    assert state_of(airflow, dag_id, run_id, "run_plan") == "failed"
    # the triggerer said why, and the trigger logged the service's answer
    said = (airflow.output / "triggerer.out").read_text(errors="replace") + "".join(
        p.read_text(errors="replace")
        for p in (airflow.logs / f"dag_id={dag_id}" / f"run_id={run_id}").rglob("*.trigger.*.log")
    )
    assert "invoking on_kill" in said
    assert f"BlueKing JOB accepted terminating job {job_id}" in said


def test_timeout_while_deferred_terminates_the_job_and_fails_saying_so(stage):
    airflow, emulator = stage.airflow, stage.emulators["blueking"]
    dag_id, run_id = "e2e_run_timeout", "timeout"
    known = set(emulator.jobs)
    airflow.trigger(dag_id, run_id, LOGICAL_DATE)
    job_id = started_job(stage, known)
    seen: set[str] = set()

    def ended() -> bool:
        state = state_of(airflow, dag_id, run_id, "run_plan")
        seen.add(str(state))
        return state in ("success", "failed")

    wait_for("the task ended", ended, 120, airflow)
    assert "deferred" in seen, seen
    assert state_of(airflow, dag_id, run_id, "run_plan") == "failed"
    assert emulator.terminate_requests.count(job_id) == 1
    log = log_text(airflow, dag_id, run_id, "run_plan")
    assert re.search(
        rf"JobFailedError: BlueKing JOB job {job_id} is still 7 \(waiting for user\) after the timeout of 8s\. "
        rf".*; terminated it: BlueKing JOB accepted terminating job {job_id}",
        log,
    ), log[-3000:]


def test_sensor_shows_the_console_link_while_deferred_and_leaves_the_job_on_a_user_action(stage):
    airflow, emulator = stage.airflow, stage.emulators["blueking"]
    dag_id, run_id = "e2e_sensor_link", "sensor-link"
    known = set(emulator.jobs)
    airflow.trigger(dag_id, run_id, LOGICAL_DATE)
    job_id = started_job(stage, known)
    wait_for("the sensor deferred", lambda: state_of(airflow, dag_id, run_id, "wait") == "deferred", 90, airflow)
    url = f"{CONSOLE}/api_execute/{job_id}"
    assert links(airflow, dag_id, run_id, "wait") == {"Job console": url}
    assert links(airflow, dag_id, run_id, "start") == {"Job console": url}
    assert xcom(airflow, dag_id, run_id, "start")["status"] is None  # wait_for_completion=False

    # a sensor does not own the job: marking it successful cancels its trigger and leaves the job alone
    airflow.api("PATCH", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/wait", json={"new_state": "success"})
    time.sleep(5)
    assert job_id not in emulator.terminate_requests
