"""AWS Application Migration Service (MGN) job sensor."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.hooks.mgn_model import (
    DEFAULT_CONN_ID,
    FAILURE_STATUSES,
    STATUSES,
    SUCCESS_STATUSES,
    job_ref,
    require_amazon_provider,
)
from airflow_joblogs.sensors.base import JobSensor
from airflow_joblogs.waiting import JobWaitMixin

if TYPE_CHECKING:
    from airflow_joblogs.contract import JobService
    from airflow_joblogs.triggers.base import JobTrigger

require_amazon_provider()


class MgnJobWaiting(JobWaitMixin):
    """What waiting on an MGN job needs, for the sensor and the run operators alike: the hook, the trigger and the
    statuses."""

    #: imported when the task runs, so parsing a DAG file does not load botocore
    hook_class: ClassVar[LazyClass[JobService]] = LazyClass("airflow_joblogs.hooks.mgn.MgnHook")
    trigger_class: ClassVar[LazyClass[JobTrigger]] = LazyClass("airflow_joblogs.triggers.mgn.MgnJobTrigger")
    service_name = "AWS MGN"
    known_states = frozenset(STATUSES)
    default_success_states = SUCCESS_STATUSES
    default_failure_states = FAILURE_STATUSES


class MgnJobSensor(MgnJobWaiting, JobSensor):
    """Wait for an MGN job (a test or cutover launch, or a termination) to succeed.

    The job's status is PENDING, then STARTED, then COMPLETED. A completed job succeeded (``COMPLETED``) only if
    every participating server reached ``LAUNCHED`` (LAUNCH jobs) or ``TERMINATED`` (TERMINATE jobs), its log
    holds no ``JOB_CANCEL``, and no step failure (``*_FAIL``, ``LAUNCH_FAILED``) stands: one stands when it
    reports the last attempt or no new attempt of that step for that server follows it, so a failed attempt
    that MGN retried does not fail the job. Otherwise it is ``FAILED`` and the task fails with an error listing
    the failed servers, their standing failure events with the whole ``rawError``, and their last log events. With ``require_post_launch_success=True`` a launch also waits (``POST_LAUNCH_IN_PROGRESS``) for
    the launched servers' post-launch actions and fails if one of them FAILED (unless its document says
    ``mustSucceedForCutover: false``).

    :param job_id: the MGN job id, ``mgnjob-`` + 17 letters or digits (templated).
    :param account_id: the 12-digit account that owns the job, for cross-account access (templated).
    :param require_post_launch_success: also require the post-launch actions to succeed.
    :param aws_conn_id: the ``aws`` connection (default ``aws_default``).
    :param success_states: default ``["COMPLETED"]``; any of ``PENDING``, ``STARTED``,
        ``POST_LAUNCH_IN_PROGRESS``, ``COMPLETED``, ``FAILED`` (e.g. ``["COMPLETED", "FAILED"]`` just waits
        for the job to end).
    :param failure_states: default ``["FAILED"]``.

    Plus the shared options of :class:`~airflow_joblogs.sensors.base.JobSensor`: ``deferrable``,
    ``stream_logs`` (new log items as readable lines), ``log_tail_lines``, ``poke_interval``, ``timeout``,
    ``mode``, ``soft_fail``.
    """

    template_fields = ("job_id", "account_id", "conn_id")

    def __init__(
        self,
        *,
        job_id: str,
        account_id: str | None = None,
        require_post_launch_success: bool = False,
        aws_conn_id: str | None = None,
        success_states: Iterable[str] | None = None,
        failure_states: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            conn_id=kwargs.pop("conn_id", None) or aws_conn_id or DEFAULT_CONN_ID,
            success_states=success_states,
            failure_states=failure_states,
            **kwargs,
        )
        self.job_id = job_id
        self.account_id = account_id
        self.require_post_launch_success = require_post_launch_success

    def job_ref(self) -> dict[str, Any]:
        return job_ref(self.job_id, self.account_id, self.require_post_launch_success)
