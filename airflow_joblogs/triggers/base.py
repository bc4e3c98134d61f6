"""The one trigger loop every service shares: poll status, tail logs, stop at a verdict or the deadline."""

from __future__ import annotations

import asyncio
import gc
import random
import sys
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_joblogs.exceptions import JobLogsError
from airflow_joblogs.log_rules import LogMatcher
from airflow_joblogs.models import SUCCESS, WAITING, JobStatus, decide
from airflow_joblogs.redaction import Redactor
from airflow_joblogs.streaming import StreamBudget, afollow_logs

_startup_heap_frozen = False


def freeze_startup_heap() -> bool:
    """Move the objects that exist now out of the garbage collector's way, once per process (``gc.freeze()``),
    when ``[joblogs] gc_freeze`` is true (off by default) and the process has not turned the collector off. True if
    it froze.

    Called when the first of this provider's triggers starts in a process (the triggerer's): by then the
    process holds Airflow's and every provider's imported modules, a few hundred thousand objects that live as
    long as it does. Each full collection walks them all and stops the event loop every trigger shares, for
    100-300 ms; frozen, they are left out of every collection, as Airflow's DAG processor does after start-up.
    Frozen objects are still freed when nothing refers to them; only reference cycles among them are never
    collected, and a collection just before freezing leaves none that are garbage already.
    """
    global _startup_heap_frozen
    if _startup_heap_frozen:
        return False
    _startup_heap_frozen = True
    from airflow.configuration import conf

    if not gc.isenabled() or not conf.getboolean("joblogs", "gc_freeze", fallback=False):
        return False
    gc.collect()
    gc.freeze()
    return True


