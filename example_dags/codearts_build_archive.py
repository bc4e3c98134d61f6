"""Run a Huawei Cloud CodeArts build, wait for it, then archive its whole run log and one build action's log.

``build`` runs build task ``job_id`` (``POST /v3/jobs/build``) and waits for the new build to succeed (in the
triggerer when deferrable), streaming the build's new log lines into the task log while it waits; its "Job
console" link opens the build in the CodeArts Build console when the connection has a ``console_url`` extra,
and marking the task failed stops the build. Once it succeeded, ``archive_build_log`` writes the whole run
log, exactly as the service serves it, to object storage under a templated path, and
``archive_unit_test_log`` writes the log of build action 3 (the unit tests) as JSON Lines, one record per page
with the API's fields (offsets, ``log``, ``has_more``, ``location``). Each returns a manifest (size, lines,
sha256, final offsets). The archives take the build from the run's result: ``build.output["build_no"]``.

The defaults point at the bundled emulator's catalogue (``python -m airflow_joblogs.emulators codearts``);
trigger the DAG with other ``params`` for a real build task. Set ``JOBLOGS_ARCHIVE_ROOT`` to any
ObjectStoragePath URL (``s3://aws_default@bucket/builds``, ``file:///srv/archive``); deferrable or not
follows ``[operators] default_deferrable``.
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, Param

from airflow_joblogs.operators.codearts import CodeArtsBuildLogOperator, CodeArtsBuildRunOperator

ARCHIVE_ROOT = os.environ.get("JOBLOGS_ARCHIVE_ROOT", "file:///tmp/airflow-joblogs-archive").rstrip("/")

with DAG(
    dag_id="codearts_build_archive",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["joblogs", "codearts"],
    doc_md=__doc__,
    params={
        "job_id": Param("a1b2c3d4e5f60718293a4b5c6d7e8f90", type="string", pattern="^[a-z0-9]{32}$"),
        "step_id": Param(3, type="integer", minimum=0),
    },
) as dag:
    build = CodeArtsBuildRunOperator(
        task_id="build",
        job_id="{{ params.job_id }}",
        poll_interval=1,
        timeout=600,
        stream_logs=True,
    )
    archive_build_log = CodeArtsBuildLogOperator(
        task_id="archive_build_log",
        job_id=build.output["job_id"],
        build_no=build.output["build_no"],
        destination=ARCHIVE_ROOT + "/codearts/{{ ds }}/",
        log_format="text",
    )
    archive_unit_test_log = CodeArtsBuildLogOperator(
        task_id="archive_unit_test_log",
        job_id=build.output["job_id"],
        build_no=build.output["build_no"],
        step_id="{{ params.step_id }}",
        destination=ARCHIVE_ROOT + "/codearts/{{ ds }}/",
        log_format="jsonl",
    )
    build >> [archive_build_log, archive_unit_test_log]
