"""A real Airflow 3 on 127.0.0.1 for the end-to-end tests: api-server, scheduler, dag-processor, triggerer.

Each component is its own ``airflow`` command in its own process group (sqlite metadata database,
LocalExecutor), configured only through ``AIRFLOW__*`` environment variables in a temporary
``AIRFLOW_HOME``, as an operator would. :meth:`AirflowCluster.stop` ends every process it started, their
children included (task processes of the LocalExecutor), even when a test failed.
"""

from __future__ import annotations

import os
import secrets
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
        f"the end-to-end suite runs on Airflow {NEWEST_AIRFLOW[0]}.{NEWEST_AIRFLOW[1]}+ only (this is {__version__}); "
        "the unit and dag.test() suites cover this version"
    )


def airflow_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "airflow", *args]


class AirflowCluster:
    """Start, drive through the REST API (v2), and stop a local Airflow."""

    def __init__(self, home: Path, dags_folder: Path, extra_env: dict[str, str] | None = None) -> None:
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
                "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
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
        self.env.update(extra_env or {})
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        #: (pid, create_time) of every child seen, so a reused pid is never killed
        self._descendants: set[tuple[int, float]] = set()
        self._token: str | None = None

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

    def start(self, components: Iterable[str] = COMPONENTS) -> AirflowCluster:
        for name in components:
            with open(self.output / f"{name}.out", "wb") as out:
                self.processes[name] = subprocess.Popen(
                    airflow_command(*COMPONENTS[name]),
                    env=self.env,
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
        wanted = {"scheduler", "triggerer", "dag_processor"} & {n.replace("-", "_") for n in self.processes}
        health: dict[str, Any] = {}
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                health = httpx.get(f"{self.url}/api/v2/monitor/health", timeout=5).json()
            except (httpx.TransportError, ValueError):
                time.sleep(1)
                continue
            if all((health.get(n) or {}).get("status") == "healthy" for n in wanted | {"metadatabase"}):
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

    # -- REST API -----------------------------------------------------------------------------------------
    def token(self) -> str:
        if self._token is None:
            reply = httpx.get(f"{self.url}/auth/token", timeout=30)
            reply.raise_for_status()
            self._token = reply.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        reply = httpx.request(
            method,
            f"{self.url}/api/v2/{path.lstrip('/')}",
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=60,
            **kwargs,
        )
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


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()
