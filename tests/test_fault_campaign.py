"""A randomized fault campaign: every service's log operator archives a job while the emulator serves a random,
seeded schedule of faults (5xx bursts, 429 storms with Retry-After, connections dropped mid-body, empty and
cut-off JSON bodies, answers slower than the read timeout, pages repeated or overlapping, offsets that do not
move on). Each run must either archive exactly the source (the same sha256 as a fault-free archive) or fail
with a clear error and leave nothing at the destination; never a partial or duplicated archive.

Then a real task process is killed (SIGKILL) while it writes, and the retried task must leave exactly the
source at the final path, on a file system and on S3 (moto's server).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from helpers import die_with_parent

from airflow_joblogs.emulators import EmulatorServer
from airflow_joblogs.emulators.base import EmulatorApp
from airflow_joblogs.exceptions import JobLogsError
from airflow_joblogs.http import RetryPolicy

ROOT = Path(__file__).resolve().parent.parent
RUNS_PER_SERVICE = 60
FAST = RetryPolicy(max_attempts=6, initial_backoff=0.005, max_backoff=0.02)
#: the read timeout the campaign's connections use, and how long a "slow" answer waits (longer)
READ_TIMEOUT = 0.25
SLOW_SECONDS = 0.4
#: outcomes of the campaign's runs, by service ("exact" or "failed"), checked by the last test
TALLY: Counter[tuple[str, str]] = Counter()


def schedule(rng: random.Random, length: int = 40) -> list[str]:
    """A random fault schedule for the next requests: bursts, storms and single faults between clean answers
    (the first request always meets one: an ESB v2 archive is a single request)."""
    script: list[str] = []
    while len(script) < length:
        roll = rng.random()
        if roll < 0.48:
            script += ["ok"] * rng.randint(1, 4)
        elif roll < 0.58:
            script += ["error"] * rng.randint(1, 4)  # a 5xx burst
        elif roll < 0.66:
            script += ["throttle"] * rng.randint(2, 5)  # a 429 storm (Retry-After)
        elif roll < 0.73:
            script.append("drop")  # the connection closes mid-body
        elif roll < 0.80:
            script.append("truncate")  # a complete answer of cut JSON
        elif roll < 0.85:
            script.append("empty")
        elif roll < 0.87:
            script.append("slow")  # slower than the read timeout
        elif roll < 0.97:
            script.append("repeat")  # a page repeated or overlapping
        else:
            script.append("stall")  # an offset that does not move on
        while script and script[0] == "ok":
            script.pop(0)
    return script


def fast_hook(hook_class: type) -> type:
    """The hook with short retry waits (the campaign runs hundreds of archives)."""

    def init(self: Any, conn_id: Any = None, **kwargs: Any) -> None:
        hook_class.__init__(self, conn_id, retry_policy=FAST, **kwargs)

    return type(f"Fast{hook_class.__name__}", (hook_class,), {"__init__": init})


@dataclass
class Service:
    name: str
    server: EmulatorServer
    #: (destination, log_format, variant) -> operator
    make_operator: Callable[[str, str, int], Any]
    #: the emulator's connections, with the campaign's read timeout
    connections: dict[str, dict[str, Any]]
    #: reaches the job's end (so the source stops changing) through the hook
    finish: Callable[[], None]
    variants: int = 1


def _with_timeout(connections: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = json.loads(json.dumps(connections))
    for conn in out.values():
        if conn["conn_type"] == "aws":
            conn["extra"]["config_kwargs"] = {"read_timeout": READ_TIMEOUT, "connect_timeout": 2}
        else:
            conn["extra"]["timeout"] = READ_TIMEOUT
    return out


def _poll(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 20
    while not check():
        assert time.monotonic() < deadline, f"{what} did not finish"
        time.sleep(0.02)


def _blueking(app: EmulatorApp, server: EmulatorServer) -> Service:
    from airflow_joblogs.hooks.blueking import BlueKingJobHook
    from airflow_joblogs.operators.blueking import BlueKingJobLogOperator

    def make(destination: str, log_format: str, variant: int) -> Any:
        op = BlueKingJobLogOperator(
            task_id="archive",
            job_instance_id=1001,
            bk_biz_id=2,
            bk_job_conn_id=("bk_job_default", "bk_job_default", "bk_job_esb")[variant],
            concurrency=(4, 1, 1)[variant],
            destination=destination,
            log_format=log_format,
        )
        op.hook_class = fast_hook(BlueKingJobHook)
        return op

    def finish() -> None:
        hook = BlueKingJobHook("bk_job_default")
        _poll(lambda: hook.get_job_status(1001, bk_biz_id=2).state.is_terminal, "BlueKing job 1001")

    return Service("blueking", server, make, _with_timeout(server.connections()), finish, variants=3)


def _codearts(app: EmulatorApp, server: EmulatorServer) -> Service:
    from airflow_joblogs.emulators.codearts import LARGE_JOB
    from airflow_joblogs.hooks.codearts import CodeArtsBuildHook
    from airflow_joblogs.operators.codearts import CodeArtsBuildLogOperator

    def make(destination: str, log_format: str, variant: int) -> Any:
        op = CodeArtsBuildLogOperator(
            task_id="archive", job_id=LARGE_JOB, build_no=3, destination=destination, log_format=log_format
        )

        def init(self: Any, conn_id: Any = None, **kwargs: Any) -> None:
            CodeArtsBuildHook.__init__(self, conn_id, retry_policy=FAST, empty_log_backoff=0.005, **kwargs)

        op.hook_class = type("FastCodeArtsBuildHook", (CodeArtsBuildHook,), {"__init__": init})
        return op

    def finish() -> None:
        hook = CodeArtsBuildHook()
        _poll(lambda: hook.get_build_status(LARGE_JOB, 3).state.is_terminal, "CodeArts build")

    return Service("codearts", server, make, _with_timeout(server.connections()), finish)


def _qingcloud(app: EmulatorApp, server: EmulatorServer) -> Service:
    from airflow_joblogs.emulators.qingcloud import APP_ID
    from airflow_joblogs.hooks.qingcloud import QingCloudHook
    from airflow_joblogs.operators.qingcloud import QingCloudClusterJobsOperator

    def make(destination: str, log_format: str, variant: int) -> Any:
        op = QingCloudClusterJobsOperator(
            task_id="archive", app=APP_ID, page_size=20, destination=destination, log_format=log_format
        )
        op.hook_class = fast_hook(QingCloudHook)
        return op

    def finish() -> None:
        hook = QingCloudHook()
        _poll(
            lambda: (
                hook.get_job_status(["j-resize0001", "j-addnodes01"], APP_ID).raw_status == "failed"
                and hook.get_job_status("j-addnodes01", APP_ID).state.is_terminal
            ),
            "QingCloud jobs",
        )

    return Service("qingcloud", server, make, _with_timeout(server.connections()), finish)


def _mgn(app: EmulatorApp, server: EmulatorServer) -> Service:
    from airflow_joblogs.emulators.mgn import WAVE_JOB
    from airflow_joblogs.hooks.mgn import MgnHook
    from airflow_joblogs.operators.mgn import MgnJobLogOperator

    def make(destination: str, log_format: str, variant: int) -> Any:
        return MgnJobLogOperator(
            task_id="archive", job_id=WAVE_JOB, max_results=25, destination=destination, log_format=log_format
        )

    def finish() -> None:
        hook = MgnHook()
        _poll(lambda: hook.get_job_status(WAVE_JOB).state.is_terminal, "MGN wave job")

    return Service("mgn", server, make, _with_timeout(server.connections()), finish)


def _apps() -> dict[str, tuple[Callable[[], EmulatorApp], Callable[[EmulatorApp, EmulatorServer], Service]]]:
    from airflow_joblogs.emulators.blueking import blueking_app
    from airflow_joblogs.emulators.codearts import codearts_app
    from airflow_joblogs.emulators.qingcloud import qingcloud_app

    apps: dict[str, Any] = {
        "blueking": (lambda: blueking_app(speed=50.0), _blueking),
        # a ~40 KB build log in pages of at most 4 KB: about ten pages per archive
        "codearts": (lambda: codearts_app(speed=50.0, large_log_bytes=40_000, max_page_bytes=4096, seed=3), _codearts),
        # 253 records in pages of 20
        "qingcloud": (lambda: qingcloud_app(speed=50.0, history=250), _qingcloud),
    }
    try:
        from airflow_joblogs.emulators.mgn import mgn_app

        __import__("airflow_joblogs.hooks.mgn")
        # 102 log items in pages of 25
        apps["mgn"] = (lambda: mgn_app(speed=50.0, wave_servers=20), _mgn)
    except ImportError:  # without airflow-joblogs[amazon]
        pass
    return apps


@pytest.fixture(scope="module")
def services() -> Iterator[dict[str, Service]]:
    started: dict[str, Service] = {}
    servers = []
    try:
        for name, (make_app, make_service) in _apps().items():
            app = make_app()
            server = EmulatorServer(app).start()
            servers.append(server)
            started[name] = make_service(app, server)
        yield started
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def references(services: dict[str, Service], tmp_path_factory: pytest.TempPathFactory) -> dict[Any, dict[str, Any]]:
    """Fault-free archives: the sources every faulty run must reproduce exactly (and themselves checked)."""
    mp = pytest.MonkeyPatch()
    refs: dict[Any, dict[str, Any]] = {}
    try:
        for service in services.values():
            for conn_id, conn in service.connections.items():
                mp.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
            service.server.app.faults.clear()
            service.finish()
            for variant in range(service.variants):
                for log_format in ("text", "jsonl"):
                    folder = tmp_path_factory.mktemp(f"ref-{service.name}")
                    manifest = service.make_operator(str(folder) + "/", log_format, variant).execute({})
                    data = Path(manifest["uri"].removeprefix("file://")).read_bytes()
                    assert hashlib.sha256(data).hexdigest() == manifest["sha256"]
                    refs[service.name, variant, log_format] = {"manifest": manifest, "data": data}
        _check_references(services, refs)
    finally:
        mp.undo()
    return refs


def _check_references(services: dict[str, Service], refs: dict[Any, dict[str, Any]]) -> None:
    """The fault-free archives hold what the emulators serve (so 'equal to the reference' means 'exact')."""
    if "codearts" in services:
        from airflow_joblogs.emulators.codearts import LARGE_JOB

        assert refs["codearts", 0, "text"]["manifest"]["bytes"] > 30_000
        pages = [json.loads(line) for line in refs["codearts", 0, "jsonl"]["data"].decode().splitlines()]
        assert "".join(p["log"] for p in pages).encode() == refs["codearts", 0, "text"]["data"]
        assert all(p["job_id"] == LARGE_JOB for p in pages) and len(pages) >= 10
    if "blueking" in services:
        for variant in range(services["blueking"].variants):
            lines = refs["blueking", variant, "jsonl"]["data"].decode().splitlines()
            assert len(lines) == 12 and all(json.loads(line)["log_content"] for line in lines)
        assert refs["blueking", 0, "text"]["data"] == refs["blueking", 1, "text"]["data"], "concurrency keeps order"
    if "qingcloud" in services:
        records = [json.loads(line) for line in refs["qingcloud", 0, "jsonl"]["data"].decode().splitlines()]
        assert len(records) == 253 and len({r["job_id"] for r in records}) == 253
    if "mgn" in services:
        items = [json.loads(line) for line in refs["mgn", 0, "jsonl"]["data"].decode().splitlines()]
        assert len(items) == 102 and items[0]["event"] == "JOB_START" and items[-1]["event"] == "JOB_END"


@pytest.fixture
def fast_botocore_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore's standard retry mode waits up to 2**n seconds; the campaign shortens its waits, not its rules."""
    try:
        from botocore.retries.standard import ExponentialBackoff
    except ImportError:
        return
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0.005)


