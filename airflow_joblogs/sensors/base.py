"""The one sensor every service shares: poke, reschedule and deferrable modes, log tailing, failure reports."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, AirflowSkipException, BaseSensorOperator

from airflow_joblogs.exceptions import JobFailedError, JobLogsError
from airflow_joblogs.waiting import (
    DEFAULT_STREAM_MAX_BYTES,
    DEFAULT_STREAM_MAX_BYTES_PER_CHECK,
    JobWaitMixin,
)

__all__ = ["DEFAULT_STREAM_MAX_BYTES", "DEFAULT_STREAM_MAX_BYTES_PER_CHECK", "JobSensor"]


class JobSensor(JobWaitMixin, BaseSensorOperator):
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
        self.init_waiting(
            conn_id=conn_id,
            success_states=success_states,
            failure_states=failure_states,
            deferrable=deferrable,
            stream_logs=stream_logs,
            stream_logs_max_bytes_per_check=stream_logs_max_bytes_per_check,
            stream_logs_max_bytes=stream_logs_max_bytes,
            log_tail_lines=log_tail_lines,
            fail_on_log_patterns=fail_on_log_patterns,
            redact_patterns=redact_patterns,
        )
        if self.stream_logs and self.mode == "reschedule" and not self.deferrable:
            # Airflow clears a task's XComs at every reschedule, so no cursor survives between pokes.
            self.log.warning(
                "stream_logs in reschedule mode repeats earlier lines at every poke; prefer deferrable=True"
            )

    def poke(self, context: Any) -> bool:
        return self.check_once(self.job_ref())

    def execute(self, context: Any) -> Any:
        self.job_ref()  # validate before anything touches the network
        if not self.deferrable:
            try:
                return super().execute(context)
            except AirflowSensorTimeout as exc:
                raise AirflowSensorTimeout(
                    self.timeout_message(self._last_status, f"the timeout of {self.timeout:g}s")
                ) from exc
        try:
            # checked here, outside BaseSensorOperator's handling, so never_fail is applied here too
            # (soft_fail and never_fail for a failed job: raise_failure)
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
        self.defer(
            trigger=self.make_trigger(
                self.job_ref(), self.poke_interval, self.deadline(self.timeout, self.execution_timeout)
            ),
            method_name="execute_complete",
            # later than the trigger's own deadline, so its timeout event (the job's status, soft_fail) comes first
            timeout=timedelta(seconds=self.timeout + max(60.0, 2 * self.poke_interval)),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> None:
        try:
            kind, last = self.read_event(event)
        except (AirflowSkipException, JobFailedError):
            raise
        except JobLogsError as exc:  # the trigger reported an error: never_fail skips, as in poke mode
            if self.never_fail:
                self.log.error("%s", exc)
                raise AirflowSkipException(f"Skipping because never_fail is set: {exc}") from exc
            raise
        if kind == "timeout":
            raise AirflowSensorTimeout(self.timeout_message(last, f"the timeout of {self.timeout:g}s"))
        return None
