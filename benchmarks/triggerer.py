"""The triggerer at scale: a thousand deferred sensors' triggers of one service in one event loop.

For each service, 1,000 triggers poll jobs that stay running (the emulator's clock nearly stopped) every 5 s
in one asyncio loop of a fresh interpreter, as a triggerer runs them. Measured:

* memory per trigger: resident memory with all of them polling, minus before they started, divided by 1,000;
* CPU per poll: the process's CPU time over the steady-state window (60 s, from the end of every trigger's
  first interval), divided by the checks the emulator answered in that window;
* event-loop lag: a watchdog sleeps 10 ms at a time and records how late it wakes; the worst lag is reported,
  and the worst lag of the samples during which no garbage collection ran. Garbage collections are timed
  (``gc.callbacks``) and a full collection of the heap before any trigger started is timed too: most of a full
  collection is Airflow's own objects, which every triggerer process holds.

The first trigger freezes the start-up heap (``[joblogs] gc_freeze`` turned on, as for a busy triggerer); one more BlueKing run with
it off shows the lag without.
"""

from __future__ import annotations

from typing import Any

from benchmarks._support import Row, emulator_process, run_child

TARGET_KB = 50.0
TARGET_LAG_MS = 100.0
POLL_INTERVAL = 5.0

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

CHILD = """
import asyncio, gc, os
import httpx
from airflow_joblogs._imports import import_string

COUNT, SECONDS, INTERVAL = {count}, {seconds}, {interval}
Trigger = import_string({trigger!r})
KWARGS = {kwargs!r}

def rss_kib():
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

def served():
    return httpx.get("{url}/_emulator/faults").json()["served"]

collections = []  # (start, seconds, generation)
_started = [0.0]

def on_gc(phase, info):
    if phase == "start":
        _started[0] = time.perf_counter()
    else:
        collections.append((_started[0], time.perf_counter() - _started[0], info["generation"]))

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

async def consume(trigger, events):
    async for event in trigger.run():
        events.append(event.payload)

async def main():
    loop = asyncio.get_running_loop()
    events = []
    warm = asyncio.create_task(consume(Trigger(**KWARGS, poll_interval=0.01), events))  # imports, first client
    await asyncio.sleep(2)
    warm.cancel()
    await asyncio.gather(warm, return_exceptions=True)
    gc.collect()
    timed = time.perf_counter(); gc.collect(); baseline_full = time.perf_counter() - timed
    baseline_objects = len(gc.get_objects())
    frozen = gc.get_freeze_count()
    gc.callbacks.append(on_gc)
    samples = []  # (start, lag)
    stop = asyncio.Event()

    async def watchdog():
        while not stop.is_set():
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            samples.append((start, time.perf_counter() - start - 0.01))

    dog = asyncio.create_task(watchdog())
    before = rss_kib()
    started = time.perf_counter()
    tasks = [asyncio.create_task(consume(Trigger(**KWARGS, poll_interval=INTERVAL), events)) for _ in range(COUNT)]
    await asyncio.sleep(INTERVAL + 1)  # every trigger has made its first check
    steady_start, cpu_start = time.perf_counter(), cpu()
    served_start = await asyncio.to_thread(served)
    await asyncio.sleep(SECONDS)
    served_end = await asyncio.to_thread(served)
    cpu_steady, steady = cpu() - cpu_start, time.perf_counter() - steady_start
    after = rss_kib()
    stop.set()
    await dog
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    gc.callbacks.remove(on_gc)
    busy = [(s, s + d) for s, d, _ in collections]
    quiet = [lag for start, lag in samples if not any(b < start + 0.01 + lag and e > start for b, e in busy)]
    full = [d for _, d, g in collections if g == 2]
    print(json.dumps({{
        "count": COUNT, "events": len(events), "rss_before_kib": before, "rss_after_kib": after,
        "kib_per_trigger": (after - before) / COUNT,
        "polls": served_end - served_start, "steady_seconds": steady, "cpu_steady": cpu_steady,
        "worst_lag": max(lag for _, lag in samples), "worst_quiet_lag": max(quiet) if quiet else None,
        "samples": len(samples), "quiet_samples": len(quiet),
        "collections": len(collections), "full_collections": len(full),
        "longest_collection": max((d for _, d, _ in collections), default=0.0),
        "gc_seconds": sum(d for _, d, _ in collections),
        "baseline_full_collection": baseline_full, "baseline_objects": baseline_objects, "frozen": frozen,
    }}))

asyncio.run(main())
"""


