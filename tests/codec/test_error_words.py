"""Both backends word every error alike: for each kind of bad input, the C and the
pure-Python backend raise the same class with the same message and attributes
(the texts are built once, in fastsmr.codec.errors and fastsmr.codec.muxing, from the
problem code and numbers each backend passes)."""

from __future__ import annotations

import socket
import struct
import zlib
from typing import Any, Callable, Dict, Tuple

import pytest

from fastsmr.codec import _codec_py as _pure
from fastsmr.codec import errors

try:
    from fastsmr.codec import _codec_c as _speedups
except ImportError:  # the pure-only install
    _speedups = None

pytestmark = pytest.mark.skipif(_speedups is None, reason="compares the C extension with its pure twin: not built")


def message(headers: bytes, payload: bytes = b"", *, total: int = 0, headers_length: int = -1) -> bytes:
    """A message with ``headers`` as its raw header block; lengths right unless given, CRCs right."""
    total = total or 16 + len(headers) + len(payload)
    prelude = struct.pack("!II", total, len(headers) if headers_length < 0 else headers_length)
    body = prelude + struct.pack("!I", zlib.crc32(prelude)) + headers + payload
    return body + struct.pack("!I", zlib.crc32(body))


def header(name: bytes, kind: int, value: bytes) -> bytes:
    return bytes([len(name)]) + name + bytes([kind]) + value


GOOD = message(header(b":event-type", 7, b"\x00\x0bPayloadPart"), b"hello")


def decode(module: Any, wire: bytes, **options: Any) -> Any:
    decoder = module.Decoder(**options)
    decoder.feed(wire)
    decoder.close()


def refuse(value: Any) -> Any:
    raise ValueError("not this one")


#: name -> what to run with a backend module. Each must raise.
CASES: Dict[str, Callable[[Any], Any]] = {
    "prelude CRC": lambda m: decode(m, GOOD[:8] + b"\0\0\0\0" + GOOD[12:]),
    "message CRC": lambda m: decode(m, GOOD[:-1] + bytes([GOOD[-1] ^ 1])),
    "total_length below 16": lambda m: decode(m, message(b"", total=12)),
    "headers past total_length": lambda m: decode(m, message(b"", b"\0" * 4, headers_length=8)),
    "headers over the limit": lambda m: decode(m, GOOD, max_headers_length=4),
    "payload over the limit": lambda m: decode(m, GOOD, max_payload_length=2),
    "name past the block": lambda m: decode(m, message(b"\x09ab")),
    "name not UTF-8": lambda m: decode(m, message(header(b"\xff", 0, b""))),
    "no type byte": lambda m: decode(m, message(b"\x01a")),
    "unknown type": lambda m: decode(m, message(header(b"a", 12, b""))),
    "no room for a length": lambda m: decode(m, message(header(b"a", 6, b"\x00"))),
    "byte array past the block": lambda m: decode(m, message(header(b"a", 6, b"\x00\x09ab"))),
    "string past the block": lambda m: decode(m, message(header(b"a", 7, b"\x00\x09ab"))),
    "uuid past the block": lambda m: decode(m, message(header(b"a", 9, b"abc"))),
    "integer past the block": lambda m: decode(m, message(header(b"a", 4, b"ab"))),
    "long past the block": lambda m: decode(m, message(header(b"a", 5, b"abcdef"))),
    "string not UTF-8": lambda m: decode(m, message(header(b"a", 7, b"\x00\x02\xc3\x28"))),
    "duplicate header": lambda m: decode(m, message(header(b"a", 0, b"") + header(b"a", 1, b""))),
    "duplicate read short": lambda m: decode(m, message(header(b"a", 0, b"") + header(b"a", 7, b"\x00\x09ab"))),
    "converter refuses": lambda m: decode(m, GOOD, header_converters={7: refuse}),
    "truncated stream": lambda m: decode(m, GOOD + GOOD[:30]),
    "chunk size not hex": lambda m: m.ChunkedDecoder().feed(b"zz\r\n"),
    "chunk size overflow": lambda m: m.ChunkedDecoder().feed(b"1" * 17 + b"\r\n"),
    "chunk size line": lambda m: m.ChunkedDecoder().feed(b"5 x\r\n"),
    "chunk line end": lambda m: m.ChunkedDecoder().feed(b"5\rx"),
    "chunk data end": lambda m: _fed(m, b"2\r\nabXY", b""),  # the data before it comes first
    "chunk line length": lambda m: m.ChunkedDecoder().feed(b"5;" + b"x" * errors.MAX_CHUNK_LINE + b"\r\n"),
    "chunk data left": lambda m: _closed(m, b"5\r\nab"),
    "no last chunk": lambda m: _closed(m, b"2\r\nab\r\n"),
}


def _fed(module: Any, *pieces: bytes) -> None:
    decoder = module.ChunkedDecoder()
    for piece in pieces:
        decoder.feed(piece)


def _closed(module: Any, body: bytes) -> None:
    decoder = module.ChunkedDecoder()
    decoder.feed(body)
    decoder.close()


def raised(module: Any, case: Callable[[Any], Any]) -> BaseException:
    with pytest.raises(Exception) as info:
        case(module)
    return info.value


def words(error: BaseException) -> Tuple[Any, ...]:
    cause = error.__cause__
    return (type(error), str(error), error.args, vars(error), type(cause), str(cause) if cause else None)


@pytest.mark.parametrize("case", list(CASES))
def test_both_backends_raise_the_same_error(case):
    c, pure = raised(_speedups, CASES[case]), raised(_pure, CASES[case])
    assert isinstance(c, errors.DecodeError), repr(c)
    assert words(c) == words(pure)


def test_every_error_class_and_problem_is_in_the_table():
    found = [raised(_pure, run) for run in CASES.values()]
    # IncompleteBodyError is the drop-in's (urllib3 counts the Content-Length), never a backend's:
    # tests/boto/test_short_body.py raises it.
    assert {type(e) for e in found} == {cls for cls in vars(errors).values()
                                        if isinstance(cls, type) and issubclass(cls, errors.DecodeError)
                                        and cls not in (errors.DecodeError, errors._LimitExceeded,
                                                        errors.IncompleteBodyError)}
    problems = {e.problem for e in found if isinstance(e, (errors.InvalidHeader, errors.ChunkedEncodingError))}
    assert problems == set(errors._HEADER_PROBLEMS) | {"value_length"} | set(errors._CHUNK_PROBLEMS)


@pytest.mark.parametrize("mistake", ["negative timeout", "key already read"])
def test_both_multiplexers_refuse_alike(mistake):
    found = []
    for module in (_speedups, _pure):
        mux = module.Mux()
        left, right = socket.socketpair()
        try:
            with pytest.raises(ValueError) as info:
                if mistake == "negative timeout":
                    mux.add("k", left.fileno(), timeout=-1)
                else:
                    mux.add("k", left.fileno())
                    mux.add("k", right.fileno())
            found.append(str(info.value))
        finally:
            mux.close()
            left.close()
            right.close()
    assert found[0] == found[1]
