"""BlueKing authentication: ESB v2 puts the app credentials in the request; the API gateway wants a header."""

from __future__ import annotations

import json
from collections.abc import Generator
from dataclasses import dataclass, field

import httpx


@dataclass(frozen=True)
class BlueKingCredentials:
    app_code: str
    app_secret: str = field(repr=False)
    bk_username: str | None = None
    bk_token: str | None = field(default=None, repr=False)
    access_token: str | None = field(default=None, repr=False)
    tenant_id: str | None = None

    def fields(self) -> dict[str, str]:
        values = {
            "bk_app_code": self.app_code,
            "bk_app_secret": self.app_secret,
            "bk_username": self.bk_username,
            "bk_token": self.bk_token,
            "access_token": self.access_token,
        }
        return {key: value for key, value in values.items() if value}


class BlueKingGatewayAuth(httpx.Auth):
    """API gateway v3: credentials as compact JSON in ``X-Bkapi-Authorization`` (plus the tenant header)."""

    def __init__(self, credentials: BlueKingCredentials) -> None:
        self._header = json.dumps(credentials.fields(), separators=(",", ":"))
        self._tenant = credentials.tenant_id

    def __repr__(self) -> str:
        return "BlueKingGatewayAuth(<hidden>)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Bkapi-Authorization"] = self._header
        if self._tenant:
            request.headers["X-Bk-Tenant-Id"] = self._tenant
        yield request


class BlueKingEsbAuth(httpx.Auth):
    """ESB v2: the app and user credentials travel in the JSON body of a POST (never in the URL); ESB reads a user
    access token as ``bk_access_token`` (legacy-bk-paas ``esb/bkauth/validators.py``)."""

    def __init__(self, credentials: BlueKingCredentials) -> None:
        self._fields = credentials.fields()
        access_token = self._fields.pop("access_token", None)
        if access_token:
            self._fields["bk_access_token"] = access_token

    def __repr__(self) -> str:
        return "BlueKingEsbAuth(<hidden>)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        body = json.loads(request.content or b"{}")
        body.update(self._fields)
        content = json.dumps(body).encode()
        request.headers["Content-Length"] = str(len(content))
        request.headers["Content-Type"] = "application/json"
        request._content = content  # httpx keeps the body here; the request is rebuilt per attempt
        request.stream = httpx.ByteStream(content)
        yield request
