"""The official ``qingcloud-sdk`` client against the QingCloud emulator over real loopback HTTP.

The SDK signs its own requests (``qingcloud.conn.auth.QuerySignatureAuthHandler``) and sends the parameters its
``describe_cluster_jobs`` / ``describe_jobs`` / ``send_request`` build; the emulator must accept them and answer
what QingCloud documents, in a shape the SDK reads. A wrong secret, an expired time stamp, an action that does
not exist, an illegal status and an unknown job get the ret_codes of QingCloud's error code table.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

qingcloud_connection = pytest.importorskip("qingcloud.iaas.connection")
qingcloud_auth = pytest.importorskip("qingcloud.conn.auth")
from qingcloud.misc.utils import parse_ts  # noqa: E402

from airflow_joblogs.emulators.qingcloud import (  # noqa: E402
    ACCESS_KEY_ID,
    APP_ID,
    CLUSTER_ID,
    SECRET_ACCESS_KEY,
    SEED_JOB,
    ZONE,
)
from airflow_joblogs.hooks.qingcloud import QingCloudHook  # noqa: E402

#: ISO 8601 in UTC, to the second, as the API pages and the seed's example show (and the SDK's ISO8601 format)
UTC_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DOCUMENTED_STATUSES = {"pending", "working", "failed", "successful"}
#: DescribeClusterJobs' response item (the API page, plus job_action, error_codes and extras of its example)
CLUSTER_JOB_FIELDS = {
    "job_id": str,
    "job_action": str,
    "create_time": str,
    "status_time": str,
    "directive": str,
    "resource_ids": str,
    "resources": dict,
    "owner": str,
    "status": str,
    "error_codes": str,
    "extras": dict,
}
#: DescribeJobs' response item (its API page, plus error_codes of its example)
JOB_FIELDS = {
    "job_id": str,
    "job_action": str,
    "create_time": str,
    "status_time": str,
    "resource_ids": str,
    "owner": str,
    "status": str,
    "error_codes": str,
}


def sdk(url: str, secret: str = SECRET_ACCESS_KEY, key: str = ACCESS_KEY_ID) -> qingcloud_connection.APIConnection:
    """The official client, pointed at the emulator (one try per call unless asked otherwise)."""
    return qingcloud_connection.APIConnection(
        key, secret, ZONE, host="127.0.0.1", port=urlsplit(url).port, protocol="http", retry_time=1
    )


@pytest.fixture
def conn(qc) -> Iterator[qingcloud_connection.APIConnection]:
    yield sdk(qc.url)


def check_record(job: dict, fields: dict[str, type]) -> None:
    for name, kind in fields.items():
        assert isinstance(job.get(name), kind), f"{job.get('job_id')}: {name} is {job.get(name)!r}"
    assert job["status"] in DOCUMENTED_STATUSES
    for name in ("create_time", "status_time"):
        assert UTC_STAMP.fullmatch(job[name]), job[name]
        assert parse_ts(job[name]) > 0, "the SDK's own time parser reads it"
    assert parse_ts(job["status_time"]) >= parse_ts(job["create_time"])


def signatures_verified(qc) -> int:
    return qc.emulator.signatures_verified_total


# -- accepted and read ---------------------------------------------------------------------------------------
def test_sdk_describe_cluster_jobs_is_accepted_and_reads_documented_records(qc, conn):
    before = signatures_verified(qc)
    body = conn.describe_cluster_jobs(cluster=CLUSTER_ID, limit=5)
    assert signatures_verified(qc) == before + 1, "the SDK's signature was verified, not skipped"
    sent = qc.emulator.received[-1]
    # what the SDK puts on the wire for this call: cluster (not app), reverse and verbose=1 by default
    assert sent["action"] == "DescribeClusterJobs" and sent["cluster"] == CLUSTER_ID and sent["verbose"] == "1"
    assert sent["signature_method"] == "HmacSHA256" and UTC_STAMP.fullmatch(sent["time_stamp"])
    assert body["ret_code"] == 0 and body["action"] == "DescribeClusterJobsResponse"
    assert isinstance(body["total_count"], int) and body["total_count"] > 5
    assert len(body["job_set"]) == 5
    for job in body["job_set"]:
        check_record(job, CLUSTER_JOB_FIELDS)
        assert job["resources"] == {"clusters": [CLUSTER_ID]} and job["resource_ids"] == CLUSTER_ID
        assert json.loads(job["directive"])["action"] == job["job_action"]
    created = [parse_ts(job["create_time"]) for job in body["job_set"]]
    assert created == sorted(created, reverse=True), "reverse=1 (the SDK's default): newest first"


def test_sdk_send_request_with_the_seed_parameters_gets_the_seed_answer(conn):
    params = {"app": APP_ID, "jobs": ["j-etkt94ebqra"], "limit": 1}
    body = conn.send_request("DescribeClusterJobs", dict(params))
    assert body == {"action": "DescribeClusterJobsResponse", "total_count": 1, "job_set": [SEED_JOB], "ret_code": 0}
    check_record(body["job_set"][0], CLUSTER_JOB_FIELDS)
    assert conn.send_request("DescribeClusterJobs", dict(params), verb="POST") == body, "a signed form POST too"


def test_sdk_describe_jobs_is_accepted_and_filters(qc, conn):
    body = conn.describe_jobs(jobs=["j-mkvolume01"])
    assert body["action"] == "DescribeJobsResponse" and body["ret_code"] == 0 and body["total_count"] == 1
    (job,) = body["job_set"]
    check_record(job, JOB_FIELDS)
    assert job["job_id"] == "j-mkvolume01" and job["job_action"] == "CreateVolumes"
    assert qc.emulator.received[-1]["jobs.1"] == "j-mkvolume01", "lists go on the wire as name.N"
    by_action = conn.describe_jobs(job_action="AttachVolumes")
    assert [j["job_id"] for j in by_action["job_set"]] == ["j-attachvol1"]


def test_sdk_paging_default_limit_offsets_and_the_end(conn):
    everything = conn.send_request("DescribeClusterJobs", {"app": APP_ID, "limit": 100})
    total = everything["total_count"]
    assert len(everything["job_set"]) == total > 20
    default = conn.send_request("DescribeClusterJobs", {"app": APP_ID})
    assert len(default["job_set"]) == 20 and default["total_count"] == total, "limit defaults to 20"
    pages: list[dict] = []
    for offset in range(0, total, 7):
        page = conn.send_request("DescribeClusterJobs", {"app": APP_ID, "offset": offset, "limit": 7})
        assert page["total_count"] == total
        pages += page["job_set"]
    assert [j["job_id"] for j in pages] == [j["job_id"] for j in everything["job_set"]]
    past_the_end = conn.send_request("DescribeClusterJobs", {"app": APP_ID, "offset": total, "limit": 7})
    assert past_the_end["ret_code"] == 0 and past_the_end["job_set"] == [] and past_the_end["total_count"] == total


def test_the_sdk_and_the_hook_read_the_same_records(qc, conn):
    live = {"app": APP_ID, "jobs": ["j-addnodes01", "j-resize0001"]}
    deadline = time.monotonic() + 10
    while {j["status"] for j in conn.send_request("DescribeClusterJobs", dict(live))["job_set"]} - {
        "failed",
        "successful",
    }:
        assert time.monotonic() < deadline, "the live jobs never finished"
        time.sleep(0.02)
    hook_page = QingCloudHook().describe_cluster_jobs(app=APP_ID, status=["successful"], limit=100)
    sdk_page = conn.send_request("DescribeClusterJobs", {"app": APP_ID, "status": ["successful"], "limit": 100})
    assert sdk_page == hook_page


def test_the_sdk_retries_the_busy_answer_and_then_succeeds(qc):
    """The emulator's 5100 is an answer the SDK itself recognizes and retries (it retries 5000 and 5100 only)."""
    conn = qingcloud_connection.APIConnection(
        ACCESS_KEY_ID, SECRET_ACCESS_KEY, ZONE, host="127.0.0.1", port=urlsplit(qc.url).port, protocol="http"
    )  # the SDK's default retry_time, 2
    qc.app.faults.update(script=["error"])
    served, busy = qc.app.faults.served, qc.app.faults.injected.get("error", 0)
    body = conn.describe_cluster_jobs(cluster=CLUSTER_ID, limit=1)
    assert body["ret_code"] == 0 and len(body["job_set"]) == 1
    assert qc.app.faults.injected["error"] == busy + 1 and qc.app.faults.served - served == 2


