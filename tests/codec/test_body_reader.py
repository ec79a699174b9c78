"""BodyReader: one chunked event-stream body received from a socket, de-chunked and decoded per call.

Both backends, over a real socket pair: what arrives over several receives
comes out as the same messages a Decoder gives; bytes read before the reader
took over are decoded first; the end of the body, the bytes past it, a
receive timeout, a connection cut short and bad bytes are reported as the
drop-in needs them (raised again by every later call); a decode error found
after messages were returned is raised by the next call without waiting for
more bytes; a second thread is refused while one waits.
"""

from __future__ import annotations

import socket
import struct
import threading
import time
from typing import Any, Iterator, List, Tuple

import pytest

import fastsmr

PAYLOADS = [b"token %d" % i for i in range(20)]
PARTS = [fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart"}, p) for p in PAYLOADS]
ONLY_PARTS = {"PayloadPart": None}


def chunked(data: bytes, size: int) -> bytes:
    return b"".join(b"%x\r\n%s\r\n" % (len(data[i : i + size]), data[i : i + size])
                    for i in range(0, len(data), size)) + b"0\r\n\r\n"


@pytest.fixture
def pair() -> Iterator[Tuple[socket.socket, socket.socket]]:
    """(server end, client end); the client end is blocking with a 2 s receive timeout."""
    server, client = socket.socketpair()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", 2, 0))
    with server, client:
        yield server, client


def read_all(reader: Any, events: Any = ONLY_PARTS) -> List[Any]:
    out = []
    while True:
        batch = reader.read(events)
        if batch is None:
            return out
        assert batch, "read() returns a non-empty list or None"
        out += batch


def test_messages_over_many_receives_and_buffered_bytes(backend, pair):
    server, client = pair
    wire = chunked(b"".join(PARTS), 11)
    reader = backend.BodyReader(client.fileno(), backend.Decoder(), wire[:100])

    def send() -> None:
        for start in range(100, len(wire), 37):
            server.sendall(wire[start : start + 37])
            time.sleep(0.002)

    sender = threading.Thread(target=send)
    sender.start()
    try:
        assert read_all(reader) == PAYLOADS
    finally:
        sender.join(10)
    assert reader.done and reader.unused == 0
    assert reader.read() is None


def test_plain_messages_without_events(backend, pair):
    server, client = pair
    server.sendall(chunked(b"".join(PARTS[:3]), 1000))
    messages = read_all(backend.BodyReader(client.fileno(), backend.Decoder()), None)
    assert [m.payload for m in messages] == PAYLOADS[:3]
    assert messages[0].headers == {":message-type": "event", ":event-type": "PayloadPart"}


def test_bytes_past_the_body_are_counted_not_decoded(backend, pair):
    server, client = pair
    wire = chunked(PARTS[0], 1000)
    # Past the end in the buffered bytes, and in a receive.
    reader = backend.BodyReader(client.fileno(), backend.Decoder(), wire + b"HTTP/1.1")
    assert read_all(reader) == PAYLOADS[:1] and reader.unused == 8
    server.sendall(wire + b"HTTP/1.1 200")
    reader = backend.BodyReader(client.fileno(), backend.Decoder())
    assert read_all(reader) == PAYLOADS[:1] and reader.unused == 12


def test_a_receive_timeout_raises_socket_timeout_every_time(backend, pair):
    server, client = pair
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("@ll", 0, 200000))
    server.sendall(chunked(b"".join(PARTS), 64)[:300])
    reader = backend.BodyReader(client.fileno(), backend.Decoder())
    got: List[bytes] = []
    started = time.monotonic()
    with pytest.raises(socket.timeout, match="timed out"):
        while True:
            got += reader.read(ONLY_PARTS)
    assert 0.15 < time.monotonic() - started < 5
    assert got == PAYLOADS[: len(got)] and got
    server.sendall(chunked(b"".join(PARTS), 64)[300:])  # too late: the body has ended
    with pytest.raises(socket.timeout):
        reader.read(ONLY_PARTS)
    assert not reader.done


