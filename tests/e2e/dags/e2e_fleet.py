"""DAGs of the end-to-end suite's own scenarios (not examples): many deferred sensors at once, and an archive
whose worker dies.

``e2e_fleet_sensors`` waits on ``JOBLOGS_E2E_FLEET_JOBS`` BlueKing jobs (2001 on: the emulator's
``fleet_jobs``), one mapped deferrable sensor each, streaming their logs; ``e2e_failover_sensors`` on the
``JOBLOGS_E2E_FAILOVER_JOBS`` jobs after them. ``e2e_archive_retry`` archives job 1005's large log to
``JOBLOGS_ARCHIVE_ROOT`` with one retry. ``e2e_run_reattach`` starts job plan 101 and waits on it in its worker
(not deferred), with one retry.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import DAG

from airflow_joblogs.operators.blueking import BlueKingExecuteJobPlanOperator, BlueKingJobLogOperator
from airflow_joblogs.sensors.blueking import BlueKingJobSensor

FIRST_JOB = 2001
FLEET_JOBS = int(os.environ.get("JOBLOGS_E2E_FLEET_JOBS", "200"))
FAILOVER_JOBS = int(os.environ.get("JOBLOGS_E2E_FAILOVER_JOBS", "40"))
POLL_INTERVAL = float(os.environ.get("JOBLOGS_E2E_POLL_INTERVAL", "5"))
ARCHIVE_ROOT = os.environ.get("JOBLOGS_ARCHIVE_ROOT", "file:///tmp/airflow-joblogs-archive").rstrip("/")


def sensors_dag(dag_id: str, job_ids: list[int]) -> DAG:
    with DAG(dag_id, schedule=None, start_date=datetime(2026, 1, 1), catchup=False, max_active_tasks=32) as dag:
        BlueKingJobSensor.partial(
            task_id="wait_for_job",
            bk_biz_id=2,
            deferrable=True,
            stream_logs=True,
            poke_interval=POLL_INTERVAL,
            timeout=900,
        ).expand(job_instance_id=job_ids)
    return dag


fleet = sensors_dag("e2e_fleet_sensors", list(range(FIRST_JOB, FIRST_JOB + FLEET_JOBS)))
failover = sensors_dag(
    "e2e_failover_sensors", list(range(FIRST_JOB + FLEET_JOBS, FIRST_JOB + FLEET_JOBS + FAILOVER_JOBS))
)

with DAG("e2e_archive_retry", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as archive_retry:
    BlueKingJobLogOperator(
        task_id="archive_large_log",
        job_instance_id=1005,
        bk_biz_id=2,
        destination=ARCHIVE_ROOT + "/retry/{{ ds }}/",
        log_format="text",
        if_unfinished="wait",
        wait_interval=1,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )

with DAG("e2e_run_reattach", schedule=None, start_date=datetime(2026, 1, 1), catchup=False) as run_reattach:
    BlueKingExecuteJobPlanOperator(
        task_id="run_plan",
        job_plan_id=101,
        bk_biz_id=2,
        deferrable=False,
        poll_interval=1,
        retries=1,
        retry_delay=timedelta(seconds=1),
    )
