"""Shared fixtures: an isolated AIRFLOW_HOME, the emulators on ephemeral loopback ports, connections."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_HOME = tempfile.mkdtemp(prefix="joblogs-airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "example_dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")

from airflow_joblogs.emulators import EmulatorServer  # noqa: E402
from airflow_joblogs.emulators.blueking import BlueKingEmulator  # noqa: E402


def set_connections(monkeypatch: pytest.MonkeyPatch, connections: dict[str, dict]) -> None:
    for conn_id, conn in connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))


@pytest.fixture(scope="session")
def bk_server() -> Iterator[EmulatorServer]:
    """The BlueKing emulator, fast clock (a 3-step job finishes in about 0.2 s)."""
    emulator = BlueKingEmulator(speed=20.0, large_log_bytes=4 << 20, large_hosts=16)
    with EmulatorServer(emulator.app()) as server:
        server.emulator = emulator  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def bk(bk_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """The BlueKing emulator with clean faults and job clocks, and its connections set."""
    bk_server.app.faults.clear()
    bk_server.app.clock.reset()
    set_connections(monkeypatch, bk_server.connections())
    yield bk_server
    bk_server.app.faults.clear()


@pytest.fixture(scope="session")
def airflow_db() -> str:
    """A migrated metadata database (sqlite in the temporary AIRFLOW_HOME), for dag.test()."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )
    return _HOME


@pytest.fixture
def run_example_dag(airflow_db: str, monkeypatch: pytest.MonkeyPatch):
    """Run ``example_dags/<file>`` with ``dag.test()``: archives under ``archive`` (via ``JOBLOGS_ARCHIVE_ROOT``),
    deferrable or not (via ``[operators] default_deferrable``, read when the sensors are built).
    Returns ``(dag_run, {task_id: task_instance})``."""

    def run(dag_file: str, archive: Path, deferrable: bool):
        monkeypatch.setenv("JOBLOGS_ARCHIVE_ROOT", f"file://{archive}")
        monkeypatch.setenv("AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE", str(deferrable))
        from airflow.configuration import conf

        conf.set("operators", "default_deferrable", str(deferrable))
        namespace = runpy.run_path(str(ROOT / "example_dags" / dag_file))
        dag = namespace["dag"]
        dag_run = dag.test()
        return dag_run, {ti.task_id: ti for ti in dag_run.get_task_instances()}

    return run