def run(*, smoke: bool = False, count: int = 1000, seconds: float = 60.0) -> list[Row]:
    count, seconds = (20, 2.0) if smoke else (count, seconds)
    interval = 1.0 if smoke else POLL_INTERVAL
    rows = []
    # every service with [joblogs] gc_freeze on (recommended for busy triggerers), then one without it, to compare
    cases = [(service, True) for service in TRIGGERS] + [("blueking", False)]
    for service, gc_freeze in cases:
        trigger, kwargs = TRIGGERS[service]
        with emulator_process(service, speed=1e-9) as emulator:  # jobs that stay running
            r: dict[str, Any] = run_child(
                CHILD.format(
                    count=count, seconds=seconds, interval=interval, trigger=trigger, kwargs=kwargs, url=emulator.url
                ),
                emulator.connections,
                env={"AIRFLOW__JOBLOGS__GC_FREEZE": str(gc_freeze)},
            )
        assert r["events"] == 0, f"{service}: a trigger fired or failed: the jobs should keep running"
        lag_detail = (
            f"longest garbage collection {r['longest_collection'] * 1000:.0f} ms ({r['full_collections']} full); "
            f"{r['frozen']:,} start-up objects frozen; a full collection before any trigger started: "
            f"{r['baseline_full_collection'] * 1000:.0f} ms ({r['baseline_objects']:,} objects)"
        )
        if not gc_freeze:
            rows.append(
                Row(
                    "triggerer",
                    f"{service}: {count:,} triggers polling every {interval:g} s, [joblogs] gc_freeze = False: "
                    "worst event-loop lag, all causes",
                    round(r["worst_lag"] * 1000, 1),
                    " ms",
                    detail=lag_detail,
                    extra={"result": r},
                )
            )
            continue
        polls = max(1, r["polls"])
        kb = r["kib_per_trigger"] * 1.024
        lag_ms = r["worst_lag"] * 1000
        quiet_ms = (r["worst_quiet_lag"] or 0) * 1000
        what = f"{service}: {count:,} triggers polling every {interval:g} s"
        rows += [
            Row(
                "triggerer",
                f"{what}: memory per trigger",
                round(kb, 1),
                " KB",
                f"<= {TARGET_KB:.0f} KB",
                kb <= TARGET_KB,
                f"RSS {r['rss_before_kib'] / 1024:.0f} -> {r['rss_after_kib'] / 1024:.0f} MiB",
                {"result": r},
            ),
            Row(
                "triggerer",
                f"{what}: CPU per poll",
                round(r["cpu_steady"] / polls * 1000, 2),
                " ms",
                detail=f"{r['polls']:,} polls in {r['steady_seconds']:.1f} s, {r['cpu_steady']:.1f} s CPU "
                f"({r['gc_seconds']:.1f} s of it in {r['collections']} garbage collections)",
            ),
            Row(
                "triggerer",
                f"{what}: worst event-loop lag outside garbage collection",
                round(quiet_ms, 1),
                " ms",
                f"< {TARGET_LAG_MS:.0f} ms",
                quiet_ms < TARGET_LAG_MS,
                f"{r['quiet_samples']:,} of {r['samples']:,} watchdog samples had no collection",
            ),
            Row(
                "triggerer",
                f"{what}: worst event-loop lag, all causes",
                round(lag_ms, 1),
                " ms",
                f"< {TARGET_LAG_MS:.0f} ms",
                lag_ms < TARGET_LAG_MS,
                lag_detail,
            ),
        ]
    return rows
