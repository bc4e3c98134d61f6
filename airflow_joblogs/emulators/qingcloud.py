"""QingCloud IaaS API emulator: ``DescribeClusterJobs``, ``DescribeJobs`` and the cluster actions, with real
signature v1 checks.

Everything is served at ``/iaas/`` (GET with a query string, or a form-encoded POST), in zone ``pek3a``.
A wrong signature or unknown access key gets ret_code 1200; a ``time_stamp`` more than ``max_skew``
seconds off the emulator's clock gets 1300. Errors are HTTP 200 with ``{"ret_code": N, "message"}``, like
the real API; the shared fault knobs inject 5100 (``error``) and 2500 (``throttle``) the same way.

Catalogue (application ``app-tg3lbp0a``, newest first):

================ ===================== ============== ================================================
job              job_action            cluster        what it shows
================ ===================== ============== ================================================
j-resize0001     ResizeCluster         cl-chronus01   pending -> working -> failed (error_codes 2500)
j-addnodes01     AddClusterNodes       cl-chronus01   pending -> working -> successful
(``history``)    various               cl-chronus01   finished jobs, one an hour back in time; every
                                                      seventh failed
j-etkt94ebqra    CeaseResources        cl-xi3aoihf    the seed's record, verbatim (successful)
================ ===================== ============== ================================================

The shared paging faults apply to ``DescribeClusterJobs``: ``repeat`` answers a page that starts half a page
before the ``offset`` asked for, ``stall`` ignores the ``offset`` (the first page again).

Cluster actions (``StartClusters``, ``StopClusters``, ``RestartClusterService``, ``ResizeCluster``,
``AddClusterNodes``, ``DeleteClusterNodes``, ``DeployAppVersion``) are answered in the API pages' shapes and each
starts a cluster job per cluster, listed with the others and running on the same clock.

Application ``app-legacy01`` has one job, ``j-legacy0001``, in the undocumented status ``suspended``
(for "an unknown status is not success" tests); ``app-0therown`` belongs to someone else (ret_code 1400).
Jobs start their life when first listed and move on over a few seconds (``speed`` scales time).

``GET /_emulator/qingcloud`` lists the signatures the emulator verified (the newest ``signatures_kept``) and
how many there were: a signature is a credential for as long as its time stamp is accepted, so tests look for
them in logs and XCom like any other secret.
"""

from __future__ import annotations

import base64
import calendar
import hashlib
import hmac
import json
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airflow_joblogs.emulators.base import EmulatorApp, Faults, JobClock, build_app, paging_fault

ACCESS_KEY_ID = "QYACCESSKEYIDJOBLOGS"
SECRET_ACCESS_KEY = "qingcloud-demo-secret-4b1d"  # the emulator's own test credential, not a real one
ZONE = "pek3a"
ZONES = ("pek3a", "pek3b", "sh1a", "gd2")
APP_ID = "app-tg3lbp0a"
CLUSTER_ID = "cl-chronus01"
STOPPED_CLUSTER_ID = "cl-chronus02"
LEGACY_APP_ID = "app-legacy01"
FOREIGN_APP_ID = "app-0therown"
OWNER = "usr-joblogs1"
STATUSES = ("pending", "working", "successful", "failed")
MAX_LIMIT = 100
#: how many verified signatures the emulator keeps by default (the newest), for credential scans
SIGNATURES_KEPT = 5000
_EPOCH = datetime(2026, 11, 22, 2, 0, 0, tzinfo=timezone.utc)
_TIME = "%Y-%m-%dT%H:%M:%SZ"
_HISTORY_ACTIONS = (
    "RestartClusterService",
    "UpdateClusterEnvironment",
    "StopClusters",
    "StartClusters",
    "AddClusterNodes",
    "DeleteClusterNodes",
    "ResizeCluster",
)

#: the seed's example record, served unchanged
SEED_JOB: dict[str, Any] = {
    "status": "successful",
    "job_id": "j-etkt94ebqra",
    "directive": '{"sender":{"lang":"en","user_id":"system","console_id":"system","root_user_id":"system",'
    '"role":"global_admin","privilege":10,"channel":"internal"},"zone":"pek3a","expires":"2018-03-04T05:38:58Z",'
    '"action":"CeaseResources","clusters":["cl-xi3aoihf"],"resource_ids":["cl-xi3aoihf"]}',
    "job_action": "CeaseResources",
    "create_time": "2018-03-04T05:37:58Z",
    "owner": "system",
    "status_time": "2018-03-04T05:38:05Z",
    "error_codes": "",
    "resource_ids": "cl-xi3aoihf",
    "resources": {"clusters": ["cl-xi3aoihf"]},
    "extras": {},
}