def _run(service: Service, seed: int, references: dict[Any, dict[str, Any]], tmp_path: Path, monkeypatch) -> None:
    rng = random.Random(seed)
    variant = rng.randrange(service.variants)
    log_format = rng.choice(("text", "jsonl"))
    script = schedule(rng)
    for conn_id, conn in service.connections.items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    faults = service.server.app.faults
    injected_before = sum(faults.injected.values())
    folder = tmp_path / "archive"
    faults.update(script=script, retry_after=0.01, slow_seconds=SLOW_SECONDS)
    try:
        manifest = service.make_operator(str(folder) + "/", log_format, variant).execute({})
    except JobLogsError as exc:
        outcome = "failed"
        text = str(exc)
        assert text.startswith(f"[{exc.service}]") and len(text) > len(exc.service) + 10, text
        assert not folder.exists() or list(folder.iterdir()) == [], "a failed run left something behind"
    else:
        outcome = "exact"
        reference = references[service.name, variant, log_format]
        files = list(folder.iterdir())
        assert [f.name for f in files] == [Path(reference["manifest"]["uri"]).name], files
        data = files[0].read_bytes()
        assert hashlib.sha256(data).hexdigest() == manifest["sha256"] == reference["manifest"]["sha256"], (
            f"seed {seed}: the archive differs from the source ({len(data)} bytes, source "
            f"{len(reference['data'])}); script {script}"
        )
        assert manifest["bytes"] == reference["manifest"]["bytes"]
        assert manifest["lines"] == reference["manifest"]["lines"]
    finally:
        faults.update(script=[])
    assert sum(faults.injected.values()) > injected_before, "the run met no fault"
    TALLY[service.name, outcome] += 1


