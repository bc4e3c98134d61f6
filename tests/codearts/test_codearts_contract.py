"""The official CodeArts Build SDK (``huaweicloudsdkcodeartsbuild`` on ``huaweicloudsdkcore``) against the emulator.

The SDK signs its own requests (``SDK-HMAC-SHA256`` with ``BasicCredentials(ak, sk, project_id)``): the
emulator's signature check must accept them. The emulator's answers must fill the SDK's response models
with what a real answer carries. Gateway errors must reach the SDK's error handler as the exception class
and ``error_code`` / ``request_id`` a real gateway produces.

The endpoint is ``http://127.0.0.1:PORT``: the SDK keeps an endpoint's ``http`` scheme (``ClientBuilder.build``
prefixes ``https://`` only to an endpoint without a scheme), so no TLS is involved;
``HttpConfig.ignore_ssl_verification`` is set as one would for a test endpoint with a self-signed certificate.
"""

from __future__ import annotations

import time

import httpx
import pytest

pytest.importorskip(
    "huaweicloudsdkcodeartsbuild.v3.model.download_build_real_time_log_request",
    reason="the SDK release resolved for the Airflow 3.0 floor predates the real-time log API (checked on 3.3)",
)

from huaweicloudsdkcodeartsbuild.v3 import (
    CodeArtsBuildClient,
    DownloadBuildRealTimeLogRequest,
    DownloadBuildRealTimeLogResponse,
    ShowActionIInfoRequest,
    ShowBuildDetailsRequest,
    ShowBuildInfoRecordRequest,
    ShowBuildRecordFullStagesRequest,
    ShowJobBuildRecordDetailRequest,
)
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException, ServerResponseException
from huaweicloudsdkcore.http.http_config import HttpConfig

from airflow_joblogs.emulators.codearts import (
    ACCESS_KEY,
    FAILING_JOB,
    PROJECT_ID,
    SECRET_KEY,
    SECURITY_TOKEN,
    TEMP_ACCESS_KEY,
    TEMP_SECRET_KEY,
    WEB_JOB,
)


def sdk_client(url: str, ak: str = ACCESS_KEY, sk: str = SECRET_KEY, security_token: str | None = None):
    config = HttpConfig.get_default_config()
    config.ignore_ssl_verification = True
    config.timeout = (5, 10)
    credentials = BasicCredentials(ak, sk, PROJECT_ID)
    if security_token:
        credentials = credentials.with_security_token(security_token)
    return (
        CodeArtsBuildClient.new_builder()
        .with_http_config(config)
        .with_credentials(credentials)
        .with_endpoint(url)
        .build()
    )


