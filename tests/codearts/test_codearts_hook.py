"""CodeArtsBuildHook against the emulator over real loopback HTTP: raw pages, status, the pager, auth, errors."""

from __future__ import annotations

import asyncio
import itertools
import json
import time

import httpx
import pytest
from helpers import issue_iam_token

from airflow_joblogs.emulators.codearts import (
    ABORTED_JOB,
    ACCESS_KEY,
    FAILING_JOB,
    LARGE_JOB,
    PASSWORD,
    PROJECT_ID,
    SECRET_KEY,
    SECURITY_TOKEN,
    TEMP_ACCESS_KEY,
    TEMP_SECRET_KEY,
    WEB_JOB,
)
from airflow_joblogs.exceptions import (
    AuthenticationError,
    JobLogsError,
    NotFoundError,
    RemoteValidationError,
    TransientError,
)
from airflow_joblogs.hooks.codearts import (
    CodeArtsBuildHook,
    CodeArtsSettings,
    build_ref,
    endpoint_for,
    iam_endpoint_for,
)
from airflow_joblogs.http import RetryPolicy, ServiceClient
from airflow_joblogs.models import JobState

SEED_RESULT_FIELDS = {"start_offset", "end_offset", "log", "has_more", "location"}
FAST = RetryPolicy(max_attempts=6, initial_backoff=0.01, max_backoff=0.05)


def hook(conn_id: str = "codearts_build_default", **kwargs) -> CodeArtsBuildHook:
    kwargs.setdefault("retry_policy", FAST)
    kwargs.setdefault("empty_log_backoff", 0.01)
    return CodeArtsBuildHook(conn_id, **kwargs)


def full_log(cb, job_id: str, build_no: int, step_id: int | None = None) -> bytes:
    build = cb.emulator.builds[(job_id, build_no)]
    if step_id is None:
        return build.full_log
    return build.step_logs[[s.step_id for s in build.steps].index(step_id)]


