"""CodeArts Build trigger: the shared trigger loop bound to :class:`CodeArtsBuildHook`."""

from __future__ import annotations

from airflow_joblogs.triggers.base import JobTrigger


class CodeArtsBuildTrigger(JobTrigger):
    """Poll a CodeArts build from the triggerer until it succeeds, fails or the deadline passes.

    ``job_ref`` is ``{"job_id", "build_no"}``; the log cursor is ``{"offset", "carried"}``. See :class:`JobTrigger`.
    """

    hook_class_path = "airflow_joblogs.hooks.codearts.CodeArtsBuildHook"
