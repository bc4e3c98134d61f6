"""Tencent BlueKing JOB: job status and per-host logs over ESB v2 or API gateway v3."""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from airflow_joblogs.auth.blueking import BlueKingCredentials, BlueKingEsbAuth, BlueKingGatewayAuth
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
    answer_object,
    client_options,
    connection_extra,
    mask,
)

# The job model lives in a module without the HTTP client (cheap for the sensor); this module is its documented
# home, so every name is available here too.
from airflow_joblogs.hooks.blueking_model import (  # noqa: F401
    API_STYLES,
    DEFAULT_LOG_CONCURRENCY,
    FAILURE_STATUSES,
    HOST_ACTIVE_STATUSES,
    HOST_OK_STATUSES,
    HOST_STATUS_NAMES,
    JOB_STATUS_NAMES,
    MAX_HOSTS_PER_BATCH,
    MAX_LOG_CONCURRENCY,
    SCOPE_TYPES,
    SCRIPT_LANGUAGES,
    SERVICE,
    SUCCESS_STATUSES,
    TERMINATE_JOB,
    _batch_chunks,
    _esb_chunks,
    _failed_steps,
    _global_var,
    _header,
    _host_failure,
    _host_key,
    _ip_entry,
    _steps_from_status,
    _tail,
    _to_status,
    host_status_name,
    job_ref,
    permission_text,
    positive_int,
    scope,
    script_fields,
    status_name,
    validate_concurrency,
    validate_target_server,
)
from airflow_joblogs.hooks.blueking_model import (
    global_var_list as _global_var_list,
)
from airflow_joblogs.http import ApiRequest, Call, Gather, Outputs, Program, ServiceClient, relay, retry_after_seconds
from airflow_joblogs.models import FailedUnit, JobStatus, LogChunk
from airflow_joblogs.validation import as_int

if TYPE_CHECKING:
    from airflow.sdk import Connection

# bk-job ErrorCode (src/backend/commons/common/.../constant/ErrorCode.java) and ESB's codes
# (legacy-bk-paas paas-ce/paas/esb/common/errors.py); see docs/emulators/blueking.rst "Fidelity"
#: 1240001 SERVICE_UNAVAILABLE, 1240002 INTERNAL_ERROR; ESB 1306201 REQUEST_THIRD_PARTY_ERROR (ESB could not reach
#: JOB), 1306203 REQUEST_SSL_ERROR, 1306429 RATE_LIMIT_RESTRICTION
_RETRYABLE_CODES = frozenset({1240001, 1240002, 1306201, 1306429})
#: 9900403 BK_PERMISSION_DENIED (with a ``permission`` object), 1238001 PERMISSION_DENIED (older),
#: 1247403 USER_ACCESS_APP_FORBIDDEN; ESB 1306402 USER_PERMISSION_DENIED, 1306403 APP_PERMISSION_DENIED
_PERMISSION_CODES = frozenset({9900403, 1238001, 1247403, 1306402, 1306403})
#: 1244006 TASK_INSTANCE_NOT_EXIST (also a step of another job), 1244007 STEP_INSTANCE_NOT_EXIST
_NOT_FOUND_CODES = frozenset({1244006, 1244007})
#: 1247001 USER_NOT_EXIST_OR_NOT_LOGIN_IN, 1247002 MISSING_USER_INFO, 1247004 MISSING_APP_CODE
_AUTH_CODES = frozenset({1247001, 1247002, 1247004})
#: ESB answers every failed app or user check with its generic 1306000; these words tell them apart
_ESB_AUTH_WORDS = ("app code", "app secret", "user authentication", "bk_token", "bk_access_token", "signature")
#: the gateway's INVALID_ARGS reasons that are about the caller's credentials
_GATEWAY_AUTH_WORDS = ("app code", "app_code", "app secret", "bk_app_secret", "user", "bk_token", "access_token")
USER_HINT = (
    "the user must be verified: set bk_token (a user's login token) or access_token (a user access token) in the "
    "connection's extra; bk_username alone is accepted only for an app the gateway exempts from user verification "
    "(ESB: its skip_user_auth white list)"
)
#: the entry of a host the answer left out (read, never written)
_NO_LOG: dict[str, Any] = {}


