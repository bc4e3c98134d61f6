"""The normalized vocabulary every service is translated into.

``JobStatus`` and ``LogChunk`` are what the shared sensor, trigger and archive code understand; a
service adapter's whole job is to turn its API's answers into these.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


class JobState(str, enum.Enum):
    """Where a remote job is in its life, independent of the service."""

    PENDING = "pending"
    RUNNING = "running"
    #: waiting for a person (BlueKing status 7); never ends by itself
    WAITING_USER = "waiting_user"
    SUCCESS = "success"
    FAILED = "failed"
    #: a value the service documents nowhere; treated as "still running" unless configured otherwise
    UNKNOWN = "unknown"

    @property
    def is_terminal(self) -> bool:
        return self in (JobState.SUCCESS, JobState.FAILED)


@dataclass(frozen=True)
class FailedUnit:
    """One part of a job that failed: a step, a host, a server, a build action."""

    name: str
    reason: str
    log_tail: str = ""

    def render(self) -> str:
        text = f"- {self.name}: {self.reason}"
        if self.log_tail:
            tail = "\n".join(f"    | {line}" for line in self.log_tail.rstrip("\n").split("\n"))
            text += f"\n  last log lines:\n{tail}"
        return text


@dataclass(frozen=True)
class JobStatus:
    """A remote job's status, normalized.

    ``raw_status`` is the service's own value (an int for BlueKing, a string elsewhere); sensors compare
    it with their ``success_states`` / ``failure_states``. ``state`` is the provider's reading of it with
    the service's documented defaults.
    """

    service: str
    job_id: str
    state: JobState
    raw_status: Any
    name: str = ""
    message: str = ""
    failures: tuple[FailedUnit, ...] = ()
    #: service-specific details small enough for a trigger event (step statuses, counts ...)
    detail: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state"] = self.state.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobStatus:
        data = dict(data)
        data["state"] = JobState(data["state"])
        data["failures"] = tuple(FailedUnit(**f) for f in data.get("failures", ()))
        return cls(**data)


_set_fields = object.__setattr__


@dataclass(frozen=True, eq=False)
class LogChunk:
    """A piece of a remote job's log, as produced by a hook's log iterator.

    ``text`` is the log content exactly as the service returned it. ``header`` (if any) is written on
    its own line before ``text`` in the ``text`` archive format. ``record`` is the JSON Lines record for
    the ``jsonl`` format (the service's fields, unchanged). ``cursor`` says where the next chunk starts,
    so an interrupted read can resume. Hooks may hand out :class:`LazyLogChunk` instances, which build
    some of these fields when they are first read; chunks compare equal when their fields are.
    """

    text: str
    header: str | None = None
    record: dict[str, Any] | None = None
    cursor: Any = None
    #: the service says this log was cut upstream (e.g. BlueKing's GSE caps a host's output)
    truncated_upstream: bool = False

    def __init__(
        self,
        text: str,
        header: str | None = None,
        record: dict[str, Any] | None = None,
        cursor: Any = None,
        truncated_upstream: bool = False,
    ) -> None:
        # One assignment of the field dict instead of a frozen setattr per field: a log of many small units
        # (hosts, items, records) makes a chunk for each.
        _set_fields(
            self,
            "__dict__",
            {
                "text": text,
                "header": header,
                "record": record,
                "cursor": cursor,
                "truncated_upstream": truncated_upstream,
            },
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogChunk):
            return NotImplemented
        return (self.text, self.header, self.record, self.cursor, self.truncated_upstream) == (
            other.text,
            other.header,
            other.record,
            other.cursor,
            other.truncated_upstream,
        )

    __hash__ = None  # type: ignore[assignment]  # records are dicts


class _Deferred:
    """A field of a :class:`LazyLogChunk`: built by the chunk's renderer when first read, then kept."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, chunk: LazyLogChunk | None, owner: type | None = None) -> Any:
        if chunk is None:
            return self
        build = getattr(chunk.renderer, self.name, None)
        value = None if build is None else build(chunk)
        chunk.__dict__[self.name] = value  # a plain attribute from now on
        return value


class LazyLogChunk(LogChunk):
    """A :class:`LogChunk` whose fields not given are built when first read, by ``renderer`` from ``source`` (the
    service's data for one host, item or record), and then kept.

    A consumer pays only for the fields it reads: the ``text`` archive reads headers and texts, the ``jsonl``
    archive records. ``renderer`` has a method for each field it builds (``text``, ``header``, ``record``,
    ``cursor``), called with the chunk; a field neither given nor built is None. ``source`` must not change once
    the chunk is made.
    """

    text = _Deferred()  # type: ignore[assignment]
    header = _Deferred()  # type: ignore[assignment]
    record = _Deferred()  # type: ignore[assignment]
    cursor = _Deferred()

    renderer: Any
    source: Any

    def __init__(
        self,
        renderer: Any = None,
        source: Any = None,
        text: str | None = None,
        truncated_upstream: bool = False,
        **given: Any,
    ) -> None:
        # given: header, record or cursor when already known (dataclasses.replace passes every field)
        if text is not None:
            given["text"] = text
        if truncated_upstream:  # else the class's default, False
            given["truncated_upstream"] = truncated_upstream
        given["renderer"], given["source"] = renderer, source
        _set_fields(self, "__dict__", given)


SUCCESS = "success"
FAILURE = "failure"
WAITING = "waiting"


def decide(
    status: JobStatus, success_states: set[Any], failure_states: set[Any], unknown_is_failure: bool = False
) -> str:
    """The sensor's verdict: ``success``, ``failure`` or ``waiting``.

    The configured state sets are checked first (they hold the service's raw values); a status in
    neither set keeps the sensor waiting, except an undocumented value when ``unknown_is_failure``.
    """
    if status.raw_status in success_states:
        return SUCCESS
    if status.raw_status in failure_states:
        return FAILURE
    if status.state is JobState.UNKNOWN and unknown_is_failure:
        return FAILURE
    return WAITING
