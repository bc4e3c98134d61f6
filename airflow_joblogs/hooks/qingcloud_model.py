"""QingCloud AppCenter cluster jobs: the job vocabulary (statuses and their states), identifier, filter and
cluster-action checks, the job records and their readable lines, and the status and failures of a set of jobs
read from their records.

Plain Python, no HTTP client: the QingCloud sensor imports this (and so stays cheap to import when a DAG file is
parsed); the hook in :mod:`airflow_joblogs.hooks.qingcloud` speaks to the service and re-exports every name.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from airflow_joblogs.exceptions import InvalidParameterError, JobLogsError
from airflow_joblogs.models import FailedUnit, JobState, JobStatus, LazyLogChunk
from airflow_joblogs.timestamps import render as render_time
from airflow_joblogs.validation import as_int

SERVICE = "QingCloud"
#: the documented job statuses, in the order a job passes through them
JOB_STATUSES = ("pending", "working", "successful", "failed")
SUCCESS_STATUSES = frozenset({"successful"})
FAILURE_STATUSES = frozenset({"failed"})
_STATE_OF = {
    "pending": JobState.PENDING,
    "working": JobState.RUNNING,
    "successful": JobState.SUCCESS,
    "failed": JobState.FAILED,
}
#: the API's maximum ``limit`` (records per page); also the most job ids one status query asks about
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
#: the seed documents ``verbose`` as "currently only 0"
VERBOSE_VALUES = (0,)

#: public zones look like pek3, pek3a, sh1a, gd2, ap2a; private clouds follow the same pattern
_ZONE = re.compile(r"^[a-z]{2,10}[0-9]{1,3}[a-z]{0,2}$")
_ID_PATTERNS = {
    "app": re.compile(r"^app-[a-z0-9]{4,32}$"),
    "cluster": re.compile(r"^cl-[a-z0-9]{4,32}$"),
    "jobs": re.compile(r"^j-[a-z0-9]{4,32}$"),
}
_ID_EXAMPLES = {"app": "app-tg3lbp0a", "cluster": "cl-xi3aoihf", "jobs": "j-etkt94ebqra"}
_SEPARATORS = re.compile(r"[\s,]+")


# -- validation (before any network call) ---------------------------------------------------------------
def validate_zone(value: Any, parameter: str = "zone") -> str:
    if not isinstance(value, str) or not _ZONE.fullmatch(value.strip()):
        raise InvalidParameterError(
            parameter,
            f"{value!r} is not a QingCloud zone name (lower-case letters, digits, optional letter suffix)",
            "e.g. pek3, pek3a, pek3b, pek3c, pek3d, sh1a, sh1b, gd2, gd2a, ap2a, ap3",
        )
    return value.strip()


def validate_id(value: Any, kind: str, parameter: str | None = None) -> str:
    """A resource id of ``kind`` (``app``, ``cluster`` or ``jobs``), e.g. ``app-tg3lbp0a``."""
    parameter = parameter or kind
    text = value.strip() if isinstance(value, str) else value
    if not isinstance(text, str) or not _ID_PATTERNS[kind].fullmatch(text):
        raise InvalidParameterError(
            parameter, f"{value!r} is not a QingCloud {kind.rstrip('s')} id (like {_ID_EXAMPLES[kind]!r})"
        )
    return text


def _as_list(value: Any, parameter: str) -> list[Any]:
    """A list from a list/tuple/set, or from a string: comma- or space-separated values, or a rendered
    list such as ``"['j-a', 'j-b']"`` (what a template pulling a list from XCom renders to)."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                parsed = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                parsed = None
            if isinstance(parsed, (list, tuple)):
                return list(parsed)
        return [part for part in _SEPARATORS.split(text) if part]
    if isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        return list(value)
    raise InvalidParameterError(parameter, f"{value!r} must be a list or a comma-separated string")


