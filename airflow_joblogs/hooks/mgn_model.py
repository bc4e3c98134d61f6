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
from airflow_joblogs.validation import as_int, require_bool

#: the ImportError text the MGN modules raise when the Amazon provider is missing
INSTALL_HINT = (
    "AWS Application Migration Service support needs the Amazon provider (boto3, aiobotocore), which the "
    "'amazon' extra of airflow-joblogs brings: pip install 'apache-airflow-providers-amazon[s3fs]>=9.0'"
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
#: log events that report a failure (besides every ``*_FAIL``); whether one fails the job is decided by
#: :func:`evaluate_job` (a failed attempt that MGN retried does not)
FAILURE_EVENTS = frozenset({"LAUNCH_FAILED", "JOB_CANCEL"})
#: a step's events are ``<STEP>_START``, ``<STEP>_END`` and its failure, ``<STEP>_FAIL`` (``LAUNCH_FAILED`` for
#: the launch step); MGN logs one START per attempt, so a start or end of the same step for the same server after a
#: failure means the failed attempt was retried
_STEP_PHASES = {"START": "start", "END": "end", "FAIL": "fail", "FAILED": "fail"}

_JOB_ID = re.compile(r"^mgnjob-[0-9a-zA-Z]{17}$")
#: the model's SourceServerID (19 characters)
_SOURCE_SERVER_ID = re.compile(r"^s-[0-9a-zA-Z]{17}$")
#: StartTest, StartCutover and TerminateTargetInstances take 1 to 200 source servers and 0 to 50 tags, each key and
#: value at most 256 characters (the model's ``*SourceServerIDs`` lists and ``TagsMap``)
MAX_SOURCE_SERVERS = 200
MAX_TAGS = 50
MAX_TAG_CHARS = 256
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
    return as_int(max_results, "max_results", 1, 1000)


def validate_source_server_ids(source_server_ids: Any) -> list[str]:
    """1 to 200 distinct source server ids (``s-`` + 17 letters or digits), as a list."""
    allowed = f"a list of 1 to {MAX_SOURCE_SERVERS} ids, each 's-' followed by 17 letters or digits"
    if not isinstance(source_server_ids, (list, tuple)):
        raise InvalidParameterError(
            "source_server_ids", f"{type(source_server_ids).__name__} {source_server_ids!r} is not a list", allowed
        )
    if not 1 <= len(source_server_ids) <= MAX_SOURCE_SERVERS:
        raise InvalidParameterError("source_server_ids", f"{len(source_server_ids)} ids", allowed)
    for server_id in source_server_ids:
        if not isinstance(server_id, str) or not _SOURCE_SERVER_ID.fullmatch(server_id):
            raise InvalidParameterError("source_server_ids", f"{server_id!r} is not a source server id", allowed)
    if len(set(source_server_ids)) != len(source_server_ids):
        raise InvalidParameterError("source_server_ids", "an id is given twice", allowed)
    return list(source_server_ids)


def validate_tags(tags: Any) -> dict[str, str] | None:
    """None, or at most 50 tags of string keys and values of at most 256 characters each."""
    if tags is None:
        return None
    allowed = f"a dict of at most {MAX_TAGS} string keys and string values of at most {MAX_TAG_CHARS} characters"
    if not isinstance(tags, dict):
        raise InvalidParameterError("tags", f"{type(tags).__name__} is not a dict", allowed)
    if len(tags) > MAX_TAGS:
        raise InvalidParameterError("tags", f"{len(tags)} tags", allowed)
    for key, value in tags.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidParameterError("tags", f"the tag {key!r} is not a pair of strings", allowed)
        if len(key) > MAX_TAG_CHARS or len(value) > MAX_TAG_CHARS:
            raise InvalidParameterError(
                "tags", f"the tag {key[:40]!r} is longer than {MAX_TAG_CHARS} characters", allowed
            )
    return dict(tags)


def job_ref(job_id: Any, account_id: Any = None, require_post_launch_success: bool = False) -> dict[str, Any]:
    """Validate and normalize a job reference: ``{job_id, account_id?, require_post_launch_success}``."""
    require_bool(require_post_launch_success, "require_post_launch_success")
    ref: dict[str, Any] = {"job_id": validate_job_id(job_id)}
    account = validate_account_id(account_id)
    if account:
        ref["account_id"] = account
    ref["require_post_launch_success"] = require_post_launch_success
    return ref


def launched_instances(job: dict[str, Any]) -> dict[str, Any]:
    """Per participating source server, what DescribeJobs reports: ``launch_status`` and the
    ``launched_ec2_instance_id`` (``launchedEc2InstanceID``; None where the job reports none)."""
    return {
        str(server.get("sourceServerID")): {
            "launch_status": server.get("launchStatus"),
            "launched_ec2_instance_id": server.get("launchedEc2InstanceID"),
        }
        for server in job.get("participatingServers") or []
    }


def started_by(
    job: dict[str, Any], initiated_by: str, source_server_ids: Iterable[str], tags: dict[str, str] | None
) -> bool:
    """Whether ``job`` (a DescribeJobs item) is one a start of ``initiated_by`` (``START_TEST``, ``START_CUTOVER``,
    ``TERMINATE``) for exactly these source servers, with these tags, creates."""
    servers = {s.get("sourceServerID") for s in job.get("participatingServers") or []}
    job_tags = job.get("tags") or {}
    return (
        job.get("initiatedBy") == initiated_by
        and servers == set(source_server_ids)
        and all(job_tags.get(key) == value for key, value in (tags or {}).items())
    )


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
    """Whether the event reports a failure (``*_FAIL``, ``LAUNCH_FAILED``, ``JOB_CANCEL``); see :func:`evaluate_job`
    for when one fails the job."""
    return isinstance(event, str) and (event.endswith("_FAIL") or event in FAILURE_EVENTS)


def _step(event: Any) -> tuple[str, str] | None:
    """``(step, phase)`` of a step event (``CONVERSION_FAIL`` -> ``("CONVERSION", "fail")``), else None."""
    if not isinstance(event, str) or "_" not in event or event.startswith("JOB_"):
        return None
    step, _, suffix = event.rpartition("_")
    phase = _STEP_PHASES.get(suffix)
    return (step, phase) if phase else None


def is_last_attempt(item: dict[str, Any]) -> bool:
    """The item reports attempt ``maxAttemptsCount`` of ``maxAttemptsCount``: MGN will not try the step again.

    False when the installed botocore's model lacks ``attemptCount`` / ``maxAttemptsCount`` (botocore drops
    members its model does not know); the order of the log decides then (see :func:`evaluate_job`)."""
    data = item.get("eventData") or {}
    count, most = data.get("attemptCount"), data.get("maxAttemptsCount")
    return isinstance(count, int) and isinstance(most, int) and count >= most


class _LogScan:
    """One pass over a job's log: the failures that stand (per server, ``None`` for the job itself), the failed
    attempts MGN retried, and (``tail_lines``) the last items of each server."""

    def __init__(self, items: Iterable[dict[str, Any]], tail_lines: int = 0) -> None:
        self.history: dict[str | None, list[dict[str, Any]]] = {}
        #: per server, the last item of each standing failure event, in order of last occurrence
        self.failures: dict[str | None, dict[str, dict[str, Any]]] = {}
        self.retried: list[dict[str, Any]] = []
        standing: list[tuple[int, dict[str, Any]]] = []
        open_failures: dict[tuple[str | None, str], tuple[int, dict[str, Any]]] = {}
        for index, item in enumerate(items):
            key = _server_of(item)
            if tail_lines:
                lines = self.history.setdefault(key, [])
                lines.append(item)
                del lines[:-tail_lines]
            event = item.get("event")
            step = _step(event)
            if step is None:
                if is_failure_event(event):  # JOB_CANCEL, or a failure event of no known step
                    standing.append((index, item))
                continue
            name, phase = step
            if (key, name) in open_failures:  # the step ran again (or failed again) after a failed attempt
                self.retried.append(open_failures.pop((key, name))[1])
            if phase == "fail":
                if is_last_attempt(item):
                    standing.append((index, item))
                else:
                    open_failures[(key, name)] = (index, item)
        standing.extend(open_failures.values())  # never retried before the log ended
        for _, item in sorted(standing, key=lambda entry: entry[0]):
            seen = self.failures.setdefault(_server_of(item), {})
            seen.pop(str(item.get("event")), None)
            seen[str(item.get("event"))] = item


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
    """What failed in a completed job under the rules of :func:`evaluate_job`: servers (with the last event of each
    kind of standing failure and its ``rawError``), a cancellation, and (when required) post-launch actions;
    ``tail_lines`` last log lines each."""
    return _failed_units(
        job,
        _LogScan(items, tail_lines),
        require_post_launch_success=require_post_launch_success,
        tail_lines=tail_lines,
        error_chars=error_chars,
    )


def _failed_units(
    job: dict[str, Any],
    scan: _LogScan,
    *,
    require_post_launch_success: bool,
    tail_lines: int = 0,
    error_chars: int | None = None,
) -> list[FailedUnit]:
    target = TARGET_LAUNCH_STATUS.get(str(job.get("type")), "LAUNCHED")
    servers = {s.get("sourceServerID"): s for s in job.get("participatingServers") or []}
    failures = scan.failures

    def tail(key: str | None) -> str:
        return "\n".join(render_item(i, _TAIL_ERROR_CHARS) for i in scan.history.get(key, [])) if tail_lines else ""

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
    ``LAUNCHED`` (LAUNCH jobs) or ``TERMINATED`` (TERMINATE jobs), the log (``items``, read only for a completed
    job) holds no ``JOB_CANCEL``, and no step failure stands; otherwise it is ``FAILED``. A step failure
    (``CLEANUP_FAIL``, ``SNAPSHOT_FAIL``, ``CONVERSION_FAIL``, ``LAUNCH_FAILED``) stands when it reports the last
    attempt (``attemptCount`` equal to ``maxAttemptsCount``) or when no later event of the same step for the same
    server follows it; a failed attempt that MGN retried is counted in ``detail["retried_failures"]`` and the
    message, not held against the job. With ``require_post_launch_success`` a completed LAUNCH job also waits
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
    retried = 0
    if status == "COMPLETED":
        scan = _LogScan(items or ())
        retried = len(scan.retried)
        detail["retried_failures"] = retried
        failures = _failed_units(
            job, scan, require_post_launch_success=require_post_launch_success, error_chars=_SUMMARY_ERROR_CHARS
        )
        if failures:
            verdict = FAILED
        elif require_post_launch_success and job.get("type") == "LAUNCH" and _post_launch_pending(job):
            verdict = POST_LAUNCH_IN_PROGRESS
            detail["post_launch_waiting"] = _post_launch_pending(job)[:50]
        else:
            verdict = COMPLETED
    message = f"job status {status}; servers: {summary}"
    if retried:
        message += f"; {retried} failed attempt{'s' if retried > 1 else ''} retried"
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
