"""fastsmr.mux.Reader's text and relays, on both backends, against real sockets on 127.0.0.1.

* Text, batched or relayed to a socket or an ASGI ``send``, is exactly what
  ``text_stream`` gives for the same parts and the same ``reasoning=`` (its
  events, and its exception, class and message) — under the C backend mostly
  made in C, under the pure one by the tokens layer's ``TextDecoder``.
* Back-pressure: a downstream that takes nothing holds back its own stream
  only: its response is no longer read (the server cannot send the rest),
  the other streams finish, and once the downstream reads again its text
  arrives whole.
* A downstream that goes away, or takes nothing for the read timeout, ends
  its stream alone, with the socket's error.
* ASGI relays have the same back-pressure; streams added from another
  thread while ``batches(wait=True)`` runs are read at once; aiobotocore
  bodies are refused with a TypeError that says why.
"""

from __future__ import annotations

import asyncio
import random
import socket
import struct
import threading
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import boto3
import pytest
from botocore.config import Config

import fastsmr
from fastsmr.mux import Reader, sse_text
from fastsmr.testing import generate_text, generate_tokens, render_stream
from fastsmr.tokens.text import text_stream
from support import model_output
from support.dropin_server import LoopbackServer

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "fastsmr-test", "aws_secret_access_key": "fastsmr-test"}
PART = {":message-type": "event", ":event-type": "PayloadPart"}
FIXTURES = sorted(p for p in (Path(__file__).resolve().parents[1] / "support" / "fixtures" / "tokens").glob("*.*")
                  if p.suffix != ".md")
Outcome = Tuple[bytes, Optional[Tuple[type, str]]]
REASONING = ("raise", "skip", "include")


@pytest.fixture(autouse=True)
def stock_botocore():
    fastsmr.uninstall()
    yield
    fastsmr.uninstall()


def oracle(parts: List[bytes], fmt: str, reasoning: str = "raise") -> Outcome:
    out = []
    try:
        for text in text_stream(parts, fmt, reasoning=reasoning):  # type: ignore[arg-type]
            out.append(sse_text(text))
    except Exception as error:
        return b"".join(out), (type(error), str(error))
    return b"".join(out), None


def wire(parts: List[bytes], chunk: int = 997) -> bytes:
    """The chunked body of an event stream carrying ``parts`` as PayloadParts."""
    data = b"".join(fastsmr.encode(PART, p) for p in parts)
    return b"".join(b"%x\r\n%s\r\n" % (len(data[i : i + chunk]), data[i : i + chunk])
                    for i in range(0, len(data), chunk)) + b"0\r\n\r\n"


