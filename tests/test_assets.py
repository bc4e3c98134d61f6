"""A log operator with ``outlets=[Asset(...)]`` emits an asset event carrying its manifest, which queues the
DAG scheduled on the asset (the example DAG ``blueking_archive_asset.py``, run with dag.test())."""

from __future__ import annotations

import hashlib
import runpy
from pathlib import Path

import airflow
import pytest
from airflow.providers.common.compat.sdk import Asset
from helpers import ROOT, wait_for_blueking_job

from airflow_joblogs.operators.blueking import BlueKingJobLogOperator

AIRFLOW_VERSION = tuple(int(part) for part in airflow.__version__.split(".")[:2])
EXAMPLE = ROOT / "example_dags" / "blueking_archive_asset.py"


def test_the_outlet_event_carries_the_manifest_without_the_log(bk):
    from airflow.sdk.execution_time.context import OutletEventAccessors  # context["outlet_events"] in a task

    wait_for_blueking_job(1006)
    asset = Asset("hotfix", uri="joblogs://blueking/hotfix")
    events = OutletEventAccessors()
    manifest = BlueKingJobLogOperator(task_id="archive", job_instance_id=1006, bk_biz_id=2, outlets=[asset]).execute(
        {"outlet_events": events}
    )
    extra = events[asset].extra
    assert extra["sha256"] == manifest["sha256"] and extra["job"] == {**manifest["job"]}
    assert "content" in manifest and "content" not in extra, "the log itself stays out of the event"


@pytest.mark.slow
@pytest.mark.skipif(
    AIRFLOW_VERSION < (3, 1),
    reason="dag.test() of Airflow 3.0 (seen with 3.0.6) does not activate a DAG's assets: the task fails before it runs "
    "(AirflowInactiveAssetInInletOrOutletException)",
)
def test_the_asset_event_schedules_the_consumer(bk, run_example_dag, tmp_path):
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    # a paused DAG is not queued: the example's consumer is created unpaused (is_paused_upon_creation=False), but
    # an earlier dag.test() of the same folder may have registered it paused
    with create_session() as session:
        session.query(DagModel).filter_by(dag_id="blueking_archive_check").update({"is_paused": False})
    wait_for_blueking_job(1006)
    run, tis = run_example_dag("blueking_archive_asset.py", tmp_path, False)
    assert tis["archive_hotfix_logs"].state == "success"
    manifest = tis["archive_hotfix_logs"].xcom_pull(task_ids="archive_hotfix_logs")
    archived = Path(manifest["uri"].removeprefix("file://"))
    assert hashlib.sha256(archived.read_bytes()).hexdigest() == manifest["stored_sha256"]
    uri = runpy.run_path(str(EXAMPLE))["HOTFIX_LOGS"].uri
    with create_session() as session:
        asset = session.query(AssetModel).filter_by(uri=uri).one()
        [event] = session.query(AssetEvent).filter_by(asset_id=asset.id, source_run_id=run.run_id).all()
        assert event.extra["uri"] == manifest["uri"] and event.extra["sha256"] == manifest["sha256"]
        queued = {q.target_dag_id for q in session.query(AssetDagRunQueue).filter_by(asset_id=asset.id)}
    assert "blueking_archive_check" in queued, "the scheduler will start the DAG scheduled on the asset"
