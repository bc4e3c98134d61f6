"""The one sensor every service shares: poke, reschedule and deferrable modes, log tailing, failure reports."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.providers.common.compat.sdk import AirflowSensorTimeout, BaseSensorOperator, conf

from airflow_joblogs.exceptions import InvalidParameterError, JobFailedError, JobLogsError
from airflow_joblogs.hooks.base import JobLogsHook
from airflow_joblogs.models import FAILURE, SUCCESS, JobStatus, decide

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
        raise InvalidParameterError(
            parameter,
            f"{sorted(map(str, unknown))} are not statuses of this service",
            ", ".join(map(str, sorted(allowed, key=str))),
        )
    return states


def _readable_order(states: Iterable[Any]) -> list[Any]:
    """Numeric statuses in numeric order (4 before 11), then named ones alphabetically."""
    return sorted(
        states,
        key=lambda s: (0, s, "") if isinstance(s, (int, float)) and not isinstance(s, bool) else (1, 0, str(s)),
    )


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
    :param log_tail_lines: how many last log lines of each failed part the failure error shows.
    """

    hook_class: ClassVar[type[JobLogsHook]]
    #: the trigger (a :class:`~airflow_joblogs._imports.LazyClass` in the service sensors: the trigger machinery is
    #: imported when a task defers, not when a DAG file is parsed)
    trigger_class: ClassVar[type[JobTrigger]]
    service_name: ClassVar[str] = ""
    #: every documented raw status of the service (to reject typos in the state sets)
    known_states: ClassVar[frozenset[Any]] = frozenset()
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
        log_tail_lines: int = 20,
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
            raise InvalidParameterError("failure_states", f"{sorted(map(str, both))} are also in success_states")
        if deferrable is None:
            deferrable = conf.getboolean("operators", "default_deferrable", fallback=False)
        self.deferrable = deferrable
        self.stream_logs = stream_logs
        if stream_logs and self.mode == "reschedule" and not deferrable:
            # Airflow clears a task's XComs at every reschedule, so no cursor survives between pokes.
            self.log.warning(
                "stream_logs in reschedule mode repeats earlier lines at every poke; prefer deferrable=True"
            )
        if not isinstance(log_tail_lines, int) or log_tail_lines < 0:
            raise InvalidParameterError("log_tail_lines", f"{log_tail_lines!r} must be a non-negative integer")
        self.log_tail_lines = log_tail_lines
        self._cursor: Any = None
        self._hook: JobLogsHook | None = None

    # -- subclasses -------------------------------------------------------------------------------------
    def job_ref(self) -> dict[str, Any]:
        """The rendered, validated job identifiers (JSON values) that the hook's normalized layer takes."""
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------------------
    @property
    def hook(self) -> JobLogsHook:
        if self._hook is None:
            self._hook = self.hook_class(conn_id=self.conn_id)
        return self._hook

    def _check(self, status: JobStatus) -> bool:
        verdict = decide(status, self.success_states, self.failure_states, self.unknown_is_failure)
        if verdict == SUCCESS:
            self.log.info("%s job %s finished with %r: success", status.service, status.job_id, status.raw_status)
            return True
        if verdict == FAILURE:
            raise self._failure_error(status)
        self.log.info("%s job %s is %r (%s)", status.service, status.job_id, status.raw_status, status.state.value)
        return False

    def _failure_error(self, status: JobStatus) -> JobFailedError:
        try:
            units = self.hook.failed_units(self.job_ref(), status, self.log_tail_lines)
        except JobLogsError as exc:  # the verdict stands even if the details cannot be fetched
            units = []
            self.log.warning("could not fetch the failure details: %s", exc)
        title = f"{status.service} job {status.job_id}"
        if status.name:
            title += f" ({status.name})"
        lines = [
            f"{title} ended in status {status.raw_status!r}, a failure state {_readable_order(self.failure_states)}."
        ]
        if status.message:
            lines.append(status.message)
        lines.extend(unit.render() for unit in units)
        return JobFailedError("\n".join(lines))

    def poke(self, context: Any) -> bool:
        ref = self.job_ref()
        status = self.hook.job_status_from_ref(ref)
        if self.stream_logs:
            self._cursor = self.hook.tail_logs(ref, self._cursor, self.log)
        return self._check(status)

    def execute(self, context: Any) -> Any:
        self.job_ref()  # validate before anything touches the network
        if not self.deferrable:
            return super().execute(context)
        if self.poke(context):
            return None
        end_time = time.time() + self.timeout
        if self.execution_timeout is not None:
            end_time = min(end_time, time.time() + self.execution_timeout.total_seconds())
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
            self.log.info("%s job %s finished with %r: success", status.service, status.job_id, status.raw_status)
            return None
        if kind == FAILURE:
            raise self._failure_error(JobStatus.from_dict(event["job_status"]))
        if kind == "timeout":
            raise AirflowSensorTimeout(event.get("message") or "the sensor timed out while deferred")
        raise JobLogsError(event.get("message") or f"trigger error: {event!r}", service=self.service_name)
