"""What ``make dist`` builds, installed as a user would: the sdist and the wheel carry the license, the sdist the
example DAGs; the wheel, alone with Airflow in a new virtualenv, is a provider Airflow lists, its emulators start
from the installed package, and an example DAG from the sdist runs against them with ``airflow dags test``."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import airflow
import helpers
import pytest

import airflow_joblogs

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent


def python_with_uv() -> str:
    """An interpreter that has uv, as the Makefile's own ``$(PYTHON) -m uv`` needs: under ``uv run`` (make check)
    ``python3`` on the PATH is the project's virtualenv, which has no uv; the interpreter it was made from has."""
    for candidate in (os.environ.get("PYTHON"), getattr(sys, "_base_executable", None), "python3", sys.executable):
        if candidate and subprocess.run([candidate, "-m", "uv", "--version"], capture_output=True).returncode == 0:
            return candidate
    raise AssertionError("no Python with uv found (make check installs it with pip)")


PYTHON = python_with_uv()
UV = [PYTHON, "-m", "uv"]
VERSION = airflow_joblogs.__version__
EMULATOR_SPEED = 20  # BlueKing job 1001 (3 steps) then ends in a few seconds


def locked_airflow() -> str:
    """The apache-airflow version uv.lock pins (the one the new virtualenv gets)."""
    match = re.search(r'^name = "apache-airflow"\nversion = "([^"]+)"', (ROOT / "uv.lock").read_text(), re.M)
    assert match, "apache-airflow is not in uv.lock"
    return match[1]


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
    """Run a command; its output (stdout and stderr), or a failed test showing the end of it."""
    result = subprocess.run(
        args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"{' '.join(args)} exited with {result.returncode}:\n{result.stdout[-6000:]}"
    return result.stdout


def user_env(tmp_path: Path, venv: Path) -> dict[str, str]:
    """A shell as a user of the new virtualenv has it: the virtualenv first on PATH, nothing of this test run's
    Airflow settings, nothing that points Python at the checkout."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "JOBLOGS", "PYTHON", "VIRTUAL_ENV", "UV_"))
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["AIRFLOW_HOME"] = str(tmp_path / "airflow-home")
    env["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
    return env


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``make dist`` into a folder of its own: ``{"sdist": ..., "wheel": ...}``."""
    installed = airflow.__version__
    if installed != locked_airflow():
        pytest.skip(
            f"the new virtualenv gets uv.lock's Airflow {locked_airflow()} whatever runs the tests: "
            f"checked once, in the locked environment (this is Airflow {installed})"
        )
    out = tmp_path_factory.mktemp("dist")
    begin = time.monotonic()
    output = run(["make", "--no-print-directory", "dist", f"DIST={out}", f"PYTHON={PYTHON}"], cwd=ROOT, timeout=600)
    print(f"\nmake dist {time.monotonic() - begin:.1f} s")
    artifacts = sorted(p.name for p in out.iterdir() if p.name.startswith("airflow_joblogs-"))
    sdist, wheel = f"airflow_joblogs-{VERSION}.tar.gz", f"airflow_joblogs-{VERSION}-py3-none-any.whl"
    assert artifacts == sorted([sdist, wheel]), artifacts
    assert re.search(rf"Checking\s+\S*{re.escape(wheel)}:\s+\S*PASSED", output), output  # twine check --strict
    assert re.search(rf"Checking\s+\S*{re.escape(sdist)}:\s+\S*PASSED", output), output
    return {"sdist": out / sdist, "wheel": out / wheel}


def test_both_artifacts_carry_the_license_and_the_sdist_the_example_dags(dist):
    license_text = (ROOT / "LICENSE").read_bytes()
    assert b"Apache License" in license_text and b"Version 2.0, January 2004" in license_text
    assert b"END OF TERMS AND CONDITIONS" in license_text  # the full text, not a notice

    with tarfile.open(dist["sdist"]) as sdist:
        top = f"airflow_joblogs-{VERSION}"
        names = set(sdist.getnames())
        assert sdist.extractfile(f"{top}/LICENSE").read() == license_text
        pkg_info = sdist.extractfile(f"{top}/PKG-INFO").read().decode()
        example_dags = sorted(p.name for p in (ROOT / "example_dags").glob("*.py"))
        assert example_dags and {f"{top}/example_dags/{name}" for name in example_dags} <= names
        assert f"{top}/CHANGELOG.rst" in names

    with zipfile.ZipFile(dist["wheel"]) as wheel:
        info = f"airflow_joblogs-{VERSION}.dist-info"
        assert wheel.read(f"{info}/licenses/LICENSE") == license_text
        metadata = wheel.read(f"{info}/METADATA").decode()
        names = set(wheel.namelist())
        # the example DAGs are not part of the installed package (the docs point to the sdist's example_dags/)
        assert not [n for n in names if "example_dags" in n]
        assert "airflow_joblogs/emulators/__main__.py" in names
    for meta in (pkg_info, metadata):
        assert "License-Expression: Apache-2.0" in meta and "License-File: LICENSE" in meta
        assert f"Version: {VERSION}" in meta


def test_the_wheel_alone_with_airflow_is_a_working_provider(dist, tmp_path):
    from airflow_joblogs.emulators.blueking import FIRST_STARTED_JOB, catalogue, host_log

    timings: dict[str, float] = {}

    def timed(name: str, args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> str:
        begin = time.monotonic()
        try:
            return run(args, cwd, env, timeout)
        finally:
            timings[name] = time.monotonic() - begin

    venv = tmp_path / "venv"
    python, airflow = str(venv / "bin" / "python"), str(venv / "bin" / "airflow")
    # the wheel and its dependencies at the versions uv.lock pins (no dev dependencies, no extras)
    constraints = tmp_path / "constraints.txt"
    export = ["export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes", "--quiet", "-o", str(constraints)]
    timed("uv export", [*UV, *export], ROOT)
    timed("uv venv", [*UV, "venv", "--quiet", "--python", sys.executable, str(venv)], tmp_path)
    install = ["pip", "install", "--quiet", "--python", python, "-c", str(constraints), str(dist["wheel"])]
    timed("uv pip install", [*UV, *install], tmp_path)
    env = user_env(tmp_path, venv)

    where = run([python, "-c", "import airflow_joblogs; print(airflow_joblogs.__file__)"], tmp_path, env)
    assert Path(where.strip()).is_relative_to(venv), f"imported from {where.strip()}, not from the wheel"

    listed = timed("airflow providers get", [airflow, "providers", "get", "airflow-joblogs"], tmp_path, env)
    assert re.search(rf"^airflow-joblogs\s*\|\s*{re.escape(VERSION)}\s*$", listed, re.M), listed

    # the example DAGs as a wheel user gets them: from the sdist
    with tarfile.open(dist["sdist"]) as sdist:
        sdist.extractall(tmp_path / "src", filter="data")
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(tmp_path / "src" / f"airflow_joblogs-{VERSION}" / "example_dags")
    archive = tmp_path / "archive"
    env["JOBLOGS_ARCHIVE_ROOT"] = archive.as_uri()
    timed("airflow db migrate", [airflow, "db", "migrate"], tmp_path, env)

    env_file = tmp_path / "emulators.env"
    emulators = [python, "-m", "airflow_joblogs.emulators", "blueking", "--speed", str(EMULATOR_SPEED)]
    emulator = helpers.start_session([*emulators, "--env-file", str(env_file)], tmp_path, env)
    try:
        deadline = time.monotonic() + 60
        while not (env_file.exists() and env_file.read_text().endswith("\n")):
            assert emulator.poll() is None, f"the emulators exited: {emulator.communicate()[0]}"
            assert time.monotonic() < deadline, "the emulators wrote no connections in 60 s"
            time.sleep(0.2)
        for line in env_file.read_text().splitlines():
            name, _, value = line.partition("=")
            env[name] = value.strip("'")
        assert "AIRFLOW_CONN_BK_JOB_DEFAULT" in env

        dag_test = [airflow, "dags", "test", "blueking_deploy_gate", "2026-01-15"]
        output = timed("airflow dags test", dag_test, tmp_path, env, timeout=400)
    finally:
        os.killpg(emulator.pid, signal.SIGTERM)
        emulator.communicate(timeout=30)
    print("\n" + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in timings.items()))

    # the DAG starts plans 101 (runs like job 1001) and 102 (like 1002): the emulator's first two started jobs
    deployed = re.search(r"BlueKing JOB job (\d+) finished with 3: success", output)
    assert deployed, output[-6000:]
    deploy_id = int(deployed[1])
    (failed_id,) = {FIRST_STARTED_JOB, FIRST_STARTED_JOB + 1} - {deploy_id}
    assert "host 0:10.0.0.12: ip_status 104" in output, "plan 102's failure names its hosts"
    day = archive / "blueking" / "2026-01-15"
    assert sorted(p.name for p in day.iterdir()) == sorted(
        [f"bk_job-biz2-{deploy_id}.log", f"bk_job-biz2-{failed_id}.jsonl"]
    )
    job = catalogue()[1001]
    text = (day / f"bk_job-biz2-{deploy_id}.log").read_text()
    assert all(host_log(job, step, host) in text for step in job.steps for host in step.hosts)
