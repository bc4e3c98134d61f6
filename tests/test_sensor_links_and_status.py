"""The sensors' console link (pushed before they wait or defer) and the final status they return, for BlueKing JOB
and CodeArts Build, against the emulators."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from helpers import set_connections, trigger_events
from test_run_operators import FakeTI, context

from airflow_joblogs.emulators.codearts import WEB_JOB
from airflow_joblogs.operators.run import CONSOLE_URL_KEY, JobConsoleLink
from airflow_joblogs.sensors.blueking import BlueKingJobSensor
from airflow_joblogs.sensors.codearts import CodeArtsBuildSensor

BK_CONSOLE = "https://job.example.com"
CB_CONSOLE = "https://devcloud.cn-north-4.huaweicloud.com/cloudbuild"


@pytest.fixture
def bk_console(bk, monkeypatch):
    conns = bk.connections()
    conns["bk_job_default"]["extra"]["console_url"] = BK_CONSOLE + "/"
    set_connections(monkeypatch, conns)
    return bk


@pytest.fixture
def cb_console(cb, monkeypatch):
    conns = cb.connections()
    conns["codearts_build_default"]["extra"]["console_url"] = CB_CONSOLE
    set_connections(monkeypatch, conns)
    return cb


def bk_sensor(job_instance_id: int = 1001, **kwargs) -> BlueKingJobSensor:
    kwargs.setdefault("deferrable", False)
    return BlueKingJobSensor(task_id="wait", job_instance_id=job_instance_id, bk_biz_id=2, poke_interval=0.02, **kwargs)


def test_sensors_have_the_console_link():
    assert any(isinstance(link, JobConsoleLink) for link in bk_sensor().operator_extra_links)
    sensor = CodeArtsBuildSensor(task_id="wait", job_id=WEB_JOB, build_no=7)
    assert [link.name for link in sensor.operator_extra_links] == ["Job console"]


def test_poke_mode_pushes_the_link_and_returns_the_final_status(bk_console):
    ctx = context(ti=FakeTI("wait"))
    result = bk_sensor().execute(ctx)
    assert ctx["ti"].xcom[CONSOLE_URL_KEY] == f"{BK_CONSOLE}/api_execute/1001"
    assert result == {"raw": 3, "state": "success", "meaning": "success"}


def test_without_a_console_url_extra_no_link_is_pushed(bk):
    ctx = context(ti=FakeTI("wait"))
    assert bk_sensor().execute(ctx)["raw"] == 3
    assert CONSOLE_URL_KEY not in ctx["ti"].xcom


def test_deferred_sensor_pushes_the_link_before_deferring_and_returns_the_status_after(cb_console):
    ctx = context(ti=FakeTI("wait"))
    sensor = CodeArtsBuildSensor(task_id="wait", job_id=WEB_JOB, build_no=7, deferrable=True, poke_interval=0.05)
    with pytest.raises(TaskDeferred) as info:
        sensor.execute(ctx)
    assert ctx["ti"].xcom[CONSOLE_URL_KEY] == f"{CB_CONSOLE}/detail/history/{WEB_JOB}/7"  # there while deferred
    events = trigger_events(info.value.trigger)
    resumed = CodeArtsBuildSensor(task_id="wait", job_id=WEB_JOB, build_no=7, deferrable=True)
    assert resumed.execute_complete(ctx, events[-1]) == {"raw": "SUCCESS", "state": "success", "meaning": "success"}


def test_deferrable_sensor_whose_first_check_succeeds_returns_the_status(bk_console):
    from airflow_joblogs.hooks.blueking import BlueKingJobHook

    bk_sensor(deferrable=False).execute(context())  # job 1001 has ended
    assert BlueKingJobHook().get_job_status(1001, bk_biz_id=2).raw_status == 3
    result = bk_sensor(deferrable=True).execute(context(ti=FakeTI("wait")))
    assert result == {"raw": 3, "state": "success", "meaning": "success"}


def test_a_success_state_set_by_the_user_is_returned_with_the_services_meaning(bk_console):
    result = bk_sensor(1003, success_states=[7]).execute(context(ti=FakeTI("wait")))
    assert result == {"raw": 7, "state": "waiting_user", "meaning": "waiting for user"}
