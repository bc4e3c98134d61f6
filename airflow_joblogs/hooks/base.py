"""What every service hook shares: connection reading, the HTTP client, form fields, test_connection."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook, mask_secret

from airflow_joblogs.exceptions import InvalidParameterError
from airflow_joblogs.http import Program, RetryPolicy, ServiceClient
from airflow_joblogs.models import FailedUnit, JobStatus
from airflow_joblogs.streaming import StreamBudget

if TYPE_CHECKING:
    from airflow.sdk import Connection

T = TypeVar("T")


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


def mask(*secrets: Any) -> None:
    """Register secrets with Airflow's masker so they are redacted from every task and trigger log."""
    for secret in secrets:
        if secret:
            mask_secret(str(secret))


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


class JobLogsHook(BaseHook):
    """Base for the HTTP service hooks.

    A subclass sets the class attributes and implements :meth:`client_from_connection`; it writes its API
    calls as :class:`~airflow_joblogs.http.ApiRequest` + decode, or as programs, and gets sync and async
    execution, retries and error mapping from :class:`~airflow_joblogs.http.ServiceClient`.
    """

    conn_name_attr = "conn_id"
    default_conn_name: ClassVar[str] = ""
    conn_type: ClassVar[str] = ""
    hook_name: ClassVar[str] = ""
    service: ClassVar[str] = ""

    def __init__(self, conn_id: str | None = None, *, retry_policy: RetryPolicy | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.default_conn_name
        self.retry_policy = retry_policy
        self._api: ServiceClient | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(conn_id={self.conn_id!r})"

    # -- subclasses ---------------------------------------------------------------------------------------
    def client_from_connection(self, conn: Connection) -> ServiceClient:
        """Build the service client (auth, base URL, TLS) from a connection; validate every field."""
        raise NotImplementedError

    # -- client lifecycle -------------------------------------------------------------------------------
    def _configure(self, api: ServiceClient) -> ServiceClient:
        if self.retry_policy is not None:
            api.retry = self.retry_policy
        return api

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

    @property
    def api(self) -> ServiceClient:
        """The service client, from a synchronous connection lookup (workers)."""
        if self._api is None:
            try:
                conn = self.get_connection(self.conn_id)
            except AirflowNotFoundException:
                raise self._missing_connection() from None
            self._api = self._configure(self.client_from_connection(self._checked(conn)))
        return self._api

    async def aget_api(self) -> ServiceClient:
        """The service client, from an asynchronous connection lookup (triggers on the triggerer's event loop)."""
        if self._api is None:
            from airflow.providers.common.compat.connection import get_async_connection

            try:
                conn = await get_async_connection(self.conn_id, type(self))
            except AirflowNotFoundException:
                raise self._missing_connection() from None
            self._api = self._configure(self.client_from_connection(self._checked(conn)))
        return self._api

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
    async def _arun(self, program: Program[T]) -> T:
        return await (await self.aget_api()).arun(program)

    # -- the normalized layer the shared sensor/trigger/operator code calls --------------------------------
    def status_program(self, job_ref: dict[str, Any]) -> Program:
        """A program returning the job's :class:`JobStatus`."""
        raise NotImplementedError

    def tail_program(self, job_ref: dict[str, Any], cursor: Any) -> Program:
        """A program yielding log chunks not seen yet (after ``cursor``) and returning the new cursor."""
        raise NotImplementedError

    def failure_program(self, job_ref: dict[str, Any], status: JobStatus, tail_lines: int) -> Program:
        """A program returning the :class:`FailedUnit` list (what failed, why, last log lines)."""
        raise NotImplementedError

    def job_status_from_ref(self, job_ref: dict[str, Any]) -> JobStatus:
        return self.api.run(self.status_program(job_ref))

    async def ajob_status_from_ref(self, job_ref: dict[str, Any]) -> JobStatus:
        return await self._arun(self.status_program(job_ref))

    def tail_logs(self, job_ref: dict[str, Any], cursor: Any, logger: Any, budget: StreamBudget | None = None) -> Any:
        """Log the lines that appeared since ``cursor`` (within ``budget``); return the new cursor."""
        budget = budget or StreamBudget()
        if budget.exhausted:
            return cursor
        writer = budget.writer(logger)
        cursor = self.api.run(self.tail_program(job_ref, cursor), writer.write)
        writer.finish()
        return cursor

    async def atail_logs(
        self, job_ref: dict[str, Any], cursor: Any, logger: Any, budget: StreamBudget | None = None
    ) -> Any:
        budget = budget or StreamBudget()
        if budget.exhausted:
            return cursor
        writer = budget.writer(logger)
        api = await self.aget_api()
        cursor = await api.arun(self.tail_program(job_ref, cursor), writer.write)
        writer.finish()
        return cursor

    def failed_units(self, job_ref: dict[str, Any], status: JobStatus, tail_lines: int = 20) -> list[FailedUnit]:
        return self.api.run(self.failure_program(job_ref, status, tail_lines))

    def connection_check_program(self) -> Program:
        """A cheap authenticated call proving the connection works (used by :meth:`test_connection`)."""
        raise NotImplementedError

    def test_connection(self) -> tuple[bool, str]:
        try:
            message = self.api.run(self.connection_check_program())
        except Exception as exc:  # the UI shows the message; never a traceback with secrets
            return False, f"{type(exc).__name__}: {exc}"
        return True, message
