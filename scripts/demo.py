"""Run every example DAG against the bundled emulators and print what was archived where.

    make demo                       # sets everything up, then runs this
    python scripts/demo.py --verbose --poke
    python scripts/demo.py --output /tmp/joblogs-demo

Archives land in ``demo-output/archive/`` (a local folder; ``--output`` chooses another); the Airflow home
(sqlite) in ``demo-output/airflow-home/``. Each archive is checked against its manifest (size, lines,
SHA-256). Everything this starts, it stops.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import runpy
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = ROOT / "demo-output"

#: example DAG file -> (service, the tasks that are meant to fail: they show what a failed remote job looks like)
DEMO_DAGS: dict[str, tuple[str, set[str]]] = {
    "blueking_deploy_gate.py": ("BlueKing JOB", {"failed_deploy"}),
    "qingcloud_cluster_jobs.py": ("QingCloud", {"wait_for_resize"}),
    "codearts_build_archive.py": ("CodeArts Build", set()),
    "mgn_cutover_logs.py": ("AWS MGN", {"start_failed_cutover"}),
}


def describe_job(job: dict) -> str:
    """The job's identifiers, compactly: ``1001 / biz / 2``, ``app-tg3lbp0a / failed``."""
    return " / ".join(",".join(map(str, v)) if isinstance(v, list) else str(v) for v in job.values())


def verify_archive(manifest: dict) -> list[str]:
    """Check a local archive against its manifest (size, lines, SHA-256); the problems found."""
    uri = manifest["uri"]
    if not uri or not uri.startswith("file://") or manifest.get("compression"):
        return []
    data = Path(uri.removeprefix("file://")).read_bytes()
    found = (len(data), data.count(b"\n"), hashlib.sha256(data).hexdigest())
    wanted = (manifest["bytes"], manifest["lines"], manifest["sha256"])
    return [] if found == wanted else [f"{uri}: (bytes, lines, sha256) {found} but the manifest says {wanted}"]


def describe_destination(uri: str | None) -> str:
    """Where an archive went, relative to the working folder when it is under it."""
    if not uri:
        return "XCom"
    local = Path.cwd().as_uri() + "/"
    return uri.removeprefix(local) if uri.startswith(local) else uri


def prepare_environment(out: Path, verbose: bool, deferrable: bool) -> None:
    home = out / "airflow-home"
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "example_dags"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO" if verbose else "WARNING",
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": str(deferrable),
            "JOBLOGS_ARCHIVE_ROOT": (out / "archive").as_uri(),
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
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="folder for the archives and Airflow home")
    args = parser.parse_args()
    out = args.output.resolve()
    started = time.monotonic()
    prepare_environment(out, args.verbose, deferrable=not args.poke)

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
        for dag_file, (service, expected_failures) in DEMO_DAGS.items():
            dag = runpy.run_path(str(ROOT / "example_dags" / dag_file))["dag"]
            print(f"\n>>> {dag.dag_id}: running ...", flush=True)
            dag_run = dag.test()
            for ti in sorted(dag_run.get_task_instances(), key=lambda t: t.task_id):
                expected = "failed" if ti.task_id in expected_failures else "success"
                outcome = f"{ti.state}" + (" (as meant)" if expected == "failed" and ti.state == expected else "")
                if ti.state != expected:
                    problems.append(f"{dag.dag_id}.{ti.task_id}: {ti.state} (expected {expected})")
                manifest = ti.xcom_pull(task_ids=ti.task_id) if ti.state == "success" else None
                if isinstance(manifest, dict) and "sha256" in manifest:
                    problems += verify_archive(manifest)
                    rows.append(
                        (
                            service,
                            describe_job(manifest["job"]),
                            ti.task_id,
                            outcome,
                            str(manifest["lines"]),
                            str(manifest["bytes"]),
                            describe_destination(manifest["uri"]),
                        )
                    )
                else:
                    rows.append((service, "", ti.task_id, outcome, "", "", ""))
    finally:
        for server in servers:
            server.stop()

    header = ("service", "job", "task", "outcome", "lines", "bytes", "archived to")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print()
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    print(f"\narchives: {out / 'archive'}\ndemo wall time: {time.monotonic() - started:.1f}s")
    if problems:
        print("\nUNEXPECTED OUTCOMES:\n  " + "\n  ".join(problems))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
