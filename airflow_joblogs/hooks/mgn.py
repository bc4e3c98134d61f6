"""AWS Application Migration Service (MGN): job status and job log items through boto3.

MGN is reached with the Amazon provider's :class:`AwsBaseHook` (``client_type="mgn"``) and the user's ``aws``
connection, so every way the Amazon provider authenticates (keys, profiles, assumed roles, web identity) works.
It does not use the provider's HTTP :class:`~airflow_joblogs.http.ServiceClient`: botocore signs, retries
(standard mode, a bounded number of attempts) and paginates. Botocore errors are translated into the provider's
exception hierarchy, so the shared sensor, trigger and operator handle them like any other service's.

Needs the extra ``airflow-joblogs[amazon]``.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from functools import cached_property
from typing import Any

from airflow_joblogs.exceptions import (
    AuthenticationError,
    InvalidParameterError,
    JobLogsError,
    NotFoundError,
    PermissionDeniedError,
    RemoteValidationError,
    TransientError,
)
from airflow_joblogs.hooks.base import mask

# The job model lives in a module without the AWS SDK (cheap for the sensor and operator); this module is its
# documented home, so every name is available here too.
from airflow_joblogs.hooks.mgn_model import (  # noqa: F401
    COMPLETED,
    FAILED,
    FAILURE_EVENTS,
    FAILURE_STATUSES,
    INSTALL_HINT,
    JOB_STATUSES,
    LAUNCH_STATUSES,
    PENDING,
    POST_LAUNCH_IN_PROGRESS,
    SERVICE,
    STARTED,
    STATUSES,
    SUCCESS_STATUSES,
    TARGET_LAUNCH_STATUS,
    _server_of,
    evaluate_job,
    failed_units,
    is_failure_event,
    is_last_attempt,
    job_ref,
    launched_instances,
    render_item,
    started_by,
    validate_account_id,
    validate_job_id,
    validate_max_results,
    validate_source_server_ids,
    validate_tags,
)
from airflow_joblogs.loop_shared import Lease, LoopShared
from airflow_joblogs.models import FailedUnit, JobStatus, LazyLogChunk, LogChunk
from airflow_joblogs.streaming import StreamBudget
from airflow_joblogs.validation import as_int

log = logging.getLogger(__name__)

try:
    import botocore.exceptions
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook
    from botocore.config import Config
except ImportError as exc:  # pragma: no cover - exercised in a subprocess that hides the provider
    raise ImportError(f"{INSTALL_HINT} ({exc})") from exc

#: the most log items MGN returns per call, used when tailing so a short job log costs one call
MAX_PAGE_SIZE = 1000
DEFAULT_MAX_ATTEMPTS = 6
_OPERATIONS = ("DescribeJobs", "DescribeJobLogItems")
#: set on a parsed response whose 200 body was empty or not a JSON object (a cut-off body)
_INCOMPLETE = "AirflowJobLogsIncompleteBody"
#: the raw 200 body, on the parsed response until the needs-retry check has looked at it
_RAW_BODY = "AirflowJobLogsRawBody"

_AUTH_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
    }
)
_TRANSIENT_CODES = frozenset(
    {"ThrottlingException", "InternalServerException", "ServiceUnavailableException", "RequestTimeoutException"}
)
_VALIDATION_CODES = frozenset({"ValidationException", "UninitializedAccountException", "ConflictException"})


# -- errors -------------------------------------------------------------------------------------------------------
def _retry_after(headers: dict[str, Any]) -> float | None:
    try:
        return max(0.0, float(headers.get("retry-after")))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def translate_error(exc: Exception, operation: str = "") -> Exception:
    """The provider's exception for a botocore error (the original stays as ``__cause__``)."""
    where = f"{operation}: " if operation else ""
    if isinstance(exc, botocore.exceptions.ClientError):
        response: dict[str, Any] = exc.response or {}
        error = response.get("Error") or {}
        meta = response.get("ResponseMetadata") or {}
        code = str(error.get("Code") or "")
        status = meta.get("HTTPStatusCode")
        message = str(error.get("Message") or code or "request failed")
        if code == "ValidationException":
            fields = [
                f"{f.get('name')}: {f.get('message')}" for f in response.get("fieldList") or [] if isinstance(f, dict)
            ]
            reason = response.get("reason")
            message += "".join(f" [{part}]" for part in ([str(reason)] if reason else []) + fields)
        kwargs: dict[str, Any] = {
            "service": SERVICE,
            "code": code,
            "status_code": status,
            "request_id": meta.get("RequestId"),
            "retry_after": _retry_after(meta.get("HTTPHeaders") or {}),
        }
        text = where + message
        if code in _TRANSIENT_CODES or status == 429 or (isinstance(status, int) and status >= 500):
            return TransientError(text + f" (gave up after {meta.get('RetryAttempts', 0) + 1} attempts)", **kwargs)
        if code in _AUTH_CODES:
            return AuthenticationError(text, **kwargs)
        if code == "AccessDeniedException" or status == 403:
            return PermissionDeniedError(text, **kwargs)
        if code == "ResourceNotFoundException" or status == 404:
            return NotFoundError(text, **kwargs)
        if code in _VALIDATION_CODES or status == 400:
            return RemoteValidationError(text, **kwargs)
        return JobLogsError(text, **kwargs)
    if isinstance(exc, botocore.exceptions.ParamValidationError):
        return InvalidParameterError("request", str(exc))
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return InvalidParameterError("region_name", "no AWS region: set region_name in the aws connection's extra")
    if isinstance(exc, (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)):
        return AuthenticationError(where + f"no usable AWS credentials ({type(exc).__name__})", service=SERVICE)
    if isinstance(exc, botocore.exceptions.SSLError):  # asking again cannot help: say what to change
        return JobLogsError(
            where + f"the endpoint's TLS certificate was not accepted ({exc}); set verify in the aws connection's "
            "extra to the CA bundle that signed it (or false, for a test endpoint you trust)",
            service=SERVICE,
        )
    if isinstance(exc, (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError)):
        return TransientError(where + f"{type(exc).__name__}: {exc}", service=SERVICE)
    return JobLogsError(where + f"{type(exc).__name__}: {exc}", service=SERVICE)


