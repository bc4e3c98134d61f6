"""AWS MGN trigger: the shared trigger loop bound to :class:`~airflow_joblogs.hooks.mgn.MgnHook`."""

from __future__ import annotations

from airflow_joblogs.triggers.base import JobTrigger


class MgnJobTrigger(JobTrigger):
    """Poll an MGN job from the triggerer until it succeeds, fails or the deadline passes.

    ``job_ref`` is ``{"job_id", "account_id"?, "require_post_launch_success"}``; ``conn_id`` is the ``aws``
    connection. The hook's aiobotocore client (connection lookup and client creation in a worker thread) is
    shared by the triggers of the event loop that use the same connection; see :class:`JobTrigger`.
    """

    hook_class_path = "airflow_joblogs.hooks.mgn.MgnHook"
