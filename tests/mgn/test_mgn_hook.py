"""MgnHook against the MGN emulator through an unmodified boto3/aiobotocore client over loopback HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import time

import pytest

pytest.importorskip("airflow.providers.amazon.aws.hooks.base_aws", reason="needs airflow-joblogs[amazon]")

from airflow_joblogs.emulators.mgn import (
    ACCESS_KEY_ID,
    CANCELLED_JOB,
    CLEANUP_ERROR,
    CLEANUP_FAIL_JOB,
    CONVERSION_ERROR,
    CUTOVER_JOB,
    FAILED_JOB,
    LAST_ATTEMPT_JOB,
    MEMBER_ACCOUNT_ID,
    RETRIED_JOB,
    SECRET_ACCESS_KEY,
    SMOKE_TEST_ERROR,
    SNAPSHOT_ERROR,
    TERMINATE_JOB,
    TEST_LAUNCH_JOB,
    TRANSIENT_CONVERSION_ERROR,
    WAVE_JOB,
)
from airflow_joblogs.exceptions import (
    AuthenticationError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    RemoteValidationError,
    TransientError,
)
from airflow_joblogs.hooks.mgn import MgnHook, job_ref, render_item
from airflow_joblogs.models import JobState

SEED_ITEM_FIELDS = {"logDateTime", "event", "eventData"}
SEED_EVENT_DATA_FIELDS = {
    "sourceServerID",
    "conversionServerID",
    "targetInstanceID",
    "rawError",
    "attemptCount",
    "maxAttemptsCount",
}


def wait_completed(hook: MgnHook, job_id: str, timeout: float = 10.0, **kwargs):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = hook.get_job_status(job_id, **kwargs)
        if status.state.is_terminal:
            return status
        time.sleep(0.02)
    raise AssertionError(f"{job_id} did not finish")


def served(mgn) -> int:
    return mgn.app.faults.served


def inject(mgn, script: list[str]):
    """Script the next faults; returns a function giving the faults injected since (the counter is cumulative)."""
    before = dict(mgn.app.faults.injected)
    mgn.app.faults.update(script=script, retry_after=0.05)
    return lambda: {k: v - before.get(k, 0) for k, v in mgn.app.faults.injected.items() if v != before.get(k, 0)}


def test_log_items_are_the_seed_structure_unchanged_across_pages(mgn, mgn_log):
    hook = MgnHook()
    wait_completed(hook, WAVE_JOB)
    before = served(mgn)
    items = list(hook.describe_job_log_items(WAVE_JOB, max_results=7))
    expected = mgn_log(WAVE_JOB)
    assert items == expected and len(items) == 202
    assert mgn.app.faults.served - before == -(-202 // 7)  # one call per page, nothing asked twice
    for item in items:
        assert set(item) <= SEED_ITEM_FIELDS and set(item.get("eventData", {})) <= SEED_EVENT_DATA_FIELDS


def test_job_moves_from_pending_through_started_to_completed(mgn, monkeypatch):
    slower = 10  # each status lasts long enough that no status call can miss one, on a loaded machine too
    monkeypatch.setattr(mgn.emulator.clock, "speed", mgn.emulator.clock.speed / slower)
    hook = MgnHook()
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        status = hook.get_job_status(CUTOVER_JOB)
        if not seen or seen[-1] != status.raw_status:
            seen.append(status.raw_status)
        if status.state.is_terminal:
            break
        time.sleep(0.005)
    assert seen[0] == "PENDING" and "STARTED" in seen and seen[-1] == "COMPLETED", seen
    assert status.state is JobState.SUCCESS and status.name == "LAUNCH START_CUTOVER"
    assert status.detail["launch_status_counts"] == {"LAUNCHED": 3}
    time.sleep(0.2 * slower)  # the post-launch actions finish after the job
    assert hook.describe_job(CUTOVER_JOB) == mgn.emulator.describe(CUTOVER_JOB, 1e9)  # the job, unchanged


def test_terminate_job_succeeds_when_every_server_is_terminated(mgn):
    status = wait_completed(MgnHook(), TERMINATE_JOB)
    assert status.raw_status == "COMPLETED" and status.detail["type"] == "TERMINATE"
    assert status.detail["launch_status_counts"] == {"TERMINATED": 2}


def test_failed_server_names_source_server_and_raw_error(mgn, mgn_log):
    hook = MgnHook()
    status = wait_completed(hook, FAILED_JOB)
    assert status.raw_status == "FAILED" and status.state is JobState.FAILED
    [unit] = status.failures
    assert unit.name == "source server s-5e7a100000000000c"
    assert "launchStatus FAILED (expected LAUNCHED)" in unit.reason
    attempt = " (attempt 3/3)" if "attemptCount" in mgn_log.fields else ""  # older botocore drops it
    assert f"CONVERSION_FAIL{attempt}: Conversion failed: could not mount" in unit.reason
    assert "LAUNCH_FAILED: Launch failed" in unit.reason
    assert len(unit.reason) < 1500, "the status (a trigger event) carries a capped rawError"

    [full] = hook.failed_units(job_ref(FAILED_JOB), status, tail_lines=3)
    assert CONVERSION_ERROR in full.reason, "the failure report keeps rawError whole"
    tail = full.log_tail.split("\n")
    assert tail[0].split("  ")[1:3] == ["CONVERSION_START", "s-5e7a100000000000c"]
    assert tail[0].split("  ")[3].startswith("attempt 3/3" if attempt else "conversion server")
    assert tail[-1].endswith(
        "LAUNCH_FAILED  s-5e7a100000000000c  Launch failed: conversion did not succeed after 3 attempts"
    )


def test_a_failed_attempt_that_mgn_retried_is_not_a_failure(mgn, mgn_log):
    hook = MgnHook()
    status = wait_completed(hook, RETRIED_JOB)
    log = [item["event"] for item in mgn_log(RETRIED_JOB)]
    assert "CONVERSION_FAIL" in log, "the log does report the failed attempt"
    assert status.raw_status == "COMPLETED" and status.state is JobState.SUCCESS and status.failures == ()
    assert status.detail["retried_failures"] == 1
    assert status.message == "job status COMPLETED; servers: 2 LAUNCHED; 1 failed attempt retried"
    assert hook.failed_units(job_ref(RETRIED_JOB), status) == []
    rendered = [render_item(item) for item in hook.describe_job_log_items(RETRIED_JOB)]
    assert any(TRANSIENT_CONVERSION_ERROR in line for line in rendered), "the archive still shows the failed attempt"


def test_a_step_that_fails_its_last_attempt_fails_the_job_though_the_server_launched(mgn, mgn_log):
    hook = MgnHook()
    status = wait_completed(hook, LAST_ATTEMPT_JOB)
    assert status.raw_status == "FAILED" and status.detail["launch_status_counts"] == {"LAUNCHED": 2}
    [unit] = status.failures
    assert unit.name == "source server s-5e7a1000000000033"
    attempt = " (attempt 3/3)" if "attemptCount" in mgn_log.fields else ""
    assert unit.reason == f"SNAPSHOT_FAIL{attempt}: {SNAPSHOT_ERROR}", "the two retried attempts are not listed"
    assert status.detail["retried_failures"] == 2


def test_cleanup_that_fails_every_attempt_fails_the_termination_and_a_retried_one_does_not(mgn, mgn_log):
    hook = MgnHook()
    status = wait_completed(hook, CLEANUP_FAIL_JOB)
    assert status.raw_status == "FAILED" and status.detail["retried_failures"] == 3
    [unit] = status.failures  # s-5e7a100000000003d failed once, then was terminated: not named
    attempt = " (attempt 3/3)" if "attemptCount" in mgn_log.fields else ""
    assert unit.name == "source server s-5e7a100000000003e"
    assert unit.reason == f"launchStatus FAILED (expected TERMINATED); CLEANUP_FAIL{attempt}: {CLEANUP_ERROR}"


def test_cancelled_job_is_a_failure_naming_the_cancellation(mgn):
    status = wait_completed(MgnHook(), CANCELLED_JOB)
    assert status.raw_status == "FAILED"
    assert status.failures[0].name == "job" and "cancelled (JOB_CANCEL at" in status.failures[0].reason
    assert {u.name for u in status.failures[1:]} == {
        "source server s-5e7a100000000001f",
        "source server s-5e7a1000000000020",
    }


def test_post_launch_actions_count_only_when_required(mgn):
    hook = MgnHook()
    assert wait_completed(hook, TEST_LAUNCH_JOB).raw_status == "COMPLETED"
    status = wait_completed(hook, TEST_LAUNCH_JOB, require_post_launch_success=True)
    assert status.raw_status == "FAILED"
    [unit] = status.failures
    assert unit.name == "source server s-5e7a1000000000015 post-launch action 'Smoke test'"
    assert unit.reason == f"post-launch action FAILED: {SMOKE_TEST_ERROR}"


def test_require_post_launch_success_waits_for_the_actions(mgn):
    hook = MgnHook()
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = hook.get_job_status(CUTOVER_JOB, require_post_launch_success=True)
        if not seen or seen[-1] != status.raw_status:
            seen.append(status.raw_status)
        if status.state.is_terminal:
            break
        time.sleep(0.005)
    assert seen[-2:] == ["POST_LAUNCH_IN_PROGRESS", "COMPLETED"], seen
    assert status.state is JobState.SUCCESS


def test_tail_logs_shows_every_item_once_while_the_job_runs(mgn, caplog, mgn_log):
    hook = MgnHook()
    logger = logging.getLogger("mgn-tail-test")
    cursor = None
    with caplog.at_level(logging.INFO, logger="mgn-tail-test"):
        for _ in range(500):
            cursor = hook.tail_logs(job_ref(CUTOVER_JOB), cursor, logger)
            if hook.get_job_status(CUTOVER_JOB).state.is_terminal:
                cursor = hook.tail_logs(job_ref(CUTOVER_JOB), cursor, logger)
                break
            time.sleep(0.003)
    lines = [r.getMessage() for r in caplog.records if r.name == "mgn-tail-test"]
    assert lines == [render_item(item) for item in mgn_log(CUTOVER_JOB)]
    assert cursor == {"items": 17}


def test_async_twins_match_sync(mgn):
    hook = MgnHook()
    wait_completed(hook, FAILED_JOB)
    sync_items = list(hook.describe_job_log_items(FAILED_JOB))

    async def collect():
        ahook = MgnHook()
        try:
            status = await ahook.aget_job_status(FAILED_JOB)
            job = await ahook.adescribe_job(FAILED_JOB)
            items = [i async for i in ahook.adescribe_job_log_items(FAILED_JOB, max_results=4)]
            return status, job, items, ahook._aclient
        finally:
            await ahook.aclose()

    status, job, items, client = asyncio.run(collect())
    assert status == hook.get_job_status(FAILED_JOB)
    assert job == hook.describe_job(FAILED_JOB)
    assert items == sync_items
    assert client is not None and type(client).__module__.startswith("aiobotocore")


def test_cross_account_id_is_sent_and_a_foreign_account_is_denied_at_once(mgn):
    hook = MgnHook()
    assert hook.describe_job(CUTOVER_JOB, account_id=MEMBER_ACCOUNT_ID)["jobID"] == CUTOVER_JOB
    before = served(mgn)
    with pytest.raises(PermissionDeniedError) as info:
        hook.describe_job(CUTOVER_JOB, account_id="999988887777")
    assert served(mgn) - before == 1, "a permanent error is not retried"
    assert info.value.code == "AccessDeniedException" and info.value.status_code == 403
    assert info.value.request_id and "999988887777" in str(info.value)


def test_unknown_job_is_not_found(mgn):
    with pytest.raises(NotFoundError, match="not found"):
        MgnHook().describe_job("mgnjob-0000000000000000z")
    with pytest.raises(NotFoundError) as info:
        list(MgnHook().describe_job_log_items("mgnjob-0000000000000000z"))
    assert info.value.code == "ResourceNotFoundException"


def test_uninitialized_region_is_reported_without_retry(mgn, monkeypatch):
    conn = mgn.connections()["aws_default"]
    conn["extra"]["region_name"] = "eu-west-3"
    monkeypatch.setenv("AIRFLOW_CONN_MGN_PARIS", json.dumps(conn))
    before = served(mgn)
    with pytest.raises(RemoteValidationError) as info:
        MgnHook("mgn_paris").describe_job(CUTOVER_JOB)
    assert info.value.code == "UninitializedAccountException" and "eu-west-3" in str(info.value)
    assert served(mgn) - before == 1


def test_rejected_credentials_are_an_authentication_error_without_the_secret(mgn):
    mgn.emulator.require_access_key = "AKIASOMEOTHERKEY0000"
    hook = MgnHook()
    before = served(mgn)
    with pytest.raises(AuthenticationError) as info:
        hook.describe_job(CUTOVER_JOB)
    assert served(mgn) - before == 1
    assert info.value.code == "UnrecognizedClientException"
    assert SECRET_ACCESS_KEY not in str(info.value) and SECRET_ACCESS_KEY not in repr(hook)
    ok, message = hook.test_connection()
    assert not ok and "security token included in the request is invalid" in message


def test_test_connection_succeeds(mgn):
    ok, message = MgnHook().test_connection()
    assert ok and "us-east-1" in message, message


def test_throttling_and_server_errors_are_retried(mgn):
    hook = MgnHook()
    hook.describe_job(CUTOVER_JOB)
    injected = inject(mgn, ["throttle", "error", "drop"])
    before = served(mgn)
    assert hook.describe_job(CUTOVER_JOB)["jobID"] == CUTOVER_JOB
    assert served(mgn) - before == 4
    assert injected() == {"throttle": 1, "error": 1, "drop": 1}


def test_retries_are_bounded_by_max_attempts(mgn):
    hook = MgnHook(max_attempts=2)
    hook.describe_job(CUTOVER_JOB)
    mgn.app.faults.update(script=["error", "error", "error"])
    before = served(mgn)
    with pytest.raises(TransientError) as info:
        hook.describe_job(CUTOVER_JOB)
    assert served(mgn) - before == 2
    assert info.value.code == "InternalServerException" and info.value.status_code == 500
    assert "gave up after 2 attempts" in str(info.value) and info.value.request_id


def test_connection_config_kwargs_override_the_retry_default(mgn, monkeypatch):
    conn = mgn.connections()["aws_default"]
    conn["extra"]["config_kwargs"] = {"retries": {"mode": "standard", "total_max_attempts": 1}}
    monkeypatch.setenv("AIRFLOW_CONN_MGN_NO_RETRY", json.dumps(conn))
    hook = MgnHook(aws_conn_id="mgn_no_retry")
    hook.describe_job(CUTOVER_JOB)
    mgn.app.faults.update(script=["error"])
    with pytest.raises(TransientError):
        hook.describe_job(CUTOVER_JOB)


@pytest.mark.parametrize("fault", ["empty", "truncate"])
def test_a_cut_off_body_is_asked_again_never_read_as_a_short_page(mgn, fault, mgn_log):
    hook = MgnHook()
    wait_completed(hook, WAVE_JOB)
    injected = inject(mgn, ["ok", fault, "ok", fault, fault])
    items = list(hook.describe_job_log_items(WAVE_JOB, max_results=50))
    assert items == mgn_log(WAVE_JOB)
    assert injected() == {fault: 3}

    exhausted = MgnHook(max_attempts=2)
    mgn.app.faults.update(script=[fault, fault])
    with pytest.raises(TransientError, match="cut off"):
        list(exhausted.describe_job_log_items(WAVE_JOB))


def test_async_client_retries_faults_and_cut_off_bodies(mgn, mgn_log):
    hook = MgnHook()
    wait_completed(hook, WAVE_JOB)
    injected = inject(mgn, ["error", "ok", "truncate", "ok", "drop", "ok", "empty"])

    async def collect():
        ahook = MgnHook()
        try:
            return [i async for i in ahook.adescribe_job_log_items(WAVE_JOB, max_results=25)]
        finally:
            await ahook.aclose()

    assert asyncio.run(collect()) == mgn_log(WAVE_JOB)
    assert injected() == {"error": 1, "truncate": 1, "drop": 1, "empty": 1}


def test_secrets_are_masked_and_absent_from_repr(mgn):
    from airflow.providers.common.compat.sdk import redact

    hook = MgnHook()
    hook.describe_job(CUTOVER_JOB)
    assert SECRET_ACCESS_KEY not in repr(hook) and ACCESS_KEY_ID not in repr(hook)
    assert SECRET_ACCESS_KEY not in str(redact(f"key={SECRET_ACCESS_KEY}"))


def test_no_region_is_a_clear_parameter_error(mgn, monkeypatch):
    conn = mgn.connections()["aws_default"]
    del conn["extra"]["region_name"]
    monkeypatch.setenv("AIRFLOW_CONN_MGN_NOWHERE", json.dumps(conn))
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    before = served(mgn)
    with pytest.raises(InvalidParameterError, match="region_name"):
        MgnHook("mgn_nowhere").describe_job(CUTOVER_JOB)
    assert served(mgn) == before


def test_a_service_validation_error_keeps_reason_and_fields(mgn):
    import botocore.exceptions

    from airflow_joblogs.hooks.mgn import translate_error

    hook = MgnHook()
    with pytest.raises(botocore.exceptions.ClientError) as info:  # botocore does not check the maximum itself
        hook.client.describe_job_log_items(jobID=CUTOVER_JOB, maxResults=5000)
    error = translate_error(info.value, "DescribeJobLogItems")
    assert isinstance(error, RemoteValidationError) and error.code == "ValidationException"
    assert "[fieldValidationFailed] [maxResults: Member must have value between 1 and 1000]" in str(error)
    assert str(error).startswith("[AWS MGN] DescribeJobLogItems: 1 validation error detected")


# -- the success rules on their own (MGN's documented fields, no service needed) ---------------------------------------
def launch_job(*servers: dict, status: str = "COMPLETED", type_: str = "LAUNCH") -> dict:
    return {
        "jobID": CUTOVER_JOB,
        "type": type_,
        "initiatedBy": "START_CUTOVER",
        "status": status,
        "participatingServers": list(servers),
    }


def server(launch_status: str = "LAUNCHED", *actions: tuple[str, bool]) -> dict:
    entry: dict = {"sourceServerID": "s-00000000000000001", "launchStatus": launch_status}
    if actions:
        entry["postLaunchActionsStatus"] = {
            "postLaunchActionsLaunchStatusList": [
                {"ssmDocument": {"actionName": f"a{n}", "mustSucceedForCutover": must}, "executionStatus": state}
                for n, (state, must) in enumerate(actions)
            ]
        }
    return entry


def item(event: str, server_id: str | None = "s-00000000000000001", **data) -> dict:
    return {
        "logDateTime": "2026-11-22T10:00:00.000Z",
        "event": event,
        "eventData": {"sourceServerID": server_id, **data},
    }


@pytest.mark.parametrize(
    ("job", "items", "require", "expected"),
    [
        (launch_job(server(), status="STARTED"), None, False, "STARTED"),
        (launch_job(server()), [item("LAUNCH_START")], False, "COMPLETED"),
        (launch_job(server("IN_PROGRESS")), [], False, "FAILED"),  # completed, short of its target
        (launch_job(server("TERMINATED"), type_="TERMINATE"), [], False, "COMPLETED"),
        (launch_job(server("LAUNCHED"), type_="TERMINATE"), [], False, "FAILED"),
        (launch_job(server()), [item("CLEANUP_FAIL", rawError="x")], False, "FAILED"),
        (launch_job(server()), [item("SNAPSHOT_FAIL", attemptCount=1, maxAttemptsCount=3)], False, "FAILED"),
        (launch_job(server()), [item("JOB_CANCEL", None)], False, "FAILED"),
        (launch_job(server("LAUNCHED", ("FAILED", True))), [], False, "COMPLETED"),
        (launch_job(server("LAUNCHED", ("FAILED", True))), [], True, "FAILED"),
        (launch_job(server("LAUNCHED", ("FAILED", False), ("SUCCESS", True))), [], True, "COMPLETED"),
        (launch_job(server("LAUNCHED", ("IN_PROGRESS", True))), [], True, "POST_LAUNCH_IN_PROGRESS"),
        (launch_job(server("LAUNCHED")), [], True, "POST_LAUNCH_IN_PROGRESS"),  # actions not reported yet
        (launch_job(server("FAILED")), [], True, "FAILED"),
        # retries, judged by the order of the log (as with a botocore whose model lacks attemptCount)
        (launch_job(server()), [item("CONVERSION_FAIL"), item("CONVERSION_START"), item("CONVERSION_END")], False,
         "COMPLETED"),
        (launch_job(server()), [item("LAUNCH_FAILED"), item("LAUNCH_START")], False, "COMPLETED"),
        (launch_job(server()), [item("SNAPSHOT_FAIL"), item("CONVERSION_START")], False, "FAILED"),  # another step
        (launch_job(server()), [item("SNAPSHOT_FAIL"), item("SNAPSHOT_START", "s-00000000000000002")], False,
         "FAILED"),  # another server
        (launch_job(server()), [item("CLEANUP_FAIL"), item("CLEANUP_START"), item("CLEANUP_FAIL")], False, "FAILED"),
        # ... and by the attempt counts
        (launch_job(server()), [item("SNAPSHOT_FAIL", attemptCount=3, maxAttemptsCount=3), item("SNAPSHOT_START")],
         False, "FAILED"),  # the last attempt: nothing after it is a retry
        (launch_job(server()), [item("SNAPSHOT_FAIL", attemptCount=2, maxAttemptsCount=3),
                                item("SNAPSHOT_START", attemptCount=3, maxAttemptsCount=3)], False, "COMPLETED"),
        (launch_job(server()), [item("JOB_CANCEL", None), item("JOB_END", None)], False, "FAILED"),
    ],
)  # fmt: skip
def test_success_rules(job, items, require, expected):
    from airflow_joblogs.hooks.mgn import evaluate_job

    assert evaluate_job(job, items, require_post_launch_success=require).raw_status == expected
