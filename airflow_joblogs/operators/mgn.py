"""AWS Application Migration Service (MGN) run operators (test and cutover launches, terminations) and job log
operator."""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_joblogs._imports import LazyClass
from airflow_joblogs.exceptions import InvalidParameterError, JobLogsError, TransientError
from airflow_joblogs.hooks.mgn_model import (
    DEFAULT_CONN_ID,
    job_ref,
    launched_instances,
    require_amazon_provider,
    validate_account_id,
    validate_max_results,
    validate_source_server_ids,
    validate_tags,
)
from airflow_joblogs.models import JobStatus, LogChunk
from airflow_joblogs.operators.base import JobLogOperator
from airflow_joblogs.operators.run import JobRunOperator
from airflow_joblogs.sensors.mgn import MgnJobWaiting

if TYPE_CHECKING:
    from airflow_joblogs.contract import JobService
from airflow_joblogs.validation import require_bool

if TYPE_CHECKING:
    from airflow_joblogs.hooks.mgn import MgnHook

require_amazon_provider()


class MgnJobLogOperator(JobLogOperator):
    """Archive every log item of an MGN job (``DescribeJobLogItems``, all pages); returns the manifest.

    ``jsonl`` writes the items exactly as MGN returns them, one per line (``logDateTime``, ``event``,
    ``eventData`` with ``sourceServerID``, ``conversionServerID``, ``targetInstanceID``, ``rawError``,
    ``attemptCount``, ``maxAttemptsCount``). ``text`` writes one readable line per item::

        2026-11-22T10:08:22.110Z  CONVERSION_FAIL  s-5e7a100000000000c  attempt 3/3  conversion server i-0c0e7...  Conversion failed: ...

    (``rawError`` whole, even when it spans several lines). ``group_by_server=True`` puts the job's own events
    (JOB_START, JOB_END, JOB_CANCEL) first, then each source server's events under a header line (text) or
    together (jsonl); this holds the job's items in memory, which MGN's short job logs allow.

    :param job_id: the MGN job id, ``mgnjob-`` + 17 letters or digits (templated).
    :param account_id: the 12-digit account that owns the job, for cross-account access (templated).
    :param group_by_server: group the items by ``sourceServerID`` instead of log order.
    :param max_results: items per ``DescribeJobLogItems`` call, 1-1000 (default 1000).
    :param aws_conn_id: the ``aws`` connection (default ``aws_default``).

    Plus the archive options of :class:`~airflow_joblogs.operators.base.JobLogOperator`: ``destination``,
    ``log_format``, ``compression``, ``max_xcom_bytes``, ``overwrite``, ``if_unfinished``.
    """

    template_fields = ("job_id", "account_id", "conn_id", "destination")
    #: the same normalized interface, over boto3; imported when the task runs, so parsing a DAG file does not
    #: load botocore
    hook_class: ClassVar[LazyClass[JobService]] = LazyClass("airflow_joblogs.hooks.mgn.MgnHook")
    service_name = "AWS MGN"

    def __init__(
        self,
        *,
        job_id: str,
        account_id: str | None = None,
        group_by_server: bool = False,
        max_results: int = 1000,
        aws_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=kwargs.pop("conn_id", None) or aws_conn_id or DEFAULT_CONN_ID, **kwargs)
        self.group_by_server = require_bool(group_by_server, "group_by_server")
        self.job_id = job_id
        self.account_id = account_id
        self.max_results = validate_max_results(max_results)

    def job_ref(self) -> dict[str, Any]:
        ref = job_ref(self.job_id, self.account_id)
        ref.pop("require_post_launch_success")
        return ref

    def status_ref(self, job_ref: dict[str, Any]) -> dict[str, Any]:
        return {**job_ref, "require_post_launch_success": False}

    def archive_name(self, job_ref: dict[str, Any]) -> str:
        return f"mgn-{job_ref['job_id']}"

    def log_chunks(self, hook: MgnHook, job_ref: dict[str, Any]) -> Iterable[LogChunk]:
        return hook.iter_log_chunks(
            job_ref["job_id"],
            job_ref.get("account_id"),
            group_by_server=self.group_by_server,
            max_results=self.max_results,
        )


