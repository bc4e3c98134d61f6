"""AWS Application Migration Service (MGN) job log operator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.hooks.mgn_model import DEFAULT_CONN_ID, job_ref, require_amazon_provider, validate_max_results
from airflow_joblogs.models import LogChunk
from airflow_joblogs.operators.base import JobLogOperator

if TYPE_CHECKING:
    from airflow_joblogs.contract import JobService
from airflow_joblogs.validation import require_bool

if TYPE_CHECKING:
    from airflow_joblogs.hooks.mgn import MgnHook

require_amazon_provider()


class MgnJobLogOperator(JobLogOperator):
    """Archive every log item of an MGN job (``DescribeJobLogItems``, all pages); returns the manifest.

    ``jsonl`` writes the items exactly as MGN returns them, one per line (``logDateTime``, ``event``,
    ``eventData`` with ``sourceServerID``, ``conversionServerID``, ``targetInstanceID``, ``rawError``,
    ``attemptCount``, ``maxAttemptsCount``). ``text`` writes one readable line per item::

        2026-11-22T10:08:22.110Z  CONVERSION_FAIL  s-5e7a100000000000c  attempt 3/3  conversion server i-0c0e7...  Conversion failed: ...

    (``rawError`` whole, even when it spans several lines). ``group_by_server=True`` puts the job's own events
    (JOB_START, JOB_END, JOB_CANCEL) first, then each source server's events under a header line (text) or
    together (jsonl); this holds the job's items in memory, which MGN's short job logs allow.

    :param job_id: the MGN job id, ``mgnjob-`` + 17 letters or digits (templated).
    :param account_id: the 12-digit account that owns the job, for cross-account access (templated).
    :param group_by_server: group the items by ``sourceServerID`` instead of log order.
    :param max_results: items per ``DescribeJobLogItems`` call, 1-1000 (default 1000).
    :param aws_conn_id: the ``aws`` connection (default ``aws_default``).

    Plus the archive options of :class:`~airflow_joblogs.operators.base.JobLogOperator`: ``destination``,
    ``log_format``, ``compression``, ``max_xcom_bytes``, ``overwrite``, ``if_unfinished``.
    """

    template_fields = ("job_id", "account_id", "conn_id", "destination")
    #: the same normalized interface, over boto3; imported when the task runs, so parsing a DAG file does not
    #: load botocore
    hook_class: ClassVar[LazyClass[JobService]] = LazyClass("airflow_joblogs.hooks.mgn.MgnHook")
    service_name = "AWS MGN"

    def __init__(
        self,
        *,
        job_id: str,
        account_id: str | None = None,
        group_by_server: bool = False,
        max_results: int = 1000,
        aws_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=kwargs.pop("conn_id", None) or aws_conn_id or DEFAULT_CONN_ID, **kwargs)
        self.group_by_server = require_bool(group_by_server, "group_by_server")
        self.job_id = job_id
        self.account_id = account_id
        self.max_results = validate_max_results(max_results)

    def job_ref(self) -> dict[str, Any]:
        ref = job_ref(self.job_id, self.account_id)
        ref.pop("require_post_launch_success")
        return ref

    def status_ref(self, job_ref: dict[str, Any]) -> dict[str, Any]:
        return {**job_ref, "require_post_launch_success": False}

    def archive_name(self, job_ref: dict[str, Any]) -> str:
        return f"mgn-{job_ref['job_id']}"

    def log_chunks(self, hook: MgnHook, job_ref: dict[str, Any]) -> Iterable[LogChunk]:
        return hook.iter_log_chunks(
            job_ref["job_id"],
            job_ref.get("account_id"),
            group_by_server=self.group_by_server,
            max_results=self.max_results,
        )
