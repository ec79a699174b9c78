"""atheris harness: both backends must decode any bytes, in any chunks, alike.

The input format (a control prefix choosing CRC repair, limits and chunk
sizes, then the stream) is described in fuzz_input.py. Each chunk is fed to
a C-backend Decoder and to a pure-Python Decoder; after every feed() both
must have returned equal messages (header values compared with their types)
and buffered the same byte count, or raised the same exception class with the
same message, offset and attributes. A failed decoder must then keep raising
that error, and close() must agree too. Any other exception, or a crash, is a
finding.

    python tests/fuzz/run.py atheris --seconds 60

``check(data)`` is also what tests/test_hardening.py replays the corpus with.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, List, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fuzz_input import FuzzInput, parse  # noqa: E402


def _message(m: Any) -> Tuple[Any, ...]:
    # True == 1 in Python: compare each value with its type.
    headers = tuple((k, type(v).__name__, v) for k, v in m.headers.items())
    return (headers, m.payload, m.prelude_crc, m.crc, m.total_length, m.message_type, m.event_type)


def _error(exc: BaseException) -> Tuple[Any, ...]:
    return (type(exc).__name__, str(exc), sorted(vars(exc).items()))


def outcome(module: Any, inp: FuzzInput, decode_error: type) -> List[Any]:
    """What one backend makes of the input, step by step."""
    decoder = module.Decoder(
        max_headers_length=inp.max_headers_length, max_payload_length=inp.max_payload_length
    )
    steps: List[Any] = []
    failed = None
    for chunk in inp.chunks:
        try:
            steps.append([_message(m) for m in decoder.feed(chunk)])
        except decode_error as exc:
            failed = exc
            steps.append(_error(exc))
            break
        steps.append(decoder.buffered)
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


def check(data: bytes) -> None:
    """Decode one fuzz input with both backends and require the same outcome."""
    import fastsmr
    from fastsmr import _pure, _speedups

    inp = parse(data)
    c = outcome(_speedups, inp, fastsmr.DecodeError)
    python = outcome(_pure, inp, fastsmr.DecodeError)
    if c != python:
        for i, (a, b) in enumerate(zip(c, python)):
            if a != b:
                raise AssertionError(f"backends differ at step {i}:\n  c:      {a!r}\n  python: {b!r}")
        raise AssertionError(f"backends differ in length: c {len(c)} steps, python {len(python)}")


def main() -> None:
    import atheris

    with atheris.instrument_imports(include=["fastsmr"]):
        import fastsmr._pure  # noqa: F401  (instrumented for coverage feedback)
    from fastsmr import _speedups

    assert _speedups.BACKEND == "c"
    atheris.Setup(sys.argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
