"""Start a BlueKing JOB deployment, wait for it, then archive its logs; a second deployment shows a failure.

``deploy`` starts job plan 101 (``execute_job_plan``, with the ``version`` variable set for this run) and
waits for the job it started (in the triggerer when deferrable, streaming the hosts' new log lines into the
task log while it waits); its "Job console" link opens the job in the JOB web console when the connection has
a ``console_url`` extra, and marking the task failed terminates the job. Once it succeeded,
``archive_deploy_logs`` writes every step's and host's log to object storage under a templated path. Plan 102
fails on two hosts: ``failed_deploy`` fails with an error naming the step, the hosts, what their ``ip_status``
means, their exit codes and the last lines of their logs, and ``archive_failed_deploy_logs`` still archives
the evidence (``trigger_rule="all_done"``) as JSON Lines. The archives take the job from the run's result:
``deploy.output["job_instance_id"]`` (pushed right after the start, so it is there when the job fails too).

Set ``JOBLOGS_ARCHIVE_ROOT`` to any ObjectStoragePath URL (``s3://aws_default@bucket/deploys``,
``file:///srv/archive``); deferrable or not follows ``[operators] default_deferrable``.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_joblogs.operators.blueking import BlueKingExecuteJobPlanOperator, BlueKingJobLogOperator

ARCHIVE_ROOT = os.environ.get("JOBLOGS_ARCHIVE_ROOT", "file:///tmp/airflow-joblogs-archive").rstrip("/")

with DAG(
    dag_id="blueking_deploy_gate",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["joblogs", "blueking"],
    doc_md=__doc__,
) as dag:
    deploy = BlueKingExecuteJobPlanOperator(
        task_id="deploy",
        job_plan_id=101,
        bk_biz_id=2,
        global_vars={"version": "v2.3"},
        poll_interval=1,
        timeout=300,
        stream_logs=True,
    )
    archive_deploy_logs = BlueKingJobLogOperator(
        task_id="archive_deploy_logs",
        job_instance_id=deploy.output["job_instance_id"],
        bk_biz_id=2,
        destination=ARCHIVE_ROOT + "/blueking/{{ ds }}/",
        log_format="text",
    )
    deploy >> archive_deploy_logs

    failed_deploy = BlueKingExecuteJobPlanOperator(
        task_id="failed_deploy",
        job_plan_id=102,
        bk_biz_id=2,
        poll_interval=1,
        timeout=300,
        log_tail_lines=5,
    )
    archive_failed_deploy_logs = BlueKingJobLogOperator(
        task_id="archive_failed_deploy_logs",
        job_instance_id=failed_deploy.output["job_instance_id"],
        bk_biz_id=2,
        destination=ARCHIVE_ROOT + "/blueking/{{ ds }}/",
        log_format="jsonl",
        trigger_rule="all_done",
        if_unfinished="warn",  # the evidence even if the run gave up before the job ended
    )
    failed_deploy >> archive_failed_deploy_logs
