"""AWS Application Migration Service (MGN) emulator: the real ``rest-json`` wire format, for an unmodified boto3.

Catalogue (account ``111122223333``, region ``us-east-1``):

========================== ========= ============= ===========================================================
job id                     type      initiated by  what it shows
========================== ========= ============= ===========================================================
mgnjob-cutover0000000001   LAUNCH    START_CUTOVER 3 servers launched; each runs a post-launch action (SUCCESS)
                                                   that finishes after the job completed
mgnjob-failedlaunch00001   LAUNCH    START_CUTOVER the 2nd of 3 servers fails conversion 3 times (long, multi-line
                                                   ``rawError``), then LAUNCH_FAILED; launchStatus FAILED
mgnjob-testlaunch0000001   LAUNCH    START_TEST    2 servers launched; the 1st server's post-launch action FAILED
mgnjob-terminate00000001   TERMINATE TERMINATE     2 test instances terminated
mgnjob-cancelled00000001   LAUNCH    START_CUTOVER cancelled mid-way (JOB_CANCEL); no server launched
mgnjob-retriedconv000001   LAUNCH    START_CUTOVER the 2nd of 2 servers fails conversion once (attempt 1/3), the 2nd
                                                   attempt succeeds; both servers launched
mgnjob-lastattempt000001   LAUNCH    START_CUTOVER the 1st of 2 servers fails its snapshot on all 3 attempts, then
                                                   USING_PREVIOUS_SNAPSHOT; converted and launched all the same
mgnjob-cleanupfail000001   TERMINATE TERMINATE     the 1st of 2 servers fails cleanup once and is terminated on the
                                                   2nd attempt; the 2nd fails all 3 attempts (launchStatus FAILED)
mgnjob-wave0000000000001   LAUNCH    START_TEST    ``wave_servers`` servers (default 40): hundreds of events,
                                                   many pages
========================== ========= ============= ===========================================================

Source servers (:func:`source_servers`): every catalogue job's servers, with the same behaviour (server 12 fails
conversion, servers 1-3 run a post-launch action, ...), in lifecycle state READY_FOR_TEST (the servers of
START_TEST jobs, the wave's, and ``s-5e7a1000000000047`` and ``s-5e7a1000000000048``) or READY_FOR_CUTOVER (the
others). Server ``n`` is ``s-5e7a1`` followed by ``n`` in 12 hexadecimal digits (server 12 is
``s-5e7a100000000000c``).
``POST /StartTest``, ``POST /StartCutover`` and ``POST /TerminateTargetInstances`` create a job over them that runs
on the same clock from its start request (answer 202, ``{"job": Job}``); a server taking part in a job that has not
completed, an unknown server, or (TerminateTargetInstances) a server in TESTING, CUTTING_OVER or CUTOVER gets
ConflictException (409). StartTest moves the servers to TESTING, StartCutover to CUTTING_OVER.

Endpoints: ``POST /DescribeJobs`` and ``POST /DescribeJobLogItems`` with JSON bodies; errors carry their type in
the ``x-amzn-ErrorType`` header and a JSON body (``message``, and ``reason``/``fieldList`` for
ValidationException); every response has an ``x-amzn-RequestId``. A request needs a SigV4 ``Authorization``
header scoped to the ``mgn`` service (the signature itself is not verified, any access key is accepted unless
``require_access_key`` is set); a region other than ``initialized_regions`` gets UninitializedAccountException.

The shared paging faults apply to ``DescribeJobLogItems``: ``repeat`` answers the previous page again (with its
own ``nextToken``), ``stall`` answers the right page with the ``nextToken`` it was asked with.

Jobs start when first asked about and go PENDING -> STARTED -> COMPLETED over about two seconds (``speed``
scales time); their log items appear as the job runs.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airflow_joblogs.emulators.base import EmulatorApp, Faults, JobClock, build_app, paging_fault

ACCOUNT_ID = "111122223333"
#: a second account whose jobs the emulator's credentials may read (cross-account ``accountID``)
MEMBER_ACCOUNT_ID = "444455556666"
REGION = "us-east-1"
ACCESS_KEY_ID = "AKIAJOBLOGSEMULATOR0"  # the emulator's own test credential, not a real one
SECRET_ACCESS_KEY = "mgn-emulator-secret-key-not-a-real-one"

CUTOVER_JOB = "mgnjob-cutover0000000001"
FAILED_JOB = "mgnjob-failedlaunch00001"
TEST_LAUNCH_JOB = "mgnjob-testlaunch0000001"
TERMINATE_JOB = "mgnjob-terminate00000001"
CANCELLED_JOB = "mgnjob-cancelled00000001"
WAVE_JOB = "mgnjob-wave0000000000001"
RETRIED_JOB = "mgnjob-retriedconv000001"
LAST_ATTEMPT_JOB = "mgnjob-lastattempt000001"
CLEANUP_FAIL_JOB = "mgnjob-cleanupfail000001"

_EPOCH = datetime(2026, 11, 22, 10, 0, 0, tzinfo=timezone.utc)
_JOB_ID = re.compile(r"^mgnjob-[0-9a-zA-Z]{17}$")
_SOURCE_SERVER_ID = re.compile(r"^s-[0-9a-zA-Z]{17}$")
_ACCOUNT = re.compile(r"^[0-9]{12}$")
#: the model's ISO8601DatetimeString
_ISO8601 = re.compile(
    r"[1-9][0-9]*-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([0-1][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]+)?Z"
)
_SIGV4 = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[^/\s]+)/(?P<service>[^/\s]+)/aws4_request,"
    r"\s*SignedHeaders=[^,\s]+,\s*Signature=[0-9a-f]{64}$"
)
MAX_ATTEMPTS = 3

CONVERSION_ERROR = (
    "Conversion failed: could not mount the root volume of the replicated disk /dev/xvda.\n"
    "  at ConversionServer.attachVolume (vol-0c1d2e3f4a5b6c7d8): VolumeInUse\n"
    "  at ConversionServer.prepareBoot: GRUB configuration not found under /boot/grub2\n"
    + "".join(f"  diagnostic[{n:03d}]: block {n * 4096:#010x} checksum mismatch\n" for n in range(40))
    + "Check the source server's boot configuration and retry the launch."
)
LAUNCH_ERROR = "Launch failed: conversion did not succeed after 3 attempts"
TRANSIENT_CONVERSION_ERROR = "Conversion failed: the conversion server i-0c0e700000000002a stopped responding"
SNAPSHOT_ERROR = (
    "Snapshot failed: CreateSnapshot on vol-0d1e2f3a4b5c6d7e8 was throttled (SnapshotCreationPerVolumeRateExceeded)"
)
CLEANUP_ERROR = "Cleanup failed: TerminateInstances was denied (UnauthorizedOperation) for the launched instance"
SMOKE_TEST_ERROR = "Step 'runShellScript' exited with code 1: smoke test GET /health returned 503"


@dataclass(frozen=True)
class Action:
    """A post-launch action (an SSM document run on the launched instance)."""

    name: str
    document: str
    outcome: str = "SUCCESS"  # SUCCESS | FAILED
    failure_reason: str = ""
    must_succeed: bool = True


#: the error each step's failed attempts report
STEP_ERRORS = {"SNAPSHOT": SNAPSHOT_ERROR, "CONVERSION": CONVERSION_ERROR, "CLEANUP": CLEANUP_ERROR}


@dataclass
class Server:
    number: int
    fails_conversion: bool = False  # every conversion attempt fails (the same as failures={"CONVERSION": 3})
    post_launch: tuple[Action, ...] = ()
    #: per step (SNAPSHOT, CONVERSION, CLEANUP), how many attempts fail before one succeeds; MAX_ATTEMPTS or
    #: more: every attempt fails
    failures: dict[str, int] = field(default_factory=dict)
    #: the error a failed attempt reports, per step (default: STEP_ERRORS)
    errors: dict[str, str] = field(default_factory=dict)
    #: which launch of the server this is (0 for the catalogue's jobs): each launch gets its own EC2 instance
    launch: int = 0

    def failed_attempts(self, step: str) -> int:
        return MAX_ATTEMPTS if step == "CONVERSION" and self.fails_conversion else self.failures.get(step, 0)

    @property
    def source_server_id(self) -> str:
        return f"s-{0x5E7A1000000000000 + self.number:017x}"

    @property
    def instance_id(self) -> str:
        return f"i-{0x0A1B2C000000000000 + (self.launch << 24) + self.number:017x}"

    @property
    def conversion_server_id(self) -> str:
        return f"i-{0x0C0E7000000000000 + self.number:017x}"


@dataclass
class Job:
    job_id: str
    type: str  # LAUNCH | TERMINATE
    initiated_by: str
    servers: list[Server]
    created: float  # seconds after the epoch (DescribeJobs lists the newest first)
    pending: float = 0.5
    stage: float = 0.4  # seconds per snapshot / conversion / launch stage
    cancel_after: float | None = None  # seconds after the start
    post_launch_seconds: float = 1.0
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class ServerPlan:
    started: float
    ended: float
    final_status: str  # LAUNCHED | FAILED | TERMINATED | PENDING (never launched)
    post_launch: tuple[Action, ...] = ()


@dataclass
class Timeline:
    """Everything that happens in a job's life, in job seconds (the clock starts at the first request)."""

    events: list[tuple[float, dict[str, Any]]]
    servers: dict[str, ServerPlan]
    end: float


