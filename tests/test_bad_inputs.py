"""Bad input fails with a message naming the parameter, before any request reaches the service."""

from __future__ import annotations

import json

import pytest

from airflow_joblogs.exceptions import InvalidParameterError
from airflow_joblogs.hooks.blueking import BlueKingJobHook
from airflow_joblogs.operators.blueking import BlueKingJobLogOperator
from airflow_joblogs.sensors.blueking import BlueKingJobSensor


def hook_call(method, *args, conn_id="bk_job_default", **kwargs):
    return lambda: getattr(BlueKingJobHook(conn_id), method)(*args, **kwargs)


def with_connection(change, method="get_job_status", *args, **kwargs):
    """Call ``method`` through a connection modified by ``change`` (applied to the emulator's own)."""

    def run(bk, monkeypatch):
        conn = json.loads(json.dumps(bk.connections()["bk_job_default"]))
        change(conn)
        monkeypatch.setenv("AIRFLOW_CONN_BK_JOB_BROKEN", json.dumps(conn))
        return getattr(BlueKingJobHook("bk_job_broken"), method)(*(args or (1001,)), **(kwargs or {"bk_biz_id": 2}))

    return run


def sensor_execute(**kwargs):
    return lambda: BlueKingJobSensor(task_id="t", poke_interval=1, **kwargs).execute({})


def operator_execute(**kwargs):
    return lambda: BlueKingJobLogOperator(task_id="t", **kwargs).execute({})


CASES = {
    "job id zero": (hook_call("get_job_status", 0, bk_biz_id=2), "job_instance_id"),
    "job id text": (hook_call("get_job_status", "12a", bk_biz_id=2), "job_instance_id"),
    "job id bool": (hook_call("get_job_status", True, bk_biz_id=2), "job_instance_id"),
    "no business": (hook_call("get_job_status", 1001), "bk_biz_id"),
    "negative business": (hook_call("get_job_status", 1001, bk_biz_id=-2), "bk_biz_id"),
    "unknown scope type": (hook_call("get_job_status", 1001, bk_scope_type="tenant", bk_scope_id=2), "bk_scope_type"),
    "scope id not numeric": (
        hook_call("get_job_status", 1001, bk_scope_type="biz", bk_scope_id="x/../1"),
        "bk_scope_id",
    ),
    "step id missing": (hook_call("get_job_instance_ip_log", 1001, None, bk_biz_id=2, host_id=1), "step_instance_id"),
    "host neither id nor ip": (hook_call("get_job_instance_ip_log", 1001, 10011, bk_biz_id=2), "bk_host_id"),
    "ip not an address": (hook_call("get_job_instance_ip_log", 1001, 10011, bk_biz_id=2, ip="10.0.0.300"), "ip_list"),
    "batch over 500 hosts": (
        hook_call("batch_get_job_instance_ip_log", 1001, 10011, bk_biz_id=2, host_id_list=list(range(1, 502))),
        "host_id_list",
    ),
    "batch ip without address": (
        hook_call("batch_get_job_instance_ip_log", 1001, 10011, bk_biz_id=2, ip_list=[{"bk_cloud_id": 0}]),
        "ip_list",
    ),
    "esb-only method on the gateway": (hook_call("get_job_instance_log", 2, 1001), "api_style"),
    "gateway-only method on esb": (
        hook_call("batch_get_job_instance_ip_log", 1001, 10011, bk_biz_id=2, host_id_list=[1], conn_id="bk_job_esb"),
        "api_style",
    ),
    "unknown api style": (with_connection(lambda c: c["extra"].update(api_style="v9")), "api_style"),
    "missing app secret": (with_connection(lambda c: c.pop("password")), "password"),
    "missing app code": (with_connection(lambda c: c.pop("login")), "login"),
    "missing user": (with_connection(lambda c: c["extra"].pop("bk_token")), "bk_token"),
    "plain http not allowed": (with_connection(lambda c: c["extra"].pop("allow_http")), "host"),
    "verify not a boolean": (with_connection(lambda c: c["extra"].update(verify="maybe")), "verify"),
    "timeout not a number": (with_connection(lambda c: c["extra"].update(timeout="soon")), "timeout"),
    "max_attempts out of range": (with_connection(lambda c: c["extra"].update(max_attempts=0)), "max_attempts"),
    "sensor templated job id bad": (sensor_execute(job_instance_id="{{ oops }}", bk_biz_id=2), "job_instance_id"),
    "operator relative destination": (
        operator_execute(job_instance_id=1001, bk_biz_id=2, destination="logs/out/"),
        "destination",
    ),
    "operator destination with ..": (
        operator_execute(job_instance_id=1001, bk_biz_id=2, destination="file:///tmp/a/../../etc/"),
        "destination",
    ),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_fails_before_any_request(bk, monkeypatch, case):
    call, parameter = case
    served = bk.app.faults.served
    with pytest.raises(InvalidParameterError) as info:
        if call.__code__.co_argcount == 2:
            call(bk, monkeypatch)
        else:
            call()
    assert info.value.parameter == parameter
    assert repr(parameter) in str(info.value)
    assert bk.app.faults.served == served, "a request was sent"


CONSTRUCTOR_CASES = {
    "unknown success state": (
        lambda: BlueKingJobSensor(task_id="t", job_instance_id=1, bk_biz_id=2, success_states=[3, 99]),
        "success_states",
    ),
    "states overlap": (
        lambda: BlueKingJobSensor(task_id="t", job_instance_id=1, bk_biz_id=2, failure_states=[3, 4]),
        "failure_states",
    ),
    "states as a string": (
        lambda: BlueKingJobSensor(task_id="t", job_instance_id=1, bk_biz_id=2, success_states="3"),
        "success_states",
    ),
    "negative tail lines": (
        lambda: BlueKingJobSensor(task_id="t", job_instance_id=1, bk_biz_id=2, log_tail_lines=-1),
        "log_tail_lines",
    ),
    "unknown log format": (
        lambda: BlueKingJobLogOperator(task_id="t", job_instance_id=1, bk_biz_id=2, log_format="xml"),
        "log_format",
    ),
    "unknown compression": (
        lambda: BlueKingJobLogOperator(task_id="t", job_instance_id=1, bk_biz_id=2, compression="zstd"),
        "compression",
    ),
    "xcom cap zero": (
        lambda: BlueKingJobLogOperator(task_id="t", job_instance_id=1, bk_biz_id=2, max_xcom_bytes=0),
        "max_xcom_bytes",
    ),
}


@pytest.mark.parametrize("case", CONSTRUCTOR_CASES.values(), ids=CONSTRUCTOR_CASES.keys())
def test_bad_options_fail_when_the_dag_is_parsed(case):
    build, parameter = case
    with pytest.raises(InvalidParameterError) as info:
        build()
    assert info.value.parameter == parameter
