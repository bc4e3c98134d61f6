"""What every service hook shares: reading the connection into a client and settings, the client options of the
extra, the first checks of every decoder, the connection form, the sync and async drivers, test_connection."""

from __future__ import annotations

import asyncio
import json
import time
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import httpx
from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook, mask_secret

from airflow_joblogs.exceptions import InvalidParameterError, TransientError
from airflow_joblogs.http import Program, RetryPolicy, ServiceClient, json_body, retry_after_seconds
from airflow_joblogs.models import FailedUnit, JobStatus
from airflow_joblogs.streaming import StreamBudget

if TYPE_CHECKING:
    from airflow.sdk import Connection

T = TypeVar("T")


@dataclass(frozen=True)
class ConnectionSettings:
    """What a hook's programs need to know of its connection besides the client: read with the client, never
    changed. A service adds its own fields (API style, zone, region ...) in a subclass.

    :param conn_id: the connection it was read from.
    :param base_url: the service endpoint the client talks to.
    :param console_url: the service's web console (the ``console_url`` extra), for links to a job; or None.
    """

    conn_id: str
    base_url: str
    console_url: str | None = None


S = TypeVar("S", bound=ConnectionSettings)


def connection_extra(conn: Connection, conn_type: str) -> dict[str, Any]:
    """The connection's extra as a dict, accepting both plain keys and the ``extra__<type>__<key>`` form."""
    raw = conn.extra
    if not raw:
        return {}
    try:
        extra = json.loads(raw) if isinstance(raw, str) else dict(raw)
    except ValueError:
        raise InvalidParameterError("extra", f"connection {conn.conn_id!r} has an extra that is not JSON") from None
    prefix = f"extra__{conn_type}__"
    return {key.removeprefix(prefix): value for key, value in extra.items() if value not in (None, "")}


def as_bool(value: Any, parameter: str, default: bool) -> bool:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise InvalidParameterError(parameter, f"{value!r} is not a boolean", "true, false")


def as_float(value: Any, parameter: str, default: float) -> float:
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidParameterError(parameter, f"{value!r} is not a number") from None
    if number <= 0:
        raise InvalidParameterError(parameter, f"{value!r} must be positive")
    return number


def retry_policy_from_extra(extra: dict[str, Any]) -> RetryPolicy:
    attempts = extra.get("max_attempts")
    if attempts in (None, ""):
        return RetryPolicy()
    try:
        count = int(attempts)
    except (TypeError, ValueError):
        count = 0
    if not 1 <= count <= 20:
        raise InvalidParameterError("max_attempts", f"{attempts!r} must be an integer from 1 to 20")
    return RetryPolicy(max_attempts=count)


def client_options(extra: dict[str, Any]) -> dict[str, Any]:
    """The :class:`~airflow_joblogs.http.ServiceClient` options every connection's extra may set, validated:
    ``verify`` (default true) and ``ca_bundle`` (a CA file or folder, when verifying), ``timeout`` (seconds,
    default 60), ``max_attempts`` (1 to 20) and ``allow_http`` (default false)."""
    verify: bool | str = as_bool(extra.get("verify"), "verify", True)
    if verify and extra.get("ca_bundle"):
        verify = str(extra["ca_bundle"])
    return {
        "verify": verify,
        "timeout": as_float(extra.get("timeout"), "timeout", 60.0),
        "retry": retry_policy_from_extra(extra),
        "allow_http": as_bool(extra.get("allow_http"), "allow_http", False),
    }


#: reads a service's error body: (code, message, request id), each None or empty when the body has none
ErrorFields = Callable[[dict[str, Any]], "tuple[Any, str, str | None]"]


def answer_object(
    response: httpx.Response,
    service: str,
    request_id: str | None,
    error_fields: ErrorFields,
    *,
    retry_after: float | None = None,
    throttled: str = "rate limited",
) -> dict[str, Any]:
    """The JSON object an answer carries, after the checks every service's decoder starts with.

    429 and 5xx are transient (:class:`~airflow_joblogs.exceptions.TransientError` with the code, message and
    request id ``error_fields`` reads from the body, when it is a JSON object, and ``retry_after`` or the answer's
    ``Retry-After``); so is an empty or cut-off body, or one that is not a JSON object. What the object says is
    the service's decoder's to read.
    """
    status = response.status_code
    if status == 429 or status >= 500:
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        code, message, found = error_fields(body) if isinstance(body, dict) else (None, "", None)
        raise TransientError(
            message or (throttled if status == 429 else f"HTTP {status}"),
            service=service,
            code=code,
            status_code=status,
            request_id=request_id or found,
            retry_after=retry_after_seconds(response) if retry_after is None else retry_after,
        )
    body = json_body(response, service, request_id)
    if not isinstance(body, dict):
        raise TransientError(
            "response is not a JSON object", service=service, status_code=status, request_id=request_id
        )
    return body


