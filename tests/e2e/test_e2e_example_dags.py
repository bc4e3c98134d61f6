"""Every example DAG in a real Airflow: triggered through the REST API, sensors deferred to the triggerer,
archives on S3 (moto), logs read back as a user reads them."""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from helpers import mgn_event_data_fields

pytestmark = [pytest.mark.e2e, pytest.mark.every_airflow, pytest.mark.slow, pytest.mark.timeout(420)]

LOGICAL_DATE = "2026-01-15T00:00:00Z"
DS = "2026-01-15"
RUN_ID = "e2e-run"
TERMINAL = {"success", "failed"}

#: dag_id -> task_id -> the state it must end in
EXPECTED_STATES: dict[str, dict[str, str]] = {
    "blueking_deploy_gate": {
        "deploy": "success",
        "archive_deploy_logs": "success",
        "failed_deploy": "failed",
        "archive_failed_deploy_logs": "success",
    },
    "codearts_build_archive": {
        "build": "success",
        "archive_build_log": "success",
        "archive_unit_test_log": "success",
    },
    "qingcloud_cluster_jobs": {
        "add_nodes": "success",
        "export_recent_jobs": "success",
        "wait_for_resize": "failed",
        "export_failed_jobs": "success",
    },
    "mgn_cutover_logs": {
        "start_cutover": "success",
        "archive_cutover_log": "success",
        "start_failed_cutover": "failed",
        "archive_failed_cutover_log": "success",
    },
}
#: the tasks that wait on a job: the sensors, and the run operators that start the job and wait for it
RUNS = {
    "blueking_deploy_gate": ["deploy", "failed_deploy"],
    "codearts_build_archive": ["build"],
    "mgn_cutover_logs": ["start_cutover", "start_failed_cutover"],
}
SENSORS = {
    dag: [t for t in tasks if t.startswith("wait_for_")] + RUNS.get(dag, []) for dag, tasks in EXPECTED_STATES.items()
}


@pytest.fixture(scope="module")
def runs(e2e_stage) -> dict[str, dict[str, Any]]:
    """Trigger every example DAG at once; wait (bounded) until each run ends. Records the task states seen."""
    airflow = e2e_stage.airflow
    for dag_id in EXPECTED_STATES:
        airflow.trigger(dag_id, RUN_ID, LOGICAL_DATE)
    results: dict[str, dict[str, Any]] = {dag_id: {"seen": {}} for dag_id in EXPECTED_STATES}
    deadline = time.monotonic() + 240
    pending = set(EXPECTED_STATES)
    while pending and time.monotonic() < deadline:
        for dag_id in sorted(pending):
            run = airflow.api("GET", f"dags/{dag_id}/dagRuns/{RUN_ID}")
            for task_id, ti in airflow.task_instances(dag_id, RUN_ID).items():
                results[dag_id]["seen"].setdefault(task_id, set()).add(ti["state"])
            if run["state"] in TERMINAL:
                results[dag_id]["run"] = run
                results[dag_id]["tis"] = airflow.task_instances(dag_id, RUN_ID)
                pending.discard(dag_id)
        time.sleep(0.5)
    assert not pending, f"runs still going after 240s: {sorted(pending)}\n{airflow.component_output_tail()}"
    return results


def test_every_run_ends_as_expected(runs):
    for dag_id, expected in EXPECTED_STATES.items():
        states = {task_id: ti["state"] for task_id, ti in runs[dag_id]["tis"].items()}
        assert states == expected, dag_id
        print(dag_id, runs[dag_id]["seen"])


# -- what the emulators served ----------------------------------------------------------------------------
def started(stage, dag_id: str, task_id: str, key: str) -> Any:
    """A field of a run operator's result: its own XCom, pushed right after the start (also when the job failed)."""
    value = stage.airflow.xcom(dag_id, RUN_ID, task_id, key)
    return json.loads(value) if isinstance(value, str) and not value.isalnum() else value


def deploy_job(stage, task_id: str = "deploy") -> int:
    return int(started(stage, "blueking_deploy_gate", task_id, "job_instance_id"))


def web_build(stage) -> Any:
    """The emulator's record of the build the ``build`` task started."""
    job_id = started(stage, "codearts_build_archive", "build", "job_id")
    build_no = int(started(stage, "codearts_build_archive", "build", "build_no"))
    return stage.emulators["codearts"].builds[(job_id, build_no)]


