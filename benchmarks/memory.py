"""Archive memory: peak resident memory while archiving 1 MB, 100 MB and 1 GB logs, to a file and to S3.

Each archive runs the CodeArts Build log operator in a fresh child (the build log paged in pages of 1,000 lines)
and reports that child's peak RSS (``ru_maxrss``); the emulator and moto's S3 server run in processes of their
own. The figure per destination is the spread of the three peaks (largest minus smallest).
"""

from __future__ import annotations

from benchmarks._support import Row, emulator_process, run_child, s3_process

TARGET_MB = 20.0

ARCHIVE = """
from airflow_joblogs.emulators.codearts import LARGE_JOB
from airflow_joblogs.hooks.codearts import CodeArtsBuildHook
from airflow_joblogs.operators.codearts import CodeArtsBuildLogOperator
CodeArtsBuildHook().get_real_time_log(LARGE_JOB, 3, size=1)  # imports done, the emulator's log built
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
started = time.perf_counter()
manifest = CodeArtsBuildLogOperator(task_id="a", job_id=LARGE_JOB, build_no=3, destination={dest!r}).execute({{}})
print(json.dumps({{"seconds": time.perf_counter() - started, "bytes": manifest["bytes"], "uri": manifest["uri"],
                   "before_kib": before, "peak_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}}))
"""


def run(*, smoke: bool = False, sizes_mb: tuple[int, ...] = (1, 100, 1024), s3: bool = True) -> list[Row]:
    sizes_mb = (1, 4) if smoke else sizes_mb
    destinations = ["file", *(["s3"] if s3 and not smoke else [])]
    rows = []
    for where in destinations:
        peaks = {}
        for size in sizes_mb:
            with emulator_process("codearts", large_log_bytes=size << 20) as emulator:
                if where == "file":
                    import tempfile

                    with tempfile.TemporaryDirectory() as folder:
                        r = run_child(ARCHIVE.format(dest=folder + "/"), emulator.connections)
                else:
                    with s3_process() as bucket:
                        r = run_child(
                            ARCHIVE.format(dest=f"{bucket.destination}/bench/"),
                            {**emulator.connections, "aws_s3": bucket.connection},
                        )
            peaks[size] = r
        spread = (max(r["peak_kib"] for r in peaks.values()) - min(r["peak_kib"] for r in peaks.values())) / 1024
        detail = "; ".join(
            f"{size:,} MB: peak {r['peak_kib'] / 1024:.0f} MiB (before {r['before_kib'] / 1024:.0f}) in "
            f"{r['seconds']:.1f} s"
            for size, r in peaks.items()
        )
        sizes = ", ".join(f"{s:,}" for s in sizes_mb)
        rows.append(
            Row(
                "memory",
                f"archive {sizes} MB logs to {'a file' if where == 'file' else 'S3 (moto)'}: spread of peak RSS",
                round(spread * 1.048576, 1),
                " MB",
                f"<= {TARGET_MB:.0f} MB",
                spread * 1.048576 <= TARGET_MB,
                detail,
                {"peaks": peaks},
            )
        )
    return rows
