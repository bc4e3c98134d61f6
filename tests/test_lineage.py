"""Lineage names the archive: Airflow's hook lineage and the OpenLineage provider's extraction see the final
object as the task's only output, never the temporary ``.partial`` one, and no input."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from helpers import wait_for_blueking_job

from airflow_joblogs.archive import archive_chunks, object_uri
from airflow_joblogs.models import LogChunk
from airflow_joblogs.operators.blueking import BlueKingJobLogOperator


@pytest.fixture
def collector(monkeypatch):
    """A real hook lineage collector, as Airflow uses when a lineage reader (e.g. OpenLineage) is installed."""
    from airflow.providers.common.compat.sdk import HookLineageCollector

    active = HookLineageCollector()
    for module in ("airflow.sdk.lineage", "airflow.lineage.hook"):  # Airflow 3.2+, 3.0/3.1
        try:
            found = importlib.import_module(module)
        except ImportError:
            continue
        monkeypatch.setattr(found, "get_hook_lineage_collector", lambda: active)
        break
    return active


def uris(infos) -> set[str]:
    return {info.asset.uri for info in infos}


def chunks():
    yield LogChunk(text="hello\n", header="== host 1 ==")


@pytest.mark.parametrize("compression", [None, "gzip"])
def test_hook_lineage_records_the_final_object_as_the_only_output(tmp_path, collector, compression):
    manifest = archive_chunks(chunks(), destination=f"{tmp_path}/", default_name="job", compression=compression)
    # again, overwrite=False: the existing archive is compared (read) and kept; that is no input of the task
    again = archive_chunks(chunks(), destination=f"{tmp_path}/", default_name="job", compression=compression)
    assert again["reused_existing"] is True
    collected = collector.collected_assets
    final = f"file://{tmp_path}/job.log" + (".gz" if compression else "")
    assert manifest["uri"] == final
    assert uris(collected.outputs) == {final}
    assert uris(collected.inputs) == set()


def test_the_connection_id_is_not_part_of_the_lineage_uri():
    assert object_uri("s3://aws_default@bucket/logs/a.log") == "s3://bucket/logs/a.log"
    assert object_uri("s3://bucket/logs/a.log") == "s3://bucket/logs/a.log"
    assert object_uri("file:///tmp/a.log") == "file:///tmp/a.log"
    assert object_uri("/tmp/a.log") == "file:///tmp/a.log"


@pytest.mark.slow
def test_hook_lineage_of_an_s3_archive(s3_bucket, collector):
    manifest = archive_chunks(chunks(), destination=f"{s3_bucket}/logs/", default_name="job")
    collected = collector.collected_assets
    assert manifest["uri"] == f"{s3_bucket}/logs/job.log"  # s3://aws_s3@<bucket>/...
    bucket = s3_bucket.rpartition("@")[2]
    assert uris(collected.outputs) == {f"s3://{bucket}/logs/job.log"}
    assert uris(collected.inputs) == set()


def extract(operator):
    """What the OpenLineage provider's listener gets for a task that succeeded."""
    from airflow.providers.openlineage.extractors.manager import ExtractorManager
    from airflow.utils.state import TaskInstanceState

    dagrun = SimpleNamespace(run_id="manual__1")
    return ExtractorManager().extract_metadata(dagrun, operator, TaskInstanceState.SUCCESS, SimpleNamespace())


def test_openlineage_output_is_the_archive_with_its_size_and_checksum(bk, tmp_path, collector):
    pytest.importorskip("airflow.providers.openlineage")
    from openlineage.client.serde import Serde

    wait_for_blueking_job(1002)
    operator = BlueKingJobLogOperator(
        task_id="archive", job_instance_id=1002, bk_biz_id=2, destination=f"{tmp_path}/logs/", compression="gzip"
    )
    manifest = operator.execute({})
    lineage = extract(operator)
    assert lineage.inputs == []
    [output] = lineage.outputs
    assert (output.namespace, output.name) == ("file", f"{tmp_path}/logs/bk_job-biz2-1002.log.gz")
    assert output.facets["version"].datasetVersion == manifest["stored_sha256"]
    assert output.facets["storage"].fileFormat == "text+gzip"
    stats = output.outputFacets["outputStatistics"]
    assert (stats.size, stats.rowCount, stats.fileCount) == (manifest["stored_bytes"], manifest["lines"], 1)
    remote = lineage.run_facets["externalQuery"]
    assert (remote.externalQueryId, remote.source) == ("1002", "BlueKing JOB")
    assert ".partial" not in Serde.to_json(output)


def test_openlineage_of_an_archive_into_xcom_has_no_dataset(bk, collector):
    pytest.importorskip("airflow.providers.openlineage")
    wait_for_blueking_job(1002)
    operator = BlueKingJobLogOperator(task_id="archive", job_instance_id=1002, bk_biz_id=2)
    operator.execute({})
    lineage = extract(operator)
    assert lineage.outputs == [] and lineage.inputs == []
    assert lineage.run_facets["externalQuery"].externalQueryId == "1002"


@pytest.mark.slow
def test_the_openlineage_event_of_a_real_run_names_the_archive(bk, airflow_db, tmp_path):
    """The example DAG run with dag.test() in a process of its own with OpenLineage's file transport: the
    COMPLETE event of the log operator's task names the final object, with its facets."""
    pytest.importorskip("airflow.providers.openlineage")
    import json
    import os
    import subprocess
    import sys

    from helpers import ROOT

    wait_for_blueking_job(1006)
    events = tmp_path / "openlineage.jsonl"
    archive = tmp_path / "archive"
    env = {
        **os.environ,
        "JOBLOGS_ARCHIVE_ROOT": f"file://{archive}",
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps({"type": "file", "log_file_path": str(events), "append": True}),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "joblogs-test",
    }
    script = (
        "import runpy, sys; run = runpy.run_path(sys.argv[1])['dag'].test(); "
        "sys.exit(0 if str(run.state) in ('success', 'DagRunState.SUCCESS') else 1)"
    )
    subprocess.run(
        [sys.executable, "-c", script, str(ROOT / "example_dags" / "blueking_archive_asset.py")],
        env=env,
        check=True,
        capture_output=True,
        timeout=240,
    )
    emitted = [json.loads(line) for line in events.read_text().splitlines()]
    [complete] = [
        e for e in emitted if e.get("eventType") == "COMPLETE" and e["job"]["name"].endswith(".archive_hotfix_logs")
    ]
    [archived] = [p for p in archive.rglob("*") if p.is_file()]
    [output] = complete["outputs"]
    assert (output["namespace"], output["name"]) == ("file", str(archived))
    assert output["outputFacets"]["outputStatistics"]["size"] == archived.stat().st_size
    assert complete["inputs"] == []
    assert complete["run"]["facets"]["externalQuery"]["externalQueryId"] == "1006"
    assert ".partial" not in json.dumps(emitted)
