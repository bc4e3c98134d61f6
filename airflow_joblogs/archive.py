"""The archive sink: stream log chunks to XCom or to any ``ObjectStoragePath``, return a manifest.

Memory stays flat: chunks are encoded and written one at a time. A file destination is written under a
temporary name beside the final one (``.<name>.<random>.partial``) and moved into place only when complete,
so a killed or retried task never leaves a half-written object at the final path; the attempt that completes
the archive removes what killed attempts left under such names. The manifest records what was written
(bytes, lines, sha256 of the uncompressed log) so a reader can verify an archive without trusting it.
Airflow's hook lineage gets the final object (``scheme://bucket/key``) as the task's output, never the
temporary one, and no input (comparing with an existing archive is not reading data).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import uuid
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_joblogs.exceptions import ArchiveExistsError, InvalidParameterError
from airflow_joblogs.models import LogChunk

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_joblogs.log_rules import LogMatcher
    from airflow_joblogs.redaction import Redactor

LOG_FORMATS = ("text", "jsonl")
COMPRESSIONS = (None, "gzip")
DEFAULT_MAX_XCOM_BYTES = 64 * 1024
TRUNCATION_MARKER = "\n[airflow-joblogs: output truncated at max_xcom_bytes={limit}; {omitted} more bytes not shown. Set destination= to archive the whole log.]\n"
_WRITE_BUFFER = 256 << 10
#: object stores (S3, GCS, Azure) upload in parts of this size, S3's smallest: while a part goes up, s3fs and
#: the HTTP client hold about three copies of it, whatever the log's size (S3's 10,000 parts allow a 48 GiB object)
_UPLOAD_PART = 5 << 20
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def validate_archive_options(log_format: str, compression: str | None, max_xcom_bytes: int) -> None:
    """Check the sink options up front (operator constructors call this before anything runs)."""
    if log_format not in LOG_FORMATS:
        raise InvalidParameterError("log_format", f"{log_format!r} is not a known format", ", ".join(LOG_FORMATS))
    if compression not in COMPRESSIONS:
        raise InvalidParameterError("compression", f"{compression!r} is not supported", "None, 'gzip'")
    if not isinstance(max_xcom_bytes, int) or isinstance(max_xcom_bytes, bool) or max_xcom_bytes < 1:
        raise InvalidParameterError("max_xcom_bytes", f"{max_xcom_bytes!r} must be a positive integer")


def safe_name(text: str) -> str:
    """A file-name-safe rendering of an identifier: no separators, no '..', bounded length."""
    cleaned = _UNSAFE_NAME.sub("_", str(text)).strip("._") or "job"
    return cleaned[:120]


def render_chunk(chunk: LogChunk, log_format: str) -> bytes:
    """Encode one chunk: ``text`` = optional header line + the log text (newline-terminated); ``jsonl`` = its record."""
    if log_format == "jsonl":
        record = chunk.record if chunk.record is not None else {"log": chunk.text}
        return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8", "replace")
    parts = []
    if chunk.header is not None:
        parts.append(chunk.header + "\n")
    if chunk.text:
        parts.append(chunk.text if chunk.text.endswith("\n") else chunk.text + "\n")
    return "".join(parts).encode("utf-8", "replace")


def destination_url(destination: str) -> str:
    """A destination string checked (not empty, no control characters, absolute) and made a URL; no I/O."""
    text = destination.strip()
    if not text:
        raise InvalidParameterError("destination", "is empty; pass None for XCom or a path/URL")
    if _CONTROL.search(text):  # a newline or NUL from a rendered template: no object name should hold one
        raise InvalidParameterError("destination", f"{text!r} contains control characters")
    if "://" not in text:
        if not text.startswith("/"):
            raise InvalidParameterError("destination", f"{text!r} must be an absolute path or a URL")
        text = "file://" + text
    if ".." in text.split("://", 1)[1].split("/"):
        raise InvalidParameterError("destination", f"{text!r} must not contain '..'")
    return text


def resolve_destination(destination: str | ObjectStoragePath, default_name: str) -> ObjectStoragePath:
    """Turn ``destination`` (URL, local path or ObjectStoragePath) into the final object's path.

    A string ending in ``/`` names a folder, as does a path to an existing folder: ``default_name`` is
    appended. (``ObjectStoragePath`` drops a trailing ``/``, so pass a folder that does not exist yet as a
    string, e.g. ``"s3://aws_default@bucket/logs/"``.)
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    if isinstance(destination, str):
        text = destination_url(destination)
        is_dir = text.endswith("/")
        path = ObjectStoragePath(text)
    else:
        is_dir = False
        path = destination
    if ".." in path.parts:
        raise InvalidParameterError("destination", f"{str(path)!r} must not contain '..'")
    if is_dir or path.is_dir():
        path = path / safe_name(default_name)
    return path


