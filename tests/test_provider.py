"""Registration: the provider info validates against Airflow's own schemas, and Airflow's CLI lists it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points, version
from pathlib import Path

import airflow
import pytest

from airflow_joblogs.get_provider_info import connection_type, get_provider_info
from airflow_joblogs.hooks.base import JobLogsHook

SCHEMAS = ["provider_info.schema.json", "provider.yaml.schema.json"]


def hook_class(conn: dict) -> type:
    """The hook class a declared connection type names."""
    import importlib

    module, _, name = conn["hook-class-name"].rpartition(".")
    return getattr(importlib.import_module(module), name)


def nullable(schema: dict) -> bool:
    types = schema.get("type")
    return "null" in (types if isinstance(types, list) else [types])


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


def test_the_version_is_set_in_one_place():
    """The installed distribution's version (hatch reads ``__version__``) is the one the provider info declares as
    current (``versions`` lists the newest first), and the one ``airflow providers get`` shows."""
    import airflow_joblogs

    assert version("airflow-joblogs") == airflow_joblogs.__version__
    assert get_provider_info()["versions"][0] == airflow_joblogs.__version__


def test_every_declared_module_and_class_imports():
    import importlib

    info = get_provider_info()
    for section in ("hooks", "sensors", "operators", "triggers"):
        for entry in info[section]:
            for module in entry["python-modules"]:
                importlib.import_module(module)
    for conn in info["connection-types"]:
        hook = hook_class(conn)
        assert hook.conn_type == conn["connection-type"]
        assert "__" not in conn["connection-type"]
        for field, spec in conn.get("conn-fields", {}).items():
            if any(word in field for word in ("secret", "token", "password", "key")) and "id" not in field:
                assert spec["schema"].get("format") == "password", f"{field} must be a password field"


def test_python_form_methods_match_the_declaration():
    pytest.importorskip("wtforms")
    info = get_provider_info()
    for conn in info["connection-types"]:
        hook = hook_class(conn)
        if not issubclass(hook, JobLogsHook):  # the aws connection form is the Amazon provider's
            continue
        assert set(hook.get_connection_form_widgets()) == set(conn["conn-fields"])
        assert hook.get_ui_field_behaviour()["hidden_fields"] == conn["ui-field-behaviour"]["hidden-fields"]


class Posted(dict):
    """Form data as a browser posts it (wtforms reads it through ``getlist``)."""

    def getlist(self, key: str) -> list[str]:
        return [self[key]] if key in self else []


def field_errors(form_class: type, field: str, value: str) -> list[str]:
    """What the form says about ``field`` when it is posted as ``value``."""
    form = form_class(Posted({field: value}))
    form.validate()
    return form.errors.get(field, [])


def test_python_form_choice_fields_take_only_their_choices():
    """Airflow 3.0 and 3.1 build the form from the hooks' widgets: a field declared with an ``enum`` takes its
    choices and refuses anything else; left empty, it is refused unless its type allows null."""
    wtforms = pytest.importorskip("wtforms")
    checked = set()
    for conn in get_provider_info()["connection-types"]:
        hook = hook_class(conn)
        if not issubclass(hook, JobLogsHook):  # the aws connection form is the Amazon provider's
            continue
        form_class = type("ConnectionForm", (wtforms.Form,), hook.get_connection_form_widgets())
        for field, spec in conn["conn-fields"].items():
            schema = spec["schema"]
            if "enum" not in schema:
                continue
            for choice in schema["enum"]:
                assert field_errors(form_class, field, choice) == [], (field, choice)
            for wrong in ("bogus", schema["enum"][0].upper(), schema["enum"][0] + " "):
                assert field_errors(form_class, field, wrong), (field, wrong)
            assert (field_errors(form_class, field, "") == []) is nullable(schema), field
            checked.add((conn["connection-type"], field))
    assert {("bk_job", "api_style"), ("codearts_build", "auth_type")} <= checked, checked


def test_choice_fields_offer_only_real_choices():
    """A dropdown lists every ``enum`` value, None as "null": leaving a field empty is what its null type is for."""
    for conn in get_provider_info()["connection-types"]:
        for field, spec in conn["conn-fields"].items():
            schema = spec["schema"]
            if "enum" in schema:
                assert None not in schema["enum"], f"{field}: {schema['enum']}"
                assert all(isinstance(choice, str) and choice for choice in schema["enum"]), field
    auth_type = connection_type("codearts_build")["conn-fields"]["auth_type"]["schema"]
    assert "null" in auth_type["type"] and "default" not in auth_type, "Authentication may stay empty (automatic)"


_FORM_METADATA = """
import json
from airflow.api_fastapi.core_api.services.ui.connections import HookMetaService
print(json.dumps({m.connection_type: m.extra_fields for m in HookMetaService.hook_meta_data()}, default=str))
"""


@pytest.mark.slow
def test_the_ui_gets_the_declared_extra_fields_without_a_null_choice(tmp_path):
    """What Airflow's API server hands its connection form: every declared field; no "null" in a dropdown; and
    Authentication not required (the form refuses to save an empty required field)."""
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", _FORM_METADATA], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    forms = json.loads(result.stdout.strip().splitlines()[-1])
    for conn in get_provider_info()["connection-types"]:
        extra_fields = forms[conn["connection-type"]]
        assert set(extra_fields) == set(conn["conn-fields"]), conn["connection-type"]
        for field, widget in extra_fields.items():
            # Airflow >= 3.2 reads the declaration, 3.0 and 3.1 the hooks' form methods: a dropdown either way
            assert widget["schema"].get("enum") == conn["conn-fields"][field]["schema"].get("enum"), field
    auth_type = forms["codearts_build"]["auth_type"]
    assert auth_type["value"] is None and "null" in auth_type["schema"]["type"]
    assert auth_type["schema"]["enum"] == ["aksk", "token", "password"]


@pytest.mark.slow
def test_airflow_cli_lists_the_provider(tmp_path):
    env = {**os.environ, "AIRFLOW_HOME": str(tmp_path)}

    def cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args], capture_output=True, text=True, env=env, timeout=120
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return result.stdout

    # docs/installation.rst: the name and the version; the integrations and the rest only with --full
    import airflow_joblogs

    brief = cli("providers", "get", "airflow-joblogs")
    assert re.search(rf"^airflow-joblogs\s*\|\s*{re.escape(airflow_joblogs.__version__)}\s*$", brief, re.M), brief
    assert "BlueKing" not in brief
    [full] = json.loads(cli("providers", "get", "airflow-joblogs", "--full", "-o", "json"))
    assert [i["integration-name"] for i in full["integrations"]] == [
        i["integration-name"] for i in get_provider_info()["integrations"]
    ]
    assert {"hooks", "sensors", "operators", "triggers", "connection-types", "config"} <= set(full)
    hooks = cli("providers", "hooks", "-o", "json")
    triggers = cli("providers", "triggers", "-o", "json")
    info = get_provider_info()
    for conn in info["connection-types"]:
        assert conn["connection-type"] in hooks
    for entry in info["triggers"]:
        for module in entry["python-modules"]:
            assert module in triggers
