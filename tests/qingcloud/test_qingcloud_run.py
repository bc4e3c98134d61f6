"""QingCloud cluster actions (start → wait → result) against the emulator: the hook's action calls, the run
operators, and the official ``qingcloud-sdk`` client's actions waited on by our sensor.

``FakeTaskStateStore`` and ``FakeTI`` (from ``test_run_operators``) stand in for Airflow 3.3's task state store and
the task instance's XCom calls.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import urlparse

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from helpers import poke_until_done, round_trip, trigger_events
from test_run_operators import FakeTaskStateStore, FakeTI, context

from airflow_joblogs.emulators.qingcloud import (
    ACCESS_KEY_ID,
    APP_ID,
    CLUSTER_ID,
    SECRET_ACCESS_KEY,
    STOPPED_CLUSTER_ID,
    ZONE,
)
from airflow_joblogs.exceptions import InvalidParameterError, JobFailedError, NotFoundError, PermissionDeniedError
from airflow_joblogs.hooks.qingcloud import QingCloudHook
from airflow_joblogs.operators.qingcloud import (
    QingCloudAddClusterNodesOperator,
    QingCloudClusterActionOperator,
    QingCloudClusterJobsOperator,
    QingCloudDeleteClusterNodesOperator,
    QingCloudResizeClusterOperator,
    QingCloudStartClustersOperator,
    QingCloudStopClustersOperator,
)
from airflow_joblogs.operators.run import CONSOLE_URL_KEY, STARTED_JOB_KEY
from airflow_joblogs.sensors.qingcloud import QingCloudClusterJobSensor
from airflow_joblogs.triggers.qingcloud import QingCloudClusterJobTrigger

RECORDER = "joblogs-qingcloud-run"


def quick(kwargs: dict[str, Any]) -> dict[str, Any]:
    kwargs.setdefault("deferrable", False)
    kwargs.setdefault("poll_interval", 0.02)
    kwargs.setdefault("timeout", 30)
    return kwargs


def add_nodes(**kwargs: Any) -> QingCloudAddClusterNodesOperator:
    kwargs.setdefault("cluster", CLUSTER_ID)
    kwargs.setdefault("node_count", 2)
    kwargs.setdefault("node_role", "chronusdb")
    return QingCloudAddClusterNodesOperator(task_id="add_nodes", **quick(kwargs))


def action(name: str, parameters: Any, **kwargs: Any) -> QingCloudClusterActionOperator:
    return QingCloudClusterActionOperator(task_id="act", action=name, parameters=parameters, **quick(kwargs))


class _Recorded(QingCloudAddClusterNodesOperator):
    """The operator with a plain logger: the test reads what the task log would show."""

    @property
    def log(self) -> logging.Logger:  # type: ignore[override]
        return logging.getLogger(RECORDER)


# -- start and wait ------------------------------------------------------------------------------------------
def test_add_nodes_waits_and_returns_jobs_clusters_and_final_statuses(qc):
    ctx = context()
    result = add_nodes().execute(ctx)
    json.dumps(result)
    [job_id] = result["job_ids"]
    assert job_id.startswith("j-") and job_id not in ("j-addnodes01",)
    assert result["action"] == "AddClusterNodes"
    assert result["clusters"] == {CLUSTER_ID: job_id}
    assert result["cluster"] == CLUSTER_ID and result["app"] is None
    assert result["status"] == {"raw": "successful", "state": "success", "meaning": "success"}
    assert result["response"]["cluster_id"] == CLUSTER_ID and len(result["response"]["new_node_ids"]) == 2
    [job] = result["outputs"]["jobs"]
    assert job["job_id"] == job_id and job["cluster"] == CLUSTER_ID
    assert job["job_action"] == "AddClusterNodes" and job["status"] == "successful"
    # no console link: no public source documents one
    assert result["console_url"] is None and CONSOLE_URL_KEY not in ctx["ti"].xcom
    # one request, signed, with the parameters as the API names them
    [sent] = qc.emulator.action_requests
    assert {k: sent[k] for k in ("action", "cluster", "node_count", "node_role", "zone")} == {
        "action": "AddClusterNodes",
        "cluster": CLUSTER_ID,
        "node_count": "2",
        "node_role": "chronusdb",
        "zone": ZONE,
    }
    # the identifiers plug into the sensor and the export operator
    sensor = QingCloudClusterJobSensor(task_id="s", job_ids=result["job_ids"], cluster=result["cluster"])
    assert sensor.poke({})
    export = QingCloudClusterJobsOperator(
        task_id="e", cluster=result["cluster"], job_ids=result["job_ids"], log_format="jsonl"
    )
    [record] = [json.loads(line) for line in export.execute({})["content"].splitlines()]
    assert record["job_id"] == job_id and record["directive"]["node_count"] == 2


def test_stream_logs_writes_each_status_change(qc, caplog):
    op = _Recorded(
        task_id="add_nodes", cluster=CLUSTER_ID, node_count=1, **quick({"stream_logs": True, "poll_interval": 0.01})
    )
    with caplog.at_level(logging.INFO, logger=RECORDER):
        result = op.execute(context())
    [job_id] = result["job_ids"]
    lines = [r.getMessage() for r in caplog.records if r.name == RECORDER]
    changes = [line for line in lines if line.startswith(f"[{job_id}]")]
    assert changes[0].startswith(f"[{job_id}] AddClusterNodes on {CLUSTER_ID} is pending since"), lines
    assert changes[-1].startswith(f"[{job_id}] AddClusterNodes on {CLUSTER_ID} is successful since"), lines


def test_start_clusters_on_several_clusters_waits_on_every_job(qc):
    QingCloudStopClustersOperator(task_id="stop", clusters=[CLUSTER_ID], **quick({})).execute(context())
    result = QingCloudStartClustersOperator(
        task_id="start", clusters=[CLUSTER_ID, STOPPED_CLUSTER_ID], app=APP_ID, **quick({})
    ).execute(context())
    # StartClusters answers with job_ids, a map of cluster id to job id
    assert sorted(result["clusters"]) == [CLUSTER_ID, STOPPED_CLUSTER_ID]
    assert sorted(result["job_ids"]) == sorted(result["clusters"].values()) and len(set(result["job_ids"])) == 2
    assert result["app"] == APP_ID and result["cluster"] is None
    assert {(j["cluster"], j["status"]) for j in result["outputs"]["jobs"]} == {
        (CLUSTER_ID, "successful"),
        (STOPPED_CLUSTER_ID, "successful"),
    }


def test_generic_operator_deploys_an_app_version_and_waits_on_the_new_cluster(qc):
    conf = {"cluster": {"name": "chronus-b", "vxnet": "vxnet-chronus", "chronusdb": {"count": 3, "cpu": 4}}}
    result = action("DeployAppVersion", {"version_id": "appv-chronus21", "conf": conf}).execute(context())
    cluster = result["response"]["cluster_id"]
    assert result["cluster"] == cluster and result["clusters"] == {cluster: result["job_ids"][0]}
    assert result["response"]["node_count"] == 3 and result["status"]["raw"] == "successful"
    assert json.loads(qc.emulator.action_requests[-1]["conf"]) == conf  # sent as compact JSON


def test_wait_for_completion_false_returns_right_after_the_start(qc):
    result = add_nodes(wait_for_completion=False).execute(context())
    assert result["status"] is None and result["outputs"] == {}
    status = QingCloudHook().get_job_status(result["job_ids"], cluster=CLUSTER_ID)
    assert status.raw_status in ("pending", "working")


# -- failure -----------------------------------------------------------------------------------------------------
def test_failed_job_fails_the_task_with_its_report(qc):
    op = QingCloudResizeClusterOperator(task_id="resize", cluster=CLUSTER_ID, cpu=32, memory=8192, **quick({}))
    with pytest.raises(JobFailedError) as info:
        op.execute(context())
    text = str(info.value)
    job_id = op.job_ref()["jobs"][0]
    assert f"QingCloud job {job_id} (ResizeCluster) ended in status 'failed'" in text
    assert f"job {job_id} ResizeCluster on {CLUSTER_ID}: status 'failed', error_codes 5200" in text


def test_action_the_service_refuses_fails_with_its_message(qc):
    with pytest.raises(PermissionDeniedError, match=r"cluster \[cl-chronus01\] is \[active\]"):
        QingCloudStartClustersOperator(task_id="start", clusters=CLUSTER_ID, **quick({})).execute(context())
    with pytest.raises(NotFoundError, match=r"resource \[cln-nothere1\] not found"):
        QingCloudDeleteClusterNodesOperator(
            task_id="delete", cluster=CLUSTER_ID, nodes=["cln-nothere1"], **quick({})
        ).execute(context())
    with pytest.raises(NotFoundError, match=r"resource \[cl-nothere01\] not found"):
        QingCloudHook().restart_cluster_service("cl-nothere01")
    assert qc.emulator.action_requests == []
    assert qc.emulator.cluster_action_requests == 3, "each refused request was received once"


# -- deferrable ----------------------------------------------------------------------------------------------------
def test_deferrable_with_stream_logs_defers_then_returns_the_result(qc):
    ctx = context()
    op = add_nodes(deferrable=True, stream_logs=True, poll_interval=0.05)
    with pytest.raises(TaskDeferred) as info:
        op.execute(ctx)
    trigger = info.value.trigger
    assert isinstance(trigger, QingCloudClusterJobTrigger)
    kwargs = round_trip(trigger, "airflow_joblogs.triggers.qingcloud.QingCloudClusterJobTrigger")
    assert kwargs["stream_logs"] is True and not kwargs.get("cancel_on_kill")  # nothing to terminate with
    assert kwargs["job_ref"] == {"jobs": op.job_ref()["jobs"], "cluster": CLUSTER_ID}
    events = trigger_events(trigger)
    assert events[-1]["status"] == "success"
    resumed = add_nodes(deferrable=True)  # a new instance, as on the worker that resumes the task
    result = resumed.execute_complete(ctx, events[-1])
    assert result["job_ids"] == op.job_ref()["jobs"]
    assert result["outputs"]["jobs"][0]["status"] == "successful"


def test_deferred_failure_fails_with_the_report(qc):
    ctx = context()
    op = QingCloudResizeClusterOperator(
        task_id="resize", cluster=CLUSTER_ID, memory=131072, **quick({"deferrable": True, "poll_interval": 0.05})
    )
    with pytest.raises(TaskDeferred) as info:
        op.execute(ctx)
    event = trigger_events(info.value.trigger)[-1]
    assert event["status"] == "failure"
    resumed = QingCloudResizeClusterOperator(task_id="resize", cluster=CLUSTER_ID, memory=131072, deferrable=True)
    with pytest.raises(JobFailedError, match="error_codes 5200"):
        resumed.execute_complete(ctx, event)


# -- no cancel API -----------------------------------------------------------------------------------------------------
def test_cancel_on_kill_is_refused_and_defaults_to_false():
    assert add_nodes().cancel_on_kill is False
    assert add_nodes(cancel_on_kill=False).cancel_on_kill is False
    with pytest.raises(ValueError, match="cancel_on_kill=True is not possible: QingCloud has no API"):
        add_nodes(cancel_on_kill=True)


def test_timeout_leaves_the_job_running_and_says_so(qc):
    op = add_nodes(timeout=0.05)
    with pytest.raises(JobFailedError, match=r"the job keeps running \(cancel_on_kill=False\)"):
        op.execute(context())
    op.on_kill()  # nothing to send
    assert len(qc.emulator.action_requests) == 1


def test_the_hook_says_it_cannot_terminate_a_job(qc):
    served = qc.app.faults.served
    text = QingCloudHook().cancel_job({"jobs": ["j-addnodes01"], "app": APP_ID})
    assert text.startswith("QingCloud has no API to terminate a cluster job: j-addnodes01")
    assert asyncio.run(QingCloudHook().acancel_job({"jobs": ["j-addnodes01"]})) == QingCloudHook._no_cancel(
        {"jobs": ["j-addnodes01"]}
    )
    assert qc.app.faults.served == served


# -- reattach ----------------------------------------------------------------------------------------------------------
def test_a_retry_waits_on_the_jobs_the_first_try_started(qc):
    store = FakeTaskStateStore()
    with pytest.raises(TaskDeferred):  # the first try starts the action, then its worker dies while deferred
        add_nodes(deferrable=True).execute(context(store))
    started = store.values[STARTED_JOB_KEY]
    assert started["action"] == "AddClusterNodes" and len(started["job_ids"]) == 1
    result = add_nodes().execute(context(store, FakeTI(try_number=2)))
    assert len(qc.emulator.action_requests) == 1  # nothing new started
    assert result["job_ids"] == started["job_ids"] and result["status"]["raw"] == "successful"
    assert STARTED_JOB_KEY not in store.values  # forgotten once the task has its result
    add_nodes().execute(context(store, FakeTI(try_number=3)))  # a cleared task: a new action
    assert len(qc.emulator.action_requests) == 2


def test_a_retry_after_the_jobs_failed_starts_the_action_again(qc):
    store = FakeTaskStateStore()

    def resize() -> QingCloudResizeClusterOperator:
        return QingCloudResizeClusterOperator(task_id="resize", cluster=CLUSTER_ID, cpu=64, **quick({}))

    with pytest.raises(JobFailedError):
        resize().execute(context(store))
    with pytest.raises(JobFailedError):
        resize().execute(context(store, FakeTI(try_number=2)))
    assert len(qc.emulator.action_requests) == 2


# -- bad input -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("make", "parameter"),
    [
        (lambda: action("UpgradeClusters", {"clusters": [CLUSTER_ID]}), "action"),
        (lambda: action("AddClusterNodes", [CLUSTER_ID, 2]), "parameters"),
        (lambda: action("AddClusterNodes", {"cluster": CLUSTER_ID, "node_count": 1, "count": 2}), "parameters"),
        (lambda: action("AddClusterNodes", {"node_count": 2}), "cluster"),
        (lambda: add_nodes(node_count=None), "node_count"),
        (lambda: add_nodes(node_count="two"), "node_count"),
        (lambda: add_nodes(node_count=0), "node_count"),
        (lambda: add_nodes(node_count=True), "node_count"),
        (lambda: add_nodes(node_role=5), "node_role"),
        (lambda: add_nodes(cluster="cluster 1"), "cluster"),
        (lambda: add_nodes(resource_conf="{not json"), "resource_conf"),
        (lambda: add_nodes(zone="Peking 3"), "zone"),
        (lambda: action("RestartClusterService", {"cluster": CLUSTER_ID, "role": ["a"]}), "role"),
        (lambda: QingCloudStartClustersOperator(task_id="s", clusters=[], **quick({})), "clusters"),
        (lambda: QingCloudStartClustersOperator(task_id="s", clusters=["cl-bad!"], **quick({})), "clusters"),
        (lambda: QingCloudStartClustersOperator(task_id="s", clusters=[CLUSTER_ID, "cl-other01"], **quick({})), "app"),
        (lambda: QingCloudDeleteClusterNodesOperator(task_id="d", cluster=CLUSTER_ID, **quick({})), "nodes"),
        (
            lambda: QingCloudDeleteClusterNodesOperator(task_id="d", cluster=CLUSTER_ID, nodes=["n1"], **quick({})),
            "nodes",
        ),
        (lambda: action("DeployAppVersion", {"version_id": "appv-chronus21"}), "conf"),
        (lambda: action("DeployAppVersion", {"version_id": "v1", "conf": {}}), "version_id"),
        (lambda: action("ResizeCluster", {"cluster": CLUSTER_ID, "cpu": 1.5}), "cpu"),
    ],
)
def test_bad_input_fails_before_any_request(qc, make, parameter):
    before = qc.app.faults.served
    with pytest.raises(InvalidParameterError) as info:
        make().execute(context())
    assert info.value.parameter == parameter
    assert qc.app.faults.served == before


def test_templated_fields():
    op = add_nodes()
    assert {"action", "parameters", "app", "zone"} <= set(op.template_fields)
    assert op.parameters == {"cluster": CLUSTER_ID, "node_count": 2, "node_role": "chronusdb"}


# -- the official SDK against the emulator ---------------------------------------------------------------------------
def sdk_connection(qc: Any) -> Any:
    pytest.importorskip("qingcloud")
    from qingcloud.iaas.connection import APIConnection

    url = urlparse(qc.url)
    return APIConnection(ACCESS_KEY_ID, SECRET_ACCESS_KEY, ZONE, host=url.hostname, port=url.port, protocol="http")


def test_the_official_sdk_starts_actions_our_sensor_waits_on(qc):
    conn = sdk_connection(qc)
    added = conn.add_cluster_nodes(cluster=CLUSTER_ID, node_count=1, node_role="chronusdb")
    assert added["ret_code"] == 0 and added["action"] == "AddClusterNodesResponse"
    assert added["cluster_id"] == CLUSTER_ID and len(added["new_node_ids"]) == 1
    started = conn.start_clusters(clusters=[STOPPED_CLUSTER_ID])
    assert started["ret_code"] == 0 and list(started["job_ids"]) == [STOPPED_CLUSTER_ID]
    # the jobs the SDK started, waited on by our sensor (one DescribeClusterJobs query for the application)
    sensor = QingCloudClusterJobSensor(
        task_id="wait",
        job_ids=[added["job_id"], started["job_ids"][STOPPED_CLUSTER_ID]],
        app=APP_ID,
        poke_interval=0.02,
    )
    assert poke_until_done(sensor)
    # and what the emulator refuses, it refuses the SDK as upstream documents (HTTP 200, ret_code + message)
    again = conn.start_clusters(clusters=[STOPPED_CLUSTER_ID])
    assert again["ret_code"] == 1400 and "PermissionDenied" in again["message"]
    listed = conn.describe_cluster_jobs(cluster=STOPPED_CLUSTER_ID, limit=1)
    assert listed["job_set"][0]["job_id"] == started["job_ids"][STOPPED_CLUSTER_ID]
    assert listed["job_set"][0]["status"] == "successful"


def test_the_official_sdks_resize_is_waited_on_by_our_operator_after_a_lost_start(qc):
    """An action the SDK started, adopted by the run operator as a retry adopts its first try's jobs."""
    conn = sdk_connection(qc)
    resized = conn.resize_cluster(cluster=CLUSTER_ID, node_role="chronusdb", cpu=8, memory=16384)
    assert resized["ret_code"] == 0 and resized["cpu"] == 8 and resized["memory"] == 16384
    store = FakeTaskStateStore()
    store.set(
        STARTED_JOB_KEY,
        {
            "job_ref": {"jobs": [resized["job_id"]], "cluster": CLUSTER_ID},
            "action": "ResizeCluster",
            "job_ids": [resized["job_id"]],
            "clusters": {CLUSTER_ID: resized["job_id"]},
            "console_url": None,
        },
    )
    op = QingCloudResizeClusterOperator(task_id="resize", cluster=CLUSTER_ID, cpu=8, memory=16384, **quick({}))
    result = op.execute(context(store, FakeTI(try_number=2)))
    assert result["job_ids"] == [resized["job_id"]] and result["status"]["raw"] == "successful"
    assert [r["action"] for r in qc.emulator.action_requests] == ["ResizeCluster"]  # the SDK's only


