"""The QingCloud example DAG, run for real with dag.test() against the emulator, deferrable and poke."""

from __future__ import annotations

import hashlib
import json

import pytest

from airflow_joblogs.emulators.qingcloud import SEED_JOB

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "poke"])
def test_qingcloud_cluster_jobs(qc, run_example_dag, tmp_path, deferrable):
    _run, tis = run_example_dag("qingcloud_cluster_jobs.py", tmp_path, deferrable)
    states = {task_id: ti.state for task_id, ti in tis.items()}
    assert states == {
        "add_nodes": "success",
        "export_recent_jobs": "success",
        "wait_for_resize": "failed",
        "export_failed_jobs": "success",
    }

    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert (
        len(files) == 1
        and files[0].startswith("qingcloud/")
        and files[0].endswith("/qingcloud-app-tg3lbp0a-jobs.jsonl")
    )
    data = next(tmp_path.rglob("*.jsonl")).read_bytes()
    records = [json.loads(line) for line in data.decode().splitlines()]
    # the catalogue's 48 records and, newest, the job add_nodes started
    assert len(records) == 49 and len({r["job_id"] for r in records}) == 49
    assert records[-1] == {**SEED_JOB, "directive": json.loads(SEED_JOB["directive"])}
    run = tis["add_nodes"].xcom_pull(task_ids="add_nodes")
    [job_id] = run["job_ids"]
    assert run["clusters"] == {"cl-chronus01": job_id} and run["status"]["raw"] == "successful"
    assert run["outputs"]["jobs"][0]["status"] == "successful"
    scale_out = records[0]
    assert scale_out["job_id"] == job_id and scale_out["job_action"] == "AddClusterNodes"
    assert scale_out["status"] == "successful" and scale_out["directive"]["node_count"] == 2
    assert scale_out["directive"]["nodes"] == run["response"]["new_node_ids"]
    manifest = tis["export_recent_jobs"].xcom_pull(task_ids="export_recent_jobs")
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() and manifest["lines"] == 49

    failed = tis["export_failed_jobs"].xcom_pull(task_ids="export_failed_jobs")
    lines = failed["content"].splitlines()
    assert failed["uri"] is None and lines and all("  failed  " in line for line in lines)
    assert lines[0] == "2026-11-22T02:02:00Z  ResizeCluster  failed  cl-chronus01  2500"
