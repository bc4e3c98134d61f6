"""QingCloud AppCenter operators: export cluster job records; run cluster actions and wait on their jobs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.archive import safe_name
from airflow_joblogs.exceptions import InvalidParameterError, JobLogsError
from airflow_joblogs.hooks.qingcloud_model import (
    CLUSTER_ACTIONS,
    MAX_LIMIT,
    action_clusters,
    cluster_jobs_query,
    job_ref,
    started_jobs,
    validate_cluster_action,
    validate_id,
    validate_job_ids,
    validate_paging,
    validate_zone,
)
from airflow_joblogs.models import JobStatus, LogChunk
from airflow_joblogs.operators.base import JobLogOperator
from airflow_joblogs.operators.run import JobRunOperator
from airflow_joblogs.sensors.qingcloud import QingCloudClusterJobWaiting

if TYPE_CHECKING:
    from airflow_joblogs.contract import JobService
    from airflow_joblogs.hooks.qingcloud import QingCloudHook


class QingCloudClusterJobsOperator(JobLogOperator):
    """Export an application's (or a cluster's) job records, all pages; returns the manifest.

    Cluster jobs are operation records, not program output, so the "log" is the list of records (newest
    first, as the API returns them). ``jsonl`` writes each record unchanged except ``directive``, which is
    decoded from its JSON string into an object; ``text`` writes one readable line per job:
    ``create_time  job_action  status  resource_ids  error_codes`` (an empty field shows as ``-``).

    :param app: the application id (``app-...``) (templated); or ``cluster``.
    :param cluster: a cluster id (``cl-...``) (templated).
    :param job_ids: only these job ids (a list or a comma-separated string; templated).
    :param status: only these statuses (``pending``, ``working``, ``successful``, ``failed``; templated).
    :param zone: the zone (templated; default: the connection's).
    :param max_records: stop after this many records (the most recent ones); default: all.
    :param page_size: records per ``DescribeClusterJobs`` call, 1 to 100.
    :param qingcloud_conn_id: connection of type ``qingcloud`` (default ``qingcloud_default``).

    Plus the archive options of :class:`~airflow_joblogs.operators.base.JobLogOperator`: ``destination``,
    ``log_format``, ``compression``, ``max_xcom_bytes``, ``overwrite``, ``if_unfinished``.
    """

    template_fields = ("app", "cluster", "job_ids", "status", "zone", "conn_id", "destination")
    hook_class: ClassVar[LazyClass[JobService]] = LazyClass("airflow_joblogs.hooks.qingcloud.QingCloudHook")
    service_name = "QingCloud"

    def __init__(
        self,
        *,
        app: str | None = None,
        cluster: str | None = None,
        job_ids: str | list[str] | None = None,
        status: str | list[str] | None = None,
        zone: str | None = None,
        max_records: int | None = None,
        page_size: int = MAX_LIMIT,
        qingcloud_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=kwargs.pop("conn_id", None) or qingcloud_conn_id, **kwargs)
        self.app = app
        self.cluster = cluster
        self.job_ids = job_ids
        self.status = status
        self.zone = zone
        self.page_size, self.max_records = validate_paging(page_size, max_records)

    def job_ref(self) -> dict[str, Any]:
        jobs = validate_job_ids(self.job_ids, "job_ids")  # errors name this operator's parameter
        return cluster_jobs_query(self.app, self.cluster, jobs, self.status, self.zone)

    def status_ref(self, job_ref: dict[str, Any]) -> dict[str, Any] | None:
        """With ``job_ids``, those jobs (the export is unfinished while one of them is); else None: an
        application's or cluster's job history has no end to wait for."""
        if not job_ref.get("jobs"):
            return None
        return {key: job_ref[key] for key in ("jobs", "app", "cluster", "zone") if key in job_ref}

    def archive_name(self, job_ref: dict[str, Any]) -> str:
        scope = job_ref.get("app") or job_ref.get("cluster")
        parts = ["qingcloud", str(scope), "jobs"]
        if job_ref.get("status"):
            parts.append("-".join(job_ref["status"]))
        return safe_name("-".join(parts))

    def log_chunks(self, hook: QingCloudHook, job_ref: dict[str, Any]) -> Iterable[LogChunk]:
        return hook.iter_cluster_job_chunks(
            app=job_ref.get("app"),
            cluster=job_ref.get("cluster"),
            jobs=job_ref.get("jobs"),
            status=job_ref.get("status"),
            zone=job_ref.get("zone"),
            page_size=self.page_size,
            max_records=self.max_records,
        )


class QingCloudClusterActionOperator(QingCloudClusterJobWaiting, JobRunOperator):
    """Run a QingCloud AppCenter cluster action and, by default, wait for the cluster jobs it started.

    The action is sent as the API documents it (signed like every call); its answer names the jobs it started:
    one ``job_id``, or for StartClusters and StopClusters a ``job_ids`` map of cluster id to job id. Waiting is
    the :class:`~airflow_joblogs.sensors.qingcloud.QingCloudClusterJobSensor`'s: ``DescribeClusterJobs`` until
    every job is ``successful``; a ``failed`` job fails the task with its ``job_action``, resource ids and
    ``error_codes``.

    :param action: ``StartClusters``, ``StopClusters``, ``RestartClusterService``, ``ResizeCluster``,
        ``AddClusterNodes``, ``DeleteClusterNodes`` or ``DeployAppVersion`` (templated). The public API has no
        UpgradeClusters.
    :param parameters: the action's request parameters as the API names them (templated), e.g.
        ``{"cluster": "cl-q1witcdk", "node_count": 2, "node_role": "chronusdb"}``; lists (``clusters``,
        ``nodes``) as lists; JSON parameters (``conf``, ``resource_conf``, ``private_ips``) as a dict or a JSON
        string. Checked before any request: an unknown action or parameter, a missing required one
        (``clusters``, ``cluster``, ``node_count``, ``nodes``, ``version_id``, ``conf``) or a value of the wrong
        kind fails naming it. (Not ``params``: that name is Airflow's, for DAG Params.)
    :param app: the application id (``app-...``) the clusters belong to (templated): needed to wait on
        StartClusters or StopClusters over several clusters (``DescribeClusterJobs`` reads one application's or
        one cluster's jobs); otherwise the jobs are read by their cluster.
    :param zone: the zone (templated; default: the connection's).
    :param qingcloud_conn_id: connection of type ``qingcloud`` (default ``qingcloud_default``).

    Plus the options of :class:`~airflow_joblogs.operators.run.JobRunOperator`: ``wait_for_completion``,
    ``deferrable``, ``poll_interval``, ``timeout``, ``reattach``, ``stream_logs`` (each job's status changes),
    ``success_states``, ``failure_states``, ``log_tail_lines``. QingCloud has no API that terminates a cluster
    job: ``cancel_on_kill`` is False and True is refused; a killed or timed-out task leaves its jobs running.
    No console link either (no public source documents a console address for a cluster job).

    Returns ``{"action", "job_ids": [...], "clusters": {cluster id: job id}, "app", "cluster", "zone",
    "response", "console_url": None, "status", "outputs": {"jobs": [...]}}``: ``job_ids`` with ``app`` or
    ``cluster`` (and ``zone``) are what the sensor and :class:`QingCloudClusterJobsOperator` take;
    ``response`` is the action's answer (e.g. ``new_node_ids``, ``deleted_node_ids``, ``cluster_id``);
    ``outputs["jobs"]`` lists each job's cluster and final status (``job_id``, ``cluster``, ``job_action``,
    ``status``, ``status_time``, ``error_codes``).
    """

    template_fields: Sequence[str] = ("action", "parameters", "app", "zone", "conn_id")
    template_fields_renderers = {"parameters": "json"}
    can_cancel = False

    def __init__(
        self,
        *,
        action: str,
        parameters: dict[str, Any] | None = None,
        app: str | None = None,
        zone: str | None = None,
        qingcloud_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=kwargs.pop("conn_id", None) or qingcloud_conn_id, **kwargs)
        self.action = action
        self.parameters = parameters
        self.app = app
        self.zone = zone

    def _request(self) -> tuple[dict[str, Any], str | None]:
        params = validate_cluster_action(self.action, self.parameters)
        zone = validate_zone(self.zone) if self.zone not in (None, "") else None
        return params, zone

    def _scope(self, clusters: list[str]) -> dict[str, str]:
        """Where the jobs are read: the application, or the one cluster acted on."""
        if self.app not in (None, ""):
            return {"app": validate_id(self.app, "app")}
        if len(set(clusters)) == 1:
            return {"cluster": clusters[0]}
        if not clusters:
            return {}  # a created cluster: named by the answer
        raise InvalidParameterError(
            "app",
            f"{self.action} on {len(clusters)} clusters needs the application id they belong to, to wait on their "
            "jobs in one DescribeClusterJobs query (like 'app-tg3lbp0a')",
        )

    def validate_start(self) -> None:
        params, _zone = self._request()
        self._scope(action_clusters(self.action, params))

    def start_job(self, hook: QingCloudHook) -> dict[str, Any]:
        params, zone = self._request()
        clusters = action_clusters(self.action, params)
        answer = hook.cluster_action(self.action, params, zone)
        jobs = started_jobs(answer, clusters)
        scope = self._scope(clusters) or ({"cluster": str(answer["cluster_id"])} if answer.get("cluster_id") else {})
        if not scope:
            raise JobLogsError(
                f"the {self.action} answer names no cluster to read its job from; give app", service=self.service_name
            )
        job_ids = list(dict.fromkeys(jobs.values()))
        ref = job_ref(job_ids, scope.get("app"), scope.get("cluster"), zone)
        response = {k: v for k, v in answer.items() if k not in ("ret_code",)}
        return {
            "job_ref": ref,
            "action": self.action,
            "job_ids": job_ids,
            "clusters": jobs,
            "app": ref.get("app"),
            "cluster": ref.get("cluster"),
            "zone": ref.get("zone"),
            "response": response,
        }

    def job_outputs(self, hook: QingCloudHook, ref: dict[str, Any], status: JobStatus) -> dict[str, Any]:
        """Each job's final status, from the last status check (no further request)."""
        started = self._started or {}
        cluster_of = {job: cluster for cluster, job in (started.get("clusters") or {}).items()}
        jobs = []
        for job in (status.detail or {}).get("jobs") or []:
            jobs.append(
                {
                    "job_id": job.get("job_id"),
                    "cluster": cluster_of.get(job.get("job_id")) or job.get("resource_ids"),
                    "job_action": job.get("job_action"),
                    "status": job.get("status"),
                    "status_time": job.get("status_time"),
                    "error_codes": job.get("error_codes"),
                }
            )
        return {"jobs": jobs}


class _NamedClusterAction(QingCloudClusterActionOperator):
    """One cluster action, its request parameters as keyword arguments (each templated)."""

    cluster_action: ClassVar[str]

    def __init__(self, **kwargs: Any) -> None:
        spec = CLUSTER_ACTIONS[self.cluster_action]
        parameters = {name: kwargs.pop(name) for name in list(spec.params) if name in kwargs}
        super().__init__(action=self.cluster_action, parameters=parameters, **kwargs)


class QingCloudStartClustersOperator(_NamedClusterAction):
    """``StartClusters`` (``clusters``: cluster ids) and wait for the jobs; see
    :class:`QingCloudClusterActionOperator` (``app`` is needed for several clusters)."""

    cluster_action = "StartClusters"


class QingCloudStopClustersOperator(_NamedClusterAction):
    """``StopClusters`` (``clusters``: cluster ids) and wait for the jobs; see
    :class:`QingCloudClusterActionOperator` (``app`` is needed for several clusters)."""

    cluster_action = "StopClusters"


class QingCloudRestartClusterServiceOperator(_NamedClusterAction):
    """``RestartClusterService`` (``cluster``, optional ``role``) and wait for the job; see
    :class:`QingCloudClusterActionOperator`."""

    cluster_action = "RestartClusterService"


class QingCloudResizeClusterOperator(_NamedClusterAction):
    """``ResizeCluster`` (``cluster``; ``node_role``, ``cpu``, ``memory`` (MB), ``gpu``, ``storage_size`` (GB),
    ``instance_class``) and wait for the job; see :class:`QingCloudClusterActionOperator`."""

    cluster_action = "ResizeCluster"


class QingCloudAddClusterNodesOperator(_NamedClusterAction):
    """``AddClusterNodes`` (``cluster``, ``node_count``; ``node_role``, ``node_name``, ``resource_conf``,
    ``private_ips``) and wait for the job; the new node ids are in the result's ``response["new_node_ids"]``.
    See :class:`QingCloudClusterActionOperator`."""

    cluster_action = "AddClusterNodes"


class QingCloudDeleteClusterNodesOperator(_NamedClusterAction):
    """``DeleteClusterNodes`` (``cluster``, ``nodes``: node ids; ``force``) and wait for the job; see
    :class:`QingCloudClusterActionOperator`."""

    cluster_action = "DeleteClusterNodes"