def _data(server: Server, attempt: int | None = None, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"sourceServerID": server.source_server_id, **extra}
    if attempt is not None:
        data.update(attemptCount=attempt, maxAttemptsCount=MAX_ATTEMPTS)
    return data


def _attempts(
    server: Server, step: str, t: float, stage: float, own: list[tuple[float, str, dict[str, Any]]], **extra: Any
) -> tuple[float, bool]:
    """Append the step's attempts (START, then END or FAIL, each with its attempt number) from ``t``; return the
    time after them and whether an attempt succeeded."""
    failing = server.failed_attempts(step)
    error = server.errors.get(step, STEP_ERRORS[step])
    for attempt in range(1, MAX_ATTEMPTS + 1):
        own.append((t, f"{step}_START", _data(server, attempt, **extra)))
        t += stage
        if attempt > failing:
            own.append((t, f"{step}_END", _data(server, attempt, **extra)))
            return t, True
        own.append((t, f"{step}_FAIL", _data(server, attempt, **extra, rawError=error)))
    return t, False


def timeline(job: Job) -> Timeline:
    events: list[tuple[float, dict[str, Any]]] = [(job.pending, {"event": "JOB_START"})]
    plans: dict[str, ServerPlan] = {}
    cancel_at = job.pending + job.cancel_after if job.cancel_after is not None else None
    for index, server in enumerate(job.servers):
        start = job.pending + 0.01 * index
        own: list[tuple[float, str, dict[str, Any]]] = []
        if job.type == "TERMINATE":
            end, ok = _attempts(server, "CLEANUP", start, job.stage, own)
            final = "TERMINATED" if ok else "FAILED"
        else:
            t, snapshot = _attempts(server, "SNAPSHOT", start, job.stage, own)
            if not snapshot:
                own.append((t, "USING_PREVIOUS_SNAPSHOT", _data(server)))
            conversion = {"conversionServerID": server.conversion_server_id}
            t, converted = _attempts(server, "CONVERSION", t, job.stage, own, **conversion)
            if not converted:
                own.append((t, "LAUNCH_FAILED", _data(server, rawError=LAUNCH_ERROR)))
                end, final = t, "FAILED"
            else:
                own.append((t, "LAUNCH_START", _data(server, 1, targetInstanceID=server.instance_id)))
                end, final = t + job.stage, "LAUNCHED"
        if cancel_at is not None and end > cancel_at:
            own = [entry for entry in own if entry[0] <= cancel_at]
            end, final = cancel_at, "PENDING"
        events += [(t, {"event": name, "eventData": data}) for t, name, data in own]
        plans[server.source_server_id] = ServerPlan(
            start, end, final, server.post_launch if final == "LAUNCHED" else ()
        )
    job_end = max(plan.ended for plan in plans.values()) + 0.1 * job.stage
    if cancel_at is not None:
        events.append((cancel_at, {"event": "JOB_CANCEL"}))
        job_end = cancel_at + 0.1 * job.stage
    events.append((job_end, {"event": "JOB_END"}))
    events.sort(key=lambda entry: entry[0])  # stable: simultaneous events keep their order
    return Timeline(events, plans, job_end)


