"""The MGN emulator speaks the rest-json wire format: SigV4 required, error types in x-amzn-ErrorType,
429 + Retry-After, validation errors with fieldList, opaque paging tokens. Plain httpx, no AWS SDK needed."""

from __future__ import annotations

import httpx
import pytest

from airflow_joblogs.emulators.mgn import CUTOVER_JOB, WAVE_JOB, MgnEmulator, mgn_app, timeline
from airflow_joblogs.emulators.registry import EMULATORS, make_app

SIGNED = {
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261122/us-east-1/mgn/aws4_request, "
    "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
    "X-Amz-Date": "20261122T100000Z",
}


def post(server, operation: str, body: dict, headers: dict | None = None) -> httpx.Response:
    return httpx.post(f"{server.url}/{operation}", json=body, headers=SIGNED if headers is None else headers)


def test_registered_and_exposes_an_aws_connection():
    assert EMULATORS["mgn"] == "airflow_joblogs.emulators.mgn.mgn_app"
    app = make_app("mgn", speed=3)
    assert app.clock.speed == 3
    conn = app.connections("http://127.0.0.1:9")["aws_default"]
    assert conn["conn_type"] == "aws" and conn["login"] and conn["password"]
    assert conn["extra"] == {"endpoint_url": "http://127.0.0.1:9", "region_name": "us-east-1"}


@pytest.mark.parametrize(
    ("headers", "error_type"),
    [
        ({}, "MissingAuthenticationTokenException"),
        ({"Authorization": "Bearer abc"}, "IncompleteSignatureException"),
        ({**SIGNED, "Authorization": SIGNED["Authorization"].replace("/mgn/", "/s3/")}, "InvalidSignatureException"),
    ],
)
def test_a_sigv4_authorization_scoped_to_mgn_is_required(mgn, headers, error_type):
    response = post(mgn, "DescribeJobs", {}, headers)
    assert response.status_code == 403
    assert response.headers["x-amzn-ErrorType"] == error_type and response.headers["x-amzn-RequestId"]
    assert response.json()["message"]


def test_validation_errors_carry_reason_and_field_list(mgn):
    for body, field in [
        ({"jobID": "mgnjob-short"}, "jobID"),
        ({"jobID": CUTOVER_JOB, "maxResults": 0}, "maxResults"),
        ({"jobID": CUTOVER_JOB, "maxResults": 1001}, "maxResults"),
        ({"jobID": CUTOVER_JOB, "accountID": "12345"}, "accountID"),
        ({"jobID": CUTOVER_JOB, "nextToken": "not-a-token"}, "nextToken"),
    ]:
        response = post(mgn, "DescribeJobLogItems", body)
        assert response.status_code == 400 and response.headers["x-amzn-ErrorType"] == "ValidationException"
        assert response.json()["reason"] == "fieldValidationFailed"
        assert response.json()["fieldList"][0]["name"] == field


def test_injected_faults_use_the_services_error_shapes(mgn):
    mgn.app.faults.update(script=["throttle", "error"], retry_after=2)
    throttled = post(mgn, "DescribeJobs", {})
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "2.0"
    assert throttled.headers["x-amzn-ErrorType"] == "ThrottlingException"
    failed = post(mgn, "DescribeJobs", {})
    assert failed.status_code == 500 and failed.headers["x-amzn-ErrorType"] == "InternalServerException"
    assert post(mgn, "DescribeJobs", {}).status_code == 200


def test_pages_follow_next_tokens_to_the_whole_log(mgn):
    emulator: MgnEmulator = mgn.emulator
    import time

    deadline = time.monotonic() + 10
    while post(mgn, "DescribeJobs", {"filters": {"jobIDs": [WAVE_JOB]}}).json()["items"][0]["status"] != "COMPLETED":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    items, token, pages = [], None, 0
    while True:
        body = {"jobID": WAVE_JOB, "maxResults": 30, **({"nextToken": token} if token else {})}
        page = post(mgn, "DescribeJobLogItems", body).json()
        items += page["items"]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
        assert pages < 50
    assert items == emulator.log_items(WAVE_JOB) and pages == 7


def test_jobs_are_listed_newest_first_and_filtered_by_id(mgn):
    listed = post(mgn, "DescribeJobs", {}).json()["items"]
    times = [job["creationDateTime"] for job in listed]
    assert times == sorted(times, reverse=True) and len(listed) == 9
    only = post(mgn, "DescribeJobs", {"filters": {"jobIDs": [CUTOVER_JOB, "mgnjob-0000000000000000z"]}}).json()
    assert [job["jobID"] for job in only["items"]] == [CUTOVER_JOB]


def test_every_failure_event_of_the_catalogue_is_documented():
    from airflow_joblogs.emulators.mgn import catalogue

    documented = {
        "JOB_START", "SERVER_SKIPPED", "CLEANUP_START", "CLEANUP_END", "CLEANUP_FAIL", "SNAPSHOT_START",
        "SNAPSHOT_END", "SNAPSHOT_FAIL", "USING_PREVIOUS_SNAPSHOT", "CONVERSION_START", "CONVERSION_END",
        "CONVERSION_FAIL", "LAUNCH_START", "LAUNCH_FAILED", "JOB_CANCEL", "JOB_END",
    }  # fmt: skip
    for job in catalogue().values():
        events = [event["event"] for _, event in timeline(job).events]
        assert set(events) <= documented and events[0] == "JOB_START" and events[-1] == "JOB_END"
    assert mgn_app().name == "mgn"
