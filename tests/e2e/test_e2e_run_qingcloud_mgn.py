"""The QingCloud AppCenter and AWS MGN run operators in a real Airflow 3.3: a cluster action whose job fails,
run deferred with streamed status changes; a worker killed (SIGKILL) while a QingCloud or MGN run operator waits
in it, and the retry that waits on the job(s) the first try started instead of starting others.

The DAGs are ``tests/e2e/dags/e2e_run_qingcloud_mgn.py``. The QingCloud emulator counts the cluster action requests
it receives (``cluster_action_requests``), the MGN emulator the start requests (``start_requests``).

On the session's shared stage this module runs after ``test_e2e_example_dags.py`` (pytest collects the files in
name order): that module's checks count the application's cluster job records and the MGN launches, which the
jobs started here add to.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import replace
from typing import Any

import pytest
from test_e2e_run_operators import LOGICAL_DATE, log_text, state_of, task_process, wait_for, xcom

# the first test in a session also waits for the stage to come up (minutes on a busy machine)
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

DAGS = ["e2e_qingcloud_action_failed", "e2e_qingcloud_killed", "e2e_mgn_killed"]
MGN_SERVERS = ["s-5e7a100000000001f", "s-5e7a1000000000020"]


@pytest.fixture(scope="module")
def stage(e2e_stage):
    """The stage with this module's DAGs parsed."""
    e2e_stage.airflow.wait_dags(DAGS)
    return e2e_stage


def task_log_with_spill(airflow: Any, dag_id: str, run_id: str, task_id: str) -> str:
    """The first try's log as the UI shows it, with the trigger's last lines that a busy triggerer wrote to its own
    output (``AirflowCluster.triggerer_spill``) added: every line logged, where a user finds it."""
    spill = airflow.triggerer_spill(dag_id, task_id, run_id=run_id)
    return "\n".join([log_text(airflow, dag_id, run_id, task_id), *(str(e.get("event", "")) for e in spill)])


def kill_the_waiting_worker(stage: Any, dag_id: str, run_id: str, task_id: str, waiting: str, reattached: str) -> float:
    """Once the first try's log shows ``waiting`` (it stored the job and polls it), SIGKILL the process running
    the try; wait until the retry's log shows ``reattached``. Returns the seconds from the kill to that line."""
    airflow = stage.airflow
    wait_for(
        "the first try stored the job and polls it",
        lambda: waiting in log_text(airflow, dag_id, run_id, task_id),
        90,
        airflow,
    )
    ti = airflow.task_instances(dag_id, run_id)[task_id]
    assert ti["try_number"] == 1 and ti["state"] == "running", ti
    proc = wait_for("the task's process", lambda: task_process(stage, ti["id"]), 30, airflow)
    os.kill(proc.pid, signal.SIGKILL)  # that process only, by its pid
    killed_at = time.monotonic()
    wait_for(
        "the retry reattached",
        lambda: (
            airflow.task_instances(dag_id, run_id)[task_id]["try_number"] == 2
            and reattached in log_text(airflow, dag_id, run_id, task_id, 2)
        ),
        120,
        airflow,
    )
    return time.monotonic() - killed_at


def test_a_failed_cluster_job_fails_the_deferred_run_with_its_report(stage):
    airflow, emulator = stage.airflow, stage.emulators["qingcloud"]
    dag_id, run_id, task_id = "e2e_qingcloud_action_failed", "action-failed", "resize"
    known, actions = {j.job_id for j in emulator.jobs}, emulator.cluster_action_requests
    airflow.trigger(dag_id, run_id, LOGICAL_DATE)
    new = wait_for("a cluster job started", lambda: [j for j in emulator.jobs if j.job_id not in known], 90, airflow)
    assert [(j.job_action, j.cluster) for j in new] == [("ResizeCluster", "cl-chronus01")]
    job_id = new[0].job_id
    seen: set[str] = set()

    def ended() -> bool:
        state = state_of(airflow, dag_id, run_id, task_id)
        seen.add(str(state))
        return state in ("success", "failed")

    wait_for("the task ended", ended, 120, airflow)
    assert "deferred" in seen, seen
    ti = airflow.task_instances(dag_id, run_id)[task_id]
    assert ti["state"] == "failed" and ti["try_number"] == 1, ti
    assert emulator.cluster_action_requests == actions + 1
    # the job id is there for a later task (an export with trigger_rule="all_done") although the run failed
    job_ids = airflow.xcom(dag_id, run_id, task_id, "job_ids")
    assert (json.loads(job_ids) if isinstance(job_ids, str) else job_ids) == [job_id]

    log = task_log_with_spill(airflow, dag_id, run_id, task_id)
    # what a user reads: the failed job, its action and cluster, the reason (error_codes 5200)
    assert f"JobFailedError: QingCloud job {job_id} (ResizeCluster) ended in status 'failed'" in log, log[-3000:]
    assert f"- job {job_id} ResizeCluster on cl-chronus01: status 'failed', error_codes 5200" in log, log[-3000:]
    # stream_logs: the job's status changes, streamed while deferred, to its failure
    assert f"[{job_id}] ResizeCluster on cl-chronus01 is pending since" in log, log[-3000:]
    assert f"[{job_id}] ResizeCluster on cl-chronus01 is failed since" in log and "(error_codes 5200)" in log, log[
        -3000:
    ]