# -- refused --------------------------------------------------------------------------------------------------
def test_a_wrong_secret_or_an_unknown_key_gets_1200(qc):
    before = signatures_verified(qc)
    wrong_secret = sdk(qc.url, secret="not-the-secret").describe_cluster_jobs(cluster=CLUSTER_ID)
    unknown_key = sdk(qc.url, key="QYUNKNOWNACCESSKEY01").describe_jobs()
    assert wrong_secret["ret_code"] == 1200 and unknown_key["ret_code"] == 1200
    assert "job_set" not in wrong_secret and isinstance(wrong_secret["message"], str)
    assert signatures_verified(qc) == before


def test_a_time_stamp_more_than_60_seconds_old_gets_1300(monkeypatch, conn):
    def stamp(age: float):
        return lambda ts=None: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - age))

    monkeypatch.setattr(qingcloud_auth, "get_ts", stamp(30))
    assert conn.describe_jobs(limit=1)["ret_code"] == 0, "half a minute old is accepted"
    monkeypatch.setattr(qingcloud_auth, "get_ts", stamp(120))
    expired = conn.describe_jobs(limit=1)
    assert expired["ret_code"] == 1300 and "time_stamp" in expired["message"]


def test_an_action_that_does_not_exist_gets_1101(conn):
    answer = conn.send_request("DescribeClusterJob", {"app": APP_ID})
    assert answer["ret_code"] == 1101


def test_an_illegal_status_or_limit_gets_1100_and_an_unknown_job_2100(conn):
    assert conn.send_request("DescribeClusterJobs", {"app": APP_ID, "status": ["done"]})["ret_code"] == 1100
    assert conn.send_request("DescribeClusterJobs", {"app": APP_ID, "limit": 101})["ret_code"] == 1100
    assert conn.send_request("DescribeClusterJobs", {"app": APP_ID, "jobs": ["j-nothere01"]})["ret_code"] == 2100
    assert conn.describe_jobs(jobs=["j-nothere01"])["ret_code"] == 2100
