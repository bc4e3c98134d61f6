"""One HTTP mechanism for every service: client factory, retries, error mapping, program drivers.

Service adapters never write a retry loop or a pager driver. They describe a call as an
:class:`ApiRequest` plus a ``decode`` function that turns the response into a payload or raises one
of :mod:`airflow_joblogs.exceptions`; :class:`ServiceClient` executes it with bounded, jittered
exponential backoff that honours ``Retry-After``.

Multi-call work (paging, walking steps and hosts, tailing) is written once as a *program*: a generator
that yields :class:`Call` (and receives the decoded payload back), :class:`Sleep`, :class:`Gather`, or output
items (log chunks), one at a time or a page's worth at once (:class:`Outputs`). :meth:`ServiceClient.iterate`
drives it synchronously and :meth:`ServiceClient.aiterate` asynchronously, so the sync and async twins of every
hook method share one implementation.
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import logging
import os
import random
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from typing import Any, TypeVar, cast

import httpx
from tenacity import AsyncRetrying, RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from airflow_joblogs.exceptions import (
    AuthenticationError,
    InvalidParameterError,
    JobLogsError,
    NotFoundError,
    PermissionDeniedError,
    RemoteValidationError,
    TransientError,
)
from airflow_joblogs.loop_shared import Lease, LoopShared
from airflow_joblogs.loop_transport import LoopTransport
from airflow_joblogs.models import LogChunk

log = logging.getLogger(__name__)

T = TypeVar("T")
Decode = Callable[[httpx.Response], Any]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with jitter.

    The n-th retry waits a random time in ``[d/2, d]`` with ``d = min(max_backoff, initial_backoff * 2**(n-1))``,
    or the server's ``Retry-After`` (capped by ``max_retry_after``) when it sent one.
    """

    max_attempts: int = 6
    initial_backoff: float = 0.5
    max_backoff: float = 20.0
    max_retry_after: float = 120.0

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return max(0.0, min(retry_after, self.max_retry_after))
        ceiling = min(self.max_backoff, self.initial_backoff * 2 ** max(0, retry_number - 1))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request, relative to the client's base URL. Never holds credentials (auth adds them)."""

    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None
    headers: Mapping[str, str] | None = None
    #: False for a request that starts something (a job, a cluster action): it is sent again only when it
    #: surely never reached the service (no connection, or a 429 refusal), since a second one could start twice
    idempotent: bool = True

    def describe(self) -> str:
        # Method and path only: query strings and bodies may carry identifiers users consider sensitive.
        return f"{self.method} {self.path}"


@dataclass(frozen=True)
class Call:
    """A program step: execute ``request`` (with retries) and send ``decode(response)`` back."""

    request: ApiRequest
    decode: Decode


@dataclass(frozen=True)
class Sleep:
    """A program step: wait (used for 'log empty, ask again' and follow-mode tailing)."""

    seconds: float


@dataclass(frozen=True)
class Gather:
    """A program step: execute independent calls concurrently (bounded) and send back their payloads in order."""

    calls: tuple[Call, ...]
    concurrency: int = 8


@dataclass(frozen=True)
class Outputs:
    """A program step: output items handed out in order, as if yielded one by one (with less work per item,
    for a page of many small units)."""

    items: Sequence[LogChunk]


#: what a program yields: a step for its driver, or an output item (a log chunk) handed to its consumer
Step = Call | Gather | Sleep | Outputs | LogChunk
#: a program returning a ``T``: it yields steps and outputs, receives each call's decoded payload back, and returns
#: its result (the return value of :meth:`ServiceClient.run` and of ``yield from`` :meth:`ServiceClient.iterate`)
Program = Generator[Step, Any, T]
_STEPS = (Call, Outputs, Gather, Sleep)