@contextmanager
def aws_errors(operation: str = "") -> Iterator[None]:
    """Translate botocore errors raised inside the block (sync or async code) into the provider's exceptions."""
    try:
        yield
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise translate_error(exc, operation) from exc


# -- a cut-off 200 body is retried like a 5xx by botocore's own retry loop --------------------------------------------
def _keep_body(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], operation_model: Any, **_: Any
) -> None:
    # botocore parses an empty or cut-off JSON body as an empty result: a silently short page. The body is looked at
    # once botocore has parsed it (_RetryIncompleteBody), so a whole page is not decoded twice.
    if operation_model.name in _OPERATIONS and response_dict.get("status_code") == 200:
        customized_response_dict[_RAW_BODY] = response_dict.get("body") or b""


def _is_json_object(body: bytes) -> bool:
    try:
        return isinstance(json.loads(body or b""), dict)
    except ValueError:
        return False


class _RetryIncompleteBody:
    """A ``needs-retry`` handler: ask again for a response whose body was cut, within the client's attempts.

    botocore reads ``items`` (both operations answer it) only from a body that parsed whole as JSON; a parsed 200
    answer without it has its raw body checked.
    """

    def __init__(self, total_attempts: int) -> None:
        self.total_attempts = total_attempts

    def __call__(self, attempts: int, response: Any = None, operation: Any = None, **_: Any) -> float | None:
        if response is None or getattr(operation, "name", None) not in _OPERATIONS:
            return None
        parsed = response[1] if isinstance(response, tuple) and len(response) > 1 else {}
        if not isinstance(parsed, dict) or _RAW_BODY not in parsed:
            return None
        body = parsed.pop(_RAW_BODY)
        if "items" in parsed or _is_json_object(body):
            return None
        parsed[_INCOMPLETE] = True
        if attempts < self.total_attempts:
            return random.uniform(0, min(20.0, 0.05 * 2 ** (attempts - 1)))  # botocore's backoff for 5xx
        return None


