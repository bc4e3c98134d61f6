"""Huawei Cloud CodeArts Build: the build vocabulary (build results and their states, failed-stage statuses),
the regions and their endpoints, identifier and parameter checks, and failure extraction from the build record's
stages.

Plain Python, no HTTP client: the CodeArts sensor imports this (and so stays cheap to import when a DAG file is
parsed); the hook in :mod:`airflow_joblogs.hooks.codearts` speaks to the service and re-exports every name.
"""

from __future__ import annotations

import re
from typing import Any

from airflow_joblogs.exceptions import InvalidParameterError
from airflow_joblogs.models import JobState

SERVICE = "CodeArts Build"
#: region -> domain suffix; the build endpoint is ``cloudbuild-ext.{region}.{suffix}`` except Europe's
REGIONS: dict[str, str] = {
    "cn-north-4": "myhuaweicloud.com",
    "cn-north-1": "myhuaweicloud.com",
    "cn-east-2": "myhuaweicloud.com",
    "cn-east-3": "myhuaweicloud.com",
    "cn-south-1": "myhuaweicloud.com",
    "cn-south-2": "myhuaweicloud.com",
    "cn-southwest-2": "myhuaweicloud.com",
    "cn-northeast-1": "myhuaweicloud.com",
    "ap-southeast-3": "myhuaweicloud.com",
    "sa-brazil-1": "myhuaweicloud.com",
    "la-north-2": "myhuaweicloud.com",
    "la-south-2": "myhuaweicloud.com",
    "tr-west-1": "myhuaweicloud.com",
    "eu-west-101": "myhuaweicloud.eu",
}
AUTH_TYPES = ("aksk", "token", "password")
SORT_ORDERS = ("AES", "DESC")  # "AES" (ascending) is the API's own spelling
DEFAULT_PAGE_SIZE = 1000  # documented as "fixed at 1000"

#: ``build_result`` values (plus ``timeout`` from the build record's ``state``, and the two Jenkins
#: results the service can pass through); ``RUNNING``/``PENDING`` are what this hook reports while
#: ``building`` is true / before a result exists.
BUILD_RESULTS = frozenset({"SUCCESS", "FAILURE", "ABORTED", "timeout", "UNSTABLE", "NOT_BUILT", "RUNNING", "PENDING"})
SUCCESS_RESULTS = frozenset({"SUCCESS"})
FAILURE_RESULTS = frozenset({"FAILURE", "ABORTED", "timeout"})
_STATE_OF = {
    "RUNNING": JobState.RUNNING,
    "PENDING": JobState.PENDING,
    "SUCCESS": JobState.SUCCESS,
    "FAILURE": JobState.FAILED,
    "ABORTED": JobState.FAILED,
    "timeout": JobState.FAILED,
    "UNSTABLE": JobState.FAILED,
    "NOT_BUILT": JobState.FAILED,
}
#: stage statuses read as "this stage failed" in failure reports (the service documents few of them)
FAILED_STAGE_STATUSES = ("FAILURE", "FAILED", "ERROR", "TIMEOUT")


_JOB_ID = re.compile(r"^[a-z0-9]{32}$")
_PROJECT_ID = re.compile(r"^[A-Za-z0-9]{32}$")
_DIGITS = re.compile(r"^\s*[0-9]+\s*$")
#: offsets and numbers are 64-bit integers on the wire
_MAX_INTEGER = 2**63 - 1


# -- validation (before any network call) -------------------------------------------------------------------
def _integer(value: Any, parameter: str, minimum: int, what: str) -> int:
    if isinstance(value, bool):
        raise InvalidParameterError(parameter, f"{value!r} is not an integer", what)
    if isinstance(value, str) and _DIGITS.match(value) and len(value) <= 40:
        value = int(value)
    if not isinstance(value, int) or not minimum <= value <= _MAX_INTEGER:
        text = repr(value)
        raise InvalidParameterError(parameter, f"{text if len(text) <= 80 else text[:60] + '...'} is not valid", what)
    return value


def validate_job_id(job_id: Any) -> str:
    if not isinstance(job_id, str) or not _JOB_ID.fullmatch(job_id):
        raise InvalidParameterError(
            "job_id",
            f"{job_id!r} is not a build task id",
            "32 lower-case letters and digits, the end of the build task's URL",
        )
    return job_id


def validate_build_no(build_no: Any) -> int:
    return _integer(build_no, "build_no", 1, "an integer >= 1")


def validate_offset(value: Any, parameter: str) -> int:
    return _integer(value, parameter, 0, "an integer >= 0 (int or string)")


def validate_step_id(step_id: Any) -> int:
    return _integer(step_id, "step_id", 0, "a build action id, an integer >= 0")


def validate_sort(sort: Any) -> str:
    if sort not in SORT_ORDERS:
        raise InvalidParameterError(
            "sort", f"{sort!r} is not a sort order", "'AES' (ascending, as the API spells it), 'DESC'"
        )
    return sort


