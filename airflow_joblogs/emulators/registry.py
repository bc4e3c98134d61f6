"""The emulators the command line, the demo and the end-to-end tests start (one line per service)."""

from __future__ import annotations

from typing import Any

from airflow_joblogs._imports import import_string

#: service name -> dotted path of a factory taking keyword knobs (speed, faults ...) and returning an EmulatorApp
EMULATORS: dict[str, str] = {
    "blueking": "airflow_joblogs.emulators.blueking.blueking_app",
    "codearts": "airflow_joblogs.emulators.codearts.codearts_app",
    "qingcloud": "airflow_joblogs.emulators.qingcloud.qingcloud_app",
    "mgn": "airflow_joblogs.emulators.mgn.mgn_app",
}


def make_app(name: str, **knobs: Any) -> Any:
    if name not in EMULATORS:
        raise ValueError(f"unknown emulator {name!r}; known: {', '.join(EMULATORS)}")
    return import_string(EMULATORS[name])(**knobs)
