"""The run operator every service shares: start a remote job, optionally wait on it, return a small result.

Start → wait → result. The waiting is the sensors' (:class:`~airflow_joblogs.waiting.JobWaitMixin`): the same
verdict, failure report, log streaming and trigger. What is added here: starting the job, remembering it so a
retry after a worker crash reattaches instead of starting another, terminating it on kill and on timeout, and
the console link.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import timedelta
from typing import TYPE_CHECKING, Any, cast

from airflow.providers.common.compat.sdk import (
    AirflowSkipException,
    AirflowTaskTimeout,
    BaseOperator,
    BaseOperatorLink,
    XCom,
)

from airflow_joblogs.contract import RunService
from airflow_joblogs.exceptions import JobFailedError, JobLogsError, TransientError
from airflow_joblogs.models import FAILURE, SUCCESS, JobStatus, decide
from airflow_joblogs.validation import as_number, require_bool
from airflow_joblogs.waiting import DEFAULT_STREAM_MAX_BYTES, DEFAULT_STREAM_MAX_BYTES_PER_CHECK, JobWaitMixin

if TYPE_CHECKING:
    from airflow.sdk.types import TaskInstanceKey

#: the XCom key of the console URL (read by :class:`JobConsoleLink`)
CONSOLE_URL_KEY = "console_url"
#: the ``task_state_store`` key of the started job (Airflow >= 3.3)
STARTED_JOB_KEY = "airflow_joblogs.started_job"
#: the ``task_state_store`` key of a start request that was sent and not answered yet: when it was sent (epoch
#: seconds), kept only by run operators that can find such a job again (:attr:`JobRunOperator.finds_lost_starts`)
START_SENT_KEY = "airflow_joblogs.start_sent"
#: how long past its own deadline Airflow waits for a deferred run operator's trigger before failing the task
#: itself: the trigger's timeout event comes first, so the job is terminated (Airflow's own deferral timeout
#: fails the task without running any of the operator's code)
DEFERRAL_GRACE = 120.0


class JobConsoleLink(BaseOperatorLink):
    """A link to the job in the service's web console (the URL the task pushed to XCom ``console_url``)."""

    name = "Job console"

    def get_link(self, operator: Any, *, ti_key: TaskInstanceKey) -> str:
        url = XCom.get_value(ti_key=ti_key, key=CONSOLE_URL_KEY)
        return url if isinstance(url, str) else ""


