"""A CodeArts connection whose Authentication is left empty (as the connection form saves it) works.

The form offers aksk / token / password and lets the field stay empty; the hook then picks the kind from the
fields that are set. Each case makes a real request to the emulator.
"""

from __future__ import annotations

import json

import pytest
from helpers import issue_iam_token

from airflow_joblogs.emulators.codearts import DOMAIN_NAME, WEB_JOB
from airflow_joblogs.exceptions import InvalidParameterError
from airflow_joblogs.hooks.codearts import CodeArtsBuildHook

#: how an empty Authentication reaches the hook: the form's null, an empty string, or no key at all
EMPTY = {"null": {"auth_type": None}, "empty string": {"auth_type": ""}, "absent": {}}


def use_connection(monkeypatch: pytest.MonkeyPatch, conn: dict) -> CodeArtsBuildHook:
    monkeypatch.setenv("AIRFLOW_CONN_CB_AUTO", json.dumps(conn))
    return CodeArtsBuildHook("cb_auto")


def connection_with_empty_auth_type(conn: dict, empty: dict, **extra) -> dict:
    rest = {k: v for k, v in conn["extra"].items() if k != "auth_type"}
    return {**conn, "extra": {**rest, **empty, **extra}}


@pytest.mark.parametrize("empty", EMPTY.values(), ids=EMPTY.keys())
def test_empty_authentication_signs_with_the_access_key(cb, monkeypatch, empty):
    conn = connection_with_empty_auth_type(cb.connections()["codearts_build_default"], empty)
    assert use_connection(monkeypatch, conn).get_build_info(WEB_JOB, 7)["region"] == "cn-north-4"
    assert cb.emulator.tokens_issued == 0, "signed with AK/SK, no IAM token asked for"


@pytest.mark.parametrize("empty", EMPTY.values(), ids=EMPTY.keys())
def test_empty_authentication_with_an_account_name_logs_in_as_the_iam_user(cb, monkeypatch, empty):
    conn = connection_with_empty_auth_type(cb.connections()["codearts_build_iam"], empty)
    assert conn["extra"]["domain_name"] == DOMAIN_NAME
    assert use_connection(monkeypatch, conn).get_build_info(WEB_JOB, 7)["region"] == "cn-north-4"
    assert cb.emulator.tokens_issued == 1, "one IAM token obtained with the user's password"


@pytest.mark.parametrize("empty", EMPTY.values(), ids=EMPTY.keys())
def test_empty_authentication_with_an_iam_token_sends_the_token(cb, monkeypatch, empty):
    token = issue_iam_token(cb.url)
    # the AK/SK are wrong: only the token can make the request pass
    conn = dict(cb.connections()["codearts_build_default"], login="NOTTHEACCESSKEY", password="not-the-secret")
    hook = use_connection(monkeypatch, connection_with_empty_auth_type(conn, empty, iam_token=token))
    assert hook.get_build_info(WEB_JOB, 7)["region"] == "cn-north-4"
    assert cb.emulator.tokens_issued == 1, "the hook asked for no token of its own"


@pytest.mark.parametrize("value", ["auto", "null", "AKSK"])
def test_an_authentication_the_form_does_not_offer_is_refused_before_any_request(cb, monkeypatch, value):
    conn = cb.connections()["codearts_build_default"]
    hook = use_connection(monkeypatch, {**conn, "extra": {**conn["extra"], "auth_type": value}})
    served = cb.app.faults.served
    with pytest.raises(InvalidParameterError, match="auth_type"):
        hook.get_build_info(WEB_JOB, 7)
    assert cb.app.faults.served == served