@pytest.mark.parametrize("seed", range(RUNS_PER_SERVICE))
@pytest.mark.parametrize("name", ["blueking", "codearts", "qingcloud", "mgn"])
def test_faulty_archive_is_exact_or_fails_clearly(
    name, seed, services, references, tmp_path, monkeypatch, fast_botocore_backoff
):
    if name not in services:
        pytest.skip("needs airflow-joblogs[amazon]")
    _run(services[name], 1000 * (1 + list(services).index(name)) + seed, references, tmp_path, monkeypatch)


def test_the_campaign_saw_both_outcomes(services):
    """The schedules are neither harmless nor hopeless: most runs still archive exactly, some fail clearly."""
    for name in services:
        exact, failed = TALLY[name, "exact"], TALLY[name, "failed"]
        if exact + failed < RUNS_PER_SERVICE:
            pytest.skip("run with the whole campaign")
        assert exact >= RUNS_PER_SERVICE // 4, (name, exact, failed)
        assert failed >= 1, (name, exact, failed)


# -- a task killed while it writes --------------------------------------------------------------------------------
KILLED_TASK = """
import sys
from airflow_joblogs.emulators.codearts import LARGE_JOB
from airflow_joblogs.operators.codearts import CodeArtsBuildLogOperator

CodeArtsBuildLogOperator(task_id="archive", job_id=LARGE_JOB, build_no=3, destination=sys.argv[1]).execute({})
"""


