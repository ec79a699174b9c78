"""What a caller gets for odd inputs and for calls after ``close()``, on both backends.

Every entry point that takes bytes (``Decoder.feed``, ``decode``,
``ChunkedDecoder.feed``, a ``BodyReader``'s and a ``Mux``'s buffered bytes,
``Mux.send``) reads any C-contiguous bytes-like object as its bytes, keeps a
copy of what it holds on to, and refuses anything else as CPython refuses it
(``zlib.crc32`` is the oracle): ``TypeError`` for what has no buffer,
``BufferError`` for bytes that are not contiguous. A decoder whose ``close()``
ended its stream refuses to be fed, as a closed file refuses to be read.
Both backends raise the same class with the same words.
"""

from __future__ import annotations

import array
import socket
import zlib
from typing import Any, Callable, Dict

import pytest

import fastsmr
from support import backends

WIRE = fastsmr.encode({":event-type": "PayloadPart"}, b"hello!") * 2
BODY = b"%x \r\n%s\r\n0\r\n\r\n" % (len(WIRE), WIRE)
assert len(WIRE) % 4 == len(BODY) % 4 == 0  # so that arrays of 2- and 4-byte items can hold them, cut at 4n


def _strided() -> Any:
    return memoryview(BODY)[::2]


def _strided_2d() -> Any:
    return memoryview(bytes(64)).cast("B", (8, 8))[::2]


#: Objects no entry point can read as one run of bytes.
REFUSED: Dict[str, Callable[[], Any]] = {
    "strided memoryview": _strided,
    "strided 2-D memoryview": _strided_2d,
    "str": lambda: "5\r\nhello",
    "None": lambda: None,
    "int": lambda: 5,
    "list of ints": lambda: [48, 13, 10],
}


def _body_reader(module: Any, data: Any) -> Any:
    left, right = socket.socketpair()
    try:
        return module.BodyReader(right.fileno(), module.Decoder(), data)
    finally:
        left.close()
        right.close()


def _mux(module: Any, call: Callable[[Any, int, int], Any]) -> Any:
    """``call(mux, fd, relay)``: a socket to read a body from, and one to relay to."""
    mux = module.Mux()
    body, body_peer = socket.socketpair()
    relay, relay_peer = socket.socketpair()
    try:
        return call(mux, body.fileno(), relay.fileno())
    finally:
        mux.close()
        for sock in (body, body_peer, relay, relay_peer):
            sock.close()


#: name -> feed ``data`` to the backend ``module`` that way.
ENTRY_POINTS: Dict[str, Callable[[Any, Any], Any]] = {
    "Decoder.feed": lambda m, data: m.Decoder().feed(data),
    "decode": lambda m, data: m.decode(data),
    "ChunkedDecoder.feed": lambda m, data: m.ChunkedDecoder().feed(data),
    "BodyReader buffered": _body_reader,
    "Mux.add buffered": lambda m, data: _mux(m, lambda mux, fd, relay: mux.add("k", fd, data)),
    "Mux.send, a key not read": lambda m, data: _mux(m, lambda mux, fd, relay: mux.send("k", data)),
    "Mux.send": lambda m, data: _mux(m, lambda mux, fd, relay: (mux.add("k", fd, relay=relay), mux.send("k", data))),
}


def raised(run: Callable[[], Any]) -> BaseException:
    with pytest.raises(Exception) as info:
        run()
    return info.value


@pytest.mark.parametrize("kind", list(REFUSED))
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_what_is_not_contiguous_bytes_is_refused_as_cpython_refuses_it(backend, entry, kind):
    expected = raised(lambda: zlib.crc32(REFUSED[kind]()))
    assert type(expected) in (TypeError, BufferError)
    error = raised(lambda: ENTRY_POINTS[entry](backend, REFUSED[kind]()))
    assert (type(error), str(error)) == (type(expected), str(expected))