def finished(client, job_id: str, build_no: int, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = client.show_build_details(ShowBuildDetailsRequest(job_id=job_id, build_no=build_no))
        if not answer.result.building and answer.result.build_result:
            return answer
        time.sleep(0.05)
    raise AssertionError(f"build {job_id} #{build_no} did not finish")


def step_log(client, job_id: str, build_no: int, step_id: int, start_offset: int = 0):
    """``GET /v1/log/task/step`` through the SDK's own signing and response handling.

    The installed SDK has no request class for this API; its page ("Obtaining Build Action Run Logs")
    documents the query of ``/v1/log/stage/page`` plus ``step_id`` and ``size``, and the same ``result``
    (``has_more``, ``start_offset``, ``end_offset``, ``log``, ``location``), so the SDK's request description of
    that API is reused with the path and the two parameters added.
    """
    request = ShowActionIInfoRequest(job_id=job_id, build_no=build_no, start_offset=start_offset, end_offset=0)
    http_info = CodeArtsBuildClient._show_action_i_info_http_info(request)
    http_info["resource_path"] = "/v1/log/task/step"
    http_info["query_params"] = [*http_info["query_params"], ("step_id", step_id), ("size", "1000")]
    http_info["response_type"] = "DownloadBuildRealTimeLogResponse"
    return client._call_api(**http_info)


def assert_log_page(result) -> None:
    for name in ("has_more", "start_offset", "end_offset", "log", "location"):
        assert getattr(result, name) is not None, name
    assert isinstance(result.has_more, bool)
    assert int(result.end_offset) > int(result.start_offset) >= 0


def test_sdk_signed_status_requests_are_accepted_and_parsed(cb):
    client = sdk_client(cb.url)
    details = finished(client, WEB_JOB, 7)
    assert details.status == "success"
    assert (details.result.building, details.result.build_result, details.result.region) == (
        False,
        "SUCCESS",
        "cn-north-4",
    )
    failed = finished(client, FAILING_JOB, 12)
    assert failed.result.build_result == "FAILURE"

    record = client.show_job_build_record_detail(ShowJobBuildRecordDetailRequest(job_id=FAILING_JOB, build_no=12))
    assert record.status == "success"
    info = record.result
    for name in ("id", "build_record_id", "build_no", "status", "start_time", "finish_time", "duration", "err_msg"):
        assert getattr(info, name) is not None, name
    assert info.build_no == 12 and isinstance(info.duration, int)

    stages = client.show_build_record_full_stages(ShowBuildRecordFullStagesRequest(record_id=info.build_record_id))
    by_id = stages.result.build_stages
    assert set(by_id) == {"1", "2", "3", "4"}
    three = by_id["3"]
    for name in ("id", "status", "status_code", "display_name", "execution_stage_name", "node_id", "sequence"):
        assert getattr(three, name) is not None, name
    assert (three.status, three.sequence) == ("FAILED", 3)

    history = client.show_build_info_record(ShowBuildInfoRecordRequest(job_id=WEB_JOB, build_no=7)).result
    assert (history.number, history.job_running_status, history.state) == (7, "Finished", "SUCCESS")
    assert isinstance(history.start_time, int)


def test_sdk_real_time_log_pages_join_up_to_the_whole_log(cb):
    client = sdk_client(cb.url)
    finished(client, WEB_JOB, 7)
    source = cb.emulator.builds[(WEB_JOB, 7)].full_log
    text, offset = b"", 0
    while True:
        answer = client.download_build_real_time_log(
            DownloadBuildRealTimeLogRequest(
                job_id=WEB_JOB, build_no=7, start_offset=offset, end_offset=0, sort="AES", size="5"
            )
        )
        assert isinstance(answer, DownloadBuildRealTimeLogResponse) and answer.status == "success"
        assert_log_page(answer.result)
        assert int(answer.result.start_offset) == offset
        text += answer.result.log.encode()
        offset = int(answer.result.end_offset)
        if not answer.result.has_more:
            break
    assert text == source


def test_sdk_real_time_log_without_the_optional_offsets_reads_from_the_start(cb):
    # start_offset and end_offset are "Mandatory: No" for this API (only); the SDK leaves them out when unset
    client = sdk_client(cb.url)
    finished(client, WEB_JOB, 7)
    answer = client.download_build_real_time_log(
        DownloadBuildRealTimeLogRequest(job_id=WEB_JOB, build_no=7, size="1000")
    )
    assert_log_page(answer.result)
    assert int(answer.result.start_offset) == 0 and answer.result.has_more is False
    assert answer.result.log.encode() == cb.emulator.builds[(WEB_JOB, 7)].full_log


def test_sdk_step_log_and_finished_build_log_are_parsed(cb):
    client = sdk_client(cb.url)
    finished(client, FAILING_JOB, 12)
    build = cb.emulator.builds[(FAILING_JOB, 12)]
    step = step_log(client, FAILING_JOB, 12, step_id=3)
    assert isinstance(step, DownloadBuildRealTimeLogResponse) and step.status == "success"
    assert_log_page(step.result)
    assert step.result.log.encode() == build.step_logs[2] and "This action failed." in step.result.log

    whole = client.show_action_i_info(
        ShowActionIInfoRequest(job_id=FAILING_JOB, build_no=12, start_offset=0, end_offset=0)
    )
    assert_log_page(whole.result)
    assert whole.result.log.encode() == b"".join(build.step_logs[:3])  # action 4 never ran


def test_sdk_temporary_keys_sign_the_security_token(cb):
    client = sdk_client(cb.url, TEMP_ACCESS_KEY, TEMP_SECRET_KEY, security_token=SECURITY_TOKEN)
    assert client.show_build_details(ShowBuildDetailsRequest(job_id=WEB_JOB, build_no=7)).result.region == "cn-north-4"


def test_a_bad_signature_is_the_gateway_error_the_sdk_maps_to_a_client_error(cb):
    client = sdk_client(cb.url, sk="not-the-secret-key")
    with pytest.raises(ClientRequestException) as info:
        client.show_build_details(ShowBuildDetailsRequest(job_id=WEB_JOB, build_no=7))
    error = info.value
    assert (error.status_code, error.error_code) == (401, "APIGW.0301")
    assert error.error_msg.startswith("Incorrect IAM authentication information: verify aksk signature fail")
    assert error.request_id and len(error.request_id) == 32


def test_gateway_errors_carry_the_request_id_in_the_body(cb):
    answer = httpx.get(f"{cb.url}/v1/job/{WEB_JOB}/7/build-info")  # no signature at all
    body = answer.json()
    assert answer.status_code == 401 and body["error_code"] == "APIGW.0301"
    assert body["request_id"] == answer.headers["X-Request-Id"]


def test_an_api_that_does_not_exist_is_the_gateway_404_before_authentication(cb):
    client = sdk_client(cb.url)
    http_info = CodeArtsBuildClient._show_build_details_http_info(ShowBuildDetailsRequest(job_id=WEB_JOB, build_no=7))
    with pytest.raises(ClientRequestException) as info:
        client._call_api(**{**http_info, "resource_path": "/v1/job/{job_id}/{build_no}/build-details"})
    assert (info.value.status_code, info.value.error_code) == (404, "APIGW.0101")
    assert info.value.error_msg == "The API does not exist or has not been published in the environment."
    # the path exists, the method does not; no credentials are looked at
    answer = httpx.post(f"{cb.url}/v1/job/{WEB_JOB}/7/build-info")
    assert answer.status_code == 404
    assert answer.json()["error_code"] == "APIGW.0101" and answer.json()["error_msg"] == "The API does not exist."


def test_a_service_error_is_a_server_error_for_the_sdk(cb):
    cb.emulator.set_knobs(log_script=["busy"])
    client = sdk_client(cb.url)
    with pytest.raises(ServerResponseException) as info:
        client.download_build_real_time_log(
            DownloadBuildRealTimeLogRequest(job_id=WEB_JOB, build_no=7, start_offset=0, end_offset=0, size="1000")
        )
    assert (info.value.status_code, info.value.error_code) == (500, "CB.00060100")


def test_an_unknown_access_key_is_the_gateway_message_for_it(cb):
    client = sdk_client(cb.url, ak="EMULATORUNKNOWNAK001")
    with pytest.raises(ClientRequestException) as info:
        client.show_build_details(ShowBuildDetailsRequest(job_id=WEB_JOB, build_no=7))
    assert (info.value.status_code, info.value.error_code) == (401, "APIGW.0301")
    assert info.value.error_msg == (
        "Incorrect IAM authentication information: Get secretKey failed,ak:EMULATORUNKNOWNAK001,err:ak not exist"
    )
