"""The triggerer at scale: many deferred sensors' triggers in one event loop, beside the peers and the floor.

Every case runs in a fresh interpreter, one asyncio loop, as a triggerer runs its triggers; the jobs stay
running (the emulator's clock nearly stopped), so every trigger keeps checking. Logging is set up as in a triggerer's
trigger runner (the task SDK's JSON log channel at INFO: structlog with Airflow's processors, JSON lines written
unbuffered), into a file in place of the socket to the supervisor, so each trigger's log lines cost what they do
in a triggerer. Measured
over a fixed number of intervals of steady state (from the end of every trigger's first interval):

* CPU per check: the process's CPU time divided by the checks the server answered, less the harness's own
  (the watchdog and the idle loop, measured for 3 s before the triggers start);
* memory per trigger: resident memory with all of them checking, minus before they started, per trigger;
* worst loop lag: a watchdog sleeps 10 ms at a time and records how late it wakes (garbage collections included);
* checks on time: every wait of a second or more (a trigger's wait for its next check) records how late it
  woke; a check that starts more than 100 ms after it was due is late.

Cases:

* **profile** (``--profile``): each service, 1,000 triggers every 5 s, under :mod:`cProfile` for the steady
  state only, the CPU split by component (request building and signing, connection pool, decoding, ...);
* **per service**: each service, 1,000 triggers every 5 s, without the profiler: CPU per check (target 1.0 ms);
* **scale**: BlueKing, the HTTP provider's ``HttpSensorTrigger`` (a plain 404, what it keeps polling for),
  dbt Cloud's ``DbtCloudRunJobTrigger`` (a run that stays running, from a loopback stand-in of dbt Cloud's
  run-status endpoint over https, as dbt Cloud is always reached) and the physical floor (a bare asyncio loop
  sending BlueKing's status request, prepared once, over a few kept-alive sockets and decoding the JSON answer),
  each at every count (1,000 / 5,000 / 10,000 by default) every 30 s. Targets for ours at every count: worst lag
  under 100 ms, every check on time, at most 10 KB per trigger.

``[joblogs] gc_freeze`` stays at its default (off) throughout.
"""

from __future__ import annotations

import tempfile
from typing import Any

from benchmarks._support import Row, emulator_process, run_child

TARGET_CPU_MS = 1.0
TARGET_KB = 10.0
TARGET_LAG_MS = 100.0
SERVICE_INTERVAL = 5.0
SCALE_INTERVAL = 30.0
COUNTS = (1000, 5000, 10000)

