"""Huawei Cloud CodeArts Build emulator: real log paging, real AK/SK signature checks, an IAM token endpoint.

Catalogue (project ``PROJECT_ID``, region ``cn-north-4``):

====================================  =====  ===============  ================================================
job_id                                build  name             what it shows
====================================  =====  ===============  ================================================
``a1b2c3d4e5f60718293a4b5c6d7e8f90``  7      web-portal       4 build actions, runs a few seconds, SUCCESS
``b2c3d4e5f60718293a4b5c6d7e8f90a1``  12     payment-service  action 3 (unit tests) fails: FAILURE
``c3d4e5f60718293a4b5c6d7e8f90a1b2``  3      data-pipeline    a very large log (``large_log_bytes``), finished
``d4e5f60718293a4b5c6d7e8f90a1b2c3``  5      nightly-release  stopped by a user during action 2: ABORTED
====================================  =====  ===============  ================================================

Builds start when first asked about (queued ``pending`` seconds, then each action runs for its duration;
``speed`` scales time) and their logs grow while they run. Offsets are byte offsets of the UTF-8 log; a
page holds at most ``size`` lines (the API's "fixed at 1000") and ``max_page_bytes`` bytes (a longer
page is cut mid-line, as offset-based services do). The whole build's log is its actions' logs, in order.

Authentication as the API gateway does it: ``SDK-HMAC-SHA256`` signatures are recomputed from what
arrived on the wire (a mismatch gets HTTP 401 ``APIGW.0301``), ``X-Auth-Token`` must be a token this
emulator's IAM endpoint (``POST /v3/auth/tokens``) issued and that has not expired (``APIGW.0307``).

Service-specific faults, besides the shared :class:`~airflow_joblogs.emulators.base.Faults`:
``empty_log_rate`` (a log page answers an empty ``log`` with ``has_more`` true: "request again"),
``too_frequent_rate`` (CB.00060211, alternately as HTTP 400 and 500), ``string_offsets`` (offsets as
strings, their documented type, instead of the examples' numbers), and ``log_script``, a list of
``empty_log`` / ``too_frequent`` / ``busy`` for the next log requests, in order. Set them in Python or
with ``POST /_emulator/codearts``. The shared paging faults: ``repeat`` serves a page that starts one line
before the offset asked for (its ``start_offset`` says so), ``stall`` a page with text whose ``end_offset``
equals its ``start_offset``.
"""

from __future__ import annotations

import dataclasses
import random
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from airflow_joblogs.auth.huawei import (
    ALGORITHM,
    DATE_FORMAT,
    canonical_request,
    parse_query,
    payload_hash,
    signature,
    string_to_sign,
)
from airflow_joblogs.emulators.base import EmulatorApp, Faults, JobClock, build_app, paging_fault

# The emulator's own test credentials, not real ones.
PROJECT_ID = "0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e"
REGION = "cn-north-4"
ACCESS_KEY = "EMULATORAKCODEARTS01"
SECRET_KEY = "codearts-emulator-secret-key-4b7e1f9c2d"
TEMP_ACCESS_KEY = "EMULATORTEMPAK000001"
TEMP_SECRET_KEY = "codearts-emulator-temporary-secret-8a1c"
SECURITY_TOKEN = "codearts-emulator-security-token-6f2e0d"
DOMAIN_NAME = "joblogs-demo"
USER_NAME = "builder"
PASSWORD = "codearts-emulator-password-3c9a"
#: how far ``X-Sdk-Date`` may be from the emulator's clock (the gateway allows 15 minutes)
MAX_CLOCK_SKEW = 15 * 60

WEB_JOB = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
FAILING_JOB = "b2c3d4e5f60718293a4b5c6d7e8f90a1"
LARGE_JOB = "c3d4e5f60718293a4b5c6d7e8f90a1b2"
ABORTED_JOB = "d4e5f60718293a4b5c6d7e8f90a1b2c3"

_CST = timezone(timedelta(hours=8))
_EPOCH = datetime(2026, 11, 22, 10, 0, 0, tzinfo=_CST)
_JOB_ID = re.compile(r"^[A-Za-z0-9]{32}$")
_AUTHORIZATION = re.compile(
    r"^SDK-HMAC-SHA256\s+Access=(?P<ak>[^,\s]+),\s*SignedHeaders=(?P<headers>[^,\s]+),\s*Signature=(?P<sig>[0-9a-fA-F]+)$"
)
LOG_FAULTS = ("empty_log", "too_frequent", "busy")


@dataclass
class Step:
    step_id: int
    name: str  # display name
    stage: str  # execution stage name
    duration: float
    lines: int = 6
    fails: bool = False
    #: > 0: this action's log is about this many bytes
    log_bytes: int = 0


