"""Helpers for the benchmarks: emulators and moto's S3 server in processes of their own, measuring children, the
result table.

Every figure is measured in a fresh child interpreter, so it holds only that child's work and memory (the
emulator and S3 run elsewhere and are not counted). Children get a bytecode cache (``PYTHONPYCACHEPREFIX``), as
any installed package has, even where the environment says ``PYTHONDONTWRITEBYTECODE``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
_PYCACHE = Path(tempfile.gettempdir()) / "airflow-joblogs-bench-pycache"
_HOME = Path(tempfile.gettempdir()) / "airflow-joblogs-bench-home"

FACTORIES = {
    "blueking": "airflow_joblogs.emulators.blueking.blueking_app",
    "codearts": "airflow_joblogs.emulators.codearts.codearts_app",
    "qingcloud": "airflow_joblogs.emulators.qingcloud.qingcloud_app",
    "mgn": "airflow_joblogs.emulators.mgn.mgn_app",
    "standin": "benchmarks.standin.standin_app",  # the peers' stand-in (see benchmarks/standin.py)
}


@dataclass
class Row:
    """One figure: a ratio or a count, its target, whether this run met it, and how it was obtained."""

    benchmark: str
    measure: str
    value: float | int | str
    unit: str = ""
    target: str = ""
    met: bool | None = None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def shown(self) -> str:
        value = f"{self.value:.3g}" if isinstance(self.value, float) else str(self.value)
        return f"{value}{self.unit}"


def child_env(connections: dict[str, Any] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(_PYCACHE)
    _HOME.mkdir(parents=True, exist_ok=True)
    env.setdefault("AIRFLOW_HOME", str(_HOME))
    env["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    for conn_id, conn in (connections or {}).items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env


@dataclass
class Emulator:
    url: str
    connections: dict[str, Any]

    def faults(self, **knobs: Any) -> dict[str, Any]:
        """Set (or, with no knobs, read) the emulator's fault knobs; returns them with the ``served`` count."""
        import httpx

        if knobs:
            return httpx.post(f"{self.url}/_emulator/faults", json=knobs, timeout=30).json()
        return httpx.get(f"{self.url}/_emulator/faults", timeout=30).json()


@contextmanager
def emulator_process(service: str, tls: tuple[str, str] | None = None, **knobs: Any) -> Iterator[Emulator]:
    """Serve ``service``'s emulator app (built with ``knobs``) from a process of its own (https with ``tls``,
    a certificate and key file)."""
    certfile, keyfile = tls or (None, None)
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from airflow_joblogs._imports import import_string\n"
        "from airflow_joblogs.emulators.base import EmulatorServer\n"
        f"app = import_string({FACTORIES[service]!r})(**json.loads(sys.argv[1]))\n"
        f"server = EmulatorServer(app, ssl_certfile={certfile!r}, ssl_keyfile={keyfile!r}).start(timeout=600)\n"
        "print(json.dumps({'url': server.url, 'connections': server.connections()}), flush=True)\n"
        "sys.stdin.read()\n"
        "server.stop()\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, json.dumps(knobs)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=child_env(),
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            raise RuntimeError(f"the {service} emulator process did not start")
        yield Emulator(**json.loads(line))
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class S3:
    url: str
    bucket: str
    connection: dict[str, Any]

    @property
    def destination(self) -> str:
        return f"s3://aws_s3@{self.bucket}"


@contextmanager
def s3_process() -> Iterator[S3]:
    """moto's S3 server (a real S3 protocol endpoint) in a process of its own, with a bucket."""
    import socket

    import boto3
    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    moto = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(moto), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto_server did not start") from None
                time.sleep(0.1)
        keys = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
        boto3.client("s3", endpoint_url=url, region_name="us-east-1", **keys).create_bucket(Bucket="bench")
        connection = {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": url, "region_name": "us-east-1"},
        }
        yield S3(url, "bench", connection)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


CHILD_PROLOGUE = "import json, resource, sys, time\n"


def run_child(
    code: str, connections: dict[str, Any] | None = None, timeout: float = 3600, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Run ``code`` in a fresh interpreter with the connections (and ``env``) set; it must print one JSON line
    last.

    The child measures itself (``resource.getrusage(RUSAGE_SELF)``), so each figure is that child's own.
    """
    result = subprocess.run(
        [sys.executable, "-c", CHILD_PROLOGUE + code],
        capture_output=True,
        env={**child_env(connections), **(env or {})},
        text=True,
        timeout=timeout,
    )
    if result.returncode:
        raise RuntimeError(f"benchmark child failed ({result.returncode}): {result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def table(rows: list[Row]) -> str:
    columns = [
        ("benchmark", lambda r: r.benchmark),
        ("measure", lambda r: r.measure),
        ("value", Row.shown),
        ("target", lambda r: r.target),
        ("met", lambda r: "" if r.met is None else ("yes" if r.met else "NO")),
        ("detail", lambda r: r.detail),
    ]
    cells = [[name for name, _ in columns]] + [[str(get(r)) for _, get in columns] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells)


def report(name: str, rows: list[Row], command: str) -> Path:
    """Write the rows as JSON (with the command and the machine) and return the file's path."""
    import platform

    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "command": command,
                "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                "machine": {
                    "python": platform.python_version(),
                    "platform": platform.platform(),
                    "cpus": os.cpu_count(),
                },
                "rows": [asdict(r) for r in rows],
            },
            indent=2,
        )
    )
    return path