class _Counter:
    """Counts and hashes the uncompressed log while it is written."""

    def __init__(self) -> None:
        self.sha256 = hashlib.sha256()
        self.bytes = 0
        self.lines = 0
        self.last_byte = b""

    def feed(self, data: bytes) -> None:
        self.sha256.update(data)
        self.bytes += len(data)
        self.lines += data.count(b"\n")
        if data:
            self.last_byte = data[-1:]

    @property
    def line_count(self) -> int:
        # a final line without a newline still counts
        return self.lines + (1 if self.last_byte not in (b"", b"\n") else 0)


class _HashingWriter:
    """File wrapper that hashes and counts what reaches storage (the stored object's own checksum)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.counter = _Counter()

    def write(self, data: bytes) -> int:
        self.counter.feed(data)
        return self.raw.write(data)

    def flush(self) -> None:
        self.raw.flush()


def object_uri(location: str) -> str:
    """The archive's URI for lineage: ``scheme://bucket/key`` (``file:///path`` for local files), without the
    connection id an ``ObjectStoragePath`` URL may carry before ``@`` (which names credentials, not the object)."""
    parts = urlsplit(location)
    if not parts.scheme or parts.scheme == "local":
        return "file://" + (parts.path if parts.scheme else location)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def record_output_lineage(final: ObjectStoragePath) -> None:
    """Tell Airflow's hook lineage collector that the task wrote ``final`` (its only output, no inputs)."""
    from airflow.providers.common.compat.sdk import get_hook_lineage_collector

    get_hook_lineage_collector().add_output_asset(context=final, uri=object_uri(str(final)))


def _sha256_of(path: ObjectStoragePath) -> str:
    # through the file system, not path.open(): Airflow's lineage wrapper would record a read of the archive
    # as an input of the task
    digest = hashlib.sha256()
    with path.fs.open(path.path, "rb") as handle:
        while block := handle.read(_WRITE_BUFFER):
            digest.update(block)
    return digest.hexdigest()


def archive_chunks(
    chunks: Iterable[LogChunk],
    *,
    destination: str | ObjectStoragePath | None,
    default_name: str,
    log_format: str = "text",
    compression: str | None = None,
    max_xcom_bytes: int = DEFAULT_MAX_XCOM_BYTES,
    overwrite: bool = False,
    job: dict[str, Any] | None = None,
    service: str = "",
    matcher: LogMatcher | None = None,
    redactor: Redactor | None = None,
) -> dict[str, Any]:
    """Write ``chunks`` to ``destination`` (None → into the returned manifest, capped) and return the manifest.

    ``redactor`` (optional) removes secrets from every chunk before anything else sees it: the manifest records
    ``redacted: true`` and ``redactions`` (how many were replaced), and the checksums are of what was written.
    ``matcher`` (optional) sees every (redacted) chunk; its findings go into the manifest as ``log_patterns``.
    """
    validate_archive_options(log_format, compression, max_xcom_bytes)
    manifest: dict[str, Any] = {
        "service": service,
        "job": job or {},
        "format": log_format,
        "compression": compression,
    }
    if redactor is not None:
        chunks = redactor.chunks(chunks, log_format)
    if matcher is not None:
        chunks = _matched(chunks, matcher)
    if destination is None:
        manifest = _to_xcom(chunks, manifest, log_format, max_xcom_bytes)
    else:
        final = resolve_destination(
            destination, default_name + (".jsonl" if log_format == "jsonl" else ".log") + (".gz" if compression else "")
        )
        manifest = _to_path(chunks, manifest, final, log_format, compression, overwrite)
    if matcher is not None:
        manifest["log_patterns"] = matcher.report()
    if redactor is not None:
        manifest.update(redacted=True, redactions=redactor.replacements)
    return manifest


def _matched(chunks: Iterable[LogChunk], matcher: LogMatcher) -> Iterable[LogChunk]:
    for chunk in chunks:
        matcher.feed(chunk)
        yield chunk


def _consume(chunks: Iterable[LogChunk], log_format: str, write: Any, manifest: dict[str, Any]) -> _Counter:
    counter = _Counter()
    pending = bytearray()
    count = upstream_truncated = 0
    cursor = None
    for chunk in chunks:
        data = render_chunk(chunk, log_format)
        counter.feed(data)
        count += 1
        upstream_truncated += bool(chunk.truncated_upstream)
        if chunk.cursor is not None:
            cursor = chunk.cursor
        if len(data) >= _WRITE_BUFFER:  # big pieces go straight through: no copy into the buffer
            if pending:
                write(pending)
                pending = bytearray()
            write(data)
            continue
        pending += data
        if len(pending) >= _WRITE_BUFFER:
            write(pending)  # handed over as is (no copy); a new buffer follows, so the writer may keep it
            pending = bytearray()
    if pending:
        write(pending)
    manifest.update(
        bytes=counter.bytes,
        lines=counter.line_count,
        sha256=counter.sha256.hexdigest(),
        chunks=count,
        upstream_truncated=upstream_truncated,
        cursor=cursor,
    )
    return counter


