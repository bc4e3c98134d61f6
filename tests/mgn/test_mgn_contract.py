"""Contract: every answer of the MGN emulator (each catalogue job as it runs, each page, each error) checked
against the installed botocore's ``mgn`` service model, walked with botocore's own shape objects.

Members the model lacks, wrong types, values outside an enum, a length, a range or a pattern (the ISO 8601 time
strings among them), missing required members, and errors whose HTTP status or header members differ from the
error shape all fail. ``attemptCount`` / ``maxAttemptsCount`` are tolerated only where the installed model is
older than the one that added them (botocore 1.40 lacks them; the current model has them in JobLogEventData).
"""

from __future__ import annotations

import re
import time
from typing import Any

import botocore.session
import httpx
import pytest

from airflow_joblogs.emulators.mgn import (
    ACCESS_KEY_ID,
    CUTOVER_JOB,
    SECRET_ACCESS_KEY,
    WAVE_JOB,
    MgnEmulator,
)

MODEL = botocore.session.get_session().get_service_model("mgn")
#: members newer models have that an older installed botocore may lack: (shape, member)
NEWER_MODEL_MEMBERS = frozenset({("JobLogEventData", "attemptCount"), ("JobLogEventData", "maxAttemptsCount")})
#: errors AWS's front end answers for any service (signing, unknown paths, unreadable bodies): not in the model
COMMON_ERRORS = frozenset(
    {
        "MissingAuthenticationTokenException",
        "IncompleteSignatureException",
        "InvalidSignatureException",
        "UnrecognizedClientException",
        "SerializationException",
        "UnknownOperationException",
    }
)


def sign(region: str = "us-east-1") -> dict[str, str]:
    """A SigV4-shaped Authorization header (the emulator checks its form and scope, not the signature)."""
    return {
        "Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20261122/{region}/mgn/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        "X-Amz-Date": "20261122T100000Z",
    }


def post(
    server: Any, operation: str, body: dict, headers: dict | None = None, client: httpx.Client | None = None
) -> httpx.Response:
    send = client.post if client is not None else httpx.post
    return send(f"{server.url}/{operation}", json=body, headers=sign() if headers is None else headers)


# -- the model walker -------------------------------------------------------------------------------------------
def problems(shape: Any, value: Any, path: str) -> list[str]:
    """What in ``value`` the model's ``shape`` does not allow (empty: it conforms)."""
    if value is None:
        return [f"{path}: null (rest-json leaves an absent member out)"]
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not a {shape.name} object"]
        found: list[str] = []
        for name, member_value in value.items():
            member = shape.members.get(name)
            if member is None:
                if (shape.name, name) not in NEWER_MODEL_MEMBERS:
                    found.append(f"{path}.{name}: {shape.name} has no such member")
                continue
            if member.serialization.get("location"):
                found.append(f"{path}.{name}: belongs in the {member.serialization['location']}, not the body")
                continue
            found += problems(member, member_value, f"{path}.{name}")
        for name in shape.required_members:
            if name not in value and not shape.members[name].serialization.get("location"):
                found.append(f"{path}.{name}: required by {shape.name}, missing")
        if shape.metadata.get("union") and len(value) != 1:
            found.append(f"{path}: the union {shape.name} must set exactly one member")
        return found
    if kind == "list":
        if not isinstance(value, list):
            return [f"{path}: {type(value).__name__}, not a list ({shape.name})"]
        found = _bounds(shape, len(value), path, "items")
        for index, entry in enumerate(value):
            found += problems(shape.member, entry, f"{path}[{index}]")
        return found
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{path}: {type(value).__name__}, not a map ({shape.name})"]
        found = _bounds(shape, len(value), path, "entries")
        for key, entry in value.items():
            found += problems(shape.key, key, f"{path} key {key!r}") + problems(shape.value, entry, f"{path}[{key!r}]")
        return found
    if kind == "string":
        if not isinstance(value, str):
            return [f"{path}: {type(value).__name__}, not a string ({shape.name})"]
        found = _bounds(shape, len(value), path, "characters")
        if shape.enum and value not in shape.enum:
            found.append(f"{path}: {value!r} is not one of {shape.name} {list(shape.enum)}")
        pattern = shape.metadata.get("pattern")
        if pattern and not re.fullmatch(pattern, value, re.DOTALL):
            found.append(f"{path}: {value!r} does not match {shape.name} /{pattern}/")
        return found
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            return [f"{path}: {value!r} is not an integer ({shape.name})"]
        return _range(shape, value, path)
    if kind == "boolean":
        return [] if isinstance(value, bool) else [f"{path}: {value!r} is not a boolean ({shape.name})"]
    return [f"{path}: the walker does not know the type {kind} ({shape.name})"]


