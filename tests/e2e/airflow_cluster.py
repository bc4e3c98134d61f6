"""A real Airflow 3 on 127.0.0.1 for the end-to-end tests, in one of two shapes:

* ``local``: api-server, scheduler, dag-processor, triggerer; sqlite metadata database, LocalExecutor;
* ``celery``: api-server, scheduler, dag-processor, two Celery workers and two triggerers; PostgreSQL (a
  throwaway cluster made with ``initdb``) as the metadata database and Celery's result backend, Redis as the
  broker, CeleryExecutor.

Each component is its own ``airflow`` command in its own process group, configured only through
``AIRFLOW__*`` environment variables in a temporary ``AIRFLOW_HOME``, as an operator would. Every component
and service gets SIGTERM when the test process dies (:func:`helpers.die_with_parent`), and
:meth:`AirflowCluster.stop` ends every process it started, their children included (task processes), even
when a test failed.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx
from helpers import die_with_parent, free_port

ROOT = Path(__file__).resolve().parents[2]
#: the end-to-end suite runs on the newest Airflow that CI installs (3.3); the floor run skips it
NEWEST_AIRFLOW = (3, 3)

COMPONENTS: dict[str, list[str]] = {
    "api-server": ["api-server", "--host", "127.0.0.1", "--workers", "1"],
    "scheduler": ["scheduler", "--skip-serve-logs"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer", "--skip-serve-logs"],
}
#: the shapes :class:`AirflowCluster` starts: executor, and whether PostgreSQL and Redis run beside it
EXECUTORS = ("LocalExecutor", "CeleryExecutor")
#: processes per Celery worker (each runs one task at a time)
CELERY_CONCURRENCY = 2


def celery_components(home: Path, workers: int = 2, triggerers: int = 2) -> dict[str, list[str]]:
    """The production shape: the api-server, scheduler and dag-processor once, ``workers`` Celery workers on the
    ``default`` queue and ``triggerers`` triggerers, each with a name of its own (its hostname in Airflow)."""
    components = {name: COMPONENTS[name] for name in ("api-server", "scheduler", "dag-processor")}
    for n in range(1, workers + 1):
        components[f"celery-worker-{n}"] = [
            "celery",
            "worker",
            "--celery-hostname",
            f"celery-worker-{n}@127.0.0.1",
            "--queues",
            "default",
            "--concurrency",
            str(CELERY_CONCURRENCY),
            "--pid",
            str(home / f"celery-worker-{n}.pid"),
            "--skip-serve-logs",
            "--without-gossip",
            "--without-mingle",
        ]
    for n in range(1, triggerers + 1):
        components[f"triggerer-{n}"] = COMPONENTS["triggerer"]
    return components


def component_kind(name: str) -> str:
    """``triggerer-2`` -> ``triggerer``, ``celery-worker-1`` -> ``celery-worker``, ``scheduler`` -> ``scheduler``."""
    return name.rstrip("0123456789").rstrip("-")


def airflow_version() -> tuple[int, int]:
    from airflow import __version__

    major, minor = __version__.split(".")[:2]
    return int(major), int(minor)


def older_airflow_reason() -> str | None:
    """Why the end-to-end suite does not run here (an Airflow older than the one it targets), or None."""
    if airflow_version() >= NEWEST_AIRFLOW:
        return None
    from airflow import __version__

    return (
        f"this end-to-end test needs Airflow {NEWEST_AIRFLOW[0]}.{NEWEST_AIRFLOW[1]}+ (this is {__version__}); "
        "the example-DAG end-to-end suite, the unit and the dag.test() suites cover this version"
    )


def airflow_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow", *args]


class AirflowCluster:
    """Start, drive through the REST API (v2), and stop a local Airflow."""

    def __init__(
        self,
        home: Path,
        dags_folder: Path,
        extra_env: dict[str, str] | None = None,
        *,
        executor: str = "LocalExecutor",
    ) -> None:
        if executor not in EXECUTORS:
            raise ValueError(f"executor must be one of {EXECUTORS}, not {executor!r}")
        self.executor = executor
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logs = home / "logs"
        self.output = home / "component-output"
        self.output.mkdir(parents=True, exist_ok=True)
        self.env = {
            k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))
        }
        self.env.update(
            {
                "AIRFLOW_HOME": str(home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__EXECUTOR": executor,
                "AIRFLOW__CORE__PARALLELISM": "6",
                "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__BASE_URL": self.url,
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(self.logs),
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                # any log server a component still starts must not collide with another Airflow on this machine
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
            }
        )
        self.components = COMPONENTS
        #: PostgreSQL and Redis, for the Celery shape (started by :meth:`start_services`)
        self.services: list[BackingService] = []
        self.database: PostgresServer | None = None
        if executor == "CeleryExecutor":
            self.components = celery_components(home)
            self.database = PostgresServer(home / "postgres")
            redis = RedisServer(home / "redis")
            self.services = [self.database, redis]
            self.env.update(
                {
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.database.url,
                    "AIRFLOW__CELERY__BROKER_URL": redis.url,
                    "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.database.url,
                    "AIRFLOW__CORE__PARALLELISM": "16",
                    # task processes and the API server share two cores with everything else here
                    "AIRFLOW__WORKERS__EXECUTION_API_TIMEOUT": "30",
                    # each component's own name is its hostname (task instances, triggerer jobs)
                    "AIRFLOW__CORE__HOSTNAME_CALLABLE": "component_hostname.hostname",
                    "PYTHONPATH": os.pathsep.join(
                        filter(None, [str(Path(__file__).parent), os.environ.get("PYTHONPATH")])
                    ),
                }
            )
        self.env.update(extra_env or {})
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        #: (pid, create_time) of every child seen, so a reused pid is never killed
        self._descendants: set[tuple[int, float]] = set()
        self._token: str | None = None
        #: components ended by :meth:`kill`
        self.killed: dict[str, subprocess.Popen[bytes]] = {}

    # -- processes ----------------------------------------------------------------------------------------
    def run_cli(self, *args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            airflow_command(*args), env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"airflow {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def start_services(self) -> AirflowCluster:
        """Start what the shape needs beside Airflow (PostgreSQL, Redis); before ``db migrate``."""
        for service in self.services:
            service.start()
        return self

    def component_env(self, name: str) -> dict[str, str]:
        env = {**self.env, "JOBLOGS_E2E_COMPONENT": name}
        if component_kind(name) == "triggerer":
            # JSON lines: a trigger's log lines that reach the triggerer's own output (see triggerer_spill) are
            # read back with their task's fields
            env["AIRFLOW__LOGGING__JSON_LOGS"] = "True"
        return env

    def start(self, components: Iterable[str] | None = None) -> AirflowCluster:
        for name in self.components if components is None else components:
            with open(self.output / f"{name}.out", "ab") as out:  # appended: a restarted component keeps its past
                self.processes[name] = subprocess.Popen(
                    airflow_command(*self.components[name]),
                    env=self.component_env(name),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,  # one process group per component, ended as a whole
                    preexec_fn=die_with_parent(),  # SIGTERM when the test process is killed outright
                )
        return self

    def wait_healthy(self, timeout: float = 150) -> dict[str, Any]:
        """Wait until the API answers and reports every started component healthy."""
        deadline = time.monotonic() + timeout
        kinds = {component_kind(n).replace("-", "_") for n in self.processes}
        wanted = {"scheduler", "triggerer", "dag_processor"} & kinds
        health: dict[str, Any] = {}
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                health = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
            except (httpx.TransportError, ValueError):
                time.sleep(1)
                continue
            healthy = all((health.get(n) or {}).get("status") == "healthy" for n in wanted | {"metadatabase"})
            if healthy and (self.executor != "CeleryExecutor" or self.celery_workers_up()):
                return health
            time.sleep(1)
        raise TimeoutError(f"Airflow not healthy after {timeout}s: {health}\n{self.component_output_tail()}")

    def _check_alive(self) -> None:
        for name, proc in self.processes.items():
            self._remember_children(proc.pid)
            if proc.poll() is not None:
                raise RuntimeError(f"airflow {name} exited with {proc.returncode}:\n{self.component_output_tail()}")

    def _remember_children(self, pid: int) -> None:
        import psutil

        try:
            self._descendants.update((c.pid, c.create_time()) for c in psutil.Process(pid).children(recursive=True))
        except psutil.Error:
            pass

    def celery_workers_up(self) -> bool:
        """Whether every started Celery worker has said it is ready (``celery@<name> ready.``)."""
        workers = [n for n in self.processes if component_kind(n) == "celery-worker"]
        return all(" ready." in (self.output / f"{n}.out").read_text(errors="replace") for n in workers)

    def kill(self, name: str) -> float:
        """SIGKILL component ``name`` and every process under it (its task processes too), as when its machine
        dies; the ``time.time()`` of the kill."""
        import psutil

        proc = self.processes[name]
        try:
            tree = psutil.Process(proc.pid).children(recursive=True)
        except psutil.Error:
            tree = []
        killed_at = time.time()
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        for child in tree:  # a task process in a session of its own
            try:
                child.kill()
            except psutil.Error:
                pass
        proc.wait(timeout=10)
        del self.processes[name]
        self.killed[name] = proc
        return killed_at

    def restart(self, name: str, timeout: float = 120) -> None:
        """Start component ``name`` again after :meth:`kill` (a machine back); a Celery worker is waited for until
        it says it is ready."""
        out = self.output / f"{name}.out"
        offset = out.stat().st_size if out.exists() else 0
        self.killed.pop(name, None)
        self.start([name])
        if component_kind(name) != "celery-worker":
            return
        deadline = time.monotonic() + timeout
        while " ready." not in out.read_bytes()[offset:].decode(errors="replace"):
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{name} not ready {timeout}s after its restart:\n{self.component_output_tail()}")
            time.sleep(0.5)

    def trigger_events(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        """What the triggerer logged for a task's first try: its trigger log files, then any of the trigger's
        lines it wrote to its own output instead (:meth:`triggerer_spill`)."""
        folder = self.logs / f"dag_id={dag_id}" / f"run_id={run_id}" / f"task_id={task_id}"
        if map_index >= 0:
            folder = folder / f"map_index={map_index}"
        events = [
            json.loads(line)
            for path in sorted(folder.glob("attempt=1.log.trigger.*.log"))
            for line in path.read_text().splitlines()
            if line.strip()
        ]
        return events + self.triggerer_spill(dag_id, task_id, map_index, run_id)

    def triggerer_spill(
        self, dag_id: str, task_id: str, map_index: int = -1, run_id: str | None = None
    ) -> list[dict[str, Any]]:
        """A trigger's log events that its triggerer wrote to its own output instead of the trigger's log file.

        Airflow 3.3's triggerer reads its trigger runner's log socket at most 4 KiB per loop of its main process
        (``make_buffered_socket_reader``), and closes a trigger's log file when the runner reports the trigger
        finished, which comes on another socket read whole each loop: log lines of that trigger still queued
        then go to the triggerer's own log (``_process_log_messages_from_subprocess``: no file left for the
        trigger id), with the task's fields. On a busy machine these are a trigger's last lines.
        """
        found = []
        for path in sorted(self.output.glob("triggerer*.out")):
            for line in path.read_text(errors="replace").splitlines():
                if not line.startswith("{") or f'"{task_id}"' not in line:
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if (
                    event.get("dag_id") == dag_id
                    and event.get("task_id") == task_id
                    and event.get("map_index", -1) == map_index
                    and (run_id is None or event.get("run_id") == run_id)
                ):
                    event["triggerer_output"] = path.stem
                    found.append(event)
        return found

    def component_output_tail(self, lines: int = 25) -> str:
        parts = []
        for path in sorted(self.output.glob("*.out")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self, grace: float = 20) -> None:
        """SIGTERM every component's process group, then SIGKILL whatever is left (children included)."""
        import psutil

        for proc in self.processes.values():
            self._remember_children(proc.pid)
        for proc in self.processes.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + grace
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for proc in self.processes.values():
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        for pid, created in self._descendants:  # a child that left its group (a task runner's own session)
            try:
                child = psutil.Process(pid)
                if child.create_time() == created:
                    child.kill()
            except psutil.Error:
                pass
        for service in reversed(self.services):
            service.stop()

    # -- REST API -----------------------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None:
            reply = httpx.get(f"{self.url}/auth/token", timeout=30)
            reply.raise_for_status()
            self._token = reply.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        # a read may meet a 5xx while the SQLite metadata database is busy with many tasks: asked again, boundedly
        for attempt in range(3 if method.upper() == "GET" else 1):
            reply = httpx.request(
                method,
                f"{self.url}/api/v2/{path.lstrip('/')}",
                headers={"Authorization": f"Bearer {self.token()}"},
                timeout=60,
                **kwargs,
            )
            if reply.status_code < 500:
                break
            time.sleep(2.0 * (attempt + 1))
        if reply.status_code >= 500:  # the api-server's traceback says why
            api_log = self.output / "api-server.out"
            tail = "\n".join(api_log.read_text(errors="replace").splitlines()[-60:]) if api_log.exists() else ""
            raise RuntimeError(f"{method} {path}: HTTP {reply.status_code} {reply.text}\n--- api-server.out\n{tail}")
        if reply.status_code >= 400:
            raise RuntimeError(f"{method} {path}: HTTP {reply.status_code} {reply.text}")
        return reply.json() if reply.content else None

    def wait_dags(self, dag_ids: Iterable[str], timeout: float = 120) -> None:
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout
        seen: set[str] = set()
        while time.monotonic() < deadline:
            self._check_alive()
            seen = {d["dag_id"] for d in self.api("GET", "dags", params={"limit": 100})["dags"]}
            if wanted <= seen:
                return
            time.sleep(1)
        errors = self.api("GET", "importErrors")
        raise TimeoutError(f"DAGs not parsed after {timeout}s: missing {wanted - seen}; import errors: {errors}")

    def trigger(self, dag_id: str, run_id: str, logical_date: str) -> dict[str, Any]:
        return self.api(
            "POST", f"dags/{dag_id}/dagRuns", json={"dag_run_id": run_id, "logical_date": logical_date, "conf": {}}
        )

    def task_instances(self, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
        reply = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti for ti in reply["task_instances"]}

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        reply = self.api("GET", f"dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}")
        return reply["value"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> list[dict[str, Any]]:
        """The task's log as the UI shows it (the worker's and the triggerer's parts): one dict per event."""
        reply = httpx.get(
            f"{self.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
            headers={"Authorization": f"Bearer {self.token()}", "Accept": "application/json"},
            params={"full_content": "true"},
            timeout=60,
        )
        reply.raise_for_status()
        content = reply.json()["content"]
        if isinstance(content, str):
            return [{"event": line} for line in content.splitlines()]
        return [entry if isinstance(entry, dict) else {"event": str(entry)} for entry in content]


# -- services beside Airflow ----------------------------------------------------------------------------
class BackingService:
    """A server process of the Celery shape: in its own session, sent SIGTERM if the test process dies."""

    name = ""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def ready(self) -> bool:
        raise NotImplementedError

    def spawn(self, user: str | None = None) -> None:
        self.output = open(self.root / f"{self.name}.out", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.command(),
            stdout=self.output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=die_with_parent(),
            user=user,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while not self.ready():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                log = (self.root / f"{self.name}.out").read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} did not start (exit {self.proc.poll()}):\n{log}")
            time.sleep(0.2)

    def start(self) -> None:
        raise NotImplementedError

    def stop(self, grace: float = 15) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, self.stop_signal)
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.output.close()

    stop_signal = signal.SIGTERM


