"""BlueKingJobHook against the emulator over real loopback HTTP, in both API styles."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from airflow_joblogs.emulators.blueking import APP_SECRET, host_log
from airflow_joblogs.exceptions import AuthenticationError, NotFoundError
from airflow_joblogs.hooks.blueking import BlueKingJobHook, job_ref
from airflow_joblogs.models import JobState

STYLES = ["bk_job_default", "bk_job_esb"]
SEED_STEP_FIELDS = {"is_finished", "step_instance_id", "name", "status", "step_results"}
#: the seed's (ESB v2 docs') ip_log fields: bk-job 3.x sends the retry count as execute_count (EsbGseAgentTaskDTO),
#: the hook's records carry it as retry_count
SEED_IP_LOG_FIELDS = {
    "retry_count",
    "total_time",
    "start_time",
    "end_time",
    "ip",
    "bk_cloud_id",
    "error_code",
    "exit_code",
    "log_content",
}


def wait_terminal(hook: BlueKingJobHook, job_id: int, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = hook.get_job_status(job_id, bk_biz_id=2)
        if status.state.is_terminal or status.state is JobState.WAITING_USER:
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def test_get_job_instance_log_returns_the_seed_structure(bk):
    hook = BlueKingJobHook("bk_job_esb")
    wait_terminal(hook, 1001)
    body = hook.get_job_instance_log(bk_biz_id=2, job_instance_id=1001)
    assert body["result"] is True and body["code"] == 0
    assert [set(step) for step in body["data"]] == [SEED_STEP_FIELDS] * 3
    ip_log = body["data"][0]["step_results"][0]["ip_logs"][0]
    assert set(ip_log) == SEED_IP_LOG_FIELDS - {"retry_count"} | {"execute_count"}
    assert set(body["data"][0]["step_results"][0]) == {"ip_status", "tag", "ip_logs"}
    # the records keep the seed's names
    record = next(iter(hook.iter_host_logs(1001, bk_biz_id=2))).record
    assert set(record) >= SEED_IP_LOG_FIELDS and record["retry_count"] == 0


@pytest.mark.parametrize("conn_id", STYLES)
def test_job_moves_from_pending_to_success(bk, conn_id):
    hook = BlueKingJobHook(conn_id)
    first = hook.get_job_status(1001, bk_biz_id=2)
    assert first.state is JobState.PENDING and first.raw_status == 1
    seen = {first.raw_status}
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = hook.get_job_status(1001, bk_biz_id=2)
        seen.add(status.raw_status)
        if status.state.is_terminal:
            break
        time.sleep(0.02)
    assert status.state is JobState.SUCCESS and status.raw_status == 3
    assert 2 in seen, "the job should have been seen running"
    assert [s["name"] for s in status.detail["steps"]] == ["stop service", "push package", "start and health check"]


@pytest.mark.parametrize("conn_id", STYLES)
def test_host_logs_equal_the_source(bk, conn_id):
    hook = BlueKingJobHook(conn_id)
    wait_terminal(hook, 1002)
    chunks = list(hook.iter_host_logs(1002, bk_biz_id=2))
    job = bk.emulator.jobs[1002]
    expected = [host_log(job, step, host) for step in job.steps[:2] for host in step.hosts]
    # the third step never ran (the second failed): it appears with no host logs
    assert [c.text for c in chunks[:-3]] == expected
    assert chunks[3].record["ip_status"] == 9 and chunks[4].record["ip_status"] == 104
    assert chunks[4].record["exit_code"] == 1 and chunks[5].record["exit_code"] == 2
    assert set(chunks[0].record) >= SEED_IP_LOG_FIELDS | {
        "step_instance_id",
        "name",
        "status",
        "is_finished",
        "ip_status",
        "tag",
    }


@pytest.mark.parametrize("conn_id", STYLES)
def test_waiting_for_user_is_reported(bk, conn_id):
    status = wait_terminal(BlueKingJobHook(conn_id), 1003)
    assert status.state is JobState.WAITING_USER and status.raw_status == 7


def test_thousand_host_job_is_fetched_in_batches_of_at_most_500(bk):
    hook = BlueKingJobHook("bk_job_default")
    wait_terminal(hook, 1004)
    served = bk.app.faults.served
    chunks = list(hook.iter_host_logs(1004, bk_biz_id=2))
    assert len(chunks) == 1000
    assert len({c.record["ip"] for c in chunks}) == 1000
    assert all(c.text.endswith("exit=0\n") for c in chunks)
    calls = bk.app.faults.served - served
    assert 3 <= calls <= 6, calls  # status + a probe batch + batches of <= 500


def test_async_twins_match_sync(bk):
    hook = BlueKingJobHook("bk_job_default")
    wait_terminal(hook, 1001)
    sync_texts = [c.text for c in hook.iter_host_logs(1001, bk_biz_id=2)]

    async def collect():
        ahook = BlueKingJobHook("bk_job_default")
        try:
            status = await ahook.aget_job_status(1001, 2)
            return status, [c.text async for c in ahook.aiter_host_logs(1001, 2)]
        finally:
            await ahook.aclose()

    status, async_texts = asyncio.run(collect())
    assert status.state is JobState.SUCCESS
    assert async_texts == sync_texts


#: what a wrong app secret gets: the gateway's INVALID_ARGS (blueking-apigateway-apisix
#: plugins/bk-auth-verify/app-account-verifier.lua), ESB's 1306000 (legacy-bk-paas esb/bkapp/validators.py)
WRONG_SECRET = {
    "bk_job_default": ("bk_app_code or bk_app_secret is incorrect", 1640001),
    "bk_job_esb": ("APP Secret verification failed", 1306000),
}


@pytest.mark.parametrize("conn_id", STYLES)
def test_wrong_secret_gets_the_real_error_and_no_retry(bk, monkeypatch, conn_id):
    conn = dict(bk.connections()[conn_id], password="wrong-secret")
    import json

    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    served = bk.app.faults.served
    with pytest.raises(AuthenticationError) as info:
        BlueKingJobHook(conn_id).get_job_status(1001, bk_biz_id=2)
    text, code = WRONG_SECRET[conn_id]
    assert text in str(info.value) and info.value.code == code
    assert "wrong-secret" not in str(info.value)
    assert bk.app.faults.served - served == 1
    ok, message = BlueKingJobHook(conn_id).test_connection()
    assert not ok and text in message


def test_unknown_job_is_not_found(bk):
    with pytest.raises(NotFoundError, match="does not exist"):
        BlueKingJobHook("bk_job_default").get_job_status(424242, bk_biz_id=2)


@pytest.mark.parametrize("conn_id", STYLES)
def test_test_connection_succeeds(bk, conn_id):
    ok, message = BlueKingJobHook(conn_id).test_connection()
    assert ok, message


@pytest.mark.parametrize("conn_id", STYLES)
def test_failed_units_name_hosts_status_meaning_exit_code_and_tail(bk, conn_id):
    """ESB v2's step_ip_status has no exit code (EsbIpStatusDTO: ip, bk_cloud_id, status): it comes from the log."""
    hook = BlueKingJobHook(conn_id)
    status = wait_terminal(hook, 1002)
    units = hook.failed_units(job_ref(1002, 2), status, tail_lines=2)
    assert [u.name for u in units] == [
        "step 'migrate and restart' (id 10022) host 0:10.0.0.12",
        "step 'migrate and restart' (id 10022) host 0:10.0.0.13",
    ]
    assert units[0].reason == "ip_status 104 (script exit code non-zero), exit code 1"
    assert units[1].log_tail.splitlines()[-1].endswith("job_fail exit=2")
    assert len(units[1].log_tail.splitlines()) == 2


