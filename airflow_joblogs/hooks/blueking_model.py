"""Tencent BlueKing JOB: the job vocabulary (status tables and their names), identifier and parameter checks,
the step/host model both API styles are read into, failure extraction and readable log lines.

Plain Python, no HTTP client: the BlueKing sensor imports this (and so stays cheap to import when a DAG file is
parsed); the hook in :mod:`airflow_joblogs.hooks.blueking` speaks to the service and re-exports every name.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from airflow_joblogs.exceptions import InvalidParameterError
from airflow_joblogs.models import FailedUnit, JobState, JobStatus, LazyLogChunk, LogChunk
from airflow_joblogs.timestamps import esb_v2_from_ms
from airflow_joblogs.validation import as_int

SERVICE = "BlueKing JOB"
API_STYLES = ("esb_v2", "gateway_v3")
SCOPE_TYPES = ("biz", "biz_set")
#: the gateway accepts at most this many hosts per batch_get_job_instance_ip_log call
MAX_HOSTS_PER_BATCH = 500
#: batch_get_job_instance_ip_log calls in flight at once when fetching many hosts' logs
DEFAULT_LOG_CONCURRENCY = 4
MAX_LOG_CONCURRENCY = 16

JOB_STATUS_NAMES = {
    1: "not executed",
    2: "running",
    3: "success",
    4: "failed",
    5: "skipped",
    6: "error ignored",
    7: "waiting for user",
    8: "manually ended",
    9: "abnormal",
    10: "force-terminating",
    11: "force-terminated",
    12: "force-terminate failed",  # legacy ESB docs only; not in bk-job 3.x RunStatusEnum
    13: "termination confirmed",
    14: "abandoned",
    15: "rolling, waiting",
}
SUCCESS_STATUSES = frozenset({3, 5, 6})
FAILURE_STATUSES = frozenset({4, 8, 9, 11, 12, 13, 14})
_STATE_OF = {
    1: JobState.PENDING,
    2: JobState.RUNNING,
    7: JobState.WAITING_USER,
    10: JobState.RUNNING,
    15: JobState.RUNNING,
}
_STATE_OF.update({code: JobState.SUCCESS for code in SUCCESS_STATUSES})
_STATE_OF.update({code: JobState.FAILED for code in FAILURE_STATUSES})

HOST_STATUS_NAMES = {
    0: "unknown",
    1: "agent abnormal",
    2: "invalid target",
    3: "succeeded last time",
    5: "waiting",
    7: "running",
    9: "success",
    11: "failed",
    12: "dispatch failed",
    13: "timeout",
    15: "log error",
    16: "GSE script log timeout",
    17: "GSE file log timeout",
    18: "agent not installed",
    101: "script failed",
    102: "script timeout",
    103: "script terminated",
    104: "script exit code non-zero",
    202: "file transfer failed",
    203: "source file missing",
    301: "file task error",
    303: "file task timeout",
    310: "agent abnormal",
    311: "user does not exist",
    312: "wrong password",
    320: "get file failed",
    321: "file over limit",
    329: "file transfer error",
    339: "execution error",  # legacy ESB docs only
    399: "execution error",
    403: "GSE force-terminate ok",
    404: "GSE force-terminate failed",
    500: "unknown error",
}
HOST_OK_STATUSES = frozenset({3, 9})
HOST_ACTIVE_STATUSES = frozenset({5, 7})

_DIGITS = re.compile(r"^[0-9]+$")
#: BlueKing's ids are 64-bit integers
_MAX_ID = 2**63 - 1


# -- validation (before any network call) ---------------------------------------------------------------
def positive_int(value: Any, parameter: str) -> int:
    if isinstance(value, bool):
        raise InvalidParameterError(parameter, f"{value!r} is not an integer")
    if isinstance(value, str) and _DIGITS.fullmatch(value.strip()) and len(value.strip()) <= 20:
        value = int(value.strip())
    if not isinstance(value, int) or not 1 <= value <= _MAX_ID:
        raise InvalidParameterError(parameter, f"{_preview(value)} must be a positive integer (64-bit)")
    return value


def _preview(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:60]}... ({len(text)} characters)"


def validate_concurrency(value: Any) -> int:
    """1 (one batch at a time) to ``MAX_LOG_CONCURRENCY``."""
    return as_int(value, "concurrency", 1, MAX_LOG_CONCURRENCY)


def job_ref(
    job_instance_id: Any,
    bk_biz_id: Any = None,
    bk_scope_type: str | None = None,
    bk_scope_id: Any = None,
) -> dict[str, Any]:
    """Validate and normalize a job reference: ``{job_instance_id, bk_scope_type, bk_scope_id}``."""
    ref: dict[str, Any] = {"job_instance_id": positive_int(job_instance_id, "job_instance_id")}
    if bk_scope_id in (None, ""):
        if bk_biz_id in (None, ""):
            raise InvalidParameterError(
                "bk_biz_id", "a business is required: pass bk_biz_id, or bk_scope_type and bk_scope_id"
            )
        ref["bk_scope_type"], ref["bk_scope_id"] = "biz", str(positive_int(bk_biz_id, "bk_biz_id"))
        return ref
    scope_type = bk_scope_type or "biz"
    if scope_type not in SCOPE_TYPES:
        raise InvalidParameterError("bk_scope_type", f"{scope_type!r} is not a scope type", ", ".join(SCOPE_TYPES))
    ref["bk_scope_type"], ref["bk_scope_id"] = scope_type, str(positive_int(bk_scope_id, "bk_scope_id"))
    return ref


def _ip_entry(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict) or "ip" not in entry:
        raise InvalidParameterError("ip_list", f"{entry!r} must be a dict with 'ip' and 'bk_cloud_id'")
    try:
        ipaddress.ip_address(str(entry["ip"]))
    except ValueError:
        raise InvalidParameterError("ip_list", f"{entry['ip']!r} is not an IP address") from None
    cloud = entry.get("bk_cloud_id", 0)
    if isinstance(cloud, bool) or not isinstance(cloud, int) or cloud < 0:
        raise InvalidParameterError("ip_list", f"bk_cloud_id {cloud!r} must be a non-negative integer")
    return {"bk_cloud_id": cloud, "ip": str(entry["ip"])}


def permission_text(permission: Any) -> str:
    """What a 9900403 answer's ``permission`` (bk-job ``OpenApiApplyPermissionDTO``) says to apply for, readable:
    `` (apply in IAM for: View History [view_history] on Business demo (2); system Job)``, plus its apply url if
    one is given. Only names and ids: a permission object holds no credentials."""
    if not isinstance(permission, dict):
        return ""
    wanted: list[str] = []
    for action in permission.get("actions") or []:
        if not isinstance(action, dict):
            continue
        text = str(action.get("name") or action.get("id") or "")
        if action.get("name") and action.get("id"):
            text += f" [{action['id']}]"
        on: list[str] = []
        for related in action.get("related_resource_types") or []:
            if not isinstance(related, dict):
                continue
            type_name = str(related.get("type_name") or related.get("type") or "")
            names = [
                f"{i.get('name')} ({i.get('id')})" if i.get("name") else str(i.get("id"))
                for path in related.get("instances") or []
                for i in (path if isinstance(path, list) else [])[-1:]
                if isinstance(i, dict)
            ]
            on.append(f"{type_name} {', '.join(names)}".strip() if names else type_name)
        wanted.append(text + (f" on {'; '.join(on)}" if on else ""))
    if not wanted:
        return ""
    system = permission.get("system_name") or permission.get("system_id")
    text = f" (apply in IAM for: {', '.join(wanted)}" + (f"; system {system}" if system else "") + ")"
    url = permission.get("apply_url") or permission.get("url")
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        text += f" apply at {url}"
    return text


def status_name(code: Any) -> str:
    return JOB_STATUS_NAMES.get(code, "undocumented")


def host_status_name(code: Any) -> str:
    return HOST_STATUS_NAMES.get(code, "undocumented")


def _tail(text: str, lines: int) -> str:
    if lines <= 0 or not text:
        return ""
    return "\n".join(text.rstrip("\n").split("\n")[-lines:])


# -- the normalized step/host model both API styles are read into ------------------------------------------
def _steps_from_status(style: str, body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(job, steps) from a status response; each step has ``hosts`` with the v3 host fields."""
    data = body.get("data") or {}
    if style == "gateway_v3":
        job = dict(data.get("job_instance") or {})
        job["finished"] = data.get("finished")
        steps = []
        for step in data.get("step_instance_list") or []:
            steps.append({**step, "hosts": list(step.get("step_ip_result_list") or [])})
        return job, steps
    job = dict(data.get("job_instance") or {})
    job["finished"] = data.get("is_finished")
    steps = []
    for block in data.get("blocks") or []:
        for step in block.get("step_instances") or []:
            steps.append({**step, "hosts": list(step.get("step_ip_status") or [])})
    return job, steps