def _bounds(shape: Any, size: int, path: str, what: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if (low is not None and size < low) or (high is not None and size > high):
        return [f"{path}: {size} {what}, {shape.name} allows {low}..{high}"]
    return []


def _range(shape: Any, value: int, path: str) -> list[str]:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if (low is not None and value < low) or (high is not None and value > high):
        return [f"{path}: {value}, {shape.name} allows {low}..{high}"]
    return []


def header_problems(shape: Any, headers: httpx.Headers, path: str) -> list[str]:
    """Members the model places in headers (``retryAfterSeconds`` -> ``Retry-After``): their type."""
    found = []
    for name, member in shape.members.items():
        if member.serialization.get("location") != "header":
            continue
        raw = headers.get(member.serialization.get("name", name))
        if raw is None:
            if name in shape.required_members:
                found.append(f"{path} header {name}: required, missing")
            continue
        if member.type_name in ("integer", "long"):
            if not raw.isdigit():
                found.append(f"{path} header {member.serialization.get('name')}: {raw!r} is not an integer")
            else:
                found += _range(member, int(raw), f"{path} header {member.serialization.get('name')}")
        elif member.type_name == "string":
            found += _bounds(member, len(raw), f"{path} header {member.serialization.get('name')}", "characters")
    return found


def check_answer(operation: str, response: httpx.Response) -> dict:
    """Assert a 200 answer of ``operation`` conforms to its output shape; return the body."""
    model = MODEL.operation_model(operation)
    assert response.status_code == model.http.get("responseCode", 200), response.text
    body = response.json()
    found = problems(model.output_shape, body, operation) + header_problems(
        model.output_shape, response.headers, operation
    )
    assert not found, "\n".join(found)
    return body


def check_error(operation: str, response: httpx.Response, expected: str) -> None:
    """Assert an error answer: the code in ``x-amzn-ErrorType``, and (a modeled error) the model's HTTP status,
    body members and header members."""
    code = response.headers.get("x-amzn-ErrorType", "").split(":")[0]
    assert code == expected, (response.status_code, response.headers, response.text)
    assert response.headers.get("x-amzn-RequestId")
    if code in COMMON_ERRORS:
        assert code not in MODEL.shape_names
        body = response.json()
        assert isinstance(body.get("message"), str) and set(body) == {"message"}, body
        return
    shape = MODEL.shape_for(code)
    assert shape.metadata.get("exception"), f"{code} is not an error shape"
    assert response.status_code == shape.metadata["error"]["httpStatusCode"], (code, response.status_code)
    found = problems(shape, response.json(), f"{operation} {code}") + header_problems(
        shape, response.headers, f"{operation} {code}"
    )
    assert not found, "\n".join(found)


# -- the walker catches what it should (a contract that cannot fail proves nothing) -----------------------------------
@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"items": [{"jobID": CUTOVER_JOB, "colour": "red"}]}, "Job has no such member"),
        ({"items": [{"jobID": CUTOVER_JOB, "status": "FAILED"}]}, "is not one of JobStatus"),
        ({"items": [{"jobID": CUTOVER_JOB, "creationDateTime": "2026-11-22 10:00:00"}]}, "does not match"),
        ({"items": [{"jobID": CUTOVER_JOB, "creationDateTime": 1795427200}]}, "not a string"),
        ({"items": [{"arn": "arn:aws:mgn:us-east-1:111122223333:job/x"}]}, "jobID: required by Job"),
        ({"items": [{"jobID": CUTOVER_JOB, "participatingServers": [{"launchStatus": "LAUNCHED"}]}]},
         "sourceServerID: required"),
        ({"items": [{"jobID": CUTOVER_JOB, "tags": {"k": 1}}]}, "not a string"),
        ({"items": [], "nextToken": None}, "null"),
    ],
)  # fmt: skip
def test_the_walker_rejects_what_the_model_does_not_allow(answer, expected):
    found = problems(MODEL.operation_model("DescribeJobs").output_shape, answer, "DescribeJobs")
    assert any(expected in problem for problem in found), found


