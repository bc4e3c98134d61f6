"""Wait for an AWS MGN cutover launch, then archive its job log; a second cutover shows a failure.

``wait_for_cutover`` waits for the cutover launch job (in the triggerer when deferrable, streaming new
log events into the task log while it waits) and requires the launched servers' post-launch actions to
succeed too. Once it succeeded, ``archive_cutover_log`` writes every log event, grouped by source server,
as readable lines under a templated path. The second job fails: one source server fails conversion three
times and its launch fails. ``wait_for_failed_cutover`` fails with an error naming that server, its
failure events with the whole ``rawError`` and its last log events, and ``archive_failed_cutover_log``
still archives the evidence (``trigger_rule="all_done"``) as JSON Lines, the items exactly as MGN returns them.

Uses the ``aws_default`` connection (its extra may set ``endpoint_url`` and ``region_name``). Set
``JOBLOGS_ARCHIVE_ROOT`` to any ObjectStoragePath URL (``s3://aws_default@bucket/migrations``,
``file:///srv/archive``); deferrable or not follows ``[operators] default_deferrable``.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_joblogs.operators.mgn import MgnJobLogOperator
from airflow_joblogs.sensors.mgn import MgnJobSensor

ARCHIVE_ROOT = os.environ.get("JOBLOGS_ARCHIVE_ROOT", "file:///tmp/airflow-joblogs-archive").rstrip("/")
CUTOVER_JOB = "mgnjob-cutover0000000001"
FAILED_CUTOVER_JOB = "mgnjob-failedlaunch00001"

with DAG(
    dag_id="mgn_cutover_logs",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["joblogs", "aws", "mgn"],
    doc_md=__doc__,
) as dag:
    wait_for_cutover = MgnJobSensor(
        task_id="wait_for_cutover",
        job_id=CUTOVER_JOB,
        require_post_launch_success=True,
        poke_interval=1,
        timeout=600,
        stream_logs=True,
    )
    archive_cutover_log = MgnJobLogOperator(
        task_id="archive_cutover_log",
        job_id=CUTOVER_JOB,
        destination=ARCHIVE_ROOT + "/mgn/{{ ds }}/",
        log_format="text",
        group_by_server=True,
    )
    wait_for_cutover >> archive_cutover_log

    wait_for_failed_cutover = MgnJobSensor(
        task_id="wait_for_failed_cutover",
        job_id=FAILED_CUTOVER_JOB,
        poke_interval=1,
        timeout=600,
        log_tail_lines=5,
    )
    archive_failed_cutover_log = MgnJobLogOperator(
        task_id="archive_failed_cutover_log",
        job_id=FAILED_CUTOVER_JOB,
        destination=ARCHIVE_ROOT + "/mgn/{{ ds }}/",
        log_format="jsonl",
        trigger_rule="all_done",
        if_unfinished="warn",  # the evidence even if the sensor gave up before the job ended
    )
    wait_for_failed_cutover >> archive_failed_cutover_log