def _to_status(style: str, ref: dict[str, Any], body: dict[str, Any]) -> JobStatus:
    """The job's :class:`JobStatus` from a decoded status answer of either API style (``raw_status`` is the
    BlueKing status code, ``detail`` the steps' ids, names and statuses)."""
    job, steps = _steps_from_status(style, body)
    code = job.get("status")
    return JobStatus(
        service=SERVICE,
        job_id=str(ref["job_instance_id"]),
        state=_STATE_OF.get(code, JobState.UNKNOWN) if isinstance(code, int) else JobState.UNKNOWN,
        raw_status=code,
        name=str(job.get("name") or ""),
        message=f"status {code}: {status_name(code)}",
        detail={
            "finished": job.get("finished"),
            "steps": [
                {"step_instance_id": s.get("step_instance_id"), "name": s.get("name"), "status": s.get("status")}
                for s in steps
            ],
        },
    )


def _failed_steps(
    steps: list[dict[str, Any]],
) -> tuple[list[FailedUnit], dict[str, tuple[dict[str, Any], dict[str, Any]]]]:
    """The failed steps (and those waiting for a user) of a decoded status answer: a unit for each such step that
    no failed host explains and for each step's failed hosts beyond 20, and the failed hosts whose log tails are
    wanted (at most 20 per step, keyed as :func:`_host_key`), each with its step."""
    failed_steps = [s for s in steps if s.get("status") in FAILURE_STATUSES or s.get("status") == 7]
    bad_hosts: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
    units: list[FailedUnit] = []
    for step in failed_steps:
        hosts = [h for h in step["hosts"] if h.get("status") not in HOST_OK_STATUSES]
        for host in hosts[:20]:
            bad_hosts[_host_key(step, host)] = (step, host)
        if not hosts:
            units.append(
                FailedUnit(
                    name=f"step {step.get('name')!r} (id {step.get('step_instance_id')})",
                    reason=f"status {step.get('status')} ({status_name(step.get('status'))})",
                )
            )
        elif len(hosts) > 20:
            units.append(
                FailedUnit(name=f"step {step.get('name')!r}", reason=f"{len(hosts) - 20} more failed hosts not shown")
            )
    return units, bad_hosts