@dataclass
class ClusterJob:
    job_id: str
    app: str
    cluster: str
    job_action: str
    #: seconds after the emulator's epoch (negative: in the past)
    created: float
    final: str = "successful"
    error_codes: str = ""
    #: None: finished before anyone looked; else seconds spent pending and working once first listed
    pending: float | None = None
    working: float = 0.0
    directive_extra: dict[str, Any] = field(default_factory=dict)

    def view(self, elapsed: float) -> tuple[str, float]:
        """(status, status_time offset) after ``elapsed`` seconds of the job's life."""
        if self.pending is None:
            return self.final, self.created + 7
        if elapsed < self.pending:
            return "pending", self.created
        if elapsed < self.pending + self.working:
            return "working", self.created + self.pending
        return self.final, self.created + self.pending + self.working


def _stamp(offset: float) -> str:
    return (_EPOCH + timedelta(seconds=offset)).strftime(_TIME)


def _job_id(prefix: str, n: int) -> str:
    digest = hashlib.sha256(f"{prefix}{n}".encode()).hexdigest()
    return "j-" + "".join(c if c.isalpha() else "abcdefghij"[int(c)] for c in digest[:10])


def catalogue(history: int = 45) -> list[ClusterJob]:
    jobs = [
        ClusterJob(
            "j-resize0001",
            APP_ID,
            CLUSTER_ID,
            "ResizeCluster",
            created=120,
            final="failed",
            error_codes="2500",
            pending=1.0,
            working=2.0,
            directive_extra={"node_role": "chronusdb", "cpu": 8, "memory": 32768},
        ),
        ClusterJob(
            "j-addnodes01",
            APP_ID,
            CLUSTER_ID,
            "AddClusterNodes",
            created=60,
            pending=1.0,
            working=3.0,
            directive_extra={"node_count": 2, "node_role": "chronusdb"},
        ),
        ClusterJob(
            "j-legacy0001",
            LEGACY_APP_ID,
            "cl-legacy001",
            "UpdateClusterEnvironment",
            created=30,
            final="suspended",
            pending=0.0,
            working=0.5,
        ),
        ClusterJob("j-foreign001", FOREIGN_APP_ID, "cl-foreign01", "StartClusters", created=-600),
        ClusterJob(
            SEED_JOB["job_id"],
            APP_ID,
            "cl-xi3aoihf",
            "CeaseResources",
            created=(datetime(2018, 3, 4, 5, 37, 58, tzinfo=timezone.utc) - _EPOCH).total_seconds(),
        ),
    ]
    for n in range(1, history + 1):
        failed = n % 7 == 0
        jobs.append(
            ClusterJob(
                _job_id("history", n),
                APP_ID,
                CLUSTER_ID,
                _HISTORY_ACTIONS[n % len(_HISTORY_ACTIONS)],
                created=-3600.0 * n,
                final="failed" if failed else "successful",
                error_codes="5000" if failed else "",
            )
        )
    return jobs


@dataclass
class Cluster:
    """An AppCenter cluster the cluster actions act on: its application, status and nodes by role."""

    cluster_id: str
    app: str
    status: str
    roles: dict[str, list[str]]
    owner: str = OWNER
    #: each node's size: CPUs, memory (MB), GPUs, storage (GB)
    sizes: dict[str, int] = field(default_factory=lambda: {"cpu": 4, "memory": 8192, "gpu": 0, "storage_size": 50})


def clusters() -> dict[str, Cluster]:
    """The clusters as a fresh emulator has them."""
    return {
        c.cluster_id: c
        for c in (
            Cluster(CLUSTER_ID, APP_ID, "active", {"chronusdb": ["cln-chronus11", "cln-chronus12", "cln-chronus13"]}),
            Cluster(STOPPED_CLUSTER_ID, APP_ID, "stopped", {"chronusdb": ["cln-chronus21", "cln-chronus22"]}),
            Cluster("cl-legacy001", LEGACY_APP_ID, "active", {"": ["cln-legacy11"]}),
            Cluster("cl-foreign01", FOREIGN_APP_ID, "active", {"": ["cln-foreign1"]}, owner="usr-someone2"),
        )
    }


