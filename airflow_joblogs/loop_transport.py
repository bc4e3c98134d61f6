"""A lean HTTP/1.1 connection pool for the async clients of one event loop (the triggerer's).

httpx's default transport (httpcore over anyio) spends a few milliseconds of CPU on every request: cancel
scopes and socket wrappers per read and write, a scan of every queued request against every connection when a
request starts or ends, a readability probe of each idle connection. A triggerer sends thousands of small
status requests a minute from one event loop, so that is most of what a check costs, and what limits the
triggers one process can run. :class:`LoopTransport` sends a request as the plain HTTP/1.1 it is over a few
kept-alive :mod:`asyncio` streams and reads the answer back (``Content-Length``, chunked, or until the server
closes), with httpx's timeouts (pool, connect, write, read) and exceptions, so the client above it (auth,
headers, cookies, redirects, event hooks, decoding) is httpx's own.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from typing import Any

import httpx

#: the most a response's status line and headers may take (a longer head is a protocol error)
MAX_HEAD_BYTES = 64 * 1024
#: bytes read from a response body per read (each read has the read timeout)
READ_CHUNK = 64 * 1024


class _Connection:
    __slots__ = ("idle_since", "reader", "timer", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.idle_since = 0.0
        self.timer = _Timer(self)

    def close(self) -> None:
        self.timer.close()
        try:
            self.writer.close()
        except Exception:  # a transport already gone
            pass


def _timeouts(request: httpx.Request) -> dict[str, float | None]:
    timeout: dict[str, float | None] = request.extensions.get("timeout", {})
    return timeout


class _Expired(Exception):
    """A wait for a connection outlasted the pool timeout."""


def _expire(waiter: asyncio.Future[Any]) -> None:
    if not waiter.done():
        waiter.set_exception(_Expired())


def _close_opened(opening: asyncio.Task[tuple[asyncio.StreamReader, asyncio.StreamWriter]]) -> None:
    """Close a connection opened after nobody waited for it any more."""
    if not opening.cancelled() and opening.exception() is None:
        opening.result()[1].close()


class _Timer:
    """The write and read timeouts of a connection's exchanges: aborts the connection when a write or a read takes
    longer than allowed, after which the waiting operation fails and :attr:`fired` says which timeout it was.

    An operation only moves the deadline; the one timer handle, when it comes due early, goes back to sleep
    until the current deadline (and goes away when no operation waits). A check's three operations would
    otherwise add and cancel three timers in the loop's heap, which holds every trigger's sleep.
    """

    __slots__ = ("conn", "due", "fired", "handle", "kind")

    def __init__(self, conn: _Connection) -> None:
        self.conn = conn
        self.handle: asyncio.TimerHandle | None = None
        self.due: float | None = None
        self.kind = ""
        self.fired = ""

    def arm(self, seconds: float | None, kind: str) -> None:
        if seconds is None:
            self.due = None
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + seconds
        self.due, self.kind = due, kind
        if self.handle is not None and self.handle.when() > due:  # a shorter timeout than the one waited for
            self.handle.cancel()
            self.handle = None
        if self.handle is None:
            self.handle = loop.call_at(due, self._fire)

    def stop(self) -> None:
        self.due = None

    def close(self) -> None:
        self.due = None
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def _fire(self) -> None:
        self.handle = None
        if self.due is None:
            return
        loop = asyncio.get_running_loop()
        if loop.time() < self.due:
            self.handle = loop.call_at(self.due, self._fire)
            return
        self.fired = self.kind
        self.conn.writer.transport.abort()


class LoopTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 to one origin over at most ``max_connections`` kept-alive connections of the running loop.

    A request takes an idle connection (the most recently used: the others expire), opens one while fewer than
    ``max_connections`` are open, or waits its turn (``pool`` timeout). A connection idle longer than
    ``keepalive_expiry``, or closed by the server meanwhile, is closed instead of used.
    """

    def __init__(
        self, ssl_context: ssl.SSLContext | None, max_connections: int = 8, keepalive_expiry: float = 5.0
    ) -> None:
        self._ssl = ssl_context
        self._max = max_connections
        self._expiry = keepalive_expiry
        self._idle: list[_Connection] = []
        self._open = 0
        self._waiters: deque[asyncio.Future[_Connection | None]] = deque()
        self._closed = False

    # -- the pool ----------------------------------------------------------------------------------------
    async def _acquire(self, request: httpx.Request) -> _Connection:
        while True:
            now = time.monotonic()
            while self._idle:
                conn = self._idle.pop()
                if now - conn.idle_since <= self._expiry and not conn.reader.at_eof() and not conn.writer.is_closing():
                    return conn
                self._discard(conn, wake=False)
            if self._open < self._max:
                return await self._connect(request)
            # No asyncio.wait_for here or below: before Python 3.12 it returns the result of a wait that ended as
            # its task was cancelled, and the cancellation (a triggerer stopping a trigger) is lost.
            loop = asyncio.get_running_loop()
            waiter: asyncio.Future[_Connection | None] = loop.create_future()
            self._waiters.append(waiter)
            pool_timeout = _timeouts(request).get("pool")
            expiry = loop.call_later(pool_timeout, _expire, waiter) if pool_timeout is not None else None
            try:
                handed = await waiter
            except BaseException as exc:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)
                elif waiter.done() and not waiter.cancelled():  # handed over as this wait ended: pass it on
                    passed = waiter.result()
                    if passed is None:
                        self._wake()
                    else:
                        self._release(passed, reusable=True)
                if isinstance(exc, _Expired):
                    raise httpx.PoolTimeout("timed out waiting for a connection", request=request) from None
                raise
            finally:
                if expiry is not None:
                    expiry.cancel()
            if handed is not None:
                return handed
            # a connection closed: a slot is free, go round again

    async def _connect(self, request: httpx.Request) -> _Connection:
        url = request.url
        tls = url.scheme == "https"
        port = url.port or (443 if tls else 80)
        self._open += 1
        opening = asyncio.ensure_future(
            asyncio.open_connection(
                url.host,
                port,
                ssl=(self._ssl or ssl.create_default_context()) if tls else None,
                server_hostname=url.host if tls else None,
                limit=MAX_HEAD_BYTES,
            )
        )
        try:
            try:
                done, _ = await asyncio.wait({opening}, timeout=_timeouts(request).get("connect"))
            except BaseException:
                opening.cancel()
                opening.add_done_callback(_close_opened)
                raise
            if not done:
                opening.cancel()
                opening.add_done_callback(_close_opened)
                raise httpx.ConnectTimeout("timed out while connecting", request=request)
            reader, writer = opening.result()
        except httpx.ConnectTimeout:
            self._lost()
            raise
        except OSError as exc:
            self._lost()
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        except BaseException:
            self._lost()
            raise
        return _Connection(reader, writer)

    def _release(self, conn: _Connection, reusable: bool) -> None:
        if not reusable or self._closed:
            self._discard(conn)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        conn.idle_since = time.monotonic()
        self._idle.append(conn)

    def _discard(self, conn: _Connection, wake: bool = True) -> None:
        conn.close()
        self._lost(wake)

    def _lost(self, wake: bool = True) -> None:
        """One connection fewer: a waiter may open another."""
        self._open -= 1
        if wake:
            self._wake()

    def _wake(self) -> None:
        """Tell the first waiter that a connection slot is free."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    # -- one exchange ------------------------------------------------------------------------------------
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport is closed")
        body = await request.aread()
        conn = await self._acquire(request)
        reusable = False
        try:
            response, reusable = await self._exchange(conn, request, body)
            return response
        finally:
            self._release(conn, reusable)

    async def _exchange(self, conn: _Connection, request: httpx.Request, body: bytes) -> tuple[httpx.Response, bool]:
        timeouts = _timeouts(request)
        head = [b"%s %s HTTP/1.1\r\n" % (request.method.encode("ascii"), request.url.raw_path)]
        chunked = False
        for name, value in request.headers.raw:
            if name.lower() == b"transfer-encoding" and value.lower() == b"chunked":
                chunked = True
            head.append(b"%s: %s\r\n" % (name, value))
        head.append(b"\r\n")
        if chunked:
            body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
        timer = conn.timer
        try:
            timer.arm(timeouts.get("write"), "write")
            try:
                conn.writer.write(b"".join(head) + body)
                await conn.writer.drain()
            except OSError as exc:
                if timer.fired:
                    raise httpx.WriteTimeout("timed out while sending the request", request=request) from None
                raise httpx.WriteError(str(exc) or type(exc).__name__, request=request) from exc
            try:
                return await _read_response(conn.reader, request, timer, timeouts.get("read"))
            except (OSError, asyncio.IncompleteReadError, httpx.RemoteProtocolError) as exc:
                if timer.fired:
                    raise httpx.ReadTimeout("timed out while reading the response", request=request) from None
                if isinstance(exc, OSError):
                    raise httpx.ReadError(str(exc) or type(exc).__name__, request=request) from exc
                raise
        finally:
            timer.stop()

    async def aclose(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for conn in idle:
            self._discard(conn, wake=False)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)


def _parse_head(raw: bytes, request: httpx.Request) -> tuple[bytes, int, bytes, list[tuple[bytes, bytes]]]:
    lines = raw[:-4].split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise httpx.RemoteProtocolError("the response has no HTTP/1.x status line", request=request)
    headers = []
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep or not name or name != name.strip():
            raise httpx.RemoteProtocolError("a malformed response header", request=request)
        headers.append((name, value.strip()))
    return parts[0], int(parts[1]), parts[2] if len(parts) > 2 else b"", headers


async def _read_response(
    reader: asyncio.StreamReader, request: httpx.Request, timer: _Timer, read: float | None
) -> tuple[httpx.Response, bool]:
    """Read one response (skipping interim 1xx ones); with whether the connection may carry another."""
    while True:
        timer.arm(read, "read")
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response.", request=request
                ) from None
            raise httpx.RemoteProtocolError("the response head was cut off", request=request) from None
        except asyncio.LimitOverrunError:
            raise httpx.RemoteProtocolError("the response head is too long", request=request) from None
        version, status, reason, headers = _parse_head(raw, request)
        if not 100 <= status < 200 or status == 101:
            break
    fields = {name.lower(): value for name, value in headers}
    keep = version == b"HTTP/1.1" and b"close" not in fields.get(b"connection", b"").lower()
    if request.headers.get("connection", "").lower() == "close":
        keep = False
    if request.method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        content = b""
    elif b"chunked" in fields.get(b"transfer-encoding", b"").lower():
        content = await _read_chunked(reader, request, timer, read)
    elif b"content-length" in fields:
        try:
            length = int(fields[b"content-length"])
        except ValueError:
            raise httpx.RemoteProtocolError("a malformed Content-Length", request=request) from None
        content = await _read_exactly(reader, length, request, timer, read)
    else:
        content = await _read_to_end(reader, timer, read)
        keep = False
    response = httpx.Response(
        status,
        headers=headers,
        stream=httpx.ByteStream(content),
        extensions={"http_version": version, "reason_phrase": reason},
    )
    if raw.isascii():  # what httpx would find, scanning every header again for each new copy of them
        response.headers.encoding = "ascii"
    return response, keep


async def _read_exactly(
    reader: asyncio.StreamReader, length: int, request: httpx.Request, timer: _Timer, read: float | None
) -> bytes:
    if length < 0:
        raise httpx.RemoteProtocolError("a malformed Content-Length", request=request)
    parts: list[bytes] = []
    left = length
    try:
        while left:
            timer.arm(read, "read")
            part = await reader.readexactly(min(left, READ_CHUNK))
            parts.append(part)
            left -= len(part)
    except asyncio.IncompleteReadError:
        raise httpx.RemoteProtocolError(
            "Server disconnected before the whole response body was received", request=request
        ) from None
    return b"".join(parts)


async def _read_chunked(
    reader: asyncio.StreamReader, request: httpx.Request, timer: _Timer, read: float | None
) -> bytes:
    parts: list[bytes] = []
    try:
        while True:
            timer.arm(read, "read")
            line = await reader.readuntil(b"\r\n")
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise httpx.RemoteProtocolError("a malformed chunk size", request=request) from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    timer.arm(read, "read")
                return b"".join(parts)
            parts.append(await _read_exactly(reader, size, request, timer, read))
            timer.arm(read, "read")
            if await reader.readexactly(2) != b"\r\n":
                raise httpx.RemoteProtocolError("a chunk without its line end", request=request)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        raise httpx.RemoteProtocolError("the chunked response body was cut off", request=request) from None


async def _read_to_end(reader: asyncio.StreamReader, timer: _Timer, read: float | None) -> bytes:
    parts: list[bytes] = []
    while True:
        timer.arm(read, "read")
        part = await reader.read(READ_CHUNK)
        if not part:
            return b"".join(parts)
        parts.append(part)