# -- response decoding --------------------------------------------------------------------------------
def decode_envelope(response: httpx.Response) -> dict[str, Any]:
    """Check a v2/v3 envelope (``result``/``code``/``message``) or a gateway error; return the whole body."""
    body = answer_object(
        response,
        SERVICE,
        response.headers.get("X-Bkapi-Request-Id"),
        _error_fields,
        retry_after=_rate_limit_wait(response) if response.status_code == 429 else None,
        throttled="rate limited by the API gateway",
    )
    code, message, request_id = _error_fields(body)
    request_id = response.headers.get("X-Bkapi-Request-Id") or request_id
    if body.get("result") is True and code in (0, "0", None):
        return body
    kwargs: dict[str, Any] = {
        "service": SERVICE,
        "code": code,
        "status_code": response.status_code,
        "request_id": request_id,
    }
    if "code_name" in body:  # the API gateway's own error (16xxxxx)
        raise _gateway_error(body, message, kwargs)
    try:
        numeric = int(str(code))
    except ValueError:
        numeric = -1
    if numeric in _RETRYABLE_CODES:
        raise TransientError(message or "internal error", **kwargs)
    if numeric in _PERMISSION_CODES:
        kwargs["details"] = {"permission": body["permission"]} if isinstance(body.get("permission"), dict) else None
        raise PermissionDeniedError(message + permission_text(body.get("permission")), **kwargs)
    if numeric in _NOT_FOUND_CODES:
        raise NotFoundError(message, **kwargs)
    if numeric in _AUTH_CODES or response.status_code == 401:
        raise AuthenticationError(message, **kwargs)
    if numeric == 1306000 and any(word in message.lower() for word in _ESB_AUTH_WORDS):
        hint = f"; {USER_HINT}" if "user authentication" in message.lower() else ""
        raise AuthenticationError(f"ESB: {message}{hint}", **kwargs)
    if 1241000 <= numeric < 1242000 or numeric in (1240003, 1306406):
        raise RemoteValidationError(message, **kwargs)
    raise JobLogsError(message or "request failed", **kwargs)


def _error_fields(body: dict[str, Any]) -> tuple[Any, str, str | None]:
    """(code, message, request id) of an envelope or a gateway error."""
    request_id = body.get("request_id") or body.get("job_request_id")
    return body.get("code"), str(body.get("message") or ""), str(request_id) if request_id else None


def _rate_limit_wait(response: httpx.Response) -> float | None:
    """``Retry-After``, else the gateway's ``X-Bkapi-RateLimit-Reset`` (seconds until its window resets; the
    gateway's bk-rate-limit plugin sends no Retry-After)."""
    wait = retry_after_seconds(response)
    if wait is None:
        try:
            wait = max(0.0, float(response.headers.get("X-Bkapi-RateLimit-Reset", "")))
        except ValueError:
            return None
    return wait


def _gateway_error(body: dict[str, Any], message: str, kwargs: dict[str, Any]) -> JobLogsError:
    """The error for the API gateway's own answer (blueking-apigateway-apisix ``plugins/bk-core/errorx.lua``)."""
    name, status = str(body["code_name"]), kwargs["status_code"]
    where = f"API gateway: {message} ({name})"
    if name in ("INVALID_ARGS", "APP_VERIFY_FAILED", "USER_VERIFY_FAILED", "UNAUTHORIZED", "JWT_VERIFY_FAILED") and (
        status == 401 or name != "INVALID_ARGS" or any(w in message.lower() for w in _GATEWAY_AUTH_WORDS)
    ):
        if "user" in message.lower():
            where += f"; {USER_HINT}"
        return AuthenticationError(where, **kwargs)
    if name == "APP_NO_PERMISSION":
        return PermissionDeniedError(
            where + "; apply for this API's permission for the app (Developer Center: Cloud API permissions)", **kwargs
        )
    if status == 403:
        return PermissionDeniedError(where, **kwargs)
    if name == "API_NOT_FOUND":  # a wrong base URL or stage, not a missing job
        return JobLogsError(
            where + "; check the connection's host: the bk-job gateway base with its stage, e.g. "
            "https://bkapi.example.com/api/bk-job/prod",
            **kwargs,
        )
    if status == 404:
        return NotFoundError(where, **kwargs)
    return RemoteValidationError(where, **kwargs)


