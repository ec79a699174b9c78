"""fastsmr.mux.Reader: many real boto3 response bodies read from one place, on both backends.

Every stream must give what ``fastsmr.payload_parts`` gives for the same
response — the same parts, and the same exception (class and message) when
it fails — whatever the other streams do; connections go back to the pool
after a clean end and are dropped otherwise. The servers are real ones on
127.0.0.1: the local SageMaker endpoint and, for hand-made transfer codings,
the drop-in tests' loopback server.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import socket
import threading
import time
import weakref
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import boto3
import pytest
from botocore.config import Config

import fastsmr
import fastsmr.mux
from fastsmr.mux import Reader, sse_text
from fastsmr.testing import generate_text, generate_tokens, render_stream
from support.dropin_server import LoopbackServer

CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "fastsmr-test", "aws_secret_access_key": "fastsmr-test"}
PART = {":message-type": "event", ":event-type": "PayloadPart"}


@pytest.fixture(autouse=True)
def stock_botocore():
    fastsmr.uninstall()
    yield
    fastsmr.uninstall()


def call(client: Any, name: str = "tgi", **attributes: Any) -> Any:
    text = "; ".join(f"fastsmr-{k.replace('_', '-')}={v}" for k, v in attributes.items())
    return client.invoke_endpoint_with_response_stream(EndpointName=name, Body=b"{}", CustomAttributes=text)["Body"]


def outcome(parts: List[bytes], error: Optional[BaseException]) -> Tuple[List[bytes], Any]:
    return parts, None if error is None else (type(error), str(error))


def single(client: Any, name: str = "tgi", **attributes: Any) -> Tuple[List[bytes], Any]:
    """What fastsmr.payload_parts gives for the same call: the oracle."""
    parts: List[bytes] = []
    try:
        for part in fastsmr.payload_parts(call(client, name, **attributes)):
            parts.append(part)
    except Exception as error:
        return outcome(parts, error)
    return outcome(parts, None)


def read_all(reader: Reader) -> Dict[Any, Tuple[List[bytes], Any]]:
    got: Dict[Any, List[bytes]] = {}
    ends: Dict[Any, Any] = {}
    for stream, parts in reader.batches():
        got.setdefault(stream.key, []).extend(parts)
        if stream.done:
            assert stream.key not in ends, "an end is reported once"
            ends[stream.key] = stream.error
    assert set(ends) == set(got)
    return {key: outcome(got[key], ends[key]) for key in got}


CALLS = [
    {"tokens": 40, "seed": 1},
    {"tokens": 25, "seed": 2, "part_bytes": 7},  # parts cut anywhere, across UTF-8 characters
    {"tokens": 0},
    {"tokens": 300, "seed": 3},
    {"tokens": 12, "seed": 4, "rate": 200},  # paced: many wake-ups
]


def test_every_stream_gives_what_payload_parts_gives(backend, client):
    expected = {i: single(client, **kw) for i, kw in enumerate(CALLS)}
    assert expected[0][0] == list(render_stream("tgi", generate_tokens(40, seed=1)))
    with Reader() as reader:
        for i, kw in enumerate(CALLS):
            reader.add(call(client, **kw), key=i)
        assert read_all(reader) == expected
        assert len(reader) == 0


FAULTS = [
    {"fault": "model-stream-error", "fail_after": 3},
    {"fault": "internal-stream-failure", "fail_after": 0},
    {"fault": "truncate", "fail_after": 5},
    {"fault": "reset", "fail_after": 2},
    {"fault": "bad-crc", "fail_after": 4},
]


def test_a_failing_stream_fails_alone_as_payload_parts_fails(backend, client):
    calls = [dict(kw, tokens=10, seed=i) for i, kw in enumerate(FAULTS)] + [{"tokens": 30, "seed": 9, "rate": 300}]
    expected = {i: single(client, "raw", **kw) for i, kw in enumerate(calls)}
    assert all(expected[i][1] is not None for i in range(len(FAULTS)))
    assert expected[len(FAULTS)] == ([t.encode() for t in generate_tokens(30, seed=9)], None)
    with Reader() as reader:
        for i, kw in enumerate(calls):
            reader.add(call(client, "raw", **kw), key=i)
        assert read_all(reader) == expected


def test_a_stalled_stream_times_out_with_urllib3s_error_and_the_others_finish(backend, client):
    from urllib3.exceptions import ReadTimeoutError

    with Reader(read_timeout=0.3) as reader:
        stalled = reader.add(call(client, "raw", tokens=3, start_delay=30))
        fine = reader.add(call(client, "raw", tokens=20, seed=5, rate=100))
        got = read_all(reader)
    assert got[fine.key] == ([t.encode() for t in generate_tokens(20, seed=5)], None)
    assert got[stalled.key][0] == [] and got[stalled.key][1][0] is ReadTimeoutError


def test_by_default_the_clients_read_timeout_applies(backend, endpoint):
    from urllib3.exceptions import ReadTimeoutError

    quick = endpoint.client(config=Config(retries={"total_max_attempts": 1}, read_timeout=0.3))
    with Reader() as reader:
        stream = reader.add(call(quick, "raw", tokens=3, start_delay=30))
        read_all(reader)
    assert isinstance(stream.error, ReadTimeoutError)


@pytest.fixture(scope="module")
def loopback():
    with LoopbackServer(keep_alive=True) as server:
        yield server


@pytest.fixture
def loopback_client(loopback):
    config = Config(retries={"total_max_attempts": 1}, read_timeout=10)
    return boto3.client("sagemaker-runtime", endpoint_url=loopback.url, config=config, **CREDENTIALS)


PAYLOADS = [b"token %d \xc3\xa9" % i for i in range(30)]
WIRE = b"".join(fastsmr.encode(PART, p) for p in PAYLOADS)


def chunked(data: bytes, size: int, end: bytes = b"0\r\n\r\n") -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size])
                    for i in range(0, len(data), size)) + end


def loopback_call(client: Any) -> Any:
    return client.invoke_endpoint_with_response_stream(EndpointName="e", Body=b"{}")["Body"]


@pytest.mark.parametrize("size", [1, 7, 64, len(WIRE)])
def test_any_chunking_and_connections_go_back_to_the_pool(backend, loopback, loopback_client, size):
    first = len(loopback.requests)
    for _ in range(3):
        loopback.reply(b"", wire=chunked(WIRE, size))
        with Reader() as reader:
            stream = reader.add(loopback_call(loopback_client))
            assert read_all(reader) == {stream.key: (PAYLOADS, None)}
    # The same connection carried all three: each was released clean.
    assert len({r.connection for r in loopback.requests[first:]}) == 1


def test_bytes_after_the_body_keep_the_connection_out_of_the_pool(backend, loopback, loopback_client):
    loopback.reply(b"", wire=chunked(WIRE, 50) + b"HTTP/1.1 200 OK\r\n")
    loopback.reply(b"", wire=chunked(WIRE, 50))
    first = len(loopback.requests)
    for _ in range(2):
        with Reader() as reader:
            stream = reader.add(loopback_call(loopback_client))
            assert read_all(reader) == {stream.key: (PAYLOADS, None)}
    assert loopback.requests[first].connection != loopback.requests[first + 1].connection


@pytest.mark.parametrize("wire, closes", [
    (chunked(WIRE, 100)[:-7] + b"zz\r\n0\r\n\r\n", False),  # garbage where a size belongs
    (chunked(WIRE, 100)[:500], True),  # the connection ends inside a chunk
])
def test_a_broken_transfer_coding_fails_as_payload_parts_fails(backend, loopback, loopback_client, wire, closes):
    from urllib3.exceptions import ProtocolError

    options = {"cut": len(wire)} if closes else {}
    loopback.reply(b"", wire=wire, **options)
    expected = outcome(*_parts_and_error(loopback_call(loopback_client)))
    loopback.reply(b"", wire=wire, **options)
    with Reader() as reader:
        stream = reader.add(loopback_call(loopback_client))
        got = read_all(reader)[stream.key]
    assert got == expected
    assert issubclass(got[1][0], ProtocolError) and issubclass(got[1][0], fastsmr.ChunkedEncodingError)


def _parts_and_error(body: Any) -> Tuple[List[bytes], Optional[BaseException]]:
    parts: List[bytes] = []
    try:
        for part in fastsmr.payload_parts(body):
            parts.append(part)
    except Exception as error:
        return parts, error
    return parts, None


def test_an_invalid_header_block_fails_as_payload_parts_fails(backend, loopback, loopback_client):
    good = fastsmr.encode(PART, b"ok")
    bad = bytearray(fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart", "n": "x"}, b"no"))
    at = bytes(bad).index(b"\x01n\x07") + 3  # the string value's length field
    bad[at : at + 2] = b"\x00\x09"  # runs past the block... and the CRCs no longer match:
    wire = good + _fixed_crcs(bytes(bad))
    for _ in range(2):
        loopback.reply(b"", wire=chunked(wire, 1000))
    expected = outcome(*_parts_and_error(loopback_call(loopback_client)))
    with Reader() as reader:
        stream = reader.add(loopback_call(loopback_client))
        assert read_all(reader)[stream.key] == expected
    assert expected[0] == [b"ok"] and issubclass(expected[1][0], fastsmr.InvalidHeader)


def _fixed_crcs(message: bytes) -> bytes:
    import struct
    import zlib

    prelude = message[:8]
    body = prelude + struct.pack("!I", zlib.crc32(prelude)) + message[12:-4]
    return body + struct.pack("!I", zlib.crc32(body))


def test_text_streams_and_relays_give_the_events_of_text_stream(backend, client):
    formats = ["tgi", "lmi", "openai", "raw"]
    expected = {}
    for fmt in formats:
        texts = fastsmr.text_stream(fastsmr.payload_parts(call(client, fmt, tokens=30, seed=7, part_bytes=5)), fmt)
        expected[fmt] = b"".join(sse_text(t) for t in texts)
    for events in expected.values():  # every format carries the same text
        assert "".join(json.loads(e[len(b"data: "):])["text"] for e in events.split(b"\n\n") if e) == \
            generate_text(30, seed=7)
    pairs = {fmt: socket.socketpair() for fmt in ("tgi", "openai")}
    with Reader() as reader:
        for fmt in formats:
            relay = pairs[fmt][0] if fmt in pairs else None
            reader.add(call(client, fmt, tokens=30, seed=7, part_bytes=5), key=fmt, text=fmt, relay_to=relay)
        got: Dict[str, bytes] = {fmt: b"" for fmt in formats}
        for stream, events in reader.batches():
            assert isinstance(events, bytes)
            got[stream.key] += events
            if stream.done:
                assert stream.error is None
                if stream.relay_to is not None:
                    stream.relay_to.close()
    for fmt, (_, downstream) in pairs.items():
        assert got[fmt] == b""  # relayed: nothing in the batches
        with downstream:
            got[fmt] = b"".join(iter(lambda d=downstream: d.recv(65536), b""))
    assert got == expected


FIXTURES = Path(__file__).resolve().parents[1] / "support" / "fixtures" / "tokens"


@pytest.mark.parametrize("fixture", ["vllm_reasoning_chat.sse", "sglang_reasoning_chat.sse"])
def test_reasoning_models_thinking_raises_is_skipped_or_included_as_in_text_stream(
        backend, loopback, loopback_client, fixture):
    """The same stream read three ways at once, each as ``text_stream(..., reasoning=)`` reads it."""
    data = (FIXTURES / fixture).read_bytes()
    parts = [data[i : i + 50] for i in range(0, len(data), 50)]  # cut anywhere, as the server's writes may be
    expected = {}
    for reasoning in ("raise", "skip", "include"):
        texts: List[str] = []
        try:
            texts.extend(fastsmr.text_stream(parts, "openai", reasoning=reasoning))
            expected[reasoning] = (b"".join(sse_text(t) for t in texts), None)
        except Exception as error:
            expected[reasoning] = (b"".join(sse_text(t) for t in texts), (type(error), str(error)))
    assert expected["raise"][1] is not None and expected["raise"][1][0] is fastsmr.TextStreamError
    assert expected["skip"][1] is None and expected["include"][1] is None
    assert len(expected["skip"][0]) < len(expected["include"][0])
    got: Dict[str, bytes] = {}
    ends: Dict[str, Any] = {}
    with Reader() as reader:
        for reasoning in expected:
            loopback.reply(b"", wire=chunked(b"".join(fastsmr.encode(PART, p) for p in parts), 97))
            stream = reader.add(loopback_call(loopback_client), key=reasoning, text="openai", reasoning=reasoning)
            assert stream.reasoning == reasoning
            got[reasoning] = b""
        for stream, events in reader.batches():
            got[stream.key] += events
            if stream.done:
                ends[stream.key] = None if stream.error is None else (type(stream.error), str(stream.error))
    assert {key: (got[key], ends[key]) for key in expected} == expected


def test_the_async_twin_reads_on_the_running_loop(backend, client):
    expected = {i: single(client, **kw) for i, kw in enumerate(CALLS)}
    bodies = [call(client, **kw) for kw in CALLS]

    async def main() -> Dict[Any, Tuple[List[bytes], Any]]:
        got: Dict[Any, List[bytes]] = {}
        ends: Dict[Any, Any] = {}
        with Reader() as reader:
            for i, body in enumerate(bodies):
                reader.add(body, key=i)
            async for stream, parts in reader.abatches():
                got.setdefault(stream.key, []).extend(parts)
                if stream.done:
                    ends[stream.key] = stream.error
        return {key: outcome(got[key], ends[key]) for key in got}

    assert asyncio.run(main()) == expected


def test_streams_added_from_another_thread_wake_the_reader(backend, client):
    with Reader() as reader:
        first = reader.add(call(client, "raw", tokens=40, seed=1, rate=100))
        bodies = [call(client, "raw", tokens=5, seed=s) for s in (2, 3)]
        adder = threading.Timer(0.05, lambda: [reader.add(b, key=s) for b, s in zip(bodies, (2, 3))])
        adder.start()
        got = read_all(reader)
        adder.join()
        while len(reader):  # the thread may have added after the first stream ended
            got.update(read_all(reader))
    assert got[first.key] == ([t.encode() for t in generate_tokens(40, seed=1)], None)
    assert got[2] == ([t.encode() for t in generate_tokens(5, seed=2)], None)
    assert got[3] == ([t.encode() for t in generate_tokens(5, seed=3)], None)


def test_a_stream_closed_midway_leaves_the_client_working(backend, endpoint, client):
    before = endpoint.stats.streams_total
    with Reader() as reader:
        stream = reader.add(call(client, "raw", tokens=1000, rate=50))
        other = reader.add(call(client, "raw", tokens=3, seed=4))
        for s, parts in reader.batches():
            if s is stream and parts:
                stream.close()
        assert stream.done and stream.error is None and other.done
    assert endpoint.stats.streams_total == before + 2
    assert single(client, "raw", tokens=5, seed=8) == ([t.encode() for t in generate_tokens(5, seed=8)], None)


def test_a_loop_that_breaks_and_resumes_loses_nothing(backend, client):
    # One wake-up reports several streams; breaking out of the loop after the
    # first must leave the others for the next loop (DESIGN: consumers may
    # break and resume), sync and async alike.
    expected = {i: single(client, "raw", tokens=300, seed=i) for i in range(4)}

    def resumed() -> Dict[Any, Tuple[List[bytes], Any]]:
        with Reader() as reader:
            for i in range(4):
                reader.add(call(client, "raw", tokens=300, seed=i), key=i)
            got: Dict[Any, List[bytes]] = {i: [] for i in range(4)}
            ends: Dict[Any, Any] = {}
            while len(reader):
                for stream, parts in reader.batches():
                    got[stream.key].extend(parts)
                    if stream.done:
                        ends[stream.key] = stream.error
                    break  # one report per loop
            return {key: outcome(got[key], ends[key]) for key in got}

    async def aresumed(rate: int) -> Dict[Any, Tuple[List[bytes], Any]]:
        # No read timeout: a loop whose wake-ups were lost would wait for ever (bounded below).
        with Reader(read_timeout=None) as reader:
            for i in range(4):
                reader.add(call(client, "raw", tokens=300, seed=i, rate=rate), key=i)
            got: Dict[Any, List[bytes]] = {i: [] for i in range(4)}
            ends: Dict[Any, Any] = {}
            while len(reader):
                # The abandoned generator is closed by the event loop later, while
                # the next one runs: that must not take the next one's wake-ups away.
                async for stream, parts in reader.abatches():
                    got[stream.key].extend(parts)
                    if stream.done:
                        ends[stream.key] = stream.error
                    break
            return {key: outcome(got[key], ends[key]) for key in got}

    assert resumed() == expected
    assert asyncio.run(asyncio.wait_for(aresumed(0), 60)) == expected
    assert asyncio.run(asyncio.wait_for(aresumed(600), 60)) == expected  # paced: the loops wait for data


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")
def test_a_reader_dropped_without_close_gives_its_connections_back(backend, endpoint, client):
    # A loop left by an exception or a break, in code without `with`: once the
    # reader is unreachable its streams' connections and its own descriptor go,
    # and the client's next requests work.
    def dropped() -> None:
        reader = Reader()
        for i in range(3):
            reader.add(call(client, "raw", tokens=5000, seed=i), key=i)
        for _ in reader.batches():
            break

    dropped()  # warm: the pool's connections
    gc.collect()
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(20):
        dropped()
    gc.collect()
    deadline = time.monotonic() + 10  # the in-process endpoint closes its side when its threads next run
    while len(os.listdir("/proc/self/fd")) > fds and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(os.listdir("/proc/self/fd")) <= fds
    assert single(client, "raw", tokens=3, seed=2) == ([t.encode() for t in generate_tokens(3, seed=2)], None)


def test_a_body_closed_by_its_owner_after_add_never_reads_another_connection(backend, endpoint, client):
    # response["Body"].close() after add(): the connection's descriptor number
    # is free, and the next connection may get it. The reader reads the body
    # it took (through a descriptor of its own) to its end, and the other
    # response is left whole.
    other_client = endpoint.client()
    body = call(client, "raw", tokens=200, rate=400)
    with Reader(read_timeout=None) as reader:
        stream = reader.add(body)
        got: List[bytes] = [part for _, parts in reader.poll(0) for part in parts]  # taken
        number = body._raw_stream._connection.sock.fileno()
        body.close()
        other = call(other_client, "raw", tokens=50, seed=7)
        assert other._raw_stream._connection.sock.fileno() == number
        deadline = time.monotonic() + 30
        while not stream.done and time.monotonic() < deadline:
            for _, parts in reader.poll(1):
                got += parts
        assert stream.done and stream.error is None
        assert b"".join(got) == generate_text(200).encode()
    assert b"".join(fastsmr.payload_parts(other)) == generate_text(50, seed=7).encode()


def test_bodies_of_an_installed_botocore_are_read_too(backend, client):
    # fastsmr.install() puts its own message source in each new EventStream:
    # a body nobody has read from is still one the reader takes.
    expected = {i: single(client, **kw) for i, kw in enumerate(CALLS)}
    fastsmr.install()
    with Reader() as reader:
        for i, kw in enumerate(CALLS):
            reader.add(call(client, **kw), key=i)
        assert read_all(reader) == expected
    body = call(client, "raw", tokens=5)
    next(iter(body))
    with Reader() as reader, pytest.raises(TypeError, match="nobody has read from yet"):
        reader.add(body)


def test_iterating_a_body_the_reader_took_raises(backend, client):
    # Its parts come in the reader's batches: iterating it too must not look
    # like an empty answer.
    for installed in (False, True):
        if installed:
            fastsmr.install()
        with Reader() as reader:
            body = call(client, "raw", tokens=5)
            reader.add(body)
            for consume in (list, lambda b: list(fastsmr.payload_parts(b))):
                with pytest.raises(RuntimeError, match="read by a fastsmr.mux.Reader"):
                    consume(body)
            assert b"".join(p for _, parts in reader.batches() for p in parts) == generate_text(5).encode()


def test_a_body_already_read_is_refused(backend, client):
    body = call(client, "raw", tokens=5)
    next(iter(body))
    with Reader() as reader, pytest.raises(TypeError, match="nobody has read from yet"):
        reader.add(body)
    with Reader() as reader, pytest.raises(ValueError, match="relay_to needs text"):
        reader.add(call(client, "raw", tokens=1), relay_to=socket.socket())


def test_closing_the_reader_closes_what_is_still_open(backend, client):
    reader = Reader()
    stream = reader.add(call(client, "raw", tokens=1000, rate=20))
    reader.close()
    assert stream.done
    with pytest.raises(RuntimeError, match="closed"):
        reader.add(call(client, "raw", tokens=1))
    assert single(client, "raw", tokens=2) == ([t.encode() for t in generate_tokens(2)], None)


def test_the_async_twin_relays_to_an_asgi_send_and_a_failing_send_ends_its_stream_alone(backend, client):
    expected = b"".join(sse_text(t) for t in fastsmr.text_stream(
        fastsmr.payload_parts(call(client, "tgi", tokens=20, seed=3)), "tgi"))
    bodies = [call(client, "tgi", tokens=20, seed=3), call(client, "tgi", tokens=20, seed=4, rate=100)]

    async def main() -> Tuple[List[Dict[str, Any]], Any, Any]:
        messages: List[Dict[str, Any]] = []

        async def send(message: Dict[str, Any]) -> None:
            messages.append(message)

        async def gone(message: Dict[str, Any]) -> None:
            raise ConnectionResetError("the browser left")

        with Reader() as reader:
            good = reader.add(bodies[0], text="tgi", relay_to=send)
            bad = reader.add(bodies[1], text="tgi", relay_to=gone)
            async for _stream, output in reader.abatches():
                assert output == b""
        return messages, good, bad

    messages, good, bad = asyncio.run(main())
    assert good.done and good.error is None
    assert all(m["type"] == "http.response.body" and m["more_body"] for m in messages)
    assert b"".join(m["body"] for m in messages) == expected
    assert bad.done and isinstance(bad.error, ConnectionResetError)


def test_a_cycle_through_a_mux_key_is_collected(backend):
    # A reader's stream leads back to the reader, and so to its multiplexer,
    # through its relay's task: the collector frees such a cycle only if it
    # sees the reference the multiplexer holds to each key it reads.
    class Key:
        mux: Any = None

    left, right = socket.socketpair()
    try:
        key = Key()
        key.mux = backend.Mux()
        key.mux.add(key, right.fileno())
        gone = weakref.ref(key)
        del key
        gc.collect()
        assert gone() is None
    finally:
        left.close()
        right.close()


def test_asgi_relays_leave_no_cycle_behind(backend, client, monkeypatch):
    # A reader dropped without close() while its relays run goes with the
    # next collection at the latest, whatever holds its streams: on CPython
    # 3.12+ asyncio.run cancels the relay tasks and the loop's aclose() of
    # abatches() together, and their tracebacks tie the reader to its streams'
    # relays, a cycle the collector frees only if it sees every reference the
    # C multiplexer holds. A relay and its stream holding each other would
    # outlive their stream until a collection, in a reader that lives as long
    # as the service.
    relays: List[Any] = []
    made = fastsmr.mux._AsgiRelay.__init__

    def counted(self: Any, *args: Any) -> None:
        made(self, *args)
        relays.append(weakref.ref(self))

    monkeypatch.setattr(fastsmr.mux._AsgiRelay, "__init__", counted)

    async def send(message: Dict[str, Any]) -> None:
        await asyncio.sleep(0)

    async def dropped() -> Any:
        reader = Reader()
        for i in range(3):
            reader.add(call(client, "tgi", tokens=2000, seed=i), text="tgi", relay_to=send)
        async for _ in reader.abatches():
            break
        return weakref.ref(reader)

    readers = [asyncio.run(dropped()) for _ in range(5)]
    gc.collect()
    assert [r for r in readers if r() is not None] == []
    assert relays and [r for r in relays if r() is not None] == []

    relays.clear()

    async def long_lived() -> int:
        with Reader() as reader:
            streams = [reader.add(call(client, "tgi", tokens=3, seed=i), text="tgi", relay_to=send) for i in range(20)]
            async for _ in reader.abatches():
                pass
            assert all(stream.done and stream.error is None for stream in streams)
            return sum(1 for r in relays if r() is not None)

    gc.disable()  # each finished relay must go with its last reference, not wait for a collection
    try:
        left = asyncio.run(long_lived())
    finally:
        gc.enable()
    assert len(relays) == 20 and left == 0


def test_an_asgi_relayed_stream_survives_a_loop_left_with_break(backend, client):
    # The stream a loop did not finish goes on in the next loop: what its relay
    # held when the first loop ended is sent, and the rest follows in order.
    expected = b"".join(sse_text(t) for t in fastsmr.text_stream(
        fastsmr.payload_parts(call(client, "tgi", tokens=300, seed=1)), "tgi"))
    bodies = [call(client, "tgi", tokens=300, seed=1, rate=1000), call(client, "tgi", tokens=1, seed=2)]
    relayed: List[bytes] = []

    async def send(message: Dict[str, Any]) -> None:
        relayed.append(message["body"])

    async def ignore(message: Dict[str, Any]) -> None:
        pass

    async def main() -> Any:
        with Reader() as reader:
            long = reader.add(bodies[0], text="tgi", relay_to=send)
            short = reader.add(bodies[1], text="tgi", relay_to=ignore)
            first = reader.abatches()
            async for stream, _ in first:
                assert stream is short  # the long stream is midway
                break
            await first.aclose()
            async for _ in reader.abatches():
                pass
            return long

    stream = asyncio.run(asyncio.wait_for(main(), 60))
    assert stream.done and stream.error is None
    assert b"".join(relayed) == expected
