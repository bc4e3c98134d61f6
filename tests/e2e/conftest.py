"""The end-to-end stage: the four emulators, moto's S3 server and a real Airflow 3 (api-server, scheduler,
dag-processor, triggerer; or the Celery shape, see :mod:`airflow_cluster`), started once per session (or per
module) and stopped at its end, whatever happened.

Connections are set the ways users set them: ``airflow connections add`` (stored in the metadata database,
so the triggerer looks them up through the API server) for BlueKing JOB and QingCloud, ``AIRFLOW_CONN_*``
environment variables for CodeArts Build (its IAM-password variant, so tokens are issued during the run),
AWS MGN and the S3 archive bucket. Archives go to ``s3://aws_s3@<bucket>/e2e`` on moto.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from airflow_cluster import ROOT, AirflowCluster, older_airflow_reason

from airflow_joblogs.emulators.base import EmulatorServer

HERE = Path(__file__).resolve().parent
LOCAL_BUNDLE = "airflow.dag_processing.bundles.local.LocalDagBundle"
#: emulator job clock speed: slow enough that deferred sensors see their jobs run (and stream their lines)
E2E_SPEED = 0.25
#: deferred sensors at once in the fleet scenarios (tests/e2e/dags/e2e_fleet.py; JOBLOGS_E2E_FLEET: fewer, for a
#: quicker look), and the sensors deferred when a triggerer dies
FLEET = int(os.environ.get("JOBLOGS_E2E_FLEET", "200"))
FAILOVER = 40
POLL_INTERVAL = 5.0  # the fleet sensors' poke_interval, their triggers' poll interval
FLEET_ENV = {
    "JOBLOGS_E2E_FLEET_JOBS": str(FLEET),
    "JOBLOGS_E2E_FAILOVER_JOBS": str(FAILOVER),
    "JOBLOGS_E2E_POLL_INTERVAL": str(POLL_INTERVAL),
}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: end-to-end runs in a real Airflow (separate processes, REST API, browser); CI runs them"
    )
    config.addinivalue_line(
        "markers", "every_airflow: an end-to-end test that runs on the oldest supported Airflow too (make test-floor)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip the end-to-end tests (before any fixture starts a server) on an Airflow they do not target: those not
    marked ``every_airflow`` need the newest."""
    reason = older_airflow_reason()
    if reason is None:
        return
    for item in items:
        if (
            item.get_closest_marker("e2e")
            and not item.get_closest_marker("every_airflow")
            and Path(item.path).is_relative_to(HERE)
        ):
            item.add_marker(pytest.mark.skip(reason=reason))


@dataclass
class Stage:
    """What the end-to-end tests get: the running Airflow, the emulators, the S3 bucket and every secret."""

    airflow: AirflowCluster
    emulators: dict[str, Any]
    servers: dict[str, EmulatorServer]
    s3_endpoint: str
    bucket: str
    s3_credentials: dict[str, str]
    archive_root: str
    #: every credential configured anywhere in the run (tokens issued during the run are added by the tests)
    secrets: set[str] = field(default_factory=set)

    def s3(self) -> Any:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.s3_credentials["key"],
            aws_secret_access_key=self.s3_credentials["secret"],
        )


def _start_emulators(blueking: dict[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, EmulatorServer]]:
    from airflow_joblogs.emulators.blueking import BlueKingEmulator
    from airflow_joblogs.emulators.codearts import CodeArtsEmulator
    from airflow_joblogs.emulators.mgn import MgnEmulator
    from airflow_joblogs.emulators.qingcloud import QingCloudEmulator

    emulators = {
        "blueking": BlueKingEmulator(
            **{"speed": E2E_SPEED, "large_log_bytes": 1 << 20, "large_hosts": 4, **(blueking or {})}
        ),
        "codearts": CodeArtsEmulator(speed=E2E_SPEED, large_log_bytes=1 << 20),
        "qingcloud": QingCloudEmulator(speed=E2E_SPEED),
        "mgn": MgnEmulator(speed=E2E_SPEED, wave_servers=4),
    }
    servers: dict[str, EmulatorServer] = {}
    try:
        for name, emulator in emulators.items():
            servers[name] = EmulatorServer(emulator.app()).start()
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return emulators, servers


def _sensor_classes() -> str:
    """The sensors' class paths, ``;``-separated (OpenLineage's ``disabled_for_operators``)."""
    import importlib

    from airflow_joblogs.sensors.base import JobSensor

    for service in ("blueking", "codearts", "qingcloud", "mgn"):
        importlib.import_module(f"airflow_joblogs.sensors.{service}")
    return ";".join(f"{cls.__module__}.{cls.__qualname__}" for cls in JobSensor.__subclasses__())


def _connection_secrets(conn: dict[str, Any]) -> set[str]:
    found = {conn.get("password") or ""}
    for key, value in (conn.get("extra") or {}).items():
        if key in ("bk_token", "access_token", "security_token", "aws_secret_access_key", "aws_session_token"):
            found.add(str(value))
    return {s for s in found if s}


def connection_commands(bk: dict[str, Any], qc: dict[str, Any]) -> list[list[str]]:
    """``airflow connections add`` for BlueKing JOB (flags) and QingCloud (a JSON document)."""
    return [
        [
            "connections",
            "add",
            "bk_job_default",
            "--conn-type",
            "bk_job",
            "--conn-host",
            bk["host"],
            "--conn-login",
            bk["login"],
            "--conn-password",
            bk["password"],
            "--conn-extra",
            json.dumps(bk["extra"]),
        ],
        ["connections", "add", "qingcloud_default", "--conn-json", json.dumps(qc)],
    ]


