"""The service contract: what the shared sensor, trigger and log operator need from a service's hook.

Every service hook implements :class:`JobService` (the three HTTP hooks through
:class:`~airflow_joblogs.hooks.base.JobLogsHook`, the AWS one over boto3); the shared code is typed against it
and never against one service. A test (``tests/contract``) holds every hook to it, member by member: the hooks
derive from Airflow's ``BaseHook``, which a type checker may see as ``Any``, so mypy alone would not.
"""

from __future__ import annotations

from typing import Any, ClassVar, Protocol

from airflow_joblogs.models import FailedUnit, JobStatus
from airflow_joblogs.streaming import StreamBudget

#: a validated job reference: the JSON values a sensor renders and a trigger stores
JobRef = dict[str, Any]


class JobService(Protocol):
    """A service hook as the shared sensor, trigger and log operator use it, synchronously (workers) and
    asynchronously (the triggerer's event loop)."""

    #: the connection id used when none is given
    default_conn_name: ClassVar[str]

    def __init__(self, conn_id: str | None = None) -> None: ...

    def job_status_from_ref(self, job_ref: JobRef) -> JobStatus:
        """The job's status now."""
        ...

    async def ajob_status_from_ref(self, job_ref: JobRef) -> JobStatus: ...

    def tail_logs(self, job_ref: JobRef, cursor: Any, logger: Any, budget: StreamBudget | None = None) -> Any:
        """Write the log lines that appeared since ``cursor`` to ``logger`` (within ``budget``); the new cursor."""
        ...

    async def atail_logs(
        self, job_ref: JobRef, cursor: Any, logger: Any, budget: StreamBudget | None = None
    ) -> Any: ...

    def failed_units(self, job_ref: JobRef, status: JobStatus, tail_lines: int = 20) -> list[FailedUnit]:
        """What failed (steps, hosts, builds, servers), why, and the last ``tail_lines`` lines of each log."""
        ...

    def test_connection(self) -> tuple[bool, str]:
        """Whether the connection's credentials are accepted, with a message saying so or why not."""
        ...

    def close(self) -> None: ...

    async def aclose(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> None: ...


class RunService(JobService, Protocol):
    """A service hook a run operator uses besides the waiting: terminate a job it started, name its console page."""

    def cancel_job(self, job_ref: JobRef) -> str:
        """Terminate the job; the service's answer, as a sentence for the task log."""
        ...

    async def acancel_job(self, job_ref: JobRef) -> str: ...

    def console_url(self, job_ref: JobRef) -> str | None:
        """The job's page in the service's web console (from the connection's ``console_url`` extra), or None."""
        ...