def tcp_pair(small: bool = False) -> Tuple[socket.socket, socket.socket]:
    """Two connected TCP sockets on 127.0.0.1 (with ``small``: 8 KiB buffers both ways)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        if small:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        near = socket.socket()
        near.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if small:
            near.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        near.connect(listener.getsockname())
        far, _ = listener.accept()
    return near, far


class Drain(threading.Thread):
    """Reads a socket to its end (once ``go`` is set), keeping what came."""

    def __init__(self, sock: socket.socket, go: bool = True) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.data = bytearray()
        self.go = threading.Event()
        if go:
            self.go.set()
        self.start()

    def run(self) -> None:
        self.go.wait()
        try:
            while True:
                more = self.sock.recv(65536)
                if not more:
                    break
                self.data += more
        except OSError:
            pass

    def result(self, timeout: float = 60) -> bytes:
        self.join(timeout)
        assert not self.is_alive(), "the downstream never saw the end of its stream"
        return bytes(self.data)


@pytest.fixture(scope="module")
def loopback():
    with LoopbackServer() as server:
        yield server


@pytest.fixture
def loopback_client(loopback):
    config = Config(retries={"total_max_attempts": 1}, read_timeout=30, max_pool_connections=64)
    return boto3.client("sagemaker-runtime", endpoint_url=loopback.url, config=config, **CREDENTIALS)


def streams_to_check() -> List[Tuple[str, List[bytes], str, str]]:
    """(name, parts, format, reasoning): fixtures (those of reasoning models with
    each ``reasoning``), the endpoint's formats, generated streams; cut at random."""
    rng = random.Random(17)
    cases = []
    for path in FIXTURES:
        data = path.read_bytes()
        for fmt in ("auto", "tgi", "lmi", "openai", "raw"):
            cases.append((f"{path.name}:{fmt}", model_output.cut(data, rng), fmt, "raise"))
            if "reasoning" in path.name and fmt in ("auto", "openai"):
                for reasoning in ("skip", "include"):
                    cases.append((f"{path.name}:{fmt}:{reasoning}", model_output.cut(data, rng), fmt, reasoning))
    for fmt in ("tgi", "lmi", "openai", "raw"):
        parts = list(render_stream(fmt, generate_tokens(25, seed=3)))
        cases.append((f"endpoint-{fmt}", parts, fmt, rng.choice(REASONING)))  # (no thinking: the same text)
        cases.append((f"endpoint-{fmt}:auto", model_output.cut(b"".join(parts), rng), "auto", "raise"))
    for seed in range(30):
        data = model_output.output(random.Random(seed))
        cases.append((f"generated-{seed}", model_output.cut(data, rng), rng.choice(["auto", "tgi", "openai", "lmi"]),
                      rng.choice(REASONING)))
    return cases


CASES = streams_to_check()


def test_the_cases_hold_reasoning_models_thinking_for_each_reasoning():
    """Not vacuous: thinking raises, is skipped and is included among the cases."""
    outcomes = {(reasoning, oracle(parts, fmt, reasoning)[1] is None) for name, parts, fmt, reasoning in CASES
                if "reasoning" in name and fmt in ("auto", "openai")}
    assert outcomes == {("raise", False), ("skip", True), ("include", True)}


@pytest.mark.parametrize("relay", ["batches", "socket", "asgi"])
def test_text_is_what_text_stream_gives_for_the_same_parts(backend, loopback, loopback_client, relay):
    expected = {name: oracle(parts, fmt, reasoning) for name, parts, fmt, reasoning in CASES}
    assert any(error is not None for _, error in expected.values())  # errors are among the cases
    assert sum(events.count(b"\n\n") for events, _ in expected.values()) > 300
    got: Dict[str, bytearray] = {}
    errors: Dict[str, Any] = {}
    drains: Dict[str, Drain] = {}
    bodies = []
    for _, parts, _, _ in CASES:
        loopback.reply(b"", wire=wire(parts))
        bodies.append(loopback_client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"{}")["Body"])
    if relay == "asgi":
        assert asyncio.run(_asgi_outcomes(bodies)) == expected
        return
    with Reader() as reader:
        for body, (name, _, fmt, reasoning) in zip(bodies, CASES):
            target = None
            if relay == "socket":
                target, far = tcp_pair()
                drains[name] = Drain(far)
            got[name] = bytearray()
            reader.add(body, key=name, text=fmt, reasoning=reasoning, relay_to=target)
        for stream, events in reader.batches():
            got[stream.key] += events
            if stream.done:
                errors[stream.key] = None if stream.error is None else (type(stream.error), str(stream.error))
                if relay == "socket":
                    assert events == b""
                    stream.relay_to.close()
    if relay == "socket":
        got = {name: bytearray(drain.result()) for name, drain in drains.items()}
    assert {name: (bytes(got[name]), errors[name]) for name, _, _, _ in CASES} == expected