def catalogue(wave_servers: int = 40) -> dict[str, Job]:
    agent = Action("Install the CloudWatch agent", "AmazonCloudWatch-ManageAgent")
    smoke_failed = Action("Smoke test", "Migration-SmokeTest", "FAILED", SMOKE_TEST_ERROR)
    smoke_ok = Action("Smoke test", "Migration-SmokeTest")
    jobs = [
        Job(
            CUTOVER_JOB,
            "LAUNCH",
            "START_CUTOVER",
            [Server(n, post_launch=(agent,)) for n in (1, 2, 3)],
            created=600,
            tags={"wave": "1"},
        ),
        Job(
            FAILED_JOB,
            "LAUNCH",
            "START_CUTOVER",
            [Server(11), Server(12, fails_conversion=True), Server(13)],
            created=500,
            tags={"wave": "2"},
        ),
        Job(
            TEST_LAUNCH_JOB,
            "LAUNCH",
            "START_TEST",
            [Server(21, post_launch=(smoke_failed,)), Server(22, post_launch=(smoke_ok,))],
            created=400,
        ),
        Job(TERMINATE_JOB, "TERMINATE", "TERMINATE", [Server(21), Server(22)], created=300),
        Job(CANCELLED_JOB, "LAUNCH", "START_CUTOVER", [Server(31), Server(32)], created=200, cancel_after=0.5),
        Job(
            RETRIED_JOB,
            "LAUNCH",
            "START_CUTOVER",
            [
                Server(41),
                Server(42, failures={"CONVERSION": 1}, errors={"CONVERSION": TRANSIENT_CONVERSION_ERROR}),
            ],
            created=350,
        ),
        Job(
            LAST_ATTEMPT_JOB,
            "LAUNCH",
            "START_CUTOVER",
            [Server(51, failures={"SNAPSHOT": MAX_ATTEMPTS}), Server(52)],
            created=250,
        ),
        Job(
            CLEANUP_FAIL_JOB,
            "TERMINATE",
            "TERMINATE",
            [Server(61, failures={"CLEANUP": 1}), Server(62, failures={"CLEANUP": MAX_ATTEMPTS})],
            created=150,
        ),
        Job(WAVE_JOB, "LAUNCH", "START_TEST", [Server(100 + n) for n in range(wave_servers)], created=100),
    ]
    return {job.job_id: job for job in jobs}