def test_the_secret_is_registered_with_the_masker(bk):
    from airflow.providers.common.compat.sdk import redact

    _ = BlueKingJobHook("bk_job_default").api  # reading the connection registers its secrets
    assert APP_SECRET not in str(redact(f"secret={APP_SECRET}"))


@pytest.mark.parametrize("style", ["esb_v2", "gateway_v3"])
def test_the_emulator_reads_a_post_body_over_the_query_and_refuses_one_that_is_not_json(bk, style):
    """POSTed parameters count as the real services read them (the JSON body; the query is not read); a body that
    is not JSON gets ESB's 1306000 (legacy-bk-paas common/base_utils.py get_request_params) or bk-job's 1240003
    BAD_REQUEST (EsbExceptionControllerAdvice.handleHttpMessageNotReadable)."""
    import json

    import httpx

    from airflow_joblogs.emulators.blueking import APP_CODE, BK_TOKEN, STAGE_PREFIX

    credentials = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_token": BK_TOKEN}
    job = bk.emulator.jobs[1001]
    if style == "esb_v2":  # credentials in the body; the status answers POST
        url, headers = bk.url + "/api/c/compapi/v2/job/get_job_instance_status/", {}
        body = {**credentials, "bk_biz_id": 2, "job_instance_id": 1001}
    else:  # credentials in a header; the batch log query is the POST
        url = bk.url + STAGE_PREFIX + "/api/v3/batch_get_job_instance_ip_log"
        headers = {"X-Bkapi-Authorization": json.dumps(credentials)}
        step, host = job.steps[0], job.steps[0].hosts[0]
        ip_list = [{"bk_cloud_id": host.cloud_id, "ip": host.ip}]
        body = {"bk_biz_id": 2, "job_instance_id": 1001, "step_instance_id": step.step_instance_id, "ip_list": ip_list}
    query = {"bk_biz_id": "2", "job_instance_id": "999999"}  # no such job: the body's id must win
    answer = httpx.post(url, params=query, headers=headers, json=body).json()
    assert answer["result"] is True, answer
    headers = {**headers, "Content-Type": "application/json"}
    answer = httpx.post(url, params=query, headers=headers, content=b'{"job_instance_id": 10').json()
    assert answer["result"] is False and answer["code"] == (1306000 if style == "esb_v2" else 1240003), answer


