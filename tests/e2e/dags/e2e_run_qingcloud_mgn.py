"""The DAGs the end-to-end QingCloud and AWS MGN run-operator tests trigger (in the second DAG bundle of the
end-to-end stage), on the stage's emulators through ``qingcloud_default`` and ``aws_default``.

``e2e_qingcloud_action_failed`` resizes ``cl-chronus01`` beyond what the emulator's zone has room for (more than
16 CPUs): its cluster job ends ``failed`` with ``error_codes`` 5200. ``e2e_qingcloud_killed`` starts the stopped
cluster ``cl-chronus02`` and ``e2e_mgn_killed`` launches cutover instances of two source servers, each waiting in
its worker with one retry (the tests kill the worker mid-wait).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from airflow.sdk import DAG

from airflow_joblogs.operators.mgn import MgnStartCutoverOperator
from airflow_joblogs.operators.qingcloud import QingCloudClusterActionOperator, QingCloudStartClustersOperator

COMMON: dict[str, Any] = {"schedule": None, "start_date": datetime(2026, 1, 1), "catchup": False, "tags": ["e2e"]}
#: two source servers of the MGN emulator that launch without a post-launch action
MGN_SERVERS = ["s-5e7a100000000001f", "s-5e7a1000000000020"]

with DAG(dag_id="e2e_qingcloud_action_failed", **COMMON):
    QingCloudClusterActionOperator(
        task_id="resize",
        action="ResizeCluster",
        parameters={"cluster": "cl-chronus01", "node_role": "chronusdb", "cpu": 32, "memory": 65536},
        deferrable=True,
        stream_logs=True,
        poll_interval=1,
        timeout=300,
    )

with DAG(dag_id="e2e_qingcloud_killed", **COMMON):
    QingCloudStartClustersOperator(
        task_id="start_clusters",
        clusters=["cl-chronus02"],
        deferrable=False,
        poll_interval=1,
        timeout=600,
        retries=1,
        retry_delay=timedelta(seconds=2),
    )

with DAG(dag_id="e2e_mgn_killed", **COMMON):
    MgnStartCutoverOperator(
        task_id="start_cutover",
        source_server_ids=MGN_SERVERS,
        tags={"wave": "e2e-killed"},
        deferrable=False,
        poll_interval=1,
        timeout=600,
        retries=1,
        retry_delay=timedelta(seconds=2),
    )