#: extra servers ready for a test launch (no catalogue job has them)
READY_FOR_TEST_SERVERS = (71, 72)
#: lifecycle states in which TerminateTargetInstances refuses a server (the model's TerminateTargetInstances docs)
NO_TERMINATE_STATES = frozenset({"TESTING", "CUTTING_OVER", "CUTOVER"})
#: the job type and lifecycle state after the start, per operation
START_OPERATIONS = {
    "StartTest": ("LAUNCH", "START_TEST", "TESTING"),
    "StartCutover": ("LAUNCH", "START_CUTOVER", "CUTTING_OVER"),
    "TerminateTargetInstances": ("TERMINATE", "TERMINATE", None),
}


def source_servers(jobs: dict[str, Job]) -> dict[str, tuple[Server, str]]:
    """The source servers the start calls accept: ``{id: (server, lifecycle state)}``."""
    servers: dict[str, tuple[Server, str]] = {}
    for job in jobs.values():
        state = "READY_FOR_TEST" if job.initiated_by == "START_TEST" else "READY_FOR_CUTOVER"
        for server in job.servers:
            servers.setdefault(server.source_server_id, (server, state))
    for number in READY_FOR_TEST_SERVERS:
        server = Server(number)
        servers[server.source_server_id] = (server, "READY_FOR_TEST")
    return servers


