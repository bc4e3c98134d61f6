"""The checks every HTTP service's decoder starts with, written once (``answer_object``): throttling and server
errors are transient and keep what the body says, a body that is not a JSON object is transient, whatever the
service. Recorded answers are fed straight to the decoders (no server)."""

from __future__ import annotations

import httpx
import pytest

from airflow_joblogs.exceptions import TransientError
from airflow_joblogs.hooks.blueking import decode_envelope
from airflow_joblogs.hooks.codearts import decode_result

#: (decoder, a 429 body as the service's gateway sends it, its code, the request id header): the bodies the
#: emulators send, after their sources (BlueKing: blueking-apigateway-apisix errorx.lua, the stage strategy's
#: RATE_LIMIT_RESTRICTION; Huawei Cloud API Gateway's APIGW.0308, see docs/emulators/codearts.rst)
SERVICES = {
    "blueking": (
        decode_envelope,
        {
            "code_name": "RATE_LIMIT_RESTRICTION",
            "code": 1642902,
            "message": "API rate limit exceeded by stage strategy",
            "result": False,
            "data": None,
        },
        1642902,
        "X-Bkapi-Request-Id",
    ),
    "codearts": (
        decode_result,
        {
            "error_code": "APIGW.0308",
            "error_msg": "The throttling threshold has been reached: policy user over ratelimit, limit:100, time:1 minute",
            "request_id": "r-1",
        },
        "APIGW.0308",
        "X-Request-Id",
    ),
}


@pytest.mark.parametrize("service", SERVICES)
def test_throttling_is_transient_and_says_what_the_gateway_said(service):
    decode, body, code, header = SERVICES[service]
    answer = httpx.Response(429, json=body, headers={"Retry-After": "7", header: "req-429"})
    with pytest.raises(TransientError) as error:
        decode(answer)
    assert error.value.retryable and error.value.code == code and error.value.retry_after == 7.0
    assert error.value.request_id == "req-429" and str(body.get("message") or body.get("error_msg")) in str(error.value)


@pytest.mark.parametrize("service", SERVICES)
@pytest.mark.parametrize(
    ("status", "content"),
    [(502, b"<html>bad gateway</html>"), (503, b""), (200, b"[1, 2]"), (200, b'{"cut off'), (200, b"")],
    ids=["5xx-html", "5xx-empty", "not-an-object", "cut-off", "empty"],
)
def test_server_errors_and_bodies_that_are_not_an_object_are_transient(service, status, content):
    decode = SERVICES[service][0]
    with pytest.raises(TransientError) as error:
        decode(httpx.Response(status, content=content))
    assert error.value.retryable and error.value.status_code == status