def retry_after_seconds(response: httpx.Response) -> float | None:
    """Parse ``Retry-After`` (seconds or an HTTP date)."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def json_body(response: httpx.Response, service: str, request_id: str | None = None) -> Any:
    """Decode a JSON body; an empty or cut-off body is a transient fault (the next attempt may be whole)."""
    if not response.content:
        raise TransientError(
            "empty response body", service=service, status_code=response.status_code, request_id=request_id
        )
    try:
        return response.json()
    except ValueError as exc:
        raise TransientError(
            f"response body is not valid JSON ({exc.__class__.__name__})",
            service=service,
            status_code=response.status_code,
            request_id=request_id,
        ) from None


def raise_for_http_status(
    response: httpx.Response, service: str, message: str, *, code: Any = None, request_id: str | None = None
) -> None:
    """Map a non-2xx HTTP status to the exception hierarchy (used after a service read its own error body)."""
    status = response.status_code
    if status < 400:
        return
    kwargs: dict[str, Any] = {"service": service, "code": code, "status_code": status, "request_id": request_id}
    if status == 429 or status >= 500 or status == 408:
        raise TransientError(message, retry_after=retry_after_seconds(response), **kwargs)
    if status == 401:
        raise AuthenticationError(message, **kwargs)
    if status == 403:
        raise PermissionDeniedError(message, **kwargs)
    if status == 404:
        raise NotFoundError(message, **kwargs)
    if status in (400, 409, 422):
        raise RemoteValidationError(message, **kwargs)
    raise JobLogsError(message, **kwargs)


_SPENT = httpx.ByteStream(b"")


def _release(response: httpx.Response) -> None:
    """Break the response <-> stream reference cycle of a read httpx response, so its body is freed at
    once instead of at the next cyclic garbage collection (which let big log pages pile up)."""
    response.stream = _SPENT


_SSL_CONTEXTS: dict[tuple[Any, ...], ssl.SSLContext] = {}
_SSL_LOCK = threading.Lock()


def ssl_context(verify: bool | str) -> ssl.SSLContext:
    """The TLS context for ``verify`` (True: the system's CA bundle as httpx chooses it; False: no checks; a path:
    that CA bundle file or folder), built once per process and shared by every client.

    Building a context loads the whole CA bundle (tens of milliseconds and hundreds of KB each); a triggerer
    running a thousand triggers would otherwise build a thousand identical ones.
    """
    key = (verify, os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    with _SSL_LOCK:
        context = _SSL_CONTEXTS.get(key)
        if context is None:
            if isinstance(verify, str):
                try:
                    if os.path.isdir(verify):
                        context = ssl.create_default_context(capath=verify)
                    else:
                        context = ssl.create_default_context(cafile=verify)
                except (OSError, ssl.SSLError) as exc:
                    raise InvalidParameterError(
                        "ca_bundle", f"{verify!r} is not a readable CA bundle ({type(exc).__name__})"
                    ) from None
            else:
                context = httpx.create_ssl_context(verify=bool(verify))
            _SSL_CONTEXTS[key] = context
        return context


#: service clients one async httpx client (and its connection pool) serves at most, and the connections that
#: pool opens at most: a handful of kept-alive connections is plenty for a few dozen triggers that each send a
#: request every few seconds, and the clients and connections grow with the triggers, so a slow service (each
#: answer taking its time) still answers them all.
POOL_HOLDERS = 32
POOL_CONNECTIONS = 8
_CLIENTS: LoopShared[httpx.AsyncClient] = LoopShared(capacity=POOL_HOLDERS)


def _certificate_error(exc: BaseException) -> ssl.SSLCertVerificationError | None:
    """The certificate verification failure behind a transport error, if that is what it was."""
    seen: BaseException | None = exc
    for _ in range(10):  # a short chain: httpx -> httpcore -> ssl
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, JobLogsError) and exc.retryable


#: transport faults that happen before a request is sent: asking again cannot carry it out twice
_UNSENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def _may_send_again(request: ApiRequest, exc: JobLogsError) -> bool:
    """Whether a failed ``request`` may be sent again: any idempotent one; one that starts something only when
    the service surely did not act on it (no connection was made, or it answered 429)."""
    return request.idempotent or exc.status_code == 429 or exc.unsent


def _not_sent_again(request: ApiRequest, exc: JobLogsError) -> JobLogsError:
    """The error of a request that starts something, failed in a way that may have come after the service acted."""
    error = JobLogsError(
        f"{exc.message}; not sent again: the service may have carried out {request.describe()} already, and a "
        "second request could start it twice",
        service=exc.service,
        code=exc.code,
        status_code=exc.status_code,
        request_id=exc.request_id,
    )
    error.__cause__ = exc
    return error


def _transport_fault(exc: httpx.TransportError) -> str:
    """The fault's kind, where it went (host and port, never the path or query) and, for a failed connection,
    why: refused, no such host (DNS), TLS, timed out."""
    text = exc.__class__.__name__
    try:
        url = exc.request.url
        text += f" to {url.host}:{url.port or (443 if url.scheme == 'https' else 80)}"
    except RuntimeError:  # an exception raised without its request
        pass
    if not isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return text
    if isinstance(exc, httpx.ConnectTimeout):
        return f"{text}: timed out while connecting"
    cause: BaseException | None = exc
    seen = 0
    while cause is not None and seen < 10:
        if isinstance(cause, ConnectionRefusedError):
            return f"{text}: connection refused (is the service listening at that host and port?)"
        if isinstance(cause, socket.gaierror):
            return f"{text}: the host name could not be resolved (DNS)"
        if isinstance(cause, ssl.SSLError):
            return f"{text}: the TLS handshake failed ({cause.reason or cause.__class__.__name__})"
        if isinstance(cause, TimeoutError):
            return f"{text}: timed out while connecting"
        cause = cause.__cause__ or cause.__context__
        seen += 1
    lowered = str(exc).lower()
    for needle, meaning in (
        ("refused", "connection refused (is the service listening at that host and port?)"),
        ("name or service not known", "the host name could not be resolved (DNS)"),
        ("nodename nor servname", "the host name could not be resolved (DNS)"),
        ("temporary failure in name resolution", "the host name could not be resolved (DNS)"),
        ("ssl", "the TLS handshake failed"),
    ):
        if needle in lowered:
            return f"{text}: {meaning}"
    return text


class _NoCookies(http.cookiejar.CookieJar):
    """The empty jar every :class:`_Cookies` starts with, shared: it never holds a cookie."""

    def set_cookie(self, cookie: http.cookiejar.Cookie) -> None:
        raise RuntimeError("the shared empty cookie jar holds no cookie")


_NO_COOKIES = _NoCookies()


class _Cookies(httpx.Cookies):
    """httpx's cookies, without a jar of their own until a service sets one, and without the standard library's
    jar for an answer that sets none: httpx hands every response to it, and it wraps each in a urllib request
    and an email message first, a tenth of the CPU a status check cost a triggerer's event loop; a jar of its
    own was a dozen objects more per trigger."""

    def __init__(self) -> None:
        self.jar = _NO_COOKIES

    def _own_jar(self) -> None:
        if self.jar is _NO_COOKIES:
            self.jar = http.cookiejar.CookieJar()

    def extract_cookies(self, response: httpx.Response) -> None:
        headers = response.headers
        if "set-cookie" in headers or "set-cookie2" in headers:
            self._own_jar()
            super().extract_cookies(response)

    def set(self, name: str, value: str, domain: str = "", path: str = "/") -> None:
        self._own_jar()
        super().set(name, value, domain, path)

    def update(self, cookies: Any = None) -> None:  # type: ignore[override]  # httpx.Cookies.update's signature
        self._own_jar()
        super().update(cookies)


class _OwnCookieJar:
    """Gives an httpx client a :class:`_Cookies` (ours never take cookies when built). ``_cookies`` is what
    httpx keeps behind its ``cookies`` property; were it renamed, the client would keep httpx's own jar and
    work as before."""

    _cookies: httpx.Cookies

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._cookies = _Cookies()


class _Client(_OwnCookieJar, httpx.Client):
    pass


class _AsyncClient(_OwnCookieJar, httpx.AsyncClient):
    pass


@dataclass
class ServiceClient:
    """An httpx client (sync or async, created lazily) bound to one service's base URL and auth."""

    service: str
    base_url: str
    auth: httpx.Auth | None = None
    verify: bool | str = True
    timeout: float = 60.0
    connect_timeout: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    headers: Mapping[str, str] = field(default_factory=dict)
    request_id_header: str = "X-Request-Id"
    allow_http: bool = False
    transport: httpx.BaseTransport | None = None
    async_transport: httpx.AsyncBaseTransport | None = None
    _client: httpx.Client | None = field(default=None, init=False, repr=False)
    _aclient: httpx.AsyncClient | None = field(default=None, init=False, repr=False)
    _alease: Lease[httpx.AsyncClient] | None = field(default=None, init=False, repr=False)
    _urls: dict[Any, httpx.URL] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        url = httpx.URL(self.base_url)
        if url.scheme not in ("http", "https") or not url.host:
            raise InvalidParameterError("host", f"{self.base_url!r} is not an http(s) URL with a host name")
        if url.scheme == "http" and not self.allow_http:
            raise InvalidParameterError(
                "host",
                f"{self.base_url!r} uses plain http://; set the connection extra allow_http=true "
                "to allow it (meant for local emulators)",
            )

    def __repr__(self) -> str:
        return f"ServiceClient(service={self.service!r}, base_url={self.base_url!r}, verify={self.verify!r})"

    # -- clients --------------------------------------------------------------------------------------
    def _client_kwargs(self) -> dict[str, Any]:
        """What an httpx client of this service client is made with. Not the auth: it goes with each request
        (:meth:`_request_auth`), so service clients with other credentials can share an async client."""
        return {
            "base_url": self.base_url,
            "verify": ssl_context(self.verify),
            "timeout": httpx.Timeout(self.timeout, connect=self.connect_timeout),
            "headers": {"User-Agent": "airflow-joblogs", **self.headers},
            "follow_redirects": False,
        }

    @property
    def client(self) -> httpx.Client:
        if self._client is None:
            self._client = _Client(transport=self.transport, **self._client_kwargs())
        return self._client

    @property
    def aclient(self) -> httpx.AsyncClient:
        """The async client: with no ``async_transport`` given, one shared by the service clients on the running
        event loop that have the same base URL, TLS settings, timeouts and headers, :data:`POOL_HOLDERS` at most
        each, over a :class:`~airflow_joblogs.loop_transport.LoopTransport` of its own.

        A triggerer polls many jobs from one event loop. With a client and a pool each, every trigger held an
        httpx client (a dozen objects) and opened a connection at every check, idle until the next; objects that
        live as long as a trigger fill the garbage collector's oldest generation, whose full passes stop the
        loop. Sharing, the triggers take turns on a few kept-alive connections (a request waits for one when all
        are busy), and the client and its connections close with their last holder. The lean transport, not
        httpx's default: with httpcore's, a status check cost the event loop 3-4 ms of CPU, and a triggerer
        running 5,000 triggers every 30 s fell behind for good.
        """
        if self._aclient is None:
            if self.async_transport is not None:
                self._aclient = _AsyncClient(transport=self.async_transport, **self._client_kwargs())
            else:
                kwargs = self._client_kwargs()
                key = (
                    self.base_url,
                    id(kwargs["verify"]),
                    self.timeout,
                    self.connect_timeout,
                    *kwargs["headers"].items(),
                )

                def make() -> tuple[httpx.AsyncClient, Callable[[], Any]]:
                    transport = LoopTransport(kwargs["verify"], POOL_CONNECTIONS)
                    client = _AsyncClient(transport=transport, **kwargs)
                    return client, client.aclose

                self._alease = _CLIENTS.lease(key, make)
                self._aclient = self._alease.resource
        return self._aclient

    def _request_auth(self) -> Any:
        """The auth a request goes with: this service client's, or none where it signs the query as the request
        is built (:meth:`_signs_query`)."""
        return None if self._signs_query() else self.auth

    def detached(self) -> ServiceClient:
        """The same service client with connections of its own (close it with :meth:`close`)."""
        return replace(self)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        client, lease, self._aclient, self._alease = self._aclient, self._alease, None, None
        if lease is not None:
            await _CLIENTS.release(lease)
        elif client is not None:
            await client.aclose()

    # -- one call, with retries -------------------------------------------------------------------------
    def _retry_kwargs(self, request: ApiRequest) -> dict[str, Any]:
        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            retry_after = exc.retry_after if isinstance(exc, JobLogsError) else None
            return self.retry.delay(state.attempt_number, retry_after)

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            log.warning(
                "%s %s: attempt %d/%d failed (%s); retrying in %.1fs",
                self.service,
                request.describe(),
                state.attempt_number,
                self.retry.max_attempts,
                exc,
                state.upcoming_sleep,
            )

        return {
            "stop": stop_after_attempt(self.retry.max_attempts),
            "wait": wait,
            "retry": retry_if_exception(
                lambda exc: _is_retryable(exc) and _may_send_again(request, cast(JobLogsError, exc))
            ),
            "before_sleep": before_sleep,
            "reraise": True,
        }

    def _transport_error(self, request: ApiRequest, exc: httpx.TransportError) -> JobLogsError:
        # The exception class names the fault (ConnectError, ReadTimeout, RemoteProtocolError ...);
        # its text is kept out because some transports echo the full URL.
        refused = _certificate_error(exc)
        if refused is not None:  # asking again cannot help: say what to change
            return JobLogsError(
                f"{request.describe()} failed: the server's TLS certificate was not accepted "
                f"({refused.verify_message or refused.reason}); name the CA that signed it in the connection's "
                "ca_bundle extra (or, for a test server you trust, set verify=false)",
                service=self.service,
            )
        error = TransientError(f"{request.describe()} failed: {_transport_fault(exc)}", service=self.service)
        error.unsent = isinstance(exc, _UNSENT)
        return error

    def request_id(self, response: httpx.Response) -> str | None:
        return response.headers.get(self.request_id_header)

    def _kept_url(self, key: Any, make: Callable[[], httpx.URL]) -> httpx.URL:
        url = self._urls.get(key)
        if url is None:
            if len(self._urls) >= 16:
                self._urls.clear()
            url = self._urls[key] = make()
        return url

    def _build(self, client: httpx.Client | httpx.AsyncClient, request: ApiRequest) -> httpx.Request:
        """The httpx request, its URL (the base URL, the path and the query) built once per path and query and
        kept (16 at most): parsing and quoting a URL is a good part of what a small request costs the client, and
        a trigger asks the same one at every check. Built whole each time where a query value is not a plain
        value. An auth that signs the query (:meth:`_signs_query`) signs it here, on the base URL and path kept."""
        if self._signs_query():
            base = self._kept_url((request.path, None), lambda: client.build_request("GET", request.path).url)
            query = cast(Any, self.auth).sign_query(request.method, base.path, request.params or {})
            signed = base.copy_with(query=query.encode("ascii"))
            return client.build_request(request.method, signed, json=request.json, headers=request.headers)
        params = request.params
        key: Any
        url: httpx.URL | None
        try:
            key = (request.path, tuple((k, type(v), v) for k, v in params.items()) if params else ())
            url = self._urls.get(key)
        except TypeError:  # a list of values: let httpx build it each time
            key, url = None, None
        if url is not None:
            params = None
        built = client.build_request(
            request.method, url or request.path, params=params, json=request.json, headers=request.headers
        )
        if url is None and key is not None:
            self._kept_url(key, lambda: built.url)
        return built

    def _signs_query(self) -> bool:
        """Whether the auth signs a request's query as it is built (``sign_query(method, path, params)``, the
        full query string): the request then goes without httpx's auth flow, which would sign it again."""
        return callable(getattr(self.auth, "sign_query", None))

    def _attempt(self, request: ApiRequest, decode: Decode) -> Any:
        try:
            client = self.client
            response = client.send(self._build(client, request), auth=self._request_auth())
        except httpx.TransportError as exc:
            raise self._transport_error(request, exc) from None
        try:
            return decode(response)
        finally:
            _release(response)

    async def _aattempt(self, request: ApiRequest, decode: Decode) -> Any:
        try:
            client = self.aclient
            response = await client.send(self._build(client, request), auth=self._request_auth())
        except httpx.TransportError as exc:
            raise self._transport_error(request, exc) from None
        try:
            return decode(response)
        finally:
            _release(response)

    def call(self, request: ApiRequest, decode: Decode) -> Any:
        """Send ``request`` and return ``decode(response)``, retrying transient failures (:class:`RetryPolicy`)."""
        # The first attempt goes without the retry machinery (setting it up costs more than a local request):
        # only a retryable failure starts it, handed in as its first attempt, so the waits and logs are the same.
        try:
            return self._attempt(request, decode)
        except JobLogsError as exc:
            if not exc.retryable or self.retry.max_attempts <= 1:
                raise
            if not _may_send_again(request, exc):
                raise _not_sent_again(request, exc) from exc
            failed: JobLogsError | None = exc
        try:
            for attempt in Retrying(**self._retry_kwargs(request)):
                with attempt:
                    if failed is not None:
                        first, failed = failed, None
                        raise first
                    return self._attempt(request, decode)
        except JobLogsError as exc:
            if exc.retryable and not _may_send_again(request, exc):
                raise _not_sent_again(request, exc) from exc
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def acall(self, request: ApiRequest, decode: Decode) -> Any:
        """The async twin of :meth:`call`."""
        try:
            return await self._aattempt(request, decode)
        except JobLogsError as exc:
            if not exc.retryable or self.retry.max_attempts <= 1:
                raise
            if not _may_send_again(request, exc):
                raise _not_sent_again(request, exc) from exc
            failed: JobLogsError | None = exc
        try:
            async for attempt in AsyncRetrying(**self._retry_kwargs(request)):
                with attempt:
                    if failed is not None:
                        first, failed = failed, None
                        raise first
                    return await self._aattempt(request, decode)
        except JobLogsError as exc:
            if exc.retryable and not _may_send_again(request, exc):
                raise _not_sent_again(request, exc) from exc
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- programs -----------------------------------------------------------------------------------------
    def _gather(self, step: Gather) -> list[Any]:
        if len(step.calls) <= 1 or step.concurrency <= 1:
            return [self.call(c.request, c.decode) for c in step.calls]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(step.concurrency, len(step.calls))) as pool:
            return list(pool.map(lambda c: self.call(c.request, c.decode), step.calls))

    async def _agather(self, step: Gather) -> list[Any]:
        limit = asyncio.Semaphore(max(1, step.concurrency))

        async def one(c: Call) -> Any:
            async with limit:
                return await self.acall(c.request, c.decode)

        return list(await asyncio.gather(*(one(c) for c in step.calls)))

    def _execute(self, step: Call | Gather | Sleep) -> Any:
        """Carry out one step synchronously; what the program receives back."""
        if isinstance(step, Call):
            return self.call(step.request, step.decode)
        if isinstance(step, Gather):
            return self._gather(step)
        time.sleep(step.seconds)
        return None

    async def _aexecute(self, step: Call | Gather | Sleep) -> Any:
        if isinstance(step, Call):
            return await self.acall(step.request, step.decode)
        if isinstance(step, Gather):
            return await self._agather(step)
        await asyncio.sleep(step.seconds)
        return None

    def iterate(self, program: Program[T]) -> Generator[Any, None, T]:
        """Drive ``program`` synchronously, yielding its outputs; returns (``StopIteration.value``, or the value of
        ``yield from``) what the program returns.

        A failed call is thrown into the program, so a program may catch an error it expects.
        """
        resume: Callable[[Any], Any] = program.send
        value: Any = None
        while True:
            try:
                item = resume(value)
            except StopIteration as stop:
                result: T = stop.value
                return result
            resume, value = program.send, None
            if not isinstance(item, _STEPS):  # an output item, by far the most common
                yield item
            elif isinstance(item, Outputs):
                yield from item.items
            else:
                try:
                    value = self._execute(item)
                except JobLogsError as exc:
                    resume, value = program.throw, exc

    async def aiterate(self, program: Program[Any]) -> AsyncIterator[Any]:
        """Drive ``program`` on the event loop, yielding its outputs (the async twin of :meth:`iterate`; its
        return value is dropped: use :meth:`arun` with ``output`` to have it)."""
        resume: Callable[[Any], Any] = program.send
        value: Any = None
        while True:
            try:
                item = resume(value)
            except StopIteration:
                return
            resume, value = program.send, None
            if not isinstance(item, _STEPS):
                yield item
            elif isinstance(item, Outputs):
                for output in item.items:
                    yield output
            else:
                try:
                    value = await self._aexecute(item)
                except JobLogsError as exc:
                    resume, value = program.throw, exc

    def run(self, program: Program[T], output: Callable[[Any], object] | None = None) -> T:
        """Drive ``program`` and return its return value; each output item goes to ``output`` (a program that
        yields one without ``output`` is a mistake: TypeError)."""
        outputs = self.iterate(program)
        while True:
            try:
                item = next(outputs)
            except StopIteration as stop:
                result: T = stop.value
                return result
            if output is None:
                raise TypeError(f"program yielded an output item {type(item).__name__}; use iterate()")
            output(item)

    async def arun(self, program: Program[T], output: Callable[[Any], object] | None = None) -> T:
        """The async twin of :meth:`run`."""
        resume: Callable[[Any], Any] = program.send
        value: Any = None
        while True:
            try:
                item = resume(value)
            except StopIteration as stop:
                result: T = stop.value
                return result
            resume, value = program.send, None
            if not isinstance(item, _STEPS) or isinstance(item, Outputs):
                if output is None:
                    raise TypeError(f"program yielded an output item {type(item).__name__}; use aiterate()")
                if isinstance(item, Outputs):
                    for each in item.items:
                        output(each)
                else:
                    output(item)
            else:
                try:
                    value = await self._aexecute(item)
                except JobLogsError as exc:
                    resume, value = program.throw, exc


def relay(program: Program[T], transform: Callable[[Any], Any]) -> Program[T]:
    """Run a sub-program inside a program: pass its calls and sleeps through, hand each of its outputs
    to ``transform`` and yield what ``transform`` returns (None drops the output). Returns the
    sub-program's return value. Use as ``result = yield from relay(sub, fn)``.

    As with ``yield from``, an exception thrown in (a failed call) is thrown into the sub-program, so a
    sub-program that catches an error it expects sees it, and closing the relay closes the sub-program.
    """
    resume: Callable[[Any], Any] = program.send
    reply: Any = None
    while True:
        try:
            item = resume(reply)
        except StopIteration as stop:
            result: T = stop.value
            return result
        resume, reply = program.send, None
        if isinstance(item, Outputs):
            kept = [out for out in map(transform, item.items) if out is not None]
            if not kept:
                continue
            item = Outputs(kept)
        elif not isinstance(item, _STEPS):
            item = transform(item)
            if item is None:
                continue
        try:
            reply = yield item
        except GeneratorExit:
            program.close()
            raise
        except BaseException as exc:  # the sub-program's to catch; it re-raises what it does not
            resume, reply = program.throw, exc
