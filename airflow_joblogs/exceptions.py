"""The provider's exception hierarchy.

Every failure a user can meet is one of these. Remote failures carry the service, the service's own
code and message, the HTTP status and the request id, so an on-call engineer can quote them to the
service's support without reading a traceback.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import AirflowFailException


class JobLogsError(Exception):
    """Base class: a remote call failed for good (after any retries)."""

    #: whether the retry loop may try the same call again
    retryable: bool = False
    #: the request never reached the service (no connection was made): sending it again cannot act twice
    unsent: bool = False

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        code: str | int | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        details: Any = None,
    ) -> None:
        self.message = message
        self.service = service
        self.code = code
        self.status_code = status_code
        self.request_id = request_id
        self.retry_after = retry_after
        self.details = details
        super().__init__(str(self))

    def __str__(self) -> str:
        parts = [f"[{self.service}]" if self.service else "", self.message]
        extra = []
        if self.code not in (None, ""):
            extra.append(f"code={self.code}")
        if self.status_code is not None:
            extra.append(f"http={self.status_code}")
        if self.request_id:
            extra.append(f"request_id={self.request_id}")
        if extra:
            parts.append(f"({', '.join(extra)})")
        return " ".join(p for p in parts if p)

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep keyword-only fields across pickling (Airflow may pickle task failures).
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[JobLogsError], message: str, state: dict[str, Any]) -> JobLogsError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, str(error))
    return error


class TransientError(JobLogsError):
    """A fault worth retrying: connection drop, timeout, 429, 5xx, a service's 'busy' code, empty body."""

    retryable = True


class AuthenticationError(JobLogsError):
    """The credentials were rejected (wrong secret, bad signature, expired token)."""


class PermissionDeniedError(JobLogsError):
    """The credentials are valid but may not do this (apply for the permission named in the message)."""


class NotFoundError(JobLogsError):
    """The job, step, build or resource does not exist."""


class RemoteValidationError(JobLogsError):
    """The service rejected a parameter."""


class JobNotFinishedError(JobLogsError):
    """The job has not finished, so its log is not complete (a log operator with ``if_unfinished="fail"``)."""


class InvalidParameterError(ValueError):
    """A parameter given to the provider is wrong; raised before any network call."""

    def __init__(self, parameter: str, problem: str, allowed: str | None = None) -> None:
        self.parameter = parameter
        self.problem = problem
        self.allowed = allowed
        text = f"Invalid parameter {parameter!r}: {problem}"
        if allowed:
            text += f" (allowed: {allowed})"
        super().__init__(text)


class JobFailedError(AirflowFailException):
    """The remote job ended in a failure state. The message names what failed and shows its log tail."""


class ArchiveExistsError(FileExistsError):
    """The archive's final path already holds different content and ``overwrite`` is off."""