async def _asgi_outcomes(bodies: List[Any]) -> Dict[str, Outcome]:
    """Each case relayed to an ASGI ``send`` of its own by ``abatches``: what each send got, and the stream's end."""
    sent: Dict[str, List[bytes]] = {}
    ends: Dict[str, Any] = {}

    def send_to(name: str) -> Any:
        async def send(message: Dict[str, Any]) -> None:
            assert message["type"] == "http.response.body" and message["more_body"]
            sent[name].append(message["body"])
        return send

    with Reader() as reader:
        for body, (name, _, fmt, reasoning) in zip(bodies, CASES):
            sent[name] = []
            reader.add(body, key=name, text=fmt, reasoning=reasoning, relay_to=send_to(name))
        async for stream, events in reader.abatches():
            assert events == b""
            if stream.done:
                ends[stream.key] = None if stream.error is None else (type(stream.error), str(stream.error))
    return {name: (b"".join(sent[name]), ends[name]) for name in sent}


class BigBody:
    """A server on 127.0.0.1 that answers one request with ``parts`` (raw text) and counts the bytes it got sent."""

    def __init__(self, parts: List[bytes]) -> None:
        self.body = wire(parts, chunk=65536)
        self.sent = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        self.conn = conn
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with conn:
            data = b""
            while b"\r\n\r\n" not in data or not data.endswith(b"{}"):  # the head and the body b"{}"
                data += conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n")
            try:
                for at in range(0, len(self.body), 16384):
                    conn.sendall(self.body[at : at + 16384])
                    self.sent = at + len(self.body[at : at + 16384])
                while conn.recv(65536):  # until the client closes
                    pass
            except OSError:
                pass

    def stalled(self) -> int:
        """How much it got sent once that stopped growing (a tenth of a second without progress)."""
        while True:
            before = self.sent
            time.sleep(0.1)
            if self.sent == before:
                return before

    def close(self) -> None:
        self.listener.close()
        conn = getattr(self, "conn", None)
        if conn is not None:  # the client keeps its connection in the pool: stop waiting for its end
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(10)


def big_parts(count: int = 512) -> List[bytes]:
    """4 MiB of raw text: many times what the socket buffers on the way hold (see big_body)."""
    return [(b"%06d " % i) + b"x" * 8185 + b"\n" for i in range(count)]


def big_body(server: BigBody) -> Any:
    """The server's response body, its socket's receive buffer fixed at 64 KiB (no autotuning,
    which on loopback may grow it to many MiB) so that a reader that stops reading stops the server."""
    config = Config(retries={"total_max_attempts": 1}, read_timeout=30)
    client = boto3.client("sagemaker-runtime", endpoint_url=server.url, config=config, **CREDENTIALS)
    body = client.invoke_endpoint_with_response_stream(EndpointName="raw", Body=b"{}")["Body"]
    body._raw_stream._connection.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    return body


def run_batches(reader: Reader, out: Dict[Any, Any]) -> threading.Thread:
    def run() -> None:
        for stream, output in reader.batches():
            out.setdefault(stream.key, []).append(output)
            if stream.done:
                out[("done", stream.key)] = stream.error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_downstream_that_takes_nothing_holds_back_its_own_stream_only(backend, client):
    parts = big_parts()
    server = BigBody(parts)
    near, far = tcp_pair(small=True)
    slow_sink = Drain(far, go=False)
    try:
        with Reader(relay_limit=65536) as reader:
            slow = reader.add(big_body(server), key="slow", text="raw", relay_to=near)
            other = reader.add(client.invoke_endpoint_with_response_stream(
                EndpointName="raw", Body=b"{}", CustomAttributes="fastsmr-tokens=200; fastsmr-rate=400")["Body"],
                key="other", text="raw")
            seen: Dict[Any, Any] = {}
            loop = run_batches(reader, seen)
            deadline = time.monotonic() + 60
            while not other.done and time.monotonic() < deadline:
                time.sleep(0.05)
            assert other.done and other.error is None  # it finished while the slow downstream took nothing
            sent = server.stalled()
            assert not slow.done
            assert sent < len(server.body) // 2, "the slow stream's response was read on regardless"
            slow_sink.go.set()  # the downstream reads again: the rest flows
            loop.join(120)
            assert not loop.is_alive()
        near.close()
        assert slow.done and slow.error is None
        assert server.sent == len(server.body)
        assert slow_sink.result() == oracle(parts, "raw")[0]
        assert b"".join(seen["other"]).decode().count("data: ") == 200
    finally:
        server.close()
        far.close()


