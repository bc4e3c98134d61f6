"""What keeps paging cheap, and must not change what a user gets: the retry machinery starts only after a failed
first attempt (same waits, logs and bounds), a program may hand out a page of outputs at once (``Outputs``), and
chunks may build their header, record and cursor when first read (``LazyLogChunk``)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging

import httpx
import pytest
from helpers import wait_for_blueking_job

from airflow_joblogs.emulators.blueking import host_log
from airflow_joblogs.exceptions import NotFoundError, TransientError
from airflow_joblogs.hooks.blueking import BlueKingJobHook, decode_batch_logs, decode_envelope
from airflow_joblogs.http import ApiRequest, Call, Outputs, RetryPolicy, ServiceClient, relay
from airflow_joblogs.models import LazyLogChunk, LogChunk

FAST = RetryPolicy(max_attempts=4, initial_backoff=0.01, max_backoff=0.02)


def retry_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "airflow_joblogs.http"]


# -- retries ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_failed_first_attempt_is_retried_with_the_usual_logs_and_count(bk, caplog, asynchronous):
    wait_for_blueking_job(1001)
    hook = BlueKingJobHook("bk_job_default", retry_policy=FAST)
    bk.app.faults.update(script=["error", "drop"])
    served = bk.app.faults.served
    with caplog.at_level(logging.WARNING, logger="airflow_joblogs.http"):
        status = asyncio.run(hook.aget_job_status(1001, bk_biz_id=2)) if asynchronous else hook.get_job_status(1001, 2)
    assert status.raw_status == 3
    assert bk.app.faults.served - served == 3
    warnings = retry_warnings(caplog)
    assert len(warnings) == 2, warnings
    assert "attempt 1/4 failed" in warnings[0] and "attempt 2/4 failed" in warnings[1]
    assert all("GET /api/v3/get_job_instance_status" in w for w in warnings)


@pytest.mark.parametrize("asynchronous", [False, True])
def test_retries_stay_bounded_when_every_attempt_fails(bk, caplog, asynchronous):
    hook = BlueKingJobHook("bk_job_default", retry_policy=FAST)
    bk.app.faults.update(error_rate=1.0)
    served = bk.app.faults.served
    with caplog.at_level(logging.WARNING, logger="airflow_joblogs.http"), pytest.raises(TransientError):
        asyncio.run(hook.aget_job_status(1001, bk_biz_id=2)) if asynchronous else hook.get_job_status(1001, 2)
    assert bk.app.faults.served - served == 4
    assert len(retry_warnings(caplog)) == 3


def test_a_permanent_error_or_a_single_attempt_policy_asks_once(bk, caplog):
    served = bk.app.faults.served
    with caplog.at_level(logging.WARNING, logger="airflow_joblogs.http"), pytest.raises(NotFoundError):
        BlueKingJobHook("bk_job_default", retry_policy=FAST).get_job_status(987654, bk_biz_id=2)
    assert bk.app.faults.served - served == 1

    bk.app.faults.update(script=["error"])
    single = BlueKingJobHook("bk_job_default", retry_policy=RetryPolicy(max_attempts=1))
    with caplog.at_level(logging.WARNING, logger="airflow_joblogs.http"), pytest.raises(TransientError):
        single.get_job_status(1001, bk_biz_id=2)
    assert bk.app.faults.served - served == 2
    assert retry_warnings(caplog) == []


# -- the program driver ----------------------------------------------------------------------------------------------
def numbers() -> object:
    yield 1
    yield Outputs([2, 3])
    yield Outputs([])
    yield 4
    return "end"


def doubled_odd() -> object:
    result = yield from relay(numbers(), lambda n: n * 10 if n % 2 else None)
    return result


def test_outputs_come_out_in_order_sync_and_async_and_through_relay():
    client = ServiceClient("test", "http://127.0.0.1:9", allow_http=True)  # no request is made
    outputs: list[object] = []
    assert client.run(numbers(), outputs.append) == "end" and outputs == [1, 2, 3, 4]
    outputs = []
    assert client.run(doubled_odd(), outputs.append) == "end" and outputs == [10, 30]
    assert list(client.iterate(numbers())) == [1, 2, 3, 4]

    def result_of_iterate(program: object) -> object:
        return (yield from client.iterate(program))  # type: ignore[arg-type]

    assert [*relay(result_of_iterate(numbers()), lambda n: n)] == [1, 2, 3, 4]  # type: ignore[arg-type]

    async def collect(program: object) -> tuple[list[object], object]:
        seen: list[object] = []
        result = await client.arun(program, seen.append)  # type: ignore[arg-type]
        return seen, result

    assert asyncio.run(collect(numbers())) == ([1, 2, 3, 4], "end")
    assert asyncio.run(collect(doubled_odd())) == ([10, 30], "end")

    async def pulled(program: object) -> list[object]:
        return [item async for item in client.aiterate(program)]  # type: ignore[arg-type]

    assert asyncio.run(pulled(doubled_odd())) == [10, 30]
    with pytest.raises(TypeError, match="output item"):
        client.run(numbers())  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="output item"):
        asyncio.run(client.arun(numbers()))  # type: ignore[arg-type]


def test_a_program_catches_an_error_it_expects_even_when_relayed(bk):
    """A failed call is thrown into the program that made it, through any number of relays: a sub-program that
    expects "not found" (job 987654 does not exist) answers for it, and the outer program goes on."""
    api = BlueKingJobHook("bk_job_default", retry_policy=FAST).api
    ref = {"job_instance_id": 987654, "bk_scope_type": "biz", "bk_scope_id": "2"}
    status = Call(ApiRequest("GET", "/api/v3/get_job_instance_status", params=ref), decode_envelope)

    def lookup() -> object:
        try:
            yield status
        except NotFoundError as exc:
            yield LogChunk(text=f"no job: {exc.code}")
            return "missing"
        return "found"

    def outer() -> object:
        result = yield from relay(relay(lookup(), lambda chunk: chunk), lambda chunk: chunk.text.upper())
        yield LogChunk(text="after")
        return result

    outputs: list[object] = []
    assert api.run(outer(), outputs.append) == "missing"  # type: ignore[arg-type]
    assert outputs == ["NO JOB: 1244006", LogChunk(text="after")]
    outputs = []
    assert asyncio.run(api.arun(outer(), outputs.append)) == "missing"  # type: ignore[arg-type]
    assert outputs == ["NO JOB: 1244006", LogChunk(text="after")]

    def uncaught() -> object:
        yield status
        return "found"

    with pytest.raises(NotFoundError):  # an error the sub-program does not catch still reaches the caller
        api.run(relay(uncaught(), lambda chunk: chunk))


def test_closing_a_relay_closes_the_sub_program():
    closed: list[str] = []

    def sub() -> object:
        try:
            yield LogChunk(text="one")
            yield LogChunk(text="two")
        finally:
            closed.append("sub")

    inner = sub()  # still referenced: only closing it runs its cleanup now
    relayed = relay(inner, lambda chunk: chunk)  # type: ignore[arg-type]
    assert next(relayed) == LogChunk(text="one")
    relayed.close()
    assert closed == ["sub"]


# -- chunks built when read ------------------------------------------------------------------------------------------
class Lines:
    def __init__(self) -> None:
        self.built: list[str] = []

    def header(self, chunk: LazyLogChunk) -> str:
        self.built.append("header")
        return f"== {chunk.source['name']} =="

    def record(self, chunk: LazyLogChunk) -> dict[str, object]:
        self.built.append("record")
        return {**chunk.source, "log": chunk.text}


def test_a_lazy_chunk_builds_each_field_once_when_read_and_equals_the_eager_chunk():
    lines = Lines()
    chunk = LazyLogChunk(lines, {"name": "web-1"}, "hello\n", cursor={"n": 1})
    assert lines.built == [] and chunk.text == "hello\n" and chunk.truncated_upstream is False
    assert chunk.header == "== web-1 ==" and chunk.header == "== web-1 =="
    assert lines.built == ["header"]
    eager = LogChunk("hello\n", "== web-1 ==", {"name": "web-1", "log": "hello\n"}, {"n": 1})
    assert chunk == eager and eager == chunk
    assert lines.built == ["header", "record"]
    assert dataclasses.asdict(chunk) == dataclasses.asdict(eager)
    assert repr(chunk).endswith(repr(eager).removeprefix("LogChunk"))
    assert dataclasses.replace(chunk, text="bye\n") == dataclasses.replace(eager, text="bye\n")
    assert chunk != dataclasses.replace(eager, cursor={"n": 2})
    with pytest.raises(dataclasses.FrozenInstanceError):
        chunk.text = "changed"  # type: ignore[misc]
    # a field neither given nor built is None, as on an eager chunk
    assert LazyLogChunk(lines, {"name": "x"}, "t", True).cursor is None
    assert LazyLogChunk(lines, {"name": "x"}, "t", True).truncated_upstream is True


# -- BlueKing: batch answers paired with the hosts asked for ----------------------------------------------------------
def answer(entries: list[dict[str, object]]) -> httpx.Response:
    body = {"result": True, "code": 0, "data": {"script_task_logs": entries}}
    return httpx.Response(200, content=json.dumps(body).encode())


def test_a_batch_answer_is_paired_with_the_hosts_asked_for_whatever_its_order():
    hosts = [{"bk_host_id": n, "bk_cloud_id": 0, "ip": f"10.0.0.{n}"} for n in (1, 2, 3)]
    entries = [{"bk_host_id": n, "bk_cloud_id": 0, "ip": f"10.0.0.{n}", "log_content": f"log {n}"} for n in (1, 2, 3)]
    assert decode_batch_logs(answer(entries), hosts=hosts) == entries
    shuffled = decode_batch_logs(answer([entries[2], entries[0]]), hosts=hosts)
    assert shuffled == [entries[0], {}, entries[2]]  # host 2 missing from the answer: no log
    by_address = [{"bk_cloud_id": 0, "ip": "10.0.0.2"}, {"bk_cloud_id": 0, "ip": "10.0.0.1"}]
    assert decode_batch_logs(answer(entries[:2]), hosts=by_address) == [entries[1], entries[0]]
    stranger = {"bk_host_id": 9, "bk_cloud_id": 0, "ip": "10.0.0.9", "log_content": "not yours"}
    with pytest.raises(TransientError, match=r"10\.0\.0\.9, which was not asked for"):
        decode_batch_logs(answer([*entries, stranger]), hosts=hosts)


def test_a_stale_batch_answer_is_asked_again_and_every_host_keeps_its_own_log(bk):
    wait_for_blueking_job(1004)
    hook = BlueKingJobHook("bk_job_default", retry_policy=FAST)
    # the third request (the second batch) is answered with the first batch's logs
    bk.app.faults.update(script=["ok", "ok", "repeat"])
    chunks = list(hook.iter_host_logs(1004, bk_biz_id=2, concurrency=1))
    assert bk.app.faults.injected.get("repeat") == 1
    job = bk.emulator.jobs[1004]
    step = job.steps[0]
    assert [c.text for c in chunks] == [host_log(job, step, host) for host in step.hosts]
    assert [c.record["bk_host_id"] for c in chunks] == [host.host_id for host in step.hosts]
    assert [c.cursor["host"] for c in chunks] == [f"{step.step_instance_id}:0:{host.ip}" for host in step.hosts]


# -- cookies --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("asynchronous", [False, True])
def test_a_cookie_the_service_sets_is_sent_back_and_answers_without_one_skip_the_jar(monkeypatch, asynchronous):
    """A cookie a service sets (a load balancer's affinity, say) comes back on the next request, as with httpx's
    own clients; an answer that sets none is not handed to the standard library's cookie jar, whose wrapping of
    every response cost a tenth of a status check."""
    import http.cookiejar
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str | None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Cookie"))
            body = b'{"ok": true}'
            self.send_response(200)
            if self.path.startswith("/login"):
                self.send_header("Set-Cookie", "affinity=node-2; Path=/")
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    jar_calls: list[str] = []
    original = http.cookiejar.CookieJar.extract_cookies

    def counted(self, response, request):  # type: ignore[no-untyped-def]
        jar_calls.append(request.get_full_url())
        return original(self, response, request)

    monkeypatch.setattr(http.cookiejar.CookieJar, "extract_cookies", counted)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    client = ServiceClient("test", f"http://127.0.0.1:{server.server_address[1]}", allow_http=True)
    paths = ["/status", "/login", "/status"]
    other = ServiceClient("test", f"http://127.0.0.1:{server.server_address[1]}", allow_http=True)

    def decode(response: httpx.Response) -> object:
        return response.json()

    try:
        if asynchronous:

            async def calls() -> list[object]:
                try:
                    return [await client.acall(ApiRequest("GET", p), decode) for p in paths]
                finally:
                    await client.aclose()

            answers = asyncio.run(calls())
        else:
            answers = [client.call(ApiRequest("GET", p), decode) for p in paths]
            client.close()
        other.client.cookies.set("team", "data")  # a cookie set by hand is sent too
        other.client.cookies.update({"zone": "a"})
        other.call(ApiRequest("GET", "/status"), decode)
        other.close()
    finally:
        server.shutdown()
        server.server_close()
    assert answers == [{"ok": True}] * 3
    assert seen == [None, None, "affinity=node-2", "team=data; zone=a"]
    assert len(jar_calls) == 1 and jar_calls[0].endswith("/login")
