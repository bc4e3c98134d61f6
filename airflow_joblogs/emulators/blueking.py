"""BlueKing JOB emulator: ESB v2 and API gateway v3, real envelopes, real auth checks, jobs that run.

Catalogue (business id 2):

==== ======================== ===============================================================
id   name                     what it shows
==== ======================== ===============================================================
1001 deploy-web-v2.3          3 steps (script, file, script) on 4 hosts, succeeds
1002 deploy-api-v1.8          step 2 fails on 2 of 3 hosts (ip_status 104, exit codes 1 and 2)
1003 release-approval         step 2 is a manual confirmation: stuck in status 7 (waiting for user)
1004 fleet-config-push        1,000 hosts, one step, succeeds
1005 bulk-data-export         a very large log (``large_log_bytes`` over ``large_hosts`` hosts)
1006 hotfix-restart           finished at once (success), 2 hosts
2001 fleet-job-0001 ...       with ``fleet_jobs=N``: jobs 2001..2000+N, one step on one host each,
                              ``fleet_duration`` long; every tenth (2010, 2020, ...) fails (exit code 1)
==== ======================== ===============================================================

Jobs start when first asked about and move pending -> running -> final over a few seconds
(``speed`` scales time). Host logs grow while a step runs.

The shared ``repeat`` paging fault makes ``batch_get_job_instance_ip_log`` answer with the logs of the step's
previous batch (a stale answer); ``stall`` does not apply (nothing here is paged by offset).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airflow_joblogs.emulators.base import EmulatorApp, Faults, JobClock, build_app, paging_fault

APP_CODE = "joblogs-demo"
APP_SECRET = "bk-demo-secret-7f3a"  # the emulator's own test credential, not a real one
USERNAME = "admin"
BIZ_ID = 2
STAGE_PREFIX = "/api/bk-job/prod"
_CST = timezone(timedelta(hours=8))
_EPOCH = datetime(2026, 11, 22, 10, 0, 0, tzinfo=_CST)


@dataclass
class Host:
    host_id: int
    ip: str
    cloud_id: int = 0
    final_status: int = 9
    exit_code: int = 0
    error_code: int = 0
    tag: str = ""


@dataclass
class Step:
    step_instance_id: int
    name: str
    type: int  # 1 script, 2 file, 3 manual confirmation
    duration: float
    hosts: list[Host] = field(default_factory=list)
    final_status: int = 3


@dataclass
class Job:
    job_instance_id: int
    name: str
    steps: list[Step]
    pending: float = 0.5
    log_bytes_per_host: int = 0  # > 0: generate a log of about this size per host


def host_log(job: Job, step: Step, host: Host) -> str:
    """The complete log of a host in a step (deterministic)."""
    stamp = _EPOCH.strftime("%Y-%m-%d %H:%M")
    pid = 40000 + host.host_id % 20000
    head = f"[{stamp}:00][PID:{pid}] job_start {job.name} step={step.name!r} host={host.ip}\n"
    if step.type == 2:
        return (
            head + f"[{stamp}:01] download /data/release/{job.name}.tar.gz from 10.0.0.1 -> {host.ip}: 100% 18.2MB/s\n"
        )
    if job.log_bytes_per_host:
        line = f"[{stamp}:05][PID:{pid}] export batch rows=5000 table=orders host={host.ip} ok\n"
        body = line * max(1, job.log_bytes_per_host // len(line))
        return head + body + f"[{stamp}:59][PID:{pid}] job_success exit=0\n"
    lines = [head]
    for n in range(1, 4):
        lines.append(f"[{stamp}:{n:02d}][PID:{pid}] {step.name}: stage {n}/3 done\n")
    if host.final_status in (9, 3):
        lines.append(f"[{stamp}:04][PID:{pid}] 部署完成 (deployment complete) exit=0\n")
    else:
        lines.append(f"[{stamp}:04][PID:{pid}] ERROR: migration 0042_add_index failed: lock wait timeout\n")
        lines.append(f"[{stamp}:04][PID:{pid}] job_fail exit={host.exit_code}\n")
    return "".join(lines)


def _hosts(count: int, start: int = 1, *, failing: dict[int, int] | None = None) -> list[Host]:
    hosts = []
    for n in range(start, start + count):
        exit_code = (failing or {}).get(n, 0)
        hosts.append(
            Host(
                host_id=100000 + n,
                ip=f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}",
                final_status=104 if exit_code else 9,
                exit_code=exit_code,
                tag="job_fail" if exit_code else "",
            )
        )
    return hosts


#: the first job id of the fleet (``fleet_jobs``)
FLEET_FIRST_ID = 2001


def fleet_job_fails(job_instance_id: int) -> bool:
    """Whether fleet job ``job_instance_id`` ends in failure (every tenth: 2010, 2020, ...)."""
    return (job_instance_id - FLEET_FIRST_ID + 1) % 10 == 0


def fleet(count: int, duration: float) -> dict[int, Job]:
    """``count`` jobs of one step on one host each, for many sensors at once; every tenth fails."""
    jobs = {}
    for n in range(count):
        job_id = FLEET_FIRST_ID + n
        failing = fleet_job_fails(job_id)
        host = _hosts(1, start=5000 + n, failing={5000 + n: 1} if failing else None)
        jobs[job_id] = Job(
            job_id,
            f"fleet-job-{n + 1:04d}",
            [Step(job_id * 10 + 1, "apply", 1, duration, host, final_status=4 if failing else 3)],
        )
    return jobs


def catalogue(large_log_bytes: int = 8 << 20, large_hosts: int = 40) -> dict[int, Job]:
    web = _hosts(4)
    api = _hosts(3, start=11)
    api_fail = _hosts(3, start=11, failing={12: 1, 13: 2})
    fleet = _hosts(1000, start=1000)
    return {
        1001: Job(
            1001,
            "deploy-web-v2.3",
            [
                Step(10011, "stop service", 1, 1.0, web),
                Step(10012, "push package", 2, 1.0, web),
                Step(10013, "start and health check", 1, 1.0, web),
            ],
        ),
        1002: Job(
            1002,
            "deploy-api-v1.8",
            [
                Step(10021, "backup database", 1, 1.0, api),
                Step(10022, "migrate and restart", 1, 1.0, api_fail, final_status=4),
                Step(10023, "smoke test", 1, 1.0, api),
            ],
        ),
        1003: Job(
            1003,
            "release-approval",
            [
                Step(10031, "pre-check", 1, 0.5, _hosts(2, start=21)),
                Step(10032, "confirm release", 3, 0.0, [], final_status=7),
                Step(10033, "release", 1, 1.0, _hosts(2, start=21)),
            ],
        ),
        1004: Job(1004, "fleet-config-push", [Step(10041, "push config", 1, 2.0, fleet)]),
        1005: Job(
            1005,
            "bulk-data-export",
            [Step(10051, "export", 1, 0.5, _hosts(large_hosts, start=31))],
            log_bytes_per_host=max(1, large_log_bytes // max(1, large_hosts)),
        ),
        1006: Job(1006, "hotfix-restart", [Step(10061, "restart", 1, 0.0, _hosts(2, start=41))], pending=0.0),
    }


# -- the job's state at a moment --------------------------------------------------------------------------
@dataclass
class StepView:
    step: Step
    status: int
    progress: float  # 0..1 of the log revealed
    start: float | None
    end: float | None


def job_view(job: Job, elapsed: float) -> tuple[int, list[StepView]]:
    """(job status, step views) after ``elapsed`` seconds of the job's life."""
    if elapsed < job.pending:
        return 1, [StepView(s, 1, 0.0, None, None) for s in job.steps]
    t = elapsed - job.pending
    clock = job.pending
    views: list[StepView] = []
    job_status = 3
    stopped = False
    for step in job.steps:
        if stopped:
            views.append(StepView(step, 1, 0.0, None, None))
            continue
        if step.final_status == 7:  # waits for a person, forever
            views.append(StepView(step, 7, 0.0, clock, None))
            job_status, stopped = 7, True
            continue
        if t < step.duration:
            views.append(StepView(step, 2, t / step.duration if step.duration else 1.0, clock, None))
            job_status, stopped = 2, True
            continue
        views.append(StepView(step, step.final_status, 1.0, clock, clock + step.duration))
        t -= step.duration
        clock += step.duration
        if step.final_status == 4:
            job_status, stopped = 4, True
    return job_status, views


