"""Log rules: ``fail_on_log_patterns`` fails a sensor whose job succeeded but logged a matching line (poke,
stream_logs past its caps, deferrable with the state carried through the trigger); ``log_patterns`` counts
matches per pattern and unit in a log operator's manifest (BlueKing's emulator)."""

from __future__ import annotations

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred
from helpers import poke_until_done, round_trip, trigger_events, wait_for_blueking_job

from airflow_joblogs.exceptions import InvalidParameterError, JobFailedError
from airflow_joblogs.log_rules import LogMatcher
from airflow_joblogs.models import LogChunk
from airflow_joblogs.operators.blueking import BlueKingJobLogOperator
from airflow_joblogs.sensors.blueking import BlueKingJobSensor

TRIGGER = "airflow_joblogs.triggers.blueking.BlueKingJobTrigger"
#: a line every host of job 1001 (which succeeds) logs in its last step
HEALTH_CHECK = r"start and health check: stage 3/3 done"


def sensor(job_id: int, **kwargs) -> BlueKingJobSensor:
    kwargs.setdefault("timeout", 30)
    kwargs.setdefault("poke_interval", 0.05)
    return BlueKingJobSensor(task_id=f"wait_{job_id}", job_instance_id=job_id, bk_biz_id=2, **kwargs)


def assert_names_the_match(message: str) -> None:
    assert "job 1001 (deploy-web-v2.3) ended in status 3" in message
    assert f"pattern {HEALTH_CHECK!r} matched 4 log line(s)" in message  # 4 hosts
    assert "in step 10013 0:10.0.0.1:" in message, "the unit (the chunk's header) is named"
    assert "| [2026-" in message and "start and health check: stage 3/3 done" in message, "the line is shown"


@pytest.mark.parametrize("stream_logs", [False, True])
def test_a_successful_job_whose_log_matches_fails_the_sensor(bk, stream_logs):
    op = sensor(1001, fail_on_log_patterns=[r"no such line", HEALTH_CHECK], stream_logs=stream_logs)
    with pytest.raises(JobFailedError) as failed:
        poke_until_done(op)
    assert_names_the_match(str(failed.value))
    assert "no such line" not in str(failed.value)


def test_a_successful_job_whose_log_does_not_match_succeeds(bk):
    assert poke_until_done(sensor(1001, fail_on_log_patterns=[r"Traceback", r"exit=[1-9]"]))


def test_lines_past_the_stream_caps_are_still_checked(bk):
    op = sensor(1001, fail_on_log_patterns=[HEALTH_CHECK], stream_logs=True, stream_logs_max_bytes=100)
    with pytest.raises(JobFailedError) as failed:
        poke_until_done(op)
    assert_names_the_match(str(failed.value))


@pytest.mark.parametrize("stream_logs", [False, True])
def test_the_trigger_carries_the_matches_to_the_sensor(bk, stream_logs):
    op = sensor(1001, fail_on_log_patterns=[HEALTH_CHECK], deferrable=True, stream_logs=stream_logs)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})  # the job is still pending: the sensor defers
    kwargs = round_trip(deferred.value.trigger, TRIGGER)
    assert kwargs["log_rules"]["patterns"] == [HEALTH_CHECK]
    [event] = trigger_events(deferred.value.trigger)
    assert event["status"] == "success"
    with pytest.raises(JobFailedError) as failed:
        op.execute_complete({}, event)
    assert_names_the_match(str(failed.value))


