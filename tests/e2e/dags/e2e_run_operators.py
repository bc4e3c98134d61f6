"""The DAGs the end-to-end run-operator tests trigger (a second DAG bundle of the end-to-end stage).

Every run operator here starts a BlueKing JOB job plan on the emulator through the connection
``bk_job_console`` (the stage's ``bk_job_default`` plus a ``console_url`` extra, created by the tests):
plan 101 runs like job 1001 (three steps, then success); plan 103 like job 1003 (it stops at a step that waits
for a person's confirmation, status 7, and never ends by itself).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG, task

from airflow_joblogs.operators.blueking import BlueKingExecuteJobPlanOperator
from airflow_joblogs.sensors.blueking import BlueKingJobSensor

CONN = "bk_job_console"
COMMON: dict[str, Any] = {"schedule": None, "start_date": datetime(2026, 1, 1), "catchup": False, "tags": ["e2e"]}

with DAG(dag_id="e2e_run_deferred", **COMMON):
    run_plan = BlueKingExecuteJobPlanOperator(
        task_id="run_plan",
        job_plan_id=101,
        bk_biz_id=2,
        global_vars={"version": "v2.9"},
        bk_job_conn_id=CONN,
        deferrable=True,
        stream_logs=True,
        poll_interval=1,
        timeout=300,
    )

    @task
    def report(result: dict[str, Any]) -> dict[str, Any]:
        return {
            "job_instance_id": result["job_instance_id"],
            "status": result["status"],
            "version": result["outputs"]["global_vars"]["version"],
        }

    report(run_plan.output)

with DAG(dag_id="e2e_run_killed", **COMMON):
    BlueKingExecuteJobPlanOperator(
        task_id="run_plan",
        job_plan_id=101,
        bk_biz_id=2,
        bk_job_conn_id=CONN,
        deferrable=False,
        poll_interval=1,
        timeout=600,
        retries=1,
        retry_delay=timedelta(seconds=2),
    )

with DAG(dag_id="e2e_run_marked_failed", **COMMON):
    BlueKingExecuteJobPlanOperator(
        task_id="run_plan",
        job_plan_id=103,
        bk_biz_id=2,
        bk_job_conn_id=CONN,
        deferrable=True,
        poll_interval=2,
        timeout=600,
    )

with DAG(dag_id="e2e_run_timeout", **COMMON):
    BlueKingExecuteJobPlanOperator(
        task_id="run_plan",
        job_plan_id=103,
        bk_biz_id=2,
        bk_job_conn_id=CONN,
        deferrable=True,
        poll_interval=1,
        timeout=8,
    )

with DAG(dag_id="e2e_sensor_link", **COMMON):
    start = BlueKingExecuteJobPlanOperator(
        task_id="start",
        job_plan_id=103,
        bk_biz_id=2,
        bk_job_conn_id=CONN,
        wait_for_completion=False,
    )
    BlueKingJobSensor(
        task_id="wait",
        job_instance_id=start.output["job_instance_id"],
        bk_biz_id=2,
        bk_job_conn_id=CONN,
        deferrable=True,
        poke_interval=2,
        timeout=600,
    )
