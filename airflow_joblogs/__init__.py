"""An Apache Airflow 3 provider: wait on remote jobs and archive their logs."""

__version__ = "0.1.0"
