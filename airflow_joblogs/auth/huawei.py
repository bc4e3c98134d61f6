"""Huawei Cloud authentication: ``SDK-HMAC-SHA256`` request signing (AK/SK) and IAM tokens.

The signing functions are pure (the emulator verifies signatures with them, fed from what actually
arrived on the wire); :class:`HuaweiAkSkAuth` applies them to each attempt of an httpx request with a
fresh ``X-Sdk-Date``. :class:`HuaweiIamPasswordAuth` obtains a project-scoped IAM token
(``POST /v3/auth/tokens``, token in ``X-Subject-Token``), reuses it, renews it before it expires and
once more if the service answers 401. :class:`HuaweiTokenAuth` sends a token the user already has.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

import httpx

from airflow_joblogs.exceptions import JobLogsError, TransientError
from airflow_joblogs.http import raise_for_http_status
from airflow_joblogs.timestamps import parse as parse_time

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
EMPTY_BODY_SHA256 = hashlib.sha256(b"").hexdigest()
#: a precomputed payload hash (e.g. ``UNSIGNED-PAYLOAD``) that replaces hashing the body
CONTENT_SHA256_HEADER = "X-Sdk-Content-Sha256"
#: hop-by-hop headers: a proxy may drop or rewrite them before the gateway sees the request
UNSIGNED_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
SERVICE = "Huawei Cloud IAM"


# -- the signing algorithm, step by step -------------------------------------------------------------------
def _encode(text: str) -> str:
    return quote(text, safe="~")


def canonical_uri(path: str) -> str:
    """Each path segment percent-encoded (``~`` kept), always ending with ``/``."""
    uri = "/".join(_encode(segment) for segment in unquote(path).split("/"))
    return uri if uri.endswith("/") else uri + "/"


def parse_query(query: str | bytes) -> list[tuple[str, str]]:
    """Decode a query string into (key, value) pairs (``+`` is a space, as form encoding writes it)."""
    if isinstance(query, bytes):
        query = query.decode("ascii", "replace")
    return parse_qsl(query, keep_blank_values=True)


def canonical_query(pairs: Iterable[tuple[str, str]]) -> str:
    """Pairs sorted by key then value, each side percent-encoded (``~`` kept), joined with ``&``."""
    return "&".join(f"{_encode(key)}={_encode(value)}" for key, value in sorted(pairs))


def signed_header_names(headers: Mapping[str, str]) -> list[str]:
    """Every header whose name has no ``_``, lower-cased and sorted."""
    return sorted({name.lower() for name in headers if "_" not in name})


def canonical_request(
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    signed_headers: list[str],
    payload_sha256: str,
) -> str:
    """METHOD, URI, query, ``name:value`` lines (the block ends with a blank line), header list, body hash."""
    values = {name.lower(): str(value).strip() for name, value in headers.items()}
    header_block = "".join(f"{name}:{values.get(name, '')}\n" for name in signed_headers)
    return "\n".join(
        [
            method.upper(),
            canonical_uri(path),
            canonical_query(query_pairs),
            header_block,
            ";".join(signed_headers),
            payload_sha256,
        ]
    )


def payload_hash(body: bytes, headers: Mapping[str, str]) -> str:
    for name, value in headers.items():
        if name.lower() == CONTENT_SHA256_HEADER.lower():
            return value
    return hashlib.sha256(body).hexdigest() if body else EMPTY_BODY_SHA256


def string_to_sign(sdk_date: str, canonical: str) -> str:
    return f"{ALGORITHM}\n{sdk_date}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"


def signature(secret_key: str, text: str) -> str:
    return hmac.new(secret_key.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def authorization(access_key: str, signed_headers: list[str], signature_hex: str) -> str:
    return f"{ALGORITHM} Access={access_key}, SignedHeaders={';'.join(signed_headers)}, Signature={signature_hex}"


def sign(
    *,
    access_key: str,
    secret_key: str,
    method: str,
    path: str,
    query_pairs: Iterable[tuple[str, str]],
    headers: Mapping[str, str],
    body: bytes = b"",
) -> str:
    """The ``Authorization`` value for a request whose ``headers`` already hold ``Host`` and ``X-Sdk-Date``."""
    sdk_date = next((value for name, value in headers.items() if name.lower() == "x-sdk-date"), None)
    if not sdk_date:
        raise ValueError("X-Sdk-Date must be set before signing")
    names = signed_header_names(headers)
    canonical = canonical_request(method, path, query_pairs, headers, names, payload_hash(body, headers))
    return authorization(access_key, names, signature(secret_key, string_to_sign(sdk_date, canonical)))


def sdk_date(now: datetime | None = None) -> str:
    return (now or datetime.now(timezone.utc)).strftime(DATE_FORMAT)


# -- httpx auth classes ----------------------------------------------------------------------------------------
class HuaweiAkSkAuth(httpx.Auth):
    """Sign every attempt with ``SDK-HMAC-SHA256`` (a fresh ``X-Sdk-Date`` each time).

    The query string is rewritten to its canonical form before signing, so what is sent is exactly
    what was signed. Temporary keys add ``X-Security-Token``.
    """

    requires_request_body = True

    def __init__(
        self, access_key: str, secret_key: str, project_id: str | None = None, security_token: str | None = None
    ) -> None:
        self.access_key = access_key
        self._secret_key = secret_key
        self.project_id = project_id
        self._security_token = security_token

    def __repr__(self) -> str:
        return f"HuaweiAkSkAuth(access_key={self.access_key!r}, secret_key=<hidden>)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        pairs = parse_query(request.url.query)
        request.url = request.url.copy_with(query=canonical_query(pairs).encode("ascii") or None)
        request.headers["X-Sdk-Date"] = sdk_date()
        if self.project_id:
            request.headers["X-Project-Id"] = self.project_id
        if self._security_token:
            request.headers["X-Security-Token"] = self._security_token
        headers = {name: value for name, value in request.headers.items() if name.lower() not in UNSIGNED_HEADERS}
        request.headers["Authorization"] = sign(
            access_key=self.access_key,
            secret_key=self._secret_key,
            method=request.method,
            path=request.url.raw_path.split(b"?", 1)[0].decode("ascii"),
            query_pairs=pairs,
            headers=headers,
            body=request.content,
        )
        yield request


class HuaweiTokenAuth(httpx.Auth):
    """Send an IAM token the user obtained elsewhere as ``X-Auth-Token`` (it cannot be renewed here)."""

    def __init__(self, token: str, project_id: str | None = None) -> None:
        self._token = token
        self.project_id = project_id

    def __repr__(self) -> str:
        return "HuaweiTokenAuth(token=<hidden>)"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-Auth-Token"] = self._token
        if self.project_id:
            request.headers["X-Project-Id"] = self.project_id
        yield request


def _parse_iam_time(value: Any) -> float | None:
    if not isinstance(value, str) or not value:
        return None
    parsed = parse_time(value, naive_zone=timezone.utc)  # IAM writes UTC ("2026-11-23T10:00:00.000000Z")
    return None if parsed is None else parsed.timestamp()


class HuaweiIamPasswordAuth(httpx.Auth):
    """Obtain a project-scoped IAM token with a user's password and send it as ``X-Auth-Token``.

    The token is kept and renewed ``refresh_margin`` before it expires (IAM tokens live 24 hours; the
    lifetime is measured with the local clock from ``issued_at``/``expires_at``, so clock skew does not
    matter). A 401 from the service renews it once and resends the request. ``on_token`` is called with
    each new token (the hook registers it with Airflow's secret masker).
    """

    requires_response_body = True
    #: renew this long before expiry, or at 90% of the lifetime for short-lived tokens
    refresh_margin = 3600.0

    def __init__(
        self,
        *,
        iam_url: str,
        domain_name: str,
        user_name: str,
        password: str,
        project_id: str,
        on_token: Callable[[str], None] | None = None,
    ) -> None:
        self.iam_url = iam_url.rstrip("/")
        self.domain_name = domain_name
        self.user_name = user_name
        self._password = password
        self.project_id = project_id
        self._token: str | None = None
        self._renew_at = 0.0
        self._on_token = on_token

    def __repr__(self) -> str:
        return f"HuaweiIamPasswordAuth(iam_url={self.iam_url!r}, domain_name={self.domain_name!r}, user_name={self.user_name!r}, password=<hidden>)"

    def token_request(self) -> httpx.Request:
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self.user_name,
                            "password": self._password,
                            "domain": {"name": self.domain_name},
                        }
                    },
                },
                "scope": {"project": {"id": self.project_id}},
            }
        }
        return httpx.Request("POST", f"{self.iam_url}/v3/auth/tokens", json=body)

    def accept_token(self, response: httpx.Response) -> None:
        """Keep the token from an IAM answer, or raise the mapped error (5xx/429 are retried by the caller)."""
        request_id = response.headers.get("X-Request-Id")
        if response.status_code >= 300:
            code, message = _iam_error(response)
            raise_for_http_status(
                response, SERVICE, f"IAM token request failed: {message}", code=code, request_id=request_id
            )
            raise JobLogsError(
                f"IAM token request failed: {message}", service=SERVICE, code=code, request_id=request_id
            )
        token = response.headers.get("X-Subject-Token")
        if not token:
            raise TransientError(
                "IAM answered without an X-Subject-Token header", service=SERVICE, status_code=response.status_code
            )
        try:
            data = response.json().get("token") or {}
        except (ValueError, AttributeError):
            data = {}
        issued, expires = _parse_iam_time(data.get("issued_at")), _parse_iam_time(data.get("expires_at"))
        lifetime = (expires - issued) if issued is not None and expires is not None else 24 * 3600.0
        lifetime = max(lifetime, 0.0)
        if self._on_token is not None:
            self._on_token(token)
        self._token = token
        self._renew_at = time.monotonic() + lifetime - min(self.refresh_margin, lifetime * 0.1)

    def _needs_token(self) -> bool:
        return self._token is None or time.monotonic() >= self._renew_at

    def _authorize(self, request: httpx.Request) -> None:
        assert self._token is not None
        request.headers["X-Auth-Token"] = self._token
        request.headers["X-Project-Id"] = self.project_id

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        fresh = False
        if self._needs_token():
            self.accept_token((yield self.token_request()))
            fresh = True
        self._authorize(request)
        response = yield request
        if response.status_code == 401 and not fresh:
            # revoked or expired early (password change, clock jump): renew once and resend
            self._token = None
            self.accept_token((yield self.token_request()))
            self._authorize(request)
            yield request


def _iam_error(response: httpx.Response) -> tuple[Any, str]:
    """(code, message) from either IAM error shape: ``{"error": {"code", "message"}}`` or ``{"error_code", "error_msg"}``."""
    try:
        body = response.json()
    except ValueError:
        return None, f"HTTP {response.status_code}"
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return error.get("code"), str(error.get("message") or error.get("title") or f"HTTP {response.status_code}")
        if body.get("error_code") or body.get("error_msg"):
            return body.get("error_code"), str(body.get("error_msg") or f"HTTP {response.status_code}")
    return None, f"HTTP {response.status_code}"
