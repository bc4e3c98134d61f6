from __future__ import annotations

import importlib
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def import_string(dotted_path: str) -> Any:
    """Import ``package.module.Name`` (kept here so hot modules avoid importing Airflow's helpers)."""
    module_name, _, name = dotted_path.rpartition(".")
    return getattr(importlib.import_module(module_name), name)


class LazyClass(Generic[T]):
    """A class attribute naming a class by dotted path, imported when first read (typed: ``LazyClass[JobService]``
    reads as ``type[JobService]``).

    Lets an operator module refer to a hook or trigger whose imports are heavy (botocore, the trigger machinery)
    without importing it while a DAG file is parsed; the import happens when the task runs. Assigning the
    attribute on an instance still overrides it.
    """

    def __init__(self, dotted_path: str) -> None:
        self.dotted_path = dotted_path

    def __get__(self, instance: Any, owner: Any = None) -> type[T]:
        cls: type[T] = import_string(self.dotted_path)
        return cls
