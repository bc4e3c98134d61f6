"""Registration: the provider info validates against Airflow's own schemas, and Airflow's CLI lists it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import airflow
import pytest

from airflow_joblogs.get_provider_info import get_provider_info

SCHEMAS = ["provider_info.schema.json", "provider.yaml.schema.json"]


@pytest.mark.parametrize("schema_file", SCHEMAS)
def test_provider_info_validates_against_airflows_schema(schema_file):
    jsonschema = pytest.importorskip("jsonschema")
    schema_path = Path(airflow.__file__).parent / schema_file
    if not schema_path.exists():
        pytest.skip(f"{schema_file} is not shipped with this Airflow")
    jsonschema.validate(get_provider_info(), json.loads(schema_path.read_text()))


def test_entry_point_is_registered():
    found = [ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_joblogs.")]
    assert [ep.load()()["package-name"] for ep in found] == ["airflow-joblogs"]


def test_every_declared_module_and_class_imports():
    import importlib

    info = get_provider_info()
    for section in ("hooks", "sensors", "operators", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for conn in info["connection-types"]:
        module, _, name = conn["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), name)
        assert hook.conn_type == conn["connection-type"]
        assert "__" not in conn["connection-type"]
        for field, spec in conn.get("conn-fields", {}).items():
            if any(word in field for word in ("secret", "token", "password", "key")) and "id" not in field:
                assert spec["schema"].get("format") == "password", f"{field} must be a password field"


def test_python_form_methods_match_the_declaration():
    pytest.importorskip("wtforms")
    info = get_provider_info()
    import importlib

    for conn in info["connection-types"]:
        module, _, name = conn["hook-class-name"].rpartition(".")
        hook = getattr(importlib.import_module(module), name)
        if "get_connection_form_widgets" not in hook.__dict__:
            continue
        assert set(hook.get_connection_form_widgets()) == set(conn["conn-fields"])
        assert hook.get_ui_field_behaviour()["hidden_fields"] == conn["ui-field-behaviour"]["hidden-fields"]


@pytest.mark.slow
def test_airflow_cli_lists_the_provider(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}

    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args], capture_output=True, text=True, env=env, timeout=120
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    assert "airflow-joblogs" in cli("providers", "get", "airflow-joblogs")
    hooks = cli("providers", "hooks", "-o", "json")
    triggers = cli("providers", "triggers", "-o", "json")
    info = get_provider_info()
    for conn in info["connection-types"]:
        assert conn["connection-type"] in hooks
    for entry in info["triggers"]:
        for module in entry["python-modules"]:
            assert module in triggers