def test_the_walker_rejects_a_log_item_outside_the_model():
    shape = MODEL.operation_model("DescribeJobLogItems").output_shape
    item = {"logDateTime": "2026-11-22T10:00:00.000Z", "event": "CONVERSION_RETRY", "eventData": {"attemptCount": 0}}
    found = problems(shape, {"items": [item]}, "DescribeJobLogItems")
    assert any("is not one of JobLogEvent" in p for p in found), found
    if "attemptCount" in MODEL.shape_for("JobLogEventData").members:
        assert any("attemptCount: 0" in p for p in found), found


# -- the emulator's answers ---------------------------------------------------------------------------------------
def wait_until_settled(mgn: Any, client: httpx.Client, job_id: str, seen: set[str]) -> None:
    """Ask DescribeJobs about the job until it completed and its post-launch actions finished, checking each answer
    (and the log while the job runs)."""
    emulator: MgnEmulator = mgn.emulator
    job, line = emulator.jobs[job_id], emulator.timelines[job_id]
    deadline = time.monotonic() + 30
    while True:
        answer = post(mgn, "DescribeJobs", {"filters": {"jobIDs": [job_id]}}, client=client)
        [described] = check_answer("DescribeJobs", answer)["items"]
        seen.add(described["status"])
        if described["status"] == "COMPLETED" and emulator.clock.elapsed(job_id) > line.end + job.post_launch_seconds:
            check_answer("DescribeJobs", post(mgn, "DescribeJobs", {"filters": {"jobIDs": [job_id]}}, client=client))
            return
        if described["status"] == "STARTED":
            check_answer("DescribeJobLogItems", post(mgn, "DescribeJobLogItems", {"jobID": job_id}, client=client))
        assert time.monotonic() < deadline, f"{job_id} did not settle"
        time.sleep(0.005)


@pytest.fixture
def slow_jobs(mgn):
    """Jobs at a quarter of the session's speed, so every status is seen (a cutover job runs about half a second)."""
    speed = mgn.app.clock.speed
    mgn.app.clock.speed = 5.0
    yield mgn
    mgn.app.clock.speed = speed


