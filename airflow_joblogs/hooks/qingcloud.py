"""QingCloud AppCenter (ChronusDB) cluster jobs: ``DescribeClusterJobs`` / ``DescribeJobs`` over the IaaS API.

A cluster job is an operation record (``AddClusterNodes``, ``ResizeCluster``, ``CeaseResources`` ...)
with a status that moves ``pending`` -> ``working`` -> ``successful`` | ``failed``. Its "log" is the record
itself: the hook exports records (``directive`` decoded from its JSON string) and readable lines
``create_time  job_action  status  resource_ids  error_codes``.
"""

from __future__ import annotations

import ast
import functools
import json
import re
import uuid
from collections.abc import AsyncIterator, Collection, Iterable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

import httpx

from airflow_joblogs.auth.qingcloud import QingCloudSignatureV1, flatten_params
from airflow_joblogs.exceptions import (
    AuthenticationError,
    InvalidParameterError,
    JobLogsError,
    NotFoundError,
    PermissionDeniedError,
    RemoteValidationError,
    TransientError,
)
from airflow_joblogs.hooks.base import (
    JobLogsHook,
    as_bool,
    as_float,
    connection_extra,
    field_behaviour,
    form_widgets,
    mask,
    retry_policy_from_extra,
)
from airflow_joblogs.http import ApiRequest, Call, Decode, Program, ServiceClient, json_body, raise_for_http_status
from airflow_joblogs.models import FailedUnit, JobState, JobStatus, LazyLogChunk, LogChunk
from airflow_joblogs.timestamps import render as render_time
from airflow_joblogs.validation import as_int

if TYPE_CHECKING:
    from airflow.sdk import Connection

SERVICE = "QingCloud"
DEFAULT_HOST = "https://api.qingcloud.com"
API_PATH = "/iaas/"
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

#: the ret_codes of QingCloud's error code table that a read can meet (yunify/qingcloud-docs,
#: content/development_docs/api/error_code.md)
RET_CODES = {
    1100: "malformed message or parameter",
    1101: "no such action (request method error)",
    1200: "authentication failed",
    1300: "message expired",
    1400: "permission denied",
    2100: "resource not found",
    2400: "insufficient balance",
    2500: "quota exceeded",
    5000: "internal error",
    5100: "server busy",
    5200: "insufficient resources",
    5300: "service being updated",
}
#: retried with backoff: 5000 and 5100 as the official SDK retries them, 5300 (service being updated) because the
#: error code table says to try again later, and 2500 because the table counts too many API requests in a short
#: time as a quota excess (the SDK does not retry 2500; the attempts stay bounded)
RETRYABLE_RET_CODES = frozenset({2500, 5000, 5100, 5300})

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


# -- response decoding --------------------------------------------------------------------------------
_REQ_ID = re.compile(rb"(?:^|&)req_id=([^&]*)")


def _request_id(response: httpx.Response) -> str | None:
    # read from the raw query: parsing the whole signed query cost more than the rest of a page's checks
    try:
        found = _REQ_ID.search(response.request.url.query)
    except RuntimeError:  # a response built without its request
        return None
    return unquote_plus(found.group(1).decode("ascii", "replace")) if found else None


