"""``[core] hostname_callable`` for the end-to-end deployments: each component's name (``celery-worker-1``,
``triggerer-2``) is its hostname, so task instances and triggerer jobs say which process ran them."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("JOBLOGS_E2E_COMPONENT") or socket.getfqdn()
