"""One client of the paced cases, in a process of its own: ``python -m fastsmr.cli.bench._paced_run SPEC``.

The parent (:mod:`fastsmr.cli.bench._paced`) starts a fresh interpreter for
every client and every round, so no client inherits another's allocator
state, threads or imports. The child opens its connections, asks for
``streams`` paced responses whose tokens are due at times it chose (spread
phases, or all at once), reads them its own way, and prints one JSON line:
its CPU time (user + system, all threads) over a fixed window in which every
stream is in full flow, the tokens due in that window, context switches,
and per-token latency (arrival minus due time) and time to first token.

SPEC is a JSON object: ``client``, ``url``, ``streams``, ``rate``,
``mode`` (``spread`` or ``batched``), ``window`` and ``settle`` (seconds),
and ``sink`` (host:port of the downstream sink, for relay clients).
"""

from __future__ import annotations

import functools
import json
import resource
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Dict, List, Optional, Tuple, TypeVar, Union
from urllib.parse import urlsplit

__all__ = ["CLIENTS", "MODELS", "main"]

# client name -> (model, runner name, uvloop). A model is how the client
# reads many streams: a thread per stream, a task per stream, or one reader.
CLIENTS: Dict[str, Tuple[str, str, bool]] = {
    "stock boto3": ("threads", "boto3_events", False),
    "fastsmr.install()": ("threads", "boto3_installed", False),
    "fastsmr.payload_parts": ("threads", "boto3_parts", False),
    "floor: recv per thread": ("threads", "floor_threads", False),
    "stock aiobotocore": ("tasks", "aio_events", False),
    "fastsmr.install() aiobotocore": ("tasks", "aio_installed", False),
    "fastsmr.aio.payload_parts": ("tasks", "aio_parts", False),
    "floor: asyncio Protocol": ("tasks", "floor_protocol", False),
    "floor: asyncio StreamReader": ("tasks", "floor_streamreader", False),
    "stock aiobotocore, uvloop": ("tasks", "aio_events", True),
    "fastsmr.install() aiobotocore, uvloop": ("tasks", "aio_installed", True),
    "fastsmr.aio.payload_parts, uvloop": ("tasks", "aio_parts", True),
    "floor: asyncio Protocol, uvloop": ("tasks", "floor_protocol", True),
    "floor: asyncio StreamReader, uvloop": ("tasks", "floor_streamreader", True),
    "fastsmr.mux.Reader": ("one reader", "mux_parts", False),
    "floor: one epoll loop": ("one reader", "floor_epoll", False),
    "stock boto3 + relay": ("relay", "boto3_relay", False),
    "fastsmr.mux.Reader relay": ("relay", "mux_relay", False),
}

#: The floor of each model: what reading the same sockets the same way costs with no HTTP or decoding.
MODELS = {
    "threads": "floor: recv per thread",
    "tasks": "floor: asyncio Protocol",
    "one reader": "floor: one epoll loop",
    "relay": "floor: one epoll loop",
}

_READ = 65536
if TYPE_CHECKING:
    from ._clients import Credentials

_CREDENTIALS: Credentials = {
    "region_name": "us-east-1", "aws_access_key_id": "fastsmr-bench", "aws_secret_access_key": "fastsmr-bench",
}


class Plan:
    """When each stream's tokens are due, and the measuring window."""

    def __init__(self, spec: Dict[str, Any]) -> None:
        self.streams = int(spec["streams"])
        self.rate = float(spec["rate"])
        self.window = float(spec["window"])
        self.settle = float(spec["settle"])
        # Time enough to send every request before the first paced token.
        lead = 0.4 + 0.004 * self.streams
        self.origin = time.monotonic() + lead + 1.0  # the connections are opened during the extra second
        step = 1.0 / (self.streams * self.rate)
        spread = spec["mode"] == "spread"
        self.origins = [self.origin + (i * step if spread else 0.0) for i in range(self.streams)]
        self.window_start = self.origin + 1.0 / self.rate + self.settle
        self.window_end = self.window_start + self.window
        # Tokens 1..K are paced; K covers the window and a margin after it.
        self.tokens = int((self.window_end + 0.3 - self.origin) * self.rate) + 2

    def attributes(self, i: int) -> str:
        return f"fastsmr-tokens={self.tokens}; fastsmr-rate={self.rate:g}; fastsmr-pace-origin={self.origins[i]!r}"

    def due(self, i: int, k: int) -> float:
        return self.origins[i] + (k - 1) / self.rate

    def due_in_window(self) -> int:
        count = 0
        for i in range(self.streams):
            for k in range(1, self.tokens + 1):
                if self.window_start <= self.due(i, k) < self.window_end:
                    count += 1
        return count


