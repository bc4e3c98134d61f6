"""BlueKing JOB: fetching many hosts' logs with bounded concurrency versus one batch at a time.

Every emulator answer is 20 ms late (``latency``), as a real gateway's are. The hook's ``concurrency`` option
asks for up to that many host batches at once (each about ``batch_bytes / concurrency``, so the logs held in
memory stay the same); ``concurrency=1`` asks for one at a time. The same child alternates the two; the best of
the rounds counts. A second child per setting measures its peak memory on the largest log.
"""

from __future__ import annotations

from typing import Any

from benchmarks._support import Row, emulator_process, run_child

LATENCY = 0.02

FETCH = """
import httpx
from airflow_joblogs.hooks.blueking import BlueKingJobHook
hook = BlueKingJobHook("bk_job_default")
while not hook.get_job_status({job}, bk_biz_id=2).state.is_terminal:
    time.sleep(0.05)

def served():
    return httpx.get("{url}/_emulator/faults").json()["served"]

def fetch(concurrency):
    n_bytes = hosts = 0
    for chunk in hook.iter_host_logs({job}, bk_biz_id=2, concurrency=concurrency):
        n_bytes += len(chunk.text)
        hosts += 1
    return n_bytes, hosts

requests = {{}}
for concurrency in (1, {many}):
    before = served()
    size = fetch(concurrency)
    requests[concurrency] = served() - before
times = {{1: [], {many}: []}}
for _ in range({rounds}):
    for concurrency in (1, {many}):
        started = time.perf_counter()
        assert fetch(concurrency) == size
        times[concurrency].append(time.perf_counter() - started)
print(json.dumps({{"one": min(times[1]), "many": min(times[{many}]), "size": size,
                   "requests_one": requests[1], "requests_many": requests[{many}]}}))
"""

PEAK = """
from airflow_joblogs.hooks.blueking import BlueKingJobHook
hook = BlueKingJobHook("bk_job_default")
while not hook.get_job_status({job}, bk_biz_id=2).state.is_terminal:
    time.sleep(0.05)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
n_bytes = 0
for chunk in hook.iter_host_logs({job}, bk_biz_id=2, concurrency={concurrency}):
    n_bytes += len(chunk.text)
print(json.dumps({{"before_kib": before, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                   "bytes": n_bytes}}))
"""


def run(*, smoke: bool = False, many: int = 4, rounds: int = 3) -> list[Row]:
    cases: list[tuple[str, int, dict[str, Any], bool]] = [
        # (what, job, emulator knobs, measure peak memory too)
        ("the 1,000-host job (345 B per host)", 1004, {}, False),
        (
            f"{200 if smoke else 5000:,} hosts x 1 KiB",
            1005,
            {"large_hosts": 200 if smoke else 5000, "large_log_bytes": (200 if smoke else 5000) << 10},
            False,
        ),
        (
            f"{100 if smoke else 1000:,} hosts x 64 KiB",
            1005,
            {"large_hosts": 100 if smoke else 1000, "large_log_bytes": (100 if smoke else 1000) << 16},
            True,
        ),
    ]
    rounds = 1 if smoke else rounds
    rows = []
    for what, job, knobs, peak in cases:
        with emulator_process("blueking", speed=1000.0, **knobs) as emulator:
            emulator.faults(latency=LATENCY)
            r = run_child(FETCH.format(job=job, url=emulator.url, many=many, rounds=rounds), emulator.connections)
            peaks = {}
            if peak:
                for concurrency in (1, many):
                    peaks[concurrency] = run_child(PEAK.format(job=job, concurrency=concurrency), emulator.connections)
        speedup = r["one"] / r["many"]
        detail = (
            f"one at a time {r['one']:.2f} s ({r['requests_one']} requests), concurrency={many} {r['many']:.2f} s "
            f"({r['requests_many']} requests); {r['size'][1]:,} host logs, {r['size'][0] / 2**20:.1f} MiB; "
            f"best of {rounds}"
        )
        rows.append(
            Row(
                "concurrency",
                f"blueking: {what}, {int(LATENCY * 1000)} ms per answer: speed-up concurrency={many} / 1",
                round(speedup, 2),
                "x",
                detail=detail,
                extra={"result": r},
            )
        )
        if peaks:
            growth = (peaks[many]["peak_kib"] - peaks[1]["peak_kib"]) / 1024
            rows.append(
                Row(
                    "concurrency",
                    f"blueking: {what}: peak memory, concurrency={many} minus one at a time",
                    round(growth, 1),
                    " MiB",
                    detail=f"peak RSS {peaks[1]['peak_kib'] / 1024:.0f} MiB one at a time, "
                    f"{peaks[many]['peak_kib'] / 1024:.0f} MiB with concurrency={many} "
                    f"(before fetching: {peaks[1]['before_kib'] / 1024:.0f} MiB)",
                    extra={"peaks": peaks},
                )
            )
    return rows
