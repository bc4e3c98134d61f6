"""docs/quickstart.rst, executed: its ``quickstart-*`` code blocks run in order, in a fresh folder, as one shell
session (the install block is checked, not run: the package under test is already installed here, and
tests/test_dist.py installs the wheel in a new virtualenv)."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import helpers
import httpx
import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(420)]

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "quickstart.rst"
RUN_TIMEOUT = 360


def code_blocks(rst: str) -> list[dict[str, str]]:
    """Every ``.. code-block::`` of the page: language, options (``name``, ``caption`` ...) and code."""
    blocks = []
    lines = rst.splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"^\.\. code-block:: *(\w+)\s*$", lines[i])
        i += 1
        if not match:
            continue
        block = {"language": match[1]}
        while i < len(lines) and (option := re.match(r"^   :(\w+): *(.*)$", lines[i])):
            block[option[1]] = option[2].strip()
            i += 1
        body = []
        while i < len(lines) and (not lines[i].strip() or lines[i].startswith("   ")):
            body.append(lines[i])
            i += 1
        block["code"] = textwrap.dedent("\n".join(body)).strip("\n") + "\n"
        blocks.append(block)
    return blocks


def quickstart_blocks() -> list[dict[str, str]]:
    return [b for b in code_blocks(PAGE.read_text(encoding="utf-8")) if b.get("name", "").startswith("quickstart-")]


def test_the_install_block_installs_this_distribution():
    install = next(b for b in quickstart_blocks() if b["name"] == "quickstart-install")
    from importlib.metadata import metadata

    installed = metadata("airflow-joblogs")
    # the wheel that make dist builds: <distribution name, normalized>-<version>-...whl, with extras
    wheels = re.findall(r"pip install .*?/dist/([A-Za-z0-9_]+)-\*\.whl\)?(?:\[([a-z0-9,-]+)\])?", install["code"])
    assert wheels, install["code"]
    for name, extras in wheels:
        assert name == re.sub(r"[-_.]+", "_", installed["Name"]).lower()
        assert set(filter(None, extras.split(","))) <= set(installed.get_all("Provides-Extra") or [])


def shell_script(blocks: list[dict[str, str]]) -> str:
    """One bash session: shell blocks as written, file blocks (a ``:caption:`` naming the file) written out."""
    parts = [
        "set -euo pipefail",
        # what the page started (in the background, and the command running) is stopped when the session ends,
        # even on a failure or a SIGTERM (the test process died, see start_session): bash runs the EXIT trap then
        "trap 'kill $(jobs -p) 2>/dev/null || true' EXIT",
    ]
    for block in blocks:
        if block["name"] == "quickstart-install":
            continue
        if block["language"] == "bash":
            parts.append(f"echo '>>> {block['name']}'")
            parts.append(block["code"])
        else:
            path = block["caption"]
            assert "QUICKSTART_EOF" not in block["code"]
            parts.append(
                f"mkdir -p \"$(dirname '{path}')\"\ncat > '{path}' <<'QUICKSTART_EOF'\n{block['code']}QUICKSTART_EOF"
            )
    return "\n".join(parts) + "\n"


def start_session(script: Path, cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """bash running ``script`` in a session of its own (killed as a group) that ends with this process: SIGTERM
    to bash, whose EXIT trap stops the page's commands."""
    return helpers.start_session(["bash", str(script)], cwd, env)


def test_the_quickstart_runs_as_written(tmp_path):
    from airflow_joblogs.emulators.blueking import catalogue, host_log

    blocks = quickstart_blocks()
    assert [b["name"] for b in blocks][:2] == ["quickstart-install", "quickstart-airflow-home"]
    script = tmp_path / "quickstart.sh"
    script.write_text(shell_script(blocks))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    # the interpreter running the tests stands for the reader's activated virtualenv (python, airflow)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = start_session(script, tmp_path, env)
    try:
        output, _ = proc.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        output, _ = proc.communicate()
        pytest.fail(f"the quickstart did not finish in {RUN_TIMEOUT}s:\n{output[-5000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # nothing of the session outlives it
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, output[-8000:]

    # what the page says you will see
    for shown in (
        "Connection success!",
        "BlueKing JOB job 1001 is 2 (running)",
        "[step 10011 0:10.0.0.1]",
        "stop service: stage 1/3 done",
        "finished with 3: success",
        "bk_job-biz2-1001.log",
    ):
        assert shown in output, f"{shown!r} is not in the quickstart's output:\n{output[-8000:]}"

    archive = tmp_path / "archive" / "2026-01-15" / "bk_job-biz2-1001.log"
    assert sorted(p.name for p in archive.parent.iterdir()) == [archive.name]
    data = archive.read_bytes()
    assert f"{hashlib.sha256(data).hexdigest()}  archive/2026-01-15/bk_job-biz2-1001.log" in output
    job = catalogue()[1001]
    logs = [host_log(job, step, host) for step in job.steps for host in step.hosts]
    assert len(logs) == 12
    assert re.search(r"^>>> quickstart-archive\n(.*\n)?12\n", output, re.M), "grep counts the twelve sections"
    text = data.decode()
    assert "".join(line for line in text.splitlines(keepends=True) if not line.startswith("=====")) == "".join(logs)

    # `kill $EMULATOR_PID` stopped the emulator: its port no longer answers
    url = re.search(r'"host": "(http://127\.0\.0\.1:\d+)', (tmp_path / "emulators.env").read_text())[1]
    with pytest.raises(httpx.TransportError):
        httpx.get(url, timeout=2)