def validate_job_ids(value: Any, parameter: str = "jobs", *, required: bool = False) -> list[str]:
    ids = list(dict.fromkeys(validate_id(item, "jobs", parameter) for item in _as_list(value, parameter)))
    if required and not ids:
        raise InvalidParameterError(parameter, "at least one job id is required (like 'j-etkt94ebqra')")
    if len(ids) > MAX_LIMIT:
        raise InvalidParameterError(parameter, f"{len(ids)} job ids given; at most {MAX_LIMIT} per query")
    return ids


def validate_statuses(value: Any, parameter: str = "status") -> list[str]:
    statuses = list(dict.fromkeys(str(item).strip() for item in _as_list(value, parameter)))
    unknown = [s for s in statuses if s not in JOB_STATUSES]
    if unknown:
        raise InvalidParameterError(parameter, f"{unknown} are not job statuses", ", ".join(JOB_STATUSES))
    return statuses


validate_int = as_int  # the one rule (airflow_joblogs.validation)


def validate_paging(page_size: Any, max_records: Any) -> tuple[int, int | None]:
    size = validate_int(page_size, "page_size", 1, MAX_LIMIT)
    limit = None if max_records in (None, "") else validate_int(max_records, "max_records", 1)
    return size, limit


def cluster_jobs_query(
    app: str | None = None,
    cluster: str | None = None,
    jobs: Any = None,
    status: Any = None,
    zone: str | None = None,
) -> dict[str, Any]:
    """Validate the filters of ``DescribeClusterJobs`` into a small JSON dict (keys with values only)."""
    query: dict[str, Any] = {}
    if app not in (None, ""):
        query["app"] = validate_id(app, "app")
    if cluster not in (None, ""):
        query["cluster"] = validate_id(cluster, "cluster")
    if not query:
        raise InvalidParameterError(
            "app", "DescribeClusterJobs needs the application id (app, like 'app-tg3lbp0a') or a cluster id (cluster)"
        )
    ids = validate_job_ids(jobs)
    if ids:
        query["jobs"] = ids
    statuses = validate_statuses(status)
    if statuses:
        query["status"] = statuses
    if zone not in (None, ""):
        query["zone"] = validate_zone(zone)
    return query


def job_ref(
    job_ids: Any, app: str | None = None, cluster: str | None = None, zone: str | None = None
) -> dict[str, Any]:
    """Validate a reference to one or several cluster jobs: ``{"jobs": [...], "app"|"cluster": ..., "zone"?}``."""
    ids = validate_job_ids(job_ids, "job_ids", required=True)
    return cluster_jobs_query(app=app, cluster=cluster, jobs=ids, zone=zone)


# -- cluster actions that start cluster jobs ---------------------------------------------------------------
#: the kinds of value a cluster action's parameter takes (checked before any request)
_CLUSTER_ID, _CLUSTER_IDS, _NODE_IDS, _INT, _TEXT, _JSON, _VERSION_ID = (
    "cluster id",
    "cluster ids",
    "node ids",
    "integer",
    "string",
    "JSON",
    "version id",
)
_NODE_ID = re.compile(r"^cln-[a-z0-9]{4,32}$")
_VERSION = re.compile(r"^appv-[a-z0-9]{4,32}$")


@dataclass(frozen=True)
class ClusterActionSpec:
    """A cluster action's request parameters as upstream documents them: name -> kind, and the required ones."""

    params: dict[str, str]
    required: tuple[str, ...]
    #: the parameter naming the cluster(s) acted on (None: the action creates one)
    clusters_param: str | None