def _time(job: Job, offset: float) -> str:
    return (_EPOCH + timedelta(seconds=job.created + offset)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class AwsError(Exception):
    """An error response in the rest-json shape."""

    def __init__(self, error_type: str, status: int, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.error_type, self.status, self.fields = error_type, status, {"message": message, **fields}


def validation_error(name: str, message: str) -> AwsError:
    return AwsError(
        "ValidationException",
        400,
        f"1 validation error detected: Value at '{name}' failed to satisfy constraint: {message}",
        code="VALIDATION_EXCEPTION",
        reason="fieldValidationFailed",
        fieldList=[{"name": name, "message": message}],
    )


def _error_response(error: AwsError, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse(
        error.fields,
        status_code=error.status,
        headers={"x-amzn-ErrorType": error.error_type, "x-amzn-RequestId": str(uuid.uuid4()), **(headers or {})},
    )


class AwsHeaders:
    """Give the shared fault middleware's canned errors what botocore reads: the error type and a request id."""

    TYPES = {429: "ThrottlingException", 500: "InternalServerException"}

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                if b"x-amzn-requestid" not in names:
                    headers.append((b"x-amzn-requestid", str(uuid.uuid4()).encode()))
                status = message["status"]
                if b"x-amzn-errortype" not in names and status in self.TYPES:
                    headers.append((b"x-amzn-errortype", self.TYPES[status].encode()))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


class MgnEmulator:
    def __init__(
        self,
        *,
        speed: float = 1.0,
        wave_servers: int = 40,
        default_page_size: int = 50,
        initialized_regions: tuple[str, ...] = (REGION,),
        require_access_key: str | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.jobs = catalogue(wave_servers)
        self.timelines = {job_id: timeline(job) for job_id, job in self.jobs.items()}
        self.clock = JobClock(speed)
        self.faults = faults or Faults()
        self.default_page_size = default_page_size
        self.initialized_regions = set(initialized_regions)
        #: when set, any other access key id gets UnrecognizedClientException (to exercise bad credentials)
        self.require_access_key = require_access_key
        #: the last 500 requests that reached an operation: operation, User-Agent and JSON body
        self.received: deque[dict[str, Any]] = deque(maxlen=500)
        self.servers = source_servers(self.jobs)
        #: each source server's lifecycle state (``SourceServer.lifeCycle.state``)
        self.lifecycle = {server_id: state for server_id, (_server, state) in self.servers.items()}
        #: the ids of the jobs created by start requests, in order
        self.started: list[str] = []
        #: the StartTest, StartCutover and TerminateTargetInstances requests received, accepted or not
        self.start_requests = 0
        self._lock = threading.Lock()

    def reset_started(self) -> None:
        """Forget the jobs the start requests created and put the servers back in their first lifecycle state."""
        with self._lock:
            for job_id in self.started:
                self.jobs.pop(job_id, None)
                self.timelines.pop(job_id, None)
            self.started.clear()
            self.start_requests = 0
            self.lifecycle = {server_id: state for server_id, (_server, state) in self.servers.items()}

    # -- the data at a moment -------------------------------------------------------------------------------
    def log_items(self, job_id: str, elapsed: float | None = None) -> list[dict[str, Any]]:
        """The job's log items visible after ``elapsed`` job seconds (all of them when None)."""
        job, line = self.jobs[job_id], self.timelines[job_id]
        return [{"logDateTime": _time(job, t), **event} for t, event in line.events if elapsed is None or t <= elapsed]

    def describe(self, job_id: str, elapsed: float) -> dict[str, Any]:
        job, line = self.jobs[job_id], self.timelines[job_id]
        status = "PENDING" if elapsed < job.pending else "STARTED" if elapsed < line.end else "COMPLETED"
        servers = []
        for server in job.servers:
            plan = line.servers[server.source_server_id]
            entry: dict[str, Any] = {"sourceServerID": server.source_server_id}
            if elapsed < plan.started:
                entry["launchStatus"] = "PENDING"
            elif elapsed < plan.ended:
                entry["launchStatus"] = "IN_PROGRESS"
            else:
                entry["launchStatus"] = plan.final_status
                if plan.final_status == "LAUNCHED":
                    entry["launchedEc2InstanceID"] = server.instance_id
            if plan.post_launch and elapsed >= plan.ended + job.post_launch_seconds / 3:
                done = elapsed >= plan.ended + job.post_launch_seconds
                entry["postLaunchActionsStatus"] = {
                    "ssmAgentDiscoveryDatetime": _time(job, plan.ended + job.post_launch_seconds / 3),
                    "postLaunchActionsLaunchStatusList": [
                        {
                            "ssmDocument": {
                                "actionName": action.name,
                                "ssmDocumentName": action.document,
                                "mustSucceedForCutover": action.must_succeed,
                                "timeoutSeconds": 3600,
                            },
                            "ssmDocumentType": "AUTOMATION",
                            "executionID": f"{uuid.uuid5(uuid.NAMESPACE_URL, job.job_id + server.source_server_id)}",
                            "executionStatus": action.outcome if done else "IN_PROGRESS",
                            **({"failureReason": action.failure_reason} if done and action.failure_reason else {}),
                        }
                        for action in plan.post_launch
                    ],
                }
            servers.append(entry)
        body: dict[str, Any] = {
            "jobID": job.job_id,
            "arn": f"arn:aws:mgn:{REGION}:{ACCOUNT_ID}:job/{job.job_id}",
            "type": job.type,
            "initiatedBy": job.initiated_by,
            "creationDateTime": _time(job, 0),
            "status": status,
            "participatingServers": servers,
            "tags": dict(job.tags),
        }
        if status == "COMPLETED":
            body["endDateTime"] = _time(job, line.end)
        return body

    # -- request checks -------------------------------------------------------------------------------------
    def authorize(self, request: Request) -> None:
        header = request.headers.get("authorization")
        if not header:
            raise AwsError("MissingAuthenticationTokenException", 403, "Missing Authentication Token")
        match = _SIGV4.match(header)
        if match is None or "x-amz-date" not in request.headers:
            raise AwsError(
                "IncompleteSignatureException",
                403,
                "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters "
                "and the X-Amz-Date header.",
            )
        if match["service"] != "mgn":
            raise AwsError("InvalidSignatureException", 403, "Credential should be scoped to correct service: 'mgn'.")
        if self.require_access_key is not None and match["key"] != self.require_access_key:
            raise AwsError("UnrecognizedClientException", 403, "The security token included in the request is invalid.")
        if match["region"] not in self.initialized_regions:
            raise AwsError(
                "UninitializedAccountException",
                400,
                f"Account {ACCOUNT_ID} has not been initialized for Application Migration Service "
                f"in region {match['region']}.",
                code="UNINITIALIZED_ACCOUNT",
            )

    @staticmethod
    def page_size(body: dict[str, Any], default: int) -> int:
        value = body.get("maxResults")
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1000:
            raise validation_error("maxResults", "Member must have value between 1 and 1000")
        return value

    @staticmethod
    def check_account(body: dict[str, Any]) -> None:
        account = body.get("accountID")
        if account is None:
            return
        if not isinstance(account, str) or not _ACCOUNT.match(account):
            raise validation_error("accountID", "Member must satisfy regular expression pattern: [0-9]{12,}")
        if account not in (ACCOUNT_ID, MEMBER_ACCOUNT_ID):
            raise AwsError(
                "AccessDeniedException",
                403,
                f"User is not authorized to access account {account}: no delegated permissions",
                code="ACCESS_DENIED",
            )

    @staticmethod
    def date_filter(filters: dict[str, Any], name: str) -> datetime | None:
        """``filters.fromDate`` / ``filters.toDate``: an ISO8601DatetimeString (the model's pattern), or None."""
        value = filters.get(name)
        if value is None:
            return None
        if not isinstance(value, str) or not 19 <= len(value) <= 32 or not _ISO8601.fullmatch(value):
            raise validation_error(
                f"filters.{name}", f"Member must satisfy regular expression pattern: {_ISO8601.pattern}"
            )
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:  # matches the pattern but is no date (February 30th, a five-digit year)
            raise validation_error(f"filters.{name}", "Member must be a valid date and time") from None

    @staticmethod
    def token(kind: str, offset: int) -> str:
        return base64.urlsafe_b64encode(json.dumps({"k": kind, "o": offset}).encode()).decode()

    @staticmethod
    def offset(body: dict[str, Any], kind: str) -> int:
        raw = body.get("nextToken")
        if raw in (None, ""):
            return 0
        try:
            decoded = json.loads(base64.urlsafe_b64decode(str(raw).encode()))
            if decoded["k"] == kind and isinstance(decoded["o"], int) and decoded["o"] >= 0:
                return int(decoded["o"])
        except (ValueError, KeyError, TypeError, binascii.Error):
            pass
        raise validation_error("nextToken", "Invalid pagination token")

    @staticmethod
    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            raise AwsError("SerializationException", 400, "Request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise AwsError("SerializationException", 400, "Request body must be a JSON object")
        return body

    async def record(self, request: Request, operation: str) -> dict[str, Any]:
        body = await self.body(request)
        self.received.append(
            {"operation": operation, "user_agent": request.headers.get("user-agent", ""), "body": body}
        )
        return body

    # -- operations ---------------------------------------------------------------------------------------
    async def describe_job_log_items(self, request: Request) -> Response:
        try:
            self.authorize(request)
            body = await self.record(request, "DescribeJobLogItems")
            job_id = body.get("jobID")
            if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
                raise validation_error(
                    "jobID", "Member must satisfy regular expression pattern: mgnjob-[0-9a-zA-Z]{17}"
                )
            size = self.page_size(body, self.default_page_size)
            self.check_account(body)
            if job_id not in self.jobs:
                raise AwsError(
                    "ResourceNotFoundException",
                    404,
                    f"Job '{job_id}' not found",
                    code="RESOURCE_NOT_FOUND",
                    resourceId=job_id,
                    resourceType="JOB",
                )
            start = self.offset(body, job_id)
            items = self.log_items(job_id, self.clock.elapsed(job_id))
        except AwsError as error:
            return _error_response(error)
        fault = paging_fault(request)
        if fault == "repeat" and start > 0:
            start = max(0, start - size)  # the page before, again, with its own nextToken
        page: dict[str, Any] = {"items": items[start : start + size]}
        if start + size < len(items):
            page["nextToken"] = body["nextToken"] if fault == "stall" and start else self.token(job_id, start + size)
        return JSONResponse(page, headers={"x-amzn-RequestId": str(uuid.uuid4())})

    async def describe_jobs(self, request: Request) -> Response:
        try:
            self.authorize(request)
            body = await self.record(request, "DescribeJobs")
            filters = body.get("filters") or {}
            if not isinstance(filters, dict):
                raise AwsError("SerializationException", 400, "filters must be a JSON object")
            wanted = filters.get("jobIDs")
            if wanted is not None:
                if not isinstance(wanted, list) or len(wanted) > 1000:
                    raise validation_error("filters.jobIDs", "Member must have length less than or equal to 1000")
                for job_id in wanted:
                    if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
                        raise validation_error(
                            "filters.jobIDs", "Member must satisfy regular expression pattern: mgnjob-[0-9a-zA-Z]{17}"
                        )
            dates = {name: self.date_filter(filters, name) for name in ("fromDate", "toDate")}
            size = self.page_size(body, self.default_page_size)
            self.check_account(body)
            start = self.offset(body, "jobs")
        except AwsError as error:
            return _error_response(error)
        jobs = sorted(self.jobs.values(), key=lambda job: job.created, reverse=True)  # newest first
        if wanted is not None:
            jobs = [job for job in jobs if job.job_id in set(wanted)]
        if dates["fromDate"] is not None:
            jobs = [job for job in jobs if _EPOCH + timedelta(seconds=job.created) >= dates["fromDate"]]
        if dates["toDate"] is not None:
            jobs = [job for job in jobs if _EPOCH + timedelta(seconds=job.created) <= dates["toDate"]]
        chosen = jobs[start : start + size]
        page: dict[str, Any] = {"items": [self.describe(job.job_id, self.clock.elapsed(job.job_id)) for job in chosen]}
        if start + size < len(jobs):
            page["nextToken"] = self.token("jobs", start + size)
        return JSONResponse(page, headers={"x-amzn-RequestId": str(uuid.uuid4())})

    def _running(self, job_id: str) -> bool:
        return self.clock.elapsed(job_id) < self.timelines[job_id].end

    @staticmethod
    def check_start_body(body: dict[str, Any]) -> tuple[list[str], dict[str, str]]:
        """``sourceServerIDs`` (required, 1 to 200 SourceServerID) and ``tags`` (TagsMap) as the model constrains them."""
        ids = body.get("sourceServerIDs")
        if ids is None:
            raise validation_error("sourceServerIDs", "Member must not be null")
        if not isinstance(ids, list):
            raise AwsError("SerializationException", 400, "sourceServerIDs must be a JSON array")
        if not 1 <= len(ids) <= 200:
            raise validation_error("sourceServerIDs", "Member must have length between 1 and 200")
        for server_id in ids:
            if not isinstance(server_id, str) or not _SOURCE_SERVER_ID.match(server_id):
                raise validation_error(
                    "sourceServerIDs", "Member must satisfy regular expression pattern: s-[0-9a-zA-Z]{17}"
                )
        tags = body.get("tags") or {}
        if not isinstance(tags, dict):
            raise AwsError("SerializationException", 400, "tags must be a JSON object")
        if len(tags) > 50:
            raise validation_error("tags", "Member must have length less than or equal to 50")
        for key, value in tags.items():
            if not isinstance(value, str) or len(key) > 256 or len(value) > 256:
                raise validation_error("tags", "Map keys and values must have length less than or equal to 256")
        return ids, tags

    @staticmethod
    def conflict(server_id: str, problem: str) -> AwsError:
        where = {"resourceId": server_id, "resourceType": "SOURCE_SERVER"}
        return AwsError("ConflictException", 409, problem, **where, errors=[{"message": problem, **where}])

    def start(self, operation: str, ids: list[str], tags: dict[str, str]) -> Job:
        """Create the job ``operation`` starts over ``ids`` (or raise the ConflictException MGN would)."""
        job_type, initiated_by, next_state = START_OPERATIONS[operation]
        with self._lock:
            busy = {
                s.source_server_id: job_id
                for job_id in self.started
                if self._running(job_id)
                for s in self.jobs[job_id].servers
            }
            for server_id in ids:
                if server_id not in self.servers:
                    raise self.conflict(server_id, f"Source server {server_id} not found")
                if server_id in busy:
                    raise self.conflict(server_id, f"Source server {server_id} is taking part in job {busy[server_id]}")
                state = self.lifecycle[server_id]
                if next_state is None and state in NO_TERMINATE_STATES:
                    raise self.conflict(
                        server_id, f"Cannot terminate target instances of source server {server_id} in state {state}"
                    )
            serial = len(self.started) + 1
            job = Job(
                job_id=f"mgnjob-started{serial:010d}",
                type=job_type,
                initiated_by=initiated_by,
                servers=[replace(self.servers[server_id][0], launch=serial) for server_id in ids],
                created=(datetime.now(timezone.utc) - _EPOCH).total_seconds(),
                tags=dict(tags),
            )
            self.jobs[job.job_id] = job
            self.timelines[job.job_id] = timeline(job)
            self.started.append(job.job_id)
            self.clock.elapsed(job.job_id)  # the job runs from its start request
            if next_state is not None:
                for server_id in ids:
                    self.lifecycle[server_id] = next_state
        return job

    def start_operation(self, operation: str) -> Any:
        async def handle(request: Request) -> Response:
            self.start_requests += 1
            try:
                self.authorize(request)
                body = await self.record(request, operation)
                ids, tags = self.check_start_body(body)
                self.check_account(body)
                job = self.start(operation, ids, tags)
            except AwsError as error:
                return _error_response(error)
            return JSONResponse(
                {"job": self.describe(job.job_id, 0.0)},
                status_code=202,
                headers={"x-amzn-RequestId": str(uuid.uuid4())},
            )

        return handle

    async def unknown_operation(self, request: Request) -> Response:
        return _error_response(AwsError("UnknownOperationException", 404, "Unknown operation"))

    # -- app ----------------------------------------------------------------------------------------------
    def connections(self, base_url: str) -> dict[str, dict[str, Any]]:
        return {
            "aws_default": {
                "conn_type": "aws",
                "login": ACCESS_KEY_ID,
                "password": SECRET_ACCESS_KEY,
                "extra": {"endpoint_url": base_url, "region_name": REGION},
            }
        }

    def app(self) -> EmulatorApp:
        routes = [
            Route("/DescribeJobLogItems", self.describe_job_log_items, methods=["POST"]),
            Route("/DescribeJobs", self.describe_jobs, methods=["POST"]),
            *(Route(f"/{name}", self.start_operation(name), methods=["POST"]) for name in START_OPERATIONS),
            Route("/{operation}", self.unknown_operation, methods=["GET", "POST", "PUT", "DELETE"]),
        ]
        emulator_app = build_app(
            "mgn",
            routes,
            self.faults,
            self.clock,
            error_response=lambda: (500, {"message": "An internal error occurred"}),
            throttle_response=lambda: (
                429,
                {"message": "Rate exceeded", "serviceCode": "mgn", "quotaCode": "L-MGN-API-RATE"},
            ),
            connections=self.connections,
        )
        emulator_app.asgi = AwsHeaders(emulator_app.asgi)
        return emulator_app


def mgn_app(**kwargs: Any) -> EmulatorApp:
    """The MGN emulator app (see :class:`MgnEmulator` for the knobs)."""
    return MgnEmulator(**kwargs).app()
