"""The MGN example DAG, run for real with dag.test() against the emulator, deferrable and poke."""

from __future__ import annotations

import hashlib
import json

import pytest

pytest.importorskip("airflow.providers.amazon.aws.hooks.base_aws", reason="needs airflow-joblogs[amazon]")

from airflow_joblogs.emulators.mgn import CONVERSION_ERROR, CUTOVER_JOB, FAILED_JOB, SECRET_ACCESS_KEY
from airflow_joblogs.hooks.mgn import render_item

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "poke"])
def test_mgn_cutover_logs(mgn, run_example_dag, tmp_path, deferrable, capfd, mgn_log):
    mgn.emulator.received.clear()
    _run, tis = run_example_dag("mgn_cutover_logs.py", tmp_path, deferrable)
    states = {task_id: ti.state for task_id, ti in tis.items()}
    assert states == {
        "wait_for_cutover": "success",
        "archive_cutover_log": "success",
        "wait_for_failed_cutover": "failed",
        "archive_failed_cutover_log": "success",
    }
    # deferred sensors wait in the trigger, whose client is aiobotocore; poking sensors use boto3 only
    async_calls = [r for r in mgn.emulator.received if "aiobotocore/" in r["user_agent"]]
    assert bool(async_calls) is deferrable
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert [f.rsplit("/", 1)[1] for f in files] == [f"mgn-{CUTOVER_JOB}.log", f"mgn-{FAILED_JOB}.jsonl"], files
    assert all(f.startswith("mgn/") for f in files)

    text = (tmp_path / files[0]).read_bytes()
    lines = text.decode().splitlines()
    items = mgn_log(CUTOVER_JOB)
    assert sorted(line for line in lines if not line.startswith("=====")) == sorted(render_item(i) for i in items)
    assert next(line for line in lines if line.startswith("=====")) == "===== job events ===== (2 items)"
    manifest = tis["archive_cutover_log"].xcom_pull(task_ids="archive_cutover_log")
    assert manifest["sha256"] == hashlib.sha256(text).hexdigest() and manifest["bytes"] == len(text)
    assert manifest["job"] == {"job_id": CUTOVER_JOB}

    records = [json.loads(line) for line in (tmp_path / files[1]).read_text().splitlines()]
    assert records == mgn_log(FAILED_JOB)
    assert sum(r["eventData"].get("rawError") == CONVERSION_ERROR for r in records if "eventData" in r) == 3

    out, err = capfd.readouterr()
    assert "LAUNCH_FAILED" in out + err, "the task logs were captured"
    # the request registering the secret with the masker carries it; Airflow 3.0's in-process test
    # supervisor prints that request at debug level, which is Airflow's, not a log of the provider
    logs = "\n".join(line for line in (out + err).splitlines() if "MaskSecret(" not in line)
    assert SECRET_ACCESS_KEY not in logs + json.dumps(manifest), "the secret key is in no log and no XCom"