def blueking_host_logs(stage, job_instance_id: int) -> list[tuple[int, str, str]]:
    """(step id, host ip, the host's whole log) for every host of every step, as the job ended."""
    from airflow_joblogs.emulators.blueking import host_log, job_view

    job = stage.emulators["blueking"].jobs[job_instance_id]
    _status, views = job_view(job, 1e9)
    return [
        (view.step.step_instance_id, host.ip, host_log(job, view.step, host) if view.progress >= 1.0 else "")
        for view in views
        for host in view.step.hosts
    ]


def mgn_items(stage, job_id: str) -> list[dict[str, Any]]:
    """The job's log items as the installed botocore parses them (it drops fields its model lacks)."""
    import botocore.session

    shape = botocore.session.get_session().get_service_model("mgn").shape_for("JobLogEventData")
    items = []
    for item in stage.emulators["mgn"].log_items(job_id):
        if "eventData" in item:
            item = {**item, "eventData": {k: v for k, v in item["eventData"].items() if k in shape.members}}
        items.append(item)
    return items


def qingcloud_app_records(stage, app: str, limit: int) -> list[dict[str, Any]]:
    """The application's cluster jobs, newest first, as DescribeClusterJobs returns them (directive decoded)."""
    emulator = stage.emulators["qingcloud"]
    jobs = sorted((j for j in emulator.jobs if j.app == app), key=lambda j: (j.created, j.job_id), reverse=True)
    records = [emulator.record(j) for j in jobs[:limit]]
    return [{**r, "directive": json.loads(r["directive"])} for r in records]


# -- reading what Airflow kept ----------------------------------------------------------------------------
def s3_objects(stage) -> dict[str, bytes]:
    client = stage.s3()
    listing = client.list_objects_v2(Bucket=stage.bucket)
    return {
        o["Key"]: client.get_object(Bucket=stage.bucket, Key=o["Key"])["Body"].read()
        for o in listing.get("Contents", [])
    }


def event_text(entry: dict[str, Any]) -> str:
    """A log event as the UI shows it: the message, then any exception's type and text."""
    parts = [str(entry.get("event", ""))]
    for error in entry.get("error_detail") or []:
        parts.append(f"{error.get('exc_type')}: {error.get('exc_value')}")
    return "\n".join(parts)


def streamed(entries: list[dict[str, Any]], service_module: str) -> list[str]:
    """The messages the service's sensor or run operator (worker) and trigger (triggerer) logged, in log order."""
    return [
        str(e.get("event", ""))
        for e in entries
        if any(f"{part}.{service_module}." in str(e.get("logger", "")) for part in ("sensors", "operators", "triggers"))
    ]


def task_log_with_spill(stage, dag_id: str, task_id: str) -> list[dict[str, Any]]:
    """The task log the API serves, with the trigger's last lines that Airflow 3.3 wrote to the triggerer's own
    log instead of the trigger's log file on a busy triggerer (see ``AirflowCluster.triggerer_spill``) put back
    after the trigger's part: every line logged, where a user finds it."""
    entries = stage.airflow.task_log(dag_id, RUN_ID, task_id)
    spill = stage.airflow.triggerer_spill(dag_id, task_id, run_id=RUN_ID)
    if not spill:
        return entries
    from_trigger = [
        i
        for i, e in enumerate(entries)
        if str(e.get("logger", "")).startswith(("airflow_joblogs.triggers.", "airflow.jobs.triggerer_job_runner"))
    ]
    at = from_trigger[-1] + 1 if from_trigger else len(entries)
    return entries[:at] + spill + entries[at:]


def trigger_log_events(stage, dag_id: str, task_id: str) -> list[dict[str, Any]]:
    """What the triggerer logged for the task: its trigger log files, then any lines spilled to its own log."""
    return stage.airflow.trigger_events(dag_id, RUN_ID, task_id)


def trigger_log_files(stage, dag_id: str, task_id: str) -> list[Path]:
    folder = stage.airflow.logs / f"dag_id={dag_id}" / f"run_id={RUN_ID}" / f"task_id={task_id}"
    return sorted(folder.glob("attempt=1.log.trigger.*.log"))


# -- the checks -------------------------------------------------------------------------------------------
def test_deferred_sensors_waited_in_the_triggerer(e2e_stage, runs):
    """Every sensor went DEFERRED, and its trigger ran in the triggerer process, which wrote the trigger's log."""
    for dag_id, sensors in SENSORS.items():
        for task_id in sensors:
            assert "deferred" in runs[dag_id]["seen"][task_id], (dag_id, task_id, runs[dag_id]["seen"][task_id])
            files = trigger_log_files(e2e_stage, dag_id, task_id)
            assert files, f"no trigger log for {dag_id}.{task_id}"
            events = trigger_log_events(e2e_stage, dag_id, task_id)
            assert any(str(e.get("event", "")).startswith("Trigger fired event") for e in events), (dag_id, task_id)