def test_every_catalogue_job_conforms_as_it_runs_and_every_log_page_when_done(slow_jobs):
    mgn = slow_jobs
    emulator: MgnEmulator = mgn.emulator
    seen: set[str] = set()
    with httpx.Client() as client:
        for job_id in emulator.jobs:
            wait_until_settled(mgn, client, job_id, seen)
            items, token, pages = [], None, 0
            while True:
                body = {"jobID": job_id, "maxResults": 7, **({"nextToken": token} if token else {})}
                page = check_answer("DescribeJobLogItems", post(mgn, "DescribeJobLogItems", body, client=client))
                assert len(page["items"]) <= 7
                items += page["items"]
                pages += 1
                token = page.get("nextToken")
                if not token:
                    break
            assert items == emulator.log_items(job_id) and pages == -(-len(items) // 7)
    assert seen == {"PENDING", "STARTED", "COMPLETED"}
    events = {item["event"] for job_id in emulator.jobs for item in emulator.log_items(job_id)}
    assert {"CLEANUP_FAIL", "SNAPSHOT_FAIL", "CONVERSION_FAIL", "LAUNCH_FAILED", "JOB_CANCEL"} <= events


def test_every_listing_page_conforms_and_the_date_filters_select_by_creation_time(mgn):
    emulator: MgnEmulator = mgn.emulator
    listed, token = [], None
    while True:
        body = {"maxResults": 2, **({"nextToken": token} if token else {})}
        page = check_answer("DescribeJobs", post(mgn, "DescribeJobs", body))
        listed += page["items"]
        token = page.get("nextToken")
        if not token:
            break
    assert [job["jobID"] for job in listed] == sorted(emulator.jobs, key=lambda j: -emulator.jobs[j].created)
    created = {job["jobID"]: job["creationDateTime"] for job in listed}
    window = {"fromDate": created[WAVE_JOB], "toDate": created[CUTOVER_JOB]}
    both_ends = check_answer("DescribeJobs", post(mgn, "DescribeJobs", {"filters": window}))["items"]
    assert len(both_ends) == len(listed), "both ends are inclusive"
    after = check_answer("DescribeJobs", post(mgn, "DescribeJobs", {"filters": {"fromDate": created[CUTOVER_JOB]}}))
    assert [job["jobID"] for job in after["items"]] == [CUTOVER_JOB]
    before = check_answer("DescribeJobs", post(mgn, "DescribeJobs", {"filters": {"toDate": "2020-01-01T00:00:00Z"}}))
    assert before["items"] == []


BAD_REQUESTS = [
    ("DescribeJobLogItems", {"jobID": "mgnjob-short"}, "ValidationException"),
    ("DescribeJobLogItems", {}, "ValidationException"),
    ("DescribeJobLogItems", {"jobID": CUTOVER_JOB, "maxResults": 0}, "ValidationException"),
    ("DescribeJobLogItems", {"jobID": CUTOVER_JOB, "maxResults": 1001}, "ValidationException"),
    ("DescribeJobLogItems", {"jobID": CUTOVER_JOB, "accountID": "12345"}, "ValidationException"),
    ("DescribeJobLogItems", {"jobID": CUTOVER_JOB, "nextToken": "not-a-token"}, "ValidationException"),
    ("DescribeJobLogItems", {"jobID": CUTOVER_JOB, "accountID": "999988887777"}, "AccessDeniedException"),
    ("DescribeJobLogItems", {"jobID": "mgnjob-0000000000000000z"}, "ResourceNotFoundException"),
    ("DescribeJobs", {"filters": {"jobIDs": ["nope"]}}, "ValidationException"),
    ("DescribeJobs", {"filters": {"fromDate": "2026-11-22 10:00"}}, "ValidationException"),
    ("DescribeJobs", {"filters": {"toDate": "2026-02-30T10:00:00Z"}}, "ValidationException"),
    ("DescribeJobs", {"maxResults": 0}, "ValidationException"),
    ("DescribeJobs", {"accountID": "999988887777"}, "AccessDeniedException"),
]


@pytest.mark.parametrize(("operation", "body", "code"), BAD_REQUESTS)
def test_every_request_error_conforms_to_its_error_shape(mgn, operation, body, code):
    check_error(operation, post(mgn, operation, body), code)


def test_service_side_errors_conform_to_their_error_shapes(mgn):
    check_error("DescribeJobs", post(mgn, "DescribeJobs", {}, sign("eu-west-3")), "UninitializedAccountException")
    mgn.app.faults.update(script=["throttle", "error"], retry_after=2)
    throttled = post(mgn, "DescribeJobs", {})
    check_error("DescribeJobs", throttled, "ThrottlingException")
    assert throttled.headers["Retry-After"], "ThrottlingException.retryAfterSeconds travels in Retry-After"
    check_error(
        "DescribeJobLogItems", post(mgn, "DescribeJobLogItems", {"jobID": CUTOVER_JOB}), "InternalServerException"
    )


def test_signing_errors_are_aws_common_errors_with_only_a_message(mgn):
    check_error("DescribeJobs", post(mgn, "DescribeJobs", {}, {}), "MissingAuthenticationTokenException")
    check_error("DescribeJobs", post(mgn, "DescribeJobs", {}, {"Authorization": "x"}), "IncompleteSignatureException")
    mgn.emulator.require_access_key = "AKIASOMEOTHERKEY0000"
    try:
        check_error("DescribeJobs", post(mgn, "DescribeJobs", {}), "UnrecognizedClientException")
    finally:
        mgn.emulator.require_access_key = None


def test_boto3_raises_the_modeled_exception_class_for_each_modeled_error(mgn):
    """botocore maps the error code of each answer to the service's own exception class (the model's shape)."""
    import boto3

    client = boto3.client(
        "mgn",
        endpoint_url=mgn.url,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=botocore.config.Config(retries={"total_max_attempts": 1}),
    )
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.describe_job_log_items(jobID=CUTOVER_JOB, maxResults=5000)
    assert info.value.response["reason"] == "fieldValidationFailed" and info.value.response["fieldList"]
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.describe_jobs(accountID="999988887777")
    with pytest.raises(client.exceptions.ResourceNotFoundException) as not_found:
        client.describe_job_log_items(jobID="mgnjob-0000000000000000z")
    assert not_found.value.response["resourceId"] == "mgnjob-0000000000000000z"
    mgn.app.faults.update(script=["throttle", "error"], retry_after=1)
    with pytest.raises(client.exceptions.ThrottlingException) as throttled:
        client.describe_jobs()
    assert throttled.value.response["retryAfterSeconds"] and throttled.value.response["quotaCode"]
    with pytest.raises(client.exceptions.InternalServerException):
        client.describe_jobs()
    paris = boto3.client(
        "mgn",
        endpoint_url=mgn.url,
        region_name="eu-west-3",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
    )
    with pytest.raises(paris.exceptions.UninitializedAccountException):
        paris.describe_jobs()


# -- the start calls -----------------------------------------------------------------------------------------------
def server_id(number: int) -> str:
    """The emulator's source server ``number`` (see ``airflow_joblogs.emulators.mgn.Server``)."""
    return f"s-{0x5E7A1000000000000 + number:017x}"


START_CALLS = [
    ("StartTest", [server_id(71), server_id(72)], "LAUNCH", "START_TEST"),
    ("StartCutover", [server_id(1), server_id(2), server_id(3)], "LAUNCH", "START_CUTOVER"),
    ("TerminateTargetInstances", [server_id(31), server_id(32)], "TERMINATE", "TERMINATE"),
]


@pytest.mark.parametrize(("operation", "servers", "job_type", "initiated_by"), START_CALLS)
def test_each_start_answers_202_with_a_job_that_conforms_as_it_runs(
    slow_jobs, operation, servers, job_type, initiated_by
):
    model = MODEL.operation_model(operation)
    assert (model.http["method"], model.http["requestUri"], model.http["responseCode"]) == (
        "POST",
        f"/{operation}",
        202,
    )
    with httpx.Client() as client:
        answer = post(slow_jobs, operation, {"sourceServerIDs": servers, "tags": {"wave": "7"}}, client=client)
        job = check_answer(operation, answer)["job"]
        assert (job["type"], job["initiatedBy"], job["status"], job["tags"]) == (
            job_type,
            initiated_by,
            "PENDING",
            {"wave": "7"},
        )
        assert [s["sourceServerID"] for s in job["participatingServers"]] == servers
        seen: set[str] = set()
        wait_until_settled(slow_jobs, client, job["jobID"], seen)
        assert "COMPLETED" in seen
        [done] = check_answer("DescribeJobs", post(slow_jobs, "DescribeJobs", {"filters": {"jobIDs": [job["jobID"]]}}))[
            "items"
        ]
    target = "LAUNCHED" if job_type == "LAUNCH" else "TERMINATED"
    assert {s["launchStatus"] for s in done["participatingServers"]} == {target}
    if job_type == "LAUNCH":
        instances = [s["launchedEc2InstanceID"] for s in done["participatingServers"]]
        assert len(set(instances)) == len(servers), "each server has its own launched instance"


START_BAD_REQUESTS = [
    ({}, "ValidationException"),
    ({"sourceServerIDs": []}, "ValidationException"),
    ({"sourceServerIDs": [server_id(n) for n in range(201)]}, "ValidationException"),
    ({"sourceServerIDs": ["s-1234"]}, "ValidationException"),
    ({"sourceServerIDs": [server_id(71)], "tags": {f"k{n}": "v" for n in range(51)}}, "ValidationException"),
    ({"sourceServerIDs": [server_id(71)], "tags": {"k": "v" * 257}}, "ValidationException"),
    ({"sourceServerIDs": [server_id(71)], "accountID": "12345"}, "ValidationException"),
    ({"sourceServerIDs": [server_id(71)], "accountID": "999988887777"}, "AccessDeniedException"),
    ({"sourceServerIDs": ["s-00000000000000000"]}, "ConflictException"),
]


@pytest.mark.parametrize("operation", [call[0] for call in START_CALLS])
@pytest.mark.parametrize(("body", "code"), START_BAD_REQUESTS)
def test_every_start_error_conforms_to_its_error_shape_and_starts_nothing(mgn, operation, body, code):
    check_error(operation, post(mgn, operation, body), code)
    assert mgn.emulator.started == []


def test_a_busy_server_and_a_server_under_test_are_conflicts(mgn):
    mgn.app.clock.speed, speed = 0.5, mgn.app.clock.speed  # the first job runs for seconds
    try:
        check_answer("StartTest", post(mgn, "StartTest", {"sourceServerIDs": [server_id(71)]}))
        busy = post(mgn, "StartCutover", {"sourceServerIDs": [server_id(72), server_id(71)]})
        check_error("StartCutover", busy, "ConflictException")
        assert busy.json()["resourceId"] == server_id(71)
        assert "taking part in job" in busy.json()["message"]
    finally:
        mgn.app.clock.speed = speed
    [job_id] = mgn.emulator.started
    deadline = time.monotonic() + 10
    while mgn.emulator.clock.elapsed(job_id) < mgn.emulator.timelines[job_id].end:  # the test launch completes
        assert time.monotonic() < deadline
        time.sleep(0.02)
    testing = post(mgn, "TerminateTargetInstances", {"sourceServerIDs": [server_id(71)]})
    check_error("TerminateTargetInstances", testing, "ConflictException")
    assert "in state TESTING" in testing.json()["message"]
    assert len(mgn.emulator.started) == 1
