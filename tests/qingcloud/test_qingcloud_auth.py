"""QingCloud signature v1: the published test vector, the official SDK's signer, and signing per attempt."""

from __future__ import annotations

import calendar
import random
import string
import time
from urllib.parse import quote_plus

import httpx
import pytest

from airflow_joblogs.auth.qingcloud import QingCloudSignatureV1, flatten_params, signature_v1
from airflow_joblogs.emulators.qingcloud import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from airflow_joblogs.exceptions import AuthenticationError
from airflow_joblogs.hooks.qingcloud import decode_response
from airflow_joblogs.http import ApiRequest, RetryPolicy, ServiceClient

VECTOR_SECRET = "SECRETACCESSKEY"
VECTOR_TIME = "2013-08-27T14:30:10Z"
VECTOR_SIGNATURE = "byjccvWIvAftaq+oublemagH3bYAlDWxxLFAzAsyslw="
VECTOR_API_PARAMS = {
    "action": "RunInstances",
    "count": 1,
    "image_id": "centos64x86a",
    "instance_name": "demo",
    "instance_type": "small_b",
    "login_mode": "passwd",
    "login_passwd": "QingCloud20130712",
    "vxnets": ["vxnet-0"],
    "zone": "pek3a",
}


def epoch(stamp: str) -> float:
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")))


def test_published_test_vector():
    params = {
        **flatten_params(VECTOR_API_PARAMS),
        "access_key_id": "QYACCESSKEYIDEXAMPLE",
        "signature_method": "HmacSHA256",
        "signature_version": "1",
        "time_stamp": VECTOR_TIME,
        "version": "1",
    }
    assert params["vxnets.1"] == "vxnet-0" and "vxnets" not in params
    assert signature_v1(VECTOR_SECRET, "GET", "/iaas/", params) == VECTOR_SIGNATURE


def test_auth_flow_produces_the_documented_request():
    auth = QingCloudSignatureV1("QYACCESSKEYIDEXAMPLE", VECTOR_SECRET, clock=lambda: epoch(VECTOR_TIME))
    request = httpx.Request("GET", "https://api.qingcloud.com/iaas/", params=flatten_params(VECTOR_API_PARAMS))
    signed = next(auth.auth_flow(request))
    assert signed.url.query.decode() == (
        "access_key_id=QYACCESSKEYIDEXAMPLE&action=RunInstances&count=1&image_id=centos64x86a&instance_name=demo"
        "&instance_type=small_b&login_mode=passwd&login_passwd=QingCloud20130712&signature_method=HmacSHA256"
        "&signature_version=1&time_stamp=2013-08-27T14%3A30%3A10Z&version=1&vxnets.1=vxnet-0&zone=pek3a"
        "&signature=byjccvWIvAftaq%2BoublemagH3bYAlDWxxLFAzAsyslw%3D"
    )


def _random_params(rng: random.Random) -> dict[str, object]:
    alphabet = string.ascii_letters + string.digits + " +/=&?~-_.*'()!@#%中文é"
    params: dict[str, object] = {"action": "DescribeClusterJobs", "zone": rng.choice(["pek3a", "sh1a", "gd2"])}
    for _ in range(rng.randint(0, 8)):
        key = "".join(rng.choice(string.ascii_lowercase + "_") for _ in range(rng.randint(1, 12)))
        if rng.random() < 0.3:
            params[key] = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 10))) for _ in range(3)]
        else:
            params[key] = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
    return params


def test_random_requests_match_the_official_sdk_signer(monkeypatch):
    pytest.importorskip("qingcloud")
    import qingcloud.conn.auth as sdk_auth
    from qingcloud.conn.connection import HTTPRequest

    stamp = "2026-05-17T08:09:10Z"
    monkeypatch.setattr(sdk_auth, "get_ts", lambda: stamp)
    secret = "sdk-cross-check-secret/+="
    sdk = sdk_auth.QuerySignatureAuthHandler("api.qingcloud.com", "QYKEYCROSSCHECK", secret)
    ours = QingCloudSignatureV1("QYKEYCROSSCHECK", secret, clock=lambda: epoch(stamp))
    rng = random.Random(20260517)
    for _ in range(300):
        params = flatten_params(_random_params(rng))
        request = HTTPRequest("GET", "https", {}, "api.qingcloud.com", 443, "/iaas/", dict(params))
        sdk.add_auth(request)
        expected_query = request.path.split("?", 1)[1]
        assert ours.sign("GET", "/iaas/", params) == expected_query
        # and through httpx, which must not re-encode the signed query
        signed = next(ours.auth_flow(httpx.Request("GET", "https://api.qingcloud.com/iaas/", params=params)))
        assert signed.url.query.decode() == expected_query