def _debian_binary(name: str, folder_glob: str) -> str:
    """``name`` from PATH, else from Debian's versioned folders (``/usr/lib/postgresql/<version>/bin``)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        Path("/").glob(folder_glob + "/" + name), key=lambda p: [int(x) for x in p.parts[-3].split(".") if x.isdigit()]
    )
    if not candidates:
        raise RuntimeError(f"{name} not found: install Debian's postgresql and redis-server (make e2e does)")
    return str(candidates[-1])


class PostgresServer(BackingService):
    """A throwaway PostgreSQL cluster (``initdb``) on 127.0.0.1, its unix socket in its own folder, database
    ``airflow`` owned by user ``airflow`` (a password, SCRAM). PostgreSQL refuses to run as root: as root its
    files and server belong to the ``postgres`` user (Debian's package creates it), else ``nobody``."""

    name = "postgres"
    stop_signal = signal.SIGINT  # fast shutdown: clients are disconnected

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.password = "pg-" + secrets.token_urlsafe(18)
        self.url = f"postgresql+psycopg2://airflow:{self.password}@127.0.0.1:{self.port}/airflow"
        self.user: str | None = None

    def _run_as(self) -> str | None:
        if os.geteuid() != 0:
            return None
        import pwd

        for user in ("postgres", "nobody"):
            try:
                pwd.getpwnam(user)
                return user
            except KeyError:
                continue
        raise RuntimeError("no unprivileged user to run PostgreSQL as (postgres, nobody)")

    def command(self) -> list[str]:
        return [
            _debian_binary("postgres", "usr/lib/postgresql/*/bin"),
            "-D",
            str(self.root / "data"),
            "-p",
            str(self.port),
            "-k",
            str(self.root),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ]

    def ready(self) -> bool:
        try:
            self.connect("postgres").close()
            return True
        except Exception:  # not up yet
            return False

    def connect(self, database: str = "airflow") -> Any:
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1", port=self.port, user="airflow", password=self.password, dbname=database, connect_timeout=3
        )

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute(sql, params)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def start(self) -> None:
        self.user = self._run_as()
        self.root.mkdir(parents=True, exist_ok=True)
        password_file = self.root / "password"
        password_file.write_text(self.password + "\n")
        if self.user:
            shutil.chown(self.root, self.user)
            shutil.chown(password_file, self.user)
            self.root.parent.chmod(0o755)  # the home folder: traversable by that user
        self.root.chmod(0o700)
        subprocess.run(
            [
                _debian_binary("initdb", "usr/lib/postgresql/*/bin"),
                "-D",
                str(self.root / "data"),
                "-U",
                "airflow",
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            user=self.user,
            timeout=120,
        )
        password_file.unlink()
        self.spawn(self.user)
        self.wait_ready()
        conn = self.connect("postgres")
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute("CREATE DATABASE airflow")
        conn.close()


class RedisServer(BackingService):
    """Redis on 127.0.0.1, no persistence (no RDB snapshots, no append-only file)."""

    name = "redis"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        return [
            _debian_binary("redis-server", "usr/bin"),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.root),
            "--daemonize",
            "no",
        ]

    def ready(self) -> bool:
        import socket

        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.spawn()
        self.wait_ready()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
