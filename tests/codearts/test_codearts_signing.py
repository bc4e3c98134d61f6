"""SDK-HMAC-SHA256: the published test vector, and random requests cross-checked with the official SDK signer."""

from __future__ import annotations

import hashlib
import json
import random
import string

import httpx
import pytest

from airflow_joblogs.auth import huawei
from airflow_joblogs.auth.huawei import (
    HuaweiAkSkAuth,
    HuaweiIamPasswordAuth,
    HuaweiTokenAuth,
    canonical_request,
    parse_query,
    payload_hash,
    sign,
    signature,
    signed_header_names,
    string_to_sign,
)

VECTOR_URL = (
    "https://cloudbuild-ext.cn-north-4.myhuaweicloud.com/v1/log/task/step"
    "?job_id=901878212b1a49be9c1a1054c272762a&build_no=5&step_id=3&start_offset=0&end_offset=0&size=1000"
)
VECTOR_HEADERS = {
    "Content-Type": "application/json",
    "X-Project-Id": "0123456789abcdef0123456789abcdef",
    "X-Sdk-Date": "20240101T000000Z",
    "Host": "cloudbuild-ext.cn-north-4.myhuaweicloud.com",
}
VECTOR_CANONICAL_SHA256 = "225e448c10ccdadd195b2280dac56f18a36ab97a006bd5227e5a4ac6415f5064"
VECTOR_SIGNATURE = "f0fa19992a1b1762435b4c32670dec2e92681f8e8a733ae36183a7d4589c106b"


def run_auth(auth: httpx.Auth, request: httpx.Request) -> httpx.Request:
    flow = auth.sync_auth_flow(request)
    return next(flow)


def test_published_vector_canonical_request_and_signature():
    url = httpx.URL(VECTOR_URL)
    names = signed_header_names(VECTOR_HEADERS)
    assert names == ["content-type", "host", "x-project-id", "x-sdk-date"]
    canonical = canonical_request("GET", url.path, parse_query(url.query), VECTOR_HEADERS, names, payload_hash(b"", {}))
    assert canonical == (
        "GET\n/v1/log/task/step/\n"
        "build_no=5&end_offset=0&job_id=901878212b1a49be9c1a1054c272762a&size=1000&start_offset=0&step_id=3\n"
        "content-type:application/json\nhost:cloudbuild-ext.cn-north-4.myhuaweicloud.com\n"
        "x-project-id:0123456789abcdef0123456789abcdef\nx-sdk-date:20240101T000000Z\n\n"
        "content-type;host;x-project-id;x-sdk-date\n"
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert hashlib.sha256(canonical.encode()).hexdigest() == VECTOR_CANONICAL_SHA256
    assert signature("SKEXAMPLE", string_to_sign("20240101T000000Z", canonical)) == VECTOR_SIGNATURE
    assert sign(
        access_key="AKEXAMPLE",
        secret_key="SKEXAMPLE",
        method="GET",
        path=url.path,
        query_pairs=parse_query(url.query),
        headers=VECTOR_HEADERS,
    ) == (
        "SDK-HMAC-SHA256 Access=AKEXAMPLE, SignedHeaders=content-type;host;x-project-id;x-sdk-date, "
        f"Signature={VECTOR_SIGNATURE}"
    )


def test_published_vector_through_the_httpx_auth(monkeypatch):
    monkeypatch.setattr(huawei, "sdk_date", lambda now=None: "20240101T000000Z")
    request = httpx.Request("GET", VECTOR_URL, headers={"Content-Type": "application/json"})
    signed = run_auth(HuaweiAkSkAuth("AKEXAMPLE", "SKEXAMPLE", "0123456789abcdef0123456789abcdef"), request)
    assert signed.headers["X-Sdk-Date"] == "20240101T000000Z"
    assert signed.headers["Authorization"].endswith(f"Signature={VECTOR_SIGNATURE}")
    # what is sent is the canonical query, so the gateway canonicalizes exactly what was signed
    assert signed.url.query == (
        b"build_no=5&end_offset=0&job_id=901878212b1a49be9c1a1054c272762a&size=1000&start_offset=0&step_id=3"
    )


def test_every_attempt_gets_a_fresh_date_and_signature(monkeypatch):
    dates = iter(["20240101T000000Z", "20240101T000003Z"])
    monkeypatch.setattr(huawei, "sdk_date", lambda now=None: next(dates))
    seen: list[tuple[str, str]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.headers["X-Sdk-Date"], request.headers["Authorization"]))
        return httpx.Response(503 if len(seen) == 1 else 200, json={})

    with httpx.Client(
        transport=httpx.MockTransport(handler), auth=HuaweiAkSkAuth("AK", "SK", "p" * 32), base_url="https://h"
    ) as client:
        for _ in range(2):  # as the retry loop does: one request per attempt
            client.get("/v1/log/x/1/real-time-log", params={"start_offset": 0})
    assert [d for d, _ in seen] == ["20240101T000000Z", "20240101T000003Z"]
    assert seen[0][1] != seen[1][1]


def _random_text(rng: random.Random, alphabet: str, low: int = 1, high: int = 12) -> str:
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