#: The AppCenter cluster actions that answer with a job id (``job_id``) or a map of them (``job_ids``), with their
#: parameters from QingCloud's API pages (yunify/qingcloud-docs,
#: ``content/development_docs/api/command_list/appcenter2/cloud/``) and the official SDK
#: (yunify/qingcloud-sdk-python, ``qingcloud/iaas/actions/cluster.py``). The public API has no UpgradeClusters.
CLUSTER_ACTIONS: dict[str, ClusterActionSpec] = {
    "StartClusters": ClusterActionSpec({"clusters": _CLUSTER_IDS}, ("clusters",), "clusters"),
    "StopClusters": ClusterActionSpec({"clusters": _CLUSTER_IDS}, ("clusters",), "clusters"),
    "RestartClusterService": ClusterActionSpec({"cluster": _CLUSTER_ID, "role": _TEXT}, ("cluster",), "cluster"),
    "ResizeCluster": ClusterActionSpec(
        {
            "cluster": _CLUSTER_ID,
            "node_role": _TEXT,
            "cpu": _INT,
            "memory": _INT,
            "gpu": _INT,
            "storage_size": _INT,
            "instance_class": _INT,
        },
        ("cluster",),
        "cluster",
    ),
    "AddClusterNodes": ClusterActionSpec(
        {
            "cluster": _CLUSTER_ID,
            "node_count": _INT,
            "node_role": _TEXT,
            "node_name": _TEXT,
            "resource_conf": _JSON,
            "private_ips": _JSON,
            "owner": _TEXT,
        },
        ("cluster", "node_count"),
        "cluster",
    ),
    "DeleteClusterNodes": ClusterActionSpec(
        {"cluster": _CLUSTER_ID, "nodes": _NODE_IDS, "force": _INT, "owner": _TEXT}, ("cluster", "nodes"), "cluster"
    ),
    "DeployAppVersion": ClusterActionSpec(
        {
            "version_id": _VERSION_ID,
            "conf": _JSON,
            "debug": _INT,
            "charge_mode": _TEXT,
            "duration": _INT,
            "hypervisor": _TEXT,
        },
        ("version_id", "conf"),
        None,
    ),
}
#: integer parameters with a documented range: node_count >= 1; force and debug are 0 or 1
_INT_RANGES = {"node_count": (1, None), "force": (0, 1), "debug": (0, 1), "cpu": (1, None), "memory": (1, None)}


def _ids(value: Any, parameter: str, pattern: re.Pattern[str], example: str) -> list[str]:
    ids = [item.strip() if isinstance(item, str) else item for item in _as_list(value, parameter)]
    if not ids:
        raise InvalidParameterError(parameter, f"at least one id is required (like {example!r})")
    for item in ids:
        if not isinstance(item, str) or not pattern.fullmatch(item):
            raise InvalidParameterError(parameter, f"{item!r} is not an id like {example!r}")
    if len(set(ids)) != len(ids):
        raise InvalidParameterError(parameter, f"{ids} names an id twice")
    return ids


def _action_value(name: str, kind: str, value: Any) -> Any:
    if kind == _CLUSTER_ID:
        return validate_id(value, "cluster", name)
    if kind == _CLUSTER_IDS:
        return _ids(value, name, _ID_PATTERNS["cluster"], _ID_EXAMPLES["cluster"])
    if kind == _NODE_IDS:
        return _ids(value, name, _NODE_ID, "cln-2x5w6l81")
    if kind == _VERSION_ID:
        if not isinstance(value, str) or not _VERSION.fullmatch(value.strip()):
            raise InvalidParameterError(name, f"{value!r} is not an application version id (like 'appv-gva21mw0')")
        return value.strip()
    if kind == _INT:
        low, high = _INT_RANGES.get(name, (0, None))
        return validate_int(value, name, low, high)
    if kind == _JSON:
        if isinstance(value, (dict, list)):
            return json.dumps(value, separators=(",", ":"))  # upstream asks for JSON without white space
        if isinstance(value, str):
            try:
                json.loads(value)
            except ValueError:
                raise InvalidParameterError(name, f"{value[:60]!r} is not JSON") from None
            return value
        raise InvalidParameterError(name, f"{value!r} is not JSON (a dict, a list or a JSON string)")
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(name, f"{value!r} is not a non-empty string")
    return value.strip()