def _host_failure(step: dict[str, Any], host: dict[str, Any], log_exit_code: Any, log_tail: str) -> FailedUnit:
    """A failed host's unit: its ``ip_status`` and meaning, its exit code (the status answer's, else the one its
    log entry gave: ``log_exit_code``) and the tail of its log."""
    code = host.get("status", host.get("ip_status"))
    return FailedUnit(
        name=f"step {step.get('name')!r} (id {step.get('step_instance_id')}) host {host.get('bk_cloud_id', 0)}:{host.get('ip')}",
        reason=f"ip_status {code} ({host_status_name(code)}), exit code {host.get('exit_code', log_exit_code)}",
        log_tail=log_tail,
    )


def _host_key(step: dict[str, Any], host: dict[str, Any]) -> str:
    return f"{step['step_instance_id']}:{host.get('bk_cloud_id', 0)}:{host.get('ip')}"


def _step_text(step: dict[str, Any], index: int, total: int) -> str:
    status = step.get("status")
    return f"step {index}/{total} {step.get('name', '')!r} (id {step.get('step_instance_id')}, status {status} {status_name(status)})"


def _host_header(step_text: str, host: dict[str, Any]) -> str:
    ip_status = host.get("status", host.get("ip_status"))
    return (
        f"===== {step_text} | host {host.get('bk_cloud_id', 0)}:{host.get('ip')} (ip_status {ip_status} "
        f"{host_status_name(ip_status)}, exit code {host.get('exit_code')}) ====="
    )


def _header(step: dict[str, Any], index: int, total: int, host: dict[str, Any] | None) -> str:
    text = _step_text(step, index, total)
    return f"===== {text} =====" if host is None else _host_header(text, host)


