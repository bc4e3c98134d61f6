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
1007 rotate-db-credentials    finished at once (success), 2 hosts; its scripts echo secrets
                              (``PLANTED_SECRETS``) into their logs, as careless scripts do
2001 canary-restart-001 ...   the fleet: ``fleet_jobs`` jobs (100 by default: 2001 to 2100), one step on one
...  canary-restart-100       host each, ``fleet_duration`` long (1 s by default), for dynamic task mapping and
                              many sensors at once: every tenth (2010, 2020, ...) fails on its host
                              (ip_status 104, exit code 1), the others succeed
==== ======================== ===============================================================

Jobs start when first asked about and move pending -> running -> final over a few seconds
(``speed`` scales time). Host logs grow while a step runs.

Credentials: app ``joblogs-demo`` / ``bk-demo-secret-7f3a``; the user is verified by ``bk_token``
(``BK_TOKEN``, user ``admin``) or an ``access_token`` (``ACCESS_TOKEN``); ``bk_username`` alone is
refused, as a stock API gateway and ESB refuse it, unless the app is in ``verified_user_exempted_apps``.
``GUEST_BK_TOKEN`` logs in user ``guest``, who may not view the business's job history (code 9900403).

The shared ``repeat`` paging fault makes ``batch_get_job_instance_ip_log`` answer with the logs of the step's
previous batch (a stale answer); ``stall`` does not apply (nothing here is paged by offset).
"""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
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
#: the emulator's own test login tokens, not real ones
BK_TOKEN = "bk-demo-login-token-3c9e"
ACCESS_TOKEN = "bk-demo-access-token-5d1b"
GUEST_BK_TOKEN = "bk-demo-guest-token-8a2f"
GUEST = "guest"
#: bk_token -> user (the login service's answer); access_token -> user (bkauth's answer)
_BK_TOKENS = {BK_TOKEN: USERNAME, GUEST_BK_TOKEN: GUEST}
_ACCESS_TOKENS = {ACCESS_TOKEN: USERNAME}
#: users allowed IAM action view_history on business 2 (a job's operator may always see it)
_HISTORY_VIEWERS = {USERNAME}
OPERATOR = USERNAME
BIZ_ID = 2
STAGE_PREFIX = "/api/bk-job/prod"
_CST = timezone(timedelta(hours=8))
#: bk-job ErrorCode values the emulator answers with
BAD_REQUEST = 1240003
MISSING_OR_ILLEGAL_PARAM = 1241007  # MISSING_OR_ILLEGAL_PARAM_WITH_PARAM_NAME
TASK_INSTANCE_NOT_EXIST = 1244006
BK_PERMISSION_DENIED = 9900403
#: ESB's COMMON_ERROR: every failed app or user validation (legacy-bk-paas esb/common/errors.py)
ESB_COMMON_ERROR = 1306000
#: RunStatusEnum.FINISHED_STATUS_SET
FINISHED = frozenset({3, 4, 5, 6, 8, 9, 11, 13, 14})
#: the gateway v3 resources served (support-files/bk-api-gateway/v3/resources.yaml): name -> method
RESOURCES = {
    "get_job_instance_status": "GET",
    "get_job_instance_ip_log": "GET",
    "batch_get_job_instance_ip_log": "POST",
    "execute_job_plan": "POST",
    "fast_execute_script": "POST",
    "operate_job_instance": "POST",
    "get_job_instance_global_var_value": "GET",
}
#: the resources that start or act on jobs (served by :meth:`BlueKingEmulator.run_api`)
RUN_RESOURCES = frozenset({"execute_job_plan", "fast_execute_script", "operate_job_instance"})
ILLEGAL_PARAM = 1241002
UNSUPPORTED_OPERATION = 1241003
MISSING_PARAM = 1241004  # MISSING_PARAM_WITH_PARAM_NAME
ILLEGAL_PARAM_NAMED = 1241005  # ILLEGAL_PARAM_WITH_PARAM_NAME
REPEAT_START = 1241015  # UNSUPPORTED_OPERATION_REPEAT_START_JOB
SCRIPT_NOT_EXIST = 1243001
TASK_PLAN_NOT_EXIST = 1243009
SERVER_EMPTY = 1244001
#: the job plans (business 2) execute_job_plan starts: plan id -> (catalogue job it runs like, global variables)
PLANS: dict[int, tuple[int, list[dict[str, Any]]]] = {
    101: (
        1001,
        [
            {"id": 1011, "name": "version", "value": "v2.3", "type": 1},
            {"id": 1012, "name": "env", "value": "prod", "type": 1},
        ],
    ),
    102: (1002, [{"id": 1021, "name": "version", "value": "v1.8", "type": 1}]),
    103: (1003, []),
}
#: the first job instance id a started job gets
FIRST_STARTED_JOB = 30001
#: EsbBatchGetJobInstanceIpLogV3ResourceImpl.checkRequest: at most 500 hosts
MAX_BATCH_HOSTS = 500
PACKAGE_HOST_ID = 100000
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
    script: str | None = None  # a fast_execute_script step's script (its ``echo`` lines are the hosts' output)


@dataclass
class Job:
    job_instance_id: int
    name: str
    steps: list[Step]
    pending: float = 0.5
    log_bytes_per_host: int = 0  # > 0: generate a log of about this size per host
    #: the job's life (seconds) at which operate_job_instance terminated it, None if it was not
    terminated_at: float | None = None
    #: the global variables (``{id, name, value, type}``) a started job plan runs with
    global_vars: list[dict[str, Any]] = field(default_factory=list)
    #: lines every host logs before its last line (``{ip}`` is the host's IP)
    extra_lines: tuple[str, ...] = ()


def host_log(job: Job, step: Step, host: Host) -> str:
    """The complete log of a host in a step (deterministic)."""
    stamp = _EPOCH.strftime("%Y-%m-%d %H:%M")
    pid = 40000 + host.host_id % 20000
    head = f"[{stamp}:00][PID:{pid}] job_start {job.name} step={step.name!r} host={host.ip}\n"
    if step.type == 2:
        return (
            head + f"[{stamp}:01] download /data/release/{job.name}.tar.gz from 10.0.0.1 -> {host.ip}: 100% 18.2MB/s\n"
        )
    if step.script is not None:
        out = [head]
        for line in step.script.splitlines():
            if line.strip().startswith("echo "):
                out.append(f"[{stamp}:01][PID:{pid}] {line.strip()[5:].strip().strip(chr(34) + chr(39))}\n")
        out.append(
            f"[{stamp}:02][PID:{pid}] job_{'success' if host.exit_code == 0 else 'fail'} exit={host.exit_code}\n"
        )
        return "".join(out)
    if job.log_bytes_per_host:
        line = f"[{stamp}:05][PID:{pid}] export batch rows=5000 table=orders host={host.ip} ok\n"
        body = line * max(1, job.log_bytes_per_host // len(line))
        return head + body + f"[{stamp}:59][PID:{pid}] job_success exit=0\n"
    lines = [head]
    for n in range(1, 4):
        lines.append(f"[{stamp}:{n:02d}][PID:{pid}] {step.name}: stage {n}/3 done\n")
    lines.extend(f"[{stamp}:04][PID:{pid}] {line.format(ip=host.ip)}\n" for line in job.extra_lines)
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


#: the first job instance id of the fleet
FLEET_FIRST_ID = 2001
#: the default fleet's size (``fleet_jobs``) and its job instance ids (one job per host)
DEFAULT_FLEET_JOBS = 100
FLEET_JOBS = range(FLEET_FIRST_ID, FLEET_FIRST_ID + DEFAULT_FLEET_JOBS)


def fleet_job_fails(job_instance_id: int) -> bool:
    """Whether fleet job ``job_instance_id`` ends in failure (every tenth: 2010, 2020, ...)."""
    return (job_instance_id - FLEET_FIRST_ID + 1) % 10 == 0


FLEET_FAILING = frozenset(job_id for job_id in FLEET_JOBS if fleet_job_fails(job_id))


#: what job 1007's scripts print: a database password, an API token, and a password in a connection URL
PLANTED_SECRETS = ("Tr0ub4dor-emulator-3", "tok-5f0c2e9a7b18d4e6", "hunter2-emulator-url")


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
        1007: Job(
            1007,
            "rotate-db-credentials",
            [Step(10071, "rotate", 1, 0.0, _hosts(2, start=51))],
            pending=0.0,
            extra_lines=(
                f"DB_PASSWORD={PLANTED_SECRETS[0]} written to /etc/app/db.env on {{ip}}",
                f"curl -H 'Authorization: Bearer {PLANTED_SECRETS[1]}' https://vault.example/v1/rotate",
                f"connecting to postgresql://app:{PLANTED_SECRETS[2]}@{{ip}}:5432/app",
            ),
        ),
    }


def fleet(count: int = DEFAULT_FLEET_JOBS, duration: float = 1.0) -> dict[int, Job]:
    """The fleet: ``count`` jobs (2001 on), each a restart and health check of ``duration`` seconds on one host
    of its own; every tenth fails."""
    return {job_id: _fleet_job(job_id, duration) for job_id in range(FLEET_FIRST_ID, FLEET_FIRST_ID + count)}


def _fleet_job(job_id: int, duration: float) -> Job:
    n = job_id - FLEET_FIRST_ID + 1
    failing = fleet_job_fails(job_id)
    hosts = _hosts(1, start=2000 + n, failing={2000 + n: 1} if failing else None)
    step = Step(job_id * 10 + 1, "restart and health check", 1, duration, hosts, final_status=4 if failing else 3)
    return Job(job_id, f"canary-restart-{n:03d}", [step])


# -- the job's state at a moment --------------------------------------------------------------------------
@dataclass
class StepView:
    step: Step
    status: int
    progress: float  # 0..1 of the log revealed
    start: float | None
    end: float | None


#: seconds a terminated job stays 10 (force-terminating) before it is 11 (force-terminated)
STOP_SECONDS = 1.0


def job_view(job: Job, elapsed: float) -> tuple[int, list[StepView]]:
    """(job status, step views) after ``elapsed`` seconds of the job's life.

    A terminated job (bk-job ``JobListener.stopJob``): status 10 (STOPPING) for :data:`STOP_SECONDS`, then 11
    (STOP_SUCCESS); the step that was running or waiting ends 11, its hosts 403 (GSE force-terminate ok), later
    steps never start."""
    if job.terminated_at is None or elapsed < job.terminated_at:
        return _natural_view(job, elapsed)
    _, views = _natural_view(job, job.terminated_at)
    if elapsed < job.terminated_at + STOP_SECONDS:
        return 10, views
    end = job.terminated_at + STOP_SECONDS
    return 11, [StepView(v.step, 11, v.progress, v.start, end) if v.status in (2, 7) else v for v in views]


def _natural_view(job: Job, elapsed: float) -> tuple[int, list[StepView]]:
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
    return None if offset is None else (_EPOCH + timedelta(seconds=offset)).strftime("%Y-%m-%d %H:%M:%S")


def _esb_ip(host_id: int, cloud_id: int, ip: str) -> dict[str, Any]:
    """bk-job's ``EsbIpDTO.fromHost`` (every field written, null or not)."""
    return {
        "bk_host_id": host_id,
        "bk_cloud_id": cloud_id,
        "bk_cloud_name": "Default Area" if cloud_id == 0 else None,
        "ip": ip,
        "ipv6": None,
        "bk_agent_id": None,
        "alive": 1,
    }