class Stamps:
    """Per stream: when the request went out and when each part arrived (time.monotonic())."""

    def __init__(self, streams: int) -> None:
        self.requested = [0.0] * streams
        self.arrivals: List[List[float]] = [[] for _ in range(streams)]

    def results(self, plan: Plan) -> Dict[str, Any]:
        latency, ttft, late = [], [], 0
        for i, arrivals in enumerate(self.arrivals):
            if arrivals:
                ttft.append(arrivals[0] - self.requested[i])
            for k, arrived in enumerate(arrivals[1: plan.tokens + 1], start=1):
                due = plan.due(i, k)
                if plan.window_start <= due < plan.window_end:
                    latency.append(arrived - due)
            late += plan.tokens + 1 - len(arrivals) if len(arrivals) < plan.tokens + 1 else 0
        return {"latency": percentiles(latency), "ttft": percentiles(ttft), "missing": late}


def percentiles(values: List[float]) -> Dict[str, float]:
    if not values:
        return {}
    values = sorted(values)

    def pick(q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))]

    return {"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": values[-1], "count": len(values)}


class Window:
    """Reads the process's CPU time and context switches at the window's start and end (a sleeping thread)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.readings: List[Tuple[float, float, int]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        for at in (self.plan.window_start, self.plan.window_end):
            while True:
                left = at - time.monotonic()
                if left <= 0:
                    break
                time.sleep(left)
            usage = resource.getrusage(resource.RUSAGE_SELF)
            self.readings.append((time.monotonic(), time.process_time(), usage.ru_nvcsw + usage.ru_nivcsw))

    def results(self) -> Dict[str, Any]:
        self.thread.join(self.plan.window_end - time.monotonic() + 30)
        (t0, c0, s0), (t1, c1, s1) = self.readings
        return {"wall": t1 - t0, "cpu": c1 - c0, "switches": s1 - s0}


# --- raw HTTP, for the floors ------------------------------------------------------


def _request(url: str, attributes: str) -> bytes:
    host = urlsplit(url).netloc
    body = b"{}"
    return (
        "POST /endpoints/tgi/invocations-response-stream HTTP/1.1\r\n"
        f"Host: {host}\r\nContent-Type: application/json\r\nAccept: application/vnd.amazon.eventstream\r\n"
        f"X-Amzn-SageMaker-Custom-Attributes: {attributes}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode("latin-1") + body


def _address(url: str) -> Tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def _head(sock: socket.socket) -> bytes:
    """Read a response's head; the body bytes that came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = sock.recv(_READ)
        if not more:
            raise ConnectionError("the endpoint closed before the response head")
        data += more
    head, _, rest = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"the endpoint answered {head[:60]!r}")
    return rest


_MARK = b":event-type"  # every message has it once: counts the messages in a read without decoding


# --- thread per stream ----------------------------------------------------------------


def _threads(plan: Plan, connect: Callable[[int], Any], read: Callable[[int, Any], None]) -> "Window":
    """A thread per stream: connect (warm), wait for all, then request and read."""
    barrier = threading.Barrier(plan.streams + 1)
    errors: List[BaseException] = []

    def one(i: int) -> None:
        try:
            handle = connect(i)
            barrier.wait(60)
            read(i, handle)
        except BaseException as exc:  # reported by the parent
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(plan.streams)]
    for t in threads:
        t.start()
    barrier.wait(60)
    window = Window(plan)
    for t in threads:
        t.join(plan.window_end - time.monotonic() + 60)
    if errors:
        raise errors[0]
    return window


