"""CodeArts Build log operator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.hooks.codearts import CodeArtsBuildHook, build_ref
from airflow_joblogs.models import LogChunk
from airflow_joblogs.operators.base import JobLogOperator

if TYPE_CHECKING:
    from airflow_joblogs.contract import JobService
from airflow_joblogs.validation import as_number, require_bool


class CodeArtsBuildLogOperator(JobLogOperator):
    """Archive a CodeArts build's run log (or one build action's, with ``step_id``); returns the manifest.

    The log is paged from offset 0 with the real-time log APIs (``/v1/log/{job_id}/{build_no}/real-time-log``,
    or ``/v1/log/task/step`` for one action). ``text`` writes the log exactly as the service serves it
    (pages are joined at line boundaries); ``jsonl`` writes one record per page with the answer's fields
    unchanged (``start_offset``, ``end_offset``, ``log``, ``has_more``, ``location``) plus ``job_id``,
    ``build_no`` and ``step_id``. The manifest's ``cursor`` holds the final offsets
    (``{"start_offset": 0, "end_offset": N}``): pass ``end_offset`` to a later read to continue.

    :param job_id: the build task id, 32 lower-case letters and digits (templated).
    :param build_no: the build number, >= 1 (templated).
    :param step_id: a build action id to archive only that action's log (templated).
    :param follow: archive a build that is still running: keep reading until it has finished, then
        drain the rest (checks every ``follow_interval`` seconds, gives up after ``follow_timeout``).
    :param codearts_build_conn_id: connection of type ``codearts_build`` (default ``codearts_build_default``).

    Plus the archive options of :class:`~airflow_joblogs.operators.base.JobLogOperator`: ``destination``,
    ``log_format``, ``compression``, ``max_xcom_bytes``, ``overwrite``, ``if_unfinished``.
    """

    template_fields = ("job_id", "build_no", "step_id", "conn_id", "destination")
    hook_class: ClassVar[LazyClass[JobService]] = LazyClass("airflow_joblogs.hooks.codearts.CodeArtsBuildHook")
    service_name = "CodeArts Build"

    def __init__(
        self,
        *,
        job_id: str,
        build_no: int | str,
        step_id: int | str | None = None,
        follow: bool = False,
        follow_interval: float = 10.0,
        follow_timeout: float = 24 * 3600.0,
        codearts_build_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=kwargs.pop("conn_id", None) or codearts_build_conn_id, **kwargs)
        self.job_id = job_id
        self.build_no = build_no
        self.step_id = step_id
        self.follow = require_bool(follow, "follow")
        self.follow_interval = as_number(follow_interval, "follow_interval")
        self.follow_timeout = as_number(follow_timeout, "follow_timeout")

    def job_ref(self) -> dict[str, Any]:
        return build_ref(self.job_id, self.build_no, self.step_id)

    def status_ref(self, job_ref: dict[str, Any]) -> dict[str, Any]:
        return {"job_id": job_ref["job_id"], "build_no": job_ref["build_no"]}  # the build's, also for one action

    @property
    def follows_to_end(self) -> bool:
        return self.follow

    def archive_name(self, job_ref: dict[str, Any]) -> str:
        name = f"codearts-{job_ref['job_id']}-{job_ref['build_no']}"
        return name + (f"-step{job_ref['step_id']}" if "step_id" in job_ref else "")

    def log_chunks(self, hook: CodeArtsBuildHook, job_ref: dict[str, Any]) -> Iterable[LogChunk]:
        return hook.iter_build_log(
            job_ref["job_id"],
            job_ref["build_no"],
            step_id=job_ref.get("step_id"),
            follow=self.follow,
            follow_interval=self.follow_interval,
            follow_timeout=self.follow_timeout,
            whole_lines=self.log_format == "text",
        )
