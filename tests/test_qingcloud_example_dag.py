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
        "wait_for_scale_out": "success",
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
    assert len(records) == 48 and len({r["job_id"] for r in records}) == 48
    assert records[-1] == {**SEED_JOB, "directive": json.loads(SEED_JOB["directive"])}
    scale_out = next(r for r in records if r["job_id"] == "j-addnodes01")
    assert scale_out["status"] == "successful" and scale_out["directive"]["node_count"] == 2
    manifest = tis["export_recent_jobs"].xcom_pull(task_ids="export_recent_jobs")
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest() and manifest["lines"] == 48

    failed = tis["export_failed_jobs"].xcom_pull(task_ids="export_failed_jobs")
    lines = failed["content"].splitlines()
    assert failed["uri"] is None and lines and all("  failed  " in line for line in lines)
    assert lines[0] == "2026-11-22T02:02:00Z  ResizeCluster  failed  cl-chronus01  2500"
