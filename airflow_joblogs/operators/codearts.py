"""CodeArts Build log operator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.exceptions import InvalidParameterError, JobLogsError
from airflow_joblogs.hooks.codearts_model import (
    build_ref,
    parameter_list,
    validate_build_no,
    validate_job_id,
)
from airflow_joblogs.models import JobStatus, LogChunk
from airflow_joblogs.operators.base import JobLogOperator
from airflow_joblogs.operators.run import JobRunOperator
from airflow_joblogs.sensors.codearts import CodeArtsBuildWaiting

if TYPE_CHECKING:
    from airflow_joblogs.contract import JobService
    from airflow_joblogs.hooks.codearts import CodeArtsBuildHook
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
        return hook.iter_log_chunks(
            job_ref["job_id"],
            job_ref["build_no"],
            step_id=job_ref.get("step_id"),
            follow=self.follow,
            follow_interval=self.follow_interval,
            follow_timeout=self.follow_timeout,
            whole_lines=self.log_format == "text",
        )


class CodeArtsBuildRunOperator(CodeArtsBuildWaiting, JobRunOperator):
    """Run a CodeArts build task (``POST /v3/jobs/build``, RunJob) and, by default, wait for the build to end.

    :param job_id: the build task id, 32 lower-case letters and digits (templated).
    :param parameters: the task's custom parameters to set for this build, ``{name: value}`` of strings
        (templated); the others keep the task's values.
    :param branch: build this branch (templated; sent as ``scm.branch`` with ``build_type`` ``branch``).
    :param tag: build this tag (templated; ``scm.build_tag``, ``build_type`` ``tag``).
    :param commit_id: build this commit (templated; ``scm.build_commit_id``, ``build_type`` ``commitId``).
        At most one of ``branch``, ``tag`` and ``commit_id``; none builds what the task is configured with.
    :param codearts_build_conn_id: connection of type ``codearts_build`` (default ``codearts_build_default``).

    Plus the options of :class:`~airflow_joblogs.operators.run.JobRunOperator`: ``wait_for_completion``,
    ``deferrable``, ``poll_interval``, ``timeout``, ``cancel_on_kill`` (stops the build:
    ``POST /v3/jobs/{job_id}/{build_no}/stop``; it ends ``ABORTED``), ``reattach``, ``stream_logs``,
    ``success_states``, ``failure_states``, ``log_tail_lines``.

    Returns ``{"job_id", "build_no", "octopus_job_name", "daily_build_number", "console_url", "status",
    "outputs"}``: ``job_id`` and ``build_no`` are what :class:`~airflow_joblogs.sensors.codearts.CodeArtsBuildSensor`
    and :class:`CodeArtsBuildLogOperator` take; ``outputs`` is the ``result`` of
    ``GET /v3/jobs/{job_id}/{build_no}/output-info`` (``package_info``, ``package_infos``, ``image_infos``).
    """

    template_fields = ("job_id", "parameters", "branch", "tag", "commit_id", "conn_id")

    def __init__(
        self,
        *,
        job_id: str,
        parameters: dict[str, str] | None = None,
        branch: str | None = None,
        tag: str | None = None,
        commit_id: str | None = None,
        codearts_build_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=kwargs.pop("conn_id", None) or codearts_build_conn_id, **kwargs)
        self.job_id = job_id
        self.parameters = parameters
        self.branch = branch
        self.tag = tag
        self.commit_id = commit_id

    def _parameters(self) -> list[dict[str, str]] | None:
        if self.parameters is None:
            return None
        if not isinstance(self.parameters, dict):
            raise InvalidParameterError(
                "parameters", f"{type(self.parameters).__name__} is not a dict", "{name: value}"
            )
        return parameter_list(self.parameters)

    def _scm(self) -> dict[str, str] | None:
        given = {
            name: value
            for name, value in (("branch", self.branch), ("tag", self.tag), ("commit_id", self.commit_id))
            if value is not None and value != ""
        }
        for name, value in given.items():
            if not isinstance(value, str) or not value.strip():
                raise InvalidParameterError(name, f"{value!r} is not a non-empty string")
        if len(given) > 1:
            names = sorted(given)
            raise InvalidParameterError(names[1], f"give one of branch, tag and commit_id, not {' and '.join(names)}")
        if "branch" in given:
            return {"branch": given["branch"], "build_type": "branch"}
        if "tag" in given:
            return {"build_tag": given["tag"], "build_type": "tag"}
        if "commit_id" in given:
            return {"build_commit_id": given["commit_id"], "build_type": "commitId"}
        return None

    def validate_start(self) -> None:
        validate_job_id(self.job_id)
        self._parameters()
        self._scm()

    def start_job(self, hook: CodeArtsBuildHook) -> dict[str, Any]:
        answer = hook.run_job(validate_job_id(self.job_id), parameters=self._parameters(), scm=self._scm())
        try:
            ref = build_ref(self.job_id, answer.get("actual_build_number"))
        except InvalidParameterError:
            raise JobLogsError(
                f"the service started no build it names (actual_build_number {answer.get('actual_build_number')!r})",
                service=self.service_name,
            ) from None
        return {
            "job_ref": ref,
            **ref,
            "octopus_job_name": answer.get("octopus_job_name"),
            "daily_build_number": answer.get("daily_build_number"),
        }

    def job_outputs(self, hook: CodeArtsBuildHook, ref: dict[str, Any], status: JobStatus) -> dict[str, Any]:
        return hook.get_build_outputs(ref["job_id"], validate_build_no(ref["build_no"]))
