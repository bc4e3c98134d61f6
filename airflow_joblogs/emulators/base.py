"""The emulator framework: a Starlette app per service, a fault-injecting wrapper, a loopback server.

Every emulator shares the control endpoints under ``/_emulator/`` (set faults, reset job clocks) and the
fault knobs of :class:`Faults`. Faults can be random (rates, seeded) or scripted (the next N requests
get exactly these faults), which makes fault tests deterministic.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

#: "ok" in a script means "no fault for this request"
FAULT_KINDS = ("error", "throttle", "drop", "empty", "truncate", "slow", "repeat", "stall", "ok")
#: faults a service emulator applies itself, to a paged log request (others ignore them): "repeat" answers a page
#: that overlaps or repeats one already served, "stall" a page whose offset or cursor does not move on
PAGING_FAULTS = ("repeat", "stall")


@dataclass
class Faults:
    """Fault injection knobs (rates are probabilities per request, 0..1).

    ``error`` (the service's 5xx), ``throttle`` (429 or the service's rate limit, with ``Retry-After``), ``drop``
    (the connection closes mid-body), ``empty`` (an empty 200 body), ``truncate`` (a 200 body cut in half),
    ``slow`` (the answer waits ``slow_seconds``) apply to any request; ``repeat`` and ``stall`` (see
    :data:`PAGING_FAULTS`) to a service's paged log requests.
    """

    error_rate: float = 0.0
    throttle_rate: float = 0.0
    retry_after: float = 0.2
    latency: float = 0.0
    drop_rate: float = 0.0
    empty_rate: float = 0.0
    truncate_rate: float = 0.0
    slow_rate: float = 0.0
    slow_seconds: float = 5.0
    repeat_rate: float = 0.0
    stall_rate: float = 0.0
    seed: int | None = None
    #: faults for the next requests, in order (e.g. ["drop", "error", "throttle"])
    script: deque[str] = field(default_factory=deque)
    #: count of faults injected, by kind
    injected: dict[str, int] = field(default_factory=dict)
    #: count of service requests received (control endpoints excluded)
    served: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    def update(self, **knobs: Any) -> None:
        with self._lock:
            for key, value in knobs.items():
                if key == "script":
                    unknown = [k for k in value if k not in FAULT_KINDS]
                    if unknown:
                        raise ValueError(f"unknown fault kinds {unknown}; known: {FAULT_KINDS}")
                    self.script = deque(value)
                elif key == "seed":
                    self.seed = value
                    self._rng = random.Random(value)
                elif key in self.__dataclass_fields__ and not key.startswith("_") and key not in ("injected", "served"):
                    setattr(self, key, float(value))
                else:
                    raise ValueError(f"unknown fault knob {key!r}")

    def clear(self) -> None:
        self.update(
            error_rate=0,
            throttle_rate=0,
            latency=0,
            drop_rate=0,
            empty_rate=0,
            truncate_rate=0,
            slow_rate=0,
            repeat_rate=0,
            stall_rate=0,
            script=[],
        )

    def draw(self) -> str | None:
        with self._lock:
            if self.script:
                kind: str | None = self.script.popleft()
                if kind == "ok":
                    return None
            else:
                kind = None
                roll = self._rng.random()
                for name, rate in (
                    ("error", self.error_rate),
                    ("throttle", self.throttle_rate),
                    ("drop", self.drop_rate),
                    ("empty", self.empty_rate),
                    ("truncate", self.truncate_rate),
                    ("slow", self.slow_rate),
                    ("repeat", self.repeat_rate),
                    ("stall", self.stall_rate),
                ):
                    if roll < rate:
                        kind = name
                        break
                    roll -= rate
            if kind:
                self.injected[kind] = self.injected.get(kind, 0) + 1
            return kind

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        data["script"] = list(self.script)
        return data


class JobClock:
    """Per-job clocks that start at a job's first request, so a job always runs its whole life."""

    def __init__(self, speed: float = 1.0) -> None:
        self.speed = speed
        self._started: dict[Any, float] = {}
        self._lock = threading.Lock()

    def elapsed(self, key: Any) -> float:
        now = time.monotonic()
        with self._lock:
            start = self._started.setdefault(key, now)
        return (now - start) * self.speed

    def started(self, key: Any) -> float | None:
        """When job ``key``'s clock started (``time.monotonic()``), or None if it has not been asked about."""
        with self._lock:
            return self._started.get(key)

    def reset(self) -> None:
        with self._lock:
            self._started.clear()


