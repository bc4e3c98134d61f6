"""AWS Application Migration Service (MGN): the job vocabulary, identifier checks, success rules and readable
log lines.

Plain Python, no AWS SDK: the MGN sensor and operator import this (and so stay cheap to import when a DAG file
is parsed); the boto3 hook in :mod:`airflow_joblogs.hooks.mgn` re-exports every name.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterable
from typing import Any

from airflow_joblogs.exceptions import InvalidParameterError
from airflow_joblogs.models import FailedUnit, JobState, JobStatus
from airflow_joblogs.timestamps import render as render_time

#: the ImportError text the MGN modules raise when the Amazon provider is missing
INSTALL_HINT = (
    "AWS Application Migration Service support needs the Amazon provider (boto3, aiobotocore): "
    "pip install 'airflow-joblogs[amazon]'"
)


def require_amazon_provider() -> None:
    """Raise ImportError with :data:`INSTALL_HINT` unless the Amazon provider and the AWS SDKs are installed
    (found without importing them)."""
    for name in ("botocore", "aiobotocore", "airflow.providers.amazon"):
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError) as exc:
            raise ImportError(f"{INSTALL_HINT} ({exc})") from exc
        if not found:
            raise ImportError(f"{INSTALL_HINT} (no module named {name!r})")


SERVICE = "AWS MGN"
#: the connection the MGN hook, sensor and operator use by default (the Amazon provider's)
DEFAULT_CONN_ID = "aws_default"
JOB_STATUSES = ("PENDING", "STARTED", "COMPLETED")
LAUNCH_STATUSES = ("PENDING", "IN_PROGRESS", "LAUNCHED", "FAILED", "TERMINATED")

PENDING = "PENDING"
STARTED = "STARTED"
#: the job completed and every rule holds (see :func:`evaluate_job`)
COMPLETED = "COMPLETED"
#: the job completed but a server failed, fell short of its target status, or a failure event was logged
FAILED = "FAILED"
#: the job completed; ``require_post_launch_success`` waits for the post-launch actions to finish
POST_LAUNCH_IN_PROGRESS = "POST_LAUNCH_IN_PROGRESS"
#: the sensor's vocabulary: MGN's job status, with COMPLETED split by the success rules of :func:`evaluate_job`
STATUSES = (PENDING, STARTED, POST_LAUNCH_IN_PROGRESS, COMPLETED, FAILED)
SUCCESS_STATUSES = frozenset({COMPLETED})
FAILURE_STATUSES = frozenset({FAILED})
_STATE_OF = {
    PENDING: JobState.PENDING,
    STARTED: JobState.RUNNING,
    POST_LAUNCH_IN_PROGRESS: JobState.RUNNING,
    COMPLETED: JobState.SUCCESS,
    FAILED: JobState.FAILED,
}

#: the launchStatus every participating server must reach, by job type
TARGET_LAUNCH_STATUS = {"LAUNCH": "LAUNCHED", "TERMINATE": "TERMINATED"}
#: log events that mean failure (besides every ``*_FAIL``)
FAILURE_EVENTS = frozenset({"LAUNCH_FAILED", "JOB_CANCEL"})

_JOB_ID = re.compile(r"^mgnjob-[0-9a-zA-Z]{17}$")
_ACCOUNT_ID = re.compile(r"^[0-9]{12}$")
#: how much of a server's rawError the status summary (a trigger event) carries; failure reports carry it whole
_SUMMARY_ERROR_CHARS = 500
#: how much of a rawError a log tail line in a failure report shows (the reason above holds it whole)
_TAIL_ERROR_CHARS = 160


# -- validation (before any network call) ---------------------------------------------------------------
def validate_job_id(job_id: Any) -> str:
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise InvalidParameterError(
            "job_id", f"{job_id!r} is not an MGN job id", "'mgnjob-' followed by 17 letters or digits"
        )
    return job_id


def validate_account_id(account_id: Any) -> str | None:
    if account_id in (None, ""):
        return None
    if not isinstance(account_id, str) or not _ACCOUNT_ID.fullmatch(account_id):
        raise InvalidParameterError("account_id", f"{account_id!r} is not an AWS account id", "a string of 12 digits")
    return account_id


def validate_max_results(max_results: Any) -> int | None:
    if max_results is None:
        return None
    if isinstance(max_results, bool) or not isinstance(max_results, int) or not 1 <= max_results <= 1000:
        raise InvalidParameterError("max_results", f"{max_results!r} is out of range", "an integer from 1 to 1000")
    return max_results


def job_ref(job_id: Any, account_id: Any = None, require_post_launch_success: bool = False) -> dict[str, Any]:
    """Validate and normalize a job reference: ``{job_id, account_id?, require_post_launch_success}``."""
    if not isinstance(require_post_launch_success, bool):
        raise InvalidParameterError(
            "require_post_launch_success", f"{require_post_launch_success!r} is not a boolean", "True, False"
        )
    ref: dict[str, Any] = {"job_id": validate_job_id(job_id)}
    account = validate_account_id(account_id)
    if account:
        ref["account_id"] = account
    ref["require_post_launch_success"] = require_post_launch_success
    return ref


# -- readable lines ---------------------------------------------------------------------------------------
def render_item(item: dict[str, Any], raw_error_chars: int | None = None) -> str:
    """One log item as a line: ``logDateTime  event  sourceServerID  attempt n/m  [conversion/target]  rawError``
    (``logDateTime`` in Airflow's time zone, :func:`airflow_joblogs.timestamps.render`).

    ``rawError`` is kept whole (it may span several lines), unless ``raw_error_chars`` asks for a one-line
    preview of at most that many characters (failure reports, which show the whole error once above).
    """
    data = item.get("eventData") or {}
    parts = [render_time(item.get("logDateTime")), str(item.get("event", "-")), str(data.get("sourceServerID") or "-")]
    if data.get("attemptCount") is not None:
        parts.append(f"attempt {data['attemptCount']}/{data.get('maxAttemptsCount', '?')}")
    if data.get("conversionServerID"):
        parts.append(f"conversion server {data['conversionServerID']}")
    if data.get("targetInstanceID"):
        parts.append(f"target instance {data['targetInstanceID']}")
    if data.get("rawError"):
        error = str(data["rawError"])
        if raw_error_chars is not None:
            preview = error.split("\n", 1)[0][:raw_error_chars]
            error = preview + (f" [... {len(error) - len(preview)} more characters]" if preview != error else "")
        parts.append(error)
    return "  ".join(parts)


def _server_of(item: dict[str, Any]) -> str | None:
    return (item.get("eventData") or {}).get("sourceServerID")


def is_failure_event(event: Any) -> bool:
    return isinstance(event, str) and (event.endswith("_FAIL") or event in FAILURE_EVENTS)


# -- the success rules ------------------------------------------------------------------------------------------
def _post_launch_actions(server: dict[str, Any]) -> list[dict[str, Any]]:
    return list((server.get("postLaunchActionsStatus") or {}).get("postLaunchActionsLaunchStatusList") or [])


def _required(action: dict[str, Any]) -> bool:
    # an action explicitly marked as not required for cutover may fail without failing the gate
    return (action.get("ssmDocument") or {}).get("mustSucceedForCutover") is not False


def _action_name(action: dict[str, Any]) -> str:
    document = action.get("ssmDocument") or {}
    return str(document.get("actionName") or document.get("ssmDocumentName") or action.get("executionID") or "?")


def _cap(text: str, limit: int | None) -> str:
    if limit is None or len(text) <= limit:
        return text
    return text[:limit] + f"... [{len(text) - limit} more characters]"


def failed_units(
    job: dict[str, Any],
    items: Iterable[dict[str, Any]],
    *,
    require_post_launch_success: bool = False,
    tail_lines: int = 0,
    error_chars: int | None = None,
) -> list[FailedUnit]:
    """What failed in a completed job: servers (with the last event of each kind of failure and its
    ``rawError``), a cancellation, and (when required) post-launch actions; ``tail_lines`` last log lines each."""
    target = TARGET_LAUNCH_STATUS.get(str(job.get("type")), "LAUNCHED")
    servers = {s.get("sourceServerID"): s for s in job.get("participatingServers") or []}
    history: dict[str | None, list[dict[str, Any]]] = {}
    #: per server (None: the job itself), the last item of each failure event, in order of last occurrence
    failures: dict[str | None, dict[str, dict[str, Any]]] = {}
    for item in items:
        key = _server_of(item)
        if tail_lines:
            lines = history.setdefault(key, [])
            lines.append(item)
            del lines[:-tail_lines]
        if is_failure_event(item.get("event")):
            seen = failures.setdefault(key, {})
            seen.pop(str(item.get("event")), None)
            seen[str(item.get("event"))] = item

    def tail(key: str | None) -> str:
        return "\n".join(render_item(i, _TAIL_ERROR_CHARS) for i in history.get(key, [])) if tail_lines else ""

    units: list[FailedUnit] = []
    if None in failures:
        events = failures[None]
        what = "the job was cancelled" if "JOB_CANCEL" in events else "the job logged a failure"
        when = ", ".join(f"{name} at {render_time(item.get('logDateTime'))}" for name, item in events.items())
        units.append(FailedUnit(name="job", reason=f"{what} ({when})", log_tail=tail(None)))
    for server_id in [*servers, *(k for k in failures if k is not None and k not in servers)]:
        server = servers.get(server_id) or {}
        status = server.get("launchStatus")
        reasons = []
        if status is not None and status != target:
            reasons.append(f"launchStatus {status} (expected {target})")
        for name, item in failures.get(server_id, {}).items():
            data = item.get("eventData") or {}
            text = name
            if data.get("attemptCount") is not None:
                text += f" (attempt {data['attemptCount']}/{data.get('maxAttemptsCount', '?')})"
            if data.get("rawError"):
                text += f": {_cap(str(data['rawError']), error_chars)}"
            reasons.append(text)
        if reasons:
            units.append(
                FailedUnit(name=f"source server {server_id}", reason="; ".join(reasons), log_tail=tail(server_id))
            )
        if require_post_launch_success:
            for action in _post_launch_actions(server):
                if action.get("executionStatus") == "FAILED" and _required(action):
                    reason = "post-launch action FAILED"
                    if action.get("failureReason"):
                        reason += f": {_cap(str(action['failureReason']), error_chars)}"
                    units.append(
                        FailedUnit(
                            name=f"source server {server_id} post-launch action {_action_name(action)!r}",
                            reason=reason,
                            log_tail=tail(server_id),
                        )
                    )
    return units


def _post_launch_pending(job: dict[str, Any]) -> list[str]:
    """Launched servers whose required post-launch actions have not all finished (or not started)."""
    waiting = []
    for server in job.get("participatingServers") or []:
        if server.get("launchStatus") != "LAUNCHED":
            continue
        actions = [a for a in _post_launch_actions(server) if _required(a)]
        if not actions or any(a.get("executionStatus") not in ("SUCCESS", "FAILED") for a in actions):
            waiting.append(str(server.get("sourceServerID")))
    return waiting


def evaluate_job(
    job: dict[str, Any], items: Iterable[dict[str, Any]] | None, *, require_post_launch_success: bool = False
) -> JobStatus:
    """The job's :class:`JobStatus` under the success rules.

    PENDING and STARTED are still running. A COMPLETED job succeeded only if every participating server reached
    ``LAUNCHED`` (LAUNCH jobs) or ``TERMINATED`` (TERMINATE jobs) and the log (``items``, read only for a
    completed job) holds no ``*_FAIL``, ``LAUNCH_FAILED`` or ``JOB_CANCEL`` event; otherwise it is ``FAILED``.
    With ``require_post_launch_success`` a completed LAUNCH job also waits
    (``POST_LAUNCH_IN_PROGRESS``) until every launched server's post-launch actions have finished, and a
    FAILED action (unless its document says ``mustSucceedForCutover: false``) is a failure.
    """
    status = str(job.get("status"))
    servers = job.get("participatingServers") or []
    counts: dict[str, int] = {}
    for server in servers:
        counts[str(server.get("launchStatus"))] = counts.get(str(server.get("launchStatus")), 0) + 1
    detail = {
        "job_status": status,
        "type": job.get("type"),
        "initiatedBy": job.get("initiatedBy"),
        "creationDateTime": job.get("creationDateTime"),
        "endDateTime": job.get("endDateTime"),
        "launch_status_counts": counts,
    }
    summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "no servers"
    verdict = status if status in (PENDING, STARTED) else None
    failures: list[FailedUnit] = []
    if status == "COMPLETED":
        failures = failed_units(
            job,
            items or (),
            require_post_launch_success=require_post_launch_success,
            error_chars=_SUMMARY_ERROR_CHARS,
        )
        if failures:
            verdict = FAILED
        elif require_post_launch_success and job.get("type") == "LAUNCH" and _post_launch_pending(job):
            verdict = POST_LAUNCH_IN_PROGRESS
            detail["post_launch_waiting"] = _post_launch_pending(job)[:50]
        else:
            verdict = COMPLETED
    message = f"job status {status}; servers: {summary}"
    if verdict == POST_LAUNCH_IN_PROGRESS:
        message += "; waiting for post-launch actions"
    return JobStatus(
        service=SERVICE,
        job_id=str(job.get("jobID")),
        state=_STATE_OF.get(verdict, JobState.UNKNOWN) if verdict else JobState.UNKNOWN,
        raw_status=verdict if verdict else status,
        name=" ".join(str(job[k]) for k in ("type", "initiatedBy") if job.get(k)),
        message=message,
        failures=tuple(failures),
        detail=detail,
    )