def test_a_connection_that_ends_inside_a_chunk_raises_chunked_encoding_error(backend, pair):
    server, client = pair
    wire = chunked(b"".join(PARTS), 100)
    server.sendall(wire[:250])
    server.shutdown(socket.SHUT_WR)
    reader = backend.BodyReader(client.fileno(), backend.Decoder())
    got: List[bytes] = []
    with pytest.raises(fastsmr.ChunkedEncodingError, match="ended inside a chunk") as raised:
        while True:
            got += reader.read(ONLY_PARTS)
    assert raised.value.problem == "data_left"
    assert got == PAYLOADS[: len(got)]
    with pytest.raises(fastsmr.ChunkedEncodingError):
        reader.read(ONLY_PARTS)


def test_a_body_without_the_blank_line_after_the_last_chunk_ends_cleanly(backend, pair):
    server, client = pair
    server.sendall(chunked(PARTS[0], 1000)[:-2])  # "0\r\n", then the connection ends
    server.shutdown(socket.SHUT_WR)
    reader = backend.BodyReader(client.fileno(), backend.Decoder())
    assert read_all(reader) == PAYLOADS[:1] and reader.done


def test_bad_chunk_bytes_after_data_raise_once_the_data_is_delivered(backend, pair):
    server, client = pair
    server.sendall(b"%x\r\n%s\r\nzz\r\n" % (len(PARTS[0]), PARTS[0]))
    reader = backend.BodyReader(client.fileno(), backend.Decoder())
    assert reader.read(ONLY_PARTS) == PAYLOADS[:1]
    with pytest.raises(fastsmr.ChunkedEncodingError, match="offset %d" % (len(PARTS[0]) + 6)):
        reader.read(ONLY_PARTS)


def test_a_decode_error_after_messages_is_raised_by_the_next_call_without_waiting(backend, pair):
    server, client = pair
    bad = bytearray(PARTS[1])
    bad[-1] ^= 0xFF  # its message CRC
    server.sendall(chunked(PARTS[0] + bytes(bad), 1000)[:-5])  # the body stays open
    reader = backend.BodyReader(client.fileno(), backend.Decoder())
    assert reader.read(ONLY_PARTS) == PAYLOADS[:1]
    started = time.monotonic()
    with pytest.raises(fastsmr.ChecksumMismatch):
        reader.read(ONLY_PARTS)
    assert time.monotonic() - started < 1.5  # not after the 2 s receive timeout


def test_a_second_thread_is_refused_while_one_waits(backend, pair):
    server, client = pair
    reader = backend.BodyReader(client.fileno(), backend.Decoder())
    first: List[Any] = []
    waiting = threading.Thread(target=lambda: first.append(reader.read(ONLY_PARTS)))
    waiting.start()
    time.sleep(0.2)  # the first thread is in its receive
    with pytest.raises(RuntimeError, match="one thread at a time"):
        reader.read(ONLY_PARTS)
    server.sendall(chunked(PARTS[0], 1000))
    waiting.join(5)
    assert first == [PAYLOADS[:1]]


def test_a_whole_body_in_the_buffered_bytes_is_read_intact(backend, pair):
    # Under load, the response head and the whole body arrive in one receive:
    # the buffered bytes hold it all, "0\r\n\r\n" included. The C reader once
    # dropped its copy of them just before de-chunking their last piece, and
    # the allocator's bookkeeping overwrote the body's last bytes ("invalid
    # chunked transfer coding at offset 2128 ... found b'\x80'"). Copies made
    # back to back, freed one by one, and of 16 consecutive lengths (the end
    # of the body on every alignment) make that reuse show at once.
    _, client = pair
    wire = b"".join(PARTS[:15])
    bodies = [b"%x;pad=%s\r\n%s\r\n0\r\n\r\n" % (len(wire), b"p" * pad, wire) for pad in range(16)] * 8
    readers = [backend.BodyReader(client.fileno(), backend.Decoder(), body) for body in bodies]
    for reader in readers:
        assert read_all(reader) == PAYLOADS[:15]
        assert reader.done and reader.unused == 0
