"""CodeArts Build figures: paging a large build log through the hook vs a bare httpx loop, and peak memory
archiving it.

    python -m benchmarks.codearts_paging [--mb 50] [--memory-mb 1 50] [--rounds 3]

The emulator runs in its own process; each figure is measured in a fresh child interpreter. Both paging
loops sign every request with the same AK/SK auth and ask for the same pages (``size=1000``, 1000 lines
of about 114 bytes); the bare loop is an ``httpx.Client`` keep-alive loop with no retries, no program
driver and no chunk objects. Rounds alternate; the best time of each is compared.
"""

from __future__ import annotations

import argparse
import tempfile

from benchmarks._support import emulator_process, report, run_child

LARGE_JOB = "c3d4e5f60718293a4b5c6d7e8f90a1b2"
FACTORY = "airflow_joblogs.emulators.codearts.codearts_app"

PAGING = """
import httpx
from airflow_joblogs.auth.huawei import HuaweiAkSkAuth
from airflow_joblogs.hooks.codearts import CodeArtsBuildHook
conn = {conn!r}
job, build_no = {job!r}, 3


def through_hook():
    hook = CodeArtsBuildHook("codearts_build_default")
    n_bytes = pages = 0
    for chunk in hook.iter_build_log(job, build_no):
        n_bytes += len(chunk.text)
        pages += 1
    hook.close()
    return n_bytes, pages


def bare_loop():
    auth = HuaweiAkSkAuth(conn["login"], conn["password"], conn["extra"]["project_id"])
    with httpx.Client(base_url=conn["host"], auth=auth, headers={{"Content-Type": "application/json"}}) as client:
        offset = n_bytes = pages = 0
        while True:
            response = client.get(
                f"/v1/log/{{job}}/{{build_no}}/real-time-log",
                params={{"start_offset": offset, "end_offset": 0, "sort": "AES", "size": 1000}},
            )
            page = response.json()["result"]
            n_bytes += len(page["log"])
            pages += 1
            offset = int(page["end_offset"])
            if not page["has_more"]:
                return n_bytes, pages


bare_loop()  # warm-up: the emulator builds its log, both code paths are imported
times = {{"hook": [], "bare": []}}
sizes = {{}}
for _ in range({rounds}):
    for name, run in (("hook", through_hook), ("bare", bare_loop)):
        started = time.perf_counter()
        sizes[name] = run()
        times[name].append(time.perf_counter() - started)
assert sizes["hook"][0] == sizes["bare"][0], sizes
print(json.dumps({{"hook": min(times["hook"]), "bare": min(times["bare"]), "chars": sizes["bare"][0],
                   "pages": sizes["bare"][1], "all": times}}))
"""

ARCHIVE = """
from airflow_joblogs.hooks.codearts import CodeArtsBuildHook
from airflow_joblogs.operators.codearts import CodeArtsBuildLogOperator
CodeArtsBuildHook().get_real_time_log({job!r}, 3, size=1)  # imports done, the emulator's log built
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
manifest = CodeArtsBuildLogOperator(task_id="a", job_id={job!r}, build_no=3, destination={dest!r}).execute({{}})
print(json.dumps({{"seconds": time.perf_counter() - started, "bytes": manifest["bytes"],
                   "rss_before_kib": before, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=50, help="log size paged through the hook and the bare loop")
    parser.add_argument("--memory-mb", type=int, nargs="+", default=[1, 50], help="log sizes archived to a file")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of each paging loop")
    args = parser.parse_args()
    rows = []
    with emulator_process(FACTORY, large_log_bytes=args.mb << 20) as conns:
        r = run_child(PAGING.format(conn=conns["codearts_build_default"], job=LARGE_JOB, rounds=args.rounds), conns)
    rows.append(
        {
            "measure": f"page a {args.mb} MB build log: hook / bare httpx loop",
            "value": f"{r['hook'] / r['bare']:.3f}x",
            "detail": f"hook {r['hook']:.2f} s, bare {r['bare']:.2f} s (best of {args.rounds}); {r['pages']} pages, "
            f"{r['chars'] / 2**20:.1f} Mi characters",
        }
    )
    for size_mb in args.memory_mb:
        with (
            emulator_process(FACTORY, large_log_bytes=size_mb << 20) as conns,
            tempfile.TemporaryDirectory() as folder,
        ):
            r = run_child(ARCHIVE.format(job=LARGE_JOB, dest=folder + "/"), conns)
        rows.append(
            {
                "measure": f"archive a {size_mb} MB build log to a file",
                "value": f"peak RSS {r['peak_kib'] / 1024:.0f} MiB",
                "detail": f"{r['bytes'] / 2**20:.0f} MiB in {r['seconds']:.1f} s; RSS before archiving "
                f"{r['rss_before_kib'] / 1024:.0f} MiB",
            }
        )
    report("codearts", rows)


if __name__ == "__main__":
    main()
