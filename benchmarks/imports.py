"""Import cost of every operator and sensor module on top of ``import airflow.sdk``.

Each module is imported in fresh interpreters that have already imported ``airflow.sdk`` (the DAG file
processor's situation), with compiled bytecode cached as in any installation; the best of several fresh
interpreters counts (the least disturbed by other work on the machine), the median is shown beside it. Also shows what ``import airflow.sdk`` itself costs, for scale.
"""

from __future__ import annotations

import statistics

from benchmarks._support import Row, run_child

TARGET_MS = 30.0
MODULES = [
    f"airflow_joblogs.{kind}.{service}"
    for service in ("blueking", "codearts", "qingcloud", "mgn")
    for kind in ("operators", "sensors")
]

ONE = """
started = time.perf_counter()
import airflow.sdk
sdk = time.perf_counter() - started
started = time.perf_counter()
import {module}
own = time.perf_counter() - started
print(json.dumps({{"sdk": sdk, "module": own, "botocore": "botocore" in sys.modules}}))
"""


def run(*, smoke: bool = False, repeats: int = 7) -> list[Row]:
    repeats = 2 if smoke else repeats
    rows = []
    sdk_times = []
    for module in MODULES:
        run_child(ONE.format(module=module))  # compiles and caches the bytecode
        results = [run_child(ONE.format(module=module)) for _ in range(repeats)]
        ms = min(r["module"] for r in results) * 1000
        sdk_times += [r["sdk"] for r in results]
        rows.append(
            Row(
                "import",
                f"import {module}",
                round(ms, 1),
                " ms",
                f"<= {TARGET_MS:.0f} ms",
                ms <= TARGET_MS,
                f"best of {repeats} fresh interpreters; median {statistics.median(r['module'] for r in results) * 1000:.1f} ms"
                + ("; loads botocore" if any(r["botocore"] for r in results) else ""),
            )
        )
    rows.append(
        Row(
            "import",
            "import airflow.sdk (for scale)",
            round(statistics.median(sdk_times) * 1000, 1),
            " ms",
            detail=f"median of {len(sdk_times)} fresh interpreters",
        )
    )
    return rows
