"""The fuzz input format shared by the atheris and libFuzzer harnesses.

Both harnesses read the same files, so one corpus serves both:

    byte 0    bit 0     repair CRCs: rewrite the prelude and message CRC of
                        every frame whose declared length fits, so that
                        mutations reach the header parser instead of dying at
                        the first checksum
              bits 1-2  limits (max_headers_length, max_payload_length):
                        0 = the defaults (128 KiB, 24 MiB), 1 = (64, 256),
                        2 = (0, 0), 3 = (1024, 65536)
              bits 3-5  largest chunk: 1, 2, 3, 8, 13, 64, 4096 bytes, or the
                        whole stream in one feed
              bit 6     (C harness only) make the header-block allocation fail
              bit 7     the stream is an HTTP/1.1 body in chunked transfer
                        coding: it is de-chunked in the chunks bits 3-5 choose
                        (the C harness also in one piece), and the data read
                        from it, up to any error, then goes through as the
                        stream of the same input with bit 7 clear: bit 0
                        repairs the data's CRCs, never the chunk framing
    bytes 1-2 seed of the xorshift32 generator that draws each chunk size
              (1 + next % largest)
    bytes 3-  the stream

fuzz_decoder.c implements the same rules in C; keep the two in step.
"""

from __future__ import annotations

import struct
import zlib
from typing import Iterator, List, NamedTuple, Tuple

LIMITS: Tuple[Tuple[int, int], ...] = (
    (128 * 1024, 24 * 1024 * 1024),
    (64, 256),
    (0, 0),
    (1024, 65536),
)
CHUNK_CAPS: Tuple[int, ...] = (1, 2, 3, 8, 13, 64, 4096, 0)  # 0: the whole stream

REPAIR = 0x01
FAIL_ALLOC = 0x40
HTTP_CHUNKED = 0x80


class FuzzInput(NamedTuple):
    stream: bytes
    max_headers_length: int
    max_payload_length: int
    chunks: List[bytes]
    http_chunked: bool


def control(
    *, repair: bool = False, limits: int = 0, chunk_cap: int = 7, seed: int = 0, http_chunked: bool = False
) -> bytes:
    """The 3-byte prefix that selects how a harness decodes the stream after it."""
    flags = (REPAIR if repair else 0) | limits << 1 | chunk_cap << 3 | (HTTP_CHUNKED if http_chunked else 0)
    return bytes([flags]) + struct.pack("!H", seed)


def dechunked(data: bytes, body: bytes) -> bytes:
    """The fuzz input that decodes ``body``, read from the HTTP-chunked stream
    of ``data``, under the same control prefix."""
    head = data[:3].ljust(3, b"\x00")
    return bytes([head[0] & ~HTTP_CHUNKED]) + head[1:] + body


def repair_crcs(stream: bytes) -> bytes:
    """Rewrite the CRCs of every frame that fits, walking frame by frame."""
    out = bytearray(stream)
    pos = 0
    while len(out) - pos >= 12:
        total = struct.unpack_from("!I", out, pos)[0]
        struct.pack_into("!I", out, pos + 8, zlib.crc32(bytes(out[pos : pos + 8])))
        if total < 16 or total > len(out) - pos:
            break
        end = pos + total - 4
        struct.pack_into("!I", out, end, zlib.crc32(bytes(out[pos:end])))
        pos += total
    return bytes(out)


def _sizes(seed: int, cap: int) -> Iterator[int]:
    # xorshift32 from a 16-bit seed; the multiplication spreads the seed's bits
    # and "| 1" keeps the state away from zero.
    state = (seed * 2654435761 | 1) & 0xFFFFFFFF
    while True:
        state ^= (state << 13) & 0xFFFFFFFF
        state ^= state >> 17
        state ^= (state << 5) & 0xFFFFFFFF
        yield 1 + state % cap


def parse(data: bytes) -> FuzzInput:
    """Split a fuzz input into its stream, limits and chunks."""
    head = data[:3].ljust(3, b"\x00")
    flags = head[0]
    seed = struct.unpack("!H", head[1:3])[0]
    stream = data[3:]
    if flags & REPAIR and not flags & HTTP_CHUNKED:
        stream = repair_crcs(stream)
    max_headers, max_payload = LIMITS[(flags >> 1) & 3]
    cap = CHUNK_CAPS[(flags >> 3) & 7]
    if cap == 0:
        chunks = [stream] if stream else []
    else:
        chunks = []
        pos = 0
        sizes = _sizes(seed, cap)
        while pos < len(stream):
            size = next(sizes)
            chunks.append(stream[pos : pos + size])
            pos += size
    return FuzzInput(stream, max_headers, max_payload, chunks, bool(flags & HTTP_CHUNKED))