# -- the hook ------------------------------------------------------------------------------------------------------------
def test_the_async_twin_sends_the_same_signed_action(qc):
    answer = asyncio.run(QingCloudHook().acluster_action("StopClusters", {"clusters": [CLUSTER_ID]}))
    assert answer["action"] == "StopClustersResponse" and list(answer["job_ids"]) == [CLUSTER_ID]
    assert qc.emulator.action_requests[-1]["clusters.1"] == CLUSTER_ID
    assert QingCloudHook().get_job_status(answer["job_ids"][CLUSTER_ID], cluster=CLUSTER_ID).raw_status in (
        "pending",
        "working",
        "successful",
    )


@pytest.mark.parametrize(
    ("answer", "clusters", "jobs"),
    [
        # StartClusters' example answer: job_ids, a map of cluster id to job id
        ({"job_ids": {"cl-q1witcdk": "j-m430f0i8ldu"}}, ["cl-q1witcdk"], {"cl-q1witcdk": "j-m430f0i8ldu"}),
        # its response table: job_id, "formatted as {cluster: job}"
        ({"job_id": {"cl-q1witcdk": "j-m430f0i8ldu"}}, ["cl-q1witcdk"], {"cl-q1witcdk": "j-m430f0i8ldu"}),
        # the others: one job_id for the answer's cluster_id
        ({"cluster_id": "cl-95av0jxo", "job_id": "j-itxd749281a"}, ["cl-95av0jxo"], {"cl-95av0jxo": "j-itxd749281a"}),
        ({"job_id": "j-itxd749281a"}, ["cl-95av0jxo"], {"cl-95av0jxo": "j-itxd749281a"}),
    ],
)
def test_started_jobs_reads_job_id_or_the_job_ids_map(answer, clusters, jobs):
    from airflow_joblogs.hooks.qingcloud import started_jobs

    assert started_jobs({"action": "XResponse", "ret_code": 0, **answer}, clusters) == jobs


def test_an_answer_without_a_job_is_an_error():
    from airflow_joblogs.exceptions import JobLogsError
    from airflow_joblogs.hooks.qingcloud import started_jobs

    with pytest.raises(JobLogsError, match="names no job"):
        started_jobs({"action": "AddClusterNodesResponse", "ret_code": 0}, [CLUSTER_ID])