#: registrations handed to a thread from an event loop, kept until done (the loop holds tasks weakly)
_MASKING: set[asyncio.Future[None]] = set()


def mask(*secrets: Any) -> None:
    """Register secrets with Airflow's masker so they are redacted from every task and trigger log.

    On an event loop's thread (a trigger's connection or token) the registration runs on a worker thread:
    Airflow 3.0's triggerer tells its supervisor through ``async_to_sync``, which refuses to run on the loop's
    own thread; from a ``sync_to_async`` thread it hands the message back to this loop.
    """
    values = [str(secret) for secret in secrets if secret]
    if not values:
        return
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _register(values)
        return
    from asgiref.sync import sync_to_async

    future = asyncio.ensure_future(sync_to_async(_register)(values))
    _MASKING.add(future)
    future.add_done_callback(_MASKING.discard)


def _register(values: list[str]) -> None:
    for value in values:
        mask_secret(value)


def form_widgets(conn_fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """wtforms widgets built from the declarative ``conn-fields`` (for Airflow < 3.2, one source of truth).

    A field with an ``enum`` gets an ``any_of`` validator of its choices (after ``Optional`` where its type allows
    null): Airflow 3.0/3.1's API server turns that validator into the field's ``enum``, which the connection form
    shows as a dropdown of those choices, and wtforms refuses any other value. Not a ``SelectField``: Airflow
    3.0/3.1 accept only string, integer, password and boolean fields, and drop a hook that has another kind.
    """
    # imported here, when Airflow asks: its API server swaps these names for stand-ins that describe the form
    from wtforms import BooleanField, IntegerField, PasswordField, StringField
    from wtforms.validators import Optional, any_of

    widgets: dict[str, Any] = {}
    for name, spec in conn_fields.items():
        schema = spec["schema"]
        types = schema.get("type")
        types = types if isinstance(types, list) else [types]
        kind = types[0]
        if schema.get("format") == "password":
            field_class = PasswordField
        elif kind == "boolean":
            field_class = BooleanField
        elif kind == "integer":
            field_class = IntegerField
        else:
            field_class = StringField
        validators: list[Any] = []
        if "enum" in schema:
            if "null" in types:
                validators.append(Optional())  # may stay empty: the hook then chooses
            validators.append(any_of(list(schema["enum"])))
        widgets[name] = field_class(
            spec["label"], validators=validators, description=spec.get("description"), default=schema.get("default")
        )
    return widgets


def field_behaviour(ui: dict[str, Any]) -> dict[str, Any]:
    """The Python-method form of the declarative ``ui-field-behaviour`` (for Airflow < 3.2)."""
    return {
        "hidden_fields": list(ui.get("hidden-fields", [])),
        "relabeling": dict(ui.get("relabeling", {})),
        "placeholders": dict(ui.get("placeholders", {})),
    }


#: seconds the hooks of one event loop reuse a connection one of them looked up: triggers started together (a
#: triggerer starting, a mapped sensor's tasks deferring at once) look it up once, not once each (a lookup costs
#: the event loop about a millisecond of CPU, several seconds for 5,000 triggers); a connection changed since is
#: read by the hooks made after that
SHARED_LOOKUP_SECONDS = 10.0
_LOOKUPS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[type, str], tuple[float, asyncio.Task[Any]]]
] = weakref.WeakKeyDictionary()


async def _shared_lookup(hook_class: type[BaseHook], conn_id: str) -> Connection:
    """The connection ``conn_id`` (``get_async_connection``), from a lookup shared by the hooks of the running loop:
    one in progress, or one made in the last :data:`SHARED_LOOKUP_SECONDS`. A failed lookup is not kept."""
    from airflow.providers.common.compat.connection import get_async_connection

    loop = asyncio.get_running_loop()
    lookups = _LOOKUPS.setdefault(loop, {})
    key = (hook_class, conn_id)
    now = time.monotonic()
    entry = lookups.get(key)
    if entry is None or now - entry[0] > SHARED_LOOKUP_SECONDS:
        # a task of its own: a hook cancelled while waiting does not cancel the lookup the others wait for
        task = loop.create_task(get_async_connection(conn_id, hook_class))
        entry = lookups[key] = (now, task)

        def forget_failure(done: asyncio.Task[Any]) -> None:
            if (done.cancelled() or done.exception() is not None) and lookups.get(key, (0.0, None))[1] is done:
                del lookups[key]

        task.add_done_callback(forget_failure)
    conn: Connection = await asyncio.shield(entry[1])
    return conn