@pytest.mark.parametrize("how", ["close", "reset"])
def test_a_downstream_that_goes_away_ends_its_stream_alone(backend, client, how):
    def call(seed: int, tokens: int = 60) -> Any:
        return client.invoke_endpoint_with_response_stream(
            EndpointName="tgi", Body=b"{}",
            CustomAttributes=f"fastsmr-tokens={tokens}; fastsmr-rate=200; fastsmr-seed={seed}")["Body"]

    leaving_near, leaving_far = tcp_pair()
    staying_near, staying_far = tcp_pair()
    staying = Drain(staying_far)
    with Reader() as reader:
        gone = reader.add(call(1), key="gone", text="tgi", relay_to=leaving_near)
        kept = reader.add(call(2), key="kept", text="tgi", relay_to=staying_near)
        parts = reader.add(call(3), key="parts")
        got_parts: List[bytes] = []
        left = False
        for stream, output in reader.batches():
            if stream is parts:
                got_parts += output
            if not left:
                left = True
                if how == "reset":  # close() with data unread sends a RST
                    leaving_far.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                leaving_far.close()
            if stream is kept and stream.done:
                staying_near.close()
    assert gone.done and isinstance(gone.error, (BrokenPipeError, ConnectionResetError)), gone.error
    assert kept.done and kept.error is None
    assert parts.done and parts.error is None
    expected = b"".join(sse_text(t) for t in generate_tokens(60, seed=2))
    assert staying.result() == expected
    assert got_parts == list(render_stream("tgi", generate_tokens(60, seed=3)))
    leaving_near.close()
    # The connection of the stream cut short was closed, not pooled: the client still works.
    assert list(fastsmr.payload_parts(call(4, tokens=3))) == list(render_stream("tgi", generate_tokens(3, seed=4)))


def test_a_relay_socket_the_application_closes_never_sends_into_another_connection(backend, client):
    # A server closes a client's socket when the client leaves, and the next
    # connection it accepts may get the same descriptor number: the reader
    # must go on writing to the connection it was given (whose peer still
    # reads), never to whatever takes the number next.
    near, far = tcp_pair()
    drain = Drain(far)
    newcomers: List[Tuple[socket.socket, socket.socket]] = []
    try:
        with Reader() as reader:
            stream = reader.add(client.invoke_endpoint_with_response_stream(
                EndpointName="tgi", Body=b"{}", CustomAttributes="fastsmr-tokens=60; fastsmr-rate=300")["Body"],
                text="tgi", relay_to=near)
            number = near.fileno()
            near.close()
            newcomers.append(socket.socketpair())  # takes the lowest free numbers
            assert number in (newcomers[0][0].fileno(), newcomers[0][1].fileno())
            for _ in reader.batches():
                pass
        assert stream.done and stream.error is None
        assert drain.result() == b"".join(sse_text(t) for t in generate_tokens(60))
        for end in newcomers[0]:
            end.setblocking(False)
            with pytest.raises(BlockingIOError):
                end.recv(65536)  # nothing was written to either end
    finally:
        far.close()
        for newcomer, peer in newcomers:
            newcomer.close()
            peer.close()


def test_a_downstream_that_takes_nothing_for_the_read_timeout_ends_its_stream(backend, client):
    server = BigBody(big_parts())
    near, far = tcp_pair(small=True)
    try:
        with Reader(read_timeout=0.5, relay_limit=65536) as reader:
            stuck = reader.add(big_body(server), text="raw", relay_to=near)
            fine = reader.add(client.invoke_endpoint_with_response_stream(
                EndpointName="raw", Body=b"{}", CustomAttributes="fastsmr-tokens=30; fastsmr-rate=20")["Body"])
            for _ in reader.batches():
                pass
        assert isinstance(stuck.error, TimeoutError) and "downstream took nothing" in str(stuck.error)
        assert fine.done and fine.error is None
    finally:
        near.close()
        far.close()
        server.close()


