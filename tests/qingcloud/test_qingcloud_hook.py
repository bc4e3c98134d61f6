"""QingCloudHook against the emulator over real loopback HTTP: the raw API, paging, status, errors, inputs."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest

from airflow_joblogs.emulators.qingcloud import (
    ACCESS_KEY_ID,
    APP_ID,
    CLUSTER_ID,
    FOREIGN_APP_ID,
    LEGACY_APP_ID,
    SECRET_ACCESS_KEY,
    SEED_JOB,
)
from airflow_joblogs.exceptions import (
    AuthenticationError,
    InvalidParameterError,
    JobFailedError,
    JobLogsError,
    NotFoundError,
    PermissionDeniedError,
    RemoteValidationError,
    TransientError,
)
from airflow_joblogs.hooks.qingcloud import QingCloudHook, decode_response, job_line
from airflow_joblogs.http import Call, RetryPolicy
from airflow_joblogs.models import JobState, LogChunk

FAST = RetryPolicy(max_attempts=6, initial_backoff=0.01, max_backoff=0.05)
LIVE_JOBS = ["j-addnodes01", "j-resize0001"]
#: the seed's request example: app, jobs.1, limit=1, zone pek3a
SEED_RESPONSE = {"action": "DescribeClusterJobsResponse", "total_count": 1, "job_set": [SEED_JOB], "ret_code": 0}


def finish_live_jobs(hook: QingCloudHook | None = None, timeout: float = 10.0) -> None:
    hook = hook or QingCloudHook()
    deadline = time.monotonic() + timeout
    while not hook.get_job_status(["j-addnodes01"], app=APP_ID).state.is_terminal or (
        hook.get_job_status(["j-resize0001"], app=APP_ID).raw_status != "failed"
    ):
        assert time.monotonic() < deadline, "the live jobs never finished"
        time.sleep(0.05)


def all_app_records(hook: QingCloudHook) -> list[dict]:
    return hook.describe_cluster_jobs(app=APP_ID, limit=100)["job_set"]


# -- the raw API ------------------------------------------------------------------------------------------
def test_describe_cluster_jobs_returns_the_seed_response_unchanged(qc):
    body = QingCloudHook().describe_cluster_jobs(app=APP_ID, jobs=["j-etkt94ebqra"], limit=1, zone="pek3a")
    assert body == SEED_RESPONSE
    assert isinstance(body["job_set"][0]["directive"], str), "the raw API leaves directive as the JSON string"


def test_parameters_go_on_the_wire_as_the_api_names_them(qc):
    QingCloudHook().describe_cluster_jobs(
        app=APP_ID, jobs=["j-addnodes01", "j-resize0001"], status=["pending", "working"], offset=0, limit=5
    )
    sent = qc.emulator.received[-1]
    assert {k: v for k, v in sent.items() if k not in ("time_stamp", "req_id")} == {
        "action": "DescribeClusterJobs",
        "app": APP_ID,
        "jobs.1": "j-addnodes01",
        "jobs.2": "j-resize0001",
        "status.1": "pending",
        "status.2": "working",
        "verbose": "0",
        "offset": "0",
        "limit": "5",
        "zone": "pek3a",
        "access_key_id": ACCESS_KEY_ID,
        "signature_method": "HmacSHA256",
        "signature_version": "1",
        "version": "1",
    }
    assert len(sent["req_id"]) == 32


def test_filters_by_status_and_cluster(qc):
    hook = QingCloudHook()
    finish_live_jobs(hook)
    failed = hook.describe_cluster_jobs(app=APP_ID, status="failed", limit=100)
    assert failed["total_count"] == len(failed["job_set"]) > 1
    assert {job["status"] for job in failed["job_set"]} == {"failed"}
    seed_only = hook.describe_cluster_jobs(cluster="cl-xi3aoihf")
    assert seed_only["job_set"] == [SEED_JOB]
    cluster = hook.describe_cluster_jobs(cluster=CLUSTER_ID, limit=100)
    assert cluster["total_count"] == hook.describe_cluster_jobs(app=APP_ID)["total_count"] - 1


def test_describe_jobs_lists_plain_iaas_jobs(qc):
    hook = QingCloudHook()
    page = hook.describe_jobs(limit=2)
    assert page["action"] == "DescribeJobsResponse" and page["total_count"] == 3 and len(page["job_set"]) == 2
    assert hook.describe_jobs(job_action="CreateVolumes")["job_set"][0]["resource_ids"] == "vol-chronus1"


def test_zone_can_be_overridden_per_call(qc):
    with pytest.raises(NotFoundError, match=APP_ID):
        QingCloudHook().describe_cluster_jobs(app=APP_ID, zone="sh1a")
    assert qc.emulator.received[-1]["zone"] == "sh1a"


# -- paging ---------------------------------------------------------------------------------------------------
def test_paging_returns_every_record_once_in_order(qc):
    hook = QingCloudHook()
    finish_live_jobs(hook)
    expected = all_app_records(hook)
    assert len(expected) == 48
    served = qc.app.faults.served
    records = list(hook.iter_cluster_jobs(app=APP_ID, page_size=7))
    assert qc.app.faults.served - served == 7, "48 records in pages of 7"
    assert [r["job_id"] for r in records] == [r["job_id"] for r in expected]
    assert records == [{**r, "directive": json.loads(r["directive"])} for r in expected]


@pytest.mark.parametrize(
    "script",
    [
        ["error", "throttle", "drop", "ok", "empty", "truncate", "ok", "error", "ok", "throttle", "drop"],
        ["throttle", "throttle", "throttle", "ok", "error", "error", "error", "error", "ok", "truncate"],
    ],
    ids=["mixed", "bursts"],
)
def test_paging_under_injected_faults_returns_every_record_exactly_once(qc, script):
    hook = QingCloudHook(retry_policy=FAST)
    finish_live_jobs(hook)
    expected = [r["job_id"] for r in all_app_records(hook)]
    qc.app.faults.update(script=script, retry_after=0.01)
    chunks = list(hook.iter_cluster_job_chunks(app=APP_ID, page_size=5))
    assert not qc.app.faults.script, "every scripted fault was served"
    ids = [c.record["job_id"] for c in chunks]
    assert ids == expected and len(set(ids)) == len(ids)
    assert [c.cursor["offset"] for c in chunks] == list(range(1, 49))


def test_random_fault_rates_still_give_every_record(qc):
    hook = QingCloudHook(retry_policy=FAST)
    finish_live_jobs(hook)
    expected = [r["job_id"] for r in all_app_records(hook)]
    qc.app.faults.update(
        error_rate=0.15, throttle_rate=0.1, drop_rate=0.1, empty_rate=0.05, truncate_rate=0.05, retry_after=0.01, seed=3
    )
    assert [r["job_id"] for r in hook.iter_cluster_jobs(app=APP_ID, page_size=3)] == expected
    assert sum(qc.app.faults.injected.values()) > 3


def _drive(hook: QingCloudHook, pages: list[dict], **kwargs) -> tuple[list[LogChunk], object, int]:
    """Run the paging program against scripted answers (no server): what it yields, returns and asks."""
    program = hook.cluster_jobs_program({"app": APP_ID, "zone": "pek3a"}, **kwargs)
    out: list[LogChunk] = []
    calls = 0
    reply = None
    answers = iter(pages)
    while True:
        try:
            item = program.send(reply)
        except StopIteration as stop:
            return out, stop.value, calls
        if isinstance(item, Call):
            calls += 1
            reply = next(answers)
        else:
            out.append(item)
            reply = None


def _job(n: int) -> dict:
    return {"job_id": f"j-job{n:05d}", "status": "successful", "directive": "{}"}


def test_a_list_that_shifts_while_paging_yields_no_duplicates():
    hook = QingCloudHook()
    # a new job arrived at the top between the two pages: job 3 is served again on page 2
    pages = [
        {"total_count": 5, "job_set": [_job(1), _job(2), _job(3)]},
        {"total_count": 6, "job_set": [_job(3), _job(4), _job(5)]},
        {"total_count": 6, "job_set": []},
    ]
    out, result, calls = _drive(hook, pages, page_size=3)
    assert [c.record["job_id"] for c in out] == [f"j-job{n:05d}" for n in range(1, 6)]
    assert calls == 2 and result == {"offset": 6, "total_count": 6}


def test_paging_stops_on_an_empty_page_even_if_total_count_says_more():
    hook = QingCloudHook()
    pages = [{"total_count": 1000, "job_set": [_job(1)]}, {"total_count": 1000, "job_set": []}]
    out, result, calls = _drive(hook, pages, page_size=100)
    assert len(out) == 1 and calls == 2 and result == {"offset": 1, "total_count": 1000}


def test_max_records_stops_early(qc, monkeypatch):
    monkeypatch.setattr(qc.emulator.clock, "speed", 0.0)  # the jobs hold still between the two reads compared
    hook = QingCloudHook()
    served = qc.app.faults.served
    chunks = list(hook.iter_cluster_job_chunks(app=APP_ID, page_size=2, max_records=3))
    assert len(chunks) == 3 and qc.app.faults.served - served == 2
    assert chunks[0].text == job_line(hook.describe_cluster_jobs(app=APP_ID, limit=1)["job_set"][0])


# -- status ----------------------------------------------------------------------------------------------------
def test_a_job_moves_pending_working_successful(qc):
    hook = QingCloudHook()
    first = hook.get_job_status("j-addnodes01", app=APP_ID)
    assert first.raw_status == "pending" and first.state is JobState.PENDING
    seen = {first.raw_status}
    deadline = time.monotonic() + 10
    while not (status := hook.get_job_status("j-addnodes01", app=APP_ID)).state.is_terminal:
        seen.add(status.raw_status)
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert status.raw_status == "successful" and status.state is JobState.SUCCESS
    assert "working" in seen
    assert status.name == "AddClusterNodes" and status.job_id == "j-addnodes01"
    assert status.detail["jobs"][0]["resource_ids"] == CLUSTER_ID


def test_a_set_fails_when_any_job_fails_and_succeeds_when_all_succeed(qc):
    hook = QingCloudHook()
    assert hook.get_job_status(LIVE_JOBS, app=APP_ID).raw_status == "pending"
    finish_live_jobs(hook)
    failed = hook.get_job_status(LIVE_JOBS, app=APP_ID)
    assert failed.raw_status == "failed" and failed.state is JobState.FAILED
    assert [j["status"] for j in failed.detail["jobs"]] == ["successful", "failed"]
    both = hook.get_job_status("j-addnodes01, j-etkt94ebqra", app=APP_ID)
    assert both.raw_status == "successful" and both.job_id == "j-addnodes01,j-etkt94ebqra"


def test_an_undocumented_status_is_unknown_not_success(qc):
    hook = QingCloudHook()
    deadline = time.monotonic() + 5
    while (status := hook.get_job_status("j-legacy0001", app=LEGACY_APP_ID)).raw_status in ("pending", "working"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert status.raw_status == "suspended" and status.state is JobState.UNKNOWN
    assert "undocumented status suspended" in status.message


def test_failed_units_name_action_resources_and_error_codes(qc):
    hook = QingCloudHook()
    finish_live_jobs(hook)
    ref = {"jobs": LIVE_JOBS, "app": APP_ID}
    units = hook.failed_units(ref, hook.job_status_from_ref(ref), tail_lines=2)
    assert len(units) == 1
    assert units[0].name == "job j-resize0001 ResizeCluster on cl-chronus01"
    assert units[0].reason == "status 'failed', error_codes 2500"
    assert units[0].log_tail.splitlines()[0] == "status_time 2026-11-22T02:02:03Z"
    assert '"action":"ResizeCluster"' in units[0].log_tail


def test_tail_lines_show_each_status_change_once(qc):
    hook = QingCloudHook()
    ref = {"jobs": ["j-addnodes01"], "app": APP_ID}
    lines: list[str] = []

    class Collect:
        def info(self, fmt, *args):
            lines.append(fmt % args)

    cursor = None
    deadline = time.monotonic() + 10
    while not hook.job_status_from_ref(ref).state.is_terminal:
        cursor = hook.tail_logs(ref, cursor, Collect())
        assert time.monotonic() < deadline
        time.sleep(0.02)
    cursor = hook.tail_logs(ref, cursor, Collect())
    hook.tail_logs(ref, cursor, Collect())
    assert lines == [
        "[j-addnodes01] AddClusterNodes on cl-chronus01 is pending since 2026-11-22T02:01:00Z",
        "[j-addnodes01] AddClusterNodes on cl-chronus01 is working since 2026-11-22T02:01:01Z",
        "[j-addnodes01] AddClusterNodes on cl-chronus01 is successful since 2026-11-22T02:01:04Z",
    ]


def test_async_twins_match_sync(qc):
    hook = QingCloudHook()
    finish_live_jobs(hook)
    sync_records = list(hook.iter_cluster_jobs(app=APP_ID, page_size=10))
    sync_page = hook.describe_cluster_jobs(app=APP_ID, limit=3)

    async def collect():
        ahook = QingCloudHook()
        try:
            status = await ahook.aget_job_status(LIVE_JOBS, app=APP_ID)
            page = await ahook.adescribe_cluster_jobs(app=APP_ID, limit=3)
            return status, page, [r async for r in ahook.aiter_cluster_jobs(app=APP_ID, page_size=10)]
        finally:
            await ahook.aclose()

    status, page, records = asyncio.run(collect())
    assert status.raw_status == "failed"
    assert page == sync_page and records == sync_records


# -- errors -----------------------------------------------------------------------------------------------------
def test_an_unknown_job_is_not_found_with_the_request_id(qc):
    served = qc.app.faults.served
    with pytest.raises(NotFoundError, match="j-nothere01") as info:
        QingCloudHook().get_job_status("j-nothere01", app=APP_ID)
    assert qc.app.faults.served - served == 1
    assert info.value.code == 2100 and info.value.request_id == qc.emulator.received[-1]["req_id"]


def test_someone_elses_app_is_permission_denied(qc):
    with pytest.raises(PermissionDeniedError, match="does not belong to you"):
        QingCloudHook().describe_cluster_jobs(app=FOREIGN_APP_ID)


@pytest.mark.parametrize("field", ["password", "login"])
def test_wrong_credentials_get_1200_once_and_never_show_the_secret(qc, monkeypatch, field):
    conn = dict(qc.connections()["qingcloud_default"], **{field: "QYWRONGWRONG-secret-x"})
    monkeypatch.setenv("AIRFLOW_CONN_QC_WRONG", json.dumps(conn))
    served = qc.app.faults.served
    with pytest.raises(AuthenticationError) as info:
        QingCloudHook("qc_wrong").describe_cluster_jobs(app=APP_ID)
    assert qc.app.faults.served - served == 1, "an authentication failure is not retried"
    assert info.value.code == 1200
    assert "QYWRONGWRONG-secret-x" not in str(info.value) and SECRET_ACCESS_KEY not in str(info.value)
    ok, message = QingCloudHook("qc_wrong").test_connection()
    assert not ok and "AuthFailure" in message


def test_busy_and_quota_answers_are_retried(qc):
    qc.app.faults.update(script=["error", "throttle", "error"], retry_after=0.01)
    served = qc.app.faults.served
    body = QingCloudHook(retry_policy=FAST).describe_cluster_jobs(app=APP_ID, limit=1)
    assert body["ret_code"] == 0 and qc.app.faults.served - served == 4


def test_retries_are_bounded_and_the_error_names_the_code(qc):
    qc.app.faults.update(error_rate=1.0)
    hook = QingCloudHook(retry_policy=RetryPolicy(max_attempts=3, initial_backoff=0.01, max_backoff=0.02))
    served = qc.app.faults.served
    with pytest.raises(TransientError) as info:
        hook.describe_cluster_jobs(app=APP_ID)
    assert qc.app.faults.served - served == 3
    assert "ServerBusy" in str(info.value) and "code=5100" in str(info.value)


def _answer(body: object, status: int = 200) -> httpx.Response:
    content = json.dumps(body).encode() if body is not None else b""
    request = httpx.Request("GET", "https://api.qingcloud.com/iaas/?action=DescribeJobs&req_id=abc123")
    return httpx.Response(status, content=content, request=request)


@pytest.mark.parametrize(
    ("body", "status", "error", "retryable"),
    [
        ({"ret_code": 5000, "message": "InternalError"}, 200, TransientError, True),
        ({"ret_code": 5100, "message": "ServerBusy"}, 200, TransientError, True),
        ({"ret_code": 2500, "message": "QuotaExceeded"}, 200, TransientError, True),
        ({"ret_code": 5300, "message": "ServiceUpdating"}, 200, TransientError, True),
        ({"ret_code": 1101, "message": "no such action"}, 200, RemoteValidationError, False),
        ({"ret_code": 5200, "message": "ResourceInsufficient"}, 200, JobLogsError, False),
        ({"ret_code": 1100, "message": "ParameterError"}, 200, RemoteValidationError, False),
        ({"ret_code": 1200, "message": "AuthFailure"}, 200, AuthenticationError, False),
        ({"ret_code": 1300, "message": "MessageExpired"}, 200, AuthenticationError, False),
        ({"ret_code": 1400, "message": "PermissionDenied"}, 200, PermissionDeniedError, False),
        ({"ret_code": 2100, "message": "ResourceNotFound"}, 200, NotFoundError, False),
        ({"ret_code": 2400, "message": "InsufficientBalance"}, 200, JobLogsError, False),
        ({"action": "DescribeJobsResponse"}, 200, TransientError, True),
        (None, 200, TransientError, True),
        ({"ret_code": 5000, "message": "bad gateway"}, 502, TransientError, True),
        ({"message": "forbidden"}, 403, PermissionDeniedError, False),
    ],
)
def test_ret_codes_map_to_the_exception_hierarchy(body, status, error, retryable):
    with pytest.raises(error) as info:
        decode_response(_answer(body, status))
    assert type(info.value) is error and info.value.retryable is retryable
    assert info.value.request_id == "abc123"
    if body and body.get("ret_code") == 1300:
        assert "clock" in str(info.value)


# -- inputs and connections --------------------------------------------------------------------------------------
BAD_CALLS = [
    ("limit", {"app": APP_ID, "limit": 101}),
    ("limit", {"app": APP_ID, "limit": 0}),
    ("offset", {"app": APP_ID, "offset": -1}),
    ("status", {"app": APP_ID, "status": "done"}),
    ("status", {"app": APP_ID, "status": ["pending", "running"]}),
    ("app", {}),
    ("app", {"app": "tg3lbp0a"}),
    ("cluster", {"cluster": "cluster-1"}),
    ("jobs", {"app": APP_ID, "jobs": ["job-1"]}),
    ("zone", {"app": APP_ID, "zone": "us-east-1"}),
    ("zone", {"app": APP_ID, "zone": "PEK3A"}),
    ("zone", {"app": APP_ID, "zone": "pek 3a"}),
    ("verbose", {"app": APP_ID, "verbose": 1}),
]


@pytest.mark.parametrize(("parameter", "kwargs"), BAD_CALLS, ids=[f"{p}-{i}" for i, (p, _) in enumerate(BAD_CALLS)])
def test_bad_input_fails_before_any_request(qc, parameter, kwargs):
    served = qc.app.faults.served
    with pytest.raises(InvalidParameterError) as info:
        QingCloudHook().describe_cluster_jobs(**kwargs)
    assert info.value.parameter == parameter
    assert f"Invalid parameter {parameter!r}" in str(info.value)
    assert qc.app.faults.served == served, "nothing was sent"


def test_bad_messages_say_what_is_allowed():
    with pytest.raises(InvalidParameterError, match=r"allowed: pending, working, successful, failed"):
        QingCloudHook().describe_cluster_jobs(app=APP_ID, status="done")
    with pytest.raises(InvalidParameterError, match=r"from 1 to 100"):
        QingCloudHook().describe_cluster_jobs(app=APP_ID, limit=101)
    with pytest.raises(InvalidParameterError, match=r"needs the application id"):
        QingCloudHook().describe_cluster_jobs()
    with pytest.raises(InvalidParameterError, match=r"e\.g\. pek3, pek3a"):
        QingCloudHook().describe_cluster_jobs(app=APP_ID, zone="beijing")


@pytest.mark.parametrize(
    ("job_ids", "parameter"),
    [
        ("", "job_ids"),
        ([], "job_ids"),
        (["j-ok000001", "nope"], "job_ids"),
        ([f"j-x{n:06d}" for n in range(101)], "job_ids"),
    ],
)
def test_bad_job_ids_fail_before_any_request(qc, job_ids, parameter):
    served = qc.app.faults.served
    with pytest.raises(InvalidParameterError) as info:
        QingCloudHook().get_job_status(job_ids, app=APP_ID)
    assert info.value.parameter == parameter and qc.app.faults.served == served


@pytest.mark.parametrize(
    ("change", "parameter"),
    [
        ({"extra": {"allow_http": True}}, "zone"),
        ({"extra": {"zone": "Beijing-3", "allow_http": True}}, "zone"),
        ({"password": ""}, "password"),
        ({"login": ""}, "login"),
        ({"extra": {"zone": "pek3a"}}, "host"),
        ({"extra": {"zone": "pek3a", "allow_http": True, "max_attempts": 0}}, "max_attempts"),
    ],
)
def test_bad_connections_fail_before_any_request(qc, monkeypatch, change, parameter):
    conn = {**qc.connections()["qingcloud_default"], **change}
    monkeypatch.setenv("AIRFLOW_CONN_QC_BAD", json.dumps(conn))
    served = qc.app.faults.served
    with pytest.raises(InvalidParameterError) as info:
        QingCloudHook("qc_bad").describe_cluster_jobs(app=APP_ID)
    assert info.value.parameter == parameter and qc.app.faults.served == served


def test_host_defaults_to_the_public_api(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_QC_PUBLIC",
        json.dumps({"conn_type": "qingcloud", "login": "QYKEY", "password": "s3cr3t-value", "extra": {"zone": "pek3"}}),
    )
    hook = QingCloudHook("qc_public")
    assert hook.api.base_url == "https://api.qingcloud.com" and hook.api.verify is True and hook.zone == "pek3"


def test_test_connection_succeeds(qc):
    ok, message = QingCloudHook().test_connection()
    assert ok and "zone pek3a" in message, message


def test_secrets_stay_out_of_repr_and_are_masked(qc):
    from airflow.providers.common.compat.sdk import redact

    hook = QingCloudHook()
    api = hook.api
    for text in (repr(hook), repr(api), repr(api.auth)):
        assert SECRET_ACCESS_KEY not in text
    assert SECRET_ACCESS_KEY not in str(redact(f"secret={SECRET_ACCESS_KEY}"))


def test_signatures_and_secrets_stay_out_of_logs_errors_and_manifests(qc, caplog, capfd, monkeypatch):
    import logging
    import re

    from airflow_joblogs.operators.qingcloud import QingCloudClusterJobsOperator
    from airflow_joblogs.sensors.qingcloud import QingCloudClusterJobSensor

    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="httpx")  # Airflow's task logging keeps httpx at WARN; a user's may not
    qc.app.faults.update(script=["error", "throttle", "drop"], retry_after=0.01)
    texts = [json.dumps(QingCloudHook(retry_policy=FAST).describe_cluster_jobs(app=APP_ID))]
    with pytest.raises(JobFailedError) as failed:
        QingCloudClusterJobSensor(
            task_id="s", job_ids="j-resize0001", app=APP_ID, poke_interval=0.05, timeout=20, stream_logs=True
        ).execute({})
    texts.append(str(failed.value))
    texts.append(json.dumps(QingCloudClusterJobsOperator(task_id="o", app=APP_ID).execute({})))
    monkeypatch.setenv(
        "AIRFLOW_CONN_QC_WRONG", json.dumps(dict(qc.connections()["qingcloud_default"], password="wrong-secret-xyz"))
    )
    with pytest.raises(AuthenticationError) as denied:
        QingCloudHook("qc_wrong").describe_cluster_jobs(app=APP_ID)
    texts.append(str(denied.value) + repr(denied.value) + repr(denied.value.__dict__))
    out, err = capfd.readouterr()
    haystack = "\n".join([*texts, out, err, caplog.text])
    assert "signature=***" in caplog.text, "the request URLs were logged, redacted"
    assert not re.search(r"signature=(?!\*\*\*)", haystack), "a signature reached a log"
    for secret in (SECRET_ACCESS_KEY, "wrong-secret-xyz"):
        assert secret not in haystack


# -- the emulator is an honest stand-in: the official SDK works against it ---------------------------------------
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # the SDK's own invalid escape sequences
def test_the_official_sdk_works_against_the_emulator(qc):
    pytest.importorskip("qingcloud")
    from qingcloud.iaas.connection import APIConnection

    def connect(secret: str) -> APIConnection:
        return APIConnection(ACCESS_KEY_ID, secret, "pek3a", host="127.0.0.1", port=qc.port, protocol="http")

    body = connect(SECRET_ACCESS_KEY).describe_cluster_jobs(cluster="cl-xi3aoihf")  # the SDK's verbose=1, reverse=1
    assert body["ret_code"] == 0 and body["job_set"] == [SEED_JOB]
    posted = connect(SECRET_ACCESS_KEY).send_request(
        "DescribeClusterJobs", {"app": APP_ID, "jobs": ["j-etkt94ebqra"], "limit": 1}, verb="POST"
    )
    assert posted == SEED_RESPONSE
    assert connect("wrong-secret").describe_cluster_jobs(cluster=CLUSTER_ID)["ret_code"] == 1200


# -- cost -----------------------------------------------------------------------------------------------------------
def test_a_status_check_signs_its_request_as_it_is_built_and_parses_one_url(qc, monkeypatch):
    """QingCloud signs every request's query, and each request's ``req_id`` makes its URL new: built unsigned, read
    back and built again by the signer, a status check parsed four URLs (about half its CPU, httpx checking every
    character each time); signed as it is built, it parses one once the base URL and path are kept. Sync and async
    alike, and the emulator checks every signature."""
    from httpx import _urlparse, _urls

    parses: list[str] = []
    original = _urlparse.urlparse

    def counted(url: str = "", **kwargs: object) -> object:
        parses.append(url or str(kwargs.get("query", "")))
        return original(url, **kwargs)

    hook = QingCloudHook()
    ref = {"jobs": ["j-addnodes01"], "app": APP_ID}
    hook.job_status_from_ref(ref)  # the base URL and path kept
    monkeypatch.setattr(_urlparse, "urlparse", counted)  # copies of a URL
    monkeypatch.setattr(_urls, "urlparse", counted)  # new URLs
    statuses = [hook.job_status_from_ref(ref) for _ in range(3)]
    sync_parses = len(parses)

    async def checks() -> list:
        ahook = QingCloudHook()
        try:
            await ahook.ajob_status_from_ref(ref)
            parses.clear()
            return [await ahook.ajob_status_from_ref(ref) for _ in range(3)]
        finally:
            await ahook.aclose()

    statuses += asyncio.run(checks())
    assert {s.job_id for s in statuses} == {"j-addnodes01"}
    assert sync_parses == 3, sync_parses
    assert len(parses) == 3, parses
