"""Scale out a QingCloud AppCenter (ChronusDB) cluster, wait for its job, then export the application's job records.

``add_nodes`` sends ``AddClusterNodes`` (two ``chronusdb`` nodes on ``cl-chronus01``) and waits for the cluster
job it started (in the triggerer when deferrable, writing each status change into the task log); it returns the
job ids, the cluster and the job's final status. Once it succeeded, ``export_recent_jobs`` writes the
application's most recent job records, the new job's first, all pages, as JSON Lines (``directive`` decoded) to
object storage under a templated path. The ``ResizeCluster`` job fails: ``wait_for_resize`` fails with an error
naming the job, its ``job_action``, resource ids and ``error_codes``, and ``export_failed_jobs`` still lists the
application's failed jobs as readable lines into XCom (``trigger_rule="all_done"``).

QingCloud has no API that terminates a cluster job: a killed ``add_nodes`` leaves its job running, and a retry
waits on the job the first try started (Airflow >= 3.3) instead of adding nodes again.

Set ``JOBLOGS_ARCHIVE_ROOT`` to any ObjectStoragePath URL (``s3://aws_default@bucket/ops``,
``file:///srv/archive``); deferrable or not follows ``[operators] default_deferrable``.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_joblogs.operators.qingcloud import QingCloudAddClusterNodesOperator, QingCloudClusterJobsOperator
from airflow_joblogs.sensors.qingcloud import QingCloudClusterJobSensor

ARCHIVE_ROOT = os.environ.get("JOBLOGS_ARCHIVE_ROOT", "file:///tmp/airflow-joblogs-archive").rstrip("/")
APP = "app-tg3lbp0a"
CLUSTER = "cl-chronus01"

with DAG(
    dag_id="qingcloud_cluster_jobs",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["joblogs", "qingcloud"],
    doc_md=__doc__,
) as dag:
    add_nodes = QingCloudAddClusterNodesOperator(
        task_id="add_nodes",
        cluster=CLUSTER,
        node_count=2,
        node_role="chronusdb",
        poll_interval=1,
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
    add_nodes >> export_recent_jobs

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