def test_an_asgi_send_that_waits_holds_back_its_own_stream_only(backend, client):
    parts = big_parts()
    server = BigBody(parts)

    async def main() -> Tuple[List[bytes], Any, Any, int]:
        release = asyncio.Event()
        received: List[bytes] = []

        async def send(message: Dict[str, Any]) -> None:
            await release.wait()
            received.append(message["body"])

        with Reader(relay_limit=65536) as reader:
            slow = reader.add(big_body(server), key="slow", text="raw", relay_to=send)
            other = reader.add(client.invoke_endpoint_with_response_stream(
                EndpointName="raw", Body=b"{}", CustomAttributes="fastsmr-tokens=50; fastsmr-rate=200")["Body"],
                key="other")
            sent_while_waiting = -1
            async for stream, _ in reader.abatches():
                if stream is other and stream.done:
                    await asyncio.sleep(0.3)
                    sent_while_waiting = await asyncio.get_running_loop().run_in_executor(None, server.stalled)
                    assert not slow.done
                    release.set()
        return received, slow, other, sent_while_waiting

    try:
        received, slow, other, sent = asyncio.run(main())
        assert other.error is None and slow.error is None and slow.done
        assert sent < len(server.body) // 2, "the response was read on while its ASGI send waited"
        assert b"".join(received) == oracle(parts, "raw")[0]
    finally:
        server.close()


def test_streams_added_while_batches_waits_are_read_at_once_until_closed(backend, client):
    reader = Reader()
    added: List[Any] = []
    first_part: Dict[Any, float] = {}
    ended: Dict[Any, Any] = {}

    def producer() -> None:
        for seed in range(4):
            body = client.invoke_endpoint_with_response_stream(
                EndpointName="raw", Body=b"{}", CustomAttributes=f"fastsmr-tokens=5; fastsmr-seed={seed}")["Body"]
            added.append(reader.add(body, key=seed))
            time.sleep(0.05)

    thread = threading.Thread(target=producer)
    thread.start()
    texts: Dict[Any, bytes] = {}
    for stream, parts in reader.batches(wait=True):
        texts[stream.key] = texts.get(stream.key, b"") + b"".join(parts)
        if parts:
            first_part.setdefault(stream.key, time.monotonic())
        if stream.done:
            ended[stream.key] = stream.error
        if len(ended) == 4:
            break
    thread.join()
    reader.close()
    assert ended == {seed: None for seed in range(4)}
    assert texts == {seed: generate_text(5, seed=seed).encode() for seed in range(4)}
    # the first stream was read to its end before the last one was added
    assert list(first_part) == [0, 1, 2, 3]


def test_close_from_another_thread_ends_a_waiting_loop(backend):
    reader = Reader()
    timer = threading.Timer(0.1, reader.close)
    timer.start()
    assert list(reader.batches(wait=True)) == []
    timer.join()
    with pytest.raises(RuntimeError, match="closed"):
        reader.add(object())


def test_an_aiobotocore_body_is_refused_saying_why(backend, aio_client):
    async def main() -> None:
        async with aio_client() as client:
            response = await client.invoke_endpoint_with_response_stream(
                EndpointName="raw", Body=b"{}", CustomAttributes="fastsmr-tokens=3")
            with Reader() as reader, pytest.raises(TypeError, match="aiobotocore body cannot be taken off aiohttp"):
                reader.add(response["Body"])
            async for _ in fastsmr.aio.payload_parts(response["Body"]):  # still readable the usual way
                pass

    import fastsmr.aio

    asyncio.run(main())