def _current_step(views: list[StepView]) -> int | None:
    started = [v for v in views if v.start is not None]
    return started[-1].step.step_instance_id if started else None


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def view_history_permission(biz: int) -> dict[str, Any]:
    """The ``permission`` of a 9900403 answer for IAM action ``view_history`` on a business, as bk-job's
    ``AuthServiceImpl.buildEsbAuthFailResp`` builds it (``OpenApiApplyPermissionDTO``; English i18n names)."""
    return {
        "system_id": "bk_job",
        "system_name": "Job",
        "actions": [
            {
                "id": "view_history",
                "name": "View History",
                "related_resource_types": [
                    {
                        "system_id": "bk_cmdb",
                        "system_name": "Cmdb",
                        "type": "biz",
                        "type_name": "Business",
                        "instances": [[{"id": str(biz), "type": "biz", "type_name": "Business", "name": "demo"}]],
                    }
                ],
            }
        ],
    }


def _host_status(view: StepView, host: Host) -> int:
    if view.status == 11:
        return 403
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
        fleet_jobs: int = DEFAULT_FLEET_JOBS,
        fleet_duration: float = 1.0,
        faults: Faults | None = None,
        verified_user_exempted_apps: Iterable[str] = (),
    ) -> None:
        self.jobs = catalogue(large_log_bytes, large_hosts)
        self.jobs.update(fleet(fleet_jobs, fleet_duration))
        self.clock = JobClock(speed)
        self.faults = faults or Faults()
        #: apps the gateway lets act for a ``bk_username`` it cannot verify (its "verified user exempted apps"
        #: plugin) and ESB lets skip user authentication (its ``user_auth::skip_user_auth`` white list)
        self.verified_user_exempted_apps = frozenset(verified_user_exempted_apps)
        #: the hosts of the last batch_get_job_instance_ip_log answer, per step (for the "repeat" paging fault)
        self._last_batch: dict[int, list[Host]] = {}
        self._host_index: dict[int, dict[str, Host]] = {}
        self._next_job_id = FIRST_STARTED_JOB
        #: requests to start a job (execute_job_plan, fast_execute_script), accepted or not
        self.start_requests = 0
        #: the job instance ids operate_job_instance was asked to terminate, in order
        self.terminate_requests: list[int] = []

    # -- envelopes ------------------------------------------------------------------------------------------
    # bk-job's EsbResp (``@JsonInclude(NON_NULL)``): ``code``, ``result``, ``job_request_id``, ``message`` (only on a
    # failure), ``data`` (only when there is some), ``permission`` (only on 9900403); HTTP 200 whatever the code.
    @staticmethod
    def job_ok(data: Any) -> dict[str, Any]:
        return {"code": 0, "result": True, "job_request_id": uuid.uuid4().hex[:16], "data": data}

    @staticmethod
    def job_fail(code: int, message: str, permission: dict[str, Any] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"code": code, "result": False, "job_request_id": uuid.uuid4().hex[:16]}
        body["message"] = message
        if permission is not None:
            body["permission"] = permission
        return body

    @staticmethod
    def gateway(body: dict[str, Any], status: int = 200) -> Response:
        """An answer through the API gateway: the backend's body unchanged, the gateway's request id header."""
        return JSONResponse(body, status_code=status, headers={"X-Bkapi-Request-Id": uuid.uuid4().hex})

    @staticmethod
    def esb(body: dict[str, Any]) -> Response:
        """An answer through ESB: the component's dict with ESB's ``request_id`` and its defaults filled in."""
        body = {**body, "request_id": uuid.uuid4().hex}
        body.setdefault("result", False)
        body.setdefault("data", None)
        body.setdefault("message", "")
        body.setdefault("code", 0 if body["result"] else ESB_COMMON_ERROR)
        return JSONResponse(body)

    @staticmethod
    def esb_error(message: str, code: int = 1306000) -> Response:
        return BlueKingEmulator.esb({"result": False, "code": code, "data": None, "message": message})

    @staticmethod
    def gateway_error(
        message: str, status: int = 400, code: int = 1640001, code_name: str = "INVALID_ARGS"
    ) -> Response:
        return JSONResponse(
            {"code_name": code_name, "code": code, "message": message, "result": False, "data": None},
            status_code=status,
            headers={"X-Bkapi-Request-Id": uuid.uuid4().hex},
        )

    @classmethod
    def invalid_args(cls, reason: str) -> Response:
        return cls.gateway_error(f'Parameters error [reason="{reason}"]')

    def lookup(self, job_id: Any, biz: Any, user: str) -> tuple[Job | None, dict[str, Any] | None]:
        try:
            job_id, biz = int(job_id), int(biz)
        except (TypeError, ValueError):
            return None, self.job_fail(BAD_REQUEST, "Bad Request")
        job = self.jobs.get(job_id)
        if job is None or biz != BIZ_ID:
            return None, self.job_fail(TASK_INSTANCE_NOT_EXIST, "Task instance does not exist")
        if user != OPERATOR and user not in _HISTORY_VIEWERS:
            return None, self.job_fail(
                BK_PERMISSION_DENIED,
                f"User ({user}) permission not allowed, please confirm and apply permission in IAM and try again",
                permission=view_history_permission(biz),
            )
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
            "total_time": int(view.step.duration * 1000) if done else None,
        }

    # -- auth ---------------------------------------------------------------------------------------------
    def esb_auth(self, body: dict[str, Any]) -> tuple[str, Response | None]:
        """ESB's app and user validators (legacy-bk-paas ``esb/bkapp/validators.py``, ``esb/bkauth/validators.py``)."""
        app_code = body.get("bk_app_code") or body.get("app_code")
        secret = body.get("bk_app_secret") or body.get("app_secret")
        if not app_code:
            return "", self.esb_error("APP Code [bk_app_code] cannot be empty")
        if not secret:
            return "", self.esb_error("APP Secret [bk_app_secret] cannot be empty")
        if app_code != APP_CODE:
            return "", self.esb_error(
                f"Invalid APP Code [bk_app_code={app_code}], please confirm if the APP Code has been registered"
            )
        if secret != APP_SECRET:
            return "", self.esb_error(
                f"APP Secret verification failed, pelase confirm if the APP Secret and APP Code [bk_app_code={app_code}] match"
            )
        access_token = body.get("bk_access_token")
        if access_token:
            if access_token not in _ACCESS_TOKENS:
                return "", self.esb_error("The specified user TOKEN [bk_access_token] does not exist")
            return _ACCESS_TOKENS[access_token], None
        bk_token = body.get("bk_token")
        if bk_token:
            if bk_token not in _BK_TOKENS:
                return "", self.esb_error("User authentication failed, please check if the bk_token is valid")
            return _BK_TOKENS[bk_token], None
        username = body.get("bk_username") or body.get("username")
        if username and app_code in self.verified_user_exempted_apps:
            return str(username), None
        return "", self.esb_error(
            "User authentication failed, please provide a valid user identity, such as bk_token, bk_username"
        )

    def gateway_auth(self, request: Request) -> tuple[str, Response | None]:
        """The gateway's bk-auth-verify and bk-auth-validate plugins for a resource with ``appVerifiedRequired`` and
        ``userVerifiedRequired`` (blueking-apigateway-apisix ``plugins/bk-auth-verify/``, ``bk-auth-validate.lua``)."""
        raw = request.headers.get("X-Bkapi-Authorization")
        try:
            auth = json.loads(raw) if raw else {}
        except ValueError:
            auth = None
        if not isinstance(auth, dict):
            return "", self.invalid_args("request header X-Bkapi-Authorization is not a valid JSON")
        app_code = auth.get("bk_app_code") or auth.get("app_code")
        if not app_code:
            return "", self.invalid_args("app code cannot be empty")
        secret = auth.get("bk_app_secret") or auth.get("app_secret")
        if not secret:
            return "", self.invalid_args("please provide bk_app_secret or bk_signature to verify app")
        if app_code != APP_CODE or secret != APP_SECRET:
            return "", self.invalid_args("bk_app_code or bk_app_secret is incorrect")
        access_token = auth.get("access_token")
        if access_token:
            if access_token not in _ACCESS_TOKENS:
                return "", self.invalid_args("access_token is invalid")
            return _ACCESS_TOKENS[access_token], None
        bk_token = auth.get("bk_token")
        if bk_token:
            if bk_token not in _BK_TOKENS:
                return "", self.invalid_args("bk_token is not valid")
            return _BK_TOKENS[bk_token], None
        username = auth.get("bk_username") or auth.get("username")
        if username:
            if app_code in self.verified_user_exempted_apps:
                return str(username), None
            return "", self.invalid_args(
                "user authentication failed, the user indicated by bk_username is not verified"
            )
        return "", self.invalid_args(
            "user authentication failed, please provide a valid user identity, such as bk_username, bk_token, access_token"
        )

    # -- ESB v2 -------------------------------------------------------------------------------------------
    async def esb_api(self, request: Request) -> Response:
        api = request.path_params["api"]
        if request.method == "GET":  # ESB reads a GET's query, a POST's JSON body (or form), never both
            body: dict[str, Any] = dict(request.query_params)
        else:
            raw = await request.body()
            try:
                body = json.loads(raw) if raw.strip().startswith(b"{") else dict(await request.form())
            except ValueError:
                return self.esb_error("Request JSON string is wrong in format, which cannot be analyzed.")
        user, denied = self.esb_auth(body)
        if denied:
            return denied
        if api not in ("get_job_instance_status", "get_job_instance_log"):
            return self.esb_error("Not found, component class not found", code=1306404)
        for name in ("bk_biz_id", "job_instance_id"):
            if body.get(name) in (None, ""):
                return self.esb(self.job_fail(BAD_REQUEST, "Bad Request"))
        job, error = self.lookup(body["job_instance_id"], body["bk_biz_id"], user)
        if error:
            return self.esb(error)
        assert job is not None
        status, views = self.state(job)
        if api == "get_job_instance_status":
            finished = status in FINISHED
            return self.esb(
                self.job_ok(
                    {
                        "is_finished": finished,
                        "job_instance": {
                            "bk_biz_id": BIZ_ID,
                            "bk_scope_type": "biz",
                            "bk_scope_id": str(BIZ_ID),
                            "job_instance_id": job.job_instance_id,
                            "bk_job_id": job.job_instance_id % 1000,
                            "status": status,
                            "name": job.name,
                            "operator": OPERATOR,
                            "create_time": _text_time(0),
                            "start_time": _text_time(job.pending if status != 1 else None),
                            "end_time": _text_time(max((v.end or 0) for v in views)) if finished else None,
                            "total_time": sum(v.step.duration for v in views if v.end is not None),
                            "start_way": 2,
                            "current_step_instance_id": _current_step(views),
                        },
                        "blocks": [
                            {
                                "step_instances": [
                                    {
                                        "step_instance_id": v.step.step_instance_id,
                                        "step_id": v.step.step_instance_id % 1000,
                                        "name": v.step.name,
                                        "type": v.step.type,
                                        "operator": OPERATOR,
                                        "status": v.status,
                                        "execute_count": 0,
                                        "start_time": _text_time(v.start),
                                        "end_time": _text_time(v.end),
                                        "total_time": v.step.duration if v.end is not None else None,
                                        "create_time": _text_time(0),
                                        "pause": 0,
                                        "step_ip_status": [
                                            {"ip": h.ip, "bk_cloud_id": h.cloud_id, "status": _host_status(v, h)}
                                            for h in v.step.hosts
                                        ],
                                    }
                                    for v in views
                                ]
                            }
                        ],
                    }
                )
            )
        steps = []
        for v in views:
            groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
            for host in v.step.hosts:
                fields = self.host_fields(job, v, host)
                groups.setdefault((fields["status"], fields["tag"]), []).append(
                    {
                        "start_time": _text_time(v.start),
                        "end_time": _text_time(v.end),
                        "total_time": (fields["total_time"] or 0) / 1000 if v.end is not None else None,
                        "execute_count": 0,
                        "error_code": fields["error_code"],
                        "exit_code": fields["exit_code"],
                        "log_content": _revealed(job, v, host),
                        "bk_cloud_id": host.cloud_id,
                        "ip": host.ip,
                    }
                )
            steps.append(
                {
                    "is_finished": v.status in FINISHED,
                    "step_instance_id": v.step.step_instance_id,
                    "name": v.step.name,
                    "status": v.status,
                    "step_results": [{"ip_status": k[0], "tag": k[1], "ip_logs": logs} for k, logs in groups.items()],
                }
            )
        return self.esb(self.job_ok(steps))

    # -- gateway v3 -------------------------------------------------------------------------------------------
    @staticmethod
    def _biz(params: dict[str, Any]) -> Any:
        """The business a request names (``bk_scope_type``/``bk_scope_id``, or the deprecated ``bk_biz_id``)."""
        scope_type, scope_id = params.get("bk_scope_type"), params.get("bk_scope_id")
        if scope_type or scope_id:
            return scope_id if scope_type == "biz" else None
        return params.get("bk_biz_id")

    async def gateway_api(self, request: Request) -> Response:
        api = request.path_params["api"]
        method = RESOURCES.get(api)
        if method != request.method:  # the gateway only knows the resources it published, each with one method
            return await self.api_not_found(request)
        user, denied = self.gateway_auth(request)
        if denied:
            return denied
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query_params)
        else:  # the backend reads the JSON body (@RequestBody), not the query
            try:
                params = json.loads(await request.body())
            except ValueError:
                params = None  # type: ignore[assignment]
            if not isinstance(params, dict):
                return self.gateway(self.job_fail(BAD_REQUEST, "Bad Request"))
        if api in RUN_RESOURCES:
            return self.gateway(self.run_api(api, params, user))
        if params.get("job_instance_id") in (None, ""):
            return self.gateway(self.job_fail(BAD_REQUEST, "Bad Request"))
        if api.endswith("_ip_log") and params.get("step_instance_id") in (None, ""):
            return self.gateway(self.job_fail(BAD_REQUEST, "Bad Request"))
        job, error = self.lookup(params["job_instance_id"], self._biz(params), user)
        if error:
            return self.gateway(error)
        assert job is not None
        status, views = self.state(job)
        if api == "get_job_instance_global_var_value":  # EsbGetJobInstanceGlobalVarValueV3ResourceImpl
            return self.gateway(
                self.job_ok(
                    {
                        "job_instance_id": job.job_instance_id,
                        "step_instance_var_list": [
                            {
                                "step_instance_id": v.step.step_instance_id,
                                "global_var_list": [dict(g) for g in job.global_vars],
                            }
                            for v in views
                            if job.global_vars and v.start is not None
                        ],
                    }
                )
            )
        if api == "get_job_instance_status":
            with_hosts = str(params.get("return_ip_result", "false")).lower() == "true"
            finished = status in FINISHED
            return self.gateway(
                self.job_ok(
                    {
                        "finished": finished,
                        "job_instance": {
                            "bk_biz_id": BIZ_ID,
                            "bk_scope_type": "biz",
                            "bk_scope_id": str(BIZ_ID),
                            "job_instance_id": job.job_instance_id,
                            "status": status,
                            "name": job.name,
                            "create_time": _ms(0),
                            "start_time": _ms(job.pending) if status != 1 else None,
                            "end_time": _ms(max((v.end or 0) for v in views)) if finished else None,
                            "total_time": int(sum(v.step.duration for v in views if v.end is not None) * 1000),
                        },
                        "step_instance_list": [
                            {
                                "step_instance_id": v.step.step_instance_id,
                                "name": v.step.name,
                                "status": v.status,
                                "type": v.step.type,
                                "execute_count": 0,
                                "start_time": _ms(v.start),
                                "end_time": _ms(v.end),
                                "total_time": int(v.step.duration * 1000) if v.end is not None else None,
                                "create_time": _ms(0),
                                "step_ip_result_list": (
                                    [self.host_fields(job, v, h) for h in v.step.hosts] if with_hosts else None
                                ),
                            }
                            for v in views
                        ],
                    }
                )
            )
        view = next((v for v in views if str(v.step.step_instance_id) == str(params.get("step_instance_id"))), None)
        if view is None:  # bk-job answers a step of another job with TASK_INSTANCE_NOT_EXIST, not 1244007
            return self.gateway(self.job_fail(TASK_INSTANCE_NOT_EXIST, "Task instance does not exist"))
        if api == "get_job_instance_ip_log":
            host_id, cloud, ip = params.get("bk_host_id"), params.get("bk_cloud_id"), params.get("ip")
            if host_id in (None, "") and (cloud in (None, "") or not ip):
                return self.gateway(
                    self.job_fail(
                        MISSING_OR_ILLEGAL_PARAM, "Missing or invalid request parameter [host_id/(bk_cloud_id+ip)]"
                    )
                )
            host = self._find_host(view, host_id, cloud, ip)
            entry = self._ip_log(job, view, host) if host is not None else {}
            return self.gateway(
                self.job_ok(
                    {
                        "log_type": 2 if view.step.type == 2 else 1,
                        "bk_host_id": entry.get("bk_host_id", _int_or_none(host_id)),
                        "bk_cloud_id": entry.get("bk_cloud_id", _int_or_none(cloud)),
                        "ip": entry.get("ip", ip),
                        "log_content": entry.get("log_content"),
                        "file_logs": entry.get("file_logs") if view.step.type == 2 else None,
                    }
                )
            )
        # batch_get_job_instance_ip_log: host_id_list wins; ip_list is read only without it
        ids, ips = params.get("host_id_list") or [], params.get("ip_list") or []
        asked = len(ids) if ids else len(ips)
        if not asked or asked > MAX_BATCH_HOSTS:
            return self.gateway(
                self.job_fail(MISSING_OR_ILLEGAL_PARAM, "Missing or invalid request parameter [host_id_list/ip_list]")
            )
        if ids:
            hosts = [self._find_host(view, i, None, None) for i in ids]
        else:
            hosts = [self._find_host(view, None, e.get("bk_cloud_id"), e.get("ip")) for e in ips if isinstance(e, dict)]
        step_id = view.step.step_instance_id
        previous, self._last_batch[step_id] = self._last_batch.get(step_id), [h for h in hosts if h]
        if paging_fault(request) == "repeat" and previous and previous != self._last_batch[step_id]:
            hosts = list(previous)  # a stale answer: the logs of the step's previous batch
        entries = [self._ip_log(job, view, host) for host in hosts if host is not None]
        is_file = view.step.type == 2
        return self.gateway(
            self.job_ok(
                {
                    "job_instance_id": job.job_instance_id,
                    "step_instance_id": step_id,
                    "log_type": 2 if is_file else 1,
                    "script_task_logs": None if is_file or not entries else entries,
                    "file_task_logs": entries or None if is_file else None,
                }
            )
        )

    # -- starting and terminating jobs (gateway v3) -----------------------------------------------------------
    def run_api(self, api: str, params: dict[str, Any], user: str) -> dict[str, Any]:
        """``execute_job_plan``, ``fast_execute_script`` and ``operate_job_instance``, checked as bk-job's
        ``Esb*V3ResourceImpl`` check them; a started job runs on the emulator's clock like the catalogue's."""
        if api == "operate_job_instance":
            return self.operate(params, user)
        self.start_requests += 1
        if api == "execute_job_plan":
            return self.execute_plan(params)
        return self.fast_script(params)

    def _new_job(self, name: str, steps: list[Step], global_vars: list[dict[str, Any]]) -> Job:
        job_id, self._next_job_id = self._next_job_id, self._next_job_id + 1
        job = Job(job_id, name, steps, global_vars=global_vars)
        self.jobs[job_id] = job
        self.clock.elapsed(job_id)  # its life starts now
        return job

    def execute_plan(self, params: dict[str, Any]) -> dict[str, Any]:
        plan_id = _int_or_none(params.get("job_plan_id"))
        if plan_id is None or plan_id <= 0:
            return self.job_fail(ILLEGAL_PARAM_NAMED, "Invalid request parameter [job_plan_id]")
        variables = params.get("global_var_list") or []
        if not isinstance(variables, list) or any(
            not isinstance(v, dict) or (not _int_or_none(v.get("id")) and not str(v.get("name") or "").strip())
            for v in variables
        ):
            return self.job_fail(ILLEGAL_PARAM_NAMED, "Invalid request parameter [global_var.id|global_var.name]")
        if plan_id not in PLANS or str(self._biz(params)) != str(BIZ_ID):
            return self.job_fail(TASK_PLAN_NOT_EXIST, "Job plan does not exist")
        template_id, defaults = PLANS[plan_id]
        template = catalogue()[template_id]
        values = [dict(v) for v in defaults]
        for given in variables:  # by id, else by name; the plan's other variables keep their values
            for var in values:
                if var["id"] == _int_or_none(given.get("id")) or (
                    not given.get("id") and var["name"] == given.get("name")
                ):
                    var["value"] = given.get("value")
        job_id = self._next_job_id
        steps = [
            Step(job_id * 10 + n, st.name, st.type, st.duration, st.hosts, st.final_status)
            for n, st in enumerate(template.steps, 1)
        ]
        job = self._new_job(template.name, steps, values)
        return self.job_ok(
            {"job_instance_id": job.job_instance_id, "job_instance_name": job.name, "step_instance_id": None}
        )

    def fast_script(self, params: dict[str, Any]) -> dict[str, Any]:
        version_id, script_id, content = (
            params.get("script_version_id"),
            params.get("script_id"),
            params.get("script_content"),
        )
        if version_id is None and not script_id and not content:
            return self.job_fail(
                MISSING_PARAM, "Missing request parameter [script_version_id|script_id|script_content]"
            )
        if version_id is not None and (_int_or_none(version_id) or 0) < 1:
            return self.job_fail(ILLEGAL_PARAM_NAMED, "Invalid request parameter [script_version_id]")
        if content and _int_or_none(params.get("script_language")) not in (1, 2, 3, 4, 5):
            return self.job_fail(ILLEGAL_PARAM_NAMED, "Invalid request parameter [script_language]")
        server = params.get("target_server")
        if not isinstance(server, dict):
            return self.job_fail(MISSING_PARAM, "Missing request parameter [target_server]")
        ids = [h for h in server.get("host_id_list") or [] if _int_or_none(h)]
        ips = [e for e in server.get("ip_list") or [] if isinstance(e, dict) and e.get("ip")]
        if not ids and not ips and not server.get("dynamic_group_list") and not server.get("topo_node_list"):
            return self.job_fail(SERVER_EMPTY, "Host is empty")
        if (_int_or_none(params.get("account_id")) or 0) < 1 and not str(params.get("account_alias") or "").strip():
            return self.job_fail(MISSING_PARAM, "Missing request parameter [account_id|account_alias]")
        if version_id is not None or script_id:  # the emulator has no script library
            return self.job_fail(SCRIPT_NOT_EXIST, "Script not exist")
        try:
            script = base64.b64decode(str(content), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return self.job_fail(ILLEGAL_PARAM_NAMED, "Invalid request parameter [script_content]")
        exit_code = 0
        for line in script.splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "exit" and words[1].isdigit():
                exit_code = int(words[1])
                break
        hosts = [
            Host(
                int(h),
                f"10.2.{(int(h) >> 8) & 255}.{int(h) & 255}",
                final_status=104 if exit_code else 9,
                exit_code=exit_code,
                tag="job_fail" if exit_code else "",
            )
            for h in ids
        ] + [
            Host(
                200000 + n,
                str(e["ip"]),
                int(e.get("bk_cloud_id") or 0),
                final_status=104 if exit_code else 9,
                exit_code=exit_code,
                tag="job_fail" if exit_code else "",
            )
            for n, e in enumerate(ips, 1)
        ]
        name = str(params.get("task_name") or "") or f"API_Quick_execution_script_{_EPOCH:%Y%m%d%H%M%S}000"
        job_id = self._next_job_id
        step = Step(job_id * 10 + 1, name, 1, 1.0, hosts, final_status=4 if exit_code else 3, script=script)
        job = self._new_job(name, [step], [])
        return self.job_ok(
            {
                "job_instance_id": job.job_instance_id,
                "job_instance_name": name,
                "step_instance_id": step.step_instance_id,
            }
        )

    def operate(self, params: dict[str, Any], user: str) -> dict[str, Any]:
        job_id, code = _int_or_none(params.get("job_instance_id")), _int_or_none(params.get("operation_code"))
        if not job_id or job_id <= 0 or code not in (1, 2):
            return self.job_fail(ILLEGAL_PARAM, "Invalid request parameters")
        job, error = self.lookup(job_id, self._biz(params), user)
        if error:
            return error
        assert job is not None
        status, _ = self.state(job)
        if code == 2:  # every emulated job starts at once: none waits to be started
            return self.job_fail(
                REPEAT_START, f"Unsupported operation,do not repeat start the job,job_instance_id={job_id}"
            )
        self.terminate_requests.append(job_id)
        if status not in (2, 7):  # TaskExecuteServiceImpl.terminateJob: only running or waiting jobs
            return self.job_fail(UNSUPPORTED_OPERATION, "Unsupported operation")
        job.terminated_at = self.clock.elapsed(job_id)
        return self.job_ok({"job_instance_id": job_id, "job_instance_name": None, "step_instance_id": None})

    async def api_not_found(self, request: Request) -> Response:
        return self.gateway_error(
            f'API not found [method="{request.method}" path="{request.url.path}"]',
            status=404,
            code=1640401,
            code_name="API_NOT_FOUND",
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
        """A host's entry of ``batch_get_job_instance_ip_log``: bk-job's ``EsbScriptHostLogV3DTO`` (script steps) or
        ``EsbFileIpLogV3DTO`` (file steps: the host's download, whose source is the package server)."""
        content = _revealed(job, view, host)
        if view.step.type != 2:
            return {
                "host_id": host.host_id,
                "bk_host_id": host.host_id,
                "bk_cloud_id": host.cloud_id,
                "ip": host.ip,
                "ipv6": None,
                "log_content": content,
            }
        return {
            "bk_host_id": host.host_id,
            "bk_cloud_id": host.cloud_id,
            "ip": host.ip,
            "file_logs": [
                {
                    "mode": 1,
                    "src_ip": _esb_ip(PACKAGE_HOST_ID, 0, "10.0.0.1"),
                    "src_path": f"/data/release/{job.name}.tar.gz",
                    "dest_ip": _esb_ip(host.host_id, host.cloud_id, host.ip),
                    "dest_path": f"/data/release/{job.name}.tar.gz",
                    "status": 4 if view.progress >= 1.0 else 3,
                    "log_content": content,
                    "size": "18.2 MB",
                    "speed": "18.2 MB/s" if content else "0 KB/s",
                    "process": "100%" if view.progress >= 1.0 else f"{int(view.progress * 100)}%",
                }
            ],
        }

    # -- app ----------------------------------------------------------------------------------------------
    def connections(self, base_url: str) -> dict[str, dict[str, Any]]:
        """The connections to this emulator: the user is verified by a ``bk_token``, as a stock gateway and ESB
        require (``bk_username`` alone is refused unless the app is exempted)."""
        common = {"conn_type": "bk_job", "login": APP_CODE, "password": APP_SECRET}
        return {
            "bk_job_default": {
                **common,
                "host": base_url + STAGE_PREFIX,
                "extra": {"api_style": "gateway_v3", "bk_token": BK_TOKEN, "allow_http": True},
            },
            "bk_job_esb": {
                **common,
                "host": base_url,
                "extra": {"api_style": "esb_v2", "bk_token": BK_TOKEN, "allow_http": True},
            },
        }

    def app(self) -> EmulatorApp:
        routes = [
            Route("/api/c/compapi/v2/job/{api}/", self.esb_api, methods=["GET", "POST"]),
            Route(STAGE_PREFIX + "/api/v3/{api}", self.gateway_api, methods=["GET", "POST"]),
            # any other path: the gateway has no such resource (a base URL without the stage lands here)
            Route("/api/{path:path}", self.api_not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
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
                    "message": "API rate limit exceeded by stage strategy",
                    "result": False,
                    "data": None,
                },
            ),
            connections=self.connections,
        )


def blueking_app(**kwargs: Any) -> EmulatorApp:
    """The BlueKing emulator app (see :class:`BlueKingEmulator` for the knobs)."""
    return BlueKingEmulator(**kwargs).app()