PATH_CHARS = string.ascii_letters + string.digits + "-_.~!$&'()*+,;=:@% 中文é"
QUERY_CHARS = string.ascii_letters + string.digits + "-_.~ +/?=&%#中é"


def _random_request(rng: random.Random) -> tuple[str, str, list[tuple[str, str]], dict[str, str], bytes]:
    method = rng.choice(["GET", "POST", "PUT", "DELETE"])
    path = "/" + "/".join(_random_text(rng, PATH_CHARS) for _ in range(rng.randint(1, 4)))
    if rng.random() < 0.3:
        path += "/"
    pairs = [(_random_text(rng, QUERY_CHARS), _random_text(rng, QUERY_CHARS, 0)) for _ in range(rng.randint(0, 5))]
    headers = {"Content-Type": "application/json"}
    for _ in range(rng.randint(0, 4)):
        name = "X-" + _random_text(rng, string.ascii_letters + "-_", 2, 10)
        headers[name] = "  " + _random_text(rng, string.ascii_letters + string.digits + " ;,=", 1, 20) + " "
    body = b"" if method in ("GET", "DELETE") else json.dumps({"k": _random_text(rng, QUERY_CHARS, 0)}).encode()
    return method, path, pairs, headers, body


def test_random_requests_match_the_official_sdk_signer():
    pytest.importorskip("huaweicloudsdkcore")
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    class Credentials:
        ak = "HPUAEXAMPLEACCESSKEY"
        sk = "example/secret+key=with~symbols"

    rng = random.Random(20240101)
    for _ in range(300):
        method, path, pairs, headers, body = _random_request(rng)
        request = httpx.Request(
            method,
            "https://cloudbuild-ext.cn-north-4.myhuaweicloud.com" + path,
            params=pairs,
            headers=headers,
            content=body or None,
        )
        signed = run_auth(HuaweiAkSkAuth(Credentials.ak, Credentials.sk, "0123456789abcdef0123456789abcdef"), request)

        # the SDK signs the same request as it went out: the raw path, the (decoded) query pairs, the headers
        sent_headers = {k: v for k, v in signed.headers.items() if k.lower() not in ("authorization", "connection")}
        sdk_request = SdkRequest(
            method=method,
            schema="https",
            host=signed.url.host,
            resource_path=signed.url.raw_path.split(b"?")[0].decode(),
            query_params=parse_query(signed.url.query),
            header_params=dict(sent_headers),
            body=body,
        )
        expected = Signer(Credentials()).sign(sdk_request).header_params["Authorization"]
        assert signed.headers["Authorization"] == expected, (method, path, pairs, headers)


def test_unsigned_payload_header_replaces_the_body_hash():
    pytest.importorskip("huaweicloudsdkcore")
    from huaweicloudsdkcore.sdk_request import SdkRequest
    from huaweicloudsdkcore.signer.signer import Signer

    class Credentials:
        ak, sk = "AK", "SK"

    headers = {
        "Content-Type": "application/octet-stream",
        "X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD",
        "X-Sdk-Date": "20240101T000000Z",
        "Host": "h.example.com",
    }
    ours = sign(
        access_key="AK",
        secret_key="SK",
        method="PUT",
        path="/upload",
        query_pairs=[],
        headers=headers,
        body=b"\x00\x01",
    )
    sdk = SdkRequest(
        "PUT", "https", "h.example.com", "/upload", query_params=[], header_params=dict(headers), body=b"\x00\x01"
    )
    assert ours == Signer(Credentials()).sign(sdk).header_params["Authorization"]


def test_underscore_and_hop_by_hop_headers_are_not_signed(monkeypatch):
    monkeypatch.setattr(huawei, "sdk_date", lambda now=None: "20240101T000000Z")
    request = httpx.Request("GET", "https://h/p", headers={"X_Custom": "1", "Connection": "keep-alive", "X-Trace": "a"})
    header = run_auth(HuaweiAkSkAuth("AK", "SK"), request).headers["Authorization"]
    assert "SignedHeaders=host;x-sdk-date;x-trace," in header


def test_temporary_keys_send_the_security_token(monkeypatch):
    request = httpx.Request("GET", "https://h/p")
    signed = run_auth(HuaweiAkSkAuth("AK", "SK", "p" * 32, security_token="STS-TOKEN-VALUE"), request)
    assert signed.headers["X-Security-Token"] == "STS-TOKEN-VALUE"
    assert "x-security-token" in signed.headers["Authorization"]


def test_auth_reprs_hide_secrets():
    texts = [
        repr(HuaweiAkSkAuth("AKVISIBLE", "SK-HIDDEN-VALUE", security_token="STS-HIDDEN-VALUE")),
        repr(HuaweiTokenAuth("TOKEN-HIDDEN-VALUE")),
        repr(
            HuaweiIamPasswordAuth(
                iam_url="https://iam", domain_name="d", user_name="u", password="PW-HIDDEN-VALUE", project_id="p"
            )
        ),
    ]
    for text in texts:
        assert "HIDDEN" not in text, text
    assert "AKVISIBLE" in texts[0]
