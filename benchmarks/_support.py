"""Helpers for the benchmarks: an emulator in its own process, a child's peak memory, a result table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


@contextmanager
def emulator_process(factory: str, **knobs: Any) -> Iterator[dict[str, Any]]:
    """Serve ``factory(**knobs)`` from a separate process (so its memory is not counted); yields its connections."""
    code = (
        "import json, sys, threading\n"
        "from airflow_joblogs._imports import import_string\n"
        "from airflow_joblogs.emulators.base import EmulatorServer\n"
        f"server = EmulatorServer(import_string({factory!r})(**json.loads({json.dumps(json.dumps(knobs))}))).start()\n"
        "print(json.dumps(server.connections()), flush=True)\n"
        "sys.stdin.read()\n"
        "server.stop()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            raise RuntimeError("the emulator process did not start")
        yield json.loads(line)
    finally:
        if proc.stdin:
            proc.stdin.close()
        proc.wait(timeout=30)


CHILD_PROLOGUE = "import json, resource, time\n"


def run_child(code: str, connections: dict[str, Any], timeout: float = 1800) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter with the connections set; it must print one JSON line last.

    The child measures itself (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), so each figure is that
    child's own peak, not the emulator's or another run's.
    """
    env = dict(os.environ)
    env.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="joblogs-bench-home-"))
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    for conn_id, conn in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    result = subprocess.run(
        [sys.executable, "-c", CHILD_PROLOGUE + code], capture_output=True, env=env, text=True, timeout=timeout
    )
    if result.returncode:
        raise RuntimeError(f"benchmark child failed ({result.returncode}): {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def report(name: str, rows: list[dict[str, Any]]) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(rows, indent=2))
    keys = list(rows[0])
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in keys}
    print("  ".join(k.ljust(widths[k]) for k in keys))
    for row in rows:
        print("  ".join(str(row[k]).ljust(widths[k]) for k in keys))
    print(f"(written to {RESULTS / (name + '.json')})")
