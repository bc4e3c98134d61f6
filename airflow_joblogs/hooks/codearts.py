"""Huawei Cloud CodeArts Build: build status and build/step logs, paged by offset.

The raw methods mirror the API one-to-one and return the response's ``result`` unchanged. The
normalized layer (:meth:`CodeArtsBuildHook.get_build_status`, :meth:`CodeArtsBuildHook.iter_log_chunks`
and their ``a``-prefixed async twins) is what the sensor, trigger and log operator use; the pager is
written once, as a program (:meth:`CodeArtsBuildHook.log_program`).
"""

from __future__ import annotations

import functools
import logging
import random
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

from airflow_joblogs.auth.huawei import HuaweiAkSkAuth, HuaweiIamPasswordAuth, HuaweiTokenAuth
from airflow_joblogs.exceptions import (
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
    as_float,
    client_options,
    connection_extra,
    mask,
)

# The build model lives in a module without the HTTP client (cheap for the sensor); this module is its documented
# home, so every name is available here too.
from airflow_joblogs.hooks.codearts_model import (  # noqa: F401
    _PROJECT_ID,
    _STATE_OF,
    AUTH_TYPES,
    BUILD_RESULTS,
    DEFAULT_PAGE_SIZE,
    FAILED_STAGE_STATUSES,
    FAILURE_RESULTS,
    MAX_PARAMETER_VALUE,
    REGIONS,
    RESERVED_PARAMETERS,
    SCM_FIELDS,
    SERVICE,
    SORT_ORDERS,
    SUCCESS_RESULTS,
    _failed_stages,
    _integer,
    build_ref,
    endpoint_for,
    iam_endpoint_for,
    parameter_list,
    validate_build_no,
    validate_job_id,
    validate_offset,
    validate_scm,
    validate_size,
    validate_sort,
    validate_step_id,
)
from airflow_joblogs.http import (
    ApiRequest,
    Call,
    Program,
    ServiceClient,
    Sleep,
    raise_for_http_status,
    relay,
    retry_after_seconds,
)
from airflow_joblogs.models import FailedUnit, JobState, JobStatus, LogChunk

if TYPE_CHECKING:
    from airflow.sdk import Connection

log = logging.getLogger(__name__)

_TRANSIENT_CODES = frozenset({"CB.00060211", "CB.00060100"})  # requests too frequent; service busy
_NOT_FOUND_CODES = frozenset({"CB.00060201", "CB.00060214"})  # bad job id; bad URL
#: the service's answers about a build task it does not have (as opposed to "no such API")
_NO_SUCH_BUILD_CODES = frozenset({"CB.00060201"})
#: a page cut mid-line keeps at most this much of the unfinished line back for the next page
MAX_CARRIED_LINE = 1 << 20


def _url(value: str, parameter: str, allow_http: bool) -> str:
    url = value.strip().rstrip("/")
    if "://" not in url:
        url = "https://" + url
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidParameterError(parameter, f"{value!r} is not an http(s) URL with a host name")
    if parsed.scheme == "http" and not allow_http:
        raise InvalidParameterError(
            parameter, f"{value!r} uses plain http://; set the connection extra allow_http=true (local emulators only)"
        )
    return url


# -- responses ----------------------------------------------------------------------------------------------------
def _error_fields(error: Any) -> tuple[Any, str]:
    if isinstance(error, dict):
        return error.get("error_code") or error.get("code"), str(error.get("error_msg") or error.get("message") or "")
    return None, str(error or "")


def _answer_error(body: dict[str, Any]) -> tuple[Any, str, str | None]:
    """(code, message, request id) of an error answer: the service's ``{"error_code", "error_msg"}`` (or its
    ``error`` object) and the API gateway's ``{"error_code", "error_msg", "request_id"}``."""
    code, message = (
        _error_fields(body) if "error_code" in body or "error_msg" in body else _error_fields(body.get("error"))
    )
    return code, message, str(body["request_id"]) if body.get("request_id") else None