def decode_response(response: httpx.Response) -> dict[str, Any]:
    """Return the body when ``ret_code`` is 0; otherwise raise the matching exception.

    QingCloud answers errors with HTTP 200 and ``{"ret_code": N, "message": ...}``: 2500, 5000, 5100 and 5300
    are transient (retried with backoff); 1100, 1101, 1200, 1300, 1400, 2100 and the rest fail at once.
    """
    request_id = _request_id(response)
    if response.status_code != 200:
        try:
            body = response.json() if response.content else {}
        except ValueError:
            body = {}
        body = body if isinstance(body, dict) else {}
        message = str(body.get("message") or f"HTTP {response.status_code}")
        raise_for_http_status(response, SERVICE, message, code=body.get("ret_code"), request_id=request_id)
        raise JobLogsError(message, service=SERVICE, status_code=response.status_code, request_id=request_id)
    body = json_body(response, SERVICE, request_id)
    if not isinstance(body, dict) or "ret_code" not in body:
        raise TransientError(
            "response is not a QingCloud API answer (no ret_code)", service=SERVICE, request_id=request_id
        )
    code = body.get("ret_code")
    if code == 0:
        return body
    try:
        numeric = int(str(code))
    except (TypeError, ValueError):
        numeric = -1
    message = str(body.get("message") or RET_CODES.get(numeric, "request failed"))
    kwargs: dict[str, Any] = {"service": SERVICE, "code": code, "status_code": 200, "request_id": request_id}
    if numeric in RETRYABLE_RET_CODES:
        raise TransientError(message, retry_after=_retry_after(response), **kwargs)
    if numeric == 1300:
        raise AuthenticationError(
            f"{message}: the request's time_stamp was rejected as expired, so this machine's clock is probably "
            "off (QingCloud refuses a time_stamp more than 60 seconds old); synchronize it (NTP) and retry",
            **kwargs,
        )
    if numeric == 1200:
        raise AuthenticationError(message, **kwargs)
    if numeric == 1400:
        raise PermissionDeniedError(message, **kwargs)
    if numeric == 2100:
        raise NotFoundError(message, **kwargs)
    if numeric in (1100, 1101):
        raise RemoteValidationError(message, **kwargs)
    raise JobLogsError(message, **kwargs)


def decode_job_page(
    response: httpx.Response, *, offset: int, seen: Collection[str], total_before: int | None
) -> dict[str, Any]:
    """A ``DescribeClusterJobs`` page at ``offset``, checked against the records already read (``seen``).

    Newer jobs are listed first, so jobs created while paging push records already read onto later pages: as
    many repeats as ``total_count`` grew by are expected (and skipped by the pager). More repeats than that (a
    stale or overlapping page, an offset the service ignored), or no records before ``total_count``, would
    make the pager skip records: such a page is transient and asked for again.
    """
    body = decode_response(response)
    page = body.get("job_set") or []
    total = int(body.get("total_count") or 0)
    repeated = sum(1 for job in page if str(job.get("job_id")) in seen)
    grown = max(0, total - total_before) if total_before is not None else 0
    request_id = _request_id(response)
    if repeated > grown:
        raise TransientError(
            f"the page at offset {offset} repeats {repeated} records already read (the list grew by {grown})",
            service=SERVICE,
            request_id=request_id,
        )
    if not page and offset < total:
        raise TransientError(
            f"the page at offset {offset} is empty, yet total_count is {total}", service=SERVICE, request_id=request_id
        )
    return body


def _retry_after(response: httpx.Response) -> float | None:
    from airflow_joblogs.http import retry_after_seconds

    return retry_after_seconds(response)