#: application versions DeployAppVersion deploys: version id -> application id
APP_VERSIONS = {"appv-chronus21": APP_ID}
#: the largest ResizeCluster the emulator's zone has room for: a larger one starts a job that fails with
#: error_codes 5200 (insufficient resources, QingCloud's error code table)
MAX_CPU = 16
MAX_MEMORY = 65536
#: the job status each action leaves a cluster in (StopClusters: stopped; the others: active)
_CLUSTER_STATUS_AFTER = {"StopClusters": "stopped"}
#: the statuses in which a cluster takes each action (anything else: 1400, "the resource is in a state that
#: cannot be changed", QingCloud's error code table)
_ALLOWED_IN = {"StartClusters": ("stopped",)}
_INTEGER_PARAMS = ("node_count", "cpu", "memory", "gpu", "storage_size", "instance_class", "force", "debug", "duration")


# (job_id, job_action, resource_ids, create_time): plain IaaS jobs for DescribeJobs
IAAS_JOBS = (
    ("j-runinst0001", "RunInstances", "i-chronus1 i-chronus2", -7200),
    ("j-mkvolume01", "CreateVolumes", "vol-chronus1", -7100),
    ("j-attachvol1", "AttachVolumes", "vol-chronus1 i-chronus1", -7000),
)


#: the cluster actions the emulator answers -> the method that does it
_CLUSTER_ACTIONS = {
    "StartClusters": "start_stop",
    "StopClusters": "start_stop",
    "RestartClusterService": "restart",
    "ResizeCluster": "resize",
    "AddClusterNodes": "add_nodes",
    "DeleteClusterNodes": "delete_nodes",
    "DeployAppVersion": "deploy",
}


def signature(secret: str, method: str, path: str, params: dict[str, str], digest: Any = hashlib.sha256) -> str:
    """Recompute a request's signature v1 from what arrived (the server's side of the check)."""
    pairs = sorted((k, v) for k, v in params.items() if k != "signature")
    query = "&".join(quote(k, safe="") + "=" + quote(v, safe="-_~") for k, v in pairs)
    mac = hmac.new(secret.encode(), f"{method}\n{path}\n{query}".encode(), digest)
    return base64.b64encode(mac.digest()).decode()


