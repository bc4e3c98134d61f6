"""Archive a BlueKing JOB's log as an asset; a second DAG, scheduled on the asset, checks the archive.

``archive_hotfix_logs`` archives job 1006's log with ``outlets=[HOTFIX_LOGS]``: when it succeeds, Airflow
records an asset event whose ``extra`` is the archive's manifest (``uri``, ``sha256``, ``bytes``, ``job``
...). That event schedules ``blueking_archive_check``, whose task reads the manifest from
``triggering_asset_events`` and verifies the archive's checksum.

Set ``JOBLOGS_ARCHIVE_ROOT`` to any ObjectStoragePath URL (``s3://aws_default@bucket/deploys``,
``file:///srv/archive``).
"""

from __future__ import annotations

import os
from datetime import datetime

from airflow.sdk import DAG, Asset, task

from airflow_joblogs.operators.blueking import BlueKingJobLogOperator

ARCHIVE_ROOT = os.environ.get("JOBLOGS_ARCHIVE_ROOT", "file:///tmp/airflow-joblogs-archive").rstrip("/")
HOTFIX_LOGS = Asset("blueking_hotfix_logs", uri="joblogs://blueking/hotfix-logs")

with DAG(
    dag_id="blueking_archive_asset",
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    tags=["joblogs", "blueking"],
    doc_md=__doc__,
) as dag:
    BlueKingJobLogOperator(
        task_id="archive_hotfix_logs",
        job_instance_id=1006,
        bk_biz_id=2,
        destination=ARCHIVE_ROOT + "/blueking/{{ ds }}/",
        overwrite=True,
        outlets=[HOTFIX_LOGS],
    )

with DAG(
    dag_id="blueking_archive_check",
    schedule=[HOTFIX_LOGS],
    start_date=datetime(2026, 1, 1),
    catchup=False,
    is_paused_upon_creation=False,  # runs whenever the archive is renewed
    tags=["joblogs", "blueking"],
    doc_md=__doc__,
) as consumer:

    @task
    def verify_archive(triggering_asset_events=None) -> str:
        import hashlib

        from airflow.sdk import ObjectStoragePath

        manifest = triggering_asset_events[HOTFIX_LOGS][-1].extra
        digest = hashlib.sha256(ObjectStoragePath(manifest["uri"]).read_bytes()).hexdigest()
        if digest != manifest["stored_sha256"]:
            raise ValueError(f"{manifest['uri']} does not match its manifest")
        return manifest["uri"]

    verify_archive()