class JobRunOperator(JobWaitMixin, BaseOperator):
    """Start a remote job and, with ``wait_for_completion``, wait for it as the service's sensor does.

    :param wait_for_completion: wait until the job ends (default); False returns right after the start.
    :param deferrable: wait in the triggerer instead of a worker slot (default: ``[operators]
        default_deferrable``).
    :param poll_interval: seconds between status checks while waiting.
    :param timeout: seconds to wait at most; then the job is terminated (with ``cancel_on_kill``) and the task
        fails saying so, without a retry (as a sensor's timeout). A shorter ``execution_timeout`` ends the wait
        first; the error names the limit that ended it.
    :param cancel_on_kill: terminate the remote job when the task is killed (a user marks it failed or clears
        it while it runs on a worker; on Airflow >= 3.3 also while it is deferred) and when waiting times out.
        Default: True where the service has a cancel API (:attr:`can_cancel`); refused where it has none.
    :param reattach: on a retry, wait on the job an earlier try started and left unfinished (a worker crash)
        instead of starting another. Uses Airflow's ``task_state_store`` (Airflow >= 3.3); earlier releases keep
        nothing between tries, so there a retry starts a new job. Where the service can find the job of a start
        request whose answer never came (:attr:`finds_lost_starts`, :meth:`find_lost_start`), the retry waits on it
        too.
    :param success_states: raw statuses that mean success (default: the service's documented ones).
    :param failure_states: raw statuses that mean failure.
    :param stream_logs: write the job's new log lines into the task log while waiting (also while deferred).
    :param stream_logs_max_bytes_per_check: cap per check (default 512 KiB); ``None`` lifts it.
    :param stream_logs_max_bytes: cap over the whole task (default 4 MiB); ``None`` lifts it.
    :param log_tail_lines: how many last log lines of each failed part the failure error shows.
    :param fail_on_log_patterns: regular expressions: a job that succeeded but logged a matching line fails the
        task, as on the sensors.
    :param redact_patterns: regular expressions replaced by ``***`` in streamed lines, as on the sensors.

    Returns a small JSON result: the job's identifiers under the names the service's sensor and log operator
    take, ``console_url``, ``status`` (``raw``, ``state``, ``meaning``; None when not waited for) and
    ``outputs`` (what the service reports the job produced). Each field is also pushed as its own XCom
    (with ``do_xcom_push``; fields without a value are left out), so ``run.output["job_instance_id"]`` is the
    job's id for a later task; the identifiers right after the start, so they are there even when the job then
    fails.
    """

    operator_extra_links = (JobConsoleLink(),)
    ui_color = "#d7ecd9"
    #: whether the service's API can terminate a started job (False: ``cancel_on_kill`` is refused)
    can_cancel = True
    #: whether :meth:`find_lost_start` can find the job of a start request whose answer was lost
    finds_lost_starts = False

    def __init__(
        self,
        *,
        conn_id: str | None = None,
        wait_for_completion: bool = True,
        deferrable: bool | None = None,
        poll_interval: float = 30.0,
        timeout: float = 7 * 24 * 3600.0,
        cancel_on_kill: bool | None = None,
        reattach: bool = True,
        success_states: Iterable[Any] | None = None,
        failure_states: Iterable[Any] | None = None,
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
        self.wait_for_completion = require_bool(wait_for_completion, "wait_for_completion")
        self.poll_interval = as_number(poll_interval, "poll_interval")
        self.timeout = as_number(timeout, "timeout")
        self.cancel_on_kill = (
            self.can_cancel if cancel_on_kill is None else require_bool(cancel_on_kill, "cancel_on_kill")
        )
        if self.cancel_on_kill and not self.can_cancel:
            raise ValueError(
                f"cancel_on_kill=True is not possible: {self.service_name} has no API to terminate a started job; "
                "leave cancel_on_kill unset (or False)"
            )
        self.reattach = require_bool(reattach, "reattach")
        self._started: dict[str, Any] | None = None

    # -- subclasses -------------------------------------------------------------------------------------
    def validate_start(self) -> None:
        """Check the rendered parameters of the start request; raise naming the parameter (before any request)."""
        raise NotImplementedError

    def start_job(self, hook: Any) -> dict[str, Any]:
        """Start the job; ``{"job_ref": <the sensor's job_ref()>, **identifiers for the result}``."""
        raise NotImplementedError

    def job_outputs(self, hook: Any, ref: dict[str, Any], status: JobStatus) -> dict[str, Any]:
        """What the job produced, read after it ended (JSON values)."""
        return {}

    def find_lost_start(self, hook: Any, sent_at: float) -> dict[str, Any] | None:
        """The job that an earlier try's start request, sent at ``sent_at`` (epoch seconds) and never answered
        (the worker died, the answer was lost), created: as :meth:`start_job` returns it, or None to start a new
        one. Used only with :attr:`finds_lost_starts`."""
        return None

    # -- shared -----------------------------------------------------------------------------------------
    @property
    def run_hook(self) -> RunService:
        return cast(RunService, self.hook)

    def job_ref(self) -> dict[str, Any]:
        if self._started is None:
            raise JobLogsError("no job was started yet", service=self.service_name)
        ref: dict[str, Any] = self._started["job_ref"]
        return ref

    def _store(self, context: Any) -> Any:
        return context.get("task_state_store") if self.reattach else None

    def _forget(self, context: Any) -> None:
        """The job ended or was given up on: a later try or a cleared task starts a new one."""
        store = self._store(context)
        if store is not None:
            try:
                store.delete(STARTED_JOB_KEY)
            except Exception as exc:  # the result stands; a stale entry only makes a later try check that job
                self.log.warning("could not forget the started job: %s", exc)

    def _adopt(self, context: Any) -> tuple[dict[str, Any], JobStatus | None] | None:
        """The job an earlier try started, if it is still running or succeeded (and its status), else None."""
        store = self._store(context)
        if store is None:
            if self.reattach and "task_state_store" not in context:
                self.log.debug("no task_state_store (Airflow < 3.3): a retry starts a new job")
            return None
        stored = store.get(STARTED_JOB_KEY)
        if not isinstance(stored, dict) or not isinstance(stored.get("job_ref"), dict):
            stored = self._found_lost_start(store)
            if stored is None:
                return None
        self._started = stored
        status = self.hook.job_status_from_ref(stored["job_ref"])
        verdict = decide(status, self.success_states, self.failure_states, self.unknown_is_failure)
        if verdict == SUCCESS:
            self.log.info("%s job %s, started by an earlier try, already succeeded", self.service_name, status.job_id)
            return stored, status
        if not status.state.is_terminal and verdict != FAILURE:
            self.log.info(
                "%s job %s, started by an earlier try, is %s: waiting on it instead of starting another",
                self.service_name,
                status.job_id,
                self.describe(status),
            )
            return stored, None
        self.log.warning(
            "%s job %s, started by an earlier try, ended with %s: starting a new one",
            self.service_name,
            status.job_id,
            self.describe(status),
        )
        self._started = None
        return None

    def _found_lost_start(self, store: Any) -> dict[str, Any] | None:
        """The job of an earlier try's unanswered start request, if :meth:`find_lost_start` finds it (then stored)."""
        if not self.finds_lost_starts:
            return None
        sent_at = store.get(START_SENT_KEY)
        if isinstance(sent_at, bool) or not isinstance(sent_at, (int, float)):
            return None
        found = self.find_lost_start(self.hook, float(sent_at))
        if found is None:
            self.log.info("the earlier try's start request created no %s job that can be found", self.service_name)
            store.delete(START_SENT_KEY)
            return None
        found["console_url"] = self.run_hook.console_url(found["job_ref"])
        self.log.info(
            "found %s job %s, started by an earlier try whose answer was lost", self.service_name, found["job_ref"]
        )
        store.set(STARTED_JOB_KEY, found)
        store.delete(START_SENT_KEY)
        return found

    def _start(self, context: Any) -> dict[str, Any]:
        store = self._store(context)
        if store is not None and self.finds_lost_starts:
            store.set(START_SENT_KEY, time.time())
        try:
            started = self.start_job(self.hook)
        except JobLogsError as exc:  # refused: nothing to look for (a transient fault may have started the job)
            if store is not None and self.finds_lost_starts and not isinstance(exc, TransientError):
                store.delete(START_SENT_KEY)
            raise
        started["console_url"] = self.run_hook.console_url(started["job_ref"])
        self._started = started
        if store is not None:
            store.set(STARTED_JOB_KEY, started)
            if self.finds_lost_starts:
                store.delete(START_SENT_KEY)
        self.log.info(
            "started %s job %s%s",
            self.service_name,
            started["job_ref"],
            f"; console: {started['console_url']}" if started["console_url"] else "",
        )
        return started

    def _push_link(self, context: Any, started: dict[str, Any]) -> None:
        """The console URL for the link, the started job for the operator instance that resumes after a
        deferral (Airflow keeps a try's XComs across its deferral), and each of the job's identifiers as its own
        XCom: ``run.output["job_instance_id"]`` is there from the start, so a later task with
        ``trigger_rule="all_done"`` (an archive of a failed job's logs) finds the job."""
        ti = context.get("ti")
        if ti is None:
            return
        ti.xcom_push(key=STARTED_JOB_KEY, value=started)
        if started.get("console_url"):
            ti.xcom_push(key=CONSOLE_URL_KEY, value=started["console_url"])
        self._push_fields(context, {k: v for k, v in started.items() if k not in ("job_ref", CONSOLE_URL_KEY)})

    def _push_fields(self, context: Any, fields: dict[str, Any]) -> None:
        """Each field as its own XCom (an XComArg's key names an XCom, not a field of the return value), so
        ``run.output["job_instance_id"]`` plugs into a sensor or log operator. Not Airflow's ``multiple_outputs``:
        Airflow 3.0 refuses a None value, and a field without a value is left out here."""
        ti = context.get("ti")
        if ti is None or not self.do_xcom_push:
            return
        for key, value in fields.items():
            if value is not None:
                ti.xcom_push(key=key, value=value)

    def _deliver(self, context: Any, result: dict[str, Any]) -> dict[str, Any]:
        """The result, returned (XCom ``return_value``) and each of its fields pushed as its own XCom."""
        self._push_fields(context, {k: v for k, v in result.items() if k != CONSOLE_URL_KEY})
        return result

    def result(self, status: JobStatus | None) -> dict[str, Any]:
        assert self._started is not None
        result = {k: v for k, v in self._started.items() if k != "job_ref"}
        result["status"] = None
        result["outputs"] = {}
        if status is not None:
            result["status"] = self.status_summary(status)
            try:
                result["outputs"] = self.job_outputs(self.hook, self.job_ref(), status)
            except JobLogsError as exc:  # the job succeeded; its outputs are extra
                self.log.warning("could not read the job's outputs: %s", exc)
        return result

    def execute(self, context: Any) -> Any:
        self.validate_start()  # before any request
        adopted = self._adopt(context)
        if adopted is not None:
            started, finished = adopted
            self._push_link(context, started)
            if finished is not None:
                self._forget(context)
                return self._deliver(context, self.result(finished))
        else:
            started = self._start(context)
            self._push_link(context, started)
        if not self.wait_for_completion:
            self._forget(context)
            return self._deliver(context, self.result(None))
        ref = self.job_ref()
        end_time = self.deadline(self.timeout, self.execution_timeout)
        if self.deferrable:
            if self._until_verdict(context, ref, end_time, once=True):
                return self._finish(context)
            grace = self.timeout + self.poll_interval + DEFERRAL_GRACE
            self.defer(
                trigger=self.make_trigger(
                    ref, self.poll_interval, end_time, **({"cancel_on_kill": True} if self.cancel_on_kill else {})
                ),
                method_name="execute_complete",
                timeout=timedelta(seconds=grace),
            )
        try:
            done = self._until_verdict(context, ref, end_time, once=False)
        except AirflowTaskTimeout as exc:  # Airflow's execution_timeout ended the task first (then calls on_kill)
            message = self.timeout_message(
                self._last_status, self.wait_limit(float("inf"), self.execution_timeout), "run operator"
            )
            kill = (
                "it is terminated (cancel_on_kill)"
                if self.cancel_on_kill
                else "it keeps running (cancel_on_kill=False)"
            )
            raise AirflowTaskTimeout(f"{message}; {kill}") from exc
        if done:
            return self._finish(context)
        self._time_out(context)

    def _until_verdict(self, context: Any, ref: dict[str, Any], end_time: float, *, once: bool) -> bool:
        """Check until success (True) or, past ``end_time`` or after one check with ``once``, False; a failed
        job raises its report (and is forgotten)."""
        while True:
            try:
                if self.check_once(ref):
                    return True
            except (JobFailedError, AirflowSkipException):
                self._forget(context)
                raise
            if once or time.time() >= end_time:
                return False
            time.sleep(max(0.0, min(self.poll_interval, end_time - time.time())))

    def _finish(self, context: Any) -> dict[str, Any]:
        result = self.result(self._last_status)
        self._forget(context)
        return self._deliver(context, result)

    def _time_out(self, context: Any) -> None:
        limit = self.wait_limit(self.timeout, self.execution_timeout)
        message = self.timeout_message(self._last_status, limit, "run operator")
        if self.cancel_on_kill:
            message += f"; {self._terminate()}"
        else:
            message += "; the job keeps running (cancel_on_kill=False)"
        self._forget(context)
        raise JobFailedError(message)

    def _terminate(self) -> str:
        try:
            answer = self.run_hook.cancel_job(self.job_ref())
        except JobLogsError as exc:
            self.log.error("terminating %s job %s failed: %s", self.service_name, self.job_ref(), exc)
            return f"terminating it failed: {exc}"
        self.log.info("terminated %s job %s: %s", self.service_name, self.job_ref(), answer)
        return f"terminated it: {answer}"

    def execute_complete(self, context: Any, event: dict[str, Any] | None = None) -> dict[str, Any]:
        self._started = self._started_from_event_context(context)
        try:
            kind, _ = self.read_event(event)
        except (JobFailedError, AirflowSkipException):
            self._forget(context)
            raise
        if event and event.get("cursor") is not None:
            self._cursor = event["cursor"]
        if kind == SUCCESS:
            return self._finish(context)
        self._time_out(context)
        raise AssertionError("unreachable")  # pragma: no cover

    def _started_from_event_context(self, context: Any) -> dict[str, Any]:
        """The started job, when resuming after the deferral (a new operator instance, maybe on another worker):
        the stored entry, else the trigger's job reference."""
        if self._started is not None:
            return self._started
        store = self._store(context)
        stored = store.get(STARTED_JOB_KEY) if store is not None else None
        if isinstance(stored, dict) and isinstance(stored.get("job_ref"), dict):
            return stored
        ti = context.get("ti")
        started = ti.xcom_pull(task_ids=ti.task_id, key=STARTED_JOB_KEY) if ti is not None else None
        if isinstance(started, dict) and isinstance(started.get("job_ref"), dict):
            return started
        raise JobLogsError("the started job's reference was lost while deferred", service=self.service_name)

    def on_kill(self) -> None:
        """The task is being killed on its worker: terminate the job it started (``cancel_on_kill``)."""
        if not self.cancel_on_kill or self._started is None:
            return
        self.log.info("the task is being killed: %s", self._terminate())
