"""What several test modules do the same way: run a sensor's pokes or a trigger to the end, take a failed sensor's
message, round-trip a trigger through its stored form, wait for a BlueKing job to end, get an IAM token, start a
server process that cannot outlive the tests.

The sensor and trigger helpers are generic over the shared bases (:class:`~airflow_joblogs.sensors.base.JobSensor`,
:class:`~airflow_joblogs.triggers.base.JobTrigger`), so every service's tests use the same loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:  # light to import: conftest and the e2e cluster use the process helpers
    from airflow_joblogs.sensors.base import JobSensor
    from airflow_joblogs.triggers.base import JobTrigger

#: the project's checkout
ROOT = Path(__file__).resolve().parent.parent


def poke_until_done(sensor: JobSensor, limit: float = 10, interval: float = 0.03) -> bool:
    """Poke until the sensor is done (True) or raises; a sensor still waiting after ``limit`` seconds fails the test."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if sensor.poke({}):
            return True
        time.sleep(interval)
    raise AssertionError(f"the sensor was still waiting after {limit} s")


def trigger_events(trigger: JobTrigger) -> list[dict[str, Any]]:
    """Run a trigger to its end on a fresh event loop, as the triggerer would; the payloads it yielded."""

    async def collect() -> list[dict[str, Any]]:
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def failure_message(sensor: JobSensor) -> str:
    """Poke until the sensor fails the task; the message of its :class:`~airflow_joblogs.exceptions.JobFailedError`."""
    from airflow_joblogs.exceptions import JobFailedError

    try:
        poke_until_done(sensor)
    except JobFailedError as exc:
        return str(exc)
    raise AssertionError("the sensor succeeded")


def round_trip(trigger: JobTrigger, classpath: str) -> dict[str, Any]:
    """Serialize the trigger as Airflow stores it and rebuild it from the stored form, as the triggerer does:
    ``classpath`` names it, its kwargs are JSON values, and the rebuilt trigger serializes the same. The kwargs."""
    import importlib

    serialized = trigger.serialize()
    assert serialized[0] == classpath
    stored = json.loads(json.dumps(serialized[1]))
    assert stored == serialized[1], "the kwargs are JSON values"
    module, _, name = classpath.rpartition(".")
    assert getattr(importlib.import_module(module), name)(**stored).serialize() == serialized
    return stored


def wait_for_blueking_job(job_id: int, conn_id: str = "bk_job_default", limit: float = 10) -> None:
    """Poll the BlueKing emulator until job ``job_id`` (business 2) has ended; still running after ``limit``
    seconds fails the test."""
    from airflow_joblogs.hooks.blueking import BlueKingJobHook

    hook = BlueKingJobHook(conn_id)
    deadline = time.monotonic() + limit
    while not hook.get_job_status(job_id, bk_biz_id=2).state.is_terminal:
        if time.monotonic() > deadline:
            raise AssertionError(f"BlueKing job {job_id} was still running after {limit} s")
        time.sleep(0.05)


def issue_iam_token(codearts_url: str) -> str:
    """A project-scoped IAM token from the CodeArts emulator's IAM endpoint, as its IAM user gets one."""
    from airflow_joblogs.emulators.codearts import DOMAIN_NAME, PASSWORD, PROJECT_ID, USER_NAME

    user = {"name": USER_NAME, "password": PASSWORD, "domain": {"name": DOMAIN_NAME}}
    response = httpx.post(
        codearts_url + "/v3/auth/tokens",
        json={
            "auth": {
                "identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"project": {"id": PROJECT_ID}},
            }
        },
    )
    response.raise_for_status()
    return response.headers["X-Subject-Token"]


# -- processes ----------------------------------------------------------------------------------------------------
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for :class:`subprocess.Popen`: the child gets ``sig`` when this process dies, even when it
    is killed outright (SIGKILL, a CI timeout), which leaves no chance to run any cleanup.

    Linux's parent-death signal (``prctl(PR_SET_PDEATHSIG)``); elsewhere None (no ``preexec_fn``). The signal
    comes when the *thread* that started the child ends: start such children from the main thread.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    # looked up before the fork: the child only calls it (no library loading between fork and exec)
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before prctl: no signal would ever come
            os.kill(os.getpid(), sig)

    return preexec


def start_session(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """``args`` in a session of its own (stop it as a process group), its output and errors piped together as
    text, sent SIGTERM if this process dies (:func:`die_with_parent`)."""
    return subprocess.Popen(
        args,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        preexec_fn=die_with_parent(),
    )


def start_moto_server(timeout: float = 30) -> tuple[subprocess.Popen[bytes], str]:
    """moto's S3 server on a free loopback port, in a process group of its own that ends with this process.

    Returns the process and its URL once it answers; the caller terminates it.
    """
    port = free_port()
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C in the terminal reaches pytest, which stops it in order
        preexec_fn=die_with_parent(),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while True:
        try:
            httpx.get(url, timeout=1)
            return proc, url
        except httpx.TransportError:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                proc.wait(timeout=10)
                raise RuntimeError("moto_server did not start") from None
            time.sleep(0.1)


def set_connections(monkeypatch: Any, connections: dict[str, dict[str, Any]]) -> None:
    """Airflow connections from environment variables (``AIRFLOW_CONN_<ID>``), undone after the test."""
    for conn_id, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


def mgn_event_data_fields() -> frozenset[str]:
    """The MGN log event fields the installed botocore's service model knows; it drops the others (older
    releases, 1.40 for one, do not model ``attemptCount`` / ``maxAttemptsCount``)."""
    import botocore.session

    return frozenset(botocore.session.get_session().get_service_model("mgn").shape_for("JobLogEventData").members)
