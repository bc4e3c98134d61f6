"""Gate a release on a BlueKing JOB deployment, then archive its logs; a second job shows a failure.

``wait_for_deploy`` waits for job 1001 (in the triggerer when deferrable, streaming the hosts' new log
lines into the task log while it waits). Once it succeeded, ``archive_deploy_logs`` writes every step's
and host's log to object storage under a templated path. Job 1002 fails on two hosts:
``wait_for_failed_deploy`` fails with an error naming the step, the hosts, what their ``ip_status``
means, their exit codes and the last lines of their logs, and ``archive_failed_deploy_logs`` still
archives the evidence (``trigger_rule="all_done"``) as JSON Lines.

Set ``JOBLOGS_ARCHIVE_ROOT`` to any ObjectStoragePath URL (``s3://aws_default@bucket/deploys``,
``file:///srv/archive``); deferrable or not follows ``[operators] default_deferrable``.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_joblogs.operators.blueking import BlueKingJobLogOperator
from airflow_joblogs.sensors.blueking import BlueKingJobSensor

ARCHIVE_ROOT = os.environ.get("JOBLOGS_ARCHIVE_ROOT", "file:///tmp/airflow-joblogs-archive").rstrip("/")

with DAG(
    dag_id="blueking_deploy_gate",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["joblogs", "blueking"],
    doc_md=__doc__,
) as dag:
    wait_for_deploy = BlueKingJobSensor(
        task_id="wait_for_deploy",
        job_instance_id=1001,
        bk_biz_id=2,
        poke_interval=1,
        timeout=300,
        stream_logs=True,
    )
    archive_deploy_logs = BlueKingJobLogOperator(
        task_id="archive_deploy_logs",
        job_instance_id=1001,
        bk_biz_id=2,
        destination=ARCHIVE_ROOT + "/blueking/{{ ds }}/",
        log_format="text",
    )
    wait_for_deploy >> archive_deploy_logs

    wait_for_failed_deploy = BlueKingJobSensor(
        task_id="wait_for_failed_deploy",
        job_instance_id=1002,
        bk_biz_id=2,
        poke_interval=1,
        timeout=300,
        log_tail_lines=5,
    )
    archive_failed_deploy_logs = BlueKingJobLogOperator(
        task_id="archive_failed_deploy_logs",
        job_instance_id=1002,
        bk_biz_id=2,
        destination=ARCHIVE_ROOT + "/blueking/{{ ds }}/",
        log_format="jsonl",
        trigger_rule="all_done",
        if_unfinished="warn",  # the evidence even if the sensor gave up before the job ended
    )
    wait_for_failed_deploy >> archive_failed_deploy_logs
