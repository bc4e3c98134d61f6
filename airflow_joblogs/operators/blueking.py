"""BlueKing JOB log operator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.hooks.blueking_model import (
    DEFAULT_LOG_CONCURRENCY,
    global_var_list,
    job_ref,
    positive_int,
    scope,
    script_fields,
    validate_concurrency,
    validate_target_server,
)
from airflow_joblogs.models import JobStatus, LogChunk
from airflow_joblogs.operators.base import JobLogOperator
from airflow_joblogs.operators.run import JobRunOperator
from airflow_joblogs.sensors.blueking import BlueKingJobWaiting

if TYPE_CHECKING:
    from airflow_joblogs.contract import JobService
    from airflow_joblogs.hooks.blueking import BlueKingJobHook


class BlueKingJobLogOperator(JobLogOperator):
    """Archive every step's and host's log of a BlueKing JOB job instance; returns the manifest.

    ``text`` writes a header line per step and host (step name and status, host ip, ``ip_status`` and its
    meaning, exit code) followed by the host's log. ``jsonl`` writes one record per host log with all the
    fields of ``get_job_instance_log`` (step ``is_finished``/``step_instance_id``/``name``/``status``,
    ``ip_status``, ``tag`` and the ``ip_logs`` fields) whichever API style the connection uses.

    :param job_instance_id: the job instance id (templated).
    :param bk_biz_id: the business id (templated); or ``bk_scope_type`` + ``bk_scope_id``.
    :param bk_scope_type: ``biz`` or ``biz_set`` (gateway v3).
    :param bk_scope_id: the scope id (templated).
    :param concurrency: gateway v3 batch requests in flight at once (1 to 16; 1 asks one batch at a time).
        Batches are sized so the logs held in memory stay about the same whatever the concurrency.
    :param bk_job_conn_id: connection of type ``bk_job`` (default ``bk_job_default``).

    Plus the archive options of :class:`~airflow_joblogs.operators.base.JobLogOperator`: ``destination``,
    ``log_format``, ``compression``, ``max_xcom_bytes``, ``overwrite``, ``if_unfinished``.
    """

    template_fields = ("job_instance_id", "bk_biz_id", "bk_scope_type", "bk_scope_id", "conn_id", "destination")
    hook_class: ClassVar[LazyClass[JobService]] = LazyClass("airflow_joblogs.hooks.blueking.BlueKingJobHook")
    service_name = "BlueKing JOB"

    def __init__(
        self,
        *,
        job_instance_id: int | str,
        bk_biz_id: int | str | None = None,
        bk_scope_type: str | None = None,
        bk_scope_id: int | str | None = None,
        concurrency: int = DEFAULT_LOG_CONCURRENCY,
        bk_job_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=kwargs.pop("conn_id", None) or bk_job_conn_id, **kwargs)
        self.concurrency = validate_concurrency(concurrency)
        self.job_instance_id = job_instance_id
        self.bk_biz_id = bk_biz_id
        self.bk_scope_type = bk_scope_type
        self.bk_scope_id = bk_scope_id

    def job_ref(self) -> dict[str, Any]:
        return job_ref(self.job_instance_id, self.bk_biz_id, self.bk_scope_type, self.bk_scope_id)

    def archive_name(self, job_ref: dict[str, Any]) -> str:
        return f"bk_job-{job_ref['bk_scope_type']}{job_ref['bk_scope_id']}-{job_ref['job_instance_id']}"

    def log_chunks(self, hook: BlueKingJobHook, job_ref: dict[str, Any]) -> Iterable[LogChunk]:
        return hook.iter_log_chunks(
            job_ref["job_instance_id"],
            bk_scope_type=job_ref["bk_scope_type"],
            bk_scope_id=job_ref["bk_scope_id"],
            concurrency=self.concurrency,
        )


class _BlueKingRunOperator(BlueKingJobWaiting, JobRunOperator):
    """What the BlueKing JOB run operators share: the business, the statuses, the result's identifiers."""

    def __init__(
        self,
        *,
        bk_biz_id: int | str | None = None,
        bk_scope_type: str | None = None,
        bk_scope_id: int | str | None = None,
        bk_job_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=kwargs.pop("conn_id", None) or bk_job_conn_id, **kwargs)
        self.bk_biz_id = bk_biz_id
        self.bk_scope_type = bk_scope_type
        self.bk_scope_id = bk_scope_id

    def scope(self) -> dict[str, Any]:
        return scope(self.bk_biz_id, self.bk_scope_type, self.bk_scope_id)

    def started(self, data: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """The start answer's ``data`` as the run's identifiers (``bk_biz_id`` too for a business, so the result
        plugs into the sensor and the log operator)."""
        where = self.scope()
        ref = job_ref(data.get("job_instance_id"), None, where["bk_scope_type"], where["bk_scope_id"])
        identifiers: dict[str, Any] = {
            "job_instance_id": ref["job_instance_id"],
            "job_instance_name": data.get("job_instance_name"),
            **where,
        }
        if where["bk_scope_type"] == "biz":
            identifiers["bk_biz_id"] = int(where["bk_scope_id"])
        return {"job_ref": ref, **identifiers, **extra}


class BlueKingExecuteJobPlanOperator(_BlueKingRunOperator):
    """Start a BlueKing JOB job plan (gateway v3 ``execute_job_plan``) and, by default, wait for it to end.

    :param job_plan_id: the job plan (execution scheme) id (templated).
    :param global_vars: the plan's global variables to set, ``{name: value}`` of strings (templated); the others
        keep the plan's values.
    :param bk_biz_id: the business id (templated); or ``bk_scope_type`` + ``bk_scope_id``.
    :param bk_job_conn_id: connection of type ``bk_job`` (default ``bk_job_default``); gateway v3 only.

    Plus the options of :class:`~airflow_joblogs.operators.run.JobRunOperator`: ``wait_for_completion``,
    ``deferrable``, ``poll_interval``, ``timeout``, ``cancel_on_kill`` (terminates the job:
    ``operate_job_instance`` with ``operation_code`` 1), ``reattach``, ``stream_logs``, ``success_states``,
    ``failure_states``, ``log_tail_lines``.

    Returns ``{"job_instance_id", "job_instance_name", "bk_scope_type", "bk_scope_id", "bk_biz_id", "console_url",
    "status", "outputs": {"global_vars": {name: value}}}`` (the variables' values after the job, from
    ``get_job_instance_global_var_value``).
    """

    template_fields = ("job_plan_id", "global_vars", "bk_biz_id", "bk_scope_type", "bk_scope_id", "conn_id")

    def __init__(self, *, job_plan_id: int | str, global_vars: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job_plan_id = job_plan_id
        self.global_vars = global_vars

    def validate_start(self) -> None:
        positive_int(self.job_plan_id, "job_plan_id")
        self.scope()
        if self.global_vars is not None:
            global_var_list(self.global_vars)

    def start_job(self, hook: BlueKingJobHook) -> dict[str, Any]:
        body = hook.execute_job_plan(
            positive_int(self.job_plan_id, "job_plan_id"),
            **self.scope(),
            global_var_list=None if self.global_vars is None else global_var_list(self.global_vars),
        )
        return self.started(body.get("data") or {}, job_plan_id=positive_int(self.job_plan_id, "job_plan_id"))

    def job_outputs(self, hook: BlueKingJobHook, ref: dict[str, Any], status: JobStatus) -> dict[str, Any]:
        return {"global_vars": hook.global_vars(ref)}


class BlueKingFastExecuteScriptOperator(_BlueKingRunOperator):
    """Run a script on hosts with BlueKing JOB (gateway v3 ``fast_execute_script``) and, by default, wait for it.

    :param target_server: the hosts, ``{"host_id_list": [...]}`` (or ``ip_list``, ``dynamic_group_list``,
        ``topo_node_list``) (templated).
    :param script_content: the script's text (templated; sent Base64-encoded); or ``script_id`` (its online
        version) or ``script_version_id``.
    :param script_language: 1 shell (default), 2 bat, 3 Perl, 4 Python, 5 PowerShell.
    :param script_param: the script's parameters as one string (templated; sent Base64-encoded).
    :param is_param_sensitive: hide the parameters on the execution page.
    :param account_alias: the execution account's alias (default ``root``); or ``account_id``.
    :param script_timeout: the script's own timeout in seconds on the hosts (1 to 86400; JOB's default 7200).
    :param task_name: the job's name (default: JOB's generated one).
    :param bk_biz_id: the business id (templated); or ``bk_scope_type`` + ``bk_scope_id``.
    :param bk_job_conn_id: connection of type ``bk_job`` (default ``bk_job_default``); gateway v3 only.

    Plus the options of :class:`~airflow_joblogs.operators.run.JobRunOperator`. Returns the identifiers (with
    ``step_instance_id``), ``console_url`` and ``status``.
    """

    template_fields = (
        "target_server",
        "script_content",
        "script_id",
        "script_version_id",
        "script_param",
        "task_name",
        "bk_biz_id",
        "bk_scope_type",
        "bk_scope_id",
        "conn_id",
    )
    template_fields_renderers = {"script_content": "bash"}

    def __init__(
        self,
        *,
        target_server: dict[str, Any],
        script_content: str | None = None,
        script_id: str | None = None,
        script_version_id: int | str | None = None,
        script_language: int = 1,
        script_param: str | None = None,
        is_param_sensitive: bool = False,
        account_alias: str | None = "root",
        account_id: int | None = None,
        script_timeout: int | None = None,
        task_name: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.target_server = target_server
        self.script_content = script_content
        self.script_id = script_id
        self.script_version_id = script_version_id
        self.script_language = script_language
        self.script_param = script_param
        self.is_param_sensitive = is_param_sensitive
        self.account_alias = account_alias
        self.account_id = account_id
        self.script_timeout = script_timeout
        self.task_name = task_name

    def _script_args(self) -> dict[str, Any]:
        """The script's arguments, as :func:`script_fields` and :meth:`BlueKingJobHook.fast_execute_script` take
        them."""
        return {
            "script_content": self.script_content,
            "script_id": self.script_id,
            "script_version_id": self.script_version_id,
            "script_language": self.script_language,
            "script_param": self.script_param,
            "is_param_sensitive": self.is_param_sensitive,
            "timeout": self.script_timeout,
            "account_alias": self.account_alias,
            "account_id": self.account_id,
        }

    def validate_start(self) -> None:
        self.scope()
        script_fields(**self._script_args())
        validate_target_server(self.target_server)

    def start_job(self, hook: BlueKingJobHook) -> dict[str, Any]:
        body = hook.fast_execute_script(
            target_server=self.target_server, **self.scope(), task_name=self.task_name, **self._script_args()
        )
        data = body.get("data") or {}
        return self.started(data, step_instance_id=data.get("step_instance_id"))
