"""The processes the tests start end with the test process, even when that is killed outright.

A small Python process stands for pytest: it starts moto's S3 server exactly as the ``s3_server`` fixture does
(:func:`helpers.start_moto_server`), or a quickstart session as ``tests/test_quickstart.py`` does, reports its
PID, and is then SIGKILLed, so no fixture teardown runs. The
control case starts a child without :func:`helpers.die_with_parent` and sees it survive, so the check can fail.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from helpers import die_with_parent

TESTS = Path(__file__).resolve().parent
STARTUP_SECONDS = 60
#: how long the orphaned server may take to go once its parent is killed
GONE_WITHIN_SECONDS = 5

STAND_IN = f"""
import json, sys, time
sys.path.insert(0, {str(TESTS)!r})
import helpers
if sys.argv[1] == "moto":
    proc, url = helpers.start_moto_server()
elif sys.argv[1] == "quickstart":  # a page whose foreground and background commands would run for minutes
    import os, pathlib, test_quickstart
    folder = pathlib.Path(sys.argv[2])
    (folder / "session.sh").write_text(test_quickstart.shell_script(
        [{{"name": "quickstart-wait", "language": "bash", "code": "sleep 120 &\\nsleep 121\\n"}}]
    ))
    proc, url = test_quickstart.start_session(folder / "session.sh", folder, dict(os.environ)), None
else:  # the control: a child nothing ties to this process
    import subprocess
    proc, url = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"]), None
print(json.dumps({{"pid": proc.pid, "url": url}}), flush=True)
time.sleep(300)
"""


def start_stand_in(kind: str, *args: str) -> tuple[subprocess.Popen[str], dict]:
    parent = subprocess.Popen(
        [sys.executable, "-c", STAND_IN, kind, *args], stdout=subprocess.PIPE, text=True, preexec_fn=die_with_parent()
    )
    ready, _, _ = select.select([parent.stdout], [], [], STARTUP_SECONDS)
    if not ready:
        parent.kill()
        parent.wait()
        pytest.fail(f"the stand-in did not start its {kind} child in {STARTUP_SECONDS}s")
    assert parent.stdout is not None
    return parent, json.loads(parent.stdout.readline())


def is_gone(pid: int) -> bool:
    """Ended: no such process, or a zombie nobody reaped yet (PID 1 in a container may never reap)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if is_gone(pid):
            return True
        time.sleep(0.05)
    return is_gone(pid)


def kill_outright(parent: subprocess.Popen[str]) -> None:
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(timeout=10)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_moto_server_ends_when_the_test_process_is_killed_outright():
    parent, child = start_stand_in("moto")
    try:
        assert psutil.Process(child["pid"]).ppid() == parent.pid
        assert httpx.get(child["url"], timeout=5).status_code == 200, "the server was up"
        kill_outright(parent)
        assert gone_within(child["pid"], GONE_WITHIN_SECONDS), "moto_server outlived the killed test process"
        with pytest.raises(httpx.TransportError):
            httpx.get(child["url"], timeout=1)
    finally:
        if not is_gone(child["pid"]):
            os.kill(child["pid"], signal.SIGKILL)
        if parent.poll() is None:
            kill_outright(parent)


def session_members(leader: int) -> dict[int, str]:
    """The live processes of the session that ``leader`` started (zombies left out), with their command lines."""
    members = {}
    for proc in psutil.process_iter():
        try:
            if os.getsid(proc.pid) == leader and not is_gone(proc.pid):
                members[proc.pid] = " ".join(proc.cmdline())
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_the_quickstart_session_ends_when_the_test_process_is_killed_outright(tmp_path):
    parent, child = start_stand_in("quickstart", str(tmp_path))
    session = child["pid"]  # bash, leading a session of its own
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not {"sleep 120", "sleep 121"} <= set(session_members(session).values()):
            assert time.monotonic() < deadline, "the page's two sleeps did not start"
            time.sleep(0.05)
        kill_outright(parent)
        deadline = time.monotonic() + GONE_WITHIN_SECONDS
        while members := session_members(session):
            assert time.monotonic() < deadline, f"outlived the test process: {sorted(members.values())}"
            time.sleep(0.05)
    finally:
        for pid in session_members(session):
            os.kill(pid, signal.SIGKILL)
        if parent.poll() is None:
            kill_outright(parent)


def test_control_a_child_not_tied_to_its_parent_outlives_it():
    parent, child = start_stand_in("untied")
    try:
        kill_outright(parent)
        assert not gone_within(child["pid"], 1.0), "without the parent-death signal the child lives on"
    finally:
        if not is_gone(child["pid"]):
            os.kill(child["pid"], signal.SIGKILL)
        if parent.poll() is None:
            kill_outright(parent)