def test_failed_jobs_fail_their_sensor_with_a_readable_reason(e2e_stage, runs):
    # the failed MGN launch, as the archive after it names it (from the id the run pushed when it started the job)
    failed_launch = manifest_of(e2e_stage, "mgn_cutover_logs", "archive_failed_cutover_log")["job"]["job_id"]
    failed = deploy_job(e2e_stage, "failed_deploy")
    step = failed * 10 + 2  # the plan's second step
    # botocore releases before the model's attemptCount (Airflow 3.0's, for one) drop the attempt from an event
    attempt = " (attempt 3/3)" if "attemptCount" in mgn_event_data_fields() else ""
    expected = {
        ("blueking_deploy_gate", "failed_deploy"): [
            f"JobFailedError: BlueKing JOB job {failed} (deploy-api-v1.8) ended in status 4 (failed), a failure state [4, 8, 9, 11, 12, 13, 14].",
            f"- step 'migrate and restart' (id {step}) host 0:10.0.0.12: ip_status 104 (script exit code non-zero), exit code 1",
            f"- step 'migrate and restart' (id {step}) host 0:10.0.0.13: ip_status 104 (script exit code non-zero), exit code 2",
            "| [2026-11-22 10:00:04][PID:40013] ERROR: migration 0042_add_index failed: lock wait timeout",
        ],
        ("qingcloud_cluster_jobs", "wait_for_resize"): [
            "JobFailedError: QingCloud job j-resize0001 (ResizeCluster) ended in status 'failed'",
            "- job j-resize0001 ResizeCluster on cl-chronus01: status 'failed', error_codes 2500",
        ],
        ("mgn_cutover_logs", "start_failed_cutover"): [
            f"JobFailedError: AWS MGN job {failed_launch} (LAUNCH START_CUTOVER) ended in status 'FAILED'",
            "- source server s-5e7a100000000000c: launchStatus FAILED (expected LAUNCHED); CONVERSION_FAIL" + attempt,
            "at ConversionServer.prepareBoot: GRUB configuration not found under /boot/grub2",
        ],
    }
    for (dag_id, task_id), fragments in expected.items():
        log = "\n".join(event_text(e) for e in e2e_stage.airflow.task_log(dag_id, RUN_ID, task_id))
        for fragment in fragments:
            assert fragment in log, f"{dag_id}.{task_id}: {fragment!r} not in its task log"


def test_task_logs_show_every_line_streamed_while_waiting_once(e2e_stage, runs):
    """The sensor's first poke (worker) and its trigger (triggerer) together stream each remote line exactly once,
    and the task log the API serves holds both parts (with the trigger's last lines a busy triggerer wrote to its
    own log: :func:`task_log_with_spill`)."""
    # BlueKing: "[step <step id> <cloud>:<ip>] <line>" for every line of every host of the started job
    entries = task_log_with_spill(e2e_stage, "blueking_deploy_gate", "deploy")
    got: dict[tuple[int, str], list[str]] = {}
    for message in streamed(entries, "blueking"):
        match = re.match(r"^\[step (\d+) \d+:([\d.]+)\] (.*)$", message, re.S)
        if match:
            got.setdefault((int(match[1]), match[2]), []).append(match[3])
    want = {(step, ip): log.splitlines() for step, ip, log in blueking_host_logs(e2e_stage, deploy_job(e2e_stage))}
    assert got == want

    # CodeArts Build: the build's log lines, verbatim, between the status lines
    entries = task_log_with_spill(e2e_stage, "codearts_build_archive", "build")
    lines = [m for m in streamed(entries, "codearts") if not m.startswith(("CodeArts Build job ", "started "))]
    assert lines == web_build(e2e_stage).full_log.decode().splitlines()

    # AWS MGN: one readable line per log event of the cutover job the run operator started
    from airflow_joblogs.hooks.mgn import render_item

    cutover_job = manifest_of(e2e_stage, "mgn_cutover_logs", "start_cutover")["job_id"]
    entries = task_log_with_spill(e2e_stage, "mgn_cutover_logs", "start_cutover")
    lines = [m for m in streamed(entries, "mgn") if not m.startswith(("AWS MGN job ", "started AWS MGN job "))]
    assert lines == [render_item(i) for i in mgn_items(e2e_stage, cutover_job)]

    # QingCloud cluster jobs have no log: the status changes of the job the run operator started are streamed,
    # to its success in the triggerer (the run operator deferred)
    assert "deferred" in runs["qingcloud_cluster_jobs"]["seen"]["add_nodes"]
    [job_id] = manifest_of(e2e_stage, "qingcloud_cluster_jobs", "add_nodes")["job_ids"]
    entries = task_log_with_spill(e2e_stage, "qingcloud_cluster_jobs", "add_nodes")
    changes = [m for m in streamed(entries, "qingcloud") if m.startswith(f"[{job_id}]")]
    assert changes[-1].startswith(f"[{job_id}] AddClusterNodes on cl-chronus01 is successful since"), changes

    # the trigger's part was logged by the triggerer (the stream went on while the task was deferred)
    trigger_lines = [e.get("event", "") for e in trigger_log_events(e2e_stage, "codearts_build_archive", "build")]
    assert any(": This action ends." in str(line) for line in trigger_lines)


