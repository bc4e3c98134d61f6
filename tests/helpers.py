"""What several test modules do the same way: run a sensor's pokes or a trigger to the end, get an IAM token.

Generic over the shared bases (:class:`~airflow_joblogs.sensors.base.JobSensor`,
:class:`~airflow_joblogs.triggers.base.JobTrigger`), so every service's tests use the same loop.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from airflow_joblogs.sensors.base import JobSensor
from airflow_joblogs.triggers.base import JobTrigger


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
