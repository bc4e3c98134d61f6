"""The provider in a production-shaped Airflow: PostgreSQL, Redis, CeleryExecutor with two workers, two
triggerers (see :mod:`airflow_cluster`).

* every example DAG, with the checks of ``test_e2e_example_dags.py`` (imported: the same tests run here against
  this deployment, through the module's own ``e2e_stage``), and the asset example (its archive, and the DAG
  scheduled on the asset);
* 200 deferred BlueKing sensors at once: both triggerers carry some, each ends with its job's verdict;
* a triggerer killed (SIGKILL) while sensors are deferred on it: the other adopts its triggers, no streamed
  line is lost, only the lines since the deferral are logged twice;
* a Celery worker killed (SIGKILL) in the middle of an archive: the retry, on the other worker, writes the
  whole archive, never a partial one at its final path;
* a Celery worker killed (SIGKILL) while a run operator waits on the job it started: the retry reattaches to
  that job (one start request at the service);
* the latency from a job's end to its sensor's success, here and on the LocalExecutor deployment.
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from typing import Any

import pytest
from conftest import FAILOVER, FLEET, FLEET_ENV, POLL_INTERVAL, Stage, deployment

# the example DAG checks, run against this module's e2e_stage (the Celery deployment)
from test_e2e_example_dags import (  # noqa: F401 - collected here
    blueking_host_logs,
    runs,
    test_archives_on_s3_are_the_emulators_logs_with_true_manifests,
    test_deferred_sensors_waited_in_the_triggerer,
    test_every_run_ends_as_expected,
    test_failed_jobs_fail_their_sensor_with_a_readable_reason,
    test_no_credential_in_any_log_or_xcom,
    test_task_logs_show_every_line_streamed_while_waiting_once,
)

from airflow_joblogs.emulators.blueking import FLEET_FIRST_ID, fleet_job_fails

#: 200 sensors took more than 7 minutes on two busy cores (400 task runs): the bounds grow with the fleet
FLEET_TIMEOUT = 180 + 3 * FLEET
pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(600 + FLEET_TIMEOUT)]

#: emulator seconds of a fleet job's step (at the e2e clock speed, 0.25: four times as long)
FLEET_DURATION = 12.0
#: [triggerer] triggerer_health_check_threshold: twice Airflow's default. A triggerer's first connection lookup
#: from the metadata database (its in-process API, built on first use) kept it from heartbeating for 36-40 s on
#: this busy machine, and at 30 s the other triggerer adopted triggers that were still running.
HEALTH_CHECK_THRESHOLD = 60
RUN_ID = "e2e-run"
LOGICAL_DATE = "2026-01-15T00:00:00Z"
TRIGGERERS = ("triggerer-1", "triggerer-2")
WORKERS = ("celery-worker-1", "celery-worker-2")

#: latency rows of this session: deployment -> (count, median, p95, max) in seconds
LATENCY: dict[str, tuple[int, float, float, float]] = {}


@pytest.fixture(scope="module")
def celery_deployment(s3_server: str, request: pytest.FixtureRequest) -> Iterator[tuple[Stage, ExitStack]]:
    """The Celery deployment, for this module; the ExitStack stops it early (before another is measured)."""
    with ExitStack() as stack:
        stage = stack.enter_context(
            deployment(
                s3_server,
                request,
                executor="CeleryExecutor",
                blueking={
                    "fleet_jobs": FLEET + FAILOVER,
                    "fleet_duration": FLEET_DURATION,
                    "large_log_bytes": 96 << 20,
                    "large_hosts": 8,
                },
                airflow_env={
                    **FLEET_ENV,
                    # a triggerer silent this long is dead: another adopts its triggers
                    "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": str(HEALTH_CHECK_THRESHOLD),
                    # a triggerer heartbeats once per loop, after starting the triggers it took in that loop:
                    # small batches keep its loop short while many sensors defer at once
                    "AIRFLOW__TRIGGERER__MAX_TRIGGER_TO_SELECT_PER_LOOP": "10",
                    # only a dead triggerer is failed over here: on two shared cores a busy trigger runner can
                    # be silent longer than this watchdog's default 30 s, and its triggers would run twice
                    "AIRFLOW__TRIGGERER__RUNNER_HEALTH_CHECK_THRESHOLD": "0",
                    # fewer than the fleet: both triggerers must carry some
                    "AIRFLOW__TRIGGERER__CAPACITY": str(FLEET * 3 // 5),
                    # a task whose worker died fails (and is retried) after this long without a heartbeat
                    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
                },
            )
        )
        yield stage, stack


@pytest.fixture(scope="module")
def e2e_stage(celery_deployment: tuple[Stage, ExitStack]) -> Stage:
    """The deployment the imported example DAG checks run on: this module's Celery one."""
    return celery_deployment[0]


