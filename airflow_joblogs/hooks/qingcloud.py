"""QingCloud AppCenter (ChronusDB) cluster jobs: ``DescribeClusterJobs`` / ``DescribeJobs`` over the IaaS API, and
the cluster actions that start them.

A cluster job is an operation record (``AddClusterNodes``, ``ResizeCluster``, ``CeaseResources`` ...)
with a status that moves ``pending`` -> ``working`` -> ``successful`` | ``failed``. Its "log" is the record
itself: the hook exports records (``directive`` decoded from its JSON string) and readable lines
``create_time  job_action  status  resource_ids  error_codes``.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import AsyncIterator, Collection, Iterator
from dataclasses import dataclass
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
    ConnectionSettings,
    JobLogsHook,
    client_options,
    connection_extra,
    mask,
)

# The job model lives in a module without the HTTP client (cheap for the sensor); this module is its documented
# home, so every name is available here too.
from airflow_joblogs.hooks.qingcloud_model import (  # noqa: F401
    _JOB_LINES,
    CLUSTER_ACTIONS,
    DEFAULT_LIMIT,
    FAILURE_STATUSES,
    JOB_STATUSES,
    MAX_LIMIT,
    SERVICE,
    SUCCESS_STATUSES,
    VERBOSE_VALUES,
    ClusterActionSpec,
    _failed_job_units,
    _jobs_status,
    _status_line,
    action_clusters,
    aggregate_status,
    cluster_jobs_query,
    job_line,
    job_ref,
    normalize_job,
    started_jobs,
    state_of,
    validate_cluster_action,
    validate_id,
    validate_int,
    validate_job_ids,
    validate_paging,
    validate_statuses,
    validate_zone,
)
from airflow_joblogs.http import (
    ApiRequest,
    Call,
    Decode,
    Program,
    ServiceClient,
    json_body,
    raise_for_http_status,
    retry_after_seconds,
)
from airflow_joblogs.models import JobStatus, LazyLogChunk, LogChunk

if TYPE_CHECKING:
    from airflow.sdk import Connection

DEFAULT_HOST = "https://api.qingcloud.com"
API_PATH = "/iaas/"

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
        raise TransientError(message, retry_after=retry_after_seconds(response), **kwargs)
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


@dataclass(frozen=True)
class QingCloudSettings(ConnectionSettings):
    """A ``qingcloud`` connection's settings: its zone besides the shared ones."""

    zone: str = ""