class QingCloudHook(JobLogsHook):
    """Talk to the QingCloud IaaS API (``/iaas/``) with signature v1.

    Raw methods mirror the API one-to-one and return the response body unchanged
    (:meth:`describe_cluster_jobs`, :meth:`describe_jobs`); the normalized layer (:meth:`get_job_status`,
    :meth:`iter_cluster_jobs`, :meth:`iter_cluster_job_chunks` and their ``a``-prefixed async twins) is what
    the sensor, trigger and operator use.

    :param qingcloud_conn_id: connection of type ``qingcloud`` (default ``qingcloud_default``).
    """

    conn_type = "qingcloud"
    default_conn_name = "qingcloud_default"
    conn_name_attr = "qingcloud_conn_id"
    hook_name = "QingCloud"
    service = SERVICE

    def __init__(self, conn_id: str | None = None, *, qingcloud_conn_id: str | None = None, **kwargs: Any) -> None:
        super().__init__(conn_id or qingcloud_conn_id, **kwargs)
        self.qingcloud_conn_id = self.conn_id
        #: the connection's zone (set when the connection is read)
        self.zone: str | None = None

    # -- connection -------------------------------------------------------------------------------------
    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from airflow_joblogs.get_provider_info import connection_type

        return form_widgets(connection_type("qingcloud")["conn-fields"])

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from airflow_joblogs.get_provider_info import connection_type

        return field_behaviour(connection_type("qingcloud")["ui-field-behaviour"])

    def client_from_connection(self, conn: Connection) -> ServiceClient:
        extra = connection_extra(conn, self.conn_type)
        if not conn.login:
            raise InvalidParameterError("login", f"connection {conn.conn_id!r} needs the access key id as login")
        if not conn.password:
            raise InvalidParameterError(
                "password", f"connection {conn.conn_id!r} needs the secret access key as password"
            )
        mask(conn.password)
        if not extra.get("zone"):
            raise InvalidParameterError("zone", f"connection {conn.conn_id!r} needs a zone in its extra (like pek3a)")
        zone = validate_zone(extra["zone"])
        host = (conn.host or DEFAULT_HOST).strip()
        host = host if "://" in host else f"https://{host}"
        host = host.rstrip("/").removesuffix("/iaas")
        verify: bool | str = as_bool(extra.get("verify"), "verify", True)
        if verify and extra.get("ca_bundle"):
            verify = str(extra["ca_bundle"])
        client = ServiceClient(
            service=SERVICE,
            base_url=host,
            auth=QingCloudSignatureV1(conn.login.strip(), conn.password),
            verify=verify,
            timeout=as_float(extra.get("timeout"), "timeout", 60.0),
            retry=retry_policy_from_extra(extra),
            allow_http=as_bool(extra.get("allow_http"), "allow_http", False),
        )
        self.zone = zone
        return client

    # -- requests -----------------------------------------------------------------------------------------
    def _request(self, action: str, params: dict[str, Any]) -> ApiRequest:
        wire = {"action": action, **params, "zone": params.get("zone") or self.zone}
        # req_id travels signed, like the official SDK's: it names the call in errors and support tickets
        wire["req_id"] = uuid.uuid4().hex
        return ApiRequest("GET", API_PATH, params=flatten_params(wire))

    def _cluster_jobs_call(
        self, query: dict[str, Any], offset: int, limit: int, verbose: int = 0, decode: Decode = decode_response
    ) -> Call:
        return Call(
            self._request("DescribeClusterJobs", {**query, "verbose": verbose, "offset": offset, "limit": limit}),
            decode,
        )

    @staticmethod
    def _page(verbose: Any, offset: Any, limit: Any) -> tuple[int, int, int]:
        verbose = validate_int(verbose, "verbose", 0)
        if verbose not in VERBOSE_VALUES:
            raise InvalidParameterError("verbose", f"{verbose!r} is not supported", "0")
        return verbose, validate_int(offset, "offset", 0), validate_int(limit, "limit", 1, MAX_LIMIT)

    # -- raw API (one-to-one, bodies unchanged) ------------------------------------------------------------
    def describe_cluster_jobs(
        self,
        app: str | None = None,
        cluster: str | None = None,
        jobs: list[str] | str | None = None,
        status: list[str] | str | None = None,
        verbose: int = 0,
        offset: int = 0,
        limit: int = DEFAULT_LIMIT,
        zone: str | None = None,
    ) -> dict[str, Any]:
        """``DescribeClusterJobs``: one page of an application's (or a cluster's) job records.

        Returns the response unchanged: ``{"action", "total_count", "job_set": [...], "ret_code": 0}``.

        :param app: the application id (``app-...``); or ``cluster``.
        :param cluster: a cluster id (``cl-...``), as the official SDK sends.
        :param jobs: job ids (``j-...``) to return.
        :param status: statuses to return (``pending``, ``working``, ``successful``, ``failed``).
        :param verbose: only 0 is supported by the API.
        :param offset: records to skip.
        :param limit: records per page, 1 to 100.
        :param zone: the zone (default: the connection's).
        """
        query = cluster_jobs_query(app, cluster, jobs, status, zone)
        verbose, offset, limit = self._page(verbose, offset, limit)
        api = self.api  # reads the connection (and its zone) first
        call = self._cluster_jobs_call(query, offset, limit, verbose)
        return api.call(call.request, call.decode)

    async def adescribe_cluster_jobs(
        self,
        app: str | None = None,
        cluster: str | None = None,
        jobs: list[str] | str | None = None,
        status: list[str] | str | None = None,
        verbose: int = 0,
        offset: int = 0,
        limit: int = DEFAULT_LIMIT,
        zone: str | None = None,
    ) -> dict[str, Any]:
        """The async twin of :meth:`describe_cluster_jobs`."""
        query = cluster_jobs_query(app, cluster, jobs, status, zone)
        verbose, offset, limit = self._page(verbose, offset, limit)
        api = await self.aget_api()
        call = self._cluster_jobs_call(query, offset, limit, verbose)
        return await api.acall(call.request, call.decode)

    def describe_jobs(
        self,
        jobs: list[str] | str | None = None,
        status: list[str] | str | None = None,
        job_action: str | None = None,
        verbose: int = 0,
        offset: int = 0,
        limit: int = DEFAULT_LIMIT,
        zone: str | None = None,
    ) -> dict[str, Any]:
        """``DescribeJobs``: one page of the account's plain IaaS jobs; the response unchanged."""
        params: dict[str, Any] = {
            "jobs": validate_job_ids(jobs) or None,
            "status": validate_statuses(status) or None,
            "job_action": job_action or None,
            "zone": validate_zone(zone) if zone not in (None, "") else None,
        }
        verbose, offset, limit = self._page(verbose, offset, limit)
        api = self.api
        request = self._request("DescribeJobs", {**params, "verbose": verbose, "offset": offset, "limit": limit})
        return api.call(request, decode_response)

    # -- programs: written once, run sync or async ------------------------------------------------------------
    def cluster_jobs_program(
        self, query: dict[str, Any], *, page_size: int = MAX_LIMIT, max_records: int | None = None
    ) -> Program:
        """Yield one :class:`LogChunk` per job record over all pages; return ``{"offset", "total_count"}``.

        Each chunk's ``text`` is the readable line and its ``record`` the record with ``directive`` decoded (each
        built when first read).
        A record seen on an earlier page (the list shifted while paging) is not yielded again; a page that
        repeats more records than the list grew by, or an empty page before ``total_count``, is asked for
        again (:func:`decode_job_page`), so no record is skipped.
        """
        offset = total = emitted = 0
        seen: set[str] = set()
        while True:
            check = functools.partial(decode_job_page, offset=offset, seen=seen, total_before=total if offset else None)
            body = yield self._cluster_jobs_call(query, offset, page_size, decode=check)
            page = body.get("job_set") or []
            total = int(body.get("total_count") or 0)
            for index, job in enumerate(page, 1):
                key = str(job.get("job_id"))
                if key in seen:
                    continue
                seen.add(key)
                yield LazyLogChunk(_JOB_LINES, job, cursor={"offset": offset + index})
                emitted += 1
                if max_records is not None and emitted >= max_records:
                    return {"offset": offset + index, "total_count": total}
            offset += len(page)  # the offset always advances, so paging ends
            if not page or offset >= total:
                return {"offset": offset, "total_count": total}

    def _jobs_of(self, job_ref: dict[str, Any]) -> Program:
        """The records of the referenced jobs, in the order of ``job_ref["jobs"]`` (a missing one is not found)."""
        body = yield self._cluster_jobs_call(job_ref, 0, len(job_ref["jobs"]))
        found = {job.get("job_id"): job for job in body.get("job_set") or []}
        missing = [job_id for job_id in job_ref["jobs"] if job_id not in found]
        if missing:
            raise NotFoundError(f"cluster job(s) {', '.join(missing)} not found", service=SERVICE)
        return [found[job_id] for job_id in job_ref["jobs"]]

    def status_program(self, job_ref: dict[str, Any]) -> Program:
        jobs = yield from self._jobs_of(job_ref)
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

    def tail_program(self, job_ref: dict[str, Any], cursor: Any) -> Program:
        """Yield a line for each job whose status changed since ``cursor`` (``{job_id: "status@status_time"}``)."""
        seen: dict[str, str] = dict(cursor or {})
        jobs = yield from self._jobs_of(job_ref)
        for job in jobs:
            job_id = str(job.get("job_id"))
            mark = f"{job.get('status')}@{job.get('status_time')}"
            if seen.get(job_id) == mark:
                continue
            seen[job_id] = mark
            text = f"{_field(job, 'job_action')} on {_field(job, 'resource_ids')} is {job.get('status')} since {render_time(job.get('status_time'))}"
            if job.get("error_codes"):
                text += f" (error_codes {job['error_codes']})"
            yield LogChunk(text=text, header=job_id)
        return seen

    def failure_program(self, job_ref: dict[str, Any], status: JobStatus, tail_lines: int) -> Program:
        jobs = yield from self._jobs_of(job_ref)
        bad = [job for job in jobs if job.get("status") == "failed" or job.get("status") not in JOB_STATUSES]
        if not bad:  # a custom failure state (e.g. "pending"): name the jobs in it
            bad = [job for job in jobs if job.get("status") == status.raw_status]
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

    def connection_check_program(self) -> Program:
        # DescribeJobs needs no application id: one record proves the signature, key and zone are accepted.
        body = yield Call(self._request("DescribeJobs", {"limit": 1}), decode_response)
        return f"Connected to QingCloud (zone {self.zone}); credentials accepted ({body.get('total_count', 0)} jobs visible)."

    # -- normalized layer -------------------------------------------------------------------------------------
    def get_job_status(
        self,
        job_id: str | list[str],
        app: str | None = None,
        *,
        cluster: str | None = None,
        zone: str | None = None,
    ) -> JobStatus:
        """The :class:`JobStatus` of one job, or of a set of jobs (``job_id`` a list).

        For a set, ``raw_status`` is ``failed`` when any job failed, ``successful`` when all succeeded,
        otherwise ``pending``/``working`` (see :func:`aggregate_status`); ``detail["jobs"]`` lists each job.
        """
        return self.job_status_from_ref(job_ref(job_id, app, cluster, zone))

    async def aget_job_status(
        self,
        job_id: str | list[str],
        app: str | None = None,
        *,
        cluster: str | None = None,
        zone: str | None = None,
    ) -> JobStatus:
        return await self.ajob_status_from_ref(job_ref(job_id, app, cluster, zone))

    def iter_cluster_job_chunks(
        self,
        app: str | None = None,
        cluster: str | None = None,
        jobs: list[str] | str | None = None,
        status: list[str] | str | None = None,
        zone: str | None = None,
        *,
        page_size: int = MAX_LIMIT,
        max_records: int | None = None,
    ) -> Iterator[LogChunk]:
        """Every matching job record over all pages, one :class:`LogChunk` each (readable line + record)."""
        query = cluster_jobs_query(app, cluster, jobs, status, zone)
        size, limit = validate_paging(page_size, max_records)
        return self.api.iterate(self.cluster_jobs_program(query, page_size=size, max_records=limit))

    async def aiter_cluster_job_chunks(
        self,
        app: str | None = None,
        cluster: str | None = None,
        jobs: list[str] | str | None = None,
        status: list[str] | str | None = None,
        zone: str | None = None,
        *,
        page_size: int = MAX_LIMIT,
        max_records: int | None = None,
    ) -> AsyncIterator[LogChunk]:
        query = cluster_jobs_query(app, cluster, jobs, status, zone)
        size, limit = validate_paging(page_size, max_records)
        api = await self.aget_api()
        async for chunk in api.aiterate(self.cluster_jobs_program(query, page_size=size, max_records=limit)):
            yield chunk

    def iter_cluster_jobs(self, *args: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Every matching job record over all pages (``directive`` decoded); same arguments as
        :meth:`iter_cluster_job_chunks`."""
        for chunk in self.iter_cluster_job_chunks(*args, **kwargs):
            assert chunk.record is not None
            yield chunk.record

    async def aiter_cluster_jobs(self, *args: Any, **kwargs: Any) -> AsyncIterator[dict[str, Any]]:
        async for chunk in self.aiter_cluster_job_chunks(*args, **kwargs):
            assert chunk.record is not None
            yield chunk.record
