"""Waiting on a remote job, written once for the sensors and the run operators.

:class:`JobWaitMixin` holds what both need: the verdict on a status (success and failure sets), the failure
report (fetched on the worker after the trigger's verdict, never in the triggerer), the timeout message, the
trigger a waiting task defers to, and the reading of that trigger's event. The sensor drives it from
Airflow's poke loop; the run operator from its own loop after starting the job.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.providers.common.compat.sdk import AirflowSkipException, conf

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.contract import JobService
from airflow_joblogs.exceptions import InvalidParameterError, JobFailedError, JobLogsError
from airflow_joblogs.log_rules import LogMatcher, check_patterns
from airflow_joblogs.models import FAILURE, SUCCESS, JobStatus, decide
from airflow_joblogs.redaction import Redactor
from airflow_joblogs.streaming import StreamBudget, follow_logs
from airflow_joblogs.validation import as_int, optional_bool, readable_order, require_bool

if TYPE_CHECKING:
    from airflow_joblogs.triggers.base import JobTrigger

#: default caps on what ``stream_logs`` writes into a task log (per check, and over the whole task)
DEFAULT_STREAM_MAX_BYTES_PER_CHECK = 512 * 1024
DEFAULT_STREAM_MAX_BYTES = 4 * 1024 * 1024
#: what a sensor keeps of the lines ``fail_on_log_patterns`` matched: units per pattern, lines per unit
LOG_RULE_UNITS = 5
LOG_RULE_LINES_PER_UNIT = 3


def state_set(
    value: Iterable[Any] | None, default: frozenset[Any], parameter: str, allowed: frozenset[Any]
) -> set[Any]:
    if value is None:
        return set(default)
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise InvalidParameterError(parameter, f"{value!r} must be a list of status values")
    states = set(value)
    unknown = states - allowed
    if unknown:
        problem = f"{readable_order(unknown)} are not statuses of this service"
        numeric = all(isinstance(s, int) and not isinstance(s, bool) for s in allowed)
        if numeric and any(isinstance(s, str) and s.strip().isdigit() for s in unknown):
            problem += " (this service's statuses are integers: write 3, not '3')"
        raise InvalidParameterError(parameter, problem, ", ".join(map(str, readable_order(allowed))))
    return states


def optional_cap(value: Any, parameter: str) -> int | None:
    return None if value is None else as_int(value, parameter, minimum=1)


class JobWaitMixin:
    """The waiting half of a sensor or run operator (mixed into an Airflow operator class).

    A class sets the service's class attributes and calls :meth:`init_waiting` from its ``__init__``.
    """

    #: the service's hook, imported when first used (MGN's needs botocore: not while a DAG file is parsed)
    hook_class: ClassVar[LazyClass[JobService]]
    #: the trigger, imported when a task defers (the trigger machinery is not needed to parse a DAG file)
    trigger_class: ClassVar[LazyClass[JobTrigger]]
    service_name: ClassVar[str] = ""
    #: every documented raw status of the service (to reject typos in the state sets)
    known_states: ClassVar[frozenset[Any]] = frozenset()
    #: what each raw status means, for messages (services with numeric statuses)
    status_meanings: ClassVar[dict[Any, str]] = {}
    default_success_states: ClassVar[frozenset[Any]] = frozenset()
    default_failure_states: ClassVar[frozenset[Any]] = frozenset()
    unknown_is_failure: ClassVar[bool] = False

    if TYPE_CHECKING:
        log: Any
        soft_fail: bool
        never_fail: bool

    def init_waiting(
        self,
        *,
        conn_id: str | None,
        success_states: Iterable[Any] | None,
        failure_states: Iterable[Any] | None,
        deferrable: bool | None,
        stream_logs: bool,
        stream_logs_max_bytes_per_check: int | None,
        stream_logs_max_bytes: int | None,
        log_tail_lines: int,
        fail_on_log_patterns: Iterable[str] | None = None,
        redact_patterns: Iterable[str] | None = None,
    ) -> None:
        """Validate and keep the waiting options (``deferrable`` None: ``[operators] default_deferrable``)."""
        self.conn_id = conn_id or self.hook_class.default_conn_name
        self.success_states = state_set(
            success_states, self.default_success_states, "success_states", self.known_states
        )
        self.failure_states = state_set(
            failure_states, self.default_failure_states, "failure_states", self.known_states
        )
        both = self.success_states & self.failure_states
        if both:
            raise InvalidParameterError("failure_states", f"{readable_order(both)} are also in success_states")
        deferrable = optional_bool(deferrable, "deferrable")
        if deferrable is None:
            deferrable = conf.getboolean("operators", "default_deferrable", fallback=False)
        self.deferrable = deferrable
        self.stream_logs = require_bool(stream_logs, "stream_logs")
        self.stream_logs_max_bytes_per_check = optional_cap(
            stream_logs_max_bytes_per_check, "stream_logs_max_bytes_per_check"
        )
        self.stream_logs_max_bytes = optional_cap(stream_logs_max_bytes, "stream_logs_max_bytes")
        self.log_tail_lines = as_int(log_tail_lines, "log_tail_lines", minimum=0)
        self.fail_on_log_patterns = check_patterns(fail_on_log_patterns, "fail_on_log_patterns")
        self.redact_patterns = check_patterns(redact_patterns, "redact_patterns", may_match_empty=False)
        self._cursor: Any = None
        self._budget: StreamBudget | None = None
        self._last_status: JobStatus | None = None
        self._hook: JobService | None = None

    # -- subclasses -------------------------------------------------------------------------------------
    def job_ref(self) -> dict[str, Any]:
        """The validated job identifiers (JSON values) that the hook's normalized layer takes."""
        raise NotImplementedError

    def timeout_hint(self, status: JobStatus) -> str:
        """A sentence added to the timeout error for this status (e.g. what a person must do), or ""."""
        return ""

    # -- shared -----------------------------------------------------------------------------------------
    @property
    def hook(self) -> JobService:
        if self._hook is None:
            self._hook = self.hook_class(conn_id=self.conn_id)
        return self._hook

    @property
    def stream_budget(self) -> StreamBudget:
        """What ``stream_logs`` may still write into this task's log (kept across checks of one try), with the
        matcher of ``fail_on_log_patterns`` and the redactor of ``redact_patterns``."""
        if self._budget is None:
            matcher = None
            if self.fail_on_log_patterns:
                matcher = LogMatcher(
                    self.fail_on_log_patterns, max_units=LOG_RULE_UNITS, max_lines_per_unit=LOG_RULE_LINES_PER_UNIT
                )
            self._budget = StreamBudget(
                self.stream_logs_max_bytes_per_check,
                self.stream_logs_max_bytes,
                matcher=matcher,
                redactor=Redactor(self.redact_patterns, masker=False) if self.redact_patterns else None,
            )
        return self._budget

    def describe(self, status: JobStatus) -> str:
        """``7 (waiting for user)``: the raw status and what it means (the service's own meaning where the
        sensor knows it, else the provider's reading of it)."""
        meaning = self.status_meanings.get(status.raw_status)
        if meaning is None and not isinstance(status.raw_status, str):  # a name says what it means; a number not
            meaning = status.state.value.replace("_", " ")
        return f"{status.raw_status!r} ({meaning})" if meaning else repr(status.raw_status)

    def status_summary(self, status: JobStatus | None) -> dict[str, Any] | None:
        """The final status as a task returns it: ``{"raw", "state", "meaning"}`` (None without a status)."""
        if status is None:
            return None
        return {
            "raw": status.raw_status,
            "state": status.state.value,
            "meaning": self.status_meanings.get(status.raw_status, status.state.value.replace("_", " ")),
        }

    def check_once(self, ref: dict[str, Any]) -> bool:
        """One check: the status now (and new log lines with ``stream_logs``); True on success, False while the
        job runs; the failure report (or a skip, see :meth:`raise_failure`) when it failed."""
        status = self.hook.job_status_from_ref(ref)
        budget = self.stream_budget
        if self.stream_logs or (
            budget.matcher is not None
            and decide(status, self.success_states, self.failure_states, self.unknown_is_failure) == SUCCESS
        ):
            # at success with log rules, the rest of the log is read (and matched) before the verdict
            self._cursor = follow_logs(self.hook, ref, self._cursor, self.log, budget, self.stream_logs)
        return self.judge(status)

    def judge(self, status: JobStatus) -> bool:
        self._last_status = status
        verdict = decide(status, self.success_states, self.failure_states, self.unknown_is_failure)
        if verdict == SUCCESS:
            self.check_log_rules(status, self.stream_budget.matcher)
            self.log.info("%s job %s finished with %r: success", status.service, status.job_id, status.raw_status)
            return True
        if verdict == FAILURE:
            self.raise_failure(status)
        self.log.info("%s job %s is %s", status.service, status.job_id, self.describe(status))
        return False

    def check_log_rules(self, status: JobStatus, matcher: LogMatcher | None) -> None:
        """Fail a job that succeeded if its log matched ``fail_on_log_patterns`` (as a failed job fails)."""
        if matcher is None or not matcher.matched:
            return
        title = f"{status.service} job {status.job_id}"
        if status.name:
            title += f" ({status.name})"
        self.raise_failure(
            status,
            JobFailedError(
                f"{title} ended in status {status.raw_status!r}, a success state, but its log matches "
                f"fail_on_log_patterns:\n{matcher.describe()}"
            ),
        )

    def raise_failure(self, status: JobStatus, error: JobFailedError | None = None) -> NoReturn:
        """Fail the task with the failure report, or, with ``soft_fail``/``never_fail``, log it and skip."""
        error = error or self.failure_error(status)
        soft_fail, never_fail = getattr(self, "soft_fail", False), getattr(self, "never_fail", False)
        if soft_fail or never_fail:
            option = "soft_fail" if soft_fail else "never_fail"
            self.log.error("%s", error)
            raise AirflowSkipException(f"Skipping because {option} is set: {str(error).splitlines()[0]}")
        raise error

    def failure_error(self, status: JobStatus) -> JobFailedError:
        try:
            units = self.hook.failed_units(self.job_ref(), status, self.log_tail_lines)
        except JobLogsError as exc:  # the verdict stands even if the details cannot be fetched
            units = []
            self.log.warning("could not fetch the failure details: %s", exc)
        title = f"{status.service} job {status.job_id}"
        if status.name:
            title += f" ({status.name})"
        verb = "ended in" if status.state.is_terminal else "is in"
        lines = [
            f"{title} {verb} status {self.describe(status)}, a failure state {readable_order(self.failure_states)}."
        ]
        if status.message:
            lines.append(status.message)
        lines.extend(unit.render() for unit in units)
        return JobFailedError("\n".join(lines))

    def timeout_message(self, status: JobStatus | None, waited: str, what: str = "sensor") -> str:
        if status is None:
            return f"{self.service_name} {what} timed out after {waited}"
        text = f"{status.service} job {status.job_id} is still {self.describe(status)} after {waited}"
        hint = self.timeout_hint(status)
        return f"{text}. {hint}" if hint else text

    def deadline(self, timeout: float, execution_timeout: Any) -> float:
        """The wall-clock time waiting ends: ``timeout`` seconds from now, or the task's ``execution_timeout``
        (the earlier; :meth:`wait_limit` names it)."""
        end_time = time.time() + timeout
        if execution_timeout is not None:
            end_time = min(end_time, time.time() + execution_timeout.total_seconds())
        return end_time

    def wait_limit(self, timeout: float, execution_timeout: Any) -> str:
        """The limit that sets :meth:`deadline`, for messages: ``the timeout of 60s``, or ``the execution_timeout
        of 30s`` when the task's ``execution_timeout`` is shorter. Both count from the same moment, so a resumed
        task (a new operator instance after a deferral) names the same one from its arguments alone."""
        if execution_timeout is not None and execution_timeout.total_seconds() < timeout:
            return f"the execution_timeout of {execution_timeout.total_seconds():g}s"
        return f"the timeout of {timeout:g}s"

    def make_trigger(self, ref: dict[str, Any], poll_interval: float, end_time: float, **extra: Any) -> JobTrigger:
        """The trigger that waits on ``ref`` from the triggerer, carrying the log cursor and stream budget."""
        budget = self.stream_budget
        return self.trigger_class(
            conn_id=self.conn_id,
            job_ref=ref,
            success_states=sorted(self.success_states, key=str),
            failure_states=sorted(self.failure_states, key=str),
            poll_interval=poll_interval,
            end_time=end_time,
            stream_logs=self.stream_logs,
            cursor=self._cursor,
            unknown_is_failure=self.unknown_is_failure,
            stream_logs_max_bytes_per_check=budget.per_check,
            stream_logs_max_bytes=budget.per_task,
            streamed_bytes=budget.used,
            log_rules=budget.matcher.to_dict() if budget.matcher is not None else None,
            redact_patterns=self.redact_patterns or None,
            **extra,
        )

    def read_event(self, event: dict[str, Any] | None) -> tuple[str, JobStatus | None]:
        """The trigger's verdict: ``("success", status)`` or ``("timeout", last status or None)``; raises the
        failure report for a failed job and an error for an event that reports one."""
        if not event or "status" not in event:
            raise JobLogsError(f"the trigger sent no usable event: {event!r}", service=self.service_name)
        kind = event["status"]
        if kind == SUCCESS:
            status = JobStatus.from_dict(event["job_status"])
            self._last_status = status
            if event.get("log_rules"):
                self.check_log_rules(status, LogMatcher.from_dict(event["log_rules"]))
            self.log.info("%s job %s finished with %r: success", status.service, status.job_id, status.raw_status)
            return SUCCESS, status
        if kind == FAILURE:
            status = JobStatus.from_dict(event["job_status"])
            self._last_status = status
            self.raise_failure(status)
        if kind == "timeout":
            last = JobStatus.from_dict(event["job_status"]) if event.get("job_status") else None
            self._last_status = last
            return "timeout", last
        raise JobLogsError(event.get("message") or f"trigger error: {event!r}", service=self.service_name)