def decode_result(response: httpx.Response) -> Any:
    """The ``result`` of a CodeArts answer, or the mapped exception.

    ``{"error_code": "CB.xxxxxxxx", "error_msg"}`` on 4xx/5xx, gateway errors ``APIGW.xxxx``, and a 200
    answer whose ``status`` is ``fail`` are errors; "too frequent" (CB.00060211, seen as 400 and 500),
    "busy" (CB.00060100), 429 and 5xx are transient.
    """
    request_id = response.headers.get("X-Request-Id")
    status = response.status_code
    body = answer_object(response, SERVICE, request_id, _answer_error, throttled="throttled by the API gateway")
    code, message, found = _answer_error(body)
    request_id = request_id or found
    if status >= 400 or body.get("status") == "fail":
        message = message or f"HTTP {status}"
        kwargs: dict[str, Any] = {"service": SERVICE, "code": code, "status_code": status, "request_id": request_id}
        if code in _TRANSIENT_CODES:
            raise TransientError(message, retry_after=retry_after_seconds(response), **kwargs)
        if code in _NOT_FOUND_CODES:
            raise NotFoundError(message, **kwargs)
        raise_for_http_status(response, SERVICE, message, code=code, request_id=request_id)
        if str(code or "").startswith("CB.000602"):
            raise RemoteValidationError(message, **kwargs)
        raise JobLogsError(message, **kwargs)
    result = body.get("result")
    return result if result is not None else {}


