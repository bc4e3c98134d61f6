"""BlueKing JOB log operator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.hooks.blueking import DEFAULT_LOG_CONCURRENCY, BlueKingJobHook, job_ref, validate_concurrency
from airflow_joblogs.models import LogChunk
from airflow_joblogs.operators.base import JobLogOperator

if TYPE_CHECKING:
    from airflow_joblogs.contract import JobService


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
        return hook.iter_host_logs(
            job_ref["job_instance_id"],
            bk_scope_type=job_ref["bk_scope_type"],
            bk_scope_id=job_ref["bk_scope_id"],
            concurrency=self.concurrency,
        )
