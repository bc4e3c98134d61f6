"""Gate on a QingCloud AppCenter (ChronusDB) cluster job, then export the application's recent job records.

``wait_for_scale_out`` waits for the ``AddClusterNodes`` job (in the triggerer when deferrable, writing
each status change into the task log). Once it succeeded, ``export_recent_jobs`` writes the
application's most recent job records, all pages, as JSON Lines (``directive`` decoded) to object storage
under a templated path. The ``ResizeCluster`` job fails: ``wait_for_resize`` fails with an error naming
the job, its ``job_action``, resource ids and ``error_codes``, and ``export_failed_jobs`` still lists the
application's failed jobs as readable lines into XCom (``trigger_rule="all_done"``).

Set ``JOBLOGS_ARCHIVE_ROOT`` to any ObjectStoragePath URL (``s3://aws_default@bucket/ops``,
``file:///srv/archive``); deferrable or not follows ``[operators] default_deferrable``.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_joblogs.operators.qingcloud import QingCloudClusterJobsOperator
from airflow_joblogs.sensors.qingcloud import QingCloudClusterJobSensor

ARCHIVE_ROOT = os.environ.get("JOBLOGS_ARCHIVE_ROOT", "file:///tmp/airflow-joblogs-archive").rstrip("/")
APP = "app-tg3lbp0a"

with DAG(
    dag_id="qingcloud_cluster_jobs",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["joblogs", "qingcloud"],
    doc_md=__doc__,
) as dag:
    wait_for_scale_out = QingCloudClusterJobSensor(
        task_id="wait_for_scale_out",
        job_ids="j-addnodes01",
        app=APP,
        poke_interval=1,
        timeout=300,
        stream_logs=True,
    )
    export_recent_jobs = QingCloudClusterJobsOperator(
        task_id="export_recent_jobs",
        app=APP,
        max_records=50,
        destination=ARCHIVE_ROOT + "/qingcloud/{{ ds }}/",
        log_format="jsonl",
    )
    wait_for_scale_out >> export_recent_jobs

    wait_for_resize = QingCloudClusterJobSensor(
        task_id="wait_for_resize",
        job_ids=["j-resize0001"],
        app=APP,
        poke_interval=1,
        timeout=300,
        log_tail_lines=3,
    )
    export_failed_jobs = QingCloudClusterJobsOperator(
        task_id="export_failed_jobs",
        app=APP,
        status=["failed"],
        log_format="text",
        trigger_rule="all_done",
        if_unfinished="warn",  # the evidence even if the sensor gave up before the job ended
    )
    wait_for_resize >> export_failed_jobs