class QingCloudHook(JobLogsHook[QingCloudSettings]):
    """Talk to the QingCloud IaaS API (``/iaas/``) with signature v1.

    Raw methods mirror the API one-to-one and return the response body unchanged
    (:meth:`describe_cluster_jobs`, :meth:`describe_jobs`, and the cluster actions that start cluster jobs:
    :meth:`start_clusters`, :meth:`stop_clusters`, :meth:`restart_cluster_service`, :meth:`resize_cluster`,
    :meth:`add_cluster_nodes`, :meth:`delete_cluster_nodes`, :meth:`deploy_app_version`, or any of them by
    name with :meth:`cluster_action`); the normalized layer (:meth:`get_job_status`,
    :meth:`iter_cluster_jobs`, :meth:`iter_cluster_job_chunks` and their ``a``-prefixed async twins) is what
    the sensor, trigger and operator use.

    :param qingcloud_conn_id: connection of type ``qingcloud`` (default ``qingcloud_default``).
    """

    conn_type = "qingcloud"
    default_conn_name = "qingcloud_default"
    conn_name_attr = "qingcloud_conn_id"
    hook_name = "QingCloud"
    service = SERVICE

    @property
    def zone(self) -> str:
        """The connection's zone (:attr:`settings`)."""
        return self.settings.zone

    # -- connection -------------------------------------------------------------------------------------
    def client_from_connection(self, conn: Connection) -> tuple[ServiceClient, QingCloudSettings]:
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
        client = ServiceClient(
            service=SERVICE,
            base_url=host,
            auth=QingCloudSignatureV1(conn.login.strip(), conn.password),
            **client_options(extra),
        )
        console = extra.get("console_url")
        return client, QingCloudSettings(conn.conn_id, host, str(console) if console else None, zone)

    # -- requests -----------------------------------------------------------------------------------------
    @staticmethod
    def _request(action: str, params: dict[str, Any], zone: str | None, *, idempotent: bool = True) -> ApiRequest:
        """The signed-to-be request of ``action``, in the zone ``params`` name, else in ``zone`` (the connection's)."""
        wire = {"action": action, **params, "zone": params.get("zone") or zone}
        # req_id travels signed, like the official SDK's: it names the call in errors and support tickets
        wire["req_id"] = uuid.uuid4().hex
        return ApiRequest("GET", API_PATH, params=flatten_params(wire), idempotent=idempotent)

    @staticmethod
    def _cluster_jobs_call(
        query: dict[str, Any],
        zone: str | None,
        offset: int,
        limit: int,
        verbose: int = 0,
        decode: Decode = decode_response,
    ) -> Call:
        params = {**query, "verbose": verbose, "offset": offset, "limit": limit}
        return Call(QingCloudHook._request("DescribeClusterJobs", params, zone), decode)

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
        api, settings = self.connect()
        call = self._cluster_jobs_call(query, settings.zone, offset, limit, verbose)
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
        api, settings = await self.aconnect()
        call = self._cluster_jobs_call(query, settings.zone, offset, limit, verbose)
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
        api, settings = self.connect()
        params.update(verbose=verbose, offset=offset, limit=limit)
        return api.call(self._request("DescribeJobs", params, settings.zone), decode_response)

    # -- cluster actions (each starts cluster jobs; the answer unchanged) -------------------------------------
    @staticmethod
    def _action_params(action: str, params: dict[str, Any] | None, zone: str | None) -> dict[str, Any]:
        checked = validate_cluster_action(action, params)
        if zone not in (None, ""):
            checked["zone"] = validate_zone(zone)
        return checked

    def cluster_action(
        self, action: str, params: dict[str, Any] | None = None, zone: str | None = None
    ) -> dict[str, Any]:
        """Send a cluster ``action`` of :data:`CLUSTER_ACTIONS` with its request ``params`` (checked first, signed
        like every call); the answer unchanged, with ``job_id`` or ``job_ids`` (see :func:`started_jobs`)."""
        checked = self._action_params(action, params, zone)
        api, settings = self.connect()
        return api.call(self._request(action, checked, settings.zone, idempotent=False), decode_response)

    async def acluster_action(
        self, action: str, params: dict[str, Any] | None = None, zone: str | None = None
    ) -> dict[str, Any]:
        """The async twin of :meth:`cluster_action`."""
        checked = self._action_params(action, params, zone)
        api, settings = await self.aconnect()
        return await api.acall(self._request(action, checked, settings.zone, idempotent=False), decode_response)

    @staticmethod
    def _given(**params: Any) -> dict[str, Any]:
        return {name: value for name, value in params.items() if value is not None}

    def start_clusters(self, clusters: list[str] | str, zone: str | None = None) -> dict[str, Any]:
        """``StartClusters``: start stopped clusters; ``{"action", "job_ids": {cluster id: job id}, "ret_code"}``."""
        return self.cluster_action("StartClusters", {"clusters": clusters}, zone)

    def stop_clusters(self, clusters: list[str] | str, zone: str | None = None) -> dict[str, Any]:
        """``StopClusters``: stop active clusters; ``{"action", "job_ids": {cluster id: job id}, "ret_code"}``."""
        return self.cluster_action("StopClusters", {"clusters": clusters}, zone)

    def restart_cluster_service(self, cluster: str, role: str | None = None, zone: str | None = None) -> dict[str, Any]:
        """``RestartClusterService``: restart the service of a cluster (or of one node ``role``);
        ``{"action", "cluster_id", "job_id", "ret_code"}``."""
        return self.cluster_action("RestartClusterService", self._given(cluster=cluster, role=role), zone)

    def resize_cluster(
        self,
        cluster: str,
        node_role: str | None = None,
        cpu: int | None = None,
        memory: int | None = None,
        gpu: int | None = None,
        storage_size: int | None = None,
        instance_class: int | None = None,
        zone: str | None = None,
    ) -> dict[str, Any]:
        """``ResizeCluster``: change the nodes' CPUs, memory (MB), GPUs, storage (GB) or instance class;
        ``{"action", "cluster_id", "cpu", "memory", "gpu", "storage_size", "job_id", "ret_code"}``."""
        params = self._given(
            cluster=cluster,
            node_role=node_role,
            cpu=cpu,
            memory=memory,
            gpu=gpu,
            storage_size=storage_size,
            instance_class=instance_class,
        )
        return self.cluster_action("ResizeCluster", params, zone)

    def add_cluster_nodes(
        self,
        cluster: str,
        node_count: int,
        node_role: str | None = None,
        node_name: str | None = None,
        resource_conf: Any = None,
        private_ips: Any = None,
        owner: str | None = None,
        zone: str | None = None,
    ) -> dict[str, Any]:
        """``AddClusterNodes``: add ``node_count`` nodes (of ``node_role``); ``resource_conf`` and ``private_ips``
        are JSON (a dict/list is sent as compact JSON); ``{"action", "cluster_id", "new_node_ids", "job_id",
        "ret_code"}``."""
        params = self._given(
            cluster=cluster,
            node_count=node_count,
            node_role=node_role,
            node_name=node_name,
            resource_conf=resource_conf,
            private_ips=private_ips,
            owner=owner,
        )
        return self.cluster_action("AddClusterNodes", params, zone)

    def delete_cluster_nodes(
        self,
        cluster: str,
        nodes: list[str] | str,
        force: int | None = None,
        owner: str | None = None,
        zone: str | None = None,
    ) -> dict[str, Any]:
        """``DeleteClusterNodes``: delete nodes (``cln-...``); ``{"action", "cluster_id", "deleted_node_ids",
        "job_id", "ret_code"}``."""
        params = self._given(cluster=cluster, nodes=nodes, force=force, owner=owner)
        return self.cluster_action("DeleteClusterNodes", params, zone)

    def deploy_app_version(
        self,
        version_id: str,
        conf: Any,
        debug: int | None = None,
        charge_mode: str | None = None,
        duration: int | None = None,
        hypervisor: str | None = None,
        zone: str | None = None,
    ) -> dict[str, Any]:
        """``DeployAppVersion``: create a cluster of an application version from ``conf`` (JSON: a dict is sent as
        compact JSON); ``{"action", "app_id", "app_version", "cluster_id", "cluster_name", "node_ids",
        "node_count", "vxnet_id", "job_id", "ret_code"}``."""
        params = self._given(
            version_id=version_id,
            conf=conf,
            debug=debug,
            charge_mode=charge_mode,
            duration=duration,
            hypervisor=hypervisor,
        )
        return self.cluster_action("DeployAppVersion", params, zone)

    # -- run operator contract ---------------------------------------------------------------------------------
    @staticmethod
    def _no_cancel(job_ref: dict[str, Any]) -> str:
        jobs = ", ".join(job_ref.get("jobs") or []) or "the job"
        return f"QingCloud has no API to terminate a cluster job: {jobs} keep(s) running until it ends by itself"

    def cancel_job(self, job_ref: dict[str, Any]) -> str:
        """QingCloud's API has no call that terminates a cluster job: says so (nothing is sent)."""
        return self._no_cancel(job_ref)

    async def acancel_job(self, job_ref: dict[str, Any]) -> str:
        return self._no_cancel(job_ref)

    def console_url(self, job_ref: dict[str, Any]) -> str | None:
        """None: no public source documents a console address for a cluster job (or its cluster)."""
        return None

    # -- programs: written once, run sync or async ------------------------------------------------------------
    def cluster_jobs_program(
        self,
        query: dict[str, Any],
        *,
        page_size: int = MAX_LIMIT,
        max_records: int | None = None,
        zone: str | None = None,
    ) -> Program:
        """Yield one :class:`LogChunk` per job record over all pages; return ``{"offset", "total_count"}``.

        ``query`` is :func:`cluster_jobs_query`'s; ``zone`` the zone to ask in when it names none (the
        connection's, from its settings).

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
            body = yield self._cluster_jobs_call(query, zone, offset, page_size, decode=check)
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

    def _jobs_of(self, settings: QingCloudSettings, job_ref: dict[str, Any]) -> Program:
        """The records of the referenced jobs, in the order of ``job_ref["jobs"]`` (a missing one is not found)."""
        query = {**job_ref, "zone": job_ref.get("zone") or settings.zone}
        body = yield self._cluster_jobs_call(query, settings.zone, 0, len(job_ref["jobs"]))
        found = {job.get("job_id"): job for job in body.get("job_set") or []}
        missing = [job_id for job_id in job_ref["jobs"] if job_id not in found]
        if missing:
            raise NotFoundError(f"cluster job(s) {', '.join(missing)} not found", service=SERVICE)
        return [found[job_id] for job_id in job_ref["jobs"]]

    def status_program(self, settings: QingCloudSettings, job_ref: dict[str, Any]) -> Program:
        jobs = yield from self._jobs_of(settings, job_ref)
        return _jobs_status(job_ref, jobs)

    def tail_program(self, settings: QingCloudSettings, job_ref: dict[str, Any], cursor: Any) -> Program:
        """Yield a line for each job whose status changed since ``cursor`` (``{job_id: "status@status_time"}``)."""
        seen: dict[str, str] = dict(cursor or {})
        jobs = yield from self._jobs_of(settings, job_ref)
        for job in jobs:
            job_id = str(job.get("job_id"))
            mark = f"{job.get('status')}@{job.get('status_time')}"
            if seen.get(job_id) == mark:
                continue
            seen[job_id] = mark
            yield LogChunk(text=_status_line(job), header=job_id)
        return seen

    def failure_program(
        self, settings: QingCloudSettings, job_ref: dict[str, Any], status: JobStatus, tail_lines: int
    ) -> Program:
        jobs = yield from self._jobs_of(settings, job_ref)
        return _failed_job_units(jobs, status.raw_status, tail_lines)

    def connection_check_program(self, settings: QingCloudSettings) -> Program:
        # DescribeJobs needs no application id: one record proves the signature, key and zone are accepted.
        body = yield Call(self._request("DescribeJobs", {"limit": 1}, settings.zone), decode_response)
        return f"Connected to QingCloud (zone {settings.zone}); credentials accepted ({body.get('total_count', 0)} jobs visible)."

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
        return self._stream(
            lambda settings: self.cluster_jobs_program(query, page_size=size, max_records=limit, zone=settings.zone)
        )

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
        async for chunk in self._astream(
            lambda settings: self.cluster_jobs_program(query, page_size=size, max_records=limit, zone=settings.zone)
        ):
            yield chunk

    #: the name every hook's log iterators have
    iter_log_chunks = iter_cluster_job_chunks
    aiter_log_chunks = aiter_cluster_job_chunks

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