def test_stale_auth_parameters_on_a_request_are_replaced():
    auth = QingCloudSignatureV1("QYACCESSKEYIDEXAMPLE", VECTOR_SECRET, clock=lambda: epoch(VECTOR_TIME))
    params = {
        **flatten_params(VECTOR_API_PARAMS),
        "time_stamp": "2001-01-01T00:00:00Z",
        "signature": "old",
        "access_key_id": "OTHER",
    }
    signed = next(auth.auth_flow(httpx.Request("GET", "https://api.qingcloud.com/iaas/", params=params)))
    assert signed.url.query.decode().endswith("&signature=" + quote_plus(VECTOR_SIGNATURE))
    assert signed.url.params.get_list("signature") == [VECTOR_SIGNATURE]


def test_only_get_is_signed():
    auth = QingCloudSignatureV1("QYACCESSKEYIDEXAMPLE", VECTOR_SECRET)
    with pytest.raises(ValueError, match="GET"):
        next(auth.auth_flow(httpx.Request("POST", "https://api.qingcloud.com/iaas/", data={"a": "b"})))


def test_repr_hides_the_credentials():
    auth = QingCloudSignatureV1("QYACCESSKEYIDEXAMPLE", VECTOR_SECRET)
    assert VECTOR_SECRET not in repr(auth) and "QYACCESSKEYIDEXAMPLE" not in repr(auth)


def _client(server, clock) -> ServiceClient:
    return ServiceClient(
        service="QingCloud",
        base_url=server.url,
        auth=QingCloudSignatureV1(ACCESS_KEY_ID, SECRET_ACCESS_KEY, clock=clock),
        allow_http=True,
        retry=RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.02),
    )


LIST_JOBS = ApiRequest(
    "GET", "/iaas/", params={"action": "DescribeClusterJobs", "app": "app-tg3lbp0a", "zone": "pek3a", "limit": "1"}
)


def test_each_attempt_is_signed_with_a_fresh_time_stamp(qc):
    ticks, start = iter(range(10)), int(time.time()) - 30
    client = _client(qc, lambda: start + 5 * next(ticks))  # 5 s later on every signing, whatever the real time
    qc.app.faults.update(script=["truncate"])  # the first answer is cut off: the call is retried
    qc.emulator.received.clear()  # it keeps the newest 500: counting from its length fails once it is full
    body = client.call(LIST_JOBS, decode_response)
    assert body["ret_code"] == 0
    stamps = [params["time_stamp"] for params in qc.emulator.received]
    assert len(stamps) == 2 and stamps[0] != stamps[1]
    assert epoch(stamps[1]) - epoch(stamps[0]) == 5


def test_a_clock_off_by_two_minutes_is_rejected_once_with_a_clock_hint(qc):
    client = _client(qc, lambda: time.time() - 120)
    served = qc.app.faults.served
    with pytest.raises(AuthenticationError) as info:
        client.call(LIST_JOBS, decode_response)
    assert qc.app.faults.served - served == 1, "an expired message is not retried"
    assert info.value.code == 1300 and "clock" in str(info.value)


def test_a_wrong_secret_is_rejected_with_1200(qc):
    client = ServiceClient(
        service="QingCloud",
        base_url=qc.url,
        auth=QingCloudSignatureV1(ACCESS_KEY_ID, "not-the-secret"),
        allow_http=True,
    )
    with pytest.raises(AuthenticationError) as info:
        client.call(LIST_JOBS, decode_response)
    assert info.value.code == 1200 and "signature not matched" in str(info.value)
