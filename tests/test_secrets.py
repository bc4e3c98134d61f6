"""No credential reaches logs, XCom (manifests), exception texts or repr()."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

import pytest

from airflow_joblogs.emulators.blueking import ACCESS_TOKEN, APP_SECRET, BK_TOKEN
from airflow_joblogs.exceptions import JobFailedError, JobLogsError
from airflow_joblogs.hooks.blueking import BlueKingJobHook
from airflow_joblogs.http import RetryPolicy
from airflow_joblogs.operators.blueking import BlueKingJobLogOperator
from airflow_joblogs.sensors.blueking import BlueKingJobSensor


@pytest.fixture
def token_connection(bk, monkeypatch):
    conn = json.loads(json.dumps(bk.connections()["bk_job_default"]))
    conn["extra"].update(bk_token=BK_TOKEN, access_token=ACCESS_TOKEN)  # both verified by the emulator
    monkeypatch.setenv("AIRFLOW_CONN_BK_JOB_DEFAULT", json.dumps(conn))
    return conn


@pytest.mark.parametrize("conn_id", ["bk_job_default", "bk_job_esb"])
def test_secrets_absent_everywhere(bk, token_connection, capfd, caplog, tmp_path, conn_id):
    caplog.set_level(logging.DEBUG)
    bk.app.faults.update(script=["error", "throttle", "drop"], retry_after=0.01)
    hook = BlueKingJobHook(conn_id, retry_policy=RetryPolicy(initial_backoff=0.01, max_backoff=0.02))
    texts = [repr(hook), repr(hook.api), repr(hook.api.auth), str(hook.api.__dict__.get("auth"))]
    failures: list[str] = []
    try:
        BlueKingJobSensor(
            task_id="s",
            job_instance_id=1002,
            bk_biz_id=2,
            bk_job_conn_id=conn_id,
            poke_interval=0.05,
            timeout=20,
            stream_logs=True,
            mode="poke",
        ).execute({})
    except JobFailedError as exc:
        failures.append(str(exc))
    manifest = BlueKingJobLogOperator(
        task_id="o", job_instance_id=1002, bk_biz_id=2, bk_job_conn_id=conn_id, destination=None
    ).execute({})
    bad = json.loads(json.dumps(bk.connections()[conn_id]))
    bad["password"] = APP_SECRET + "-wrong"
    import os

    os.environ["AIRFLOW_CONN_BK_JOB_BAD"] = json.dumps(bad)
    try:
        BlueKingJobHook("bk_job_bad").get_job_status(1001, bk_biz_id=2)
    except JobLogsError as exc:
        failures.append(str(exc) + repr(exc) + repr(exc.__dict__))
    finally:
        del os.environ["AIRFLOW_CONN_BK_JOB_BAD"]
    out, err = capfd.readouterr()
    haystack = "\n".join([*texts, *failures, json.dumps(manifest), out, err, caplog.text])
    assert failures and "job_fail exit=2" in haystack, "the run produced the logs being scanned"
    for secret in (APP_SECRET, BK_TOKEN, ACCESS_TOKEN):
        assert secret not in haystack


class TriggererComms:
    """Airflow 3.0's triggerer comms as a secret's registration meets them: an asyncio stream to the supervisor
    behind a synchronous ``send`` (``async_to_sync``, which refuses to run on the event loop's own thread)."""

    def __init__(self) -> None:
        self.told: list[str] = []

    async def asend(self, message) -> None:
        await asyncio.sleep(0)  # the real one writes to the supervisor's socket
        if isinstance(message.value, str):
            self.told.append(message.value)

    def send(self, message) -> None:
        from asgiref.sync import async_to_sync

        return async_to_sync(self.asend)(message)

    def run(self, trigger, secrets: Callable[[], set[str]]) -> list[dict]:
        """The trigger's events, with the loop kept running (as the triggerer's does) until the supervisor has
        heard ``secrets()`` or 10 s have passed."""

        async def run() -> list[dict]:
            events = [event.payload async for event in trigger.run()]
            deadline = time.monotonic() + 10
            while not secrets() <= set(self.told) and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            return events

        return asyncio.run(run())


def test_a_trigger_tells_the_triggerers_supervisor_its_connection_secrets(bk, token_connection, monkeypatch):
    """The trigger failed at its first check in Airflow 3.0's triggerer; now the supervisor hears every secret."""
    from airflow.sdk.execution_time import task_runner

    from airflow_joblogs.triggers.blueking import BlueKingJobTrigger

    comms = TriggererComms()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    ref = {"job_instance_id": 1006, "bk_scope_type": "biz", "bk_scope_id": "2"}
    trigger = BlueKingJobTrigger(
        conn_id="bk_job_default", job_ref=ref, success_states=[3], failure_states=[4], poll_interval=0.1
    )
    secrets = {APP_SECRET, BK_TOKEN, ACCESS_TOKEN}
    assert [e["status"] for e in comms.run(trigger, lambda: secrets)] == ["success"]
    assert secrets <= set(comms.told)


def test_a_trigger_tells_the_triggerers_supervisor_a_token_it_fetched(cb, monkeypatch):
    """A CodeArts IAM token arrives in the middle of a trigger's first request, on the event loop's thread."""
    from airflow.sdk.execution_time import task_runner

    from airflow_joblogs.emulators.codearts import WEB_JOB
    from airflow_joblogs.triggers.codearts import CodeArtsBuildTrigger

    comms = TriggererComms()
    monkeypatch.setattr(task_runner, "SUPERVISOR_COMMS", comms, raising=False)
    trigger = CodeArtsBuildTrigger(
        conn_id="codearts_build_iam",
        job_ref={"job_id": WEB_JOB, "build_no": 7},
        success_states=["SUCCESS"],
        failure_states=["FAILURE"],
        poll_interval=0.05,
    )

    def issued() -> set[str]:
        return set(cb.emulator._tokens)

    assert [e["status"] for e in comms.run(trigger, issued)] == ["success"]
    [token] = issued()
    assert token in comms.told
