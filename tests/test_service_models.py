"""Each service's plain-Python model (``hooks/<service>_model.py``): what the sensors and operators need at DAG
parse time, without the hook and its HTTP and signing code; the hook module still offers every name."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from types import ModuleType

import pytest

SERVICES = ("blueking", "codearts", "qingcloud")

LOADED = """
import json, sys
for name in sys.argv[1:]:
    __import__(name)
print(json.dumps(sorted(m for m in sys.modules if m.startswith("airflow_joblogs.hooks."))))
"""


def test_importing_the_sensors_and_operators_does_not_load_their_hooks():
    modules = [f"airflow_joblogs.{kind}.{service}" for service in SERVICES for kind in ("sensors", "operators")]
    result = subprocess.run(
        [sys.executable, "-c", LOADED, *modules], capture_output=True, text=True, env=os.environ.copy(), check=True
    )
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    hooks = [f"airflow_joblogs.hooks.{service}" for service in SERVICES]
    assert [hook for hook in hooks if hook in loaded] == []
    assert {f"airflow_joblogs.hooks.{service}_model" for service in SERVICES} <= set(loaded)


@pytest.mark.parametrize("service", SERVICES)
def test_the_hook_module_offers_every_public_name_of_its_model(service):
    model = importlib.import_module(f"airflow_joblogs.hooks.{service}_model")
    hook = importlib.import_module(f"airflow_joblogs.hooks.{service}")
    public = [name for name, value in vars(model).items() if not name.startswith("_") and _defined_in(value, model)]
    assert public
    assert [name for name in public if getattr(hook, name, None) is not getattr(model, name)] == []


def _defined_in(value: object, module: ModuleType) -> bool:
    """A constant of the module, or a function or class it defines (not one it imports)."""
    if isinstance(value, ModuleType) or not callable(value):
        return not isinstance(value, ModuleType) and type(value).__module__ == "builtins"
    return getattr(value, "__module__", None) == module.__name__