def run_boto3(spec: Dict[str, Any], plan: Plan, stamps: Stamps, how: str) -> Window:
    import boto3
    from botocore.config import Config

    import fastsmr

    if how == "installed" and not fastsmr.install():
        raise RuntimeError("fastsmr.install() refused this botocore")
    client = boto3.client("sagemaker-runtime", endpoint_url=spec["url"],
                          config=Config(retries={"total_max_attempts": 1}, read_timeout=300,
                                        max_pool_connections=plan.streams), **_CREDENTIALS)
    relay = how == "relay"
    sink: str = spec["sink"] if relay else ""

    def connect(i: int) -> Any:
        # One unpaced request warms the pool: a connection per thread.
        body = client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b"{}",
                                                           CustomAttributes="fastsmr-tokens=1")["Body"]
        for _ in body:
            pass
        return _sink_socket(sink, plan, i) if relay else None

    def read(i: int, downstream: Any) -> None:
        arrivals = stamps.arrivals[i]
        now = time.monotonic
        stamps.requested[i] = now()
        body = client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b"{}",
                                                           CustomAttributes=plan.attributes(i))["Body"]
        if how == "parts":
            for _ in fastsmr.payload_parts(body):
                arrivals.append(now())
        elif relay:
            from ._clients import LineTexts

            texts = LineTexts()
            send = downstream.sendall
            for event in body:
                arrivals.append(now())
                for text in texts.feed(event["PayloadPart"]["Bytes"]):  # pyright: ignore[reportTypedDictNotRequiredAccess]  # every event here is a PayloadPart, read as users do
                    send(b"data: " + json.dumps({"text": text}, ensure_ascii=False).encode() + b"\n\n")
            downstream.close()
        else:
            for event in body:
                event["PayloadPart"]["Bytes"]  # pyright: ignore[reportTypedDictNotRequiredAccess]  # every event here is a PayloadPart, read as users do
                arrivals.append(now())

    return _threads(plan, connect, read)