def test_soft_fail_skips_a_job_whose_log_matches(bk):
    from airflow.providers.common.compat.sdk import AirflowSkipException

    wait_for_blueking_job(1001)
    with pytest.raises(AirflowSkipException, match="soft_fail"):
        sensor(1001, fail_on_log_patterns=[HEALTH_CHECK], soft_fail=True, deferrable=True).execute({})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["ok", "(unclosed"], r"'fail_on_log_patterns'.*'\(unclosed' is not a valid regular expression"),
        ("ERROR", r"'fail_on_log_patterns'.*must be a list of regular expressions"),
        ([""], r"'fail_on_log_patterns'.*not a regular expression"),
    ],
)
def test_bad_patterns_are_refused_when_the_dag_is_parsed(value, message):
    with pytest.raises(InvalidParameterError, match=message):
        sensor(1001, fail_on_log_patterns=value)
    with pytest.raises(InvalidParameterError, match=message.replace("fail_on_log_patterns", "log_patterns")):
        BlueKingJobLogOperator(task_id="archive", job_instance_id=1001, bk_biz_id=2, log_patterns=value)


def test_the_manifest_counts_matches_per_pattern_and_unit(bk, tmp_path):
    wait_for_blueking_job(1002)
    manifest = BlueKingJobLogOperator(
        task_id="archive",
        job_instance_id=1002,
        bk_biz_id=2,
        destination=f"{tmp_path}/",
        log_patterns=[r"ERROR: migration", r"job_fail exit=\d", r"no such line"],
    ).execute({})
    found = manifest["log_patterns"]
    assert found["no such line"] == {"count": 0, "units": {}}
    errors = found["ERROR: migration"]
    assert errors["count"] == 2  # the two hosts that failed step 2
    assert len(errors["units"]) == 2 and all("migrate and restart" in unit for unit in errors["units"])
    assert all(lines[0].endswith("lock wait timeout") for lines in errors["units"].values())
    assert found[r"job_fail exit=\d"]["count"] == 2


def test_what_the_matcher_keeps_is_bounded():
    matcher = LogMatcher([r"x"], max_units=3, max_lines_per_unit=2)
    for unit in range(100):
        matcher.feed(LogChunk(text="x\n" * 1000 + "y" * 10_000 + "x\n", header=f"unit {unit}"))
    [found] = matcher.report().values()
    assert found["count"] == 100 * 1001
    assert list(found["units"]) == ["unit 0", "unit 1", "unit 2"]
    assert all(lines == ["x", "x"] for lines in found["units"].values())
    assert LogMatcher.from_dict(matcher.to_dict()).report() == matcher.report()


@pytest.mark.parametrize(
    ("pattern", "lines"),
    [
        (r"^b", ["b1", "b2"]),  # anchors mean a line's start and end
        (r"2$", ["a2", "b2"]),
        (r"\Ab", ["b1", "b2"]),
        (r"a1|b2", ["a1", "b2"]),
    ],
)
def test_patterns_are_matched_line_by_line(pattern, lines):
    matcher = LogMatcher([pattern], max_lines_per_unit=10)
    matcher.feed(LogChunk(text="a1\nb1\r\na2\nb2\n", header="h"))
    assert matcher.report()[pattern]["units"] == {"h": lines}


def test_matches_found_before_deferring_survive_the_trigger(bk):
    """What the worker matched travels in the trigger's kwargs and comes back in its event."""
    from airflow_joblogs.triggers.blueking import BlueKingJobTrigger

    wait_for_blueking_job(1006)
    op = sensor(1006, fail_on_log_patterns=[r"disk full"])
    earlier = LogMatcher([r"disk full"], max_units=5, max_lines_per_unit=3)
    earlier.feed(LogChunk(text="warning: disk full on /var\n", header="step 10061 0:10.0.0.41"))
    trigger = BlueKingJobTrigger(
        conn_id="bk_job_default",
        job_ref=op.job_ref(),
        success_states=[3],
        failure_states=[4],
        poll_interval=0.05,
        log_rules=earlier.to_dict(),
    )
    rebuilt = BlueKingJobTrigger(**round_trip(trigger, TRIGGER))
    [event] = trigger_events(rebuilt)  # job 1006's own log has no such line
    assert event["status"] == "success"
    with pytest.raises(
        JobFailedError, match=r"(?s)'disk full' matched 1 log line.*in step 10061 0:10.0.0.41:.*on /var"
    ):
        op.execute_complete({}, event)
