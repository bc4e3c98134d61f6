"""CodeArts Build sensor."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.hooks.codearts_model import (
    BUILD_RESULTS,
    FAILURE_RESULTS,
    SUCCESS_RESULTS,
    build_ref,
)
from airflow_joblogs.sensors.base import JobSensor
from airflow_joblogs.waiting import JobWaitMixin

if TYPE_CHECKING:
    from airflow_joblogs.contract import JobService
    from airflow_joblogs.triggers.base import JobTrigger


class CodeArtsBuildWaiting(JobWaitMixin):
    """What waiting on a CodeArts build needs, for the sensor and the run operator alike: the hook, the trigger and
    the build results."""

    hook_class: ClassVar[LazyClass[JobService]] = LazyClass("airflow_joblogs.hooks.codearts.CodeArtsBuildHook")
    trigger_class: ClassVar[LazyClass[JobTrigger]] = LazyClass("airflow_joblogs.triggers.codearts.CodeArtsBuildTrigger")
    service_name = "CodeArts Build"
    known_states = BUILD_RESULTS
    default_success_states = SUCCESS_RESULTS
    default_failure_states = FAILURE_RESULTS


class CodeArtsBuildSensor(CodeArtsBuildWaiting, JobSensor):
    """Wait for a CodeArts build to succeed.

    The status is the ``build_result`` of ``GET /v1/job/{job_id}/{build_no}/build-info`` (``RUNNING``
    while ``building`` is true, ``PENDING`` before a result exists). Succeeds on ``SUCCESS``; fails on
    ``FAILURE``, ``ABORTED`` and ``timeout`` with an error naming the failed build action (from the
    build record's stages) and the last lines of its log. Any other value keeps the sensor waiting and
    is logged; ``UNSTABLE`` and ``NOT_BUILT`` (results the Jenkins-based builder can pass through) may be
    added to either set.

    :param job_id: the build task id, 32 lower-case letters and digits (templated).
    :param build_no: the build number, >= 1 (templated).
    :param codearts_build_conn_id: connection of type ``codearts_build`` (default ``codearts_build_default``).

    Plus the shared options of :class:`~airflow_joblogs.sensors.base.JobSensor`: ``success_states``,
    ``failure_states``, ``deferrable``, ``stream_logs`` (the build's new log lines go into the task log
    while waiting), ``log_tail_lines``, ``poke_interval``, ``timeout``, ``mode``, ``soft_fail``.
    """

    template_fields = ("job_id", "build_no", "conn_id")

    def __init__(
        self,
        *,
        job_id: str,
        build_no: int | str,
        codearts_build_conn_id: str | None = None,
        success_states: Iterable[str] | None = None,
        failure_states: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            conn_id=kwargs.pop("conn_id", None) or codearts_build_conn_id,
            success_states=success_states,
            failure_states=failure_states,
            **kwargs,
        )
        self.job_id = job_id
        self.build_no = build_no

    def job_ref(self) -> dict[str, Any]:
        return build_ref(self.job_id, self.build_no)
