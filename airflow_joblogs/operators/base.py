"""The one log operator every service shares: fetch all log chunks and stream them into the archive sink."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any, ClassVar

from airflow.providers.common.compat.sdk import BaseOperator

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.archive import (
    DEFAULT_MAX_XCOM_BYTES,
    archive_chunks,
    check_store,
    destination_url,
    object_uri,
    resolve_destination,
    validate_archive_options,
)
from airflow_joblogs.contract import JobService
from airflow_joblogs.exceptions import InvalidParameterError, JobNotFinishedError
from airflow_joblogs.log_rules import LogMatcher, check_patterns
from airflow_joblogs.models import JobState, JobStatus, LogChunk
from airflow_joblogs.redaction import Redactor
from airflow_joblogs.validation import as_number, one_of, require_bool

#: what a log operator does when the job has not finished yet
IF_UNFINISHED = ("fail", "warn", "wait")
#: what the manifest keeps of the lines ``log_patterns`` matched: units per pattern, lines per unit
LOG_PATTERN_UNITS = 50
LOG_PATTERN_LINES_PER_UNIT = 5


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
    :param if_unfinished: what to do when the job has not finished when the task runs (its log is not
        complete yet): ``"fail"`` (the default: no partial archive, nothing overwritten; a retry may find
        the job finished), ``"warn"`` (archive the log written so far and say so in the task log), or
        ``"wait"`` (check the job every ``wait_interval`` seconds until it ends, at most ``wait_timeout``
        seconds, then archive the whole log; a ``destination`` whose bucket or connection does not exist
        fails before the wait). The manifest's ``job_status`` records the job's status at archive time.
    :param wait_interval: seconds between checks with ``if_unfinished="wait"`` (default 30).
    :param wait_timeout: give up waiting after this many seconds (default 24 hours).
    :param log_patterns: regular expressions checked (``re.search``) against every line of the archived log.
        The manifest's ``log_patterns`` maps each pattern to ``{"count": matching lines, "units": {unit: [first
        matching lines]}}`` (a unit is a host, step, server ...: the chunk's header; at most 50 units per
        pattern and 5 lines per unit are kept, every line is counted), so a downstream task or branch can act.
    :param redact: remove secrets from the archived log (``text`` and ``jsonl``, and the XCom copy): every
        secret Airflow's secrets masker knows in the task (connection passwords, sensitive extras and
        variables, values given to ``mask_secret``), and the matches of ``redact_patterns``, are replaced by
        ``***``. The manifest records ``redacted: true`` and ``redactions`` (how many replacements); its sizes
        and checksums are of what was written. Off by default.
    :param redact_patterns: regular expressions whose matches are redacted too (with ``redact=True``).

    Assets: with ``outlets=[Asset(...)]``, the asset event the task emits carries the manifest (without the
    XCom copy of the log, ``content``) in its ``extra``, so a DAG scheduled on the asset finds the archive's
    ``uri``, ``sha256`` and ``job`` in ``triggering_asset_events`` (see :ref:`concepts-assets`).

    Lineage: Airflow's hook lineage records the archive (``scheme://bucket/key``) as the task's output, and
    with ``apache-airflow-providers-openlineage`` installed, :meth:`get_openlineage_facets_on_complete`
    describes it to OpenLineage (see :ref:`concepts-lineage`).
    """

    #: the service's hook, imported when the task runs
    hook_class: ClassVar[LazyClass[JobService]]
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
        if_unfinished: str = "fail",
        wait_interval: float = 30.0,
        wait_timeout: float = 24 * 3600.0,
        log_patterns: Iterable[str] | None = None,
        redact: bool = False,
        redact_patterns: Iterable[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        validate_archive_options(log_format, compression, max_xcom_bytes)
        self.conn_id = conn_id or self.hook_class.default_conn_name
        self.destination = destination
        self.log_format = log_format
        self.compression = compression
        self.max_xcom_bytes = max_xcom_bytes
        self.overwrite = require_bool(overwrite, "overwrite")
        self.if_unfinished = one_of(if_unfinished, "if_unfinished", IF_UNFINISHED)
        self.wait_interval = as_number(wait_interval, "wait_interval")
        self.wait_timeout = as_number(wait_timeout, "wait_timeout")
        self.log_patterns = check_patterns(log_patterns, "log_patterns")
        self.redact = require_bool(redact, "redact")
        self.redact_patterns = check_patterns(redact_patterns, "redact_patterns", may_match_empty=False)
        if self.redact_patterns and not self.redact:
            raise InvalidParameterError("redact_patterns", "is used only with redact=True; set redact=True")
        self._manifest: dict[str, Any] | None = None
        self._remote_job_id: str | None = None

    # -- subclasses -------------------------------------------------------------------------------------
    def job_ref(self) -> dict[str, Any]:
        """The rendered, validated job identifiers (raises before any network call)."""
        raise NotImplementedError

    def archive_name(self, job_ref: dict[str, Any]) -> str:
        """The file name (without extension) used when ``destination`` is a folder."""
        raise NotImplementedError

    def log_chunks(self, hook: Any, job_ref: dict[str, Any]) -> Iterable[LogChunk]:
        raise NotImplementedError

    def status_ref(self, job_ref: dict[str, Any]) -> dict[str, Any] | None:
        """The reference the hook's ``job_status_from_ref`` takes for this archive's job (None: the archive
        is not of one job, e.g. a history of records, and has no "unfinished")."""
        return job_ref

    @property
    def follows_to_end(self) -> bool:
        """Whether :meth:`log_chunks` itself reads until the job has ended (then no check is needed first)."""
        return False

    # -- shared -----------------------------------------------------------------------------------------
    def execute(self, context: Any) -> dict[str, Any]:
        ref = self.job_ref()
        if isinstance(self.destination, str) and self.destination:
            destination_url(self.destination)  # a bad destination fails before any request
        if self.destination and self.if_unfinished == "wait":
            # a missing bucket or connection fails now, not after waiting (maybe hours) for the job to end
            check_store(resolve_destination(self.destination, self.archive_name(ref)))
        hook = self.hook_class(conn_id=self.conn_id)
        with hook:
            status_ref = self.status_ref(ref)
            status = None
            if status_ref is not None and not self.follows_to_end:
                status = self._status_before_archiving(hook, status_ref)
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
                matcher=LogMatcher(
                    self.log_patterns, max_units=LOG_PATTERN_UNITS, max_lines_per_unit=LOG_PATTERN_LINES_PER_UNIT
                )
                if self.log_patterns
                else None,
                redactor=Redactor(self.redact_patterns) if self.redact else None,
            )
            if status_ref is not None and self.follows_to_end:
                status = hook.job_status_from_ref(status_ref)
        self._remote_job_id = status.job_id if status is not None else "/".join(str(v) for v in ref.values())
        self._manifest = manifest
        if status is not None:
            manifest["job_status"] = {
                "raw_status": status.raw_status,
                "state": status.state.value,
                "finished": status.state.is_terminal,
            }
        self._describe_outlet_events(context, manifest)
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

    def _describe_outlet_events(self, context: Any, manifest: dict[str, Any]) -> None:
        """Put the manifest (without ``content``) into the ``extra`` of the asset events of the outlet assets."""
        if not self.outlets or not hasattr(context, "get"):
            return
        events = context.get("outlet_events")
        if events is None:
            return
        from airflow.providers.common.compat.sdk import Asset

        extra = {key: value for key, value in manifest.items() if key != "content"}
        for outlet in self.outlets:
            if isinstance(outlet, Asset):
                events[outlet].extra.update(extra)

    def _status_before_archiving(self, hook: JobService, status_ref: dict[str, Any]) -> JobStatus:
        status: JobStatus = hook.job_status_from_ref(status_ref)
        if status.state.is_terminal:
            return status
        what = (
            f"{status.service} job {status.job_id} has not finished: its status is {status.raw_status!r} "
            f"({status.state.value.replace('_', ' ')})"
        )
        if self.if_unfinished == "fail":
            raise JobNotFinishedError(
                f"{what}; an archive now would hold only part of its log. Archive after the job has ended (after "
                "its sensor), or set if_unfinished='wait' to wait for the end or 'warn' to archive the partial log"
            )
        if self.if_unfinished == "warn":
            self.log.warning("%s; archiving the log written so far (partial: see job_status in the manifest)", what)
            return status
        self.log.info("%s; waiting for it to end (a check every %gs)", what, self.wait_interval)
        deadline = time.monotonic() + self.wait_timeout
        while not status.state.is_terminal:
            if status.state == JobState.WAITING_USER:  # never ends by itself: no worker slot held for nothing
                raise JobNotFinishedError(
                    f"{status.service} job {status.job_id} is {status.raw_status!r}, waiting for a person's "
                    "confirmation in the service's console, which does not end by itself; nothing was archived"
                )
            if time.monotonic() >= deadline:
                raise JobNotFinishedError(
                    f"{status.service} job {status.job_id} is still {status.raw_status!r} "
                    f"({status.state.value.replace('_', ' ')}) after wait_timeout={self.wait_timeout:g}s; "
                    "nothing was archived"
                )
            time.sleep(max(0.0, min(self.wait_interval, deadline - time.monotonic())))
            status = hook.job_status_from_ref(status_ref)
        self.log.info("%s job %s ended with %r; archiving its log", status.service, status.job_id, status.raw_status)
        return status

    # -- OpenLineage (called by apache-airflow-providers-openlineage when it is installed) --------------------
    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The archive as the task's OpenLineage output, and the remote job as a run facet.

        Output dataset: namespace and name of the final object as OpenLineage names object storage
        (``s3://bucket`` + key; ``file`` + absolute path), with ``outputStatistics`` (``rowCount``: log lines,
        ``size``: stored bytes, ``fileCount``: 1), ``version`` (the stored object's sha256) and ``storage``
        (file format). The remote job: an ``externalQuery`` run facet (``externalQueryId``: the job's id,
        ``source``: the service). An archive into XCom has no output dataset.
        """
        from airflow.providers.openlineage.extractors import OperatorLineage
        from openlineage.client.event_v2 import OutputDataset
        from openlineage.client.facet_v2 import (
            dataset_version_dataset,
            external_query_run,
            output_statistics_output_dataset,
            storage_dataset,
        )

        run_facets: dict[str, Any] = {}
        if self._remote_job_id:
            run_facets["externalQuery"] = external_query_run.ExternalQueryRunFacet(
                externalQueryId=self._remote_job_id, source=self.service_name
            )
        outputs = []
        manifest = self._manifest or {}
        if manifest.get("uri"):
            namespace, name = openlineage_name(object_uri(manifest["uri"]))
            file_format = manifest["format"] + (f"+{manifest['compression']}" if manifest.get("compression") else "")
            outputs.append(
                OutputDataset(
                    namespace=namespace,
                    name=name,
                    facets={
                        "version": dataset_version_dataset.DatasetVersionDatasetFacet(
                            datasetVersion=manifest["stored_sha256"]
                        ),
                        "storage": storage_dataset.StorageDatasetFacet(
                            storageLayer="object_storage", fileFormat=file_format
                        ),
                    },
                    outputFacets={
                        "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                            rowCount=manifest["lines"], size=manifest["stored_bytes"], fileCount=1
                        )
                    },
                )
            )
        return OperatorLineage(outputs=outputs, run_facets=run_facets)


def openlineage_name(uri: str) -> tuple[str, str]:
    """OpenLineage's (namespace, name) of an object URI: ``s3://bucket`` + key, ``file`` + absolute path."""
    scheme, _, rest = uri.partition("://")
    if scheme == "file":
        return "file", rest
    netloc, _, path = rest.partition("/")
    return f"{scheme}://{netloc}", path