def _sink_socket(sink: str, plan: Plan, i: int) -> socket.socket:
    """A downstream connection to the sink, announcing stream ``i``'s schedule."""
    host, _, port = sink.rpartition(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(b": %d %r %r\n\n" % (i, plan.origins[i], plan.rate))
    return sock


def run_floor_threads(spec: Dict[str, Any], plan: Plan, stamps: Stamps) -> Window:
    address = _address(spec["url"])

    def connect(i: int) -> socket.socket:
        sock = socket.create_connection(address, timeout=300)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def read(i: int, sock: socket.socket) -> None:
        arrivals = stamps.arrivals[i]
        now = time.monotonic
        stamps.requested[i] = now()
        sock.sendall(_request(spec["url"], plan.attributes(i)))
        data = _head(sock)
        recv = sock.recv  # with a timeout, as urllib3 reads: a poll() inside each recv
        while True:
            if data:
                t = now()
                arrivals.extend([t] * data.count(_MARK))
                if data.endswith(b"0\r\n\r\n"):
                    break
            data = recv(_READ)
            if not data:
                break
        sock.close()

    return _threads(plan, connect, read)


# --- task per stream --------------------------------------------------------------------


_T = TypeVar("_T")


def _run_loop(main: Callable[[], Awaitable[_T]], uvloop: bool) -> _T:
    import asyncio

    if uvloop:
        import uvloop as _uvloop

        loop: asyncio.AbstractEventLoop = _uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.close()


def run_aiobotocore(spec: Dict[str, Any], plan: Plan, stamps: Stamps, how: str, uvloop: bool) -> Window:
    import asyncio

    import aiobotocore.session
    from aiobotocore.config import AioConfig

    import fastsmr
    import fastsmr.aio

    if how == "installed" and not fastsmr.install():
        raise RuntimeError("fastsmr.install() refused this botocore")

    async def main() -> Window:
        config = AioConfig(retries={"total_max_attempts": 1}, read_timeout=300, max_pool_connections=plan.streams)
        session = aiobotocore.session.get_session()
        async with session.create_client("sagemaker-runtime", endpoint_url=spec["url"], config=config,
                                         **_CREDENTIALS) as client:

            async def warm() -> None:
                response = await client.invoke_endpoint_with_response_stream(
                    EndpointName="tgi", Body=b"{}", CustomAttributes="fastsmr-tokens=1")
                async for _ in response["Body"]:
                    pass

            await asyncio.gather(*(warm() for _ in range(plan.streams)))

            async def one(i: int) -> None:
                arrivals = stamps.arrivals[i]
                now = time.monotonic
                stamps.requested[i] = now()
                response = await client.invoke_endpoint_with_response_stream(
                    EndpointName="tgi", Body=b"{}", CustomAttributes=plan.attributes(i))
                body = response["Body"]
                if how == "parts":
                    async for _ in fastsmr.aio.payload_parts(body):
                        arrivals.append(now())
                else:
                    async for event in body:
                        event["PayloadPart"]["Bytes"]  # pyright: ignore[reportTypedDictNotRequiredAccess]  # every event here is a PayloadPart, read as users do
                        arrivals.append(now())

            window = Window(plan)
            await asyncio.gather(*(one(i) for i in range(plan.streams)))
            return window

    return _run_loop(main, uvloop)


def run_floor_asyncio(spec: Dict[str, Any], plan: Plan, stamps: Stamps, kind: str, uvloop: bool) -> Window:
    import asyncio

    host, port = _address(spec["url"])

    class Counter(asyncio.BufferedProtocol):
        """Counts messages in each read of up to 64 KiB into one buffer."""

        def __init__(self, i: int, done: "asyncio.Future[None]") -> None:
            self.arrivals = stamps.arrivals[i]
            self.buffer = bytearray(_READ)
            self.view = memoryview(self.buffer)
            self.head: Optional[bytes] = b""  # the response head until its end is read
            self.done = done

        def get_buffer(self, sizehint: int) -> memoryview:
            return self.view

        def buffer_updated(self, nbytes: int) -> None:
            data: Union[bytes, bytearray] = self.buffer[:nbytes]
            if self.head is not None:
                self.head += data
                if b"\r\n\r\n" not in self.head:
                    return
                data = self.head.partition(b"\r\n\r\n")[2]
                self.head = None
            t = time.monotonic()
            self.arrivals.extend([t] * data.count(_MARK))
            if data.endswith(b"0\r\n\r\n") and not self.done.done():
                self.done.set_result(None)

        def connection_lost(self, exc: Optional[BaseException]) -> None:
            if not self.done.done():
                self.done.set_result(None)

    async def main() -> Window:
        loop = asyncio.get_running_loop()
        if kind == "protocol":
            futures, transports = [], []
            for i in range(plan.streams):
                done = loop.create_future()
                transport, _ = await loop.create_connection(functools.partial(Counter, i, done), host, port)
                futures.append(done)
                transports.append(transport)
            window = Window(plan)
            for i, transport in enumerate(transports):
                stamps.requested[i] = time.monotonic()
                transport.write(_request(spec["url"], plan.attributes(i)))
            await asyncio.gather(*futures)
            for transport in transports:
                transport.close()
            return window
        connections = [await asyncio.open_connection(host, port) for _ in range(plan.streams)]
        for _reader, writer in connections:
            stream_transport = writer.transport
            if hasattr(stream_transport, "max_size"):  # asyncio's own: 256 KiB reads cost an mmap each
                stream_transport.max_size = _READ  # pyright: ignore[reportAttributeAccessIssue]  # checked just above

        async def one(i: int) -> None:
            reader, writer = connections[i]
            arrivals = stamps.arrivals[i]
            now = time.monotonic
            stamps.requested[i] = now()
            writer.write(_request(spec["url"], plan.attributes(i)))
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"the endpoint answered {head[:60]!r}")
            read = reader.read
            while True:
                data = await read(_READ)
                if not data:
                    break
                t = now()
                arrivals.extend([t] * data.count(_MARK))
                if data.endswith(b"0\r\n\r\n"):
                    break
            writer.close()

        window = Window(plan)
        await asyncio.gather(*(one(i) for i in range(plan.streams)))
        return window

    return _run_loop(main, uvloop)


# --- one reader for all streams ------------------------------------------------------------


