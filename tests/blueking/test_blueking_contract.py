"""BlueKing JOB contract: answers built from the upstream sources, read by the hook; the emulator answers alike.

Each fixture below is an answer the real services give, built field by field from the upstream code that
serializes it (cited above it). The hook must read each one; for each, the emulator's answer to the same
request must carry the same fields with the same JSON types (a null on either side matches any type: the
fields are nullable upstream). Sources: TencentBlueKing/bk-job (``src/backend/...``), TencentBlueKing/
blueking-apigateway-apisix (``src/apisix/plugins/...``) and TencentBlueKing/legacy-bk-paas
(``paas-ce/paas/esb/...``).
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from airflow_joblogs.emulators.blueking import (
    APP_CODE,
    APP_SECRET,
    BK_TOKEN,
    GUEST_BK_TOKEN,
    STAGE_PREFIX,
    BlueKingEmulator,
)
from airflow_joblogs.exceptions import (
    AuthenticationError,
    JobLogsError,
    NotFoundError,
    PermissionDeniedError,
    TransientError,
)
from airflow_joblogs.hooks.blueking import (
    BlueKingJobHook,
    _steps_from_status,
    decode_batch_logs,
    decode_envelope,
)
from airflow_joblogs.models import JobState

# -- bk-job: the API gateway v3 answers ---------------------------------------------------------------------
#: EsbResp (commons/esb-sdk/.../esb/model/EsbResp.java, @JsonInclude(NON_NULL): no message, no permission on
#: success) around EsbJobInstanceStatusV3DTO (job-execute/api-job-execute/.../model/esb/v3/
#: EsbJobInstanceStatusV3DTO.java; JobInstance extends EsbAppScopeDTO: bk_biz_id, bk_scope_type, bk_scope_id),
#: as EsbGetJobInstanceStatusV3ResourceImpl fills it with return_ip_result=true. Times: epoch milliseconds
#: (support-files/bk-api-gateway/v3/apidocs/en/get_job_instance_status.md.j2).
V3_STATUS: dict[str, Any] = {
    "code": 0,
    "result": True,
    "job_request_id": "3f5e1c0b9a8d7e6f",
    "data": {
        "finished": True,
        "job_instance": {
            "bk_biz_id": 1,
            "bk_scope_type": "biz",
            "bk_scope_id": "1",
            "job_instance_id": 100,
            "status": 4,
            "name": "deploy",
            "create_time": 1605064271000,
            "start_time": 1605064271000,
            "end_time": 1605064272000,
            "total_time": 1000,
        },
        "step_instance_list": [
            {
                "step_instance_id": 200,
                "name": "run script",
                "status": 4,
                "type": 1,
                "execute_count": 0,
                "start_time": 1605064271000,
                "end_time": 1605064272000,
                "total_time": 1000,
                "create_time": 1605064271000,
                "step_ip_result_list": [
                    {
                        "bk_host_id": 101,
                        "ip": "127.0.0.1",
                        "bk_cloud_id": 0,
                        "status": 104,
                        "tag": "",
                        "exit_code": 1,
                        "error_code": 0,
                        "start_time": 1605064271000,
                        "end_time": 1605064272000,
                        "total_time": 1000,
                    }
                ],
            }
        ],
    },
}

#: EsbIpLogsV3DTO with EsbScriptHostLogV3DTO entries (host_id is the compatible copy of bk_host_id), as
#: EsbBatchGetJobInstanceIpLogV3ResourceImpl.buildScriptLogs fills it; file_task_logs stays null (the inner DTOs
#: have no @JsonInclude: nulls are written).
V3_BATCH_SCRIPT: dict[str, Any] = {
    "code": 0,
    "result": True,
    "job_request_id": "3f5e1c0b9a8d7e70",
    "data": {
        "job_instance_id": 100,
        "step_instance_id": 200,
        "log_type": 1,
        "script_task_logs": [
            {
                "host_id": 101,
                "bk_host_id": 101,
                "bk_cloud_id": 0,
                "ip": "127.0.0.1",
                "ipv6": None,
                "log_content": "[2018-03-15 14:39:30][PID:56875] job_start\n",
            },
            {
                "host_id": 102,
                "bk_host_id": 102,
                "bk_cloud_id": 0,
                "ip": "127.0.0.2",
                "ipv6": None,
                "log_content": "[2018-03-15 14:39:30][PID:16789] job_start\n",
            },
        ],
        "file_task_logs": None,
    },
}

#: EsbIpDTO.fromHost (commons/esb-sdk/.../esb/model/job/EsbIpDTO.java): every field written
_SRC_IP = {
    "bk_host_id": 102,
    "bk_cloud_id": 0,
    "bk_cloud_name": "Default Area",
    "ip": "127.0.0.2",
    "ipv6": None,
    "bk_agent_id": None,
    "alive": 1,
}

#: EsbIpLogsV3DTO with EsbFileIpLogV3DTO entries and EsbFileLogV3DTO file logs (buildFileLogs,
#: toEsbFileLogV3DTO); apidocs/en/batch_get_job_instance_ip_log.md.j2 shows the same fields.
V3_BATCH_FILE: dict[str, Any] = {
    "code": 0,
    "result": True,
    "job_request_id": "3f5e1c0b9a8d7e71",
    "data": {
        "job_instance_id": 100,
        "step_instance_id": 201,
        "log_type": 2,
        "script_task_logs": None,
        "file_task_logs": [
            {
                "bk_host_id": 101,
                "bk_cloud_id": 0,
                "ip": "127.0.0.1",
                "file_logs": [
                    {
                        "mode": 1,
                        "src_ip": _SRC_IP,
                        "src_path": "/data/1.log",
                        "dest_ip": {**_SRC_IP, "bk_host_id": 101, "ip": "127.0.0.1"},
                        "dest_path": "/tmp/1.log",
                        "status": 4,
                        "log_content": "[2021-06-28 11:32:16] FileName: /tmp/1.log FileSize: 9.0 Bytes "
                        "State: dest agent success download file",
                        "size": "9.0 Bytes",
                        "speed": "1 KB/s",
                        "process": "100%",
                    }
                ],
            }
        ],
    },
}

#: EsbIpLogV3DTO (get_job_instance_ip_log, a script step): log_type, bk_host_id, bk_cloud_id, ip, log_content,
#: file_logs (null for a script step).
V3_IP_LOG: dict[str, Any] = {
    "code": 0,
    "result": True,
    "job_request_id": "3f5e1c0b9a8d7e72",
    "data": {
        "log_type": 1,
        "bk_host_id": 101,
        "bk_cloud_id": 0,
        "ip": "127.0.0.1",
        "log_content": "[2018-03-15 14:39:30][PID:56875] job_start\n",
        "file_logs": None,
    },
}

#: EsbResp.buildAuthFailResult (code ErrorCode.BK_PERMISSION_DENIED = 9900403, message from
#: i18n/exception/message_en.properties) with the OpenApiApplyPermissionDTO that
#: AuthServiceImpl.buildEsbAuthFailResp builds (EsbActionDTO, EsbRelatedResourceTypeDTO, EsbInstanceDTO) for
#: ExecuteAuthServiceImpl.authViewTaskInstance's view_history on the business; no data (NON_NULL).
PERMISSION_DENIED: dict[str, Any] = {
    "code": 9900403,
    "result": False,
    "job_request_id": "3f5e1c0b9a8d7e73",
    "message": "User (guest) permission not allowed, please confirm and apply permission in IAM and try again",
    "permission": {
        "system_id": "bk_job",
        "system_name": "Job",
        "actions": [
            {
                "id": "view_history",
                "name": "View History",
                "related_resource_types": [
                    {
                        "system_id": "bk_cmdb",
                        "system_name": "Cmdb",
                        "type": "biz",
                        "type_name": "Business",
                        "instances": [[{"id": "2", "type": "biz", "type_name": "Business", "name": "demo"}]],
                    }
                ],
            }
        ],
    },
}

#: ErrorCode.TASK_INSTANCE_NOT_EXIST (1244006) from EsbExceptionControllerAdvice.handleNotFoundException
NOT_FOUND: dict[str, Any] = {
    "code": 1244006,
    "result": False,
    "job_request_id": "3f5e1c0b9a8d7e74",
    "message": "Task instance does not exist",
}

# -- bk-job: the ESB v2 answers (through ESB, which adds request_id and fills result/data/message/code) ----------
#: EsbJobInstanceStatusDTO (model/esb/v2/EsbJobInstanceStatusDTO.java) with EsbIpStatusDTO hosts (ip,
#: bk_cloud_id, status: no exit code); times by LongTimestampSerializer ("yyyy-MM-dd HH:mm:ss", the user's time
#: zone, no offset), total_time by LongToDecimalJsonSerializer (seconds). ESB: legacy-bk-paas
#: esb/esb/channel/base.py (request_id), esb/esb/response.py format_resp_dict.
V2_STATUS: dict[str, Any] = {
    "code": 0,
    "result": True,
    "job_request_id": "3f5e1c0b9a8d7e75",
    "data": {
        "is_finished": True,
        "job_instance": {
            "bk_biz_id": 1,
            "bk_scope_type": "biz",
            "bk_scope_id": "1",
            "job_instance_id": 100,
            "bk_job_id": 1,
            "status": 3,
            "name": "deploy",
            "operator": "admin",
            "create_time": "2020-11-11 11:11:11",
            "start_time": "2020-11-11 11:11:11",
            "end_time": "2020-11-11 11:11:12",
            "total_time": 1.0,
            "start_way": 2,
            "current_step_instance_id": 200,
        },
        "blocks": [
            {
                "step_instances": [
                    {
                        "step_instance_id": 200,
                        "step_id": 1,
                        "name": "run script",
                        "type": 1,
                        "operator": "admin",
                        "status": 3,
                        "execute_count": 0,
                        "start_time": "2020-11-11 11:11:11",
                        "end_time": "2020-11-11 11:11:12",
                        "total_time": 1.0,
                        "create_time": "2020-11-11 11:11:11",
                        "pause": 0,
                        "step_ip_status": [{"ip": "127.0.0.1", "bk_cloud_id": 0, "status": 9}],
                    }
                ]
            }
        ],
    },
    "request_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90",
    "message": "",
}

#: EsbStepInstanceResultAndLog (model/esb/v2/EsbStepInstanceResultAndLog.java): ip_logs carry execute_count (the
#: legacy docs' retry_count), times and total_time serialized as in V2_STATUS.
V2_LOG: dict[str, Any] = {
    "code": 0,
    "result": True,
    "job_request_id": "3f5e1c0b9a8d7e76",
    "data": [
        {
            "is_finished": True,
            "step_instance_id": 200,
            "name": "run script",
            "status": 3,
            "step_results": [
                {
                    "ip_status": 9,
                    "tag": "",
                    "ip_logs": [
                        {
                            "start_time": "2020-11-11 11:11:11",
                            "end_time": "2020-11-11 11:11:12",
                            "total_time": 1.0,
                            "execute_count": 0,
                            "error_code": 0,
                            "exit_code": 0,
                            "log_content": "[2020-11-11 11:11:11][PID:56875] job_start\n",
                            "bk_cloud_id": 0,
                            "ip": "127.0.0.1",
                        }
                    ],
                }
            ],
        }
    ],
    "request_id": "a1b2c3d4e5f60718293a4b5c6d7e8f91",
    "message": "",
}

#: ESB's failed validation: CommonAPIError -> COMMON_ERROR 1306000 (esb/common/errors.py) with the validator's
#: message (esb/esb/bkauth/validators.py UserAuthValidator); ErrorCode.as_dict + request_id.
ESB_USER_NOT_VERIFIED: dict[str, Any] = {
    "result": False,
    "code": 1306000,
    "data": None,
    "message": "User authentication failed, please provide a valid user identity, such as bk_token, bk_username",
    "request_id": "a1b2c3d4e5f60718293a4b5c6d7e8f92",
}

#: ESB could not reach JOB: REQUEST_THIRD_PARTY_ERROR 1306201 (esb/common/errors.py, esb/esb/channel/base.py)
ESB_THIRD_PARTY: dict[str, Any] = {
    "result": False,
    "code": 1306201,
    "data": None,
    "message": "Component request third-party system [JOB] interface [get_job_instance_status] error: "
    "timed out, please try again later or contact component developer to handle this",
    "request_id": "a1b2c3d4e5f60718293a4b5c6d7e8f93",
}

# -- the API gateway's own answers (blueking-apigateway-apisix plugins/bk-core/errorx.lua) ----------------------
#: new_invalid_args + reason from editions/ee/plugins/bk-auth-verify/legacy-utils.lua verify_by_username,
#: refused by bk-auth-validate.lua validate_user; HTTP 400
GATEWAY_NOT_VERIFIED: dict[str, Any] = {
    "code": 1640001,
    "code_name": "INVALID_ARGS",
    "message": 'Parameters error [reason="user authentication failed, the user indicated by bk_username is not verified"]',
    "result": False,
    "data": None,
}
#: new_invalid_args + reason from bk-auth-verify/app-account-verifier.lua; HTTP 400
GATEWAY_WRONG_SECRET: dict[str, Any] = {
    **GATEWAY_NOT_VERIFIED,
    "message": 'Parameters error [reason="bk_app_code or bk_app_secret is incorrect"]',
}
#: new_app_no_permission; HTTP 403
GATEWAY_APP_NO_PERMISSION: dict[str, Any] = {
    "code": 1640301,
    "code_name": "APP_NO_PERMISSION",
    "message": "App has no permission to the resource",
    "result": False,
    "data": None,
}
#: new_api_not_found (+ method and path, as the error knowledge doc shows); HTTP 404
GATEWAY_API_NOT_FOUND: dict[str, Any] = {
    "code": 1640401,
    "code_name": "API_NOT_FOUND",
    "message": 'API not found [method="GET" path="/api/v3/get_job_instance_status"]',
    "result": False,
    "data": None,
}


def answer(body: dict[str, Any], status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"X-Bkapi-Request-Id": "gw-request-1"})


# -- the hook reads the real answers ------------------------------------------------------------------------------
def test_the_hook_reads_a_real_v3_status():
    body = decode_envelope(answer(V3_STATUS))
    status = BlueKingJobHook._to_status("gateway_v3", {"job_instance_id": 100}, body)
    assert status.state is JobState.FAILED and status.raw_status == 4 and status.name == "deploy"
    _, steps = _steps_from_status("gateway_v3", body)
    assert steps[0]["hosts"][0]["exit_code"] == 1 and steps[0]["hosts"][0]["status"] == 104


def test_the_hook_reads_a_real_v2_status():
    body = decode_envelope(answer(V2_STATUS))
    status = BlueKingJobHook._to_status("esb_v2", {"job_instance_id": 100}, body)
    assert status.state is JobState.SUCCESS and status.detail["finished"] is True
    _, steps = _steps_from_status("esb_v2", body)
    assert steps[0]["hosts"] == [{"ip": "127.0.0.1", "bk_cloud_id": 0, "status": 9}]


def test_the_hook_reads_real_batch_logs_of_script_and_file_steps():
    hosts = [{"bk_host_id": 101, "ip": "127.0.0.1", "bk_cloud_id": 0}, {"bk_host_id": 102, "ip": "127.0.0.2"}]
    entries = decode_batch_logs(answer(V3_BATCH_SCRIPT), hosts=hosts)
    assert [e["log_content"] for e in entries] == [
        e["log_content"] for e in V3_BATCH_SCRIPT["data"]["script_task_logs"]
    ]
    file_entries = decode_batch_logs(answer(V3_BATCH_FILE), hosts=hosts)
    assert file_entries[0]["file_logs"][0]["status"] == 4 and file_entries[1] == {}, "a host left out has no log"
    step = {"step_instance_id": 201, "name": "push", "status": 3, "hosts": hosts}
    chunks, volume = BlueKingJobHook._batch_chunks(
        {"job_instance_id": 100}, 1, 1, step, {"step_instance_id": 201}, hosts, file_entries
    )
    assert chunks[0].text.startswith("[2021-06-28 11:32:16] FileName: /tmp/1.log") and chunks[1].text == ""
    assert volume == len(chunks[0].text)


def test_the_hook_reads_a_real_ip_log():
    assert decode_envelope(answer(V3_IP_LOG))["data"]["log_content"].endswith("job_start\n")


def test_a_real_permission_denial_says_what_to_apply_for():
    with pytest.raises(PermissionDeniedError) as info:
        decode_envelope(answer(PERMISSION_DENIED))
    assert str(info.value).startswith(
        "[BlueKing JOB] User (guest) permission not allowed, please confirm and apply permission in IAM and try "
        "again (apply in IAM for: View History [view_history] on Business demo (2); system Job)"
    )
    assert info.value.request_id == "gw-request-1" and info.value.details["permission"]["system_id"] == "bk_job"


@pytest.mark.parametrize(
    ("body", "status", "error", "words"),
    [
        (NOT_FOUND, 200, NotFoundError, "Task instance does not exist"),
        (ESB_USER_NOT_VERIFIED, 200, AuthenticationError, "set bk_token"),
        (ESB_THIRD_PARTY, 200, TransientError, "third-party system [JOB]"),
        (GATEWAY_NOT_VERIFIED, 400, AuthenticationError, "exempts from user verification"),
        (GATEWAY_WRONG_SECRET, 400, AuthenticationError, "bk_app_secret is incorrect"),
        (GATEWAY_APP_NO_PERMISSION, 403, PermissionDeniedError, "Cloud API permissions"),
        (GATEWAY_API_NOT_FOUND, 404, JobLogsError, "gateway base with its stage"),
    ],
    ids=["not-found", "esb-user", "esb-third-party", "gw-not-verified", "gw-secret", "gw-app-perm", "gw-api-404"],
)
def test_real_errors_get_their_meaning(body, status, error, words):
    with pytest.raises(JobLogsError) as info:
        decode_envelope(answer(body, status))
    assert type(info.value) is error and words in str(info.value)


# -- the emulator answers with the same fields and types --------------------------------------------------------
def assert_same_shape(real: Any, emulated: Any, path: str = "$") -> None:
    if real is None or emulated is None:
        return  # nullable upstream
    if isinstance(real, bool) or isinstance(emulated, bool):
        assert isinstance(real, bool) and isinstance(emulated, bool), f"{path}: {real!r} vs {emulated!r}"
    elif isinstance(real, int) and not isinstance(real, float):
        assert isinstance(emulated, int), f"{path}: an integer upstream, {emulated!r} here"
    elif isinstance(real, float):
        assert isinstance(emulated, int | float), f"{path}: a number upstream, {emulated!r} here"
    elif isinstance(real, str):
        assert isinstance(emulated, str), f"{path}: a string upstream, {emulated!r} here"
    elif isinstance(real, dict):
        assert isinstance(emulated, dict), f"{path}: an object upstream"
        assert set(emulated) == set(real), f"{path}: fields {sorted(set(emulated) ^ set(real))} differ"
        for key in real:
            assert_same_shape(real[key], emulated[key], f"{path}.{key}")
    elif isinstance(real, list):
        assert isinstance(emulated, list), f"{path}: a list upstream"
        for index, item in enumerate(emulated):
            assert_same_shape(real[0], item, f"{path}[{index}]")


@pytest.fixture(scope="module")
def emulator():
    from airflow_joblogs.emulators import EmulatorServer

    with EmulatorServer(BlueKingEmulator(speed=20.0, large_hosts=4, large_log_bytes=4096).app()) as server:
        for job in (1001, 1002):  # start the jobs and let them end
            gateway(server, "GET", "get_job_instance_status", params={"bk_biz_id": 2, "job_instance_id": job})
        time.sleep(0.6)
        yield server


def gateway(server, method: str, api: str, token: str = BK_TOKEN, **kwargs: Any) -> httpx.Response:
    header = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_token": token}
    return httpx.request(
        method,
        f"{server.url}{STAGE_PREFIX}/api/v3/{api}",
        headers={"X-Bkapi-Authorization": json.dumps(header)},
        **kwargs,
    )


def esb(server, api: str, **body: Any) -> httpx.Response:
    credentials = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_token": BK_TOKEN}
    return httpx.post(f"{server.url}/api/c/compapi/v2/job/{api}/", json={**credentials, **body})


SCOPE = {"bk_scope_type": "biz", "bk_scope_id": "2"}


def test_the_emulators_v3_status_has_the_real_shape(emulator):
    params = {**SCOPE, "job_instance_id": 1002, "return_ip_result": "true"}
    reply = gateway(emulator, "GET", "get_job_instance_status", params=params)
    assert reply.status_code == 200 and reply.headers["X-Bkapi-Request-Id"]
    assert_same_shape(V3_STATUS, reply.json())
    assert isinstance(reply.json()["data"]["job_instance"]["create_time"], int), "epoch milliseconds"


def test_the_emulators_batch_logs_have_the_real_shape(emulator):
    job = 1001
    script = {**SCOPE, "job_instance_id": job, "step_instance_id": 10011, "host_id_list": [100001, 100002]}
    assert_same_shape(V3_BATCH_SCRIPT, gateway(emulator, "POST", "batch_get_job_instance_ip_log", json=script).json())
    files = {**script, "step_instance_id": 10012}
    assert_same_shape(V3_BATCH_FILE, gateway(emulator, "POST", "batch_get_job_instance_ip_log", json=files).json())


def test_the_emulators_ip_log_has_the_real_shape(emulator):
    params = {**SCOPE, "job_instance_id": 1001, "step_instance_id": 10011, "bk_host_id": 100001}
    assert_same_shape(V3_IP_LOG, gateway(emulator, "GET", "get_job_instance_ip_log", params=params).json())


def test_the_emulators_errors_have_the_real_shape(emulator):
    params = {**SCOPE, "job_instance_id": 1001}
    denied = gateway(emulator, "GET", "get_job_instance_status", token=GUEST_BK_TOKEN, params=params)
    assert denied.status_code == 200
    assert_same_shape(PERMISSION_DENIED, denied.json())
    assert denied.json()["permission"] == PERMISSION_DENIED["permission"]
    missing = gateway(emulator, "GET", "get_job_instance_status", params={**params, "job_instance_id": 9})
    assert_same_shape(NOT_FOUND, missing.json())
    header = {"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": "admin"}
    unverified = httpx.get(
        f"{emulator.url}{STAGE_PREFIX}/api/v3/get_job_instance_status",
        params=params,
        headers={"X-Bkapi-Authorization": json.dumps(header)},
    )
    assert unverified.status_code == 400 and unverified.json() == GATEWAY_NOT_VERIFIED
    wrong = httpx.get(
        f"{emulator.url}{STAGE_PREFIX}/api/v3/get_job_instance_status",
        params=params,
        headers={"X-Bkapi-Authorization": json.dumps({**header, "bk_app_secret": "x", "bk_token": BK_TOKEN})},
    )
    assert wrong.status_code == 400 and wrong.json() == GATEWAY_WRONG_SECRET
    unknown = httpx.get(f"{emulator.url}/api/v3/get_job_instance_status", params=params)
    assert unknown.status_code == 404 and unknown.json() == GATEWAY_API_NOT_FOUND


def test_the_emulators_esb_answers_have_the_real_shape(emulator):
    assert_same_shape(V2_STATUS, esb(emulator, "get_job_instance_status", bk_biz_id=2, job_instance_id=1001).json())
    log = esb(emulator, "get_job_instance_log", bk_biz_id=2, job_instance_id=1001).json()
    assert_same_shape(V2_LOG, log)
    assert len(log["data"][0]["step_results"][0]["ip_logs"][0]["start_time"]) == len("2020-11-11 11:11:11")
    unverified = httpx.post(
        f"{emulator.url}/api/c/compapi/v2/job/get_job_instance_status/",
        json={"bk_app_code": APP_CODE, "bk_app_secret": APP_SECRET, "bk_username": "admin", "bk_biz_id": 2},
    ).json()
    assert_same_shape(ESB_USER_NOT_VERIFIED, unverified)
    assert unverified["message"] == ESB_USER_NOT_VERIFIED["message"]


def test_the_gateways_rate_limit_reset_sets_the_wait():
    """bk-rate-limit (apisix plugins/bk-rate-limit/init.lua) answers 429 with X-Bkapi-RateLimit-Reset and no
    Retry-After; errorx.lua's RATE_LIMIT_RESTRICTION body (1642902)."""
    body = {
        "code": 1642902,
        "code_name": "RATE_LIMIT_RESTRICTION",
        "message": "API rate limit exceeded by stage strategy",
        "result": False,
        "data": None,
    }
    headers = {"X-Bkapi-RateLimit-Limit": "10", "X-Bkapi-RateLimit-Remaining": "0", "X-Bkapi-RateLimit-Reset": "7"}
    with pytest.raises(TransientError) as info:
        decode_envelope(httpx.Response(429, json=body, headers=headers))
    assert info.value.retry_after == 7.0