def test_relay_arguments_are_checked(backend, client):
    near, far = tcp_pair()
    try:
        with Reader() as reader:
            with pytest.raises(ValueError, match="unknown text format"):
                reader.add(client.invoke_endpoint_with_response_stream(EndpointName="raw", Body=b"{}")["Body"],
                           text="markdown")
            unread = client.invoke_endpoint_with_response_stream(
                EndpointName="raw", Body=b"{}", CustomAttributes="fastsmr-tokens=2")["Body"]
            with pytest.raises(ValueError, match=r"^unknown reasoning 'hide'; expected one of raise, skip, include$"):
                reader.add(unread, text="openai", reasoning="hide", relay_to=near)
            with pytest.raises(ValueError, match=r"^reasoning= needs text="):
                reader.add(unread, reasoning="skip")
            assert list(fastsmr.payload_parts(unread))  # refused up front: the body was not taken
            body = client.invoke_endpoint_with_response_stream(
                EndpointName="raw", Body=b"{}", CustomAttributes="fastsmr-tokens=3")["Body"]
            first = reader.add(body, text="raw", relay_to=near)
            second = client.invoke_endpoint_with_response_stream(
                EndpointName="raw", Body=b"{}", CustomAttributes="fastsmr-tokens=3")["Body"]
            with pytest.raises(ValueError, match="another open stream relays to"):
                reader.add(second, text="raw", relay_to=near)
            with pytest.raises(ValueError, match="relay_limit"):
                Reader(relay_limit=0)
            for _ in reader.batches():
                pass
            assert first.done and first.error is None
    finally:
        near.close()
        far.close()


def _resident() -> int:
    import os

    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads the resident set from /proc")
def test_a_long_lived_reader_stays_flat_over_many_relayed_streams(backend, client):
    """Memory and descriptors do not grow with the streams one reader and one client carry."""
    import os

    def run(streams: int) -> None:
        with Reader() as reader:
            pairs: Dict[int, Tuple[socket.socket, socket.socket]] = {}
            for i in range(streams):
                body = client.invoke_endpoint_with_response_stream(
                    EndpointName="tgi", Body=b"{}", CustomAttributes=f"fastsmr-tokens=3; fastsmr-seed={i}")["Body"]
                if i % 2:
                    pairs[i] = socket.socketpair()
                    reader.add(body, key=i, text="tgi", relay_to=pairs[i][0])
                else:
                    reader.add(body, key=i, text="tgi")
                if i % 50 == 49 or i == streams - 1:
                    for stream, _events in reader.batches():
                        assert stream.error is None
                    for key, (near, far) in pairs.items():
                        near.close()
                        relayed = b"".join(iter(lambda f=far: f.recv(65536), b""))
                        assert relayed == b"".join(sse_text(t) for t in generate_tokens(3, seed=key))
                        far.close()
                    pairs.clear()

    import gc

    run(200)  # warm: the pool's connections, caches, allocator arenas
    gc.collect()  # botocore's and http.client's reference cycles hold closed responses' sockets until then
    fds, resident = len(os.listdir("/proc/self/fd")), _resident()
    run(1000)
    gc.collect()
    # The endpoint runs in this process: its threads close their side of each
    # connection the client discarded when they next run, which on a loaded
    # machine can be a moment after the client's side is gone.
    deadline = time.monotonic() + 10
    while len(os.listdir("/proc/self/fd")) > fds and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(os.listdir("/proc/self/fd")) <= fds
    assert _resident() - resident < 8 * 1024 * 1024


def test_read_timeout_none_waits_for_ever(backend, client):
    with Reader(read_timeout=None) as reader:
        stream = reader.add(client.invoke_endpoint_with_response_stream(
            EndpointName="raw", Body=b"{}", CustomAttributes="fastsmr-tokens=4; fastsmr-seed=6")["Body"], text="raw")
        events = b"".join(output for _, output in reader.batches())
    assert stream.error is None and events == b"".join(sse_text(t) for t in generate_tokens(4, seed=6))
