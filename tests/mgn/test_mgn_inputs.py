"""MGN: bad input fails naming the parameter before any request; without the Amazon provider the rest of the
package still imports and MGN says how to install it."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import pytest

from airflow_joblogs.exceptions import InvalidParameterError

INSTALL_HINT = "pip install 'apache-airflow-providers-amazon[s3fs]>=9.0'"


def test_the_install_hint_installs_what_the_amazon_extra_does():
    """The provider is on no package index: the hint names the requirement its ``amazon`` extra adds, which
    installs from anywhere, not ``airflow-joblogs[amazon]``."""
    import re
    from importlib.metadata import requires

    from airflow_joblogs.hooks.mgn_model import INSTALL_HINT as hint

    extra = [r.split(";")[0].strip() for r in requires("airflow-joblogs") or [] if re.search(r"extra == .amazon.", r)]
    assert extra == ["apache-airflow-providers-amazon[s3fs]>=9.0"]
    assert f"pip install '{extra[0]}'" in hint and INSTALL_HINT in hint
    assert "airflow-joblogs[amazon]" not in hint


HIDE_AMAZON = r"""
import importlib, importlib.abc, json, sys

class HideAmazon(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        # the Amazon provider's code and the AWS SDKs; its metadata entry point (no boto) stays visible
        if name.split(".")[0] in ("boto3", "botocore", "aiobotocore", "s3fs") or (
            name + ".").startswith("airflow.providers.amazon.aws."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, HideAmazon())
results = {}
for module in sys.argv[1:]:
    try:
        importlib.import_module(module)
        results[module] = "ok"
    except ImportError as exc:
        results[module] = str(exc)
results["loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in ("boto3", "botocore"))
print(json.dumps(results))
"""

WITHOUT_PROVIDER_OK = [
    "airflow_joblogs",
    "airflow_joblogs.get_provider_info",
    "airflow_joblogs.archive",
    "airflow_joblogs.hooks.blueking",
    "airflow_joblogs.sensors.blueking",
    "airflow_joblogs.operators.blueking",
    "airflow_joblogs.triggers.mgn",
    "airflow_joblogs.emulators.mgn",
    "airflow_joblogs.emulators.registry",
]
NEEDS_PROVIDER = ["airflow_joblogs.hooks.mgn", "airflow_joblogs.sensors.mgn", "airflow_joblogs.operators.mgn"]


def test_without_the_amazon_provider_only_mgn_needs_it_and_says_how_to_install_it():
    result = subprocess.run(
        [sys.executable, "-c", HIDE_AMAZON, *WITHOUT_PROVIDER_OK, *NEEDS_PROVIDER],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert {m: outcome[m] for m in WITHOUT_PROVIDER_OK} == dict.fromkeys(WITHOUT_PROVIDER_OK, "ok")
    for module in NEEDS_PROVIDER:
        assert INSTALL_HINT in outcome[module], (module, outcome[module])
    assert outcome["loaded"] == []


# -- bad input, no request sent (needs the provider) -------------------------------------------------------------
amazon = pytest.mark.skipif(
    not __import__("importlib").util.find_spec("airflow.providers.amazon"), reason="needs airflow-joblogs[amazon]"
)

CUTOVER = "mgnjob-cutover0000000001"


def hook(method, *args, **kwargs):
    def call():
        from airflow_joblogs.hooks.mgn import MgnHook

        return getattr(MgnHook(), method)(*args, **kwargs)

    return call


def ahook(method, *args, **kwargs):
    def call():
        from airflow_joblogs.hooks.mgn import MgnHook

        async def run():
            h = MgnHook()
            try:
                result = getattr(h, method)(*args, **kwargs)
                if hasattr(result, "__anext__"):
                    return [item async for item in result]
                return await result
            finally:
                await h.aclose()

        return asyncio.run(run())

    return call


def sensor(**kwargs):
    def call():
        from airflow_joblogs.sensors.mgn import MgnJobSensor

        return MgnJobSensor(task_id="t", poke_interval=1, **kwargs).execute({})

    return call


def operator(**kwargs):
    def call():
        from airflow_joblogs.operators.mgn import MgnJobLogOperator

        return MgnJobLogOperator(task_id="t", **kwargs).execute({})

    return call


CASES = {
    "job id too short": (hook("describe_job_log_items", "mgnjob-123"), "job_id"),
    "job id wrong prefix": (hook("describe_job_log_items", "job-0123456789abcdefg"), "job_id"),
    "job id 18 chars": (hook("describe_job", "mgnjob-0123456789abcdefgh"), "job_id"),
    "job id symbol": (hook("get_job_status", "mgnjob-0123456789abcdef!"), "job_id"),
    "job id not text": (hook("get_job_status", 12345), "job_id"),
    "job id none": (hook("describe_job", None), "job_id"),
    "account 11 digits": (hook("describe_job_log_items", CUTOVER, account_id="12345678901"), "account_id"),
    "account letters": (hook("describe_job", CUTOVER, account_id="12345678901a"), "account_id"),
    "account int": (hook("describe_job_log_items", CUTOVER, account_id=111122223333), "account_id"),
    "max_results 0": (hook("describe_job_log_items", CUTOVER, max_results=0), "max_results"),
    "max_results 1001": (hook("describe_job_log_items", CUTOVER, max_results=1001), "max_results"),
    "max_results bool": (hook("describe_job_log_items", CUTOVER, max_results=True), "max_results"),
    "max_results text": (hook("describe_job_log_items", CUTOVER, max_results="ten"), "max_results"),
    "async job id": (ahook("aget_job_status", "mgnjob-bad"), "job_id"),
    "async max_results": (ahook("adescribe_job_log_items", CUTOVER, max_results=5000), "max_results"),
    "async account": (ahook("adescribe_job", CUTOVER, account_id="1"), "account_id"),
    "post-launch flag": (
        hook("get_job_status", CUTOVER, require_post_launch_success="yes"),
        "require_post_launch_success",
    ),
    "sensor job id": (sensor(job_id="mgnjob-{{ bad }}"), "job_id"),
    "sensor account": (sensor(job_id=CUTOVER, account_id="abc"), "account_id"),
    "deferrable sensor job id": (sensor(job_id="nope", deferrable=True), "job_id"),
    "operator job id": (operator(job_id="mgnjob-short"), "job_id"),
    "operator account": (operator(job_id=CUTOVER, account_id="1234567890123"), "account_id"),
}


@amazon
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_before_any_request(mgn, case):
    call, parameter = CASES[case]
    before = mgn.app.faults.served
    with pytest.raises(InvalidParameterError) as info:
        call()
    assert info.value.parameter == parameter
    assert f"Invalid parameter {parameter!r}" in str(info.value) and info.value.allowed
    assert mgn.app.faults.served == before, "nothing was sent"


@amazon
def test_bad_max_attempts_is_rejected():
    from airflow_joblogs.hooks.mgn import MgnHook

    for value in (0, 21, True, "three", 3.0):
        with pytest.raises(InvalidParameterError, match="max_attempts"):
            MgnHook(max_attempts=value)
