"""BlueKing JOB sensor."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.hooks.blueking_model import (
    FAILURE_STATUSES,
    JOB_STATUS_NAMES,
    SUCCESS_STATUSES,
    job_ref,
)
from airflow_joblogs.models import JobStatus
from airflow_joblogs.sensors.base import JobSensor
from airflow_joblogs.waiting import JobWaitMixin

if TYPE_CHECKING:
    from airflow_joblogs.contract import JobService
    from airflow_joblogs.triggers.base import JobTrigger
from airflow_joblogs.validation import require_bool

WAITING_FOR_USER = 7


class BlueKingJobWaiting(JobWaitMixin):
    """What waiting on a BlueKing JOB job needs, for the sensor and the run operators alike: the hook, the trigger
    and the statuses."""

    hook_class: ClassVar[LazyClass[JobService]] = LazyClass("airflow_joblogs.hooks.blueking.BlueKingJobHook")
    trigger_class: ClassVar[LazyClass[JobTrigger]] = LazyClass("airflow_joblogs.triggers.blueking.BlueKingJobTrigger")
    service_name = "BlueKing JOB"
    known_states = frozenset(JOB_STATUS_NAMES)
    status_meanings = JOB_STATUS_NAMES
    default_success_states = SUCCESS_STATUSES
    default_failure_states = FAILURE_STATUSES

    def timeout_hint(self, status: JobStatus) -> str:
        if status.raw_status == WAITING_FOR_USER:
            return "Status 7 waits for a person to confirm a step in the BlueKing JOB console and never ends by itself"
        return ""


class BlueKingJobSensor(BlueKingJobWaiting, JobSensor):
    """Wait for a BlueKing JOB job instance to succeed.

    Succeeds on status 3 (success), 5 (skipped) or 6 (error ignored); fails on 4, 8, 9, 11, 12, 13 and 14
    with an error naming the failed steps and hosts (ip, ``ip_status`` meaning, exit code) and the last
    lines of their logs. Status 7 (waiting for a user's confirmation) never ends by itself: by default the
    sensor keeps waiting (up to ``timeout``); ``fail_on_waiting_user=True`` fails at once instead.

    :param job_instance_id: the job instance id (templated).
    :param bk_biz_id: the business id (templated); or ``bk_scope_type`` + ``bk_scope_id``.
    :param bk_scope_type: ``biz`` or ``biz_set`` (gateway v3).
    :param bk_scope_id: the scope id (templated).
    :param fail_on_waiting_user: treat status 7 as a failure.
    :param bk_job_conn_id: connection of type ``bk_job`` (default ``bk_job_default``).

    Plus the shared options of :class:`~airflow_joblogs.sensors.base.JobSensor`: ``success_states``,
    ``failure_states``, ``deferrable``, ``stream_logs``, ``log_tail_lines``, ``poke_interval``, ``timeout``,
    ``mode``, ``soft_fail``.
    """

    template_fields = ("job_instance_id", "bk_biz_id", "bk_scope_type", "bk_scope_id", "conn_id")

    def __init__(
        self,
        *,
        job_instance_id: int | str,
        bk_biz_id: int | str | None = None,
        bk_scope_type: str | None = None,
        bk_scope_id: int | str | None = None,
        fail_on_waiting_user: bool = False,
        bk_job_conn_id: str | None = None,
        success_states: Iterable[int] | None = None,
        failure_states: Iterable[int] | None = None,
        **kwargs: Any,
    ) -> None:
        if require_bool(fail_on_waiting_user, "fail_on_waiting_user"):
            failure_states = set(FAILURE_STATUSES if failure_states is None else failure_states) | {WAITING_FOR_USER}
        super().__init__(
            conn_id=kwargs.pop("conn_id", None) or bk_job_conn_id,
            success_states=success_states,
            failure_states=failure_states,
            **kwargs,
        )
        self.job_instance_id = job_instance_id
        self.bk_biz_id = bk_biz_id
        self.bk_scope_type = bk_scope_type
        self.bk_scope_id = bk_scope_id
        self.fail_on_waiting_user = fail_on_waiting_user

    def job_ref(self) -> dict[str, Any]:
        return job_ref(self.job_instance_id, self.bk_biz_id, self.bk_scope_type, self.bk_scope_id)

    def timeout_hint(self, status: JobStatus) -> str:
        hint = super().timeout_hint(status)
        return (
            f"{hint}; set fail_on_waiting_user=True to fail at once instead of waiting for the timeout" if hint else ""
        )