class _StepHostLines:
    """The header, record and cursor of a step's host chunks (:class:`LazyLogChunk`, ``source`` = the host's
    status fields, ``text`` = its log), built when first read; what the step's hosts share is worked out once."""

    __slots__ = ("base", "index", "retry_count", "step_id", "step_text")

    def __init__(
        self, ref: dict[str, Any], index: int, total: int, step: dict[str, Any], step_fields: dict[str, Any]
    ) -> None:
        self.index = index
        self.step_id = step["step_instance_id"]
        self.step_text = _step_text(step, index, total)
        self.base = {"job_instance_id": ref["job_instance_id"], **step_fields}
        self.retry_count = step.get("execute_count", 0)

    def header(self, chunk: LazyLogChunk) -> str:
        return _host_header(self.step_text, chunk.source)

    def record(self, chunk: LazyLogChunk) -> dict[str, Any]:
        get = chunk.source.get
        return {
            **self.base,
            "ip_status": get("status"),
            "tag": get("tag"),
            "retry_count": self.retry_count,
            "total_time": (get("total_time") or 0) / 1000,
            "start_time": esb_v2_from_ms(get("start_time")),
            "end_time": esb_v2_from_ms(get("end_time")),
            "ip": get("ip"),
            "bk_cloud_id": get("bk_cloud_id", 0),
            "bk_host_id": get("bk_host_id"),
            "error_code": get("error_code"),
            "exit_code": get("exit_code"),
            "log_content": chunk.text,
        }

    def cursor(self, chunk: LazyLogChunk) -> dict[str, Any]:
        host = chunk.source
        return {"step": self.index, "host": f"{self.step_id}:{host.get('bk_cloud_id', 0)}:{host.get('ip')}"}


def _esb_chunks(ref: dict[str, Any], steps: list[dict[str, Any]], only_hosts: set[str] | None) -> Iterator[LogChunk]:
    """One :class:`LogChunk` per step and host of an ESB v2 ``get_job_instance_log`` answer's ``data`` (a step
    without hosts: its header only), each record with the step's and host's fields; ``only_hosts`` limits them to
    those ``step:cloud:ip`` keys."""
    for index, step in enumerate(steps, 1):
        step_fields = {k: step.get(k) for k in ("is_finished", "step_instance_id", "name", "status")}
        emitted = False
        for result in step.get("step_results") or []:
            for ip_log in result.get("ip_logs") or []:
                host = {**ip_log, "status": result.get("ip_status")}
                if only_hosts is not None and _host_key(step, host) not in only_hosts:
                    continue
                record = {
                    "job_instance_id": ref["job_instance_id"],
                    **step_fields,
                    "ip_status": result.get("ip_status"),
                    "tag": result.get("tag"),
                    **ip_log,
                }
                if "retry_count" not in record:  # bk-job 3.x sends it as execute_count
                    record["retry_count"] = ip_log.get("execute_count", 0)
                yield LogChunk(
                    text=ip_log.get("log_content") or "",
                    header=_header(step, index, len(steps), host),
                    record=record,
                    cursor={"step": index, "host": _host_key(step, host)},
                )
                emitted = True
        if not emitted and only_hosts is None:
            yield LogChunk(
                text="",
                header=_header(step, index, len(steps), None),
                record={"job_instance_id": ref["job_instance_id"], **step_fields, "ip_logs": []},
                cursor={"step": index},
            )


def _batch_chunks(
    ref: dict[str, Any],
    index: int,
    total: int,
    step: dict[str, Any],
    step_fields: dict[str, Any],
    batch: list[dict[str, Any]],
    logs: list[dict[str, Any]],
) -> tuple[list[LogChunk], int]:
    """One chunk per host of a batch, from its log entries (:func:`decode_batch_logs`), and the log volume.

    The chunks' headers, records and cursors are built when first read (:class:`_StepHostLines`).
    """
    lines = _StepHostLines(ref, index, total, step, step_fields)
    chunks: list[LogChunk] = []
    volume = 0
    for host, entry in zip(batch, logs, strict=True):
        content = entry.get("log_content") or ""
        if not content and "file_logs" in entry:
            content = "\n".join(str(f.get("log_content", "")) for f in entry["file_logs"])
        volume += len(content)
        chunks.append(LazyLogChunk(lines, host, content, bool(entry.get("is_truncated"))))
    return chunks, volume


#: bk-job ``TaskOperationEnum.TERMINATE_JOB``
TERMINATE_JOB = 1
#: bk-job ``ScriptTypeEnum``: 1 shell, 2 bat, 3 Perl, 4 Python, 5 PowerShell (6 SQL is not for fast_execute_script)
SCRIPT_LANGUAGES = {1: "shell", 2: "bat", 3: "Perl", 4: "Python", 5: "PowerShell"}
_TARGET_KEYS = ("host_id_list", "ip_list", "dynamic_group_list", "topo_node_list")


