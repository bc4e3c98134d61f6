"""Start an AWS MGN cutover, wait for it, then archive its job log; a second cutover shows a failure.

``start_cutover`` launches cutover instances for three source servers (``StartCutover``) and waits for the
LAUNCH job (in the triggerer when deferrable, streaming new log events into the task log while it waits),
requiring the launched servers' post-launch actions to succeed too. It returns the job id and each server's
launched EC2 instance id. Once it succeeded, ``archive_cutover_log`` writes every log event, grouped by source
server, as readable lines under a templated path. The second cutover fails: one of its source servers fails
conversion three times and its launch fails. ``start_failed_cutover`` fails with an error naming that server,
its failure events with the whole ``rawError`` and its last log events, and ``archive_failed_cutover_log``
still archives the evidence (``trigger_rule="all_done"``) as JSON Lines, the items exactly as MGN returns them
(the job id is pushed when the job starts, so it is there after a failed run).

MGN has no API that cancels a job: a cutover started here runs to its end whatever happens to the task, and a
retry waits on the job the earlier try started (Airflow >= 3.3) instead of starting another.

Uses the ``aws_default`` connection (its extra may set ``endpoint_url`` and ``region_name``). Set
``JOBLOGS_ARCHIVE_ROOT`` to any ObjectStoragePath URL (``s3://aws_default@bucket/migrations``,
``file:///srv/archive``); deferrable or not follows ``[operators] default_deferrable``. The source server ids are
the bundled emulator's (``python -m airflow_joblogs.emulators``); put yours in their place.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG

from airflow_joblogs.operators.mgn import MgnJobLogOperator, MgnStartCutoverOperator

ARCHIVE_ROOT = os.environ.get("JOBLOGS_ARCHIVE_ROOT", "file:///tmp/airflow-joblogs-archive").rstrip("/")
#: three servers whose cutover instances launch and run a post-launch action
CUTOVER_SERVERS = ["s-5e7a1000000000001", "s-5e7a1000000000002", "s-5e7a1000000000003"]
#: three servers, the second of which fails conversion on every attempt
FAILING_SERVERS = ["s-5e7a100000000000b", "s-5e7a100000000000c", "s-5e7a100000000000d"]

with DAG(
    dag_id="mgn_cutover_logs",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["joblogs", "aws", "mgn"],
    doc_md=__doc__,
) as dag:
    start_cutover = MgnStartCutoverOperator(
        task_id="start_cutover",
        source_server_ids=CUTOVER_SERVERS,
        tags={"wave": "1"},
        require_post_launch_success=True,
        poll_interval=1,
        timeout=600,
        stream_logs=True,
    )
    archive_cutover_log = MgnJobLogOperator(
        task_id="archive_cutover_log",
        job_id=start_cutover.output["job_id"],
        destination=ARCHIVE_ROOT + "/mgn/{{ ds }}/",
        log_format="text",
        group_by_server=True,
    )
    start_cutover >> archive_cutover_log

    start_failed_cutover = MgnStartCutoverOperator(
        task_id="start_failed_cutover",
        source_server_ids=FAILING_SERVERS,
        tags={"wave": "2"},
        poll_interval=1,
        timeout=600,
        log_tail_lines=5,
    )
    archive_failed_cutover_log = MgnJobLogOperator(
        task_id="archive_failed_cutover_log",
        job_id=start_failed_cutover.output["job_id"],
        destination=ARCHIVE_ROOT + "/mgn/{{ ds }}/",
        log_format="jsonl",
        trigger_rule="all_done",
        if_unfinished="warn",  # the evidence even if the run gave up before the job ended
    )
    start_failed_cutover >> archive_failed_cutover_log