def _install_guards(client: Any) -> Any:
    total = (client.meta.config.retries or {}).get("total_max_attempts", DEFAULT_MAX_ATTEMPTS)
    client.meta.events.register("before-parse.mgn", _keep_body)
    client.meta.events.register("needs-retry.mgn", _RetryIncompleteBody(int(total)))
    return client


def _account_arg(account_id: Any) -> dict[str, Any]:
    """The ``accountID`` argument of a call (the account that owns the job or servers), or none."""
    account = validate_account_id(account_id)
    return {"accountID": account} if account else {}


def _page_items(page: dict[str, Any], operation: str) -> list[dict[str, Any]]:
    if page.get(_INCOMPLETE):
        raise TransientError(f"{operation}: the response body was cut off (gave up after retries)", service=SERVICE)
    return list(page.get("items") or [])


#: aiobotocore clients shared by the hooks of one event loop that use the same connection and settings. A
#: botocore client carries its own copy of the service model and generated methods (about half a megabyte,
#: and tens of milliseconds to build): a triggerer polling a thousand MGN jobs through one connection needs
#: one, not a thousand. After an hour new hooks get a fresh client, so a changed connection (rotated keys) is
#: picked up even while triggers keep running.
_SHARED: LoopShared[Any] = LoopShared(max_age=3600.0)


def _load_botocore_models(session: Any) -> None:
    """Read the files an ``mgn`` client is built from into ``session``'s loader cache.

    Creating an aiobotocore client runs on the event loop and would read and parse them there (a quarter of a
    second, a second and more on a busy machine, with every other trigger stalled); called from the worker
    thread that makes the session, it leaves the loop only the assembly (about 10 ms).
    """
    try:
        loader = session.get_component("data_loader")
        for model in ("service-2", "endpoint-rule-set-1"):
            loader.load_service_model("mgn", model)
        for name in ("partitions", "endpoints", "sdk-default-configuration", "_retry"):
            loader.load_data(name)
        session._get_internal_component("endpoint_resolver")
    except Exception:  # only a head start: the client loads whatever is missing itself
        log.debug("could not preload botocore's mgn model files", exc_info=True)


class _ItemLine:
    """The text of a log item's chunk (a :class:`LazyLogChunk` whose ``source`` is the item): its readable line
    (:func:`render_item`), built when first read."""

    @staticmethod
    def text(chunk: LazyLogChunk) -> str:
        return render_item(chunk.source)


_ITEM_LINE = _ItemLine()