@pytest.mark.c_extension
@pytest.mark.parametrize("kind", list(REFUSED))
@pytest.mark.parametrize("entry", list(ENTRY_POINTS))
def test_both_backends_refuse_alike(entry, kind):
    found = set()
    for module in backends.chosen():
        error = raised(lambda: ENTRY_POINTS[entry](module, REFUSED[kind]()))  # noqa: B023 - called at once
        found.add((type(error), str(error)))
    assert len(found) == 1, found


#: Bytes-like objects read as their bytes, whatever their item format or shape.
ACCEPTED: Dict[str, Callable[[bytes], Any]] = {
    "bytes": bytes,
    "bytearray": bytearray,
    "memoryview of bytearray": lambda b: memoryview(bytearray(b)),
    "2-D C-contiguous memoryview": lambda b: memoryview(b).cast("B", (4, len(b) // 4)),
    "array of uint32": lambda b: array.array("I", b),
    "memoryview of array of uint16": lambda b: memoryview(array.array("H", b)),
}


@pytest.mark.parametrize("kind", list(ACCEPTED))
def test_any_contiguous_buffer_is_read_as_its_bytes(backend, kind):
    convert = ACCEPTED[kind]
    decoder = backend.Decoder()
    got = decoder.feed(convert(WIRE[:20])) + decoder.feed(convert(WIRE[20:]))
    assert [m.payload for m in got] == [b"hello!", b"hello!"]
    assert backend.decode(convert(WIRE)) == got
    chunked = backend.ChunkedDecoder()
    assert chunked.feed(convert(BODY[:12])) + chunked.feed(convert(BODY[12:])) == WIRE and chunked.done


def test_a_buffer_changed_after_feed_changes_nothing_decoded(backend):
    # The decoders keep a copy of what they hold on to: the caller may reuse its buffer at once.
    buffer = bytearray(WIRE[:30])
    decoder = backend.Decoder()
    assert decoder.feed(buffer) == []
    buffer[:] = b"\xa5" * len(buffer)
    view = memoryview(bytearray(WIRE[30:]))
    got = decoder.feed(view)
    view[:] = b"\x5a" * len(view)
    assert [(m.headers, m.payload) for m in got] == [({":event-type": "PayloadPart"}, b"hello!")] * 2
    chunked = backend.ChunkedDecoder()
    buffer = bytearray(BODY[:12])
    out = chunked.feed(buffer)
    buffer[:] = b"\xa5" * len(buffer)
    assert out + chunked.feed(BODY[12:]) == WIRE and chunked.done


@pytest.mark.parametrize("events", [["PayloadPart"], "PayloadPart", ("PayloadPart", None)])
def test_events_must_be_a_dict(backend, events):
    with pytest.raises(TypeError, match=f"events must be a dict or None, not {type(events).__name__}$"):
        backend.Decoder().feed(WIRE, events)
    left, right = socket.socketpair()
    try:
        left.sendall(BODY)
        reader = backend.BodyReader(right.fileno(), backend.Decoder())
        with pytest.raises(TypeError, match=f"events must be a dict or None, not {type(events).__name__}$"):
            reader.read(events)
        assert reader.read({"PayloadPart": None}) == [b"hello!", b"hello!"]  # nothing was read by the refused call
    finally:
        left.close()
        right.close()


@pytest.mark.parametrize("fd", ["3", 3.0, None])
def test_a_descriptor_must_be_an_int(backend, fd):
    with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
        backend.BodyReader(fd, backend.Decoder())
    mux = backend.Mux()
    try:
        with pytest.raises(TypeError, match="cannot be interpreted as an integer"):
            mux.add("k", fd)
        assert len(mux) == 0
    finally:
        mux.close()


def test_a_body_reader_decodes_with_its_own_backends_decoder(backend):
    with pytest.raises(TypeError, match="decoder must be a Decoder of the BodyReader's backend, not builtins.object"):
        backend.BodyReader(0, object())


@pytest.mark.parametrize("timeout", ["1", True, float("nan"), -1])
def test_a_mux_timeout_is_seconds_or_none(backend, timeout):
    mux = backend.Mux()
    left, right = socket.socketpair()
    try:
        with pytest.raises((TypeError, ValueError), match="timeout must be"):
            mux.add("k", right.fileno(), timeout=timeout)
        assert len(mux) == 0
    finally:
        mux.close()
        left.close()
        right.close()


# --- after close() ---------------------------------------------------------------


def test_a_closed_decoder_refuses_to_be_fed(backend):
    decoder = backend.Decoder()
    assert len(decoder.feed(WIRE)) == 2
    assert decoder.close() is None
    for data in (WIRE, b""):
        with pytest.raises(ValueError, match=r"^Decoder\.feed\(\) was called after close\(\): its stream is over$"):
            decoder.feed(data)
    assert decoder.close() is None  # closing again is harmless, as for a file
    with pytest.raises(ValueError, match="after close"):
        backend.BodyReader(0, decoder).read()  # a reader decodes through the same feed
    decoder.__init__()  # starts a new stream
    assert len(decoder.feed(WIRE)) == 2


def test_a_decoder_closed_inside_a_message_keeps_raising_what_close_raised(backend):
    decoder = backend.Decoder()
    decoder.feed(WIRE[:30])
    with pytest.raises(fastsmr.TruncatedStreamError) as first:
        decoder.close()
    for call in (lambda: decoder.feed(WIRE[30:]), decoder.close):
        with pytest.raises(fastsmr.TruncatedStreamError) as again:
            call()
        assert str(again.value) == str(first.value)


def test_a_closed_chunked_decoder_refuses_to_be_fed(backend):
    decoder = backend.ChunkedDecoder()
    assert decoder.feed(BODY) == WIRE and decoder.done
    assert decoder.close() is None
    with pytest.raises(ValueError, match=r"^ChunkedDecoder\.feed\(\) was called after close\(\): its stream is over$"):
        decoder.feed(b"0\r\n\r\n")
    assert decoder.unused == 0 and decoder.close() is None
    cut = backend.ChunkedDecoder()
    cut.feed(BODY[:20])
    with pytest.raises(fastsmr.ChunkedEncodingError) as first:
        cut.close()
    for call in (lambda: cut.feed(BODY[20:]), cut.close):
        with pytest.raises(fastsmr.ChunkedEncodingError) as again:
            call()
        assert str(again.value) == str(first.value)


def test_a_closed_reader_leaves_the_socket_unread(backend):
    left, right = socket.socketpair()
    try:
        left.sendall(BODY)
        decoder = backend.Decoder()
        decoder.close()
        reader = backend.BodyReader(right.fileno(), decoder)
        with pytest.raises(ValueError, match="after close"):
            reader.read()
        assert right.recv(len(BODY) + 1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == BODY
    finally:
        left.close()
        right.close()


def test_a_closed_mux_refuses_every_call_but_close(backend):
    mux = backend.Mux()
    left, right = socket.socketpair()
    try:
        mux.close()
        calls: Dict[str, Callable[[], Any]] = {
            "add": lambda: mux.add("k", right.fileno()),
            "remove": lambda: mux.remove("k"),
            "send": lambda: mux.send("k", b"x"),
            "flush": lambda: mux.flush("k"),
            "hold": lambda: mux.hold("k", True),
            "poll": lambda: mux.poll(0),
        }
        for name, call in calls.items():
            with pytest.raises(ValueError, match="^the Mux is closed$"):
                call()
                pytest.fail(f"{name}() on a closed Mux")
        assert mux.close() is None and mux.wake() is None  # harmless, as closing a closed file is
        assert (len(mux), mux.fileno(), mux.timeout()) == (0, -1, None)
    finally:
        left.close()
        right.close()
