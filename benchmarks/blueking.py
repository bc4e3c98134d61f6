"""BlueKing JOB figures: fetching the 1,000-host job's logs, and peak memory archiving a large job log.

    python -m benchmarks.blueking [--large-mb 50 200] [--per-host-mb 5]

Each figure comes from one run on this machine; the emulator runs in its own process.
"""

from __future__ import annotations

import argparse
import tempfile

from benchmarks._support import emulator_process, report, run_child

FETCH_1000 = """
from airflow_joblogs.hooks.blueking import BlueKingJobHook
hook = BlueKingJobHook({conn!r})
while not hook.get_job_status(1004, bk_biz_id=2).state.is_terminal:
    time.sleep(0.05)
started = time.perf_counter()
chunks = n_bytes = 0
for chunk in hook.iter_host_logs(1004, bk_biz_id=2):
    chunks += 1
    n_bytes += len(chunk.text)
print(json.dumps({{"seconds": time.perf_counter() - started, "hosts": chunks, "log_bytes": n_bytes}}))
"""

ARCHIVE_LARGE = """
from airflow_joblogs.hooks.blueking import BlueKingJobHook
from airflow_joblogs.operators.blueking import BlueKingJobLogOperator
hook = BlueKingJobHook("bk_job_default")
while not hook.get_job_status(1005, bk_biz_id=2).state.is_terminal:
    time.sleep(0.05)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
manifest = BlueKingJobLogOperator(task_id="a", job_instance_id=1005, bk_biz_id=2, destination={dest!r}).execute({{}})
print(json.dumps({{"seconds": time.perf_counter() - started, "bytes": manifest["bytes"],
                   "rss_before_kib": before, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--large-mb", type=int, nargs="+", default=[50, 200], help="total log sizes to archive")
    parser.add_argument(
        "--per-host-mb", type=int, default=5, help="log size per host (BlueKing's agent caps a host at about 5 MB)"
    )
    args = parser.parse_args()
    rows = []
    with emulator_process("airflow_joblogs.emulators.blueking.blueking_app", speed=1000.0) as conns:
        for conn_id in ("bk_job_default", "bk_job_esb"):
            r = run_child(FETCH_1000.format(conn=conn_id), conns)
            rows.append(
                {
                    "measure": f"fetch all logs, 1,000-host job ({conn_id})",
                    "value": f"{r['seconds']:.2f} s",
                    "detail": f"{r['hosts']} host logs, {r['log_bytes']} bytes",
                }
            )
    for size_mb in args.large_mb:
        hosts = max(1, size_mb // args.per_host_mb)
        with (
            emulator_process(
                "airflow_joblogs.emulators.blueking.blueking_app",
                speed=1000.0,
                large_log_bytes=size_mb << 20,
                large_hosts=hosts,
            ) as conns,
            tempfile.TemporaryDirectory() as folder,
        ):
            r = run_child(ARCHIVE_LARGE.format(dest=folder + "/"), conns)
        rows.append(
            {
                "measure": f"archive a {size_mb} MB job log ({hosts} hosts) to a file (gateway v3)",
                "value": f"peak RSS {r['peak_kib'] / 1024:.0f} MiB",
                "detail": f"{r['bytes'] / 2**20:.0f} MiB in {r['seconds']:.1f} s; RSS before archiving {r['rss_before_kib'] / 1024:.0f} MiB",
            }
        )
    report("blueking", rows)


if __name__ == "__main__":
    main()