class MgnHook(AwsBaseHook):
    """Talk to AWS Application Migration Service through boto3 (sync) and aiobotocore (async, triggers).

    Raw methods return MGN's data unchanged (:meth:`describe_job`, :meth:`describe_job_log_items`); the
    normalized layer (:meth:`get_job_status`, :meth:`iter_log_chunks` and the ``*_from_ref`` methods) is what
    the sensor, trigger and log operator use.

    :param conn_id: the ``aws`` connection (same as ``aws_conn_id``; the shared sensor and trigger pass this).
    :param aws_conn_id: the ``aws`` connection, default ``aws_default``; ``None`` uses boto3's default
        credential chain. ``endpoint_url`` and ``region_name`` in its extra are honoured.
    :param max_attempts: attempts per request (botocore standard retry mode: throttling, 5xx, connection
        errors), 1-20, default 6. The connection's ``config_kwargs.retries`` overrides it.
    :param region_name, verify, config: as for :class:`AwsBaseHook`.
    """

    default_conn_name = "aws_default"

    def __init__(
        self,
        conn_id: str | None = None,
        *,
        aws_conn_id: str | None = AwsBaseHook.default_conn_name,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        **kwargs: Any,
    ) -> None:
        max_attempts = as_int(max_attempts, "max_attempts", 1, 20)
        kwargs["client_type"] = "mgn"
        super().__init__(aws_conn_id=conn_id or aws_conn_id, **kwargs)
        self.max_attempts = max_attempts
        self._aclient: Any = None
        self._aclient_close: Callable[[], Awaitable[Any]] | None = None
        self._shared: Lease[Any] | None = None

    def __repr__(self) -> str:
        return f"MgnHook(aws_conn_id={self.aws_conn_id!r})"

    @property
    def conn_id(self) -> str | None:
        return self.aws_conn_id

    @property
    def config(self) -> Config:
        """botocore's standard retry mode with ``max_attempts``, under whatever the connection or caller set."""
        default = Config(retries={"mode": "standard", "total_max_attempts": self.max_attempts})
        configured = self.conn_config.botocore_config
        return default.merge(configured) if configured is not None else default

    # -- clients ----------------------------------------------------------------------------------------------
    def _register_secrets(self) -> None:
        conn = self.conn_config
        mask(conn.aws_secret_access_key, conn.aws_session_token)

    @cached_property
    def client(self) -> Any:
        """The boto3 ``mgn`` client (created once, from a synchronous connection lookup)."""
        with aws_errors():
            self._register_secrets()
            try:
                return _install_guards(self.conn)
            except ValueError as exc:  # botocore's "Invalid endpoint: ..."
                raise InvalidParameterError("endpoint_url", str(exc)) from None

    async def aget_client(self) -> Any:
        """The aiobotocore ``mgn`` client, used by every async call of this hook until :meth:`aclose`.

        The connection lookup, the secrets' registration with the masker and the client creation are
        synchronous; they run in a worker thread (as the Amazon provider's ``get_async_conn`` does), so the
        event loop is never blocked. Hooks on one event loop with the same connection and settings share one
        client (an hour at most, see :class:`~airflow_joblogs.loop_shared.LoopShared`); a hook given its own
        ``config`` gets its own.
        """
        if self._aclient is None:
            key = self._shared_key()
            if key is None:
                self._aclient, self._aclient_close = await self._open_async_client()
            else:
                self._shared = await _SHARED.alease(key, self._open_async_client)
                self._aclient = self._shared.resource
        return self._aclient

    def _shared_key(self) -> tuple[Any, ...] | None:
        # constructor arguments only: reading the connection here would block the event loop
        if self._config is not None:
            return None
        return (self.aws_conn_id, self._region_name, self._verify, self.max_attempts)

    async def _open_async_client(self) -> tuple[Any, Callable[[], Awaitable[Any]]]:
        from asgiref.sync import sync_to_async

        with aws_errors():
            context = await sync_to_async(self._new_async_client)()
            client = await context.__aenter__()
        return _install_guards(client), lambda: context.__aexit__(None, None, None)

    def _new_async_client(self, config: Config | None = None) -> Any:
        self._register_secrets()
        return self.get_client_type(region_name=self.region_name, config=config, deferrable=True)

    @property
    def start_config(self) -> Config:
        """:attr:`config` with one attempt per request: MGN's start calls take no client token, so a request sent
        again after a dropped answer could start a second job (a task retry looks for the first one instead,
        :meth:`find_started_job`)."""
        return self.config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))

    @cached_property
    def start_client(self) -> Any:
        """The boto3 ``mgn`` client for StartTest, StartCutover and TerminateTargetInstances (:attr:`start_config`)."""
        with aws_errors():
            self._register_secrets()
            try:
                return self.get_client_type(config=self.start_config)
            except ValueError as exc:
                raise InvalidParameterError("endpoint_url", str(exc)) from None

    def get_session(self, region_name: str | None = None, deferrable: bool = False) -> Any:
        """:meth:`AwsBaseHook.get_session`; an async session comes with the ``mgn`` model files loaded."""
        session = super().get_session(region_name=region_name, deferrable=deferrable)
        if deferrable:
            _load_botocore_models(session)
        return session

    def close(self) -> None:
        for name in ("client", "start_client"):
            if name in self.__dict__:
                self.__dict__.pop(name).close()

    async def aclose(self) -> None:
        if self._shared is not None:
            shared, self._shared, self._aclient = self._shared, None, None
            await _SHARED.release(shared)
        if self._aclient_close is not None:
            close, self._aclient_close, self._aclient = self._aclient_close, None, None
            await close()

    def __enter__(self) -> MgnHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- raw API (MGN's data unchanged) -----------------------------------------------------------------------
    @staticmethod
    def _log_items_args(job_id: Any, account_id: Any, max_results: Any) -> dict[str, Any]:
        args: dict[str, Any] = {"jobID": validate_job_id(job_id), **_account_arg(account_id)}
        size = validate_max_results(max_results)
        if size:
            args["PaginationConfig"] = {"PageSize": size}
        return args

    @staticmethod
    def _describe_args(job_id: Any, account_id: Any) -> dict[str, Any]:
        return {"filters": {"jobIDs": [validate_job_id(job_id)]}, **_account_arg(account_id)}

    @staticmethod
    def _only_job(job_id: str, body: dict[str, Any]) -> dict[str, Any]:
        for job in _page_items(body, "DescribeJobs"):
            if job.get("jobID") == job_id:
                return job
        raise NotFoundError(
            f"DescribeJobs: job {job_id!r} not found", service=SERVICE, code="ResourceNotFoundException"
        )

    def describe_job_log_items(
        self, job_id: str, account_id: str | None = None, max_results: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every log item of the job, oldest first, across all pages (botocore's paginator); items unchanged.

        The arguments are checked when this is called, before any request.

        :param job_id: ``mgnjob-`` + 17 letters or digits.
        :param account_id: the 12-digit account that owns the job (cross-account access).
        :param max_results: items per call (``maxResults``), 1-1000; default: the service's.
        """
        args = self._log_items_args(job_id, account_id, max_results)
        return self._log_items(args)

    def _log_items(self, args: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with aws_errors("DescribeJobLogItems"):
            for page in self.client.get_paginator("describe_job_log_items").paginate(**args):
                yield from _page_items(page, "DescribeJobLogItems")

    def describe_job(self, job_id: str, account_id: str | None = None) -> dict[str, Any]:
        """``DescribeJobs`` filtered to one job: the job unchanged (``NotFoundError`` if there is none)."""
        args = self._describe_args(job_id, account_id)
        with aws_errors("DescribeJobs"):
            body = self.client.describe_jobs(**args)
        return self._only_job(job_id, body)

    async def adescribe_job_log_items(
        self, job_id: str, account_id: str | None = None, max_results: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """The async twin of :meth:`describe_job_log_items` (aiobotocore's paginator)."""
        args = self._log_items_args(job_id, account_id, max_results)
        client = await self.aget_client()
        with aws_errors("DescribeJobLogItems"):
            async for page in client.get_paginator("describe_job_log_items").paginate(**args):
                for item in _page_items(page, "DescribeJobLogItems"):
                    yield item

    async def adescribe_job(self, job_id: str, account_id: str | None = None) -> dict[str, Any]:
        args = self._describe_args(job_id, account_id)
        client = await self.aget_client()
        with aws_errors("DescribeJobs"):
            body = await client.describe_jobs(**args)
        return self._only_job(job_id, body)

    @staticmethod
    def _start_args(source_server_ids: Any, tags: Any, account_id: Any) -> dict[str, Any]:
        args: dict[str, Any] = {"sourceServerIDs": validate_source_server_ids(source_server_ids)}
        checked = validate_tags(tags)
        if checked is not None:
            args["tags"] = checked
        return {**args, **_account_arg(account_id)}

    def _start(self, operation: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
        with aws_errors(operation):
            answer = dict(getattr(self.start_client, method)(**args))
        answer.pop("ResponseMetadata", None)
        return answer

    async def _astart(self, operation: str, method: str, args: dict[str, Any]) -> dict[str, Any]:
        from asgiref.sync import sync_to_async

        with aws_errors(operation):
            context = await sync_to_async(self._new_async_client)(self.start_config)
            async with context as client:
                answer = dict(await getattr(client, method)(**args))
        answer.pop("ResponseMetadata", None)
        return answer

    def start_test(
        self, source_server_ids: list[str], tags: dict[str, str] | None = None, account_id: str | None = None
    ) -> dict[str, Any]:
        """``StartTest`` (``POST /StartTest``): launch test instances; MGN's answer unchanged, ``{"job": Job}`` (a
        LAUNCH job initiated by START_TEST; the servers' lifecycle state becomes TESTING).

        Sent once, never retried by botocore (:attr:`start_config`). The arguments are checked before any request.

        :param source_server_ids: 1 to 200 source server ids, ``s-`` + 17 letters or digits.
        :param tags: tags for the job, at most 50 string pairs (keys and values up to 256 characters).
        :param account_id: the 12-digit account that owns the servers (cross-account access).
        """
        return self._start("StartTest", "start_test", self._start_args(source_server_ids, tags, account_id))

    def start_cutover(
        self, source_server_ids: list[str], tags: dict[str, str] | None = None, account_id: str | None = None
    ) -> dict[str, Any]:
        """``StartCutover`` (``POST /StartCutover``): launch cutover instances; ``{"job": Job}`` (a LAUNCH job
        initiated by START_CUTOVER; the servers' lifecycle state becomes CUTTING_OVER). Parameters as
        :meth:`start_test`."""
        return self._start("StartCutover", "start_cutover", self._start_args(source_server_ids, tags, account_id))

    def terminate_target_instances(
        self, source_server_ids: list[str], tags: dict[str, str] | None = None, account_id: str | None = None
    ) -> dict[str, Any]:
        """``TerminateTargetInstances`` (``POST /TerminateTargetInstances``): terminate the servers' launched test
        and cutover instances; ``{"job": Job}`` (a TERMINATE job). MGN refuses it (ConflictException) for a
        server whose lifecycle state is TESTING, CUTTING_OVER or CUTOVER. Parameters as :meth:`start_test`."""
        return self._start(
            "TerminateTargetInstances",
            "terminate_target_instances",
            self._start_args(source_server_ids, tags, account_id),
        )

    async def astart_test(
        self, source_server_ids: list[str], tags: dict[str, str] | None = None, account_id: str | None = None
    ) -> dict[str, Any]:
        """The async twin of :meth:`start_test` (aiobotocore, a client of its own with one attempt)."""
        return await self._astart("StartTest", "start_test", self._start_args(source_server_ids, tags, account_id))

    async def astart_cutover(
        self, source_server_ids: list[str], tags: dict[str, str] | None = None, account_id: str | None = None
    ) -> dict[str, Any]:
        """The async twin of :meth:`start_cutover`."""
        return await self._astart(
            "StartCutover", "start_cutover", self._start_args(source_server_ids, tags, account_id)
        )

    async def aterminate_target_instances(
        self, source_server_ids: list[str], tags: dict[str, str] | None = None, account_id: str | None = None
    ) -> dict[str, Any]:
        """The async twin of :meth:`terminate_target_instances`."""
        return await self._astart(
            "TerminateTargetInstances",
            "terminate_target_instances",
            self._start_args(source_server_ids, tags, account_id),
        )

    @staticmethod
    def _iso(value: Any, parameter: str) -> str:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise InvalidParameterError(parameter, f"{value!r} is not a datetime with a time zone")
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def describe_jobs(
        self,
        job_ids: list[str] | None = None,
        from_date: datetime | None = None,
        to_date: datetime | None = None,
        account_id: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """``DescribeJobs``, every page (botocore's paginator): the jobs unchanged, newest first.

        :param job_ids: only these jobs (``filters.jobIDs``).
        :param from_date: only jobs from this time on (``filters.fromDate``, sent as ``YYYY-MM-DDThh:mm:ssZ``).
        :param to_date: only jobs up to this time (``filters.toDate``).
        :param account_id: the 12-digit account that owns the jobs.
        """
        filters: dict[str, Any] = {}
        if job_ids is not None:
            filters["jobIDs"] = [validate_job_id(job_id) for job_id in job_ids]
        if from_date is not None:
            filters["fromDate"] = self._iso(from_date, "from_date")
        if to_date is not None:
            filters["toDate"] = self._iso(to_date, "to_date")
        return self._jobs({"filters": filters, **_account_arg(account_id)})

    def _jobs(self, args: dict[str, Any]) -> Iterator[dict[str, Any]]:
        with aws_errors("DescribeJobs"):
            for page in self.client.get_paginator("describe_jobs").paginate(**args):
                yield from _page_items(page, "DescribeJobs")

    def find_started_job(
        self,
        initiated_by: str,
        source_server_ids: list[str],
        since: datetime,
        until: datetime,
        tags: dict[str, str] | None = None,
        account_id: str | None = None,
    ) -> dict[str, Any] | None:
        """The newest job created between ``since`` and ``until`` (``DescribeJobs`` with ``fromDate`` and
        ``toDate``) that a start initiated by ``initiated_by`` (``START_TEST``, ``START_CUTOVER``, ``TERMINATE``)
        for exactly ``source_server_ids`` with (at least) ``tags`` created; None if there is none.

        MGN's start calls take no client token: this is how a start whose answer was lost is found again.
        """
        ids = validate_source_server_ids(source_server_ids)
        wanted = validate_tags(tags)
        found = [
            job
            for job in self.describe_jobs(from_date=since, to_date=until, account_id=account_id)
            if started_by(job, initiated_by, ids, wanted)
        ]
        return max(found, key=lambda job: str(job.get("creationDateTime") or ""), default=None)

    # -- the run operators' contract (RunService) -------------------------------------------------------------
    def cancel_job(self, job_ref: dict[str, Any]) -> str:
        """MGN has no API that cancels a job: always raises (the MGN run operators refuse ``cancel_on_kill``)."""
        raise JobLogsError(
            f"AWS MGN has no API to cancel job {job_ref.get('job_id')}; it keeps running", service=SERVICE
        )

    async def acancel_job(self, job_ref: dict[str, Any]) -> str:
        return self.cancel_job(job_ref)

    def console_url(self, job_ref: dict[str, Any]) -> str | None:
        """None: no public AWS source documents an address of an MGN job in the console."""
        return None

    # -- normalized layer ---------------------------------------------------------------------------------------
    def get_job_status(
        self, job_id: str, account_id: str | None = None, *, require_post_launch_success: bool = False
    ) -> JobStatus:
        """The job's :class:`JobStatus` under the rules of :func:`evaluate_job` (``raw_status`` is one of
        :data:`STATUSES`). A completed job's log is read once to look for failure events."""
        return self.job_status_from_ref(job_ref(job_id, account_id, require_post_launch_success))

    async def aget_job_status(
        self, job_id: str, account_id: str | None = None, *, require_post_launch_success: bool = False
    ) -> JobStatus:
        return await self.ajob_status_from_ref(job_ref(job_id, account_id, require_post_launch_success))

    def job_status_from_ref(self, job_ref: dict[str, Any]) -> JobStatus:
        job = self.describe_job(job_ref["job_id"], job_ref.get("account_id"))
        items = None
        if job.get("status") == "COMPLETED":  # the log is read once, when the verdict depends on it
            items = self.describe_job_log_items(job_ref["job_id"], job_ref.get("account_id"), MAX_PAGE_SIZE)
        return evaluate_job(job, items, require_post_launch_success=bool(job_ref.get("require_post_launch_success")))

    async def ajob_status_from_ref(self, job_ref: dict[str, Any]) -> JobStatus:
        job = await self.adescribe_job(job_ref["job_id"], job_ref.get("account_id"))
        items = None
        if job.get("status") == "COMPLETED":
            items = [
                i
                async for i in self.adescribe_job_log_items(job_ref["job_id"], job_ref.get("account_id"), MAX_PAGE_SIZE)
            ]
        return evaluate_job(job, items, require_post_launch_success=bool(job_ref.get("require_post_launch_success")))

    def failed_units(self, job_ref: dict[str, Any], status: JobStatus, tail_lines: int = 20) -> list[FailedUnit]:
        """The failed servers (last failure event with its whole ``rawError``), a cancellation and failed
        post-launch actions, each with the last ``tail_lines`` log items of that server."""
        job = self.describe_job(job_ref["job_id"], job_ref.get("account_id"))
        items = self.describe_job_log_items(job_ref["job_id"], job_ref.get("account_id"), MAX_PAGE_SIZE)
        return failed_units(
            job,
            items,
            require_post_launch_success=bool(job_ref.get("require_post_launch_success")),
            tail_lines=tail_lines,
        )

    @staticmethod
    def _write_new(items: Iterable[dict[str, Any]], cursor: Any, logger: Any, budget: StreamBudget) -> dict[str, int]:
        """Write the items after ``cursor`` within ``budget``; the new cursor."""
        seen = int((cursor or {}).get("items", 0))
        writer = budget.writer(logger)
        position = 0
        for position, item in enumerate(items, 1):
            if position > seen:
                writer.write(LogChunk(text=render_item(item), record=item, cursor={"items": position}))
        writer.finish()
        return {"items": max(seen, position)}

    def tail_logs(self, job_ref: dict[str, Any], cursor: Any, logger: Any, budget: StreamBudget | None = None) -> Any:
        """Log the items that appeared since ``cursor`` (``{"items": count already shown}``); return the new cursor.

        MGN's log only grows, oldest first; a job's log is short (tens of items per server), so every call
        reads it from the start in pages of 1,000 and skips what was shown.
        """
        budget = budget or StreamBudget()
        if budget.exhausted:
            return cursor
        # every page is read before a line is written: a failed page writes nothing and keeps the cursor
        items = list(self.describe_job_log_items(job_ref["job_id"], job_ref.get("account_id"), MAX_PAGE_SIZE))
        return self._write_new(items, cursor, logger, budget)

    async def atail_logs(
        self, job_ref: dict[str, Any], cursor: Any, logger: Any, budget: StreamBudget | None = None
    ) -> Any:
        budget = budget or StreamBudget()
        if budget.exhausted:
            return cursor
        items = [
            i async for i in self.adescribe_job_log_items(job_ref["job_id"], job_ref.get("account_id"), MAX_PAGE_SIZE)
        ]
        return self._write_new(items, cursor, logger, budget)

    def iter_log_chunks(
        self,
        job_id: str,
        account_id: str | None = None,
        *,
        group_by_server: bool = False,
        max_results: int | None = MAX_PAGE_SIZE,
    ) -> Iterator[LogChunk]:
        """One :class:`LogChunk` per log item: ``text`` is the readable line (:func:`render_item`, built when first
        read), ``record`` the item unchanged. In log order, streamed page by page; with ``group_by_server`` the
        job's own events come first, then each source server's (in order of first appearance) under a header line,
        which holds the job's items in memory (MGN job logs are small)."""
        items = self.describe_job_log_items(job_id, account_id, max_results)
        if not group_by_server:
            return (LazyLogChunk(_ITEM_LINE, item, record=item, cursor={"items": n}) for n, item in enumerate(items, 1))
        return self._grouped(items)

    @staticmethod
    def _grouped(items: Iterable[dict[str, Any]]) -> Iterator[LogChunk]:
        groups: dict[str | None, list[tuple[int, dict[str, Any]]]] = {None: []}
        for n, item in enumerate(items, 1):
            groups.setdefault(_server_of(item), []).append((n, item))
        for server_id, entries in groups.items():
            header = "===== job events =====" if server_id is None else f"===== source server {server_id} ====="
            header += f" ({len(entries)} items)"
            for index, (n, item) in enumerate(entries):
                yield LazyLogChunk(
                    _ITEM_LINE, item, header=header if index == 0 else None, record=item, cursor={"items": n}
                )

    def test_connection(self) -> tuple[bool, str]:
        """List one job: proves the credentials, region and endpoint are accepted by MGN."""
        try:
            with aws_errors("DescribeJobs"):
                self.client.describe_jobs(maxResults=1)
        except Exception as exc:  # the UI shows the message
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"Connected to AWS Application Migration Service in {self.client.meta.region_name}."