def run_floor_epoll(spec: Dict[str, Any], plan: Plan, stamps: Stamps) -> Window:
    import select

    address = _address(spec["url"])
    socks = []
    for _ in range(plan.streams):
        sock = socket.create_connection(address, timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        socks.append(sock)
    window = Window(plan)
    poller = select.epoll()
    by_fd: Dict[int, Tuple[int, socket.socket]] = {}
    now = time.monotonic
    for i, sock in enumerate(socks):
        stamps.requested[i] = now()
        sock.sendall(_request(spec["url"], plan.attributes(i)))
    for i, sock in enumerate(socks):
        rest = _head(sock)
        if rest:
            stamps.arrivals[i].extend([now()] * rest.count(_MARK))
        sock.setblocking(False)
        poller.register(sock.fileno(), select.EPOLLIN)
        by_fd[sock.fileno()] = (i, sock)
    open_count = len(socks)
    while open_count:
        for fd, _ in poller.poll():
            i, sock = by_fd[fd]
            data = sock.recv(_READ)
            if data:
                stamps.arrivals[i].extend([now()] * data.count(_MARK))
            if not data or data.endswith(b"0\r\n\r\n"):
                poller.unregister(fd)
                open_count -= 1
    for sock in socks:
        sock.close()
    poller.close()
    return window


def run_mux(spec: Dict[str, Any], plan: Plan, stamps: Stamps, relay: bool) -> Window:
    """One reader for every stream: its loop runs from the start, and each response is
    added the moment its head arrives (from the threads that make the requests), as a
    service would, so that its time to first token is the reader's own."""
    import boto3
    from botocore.config import Config

    from fastsmr.mux import Reader

    client = boto3.client("sagemaker-runtime", endpoint_url=spec["url"],
                          config=Config(retries={"total_max_attempts": 1}, read_timeout=300,
                                        max_pool_connections=plan.streams), **_CREDENTIALS)
    from concurrent.futures import ThreadPoolExecutor

    def warm(_: int) -> None:
        for _event in client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b"{}",
                                                                  CustomAttributes="fastsmr-tokens=1")["Body"]:
            pass

    sinks = [_sink_socket(spec["sink"], plan, i) for i in range(plan.streams)] if relay else []
    reader = Reader()
    pool = ThreadPoolExecutor(16)
    list(pool.map(warm, range(plan.streams)))

    def request(i: int) -> None:
        stamps.requested[i] = time.monotonic()
        body = client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b"{}",
                                                           CustomAttributes=plan.attributes(i))["Body"]
        if relay:
            reader.add(body, key=i, text="tgi", relay_to=sinks[i])
        else:
            reader.add(body, key=i)

    requests = [pool.submit(request, i) for i in range(plan.streams)]
    window = Window(plan)
    now = time.monotonic
    done = 0
    for stream, parts in reader.batches(wait=True):
        if parts:
            t = now()
            stamps.arrivals[stream.key].extend([t] * len(parts))
        if stream.done:
            if stream.error is not None:
                raise stream.error
            if relay:
                sinks[stream.key].close()
            done += 1
            if done == plan.streams:
                break
    reader.close()
    for future in requests:
        future.result()
    pool.shutdown()
    return window


def main(argv: List[str]) -> int:
    spec = json.loads(argv[0])
    model, runner, uvloop = CLIENTS[spec["client"]]
    # Imports first: the plan's clock starts once the client is ready to connect.
    if runner.startswith(("boto3_", "mux_")):
        import boto3  # noqa: F401
    if runner.startswith("aio_"):
        import aiobotocore.session  # noqa: F401
    if uvloop:
        import uvloop as _uvloop  # noqa: F401
    plan = Plan(spec)
    stamps = Stamps(plan.streams)
    if runner.startswith("boto3_"):
        window = run_boto3(spec, plan, stamps, runner[len("boto3_"):])
    elif runner.startswith("aio_"):
        window = run_aiobotocore(spec, plan, stamps, runner[len("aio_"):], uvloop)
    elif runner == "floor_threads":
        window = run_floor_threads(spec, plan, stamps)
    elif runner in ("floor_protocol", "floor_streamreader"):
        window = run_floor_asyncio(spec, plan, stamps, runner[len("floor_"):], uvloop)
    elif runner == "floor_epoll":
        window = run_floor_epoll(spec, plan, stamps)
    else:
        window = run_mux(spec, plan, stamps, relay=runner == "mux_relay")
    out = {"due": plan.due_in_window(), "window": [plan.window_start, plan.window_end], **window.results()}
    if model == "relay":  # the sink times the tokens, where the text arrives
        out["requested"] = stamps.requested
    else:
        out.update(stamps.results(plan))
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
