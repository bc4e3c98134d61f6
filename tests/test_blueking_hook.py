"""BlueKingJobHook against the emulator over real loopback HTTP, in both API styles."""

from __future__ import annotations

import asyncio
import time

import pytest

from airflow_joblogs.emulators.blueking import APP_SECRET, host_log
from airflow_joblogs.exceptions import AuthenticationError, NotFoundError
from airflow_joblogs.hooks.blueking import BlueKingJobHook, job_ref
from airflow_joblogs.models import JobState

STYLES = ["bk_job_default", "bk_job_esb"]
SEED_STEP_FIELDS = {"is_finished", "step_instance_id", "name", "status", "step_results"}
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
    assert set(ip_log) == SEED_IP_LOG_FIELDS
    assert set(body["data"][0]["step_results"][0]) == {"ip_status", "tag", "ip_logs"}


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


@pytest.mark.parametrize("conn_id", STYLES)
def test_wrong_secret_gets_the_real_error_and_no_retry(bk, monkeypatch, conn_id):
    conn = dict(bk.connections()[conn_id], password="wrong-secret")
    import json

    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    served = bk.app.faults.served
    with pytest.raises(AuthenticationError) as info:
        BlueKingJobHook(conn_id).get_job_status(1001, bk_biz_id=2)
    assert "bk_app_secret is incorrect" in str(info.value)
    assert "wrong-secret" not in str(info.value)
    assert bk.app.faults.served - served == 1
    ok, message = BlueKingJobHook(conn_id).test_connection()
    assert not ok and "incorrect" in message


def test_unknown_job_is_not_found(bk):
    with pytest.raises(NotFoundError, match="does not exist"):
        BlueKingJobHook("bk_job_default").get_job_status(424242, bk_biz_id=2)


@pytest.mark.parametrize("conn_id", STYLES)
def test_test_connection_succeeds(bk, conn_id):
    ok, message = BlueKingJobHook(conn_id).test_connection()
    assert ok, message


def test_failed_units_name_hosts_status_meaning_exit_code_and_tail(bk):
    hook = BlueKingJobHook("bk_job_default")
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
    """POSTed parameters count as the real services read them (the JSON body over the query); a body that is not
    JSON gets BlueKing's 1241002 in both API styles."""
    import json

    import httpx

    from airflow_joblogs.emulators.blueking import APP_CODE, STAGE_PREFIX

    credentials = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": "admin"}
    job = bk.emulator.jobs[1001]
    if style == "esb_v2":  # credentials in the body; the status answers POST
        url, headers = bk.url + "/api/c/compapi/v2/job/get_job_instance_status/", {}
        body = {**credentials, "job_instance_id": 1001}
    else:  # credentials in a header; the batch log query is the POST
        url = bk.url + STAGE_PREFIX + "/api/v3/batch_get_job_instance_ip_log"
        headers = {"X-Bkapi-Authorization": json.dumps(credentials)}
        step, host = job.steps[0], job.steps[0].hosts[0]
        ip_list = [{"bk_cloud_id": host.cloud_id, "ip": host.ip}]
        body = {"job_instance_id": 1001, "step_instance_id": step.step_instance_id, "ip_list": ip_list}
    query = {"bk_biz_id": "2", "job_instance_id": "999999"}  # no such job: the body's id must win
    answer = httpx.post(url, params=query, headers=headers, json=body).json()
    assert answer["result"] is True, answer
    headers = {**headers, "Content-Type": "application/json"}
    answer = httpx.post(url, params=query, headers=headers, content=b'{"job_instance_id": 10').json()
    assert answer["result"] is False and answer["code"] == 1241002, answer