def _to_xcom(chunks: Iterable[LogChunk], manifest: dict[str, Any], log_format: str, limit: int) -> dict[str, Any]:
    kept = bytearray()

    def write(data: bytes) -> None:
        room = limit - len(kept)
        if room > 0:
            kept.extend(data[:room])

    counter = _consume(chunks, log_format, write, manifest)
    text = kept.decode("utf-8", "ignore")  # a cut may split a multi-byte character
    truncated = counter.bytes > limit
    if truncated:
        text += TRUNCATION_MARKER.format(limit=limit, omitted=counter.bytes - len(kept))
    manifest.update(uri=None, truncated=truncated, content=text)
    return manifest


#: protocols whose first path segment is a bucket or container (a directory elsewhere: sftp, hdfs ...)
_BUCKET_PROTOCOLS = frozenset({"s3", "s3a", "gs", "gcs", "abfs", "abfss", "az", "adl", "oss", "r2"})


def check_store(final: ObjectStoragePath) -> None:
    """Refuse a destination whose connection or bucket does not exist, before anything is written.

    ``mkdir(parents=True)`` on an object store would create a missing bucket (S3 CreateBucket through s3fs): a
    typo in the bucket's name would silently make a new bucket. A connection named in the URL
    (``s3://<conn_id>@bucket/...``) that does not exist would fall back to the default credential chain.
    """
    from airflow.providers.common.compat.sdk import AirflowNotFoundException, BaseHook

    conn_id = getattr(final, "conn_id", None) or final.storage_options.get("conn_id")
    if conn_id:
        try:
            BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            raise InvalidParameterError(
                "destination",
                f"{final.protocol}://{final.path!r} names the connection {conn_id!r} (before '@'), which does not exist",
            ) from None
    if final.protocol not in _BUCKET_PROTOCOLS:
        return
    container = final.path.split("/", 1)[0]
    try:
        exists = final.fs.exists(container)
    except OSError:  # may write objects without the right to look at the bucket: let the write tell
        return
    if not exists:
        raise InvalidParameterError(
            "destination",
            f"the bucket (container) {container!r} of {final.protocol}://{final.path!r} does not exist or is not "
            "visible with its connection; create it first: only prefixes (folders) inside it are created",
        )


def _to_path(
    chunks: Iterable[LogChunk],
    manifest: dict[str, Any],
    final: ObjectStoragePath,
    log_format: str,
    compression: str | None,
    overwrite: bool,
) -> dict[str, Any]:
    check_store(final)
    final.parent.mkdir(parents=True, exist_ok=True)  # folders and prefixes only: the bucket exists
    partial = final.parent / f".{final.name}.{uuid.uuid4().hex}.partial"
    try:
        # through the file system, not partial.open(): Airflow's lineage wrapper would record the temporary
        # object as the task's output; the final object is recorded once it is in place
        with final.fs.open(partial.path, "wb", block_size=_UPLOAD_PART) as raw:
            stored = _HashingWriter(raw)
            if compression == "gzip":
                # mtime=0 and no file name: the same log always gives the same bytes (and checksum)
                with gzip.GzipFile(filename="", fileobj=stored, mode="wb", mtime=0) as zipped:  # type: ignore[arg-type]
                    _consume(chunks, log_format, zipped.write, manifest)
            else:
                _consume(chunks, log_format, stored.write, manifest)
        stored_sha256 = stored.counter.sha256.hexdigest()
        if final.exists() and not overwrite:
            if _sha256_of(final) != stored_sha256:
                raise ArchiveExistsError(
                    f"destination {str(final)!r} already exists with different content; set overwrite=True to replace it"
                )
            manifest["reused_existing"] = True  # an earlier attempt already archived exactly this
            partial.unlink()
        else:
            if final.exists():
                final.unlink()
            partial.rename(final)
    finally:
        if partial.exists():
            partial.unlink()
    manifest["leftovers_removed"] = _remove_leftovers(final)
    record_output_lineage(final)
    manifest.update(uri=str(final), truncated=False, stored_bytes=stored.counter.bytes, stored_sha256=stored_sha256)
    return manifest


def _remove_leftovers(final: ObjectStoragePath) -> int:
    """Delete the temporary objects of earlier attempts at ``final`` (a killed task cannot clean up after itself).

    Only names this module writes (``.<final name>.<32 hex digits>.partial``) in the same folder are touched. On
    S3 a killed upload of more than one part leaves no object at all, only an incomplete multipart upload:
    a bucket lifecycle rule (AbortIncompleteMultipartUpload) removes those.
    """
    leftover = re.compile(re.escape(f".{final.name}.") + r"[0-9a-f]{32}\.partial")
    removed = 0
    for path in final.parent.iterdir():
        if leftover.fullmatch(path.name):
            try:
                path.unlink()
                removed += 1
            except FileNotFoundError:  # another attempt removed it first
                pass
    return removed
