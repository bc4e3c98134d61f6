"""Redaction: ``redact=True`` removes from archived logs (text, jsonl, gzip, XCom) every secret Airflow's
secrets masker knows and every ``redact_patterns`` match, and says so in the manifest; sensors redact
``redact_patterns`` from streamed lines (BlueKing's emulator, job 1007, whose scripts print secrets)."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import TaskDeferred, mask_secret
from helpers import poke_until_done, round_trip, trigger_events, wait_for_blueking_job

from airflow_joblogs.emulators.blueking import PLANTED_SECRETS
from airflow_joblogs.exceptions import InvalidParameterError, JobFailedError
from airflow_joblogs.operators.blueking import BlueKingJobLogOperator
from airflow_joblogs.sensors.blueking import BlueKingJobSensor
from airflow_joblogs.triggers.blueking import BlueKingJobTrigger

DB_PASSWORD, API_TOKEN, URL_PASSWORD = PLANTED_SECRETS
#: the token and the URL's password are no secrets Airflow knows: patterns catch them
PATTERNS = [r"(?<=Bearer )\S+?(?=')", r"(?<=://)[^:@/\s]+:[^@/\s]+(?=@)"]
RECORDER = "joblogs-redaction"
TRIGGER = "airflow_joblogs.triggers.blueking.BlueKingJobTrigger"


@pytest.fixture
def masked():
    """The database password is a secret Airflow's masker knows (as a connection's password would be)."""
    mask_secret(DB_PASSWORD)


def archive(**kwargs) -> dict:
    wait_for_blueking_job(1007)
    return BlueKingJobLogOperator(task_id="archive", job_instance_id=1007, bk_biz_id=2, **kwargs).execute({})


def stored(manifest: dict) -> bytes:
    data = Path(manifest["uri"].removeprefix("file://")).read_bytes()
    assert hashlib.sha256(data).hexdigest() == manifest["stored_sha256"], "the checksum is of what was written"
    return gzip.decompress(data) if manifest["compression"] else data


def test_without_redact_the_secrets_are_archived(bk, tmp_path, masked):
    text = stored(archive(destination=f"{tmp_path}/")).decode()
    assert all(secret in text for secret in PLANTED_SECRETS), "the emulator's job prints them"


@pytest.mark.parametrize(("log_format", "compression"), [("text", None), ("jsonl", None), ("text", "gzip")])
def test_redact_removes_every_secret_from_the_archive(bk, tmp_path, masked, log_format, compression):
    manifest = archive(
        destination=f"{tmp_path}/",
        log_format=log_format,
        compression=compression,
        redact=True,
        redact_patterns=PATTERNS,
    )
    data = stored(manifest)
    assert not any(secret.encode() in data for secret in PLANTED_SECRETS)
    assert data.count(b"***") == 6  # three secrets on each of two hosts
    assert manifest["redacted"] is True and manifest["redactions"] == 6
    assert manifest["sha256"] == hashlib.sha256(data).hexdigest()
    if log_format == "jsonl":
        records = [json.loads(line) for line in data.decode().splitlines()]
        assert len(records) == 2 and "DB_PASSWORD=***" in records[0]["log_content"]
    else:
        assert b"DB_PASSWORD=*** written to" in data and b"postgresql://***@10.0.0.51" in data


def test_redact_covers_the_xcom_copy_and_the_matched_lines(bk, masked):
    manifest = archive(redact=True, redact_patterns=PATTERNS, log_patterns=[r"DB_PASSWORD|Bearer|postgresql"])
    shown = json.dumps(manifest)
    assert not any(secret in shown for secret in PLANTED_SECRETS)
    assert manifest["log_patterns"]["DB_PASSWORD|Bearer|postgresql"]["count"] == 6


def test_only_the_masker_without_patterns(bk, tmp_path, masked):
    manifest = archive(destination=f"{tmp_path}/", redact=True)
    data = stored(manifest)
    assert DB_PASSWORD.encode() not in data and API_TOKEN.encode() in data
    assert manifest["redactions"] == 2  # the password, on each of two hosts


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"redact_patterns": ["token"]}, r"'redact_patterns'.*redact=True"),
        ({"redact": True, "redact_patterns": ["a*"]}, r"'redact_patterns'.*'a\*' matches the empty string"),
        ({"redact": True, "redact_patterns": ["(x"]}, r"'redact_patterns'.*not a valid regular expression"),
        ({"redact": "yes"}, r"'redact'"),
    ],
)
def test_bad_redaction_options_are_refused_when_the_dag_is_parsed(kwargs, message):
    with pytest.raises(InvalidParameterError, match=message):
        BlueKingJobLogOperator(task_id="archive", job_instance_id=1007, bk_biz_id=2, **kwargs)


class RecordingSensor(BlueKingJobSensor):
    @property
    def log(self):
        return logging.getLogger(RECORDER)


def sensor(**kwargs) -> RecordingSensor:
    return RecordingSensor(
        task_id="wait", job_instance_id=1007, bk_biz_id=2, poke_interval=0.05, timeout=30, stream_logs=True, **kwargs
    )


def test_the_sensor_redacts_streamed_lines_and_matched_lines(bk, caplog):
    wait_for_blueking_job(1007)
    op = sensor(redact_patterns=[*PATTERNS, r"Tr0ub4dor\S+"], fail_on_log_patterns=["DB_PASSWORD"])
    with caplog.at_level(logging.INFO, logger=RECORDER), pytest.raises(JobFailedError) as failed:
        poke_until_done(op)
    streamed = "\n".join(r.getMessage() for r in caplog.records if r.name == RECORDER)
    assert "DB_PASSWORD=*** written to" in streamed and "Bearer ***'" in streamed
    assert not any(secret in streamed + str(failed.value) for secret in PLANTED_SECRETS)
    assert "DB_PASSWORD=*** written to" in str(failed.value)


def test_the_sensor_hands_its_patterns_to_the_trigger(bk):
    op = RecordingSensor(
        task_id="wait", job_instance_id=1001, bk_biz_id=2, stream_logs=True, deferrable=True, redact_patterns=PATTERNS
    )
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})  # job 1001 is still pending
    assert round_trip(deferred.value.trigger, TRIGGER)["redact_patterns"] == PATTERNS


def test_the_trigger_redacts_streamed_lines(bk, caplog):
    wait_for_blueking_job(1007)
    trigger = BlueKingJobTrigger(
        conn_id="bk_job_default",
        job_ref=sensor().job_ref(),
        success_states=[3],
        failure_states=[4],
        poll_interval=0.05,
        stream_logs=True,
        redact_patterns=PATTERNS,
    )
    trigger._log = logging.getLogger(RECORDER)
    with caplog.at_level(logging.INFO, logger=RECORDER):
        [event] = trigger_events(trigger)
    assert event["status"] == "success"
    streamed = "\n".join(r.getMessage() for r in caplog.records if r.name == RECORDER)
    assert "Bearer ***'" in streamed and "postgresql://***@" in streamed
    assert API_TOKEN not in streamed and URL_PASSWORD not in streamed
