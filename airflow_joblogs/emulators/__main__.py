"""Start the emulators on 127.0.0.1 and print the Airflow connections that point at them.

    python -m airflow_joblogs.emulators                 # all of them, ephemeral ports
    python -m airflow_joblogs.emulators blueking --port 8801 --speed 1
    python -m airflow_joblogs.emulators --env-file conns.env   # also write AIRFLOW_CONN_* lines

Stop with Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading

from airflow_joblogs.emulators.base import EmulatorServer
from airflow_joblogs.emulators.registry import EMULATORS, make_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_joblogs.emulators", description=__doc__.split("\n\n")[0])
    parser.add_argument("services", nargs="*", help="default: all")
    parser.add_argument(
        "--port", type=int, default=0, help="first port (each further service takes the next); 0 = ephemeral"
    )
    parser.add_argument("--speed", type=float, default=1.0, help="job clock speed (2 = jobs run twice as fast)")
    parser.add_argument("--env-file", help="write AIRFLOW_CONN_<ID>='...' lines to this file")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.services) - set(EMULATORS))
    if unknown:
        parser.error(f"unknown service(s) {', '.join(unknown)}; known: {', '.join(EMULATORS)}")
    names = args.services or list(EMULATORS)
    servers = []
    for offset, name in enumerate(names):
        port = args.port + offset if args.port else 0
        servers.append(EmulatorServer(make_app(name, speed=args.speed), port=port).start())
    lines = []
    for server in servers:
        print(f"{server.app.name:10s} {server.url}")
        for conn_id, conn in server.connections().items():
            line = f"AIRFLOW_CONN_{conn_id.upper()}='{json.dumps(conn)}'"
            lines.append(line)
            print(f"  export {line}")
    if args.env_file:
        with open(args.env_file, "w", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    for server in servers:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