def test_qingcloud_worker_killed_mid_wait_the_retry_reattaches_to_the_same_job(stage):
    airflow, emulator = stage.airflow, stage.emulators["qingcloud"]
    dag_id, run_id, task_id = "e2e_qingcloud_killed", "killed", "start_clusters"
    known, actions = {j.job_id for j in emulator.jobs}, emulator.cluster_action_requests
    airflow.trigger(dag_id, run_id, LOGICAL_DATE)
    new = wait_for("a cluster job started", lambda: [j for j in emulator.jobs if j.job_id not in known], 90, airflow)
    assert [(j.job_action, j.cluster) for j in new] == [("StartClusters", "cl-chronus02")]
    job = new[0]
    # hold the job working until the retry has reattached, whatever the machine's pace
    job.working = 1e6
    try:
        took = kill_the_waiting_worker(
            stage,
            dag_id,
            run_id,
            task_id,
            f"QingCloud job {job.job_id} is ",
            f"QingCloud job {job.job_id}, started by an earlier try, is ",
        )
        print(f"\nQingCloud: the retry reattached {took:.1f}s after the kill")
    finally:
        job.working = 3.0
    wait_for("the retry succeeded", lambda: state_of(airflow, dag_id, run_id, task_id) == "success", 120, airflow)
    assert emulator.cluster_action_requests == actions + 1, "exactly one StartClusters request"
    assert [j.job_id for j in emulator.jobs if j.job_id not in known] == [job.job_id]
    log = log_text(airflow, dag_id, run_id, task_id, 2)
    assert "waiting on it instead of starting another" in log
    assert f"QingCloud job {job.job_id} finished with 'successful': success" in log
    result = xcom(airflow, dag_id, run_id, task_id)
    assert result["job_ids"] == [job.job_id] and result["clusters"] == {"cl-chronus02": job.job_id}
    assert result["status"]["raw"] == "successful"
    assert [(j["job_id"], j["cluster"], j["status"]) for j in result["outputs"]["jobs"]] == [
        (job.job_id, "cl-chronus02", "successful")
    ]


def test_mgn_worker_killed_mid_wait_the_retry_waits_on_the_stored_job(stage):
    from airflow_joblogs.emulators.mgn import timeline

    airflow, emulator = stage.airflow, stage.emulators["mgn"]
    dag_id, run_id, task_id = "e2e_mgn_killed", "killed", "start_cutover"
    known, starts = list(emulator.started), emulator.start_requests
    airflow.trigger(dag_id, run_id, LOGICAL_DATE)
    new = wait_for("a launch started", lambda: emulator.started[len(known) :], 90, airflow)
    assert len(new) == 1, new
    job_id = new[0]
    job = emulator.jobs[job_id]
    assert job.initiated_by == "START_CUTOVER" and [s.source_server_id for s in job.servers] == MGN_SERVERS
    # hold the launch STARTED (every stage a long one) until the retry has reattached; then its own timeline again
    held, emulator.timelines[job_id] = emulator.timelines[job_id], timeline(replace(job, stage=1e6))
    try:
        took = kill_the_waiting_worker(
            stage,
            dag_id,
            run_id,
            task_id,
            f"AWS MGN job {job_id} is 'STARTED'",
            f"AWS MGN job {job_id}, started by an earlier try, is 'STARTED': waiting on it instead of starting another",
        )
        print(f"\nAWS MGN: the retry reattached {took:.1f}s after the kill")
    finally:
        emulator.timelines[job_id] = held
    wait_for("the retry succeeded", lambda: state_of(airflow, dag_id, run_id, task_id) == "success", 120, airflow)
    assert emulator.start_requests == starts + 1, "exactly one StartCutover request"
    assert emulator.started == [*known, job_id]
    log = log_text(airflow, dag_id, run_id, task_id, 2)
    assert "whose answer was lost" not in log  # the stored job id, no lookup
    assert f"AWS MGN job {job_id} finished with 'COMPLETED': success" in log
    result = xcom(airflow, dag_id, run_id, task_id)
    assert result["job_id"] == job_id and result["source_server_ids"] == MGN_SERVERS
    assert result["status"]["raw"] == "COMPLETED"
    assert result["outputs"]["servers"] == {
        s.source_server_id: {"launch_status": "LAUNCHED", "launched_ec2_instance_id": s.instance_id}
        for s in job.servers
    }
