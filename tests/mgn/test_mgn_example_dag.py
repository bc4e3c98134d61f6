"""The MGN example DAG, run for real with dag.test() against the emulator, deferrable and poke."""

from __future__ import annotations

import hashlib
import json

import pytest

pytest.importorskip("airflow.providers.amazon.aws.hooks.base_aws", reason="needs airflow-joblogs[amazon]")

from airflow_joblogs.emulators.mgn import CONVERSION_ERROR, SECRET_ACCESS_KEY
from airflow_joblogs.hooks.mgn import render_item

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "poke"])
def test_mgn_cutover_logs(mgn, run_example_dag, tmp_path, deferrable, capfd, mgn_log):
    mgn.emulator.received.clear()
    mgn.app.clock.speed, speed = 0.5, mgn.app.clock.speed  # a launch runs seconds: a deferrable run defers
    try:
        _run, tis = run_example_dag("mgn_cutover_logs.py", tmp_path, deferrable)
    finally:
        mgn.app.clock.speed = speed
    states = {task_id: ti.state for task_id, ti in tis.items()}
    assert states == {
        "start_cutover": "success",
        "archive_cutover_log": "success",
        "start_failed_cutover": "failed",
        "archive_failed_cutover_log": "success",
    }
    # deferred runs wait in the trigger, whose client is aiobotocore; poking runs use boto3 only
    async_calls = [r for r in mgn.emulator.received if "aiobotocore/" in r["user_agent"]]
    assert bool(async_calls) is deferrable
    # the DAG started both cutovers: one StartCutover each, the jobs the emulator created
    result = tis["start_cutover"].xcom_pull(task_ids="start_cutover")
    cutover_job = result["job_id"]
    assert result["status"]["raw"] == "COMPLETED"
    described = mgn.emulator.describe(cutover_job, 1e9)["participatingServers"]
    launched = {server["sourceServerID"]: server["launchedEc2InstanceID"] for server in described}
    assert {k: v["launched_ec2_instance_id"] for k, v in result["outputs"]["servers"].items()} == launched
    # the failed run pushed its job id when the job started: the archive after it names the job
    failed_job = tis["start_failed_cutover"].xcom_pull(task_ids="start_failed_cutover", key="job_id")
    assert sorted([cutover_job, failed_job]) == sorted(mgn.emulator.started)
    assert [r["operation"] for r in mgn.emulator.received].count("StartCutover") == 2
    names = {f"mgn-{cutover_job}.log": "cutover", f"mgn-{failed_job}.jsonl": "failed"}
    files = sorted(
        (p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()),
        key=lambda f: names.get(f.rsplit("/", 1)[1], f),
    )
    assert sorted(f.rsplit("/", 1)[1] for f in files) == sorted(names), files
    assert all(f.startswith("mgn/") for f in files)

    text = (tmp_path / files[0]).read_bytes()
    lines = text.decode().splitlines()
    items = mgn_log(cutover_job)
    assert sorted(line for line in lines if not line.startswith("=====")) == sorted(render_item(i) for i in items)
    assert next(line for line in lines if line.startswith("=====")) == "===== job events ===== (2 items)"
    manifest = tis["archive_cutover_log"].xcom_pull(task_ids="archive_cutover_log")
    assert manifest["sha256"] == hashlib.sha256(text).hexdigest() and manifest["bytes"] == len(text)
    assert manifest["job"] == {"job_id": cutover_job}

    records = [json.loads(line) for line in (tmp_path / files[1]).read_text().splitlines()]
    assert records == mgn_log(failed_job)
    assert sum(r["eventData"].get("rawError") == CONVERSION_ERROR for r in records if "eventData" in r) == 3

    out, err = capfd.readouterr()
    assert "LAUNCH_FAILED" in out + err, "the task logs were captured"
    # the request registering the secret with the masker carries it; Airflow 3.0's in-process test
    # supervisor prints that request at debug level, which is Airflow's, not a log of the provider
    logs = "\n".join(line for line in (out + err).splitlines() if "MaskSecret(" not in line)
    assert SECRET_ACCESS_KEY not in logs + json.dumps(manifest), "the secret key is in no log and no XCom"
