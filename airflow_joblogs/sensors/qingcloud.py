"""QingCloud AppCenter cluster job sensor."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.hooks.qingcloud_model import FAILURE_STATUSES, JOB_STATUSES, SUCCESS_STATUSES, job_ref
from airflow_joblogs.sensors.base import JobSensor
from airflow_joblogs.waiting import JobWaitMixin

if TYPE_CHECKING:
    from airflow_joblogs.contract import JobService
    from airflow_joblogs.triggers.base import JobTrigger


class QingCloudClusterJobWaiting(JobWaitMixin):
    """What waiting on QingCloud cluster jobs needs, for the sensor and the run operators alike: the hook, the
    trigger and the statuses (an undocumented one fails by default)."""

    hook_class: ClassVar[LazyClass[JobService]] = LazyClass("airflow_joblogs.hooks.qingcloud.QingCloudHook")
    trigger_class: ClassVar[LazyClass[JobTrigger]] = LazyClass(
        "airflow_joblogs.triggers.qingcloud.QingCloudClusterJobTrigger"
    )
    service_name = "QingCloud"
    known_states = frozenset(JOB_STATUSES)
    default_success_states = SUCCESS_STATUSES
    default_failure_states = FAILURE_STATUSES
    unknown_is_failure = True


class QingCloudClusterJobSensor(QingCloudClusterJobWaiting, JobSensor):
    """Wait for one or several QingCloud AppCenter cluster jobs (``DescribeClusterJobs``) to succeed.

    Succeeds when every job is ``successful``; fails as soon as any job is ``failed``, with an error naming
    each failed job's ``job_action``, resource ids, ``error_codes`` and its record. ``pending`` and
    ``working`` keep the sensor waiting. A status the API does not document fails at once by default
    (it must not be mistaken for success); ``unknown_is_failure=False`` keeps waiting on it instead.

    :param job_ids: the job id (``j-...``), or a list of them, or a comma-separated string, or a rendered
        list such as ``"['j-a', 'j-b']"`` (templated).
    :param app: the application id (``app-...``) the jobs belong to (templated); or ``cluster``.
    :param cluster: a cluster id (``cl-...``), instead of ``app`` (templated).
    :param zone: the zone (templated; default: the connection's).
    :param unknown_is_failure: fail on an undocumented status value (default True).
    :param qingcloud_conn_id: connection of type ``qingcloud`` (default ``qingcloud_default``).

    Plus the shared options of :class:`~airflow_joblogs.sensors.base.JobSensor`: ``success_states``
    (default ``["successful"]``), ``failure_states`` (default ``["failed"]``), ``deferrable``,
    ``stream_logs`` (writes each job's status changes into the task log), ``log_tail_lines``,
    ``poke_interval``, ``timeout``, ``mode``, ``soft_fail``.
    """

    template_fields = ("job_ids", "app", "cluster", "zone", "conn_id")

    def __init__(
        self,
        *,
        job_ids: str | list[str],
        app: str | None = None,
        cluster: str | None = None,
        zone: str | None = None,
        unknown_is_failure: bool = True,
        qingcloud_conn_id: str | None = None,
        success_states: Iterable[str] | None = None,
        failure_states: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            conn_id=kwargs.pop("conn_id", None) or qingcloud_conn_id,
            success_states=success_states,
            failure_states=failure_states,
            **kwargs,
        )
        self.job_ids = job_ids
        self.app = app
        self.cluster = cluster
        self.zone = zone
        self.unknown_is_failure = unknown_is_failure  # type: ignore[misc]  # per-task override of the class default

    def job_ref(self) -> dict[str, Any]:
        return job_ref(self.job_ids, self.app, self.cluster, self.zone)