TRIGGERS = {
    "blueking": (
        "airflow_joblogs.triggers.blueking.BlueKingJobTrigger",
        {
            "conn_id": "bk_job_default",
            "job_ref": {"job_instance_id": 1001, "bk_scope_type": "biz", "bk_scope_id": "2"},
            "success_states": [3],
            "failure_states": [4],
        },
    ),
    "codearts": (
        "airflow_joblogs.triggers.codearts.CodeArtsBuildTrigger",
        {
            "conn_id": "codearts_build_default",
            "job_ref": {"job_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "build_no": 7},
            "success_states": ["SUCCESS"],
            "failure_states": ["FAILURE"],
        },
    ),
    "qingcloud": (
        "airflow_joblogs.triggers.qingcloud.QingCloudClusterJobTrigger",
        {
            "conn_id": "qingcloud_default",
            "job_ref": {"jobs": ["j-addnodes01"], "app": "app-tg3lbp0a"},
            "success_states": ["successful"],
            "failure_states": ["failed"],
        },
    ),
    "mgn": (
        "airflow_joblogs.triggers.mgn.MgnJobTrigger",
        {
            "conn_id": "aws_default",
            "job_ref": {"job_id": "mgnjob-cutover0000000001", "require_post_launch_success": False},
            "success_states": ["COMPLETED"],
            "failure_states": ["FAILED"],
        },
    ),
}

PEERS = {
    "http": (
        "airflow.providers.http.triggers.http.HttpSensorTrigger",
        {"endpoint": "status", "http_conn_id": "http_peer"},
    ),
    "dbt": (
        "airflow.providers.dbt.cloud.triggers.dbt.DbtCloudRunJobTrigger",
        {"conn_id": "dbt_peer", "run_id": 4242, "account_id": 1},
    ),
}
LABELS = {
    "ours": "airflow-joblogs (BlueKing)",
    "http": "HttpSensorTrigger",
    "dbt": "DbtCloudRunJobTrigger",
    "floor": "bare asyncio loop (floor)",
}

#: profile components, by the file a function is defined in (self time: where the CPU is spent)
COMPONENTS = [
    (
        "the per-check log line (structlog, Airflow's processors, the file)",
        ("/logging/", "/structlog/", "/_shared/logging/", "/airflow/sdk/log", "/airflow/utils/log", "/msgspec/"),
    ),
    (
        "request building and signing (httpx client, URL, headers, auth)",
        (
            "/httpx/_client",
            "/httpx/_models",
            "/httpx/_urls",
            "/httpx/_urlparse",
            "/httpx/_auth",
            "/httpx/_config",
            "/httpx/_utils",
            "/httpx/_content",
            "/hmac",
            "/hashlib",
            "/urllib/",
            "/httpx/_multipart",
            "/httpx/_types",
        ),
    ),
    (
        "connection pool and HTTP/1.1 (the provider's loop transport; httpcore, h11)",
        ("/airflow_joblogs/loop_transport", "/httpcore/", "/h11/", "/anyio/", "/sniffio/", "/httpx/_transports"),
    ),
    (
        "decoding (JSON, response, hook decode)",
        ("/json/", "/httpx/_decoders", "/httpx/_status_codes", "/airflow_joblogs/hooks/"),
    ),
    ("JobStatus and the verdict", ("/airflow_joblogs/models",)),
    (
        "the trigger and the program driver",
        ("/airflow_joblogs/triggers/", "/airflow_joblogs/http.py", "/airflow_joblogs/loop_shared"),
    ),
    (
        "the event loop: sleeps, timers, socket I/O",
        ("/asyncio/", "/selectors", "/socket.py", "/ssl.py", "<built-in method select", "epoll"),
    ),
]

CHILD = """import asyncio, gc, os, tempfile
import httpx

KIND, COUNT, INTERVAL, INTERVALS, PROFILE = {kind!r}, {count}, {interval}, {intervals}, {profile}
TRIGGER, KWARGS, URL = {trigger!r}, {kwargs!r}, {url!r}
LATE = 0.1  # a check that starts more than this after it was due is late

# The trigger runner's logging, as a triggerer sets it up (the task SDK's JSON channel: structlog with Airflow's
# processors, JSON lines written unbuffered), into a file in place of the socket to the supervisor.
LOGFILE = os.path.join(tempfile.mkdtemp(prefix="joblogs-bench-"), "triggers.log")
from airflow.sdk.log import configure_logging, reset_logging
reset_logging()
configure_logging(json_output=True, output=os.fdopen(os.open(LOGFILE, os.O_WRONLY | os.O_CREAT), "wb", buffering=0),
                  sending_to_supervisor=True, log_level="INFO")

def rss_kib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

def served():
    return httpx.get(URL + "/_emulator/faults", verify=False).json()["served"]

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

# The garbage collector's passes, by generation: their count and the CPU they took (a full pass stops the loop).
gc_passes, gc_seconds, _gc_began = [0, 0, 0], [0.0, 0.0, 0.0], [0.0]
def _gc_watch(phase, info):
    if phase == "start":
        _gc_began[0] = time.thread_time()
    else:
        gc_passes[info["generation"]] += 1
        gc_seconds[info["generation"]] += time.thread_time() - _gc_began[0]
gc.callbacks.append(_gc_watch)

# Every sleep of a second or more is a trigger waiting for its next check: record when it was due and when it woke.
wakeups = []  # (due, late)
_sleep = asyncio.sleep
async def timed_sleep(delay, result=None):
    if delay < 1.0:
        return await _sleep(delay, result)
    due = time.perf_counter() + delay
    await _sleep(delay, result)
    wakeups.append((due, time.perf_counter() - due))
    return result
asyncio.sleep = timed_sleep

def make_trigger(interval):
    if KIND == "floor":
        return None
    from airflow_joblogs._imports import import_string
    cls = import_string(TRIGGER)
    if KIND == "ours":
        if os.environ.get("JOBLOGS_BENCH_LOG_EVERY"):  # to compare: log every n-th waiting check
            cls.log_every_checks = int(os.environ["JOBLOGS_BENCH_LOG_EVERY"])
        return cls(**KWARGS, poll_interval=interval)
    if KIND == "http":
        return cls(**KWARGS, poke_interval=interval)
    return cls(**KWARGS, poll_interval=interval, end_time=time.time() + 86400)

async def consume(trigger, events):
    async for event in trigger.run():
        events.append(event.payload)

# -- the physical floor: one prepared request over a few kept-alive sockets, the JSON answer decoded --------------
class Floor:
    def __init__(self, raw, host, port):
        self.raw, self.host, self.port = raw, host, port
        self.free = asyncio.Queue()
        self.made = 0

    async def conn(self):
        if self.free.empty() and self.made < 8:
            self.made += 1
            return await asyncio.open_connection(self.host, self.port)
        return await self.free.get()

    async def check(self):
        reader, writer = await self.conn()
        writer.write(self.raw)
        head = await reader.readuntil(b"\\r\\n\\r\\n")
        length = 0
        for line in head.split(b"\\r\\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        body = json.loads(await reader.readexactly(length))
        self.free.put_nowait((reader, writer))
        return body

async def floor_trigger(floor, events):
    import random
    await asyncio.sleep(random.uniform(0, INTERVAL))
    while True:
        await floor.check()
        await asyncio.sleep(INTERVAL)

async def capture_request():
    # the exact request our hook sends for a status check, with its authentication, as bytes
    from airflow_joblogs._imports import import_string
    trigger = import_string(TRIGGER)(**KWARGS, poll_interval=1)
    hook = await trigger.amake_hook()
    api = await hook.aget_api()
    seen = []
    async def on_request(request):
        seen.append(request)
    api.aclient.event_hooks["request"] = [on_request]
    await hook.ajob_status_from_ref(trigger.job_ref)
    await hook.aclose()
    r = seen[0]
    lines = [f"{{r.method}} {{r.url.raw_path.decode()}} HTTP/1.1"] + [f"{{k}}: {{v}}" for k, v in r.headers.items()]
    return ("\\r\\n".join(lines) + "\\r\\n\\r\\n").encode() + r.content, r.url.host, r.url.port

async def main():
    events = []
    if KIND == "floor":
        raw, host, port = await capture_request()
        floor = Floor(raw, host, port)
        await floor.check()
    else:
        warm = asyncio.create_task(consume(make_trigger(0.01 if KIND == "ours" else 1.0), events))  # imports
        await _sleep(3)
        warm.cancel()
        await asyncio.gather(warm, return_exceptions=True)
        events.clear()
    gc.collect()
    samples = []  # loop lag, sampled every 10 ms
    stop = asyncio.Event()

    async def watchdog():
        while not stop.is_set():
            start = time.perf_counter()
            await _sleep(0.01)
            samples.append(time.perf_counter() - start - 0.01)

    # the harness's own CPU (the watchdog's wake-ups, the loop idling), measured before any trigger starts and
    # taken off the steady-state CPU
    dog = asyncio.create_task(watchdog())
    idle_start, idle_cpu = time.perf_counter(), cpu()
    await _sleep(3)
    idle_rate = (cpu() - idle_cpu) / (time.perf_counter() - idle_start)
    stop.set()
    await dog
    stop.clear()
    samples.clear()
    before, objects_before = rss_kib(), len(gc.get_objects())
    if KIND == "floor":
        tasks = [asyncio.create_task(floor_trigger(floor, events)) for _ in range(COUNT)]
    else:
        tasks = [asyncio.create_task(consume(make_trigger(INTERVAL), events)) for _ in range(COUNT)]
    await _sleep(INTERVAL + 1)  # every trigger has made its first check
    wakeups.clear()
    dog = asyncio.create_task(watchdog())
    if PROFILE:
        import cProfile
        profiler = cProfile.Profile(time.thread_time)  # CPU time of the loop's thread, not wall-clock time
    steady_start, cpu_start = time.perf_counter(), cpu()
    gc_passes[:], gc_seconds[:] = [0, 0, 0], [0.0, 0.0, 0.0]
    served_start = await asyncio.to_thread(served)
    if PROFILE:
        profiler.enable()
    await _sleep(INTERVAL * INTERVALS)
    if PROFILE:
        profiler.disable()
    served_end = await asyncio.to_thread(served)
    cpu_steady, steady = cpu() - cpu_start, time.perf_counter() - steady_start
    gc_steady = (list(gc_passes), list(gc_seconds))
    after, objects_after = rss_kib(), len(gc.get_objects())
    stop.set()
    await dog
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    due = [late for when, late in wakeups if when < steady_start + INTERVAL * INTERVALS - 1]
    result = {{
        "kind": KIND, "count": COUNT, "interval": INTERVAL, "events": len(events),
        "rss_before_kib": before, "rss_after_kib": after, "kib_per_trigger": (after - before) / COUNT,
        "checks": served_end - served_start, "steady_seconds": steady,
        "cpu_steady": cpu_steady - idle_rate * steady, "cpu_steady_all": cpu_steady, "idle_cpu_rate": idle_rate,
        "expected_checks": COUNT * steady / INTERVAL,
        "worst_lag": max(samples), "samples": len(samples),
        "checks_due": len(due), "checks_late": sum(1 for late in due if late > LATE),
        "worst_check_delay": max(due, default=0.0),
        "log_bytes": os.path.getsize(LOGFILE), "gc_frozen": gc.get_freeze_count(),
        "gc_passes": gc_steady[0], "gc_seconds": gc_steady[1], "objects_before": objects_before,
        "objects_per_trigger": (objects_after - objects_before) / COUNT,
    }}
    if PROFILE:
        import pstats
        stats = pstats.Stats(profiler)
        result["profile"] = [
            [file, line, name, calls, tottime, cumtime]
            for (file, line, name), (_, calls, tottime, cumtime, _) in stats.stats.items()
        ]
    import shutil
    if not os.environ.get("JOBLOGS_BENCH_KEEP_LOG"):
        shutil.rmtree(os.path.dirname(LOGFILE), ignore_errors=True)
    print(json.dumps(result))

asyncio.run(main())
"""


def breakdown(profile: list[list[Any]]) -> list[tuple[str, float]]:
    """Self time per component, in seconds, largest first; the rest under 'other'."""
    totals: dict[str, float] = {}
    for file, _line, name, _calls, tottime, _cumtime in profile:
        where = f"{file}:{name}"
        label = next(
            (label for label, needles in COMPONENTS if any(n in where for n in needles)),
            "other (builtins and the rest)",
        )
        totals[label] = totals.get(label, 0.0) + tottime
    return sorted(totals.items(), key=lambda kv: -kv[1])


def measure(
    kind: str, count: int, interval: float, intervals: int, *, service: str = "blueking", profile: bool = False
) -> dict[str, Any]:
    def child(trigger: str, kwargs: Any, url: str) -> str:
        return CHILD.format(
            kind=kind,
            count=count,
            interval=interval,
            intervals=intervals,
            profile=profile,
            trigger=trigger,
            kwargs=kwargs,
            url=url,
        )

    if kind in PEERS:
        trigger, kwargs = PEERS[kind]
        with tempfile.TemporaryDirectory() as folder:
            from airflow_joblogs.emulators.base import self_signed_certificate

            tls = self_signed_certificate(folder) if kind == "dbt" else None
            with emulator_process("standin", tls=tls) as server:
                env = {"SSL_CERT_FILE": tls[0]} if tls else {}
                return run_child(child(trigger, kwargs, server.url), server.connections, env=env)
    trigger, kwargs = TRIGGERS[service]
    with emulator_process(service, speed=1e-9) as emulator:  # jobs that stay running
        return run_child(child(trigger, kwargs, emulator.url), emulator.connections)


def _cpu_ms(r: dict[str, Any]) -> float:
    return r["cpu_steady"] / max(1, r["checks"]) * 1000


def run(
    *,
    smoke: bool = False,
    counts: tuple[int, ...] = COUNTS,
    interval: float = SCALE_INTERVAL,
    intervals: int = 2,
    profile: bool = True,
    peers: bool = True,
) -> list[Row]:
    if smoke:
        counts, interval, intervals = (20,), 2.0, 1
    service_interval = 2.0 if smoke else SERVICE_INTERVAL
    service_count = 20 if smoke else 1000
    rows: list[Row] = []
    for service in TRIGGERS:
        if profile:
            r = measure("ours", service_count, service_interval, 2, service=service, profile=True)
            parts = breakdown(r.pop("profile"))
            total = sum(s for _, s in parts) or 1.0
            for label, seconds in parts:
                rows.append(
                    Row(
                        "triggerer",
                        f"{service}: profile of a check: {label}",
                        round(100 * seconds / total, 1),
                        " %",
                        detail=f"{seconds / max(1, r['checks']) * 1e6:.0f} us a check under the profiler "
                        f"({r['checks']:,} checks)",
                        extra={"service": service, "component": label},
                    )
                )
        r = measure("ours", service_count, service_interval, 2, service=service)
        cpu_ms = _cpu_ms(r)
        rows.append(
            Row(
                "triggerer",
                f"{service}: {service_count:,} triggers every {service_interval:g} s: CPU per check",
                round(cpu_ms, 3),
                " ms",
                f"<= {TARGET_CPU_MS:g} ms",
                cpu_ms <= TARGET_CPU_MS,
                f"{r['checks']:,} checks, {r['cpu_steady']:.2f} s CPU in {r['steady_seconds']:.0f} s; log "
                f"{r['log_bytes']:,} bytes; worst lag {r['worst_lag'] * 1000:.0f} ms",
                {"result": r},
            )
        )
    kinds = ["ours", *(["http", "dbt", "floor"] if peers else [])]
    scale: dict[tuple[str, int], dict[str, Any]] = {}
    for count in counts:
        for kind in kinds:
            r = measure(kind, count, interval, intervals)
            scale[kind, count] = r
            on_time = r["checks_due"] - r["checks_late"]
            mine = kind == "ours"
            what = f"scale: {LABELS[kind]}, {count:,} triggers every {interval:g} s"
            kb = r["kib_per_trigger"] * 1.024
            lag = r["worst_lag"] * 1000
            rows += [
                Row(
                    "triggerer",
                    f"{what}: CPU per check",
                    round(_cpu_ms(r), 3) if r["checks"] else "none answered",
                    " ms" if r["checks"] else "",
                    detail=f"{r['checks']:,} checks answered of {r['expected_checks']:,.0f} due in "
                    f"{r['steady_seconds']:.0f} s, {r['cpu_steady']:.1f} s CPU",
                    extra={"kind": kind, "count": count, "result": r},
                ),
                Row(
                    "triggerer",
                    f"{what}: memory per trigger",
                    round(kb, 1),
                    " KB",
                    f"<= {TARGET_KB:g} KB" if mine else "",
                    kb <= TARGET_KB if mine else None,
                    f"RSS {r['rss_before_kib'] / 1024:.0f} -> {r['rss_after_kib'] / 1024:.0f} MiB",
                ),
                Row(
                    "triggerer",
                    f"{what}: worst loop lag",
                    round(lag, 1),
                    " ms",
                    f"< {TARGET_LAG_MS:g} ms" if mine else "",
                    lag < TARGET_LAG_MS if mine else None,
                    f"{r['samples']:,} watchdog samples",
                ),
                Row(
                    "triggerer",
                    f"{what}: checks on time",
                    f"{on_time:,} / {r['checks_due']:,}",
                    "",
                    "all" if mine else "",
                    (r["checks_late"] == 0 and r["checks_due"] > 0) if mine else None,
                    f"latest start {r['worst_check_delay'] * 1000:.0f} ms after due; {r['checks']:,} answered",
                ),
            ]
    for count in counts:
        ours = scale.get(("ours", count))
        for kind in kinds[1:]:
            peer = scale.get((kind, count))
            if not ours or not peer:
                continue
            cpu = (
                f"{_cpu_ms(peer) / _cpu_ms(ours):.2f}x" if peer["checks"] and ours["checks"] else "n/a (none answered)"
            )
            rows.append(
                Row(
                    "triggerer",
                    f"ratio {LABELS[kind]} / ours, {count:,} triggers: CPU per check, memory per trigger, worst lag",
                    f"{cpu}, "
                    f"{peer['kib_per_trigger'] / max(0.001, ours['kib_per_trigger']):.2f}x, "
                    f"{peer['worst_lag'] / ours['worst_lag']:.2f}x",
                    "",
                )
            )
    return rows