def wait_finished(h: CodeArtsBuildHook, job_id: str, build_no: int, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = h.get_build_status(job_id, build_no)
        if status.state.is_terminal:
            return status
        time.sleep(0.02)
    raise AssertionError(f"build {job_id} #{build_no} did not finish")


def use_connection(monkeypatch, conn_id: str, conn: dict) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


# -- raw API, one-to-one with the seeds ---------------------------------------------------------------------
def test_real_time_log_returns_the_seed_result_fields_and_accepts_string_offsets(cb):
    h = hook()
    wait_finished(h, WEB_JOB, 7)
    page = h.get_real_time_log(WEB_JOB, "7", start_offset="0", end_offset="0", sort="AES", size="1000")
    assert set(page) == SEED_RESULT_FIELDS
    assert page["start_offset"] == 0 and page["has_more"] is False and page["location"] == "jenkins"
    assert page["log"].encode() == full_log(cb, WEB_JOB, 7)
    assert page["end_offset"] == len(full_log(cb, WEB_JOB, 7))
    second = h.get_real_time_log(WEB_JOB, 7, start_offset=page["end_offset"])
    assert second["log"] == "" and second["has_more"] is False


def test_step_log_and_the_finished_build_page_endpoints(cb):
    h = hook()
    wait_finished(h, WEB_JOB, 7)
    step = h.get_step_log(WEB_JOB, 7, step_id=2, start_offset=0, end_offset=0, sort="AES", size=1000)
    assert set(step) == SEED_RESULT_FIELDS
    assert step["log"].encode() == full_log(cb, WEB_JOB, 7, 2)
    assert "[Build with npm:npm_build] : This action starts." in step["log"]
    assert h.get_step_log_page(WEB_JOB, 7, "2")["log"] == step["log"]
    assert h.get_build_log_page(WEB_JOB, 7)["log"].encode() == full_log(cb, WEB_JOB, 7)
    # a bounded window and the descending order
    window = h.get_step_log(WEB_JOB, 7, 2, start_offset=0, end_offset=100, size=1000)
    assert window["end_offset"] <= 100 and window["has_more"] is True
    last = h.get_step_log(WEB_JOB, 7, 2, sort="DESC", size=2)
    assert last["log"].splitlines()[-1].endswith("This action ends.") and len(last["log"].splitlines()) == 2


def test_status_endpoints_raw(cb):
    h = hook()
    wait_finished(h, FAILING_JOB, 12)
    assert h.get_build_info(FAILING_JOB, 12) == {"building": False, "build_result": "FAILURE", "region": "cn-north-4"}
    record = h.get_build_info_record(FAILING_JOB, 12)
    assert record["job_running_status"] == "Finished" and record["state"] == "FAILURE"
    info = h.get_record_info(FAILING_JOB, 12)
    assert info["status"] == "FAILED" and "Run unit tests" in info["err_msg"]
    stages = h.get_record_stages(info["build_record_id"])["build_stages"]
    assert {s["display_name"]: s["status"] for s in stages.values()} == {
        "Code checkout": "SUCCESS",
        "Build with Maven": "SUCCESS",
        "Run unit tests": "FAILED",
        "Upload to release repo": "SKIPPED",
    }


# -- normalized layer ------------------------------------------------------------------------------------------
def test_build_moves_from_running_to_success(cb):
    h = hook()
    first = h.get_build_status(WEB_JOB, 7)
    assert first.raw_status == "RUNNING" and first.state is JobState.RUNNING and first.detail["building"] is True
    status = wait_finished(h, WEB_JOB, 7)
    assert status.raw_status == "SUCCESS" and status.state is JobState.SUCCESS
    assert status.detail["build_record_id"] and status.detail["record_status"] == "SUCCESS"
    assert status.job_id == WEB_JOB and status.name == "build #7"


@pytest.mark.parametrize(("job_id", "build_no", "raw"), [(FAILING_JOB, 12, "FAILURE"), (ABORTED_JOB, 5, "ABORTED")])
def test_failed_and_aborted_builds(cb, job_id, build_no, raw):
    status = wait_finished(hook(), job_id, build_no)
    assert status.raw_status == raw and status.state is JobState.FAILED and status.message


def test_pager_equals_the_source_byte_for_byte_across_many_pages(cb):
    cb.emulator.set_knobs(max_page_bytes=64 * 1024 + 7)  # pages are cut mid-line
    h = hook()
    chunks = list(h.iter_build_log(LARGE_JOB, 3))
    source = full_log(cb, LARGE_JOB, 3)
    assert len(chunks) > 10
    assert "".join(c.text for c in chunks).encode() == source
    assert all(c.text.endswith("\n") for c in chunks if c.text), "text chunks end at line boundaries"
    assert chunks[-1].cursor == {"start_offset": 0, "end_offset": len(source)}


def test_raw_pages_are_contiguous_and_complete(cb):
    cb.emulator.set_knobs(max_page_bytes=50_000)
    pages = [c.record for c in hook().iter_build_log(LARGE_JOB, 3, whole_lines=False)]
    assert pages[0]["start_offset"] == 0
    assert all(a["end_offset"] == b["start_offset"] for a, b in itertools.pairwise(pages))
    assert "".join(p["log"] for p in pages).encode() == full_log(cb, LARGE_JOB, 3)
    assert set(pages[0]) == SEED_RESULT_FIELDS | {"job_id", "build_no"}


def test_offsets_typed_as_strings_are_followed_too(cb):
    cb.emulator.set_knobs(string_offsets=True, max_page_bytes=100_000)
    h = hook()
    assert h.get_real_time_log(LARGE_JOB, 3)["end_offset"] == "100000"
    chunks = list(h.iter_build_log(LARGE_JOB, 3))
    assert "".join(c.text for c in chunks).encode() == full_log(cb, LARGE_JOB, 3)
    assert chunks[-1].cursor["end_offset"] == len(full_log(cb, LARGE_JOB, 3))


def test_whole_build_log_is_its_steps_in_order(cb):
    h = hook()
    wait_finished(h, WEB_JOB, 7)
    whole = "".join(c.text for c in h.iter_build_log(WEB_JOB, 7))
    steps = ["".join(c.text for c in h.iter_build_log(WEB_JOB, 7, step_id=n)) for n in (1, 2, 3, 4)]
    assert whole == "".join(steps)


def test_without_follow_a_running_build_gives_what_exists_so_far(cb):
    cb.emulator.clock.speed = 1.0
    try:
        h = hook()
        h.get_build_status(WEB_JOB, 7)  # starts the build's clock
        time.sleep(0.8)
        text = "".join(c.text for c in h.iter_build_log(WEB_JOB, 7)).encode()
        source = full_log(cb, WEB_JOB, 7)
        assert 0 < len(text) < len(source) and source.startswith(text)
    finally:
        cb.emulator.clock.speed = 20.0


def test_follow_tails_a_running_build_until_it_ends_then_drains(cb):
    h = hook()
    served = cb.app.faults.served
    chunks = list(h.iter_build_log(WEB_JOB, 7, follow=True, follow_interval=0.02))
    assert "".join(c.text for c in chunks).encode() == full_log(cb, WEB_JOB, 7)
    assert len([c for c in chunks if c.text]) > 1, "the log arrived in several pieces while the build ran"
    assert cb.app.faults.served - served > 3


def test_follow_one_step_of_a_running_build(cb):
    chunks = list(hook().iter_build_log(FAILING_JOB, 12, step_id=3, follow=True, follow_interval=0.02))
    assert "".join(c.text for c in chunks).encode() == full_log(cb, FAILING_JOB, 12, 3)


def test_follow_gives_up_after_follow_timeout(cb):
    cb.emulator.clock.speed = 0.01  # the build will not end in time
    try:
        with pytest.raises(JobLogsError, match="still running after follow_timeout"):
            list(hook().iter_build_log(WEB_JOB, 7, follow=True, follow_interval=0.05, follow_timeout=0.3))
    finally:
        cb.emulator.clock.speed = 20.0


def test_empty_log_is_asked_again_with_backoff(cb):
    h = hook()
    wait_finished(h, WEB_JOB, 7)
    cb.emulator.set_knobs(log_script=["empty_log", "empty_log", "empty_log"])
    started = time.monotonic()
    text = "".join(c.text for c in h.iter_build_log(WEB_JOB, 7))
    assert text.encode() == full_log(cb, WEB_JOB, 7)
    assert cb.emulator.log_faults_served == {"empty_log": 3}
    assert time.monotonic() - started >= (0.01 + 0.02 + 0.04) / 2  # a jittered, doubling wait before each retry


def test_empty_log_forever_is_bounded(cb):
    h = hook(empty_log_retries=3)
    wait_finished(h, WEB_JOB, 7)
    cb.emulator.set_knobs(log_script=["empty_log"] * 10)
    served = cb.app.faults.served
    with pytest.raises(TransientError, match="stayed empty after 4 requests"):
        list(h.iter_build_log(WEB_JOB, 7))
    assert cb.app.faults.served - served == 4


def test_too_frequent_as_400_and_500_and_busy_are_retried(cb):
    h = hook()
    wait_finished(h, WEB_JOB, 7)
    cb.emulator.set_knobs(log_script=["too_frequent", "too_frequent", "busy"])
    served = cb.app.faults.served
    assert "".join(c.text for c in h.iter_build_log(WEB_JOB, 7)).encode() == full_log(cb, WEB_JOB, 7)
    assert cb.emulator.log_faults_served == {"too_frequent": 2, "busy": 1}
    assert cb.app.faults.served - served == 4


def test_too_frequent_is_given_up_after_the_attempt_budget(cb):
    h = hook(retry_policy=RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02))
    wait_finished(h, WEB_JOB, 7)
    cb.emulator.set_knobs(log_script=["too_frequent"] * 5)
    with pytest.raises(TransientError) as info:
        h.get_real_time_log(WEB_JOB, 7)
    assert info.value.code == "CB.00060211" and "too frequent" in str(info.value)


