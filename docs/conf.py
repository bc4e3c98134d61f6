"""Sphinx configuration for the airflow-joblogs docs (built with warnings as errors by `make docs`)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(".."))
import tempfile

os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
# autodoc imports Airflow, which creates AIRFLOW_HOME/airflow.cfg: keep that out of the user's home.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="joblogs-docs-airflow-home-"))

project = "airflow-joblogs"
author = "airflow-joblogs contributors"
copyright = "2026, airflow-joblogs contributors"
from airflow_joblogs import __version__ as release  # noqa: E402  (the one place the version is set)

version = release

extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.viewcode", "sphinx.ext.intersphinx"]
html_theme = "furo"
html_title = "airflow-joblogs"
html_static_path = ["_static"]  # the connection-form screenshots
exclude_patterns = ["_build"]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
# Base classes from Airflow are documented by Airflow; unresolved cross-references to them are not errors.
nitpicky = False
suppress_warnings = ["ref.python"]
