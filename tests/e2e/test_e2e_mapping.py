"""Dynamic task mapping at scale, assets and OpenLineage in a real Airflow.

* ``blueking_mapped_fleet``: a sensor mapped with ``.partial().expand()`` and a log operator mapped with
  ``.expand_kwargs()`` over the emulator's 100 fleet jobs, deferred: every map index ends as its job's
  verdict and every archive holds its job's log byte for byte.
* ``blueking_archive_asset``: the log operator's asset event carries the manifest in its ``extra`` and creates
  a run of ``blueking_archive_check`` (scheduled on the asset), which succeeds; the OpenLineage event of the
  archiving task names the final archive object.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(3600)]

LOGICAL_DATE = "2026-01-15T00:00:00Z"
DS = "2026-01-15"
FLEET_DAG = "blueking_mapped_fleet"
FLEET_RUN = "e2e-fleet"
ASSET_DAG = "blueking_archive_asset"
ASSET_RUN = "e2e-asset"
CHECK_DAG = "blueking_archive_check"
TERMINAL = {"success", "failed"}


def mapped(airflow, dag_id: str, run_id: str, task_id: str) -> dict[int, dict[str, Any]]:
    """Every map index of a mapped task: map_index -> task instance."""
    found: dict[int, dict[str, Any]] = {}
    while True:
        reply = airflow.api(
            "GET",
            f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/listMapped",
            params={"limit": 100, "offset": len(found)},
        )
        page = reply["task_instances"]
        found.update({ti["map_index"]: ti for ti in page})
        if not page or len(found) >= reply["total_entries"]:
            return found


def mapped_xcom(airflow, dag_id: str, run_id: str, task_id: str, map_index: int) -> Any:
    reply = airflow.api(
        "GET",
        f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/return_value",
        params={"map_index": map_index},
    )
    value = reply["value"]
    return value if isinstance(value, dict) else json.loads(value)


def wait_for_run(airflow, dag_id: str, run_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = airflow.api("GET", f"dags/{dag_id}/dagRuns/{run_id}")
        if run["state"] in TERMINAL:
            return run
        time.sleep(1)
    raise AssertionError(f"{dag_id} run {run_id} still going after {timeout:g}s\n{airflow.component_output_tail()}")


def openlineage_events(stage) -> list[dict[str, Any]]:
    folder = stage.airflow.home / "openlineage"
    return [json.loads(path.read_text()) for path in sorted(folder.glob("event-*.json"))]


# -- assets and OpenLineage ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def asset_run(e2e_stage) -> dict[str, Any]:
    airflow = e2e_stage.airflow
    airflow.wait_dags([ASSET_DAG, CHECK_DAG])
    airflow.trigger(ASSET_DAG, ASSET_RUN, LOGICAL_DATE)
    run = wait_for_run(airflow, ASSET_DAG, ASSET_RUN, timeout=600)
    return {"run": run, "manifest": airflow.xcom(ASSET_DAG, ASSET_RUN, "archive_hotfix_logs")}


def test_the_asset_event_carries_the_manifest_and_runs_the_downstream_dag(e2e_stage, asset_run):
    airflow = e2e_stage.airflow
    assert asset_run["run"]["state"] == "success"
    manifest = asset_run["manifest"]
    manifest = manifest if isinstance(manifest, dict) else json.loads(manifest)
    events = airflow.api(
        "GET", "assets/events", params={"source_dag_id": ASSET_DAG, "source_run_id": ASSET_RUN, "limit": 10}
    )["asset_events"]
    assert len(events) == 1, events
    (event,) = events
    print("\nasset event (GET /api/v2/assets/events):\n" + json.dumps(event, indent=2))
    assert event["uri"] == "joblogs://blueking/hotfix-logs"
    assert event["extra"] == {k: v for k, v in manifest.items() if k != "content"}
    assert event["extra"]["uri"] == f"s3://aws_s3@{e2e_stage.bucket}/e2e/blueking/{DS}/bk_job-biz2-1006.log"
    data = e2e_stage.s3().get_object(Bucket=e2e_stage.bucket, Key=f"e2e/blueking/{DS}/bk_job-biz2-1006.log")
    assert hashlib.sha256(data["Body"].read()).hexdigest() == event["extra"]["sha256"]

    # the downstream DAG, scheduled on the asset: a run created by the event, which succeeds
    deadline = time.monotonic() + 180
    run = None
    while time.monotonic() < deadline:
        runs = airflow.api("GET", f"dags/{CHECK_DAG}/dagRuns", params={"limit": 10})["dag_runs"]
        triggered = [r for r in runs if r["run_type"] == "asset_triggered"]
        if triggered and triggered[0]["state"] in TERMINAL:
            run = triggered[0]
            break
        time.sleep(1)
    assert run is not None, f"no finished asset-triggered run of {CHECK_DAG}\n{airflow.component_output_tail()}"
    upstream = airflow.api("GET", f"dags/{CHECK_DAG}/dagRuns/{run['dag_run_id']}/upstreamAssetEvents")
    print(f"\nasset-triggered run (GET /api/v2/dags/{CHECK_DAG}/dagRuns):\n" + json.dumps(run, indent=2))
    assert run["state"] == "success"
    assert [e["id"] for e in upstream["asset_events"]] == [event["id"]]
    assert airflow.xcom(CHECK_DAG, run["dag_run_id"], "verify_archive") == event["extra"]["uri"]


def test_the_openlineage_event_names_the_final_archive_object(e2e_stage, asset_run):
    """The COMPLETE event of the archiving task (file transport in the e2e Airflow): its only output is the
    archive's final object, with the manifest's size and checksum; no event of the task names a ``.partial``."""
    pytest.importorskip("airflow.providers.openlineage", reason="apache-airflow-providers-openlineage not installed")
    job_name = f"{ASSET_DAG}.archive_hotfix_logs"
    deadline = time.monotonic() + 60
    complete: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not complete:
        task_events = [e for e in openlineage_events(e2e_stage) if (e.get("job") or {}).get("name") == job_name]
        complete = [e for e in task_events if e.get("eventType") == "COMPLETE"]
        time.sleep(1)
    assert len(complete) == 1, f"no COMPLETE OpenLineage event of {job_name}"
    (event,) = complete
    print("\nOpenLineage COMPLETE event of archive_hotfix_logs (file transport):\n" + json.dumps(event, indent=2))
    manifest = asset_run["manifest"]
    manifest = manifest if isinstance(manifest, dict) else json.loads(manifest)
    (output,) = event["outputs"]
    assert (output["namespace"], output["name"]) == (
        f"s3://{e2e_stage.bucket}",
        f"e2e/blueking/{DS}/bk_job-biz2-1006.log",
    )
    assert output["facets"]["version"]["datasetVersion"] == manifest["stored_sha256"]
    statistics = output["outputFacets"]["outputStatistics"]
    assert (statistics["size"], statistics["rowCount"]) == (manifest["stored_bytes"], manifest["lines"])
    assert event["inputs"] == []
    assert event["run"]["facets"]["externalQuery"]["externalQueryId"] == "1006"
    assert not [e for e in task_events if ".partial" in json.dumps(e)]


# -- the fleet: 100 jobs, mapped ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fleet(e2e_stage) -> dict[str, Any]:
    """Trigger the mapped fleet DAG and wait (bounded) for its end; the wall time is measured from the trigger."""
    airflow = e2e_stage.airflow
    airflow.wait_dags([FLEET_DAG])
    started = time.monotonic()
    airflow.trigger(FLEET_DAG, FLEET_RUN, LOGICAL_DATE)
    run = wait_for_run(airflow, FLEET_DAG, FLEET_RUN, timeout=3000)
    wall = time.monotonic() - started
    sensors = mapped(airflow, FLEET_DAG, FLEET_RUN, "wait_for_canary")
    archives = mapped(airflow, FLEET_DAG, FLEET_RUN, "archive_canary_logs")
    print(
        f"\n{FLEET_DAG}: 1 + {len(sensors)} + {len(archives)} task instances, run {run['state']} "
        f"in {wall:.0f}s wall time (trigger to end; the run's own start_date {run['start_date']} "
        f"end_date {run['end_date']})"
    )
    return {"run": run, "sensors": sensors, "archives": archives, "wall": wall}


def fleet_job_ids() -> list[int]:
    from airflow_joblogs.emulators.blueking import FLEET_JOBS

    return list(FLEET_JOBS)


def test_every_mapped_sensor_ends_as_its_job(e2e_stage, fleet):
    from airflow_joblogs.emulators.blueking import FLEET_FAILING

    jobs = fleet_job_ids()
    assert len(jobs) == 100
    assert sorted(fleet["sensors"]) == list(range(100))
    states = {jobs[i]: ti["state"] for i, ti in fleet["sensors"].items()}
    assert states == {job: "failed" if job in FLEET_FAILING else "success" for job in jobs}
    # a failed job fails its index at once (no retry); a retry is a try Airflow lost (see the example DAG)
    retried = sorted(jobs[i] for i, ti in fleet["sensors"].items() if ti["try_number"] > 1)
    print(f"\nmapped sensors retried after a try Airflow lost: {retried or 'none'}")
    assert not set(retried) & set(FLEET_FAILING)
    # each index is named after its job (map_index_template)
    assert {i: ti["rendered_map_index"] for i, ti in fleet["sensors"].items()} == {
        i: f"job {job}" for i, job in enumerate(jobs)
    }

    # a failed index fails naming its job and host, as an unmapped sensor does
    for job in sorted(FLEET_FAILING)[:3]:
        index = jobs.index(job)
        log = "\n".join(
            str(e.get("event", "")) + " " + json.dumps(e.get("error_detail") or "")
            for e in _task_log(e2e_stage.airflow, "wait_for_canary", index)
        )
        assert f"BlueKing JOB job {job} (canary-restart-{index + 1:03d}) ended in status 4 (failed)" in log, log[-3000:]
        assert "ip_status 104 (script exit code non-zero), exit code 1" in log


def _task_log(airflow, task_id: str, map_index: int) -> list[dict[str, Any]]:
    import httpx

    reply = httpx.get(
        f"{airflow.url}/api/v2/dags/{FLEET_DAG}/dagRuns/{FLEET_RUN}/taskInstances/{task_id}/logs/1",
        headers={"Authorization": f"Bearer {airflow.token()}", "Accept": "application/json"},
        params={"full_content": "true", "map_index": map_index},
        timeout=60,
    )
    reply.raise_for_status()
    content = reply.json()["content"]
    return [entry if isinstance(entry, dict) else {"event": str(entry)} for entry in content]


def test_every_mapped_sensor_waited_deferred_in_the_triggerer(e2e_stage, fleet):
    """The first check of each index saw its job pending (a fleet job starts when first asked about), so each
    of the 100 deferred: its trigger ran in the triggerer, which wrote the index's trigger log and fired. A busy
    triggerer writes a trigger's last lines to its own output instead (``AirflowCluster.trigger_events``)."""
    fired = {
        index
        for index in range(100)
        if any(
            str(e.get("event", "")).startswith("Trigger fired event")
            for e in e2e_stage.airflow.trigger_events(FLEET_DAG, FLEET_RUN, "wait_for_canary", index)
        )
    }
    assert fired == set(range(100))


