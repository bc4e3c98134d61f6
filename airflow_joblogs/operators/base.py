"""The one log operator every service shares: fetch all log chunks and stream them into the archive sink."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_joblogs.archive import DEFAULT_MAX_XCOM_BYTES, archive_chunks, validate_archive_options
from airflow_joblogs.hooks.base import JobLogsHook
from airflow_joblogs.models import LogChunk


class JobLogOperator(BaseOperator):
    """Archive a remote job's log to XCom or object storage; returns the manifest.

    :param conn_id: the service connection.
    :param destination: None (the log, capped at ``max_xcom_bytes``, goes into the returned manifest), or
        an ``ObjectStoragePath`` / URL / absolute path (templated), e.g.
        ``s3://aws_default@bucket/deploys/{{ ds }}/``. A value ending in ``/`` is a folder: the file
        name is derived from the job. Written under a temporary name and moved into place when complete.
    :param log_format: ``text`` (readable, with headers) or ``jsonl`` (one record per log unit, the
        service's fields unchanged).
    :param compression: None or ``gzip``.
    :param max_xcom_bytes: cap for the XCom copy; a visible marker says what was cut.
    :param overwrite: replace an existing object at the final path with different content
        (otherwise the task fails, unless the existing object is byte-identical).
    """

    hook_class: ClassVar[type[JobLogsHook]]
    service_name: ClassVar[str] = ""
    template_fields: Any = ("conn_id", "destination")
    ui_color = "#fdf3e8"

    def __init__(
        self,
        *,
        conn_id: str | None = None,
        destination: Any = None,
        log_format: str = "text",
        compression: str | None = None,
        max_xcom_bytes: int = DEFAULT_MAX_XCOM_BYTES,
        overwrite: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        validate_archive_options(log_format, compression, max_xcom_bytes)
        self.conn_id = conn_id or self.hook_class.default_conn_name
        self.destination = destination
        self.log_format = log_format
        self.compression = compression
        self.max_xcom_bytes = max_xcom_bytes
        self.overwrite = overwrite

    # -- subclasses -------------------------------------------------------------------------------------
    def job_ref(self) -> dict[str, Any]:
        """The rendered, validated job identifiers (raises before any network call)."""
        raise NotImplementedError

    def archive_name(self, job_ref: dict[str, Any]) -> str:
        """The file name (without extension) used when ``destination`` is a folder."""
        raise NotImplementedError

    def log_chunks(self, hook: Any, job_ref: dict[str, Any]) -> Iterable[LogChunk]:
        raise NotImplementedError

    # -- shared -----------------------------------------------------------------------------------------
    def execute(self, context: Any) -> dict[str, Any]:
        ref = self.job_ref()
        hook = self.hook_class(conn_id=self.conn_id)
        with hook:
            manifest = archive_chunks(
                self.log_chunks(hook, ref),
                destination=self.destination or None,
                default_name=self.archive_name(ref),
                log_format=self.log_format,
                compression=self.compression,
                max_xcom_bytes=self.max_xcom_bytes,
                overwrite=self.overwrite,
                job=ref,
                service=self.service_name,
            )
        where = manifest["uri"] or "XCom"
        self.log.info(
            "Archived %s log: %d bytes, %d lines, sha256 %s -> %s%s",
            self.service_name,
            manifest["bytes"],
            manifest["lines"],
            manifest["sha256"],
            where,
            " (truncated to max_xcom_bytes)" if manifest.get("truncated") else "",
        )
        return manifest
