"""The lean HTTP/1.1 transport of the async clients (airflow_joblogs.loop_transport), against raw loopback servers
that answer as HTTP/1.1 allows: bodies by length, chunked or up to the close, interim answers, connections the
server closes, answers that never come."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import Awaitable, Callable

import httpx
import pytest

from airflow_joblogs.loop_transport import LoopTransport

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def _request_head(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            await reader.readexactly(int(line.split(b":")[1]))
    return head


def run(handler: Handler, exchange: Callable[[httpx.AsyncClient], Awaitable[object]], **transport: object) -> tuple:
    """Serve ``handler`` (called with each connection and its number) and run ``exchange`` with a client on the
    lean transport; returns what it returned and the connections the server accepted."""
    accepted = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        try:
            await handler(reader, writer, accepted)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> object:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport.setdefault("max_connections", 8)
        client = httpx.AsyncClient(
            transport=LoopTransport(None, **transport), base_url=f"http://127.0.0.1:{port}", timeout=5
        )
        try:
            return await exchange(client)
        finally:
            await client.aclose()
            server.close()

    result = asyncio.run(main())
    return result, accepted


async def keep_alive_json(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
    while True:
        await _request_head(reader)
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 12\r\n\r\n{"ok": ')
        await writer.drain()
        writer.write(b"true}")  # the body in two parts
        await writer.drain()


def test_requests_in_turn_share_one_kept_alive_connection():
    async def exchange(client: httpx.AsyncClient) -> list:
        return [(await client.get("/status", params={"id": n})).json() for n in range(5)]

    answers, accepted = run(keep_alive_json, exchange)
    assert answers == [{"ok": True}] * 5
    assert accepted == 1


def test_more_requests_than_connections_wait_their_turn():
    async def exchange(client: httpx.AsyncClient) -> list:
        return [r.status_code for r in await asyncio.gather(*(client.get("/") for _ in range(10)))]

    codes, accepted = run(keep_alive_json, exchange, max_connections=2)
    assert codes == [200] * 10
    assert accepted <= 2


def test_a_chunked_answer_with_trailers_and_an_interim_answer():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        while True:
            await _request_head(reader)
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
            writer.write(b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: yes\r\n\r\n")
            await writer.drain()

    async def exchange(client: httpx.AsyncClient) -> list:
        return [(await client.get("/")).text for _ in range(2)]

    texts, accepted = run(handler, exchange)
    assert texts == ["hello world"] * 2
    assert accepted == 1


def test_an_answer_that_ends_with_the_connection_is_read_whole_and_the_connection_not_reused():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await _request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\n\r\n" + gzip.compress(b"answer %d" % number))
        await writer.drain()

    async def exchange(client: httpx.AsyncClient) -> list:
        return [(await client.get("/")).text for _ in range(3)]

    texts, accepted = run(handler, exchange)
    assert texts == ["answer 1", "answer 2", "answer 3"]
    assert accepted == 3


def test_a_connection_the_server_closed_while_idle_is_not_used():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await _request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d" % number)
        await writer.drain()  # then closes: an idle timeout on the server's side

    async def exchange(client: httpx.AsyncClient) -> list:
        texts = []
        for _ in range(3):
            texts.append((await client.get("/")).text)
            await asyncio.sleep(0.05)
        return texts

    texts, accepted = run(handler, exchange)
    assert texts == ["1", "2", "3"]
    assert accepted == 3


def test_an_answer_that_never_comes_is_a_read_timeout_and_frees_its_connection():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, number: int) -> None:
        await _request_head(reader)
        if number == 1:
            await asyncio.sleep(10)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async def exchange(client: httpx.AsyncClient) -> tuple:
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/", timeout=httpx.Timeout(5, read=0.2))
        return (await client.get("/")).text

    text, accepted = run(handler, exchange, max_connections=1)
    assert text == "ok"
    assert accepted == 2


def test_a_server_that_hangs_up_without_an_answer_is_a_protocol_error():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await _request_head(reader)

    async def exchange(client: httpx.AsyncClient) -> None:
        with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
            await client.get("/")

    run(handler, exchange)


def test_a_body_cut_short_is_a_protocol_error():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await _request_head(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    async def exchange(client: httpx.AsyncClient) -> None:
        with pytest.raises(httpx.RemoteProtocolError, match="whole response body"):
            await client.get("/")

    run(handler, exchange)


def test_a_wait_for_a_connection_longer_than_the_pool_timeout_is_a_pool_timeout():
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        await _request_head(reader)
        await asyncio.sleep(1)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()

    async def exchange(client: httpx.AsyncClient) -> list:
        slow = asyncio.ensure_future(client.get("/"))
        await asyncio.sleep(0.1)
        with pytest.raises(httpx.PoolTimeout):
            await client.get("/", timeout=httpx.Timeout(5, pool=0.1))
        return [(await slow).text]

    texts, _ = run(handler, exchange, max_connections=1)
    assert texts == ["ok"]


def test_a_refused_connection_is_a_connect_error():
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        server.close()
        await server.wait_closed()
        async with httpx.AsyncClient(transport=LoopTransport(None)) as client:
            with pytest.raises(httpx.ConnectError) as caught:
                await client.get(f"http://127.0.0.1:{port}/")
        assert isinstance(caught.value.__cause__, ConnectionRefusedError)

    asyncio.run(main())


def test_the_read_timeout_counts_from_each_read_not_from_the_connections_first():
    """Answers that each come at once, on a connection used for longer than the read timeout, are all read; an
    answer that takes longer than it afterwards is a read timeout."""

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _: int) -> None:
        for n in range(6):
            await _request_head(reader)
            if n == 5:
                await asyncio.sleep(1)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n%d" % n)
            await writer.drain()

    async def exchange(client: httpx.AsyncClient) -> list:
        timeout = httpx.Timeout(5, read=0.3)
        texts = []
        for _ in range(5):
            texts.append((await client.get("/", timeout=timeout)).text)
            await asyncio.sleep(0.1)
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/", timeout=timeout)
        return texts

    texts, accepted = run(handler, exchange, max_connections=1)
    assert texts == ["0", "1", "2", "3", "4"]
    assert accepted == 1


def test_a_request_cancelled_as_its_connection_is_handed_over_is_cancelled():
    """A trigger cancelled (a triggerer stopping it) just as a connection it waited for came free stops, and the
    connection goes to the next request (asyncio.wait_for before Python 3.12 would have swallowed the
    cancellation and sent the request)."""

    async def exchange(client: httpx.AsyncClient) -> tuple:
        transport = client._transport
        assert (await client.get("/")).status_code == 200  # one connection, idle now
        request = client.build_request("GET", "/")
        held = await transport._acquire(request)  # the pool's only connection, taken
        waiting = asyncio.ensure_future(client.get("/"))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        transport._release(held, reusable=True)  # handed to the waiting request ...
        waiting.cancel()  # ... as it is cancelled
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return (await client.get("/")).status_code, transport._open

    (status, open_connections), accepted = run(keep_alive_json, exchange, max_connections=1)
    assert status == 200 and open_connections == 1
    assert accepted == 1