# -- fidelity to bk-job, the API gateway and ESB (see docs/emulators/blueking.rst, "Fidelity") ------------------
def _with_extra(bk, monkeypatch, conn_id: str, new_id: str, **extra) -> str:
    import json

    conn = json.loads(json.dumps(bk.connections()[conn_id]))
    for key, value in extra.items():
        if value is None:
            conn["extra"].pop(key, None)
        else:
            conn["extra"][key] = value
    monkeypatch.setenv(f"AIRFLOW_CONN_{new_id.upper()}", json.dumps(conn))
    return new_id


def test_get_job_instance_ip_log_asks_by_bk_host_id(bk):
    """The query parameter is bk_host_id (EsbGetJobInstanceIpLogV3Resource); a host_id parameter is not read."""
    import json

    import httpx

    from airflow_joblogs.emulators.blueking import APP_CODE, BK_TOKEN, STAGE_PREFIX

    hook = BlueKingJobHook("bk_job_default")
    wait_terminal(hook, 1001)
    job = bk.emulator.jobs[1001]
    step, host = job.steps[0], job.steps[0].hosts[1]
    for kwargs in ({"bk_host_id": host.host_id}, {"host_id": host.host_id}):
        body = hook.get_job_instance_ip_log(1001, step.step_instance_id, bk_biz_id=2, **kwargs)
        assert body["data"]["bk_host_id"] == host.host_id and body["data"]["log_content"] == host_log(job, step, host)
    params = {"bk_scope_type": "biz", "bk_scope_id": "2", "job_instance_id": 1001}
    params |= {"step_instance_id": step.step_instance_id, "host_id": host.host_id}
    header = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_token": BK_TOKEN}
    answer = httpx.get(
        bk.url + STAGE_PREFIX + "/api/v3/get_job_instance_ip_log",
        params=params,
        headers={"X-Bkapi-Authorization": json.dumps(header)},
    )
    assert answer.json()["code"] == 1241007, "host_id is not a parameter of the API"