@pytest.fixture(scope="module")
def big_build() -> Iterator[tuple[EmulatorServer, bytes]]:
    """A CodeArts emulator serving a 12 MiB build log (more than one 5 MiB upload part) in pages of 1,000 lines."""
    from airflow_joblogs.emulators.codearts import LARGE_JOB, CodeArtsEmulator

    emulator = CodeArtsEmulator(speed=1000.0, large_log_bytes=12 << 20)
    with EmulatorServer(emulator.app()) as server:
        yield server, emulator.builds[LARGE_JOB, 3].full_log


def _kill_mid_write(destination: str, started_writing: Callable[[], bool], server: EmulatorServer) -> None:
    """Start the archive task in a process of its own and SIGKILL it once it has written part of the log."""
    server.app.faults.update(latency=0.01)  # slow enough to be caught mid-write
    task = subprocess.Popen(
        [sys.executable, "-c", KILLED_TASK, destination],
        env=os.environ.copy(),
        preexec_fn=die_with_parent(signal.SIGKILL),  # it is to be killed anyway; with the test process too
    )
    try:
        deadline = time.monotonic() + 60
        while not started_writing():
            assert task.poll() is None, "the task ended before it could be killed"
            assert time.monotonic() < deadline, "the task never started writing"
            time.sleep(0.02)
        task.send_signal(signal.SIGKILL)
        assert task.wait(timeout=30) == -signal.SIGKILL
    finally:
        if task.poll() is None:
            task.kill()
        server.app.faults.update(latency=0)