def validate_cluster_action(action: Any, params: Any, parameter: str = "parameters") -> dict[str, Any]:
    """The request parameters of a cluster ``action`` (a key of :data:`CLUSTER_ACTIONS`), checked: each known
    parameter of the kind upstream documents, the required ones present, no unknown one. ``None`` values are
    dropped. Errors name the action's parameter (``action`` for an unknown action, ``parameter`` for a
    parameter the action does not take)."""
    if action not in CLUSTER_ACTIONS:
        raise InvalidParameterError("action", f"{action!r} is not a cluster action", ", ".join(CLUSTER_ACTIONS))
    spec = CLUSTER_ACTIONS[action]
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidParameterError(parameter, f"{type(params).__name__} is not a dict of request parameters")
    unknown = sorted(str(k) for k in params if k not in spec.params)
    if unknown:
        raise InvalidParameterError(
            parameter, f"{action} takes no parameter {', '.join(map(repr, unknown))}", ", ".join(spec.params)
        )
    checked = {
        name: _action_value(name, spec.params[name], value) for name, value in params.items() if value is not None
    }
    for name in spec.required:
        if name not in checked:
            raise InvalidParameterError(name, f"{action} needs {name} ({spec.params[name]})")
    return checked


def action_clusters(action: str, params: dict[str, Any]) -> list[str]:
    """The clusters a validated action's request names (none for an action that creates one)."""
    name = CLUSTER_ACTIONS[action].clusters_param
    if name is None:
        return []
    value = params[name]
    return list(value) if isinstance(value, list) else [value]


def started_jobs(answer: dict[str, Any], clusters: list[str]) -> dict[str, str]:
    """``{cluster id: job id}`` from a cluster action's answer.

    StartClusters and StopClusters answer with ``job_ids``, a map of cluster id to job id (their API pages show
    it in the example and describe it under ``job_id``, so a map under either name is taken); the others with
    one ``job_id`` string, for the answer's ``cluster_id`` or the cluster the request named.
    """
    for key in ("job_ids", "job_id"):
        value = answer.get(key)
        if isinstance(value, dict) and value:
            return {str(cluster): str(job) for cluster, job in value.items()}
    job_id = answer.get("job_id")
    if isinstance(job_id, str) and job_id:
        owners = [str(answer["cluster_id"])] if answer.get("cluster_id") else clusters
        return {cluster: job_id for cluster in owners} if owners else {"": job_id}
    raise JobLogsError(
        f"the {answer.get('action') or 'action'} answer names no job (no job_id or job_ids)", service=SERVICE
    )


# -- records ------------------------------------------------------------------------------------------------
def normalize_job(job: dict[str, Any]) -> dict[str, Any]:
    """The job record unchanged, except ``directive`` decoded from its JSON string (kept as is if not JSON)."""
    record = dict(job)
    directive = record.get("directive")
    if isinstance(directive, str) and directive.strip():
        try:
            record["directive"] = json.loads(directive)
        except ValueError:
            pass
    return record


def _field(job: dict[str, Any], name: str) -> str:
    value = job.get(name)
    return str(value) if value not in (None, "") else "-"


def job_line(job: dict[str, Any]) -> str:
    """``create_time  job_action  status  resource_ids  error_codes`` (an empty field shows as ``-``; the time in
    Airflow's time zone, :func:`airflow_joblogs.timestamps.render`)."""
    return "  ".join(
        (
            render_time(job.get("create_time")),
            *(_field(job, name) for name in ("job_action", "status", "resource_ids", "error_codes")),
        )
    )


class _JobLines:
    """The text and record of a job record's chunk (a :class:`LazyLogChunk` whose ``source`` is the record as
    listed): :func:`job_line` and :func:`normalize_job`, each built when first read."""

    @staticmethod
    def text(chunk: LazyLogChunk) -> str:
        return job_line(chunk.source)

    @staticmethod
    def record(chunk: LazyLogChunk) -> dict[str, Any]:
        return normalize_job(chunk.source)


