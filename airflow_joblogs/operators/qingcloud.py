"""QingCloud AppCenter cluster jobs export operator."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.archive import safe_name
from airflow_joblogs.hooks.qingcloud import (
    MAX_LIMIT,
    QingCloudHook,
    cluster_jobs_query,
    validate_job_ids,
    validate_paging,
)
from airflow_joblogs.models import LogChunk
from airflow_joblogs.operators.base import JobLogOperator

if TYPE_CHECKING:
    from airflow_joblogs.contract import JobService


class QingCloudClusterJobsOperator(JobLogOperator):
    """Export an application's (or a cluster's) job records, all pages; returns the manifest.

    Cluster jobs are operation records, not program output, so the "log" is the list of records (newest
    first, as the API returns them). ``jsonl`` writes each record unchanged except ``directive``, which is
    decoded from its JSON string into an object; ``text`` writes one readable line per job:
    ``create_time  job_action  status  resource_ids  error_codes`` (an empty field shows as ``-``).

    :param app: the application id (``app-...``) (templated); or ``cluster``.
    :param cluster: a cluster id (``cl-...``) (templated).
    :param job_ids: only these job ids (a list or a comma-separated string; templated).
    :param status: only these statuses (``pending``, ``working``, ``successful``, ``failed``; templated).
    :param zone: the zone (templated; default: the connection's).
    :param max_records: stop after this many records (the most recent ones); default: all.
    :param page_size: records per ``DescribeClusterJobs`` call, 1 to 100.
    :param qingcloud_conn_id: connection of type ``qingcloud`` (default ``qingcloud_default``).

    Plus the archive options of :class:`~airflow_joblogs.operators.base.JobLogOperator`: ``destination``,
    ``log_format``, ``compression``, ``max_xcom_bytes``, ``overwrite``, ``if_unfinished``.
    """

    template_fields = ("app", "cluster", "job_ids", "status", "zone", "conn_id", "destination")
    hook_class: ClassVar[LazyClass[JobService]] = LazyClass("airflow_joblogs.hooks.qingcloud.QingCloudHook")
    service_name = "QingCloud"

    def __init__(
        self,
        *,
        app: str | None = None,
        cluster: str | None = None,
        job_ids: str | list[str] | None = None,
        status: str | list[str] | None = None,
        zone: str | None = None,
        max_records: int | None = None,
        page_size: int = MAX_LIMIT,
        qingcloud_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=kwargs.pop("conn_id", None) or qingcloud_conn_id, **kwargs)
        self.app = app
        self.cluster = cluster
        self.job_ids = job_ids
        self.status = status
        self.zone = zone
        self.page_size, self.max_records = validate_paging(page_size, max_records)

    def job_ref(self) -> dict[str, Any]:
        jobs = validate_job_ids(self.job_ids, "job_ids")  # errors name this operator's parameter
        return cluster_jobs_query(self.app, self.cluster, jobs, self.status, self.zone)

    def status_ref(self, job_ref: dict[str, Any]) -> dict[str, Any] | None:
        """With ``job_ids``, those jobs (the export is unfinished while one of them is); else None: an
        application's or cluster's job history has no end to wait for."""
        if not job_ref.get("jobs"):
            return None
        return {key: job_ref[key] for key in ("jobs", "app", "cluster", "zone") if key in job_ref}

    def archive_name(self, job_ref: dict[str, Any]) -> str:
        scope = job_ref.get("app") or job_ref.get("cluster")
        parts = ["qingcloud", str(scope), "jobs"]
        if job_ref.get("status"):
            parts.append("-".join(job_ref["status"]))
        return safe_name("-".join(parts))

    def log_chunks(self, hook: QingCloudHook, job_ref: dict[str, Any]) -> Iterable[LogChunk]:
        return hook.iter_cluster_job_chunks(
            app=job_ref.get("app"),
            cluster=job_ref.get("cluster"),
            jobs=job_ref.get("jobs"),
            status=job_ref.get("status"),
            zone=job_ref.get("zone"),
            page_size=self.page_size,
            max_records=self.max_records,
        )
