"""The one sensor every service shares: poke, reschedule and deferrable modes, log tailing, failure reports."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException, BaseSensorOperator, conf

from airflow_joblogs.exceptions import InvalidParameterError, JobFailedError, JobLogsError
from airflow_joblogs.hooks.base import JobLogsHook
from airflow_joblogs.log_rules import LogMatcher, check_patterns
from airflow_joblogs.models import FAILURE, SUCCESS, JobStatus, decide
from airflow_joblogs.redaction import Redactor
from airflow_joblogs.streaming import StreamBudget, follow_logs
from airflow_joblogs.validation import as_int, optional_bool, readable_order, require_bool

#: default caps on what ``stream_logs`` writes into a task log (per check, and over the whole task)
DEFAULT_STREAM_MAX_BYTES_PER_CHECK = 512 * 1024
DEFAULT_STREAM_MAX_BYTES = 4 * 1024 * 1024
#: what a sensor keeps of the lines ``fail_on_log_patterns`` matched: units per pattern, lines per unit
LOG_RULE_UNITS = 5
LOG_RULE_LINES_PER_UNIT = 3

if TYPE_CHECKING:
    from airflow_joblogs.triggers.base import JobTrigger


def _state_set(
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


def _optional_cap(value: Any, parameter: str) -> int | None:
    return None if value is None else as_int(value, parameter, minimum=1)


class JobSensor(BaseSensorOperator):
    """Wait until a remote job succeeds; fail with the failed parts and their last log lines when it fails.

    :param conn_id: the service connection.
    :param success_states: raw service statuses that mean success (defaults: the service's documented ones).
    :param failure_states: raw service statuses that mean failure.
    :param deferrable: wait in the triggerer instead of a worker slot
        (default: ``[operators] default_deferrable``).
    :param stream_logs: write new remote log lines into the task log while waiting (also while deferred).
        In ``mode="reschedule"`` every poke starts afresh (Airflow keeps no state between reschedules),
        so earlier lines are shown again; deferrable mode keeps the cursor.
    :param stream_logs_max_bytes_per_check: at most this many bytes of log lines written per check (default
        512 KiB); the rest of that check's new lines are skipped with a marker saying how many.
    :param stream_logs_max_bytes: at most this many bytes of log lines written over the whole task (default
        4 MiB); then streaming stops with a marker. ``None`` lifts either cap. Archive the whole log with the
        service's log operator.
    :param log_tail_lines: how many last log lines of each failed part the failure error shows.
    :param fail_on_log_patterns: regular expressions (checked with ``re.search`` on each log line): a job
        whose status says success but whose log has a matching line fails the task, with an error naming
        the pattern, the units (hosts, steps, servers) and their first matching lines. With ``stream_logs``
        the lines are checked as they arrive (also in the triggerer, also past the stream caps); at success
        the rest of the log (all of it without ``stream_logs``) is read and checked before the task succeeds.
        A pattern that does not compile is refused when the DAG is parsed.
    :param redact_patterns: regular expressions whose matches are replaced by ``***`` in the lines
        ``stream_logs`` writes and in the lines a ``fail_on_log_patterns`` error shows (the secrets Airflow's
        masker knows are removed from task logs by Airflow itself).

    With ``soft_fail=True`` (or ``never_fail=True``) a failed job skips the task instead of failing it, in
    every mode, and the failure report is written to the task log first.
    """

    hook_class: ClassVar[type[JobLogsHook]]
    #: the trigger (a :class:`~airflow_joblogs._imports.LazyClass` in the service sensors: the trigger machinery is
    #: imported when a task defers, not when a DAG file is parsed)
    trigger_class: ClassVar[type[JobTrigger]]
    service_name: ClassVar[str] = ""
    #: every documented raw status of the service (to reject typos in the state sets)
    known_states: ClassVar[frozenset[Any]] = frozenset()
    #: what each raw status means, for messages (services with numeric statuses)
    status_meanings: ClassVar[dict[Any, str]] = {}
    default_success_states: ClassVar[frozenset[Any]] = frozenset()
    default_failure_states: ClassVar[frozenset[Any]] = frozenset()
    unknown_is_failure: ClassVar[bool] = False
    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        conn_id: str | None = None,
        success_states: Iterable[Any] | None = None,
        failure_states: Iterable[Any] | None = None,
        deferrable: bool | None = None,
        stream_logs: bool = False,
        stream_logs_max_bytes_per_check: int | None = DEFAULT_STREAM_MAX_BYTES_PER_CHECK,
        stream_logs_max_bytes: int | None = DEFAULT_STREAM_MAX_BYTES,
        log_tail_lines: int = 20,
        fail_on_log_patterns: Iterable[str] | None = None,
        redact_patterns: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.conn_id = conn_id or self.hook_class.default_conn_name
        self.success_states = _state_set(
            success_states, self.default_success_states, "success_states", self.known_states
        )
        self.failure_states = _state_set(
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
        self.stream_logs_max_bytes_per_check = _optional_cap(
            stream_logs_max_bytes_per_check, "stream_logs_max_bytes_per_check"
        )
        self.stream_logs_max_bytes = _optional_cap(stream_logs_max_bytes, "stream_logs_max_bytes")
        if self.stream_logs and self.mode == "reschedule" and not deferrable:
            # Airflow clears a task's XComs at every reschedule, so no cursor survives between pokes.
            self.log.warning(
                "stream_logs in reschedule mode repeats earlier lines at every poke; prefer deferrable=True"
            )
        self.log_tail_lines = as_int(log_tail_lines, "log_tail_lines", minimum=0)
        self.fail_on_log_patterns = check_patterns(fail_on_log_patterns, "fail_on_log_patterns")
        self.redact_patterns = check_patterns(redact_patterns, "redact_patterns", may_match_empty=False)
        self._cursor: Any = None
        self._budget: StreamBudget | None = None
        self._last_status: JobStatus | None = None
        self._hook: JobLogsHook | None = None

    # -- subclasses -------------------------------------------------------------------------------------
    def job_ref(self) -> dict[str, Any]:
        """The rendered, validated job identifiers (JSON values) that the hook's normalized layer takes."""
        raise NotImplementedError

    def timeout_hint(self, status: JobStatus) -> str:
        """A sentence added to the timeout error for this status (e.g. what a person must do), or ""."""
        return ""

    # -- shared -----------------------------------------------------------------------------------------
    @property
    def hook(self) -> JobLogsHook:
        if self._hook is None:
            self._hook = self.hook_class(conn_id=self.conn_id)
        return self._hook

    @property
    def stream_budget(self) -> StreamBudget:
        """What ``stream_logs`` may still write into this task's log (kept across pokes of one try)."""
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

    def describe(self, status: JobStatus, with_state: bool = True) -> str:
        """``7 (waiting for a user's confirmation)``: the raw status and what it means (the service's own
        meaning where the sensor knows it, else the provider's reading of it when ``with_state``)."""
        meaning = self.status_meanings.get(status.raw_status)
        if meaning is None and with_state:
            meaning = status.state.value.replace("_", " ")
        return f"{status.raw_status!r} ({meaning})" if meaning else repr(status.raw_status)

    def _check(self, status: JobStatus) -> bool:
        self._last_status = status
        verdict = decide(status, self.success_states, self.failure_states, self.unknown_is_failure)
        if verdict == SUCCESS:
            self._check_log_rules(status, self.stream_budget.matcher)
            self.log.info(
                "%s job %s finished with %s: success", status.service, status.job_id, self.describe(status, False)
            )
            return True
        if verdict == FAILURE:
            self._raise_failure(status)
        self.log.info("%s job %s is %s", status.service, status.job_id, self.describe(status))
        return False

    def _check_log_rules(self, status: JobStatus, matcher: LogMatcher | None) -> None:
        """Fail a job that succeeded if its log matched ``fail_on_log_patterns`` (as a failed job fails)."""
        if matcher is None or not matcher.matched:
            return
        title = f"{status.service} job {status.job_id}"
        if status.name:
            title += f" ({status.name})"
        self._raise_failure(
            status,
            JobFailedError(
                f"{title} ended in status {self.describe(status, False)}, a success state, but its log matches "
                f"fail_on_log_patterns:\n{matcher.describe()}"
            ),
        )

    def _raise_failure(self, status: JobStatus, error: JobFailedError | None = None) -> NoReturn:
        """Fail the task with the failure report, or, with ``soft_fail``/``never_fail``, log it and skip."""
        error = error or self._failure_error(status)
        if self.soft_fail or self.never_fail:
            option = "soft_fail" if self.soft_fail else "never_fail"
            self.log.error("%s", error)
            raise AirflowSkipException(f"Skipping because {option} is set: {str(error).splitlines()[0]}")
        raise error

    def _failure_error(self, status: JobStatus) -> JobFailedError:
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

    def _timeout_message(self, status: JobStatus | None, waited: str) -> str:
        if status is None:
            return f"{self.service_name} sensor timed out after {waited}"
        text = f"{status.service} job {status.job_id} is still {self.describe(status)} after {waited}"
        hint = self.timeout_hint(status)
        return f"{text}. {hint}" if hint else text

    def poke(self, context: Any) -> bool:
        ref = self.job_ref()
        status = self.hook.job_status_from_ref(ref)
        budget = self.stream_budget
        if self.stream_logs or (
            budget.matcher is not None
            and decide(status, self.success_states, self.failure_states, self.unknown_is_failure) == SUCCESS
        ):
            # at success with log rules, the rest of the log is read (and matched) before the verdict
            self._cursor = follow_logs(self.hook, ref, self._cursor, self.log, budget, self.stream_logs)
        return self._check(status)

    def execute(self, context: Any) -> Any:
        self.job_ref()  # validate before anything touches the network
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as exc:
                raise AirflowSensorTimeout(
                    self._timeout_message(self._last_status, f"the timeout of {self.timeout:g}s")
                ) from exc
        try:
            # checked here, outside BaseSensorOperator's handling, so never_fail is applied here too
            # (soft_fail and never_fail for a failed job: _raise_failure)
            done = self.poke(context)
        except (AirflowSkipException, JobFailedError):
            raise
        except Exception as exc:
            if self.never_fail:
                self.log.error("the first check failed: %s", exc)
                raise AirflowSkipException(f"Skipping because never_fail is set: {exc}") from exc
            raise
        if done:
            return None
        end_time = time.time() + self.timeout
        if self.execution_timeout is not None:
            end_time = min(end_time, time.time() + self.execution_timeout.total_seconds())
        budget = self.stream_budget
        self.defer(
            trigger=self.trigger_class(
                conn_id=self.conn_id,
                job_ref=self.job_ref(),
                success_states=sorted(self.success_states, key=str),
                failure_states=sorted(self.failure_states, key=str),
                poll_interval=self.poke_interval,
                end_time=end_time,
                stream_logs=self.stream_logs,
                cursor=self._cursor,
                unknown_is_failure=self.unknown_is_failure,
                stream_logs_max_bytes_per_check=budget.per_check,
                stream_logs_max_bytes=budget.per_task,
                streamed_bytes=budget.used,
                log_rules=budget.matcher.to_dict() if budget.matcher is not None else None,
                redact_patterns=self.redact_patterns or None,
            ),
            method_name="execute_complete",
            timeout=timedelta(seconds=self.timeout),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> None:
        if not event or "status" not in event:
            raise JobLogsError(f"the trigger sent no usable event: {event!r}", service=self.service_name)
        kind = event["status"]
        if kind == SUCCESS:
            status = JobStatus.from_dict(event["job_status"])
            if event.get("log_rules"):
                self._check_log_rules(status, LogMatcher.from_dict(event["log_rules"]))
            self.log.info(
                "%s job %s finished with %s: success", status.service, status.job_id, self.describe(status, False)
            )
            return None
        if kind == FAILURE:
            self._raise_failure(JobStatus.from_dict(event["job_status"]))
        if kind == "timeout":
            last = JobStatus.from_dict(event["job_status"]) if event.get("job_status") else None
            raise AirflowSensorTimeout(self._timeout_message(last, f"the timeout of {self.timeout:g}s"))
        raise JobLogsError(event.get("message") or f"trigger error: {event!r}", service=self.service_name)