@pytest.mark.slow
def test_killed_file_archive_leaves_no_partial_at_the_final_path(big_build, tmp_path, monkeypatch):
    from airflow_joblogs.emulators.codearts import LARGE_JOB
    from airflow_joblogs.operators.codearts import CodeArtsBuildLogOperator

    server, source = big_build
    for conn_id, conn in server.connections().items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    folder = tmp_path / "logs"
    final = folder / f"codearts-{LARGE_JOB}-3.log"

    def partial_written() -> bool:
        return any(p.name.endswith(".partial") and p.stat().st_size >= 1 << 20 for p in folder.glob(".*"))

    _kill_mid_write(str(folder) + "/", partial_written, server)
    leftovers = [p.name for p in folder.iterdir()]
    assert not final.exists() and len(leftovers) == 1 and leftovers[0].startswith(f".{final.name}."), leftovers

    manifest = CodeArtsBuildLogOperator(
        task_id="archive", job_id=LARGE_JOB, build_no=3, destination=str(folder) + "/"
    ).execute({})  # the retry
    assert [p.name for p in folder.iterdir()] == [final.name], "the retry removed the killed attempt's partial"
    assert manifest["leftovers_removed"] == 1
    assert hashlib.sha256(final.read_bytes()).hexdigest() == manifest["sha256"] == hashlib.sha256(source).hexdigest()


@pytest.mark.slow
def test_killed_s3_archive_leaves_no_object_at_the_final_path(big_build, s3_bucket, s3_server, monkeypatch):
    import boto3

    from airflow_joblogs.emulators.codearts import LARGE_JOB
    from airflow_joblogs.operators.codearts import CodeArtsBuildLogOperator

    server, source = big_build
    for conn_id, conn in server.connections().items():
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
    bucket = s3_bucket.rsplit("@", 1)[1]
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    name = f"codearts-{LARGE_JOB}-3.log"

    def objects() -> list[str]:
        return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="killed/").get("Contents", [])]

    def upload_started() -> bool:  # the first 5 MiB part went up
        return bool(s3.list_multipart_uploads(Bucket=bucket).get("Uploads"))

    _kill_mid_write(f"{s3_bucket}/killed/", upload_started, server)
    assert f"killed/{name}" not in objects(), "nothing at the final key"
    assert all(".partial" in key for key in objects())

    manifest = CodeArtsBuildLogOperator(
        task_id="archive", job_id=LARGE_JOB, build_no=3, destination=f"{s3_bucket}/killed/"
    ).execute({})  # the retry
    assert objects() == [f"killed/{name}"]
    stored = s3.get_object(Bucket=bucket, Key=f"killed/{name}")["Body"].read()
    assert hashlib.sha256(stored).hexdigest() == manifest["sha256"] == hashlib.sha256(source).hexdigest()
    # what the killed process left is an incomplete multipart upload, not an object (a bucket lifecycle rule
    # with AbortIncompleteMultipartUpload removes those; see the docs)
    assert any(u["Key"].startswith(f"killed/.{name}.") for u in s3.list_multipart_uploads(Bucket=bucket)["Uploads"])