def test_a_200_answer_with_status_fail_is_an_error(cb):
    with pytest.raises(RemoteValidationError) as info:
        hook().get_step_log(WEB_JOB, 7, step_id=99)
    assert info.value.code == "CB.00060200" and info.value.status_code == 200
    assert "does not exist" in str(info.value) and info.value.request_id


def test_unknown_build_task_is_not_found(cb):
    with pytest.raises(NotFoundError) as info:
        hook().get_build_status("0" * 32, 1)
    assert info.value.code == "CB.00060201" and info.value.status_code == 400


def test_async_twins_match_sync(cb):
    h = hook()
    wait_finished(h, WEB_JOB, 7)
    sync_text = "".join(c.text for c in h.iter_build_log(WEB_JOB, 7, step_id=2))

    async def collect():
        ahook = hook()
        try:
            status = await ahook.aget_build_status(WEB_JOB, 7)
            text = "".join([c.text async for c in ahook.aiter_build_log(WEB_JOB, 7, step_id=2)])
            return status, text
        finally:
            await ahook.aclose()

    status, async_text = asyncio.run(collect())
    assert status.raw_status == "SUCCESS" and async_text == sync_text


def test_failed_steps_name_the_action_and_its_last_lines(cb):
    h = hook()
    wait_finished(h, FAILING_JOB, 12)
    units = h.failed_steps(FAILING_JOB, 12, tail_lines=2)
    assert [u.name for u in units] == ["step 'Run unit tests' (id 3)"]
    assert units[0].reason == "status FAILED"
    tail = units[0].log_tail.splitlines()
    assert len(tail) == 2 and tail[-1].endswith("[Run unit tests:unit_test] : This action failed.")
    assert "expected 409 but was 200" in tail[0]


