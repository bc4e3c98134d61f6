"""What ``stream_logs`` writes into a task log: new remote log lines, within a budget of bytes."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_joblogs.models import LogChunk

if TYPE_CHECKING:
    from airflow_joblogs.log_rules import LogMatcher
    from airflow_joblogs.redaction import Redactor


class StreamBudget:
    """What ``stream_logs`` may still write into one task's log: bytes per check and over the whole task.

    ``used`` travels with the task (the sensor hands it to its trigger), so the task's cap holds across the
    worker and the triggerer. ``None`` for a cap means no cap. ``redactor`` (optional) removes secrets from
    every new chunk first; ``matcher`` (optional) then sees it, also a chunk over a cap (log rules check the
    whole log, not only what is shown).
    """

    __slots__ = ("announced", "matcher", "per_check", "per_task", "redactor", "used")

    def __init__(
        self,
        per_check: int | None = None,
        per_task: int | None = None,
        used: int = 0,
        matcher: LogMatcher | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self.per_check = per_check
        self.per_task = per_task
        self.used = used
        self.announced = False  # the task's cap was reported in this process
        self.matcher = matcher
        self.redactor = redactor

    @property
    def exhausted(self) -> bool:
        return self.per_task is not None and self.used >= self.per_task

    def writer(self, logger: Any) -> _BudgetedLogWriter:
        return _BudgetedLogWriter(self, logger)


class _BudgetedLogWriter:
    """Writes one check's chunks to a log within a :class:`StreamBudget`; counts and reports what it skipped."""

    def __init__(self, budget: StreamBudget, logger: Any) -> None:
        self.budget = budget
        self.logger = logger
        self.written = 0
        self.skipped_lines = 0
        self.skipped_bytes = 0
        self._limit_hit = ""

    def _room(self) -> float:
        budget = self.budget
        room = float("inf")
        if budget.per_check is not None:
            room = budget.per_check - self.written
        if budget.per_task is not None:
            room = min(room, budget.per_task - budget.used)
        return room

    def write(self, chunk: LogChunk) -> None:
        if self.budget.redactor is not None:
            chunk = self.budget.redactor.chunk(chunk)
        if self.budget.matcher is not None:
            self.budget.matcher.feed(chunk)
        if self.skipped_lines:  # over a cap already: only count
            lines = chunk.text.splitlines()
            self.skipped_lines += len(lines)
            self.skipped_bytes += sum(len(line.encode()) + 1 for line in lines)
            return
        prefix = f"[{chunk.header}] " if chunk.header else ""
        prefix_size = len(prefix.encode())
        lines = chunk.text.splitlines()
        for index, line in enumerate(lines):
            size = prefix_size + len(line.encode()) + 1  # as written to the task log
            if size > self._room():
                if self.budget.per_task is not None and size > self.budget.per_task - self.budget.used:
                    self.budget.used = self.budget.per_task  # the task's cap is reached: stream nothing more
                rest = lines[index:]
                self.skipped_lines += len(rest)
                self.skipped_bytes += sum(len(r.encode()) + 1 for r in rest)
                return
            self.logger.info("%s%s", prefix, line)
            self.written += size
            self.budget.used += size

    def finish(self) -> None:
        """Log a marker if lines were skipped: how many, which cap, and where the whole log is."""
        if self.budget.exhausted and not self.skipped_lines and not self.budget.announced:
            self.budget.announced = True  # filled to the byte: say so once, later checks stream nothing
            self.logger.warning(
                "[stream_logs] stream_logs_max_bytes=%d reached for this task; no more lines are streamed. "
                "The whole log: the job in the service's console, or archive it with the service's log operator.",
                self.budget.per_task,
            )
            return
        if not self.skipped_lines:
            return
        if self.budget.exhausted:
            self.budget.announced = True
            cap = f"stream_logs_max_bytes={self.budget.per_task} for this task; no more lines are streamed"
        else:
            cap = f"stream_logs_max_bytes_per_check={self.budget.per_check}"
        self.logger.warning(
            "[stream_logs] %d lines (%d bytes) of new log not shown: over %s. The whole log: the job in the "
            "service's console, or archive it with the service's log operator.",
            self.skipped_lines,
            self.skipped_bytes,
            cap,
        )


class _Discard:
    """A logger that writes nothing (reading a log only to match it)."""

    def info(self, *args: Any, **kwargs: Any) -> None:
        pass

    warning = info


def _silent(budget: StreamBudget) -> StreamBudget:
    # no room for any line: every line is skipped (and matched), nothing is written
    return StreamBudget(per_check=0, per_task=None, matcher=budget.matcher, redactor=budget.redactor)


def follow_logs(hook: Any, job_ref: dict[str, Any], cursor: Any, logger: Any, budget: StreamBudget, show: bool) -> Any:
    """Read the log lines that appeared since ``cursor`` (the hook's tail): written to ``logger`` within ``budget``
    when ``show``, and matched by ``budget.matcher`` (if any) in any case, also past the budget. The new cursor."""
    if show and not budget.exhausted:
        return hook.tail_logs(job_ref, cursor, logger, budget)
    if budget.matcher is None:
        return cursor
    return hook.tail_logs(job_ref, cursor, _Discard(), _silent(budget))


async def afollow_logs(
    hook: Any, job_ref: dict[str, Any], cursor: Any, logger: Any, budget: StreamBudget, show: bool
) -> Any:
    """:func:`follow_logs` for the triggerer."""
    if show and not budget.exhausted:
        return await hook.atail_logs(job_ref, cursor, logger, budget)
    if budget.matcher is None:
        return cursor
    return await hook.atail_logs(job_ref, cursor, _Discard(), _silent(budget))
