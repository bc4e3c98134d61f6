"""The one sensor every service shares: poke, reschedule and deferrable modes, log tailing, failure reports."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from airflow.providers.common.compat.sdk import (
    AirflowSensorTimeout,
    AirflowSkipException,
    AirflowTaskTimeout,
    BaseSensorOperator,
)

from airflow_joblogs.exceptions import JobFailedError, JobLogsError
from airflow_joblogs.log_rules import LogMatcher
from airflow_joblogs.operators.run import CONSOLE_URL_KEY, JobConsoleLink
from airflow_joblogs.waiting import (
    DEFAULT_STREAM_MAX_BYTES,
    DEFAULT_STREAM_MAX_BYTES_PER_CHECK,
    JobWaitMixin,
)

__all__ = ["DEFAULT_STREAM_MAX_BYTES", "DEFAULT_STREAM_MAX_BYTES_PER_CHECK", "STREAM_STATE_KEY", "JobSensor"]

#: the ``task_state_store`` key (Airflow >= 3.3) where ``stream_logs`` in ``mode="reschedule"`` keeps, for the
#: try, the log cursor, the bytes streamed so far and the ``fail_on_log_patterns`` findings between pokes
STREAM_STATE_KEY = "airflow_joblogs.stream_state"


class JobSensor(JobWaitMixin, BaseSensorOperator):
    """Wait until a remote job succeeds; fail with the failed parts and their last log lines when it fails.

    :param conn_id: the service connection.
    :param success_states: raw service statuses that mean success (defaults: the service's documented ones).
    :param failure_states: raw service statuses that mean failure.
    :param deferrable: wait in the triggerer instead of a worker slot
        (default: ``[operators] default_deferrable``).
    :param stream_logs: write new remote log lines into the task log while waiting (also while deferred).
        In ``mode="reschedule"`` every poke is a new run of the task: on Airflow >= 3.3 the sensor keeps the
        log cursor, the bytes streamed (for ``stream_logs_max_bytes``) and what ``fail_on_log_patterns``
        matched in the task's ``task_state_store`` (key :data:`STREAM_STATE_KEY`, per try, removed at
        success), so each poke goes on where the last one stopped; earlier releases keep nothing between
        pokes, so there every poke starts afresh (earlier lines are shown again and the task cap counts from
        zero at each poke).
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

    Returns the job's final status, ``{"raw", "state", "meaning"}`` (as in a run operator's result), so a later
    task can read it from XCom. Where the service names the job's console page (a connection with a
    ``console_url`` extra), the sensor pushes that URL before it waits or defers, and the task shows it as the
    "Job console" extra link while it waits.
    """

    operator_extra_links = (JobConsoleLink(),)
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
        self._stream_restored = False

    def poke(self, context: Any) -> bool:
        store = self._stream_store(context)
        if store is None:
            return self.check_once(self.job_ref())
        try_number = getattr(context.get("ti"), "try_number", None)
        if not self._stream_restored:
            self._stream_restored = True
            self._restore_stream(store.get(STREAM_STATE_KEY), try_number)
        done = self.check_once(self.job_ref())
        if done:
            try:
                store.delete(STREAM_STATE_KEY)
            except Exception as exc:  # the verdict stands; an entry of this try is ignored by a later one
                self.log.warning("could not remove the stream_logs progress: %s", exc)
        else:  # the next poke is a new run of the task: it goes on from here
            budget = self.stream_budget
            state = {"try_number": try_number, "cursor": self._cursor, "streamed_bytes": budget.used}
            if budget.matcher is not None:
                state["log_rules"] = budget.matcher.to_dict()
            store.set(STREAM_STATE_KEY, state)
        return done

    def _stream_store(self, context: Any) -> Any:
        """Where ``stream_logs`` keeps its progress between reschedules: the ``task_state_store`` (None when not
        streaming in reschedule mode; before Airflow 3.3, which has none, with a warning)."""
        if not (self.stream_logs and self.mode == "reschedule" and not self.deferrable):
            return None
        store = context.get("task_state_store") if hasattr(context, "get") else None
        if store is None and not self._stream_restored:
            # Airflow clears a task's XComs at every reschedule, so without a task_state_store nothing survives.
            self._stream_restored = True
            self.log.warning(
                "stream_logs in reschedule mode repeats earlier lines at every poke before Airflow 3.3 (no "
                "task_state_store); prefer deferrable=True"
            )
        return store

    def _restore_stream(self, state: Any, try_number: Any) -> None:
        """Go on from what the previous poke of the same try streamed (a state of another try is ignored)."""
        if not isinstance(state, dict) or state.get("try_number") != try_number:
            return
        self._cursor = state.get("cursor")
        budget = self.stream_budget
        budget.used = int(state.get("streamed_bytes") or 0)
        if budget.matcher is not None and state.get("log_rules"):
            budget.matcher = LogMatcher.from_dict(state["log_rules"])

    def push_console_url(self, context: Any) -> None:
        """Push the job's console URL (XCom ``console_url``, read by the "Job console" link) when the service's hook
        names one: its connection has a ``console_url`` extra."""
        console_url = getattr(self.hook, "console_url", None)
        ti = context.get("ti") if context else None
        if console_url is None or ti is None:
            return
        url = console_url(self.job_ref())
        if url:
            ti.xcom_push(key=CONSOLE_URL_KEY, value=url)

    def execute(self, context: Any) -> Any:
        self.job_ref()  # validate before anything touches the network
        self.push_console_url(context)
        if not self.deferrable:
            try:
                super().execute(context)
            except AirflowSensorTimeout as exc:
                raise AirflowSensorTimeout(
                    self.timeout_message(self._last_status, f"the timeout of {self.timeout:g}s")
                ) from exc
            except AirflowTaskTimeout as exc:  # Airflow's execution_timeout ended the task during a poke
                limit = self.wait_limit(float("inf"), self.execution_timeout)
                raise AirflowTaskTimeout(self.timeout_message(self._last_status, limit)) from exc
            return self.status_summary(self._last_status)
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
            return self.status_summary(self._last_status)
        self.defer(
            trigger=self.make_trigger(
                self.job_ref(), self.poke_interval, self.deadline(self.timeout, self.execution_timeout)
            ),
            method_name="execute_complete",
            # later than the trigger's own deadline, so its timeout event (the job's status, soft_fail) comes first
            timeout=timedelta(seconds=self.timeout + max(60.0, 2 * self.poke_interval)),
        )

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any] | None:
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
            raise AirflowSensorTimeout(
                self.timeout_message(last, self.wait_limit(self.timeout, self.execution_timeout))
            )
        return self.status_summary(last)