def _ms(offset: float | None) -> int | None:
    return None if offset is None else int((_EPOCH.timestamp() + offset) * 1000)


def _text_time(offset: float | None) -> str | None:
    return None if offset is None else (_EPOCH + timedelta(seconds=offset)).strftime("%Y-%m-%d %H:%M:%S %z")


def _host_status(view: StepView, host: Host) -> int:
    if view.status == 1:
        return 5
    if view.status == 2:
        return 7
    return host.final_status if view.status in (3, 4) else 5


def _revealed(job: Job, view: StepView, host: Host) -> str:
    full = host_log(job, view.step, host)
    if view.progress >= 1.0:
        return full
    if view.progress <= 0:
        return ""
    cut = full.rfind("\n", 0, int(len(full) * view.progress))
    return full[: cut + 1] if cut >= 0 else ""


class BlueKingEmulator:
    def __init__(
        self,
        *,
        speed: float = 1.0,
        large_log_bytes: int = 8 << 20,
        large_hosts: int = 40,
        fleet_jobs: int = 0,
        fleet_duration: float = 10.0,
        faults: Faults | None = None,
    ) -> None:
        self.jobs = catalogue(large_log_bytes, large_hosts)
        self.jobs.update(fleet(fleet_jobs, fleet_duration))
        self.clock = JobClock(speed)
        self.faults = faults or Faults()
        #: the hosts of the last batch_get_job_instance_ip_log answer, per step (for the "repeat" paging fault)
        self._last_batch: dict[int, list[Host]] = {}
        self._host_index: dict[int, dict[str, Host]] = {}

    # -- helpers ------------------------------------------------------------------------------------------
    @staticmethod
    def ok(data: Any) -> Response:
        request_id = uuid.uuid4().hex
        return JSONResponse(
            {"result": True, "code": 0, "message": "success", "data": data, "request_id": request_id},
            headers={"X-Bkapi-Request-Id": request_id},
        )

    @staticmethod
    def fail(code: int, message: str, status: int = 200) -> Response:
        request_id = uuid.uuid4().hex
        return JSONResponse(
            {"result": False, "code": code, "message": message, "data": None, "request_id": request_id},
            status_code=status,
            headers={"X-Bkapi-Request-Id": request_id},
        )

    @staticmethod
    def gateway_error(
        message: str, status: int = 400, code: int = 1640001, code_name: str = "INVALID_ARGS"
    ) -> Response:
        return JSONResponse(
            {"code_name": code_name, "code": code, "message": message, "result": False, "data": None},
            status_code=status,
            headers={"X-Bkapi-Request-Id": uuid.uuid4().hex},
        )

    def lookup(self, job_id: Any, biz: Any) -> tuple[Job | None, Response | None]:
        try:
            job_id, biz = int(job_id), int(biz)
        except (TypeError, ValueError):
            return None, self.fail(1241002, "Param [job_instance_id/bk_biz_id] is illegal")
        job = self.jobs.get(job_id)
        if job is None or biz != BIZ_ID:
            return None, self.fail(1244006, f"Job instance ({job_id}) does not exist")
        return job, None

    def state(self, job: Job) -> tuple[int, list[StepView]]:
        return job_view(job, self.clock.elapsed(job.job_instance_id))

    def host_fields(self, job: Job, view: StepView, host: Host) -> dict[str, Any]:
        status = _host_status(view, host)
        done = status not in (5, 7)
        return {
            "bk_host_id": host.host_id,
            "ip": host.ip,
            "bk_cloud_id": host.cloud_id,
            "status": status,
            "tag": host.tag if done else "",
            "exit_code": host.exit_code if done else 0,
            "error_code": host.error_code,
            "start_time": _ms(view.start),
            "end_time": _ms(view.end) if done else None,
            "total_time": int(view.step.duration * 1000) if done else 0,
        }

    # -- auth ---------------------------------------------------------------------------------------------
    def esb_auth(self, body: dict[str, Any]) -> Response | None:
        if not body.get("bk_app_code") or not body.get("bk_app_secret"):
            return self.fail(1306201, "APP authentication failed: bk_app_code and bk_app_secret are required")
        if body["bk_app_code"] != APP_CODE or body["bk_app_secret"] != APP_SECRET:
            return self.fail(1306201, "APP authentication failed: bk_app_code or bk_app_secret is incorrect")
        if not (body.get("bk_username") or body.get("bk_token")):
            return self.fail(1247001, "User authentication failed: bk_username or bk_token is required")
        return None

    def gateway_auth(self, request: Request) -> Response | None:
        raw = request.headers.get("X-Bkapi-Authorization")
        if not raw:
            return self.gateway_error('Parameters error [reason="app code cannot be empty"]')
        try:
            auth = json.loads(raw)
        except ValueError:
            return self.gateway_error('Parameters error [reason="X-Bkapi-Authorization is not a valid JSON"]')
        if not auth.get("bk_app_code"):
            return self.gateway_error('Parameters error [reason="app code cannot be empty"]')
        if auth.get("bk_app_code") != APP_CODE or auth.get("bk_app_secret") != APP_SECRET:
            return self.gateway_error(
                'Parameters error [reason="bk_app_code or bk_app_secret is incorrect"]',
                code=1640401,
                code_name="APP_VERIFY_FAILED",
            )
        if not (auth.get("bk_username") or auth.get("bk_token") or auth.get("access_token")):
            return self.gateway_error(
                'Parameters error [reason="user authentication failed, please provide a valid user identity, such as bk_username, bk_token, access_token"]',
                code=1640401,
                code_name="USER_VERIFY_FAILED",
            )
        return None

    # -- ESB v2 -------------------------------------------------------------------------------------------
    async def _params(self, request: Request) -> tuple[dict[str, Any], Response | None]:
        """The query parameters with a POST's JSON body over them, or the answer to a body that is not JSON."""
        params: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            try:
                params.update(await request.json())
            except ValueError:
                return params, self.fail(1241002, "Request body is not valid JSON")
        return params, None

    async def esb(self, request: Request) -> Response:
        api = request.path_params["api"]
        body, error = await self._params(request)
        if error:
            return error
        denied = self.esb_auth(body)
        if denied:
            return denied
        for name in ("bk_biz_id", "job_instance_id"):
            if body.get(name) in (None, ""):
                return self.fail(1241001, f"Param [{name}] is missing")
        job, error = self.lookup(body["job_instance_id"], body["bk_biz_id"])
        if error:
            return error
        assert job is not None
        status, views = self.state(job)
        if api == "get_job_instance_status":
            return self.ok(
                {
                    "is_finished": status not in (1, 2, 7, 10, 15),
                    "job_instance": {
                        "job_instance_id": job.job_instance_id,
                        "bk_biz_id": BIZ_ID,
                        "name": job.name,
                        "status": status,
                        "create_time": _text_time(0),
                        "start_time": _text_time(job.pending if status != 1 else None),
                    },
                    "blocks": [
                        {
                            "type": 1,
                            "step_instances": [
                                {
                                    "step_instance_id": v.step.step_instance_id,
                                    "name": v.step.name,
                                    "type": v.step.type,
                                    "status": v.status,
                                    "step_ip_status": [self.host_fields(job, v, h) for h in v.step.hosts],
                                }
                                for v in views
                            ],
                        }
                    ],
                }
            )
        if api == "get_job_instance_log":
            steps = []
            for v in views:
                groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
                for host in v.step.hosts:
                    fields = self.host_fields(job, v, host)
                    groups.setdefault((fields["status"], fields["tag"]), []).append(
                        {
                            "retry_count": 0,
                            "total_time": fields["total_time"] / 1000,
                            "start_time": _text_time(v.start),
                            "end_time": _text_time(v.end),
                            "ip": host.ip,
                            "bk_cloud_id": host.cloud_id,
                            "error_code": fields["error_code"],
                            "exit_code": fields["exit_code"],
                            "log_content": _revealed(job, v, host),
                        }
                    )
                steps.append(
                    {
                        "is_finished": v.status not in (1, 2, 7),
                        "step_instance_id": v.step.step_instance_id,
                        "name": v.step.name,
                        "status": v.status,
                        "step_results": [
                            {"ip_status": k[0], "tag": k[1], "ip_logs": logs} for k, logs in groups.items()
                        ],
                    }
                )
            return self.ok(steps)
        return self.fail(1241001, f"Component {api} is not found")

    # -- gateway v3 -------------------------------------------------------------------------------------------
    def _scope(self, params: dict[str, Any]) -> tuple[Any, Response | None]:
        scope_type = params.get("bk_scope_type") or ("biz" if params.get("bk_biz_id") else None)
        scope_id = params.get("bk_scope_id") or params.get("bk_biz_id")
        if scope_type not in ("biz", "biz_set") or not scope_id:
            return None, self.fail(1241001, "Param [bk_scope_type/bk_scope_id] is missing or illegal")
        return (scope_id if scope_type == "biz" else -1), None

    async def gateway(self, request: Request) -> Response:
        denied = self.gateway_auth(request)
        if denied:
            return denied
        api = request.path_params["api"]
        params, error = await self._params(request)
        if error:
            return error
        biz, error = self._scope(params)
        if error:
            return error
        if params.get("job_instance_id") in (None, ""):
            return self.fail(1241001, "Param [job_instance_id] is missing")
        job, error = self.lookup(params["job_instance_id"], biz)
        if error:
            return error
        assert job is not None
        status, views = self.state(job)
        if api == "get_job_instance_status" and request.method == "GET":
            with_hosts = str(params.get("return_ip_result", "false")).lower() == "true"
            finished = status not in (1, 2, 7, 10, 15)
            return self.ok(
                {
                    "finished": finished,
                    "job_instance": {
                        "job_instance_id": job.job_instance_id,
                        "bk_scope_type": "biz",
                        "bk_scope_id": str(BIZ_ID),
                        "name": job.name,
                        "status": status,
                        "create_time": _ms(0),
                        "start_time": _ms(job.pending) if status != 1 else None,
                        "end_time": _ms(max((v.end or 0) for v in views)) if finished else None,
                        "total_time": int(sum(v.step.duration for v in views if v.end is not None) * 1000),
                    },
                    "step_instance_list": [
                        {
                            "step_instance_id": v.step.step_instance_id,
                            "type": v.step.type,
                            "name": v.step.name,
                            "status": v.status,
                            "execute_count": 0,
                            "create_time": _ms(0),
                            "start_time": _ms(v.start),
                            "end_time": _ms(v.end),
                            "total_time": int(v.step.duration * 1000) if v.end is not None else None,
                            **(
                                {"step_ip_result_list": [self.host_fields(job, v, h) for h in v.step.hosts]}
                                if with_hosts
                                else {}
                            ),
                        }
                        for v in views
                    ],
                }
            )
        view = next((v for v in views if str(v.step.step_instance_id) == str(params.get("step_instance_id"))), None)
        if view is None:
            return self.fail(1244007, f"Step instance ({params.get('step_instance_id')}) does not exist")
        if api == "get_job_instance_ip_log" and request.method == "GET":
            host = self._find_host(view, params.get("host_id"), params.get("bk_cloud_id"), params.get("ip"))
            if host is None:
                return self.fail(1241002, "Param [host_id/ip] is illegal")
            return self.ok(self._ip_log(job, view, host))
        if api == "batch_get_job_instance_ip_log" and request.method == "POST":
            ids, ips = params.get("host_id_list") or [], params.get("ip_list") or []
            if len(ids) + len(ips) > 500:
                return self.fail(1241002, "Param [host_id_list/ip_list] is illegal: at most 500 hosts per request")
            if not ids and not ips:
                return self.fail(1241001, "Param [host_id_list/ip_list] is missing")
            hosts = [self._find_host(view, i, None, None) for i in ids] + [
                self._find_host(view, None, e.get("bk_cloud_id"), e.get("ip")) for e in ips
            ]
            step_id = view.step.step_instance_id
            previous, self._last_batch[step_id] = self._last_batch.get(step_id), [h for h in hosts if h]
            if paging_fault(request) == "repeat" and previous and previous != self._last_batch[step_id]:
                hosts = list(previous)  # a stale answer: the logs of the step's previous batch
            script: list[dict[str, Any]] = []
            files: list[dict[str, Any]] = []
            for host in hosts:
                if host is None:
                    continue
                entry = self._ip_log(job, view, host)
                (files if view.step.type == 2 else script).append(entry)
            return self.ok(
                {
                    "log_type": 2 if view.step.type == 2 else 1,
                    "script_task_logs": script or None,
                    "file_task_logs": files or None,
                }
            )
        return self.gateway_error(
            f"API not found [path={request.url.path}]", status=404, code=1640404, code_name="API_NOT_FOUND"
        )

    def _find_host(self, view: StepView, host_id: Any, cloud: Any, ip: Any) -> Host | None:
        # indexed once per step: a 500-host batch of a 5,000-host step must not scan the step 500 times
        index = self._host_index.get(view.step.step_instance_id)
        if index is None:
            index = self._host_index[view.step.step_instance_id] = {}
            for host in view.step.hosts:
                index.setdefault(str(host.host_id), host)
                index.setdefault(f"{host.cloud_id}:{host.ip}", host)
        found = index.get(str(host_id)) if host_id not in (None, "") else None
        if found is None and ip:
            found = index.get(f"{cloud or 0}:{ip}")
        return found

    def _ip_log(self, job: Job, view: StepView, host: Host) -> dict[str, Any]:
        content = _revealed(job, view, host)
        entry: dict[str, Any] = {"bk_host_id": host.host_id, "ip": host.ip, "bk_cloud_id": host.cloud_id}
        if view.step.type == 2:
            entry["file_logs"] = [
                {
                    "mode": 1,
                    "src_ip": {"bk_cloud_id": 0, "ip": "10.0.0.1"},
                    "dest_ip": {"bk_cloud_id": host.cloud_id, "ip": host.ip},
                    "dest_path": f"/data/release/{job.name}.tar.gz",
                    "status": 4 if content else 2,
                    "log_content": content,
                }
            ]
        else:
            entry["log_content"] = content
        return entry

    # -- app ----------------------------------------------------------------------------------------------
    def connections(self, base_url: str) -> dict[str, dict[str, Any]]:
        common = {"conn_type": "bk_job", "login": APP_CODE, "password": APP_SECRET}
        return {
            "bk_job_default": {
                **common,
                "host": base_url + STAGE_PREFIX,
                "extra": {"api_style": "gateway_v3", "bk_username": USERNAME, "allow_http": True},
            },
            "bk_job_esb": {
                **common,
                "host": base_url,
                "extra": {"api_style": "esb_v2", "bk_username": USERNAME, "allow_http": True},
            },
        }

    def app(self) -> EmulatorApp:
        routes = [
            Route("/api/c/compapi/v2/job/{api}/", self.esb, methods=["GET", "POST"]),
            Route(STAGE_PREFIX + "/api/v3/{api}", self.gateway, methods=["GET", "POST"]),
        ]
        return build_app(
            "blueking",
            routes,
            self.faults,
            self.clock,
            error_response=lambda: (500, {"result": False, "code": 1240002, "message": "Internal error", "data": None}),
            throttle_response=lambda: (
                429,
                {
                    "code_name": "RATE_LIMIT_RESTRICTION",
                    "code": 1642902,
                    "message": "Request rate exceeds the limit",
                    "result": False,
                    "data": None,
                },
            ),
            connections=self.connections,
        )


def blueking_app(**kwargs: Any) -> EmulatorApp:
    """The BlueKing emulator app (see :class:`BlueKingEmulator` for the knobs)."""
    return BlueKingEmulator(**kwargs).app()