def test_the_pager_stops_when_the_service_does_not_advance_the_offset():
    # a service bug the emulator does not have: text, has_more, and the same end_offset forever
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params["start_offset"])
        page = {"start_offset": start, "end_offset": start, "log": "again\n", "has_more": True, "location": "x"}
        return httpx.Response(200, json={"result": page, "error": None, "status": "success"})

    h = hook()
    h._api = ServiceClient(service="CodeArts Build", base_url="https://h", transport=httpx.MockTransport(handler))
    h._settings = CodeArtsSettings("codearts_build_default", "https://h")
    with pytest.raises(JobLogsError, match="did not advance"):
        list(h.iter_build_log(WEB_JOB, 7))


# -- authentication ---------------------------------------------------------------------------------------------
def test_wrong_secret_key_gets_the_gateway_error_once_and_no_retry(cb, monkeypatch):
    conn = dict(cb.connections()["codearts_build_default"], password="wrong-secret-key-0000")
    use_connection(monkeypatch, "codearts_build_default", conn)
    served = cb.app.faults.served
    with pytest.raises(AuthenticationError) as info:
        hook().get_build_status(WEB_JOB, 7)
    text = str(info.value)
    assert "Incorrect IAM authentication information: verify aksk signature fail" in text
    assert info.value.code == "APIGW.0301" and info.value.status_code == 401
    assert "wrong-secret-key-0000" not in text
    assert cb.app.faults.served - served == 1
    ok, message = hook().test_connection()
    assert not ok and "APIGW.0301" in message


def test_test_connection_succeeds_for_both_emulator_connections(cb):
    for conn_id in ("codearts_build_default", "codearts_build_iam"):
        ok, message = hook(conn_id).test_connection()
        assert ok, message


def test_temporary_keys_need_their_security_token(cb, monkeypatch):
    base = dict(cb.connections()["codearts_build_default"], login=TEMP_ACCESS_KEY, password=TEMP_SECRET_KEY)
    use_connection(monkeypatch, "cb_temp", {**base, "extra": {**base["extra"], "security_token": SECURITY_TOKEN}})
    assert hook("cb_temp").get_build_info(WEB_JOB, 7)["region"] == "cn-north-4"
    use_connection(monkeypatch, "cb_temp_no_token", base)
    with pytest.raises(AuthenticationError, match="security token"):
        hook("cb_temp_no_token").get_build_info(WEB_JOB, 7)


def test_iam_token_is_obtained_once_and_reused(cb):
    h = hook("codearts_build_iam")
    served = cb.app.faults.served
    for _ in range(3):
        h.get_build_info(WEB_JOB, 7)
    assert cb.emulator.tokens_issued == 1
    assert cb.app.faults.served - served == 4  # one token request, three calls


def test_iam_token_is_renewed_before_it_expires(cb):
    cb.emulator.set_knobs(token_ttl=0.5)
    h = hook("codearts_build_iam")
    h.get_build_info(WEB_JOB, 7)
    time.sleep(0.5)
    served = cb.app.faults.served
    h.get_build_info(WEB_JOB, 7)
    assert cb.emulator.tokens_issued == 2
    assert cb.app.faults.served - served == 2, "renewed ahead of time: no request was rejected first"


def test_a_revoked_token_is_renewed_once_and_the_request_resent(cb):
    h = hook("codearts_build_iam")
    h.get_build_info(WEB_JOB, 7)
    cb.emulator.revoke_tokens()
    served = cb.app.faults.served
    assert h.get_build_info(WEB_JOB, 7)["region"] == "cn-north-4"
    assert cb.emulator.tokens_issued == 2
    assert cb.app.faults.served - served == 3  # rejected, new token, resent


def test_wrong_iam_password_fails_at_once(cb, monkeypatch):
    conn = dict(cb.connections()["codearts_build_iam"], password="not-the-password")
    use_connection(monkeypatch, "codearts_build_iam", conn)
    served = cb.app.faults.served
    with pytest.raises(AuthenticationError, match="The username or password is wrong") as info:
        hook("codearts_build_iam").get_build_info(WEB_JOB, 7)
    assert "not-the-password" not in str(info.value)
    assert cb.app.faults.served - served == 1


def test_iam_token_request_survives_a_server_error(cb):
    cb.app.faults.update(script=["error"])
    assert hook("codearts_build_iam").get_build_info(WEB_JOB, 7)["region"] == "cn-north-4"
    assert cb.emulator.tokens_issued == 1