@contextmanager
def deployment(
    s3_server: str,
    request: pytest.FixtureRequest,
    *,
    executor: str = "LocalExecutor",
    blueking: dict[str, Any] | None = None,
    airflow_env: dict[str, str] | None = None,
) -> Iterator[Stage]:
    """Everything up (the emulators, Airflow in the ``executor``'s shape: see :mod:`airflow_cluster`),
    connections set, DAGs parsed; everything stopped when the block ends. ``blueking``: BlueKing emulator
    options; ``airflow_env``: more Airflow settings. The Airflow home (logs, component output) is removed if
    every test passed, kept for a look otherwise."""
    started = time.monotonic()
    home = Path(tempfile.mkdtemp(prefix=f"joblogs-e2e-{executor.removesuffix('Executor').lower()}-"))
    emulators, servers = _start_emulators(blueking)
    cluster: AirflowCluster | None = None
    broke = False
    try:
        s3_credentials = {"key": "AKIAE2E" + secrets.token_hex(6).upper(), "secret": "s3-" + secrets.token_urlsafe(24)}
        bucket = f"joblogs-e2e-{uuid.uuid4().hex[:10]}"
        stage_conns: dict[str, dict[str, Any]] = {
            "aws_s3": {
                "conn_type": "aws",
                "login": s3_credentials["key"],
                "password": s3_credentials["secret"],
                "extra": {"endpoint_url": s3_server, "region_name": "us-east-1"},
            },
            **servers["mgn"].connections(),
        }
        codearts = servers["codearts"].connections()
        stage_conns["codearts_build_default"] = codearts["codearts_build_iam"]
        env = {f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(conn) for conn_id, conn in stage_conns.items()}
        archive_root = f"s3://aws_s3@{bucket}/e2e"
        env["JOBLOGS_ARCHIVE_ROOT"] = archive_root
        env["AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"] = "True"
        # the example DAGs, and the end-to-end suite's own DAGs as a second bundle
        env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST"] = json.dumps(
            [
                {"name": "dags-folder", "classpath": LOCAL_BUNDLE, "kwargs": {}},
                {"name": "e2e-dags", "classpath": LOCAL_BUNDLE, "kwargs": {"path": str(HERE / "dags")}},
            ]
        )
        # OpenLineage (apache-airflow-providers-openlineage) writes every event to its own file in this folder
        (home / "openlineage").mkdir()
        env["AIRFLOW__OPENLINEAGE__TRANSPORT"] = json.dumps(
            {"type": "file", "log_file_path": str(home / "openlineage" / "event")}
        )
        env["AIRFLOW__OPENLINEAGE__NAMESPACE"] = "joblogs-e2e"
        # ... from the log and run operators: none from the sensors (hundreds of mapped ones; nothing to describe)
        env["AIRFLOW__OPENLINEAGE__DISABLED_FOR_OPERATORS"] = _sensor_classes()
        env.update(airflow_env or {})
        cluster = AirflowCluster(home, ROOT / "example_dags", env, executor=executor)

        stage = Stage(
            airflow=cluster,
            emulators=emulators,
            servers=servers,
            s3_endpoint=s3_server,
            bucket=bucket,
            s3_credentials=s3_credentials,
            archive_root=archive_root,
        )
        stage.s3().create_bucket(Bucket=bucket)

        bk = servers["blueking"].connections()["bk_job_default"]
        qc = servers["qingcloud"].connections()["qingcloud_default"]
        for conn in [*stage_conns.values(), *codearts.values(), bk, qc]:
            stage.secrets |= _connection_secrets(conn)
        stage.secrets |= {s3_credentials["secret"], cluster.env["AIRFLOW__API_AUTH__JWT_SECRET"]}
        stage.secrets |= {cluster.env["AIRFLOW__CORE__FERNET_KEY"]}
        if cluster.database is not None:
            stage.secrets.add(cluster.database.password)

        cluster.start_services()
        cluster.run_cli("db", "migrate")
        # as the connection pages show it: flags for one, a JSON document for the other. On PostgreSQL they are
        # added while the components start (nothing reads a connection before a task runs); sqlite takes one
        # writer at a time
        adding = ThreadPoolExecutor(2 if cluster.database is not None else 1)
        added = [adding.submit(cluster.run_cli, *args) for args in connection_commands(bk, qc)]
        if cluster.database is None:
            adding.shutdown()
        cluster.start()
        adding.shutdown()
        for future in added:
            future.result()
        cluster.wait_healthy()
        cluster.wait_dags(
            ["blueking_deploy_gate", "codearts_build_archive", "qingcloud_cluster_jobs", "mgn_cutover_logs"]
        )
        print(f"\ne2e stage ({executor}) up in {time.monotonic() - started:.0f}s: Airflow {cluster.url}, home {home}")
        yield stage
    except BaseException:
        broke = True
        raise
    finally:
        if cluster is not None:
            cluster.stop()
        for server in servers.values():
            server.stop()
        if broke or request.session.testsfailed:
            print(f"\ne2e: kept the Airflow home for a look: {home}")
        else:
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def local_stage(s3_server: str, request: pytest.FixtureRequest) -> Iterator[Stage]:
    """The LocalExecutor deployment (sqlite), once per session, with the emulators' defaults (the BlueKing fleet:
    100 jobs)."""
    with deployment(s3_server, request) as stage:
        yield stage


@pytest.fixture(scope="session")
def e2e_stage(local_stage: Stage) -> Stage:
    """The deployment the shared end-to-end checks run on: LocalExecutor here; a module may override it with
    another deployment to run the same checks there (``test_e2e_celery.py``)."""
    return local_stage
