"""A minimal loopback stand-in for the peers of the triggerer benchmark.

It answers dbt Cloud's run-status endpoint (``GET /api/v2/accounts/{account_id}/runs/{run_id}/``, the call
``DbtCloudHook.get_job_status`` makes) with a run that stays running (status 3, as dbt Cloud's
``DbtCloudJobRunStatus.RUNNING``), and everything else with a plain 404 (what ``HttpSensorTrigger`` keeps
polling for). ``GET /_emulator/faults`` reports the requests served, as the emulators do.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route


def standin_app() -> Any:
    from airflow_joblogs.emulators.base import EmulatorApp, Faults, JobClock

    served = [0]

    async def run_status(request: Request) -> JSONResponse:
        served[0] += 1
        run_id = int(request.path_params["run_id"])
        account_id = int(request.path_params["account_id"])
        return JSONResponse(
            {
                "status": {"code": 200, "is_success": True, "user_message": "Success!", "developer_message": ""},
                "data": {
                    "id": run_id,
                    "account_id": account_id,
                    "job_definition_id": 1,
                    "status": 3,
                    "status_humanized": "Running",
                    "in_progress": True,
                    "is_complete": False,
                },
            }
        )

    async def not_found(request: Request) -> PlainTextResponse:
        served[0] += 1
        return PlainTextResponse("Not Found", status_code=404)

    async def faults(request: Request) -> JSONResponse:
        return JSONResponse({"served": served[0]})

    app = Starlette(
        routes=[
            Route("/_emulator/faults", faults),
            Route("/api/v2/accounts/{account_id}/runs/{run_id}/", run_status),
            Route("/{rest:path}", not_found),
        ]
    )

    def connections(url: str) -> dict[str, dict[str, Any]]:
        host = url.split("://", 1)[1]
        return {
            "http_peer": {
                "conn_type": "http",
                "host": host.split(":")[0],
                "port": int(host.split(":")[1]),
                "schema": url.split("://")[0],
            },
            "dbt_peer": {"conn_type": "dbt_cloud", "host": host, "login": "1", "password": "dbt-standin-token"},
        }

    # no jobs and no injected faults: the knobs are there for the server, never read
    return EmulatorApp("standin", app, Faults(), JobClock(), connections)
