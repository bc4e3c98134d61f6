"""The CodeArts example DAG, run for real with dag.test() against the emulator, deferrable and poke."""

from __future__ import annotations

import hashlib
import json
import logging

import pytest

from airflow_joblogs.emulators.codearts import WEB_JOB

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("deferrable", [True, False], ids=["deferrable", "poke"])
def test_codearts_build_archive(cb, run_example_dag, tmp_path, deferrable, caplog, capfd, monkeypatch):
    caplog.set_level(logging.INFO, logger="airflow_joblogs.triggers.codearts")
    # the build's clock starts when the run operator starts it: at this pace it still runs when the operator
    # first checks it, so the deferrable run defers and its trigger streams (at the fixture's pace it may be over)
    monkeypatch.setattr(cb.app.clock, "speed", 1.0)
    _run, tis = run_example_dag("codearts_build_archive.py", tmp_path, deferrable)
    assert {task_id: ti.state for task_id, ti in tis.items()} == {
        "build": "success",
        "archive_build_log": "success",
        "archive_unit_test_log": "success",
    }
    # deferred: the trigger polled the build and streamed its log lines; poke mode never starts it
    # (Airflow 3.0 hands trigger logs to logging, later versions print them)
    out, err = capfd.readouterr()
    printed = [line for line in (out + err).splitlines() if "CodeArtsBuildTrigger" in line]
    logged = [r.getMessage() for r in caplog.records if r.name.startswith("airflow_joblogs.triggers.codearts")]
    from_trigger = printed + logged
    assert bool(from_trigger) is deferrable
    if deferrable:
        assert any(": This action starts." in line for line in from_trigger)
    # the archives took the build the run operator started: the task's next build after the catalogue's #7
    started = tis["build"].xcom_pull(task_ids="build")
    assert started["job_id"] == WEB_JOB and started["status"]["raw"] == "SUCCESS"
    build_no = started["build_no"]
    assert build_no > 7
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert [f.rsplit("/", 1)[-1] for f in files] == [
        f"codearts-{WEB_JOB}-{build_no}-step3.jsonl",
        f"codearts-{WEB_JOB}-{build_no}.log",
    ]
    assert all(f.startswith("codearts/") for f in files), files

    build = cb.emulator.builds[(WEB_JOB, build_no)]
    text = next(tmp_path.rglob("*.log")).read_bytes()
    assert text == build.full_log
    manifest = tis["archive_build_log"].xcom_pull(task_ids="archive_build_log")
    assert manifest["sha256"] == hashlib.sha256(text).hexdigest()
    assert manifest["cursor"] == {"start_offset": 0, "end_offset": len(build.full_log)}

    pages = [json.loads(line) for line in next(tmp_path.rglob("*.jsonl")).read_text().splitlines()]
    assert "".join(p["log"] for p in pages).encode() == build.step_logs[2]
    assert {p["step_id"] for p in pages} == {3}