def scope(bk_biz_id: Any = None, bk_scope_type: str | None = None, bk_scope_id: Any = None) -> dict[str, Any]:
    """``{bk_scope_type, bk_scope_id}`` of a business or business set (validated as :func:`job_ref` does)."""
    ref = job_ref(1, bk_biz_id, bk_scope_type, bk_scope_id)
    return {"bk_scope_type": ref["bk_scope_type"], "bk_scope_id": ref["bk_scope_id"]}


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _global_var(entry: Any) -> dict[str, Any]:
    if not isinstance(entry, dict) or not (entry.get("id") or entry.get("name")):
        raise InvalidParameterError("global_var_list", f"{_preview(entry)} must be a dict with an 'id' or a 'name'")
    return dict(entry)


def global_var_list(global_vars: Any, parameter: str = "global_vars") -> list[dict[str, Any]]:
    """``[{"name", "value"}]`` from ``{name: value}``, names and values strings (a variable's value is a string)."""
    if not isinstance(global_vars, dict):
        raise InvalidParameterError(parameter, f"{_preview(global_vars)} must be a dict of variable name to value")
    entries = []
    for name, value in global_vars.items():
        if not isinstance(name, str) or not name or not isinstance(value, str):
            raise InvalidParameterError(
                parameter, f"{_preview(name)}: {_preview(value)} is not a pair of strings (a name and its value)"
            )
        entries.append({"name": name, "value": value})
    return entries


def validate_target_server(target_server: Any) -> dict[str, Any]:
    """The hosts of ``fast_execute_script``: at least one of the target lists, non-empty (bk-job answers an empty
    target with 1244001 SERVER_EMPTY)."""
    if not isinstance(target_server, dict):
        raise InvalidParameterError("target_server", f"{_preview(target_server)} must be a dict")
    unknown = set(target_server) - set(_TARGET_KEYS)
    if unknown:
        raise InvalidParameterError("target_server", f"unknown keys {sorted(unknown)}", ", ".join(_TARGET_KEYS))
    server: dict[str, Any] = {}
    for key in _TARGET_KEYS:
        value = target_server.get(key)
        if value in (None, []):
            continue
        if not isinstance(value, list):
            raise InvalidParameterError("target_server", f"{key} must be a list")
        if key == "host_id_list":
            value = [positive_int(h, "target_server") for h in value]
        elif key == "ip_list":
            value = [_ip_entry(e) for e in value]
        server[key] = value
    if not server:
        raise InvalidParameterError("target_server", "the host list is empty: give host_id_list (or ip_list, ...)")
    return server


def script_fields(
    *,
    script_content: str | None,
    script_id: str | None,
    script_version_id: Any,
    script_language: Any,
    script_param: str | None,
    is_param_sensitive: bool,
    timeout: Any,
    account_alias: str | None,
    account_id: Any,
) -> dict[str, Any]:
    """The script, parameter, timeout and account fields of ``fast_execute_script``, validated as bk-job's
    ``EsbFastExecuteScriptV3ResourceImpl.checkFastExecuteScriptRequest`` does, content and parameters Base64."""
    body: dict[str, Any] = {}
    if script_version_id not in (None, ""):
        body["script_version_id"] = positive_int(script_version_id, "script_version_id")
    elif script_id not in (None, ""):
        body["script_id"] = str(script_id)
    elif script_content not in (None, ""):
        if not isinstance(script_content, str):
            raise InvalidParameterError("script_content", "must be the script's text")
        if script_language is None:
            raise InvalidParameterError(
                "script_language", "required with script_content", ", ".join(map(str, SCRIPT_LANGUAGES))
            )
        language = as_int(script_language, "script_language", 1, len(SCRIPT_LANGUAGES))
        body["script_content"] = _b64(script_content)
        body["script_language"] = language
    else:
        raise InvalidParameterError(
            "script_content", "no script: pass script_content (its text), script_id or script_version_id"
        )
    if script_param not in (None, ""):
        if not isinstance(script_param, str):
            raise InvalidParameterError("script_param", f"{_preview(script_param)} must be a string")
        body["script_param"] = _b64(script_param)
        body["is_param_sensitive"] = 1 if is_param_sensitive else 0
    if timeout is not None:
        body["timeout"] = as_int(timeout, "timeout", 1, 86400)
    if account_id not in (None, ""):
        body["account_id"] = positive_int(account_id, "account_id")
    elif account_alias:
        body["account_alias"] = str(account_alias)
    else:
        raise InvalidParameterError("account_alias", "an execution account is required: account_alias or account_id")
    return body