def test_every_mapped_archive_is_its_jobs_log_byte_for_byte(e2e_stage, fleet):
    from airflow_joblogs.emulators.blueking import FLEET_FAILING, host_log

    jobs = fleet_job_ids()
    emulator = e2e_stage.emulators["blueking"]
    client = e2e_stage.s3()
    prefix = f"s3://aws_s3@{e2e_stage.bucket}/"
    assert {ti["state"] for ti in fleet["archives"].values()} == {"success"}
    assert [fleet["archives"][i]["rendered_map_index"] for i in range(100)] == [f"job {job}" for job in jobs]
    assert sorted(fleet["archives"]) == list(range(100))
    keys = set()
    for index, job_id in enumerate(jobs):
        manifest = mapped_xcom(e2e_stage.airflow, FLEET_DAG, FLEET_RUN, "archive_canary_logs", index)
        assert manifest["uri"] == f"{prefix}e2e/blueking/{DS}/canary/bk_job-biz2-{job_id}.log"
        assert manifest["job"]["job_instance_id"] == job_id
        assert manifest["job_status"]["raw_status"] == (4 if job_id in FLEET_FAILING else 3)
        key = manifest["uri"].removeprefix(prefix)
        keys.add(key)
        data = client.get_object(Bucket=e2e_stage.bucket, Key=key)["Body"].read()
        assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
        assert manifest["bytes"] == len(data)
        job = emulator.jobs[job_id]
        (step,) = job.steps
        (host,) = step.hosts
        lines = data.decode().splitlines(keepends=True)
        assert lines[0].startswith("===== ") and f"host 0:{host.ip} " in lines[0], lines[0]
        assert "".join(lines[1:]).encode() == host_log(job, step, host).encode()
    listed = client.list_objects_v2(Bucket=e2e_stage.bucket, Prefix=f"e2e/blueking/{DS}/canary/")
    assert {o["Key"] for o in listed.get("Contents", [])} == keys  # no temporary object left behind
    assert len(keys) == 100