def _as_offset(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise JobLogsError(f"the service sent a non-numeric {name} {value!r}", service=SERVICE) from None


def decode_log_page(response: httpx.Response, *, asked: int) -> dict[str, Any]:
    """A log page asked for from offset ``asked``, checked against the offsets it reports.

    A page with text must start at ``asked``: one that starts before it (it overlaps text already read, or it
    is a stale page) or after it (a gap) is transient and asked for again, so no text is written twice or
    skipped. A page with text that does not move the offset on is an error (the paging would never end).
    """
    page = decode_result(response)
    request_id = response.headers.get("X-Request-Id")
    if not isinstance(page, dict):
        raise TransientError("the log page is not a JSON object", service=SERVICE, request_id=request_id)
    if not page.get("log"):
        return page
    start = _as_offset(page.get("start_offset", asked), "start_offset")
    end = _as_offset(page.get("end_offset", asked), "end_offset")
    if start != asked:
        raise TransientError(
            f"the log page asked for from offset {asked} starts at {start} ({'an overlap' if start < asked else 'a gap'})",
            service=SERVICE,
            request_id=request_id,
        )
    if end <= asked:
        raise JobLogsError(
            f"the log page at offset {asked} ended at {end}: the offset did not advance",
            service=SERVICE,
            request_id=request_id,
        )
    return page


@dataclass(frozen=True)
class CodeArtsSettings(ConnectionSettings):
    """A ``codearts_build`` connection's settings: the region and project besides the shared ones."""

    region: str | None = None
    project_id: str | None = None


class CodeArtsBuildHook(JobLogsHook[CodeArtsSettings]):
    """Talk to Huawei Cloud CodeArts Build (AK/SK signing, an IAM token, or IAM user credentials).

    Raw methods mirror the API one-to-one and return the answer's ``result`` unchanged (offsets are
    accepted as int or string); the normalized layer (:meth:`get_build_status`, :meth:`iter_log_chunks`
    and their async twins) is what the sensor, trigger and log operator use.

    :param codearts_build_conn_id: connection of type ``codearts_build``.
    :param empty_log_retries: how many times in a row an empty page ("request again") is asked again
        before giving up.
    :param empty_log_backoff: first wait before asking again (doubles each time, capped at 16x, jittered).
    """

    conn_type = "codearts_build"
    default_conn_name = "codearts_build_default"
    conn_name_attr = "codearts_build_conn_id"
    hook_name = "Huawei Cloud CodeArts Build"
    service = SERVICE

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        empty_log_retries: int = 8,
        empty_log_backoff: float = 0.5,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id, **kwargs)
        self.empty_log_retries = _integer(empty_log_retries, "empty_log_retries", 0, "an integer >= 0")
        self.empty_log_backoff = as_float(empty_log_backoff, "empty_log_backoff", 0.5)

    # -- connection -------------------------------------------------------------------------------------
    def client_from_connection(self, conn: Connection) -> tuple[ServiceClient, CodeArtsSettings]:
        extra = connection_extra(conn, self.conn_type)
        name = conn.conn_id
        options = client_options(extra)
        allow_http = options["allow_http"]
        region = str(extra.get("region") or "").strip()
        if conn.host:
            base_url = _url(conn.host, "host", allow_http)
        elif not region:
            raise InvalidParameterError(
                "region", f"connection {name!r} needs a region (or an explicit endpoint as host)"
            )
        elif region not in REGIONS:
            raise InvalidParameterError("region", f"{region!r} is not a CodeArts Build region", ", ".join(REGIONS))
        else:
            base_url = endpoint_for(region)
        project_id = str(extra.get("project_id") or "").strip() or None
        if project_id is not None and not _PROJECT_ID.fullmatch(project_id):
            raise InvalidParameterError("project_id", f"{project_id!r} is not a project id", "32 letters and digits")

        auth_type = extra.get("auth_type") or (
            "token" if extra.get("iam_token") else "password" if extra.get("domain_name") else "aksk"
        )
        if auth_type not in AUTH_TYPES:
            raise InvalidParameterError("auth_type", f"{auth_type!r} is not supported", ", ".join(AUTH_TYPES))
        mask(conn.password, extra.get("security_token"), extra.get("iam_token"))
        auth: httpx.Auth
        if auth_type == "aksk":
            if not conn.login:
                raise InvalidParameterError("login", f"connection {name!r} needs the access key (AK) as login")
            if not conn.password:
                raise InvalidParameterError("password", f"connection {name!r} needs the secret key (SK) as password")
            if project_id is None:
                raise InvalidParameterError("project_id", f"connection {name!r} needs the project id for AK/SK signing")
            auth = HuaweiAkSkAuth(conn.login, conn.password, project_id, extra.get("security_token"))
        elif auth_type == "token":
            if not extra.get("iam_token"):
                raise InvalidParameterError("iam_token", f"connection {name!r} (auth_type token) needs an IAM token")
            auth = HuaweiTokenAuth(str(extra["iam_token"]), project_id)
        else:
            for field, value in (
                ("domain_name", extra.get("domain_name")),
                ("login", conn.login),
                ("password", conn.password),
            ):
                if not value:
                    what = {
                        "domain_name": "the account (domain) name",
                        "login": "the IAM user name",
                        "password": "the IAM user's password",
                    }
                    raise InvalidParameterError(field, f"connection {name!r} (auth_type password) needs {what[field]}")
            if project_id is None:
                raise InvalidParameterError(
                    "project_id", f"connection {name!r} needs the project id the token is scoped to"
                )
            if extra.get("iam_endpoint"):
                iam_url = _url(str(extra["iam_endpoint"]), "iam_endpoint", allow_http)
            elif region in REGIONS:
                iam_url = iam_endpoint_for(region)
            else:
                raise InvalidParameterError(
                    "iam_endpoint",
                    f"connection {name!r} needs a known region or an explicit iam_endpoint",
                    ", ".join(REGIONS),
                )
            auth = HuaweiIamPasswordAuth(
                iam_url=iam_url,
                domain_name=str(extra["domain_name"]),
                user_name=str(conn.login),
                password=str(conn.password),
                project_id=project_id,
                on_token=mask,
            )
        client = ServiceClient(
            service=SERVICE, base_url=base_url, auth=auth, headers={"Content-Type": "application/json"}, **options
        )
        console = extra.get("console_url")
        settings = CodeArtsSettings(name, base_url, str(console) if console else None, region or None, project_id)
        return client, settings

    # -- raw API (requests) ---------------------------------------------------------------------------------
    @staticmethod
    def _log_request(
        ref: dict[str, Any],
        start_offset: int,
        end_offset: int = 0,
        sort: str = "AES",
        size: int | None = DEFAULT_PAGE_SIZE,
    ) -> ApiRequest:
        """The real-time log request: the whole build, or one build action when ``ref`` has a ``step_id``."""
        params: dict[str, Any] = {"start_offset": start_offset, "end_offset": end_offset, "sort": sort}
        if size is not None:
            params["size"] = size
        if "step_id" in ref:
            params.update(job_id=ref["job_id"], build_no=ref["build_no"], step_id=ref["step_id"])
            return ApiRequest("GET", "/v1/log/task/step", params=params)
        return ApiRequest("GET", f"/v1/log/{ref['job_id']}/{ref['build_no']}/real-time-log", params=params)

    @staticmethod
    def _build_info_request(ref: dict[str, Any]) -> ApiRequest:
        return ApiRequest("GET", f"/v1/job/{ref['job_id']}/{ref['build_no']}/build-info")

    def _call(self, request: ApiRequest) -> Any:
        return self.api.call(request, decode_result)

    def _log_page(
        self, ref: dict[str, Any], start_offset: Any, end_offset: Any, sort: Any, size: Any
    ) -> dict[str, Any]:
        request = self._log_request(
            ref,
            validate_offset(start_offset, "start_offset"),
            validate_offset(end_offset, "end_offset"),
            validate_sort(sort),
            validate_size(size),
        )
        return self._call(request)

    def get_real_time_log(
        self,
        job_id: str,
        build_no: int | str,
        start_offset: int | str = 0,
        end_offset: int | str = 0,
        sort: str = "AES",
        size: int | str = DEFAULT_PAGE_SIZE,
    ) -> dict[str, Any]:
        """``GET /v1/log/{job_id}/{build_no}/real-time-log``: one page of the whole build's run log.

        Returns the answer's ``result``: ``start_offset``, ``end_offset``, ``log`` ("request again if it
        is empty"), ``has_more``, ``location``.
        """
        return self._log_page(build_ref(job_id, build_no), start_offset, end_offset, sort, size)

    def get_step_log(
        self,
        job_id: str,
        build_no: int | str,
        step_id: int | str,
        start_offset: int | str = 0,
        end_offset: int | str = 0,
        sort: str = "AES",
        size: int | str = DEFAULT_PAGE_SIZE,
    ) -> dict[str, Any]:
        """``GET /v1/log/task/step``: one page of one build action's run log (same ``result`` fields)."""
        return self._log_page(build_ref(job_id, build_no, step_id), start_offset, end_offset, sort, size)

    def get_step_log_page(
        self,
        job_id: str,
        build_no: int | str,
        step_id: int | str,
        start_offset: int | str = 0,
        end_offset: int | str = 0,
        sort: str = "AES",
    ) -> dict[str, Any]:
        """``GET /v1/log/task/page``: one page of a finished build's action log."""
        ref = {**build_ref(job_id, build_no), "step_id": validate_step_id(step_id)}
        return self._finished_log_page("/v1/log/task/page", ref, start_offset, end_offset, sort)

    def get_build_log_page(
        self,
        job_id: str,
        build_no: int | str,
        start_offset: int | str = 0,
        end_offset: int | str = 0,
        sort: str = "AES",
    ) -> dict[str, Any]:
        """``GET /v1/log/stage/page``: one page of a finished build's whole log."""
        return self._finished_log_page(
            "/v1/log/stage/page", build_ref(job_id, build_no), start_offset, end_offset, sort
        )

    def _finished_log_page(
        self, path: str, ref: dict[str, Any], start_offset: Any, end_offset: Any, sort: Any
    ) -> dict[str, Any]:
        params = {
            **ref,
            "start_offset": validate_offset(start_offset, "start_offset"),
            "end_offset": validate_offset(end_offset, "end_offset"),
            "sort": validate_sort(sort),
        }
        return self._call(ApiRequest("GET", path, params=params))

    def get_build_info(self, job_id: str, build_no: int | str) -> dict[str, Any]:
        """``GET /v1/job/{job_id}/{build_no}/build-info``: ``building``, ``build_result``, ``region``."""
        return self._call(self._build_info_request(build_ref(job_id, build_no)))

    def get_build_info_record(self, job_id: str, build_no: int | str) -> dict[str, Any]:
        """``GET /v1/record/{job_id}/{build_no}/build-info-record``: ``job_running_status``, ``state`` ..."""
        ref = build_ref(job_id, build_no)
        return self._call(ApiRequest("GET", f"/v1/record/{ref['job_id']}/{ref['build_no']}/build-info-record"))

    def get_record_info(self, job_id: str, build_no: int | str) -> dict[str, Any]:
        """``GET /v1/record/{job_id}/{build_no}/record-info``: ``status``, ``build_record_id``, times, ``err_msg``."""
        return self._call(self._record_info_request(build_ref(job_id, build_no)))

    def get_record_stages(self, record_id: str) -> dict[str, Any]:
        """``GET /v1/record/{record_id}/full-stages``: ``build_stages`` (stage id -> stage record)."""
        return self._call(self._stages_request(record_id))

    @staticmethod
    def _record_info_request(ref: dict[str, Any]) -> ApiRequest:
        return ApiRequest("GET", f"/v1/record/{ref['job_id']}/{ref['build_no']}/record-info")

    @staticmethod
    def _stages_request(record_id: str) -> ApiRequest:
        if not re.fullmatch(r"[A-Za-z0-9-]{1,64}", str(record_id)):
            raise InvalidParameterError(
                "record_id", f"{record_id!r} is not a build record id", "36 letters, digits and '-'"
            )
        return ApiRequest("GET", f"/v1/record/{record_id}/full-stages")

    # -- programs ---------------------------------------------------------------------------------------------
    def _empty_wait(self, attempt: int) -> float:
        ceiling = self.empty_log_backoff * 2 ** min(attempt - 1, 4)
        return random.uniform(ceiling / 2, ceiling)

    def log_program(
        self,
        ref: dict[str, Any],
        *,
        start_offset: int = 0,
        follow: bool = False,
        follow_interval: float = 10.0,
        follow_timeout: float = 24 * 3600.0,
        whole_lines: bool = True,
        carried: str = "",
        flush: bool = True,
    ) -> Program[dict[str, Any]]:
        """Page a build's (or, with ``step_id`` in ``ref``, one action's) log from ``start_offset``.

        Yields one :class:`LogChunk` per page: next ``start_offset`` = this page's ``end_offset`` while
        ``has_more``. An empty ``log`` with ``has_more`` is asked again after a jittered, doubling wait,
        at most ``empty_log_retries`` times in a row. A page with text that does not move the offset
        forward is an error, so the loop always ends; a page that does not start at the offset asked for
        (an overlap, a gap) is asked for again (:func:`decode_log_page`).

        ``follow``: when caught up (``has_more`` false) while the build is still ``building``, wait
        ``follow_interval`` and read on; once the build is seen finished, one more pass drains the rest.
        Gives up after ``follow_timeout`` seconds.

        ``whole_lines``: chunk texts end at a line boundary; an unfinished last line is carried into the
        next page (``carried`` seeds it; ``flush`` emits what is left at the end). Otherwise each chunk is
        the page's ``log`` as sent, with the page's fields as its ``record`` (the ``jsonl`` format).

        Returns ``{"offset": next start_offset, "carried": unfinished line not emitted}``.
        """
        offset = start_offset
        empties = 0
        finished = False
        deadline = time.monotonic() + follow_timeout
        context: dict[str, Any] = {k: ref[k] for k in ("job_id", "build_no", "step_id") if k in ref}
        while True:
            page = yield Call(self._log_request(ref, offset), functools.partial(decode_log_page, asked=offset))
            text = page.get("log") or ""
            end = _as_offset(page.get("end_offset", offset), "end_offset")
            has_more = bool(page.get("has_more"))
            if text:
                if end <= offset:
                    raise JobLogsError(
                        f"the log page at offset {offset} ended at {end}: the offset did not advance", service=SERVICE
                    )
                empties = 0
                cursor = {"start_offset": start_offset, "end_offset": end}
                if whole_lines:
                    text = carried + text
                    cut = text.rfind("\n") + 1
                    if cut == 0 and len(text) >= MAX_CARRIED_LINE:
                        cut = len(text)  # one enormous line: let it out in pieces
                    text, carried = text[:cut], text[cut:]
                    yield LogChunk(text=text, cursor=cursor)
                else:
                    yield LogChunk(text=text, record={**context, **page}, cursor=cursor)
                offset = end
                if has_more:
                    continue
            elif has_more:
                empties += 1
                if empties > self.empty_log_retries:
                    raise TransientError(
                        f"the log at offset {offset} stayed empty after {empties} requests (the service says "
                        "'request again')",
                        service=SERVICE,
                    )
                yield Sleep(self._empty_wait(empties))
                continue
            elif end > offset:
                offset = end  # an empty page that still moved the offset: nothing was lost, go on
                continue
            # caught up with what the service has
            if not follow or finished:
                break
            info = yield Call(self._build_info_request(ref), decode_result)
            if not info.get("building") and info.get("build_result"):
                finished = True  # one more pass reads what was written before the end
                continue
            if time.monotonic() >= deadline:
                raise JobLogsError(
                    f"build {ref['job_id']} #{ref['build_no']} was still running after follow_timeout={follow_timeout:.0f}s",
                    service=SERVICE,
                )
            yield Sleep(follow_interval)
        if flush and carried:
            yield LogChunk(text=carried, cursor={"start_offset": start_offset, "end_offset": offset})
            carried = ""
        return {"offset": offset, "carried": carried}

    def status_program(self, settings: CodeArtsSettings, job_ref: dict[str, Any]) -> Program[JobStatus]:
        info = yield Call(self._build_info_request(job_ref), decode_result)
        building = bool(info.get("building"))
        result = info.get("build_result")
        raw = "RUNNING" if building else (result or "PENDING")
        state = _STATE_OF.get(raw, JobState.UNKNOWN)
        if state is JobState.UNKNOWN:
            log.warning(
                "CodeArts build %s #%s reports the undocumented build_result %r; still waiting",
                job_ref["job_id"],
                job_ref["build_no"],
                raw,
            )
        detail: dict[str, Any] = {
            "job_id": job_ref["job_id"],
            "build_no": job_ref["build_no"],
            "building": building,
            "build_result": result,
            "region": info.get("region"),
        }
        message = ""
        if not building and result:
            try:
                record = yield Call(self._record_info_request(job_ref), decode_result)
            except (NotFoundError, RemoteValidationError, PermissionDeniedError):
                record = {}  # the verdict stands without the details
            for key in ("build_record_id", "status", "start_time", "finish_time", "duration", "err_msg"):
                if record.get(key) is not None:
                    detail["record_" + key if key == "status" else key] = record[key]
            message = str(record.get("err_msg") or "")
        return JobStatus(
            service=SERVICE,
            job_id=job_ref["job_id"],
            state=state,
            raw_status=raw,
            name=f"build #{job_ref['build_no']}",
            message=message,
            detail=detail,
        )

    def tail_program(self, settings: CodeArtsSettings, job_ref: dict[str, Any], cursor: Any) -> Program[Any]:
        """New whole lines of the build log since ``cursor`` (``{"offset", "carried"}``)."""
        cursor = cursor or {}
        result = yield from relay(
            self.log_program(
                job_ref,
                start_offset=int(cursor.get("offset", 0)),
                carried=str(cursor.get("carried", "")),
                flush=False,
            ),
            lambda chunk: chunk if chunk.text else None,
        )
        return result

    def _tail_of(self, ref: dict[str, Any], tail_lines: int) -> Program[str]:
        """The last ``tail_lines`` lines of a log (read forward, keeping only the last lines)."""
        last: deque[str] = deque(maxlen=max(tail_lines, 1))

        def keep(chunk: LogChunk) -> None:
            last.extend(chunk.text.splitlines())

        yield from relay(self.log_program(ref), keep)
        return "\n".join(last) if tail_lines > 0 else ""

    def failure_program(
        self, settings: CodeArtsSettings, job_ref: dict[str, Any], status: JobStatus, tail_lines: int
    ) -> Program[list[FailedUnit]]:
        """The failed build actions (from the record's stages) with the last lines of their logs.

        Falls back to the whole build's last lines when the stages name no failed action.
        """
        build = {"job_id": job_ref["job_id"], "build_no": job_ref["build_no"]}
        record_id = status.detail.get("build_record_id")
        found: Any = {}
        if record_id:
            try:
                found = yield Call(self._stages_request(record_id), decode_result)
            except (NotFoundError, RemoteValidationError, PermissionDeniedError, InvalidParameterError):
                found = {}
        failed = _failed_stages(found)
        units: list[FailedUnit] = []
        for stage in failed[:5]:
            step_id = str(stage.get("id", ""))
            name = f"step {stage.get('display_name') or stage.get('execution_stage_name')!r} (id {step_id})"
            reason = f"status {stage.get('status')}"
            tail = ""
            if step_id.isdigit():
                try:
                    tail = yield from self._tail_of({**build, "step_id": int(step_id)}, tail_lines)
                except JobLogsError as exc:
                    reason += f" (its log could not be read: {exc.message})"
            units.append(FailedUnit(name=name, reason=reason, log_tail=tail))
        if not units:
            tail = yield from self._tail_of(build, tail_lines)
            reason = f"build_result {status.raw_status}"
            if status.message:
                reason += f": {status.message}"
            units.append(
                FailedUnit(name=f"build {job_ref['job_id']} #{job_ref['build_no']}", reason=reason, log_tail=tail)
            )
        return units

    def connection_check_program(self, settings: CodeArtsSettings) -> Program[str]:
        # A build that cannot exist: the service's own "no such build task" proves the credentials were
        # accepted. A "no such API" (the gateway's APIGW.0101, the service's CB.00060214) does not: the
        # gateway answers it before checking credentials, so the host is not a CodeArts Build endpoint.
        try:
            yield Call(self._build_info_request({"job_id": "0" * 32, "build_no": 1}), decode_result)
        except NotFoundError as exc:
            if exc.code not in _NO_SUCH_BUILD_CODES:
                raise NotFoundError(
                    f"the endpoint does not serve the CodeArts Build API ({exc.message}); check the host or region",
                    service=SERVICE,
                    code=exc.code,
                    status_code=exc.status_code,
                    request_id=exc.request_id,
                ) from None
        except (RemoteValidationError, PermissionDeniedError):
            pass
        return "Connected to CodeArts Build; credentials accepted."

    # -- normalized layer ------------------------------------------------------------------------------------
    def get_build_status(self, job_id: str, build_no: int | str) -> JobStatus:
        """The build's :class:`JobStatus`: ``raw_status`` is ``build_result`` (``RUNNING`` while building)."""
        return self.job_status_from_ref(build_ref(job_id, build_no))

    async def aget_build_status(self, job_id: str, build_no: int | str) -> JobStatus:
        return await self.ajob_status_from_ref(build_ref(job_id, build_no))

    #: the names every hook of this provider has
    get_job_status = get_build_status
    aget_job_status = aget_build_status

    def iter_log_chunks(
        self,
        job_id: str,
        build_no: int | str,
        *,
        step_id: int | str | None = None,
        start_offset: int | str = 0,
        follow: bool = False,
        follow_interval: float = 10.0,
        follow_timeout: float = 24 * 3600.0,
        whole_lines: bool = True,
    ) -> Iterator[LogChunk]:
        """The build's log (or one action's, with ``step_id``) as :class:`LogChunk` pages; see :meth:`log_program`."""
        return self._stream(
            self._build_log(
                job_id, build_no, step_id, start_offset, follow, follow_interval, follow_timeout, whole_lines
            )
        )

    def aiter_log_chunks(
        self,
        job_id: str,
        build_no: int | str,
        *,
        step_id: int | str | None = None,
        start_offset: int | str = 0,
        follow: bool = False,
        follow_interval: float = 10.0,
        follow_timeout: float = 24 * 3600.0,
        whole_lines: bool = True,
    ) -> AsyncIterator[LogChunk]:
        """The async twin of :meth:`iter_log_chunks`."""
        return self._astream(
            self._build_log(
                job_id, build_no, step_id, start_offset, follow, follow_interval, follow_timeout, whole_lines
            )
        )

    def _build_log(
        self,
        job_id: Any,
        build_no: Any,
        step_id: Any,
        start_offset: Any,
        follow: bool,
        follow_interval: Any,
        follow_timeout: Any,
        whole_lines: bool,
    ) -> Callable[[CodeArtsSettings], Program[Any]]:
        """The arguments of :meth:`iter_log_chunks` validated (before any request) into its program."""
        ref = build_ref(job_id, build_no, step_id)
        options: dict[str, Any] = {
            "start_offset": validate_offset(start_offset, "start_offset"),
            "follow": follow,
            "follow_interval": as_float(follow_interval, "follow_interval", 10.0),
            "follow_timeout": as_float(follow_timeout, "follow_timeout", 24 * 3600.0),
            "whole_lines": whole_lines,
        }
        return lambda _settings: self.log_program(ref, **options)

    #: the names :meth:`iter_log_chunks` and :meth:`aiter_log_chunks` had before every hook used those (kept for a
    #: release)
    iter_build_log = iter_log_chunks
    aiter_build_log = aiter_log_chunks

    def failed_steps(self, job_id: str, build_no: int | str, tail_lines: int = 20) -> list[FailedUnit]:
        """What failed in a finished build, with the last ``tail_lines`` lines of each failed action's log."""
        ref = build_ref(job_id, build_no)
        status = self.job_status_from_ref(ref)
        return self.failed_units(ref, status, tail_lines)

    # -- running builds ----------------------------------------------------------------------------------------
    def run_job(self, job_id: str, parameters: Any = None, scm: dict[str, Any] | None = None) -> dict[str, Any]:
        """``POST /v3/jobs/build`` (RunJob): start a build of the build task; the answer unchanged
        (``octopus_job_name``, ``actual_build_number`` (the new build's number, a string), ``daily_build_number``).

        :param parameters: the task's custom parameters to set, ``{name: value}`` or a list of
            ``{"name", "value"}`` (strings; sent as ``parameter``).
        :param scm: the code to build (sent as ``scm``): e.g. ``{"build_tag": ...}``, ``{"build_commit_id": ...}``,
            ``{"branch": ..., "build_type": "branch"}``; string values.
        """
        return self.api.call(self._run_request(job_id, parameters, scm), decode_answer)

    @staticmethod
    def _run_request(job_id: Any, parameters: Any, scm: Any) -> ApiRequest:
        body: dict[str, Any] = {"job_id": validate_job_id(job_id)}
        if parameters is not None:
            body["parameter"] = parameter_list(parameters)
        if scm is not None:
            body["scm"] = validate_scm(scm)
        return ApiRequest("POST", "/v3/jobs/build", json=body, idempotent=False)

    def stop_build(self, job_id: str, build_no: int | str) -> dict[str, Any]:
        """``POST /v3/jobs/{job_id}/{build_no}/stop`` (StopBuildJob): the answer unchanged (``success``, ``result``)."""
        return self.api.call(self._stop_request(build_ref(job_id, build_no)), decode_answer)

    @staticmethod
    def _stop_request(ref: dict[str, Any]) -> ApiRequest:
        return ApiRequest("POST", f"/v3/jobs/{ref['job_id']}/{ref['build_no']}/stop")

    def get_build_outputs(self, job_id: str, build_no: int | str) -> dict[str, Any]:
        """``GET /v3/jobs/{job_id}/{build_no}/output-info`` (ShowOutputInfo): the answer's ``result``
        (``package_info``, ``package_infos``, ``image_infos``: what the build produced)."""
        ref = build_ref(job_id, build_no)
        return self._call(ApiRequest("GET", f"/v3/jobs/{ref['job_id']}/{ref['build_no']}/output-info"))

    def cancel_program(self, settings: CodeArtsSettings, job_ref: dict[str, Any]) -> Program[str]:
        """Stop the build (:meth:`stop_build`); the answer as a sentence."""
        ref = build_ref(job_ref["job_id"], job_ref["build_no"])
        what = f"build {ref['job_id']} #{ref['build_no']}"
        try:
            answer = yield Call(self._stop_request(ref), decode_answer)
        except (RemoteValidationError, NotFoundError) as exc:
            return f"CodeArts Build did not stop {what}: {exc}"
        if answer.get("success") is False:
            return f"CodeArts Build did not stop {what}: {answer.get('result')}"
        return f"CodeArts Build stopped {what} ({answer.get('result')})"

    def console_url(self, job_ref: dict[str, Any]) -> str | None:
        """``{console_url}/detail/history/{job_id}/{build_no}``: the build in the CodeArts Build console, when the
        connection's extra has ``console_url`` (the console's build service address, e.g.
        ``https://devcloud.cn-north-4.huaweicloud.com/cloudbuild``)."""
        base = self._console_base()
        return f"{base}/detail/history/{job_ref['job_id']}/{job_ref['build_no']}" if base else None


def decode_answer(response: httpx.Response) -> dict[str, Any]:
    """A CodeArts answer without the ``result`` envelope (RunJob, StopBuildJob): the whole body, errors mapped as
    :func:`decode_result` maps them."""
    decode_result(response)
    body: dict[str, Any] = response.json()
    return body


# the build reference builder's own name, bound here: the hook's methods have a parameter of this name
job_ref = build_ref