_JOB_LINES = _JobLines()


def state_of(status: Any) -> JobState:
    return _STATE_OF.get(status, JobState.UNKNOWN) if isinstance(status, str) else JobState.UNKNOWN


def aggregate_status(statuses: list[Any]) -> Any:
    """One raw status for a set of jobs: ``failed`` if any failed (the set failed; waiting on is pointless),
    else an undocumented value if any has one, else ``pending``/``working`` while any is, else ``successful``."""
    if "failed" in statuses:
        return "failed"
    for status in statuses:
        if status not in JOB_STATUSES:
            return status
    for status in ("pending", "working"):
        if status in statuses:
            return status
    return "successful"


def _jobs_status(job_ref: dict[str, Any], jobs: list[dict[str, Any]]) -> JobStatus:
    """The :class:`JobStatus` of the referenced jobs from their records (in the order of ``job_ref["jobs"]``): the
    raw status of :func:`aggregate_status`, each job's status in ``message`` (and any undocumented one named), each
    job's fields in ``detail["jobs"]``."""
    statuses = [job.get("status") for job in jobs]
    raw = aggregate_status(statuses)
    undocumented = sorted({str(s) for s in statuses if s not in JOB_STATUSES})
    message = ", ".join(f"{job.get('job_id')} {job.get('status')}" for job in jobs)
    if undocumented:
        message += f" (undocumented status {', '.join(undocumented)}; documented: {', '.join(JOB_STATUSES)})"
    return JobStatus(
        service=SERVICE,
        job_id=",".join(job_ref["jobs"]),
        state=state_of(raw),
        raw_status=raw,
        name=", ".join(dict.fromkeys(str(job.get("job_action") or "") for job in jobs)),
        message=message,
        detail={
            "jobs": [
                {
                    k: job.get(k)
                    for k in ("job_id", "job_action", "status", "status_time", "resource_ids", "error_codes")
                }
                for job in jobs
            ]
        },
    )


def _status_line(job: dict[str, Any]) -> str:
    """``job_action on resource_ids is status since status_time`` (and its error codes, if any): a job's line when
    its status changed."""
    text = f"{_field(job, 'job_action')} on {_field(job, 'resource_ids')} is {job.get('status')} since {render_time(job.get('status_time'))}"
    if job.get("error_codes"):
        text += f" (error_codes {job['error_codes']})"
    return text


def _failed_job_units(jobs: list[dict[str, Any]], raw_status: Any, tail_lines: int) -> list[FailedUnit]:
    """A unit for each failed job (or one with an undocumented status; when none, each job in ``raw_status``, a
    custom failure state): its action, resources, status and error codes, and as its "log tail" the last
    ``tail_lines`` of its line, status time and ``directive`` (at most 500 characters)."""
    bad = [job for job in jobs if job.get("status") == "failed" or job.get("status") not in JOB_STATUSES]
    if not bad:  # a custom failure state (e.g. "pending"): name the jobs in it
        bad = [job for job in jobs if job.get("status") == raw_status]
    units = []
    for job in bad:
        directive = job.get("directive")
        lines = [job_line(job), f"status_time {render_time(job.get('status_time'))}"]
        if directive:
            text = directive if isinstance(directive, str) else json.dumps(directive)
            lines.append("directive " + (text if len(text) <= 500 else text[:500] + "..."))
        units.append(
            FailedUnit(
                name=f"job {job.get('job_id')} {_field(job, 'job_action')} on {_field(job, 'resource_ids')}",
                reason=f"status {job.get('status')!r}, error_codes {_field(job, 'error_codes')}",
                log_tail="\n".join(lines[-tail_lines:]) if tail_lines > 0 else "",
            )
        )
    return units