@dataclass
class Build:
    job_id: str
    build_no: int
    name: str
    steps: list[Step]
    result: str = "SUCCESS"  # SUCCESS, FAILURE or ABORTED
    pending: float = 0.5
    #: ABORTED builds: the action during which a user stopped the build
    stopped_in: int | None = None
    #: builds stopped through the API (StopBuildJob): the build's elapsed time when it was stopped
    stopped_at: float | None = None
    #: builds started through the API (RunJob): the custom parameters and code it was started with
    parameters: dict[str, str] = field(default_factory=dict)
    scm: dict[str, str] = field(default_factory=dict)

    @property
    def record_id(self) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, f"codearts:{self.job_id}:{self.build_no}"))

    @cached_property
    def step_logs(self) -> list[bytes]:
        return [step_log(self, step).encode("utf-8") for step in self.steps]

    @cached_property
    def full_log(self) -> bytes:
        return b"".join(self.step_logs)


def _stamp(seconds: float) -> str:
    moment = _EPOCH + timedelta(seconds=seconds)
    return moment.strftime("%Y/%m/%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d} GMT+08:00"


def step_log(build: Build, step: Step) -> str:
    """The complete log of one build action (deterministic)."""
    index = build.steps.index(step)
    t = float(index * 10)
    tag = f"[{step.name}:{step.stage}]"
    lines = [f"[{_stamp(t)}] [INFO] {tag} : This action starts.\n"]
    if index == 0:
        for key, value in build.scm.items():
            lines.append(f"[{_stamp(t)}] [INFO] {tag} : scm {key}={value}\n")
        for name, value in build.parameters.items():
            lines.append(f"[{_stamp(t)}] [INFO] {tag} : parameter {name}={value}\n")
    if step.log_bytes:
        # ~114 bytes a line, like the documented 1000-line page of ~114 KB
        count = max(1, step.log_bytes // 114)
        for n in range(1, count + 1):
            lines.append(
                f"[{_stamp(t + n / 1000)}] [INFO] [{n:08d}] Processing partition {n % 977:03d}: rows=5000 ok; "
                f"checksum={n * 2654435761 % 4294967296:08x}\n"
            )
    else:
        for n in range(1, step.lines + 1):
            lines.append(
                f"[{_stamp(t + n)}] [INFO] {tag} : {step.name} progress {n}/{step.lines} — 构建中 (building)\n"
            )
    if step.fails:
        lines.append(f"[{_stamp(t + 8)}] [ERROR] {tag} : Tests run: 128, Failures: 2, Errors: 0, Skipped: 1\n")
        lines.append(f"[{_stamp(t + 8)}] [ERROR] {tag} : PaymentGatewayTest.refundTwice expected 409 but was 200\n")
        lines.append(f"[{_stamp(t + 9)}] [ERROR] {tag} : This action failed.\n")
    else:
        lines.append(f"[{_stamp(t + 9)}] [INFO] {tag} : This action ends.\n")
    return "".join(lines)


def catalogue(large_log_bytes: int = 1 << 20) -> dict[tuple[str, int], Build]:
    builds = [
        Build(
            WEB_JOB,
            7,
            "web-portal",
            [
                Step(1, "Code checkout", "external_pre_checkout", 0.5, lines=4),
                Step(2, "Build with npm", "npm_build", 1.0, lines=12),
                Step(3, "Run unit tests", "unit_test", 1.0, lines=8),
                Step(4, "Upload to release repo", "upload_artifact", 0.5, lines=3),
            ],
        ),
        Build(
            FAILING_JOB,
            12,
            "payment-service",
            [
                Step(1, "Code checkout", "external_pre_checkout", 0.5, lines=4),
                Step(2, "Build with Maven", "maven_build", 1.0, lines=10),
                Step(3, "Run unit tests", "unit_test", 1.0, lines=6, fails=True),
                Step(4, "Upload to release repo", "upload_artifact", 0.5, lines=3),
            ],
            result="FAILURE",
        ),
        Build(
            LARGE_JOB,
            3,
            "data-pipeline",
            [
                Step(1, "Code checkout", "external_pre_checkout", 0.0, lines=3),
                Step(2, "Build with Maven", "maven_build", 0.0, log_bytes=max(1, large_log_bytes)),
            ],
            pending=0.0,
        ),
        Build(
            ABORTED_JOB,
            5,
            "nightly-release",
            [
                Step(1, "Code checkout", "external_pre_checkout", 0.5, lines=4),
                Step(2, "Build Docker image", "docker_build", 1.0, lines=8),
                Step(3, "Push image", "push_image", 0.5, lines=3),
            ],
            result="ABORTED",
            stopped_in=2,
        ),
    ]
    return {(b.job_id, b.build_no): b for b in builds}


# -- a build at a moment -----------------------------------------------------------------------------------------
@dataclass
class StepView:
    step: Step
    status: str  # INIT, RUNNING, SUCCESS, FAILED, ABORTED, SKIPPED
    revealed: int  # bytes of the action's log written so far
    start: float | None
    end: float | None


@dataclass
class BuildView:
    building: bool
    result: str | None
    steps: list[StepView] = field(default_factory=list)
    start: float | None = None
    end: float | None = None

    @property
    def revealed(self) -> int:
        return sum(v.revealed for v in self.steps)


def _cut(data: bytes, progress: float) -> int:
    """How much of ``data`` is written at ``progress`` (0..1), at a line boundary."""
    if progress >= 1.0:
        return len(data)
    if progress <= 0.0:
        return 0
    return data.rfind(b"\n", 0, int(len(data) * progress)) + 1


def build_view(build: Build, elapsed: float) -> BuildView:
    if build.stopped_at is not None and elapsed >= build.stopped_at:
        return _stopped_view(build, build.stopped_at)
    if elapsed < build.pending:
        return BuildView(True, None, [StepView(s, "INIT", 0, None, None) for s in build.steps])
    t = elapsed - build.pending
    clock = build.pending
    view = BuildView(False, build.result, start=build.pending)
    stopped = False
    for step, data in zip(build.steps, build.step_logs, strict=True):
        if stopped:
            view.steps.append(StepView(step, "SKIPPED", 0, None, None))
            continue
        if build.stopped_in == step.step_id and t >= step.duration / 2:
            # a user pressed "stop" half way through this action
            view.steps.append(StepView(step, "ABORTED", _cut(data, 0.5), clock, clock + step.duration / 2))
            clock += step.duration / 2
            stopped = True
            continue
        if t < step.duration:
            progress = t / step.duration if step.duration else 1.0
            view.steps.append(StepView(step, "RUNNING", _cut(data, progress), clock, None))
            view.building, view.result = True, None
            stopped = True
            continue
        view.steps.append(
            StepView(step, "FAILED" if step.fails else "SUCCESS", len(data), clock, clock + step.duration)
        )
        t -= step.duration
        clock += step.duration
        if step.fails:
            stopped = True
    if not view.building:
        view.end = clock
    return view


def _stopped_view(build: Build, at: float) -> BuildView:
    """The build as it stood when it was stopped: the running action ABORTED, the ones after it SKIPPED."""
    running = dataclasses.replace(build, stopped_at=None)
    running.__dict__.update({k: build.__dict__[k] for k in ("step_logs", "full_log") if k in build.__dict__})
    view = build_view(running, at)
    if not view.building:
        return view  # it had ended before the stop
    view.steps = [
        StepView(v.step, "ABORTED", v.revealed, v.start if v.start is not None else at, at)
        if v.status == "RUNNING"
        else StepView(v.step, "SKIPPED", 0, None, None)
        if v.status == "INIT"
        else v
        for v in view.steps
    ]
    view.building, view.result, view.end = False, "ABORTED", at
    if view.start is None:
        view.start = at
    return view


def log_page(data: bytes, revealed: int, start: int, end: int, sort: str, size: int, max_bytes: int) -> dict[str, Any]:
    """One page of ``data[:revealed]`` the way the service pages: by lines, from/to byte offsets."""
    if sort == "DESC":
        stop = revealed if end <= 0 or end > revealed else end
        begin = stop
        for _ in range(size):
            if begin <= 0:
                break
            begin = data.rfind(b"\n", 0, begin - 1) + 1
        begin = max(begin, stop - max_bytes)
        while begin < stop and (data[begin] & 0xC0) == 0x80:  # never start inside a UTF-8 character
            begin += 1
        return _page(data, begin, stop, has_more=begin > 0)
    begin = min(start, revealed)
    limit = revealed if end <= begin else min(end, revealed)
    stop = begin
    for _ in range(size):
        if stop >= limit:
            break
        newline = data.find(b"\n", stop, limit)
        stop = limit if newline < 0 else newline + 1
    if stop - begin > max_bytes:
        stop = begin + max_bytes
        while stop > begin and (data[stop] & 0xC0) == 0x80:
            stop -= 1
    return _page(data, begin, stop, has_more=stop < revealed)


def _page(data: bytes, begin: int, stop: int, has_more: bool) -> dict[str, Any]:
    return {
        "start_offset": begin,
        "end_offset": stop,
        "log": data[begin:stop].decode("utf-8", "replace"),
        "has_more": has_more,
        "location": "jenkins",
    }


def _time(offset: float | None) -> str | None:
    return None if offset is None else (_EPOCH + timedelta(seconds=offset)).strftime("%Y-%m-%d %H:%M:%S")


def _ms(offset: float | None) -> int | None:
    return None if offset is None else int((_EPOCH.timestamp() + offset) * 1000)


class CodeArtsEmulator:
    def __init__(
        self,
        *,
        speed: float = 1.0,
        large_log_bytes: int = 1 << 20,
        max_page_bytes: int = 512 * 1024,
        token_ttl: float = 24 * 3600.0,
        empty_log_rate: float = 0.0,
        too_frequent_rate: float = 0.0,
        string_offsets: bool = False,
        seed: int | None = None,
        faults: Faults | None = None,
    ) -> None:
        self.builds = catalogue(large_log_bytes)
        self.clock = JobClock(speed)
        self.faults = faults or Faults()
        self.max_page_bytes = self._default_page_bytes = max_page_bytes
        #: answer offsets as strings (the documented type) instead of numbers (the documented examples)
        self.string_offsets = string_offsets
        self.token_ttl = self._default_token_ttl = token_ttl
        self.empty_log_rate = empty_log_rate
        self.too_frequent_rate = too_frequent_rate
        self.log_script: deque[str] = deque()
        #: how many times each service fault was served, by kind
        self.log_faults_served: dict[str, int] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._too_frequent_count = 0
        self._tokens: dict[str, float] = {}  # token -> expiry (monotonic)
        self.tokens_issued = 0
        self._catalogued = frozenset(self.builds)
        #: RunJob requests (``POST /v3/jobs/build``), accepted or not
        self.start_requests = 0
        #: the builds StopBuildJob was asked to stop, ``(job_id, build_no)``, in order
        self.stop_requests: list[tuple[str, int]] = []

    # -- knobs ---------------------------------------------------------------------------------------------
    def set_knobs(self, **knobs: Any) -> None:
        with self._lock:
            for key, value in knobs.items():
                if key == "log_script":
                    unknown = [k for k in value if k not in LOG_FAULTS]
                    if unknown:
                        raise ValueError(f"unknown log faults {unknown}; known: {LOG_FAULTS}")
                    self.log_script = deque(value)
                elif key in ("empty_log_rate", "too_frequent_rate", "token_ttl"):
                    setattr(self, key, float(value))
                elif key == "max_page_bytes":
                    self.max_page_bytes = int(value)
                elif key == "string_offsets":
                    self.string_offsets = bool(value)
                else:
                    raise ValueError(f"unknown CodeArts knob {key!r}")

    def reset(self) -> None:
        """Clean knobs and clocks (tests call this between cases)."""
        self.clock.reset()
        self.faults.clear()
        self.set_knobs(
            empty_log_rate=0,
            too_frequent_rate=0,
            log_script=[],
            max_page_bytes=self._default_page_bytes,
            string_offsets=False,
            token_ttl=self._default_token_ttl,
        )
        with self._lock:
            self._tokens.clear()
            self.tokens_issued = 0
            self.log_faults_served.clear()
            for key in [k for k in self.builds if k not in self._catalogued]:
                del self.builds[key]  # builds started through RunJob
            for build in self.builds.values():
                build.stopped_at = None

    def revoke_tokens(self) -> None:
        with self._lock:
            self._tokens.clear()

    def _draw_log_fault(self) -> str | None:
        with self._lock:
            if self.log_script:
                kind: str | None = self.log_script.popleft()
            else:
                roll = self._rng.random()
                kind = (
                    "empty_log"
                    if roll < self.empty_log_rate
                    else "too_frequent"
                    if roll < self.empty_log_rate + self.too_frequent_rate
                    else None
                )
            if kind:
                self.log_faults_served[kind] = self.log_faults_served.get(kind, 0) + 1
            return kind

    # -- envelopes ---------------------------------------------------------------------------------------------
    @staticmethod
    def _headers() -> dict[str, str]:
        return {"X-Request-Id": uuid.uuid4().hex}

    def ok(self, result: Any) -> Response:
        return JSONResponse({"result": result, "error": None, "status": "success"}, headers=self._headers())

    def error(self, status: int, code: str, message: str) -> Response:
        return JSONResponse({"error_code": code, "error_msg": message}, status_code=status, headers=self._headers())

    def gateway_error(self, status: int, code: str, message: str) -> Response:
        """An API gateway answer: ``error_code``, ``error_msg`` and ``request_id`` (also ``X-Request-Id``)."""
        headers = self._headers()
        body = {"error_code": code, "error_msg": message, "request_id": headers["X-Request-Id"]}
        return JSONResponse(body, status_code=status, headers=headers)

    def fail_in_body(self, code: str, message: str) -> Response:
        """The 200 answer that still failed (``status: fail``)."""
        return JSONResponse(
            {"result": None, "error": {"error_code": code, "error_msg": message}, "status": "fail"},
            headers=self._headers(),
        )

    def too_frequent(self) -> Response:
        with self._lock:
            self._too_frequent_count += 1
            status = 400 if self._too_frequent_count % 2 else 500
        return self.error(status, "CB.00060211", "The request is too frequent. Try again later.")

    # -- authentication --------------------------------------------------------------------------------------
    def _gateway_denied(self, message: str, code: str = "APIGW.0301") -> Response:
        text = (
            "The token must be updated."
            if code == "APIGW.0307"
            else f"Incorrect IAM authentication information: {message}"
        )
        return self.gateway_error(401, code, text)

    async def authenticate(self, request: Request) -> Response | None:
        token = request.headers.get("X-Auth-Token")
        if token:
            with self._lock:
                expiry = self._tokens.get(token)
            if expiry is None:
                return self._gateway_denied("decrypt token fail")
            if time.monotonic() >= expiry:
                return self._gateway_denied("", code="APIGW.0307")
            return self._project_check(request)
        header = request.headers.get("Authorization")
        if not header:
            return self._gateway_denied("Authorization not found.")
        match = _AUTHORIZATION.match(header.strip())
        if not match:
            return self._gateway_denied("verify authorization header fail, the algorithm must be " + ALGORITHM)
        keys = {ACCESS_KEY: (SECRET_KEY, None), TEMP_ACCESS_KEY: (TEMP_SECRET_KEY, SECURITY_TOKEN)}
        if match["ak"] not in keys:
            return self._gateway_denied(f"Get secretKey failed,ak:{match['ak']},err:ak not exist")
        secret, security_token = keys[match["ak"]]
        if security_token is not None and request.headers.get("X-Security-Token") != security_token:
            return self._gateway_denied("verify security token fail")
        date = request.headers.get("X-Sdk-Date", "")
        try:
            sent = datetime.strptime(date, DATE_FORMAT).replace(tzinfo=timezone.utc).timestamp()
        except ValueError:
            return self._gateway_denied("x-sdk-date is invalid or missing")
        if abs(time.time() - sent) > MAX_CLOCK_SKEW:
            return self._gateway_denied(f"the request time {date} is out of range")
        names = match["headers"].split(";")
        if "host" not in names or "x-sdk-date" not in names or names != sorted(names):
            return self._gateway_denied("SignedHeaders must be sorted and include host and x-sdk-date")
        body = await request.body()
        # Everything from the wire: the raw path and query string, the received header values.
        headers = {name: request.headers.get(name, "") for name in names}
        canonical = canonical_request(
            request.method,
            request.scope.get("raw_path", b"").decode("latin-1") or request.url.path,
            parse_query(request.scope.get("query_string", b"")),
            headers,
            names,
            payload_hash(body, headers),
        )
        expected = signature(secret, string_to_sign(date, canonical))
        if expected != match["sig"].lower():
            return self._gateway_denied(f"verify aksk signature fail, SignedHeaders: {match['headers']}")
        return self._project_check(request)

    def _project_check(self, request: Request) -> Response | None:
        project = request.headers.get("X-Project-Id")
        if project is not None and project != PROJECT_ID:
            return self._gateway_denied(f"the project {project} does not belong to this account")
        return None

    async def iam_tokens(self, request: Request) -> Response:
        try:
            body = await request.json()
            identity = body["auth"]["identity"]
            user = identity["password"]["user"]
            scope_project = body["auth"].get("scope", {}).get("project", {})
        except (ValueError, KeyError, TypeError, AttributeError):
            return JSONResponse(
                {"error": {"code": 400, "message": "The request body is invalid.", "title": "Bad Request"}},
                status_code=400,
            )
        if (
            "password" not in identity.get("methods", [])
            or user.get("name") != USER_NAME
            or user.get("password") != PASSWORD
            or (user.get("domain") or {}).get("name") != DOMAIN_NAME
        ):
            return JSONResponse(
                {"error": {"code": 401, "message": "The username or password is wrong.", "title": "Unauthorized"}},
                status_code=401,
                headers=self._headers(),
            )
        if scope_project.get("id") != PROJECT_ID:
            return JSONResponse(
                {
                    "error": {
                        "code": 401,
                        "message": "The project is not found or not authorized.",
                        "title": "Unauthorized",
                    }
                },
                status_code=401,
                headers=self._headers(),
            )
        token = "MII" + uuid.uuid4().hex + uuid.uuid4().hex
        now = datetime.now(timezone.utc)
        with self._lock:
            self._tokens[token] = time.monotonic() + self.token_ttl
            self.tokens_issued += 1
        iso = "%Y-%m-%dT%H:%M:%S.%fZ"
        return JSONResponse(
            {
                "token": {
                    "methods": ["password"],
                    "issued_at": now.strftime(iso),
                    "expires_at": (now + timedelta(seconds=self.token_ttl)).strftime(iso),
                    "project": {"id": PROJECT_ID, "name": REGION},
                    "user": {"name": USER_NAME, "domain": {"name": DOMAIN_NAME}},
                }
            },
            status_code=201,
            headers={"X-Subject-Token": token, **self._headers()},
        )

    # -- lookups ------------------------------------------------------------------------------------------------
    def _build(self, job_id: Any, build_no: Any) -> tuple[Build | None, Response | None]:
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
            return None, self.error(400, "CB.00060201", "The job ID is invalid: it must be 32 letters and digits.")
        try:
            number = int(build_no)
        except (TypeError, ValueError):
            number = 0
        if number < 1:
            return None, self.error(400, "CB.00060200", "Invalid parameter: build_no must be an integer >= 1.")
        build = self.builds.get((job_id, number))
        if build is None:
            if any(job == job_id for job, _ in self.builds):
                return None, self.error(400, "CB.00060200", f"Invalid parameter: build {number} does not exist.")
            return None, self.error(400, "CB.00060201", "The build task does not exist or you have no access to it.")
        return build, None

    def view(self, build: Build) -> BuildView:
        return build_view(build, self.clock.elapsed((build.job_id, build.build_no)))

    def _paging(
        self, params: dict[str, str], with_size: bool, offsets_optional: bool = False
    ) -> tuple[tuple[int, int, str, int] | None, Response | None]:
        default = "0" if offsets_optional else ""
        try:
            start = int(params.get("start_offset", default))
            end = int(params.get("end_offset", default))
            size = int(params.get("size", "1000")) if with_size else 1000
        except ValueError:
            return None, self.error(
                400, "CB.00060200", "Invalid parameter: start_offset, end_offset and size must be numbers."
            )
        sort = params.get("sort") or "AES"
        if start < 0 or end < 0 or size < 1:
            return None, self.error(400, "CB.00060200", "Invalid parameter: offsets must be >= 0 and size >= 1.")
        if sort not in ("AES", "DESC"):
            return None, self.error(400, "CB.00060200", f"Invalid parameter: sort {sort!r} must be AES or DESC.")
        return (start, end, sort, size), None

    # -- handlers ------------------------------------------------------------------------------------------------
    async def _serve_log(
        self,
        request: Request,
        job_id: Any,
        build_no: Any,
        step_id: Any,
        with_size: bool,
        offsets_optional: bool = False,
    ) -> Response:
        denied = await self.authenticate(request)
        if denied:
            return denied
        build, error = self._build(job_id, build_no)
        if error:
            return error
        assert build is not None
        paging, error = self._paging(dict(request.query_params), with_size, offsets_optional)
        if error:
            return error
        assert paging is not None
        start, end, sort, size = paging
        view = self.view(build)
        if step_id is None:
            data, revealed = build.full_log, view.revealed
        else:
            index = next((i for i, s in enumerate(build.steps) if str(s.step_id) == str(step_id)), None)
            if index is None:
                return self.fail_in_body(
                    "CB.00060200", f"The build action {step_id} does not exist in build {build.build_no}."
                )
            data, revealed = build.step_logs[index], view.steps[index].revealed
        fault = self._draw_log_fault()
        if fault == "too_frequent":
            return self.too_frequent()
        if fault == "busy":
            return self.error(500, "CB.00060100", "The system is busy. Try again later.")
        shared_fault = paging_fault(request)
        if fault == "empty_log" and start < revealed:
            page = {"start_offset": start, "end_offset": start, "log": "", "has_more": True, "location": "jenkins"}
        elif shared_fault == "repeat" and sort == "AES" and 0 < start <= revealed:
            # a page that starts one line before the offset asked for: it overlaps what was already served
            page = log_page(data, revealed, data.rfind(b"\n", 0, start - 1) + 1, end, sort, size, self.max_page_bytes)
        else:
            page = log_page(data, revealed, start, end, sort, size, self.max_page_bytes)
            if shared_fault == "stall" and page["log"]:
                page["end_offset"] = page["start_offset"]  # text, but an offset that does not move on
        if self.string_offsets:
            page["start_offset"], page["end_offset"] = str(page["start_offset"]), str(page["end_offset"])
        return self.ok(page)

    async def real_time_log(self, request: Request) -> Response:
        p = request.path_params
        # the only log endpoint whose offsets are optional (absent: from the start to the end)
        return await self._serve_log(request, p["job_id"], p["build_no"], None, with_size=True, offsets_optional=True)

    async def step_log_endpoint(self, request: Request) -> Response:
        q = request.query_params
        if not q.get("step_id"):
            return self.error(400, "CB.00060200", "Invalid parameter: step_id is required.")
        return await self._serve_log(request, q.get("job_id"), q.get("build_no"), q.get("step_id"), with_size=True)

    async def task_page(self, request: Request) -> Response:
        q = request.query_params
        if not q.get("step_id"):
            return self.error(400, "CB.00060200", "Invalid parameter: step_id is required.")
        return await self._serve_log(request, q.get("job_id"), q.get("build_no"), q.get("step_id"), with_size=False)

    async def stage_page(self, request: Request) -> Response:
        q = request.query_params
        return await self._serve_log(request, q.get("job_id"), q.get("build_no"), None, with_size=False)

    async def _status_lookup(self, request: Request) -> tuple[Build | None, BuildView | None, Response | None]:
        denied = await self.authenticate(request)
        if denied:
            return None, None, denied
        build, error = self._build(request.path_params["job_id"], request.path_params["build_no"])
        if error:
            return None, None, error
        assert build is not None
        return build, self.view(build), None

    async def build_info(self, request: Request) -> Response:
        _, view, error = await self._status_lookup(request)
        if error:
            return error
        assert view is not None
        return self.ok({"building": view.building, "build_result": view.result, "region": REGION})

    async def build_info_record(self, request: Request) -> Response:
        build, view, error = await self._status_lookup(request)
        if error:
            return error
        assert build is not None and view is not None
        running = "Starting" if view.start is None else "Running" if view.building else "Finished"
        return self.ok(
            {
                "number": build.build_no,
                "build_time": _ms(view.start),
                "start_time": _ms(view.start),
                "job_running_status": running,
                "state": view.result,
                "user_id": "4f5e6d7c8b9a0f1e2d3c4b5a69788796",
                "executor": USER_NAME,
                "nickname": USER_NAME,
                "daily_build_number": f"20261122.{build.build_no}",
                "trigger_type": "Manual",
                "cost_time": int(((view.end or 0) - (view.start or 0)) * 1000) if view.end else None,
                "build_type": "branch",
                "code_branch": "master",
                "scm_type": "codehub",
            }
        )

    async def record_info(self, request: Request) -> Response:
        build, view, error = await self._status_lookup(request)
        if error:
            return error
        assert build is not None and view is not None
        result = view.result or build.result
        status = "RUNNING" if view.building else {"FAILURE": "FAILED"}.get(result, result)
        failed = next((v for v in view.steps if v.status in ("FAILED", "ABORTED")), None)
        err_msg = None
        if failed is not None and failed.status == "FAILED":
            err_msg = f"Build action '{failed.step.name}' failed."
        elif failed is not None:
            err_msg = "The build was stopped manually."
        return self.ok(
            {
                "id": build.record_id,
                "build_record_id": build.record_id,
                "build_project_id": build.job_id,
                "codeci_job_id": build.job_id,
                "build_no": build.build_no,
                "daily_build_num": f"20261122.{build.build_no}",
                "branch": "master",
                "trigger_type": "Manual",
                "status": status,
                "record_status": status,
                "create_time": _time(0),
                "start_time": _time(view.start),
                "finish_time": _time(view.end),
                "duration": int(((view.end or 0) - (view.start or 0)) * 1000) if view.end else None,
                "region": REGION,
                "err_msg": err_msg,
            }
        )

    async def full_stages(self, request: Request) -> Response:
        denied = await self.authenticate(request)
        if denied:
            return denied
        record_id = request.path_params["record_id"]
        build = next((b for b in self.builds.values() if b.record_id == record_id), None)
        if build is None:
            return self.error(404, "CB.00060214", f"The build record {record_id} does not exist.")
        view = self.view(build)
        stages = {}
        for sequence, v in enumerate(view.steps, 1):
            stages[str(v.step.step_id)] = {
                "id": str(v.step.step_id),
                "status": v.status,
                "status_code": {"SUCCESS": 0, "FAILED": 1, "ABORTED": 2}.get(v.status, -1),
                "display_name": v.step.name,
                "execution_stage_name": v.step.stage,
                "build_record_id": record_id,
                "node_id": v.step.step_id,
                "sequence": sequence,
                "start_time": _time(v.start),
                "finish_time": _time(v.end),
                "duration": int((v.end - v.start) * 1000) if v.end is not None and v.start is not None else None,
            }
        return self.ok({"build_stages": stages})

    # -- running and stopping builds ----------------------------------------------------------------------------
    async def run_job(self, request: Request) -> Response:
        """RunJob (``POST /v3/jobs/build``): a new build of the task, numbered after its last one, that runs the
        task's actions (those of its last build) on the emulator's clock from now; the answer is RunJobResponse's
        fields, without the ``result`` envelope."""
        denied = await self.authenticate(request)
        if denied:
            return denied
        with self._lock:
            self.start_requests += 1
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return self.error(400, "CB.00060200", "Invalid parameter: the request body must be a JSON object.")
        job_id = body.get("job_id")
        if not isinstance(job_id, str) or not _JOB_ID.match(job_id):
            return self.error(400, "CB.00060201", "The job ID is invalid: it must be 32 letters and digits.")
        parameters = body.get("parameter") or []
        if not isinstance(parameters, list) or any(
            not isinstance(p, dict) or not isinstance(p.get("name"), str) or not isinstance(p.get("value"), str)
            for p in parameters
        ):
            return self.error(400, "CB.00060200", "Invalid parameter: parameter must be a list of {name, value}.")
        scm = body.get("scm") or {}
        if not isinstance(scm, dict):
            return self.error(400, "CB.00060200", "Invalid parameter: scm must be an object.")
        with self._lock:
            numbers = [n for (job, n) in self.builds if job == job_id]
            if not numbers:
                return self.error(400, "CB.00060201", "The build task does not exist or you have no access to it.")
            last = self.builds[(job_id, max(numbers))]
            build = Build(
                job_id,
                max(numbers) + 1,
                last.name,
                list(last.steps),
                result="FAILURE" if any(step.fails for step in last.steps) else "SUCCESS",
                pending=last.pending,
                parameters={p["name"]: p["value"] for p in parameters},
                scm={str(k): str(v) for k, v in scm.items()},
            )
            self.builds[(job_id, build.build_no)] = build
        self.clock.elapsed((job_id, build.build_no))  # its life starts now
        return JSONResponse(
            {
                "octopus_job_name": f"j_{uuid.uuid5(uuid.NAMESPACE_URL, job_id).hex[:8]}",
                "actual_build_number": str(build.build_no),
                "daily_build_number": f"20261122.{build.build_no}",
            },
            headers=self._headers(),
        )

    async def stop_build(self, request: Request) -> Response:
        """StopBuildJob (``POST /v3/jobs/{job_id}/{build_no}/stop``): a running build ends ABORTED (the running action
        ABORTED, the later ones SKIPPED); ``success`` says whether it was stopped."""
        build, view, error = await self._status_lookup(request)
        if error:
            return error
        assert build is not None and view is not None
        with self._lock:
            self.stop_requests.append((build.job_id, build.build_no))
        if not view.building:
            return JSONResponse(
                {"success": False, "result": f"The build has already finished: {view.result}."},
                headers=self._headers(),
            )
        build.stopped_at = self.clock.elapsed((build.job_id, build.build_no))
        return JSONResponse({"success": True, "result": "success"}, headers=self._headers())

    async def output_info(self, request: Request) -> Response:
        """ShowOutputInfo (``GET /v3/jobs/{job_id}/{build_no}/output-info``): the package a successful build uploaded
        (``package_info``); no outputs for a build that is running or did not succeed."""
        build, view, error = await self._status_lookup(request)
        if error:
            return error
        assert build is not None and view is not None
        package = None
        if view.result == "SUCCESS":
            version = build.parameters.get("version") or f"1.0.{build.build_no}"
            package = {
                "project_id": PROJECT_ID,
                "name": f"{build.name}.tar.gz",
                "version": version,
                "package_type": "generic",
                "uri": f"{build.name}/{version}/{build.name}.tar.gz",
                "type": "release",
                "daily_build_number": f"20261122.{build.build_no}",
            }
        return self.ok({"package_info": package, "package_infos": {}, "image_infos": {}})

    async def unknown(self, request: Request) -> Response:
        """No API is registered for this method and path: the gateway answers before any authentication."""
        known_path = any(route.path_regex.match(request.url.path) for route in self._api_routes)
        message = (
            "The API does not exist."  # the path exists, the method does not
            if known_path
            else "The API does not exist or has not been published in the environment."
        )
        return self.gateway_error(404, "APIGW.0101", message)

    async def control(self, request: Request) -> Response:
        if request.method == "POST":
            try:
                self.set_knobs(**(await request.json()))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(
            {
                "empty_log_rate": self.empty_log_rate,
                "too_frequent_rate": self.too_frequent_rate,
                "log_script": list(self.log_script),
                "max_page_bytes": self.max_page_bytes,
                "string_offsets": self.string_offsets,
                "token_ttl": self.token_ttl,
                "log_faults_served": dict(self.log_faults_served),
                "tokens_issued": self.tokens_issued,
            }
        )

    # -- app ------------------------------------------------------------------------------------------------------
    def connections(self, base_url: str) -> dict[str, dict[str, Any]]:
        common_extra = {"region": REGION, "project_id": PROJECT_ID, "allow_http": True}
        return {
            "codearts_build_default": {
                "conn_type": "codearts_build",
                "host": base_url,
                "login": ACCESS_KEY,
                "password": SECRET_KEY,
                "extra": {**common_extra, "auth_type": "aksk"},
            },
            "codearts_build_iam": {
                "conn_type": "codearts_build",
                "host": base_url,
                "login": USER_NAME,
                "password": PASSWORD,
                "extra": {
                    **common_extra,
                    "auth_type": "password",
                    "domain_name": DOMAIN_NAME,
                    "iam_endpoint": base_url,
                },
            },
        }

    @cached_property
    def _api_routes(self) -> list[Route]:
        return [
            Route("/v3/auth/tokens", self.iam_tokens, methods=["POST"]),
            Route("/v1/log/{job_id}/{build_no}/real-time-log", self.real_time_log, methods=["GET"]),
            Route("/v1/log/task/step", self.step_log_endpoint, methods=["GET"]),
            Route("/v1/log/task/page", self.task_page, methods=["GET"]),
            Route("/v1/log/stage/page", self.stage_page, methods=["GET"]),
            Route("/v1/job/{job_id}/{build_no}/build-info", self.build_info, methods=["GET"]),
            Route("/v1/record/{job_id}/{build_no}/build-info-record", self.build_info_record, methods=["GET"]),
            Route("/v1/record/{job_id}/{build_no}/record-info", self.record_info, methods=["GET"]),
            Route("/v1/record/{record_id}/full-stages", self.full_stages, methods=["GET"]),
            Route("/v3/jobs/build", self.run_job, methods=["POST"]),
            Route("/v3/jobs/{job_id}/{build_no}/stop", self.stop_build, methods=["POST"]),
            Route("/v3/jobs/{job_id}/{build_no}/output-info", self.output_info, methods=["GET"]),
        ]

    def app(self) -> EmulatorApp:
        routes = [
            Route("/_emulator/codearts", self.control, methods=["GET", "POST"]),
            *self._api_routes,
            Route("/{path:path}", self.unknown, methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]),
        ]
        return build_app(
            "codearts",
            routes,
            self.faults,
            self.clock,
            error_response=lambda: (500, {"error_code": "CB.00060101", "error_msg": "Internal server error."}),
            throttle_response=lambda: (
                429,
                {
                    "error_code": "APIGW.0308",
                    "error_msg": "The throttling threshold has been reached: policy user over ratelimit, limit:100, time:1 minute",
                    "request_id": uuid.uuid4().hex,
                },
            ),
            connections=self.connections,
        )


def codearts_app(**kwargs: Any) -> EmulatorApp:
    """The CodeArts Build emulator app (see :class:`CodeArtsEmulator` for the knobs)."""
    return CodeArtsEmulator(**kwargs).app()