class FaultMiddleware:
    """ASGI wrapper that injects the configured faults in front of a service app."""

    def __init__(
        self,
        app: Any,
        faults: Faults,
        error_response: Callable[[], tuple[int, dict[str, Any]]],
        throttle_response: Callable[[], tuple[int, dict[str, Any]]],
    ) -> None:
        self.app = app
        self.faults = faults
        self.error_response = error_response
        self.throttle_response = throttle_response

    async def _send_json(
        self, send: Any, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        payload = json.dumps(body).encode()
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                    *(headers or []),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        self.faults.served += 1
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        kind = self.faults.draw()
        if kind == "error":
            status, body = self.error_response()
            await self._send_json(send, status, body)
            return
        if kind == "throttle":
            status, body = self.throttle_response()
            await self._send_json(send, status, body, [(b"retry-after", str(self.faults.retry_after).encode())])
            return
        if kind == "empty":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"0")],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return
        if kind == "slow":
            await asyncio.sleep(self.faults.slow_seconds)
        if kind in ("drop", "truncate"):
            await self._cut(scope, receive, send, kind)
            return
        if kind in PAGING_FAULTS:
            scope.setdefault("state", {})["paging_fault"] = kind  # the service's pager reads paging_fault()
        await self.app(scope, receive, send)

    async def _cut(self, scope: Any, receive: Any, send: Any, kind: str) -> None:
        """Run the app, then deliver only the first half of its body: 'drop' closes the connection
        mid-body (Content-Length promises more); 'truncate' sends a complete response of cut JSON."""
        start: dict[str, Any] = {}
        chunks: list[bytes] = []

        async def capture(message: Any) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, capture)
        body = b"".join(chunks)
        half = body[: max(1, len(body) // 2)]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        length = len(body) if kind == "drop" else len(half)
        await send(
            {
                "type": "http.response.start",
                "status": start.get("status", 200),
                "headers": [*headers, (b"content-length", str(length).encode())],
            }
        )
        await send({"type": "http.response.body", "body": half, "more_body": kind == "drop"})
        if kind == "drop":
            raise ConnectionAbortedError("emulated connection drop")  # the server closes the socket mid-body


def paging_fault(request: Request) -> str | None:
    """The paging fault (``repeat`` or ``stall``) drawn for this request, if any."""
    return request.scope.get("state", {}).get("paging_fault")


def control_routes(
    faults: Faults, clock: JobClock, extra_state: Callable[[], dict[str, Any]] | None = None
) -> list[Route]:
    async def get_faults(request: Request) -> Response:
        return JSONResponse(faults.to_dict())

    async def set_faults(request: Request) -> Response:
        try:
            faults.update(**(await request.json()))
        except (ValueError, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse(faults.to_dict())

    async def reset(request: Request) -> Response:
        clock.reset()
        faults.clear()
        return JSONResponse({"reset": True})

    async def state(request: Request) -> Response:
        return JSONResponse(
            {"faults": faults.to_dict(), "speed": clock.speed, **(extra_state() if extra_state else {})}
        )

    return [
        Route("/_emulator/faults", get_faults, methods=["GET"]),
        Route("/_emulator/faults", set_faults, methods=["POST"]),
        Route("/_emulator/reset", reset, methods=["POST"]),
        Route("/_emulator/state", state, methods=["GET"]),
    ]


@dataclass
class EmulatorApp:
    """A service app with its knobs: ``faults`` and ``clock`` can be changed while it serves."""

    name: str
    asgi: Any
    faults: Faults
    clock: JobClock
    #: the Airflow connection (as a dict for AIRFLOW_CONN_*) pointing at this emulator, given its base URL
    connections: Callable[[str], dict[str, dict[str, Any]]]


def build_app(
    name: str,
    routes: list[Route],
    faults: Faults,
    clock: JobClock,
    error_response: Callable[[], tuple[int, dict[str, Any]]],
    throttle_response: Callable[[], tuple[int, dict[str, Any]]],
    connections: Callable[[str], dict[str, dict[str, Any]]],
) -> EmulatorApp:
    starlette = Starlette(routes=[*control_routes(faults, clock), *routes])
    return EmulatorApp(
        name, FaultMiddleware(starlette, faults, error_response, throttle_response), faults, clock, connections
    )


def self_signed_certificate(folder: str) -> tuple[str, str]:
    """A throwaway certificate for ``127.0.0.1`` and ``localhost`` that is its own CA, valid for a day, written to
    ``folder``: (certificate, key) paths, for :class:`EmulatorServer`'s https and a client's ``ca_bundle``."""
    import datetime
    import ipaddress
    import os

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "airflow-joblogs emulator CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = dict.fromkeys(
        (
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        # a CA certificate's usages, which strict verification (Python 3.13's default) asks for
        .add_extension(
            x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = os.path.join(folder, "emulator-cert.pem"), os.path.join(folder, "emulator-key.pem")
    with open(cert_path, "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path


class EmulatorServer:
    """Serve an :class:`EmulatorApp` with uvicorn on 127.0.0.1 in a background thread.

    With ``ssl_certfile`` and ``ssl_keyfile`` it serves https (to check how clients treat a certificate).
    """

    def __init__(
        self,
        app: EmulatorApp,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        ssl_certfile: str | None = None,
        ssl_keyfile: str | None = None,
    ) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("emulators listen on loopback only")
        self.app = app
        self.host = host
        self.port = port
        self.ssl_certfile = ssl_certfile
        self.ssl_keyfile = ssl_keyfile
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"{'https' if self.ssl_certfile else 'http'}://{self.host}:{self.port}"

    def connections(self) -> dict[str, dict[str, Any]]:
        return self.app.connections(self.url)

    def start(self, timeout: float = 10.0) -> EmulatorServer:
        import uvicorn

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app.asgi,
            log_level="critical",
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            ssl_certfile=self.ssl_certfile,
            ssl_keyfile=self.ssl_keyfile,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name=f"emulator-{self.app.name}", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"the {self.app.name} emulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_emulator(app: EmulatorApp, port: int = 0) -> EmulatorServer:
    return EmulatorServer(app, port=port)
