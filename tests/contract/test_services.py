"""One contract, four services: what the shared sensor, trigger and hooks promise, checked the same way for
BlueKing JOB, CodeArts Build, QingCloud and AWS MGN against their emulators."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from airflow.providers.common.compat.sdk import AirflowSkipException, TaskDeferred
from helpers import failure_message, poke_until_done, round_trip, trigger_events

from airflow_joblogs.exceptions import InvalidParameterError

RECORDER = "joblogs-contract"


@dataclass(frozen=True)
class Service:
    """How to reach one service's jobs in its emulator, and what its failure report must say."""

    name: str
    fixture: str
    sensor_path: str
    trigger_path: str
    succeeding: dict[str, Any]
    failing: dict[str, Any]
    report: str
    bad_job: dict[str, Any]
    bad_parameter: str
    conn_type: str
    needs: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def sensor_class(self) -> type:
        if self.needs:
            pytest.importorskip(self.needs, reason="needs airflow-joblogs[amazon]")
        from airflow_joblogs._imports import import_string

        base = import_string(self.sensor_path)
        # a plain logger: the test reads what the task log would show, whatever the Airflow version
        return type(base.__name__, (base,), {"log": property(lambda self: logging.getLogger(RECORDER))})

    def sensor(self, job: dict[str, Any], **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", 30)
        kwargs.setdefault("poke_interval", 0.05)
        return self.sensor_class()(task_id=f"wait_{self.fixture}", **job, **self.extra, **kwargs)


SERVICES = [
    Service(
        name="BlueKing JOB",
        fixture="bk",
        sensor_path="airflow_joblogs.sensors.blueking.BlueKingJobSensor",
        trigger_path="airflow_joblogs.triggers.blueking.BlueKingJobTrigger",
        succeeding={"job_instance_id": 1006},
        failing={"job_instance_id": 1002},
        report="host 0:10.0.0.12: ip_status 104",
        bad_job={"job_instance_id": "12abc"},
        bad_parameter="job_instance_id",
        conn_type="bk_job",
        extra={"bk_biz_id": 2},
    ),
    Service(
        name="CodeArts Build",
        fixture="cb",
        sensor_path="airflow_joblogs.sensors.codearts.CodeArtsBuildSensor",
        trigger_path="airflow_joblogs.triggers.codearts.CodeArtsBuildTrigger",
        succeeding={"job_id": "a1b2c3d4e5f60718293a4b5c6d7e8f90", "build_no": 7},
        failing={"job_id": "b2c3d4e5f60718293a4b5c6d7e8f90a1", "build_no": 12},
        report="step 'Run unit tests' (id 3): status FAILED",
        bad_job={"job_id": "not-a-job", "build_no": 7},
        bad_parameter="job_id",
        conn_type="codearts_build",
    ),
    Service(
        name="QingCloud",
        fixture="qc",
        sensor_path="airflow_joblogs.sensors.qingcloud.QingCloudClusterJobSensor",
        trigger_path="airflow_joblogs.triggers.qingcloud.QingCloudClusterJobTrigger",
        succeeding={"job_ids": "j-addnodes01"},
        failing={"job_ids": "j-resize0001"},
        report="ResizeCluster on cl-chronus01: status 'failed', error_codes 2500",
        bad_job={"job_ids": "job 1"},
        bad_parameter="job_ids",
        conn_type="qingcloud",
        extra={"app": "app-tg3lbp0a"},
    ),
    Service(
        name="AWS MGN",
        fixture="mgn",
        sensor_path="airflow_joblogs.sensors.mgn.MgnJobSensor",
        trigger_path="airflow_joblogs.triggers.mgn.MgnJobTrigger",
        succeeding={"job_id": "mgnjob-cutover0000000001"},
        failing={"job_id": "mgnjob-failedlaunch00001"},
        report="launchStatus FAILED (expected LAUNCHED)",
        bad_job={"job_id": "mgnjob-bad"},
        bad_parameter="job_id",
        conn_type="aws",
        needs="airflow.providers.amazon.aws.hooks.base_aws",
    ),
]


@pytest.fixture(params=SERVICES, ids=[s.fixture for s in SERVICES])
def service(request: pytest.FixtureRequest) -> Service:
    svc: Service = request.param
    if svc.needs:
        pytest.importorskip(svc.needs, reason="needs airflow-joblogs[amazon]")
    request.getfixturevalue(svc.fixture)  # the emulator, its job clocks from zero, its connections set
    return svc


def logged(caplog: pytest.LogCaptureFixture) -> str:
    return "\n".join(r.getMessage() for r in caplog.records if r.name == RECORDER)


def secrets_of(service: Service) -> list[str]:
    """The connection's secret values, as the emulator hands them out."""
    import os

    found = []
    for key, value in os.environ.items():
        if key.startswith("AIRFLOW_CONN_"):
            conn = json.loads(value)
            if conn.get("conn_type") == service.conn_type and conn.get("password"):
                found.append(str(conn["password"]))
    assert found, "the emulator set a connection with a secret"
    return found


def test_a_job_that_succeeds_passes_the_gate(service: Service) -> None:
    assert poke_until_done(service.sensor(service.succeeding))


def test_a_failed_job_fails_with_the_report(service: Service) -> None:
    text = failure_message(service.sensor(service.failing, log_tail_lines=2))
    assert text.startswith(f"{service.name} job "), text
    assert service.report in text


def test_soft_fail_skips_with_the_report_in_the_task_log(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    op = service.sensor(service.failing, soft_fail=True, log_tail_lines=2)
    with caplog.at_level(logging.INFO, logger=RECORDER), pytest.raises(AirflowSkipException):
        poke_until_done(op)
    assert service.report in logged(caplog)


def test_deferred_the_trigger_round_trips_and_reaches_the_same_verdict(service: Service) -> None:
    for job, verdict in ((service.succeeding, "success"), (service.failing, "failure")):
        op = service.sensor(job, deferrable=True, stream_logs=True)
        try:
            op.execute({})
        except TaskDeferred as deferred:
            stored = round_trip(deferred.trigger, service.trigger_path)
            assert stored["stream_logs"] is True and stored["end_time"] is not None
            events = trigger_events(deferred.trigger)
            assert [e["status"] for e in events] == [verdict]
            json.dumps(events[0])  # the event is JSON values
        except InvalidParameterError:
            raise
        except Exception as exc:  # the job had already failed at the first check: the sensor decides at once
            assert verdict == "failure" and service.report in str(exc), exc
        else:  # the job had already succeeded at the first check
            assert verdict == "success"


def test_the_connection_test_passes_and_shows_no_secret(service: Service) -> None:
    op = service.sensor(service.succeeding)
    ok, message = op.hook.test_connection()
    assert ok, message
    for secret in secrets_of(service):
        assert secret not in message and secret not in repr(op.hook)


def test_a_malformed_job_reference_names_the_parameter_before_any_request(service: Service) -> None:
    with pytest.raises(InvalidParameterError) as error:
        service.sensor(service.bad_job).execute({})
    assert error.value.parameter == service.bad_parameter


def test_no_secret_in_failure_messages_or_logs(service: Service, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        text = failure_message(service.sensor(service.failing, stream_logs=True))
    everything = text + "\n" + "\n".join(r.getMessage() for r in caplog.records)
    for secret in secrets_of(service):
        assert secret not in everything


@pytest.mark.parametrize("option", ["stream_logs", "deferrable"])
def test_booleans_are_strict_everywhere(service: Service, option: str) -> None:
    with pytest.raises(InvalidParameterError, match=f"'{option}'"):
        service.sensor(service.succeeding, **{option: "false"})


def test_a_connection_of_another_type_is_refused_by_name(service: Service, monkeypatch: pytest.MonkeyPatch) -> None:
    if service.conn_type == "aws":
        pytest.skip("the aws connection type is Airflow's own; AwsBaseHook reads any connection")
    other = "qingcloud" if service.conn_type != "qingcloud" else "bk_job"
    monkeypatch.setenv("AIRFLOW_CONN_OTHER_TYPE", json.dumps({"conn_type": other, "login": "a", "password": "b"}))
    factory: Callable[..., Any] = service.sensor
    op = factory(service.succeeding, **{f"{service.conn_type}_conn_id": "other_type"})
    with pytest.raises(InvalidParameterError) as error:
        op.poke({})
    assert error.value.parameter == f"{service.conn_type}_conn_id"
    assert f"is of type '{other}'" in str(error.value)


@pytest.mark.parametrize(
    "hook_path",
    [
        "airflow_joblogs.hooks.blueking.BlueKingJobHook",
        "airflow_joblogs.hooks.codearts.CodeArtsBuildHook",
        "airflow_joblogs.hooks.qingcloud.QingCloudHook",
        "airflow_joblogs.hooks.mgn.MgnHook",
    ],
)
def test_every_hook_implements_the_service_contract(hook_path: str) -> None:
    """Each member of JobService, with the same parameters (the hooks derive from Airflow's BaseHook, which
    type checkers may see as Any: this test is what holds them to the contract)."""
    import inspect

    from airflow_joblogs._imports import import_string
    from airflow_joblogs.contract import JobService

    if hook_path.endswith("MgnHook"):
        pytest.importorskip("airflow.providers.amazon.aws.hooks.base_aws", reason="needs airflow-joblogs[amazon]")
    hook = import_string(hook_path)
    assert isinstance(hook.default_conn_name, str) and hook.default_conn_name
    members = [
        name
        for name, value in vars(JobService).items()
        if callable(value) and (not name.startswith("_") or name in ("__enter__", "__exit__", "__init__"))
    ]
    assert "tail_logs" in members and "ajob_status_from_ref" in members
    for name in members:
        wanted = inspect.signature(getattr(JobService, name))
        actual = inspect.signature(getattr(hook, name))
        assert inspect.iscoroutinefunction(getattr(hook, name)) == inspect.iscoroutinefunction(
            getattr(JobService, name)
        ), name
        for parameter in wanted.parameters.values():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            assert parameter.name in actual.parameters, f"{hook_path}.{name} lacks {parameter.name!r}"


def test_the_same_concept_has_the_same_name_in_every_service(service):
    """Whichever service a DAG talks to: ``job_ref`` builds a job reference, ``iter_log_chunks`` iterates a job's
    log, ``failed_units`` says what failed; a former name stays as an alias of the new one."""
    import sys

    sensor = service.sensor(service.succeeding)
    hook_class = type(sensor).hook_class
    module = sys.modules[hook_class.__module__]
    assert callable(module.job_ref)
    for name in ("iter_log_chunks", "failed_units", "get_job_status", "job_status_from_ref", "tail_logs"):
        assert callable(getattr(hook_class, name)), name
    former = {"bk": ("iter_host_logs", "aiter_host_logs"), "cb": ("iter_build_log", "aiter_build_log")}
    for old in former.get(service.fixture, ()):
        assert getattr(hook_class, old) is getattr(
            hook_class, old.replace("host_logs", "log_chunks").replace("build_log", "log_chunks")
        )
    if service.fixture == "cb":
        assert module.build_ref is module.job_ref