def manifest_of(e2e_stage, dag_id: str, task_id: str) -> dict[str, Any]:
    manifest = e2e_stage.airflow.xcom(dag_id, RUN_ID, task_id)
    return manifest if isinstance(manifest, dict) else json.loads(manifest)


#: (dag_id, task_id) of every archive written to the S3 destination
S3_ARCHIVES = [
    ("blueking_deploy_gate", "archive_deploy_logs"),
    ("blueking_deploy_gate", "archive_failed_deploy_logs"),
    ("codearts_build_archive", "archive_build_log"),
    ("codearts_build_archive", "archive_unit_test_log"),
    ("qingcloud_cluster_jobs", "export_recent_jobs"),
    ("mgn_cutover_logs", "archive_cutover_log"),
    ("mgn_cutover_logs", "archive_failed_cutover_log"),
]


def test_archives_on_s3_are_the_emulators_logs_with_true_manifests(e2e_stage, runs):
    objects = s3_objects(e2e_stage)
    prefix = f"s3://aws_s3@{e2e_stage.bucket}/"
    manifests = {task_id: manifest_of(e2e_stage, dag_id, task_id) for dag_id, task_id in S3_ARCHIVES}
    # exactly the archives, under the templated paths; no temporary object left behind
    assert sorted(objects) == sorted(m["uri"].removeprefix(prefix) for m in manifests.values())
    for task_id, manifest in manifests.items():
        key = manifest["uri"].removeprefix(prefix)
        service = key.split("/")[1]
        assert key.startswith(f"e2e/{service}/{DS}/"), key
        data = objects[key]
        assert manifest["bytes"] == len(data), task_id
        assert manifest["lines"] == data.count(b"\n"), task_id
        assert manifest["sha256"] == hashlib.sha256(data).hexdigest(), task_id
        assert manifest["stored_sha256"] == manifest["sha256"], task_id  # uncompressed: stored as logged

    # BlueKing, text: every host's log verbatim, in step and host order, each under its header line
    data = objects[manifests["archive_deploy_logs"]["uri"].removeprefix(prefix)].decode()
    hosts = blueking_host_logs(e2e_stage, deploy_job(e2e_stage))
    headers = [line for line in data.splitlines() if line.startswith("===== ")]
    assert len(headers) == len(hosts)
    assert all(f"host 0:{ip} " in header for (_step, ip, _log), header in zip(hosts, headers, strict=True))
    assert "".join(line for line in data.splitlines(keepends=True) if not line.startswith("===== ")) == "".join(
        log for _step, _ip, log in hosts
    )

    # BlueKing, JSON Lines: one record per host of the failed job, its log whole
    records = [
        json.loads(line)
        for line in objects[manifests["archive_failed_deploy_logs"]["uri"].removeprefix(prefix)].splitlines()
    ]
    assert [(r["step_instance_id"], r["ip"], r["log_content"]) for r in records] == blueking_host_logs(
        e2e_stage, deploy_job(e2e_stage, "failed_deploy")
    )

    # CodeArts Build: the whole run log byte for byte; action 3's pages as records whose logs join to its log
    from airflow_joblogs.emulators.codearts import WEB_JOB

    build = web_build(e2e_stage)
    assert build.job_id == WEB_JOB and build.build_no > 7
    assert objects[manifests["archive_build_log"]["uri"].removeprefix(prefix)] == build.full_log
    pages = [
        json.loads(line)
        for line in objects[manifests["archive_unit_test_log"]["uri"].removeprefix(prefix)].splitlines()
    ]
    assert "".join(p["log"] for p in pages).encode() == build.step_logs[2]

    # QingCloud: the application's 50 newest job records (it has 48, and the one add_nodes started), exactly as the
    # API returned them
    records = [
        json.loads(line) for line in objects[manifests["export_recent_jobs"]["uri"].removeprefix(prefix)].splitlines()
    ]
    # a job the export saw pending or working (a listed job starts when first asked about) has gone on since: its
    # status fields are as the export saw them, the rest as now
    running = {r["job_id"]: r for r in records if r["status"] in ("pending", "working")}
    now = qingcloud_app_records(e2e_stage, "app-tg3lbp0a", 50)
    moving = ("status", "status_time", "error_codes")
    assert records == [
        {**r, **{k: running[r["job_id"]][k] for k in moving}} if r["job_id"] in running else r for r in now
    ]
    assert len(records) == 49
    assert [records[0]["job_id"]] == manifest_of(e2e_stage, "qingcloud_cluster_jobs", "add_nodes")["job_ids"]

    # AWS MGN, text grouped by source server: the job's events first, then each server's, every event once
    from airflow_joblogs.hooks.mgn import render_item

    cutover_job = manifest_of(e2e_stage, "mgn_cutover_logs", "start_cutover")["job_id"]
    failed_job = manifests["archive_failed_cutover_log"]["job"]["job_id"]
    assert sorted([cutover_job, failed_job]) == sorted(e2e_stage.emulators["mgn"].started), "the DAG's two launches"
    items = mgn_items(e2e_stage, cutover_job)
    groups: dict[str | None, list[str]] = {None: []}
    for item in items:
        groups.setdefault((item.get("eventData") or {}).get("sourceServerID"), []).append(render_item(item) + "\n")
    want = "".join(
        ("===== job events =====" if server is None else f"===== source server {server} =====")
        + f" ({len(lines)} items)\n"
        + "".join(lines)
        for server, lines in groups.items()
    )
    assert objects[manifests["archive_cutover_log"]["uri"].removeprefix(prefix)].decode() == want
    records = [
        json.loads(line)
        for line in objects[manifests["archive_failed_cutover_log"]["uri"].removeprefix(prefix)].splitlines()
    ]
    assert records == mgn_items(e2e_stage, failed_job)

    # the failed QingCloud jobs went to XCom as readable lines
    failed = manifest_of(e2e_stage, "qingcloud_cluster_jobs", "export_failed_jobs")
    assert failed["uri"] is None
    assert failed["content"].splitlines()[0] == "2026-11-22T02:02:00Z  ResizeCluster  failed  cl-chronus01  2500"