def decode_batch_logs(response: httpx.Response, *, hosts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The log entries of a ``batch_get_job_instance_ip_log`` answer for ``hosts``, one per host in their order (an
    empty dict for a host the answer leaves out). An answer holding the log of a host that was not asked for is
    stale or mixed up (transient: it is asked for again), so no host gets another host's log."""
    data = decode_envelope(response).get("data") or {}
    entries = (data.get("script_task_logs") or []) + (data.get("file_task_logs") or [])
    asked = [h.get("bk_host_id") for h in hosts]
    if all(asked) and [entry.get("bk_host_id") for entry in entries] == asked:
        return entries  # the usual answer: the hosts asked for, in the order asked
    asked_ids = set(filter(None, asked))
    asked_ips: set[tuple[Any, Any]] | None = None  # only needed for an entry whose host id was not asked for
    logs: dict[Any, dict[str, Any]] = {}
    for entry in entries:
        host_id = entry.get("bk_host_id")
        address = (entry.get("bk_cloud_id", 0), entry.get("ip"))
        if host_id not in asked_ids:
            if asked_ips is None:
                asked_ips = {(h.get("bk_cloud_id", 0), h.get("ip")) for h in hosts}
            if address not in asked_ips:
                raise TransientError(
                    f"the answer holds the log of host {address[0]}:{address[1]}, which was not asked for",
                    service=SERVICE,
                    request_id=response.headers.get("X-Bkapi-Request-Id"),
                )
        if host_id:
            logs[host_id] = entry
        logs[address] = entry  # a host asked for by address finds its entry, whether or not the entry has an id
    return [logs.get(h.get("bk_host_id")) or logs.get((h.get("bk_cloud_id", 0), h.get("ip"))) or _NO_LOG for h in hosts]


@dataclass(frozen=True)
class BlueKingSettings(ConnectionSettings):
    """A ``bk_job`` connection's settings: the API style (``esb_v2`` or ``gateway_v3``) besides the shared ones."""

    api_style: str = "gateway_v3"


class BlueKingJobHook(JobLogsHook[BlueKingSettings]):
    """Talk to BlueKing JOB (ESB v2 or API gateway v3).

    Raw methods mirror the API one-to-one and return the response body unchanged; the normalized layer
    (:meth:`get_job_status`, :meth:`iter_log_chunks` and their ``a``-prefixed async twins) is what the
    sensor, trigger and log operator use.

    :param bk_job_conn_id: connection of type ``bk_job``.
    """

    conn_type = "bk_job"
    default_conn_name = "bk_job_default"
    conn_name_attr = "bk_job_conn_id"
    hook_name = "Tencent BlueKing JOB"
    service = SERVICE

    # -- connection -------------------------------------------------------------------------------------
    def client_from_connection(self, conn: Connection) -> tuple[ServiceClient, BlueKingSettings]:
        extra = connection_extra(conn, self.conn_type)
        style = extra.get("api_style", "gateway_v3")
        if style not in API_STYLES:
            raise InvalidParameterError("api_style", f"{style!r} is not supported", ", ".join(API_STYLES))
        if not conn.host:
            raise InvalidParameterError("host", f"connection {conn.conn_id!r} needs the ESB or API gateway base URL")
        if not conn.login:
            raise InvalidParameterError(
                "login", f"connection {conn.conn_id!r} needs the app code (bk_app_code) as login"
            )
        if not conn.password:
            raise InvalidParameterError("password", f"connection {conn.conn_id!r} needs the app secret as password")
        credentials = BlueKingCredentials(
            app_code=conn.login,
            app_secret=conn.password,
            bk_username=extra.get("bk_username"),
            bk_token=extra.get("bk_token"),
            access_token=extra.get("access_token"),
            tenant_id=extra.get("tenant_id"),
        )
        mask(credentials.app_secret, credentials.bk_token, credentials.access_token)
        if not (credentials.bk_username or credentials.bk_token or credentials.access_token):
            raise InvalidParameterError(
                "bk_token",
                f"connection {conn.conn_id!r} needs a user: bk_token or access_token (a verified user), or "
                "bk_username for an app exempted from user verification",
            )
        host = conn.host if "://" in conn.host else f"https://{conn.host}"
        client = ServiceClient(
            service=SERVICE,
            base_url=host.rstrip("/"),
            auth=BlueKingGatewayAuth(credentials) if style == "gateway_v3" else BlueKingEsbAuth(credentials),
            request_id_header="X-Bkapi-Request-Id",
            **client_options(extra),
        )
        console = extra.get("console_url")
        return client, BlueKingSettings(conn.conn_id, client.base_url, str(console) if console else None, style)

    # -- raw API (requests) -------------------------------------------------------------------------------
    @staticmethod
    def _esb(api: str, ref: dict[str, Any]) -> ApiRequest:
        """An ESB v2 call about one job of a business."""
        body = {"bk_biz_id": int(ref["bk_scope_id"]), "job_instance_id": ref["job_instance_id"]}
        return ApiRequest("POST", f"/api/c/compapi/v2/job/{api}/", json=body)

    def _req_status(self, style: str, ref: dict[str, Any], return_ip_result: bool = True) -> ApiRequest:
        if style == "esb_v2":
            if ref["bk_scope_type"] != "biz":
                raise InvalidParameterError("bk_scope_type", "ESB v2 only knows businesses", "biz")
            return self._esb("get_job_instance_status", ref)
        params = {
            "bk_scope_type": ref["bk_scope_type"],
            "bk_scope_id": ref["bk_scope_id"],
            "job_instance_id": ref["job_instance_id"],
            "return_ip_result": str(bool(return_ip_result)).lower(),
        }
        return ApiRequest("GET", "/api/v3/get_job_instance_status", params=params)

    @staticmethod
    def _req_batch_ip_log(ref: dict[str, Any], step_instance_id: int, hosts: list[dict[str, Any]]) -> ApiRequest:
        body: dict[str, Any] = {
            "bk_scope_type": ref["bk_scope_type"],
            "bk_scope_id": ref["bk_scope_id"],
            "job_instance_id": ref["job_instance_id"],
            "step_instance_id": step_instance_id,
        }
        ids = [h.get("bk_host_id") for h in hosts]
        if all(ids):
            body["host_id_list"] = ids
        else:
            body["ip_list"] = [{"bk_cloud_id": h.get("bk_cloud_id", 0), "ip": h["ip"]} for h in hosts]
        return ApiRequest("POST", "/api/v3/batch_get_job_instance_ip_log", json=body)

    @staticmethod
    def _need_gateway(style: str, method: str) -> None:
        if style != "gateway_v3":
            raise InvalidParameterError("api_style", f"{method} exists only on the API gateway v3", "gateway_v3")

    # -- raw API (one-to-one, bodies unchanged) ------------------------------------------------------------
    def get_job_instance_log(self, bk_biz_id: int, job_instance_id: int) -> dict[str, Any]:
        """ESB v2 ``get_job_instance_log``: every step's and host's log in one response (the seed's structure)."""
        ref = job_ref(job_instance_id, bk_biz_id=bk_biz_id)
        if self.settings.api_style != "esb_v2":
            raise InvalidParameterError("api_style", "get_job_instance_log exists only on ESB v2", "esb_v2")
        return self.api.call(self._esb("get_job_instance_log", ref), decode_envelope)

    def get_job_instance_status(
        self,
        job_instance_id: int,
        bk_biz_id: int | None = None,
        *,
        bk_scope_type: str | None = None,
        bk_scope_id: str | int | None = None,
        return_ip_result: bool = True,
    ) -> dict[str, Any]:
        """``get_job_instance_status`` in the connection's API style; the response body unchanged."""
        ref = job_ref(job_instance_id, bk_biz_id, bk_scope_type, bk_scope_id)
        return self.api.call(self._req_status(self.settings.api_style, ref, return_ip_result), decode_envelope)

    def get_job_instance_ip_log(
        self,
        job_instance_id: int,
        step_instance_id: int,
        *,
        bk_biz_id: int | None = None,
        bk_scope_type: str | None = None,
        bk_scope_id: str | int | None = None,
        host_id: int | None = None,
        ip: str | None = None,
        bk_cloud_id: int = 0,
        bk_host_id: int | None = None,
    ) -> dict[str, Any]:
        """Gateway v3 ``get_job_instance_ip_log``: one host's log of one step, by ``bk_host_id`` (``host_id`` is the
        same) or by ``bk_cloud_id`` + ``ip``. Sent as the API's ``bk_host_id`` query parameter."""
        ref = job_ref(job_instance_id, bk_biz_id, bk_scope_type, bk_scope_id)
        params: dict[str, Any] = {**ref, "step_instance_id": positive_int(step_instance_id, "step_instance_id")}
        if bk_host_id is not None and host_id is not None and bk_host_id != host_id:
            raise InvalidParameterError("bk_host_id", "bk_host_id and host_id name one host: pass one of them")
        if bk_host_id is not None or host_id is not None:
            name = "bk_host_id" if bk_host_id is not None else "host_id"
            params["bk_host_id"] = positive_int(bk_host_id if bk_host_id is not None else host_id, name)
        elif ip is not None:
            params.update(_ip_entry({"ip": ip, "bk_cloud_id": bk_cloud_id}))
        else:
            raise InvalidParameterError("bk_host_id", "pass bk_host_id, or ip (and bk_cloud_id)")
        self._need_gateway(self.settings.api_style, "get_job_instance_ip_log")
        return self.api.call(ApiRequest("GET", "/api/v3/get_job_instance_ip_log", params=params), decode_envelope)

    def batch_get_job_instance_ip_log(
        self,
        job_instance_id: int,
        step_instance_id: int,
        *,
        bk_biz_id: int | None = None,
        bk_scope_type: str | None = None,
        bk_scope_id: str | int | None = None,
        host_id_list: list[int] | None = None,
        ip_list: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Gateway v3 ``batch_get_job_instance_ip_log``: up to 500 hosts' logs of one step."""
        ref = job_ref(job_instance_id, bk_biz_id, bk_scope_type, bk_scope_id)
        step = positive_int(step_instance_id, "step_instance_id")
        if host_id_list:
            hosts = [{"bk_host_id": positive_int(h, "host_id_list")} for h in host_id_list]
            parameter = "host_id_list"
        elif ip_list:
            hosts = [_ip_entry(entry) for entry in ip_list]
            parameter = "ip_list"
        else:
            raise InvalidParameterError("host_id_list", "pass host_id_list or ip_list")
        if len(hosts) > MAX_HOSTS_PER_BATCH:
            raise InvalidParameterError(
                parameter, f"{len(hosts)} hosts given; the API takes at most {MAX_HOSTS_PER_BATCH} per call"
            )
        self._need_gateway(self.settings.api_style, "batch_get_job_instance_ip_log")
        return self.api.call(self._req_batch_ip_log(ref, step, hosts), decode_envelope)

    # -- programs: written once, run sync or async ------------------------------------------------------------
    def _status_call(self, style: str, ref: dict[str, Any], with_hosts: bool = True) -> Call:
        return Call(self._req_status(style, ref, return_ip_result=with_hosts), decode_envelope)

    # the job's status from a decoded status answer (the model's)
    _to_status = staticmethod(_to_status)

    def status_program(self, settings: BlueKingSettings, job_ref: dict[str, Any]) -> Program[JobStatus]:
        # the verdict needs the steps, not every host's result: a poll of a 1,000-host job stays small
        body = yield self._status_call(settings.api_style, job_ref, with_hosts=False)
        return self._to_status(settings.api_style, job_ref, body)

    def log_program(
        self,
        settings: BlueKingSettings,
        ref: dict[str, Any],
        *,
        only_hosts: set[str] | None = None,
        batch_bytes: int = 8 << 20,
        concurrency: int = DEFAULT_LOG_CONCURRENCY,
    ) -> Program[None]:
        """Yield one :class:`LogChunk` per step and host (in step order).

        ESB v2 returns the whole job in one response. The gateway is asked per step in host batches of at
        most 500, ``concurrency`` batches at a time (a batch of a later step may go with one of an earlier
        step); each batch is sized from the log volume seen so far to about ``batch_bytes / concurrency``, so
        the logs held in memory at once stay near ``batch_bytes``. Chunks come out in step and host order
        whatever order the answers arrive in. ``only_hosts`` limits the walk to those ``step:cloud:ip`` keys.
        A gateway batch's chunks are handed out together (:class:`~airflow_joblogs.http.Outputs`) and build
        their header, record and cursor when first read (:class:`~airflow_joblogs.models.LazyLogChunk`).
        """
        concurrency = validate_concurrency(concurrency)
        if settings.api_style == "esb_v2":
            body = yield Call(self._esb("get_job_instance_log", ref), decode_envelope)
            yield from _esb_chunks(ref, body.get("data") or [], only_hosts)
            return None

        body = yield self._status_call(settings.api_style, ref)
        _, steps = _steps_from_status(settings.api_style, body)
        total = len(steps)
        # the work in output order: (step number, step, its record fields, hosts still to fetch)
        work: deque[tuple[int, dict[str, Any], dict[str, Any], list[dict[str, Any]]]] = deque()
        for index, step in enumerate(steps, 1):
            step_fields = {
                "is_finished": step.get("status") not in (1, 2, 7, 10, 15),
                "step_instance_id": step.get("step_instance_id"),
                "name": step.get("name"),
                "status": step.get("status"),
            }
            hosts = (
                step["hosts"] if only_hosts is None else [h for h in step["hosts"] if _host_key(step, h) in only_hosts]
            )
            if hosts or only_hosts is None:
                work.append((index, step, step_fields, hosts))
        # Up to `concurrency` batches are asked for at once, each sized from the log volume seen so far to about
        # batch_bytes / concurrency, so the logs held at once stay near batch_bytes whatever the concurrency.
        budget = batch_bytes / concurrency
        seen_hosts = seen_bytes = 0
        while work:
            per_host = max(seen_bytes / seen_hosts, 1.0) if seen_hosts else 0.0
            window: list[tuple[int, dict[str, Any], dict[str, Any], list[dict[str, Any]] | None]] = []
            while work and len(window) < concurrency:
                index, step, step_fields, hosts = work[0]
                if not hosts:  # a step without hosts: its header only
                    work.popleft()
                    window.append((index, step, step_fields, None))
                    continue
                # the very first batch is one host: it tells how big a host's log is
                size = max(1, min(MAX_HOSTS_PER_BATCH, int(budget // per_host))) if per_host else 1
                batch, rest = hosts[:size], hosts[size:]
                if rest:
                    work[0] = (index, step, step_fields, rest)
                else:
                    work.popleft()
                window.append((index, step, step_fields, batch))
                if not per_host:
                    break
            calls = tuple(
                Call(
                    self._req_batch_ip_log(ref, int(step["step_instance_id"]), batch),
                    functools.partial(decode_batch_logs, hosts=batch),
                )
                for _, step, _, batch in window
                if batch is not None
            )
            replies = yield Gather(calls, concurrency)
            replies.reverse()  # taken from the end, so each reply is let go once its chunks are out
            for index, step, step_fields, asked in window:
                if asked is None:
                    yield LogChunk(
                        text="",
                        header=_header(step, index, total, None),
                        record={"job_instance_id": ref["job_instance_id"], **step_fields, "ip_logs": []},
                        cursor={"step": index},
                    )
                    continue
                chunks, volume = self._batch_chunks(ref, index, total, step, step_fields, asked, replies.pop())
                yield Outputs(chunks)
                del chunks  # the batch's logs can go while the next batch is fetched
                seen_hosts += len(asked)
                seen_bytes += volume
        return None

    # one chunk per host of a gateway batch (the model's)
    _batch_chunks = staticmethod(_batch_chunks)

    def tail_program(self, settings: BlueKingSettings, job_ref: dict[str, Any], cursor: Any) -> Program[Any]:
        """Yield the log text each host added since ``cursor`` (``{host key: characters shown}``)."""
        seen: dict[str, int] = dict((cursor or {}).get("seen", {}))
        done: set[str] = set((cursor or {}).get("done", []))
        body = yield self._status_call(settings.api_style, job_ref)
        _, steps = _steps_from_status(settings.api_style, body)
        wanted = set()
        finished_now = set()
        for step in steps:
            for host in step["hosts"]:
                key = _host_key(step, host)
                if key in done or (host.get("status") in (None, 5) and step.get("status") == 1):
                    continue
                wanted.add(key)
                if host.get("status") not in HOST_ACTIVE_STATUSES and step.get("status") not in (1, 2):
                    finished_now.add(key)
        if wanted:

            def new_text(chunk: LogChunk) -> LogChunk | None:
                key = chunk.cursor["host"]
                new = chunk.text[seen.get(key, 0) :]
                seen[key] = len(chunk.text)
                if not new:
                    return None
                record = chunk.record or {}
                return LogChunk(
                    text=new,
                    header=f"step {record.get('step_instance_id')} {record.get('bk_cloud_id', 0)}:{record.get('ip')}",
                )

            yield from relay(self.log_program(settings, job_ref, only_hosts=wanted), new_text)
        done |= finished_now
        return {"seen": {k: v for k, v in seen.items() if k not in done}, "done": sorted(done)}

    def failure_program(
        self, settings: BlueKingSettings, job_ref: dict[str, Any], status: JobStatus, tail_lines: int
    ) -> Program[list[FailedUnit]]:
        body = yield self._status_call(settings.api_style, job_ref)
        _, steps = _steps_from_status(settings.api_style, body)
        units, bad_hosts = _failed_steps(steps)
        if bad_hosts:
            tails: dict[str, str] = {}

            exit_codes: dict[str, Any] = {}

            def keep_tail(chunk: LogChunk) -> None:
                tails[chunk.cursor["host"]] = _tail(chunk.text, tail_lines)
                exit_codes[chunk.cursor["host"]] = (chunk.record or {}).get("exit_code")

            yield from relay(self.log_program(settings, job_ref, only_hosts=set(bad_hosts)), keep_tail)
            units += [
                _host_failure(step, host, exit_codes.get(key), tails.get(key, ""))
                for key, (step, host) in bad_hosts.items()
            ]
        return units

    def connection_check_program(self, settings: BlueKingSettings) -> Program[str]:
        # A status query for a job id that cannot exist: "not found" proves the credentials were accepted.
        ref = {"job_instance_id": 1, "bk_scope_type": "biz", "bk_scope_id": "1"}
        try:
            yield self._status_call(settings.api_style, ref)
        except (NotFoundError, RemoteValidationError, PermissionDeniedError):
            pass
        return f"Connected to BlueKing JOB ({settings.api_style}); credentials accepted."

    # -- normalized layer -------------------------------------------------------------------------------------
    def get_job_status(
        self,
        job_instance_id: int,
        bk_biz_id: int | None = None,
        *,
        bk_scope_type: str | None = None,
        bk_scope_id: str | int | None = None,
    ) -> JobStatus:
        """The job's :class:`JobStatus` (``raw_status`` is the BlueKing status code)."""
        return self.job_status_from_ref(job_ref(job_instance_id, bk_biz_id, bk_scope_type, bk_scope_id))

    async def aget_job_status(
        self,
        job_instance_id: int,
        bk_biz_id: int | None = None,
        *,
        bk_scope_type: str | None = None,
        bk_scope_id: str | int | None = None,
    ) -> JobStatus:
        return await self.ajob_status_from_ref(job_ref(job_instance_id, bk_biz_id, bk_scope_type, bk_scope_id))

    def iter_log_chunks(
        self,
        job_instance_id: int,
        bk_biz_id: int | None = None,
        *,
        bk_scope_type: str | None = None,
        bk_scope_id: str | int | None = None,
        concurrency: int = DEFAULT_LOG_CONCURRENCY,
    ) -> Iterator[LogChunk]:
        """Every step's and host's log, one :class:`LogChunk` each, in step order.

        :param concurrency: gateway v3 batch requests in flight at once (1: one at a time); see :meth:`log_program`.
        """
        ref = job_ref(job_instance_id, bk_biz_id, bk_scope_type, bk_scope_id)
        concurrency = validate_concurrency(concurrency)
        return self._stream(lambda settings: self.log_program(settings, ref, concurrency=concurrency))

    def aiter_log_chunks(
        self,
        job_instance_id: int,
        bk_biz_id: int | None = None,
        *,
        bk_scope_type: str | None = None,
        bk_scope_id: str | int | None = None,
        concurrency: int = DEFAULT_LOG_CONCURRENCY,
    ) -> AsyncIterator[LogChunk]:
        ref = job_ref(job_instance_id, bk_biz_id, bk_scope_type, bk_scope_id)
        concurrency = validate_concurrency(concurrency)
        return self._astream(lambda settings: self.log_program(settings, ref, concurrency=concurrency))

    #: the names :meth:`iter_log_chunks` and :meth:`aiter_log_chunks` had before every hook used those (kept for a
    #: release)
    iter_host_logs = iter_log_chunks
    aiter_host_logs = aiter_log_chunks

    # -- starting and stopping jobs (gateway v3) ----------------------------------------------------------------
    def execute_job_plan(
        self,
        job_plan_id: int,
        *,
        bk_biz_id: int | None = None,
        bk_scope_type: str | None = None,
        bk_scope_id: str | int | None = None,
        global_var_list: list[dict[str, Any]] | None = None,
        callback_url: str | None = None,
        start_task: bool | None = None,
    ) -> dict[str, Any]:
        """Gateway v3 ``execute_job_plan`` (``POST /api/v3/execute_job_plan``): start a job plan; the response body
        unchanged (``data``: ``job_instance_id``, ``job_instance_name``).

        :param job_plan_id: the job plan (execution scheme) id.
        :param global_var_list: the plan's global variables to set, each ``{"id" or "name", "value"}`` (or
            ``"server"`` for a host variable); the others keep the plan's values.
        :param callback_url: a URL JOB calls when the job ends.
        :param start_task: False creates the job without starting it (start it with :meth:`operate_job_instance`).
        """
        body: dict[str, Any] = {
            **scope(bk_biz_id, bk_scope_type, bk_scope_id),
            "job_plan_id": positive_int(job_plan_id, "job_plan_id"),
        }
        if global_var_list is not None:
            body["global_var_list"] = [_global_var(entry) for entry in global_var_list]
        return self._send_start("execute_job_plan", body, callback_url, start_task)

    def fast_execute_script(
        self,
        *,
        target_server: dict[str, Any],
        bk_biz_id: int | None = None,
        bk_scope_type: str | None = None,
        bk_scope_id: str | int | None = None,
        script_content: str | None = None,
        script_id: str | None = None,
        script_version_id: int | str | None = None,
        script_language: int | None = None,
        script_param: str | None = None,
        is_param_sensitive: bool = False,
        task_name: str | None = None,
        timeout: int | None = None,
        account_alias: str | None = None,
        account_id: int | None = None,
        callback_url: str | None = None,
        start_task: bool | None = None,
    ) -> dict[str, Any]:
        """Gateway v3 ``fast_execute_script`` (``POST /api/v3/fast_execute_script``): run a script on hosts; the
        response body unchanged (``data``: ``job_instance_id``, ``job_instance_name``, ``step_instance_id``).

        :param target_server: the hosts: ``host_id_list``, ``ip_list``, ``dynamic_group_list`` or
            ``topo_node_list`` (at least one non-empty).
        :param script_content: the script as text (sent Base64-encoded, as the API requires); or
            ``script_version_id`` or ``script_id`` (priority: version id, then id, then content).
        :param script_language: 1 shell, 2 bat, 3 Perl, 4 Python, 5 PowerShell (required with ``script_content``).
        :param script_param: the parameters as text (sent Base64-encoded as a whole).
        :param is_param_sensitive: hide the parameters on the execution page.
        :param timeout: seconds, 1 to 86400 (the API's default: 7200).
        :param account_alias: the execution account's alias; or ``account_id`` (one is required).
        """
        body: dict[str, Any] = scope(bk_biz_id, bk_scope_type, bk_scope_id)
        body.update(
            script_fields(
                script_content=script_content,
                script_id=script_id,
                script_version_id=script_version_id,
                script_language=script_language,
                script_param=script_param,
                is_param_sensitive=is_param_sensitive,
                timeout=timeout,
                account_alias=account_alias,
                account_id=account_id,
            )
        )
        body["target_server"] = validate_target_server(target_server)
        if task_name:
            if len(str(task_name)) > 512:
                raise InvalidParameterError("task_name", "at most 512 characters")
            body["task_name"] = str(task_name)
        return self._send_start("fast_execute_script", body, callback_url, start_task)

    def _send_start(
        self, api: str, body: dict[str, Any], callback_url: str | None, start_task: bool | None
    ) -> dict[str, Any]:
        """Send a gateway v3 call that starts a job (never repeated: a second one would start a second job)."""
        if callback_url:
            body["callback_url"] = str(callback_url)
        if start_task is not None:
            body["start_task"] = bool(start_task)
        self._need_gateway(self.settings.api_style, api)
        return self.api.call(ApiRequest("POST", f"/api/v3/{api}", json=body, idempotent=False), decode_envelope)

    def operate_job_instance(
        self,
        job_instance_id: int,
        operation_code: int,
        *,
        bk_biz_id: int | None = None,
        bk_scope_type: str | None = None,
        bk_scope_id: str | int | None = None,
    ) -> dict[str, Any]:
        """Gateway v3 ``operate_job_instance`` (``POST /api/v3/operate_job_instance``): act on a job instance; the
        response body unchanged.

        :param operation_code: 1 terminate (a running job, or one waiting for a user), 2 start (a job created with
            ``start_task=False``), bk-job's ``TaskOperationEnum``.
        """
        ref = job_ref(job_instance_id, bk_biz_id, bk_scope_type, bk_scope_id)
        code = as_int(operation_code, "operation_code", 1, 2)
        self._need_gateway(self.settings.api_style, "operate_job_instance")
        return self.api.call(self._req_operate(ref, code), decode_envelope)

    def get_job_instance_global_var_value(
        self,
        job_instance_id: int,
        *,
        bk_biz_id: int | None = None,
        bk_scope_type: str | None = None,
        bk_scope_id: str | int | None = None,
    ) -> dict[str, Any]:
        """Gateway v3 ``get_job_instance_global_var_value``: the global variables' values per step (``data``:
        ``job_instance_id``, ``step_instance_var_list`` of ``{step_instance_id, global_var_list}``)."""
        ref = job_ref(job_instance_id, bk_biz_id, bk_scope_type, bk_scope_id)
        self._need_gateway(self.settings.api_style, "get_job_instance_global_var_value")
        return self.api.call(self._req_global_vars(ref), decode_envelope)

    @staticmethod
    def _req_operate(ref: dict[str, Any], operation_code: int) -> ApiRequest:
        return ApiRequest("POST", "/api/v3/operate_job_instance", json={**ref, "operation_code": operation_code})

    @staticmethod
    def _req_global_vars(ref: dict[str, Any]) -> ApiRequest:
        return ApiRequest("GET", "/api/v3/get_job_instance_global_var_value", params=ref)

    def cancel_program(self, settings: BlueKingSettings, job_ref: dict[str, Any]) -> Program[str]:
        """Terminate the job (``operate_job_instance`` with ``operation_code`` 1); the answer as a sentence."""
        self._need_gateway(settings.api_style, "operate_job_instance")
        try:
            body = yield Call(self._req_operate(job_ref, TERMINATE_JOB), decode_envelope)
        except RemoteValidationError as exc:  # 1241003 UNSUPPORTED_OPERATION: it is not running any more
            return f"BlueKing JOB did not terminate job {job_ref['job_instance_id']}: {exc}"
        return (
            f"BlueKing JOB accepted terminating job {(body.get('data') or {}).get('job_instance_id')} "
            f"(request {body.get('job_request_id')})"
        )

    def global_vars(self, job_ref: dict[str, Any]) -> dict[str, Any]:
        """The job's global variables, ``{name: value}``, as the last step that has each saw it (a host variable's
        value is its ``server`` object)."""
        body = self.api.call(self._req_global_vars(job_ref), decode_envelope)
        values: dict[str, Any] = {}
        for step in (body.get("data") or {}).get("step_instance_var_list") or []:
            for var in step.get("global_var_list") or []:
                if var.get("name"):
                    values[str(var["name"])] = var.get("value") if var.get("value") is not None else var.get("server")
        return values

    def console_url(self, job_ref: dict[str, Any]) -> str | None:
        """``{console_url}/api_execute/{job_instance_id}``: the job's page in the JOB web console (the link bk-job's
        own notifications carry), when the connection's extra has ``console_url`` (the JOB web address)."""
        base = self._console_base()
        return f"{base}/api_execute/{job_ref['job_instance_id']}" if base else None


# the model's global_var_list, bound here: execute_job_plan has a parameter of this name
global_var_list = _global_var_list