@pytest.mark.parametrize("conn_id", STYLES)
def test_permission_denied_names_what_to_apply_for(bk, monkeypatch, conn_id):
    """bk-job answers 9900403 with a permission object (EsbResp.buildAuthFailResult); the error says what to apply for."""
    from airflow_joblogs.emulators.blueking import GUEST_BK_TOKEN
    from airflow_joblogs.exceptions import PermissionDeniedError

    guest = _with_extra(bk, monkeypatch, conn_id, "bk_job_guest", bk_token=GUEST_BK_TOKEN)
    served = bk.app.faults.served
    with pytest.raises(PermissionDeniedError) as info:
        BlueKingJobHook(guest).get_job_status(1001, bk_biz_id=2)
    text = str(info.value)
    assert info.value.code == 9900403 and "User (guest) permission not allowed" in text
    assert "apply in IAM for: View History [view_history] on Business demo (2); system Job" in text
    assert GUEST_BK_TOKEN not in text and APP_SECRET not in text
    assert bk.app.faults.served - served == 1, "a permission error is not retried"


@pytest.mark.parametrize("conn_id", STYLES)
def test_bk_username_alone_is_refused_unless_the_app_is_exempted(bk, monkeypatch, conn_id):
    """A stock gateway (resources.yaml userVerifiedRequired: true) and ESB refuse an unverified bk_username; the
    error leads to bk_token / access_token or the exemption white list. An exempted app is served."""
    from airflow_joblogs.emulators import EmulatorServer
    from airflow_joblogs.emulators.blueking import APP_CODE, BlueKingEmulator

    user_only = _with_extra(bk, monkeypatch, conn_id, "bk_job_user_only", bk_token=None, bk_username="admin")
    with pytest.raises(AuthenticationError) as info:
        BlueKingJobHook(user_only).get_job_status(1001, bk_biz_id=2)
    text = str(info.value)
    expected = "is not verified" if conn_id == "bk_job_default" else "please provide a valid user identity"
    assert expected in text and "bk_token" in text and "access_token" in text and "exempt" in text
    ok, message = BlueKingJobHook(user_only).test_connection()
    assert not ok and expected in message

    exempting = BlueKingEmulator(speed=20.0, verified_user_exempted_apps={APP_CODE})
    with EmulatorServer(exempting.app()) as server:
        import json

        conn = json.loads(json.dumps(server.connections()[conn_id]))
        conn["extra"].pop("bk_token")
        conn["extra"]["bk_username"] = "admin"
        monkeypatch.setenv("AIRFLOW_CONN_BK_JOB_EXEMPT", json.dumps(conn))
        assert BlueKingJobHook("bk_job_exempt").get_job_status(1001, bk_biz_id=2).raw_status in (1, 2, 3)


@pytest.mark.parametrize("conn_id", STYLES)
def test_an_access_token_verifies_the_user_in_both_styles(bk, monkeypatch, conn_id):
    """The gateway reads access_token; ESB reads it as bk_access_token (legacy-bk-paas esb/bkauth/validators.py)."""
    from airflow_joblogs.emulators.blueking import ACCESS_TOKEN

    token_only = _with_extra(bk, monkeypatch, conn_id, "bk_job_token", bk_token=None, access_token=ACCESS_TOKEN)
    assert BlueKingJobHook(token_only).get_job_status(1001, bk_biz_id=2).raw_status in (1, 2, 3)


