"""atheris harness: both backends must decode any bytes, in any chunks, alike.

The input format (a control prefix choosing CRC repair, limits and chunk
sizes, then the stream) is described in fuzz_input.py. Each chunk is fed to
a C-backend Decoder and to a pure-Python Decoder; after every feed() both
must have returned equal messages (header values compared with their types)
and buffered the same byte count, or raised the same exception class with the
same message, offset and attributes. A failed decoder must then keep raising
that error, and close() must agree too. Any other exception, or a crash, is a
finding.

An HTTP-chunked input (control bit 7) is first fed, in the same chunks, to a
C and a pure ChunkedDecoder, which must agree in the same way (returned
bytes, done, unused and offset after every feed); the data they read is then
decoded as above.

Every input's chunks also go, as the parts of a text stream, through
``fastsmr.lines`` on each backend (C ``iter_lines`` and the pure splitter),
with and without ``keepends``: both must give the same lines, then the same
exception and message. A chunk's first byte picks its part type: 0xFE makes
it ``None`` and 0xFD an int (neither is bytes-like: a TypeError, never an end
of stream or NUL bytes), otherwise bytes, bytearray or memoryview.

    python tests/fuzz/run.py atheris --seconds 60

``check(data)`` is also what tests/test_hardening.py replays the corpus with.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_input import FuzzInput, dechunked, parse  # noqa: E402


def _message(m: Any) -> Tuple[Any, ...]:
    # True == 1 in Python: compare each value with its type.
    headers = tuple((k, type(v).__name__, v) for k, v in m.headers.items())
    return (headers, m.payload, m.prelude_crc, m.crc, m.total_length, m.message_type, m.event_type)


def _error(exc: BaseException) -> Tuple[Any, ...]:
    return (type(exc).__name__, str(exc), sorted(vars(exc).items()))


def _steps(
    decoder: Any, chunks: List[bytes], result: Callable[[Any], Any], state: Callable[[Any], Any], decode_error: type
) -> List[Any]:
    """Each feed's result (or error) and the decoder's state after it, then close()."""
    steps: List[Any] = []
    failed = None
    for chunk in chunks:
        try:
            steps.append(result(decoder.feed(chunk)))
        except decode_error as exc:
            failed = exc
            steps.append(_error(exc))
        steps.append(state(decoder))
        if failed is not None:
            break
    try:
        decoder.close()
        steps.append("closed")
    except decode_error as exc:
        if failed is not None and exc is not failed:
            raise AssertionError(f"close() raised {exc!r} after {failed!r}") from None
        steps.append(_error(exc))
        failed = exc
    if failed is not None:
        try:
            decoder.feed(b"\x00" * 16)
        except decode_error as exc:
            if exc is not failed:
                raise AssertionError(f"feed() raised {exc!r} after {failed!r}") from None
        else:
            raise AssertionError(f"feed() went on after {failed!r}")
    return steps


def outcome(module: Any, inp: FuzzInput, decode_error: type) -> List[Any]:
    """What one backend makes of the input, step by step."""
    decoder = module.Decoder(
        max_headers_length=inp.max_headers_length, max_payload_length=inp.max_payload_length
    )
    return _steps(decoder, inp.chunks, lambda ms: [_message(m) for m in ms], lambda d: d.buffered, decode_error)


def chunked_outcome(module: Any, inp: FuzzInput, decode_error: type) -> Tuple[List[Any], bytes]:
    """What one backend's ChunkedDecoder makes of the input's chunks, step by step, and the data it read."""
    read: List[bytes] = []

    def result(data: Any) -> Tuple[str, bytes]:
        read.append(data)
        return type(data).__name__, data  # b"x" == bytearray(b"x"): compare the type too

    steps = _steps(module.ChunkedDecoder(), inp.chunks, result, lambda d: (d.done, d.unused, d.offset), decode_error)
    return steps, b"".join(read)


def _same(c: List[Any], python: List[Any]) -> None:
    if c != python:
        for i, (a, b) in enumerate(zip(c, python)):
            if a != b:
                raise AssertionError(f"backends differ at step {i}:\n  c:      {a!r}\n  python: {b!r}")
        raise AssertionError(f"backends differ in length: c {len(c)} steps, python {len(python)}")


def _parts(chunks: List[bytes]) -> List[Any]:
    """The chunks as the parts of a text stream, of the type each one's first byte picks."""
    parts: List[Any] = []
    for chunk in chunks:
        head = chunk[0] if chunk else 0
        if head == 0xFE:
            parts.append(None)
        elif head == 0xFD:
            parts.append(len(chunk))
        else:
            parts.append((bytes, bytearray, memoryview)[head % 3](chunk))
    return parts


def lines_outcome(module: Any, parts: List[Any], keepends: bool) -> List[Any]:
    """``fastsmr.lines`` on one backend: the lines, then the error (type and message) if any."""
    import fastsmr
    from fastsmr.codec import backend

    saved, backend.impl = backend.impl, module
    steps: List[Any] = []
    try:
        for line in fastsmr.lines(parts, keepends=keepends):
            steps.append(line)
    except Exception as exc:  # any exception: the other backend must raise the same
        steps.append((type(exc).__name__, str(exc)))
    finally:
        backend.impl = saved
    return steps


def check(data: bytes) -> None:
    """Decode one fuzz input with both backends and require the same outcome."""
    import fastsmr
    from fastsmr.codec import _codec_c as _speedups, _codec_py as _pure

    inp = parse(data)
    parts = _parts(inp.chunks)
    for keepends in (False, True):
        _same(lines_outcome(_speedups, parts, keepends), lines_outcome(_pure, parts, keepends))
    if inp.http_chunked:
        c, read = chunked_outcome(_speedups, inp, fastsmr.ChunkedEncodingError)
        _same(c, chunked_outcome(_pure, inp, fastsmr.ChunkedEncodingError)[0])
        inp = parse(dechunked(data, read))
    _same(outcome(_speedups, inp, fastsmr.DecodeError), outcome(_pure, inp, fastsmr.DecodeError))


def main() -> None:
    import atheris

    with atheris.instrument_imports(include=["fastsmr"]):
        import fastsmr.codec._codec_py  # noqa: F401  (instrumented for coverage feedback)
        import fastsmr.tokens.lines  # noqa: F401
    from fastsmr.codec import _codec_c as _speedups

    assert _speedups.BACKEND == "c"
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