def validate_size(size: Any) -> int:
    return _integer(size, "size", 1, "an integer >= 1 (the API documents 1000)")


def job_ref(job_id: Any, build_no: Any, step_id: Any = None) -> dict[str, Any]:
    """Validate and normalize a build reference: ``{job_id, build_no[, step_id]}``."""
    ref: dict[str, Any] = {"job_id": validate_job_id(job_id), "build_no": validate_build_no(build_no)}
    if step_id is not None and step_id != "":
        ref["step_id"] = validate_step_id(step_id)
    return ref


#: :func:`job_ref`'s name before every service's reference builder was called so (kept for a release); also what
#: the hook's methods call it by, where a parameter named ``job_ref`` hides the function
build_ref = job_ref


def endpoint_for(region: str) -> str:
    if region == "eu-west-101":
        return "https://build-backend.eu-west-101.myhuaweicloud.eu"
    return f"https://cloudbuild-ext.{region}.{REGIONS[region]}"


def iam_endpoint_for(region: str) -> str:
    return f"https://iam.{region}.{REGIONS[region]}"


#: ``scm`` fields of RunJob (the SDK's ``Scm``: ``build_tag``, ``build_commit_id``; the API page adds the others)
SCM_FIELDS = ("build_tag", "build_commit_id", "branch", "build_type", "repo_id", "repo_name", "scm_type", "url")
#: custom parameter names the service refuses (RunJob's ParameterItem.name constraints)
RESERVED_PARAMETERS = frozenset({"LD_PRELOAD", "LD_LIBRARY_PATH", "PATH", "BASH_ENV", "GIT_SSH_COMMAND", "path"})
_PARAMETER_NAME = re.compile(r"^[A-Za-z0-9_]{1,128}$")
MAX_PARAMETER_VALUE = 8192


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:60] + "..."


def parameter_list(parameters: Any, parameter: str = "parameters") -> list[dict[str, str]]:
    """RunJob's ``parameter``: ``[{"name", "value"}]`` from ``{name: value}`` or such a list; strings only, names
    of letters, digits and ``_`` (at most 128), none of the reserved names, values of at most 8192 characters."""
    if isinstance(parameters, dict):
        pairs = list(parameters.items())
    elif isinstance(parameters, (list, tuple)) and all(
        isinstance(p, dict) and set(p) == {"name", "value"} for p in parameters
    ):
        pairs = [(p["name"], p["value"]) for p in parameters]
    else:
        raise InvalidParameterError(
            parameter, f"{_short(parameters)} is not a mapping", "{name: value} of strings, or [{'name', 'value'}]"
        )
    items: list[dict[str, str]] = []
    for name, value in pairs:
        if not isinstance(name, str) or not _PARAMETER_NAME.fullmatch(name) or name in RESERVED_PARAMETERS:
            raise InvalidParameterError(
                parameter,
                f"{_short(name)} is not a parameter name",
                "letters, digits and '_', at most 128, not " + ", ".join(sorted(RESERVED_PARAMETERS)),
            )
        if not isinstance(value, str) or len(value) > MAX_PARAMETER_VALUE:
            raise InvalidParameterError(
                parameter, f"the value of {name!r} is not a string of at most {MAX_PARAMETER_VALUE} characters"
            )
        items.append({"name": name, "value": value})
    return items


def validate_scm(scm: Any) -> dict[str, str]:
    if not isinstance(scm, dict) or not scm:
        raise InvalidParameterError("scm", f"{_short(scm)} is not a non-empty dict", ", ".join(SCM_FIELDS))
    for key, value in scm.items():
        if key not in SCM_FIELDS:
            raise InvalidParameterError("scm", f"{_short(key)} is not an scm field", ", ".join(SCM_FIELDS))
        if not isinstance(value, str) or not value.strip():
            raise InvalidParameterError("scm", f"{key} must be a non-empty string")
    if "build_type" in scm and scm["build_type"] not in ("branch", "tag", "commitId"):
        raise InvalidParameterError(
            "scm", f"build_type {scm['build_type']!r} is not a build type", "branch, tag, commitId"
        )
    return dict(scm)


def _failed_stages(stages_answer: Any) -> list[dict[str, Any]]:
    """The failed stages of a ``full-stages`` answer (its ``build_stages``), in their ``sequence`` order: those whose
    status is one of :data:`FAILED_STAGE_STATUSES`, else the aborted ones."""
    stages = sorted(
        (s for s in (stages_answer.get("build_stages") or {}).values() if isinstance(s, dict)),
        key=lambda s: (s.get("sequence") is None, s.get("sequence") or 0),
    )
    failed = [s for s in stages if str(s.get("status", "")).upper() in FAILED_STAGE_STATUSES]
    return failed or [s for s in stages if str(s.get("status", "")).upper() == "ABORTED"]