class JobLogsHook(BaseHook, Generic[S]):
    """Base for the HTTP service hooks.

    A subclass sets the class attributes and implements :meth:`client_from_connection`, which reads the connection
    into the service client and the service's :class:`ConnectionSettings`; it writes its API calls as
    :class:`~airflow_joblogs.http.ApiRequest` + decode, or as programs that receive the settings as an argument,
    and gets sync and async execution, retries and error mapping from
    :class:`~airflow_joblogs.http.ServiceClient`.
    """

    conn_name_attr = "conn_id"
    default_conn_name: ClassVar[str] = ""
    conn_type: ClassVar[str] = ""
    hook_name: ClassVar[str] = ""
    service: ClassVar[str] = ""

    def __init__(self, conn_id: str | None = None, *, retry_policy: RetryPolicy | None = None, **kwargs: Any) -> None:
        # the connection's own name for the id (``bk_job_conn_id`` ...), as Airflow's hook discovery passes it
        alias = kwargs.pop(self.conn_name_attr, None) if self.conn_name_attr != "conn_id" else None
        super().__init__(**kwargs)
        self.conn_id = conn_id or alias or self.default_conn_name
        if self.conn_name_attr != "conn_id":
            setattr(self, self.conn_name_attr, self.conn_id)
        self.retry_policy = retry_policy
        self._api: ServiceClient | None = None
        self._settings: S | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r})"

    # -- connection form (Airflow < 3.2 reads these; newer versions the provider info they are built from) --------
    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Airflow < 3.2 reads the form methods only from a hook class's own __dict__, never inherited ones
        if "conn_type" in cls.__dict__:
            for name in ("get_connection_form_widgets", "get_ui_field_behaviour"):
                if name not in cls.__dict__:
                    setattr(cls, name, classmethod(getattr(JobLogsHook, name).__func__))

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        from airflow_joblogs.get_provider_info import connection_type

        return form_widgets(connection_type(cls.conn_type)["conn-fields"])

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        from airflow_joblogs.get_provider_info import connection_type

        return field_behaviour(connection_type(cls.conn_type)["ui-field-behaviour"])

    # -- subclasses ---------------------------------------------------------------------------------------
    def client_from_connection(self, conn: Connection) -> tuple[ServiceClient, S]:
        """Build the service client (auth, base URL, TLS) and the settings from a connection; validate every
        field."""
        raise NotImplementedError

    # -- client lifecycle -------------------------------------------------------------------------------
    def _configure(self, connected: tuple[ServiceClient, S]) -> tuple[ServiceClient, S]:
        api, settings = connected
        if self.retry_policy is not None:
            api.retry = self.retry_policy
        self._api, self._settings = api, settings
        return api, settings

    @property
    def conn_id_parameter(self) -> str:
        """The name users give the connection id under in this service's operators (``bk_job_conn_id`` ...)."""
        return f"{self.conn_type}_conn_id"

    def _missing_connection(self) -> InvalidParameterError:
        return InvalidParameterError(
            self.conn_id_parameter,
            f"no connection with the id {self.conn_id!r} exists; create one of type {self.conn_type!r} "
            f"(Admin > Connections, `airflow connections add`, or AIRFLOW_CONN_{self.conn_id.upper()})",
        )

    def _checked(self, conn: Connection) -> Connection:
        """``conn`` if it is of this hook's type: another type's fields would be misread."""
        if conn.conn_type and conn.conn_type != self.conn_type:
            raise InvalidParameterError(
                self.conn_id_parameter,
                f"connection {self.conn_id!r} is of type {conn.conn_type!r}; {self.hook_name or type(self).__name__} "
                f"needs a connection of type {self.conn_type!r}",
            )
        return conn

    def connect(self) -> tuple[ServiceClient, S]:
        """The service client and the connection's settings, from a synchronous connection lookup (workers);
        read once per hook."""
        if self._api is None or self._settings is None:
            try:
                conn = self.get_connection(self.conn_id)
            except AirflowNotFoundException:
                raise self._missing_connection() from None
            return self._configure(self.client_from_connection(self._checked(conn)))
        return self._api, self._settings

    async def aconnect(self) -> tuple[ServiceClient, S]:
        """:meth:`connect` from an asynchronous connection lookup (triggers on the triggerer's event loop); hooks
        of one event loop share a lookup of their connection made in the last :data:`SHARED_LOOKUP_SECONDS`."""
        if self._api is None or self._settings is None:
            try:
                conn = await _shared_lookup(type(self), self.conn_id)
            except AirflowNotFoundException:
                raise self._missing_connection() from None
            return self._configure(self.client_from_connection(self._checked(conn)))
        return self._api, self._settings

    @property
    def api(self) -> ServiceClient:
        """The service client (:meth:`connect`)."""
        return self.connect()[0]

    @property
    def settings(self) -> S:
        """The connection's settings (:meth:`connect`)."""
        return self.connect()[1]

    async def aget_api(self) -> ServiceClient:
        """The service client (:meth:`aconnect`)."""
        return (await self.aconnect())[0]

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()

    def __enter__(self) -> JobLogsHook:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- helpers for subclasses -----------------------------------------------------------------------
    def _run(self, make: Callable[[S], Program[T]]) -> T:
        """Run the program ``make`` builds from the connection's settings, synchronously."""
        api, settings = self.connect()
        return api.run(make(settings))

    async def _arun(self, make: Callable[[S], Program[T]]) -> T:
        """The async twin of :meth:`_run`."""
        api, settings = await self.aconnect()
        return await api.arun(make(settings))

    def _stream(self, make: Callable[[S], Program[Any]]) -> Iterator[Any]:
        """The outputs of the program ``make`` builds from the connection's settings, driven synchronously."""
        api, settings = self.connect()
        return api.iterate(make(settings))

    async def _astream(self, make: Callable[[S], Program[Any]]) -> AsyncIterator[Any]:
        """The async twin of :meth:`_stream`."""
        api, settings = await self.aconnect()
        async for item in api.aiterate(make(settings)):
            yield item

    def _console_base(self) -> str | None:
        base = self.settings.console_url
        return str(base).rstrip("/") if base else None

    # -- the normalized layer the shared sensor/trigger/operator code calls --------------------------------
    def status_program(self, settings: S, job_ref: dict[str, Any]) -> Program[JobStatus]:
        """A program returning the job's :class:`JobStatus`."""
        raise NotImplementedError

    def tail_program(self, settings: S, job_ref: dict[str, Any], cursor: Any) -> Program[Any]:
        """A program yielding log chunks not seen yet (after ``cursor``) and returning the new cursor."""
        raise NotImplementedError

    def failure_program(
        self, settings: S, job_ref: dict[str, Any], status: JobStatus, tail_lines: int
    ) -> Program[list[FailedUnit]]:
        """A program returning the :class:`FailedUnit` list (what failed, why, last log lines)."""
        raise NotImplementedError

    def connection_check_program(self, settings: S) -> Program[str]:
        """A cheap authenticated call proving the connection works (used by :meth:`test_connection`)."""
        raise NotImplementedError

    def cancel_program(self, settings: S, job_ref: dict[str, Any]) -> Program[str]:
        """A program terminating the job; the service's answer as a sentence."""
        raise NotImplementedError

    def job_status_from_ref(self, job_ref: dict[str, Any]) -> JobStatus:
        return self._run(lambda settings: self.status_program(settings, job_ref))

    async def ajob_status_from_ref(self, job_ref: dict[str, Any]) -> JobStatus:
        return await self._arun(lambda settings: self.status_program(settings, job_ref))

    def tail_logs(self, job_ref: dict[str, Any], cursor: Any, logger: Any, budget: StreamBudget | None = None) -> Any:
        """Log the lines that appeared since ``cursor`` (within ``budget``); return the new cursor."""
        budget = budget or StreamBudget()
        if budget.exhausted:
            return cursor
        writer = budget.writer(logger)
        api, settings = self.connect()
        cursor = api.run(self.tail_program(settings, job_ref, cursor), writer.write)
        writer.finish()
        return cursor

    async def atail_logs(
        self, job_ref: dict[str, Any], cursor: Any, logger: Any, budget: StreamBudget | None = None
    ) -> Any:
        budget = budget or StreamBudget()
        if budget.exhausted:
            return cursor
        writer = budget.writer(logger)
        api, settings = await self.aconnect()
        cursor = await api.arun(self.tail_program(settings, job_ref, cursor), writer.write)
        writer.finish()
        return cursor

    def failed_units(self, job_ref: dict[str, Any], status: JobStatus, tail_lines: int = 20) -> list[FailedUnit]:
        return self._run(lambda settings: self.failure_program(settings, job_ref, status, tail_lines))

    def cancel_job(self, job_ref: dict[str, Any]) -> str:
        """Terminate the job; the service's answer, as a sentence for the task log.

        Over connections of its own: a cancel comes when a wait is being killed, and the alarm that killed it
        (``execution_timeout``) may have stopped a request anywhere in the client, leaving a kept-alive
        connection half used.
        """
        api, settings = self.connect()
        own = api.detached()
        try:
            return own.run(self.cancel_program(settings, job_ref))
        finally:
            own.close()

    async def acancel_job(self, job_ref: dict[str, Any]) -> str:
        return await self._arun(lambda settings: self.cancel_program(settings, job_ref))

    def test_connection(self) -> tuple[bool, str]:
        try:
            message = self._run(self.connection_check_program)
        except Exception as exc:  # the UI shows the message; never a traceback with secrets
            return False, f"{type(exc).__name__}: {exc}"
        return True, message