class QingCloudEmulator:
    def __init__(
        self,
        *,
        speed: float = 1.0,
        history: int = 45,
        max_skew: float = 60.0,
        faults: Faults | None = None,
        signatures_kept: int = SIGNATURES_KEPT,
    ) -> None:
        self.history = history
        self.jobs = catalogue(history)
        self.clusters = clusters()
        #: the cluster action requests accepted (parameters as received, signature removed), oldest first
        self.action_requests: list[dict[str, str]] = []
        #: the cluster action requests received (signed, in a known zone), accepted or not
        self.cluster_action_requests = 0
        self.clock = JobClock(speed)
        self.faults = faults or Faults()
        self.max_skew = max_skew
        #: the parameters of recent requests as received (signature removed), newest last
        self.received: deque[dict[str, str]] = deque(maxlen=500)
        #: the signatures that matched, newest last (see ``GET /_emulator/qingcloud``)
        self.signatures_verified: deque[str] = deque(maxlen=signatures_kept)
        self.signatures_verified_total = 0

    def reset(self) -> None:
        """Forget the jobs and cluster changes the cluster actions made (the catalogue as at start)."""
        self.jobs = catalogue(self.history)
        self.clusters = clusters()
        self.action_requests.clear()
        self.cluster_action_requests = 0

    # -- helpers ------------------------------------------------------------------------------------------
    @staticmethod
    def fail(code: int, message: str) -> Response:
        return JSONResponse({"ret_code": code, "message": message})

    def record(self, job: ClusterJob) -> dict[str, Any]:
        """The job as ``DescribeClusterJobs`` returns it, at this moment of its life."""
        if job.job_id == SEED_JOB["job_id"]:
            return dict(SEED_JOB)
        status, status_time = job.view(self.clock.elapsed(job.job_id))
        directive = {
            "sender": {"lang": "en", "user_id": OWNER, "channel": "api"},
            "zone": ZONE,
            "expires": _stamp(job.created + 60),
            "action": job.job_action,
            "app_id": job.app,
            "clusters": [job.cluster],
            "resource_ids": [job.cluster],
            **job.directive_extra,
        }
        return {
            "status": status,
            "job_id": job.job_id,
            "directive": json.dumps(directive, separators=(",", ":")),
            "job_action": job.job_action,
            "create_time": _stamp(job.created),
            "owner": OWNER,
            "status_time": _stamp(status_time),
            "error_codes": job.error_codes if status == "failed" else "",
            "resource_ids": job.cluster,
            "resources": {"clusters": [job.cluster]},
            "extras": {},
        }

    # -- auth ---------------------------------------------------------------------------------------------
    def verify(self, method: str, path: str, params: dict[str, str]) -> Response | None:
        if params.get("access_key_id") != ACCESS_KEY_ID:
            return self.fail(1200, "AuthFailure, access key not found or not active")
        digests = {"HmacSHA256": hashlib.sha256, "HmacSHA1": hashlib.sha1}
        digest = digests.get(params.get("signature_method", ""))
        if digest is None or params.get("signature_version") != "1":
            return self.fail(1200, "AuthFailure, signature_method must be HmacSHA256 and signature_version 1")
        given = params.get("signature", "")
        if not hmac.compare_digest(given, signature(SECRET_ACCESS_KEY, method, path, params, digest)):
            return self.fail(1200, "AuthFailure, signature not matched")
        # kept even if the time stamp is refused below: the client sent a valid signature all the same
        self.signatures_verified.append(given)
        self.signatures_verified_total += 1
        try:
            sent = calendar.timegm(time.strptime(params.get("time_stamp", ""), _TIME))
        except ValueError:
            return self.fail(1100, "ParameterError, time_stamp must look like 2026-01-31T12:00:00Z (UTC)")
        if abs(time.time() - sent) > self.max_skew:
            return self.fail(
                1300, f"MessageExpired, time_stamp {params['time_stamp']} is more than {self.max_skew:.0f}s from now"
            )
        return None

    # -- the API ----------------------------------------------------------------------------------------------
    async def iaas(self, request: Request) -> Response:
        if request.method == "POST":
            items = [(k, v) for k, v in (await request.form()).multi_items() if isinstance(v, str)]
        else:
            items = list(request.query_params.multi_items())
        params = dict(items)
        if len(params) != len(items):
            return self.fail(1100, "ParameterError, a parameter is given twice")
        self.received.append({k: v for k, v in params.items() if k != "signature"})
        denied = self.verify(request.method, request.url.path, params)
        if denied:
            return denied
        zone = params.get("zone")
        if not zone:
            return self.fail(1100, "ParameterError, parameter zone should not be empty")
        if zone not in ZONES:
            return self.fail(1100, f"ParameterError, zone [{zone}] not found")
        action = params.get("action")
        if action == "DescribeClusterJobs":
            return self.describe_cluster_jobs(params, request)
        if action == "DescribeJobs":
            return self.describe_jobs(params)
        if action in _CLUSTER_ACTIONS:
            return self.cluster_action(action, params)
        # the error code table's 1101: a request for an action that does not exist
        return self.fail(1101, f"ActionNotFound, action [{action}] is not supported")

    @staticmethod
    def _lists(params: dict[str, str], name: str) -> list[str]:
        values = []
        for n in range(1, MAX_LIMIT + 2):
            value = params.get(f"{name}.{n}")
            if value is None:
                break
            values.append(value)
        return values

    def _paging(self, params: dict[str, str]) -> tuple[tuple[int, int, list[str]] | None, Response | None]:
        try:
            offset = int(params.get("offset", 0))
            limit = int(params.get("limit", 20))
            verbose = int(params.get("verbose", 0))
        except ValueError:
            return None, self.fail(1100, "ParameterError, offset, limit and verbose must be integers")
        if offset < 0 or not 1 <= limit <= MAX_LIMIT:
            return None, self.fail(1100, f"ParameterError, offset must be >= 0 and limit between 1 and {MAX_LIMIT}")
        if verbose not in (0, 1):
            return None, self.fail(1100, "ParameterError, verbose must be 0")
        statuses = self._lists(params, "status")
        illegal = [s for s in statuses if s not in STATUSES]
        if illegal:
            return None, self.fail(1100, f"ParameterError, illegal status [{illegal[0]}]")
        return (offset, limit, statuses), None

    def describe_cluster_jobs(self, params: dict[str, str], request: Request) -> Response:
        app, cluster = params.get("app"), params.get("cluster")
        if not app and not cluster:
            return self.fail(1100, "ParameterError, parameter app should not be empty")
        page, error = self._paging(params)
        if error:
            return error
        assert page is not None
        offset, limit, statuses = page
        scope = [j for j in self.jobs if params["zone"] == ZONE]
        if app:
            if app == FOREIGN_APP_ID:
                return self.fail(1400, f"PermissionDenied, resource [{app}] does not belong to you")
            scope = [j for j in scope if j.app == app]
            if not scope:
                return self.fail(2100, f"ResourceNotFound, resource [{app}] not found")
        if cluster:
            scope = [j for j in scope if j.cluster == cluster]
            if not scope:
                return self.fail(2100, f"ResourceNotFound, resource [{cluster}] not found")
        ids = self._lists(params, "jobs")
        if ids:
            known = {j.job_id for j in scope}
            missing = [i for i in ids if i not in known]
            if missing:
                return self.fail(2100, f"ResourceNotFound, resource [{missing[0]}] not found")
            scope = [j for j in scope if j.job_id in ids]
        records = [self.record(j) for j in sorted(scope, key=lambda j: (j.created, j.job_id))]
        if params.get("reverse", "1") not in ("0", "false", "False"):
            records.reverse()  # newest first, as the console and the SDK (reverse=True) show them
        if statuses:
            records = [r for r in records if r["status"] in statuses]
        fault = paging_fault(request)
        if fault == "repeat":
            begin = max(0, offset - limit // 2 - 1)  # the page overlaps the one before
        elif fault == "stall":
            begin = 0  # the offset is ignored: the first page again
        else:
            begin = offset
        return JSONResponse(
            {
                "action": "DescribeClusterJobsResponse",
                "total_count": len(records),
                "job_set": records[begin : begin + limit],
                "ret_code": 0,
            }
        )

    def describe_jobs(self, params: dict[str, str]) -> Response:
        page, error = self._paging(params)
        if error:
            return error
        assert page is not None
        offset, limit, statuses = page
        records = []
        if params["zone"] == ZONE:
            for job_id, action, resources, created in IAAS_JOBS:
                records.append(
                    {
                        "status": "successful",
                        "job_id": job_id,
                        "job_action": action,
                        "create_time": _stamp(created),
                        "owner": OWNER,
                        "status_time": _stamp(created + 12),
                        "error_codes": "",
                        "resource_ids": resources,
                        "directive": json.dumps({"action": action, "zone": ZONE}, separators=(",", ":")),
                    }
                )
        records.reverse()
        ids = self._lists(params, "jobs")
        if ids:
            missing = [i for i in ids if i not in {r["job_id"] for r in records}]
            if missing:
                return self.fail(2100, f"ResourceNotFound, resource [{missing[0]}] not found")
            records = [r for r in records if r["job_id"] in ids]
        if statuses:
            records = [r for r in records if r["status"] in statuses]
        if params.get("job_action"):
            records = [r for r in records if r["job_action"] == params["job_action"]]
        return JSONResponse(
            {
                "action": "DescribeJobsResponse",
                "total_count": len(records),
                "job_set": records[offset : offset + limit],
                "ret_code": 0,
            }
        )

    # -- cluster actions: each starts cluster jobs that run on the emulator's clock -------------------------------
    def _start_job(
        self, action: str, cluster: Cluster, extra: dict[str, Any], final: str = "successful", error_codes: str = ""
    ) -> str:
        job = ClusterJob(
            _job_id("started", len(self.jobs) + 1),
            cluster.app,
            cluster.cluster_id,
            action,
            created=time.time() - _EPOCH.timestamp(),
            final=final,
            error_codes=error_codes,
            pending=1.0,
            working=3.0,
            directive_extra=extra,
        )
        self.jobs.append(job)
        self.clock.elapsed(job.job_id)  # its life starts now
        return job.job_id

    def _cluster(self, cluster_id: str | None, action: str) -> Cluster | Response:
        if not cluster_id:
            return self.fail(1100, "ParameterError, parameter cluster should not be empty")
        cluster = self.clusters.get(cluster_id)
        if cluster is None:
            return self.fail(2100, f"ResourceNotFound, resource [{cluster_id}] not found")
        if cluster.owner != OWNER:
            return self.fail(1400, f"PermissionDenied, resource [{cluster_id}] does not belong to you")
        allowed = _ALLOWED_IN.get(action, ("active",))
        if cluster.status not in allowed:
            return self.fail(
                1400,
                f"PermissionDenied, cluster [{cluster_id}] is [{cluster.status}], "
                f"{action} is only allowed when it is [{', '.join(allowed)}]",
            )
        return cluster

    def cluster_action(self, action: str, params: dict[str, str]) -> Response:
        self.cluster_action_requests += 1
        for name in _INTEGER_PARAMS:
            if name in params:
                try:
                    int(params[name])
                except ValueError:
                    return self.fail(1100, f"ParameterError, parameter {name} should be an integer")
        handler = getattr(self, "_" + _CLUSTER_ACTIONS[action])
        answer = handler(action, params)
        if isinstance(answer, Response):
            return answer
        self.action_requests.append({k: v for k, v in params.items() if k != "signature"})
        # DeployAppVersion's API page shows its answer named CreateClusterResponse
        name = "CreateClusterResponse" if action == "DeployAppVersion" else f"{action}Response"
        return JSONResponse({"action": name, **answer, "ret_code": 0})

    def _start_stop(self, action: str, params: dict[str, str]) -> dict[str, Any] | Response:
        ids = self._lists(params, "clusters")
        if not ids:
            return self.fail(1100, "ParameterError, parameter clusters should not be empty")
        found = []
        for cluster_id in ids:
            cluster = self._cluster(cluster_id, action)
            if isinstance(cluster, Response):
                return cluster
            found.append(cluster)
        job_ids = {}
        for cluster in found:
            job_ids[cluster.cluster_id] = self._start_job(action, cluster, {})
            cluster.status = _CLUSTER_STATUS_AFTER.get(action, "active")
        return {"job_ids": job_ids}

    def _restart(self, action: str, params: dict[str, str]) -> dict[str, Any] | Response:
        cluster = self._cluster(params.get("cluster"), action)
        if isinstance(cluster, Response):
            return cluster
        role = params.get("role")
        if role and role not in cluster.roles:
            return self.fail(1100, f"ParameterError, role [{role}] is not a role of cluster [{cluster.cluster_id}]")
        job_id = self._start_job(action, cluster, {"role": role} if role else {})
        return {"cluster_id": cluster.cluster_id, "job_id": job_id}

    def _resize(self, action: str, params: dict[str, str]) -> dict[str, Any] | Response:
        cluster = self._cluster(params.get("cluster"), action)
        if isinstance(cluster, Response):
            return cluster
        role = params.get("node_role")
        if role and role not in cluster.roles:
            return self.fail(
                1100, f"ParameterError, node_role [{role}] is not a role of cluster [{cluster.cluster_id}]"
            )
        sizes: dict[str, int] = {
            name: int(params[name]) for name in ("cpu", "memory", "gpu", "storage_size") if name in params
        }
        too_big = sizes.get("cpu", 0) > MAX_CPU or sizes.get("memory", 0) > MAX_MEMORY
        extra: dict[str, Any] = {"node_role": role, **sizes} if role else dict(sizes)
        job_id = self._start_job(action, cluster, extra, *(("failed", "5200") if too_big else ()))
        if not too_big:
            cluster.sizes.update(sizes)
        # the answer's sizes are the nodes' after the resize (the API page's example)
        return {"job_id": job_id, **{**cluster.sizes, **sizes}, "cluster_id": cluster.cluster_id}

    def _role_of(self, cluster: Cluster, role: str | None) -> str | Response:
        if role:
            if role not in cluster.roles:
                return self.fail(
                    1100, f"ParameterError, node_role [{role}] is not a role of cluster [{cluster.cluster_id}]"
                )
            return role
        if len(cluster.roles) > 1:
            return self.fail(1100, f"ParameterError, cluster [{cluster.cluster_id}] has several roles: give node_role")
        return next(iter(cluster.roles))

    def _add_nodes(self, action: str, params: dict[str, str]) -> dict[str, Any] | Response:
        cluster = self._cluster(params.get("cluster"), action)
        if isinstance(cluster, Response):
            return cluster
        if "node_count" not in params:
            return self.fail(1100, "ParameterError, parameter node_count should not be empty")
        count = int(params["node_count"])
        if count < 1:
            return self.fail(1100, "ParameterError, parameter node_count should be >= 1")
        role = self._role_of(cluster, params.get("node_role"))
        if isinstance(role, Response):
            return role
        for name in ("resource_conf", "private_ips"):
            if params.get(name):
                try:
                    json.loads(params[name])
                except ValueError:
                    return self.fail(1100, f"ParameterError, parameter {name} should be JSON")
        serial = sum(len(nodes) for nodes in cluster.roles.values())
        new = [f"cln-{cluster.cluster_id[3:]}n{serial + n:02d}" for n in range(1, count + 1)]
        cluster.roles[role].extend(new)
        extra = {"node_count": count, "node_role": role, "nodes": new} if role else {"node_count": count, "nodes": new}
        job_id = self._start_job(action, cluster, extra)
        return {"cluster_id": cluster.cluster_id, "new_node_ids": new, "job_id": job_id}

    def _delete_nodes(self, action: str, params: dict[str, str]) -> dict[str, Any] | Response:
        cluster = self._cluster(params.get("cluster"), action)
        if isinstance(cluster, Response):
            return cluster
        nodes = self._lists(params, "nodes")
        if not nodes:
            return self.fail(1100, "ParameterError, parameter nodes should not be empty")
        known = {node: role for role, ids in cluster.roles.items() for node in ids}
        missing = [node for node in nodes if node not in known]
        if missing:
            return self.fail(2100, f"ResourceNotFound, resource [{missing[0]}] not found")
        for node in nodes:
            cluster.roles[known[node]].remove(node)
        job_id = self._start_job(action, cluster, {"nodes": nodes})
        return {"deleted_node_ids": nodes, "cluster_id": cluster.cluster_id, "job_id": job_id}

    def _deploy(self, action: str, params: dict[str, str]) -> dict[str, Any] | Response:
        version = params.get("version_id")
        if not version:
            return self.fail(1100, "ParameterError, parameter version_id should not be empty")
        if not params.get("conf"):
            return self.fail(1100, "ParameterError, parameter conf should not be empty")
        try:
            conf = json.loads(params["conf"])
        except ValueError:
            return self.fail(1100, "ParameterError, parameter conf should be JSON")
        app = APP_VERSIONS.get(version)
        if app is None:
            return self.fail(2100, f"ResourceNotFound, resource [{version}] not found")
        spec = conf.get("cluster") if isinstance(conf, dict) else None
        if not isinstance(spec, dict):
            return self.fail(1100, "ParameterError, conf has no cluster")
        cluster_id = f"cl-deploy{len(self.clusters) + 1:03d}"
        count = (
            sum(int(role.get("count", 1)) for role in spec.values() if isinstance(role, dict) and "count" in role) or 1
        )
        nodes = [f"cln-{cluster_id[3:]}n{n:02d}" for n in range(1, count + 1)]
        cluster = Cluster(cluster_id, app, "active", {"chronusdb": nodes})
        self.clusters[cluster_id] = cluster
        job_id = self._start_job(action, cluster, {"version_id": version})
        return {
            "vxnet_id": spec.get("vxnet") or "vxnet-0",
            "node_ids": nodes,
            "app_id": app,
            "cluster_name": spec.get("name") or "",
            "cluster_id": cluster_id,
            "node_count": count,
            "app_version": version,
            "job_id": job_id,
        }

    async def control(self, request: Request) -> Response:
        return JSONResponse(
            {
                "max_skew": self.max_skew,
                "signatures_verified": list(self.signatures_verified),
                "signatures_verified_total": self.signatures_verified_total,
            }
        )

    # -- app ----------------------------------------------------------------------------------------------
    def connections(self, base_url: str) -> dict[str, dict[str, Any]]:
        return {
            "qingcloud_default": {
                "conn_type": "qingcloud",
                "host": base_url,
                "login": ACCESS_KEY_ID,
                "password": SECRET_ACCESS_KEY,
                "extra": {"zone": ZONE, "allow_http": True},
            }
        }

    def app(self) -> EmulatorApp:
        return build_app(
            "qingcloud",
            [
                Route("/_emulator/qingcloud", self.control, methods=["GET"]),
                Route("/iaas/", self.iaas, methods=["GET", "POST"]),
            ],
            self.faults,
            self.clock,
            error_response=lambda: (200, {"ret_code": 5100, "message": "ServerBusy, please retry later"}),
            throttle_response=lambda: (
                200,
                {"ret_code": 2500, "message": "QuotaExceeded, too many requests, please slow down and retry"},
            ),
            connections=self.connections,
        )


def qingcloud_app(**kwargs: Any) -> EmulatorApp:
    """The QingCloud emulator app (see :class:`QingCloudEmulator` for the knobs)."""
    return QingCloudEmulator(**kwargs).app()
