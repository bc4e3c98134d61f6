"""The emulator's fleet of 100 jobs and the example DAG that maps a sensor and a log operator over it (the DAG
runs for real, deferred, in tests/e2e/test_e2e_mapping.py)."""

from __future__ import annotations

import runpy
from pathlib import Path

from helpers import wait_for_blueking_job

from airflow_joblogs.emulators.blueking import FLEET_FAILING, FLEET_JOBS, host_log
from airflow_joblogs.hooks.blueking import BlueKingJobHook

DAG_FILE = Path(__file__).resolve().parents[2] / "example_dags" / "blueking_mapped_fleet.py"


def test_fleet_jobs_start_when_first_asked_about_and_every_tenth_fails(bk):
    assert list(FLEET_JOBS) == list(range(2001, 2101))
    assert sorted(FLEET_FAILING) == list(range(2010, 2101, 10))
    hook = BlueKingJobHook("bk_job_default")
    for job_id in (2001, 2010):
        assert hook.get_job_status(job_id, bk_biz_id=2).raw_status == 1  # not started before it is asked about
        wait_for_blueking_job(job_id)
    ok, failed = hook.get_job_status(2001, bk_biz_id=2), hook.get_job_status(2010, bk_biz_id=2)
    assert (ok.raw_status, failed.raw_status) == (3, 4)

    # one host each, a host of its own; the failed job's host says so in its log
    (chunk,) = list(hook.iter_host_logs(2010, bk_scope_type="biz", bk_scope_id=2))
    job = bk.emulator.jobs[2010]
    (step,) = job.steps
    (host,) = step.hosts
    assert chunk.text == host_log(job, step, host)
    assert chunk.text.endswith("job_fail exit=1\n")
    ips = {bk.emulator.jobs[j].steps[0].hosts[0].ip for j in FLEET_JOBS}
    assert len(ips) == 100


def test_the_example_dag_maps_the_sensor_with_expand_and_the_log_operator_with_expand_kwargs():
    dag = runpy.run_path(str(DAG_FILE))["dag"]
    sensor, archive = dag.task_dict["wait_for_canary"], dag.task_dict["archive_canary_logs"]
    # .expand(job_instance_id=...) and .expand_kwargs(...), by the names the Task SDK gives them
    assert type(sensor.expand_input).__name__ == "DictOfListsExpandInput"
    assert set(sensor.expand_input.value) == {"job_instance_id"}
    assert type(archive.expand_input).__name__ == "ListOfDictsExpandInput"
    assert sensor.partial_kwargs["bk_biz_id"] == 2
    assert archive.partial_kwargs["trigger_rule"] == "all_done"
    assert dag.task_dict["list_rollout_jobs"].downstream_task_ids == {"wait_for_canary", "archive_canary_logs"}
    records = dag.task_dict["list_rollout_jobs"].python_callable()
    assert records == [{"job_instance_id": job_id, "bk_biz_id": 2} for job_id in FLEET_JOBS]
