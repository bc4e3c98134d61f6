"""What a log operator does with an unfinished job, a destination whose bucket or connection does not exist,
and connections that are missing, of the wrong type or unreachable (BlueKing's emulator, moto's S3)."""

from __future__ import annotations

import logging
import time

import pytest
from helpers import wait_for_blueking_job

from airflow_joblogs.exceptions import InvalidParameterError, JobNotFinishedError, TransientError
from airflow_joblogs.hooks.blueking import BlueKingJobHook
from airflow_joblogs.operators.blueking import BlueKingJobLogOperator

RECORDER = "joblogs-log-operator-options"


class RecordingOperator(BlueKingJobLogOperator):
    @property
    def log(self):
        return logging.getLogger(RECORDER)


def archive(job_id: int, **kwargs) -> RecordingOperator:
    return RecordingOperator(task_id=f"archive_{job_id}", job_instance_id=job_id, bk_biz_id=2, **kwargs)


# -- an unfinished job --------------------------------------------------------------------------------------
def test_an_unfinished_job_is_not_archived_by_default(bk, tmp_path):
    with pytest.raises(JobNotFinishedError, match=r"job 1001 has not finished: its status is \d .*if_unfinished="):
        archive(1001, destination=f"{tmp_path}/").execute({})
    assert list(tmp_path.iterdir()) == [], "nothing written, nothing replaced"


def test_warn_archives_the_partial_log_and_says_so(bk, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger=RECORDER):
        manifest = archive(1001, destination=f"{tmp_path}/", if_unfinished="warn").execute({})
    assert manifest["job_status"]["finished"] is False
    assert manifest["job_status"]["state"] in ("pending", "running")
    warnings = [r.getMessage() for r in caplog.records if r.name == RECORDER and r.levelno == logging.WARNING]
    assert any("has not finished" in w and "partial" in w for w in warnings)


def test_wait_waits_for_the_end_and_archives_the_whole_log(bk, tmp_path):
    started = time.monotonic()
    waited = archive(1001, destination=f"{tmp_path}/waited/", if_unfinished="wait", wait_interval=0.1).execute({})
    assert time.monotonic() - started < 20
    assert waited["job_status"] == {"raw_status": 3, "state": "success", "finished": True}
    after = archive(1001, destination=f"{tmp_path}/after/").execute({})
    assert waited["sha256"] == after["sha256"] and waited["lines"] == after["lines"]


def test_wait_gives_up_at_wait_timeout(bk, tmp_path):
    op = archive(1001, destination=f"{tmp_path}/", if_unfinished="wait", wait_interval=5, wait_timeout=0.001)
    started = time.monotonic()
    with pytest.raises(JobNotFinishedError, match=r"still \d \(\w+\) after wait_timeout=0\.001s"):
        op.execute({})
    assert time.monotonic() - started < 3, "a wait_interval longer than wait_timeout does not overshoot it"
    assert list(tmp_path.iterdir()) == []


def test_wait_does_not_wait_on_a_job_waiting_for_a_person(bk, tmp_path):
    wait_for_status_7 = archive(1003, if_unfinished="warn")
    for _ in range(200):  # the job reaches its confirmation step
        if wait_for_status_7.execute({})["job_status"]["raw_status"] == 7:
            break
        time.sleep(0.05)
    with pytest.raises(JobNotFinishedError, match="waiting for a person's confirmation"):
        archive(1003, destination=f"{tmp_path}/", if_unfinished="wait", wait_interval=0.1).execute({})


def test_a_finished_job_records_its_status(bk):
    wait_for_blueking_job(1002)
    manifest = archive(1002).execute({})
    assert manifest["job_status"] == {"raw_status": 4, "state": "failed", "finished": True}


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("if_unfinished", "skip", "'if_unfinished'.*allowed: fail, warn, wait"),
        ("overwrite", "false", "'overwrite'.*is not a boolean.*allowed: True, False"),
        ("wait_interval", "soon", "'wait_interval'"),
    ],
)
def test_bad_options_are_refused_when_the_dag_is_parsed(option, value, message):
    with pytest.raises(InvalidParameterError, match=message):
        archive(1001, **{option: value})


# -- destinations -------------------------------------------------------------------------------------------
def test_a_bucket_that_does_not_exist_is_an_error_and_is_not_created(bk, s3_bucket, s3_server):
    import boto3

    wait_for_blueking_job(1006)
    typo = "deploy-logs-typo"
    with pytest.raises(InvalidParameterError, match=f"'destination'.*bucket .*'{typo}'.* does not exist"):
        archive(1006, destination=f"s3://aws_s3@{typo}/deploys/").execute({})
    s3 = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="t", aws_secret_access_key="t"
    )
    assert typo not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    manifest = archive(1006, destination=f"{s3_bucket}/new/prefix/").execute({})  # prefixes are made
    assert manifest["uri"].endswith("/new/prefix/bk_job-biz2-1006.log")


def test_wait_checks_the_bucket_before_waiting_for_the_job(bk, s3_bucket, s3_server):
    """A typo in the bucket fails before the wait, not when the job ends hours later; the job is not even asked."""
    served = bk.app.faults.served
    op = archive(1001, destination="s3://aws_s3@deploy-logs-typo/deploys/", if_unfinished="wait", wait_timeout=3)
    started = time.monotonic()
    with pytest.raises(InvalidParameterError, match=r"'destination'.*bucket .*'deploy-logs-typo'.* does not exist"):
        op.execute({})
    assert time.monotonic() - started < 2
    assert bk.app.faults.served == served, "no status check, no wait"


def test_a_destination_naming_a_missing_connection_fails_at_once(bk, s3_bucket):
    wait_for_blueking_job(1006)
    bucket = s3_bucket.rpartition("@")[2]
    started = time.monotonic()
    with pytest.raises(InvalidParameterError, match=r"'destination'.*connection 'aws_typo'.*does not exist"):
        archive(1006, destination=f"s3://aws_typo@{bucket}/deploys/").execute({})
    assert time.monotonic() - started < 5


# -- connections --------------------------------------------------------------------------------------------
def test_a_connection_of_another_type_is_named_with_both_types(qc, bk):
    with pytest.raises(InvalidParameterError) as error:
        archive(1006, bk_job_conn_id="qingcloud_default").execute({})
    text = str(error.value)
    assert "'bk_job_conn_id'" in text and "is of type 'qingcloud'" in text and "type 'bk_job'" in text


def test_a_missing_connection_names_the_parameter_and_the_id():
    with pytest.raises(InvalidParameterError, match=r"'bk_job_conn_id'.*no connection with the id 'bk_nowhere'"):
        archive(1006, bk_job_conn_id="bk_nowhere").execute({})


def test_an_unreachable_host_names_host_port_and_cause(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BK_DOWN",
        '{"conn_type": "bk_job", "host": "http://127.0.0.1:9", "login": "app", "password": "secret-value",'
        ' "extra": {"allow_http": true, "bk_username": "admin", "max_attempts": 1}}',
    )
    with pytest.raises(TransientError, match=r"ConnectError to 127\.0\.0\.1:9: connection refused"):
        BlueKingJobHook(conn_id="bk_down").job_status_from_ref(
            {"job_instance_id": 1, "bk_scope_type": "biz", "bk_scope_id": "2"}
        )
