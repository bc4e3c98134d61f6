"""Shared fixtures: an isolated AIRFLOW_HOME, the emulators on ephemeral loopback ports, connections."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
_HOME = tempfile.mkdtemp(prefix="joblogs-airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(ROOT / "example_dags")
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "INFO")
# Triggers run inside this process here: keep its collector as it is (tests/test_performance.py checks the
# freeze in processes of their own, the e2e suite in a real triggerer).
os.environ["AIRFLOW__JOBLOGS__GC_FREEZE"] = "False"

from helpers import mgn_event_data_fields, set_connections, start_moto_server  # noqa: E402

from airflow_joblogs.emulators import EmulatorServer  # noqa: E402
from airflow_joblogs.emulators.blueking import BlueKingEmulator  # noqa: E402


def serve(emulator: Any) -> Iterator[EmulatorServer]:
    """An emulator on an ephemeral loopback port until the generator is closed; ``server.emulator`` is it."""
    with EmulatorServer(emulator.app()) as server:
        server.emulator = emulator  # type: ignore[attr-defined]
        yield server


def fresh(server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """One test's use of a session's emulator: no faults, job clocks from zero, its connections set."""
    server.app.faults.clear()
    server.app.clock.reset()
    set_connections(monkeypatch, server.connections())
    yield server
    server.app.faults.clear()


@pytest.fixture(scope="session")
def bk_server() -> Iterator[EmulatorServer]:
    """The BlueKing emulator, fast clock (a 3-step job finishes in about 0.2 s)."""
    yield from serve(BlueKingEmulator(speed=20.0, large_log_bytes=4 << 20, large_hosts=16))


@pytest.fixture
def bk(bk_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """The BlueKing emulator with clean faults and job clocks, and its connections set."""
    yield from fresh(bk_server, monkeypatch)


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


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """moto's S3 server on loopback (a real S3-protocol endpoint for s3fs/ObjectStoragePath); it ends with the
    test process even when that is killed outright (see :func:`helpers.die_with_parent`)."""
    proc, url = start_moto_server()
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def s3_bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh bucket; the Airflow connection ``aws_s3`` points at it. Yields ``s3://aws_s3@<bucket>``."""
    import uuid

    import boto3

    bucket = f"joblogs-{uuid.uuid4().hex[:12]}"
    boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    ).create_bucket(Bucket=bucket)
    set_connections(
        monkeypatch,
        {
            "aws_s3": {
                "conn_type": "aws",
                "login": "testing",
                "password": "testing",
                "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"},
            }
        },
    )
    yield f"s3://aws_s3@{bucket}"


@pytest.fixture(scope="session")
def qc_server() -> Iterator[EmulatorServer]:
    """The QingCloud emulator, fast clock (a cluster job finishes in about 0.2 s)."""
    from airflow_joblogs.emulators.qingcloud import QingCloudEmulator

    yield from serve(QingCloudEmulator(speed=20.0))


@pytest.fixture
def qc(qc_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """The QingCloud emulator with clean faults and job clocks, no jobs or cluster changes from cluster actions
    of earlier tests, and its connection set."""
    qc_server.emulator.reset()  # type: ignore[attr-defined]
    yield from fresh(qc_server, monkeypatch)


@pytest.fixture(scope="session")
def cb_server() -> Iterator[EmulatorServer]:
    """The CodeArts Build emulator, fast clock (a 4-action build finishes in about 0.2 s), a 1 MiB large log."""
    from airflow_joblogs.emulators.codearts import CodeArtsEmulator

    yield from serve(CodeArtsEmulator(speed=20.0, large_log_bytes=1 << 20, seed=7))


@pytest.fixture
def cb(cb_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """The CodeArts Build emulator with clean knobs, clocks and tokens, and its connections set."""
    cb_server.emulator.reset()  # type: ignore[attr-defined]
    set_connections(monkeypatch, cb_server.connections())
    yield cb_server
    cb_server.emulator.reset()  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def mgn_server() -> Iterator[EmulatorServer]:
    """The AWS MGN emulator, fast clock (a cutover job completes in about 0.1 s), pages of 50 items by default."""
    from airflow_joblogs.emulators.mgn import MgnEmulator

    yield from serve(MgnEmulator(speed=20.0))


@pytest.fixture
def mgn(mgn_server: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[EmulatorServer]:
    """The MGN emulator with clean faults and job clocks, no started jobs, and its ``aws_default`` connection set."""
    mgn_server.emulator.require_access_key = None  # type: ignore[attr-defined]
    mgn_server.emulator.reset_started()  # type: ignore[attr-defined]
    yield from fresh(mgn_server, monkeypatch)


@pytest.fixture
def mgn_log(mgn_server: EmulatorServer):
    """``mgn_log(job_id)``: the MGN emulator's log items of a job as the installed botocore parses them.

    botocore keeps only the fields its service model knows: older releases (1.40, for one) do not model
    ``attemptCount`` / ``maxAttemptsCount`` and drop them. ``mgn_log.fields`` lists the ``eventData`` fields kept.
    """
    fields = mgn_event_data_fields()

    def items(job_id: str) -> list[dict]:
        result = []
        for item in mgn_server.emulator.log_items(job_id):  # type: ignore[attr-defined]
            if "eventData" in item:
                item = {**item, "eventData": {k: v for k, v in item["eventData"].items() if k in fields}}
            result.append(item)
        return result

    items.fields = fields  # type: ignore[attr-defined]
    return items