def report(request: pytest.FixtureRequest, text: str) -> None:
    """Shown in pytest's output whatever the capture mode (what a reader of the CI log looks for)."""
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if capture is None or reporter is None:
        print(text)
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line("")
        for line in text.splitlines():
            reporter.write_line(line)


# -- reading the deployment ---------------------------------------------------------------------------------
def mapped_tis(stage: Stage, dag_id: str) -> dict[int, dict[str, Any]]:
    """Every task instance of the run by map index, page by page (the API answers 100 at most at a time)."""
    tis: dict[int, dict[str, Any]] = {}
    while True:
        reply = stage.airflow.api(
            "GET",
            f"dags/{dag_id}/dagRuns/{RUN_ID}/taskInstances",
            params={"limit": 100, "offset": len(tis), "order_by": "map_index"},
        )
        page = reply["task_instances"]
        tis.update((ti["map_index"], ti) for ti in page)
        if not page or len(tis) >= reply["total_entries"]:
            return tis


def triggers_by_triggerer(stage: Stage, dag_id: str) -> dict[int, str | None]:
    """map index -> the name of the triggerer running its trigger (None: not assigned), for deferred tasks."""
    assert stage.airflow.database is not None
    rows = stage.airflow.database.query(
        "SELECT ti.map_index, j.hostname FROM task_instance ti JOIN trigger t ON t.id = ti.trigger_id "
        "LEFT JOIN job j ON j.id = t.triggerer_id WHERE ti.dag_id = %s AND ti.run_id = %s",
        dag_id,
        RUN_ID,
    )
    return {map_index: hostname for map_index, hostname in rows}


def triggerer_job_ids(stage: Stage) -> dict[str, list[int]]:
    assert stage.airflow.database is not None
    rows = stage.airflow.database.query("SELECT hostname, id FROM job WHERE job_type = 'TriggererJob' ORDER BY id")
    found: dict[str, list[int]] = {}
    for hostname, job_id in rows:
        found.setdefault(hostname, []).append(job_id)
    return found


def wait_run(stage: Stage, dag_id: str, timeout: float, sample: Any = None) -> dict[int, dict[str, Any]]:
    """Wait (bounded) until the run ends; ``sample()`` is called every round. The task instances at the end."""
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        if sample is not None:
            sample()
        state = stage.airflow.api("GET", f"dags/{dag_id}/dagRuns/{RUN_ID}")["state"]
        if state in ("success", "failed"):
            return mapped_tis(stage, dag_id)
        time.sleep(1)
    states: dict[str, int] = {}
    for ti in mapped_tis(stage, dag_id).values():
        states[str(ti["state"])] = states.get(str(ti["state"]), 0) + 1
    raise AssertionError(f"{dag_id} still {state} after {timeout}s: {states}\n{stage.airflow.component_output_tail()}")


def expected_state(map_index: int, first: int = FLEET_FIRST_ID) -> str:
    return "failed" if fleet_job_fails(first + map_index) else "success"


def job_end_wall_time(stage: Stage, job_id: int) -> float:
    """When the emulator's job ``job_id`` ended, as ``time.time()``."""
    emulator = stage.emulators["blueking"]
    started = emulator.clock.started(job_id)
    assert started is not None, f"job {job_id} was never asked about"
    job = emulator.jobs[job_id]
    life = job.pending + sum(step.duration for step in job.steps)
    return time.time() - time.monotonic() + started + life / emulator.clock.speed


