"""Write the seed corpus: small valid streams of every header type and one
stream for every error the decoder can report.

    python tests/fuzz/make_corpus.py            # rewrites tests/fuzz/corpus/seed-*

The text harness (fuzz_text.c) has a corpus of its own, corpus_text: the
token fixtures and generated model outputs (tests/support/model_output.py)
under each format and a few part sizes.

Seeds are named ``seed-<what>-<variant>``; inputs the fuzzers found
interesting are kept beside them under their content hash. Each seed goes in
under a few control prefixes (see fuzz_input.py) so that the fuzzers start
from small and whole-stream chunking and from tight and default limits.
The HTTP-chunked seeds (control bit 7) wrap some of the streams in chunked
transfer coding, or break it in every way the decoder reports; they go in
under one prefix each, as many bodies make a small corpus go further. The
text seeds (``seed-lines-*``) are model-server output for the line splitters.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Dict

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import fastsmr  # noqa: E402
from fastsmr.codec.encoder import encode_headers  # noqa: E402
from fuzz_input import control  # noqa: E402
from support.wire import frame  # noqa: E402

CORPUS = HERE / "corpus"
TEXT_CORPUS = HERE / "corpus_text"
TEXT_FORMATS = ("auto", "tgi", "lmi", "openai", "raw")


def _flip(wire: bytes, index: int) -> bytes:
    out = bytearray(wire)
    out[index] ^= 0x01
    return bytes(out)


def streams() -> Dict[str, bytes]:
    """Name -> stream (without the control prefix)."""
    sagemaker = {":event-type": "PayloadPart", ":content-type": "application/octet-stream", ":message-type": "event"}
    every_type = {
        "true": True,
        "false": False,
        "byte": fastsmr.Byte(-7),
        "short": fastsmr.Short(-300),
        "integer": 123456,
        "long": fastsmr.Long(-(2**40)),
        "bytes": b"\x00\xffraw",
        "string": "h\u00e9llo",
        "timestamp": fastsmr.Timestamp(1_700_000_000_000),
        "uuid": fastsmr.Uuid(uuid.UUID(int=0x0123456789ABCDEF0123456789ABCDEF).bytes),
    }
    good = encode_headers({"ok": 1})
    s = {
        "empty-message": fastsmr.encode({}),
        "every-header-type": fastsmr.encode(every_type, b"payload"),
        "sagemaker-tokens": b"".join(fastsmr.encode(sagemaker, w) for w in (b"Hel", b"lo", b" world")),
        "exception": fastsmr.encode(
            {":message-type": "exception", ":exception-type": "ModelStreamError", ":content-type": "application/json"},
            b'{"Message":"boom","ErrorCode":"500"}',
        ),
        "error": fastsmr.encode({":message-type": "error", ":error-code": "E", ":error-message": "bad"}),
        "payload-only": fastsmr.encode({}, b"x" * 300),
        "split-payload": fastsmr.encode({"n": 1}, bytes(range(256)) * 20),
        "long-name": fastsmr.encode({"n" * 255: "v"}),
        "empty-name": frame(b"\x00\x00"),
        # errors
        "prelude-crc": _flip(fastsmr.encode({"k": "v"}), 2),
        "message-crc": _flip(fastsmr.encode({"k": "v"}, b"payload"), 20),
        "total-below-minimum": frame(b"", total=15, headers_length=0) + b"\x00" * 8,
        "headers-past-total": frame(b"", total=20, headers_length=5) + b"\x00" * 8,
        "prelude-4gib": frame(b"", total=0xFFFFFFFF, headers_length=0)[:12],
        "headers-over-limit": frame(b"", total=200_000, headers_length=150_000)[:12],
        "payload-over-limit": frame(b"", total=25 * 1024 * 1024 + 16, headers_length=0)[:12],
        "payload-over-small-limit": frame(b"", total=300, headers_length=0)[:12] + b"p" * 40,
        "name-past-block": frame(good + b"\x05ab", b"p"),
        "no-type-byte": frame(good + b"\x02ab", b"p"),
        "unknown-type": frame(good + b"\x01a\x0a", b"p"),
        "no-room-for-length": frame(good + b"\x01a\x07\x00", b"p"),
        "bytes-past-block": frame(good + b"\x01a\x06\x00\x05abc", b"p"),
        "string-past-block": frame(good + b"\x01a\x07\x00\x05abc", b"p"),
        "uuid-short": frame(good + b"\x01a\x09" + b"u" * 15, b"p"),
        "integer-short": frame(good + b"\x01a\x04\x00\x00", b"p"),
        "long-short": frame(good + b"\x01a\x05" + b"\x00" * 7, b"p"),
        "name-not-utf8": frame(good + b"\x02\xff\xfe\x00", b"p"),
        "value-not-utf8": frame(good + b"\x01a\x07\x00\x03\xed\xa0\x80", b"p"),
        "duplicate": frame(encode_headers({"a": 1, "b": "x"}) + encode_headers({"a": True})),
        "duplicate-short-value": frame(encode_headers({"a": 1}) + b"\x01a\x07\x00\x09abc"),
        "truncated": fastsmr.encode({"k": "v"}, b"payload")[:-5],
        "good-then-bad": fastsmr.encode({"n": 1}, b"a") + _flip(fastsmr.encode({"n": 2}, b"b"), 5),
        "garbage": bytes(range(40)),
    }
    return s


def _chunks(data: bytes, size: int, line_end: bytes = b"\r\n") -> bytes:
    """``data`` as chunks of ``size`` bytes, without the last chunk; the data
    is always followed by CRLF, which is all the decoder takes there."""
    parts = [data[i : i + size] for i in range(0, len(data), size)]
    return b"".join(b"%x%s%s\r\n" % (len(part), line_end, part) for part in parts)


def chunked_bodies() -> Dict[str, bytes]:
    """Name -> HTTP body in chunked transfer coding (without the control prefix)."""
    s = streams()
    exception = s["exception"]
    return {
        "messages": _chunks(s["sagemaker-tokens"], 7) + b"0\r\n\r\n",
        "extensions-trailers": b"%X \t;a=\"b c\";d\r\n%s\r\n000%x ;name=value\r\n%s\r\n"
        % (40, exception[:40], len(exception) - 40, exception[40:])
        + b"0;last\r\nX-Checksum: abc\r\nExpires: 0\r\n\r\n",
        "lf-then-more": _chunks(s["every-header-type"], 13, b";x\n") + b"0\nX-Checksum: abc\n\nHTTP/1.1 200 OK\r\n",
        "no-final-line": _chunks(s["error"], 50) + b"0\r\nExpires: 0\r\n",
        # errors
        "size-start": b"5\r\nhello\r\n\r\n",
        "size-0x": b"5\r\nhello\r\n0x1f\r\n",
        "size-overflow": b"1" * 17 + b"\r\n",
        "size-cr-alone": b"5\rhello\r\n",
        "data-end": _chunks(s["empty-message"], 16)[:-2] + b"\n\n0\r\n\r\n",
        "data-cr-alone": b"5\r\nhello\r\r\n",
        "trailers-cr-alone": b"0\r\n\rX",
        "cut-short": _chunks(s["sagemaker-tokens"], 64)[:-30],
        "no-last-chunk": _chunks(s["payload-only"], 100),
    }


def text_streams() -> Dict[str, bytes]:
    """Model-server output for the line splitters (see fuzz_codec.py: every
    input is also split into lines by both backends; cut byte by byte, a
    0xFE byte is a None part and 0xFD an int part)."""
    return {
        "lines-crlf": b'data:{"token":{"text":"a"}}\r\n\r\ndata: [DONE]\r\n\r\n',
        "lines-json": b'{"token": {"id": [1], "text": "A"}}\n{"code":424,"error":""}',
        "lines-none-part": b"a\n\xfeb\n",
        "lines-int-part": b"a\r\xfd\nb",
    }


def text_seeds() -> Dict[str, bytes]:
    """Model outputs: the token fixtures, and generated ones of every kind."""
    import random

    from support import model_output

    fixtures = HERE.parent / "support" / "fixtures" / "tokens"
    seeds = {p.stem: p.read_bytes() for p in sorted(fixtures.glob("*.*")) if p.suffix != ".md" and not p.name.startswith(".")}
    for n in range(12):
        seeds[f"generated-{n}"] = model_output.output(random.Random(n))
    return seeds


def write_text_corpus() -> int:
    """fuzz_text.c's input: byte 0 the format (bits 0-2) and the largest part (bits 3-5), bytes 1-2 a seed."""
    TEXT_CORPUS.mkdir(exist_ok=True)
    for old in TEXT_CORPUS.glob("seed-*"):
        old.unlink()
    count = 0
    for name, stream in text_seeds().items():
        for code, fmt in enumerate(TEXT_FORMATS):
            for cap in (7, 2):  # whole, and parts of up to 3 bytes
                (TEXT_CORPUS / f"seed-{name}-{fmt}-{cap}").write_bytes(bytes([code | cap << 3, 0, count & 255]) + stream)
                count += 1
    return count


def main() -> None:
    CORPUS.mkdir(exist_ok=True)
    for old in CORPUS.glob("seed-*"):
        old.unlink()
    variants = {
        "whole": control(chunk_cap=7),
        "bytewise": control(chunk_cap=0),
        "chunks": control(chunk_cap=4, seed=1),
        "small-limits": control(limits=1, chunk_cap=5, seed=2),
    }
    count = 0
    for name, stream in streams().items():
        for variant, prefix in variants.items():
            (CORPUS / f"seed-{name}-{variant}").write_bytes(prefix + stream)
            count += 1
    for name, stream in text_streams().items():
        for variant in ("whole", "bytewise"):
            (CORPUS / f"seed-{name}-{variant}").write_bytes(variants[variant] + stream)
            count += 1
    prefix = control(repair=True, chunk_cap=4, seed=1, http_chunked=True)
    for name, body in chunked_bodies().items():
        (CORPUS / f"seed-chunked-{name}").write_bytes(prefix + body)
        count += 1
    print(f"wrote {count} seeds to {CORPUS}")
    print(f"wrote {write_text_corpus()} seeds to {TEXT_CORPUS}")


if __name__ == "__main__":
    main()