def test_a_base_url_without_the_stage_fails_the_connection_test(bk, monkeypatch):
    """The gateway answers an unknown path with API_NOT_FOUND (1640401): a wrong URL, not a missing job."""
    import json

    conn = dict(bk.connections()["bk_job_default"], host=bk.url)
    monkeypatch.setenv("AIRFLOW_CONN_BK_JOB_NOSTAGE", json.dumps(conn))
    ok, message = BlueKingJobHook("bk_job_nostage").test_connection()
    assert not ok and "API_NOT_FOUND" in message and "/api/bk-job/prod" in message


def test_a_step_of_another_job_is_not_found(bk):
    """bk-job answers an unknown step of the ip-log APIs with TASK_INSTANCE_NOT_EXIST (1244006)."""
    with pytest.raises(NotFoundError) as info:
        BlueKingJobHook("bk_job_default").get_job_instance_ip_log(1001, 10021, bk_biz_id=2, bk_host_id=100001)
    assert info.value.code == 1244006


def test_batch_reads_host_id_list_and_ignores_ip_list_beside_it(bk):
    """EsbBatchGetJobInstanceIpLogV3ResourceImpl: with host_id_list given, ip_list is ignored; at most 500 hosts,
    counted in the list that is read (1241007 past that)."""
    from airflow_joblogs.exceptions import RemoteValidationError
    from airflow_joblogs.hooks.blueking import decode_envelope
    from airflow_joblogs.http import ApiRequest

    hook = BlueKingJobHook("bk_job_default")
    wait_terminal(hook, 1004)
    step = bk.emulator.jobs[1004].steps[0]
    first, second = step.hosts[0], step.hosts[1]
    body = {**job_ref(1004, 2), "step_instance_id": step.step_instance_id, "host_id_list": [first.host_id]}
    body["ip_list"] = [{"bk_cloud_id": 0, "ip": second.ip}]
    answer = hook.api.call(ApiRequest("POST", "/api/v3/batch_get_job_instance_ip_log", json=body), decode_envelope)
    assert [e["bk_host_id"] for e in answer["data"]["script_task_logs"]] == [first.host_id]
    assert answer["data"]["job_instance_id"] == 1004 and answer["data"]["step_instance_id"] == step.step_instance_id
    body = {**body, "host_id_list": [h.host_id for h in step.hosts[:501]], "ip_list": body["ip_list"]}
    with pytest.raises(RemoteValidationError) as info:
        hook.api.call(ApiRequest("POST", "/api/v3/batch_get_job_instance_ip_log", json=body), decode_envelope)
    assert info.value.code == 1241007 and "host_id_list/ip_list" in str(info.value)


@pytest.mark.parametrize(("conn_id", "style"), [("bk_job_esb", "esb_v2"), ("bk_job_default", "gateway_v3")])
def test_the_connection_is_read_into_a_client_and_settings_that_programs_receive(bk, conn_id, style):
    """The API style travels in the settings read with the client, not on the hook: a program built with a
    connection's settings runs in that style whatever hook drives it, sync or async."""
    wait_terminal(BlueKingJobHook(conn_id), 1001)
    hook = BlueKingJobHook(conn_id)
    api, settings = hook.connect()
    assert settings.api_style == style and settings.conn_id == conn_id and settings.base_url == api.base_url
    assert hook.connect() == (api, settings)  # read once
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.api_style = "gateway_v3"  # type: ignore[misc]
    assert "api_style" not in vars(hook)
    ref = job_ref(1001, bk_biz_id=2)
    assert api.run(hook.status_program(settings, ref)).raw_status == 3

    other = BlueKingJobHook("bk_job_default" if style == "esb_v2" else "bk_job_esb")
    other_api, other_settings = asyncio.run(other.aconnect())
    assert other_settings.api_style != style
    chunks = asyncio.run(_collect(other_api.aiterate(other.log_program(other_settings, ref))))
    assert [c.text for c in chunks] == [c.text for c in api.iterate(hook.log_program(settings, ref))]


async def _collect(chunks):
    return [chunk async for chunk in chunks]