def wall(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def latency_row(stage: Stage, tis: dict[int, dict[str, Any]]) -> tuple[int, float, float, float]:
    """From each job's end to its sensor's success: (count, median, p95, max) seconds."""
    delays = sorted(
        wall(ti["end_date"]) - job_end_wall_time(stage, FLEET_FIRST_ID + map_index)
        for map_index, ti in tis.items()
        if ti["state"] == "success"
    )
    assert delays and delays[0] > 0, delays[:3]
    p95 = delays[min(len(delays) - 1, round(0.95 * (len(delays) - 1)))]
    return len(delays), statistics.median(delays), p95, delays[-1]


def run_fleet(stage: Stage, dag_id: str = "e2e_fleet_sensors", timeout: float = FLEET_TIMEOUT) -> dict[str, Any]:
    """Trigger the fleet DAG and wait for its end, sampling which triggerer carries which trigger."""
    carried: dict[str, set[int]] = {}
    started = time.monotonic()

    def sample() -> None:
        if stage.airflow.database is None:
            return
        for map_index, hostname in triggers_by_triggerer(stage, dag_id).items():
            if hostname:
                carried.setdefault(hostname, set()).add(map_index)

    stage.airflow.trigger(dag_id, RUN_ID, LOGICAL_DATE)
    tis = wait_run(stage, dag_id, timeout, sample)
    return {"tis": tis, "carried": carried, "elapsed": time.monotonic() - started}


# -- the asset example ----------------------------------------------------------------------------------------
def test_the_asset_example_archives_and_the_dag_scheduled_on_the_asset_verifies_it(e2e_stage):
    """``blueking_archive_asset.py``: its run succeeds, the asset event's manifest names the archive on S3 (job
    1006's host logs, byte for byte), and the DAG scheduled on the asset runs and succeeds."""
    import hashlib

    stage, airflow = e2e_stage, e2e_stage.airflow
    airflow.trigger("blueking_archive_asset", RUN_ID, LOGICAL_DATE)
    deadline = time.monotonic() + 240
    checks: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        checks = airflow.api("GET", "dags/blueking_archive_check/dagRuns")["dag_runs"]
        if checks and all(run["state"] in ("success", "failed") for run in checks):
            break
        time.sleep(1)
    assert airflow.api("GET", f"dags/blueking_archive_asset/dagRuns/{RUN_ID}")["state"] == "success"
    assert [run["state"] for run in checks] == ["success"], checks
    events = airflow.api("GET", "assets/events", params={"source_dag_id": "blueking_archive_asset"})["asset_events"]
    assert len(events) == 1, events
    manifest = events[0]["extra"]
    key = manifest["uri"].removeprefix(f"s3://aws_s3@{stage.bucket}/")
    data = stage.s3().get_object(Bucket=stage.bucket, Key=key)["Body"].read()
    assert manifest["bytes"] == len(data) and manifest["sha256"] == hashlib.sha256(data).hexdigest()
    body = "".join(line for line in data.decode().splitlines(keepends=True) if not line.startswith("===== "))
    assert body == "".join(log for _step, _ip, log in blueking_host_logs(stage, 1006))


# -- 200 deferred sensors ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def fleet_run(e2e_stage: Stage, request: pytest.FixtureRequest) -> dict[str, Any]:
    result = run_fleet(e2e_stage)
    LATENCY["CeleryExecutor (2 workers, 2 triggerers, PostgreSQL)"] = latency_row(e2e_stage, result["tis"])
    report(request, f"{FLEET} deferred sensors on Celery: run took {result['elapsed']:.0f}s")
    return result


def test_200_deferred_sensors_end_with_their_jobs_verdicts_on_both_triggerers(fleet_run):
    tis = fleet_run["tis"]
    assert sorted(tis) == list(range(FLEET))
    wrong = {i: ti["state"] for i, ti in tis.items() if ti["state"] != expected_state(i)}
    assert not wrong, wrong
    assert sum(ti["state"] == "failed" for ti in tis.values()) == FLEET // 10
    # every one waited in a triggerer (deferred), and both triggerers carried some
    carried = fleet_run["carried"]
    assert set(carried) == set(TRIGGERERS), carried
    assert all(carried[name] for name in TRIGGERERS)
    assert set().union(*carried.values()) == set(range(FLEET)), "every sensor's trigger was seen in a triggerer"


# -- a triggerer dies --------------------------------------------------------------------------------------
def trigger_log_events(stage: Stage, dag_id: str, map_index: int, triggerer_job_id: int) -> list[dict[str, Any]]:
    path = (
        stage.airflow.logs
        / f"dag_id={dag_id}"
        / f"run_id={RUN_ID}"
        / "task_id=wait_for_job"
        / f"map_index={map_index}"
        / f"attempt=1.log.trigger.{triggerer_job_id}.log"
    )
    events = []
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            events.append(json.loads(line))
        except ValueError:  # a line cut short by the SIGKILL
            continue
    return events


def worker_log_events(stage: Stage, dag_id: str, map_index: int) -> list[dict[str, Any]]:
    path = (
        stage.airflow.logs
        / f"dag_id={dag_id}"
        / f"run_id={RUN_ID}"
        / "task_id=wait_for_job"
        / f"map_index={map_index}"
        / "attempt=1.log"
    )
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


STREAMED = re.compile(r"^\[step \d+ \d+:[\d.]+\] (.*)$", re.S)


def streamed_lines(events: list[dict[str, Any]]) -> list[str]:
    return [m[1] for e in events if (m := STREAMED.match(str(e.get("event", ""))))]


def test_a_killed_triggerer_s_sensors_are_adopted_and_end_without_losing_a_line(e2e_stage, fleet_run, request):
    from airflow_joblogs.emulators.blueking import host_log

    stage, dag_id, first_job = e2e_stage, "e2e_failover_sensors", FLEET_FIRST_ID + FLEET
    stage.airflow.trigger(dag_id, RUN_ID, LOGICAL_DATE)
    # every sensor deferred once, its trigger running in a triggerer and streaming (the first sensors' jobs may
    # have ended by the time the last defers: their first checks on a worker come one after another)
    deadline = time.monotonic() + 240
    placed: dict[int, str | None] = {}
    seen: set[int] = set()
    while time.monotonic() < deadline and len(seen) < FAILOVER:
        placed = triggers_by_triggerer(stage, dag_id)
        seen |= {i for i, hostname in placed.items() if hostname}
        time.sleep(0.5)
    assert len(seen) == FAILOVER, (sorted(seen), placed)
    placed = {i: hostname for i, hostname in triggers_by_triggerer(stage, dag_id).items() if hostname}
    counts = {name: sum(1 for h in placed.values() if h == name) for name in TRIGGERERS}
    victim = max(counts, key=lambda name: counts[name])
    survivor = next(name for name in TRIGGERERS if name != victim)
    adopted = sorted(i for i, h in placed.items() if h == victim)
    assert adopted, placed
    victim_job = triggerer_job_ids(stage)[victim][-1]
    killed_at = stage.airflow.kill(victim)

    tis = wait_run(stage, dag_id, timeout=300)
    wrong = {i: ti["state"] for i, ti in tis.items() if ti["state"] != expected_state(i, first_job)}
    assert not wrong, wrong
    survivor_job = triggerer_job_ids(stage)[survivor][-1]

    resumed_at = []
    repeated = 0
    for map_index in adopted:
        job = stage.emulators["blueking"].jobs[first_job + map_index]
        step = job.steps[0]
        full = host_log(job, step, step.hosts[0]).splitlines()
        before = streamed_lines(worker_log_events(stage, dag_id, map_index))  # the first poke, on a worker
        on_victim = streamed_lines(trigger_log_events(stage, dag_id, map_index, victim_job))
        # the survivor's trigger log file, then the last lines it wrote to its own log (a busy triggerer; see
        # AirflowCluster.triggerer_spill)
        events = trigger_log_events(stage, dag_id, map_index, survivor_job) + [
            e
            for e in stage.airflow.triggerer_spill(dag_id, "wait_for_job", map_index, RUN_ID)
            if e["triggerer_output"] == survivor
        ]
        first_check = [e for e in events if "first check of this trigger run" in str(e.get("event", ""))]
        assert first_check, f"sensor {map_index}: the surviving triggerer never checked its job"
        resumed_at.append(wall(first_check[0]["timestamp"]))
        on_survivor = streamed_lines(events)
        # nothing lost: what the worker streamed, then the survivor from the deferral's cursor to the end
        assert before + on_survivor == full, (map_index, before, on_survivor)
        # the only repeats: what the dead triggerer had streamed since the deferral
        assert on_victim == on_survivor[: len(on_victim)], (map_index, on_victim, on_survivor)
        repeated += len(on_victim)
    adoption = [t - killed_at for t in resumed_at]
    report(
        request,
        f"triggerer failover: {victim} killed with {len(adopted)} of {FAILOVER} triggers; {survivor} adopted them: "
        f"first check {min(adoption):.1f}s after the kill (last {max(adoption):.1f}s; "
        f"[triggerer] triggerer_health_check_threshold={HEALTH_CHECK_THRESHOLD}s, poll interval {POLL_INTERVAL:g}s); "
        f"{repeated} streamed lines logged again",
    )
    assert min(adoption) >= HEALTH_CHECK_THRESHOLD - 2, "adopted only once the dead triggerer counted as unhealthy"


# -- a worker dies in the middle of an archive -------------------------------------------------------------
def test_a_worker_killed_mid_archive_the_retry_on_the_other_writes_the_whole_archive(e2e_stage, request):
    import hashlib

    stage, dag_id = e2e_stage, "e2e_archive_retry"
    client = stage.s3()
    prefix = "e2e/retry/"

    def keys() -> dict[str, int]:
        listing = client.list_objects_v2(Bucket=stage.bucket, Prefix=prefix)
        return {o["Key"]: o["Size"] for o in listing.get("Contents", [])}

    stage.airflow.trigger(dag_id, RUN_ID, LOGICAL_DATE)
    deadline = time.monotonic() + 240
    worker = None
    while time.monotonic() < deadline:
        uploads = client.list_multipart_uploads(Bucket=stage.bucket, Prefix=prefix).get("Uploads", [])
        if uploads:
            ti = stage.airflow.task_instances(dag_id, RUN_ID)["archive_large_log"]
            worker = ti["hostname"]
            break
        time.sleep(0.05)
    assert worker in WORKERS, f"no upload under way seen ({worker!r})"
    stage.airflow.kill(worker)
    killed = time.monotonic()
    request.addfinalizer(lambda: stage.airflow.restart(worker))  # back for the next scenario

    seen: dict[str, set[int]] = {}

    def sample() -> None:
        for key, size in keys().items():
            seen.setdefault(key, set()).add(size)

    wait_run(stage, dag_id, timeout=240, sample=sample)
    ti = stage.airflow.task_instances(dag_id, RUN_ID)["archive_large_log"]
    assert ti["state"] == "success"
    assert ti["try_number"] == 2
    assert ti["hostname"] != worker and ti["hostname"] in WORKERS

    manifest = stage.airflow.xcom(dag_id, RUN_ID, "archive_large_log")
    manifest = manifest if isinstance(manifest, dict) else json.loads(manifest)
    final_key = manifest["uri"].removeprefix(f"s3://aws_s3@{stage.bucket}/")
    assert sorted(keys()) == [final_key], "only the archive: no partial object left"
    data = client.get_object(Bucket=stage.bucket, Key=final_key)["Body"].read()
    # every time the final path was seen, it held the whole archive
    assert seen.get(final_key, {len(data)}) == {len(data)}, seen
    assert manifest["bytes"] == len(data) and manifest["sha256"] == hashlib.sha256(data).hexdigest()
    hosts = blueking_host_logs(stage, 1005)
    body = "".join(line for line in data.decode().splitlines(keepends=True) if not line.startswith("===== "))
    assert body == "".join(log for _step, _ip, log in hosts)
    report(
        request,
        f"archive of {len(data) / 2**20:.0f} MiB: {worker} killed mid-upload; try 2 on {ti['hostname']} "
        f"succeeded {time.monotonic() - killed:.0f}s later",
    )


# -- a worker dies while a run operator waits ---------------------------------------------------------------
def test_a_worker_killed_mid_wait_the_retry_reattaches_to_the_job_it_started(e2e_stage, request):
    """A run operator waiting in its worker (not deferred), the worker killed with SIGKILL: the retry finds the
    job the first try started (``task_state_store``) and waits on it; the service saw one start request."""
    from airflow_joblogs.operators.run import STARTED_JOB_KEY

    stage, dag_id, task_id = e2e_stage, "e2e_run_reattach", "run_plan"
    emulator = stage.emulators["blueking"]
    starts_before = emulator.start_requests
    stage.airflow.trigger(dag_id, RUN_ID, LOGICAL_DATE)
    deadline = time.monotonic() + 240
    started = None
    while time.monotonic() < deadline:
        try:  # pushed once the started job is in the task state store
            started = stage.airflow.xcom(dag_id, RUN_ID, task_id, STARTED_JOB_KEY)
            break
        except RuntimeError:
            time.sleep(0.2)
    assert started is not None, f"the job was never started\n{stage.airflow.component_output_tail()}"
    started = started if isinstance(started, dict) else json.loads(started)
    ti = stage.airflow.task_instances(dag_id, RUN_ID)[task_id]
    worker = ti["hostname"]
    assert worker in WORKERS and ti["state"] == "running", ti
    assert emulator.start_requests == starts_before + 1
    stage.airflow.kill(worker)
    request.addfinalizer(lambda: stage.airflow.restart(worker))

    wait_run(stage, dag_id, timeout=240)
    ti = stage.airflow.task_instances(dag_id, RUN_ID)[task_id]
    assert ti["state"] == "success" and ti["try_number"] == 2, ti
    assert ti["hostname"] != worker
    assert emulator.start_requests == starts_before + 1, "the retry started no other job"
    result = stage.airflow.xcom(dag_id, RUN_ID, task_id)
    result = result if isinstance(result, dict) else json.loads(result)
    assert result["job_instance_id"] == started["job_instance_id"]
    assert result["status"]["raw"] == 3, result  # the plan's job succeeded
    log = "\n".join(str(e.get("event", "")) for e in stage.airflow.task_log(dag_id, RUN_ID, task_id, try_number=2))
    assert f"BlueKing JOB job {started['job_instance_id']}, started by an earlier try" in log, log[-3000:]
    report(
        request,
        f"run operator: {worker} killed while waiting on job {started['job_instance_id']}; try 2 on "
        f"{ti['hostname']} reattached to it; start requests at the emulator: 1",
    )


# -- latency, side by side -----------------------------------------------------------------------------------
def test_latency_from_job_end_to_sensor_success_celery_and_local(s3_server, celery_deployment, fleet_run, request):
    """The same fleet on a LocalExecutor deployment (sqlite, one triggerer) of its own (its fleet jobs not yet
    asked about), the Celery one stopped first so that the two do not share the CPU; one table."""
    celery_deployment[1].close()
    fleet = {"fleet_jobs": FLEET + FAILOVER, "fleet_duration": FLEET_DURATION}
    with deployment(s3_server, request, blueking=fleet, airflow_env=FLEET_ENV) as local:
        result = run_fleet(local)
        assert all(ti["state"] == expected_state(i) for i, ti in result["tis"].items())
        LATENCY["LocalExecutor (1 triggerer, sqlite)"] = latency_row(local, result["tis"])
    rows = [
        f"{'deployment':<52} {'sensors':>7} {'median':>7} {'p95':>7} {'max':>7}",
        *(
            f"{name:<52} {count:>7} {median:>6.1f}s {p95:>6.1f}s {top:>6.1f}s"
            for name, (count, median, p95, top) in LATENCY.items()
        ),
    ]
    report(
        request,
        f"job end -> sensor task success, {FLEET} deferred BlueKing sensors, poll interval {POLL_INTERVAL:g}s:\n"
        + "\n".join(rows),
    )
    assert len(LATENCY) == 2
