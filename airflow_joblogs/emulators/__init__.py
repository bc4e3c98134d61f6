"""Local servers that speak each service's API, for the demo, the tests and offline DAG development.

``python -m airflow_joblogs.emulators`` starts them on 127.0.0.1 and prints the connections to use.
In Python: ``with start_emulator(blueking_app()) as server: ...``.
"""

from airflow_joblogs.emulators.base import EmulatorServer, Faults, start_emulator

__all__ = ["EmulatorServer", "Faults", "start_emulator"]
