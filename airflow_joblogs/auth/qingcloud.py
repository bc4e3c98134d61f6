"""QingCloud API signature version 1: HMAC-SHA256 over the sorted, percent-encoded query string.

Every request carries ``access_key_id``, ``signature_method=HmacSHA256``, ``signature_version=1``,
``version=1`` and a UTC ``time_stamp``; the server rejects a time stamp more than 60 seconds off
(ret_code 1300). The string to sign is ``GET\\n<path>\\n<canonical query>``; the base64 signature is
appended, URL-encoded, as the last parameter. :class:`QingCloudSignatureV1` signs each attempt, so a retried
request gets a fresh time stamp and signature: as the service client builds the request
(:meth:`~QingCloudSignatureV1.sign_query`), or in httpx's auth flow for a request built elsewhere.

The signature travels in the URL, and httpx logs request URLs (at INFO, when a logging setup lets it
through): a filter on the ``httpx`` logger replaces the signature with ``***`` in those records.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

SIGNATURE_METHOD = "HmacSHA256"
SIGNATURE_VERSION = "1"
API_VERSION = "1"
TIME_STAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
#: parameters the signer owns; stale copies on a request are replaced, never signed twice
AUTH_PARAMS = frozenset(
    {"access_key_id", "signature_method", "signature_version", "version", "time_stamp", "signature"}
)


_SIGNATURE_IN_URL = re.compile(r"([?&]signature=)[^&\s\"']*")


class RedactSignature(logging.Filter):
    """Replace ``signature=...`` in a log record's URL arguments with ``signature=***``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any("signature=" in str(arg) for arg in record.args):
            record.args = tuple(
                _SIGNATURE_IN_URL.sub(r"\1***", str(arg)) if "signature=" in str(arg) else arg for arg in record.args
            )
        return True


def redact_signatures_in_httpx_logs() -> None:
    """Install :class:`RedactSignature` on the ``httpx`` logger (once)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, RedactSignature) for f in logger.filters):
        logger.addFilter(RedactSignature())


def flatten_params(params: Mapping[str, Any]) -> dict[str, str]:
    """The wire form of API parameters: lists become 1-based ``name.N`` keys, ``None`` is dropped.

    ``{"jobs": ["j-a", "j-b"], "limit": 20}`` -> ``{"jobs.1": "j-a", "jobs.2": "j-b", "limit": "20"}``.
    """
    flat: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, (list, tuple)):
            for index, item in enumerate(value, 1):
                flat[f"{key}.{index}"] = str(item)
        else:
            flat[key] = str(value)
    return flat


def canonical_query(params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """Sorted ``quote(key)=quote(value)`` pairs joined by ``&`` (space -> ``%20``, upper-case hex)."""
    items = params.items() if isinstance(params, Mapping) else params
    return "&".join(quote(key, safe="") + "=" + quote(value, safe="-_~") for key, value in sorted(items))


def signature_v1(secret_access_key: str, method: str, path: str, params: Mapping[str, str]) -> str:
    """The base64 HMAC-SHA256 signature of ``method\\npath\\ncanonical_query(params)``."""
    string_to_sign = f"{method.upper()}\n{path}\n{canonical_query(params)}"
    digest = hmac.new(secret_access_key.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def time_stamp(now: float) -> str:
    """``now`` (epoch seconds) in the UTC format the API expects."""
    return time.strftime(TIME_STAMP_FORMAT, time.gmtime(now))


class QingCloudSignatureV1(httpx.Auth):
    """Sign each attempt of a GET request with QingCloud signature v1.

    :param access_key_id: the access key id (sent in the clear as ``access_key_id``).
    :param secret_access_key: the secret access key (only ever used as the HMAC key).
    :param clock: epoch seconds now (tests pin it; default ``time.time``).
    """

    def __init__(self, access_key_id: str, secret_access_key: str, *, clock: Callable[[], float] = time.time) -> None:
        self._access_key_id = access_key_id
        self._secret = secret_access_key
        self._clock = clock
        redact_signatures_in_httpx_logs()

    def __repr__(self) -> str:
        return "QingCloudSignatureV1(<hidden>)"

    def sign(self, method: str, path: str, params: Mapping[str, str]) -> str:
        """The complete signed query string for ``params`` (auth parameters added, signature last)."""
        signed = {key: value for key, value in params.items() if key not in AUTH_PARAMS}
        signed.update(
            access_key_id=self._access_key_id,
            signature_method=SIGNATURE_METHOD,
            signature_version=SIGNATURE_VERSION,
            version=API_VERSION,
            time_stamp=time_stamp(self._clock()),
        )
        signature = signature_v1(self._secret, method, path, signed)
        return canonical_query(signed) + "&signature=" + quote_plus(signature)

    def sign_query(self, method: str, path: str, params: Mapping[str, str]) -> str:
        """:meth:`sign`, for a request being built: :class:`~airflow_joblogs.http.ServiceClient` signs a request
        as it builds it (once per attempt), so its URL is parsed once, not built unsigned, read back and built
        again."""
        if method != "GET":
            # The hooks only send GET; a form-encoded POST would need its body signed instead.
            raise ValueError(f"QingCloud signature v1 is implemented for GET requests, not {method}")
        return self.sign(method, path, params)

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        params = dict(request.url.params.multi_items())
        query = self.sign_query(request.method, request.url.path, params)
        request.url = request.url.copy_with(query=query.encode("ascii"))
        yield request
