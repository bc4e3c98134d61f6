"""BlueKing JOB trigger: the shared trigger loop bound to :class:`BlueKingJobHook`."""

from __future__ import annotations

from airflow_joblogs.triggers.base import JobTrigger


class BlueKingJobTrigger(JobTrigger):
    """Poll a BlueKing job from the triggerer until it succeeds, fails or the deadline passes.

    ``job_ref`` is ``{"job_instance_id", "bk_scope_type", "bk_scope_id"}``; see :class:`JobTrigger`.
    """

    hook_class_path = "airflow_joblogs.hooks.blueking.BlueKingJobHook"