class _MgnStartOperator(MgnJobWaiting, JobRunOperator):
    """What the MGN run operators share: the servers, the tags, the statuses, the result, the lost-start lookup."""

    template_fields = ("source_server_ids", "tags", "account_id", "conn_id")
    #: MGN has no API that cancels a job
    can_cancel = False
    finds_lost_starts = True
    #: the job's ``initiatedBy``, the API operation that starts it and the hook method that calls it
    initiated_by: ClassVar[str]
    operation: ClassVar[str]
    hook_method: ClassVar[str]

    def __init__(
        self,
        *,
        source_server_ids: list[str],
        tags: dict[str, str] | None = None,
        account_id: str | None = None,
        require_post_launch_success: bool = False,
        aws_conn_id: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn_id=kwargs.pop("conn_id", None) or aws_conn_id or DEFAULT_CONN_ID, **kwargs)
        self.source_server_ids = source_server_ids
        self.tags = tags
        self.account_id = account_id
        self.require_post_launch_success = require_bool(require_post_launch_success, "require_post_launch_success")

    def validate_start(self) -> None:
        validate_source_server_ids(self.source_server_ids)
        validate_tags(self.tags)
        validate_account_id(self.account_id)

    def _identifiers(self, job: dict[str, Any]) -> dict[str, Any]:
        try:
            ref = job_ref(job.get("jobID"), self.account_id, self.require_post_launch_success)
        except InvalidParameterError:
            raise JobLogsError(
                f"the service answered no job it names (jobID {job.get('jobID')!r})", service=self.service_name
            ) from None
        return {
            "job_ref": ref,
            "job_id": ref["job_id"],
            "account_id": ref.get("account_id"),
            "source_server_ids": list(self.source_server_ids),
        }

    def start_job(self, hook: MgnHook) -> dict[str, Any]:
        answer = getattr(hook, self.hook_method)(self.source_server_ids, tags=self.tags, account_id=self.account_id)
        if not isinstance(answer.get("job"), dict):  # botocore reads a cut-off body as an empty answer
            raise TransientError(
                f"{self.operation}: MGN accepted the request but its answer names no job (cut off?); "
                "a retry looks for the job it started",
                service=self.service_name,
            )
        return self._identifiers(answer["job"])

    def find_lost_start(self, hook: MgnHook, sent_at: float) -> dict[str, Any] | None:
        """DescribeJobs from ``LOST_START_WINDOW`` seconds before the request was sent to as long after now: the
        newest job of this operator's kind (``initiatedBy``) over exactly these source servers, with these tags."""
        since = datetime.fromtimestamp(sent_at - LOST_START_WINDOW, timezone.utc)
        until = datetime.fromtimestamp(time.time() + LOST_START_WINDOW, timezone.utc)
        job = hook.find_started_job(
            self.initiated_by, self.source_server_ids, since, until, tags=self.tags, account_id=self.account_id
        )
        return None if job is None else self._identifiers(job)

    def job_outputs(self, hook: MgnHook, ref: dict[str, Any], status: JobStatus) -> dict[str, Any]:
        job = hook.describe_job(ref["job_id"], ref.get("account_id"))
        return {"servers": launched_instances(job)}


#: how far around the lost start request the lookup reaches (seconds), for clocks that differ from AWS's
LOST_START_WINDOW = 300.0

_RUN_OPTIONS = """
    :param source_server_ids: 1 to 200 source server ids, ``s-`` + 17 letters or digits (templated).
    :param tags: tags for the job, at most 50 pairs of strings (templated).
    :param account_id: the 12-digit account that owns the servers, for cross-account access (templated).
    :param aws_conn_id: the ``aws`` connection (default ``aws_default``).

    Plus the options of :class:`~airflow_joblogs.operators.run.JobRunOperator`: ``wait_for_completion``,
    ``deferrable``, ``poll_interval``, ``timeout``, ``reattach``, ``stream_logs``, ``success_states``,
    ``failure_states``, ``log_tail_lines``. The job is judged as :class:`~airflow_joblogs.sensors.mgn.MgnJobSensor`
    judges it (a failed launch fails the task with the failed servers, their failure events and last log events).

    MGN has no API that cancels a job, and its start calls take no client token: ``cancel_on_kill`` is False and
    ``True`` is refused; a timeout fails the task and leaves the job running. The start request is sent once
    (botocore does not send it again after a dropped answer, which could start a second job). A retry
    (``reattach``, Airflow >= 3.3) waits on the job the earlier try started; if that try's start request was never
    answered, the retry finds its job with ``DescribeJobs`` (``fromDate`` / ``toDate`` from 5 minutes before the
    request to 5 minutes after the lookup; the newest job of the same ``initiatedBy`` over exactly these servers,
    with these tags) and starts a new one only if there is none.

    Returns ``{"job_id", "account_id", "source_server_ids", "console_url" (None: no public source documents an
    address of an MGN job in the console), "status", "outputs": {"servers": {source server id: {"launch_status",
    "launched_ec2_instance_id"}}}}``, the servers as ``DescribeJobs`` reports them once the job has ended
    (``launchedEc2InstanceID``, None where it reports none). ``job_id`` is what :class:`MgnJobSensor
    <airflow_joblogs.sensors.mgn.MgnJobSensor>` and :class:`MgnJobLogOperator` take.
"""


class MgnStartTestOperator(_MgnStartOperator):
    __doc__ = (
        """Launch test instances (``StartTest``; the servers' lifecycle state becomes TESTING) and, by default, wait
    for the LAUNCH job to end.

    :param require_post_launch_success: also wait for the launched servers' post-launch actions and fail if a
        required one FAILED (as on the sensor).
"""
        + _RUN_OPTIONS
    )

    initiated_by = "START_TEST"
    operation = "StartTest"
    hook_method = "start_test"


class MgnStartCutoverOperator(_MgnStartOperator):
    __doc__ = (
        """Launch cutover instances (``StartCutover``; the servers' lifecycle state becomes CUTTING_OVER) and, by
    default, wait for the LAUNCH job to end.

    :param require_post_launch_success: also wait for the launched servers' post-launch actions and fail if a
        required one FAILED (as on the sensor).
"""
        + _RUN_OPTIONS
    )

    initiated_by = "START_CUTOVER"
    operation = "StartCutover"
    hook_method = "start_cutover"


class MgnTerminateTargetInstancesOperator(_MgnStartOperator):
    __doc__ = (
        """Terminate the servers' launched test and cutover instances (``TerminateTargetInstances``) and, by default,
    wait for the TERMINATE job to end (every server TERMINATED). MGN refuses it for a server whose lifecycle state
    is TESTING, CUTTING_OVER or CUTOVER.
"""
        + _RUN_OPTIONS
    )

    initiated_by = "TERMINATE"
    operation = "TerminateTargetInstances"
    hook_method = "terminate_target_instances"

    def __init__(self, **kwargs: Any) -> None:
        if kwargs.get("require_post_launch_success"):
            raise InvalidParameterError(
                "require_post_launch_success", "a TERMINATE job launches nothing", "False (the default)"
            )
        super().__init__(**kwargs)
