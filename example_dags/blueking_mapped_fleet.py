"""Wait for and archive 100 BlueKing JOB jobs of one rollout with dynamic task mapping.

A canary rollout restarted a service on 100 hosts, one job per host (the emulator's jobs 2001 to 2100;
every tenth fails its health check). ``list_rollout_jobs`` returns the jobs as ``{"job_instance_id",
"bk_biz_id"}`` records (the same identifiers a run operator's result carries), and two mapped tasks take
one map index per job:

* ``wait_for_canary``: ``BlueKingJobSensor.partial(...).expand(job_instance_id=...)``: the shared arguments
  once, the job id per index (picked out of each record with ``.map``). Deferrable, so the 100 waits sit in
  the triggerer instead of 100 worker slots; each index ends as its job: success, or failed naming the host.
* ``archive_canary_logs``: ``BlueKingJobLogOperator.partial(...).expand_kwargs(...)``: each record is the
  keyword arguments of one index. ``trigger_rule="all_done"`` archives the failed jobs' logs too; each
  index returns its own manifest.

Set ``JOBLOGS_ARCHIVE_ROOT`` to any ObjectStoragePath URL (``s3://aws_default@bucket/deploys``,
``file:///srv/archive``); deferrable or not follows ``[operators] default_deferrable``.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG, task

from airflow_joblogs.operators.blueking import BlueKingJobLogOperator
from airflow_joblogs.sensors.blueking import BlueKingJobSensor

ARCHIVE_ROOT = os.environ.get("JOBLOGS_ARCHIVE_ROOT", "file:///tmp/airflow-joblogs-archive").rstrip("/")
#: the rollout's job instances in business 2 (in a real deployment: from the system that started them)
ROLLOUT_JOBS = list(range(2001, 2101))

with DAG(
    dag_id="blueking_mapped_fleet",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_tasks=16,
    tags=["joblogs", "blueking"],
    doc_md=__doc__,
) as dag:

    @task
    def list_rollout_jobs() -> list[dict[str, int]]:
        return [{"job_instance_id": job_id, "bk_biz_id": 2} for job_id in ROLLOUT_JOBS]

    jobs = list_rollout_jobs()

    wait_for_canary = BlueKingJobSensor.partial(
        task_id="wait_for_canary",
        bk_biz_id=2,
        poke_interval=2,
        timeout=600,
        log_tail_lines=5,
        # a failed job or a timeout fails the index without a retry; a retry covers a try that Airflow itself
        # lost: with many deferred tasks, a trigger that fires within seconds can race the scheduler, which
        # then fails the resumed task (apache/airflow#72716, #71580)
        retries=1,
        retry_delay=timedelta(seconds=5),
        map_index_template="job {{ task.job_instance_id }}",  # the UI names each index after its job
    ).expand(job_instance_id=jobs.map(lambda job: job["job_instance_id"]))

    archive_canary_logs = BlueKingJobLogOperator.partial(
        task_id="archive_canary_logs",
        destination=ARCHIVE_ROOT + "/blueking/{{ ds }}/canary/",
        log_format="text",
        trigger_rule="all_done",
        map_index_template="job {{ task.job_instance_id }}",
    ).expand_kwargs(jobs)

    wait_for_canary >> archive_canary_logs