def test_no_credential_in_any_log_or_xcom(e2e_stage, runs):
    """Every file under the logs folder (tasks, triggers, DAG processor) and every component's output,
    and every XCom, scanned for every credential of the run: app secrets, SK, passwords, IAM tokens, AWS keys,
    and QingCloud's request signatures (as sent, and percent-encoded as they stand in a URL)."""
    codearts = e2e_stage.emulators["codearts"]
    tokens = set(codearts._tokens)  # the IAM tokens the emulator issued during the run
    assert codearts.tokens_issued >= 2, "the worker and the triggerer each got an IAM token"
    verified = httpx.get(e2e_stage.servers["qingcloud"].url + "/_emulator/qingcloud").raise_for_status().json()
    signatures = set(verified["signatures_verified"])
    assert len(signatures) >= 4, "the worker and the triggerer signed their QingCloud calls"
    assert verified["signatures_verified_total"] == len(verified["signatures_verified"]), "every one was kept"
    signatures |= {quote(signature, safe="") for signature in signatures}
    credentials = e2e_stage.secrets | tokens | signatures
    assert len(credentials) >= 10, credentials

    scanned = 0
    leaks = []
    files = [p for p in e2e_stage.airflow.logs.rglob("*") if p.is_file()]
    files += list(e2e_stage.airflow.output.glob("*.out"))
    assert any(".trigger." in p.name for p in files)
    for path in files:
        text = path.read_text(errors="replace")
        scanned += len(text)
        leaks += [(path.name, "…" + secret[-4:]) for secret in credentials if secret in text]
    xcoms = json.dumps(
        [manifest_of(e2e_stage, d, t) for d, t in [*S3_ARCHIVES, ("qingcloud_cluster_jobs", "export_failed_jobs")]]
    )
    leaks += [("xcom", "…" + secret[-4:]) for secret in credentials if secret in xcoms]
    assert not leaks, leaks
    assert scanned > 100_000, "the logs were really there"