def test_a_token_connection_uses_the_token_and_reports_a_revoked_one(cb, monkeypatch):
    token = issue_iam_token(cb.url)
    use_connection(
        monkeypatch,
        "cb_token",
        {
            "conn_type": "codearts_build",
            "host": cb.url,
            "extra": {"iam_token": token, "allow_http": True, "region": "cn-north-4"},
        },
    )
    assert hook("cb_token").get_build_info(WEB_JOB, 7)["region"] == "cn-north-4"
    cb.emulator.revoke_tokens()
    with pytest.raises(AuthenticationError, match=r"APIGW\.0301"):
        hook("cb_token").get_build_info(WEB_JOB, 7)


def test_secrets_are_masked_and_absent_from_repr(cb):
    from airflow.providers.common.compat.sdk import redact

    h = hook("codearts_build_iam")
    _ = h.api
    assert PASSWORD not in str(redact(f"password={PASSWORD}"))
    assert PASSWORD not in repr(h.api.auth) and PASSWORD not in repr(h.api) and PASSWORD not in repr(h)
    d = hook()
    _ = d.api
    assert SECRET_KEY not in str(redact(f"sk={SECRET_KEY}"))
    assert SECRET_KEY not in repr(d.api.auth) and ACCESS_KEY in repr(d.api.auth)


# -- connection reading ---------------------------------------------------------------------------------------------
def test_endpoints_derive_from_the_region():
    assert endpoint_for("cn-north-4") == "https://cloudbuild-ext.cn-north-4.myhuaweicloud.com"
    assert endpoint_for("eu-west-101") == "https://build-backend.eu-west-101.myhuaweicloud.eu"
    assert iam_endpoint_for("ap-southeast-3") == "https://iam.ap-southeast-3.myhuaweicloud.com"


def test_region_alone_gives_the_public_endpoint_and_host_overrides_it(monkeypatch):
    base = {"conn_type": "codearts_build", "login": "AK", "password": "SK-VALUE", "extra": {"project_id": PROJECT_ID}}
    use_connection(monkeypatch, "cb_region", {**base, "extra": {**base["extra"], "region": "ap-southeast-3"}})
    assert CodeArtsBuildHook("cb_region").api.base_url == "https://cloudbuild-ext.ap-southeast-3.myhuaweicloud.com"
    use_connection(
        monkeypatch,
        "cb_host",
        {**base, "host": "build.example.internal/", "extra": {**base["extra"], "region": "my-private-1"}},
    )
    assert CodeArtsBuildHook("cb_host").api.base_url == "https://build.example.internal"


def test_build_ref_normalizes():
    assert build_ref(WEB_JOB, "7", "3") == {"job_id": WEB_JOB, "build_no": 7, "step_id": 3}
    assert build_ref(WEB_JOB, 7) == {"job_id": WEB_JOB, "build_no": 7}


def test_the_token_obtained_from_iam_is_masked(cb):
    from airflow.providers.common.compat.sdk import redact

    hook("codearts_build_iam").get_build_info(WEB_JOB, 7)
    (token,) = cb.emulator._tokens
    assert token not in str(redact(f"X-Auth-Token: {token}"))


def test_async_follow_matches_the_source(cb):
    async def collect():
        ahook = hook()
        try:
            return "".join([c.text async for c in ahook.aiter_build_log(WEB_JOB, 7, follow=True, follow_interval=0.02)])
        finally:
            await ahook.aclose()

    assert asyncio.run(collect()).encode() == full_log(cb, WEB_JOB, 7)


# -- gateway answers ------------------------------------------------------------------------------------------
def test_test_connection_fails_when_the_host_does_not_serve_the_api(cb, monkeypatch):
    # a host with a wrong path prefix: the gateway's "no such API" (APIGW.0101) is not "credentials accepted"
    conn = dict(cb.connections()["codearts_build_default"], host=cb.url + "/codearts")
    use_connection(monkeypatch, "cb_wrong_prefix", conn)
    ok, message = hook("cb_wrong_prefix").test_connection()
    assert not ok
    assert "does not serve the CodeArts Build API" in message and "APIGW.0101" in message


def test_a_throttled_request_reports_the_gateway_code_and_request_id(cb):
    cb.app.faults.update(script=["throttle"] * 3, retry_after=0.01)
    with pytest.raises(TransientError) as info:
        hook(retry_policy=RetryPolicy(max_attempts=2, initial_backoff=0.01, max_backoff=0.02)).get_build_info(
            WEB_JOB, 7
        )
    assert info.value.status_code == 429 and info.value.code == "APIGW.0308"
    assert "throttling threshold" in info.value.message and info.value.request_id
