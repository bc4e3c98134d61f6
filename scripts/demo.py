"""Run every example DAG against the bundled emulators and print what was archived where.

    make demo                       # sets everything up, then runs this
    python scripts/demo.py --verbose --poke

Archives land in ``demo-output/archive/`` (a local folder); the Airflow home (sqlite) in
``demo-output/airflow-home/``. Everything this starts, it stops.
"""

from __future__ import annotations

import argparse
import json
import os
import runpy
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "demo-output"

#: example DAG file -> the tasks that are meant to fail (they show what a failed remote job looks like)
DEMO_DAGS: dict[str, set[str]] = {
    "blueking_deploy_gate.py": {"wait_for_failed_deploy"},
    "qingcloud_cluster_jobs.py": {"wait_for_resize"},
    "codearts_build_archive.py": set(),
    "mgn_cutover_logs.py": {"wait_for_failed_cutover"},
}


def prepare_environment(verbose: bool, deferrable: bool) -> None:
    home = OUT / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO" if verbose else "WARNING",
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": str(deferrable),
            "JOBLOGS_ARCHIVE_ROOT": (OUT / "archive").as_uri(),
        }
    )
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=not verbose)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--verbose", action="store_true", help="show Airflow's task logs (streamed remote log lines included)"
    )
    parser.add_argument("--poke", action="store_true", help="wait in poke mode instead of deferring to triggers")
    parser.add_argument("--speed", type=float, default=2.0, help="emulator job clock speed")
    args = parser.parse_args()
    started = time.monotonic()
    prepare_environment(args.verbose, deferrable=not args.poke)

    from airflow_joblogs.emulators.base import EmulatorServer
    from airflow_joblogs.emulators.registry import EMULATORS, make_app

    servers = [EmulatorServer(make_app(name, speed=args.speed)).start() for name in EMULATORS]
    rows: list[tuple[str, str, str, str, str, str, str]] = []
    problems: list[str] = []
    try:
        for server in servers:
            print(f"emulator {server.app.name:10s} {server.url}")
            for conn_id, conn in server.connections().items():
                os.environ[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
        for dag_file, expected_failures in DEMO_DAGS.items():
            dag = runpy.run_path(str(ROOT / "example_dags" / dag_file))["dag"]
            print(f"\n>>> {dag.dag_id}: running ...", flush=True)
            dag_run = dag.test()
            for ti in sorted(dag_run.get_task_instances(), key=lambda t: t.task_id):
                expected = "failed" if ti.task_id in expected_failures else "success"
                if ti.state != expected:
                    problems.append(f"{dag.dag_id}.{ti.task_id}: {ti.state} (expected {expected})")
                manifest = ti.xcom_pull(task_ids=ti.task_id) if ti.state == "success" else None
                if isinstance(manifest, dict) and "sha256" in manifest:
                    job = ",".join(f"{v}" for v in manifest["job"].values())
                    where = manifest["uri"] or "XCom"
                    rows.append(
                        (
                            manifest["service"],
                            job,
                            ti.task_id,
                            str(ti.state),
                            str(manifest["lines"]),
                            str(manifest["bytes"]),
                            where,
                        )
                    )
                else:
                    rows.append(
                        ("", "", ti.task_id, f"{ti.state}{' (expected)' if ti.state == expected else ''}", "", "", "")
                    )
    finally:
        for server in servers:
            server.stop()

    header = ("service", "job", "task", "outcome", "lines", "bytes", "archived to")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print(f"\narchives: {OUT / 'archive'}\ndemo wall time: {time.monotonic() - started:.1f}s")
    if problems:
        print("\nUNEXPECTED OUTCOMES:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
