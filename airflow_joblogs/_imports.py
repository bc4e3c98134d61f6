from __future__ import annotations

import importlib
from typing import Any


def import_string(dotted_path: str) -> Any:
    """Import ``package.module.Name`` (kept here so hot modules avoid importing Airflow's helpers)."""
    module_name, _, name = dotted_path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)
