"""The BlueKing example DAG, run for real with dag.test() against the emulator, deferrable and poke."""

from __future__ import annotations

import hashlib
import json

import pytest

from airflow_joblogs.emulators.blueking import host_log

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "poke"])
def test_blueking_deploy_gate(bk, run_example_dag, tmp_path, deferrable):
    _run, tis = run_example_dag("blueking_deploy_gate.py", tmp_path, deferrable)
    states = {task_id: ti.state for task_id, ti in tis.items()}
    assert states == {
        "deploy": "success",
        "archive_deploy_logs": "success",
        "failed_deploy": "failed",
        "archive_failed_deploy_logs": "success",
    }
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert len(files) == 2 and all(f.startswith("blueking/") for f in files), files
    assert not [f for f in files if f.endswith(".partial")]

    # the archives took the jobs the run operators started (plans 101 and 102); the failed run's identifiers
    # were in XCom from its start
    started = tis["deploy"].xcom_pull(task_ids="deploy")
    assert started["status"] == {"raw": 3, "state": "success", "meaning": "success"}
    assert started["job_instance_name"] == "deploy-web-v2.3"
    assert started["outputs"] == {"global_vars": {"version": "v2.3", "env": "prod"}}
    failed_start = {"job_instance_id": tis["failed_deploy"].xcom_pull(task_ids="failed_deploy", key="job_instance_id")}
    assert bk.emulator.jobs[failed_start["job_instance_id"]].name == "deploy-api-v1.8"
    text_file = next(p for p in tmp_path.rglob("*.log"))
    assert text_file.name == f"bk_job-biz2-{started['job_instance_id']}.log"
    text = text_file.read_bytes()
    job = bk.emulator.jobs[started["job_instance_id"]]
    assert job.global_vars[0] == {"id": 1011, "name": "version", "value": "v2.3", "type": 1}
    for step in job.steps:
        for host in step.hosts:
            assert host_log(job, step, host).encode() in text
    manifest = tis["archive_deploy_logs"].xcom_pull(task_ids="archive_deploy_logs")
    assert manifest["sha256"] == hashlib.sha256(text).hexdigest()
    assert manifest["bytes"] == len(text) and manifest["lines"] == text.count(b"\n")

    jsonl = next(p for p in tmp_path.rglob("*.jsonl"))
    assert jsonl.name == f"bk_job-biz2-{failed_start['job_instance_id']}.jsonl"
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]
    failed = [r for r in records if r.get("exit_code")]
    assert [(r["ip"], r["ip_status"], r["exit_code"]) for r in failed] == [("10.0.0.12", 104, 1), ("10.0.0.13", 104, 2)]
