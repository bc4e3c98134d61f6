"""QingCloud cluster job trigger: the shared trigger loop bound to :class:`QingCloudHook`."""

from __future__ import annotations

from airflow_joblogs.triggers.base import JobTrigger


class QingCloudClusterJobTrigger(JobTrigger):
    """Poll one or several QingCloud cluster jobs from the triggerer until they succeed, fail or the deadline passes.

    ``job_ref`` is ``{"jobs": [job ids], "app" or "cluster": ..., "zone"?}``; see :class:`JobTrigger`.
    """

    hook_class_path = "airflow_joblogs.hooks.qingcloud.QingCloudHook"
