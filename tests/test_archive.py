"""The archive sink: XCom cap with a visible marker, atomic writes, overwrite rules, gzip, real S3."""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest

from airflow_joblogs.archive import TRUNCATION_MARKER, archive_chunks
from airflow_joblogs.exceptions import ArchiveExistsError
from airflow_joblogs.models import LogChunk


def chunks(n: int = 50, size: int = 100):
    for i in range(n):
        yield LogChunk(text=f"line {i} " + "x" * size + "\n", header=f"== unit {i} ==", record={"i": i}, cursor=i)


def expected_text(n: int = 50, size: int = 100) -> bytes:
    return "".join(f"== unit {i} ==\nline {i} " + "x" * size + "\n" for i in range(n)).encode()


def test_xcom_is_capped_with_a_visible_marker():
    manifest = archive_chunks(chunks(), destination=None, default_name="job", max_xcom_bytes=1000)
    full = expected_text()
    assert manifest["truncated"] is True and manifest["uri"] is None
    assert manifest["content"].startswith(full[:1000].decode())
    assert manifest["content"].endswith(TRUNCATION_MARKER.format(limit=1000, omitted=len(full) - 1000))
    assert manifest["bytes"] == len(full) and manifest["sha256"] == hashlib.sha256(full).hexdigest()
    assert manifest["lines"] == 100 and manifest["chunks"] == 50 and manifest["cursor"] == 49


def test_small_log_fits_in_xcom_untouched():
    manifest = archive_chunks(chunks(3, 5), destination=None, default_name="job")
    assert manifest["truncated"] is False and manifest["content"] == expected_text(3, 5).decode()


def test_jsonl_records(tmp_path):
    manifest = archive_chunks(chunks(3), destination=str(tmp_path) + "/", default_name="job", log_format="jsonl")
    written = (tmp_path / "job.jsonl").read_text()
    assert [json.loads(line) for line in written.splitlines()] == [{"i": 0}, {"i": 1}, {"i": 2}]
    assert manifest["uri"].endswith("/job.jsonl")


def test_file_is_moved_into_place_only_when_complete(tmp_path):
    def failing():
        yield from chunks(5)
        raise RuntimeError("the service went away")

    with pytest.raises(RuntimeError):
        archive_chunks(failing(), destination=str(tmp_path / "out.log"), default_name="job")
    assert list(tmp_path.iterdir()) == [], "neither a partial nor a final file may remain"


def test_overwrite_rules(tmp_path):
    target = str(tmp_path / "out.log")
    first = archive_chunks(chunks(), destination=target, default_name="job")
    again = archive_chunks(chunks(), destination=target, default_name="job")
    assert again["reused_existing"] is True and again["sha256"] == first["sha256"]
    with pytest.raises(ArchiveExistsError, match="overwrite=True"):
        archive_chunks(chunks(3), destination=target, default_name="job")
    replaced = archive_chunks(chunks(3), destination=target, default_name="job", overwrite=True)
    assert (tmp_path / "out.log").read_bytes() == expected_text(3)
    assert replaced["bytes"] == len(expected_text(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.log"]


def test_gzip_is_deterministic_and_manifest_describes_both(tmp_path):
    one = archive_chunks(chunks(), destination=str(tmp_path / "a") + "/", default_name="job", compression="gzip")
    two = archive_chunks(chunks(), destination=str(tmp_path / "b") + "/", default_name="job", compression="gzip")
    stored = (tmp_path / "a" / "job.log.gz").read_bytes()
    assert gzip.decompress(stored) == expected_text()
    assert one["stored_sha256"] == two["stored_sha256"] == hashlib.sha256(stored).hexdigest()
    assert one["sha256"] == hashlib.sha256(expected_text()).hexdigest() and one["stored_bytes"] == len(stored)


def test_hostile_default_names_stay_inside_the_folder(tmp_path):
    manifest = archive_chunks(chunks(1), destination=str(tmp_path) + "/", default_name="../../etc/pass\nwd")
    assert [p.name for p in tmp_path.iterdir()] == ["etc_pass_wd.log"]
    assert manifest["uri"].startswith(tmp_path.as_uri())


@pytest.mark.slow
def test_s3_archive_through_moto_server(s3_bucket):
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    destination = f"{s3_bucket}/deploys/2026-11-22/"  # a URL ending in "/" names a folder
    manifest = archive_chunks(chunks(2000, 500), destination=destination, default_name="job", compression="gzip")
    path = ObjectStoragePath(manifest["uri"])
    stored = path.read_bytes()
    assert hashlib.sha256(stored).hexdigest() == manifest["stored_sha256"]
    assert gzip.decompress(stored) == expected_text(2000, 500)
    names = [p.name for p in ObjectStoragePath(f"{s3_bucket}/deploys/2026-11-22/").iterdir()]
    assert names == ["job.log.gz"], names
    again = archive_chunks(chunks(2000, 500), destination=destination, default_name="job", compression="gzip")
    assert again["reused_existing"] is True