class JobTrigger(BaseTrigger):
    """Polls a remote job until it reaches a success or failure state (or ``end_time``) and fires once.

    The first check comes a random part of ``poll_interval`` after the start (the sensor checked just before
    deferring), then one every ``poll_interval``, so triggers started together do not poll in step.
    All kwargs are JSON values. Events: ``{"status": "success"|"failure"|"timeout"|"error", "message",
    "job_status": {...}, "cursor": ...}``; errors are reported as events, never raised.

    With ``cancel_on_kill`` (a run operator's job), :meth:`on_kill` terminates the job when a user marks the
    deferred task failed or successful, or clears it (Airflow 3.3 and later call it then; earlier releases never
    do). Never from :meth:`cleanup`, which also runs when a triggerer restarts or hands the trigger over.
    ``log_rules`` (a :meth:`~airflow_joblogs.log_rules.LogMatcher.to_dict` state, bounded) carries the sensor's
    ``fail_on_log_patterns`` and what they matched so far: streamed lines are matched as they arrive, at
    success the rest of the log is read and matched, and the event carries the state back as ``log_rules``.
    ``redact_patterns``: regular expressions replaced by ``***`` in streamed (and matched) lines.

    A check that finds the job still waiting logs its status when it differs from the last one logged, and
    otherwise every :attr:`log_every_checks` checks (10): the log keeps every change, not a line per check.
    """

    #: dotted path of the hook class (imported lazily, so this module stays cheap for the triggerer)
    hook_class_path: ClassVar[str] = ""
    #: a check that finds the job still waiting logs a line when its status changed since the last line, and
    #: otherwise once every this many checks (a triggerer writes every line of every trigger to its log)
    log_every_checks: ClassVar[int] = 10

    def __init__(
        self,
        *,
        conn_id: str,
        job_ref: dict[str, Any],
        success_states: list[Any],
        failure_states: list[Any],
        poll_interval: float = 30.0,
        end_time: float | None = None,
        stream_logs: bool = False,
        cursor: Any = None,
        unknown_is_failure: bool = False,
        stream_logs_max_bytes_per_check: int | None = None,
        stream_logs_max_bytes: int | None = None,
        streamed_bytes: int = 0,
        cancel_on_kill: bool = False,
        log_rules: dict[str, Any] | None = None,
        redact_patterns: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.cancel_on_kill = bool(cancel_on_kill)
        self.conn_id = conn_id
        self.job_ref = job_ref
        self.success_states = list(success_states)
        self.failure_states = list(failure_states)
        self.poll_interval = float(poll_interval)
        self.end_time = end_time
        self.stream_logs = stream_logs
        self.cursor = cursor
        self.unknown_is_failure = unknown_is_failure
        matcher = LogMatcher.from_dict(log_rules) if log_rules else None
        self.redact_patterns = list(redact_patterns) if redact_patterns else None
        redactor = Redactor(self.redact_patterns, masker=False) if self.redact_patterns else None
        self.budget = StreamBudget(
            stream_logs_max_bytes_per_check, stream_logs_max_bytes, streamed_bytes, matcher, redactor
        )
        self._logged_status: Any = None  # the (raw status, state) of the last "still waiting" line
        self._quiet_checks = 0  # checks since that line
        self._resumed = False

    def serialize(self) -> tuple[str, dict[str, Any]]:
        kwargs: dict[str, Any] = {"cancel_on_kill": True} if self.cancel_on_kill else {}
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                **kwargs,
                "conn_id": self.conn_id,
                "job_ref": self.job_ref,
                "success_states": self.success_states,
                "failure_states": self.failure_states,
                "poll_interval": self.poll_interval,
                "end_time": self.end_time,
                "stream_logs": self.stream_logs,
                "cursor": self.cursor,
                "unknown_is_failure": self.unknown_is_failure,
                "stream_logs_max_bytes_per_check": self.budget.per_check,
                "stream_logs_max_bytes": self.budget.per_task,
                "streamed_bytes": self.budget.used,
                "log_rules": self.budget.matcher.to_dict() if self.budget.matcher is not None else None,
                "redact_patterns": self.redact_patterns,
            },
        )

    async def on_kill(self) -> None:
        """A user acted on the deferred task (Airflow >= 3.3): terminate the job a run operator started."""
        if not self.cancel_on_kill:
            return
        hook = await self.amake_hook()
        try:
            answer = await hook.acancel_job(self.job_ref)
            self.log.info("terminated %s: %s", self.job_ref, answer)
        finally:
            await hook.aclose()

    def make_hook(self) -> Any:
        from airflow_joblogs._imports import import_string

        return import_string(self.hook_class_path)(conn_id=self.conn_id)

    async def amake_hook(self) -> Any:
        """:meth:`make_hook`, with a first import of the hook's module done in a worker thread: importing
        the AWS stack takes about a second, which would stall every trigger on the triggerer's event loop."""
        module = self.hook_class_path.rpartition(".")[0]
        if module not in sys.modules:
            from airflow_joblogs._imports import import_string

            await asyncio.to_thread(import_string, self.hook_class_path)
        return self.make_hook()

    def _event(self, status: str, message: str, job_status: JobStatus | None = None) -> TriggerEvent:
        payload = {
            "status": status,
            "message": message,
            "job_status": job_status.to_dict() if job_status else None,
            "cursor": self.cursor,
        }
        if self.budget.matcher is not None:
            payload["log_rules"] = self.budget.matcher.to_dict()
        return TriggerEvent(payload)

    async def _check(self, hook: Any, success: set[Any], failure: set[Any]) -> TriggerEvent | None:
        """One check: the event to fire (a verdict, or the deadline passed), or None to wait for the next.

        A separate call so that nothing a check decoded (a job's whole status answer) stays referenced while
        the trigger sleeps: objects that outlive a few garbage collections are moved to the oldest generation,
        and a thousand triggers' worth of them would make the collector's full passes, which stop the
        triggerer's event loop, come sooner.
        """
        status: JobStatus = await hook.ajob_status_from_ref(self.job_ref)
        if self.stream_logs and not self._resumed:
            # Airflow keeps no trigger state but its kwargs: a trigger moved to another triggerer (the first
            # one died) streams again from the cursor saved when the task deferred.
            self._resumed = True
            self.log.info(
                "%s job %s: first check of this trigger run; streaming resumes from the log position saved "
                "when the task deferred (after a move to another triggerer, lines since then are logged again)",
                status.service,
                status.job_id,
            )
        verdict = decide(status, success, failure, self.unknown_is_failure)
        if self.stream_logs or (self.budget.matcher is not None and verdict == SUCCESS):
            self.cursor = await afollow_logs(hook, self.job_ref, self.cursor, self.log, self.budget, self.stream_logs)
        if verdict != WAITING:
            return self._event(verdict, f"{status.service} job {status.job_id} is {status.raw_status!r}", status)
        if self.end_time is not None and self.end_time <= time.time():
            return self._event(
                "timeout", f"{status.service} job {status.job_id} still {status.raw_status!r} at the deadline", status
            )
        seen = (status.raw_status, status.state)
        if seen != self._logged_status or self._quiet_checks + 1 >= self.log_every_checks:
            self._logged_status, self._quiet_checks = seen, 0
            self.log.info(
                "%s job %s is %r (%s); next check in %gs",
                status.service,
                status.job_id,
                status.raw_status,
                status.state.value,
                self.poll_interval,
            )
        else:
            self._quiet_checks += 1
        return None

    async def run(self) -> AsyncIterator[TriggerEvent]:
        hook = await self.amake_hook()
        freeze_startup_heap()  # after the hook's module is imported: its imports are start-up heap too
        success, failure = set(self.success_states), set(self.failure_states)
        try:
            # The sensor checked just before deferring, so the first check waits a random part of the interval:
            # triggers started together (a triggerer restart) spread their requests instead of sending them at once.
            first = random.uniform(0, self.poll_interval)
            if self.end_time is not None:
                first = max(0.0, min(first, self.end_time - time.time()))
            await asyncio.sleep(first)
            while True:
                event = await self._check(hook, success, failure)
                if event is not None:
                    yield event
                    return
                delay = self.poll_interval
                if self.end_time is not None:
                    delay = max(0.0, min(delay, self.end_time - time.time()))
                await asyncio.sleep(delay)
        except (JobLogsError, ValueError) as exc:
            yield self._event("error", f"{type(exc).__name__}: {exc}")
        finally:
            await hook.aclose()
