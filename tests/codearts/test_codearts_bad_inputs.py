"""CodeArts Build: bad input fails with a message naming the parameter, before any request is sent."""

from __future__ import annotations

import json

import pytest

from airflow_joblogs.emulators.codearts import WEB_JOB
from airflow_joblogs.exceptions import InvalidParameterError
from airflow_joblogs.hooks.codearts import CodeArtsBuildHook
from airflow_joblogs.operators.codearts import CodeArtsBuildLogOperator
from airflow_joblogs.sensors.codearts import CodeArtsBuildSensor


def hook_call(method, *args, conn_id="codearts_build_default", **kwargs):
    return lambda cb, monkeypatch: getattr(CodeArtsBuildHook(conn_id), method)(*args, **kwargs)


def drain(method, *args, **kwargs):
    return lambda cb, monkeypatch: list(getattr(CodeArtsBuildHook(), method)(*args, **kwargs))


def sensor_execute(**kwargs):
    return lambda cb, monkeypatch: CodeArtsBuildSensor(task_id="t", poke_interval=1, **kwargs).execute({})


def operator_execute(**kwargs):
    return lambda cb, monkeypatch: CodeArtsBuildLogOperator(task_id="t", **kwargs).execute({})


def with_connection(change, conn_id="codearts_build_default"):
    """Read a build status through the emulator's connection modified by ``change``."""

    def run(cb, monkeypatch):
        conn = json.loads(json.dumps(cb.connections()[conn_id]))
        change(conn)
        monkeypatch.setenv("AIRFLOW_CONN_CB_BROKEN", json.dumps(conn))
        return CodeArtsBuildHook("cb_broken").get_build_status(WEB_JOB, 7)

    return run


def drop(*keys):
    def change(conn):
        for key in keys:
            if key in conn:
                conn.pop(key)
            else:
                conn["extra"].pop(key)

    return change


def set_extra(**values):
    return lambda conn: conn["extra"].update(values)


CASES = {
    "job id upper case": (hook_call("get_build_status", WEB_JOB.upper(), 7), "job_id"),
    "job id 31 characters": (hook_call("get_build_status", WEB_JOB[:-1], 7), "job_id"),
    "job id with a dash": (hook_call("get_build_status", WEB_JOB[:-1] + "-", 7), "job_id"),
    "job id not a string": (hook_call("get_build_status", 12345, 7), "job_id"),
    "build_no zero": (hook_call("get_build_status", WEB_JOB, 0), "build_no"),
    "build_no negative text": (hook_call("get_real_time_log", WEB_JOB, "-1"), "build_no"),
    "build_no bool": (hook_call("get_build_info", WEB_JOB, True), "build_no"),
    "build_no float": (hook_call("get_build_info", WEB_JOB, 1.5), "build_no"),
    "sort ASC": (hook_call("get_real_time_log", WEB_JOB, 7, sort="ASC"), "sort"),
    "sort lower case": (hook_call("get_step_log", WEB_JOB, 7, 1, sort="aes"), "sort"),
    "negative start offset": (hook_call("get_real_time_log", WEB_JOB, 7, start_offset=-1), "start_offset"),
    "offset not a number": (hook_call("get_step_log", WEB_JOB, 7, 1, end_offset="1e3"), "end_offset"),
    "size zero": (hook_call("get_real_time_log", WEB_JOB, 7, size=0), "size"),
    "step id text": (hook_call("get_step_log", WEB_JOB, 7, "build"), "step_id"),
    "page endpoint bad step": (hook_call("get_step_log_page", WEB_JOB, 7, -3), "step_id"),
    "page endpoint empty step": (hook_call("get_step_log_page", WEB_JOB, 7, ""), "step_id"),
    "record id with a slash": (hook_call("get_record_stages", "../x"), "record_id"),
    "pager bad start offset": (drain("iter_build_log", WEB_JOB, 7, start_offset="x"), "start_offset"),
    "pager bad follow interval": (
        drain("iter_build_log", WEB_JOB, 7, follow=True, follow_interval=0),
        "follow_interval",
    ),
    "sensor bad job id": (sensor_execute(job_id="nope", build_no=7), "job_id"),
    "sensor bad build_no": (sensor_execute(job_id=WEB_JOB, build_no="0"), "build_no"),
    "operator bad step id": (operator_execute(job_id=WEB_JOB, build_no=7, step_id="one"), "step_id"),
    "operator bad job id": (operator_execute(job_id=" " + WEB_JOB, build_no=7), "job_id"),
    "unknown region": (with_connection(lambda c: (c.pop("host"), c["extra"].update(region="cn-moon-1"))), "region"),
    "no region and no host": (with_connection(lambda c: (c.pop("host"), c["extra"].pop("region"))), "region"),
    "missing access key": (with_connection(drop("login")), "login"),
    "missing secret key": (with_connection(drop("password")), "password"),
    "missing project id": (with_connection(drop("project_id")), "project_id"),
    "malformed project id": (with_connection(set_extra(project_id="my-project")), "project_id"),
    "unknown auth type": (with_connection(set_extra(auth_type="oauth")), "auth_type"),
    "plain http not allowed": (with_connection(set_extra(allow_http=False)), "host"),
    "token type without token": (with_connection(set_extra(auth_type="token")), "iam_token"),
    "iam user without account": (with_connection(drop("domain_name"), "codearts_build_iam"), "domain_name"),
    "iam user without password": (with_connection(drop("password"), "codearts_build_iam"), "password"),
    "iam endpoint over http": (
        with_connection(lambda c: (c.pop("host"), c["extra"].update(allow_http=False)), "codearts_build_iam"),
        "iam_endpoint",
    ),
    "bad max_attempts": (with_connection(set_extra(max_attempts=0)), "max_attempts"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_before_any_request(cb, monkeypatch, case):
    run, parameter = CASES[case]
    served = cb.app.faults.served
    with pytest.raises(InvalidParameterError) as info:
        run(cb, monkeypatch)
    assert info.value.parameter == parameter, str(info.value)
    assert f"Invalid parameter {parameter!r}" in str(info.value)
    assert cb.app.faults.served == served, "a request was sent"


def test_messages_say_what_is_allowed(cb, monkeypatch):
    with pytest.raises(InvalidParameterError) as info:
        CodeArtsBuildHook().get_real_time_log(WEB_JOB, 7, sort="ASC")
    assert "'AES' (ascending, as the API spells it), 'DESC'" in str(info.value)
    with pytest.raises(InvalidParameterError, match="32 lower-case letters and digits"):
        CodeArtsBuildHook().get_build_status("X" * 32, 7)
    conn = dict(cb.connections()["codearts_build_default"])
    conn.pop("host")
    monkeypatch.setenv("AIRFLOW_CONN_CB_MOON", json.dumps({**conn, "extra": {**conn["extra"], "region": "cn-moon-1"}}))
    with pytest.raises(InvalidParameterError, match="cn-north-4, cn-north-1"):
        _ = CodeArtsBuildHook("cb_moon").api
