"""Large payloads, whole and assembled across many reads: same results, errors and limits (both backends).

The C backend copies a payload of 64 KiB or more into its ``bytes`` and
checksums it in the same pass, without the GIL, whether the message came in
one chunk or in many; from 1 MiB on it writes the copy around the cache. The
sizes below sit on both sides of those two thresholds, and the reads start at
every offset modulo 64 of the payload and of the caller's buffer, which is
what decides how the copy's vector stores line up.
"""

from __future__ import annotations

import random
import struct
import threading
import zlib
from typing import List, Optional, Tuple

import pytest

import fastsmr

KIB = 1024
MIB = 1024 * KIB
HEADERS = {":event-type": "Chunk", ":message-type": "event"}
# Either side of the 64 KiB (buffered without the GIL) and 1 MiB (streaming
# stores) thresholds, and one payload that is no multiple of any vector width.
SIZES = [64 * KIB - 1, 64 * KIB, 64 * KIB + 1, 200_003, MIB - 1, MIB, MIB + 77]


def message(size: int, seed: int) -> Tuple[bytes, bytes]:
    payload = random.Random(seed).randbytes(size)
    return fastsmr.encode({**HEADERS, "n": seed}, payload), payload


def feed_in_reads(backend, stream, sizes, **limits) -> Tuple[list, List[int]]:
    """Feed memoryview slices of ``stream`` cut at the running sums of ``sizes`` (the rest last);
    return the messages and ``buffered`` after each read."""
    view = memoryview(stream)
    decoder = backend.Decoder(**limits)
    messages, buffered = [], []
    start = 0
    for size in [*sizes, len(stream)]:
        end = min(start + size, len(stream))
        messages += decoder.feed(view[start:end])
        buffered.append(decoder.buffered)
        start = end
        if start == len(stream):
            break
    decoder.close()
    return messages, buffered


@pytest.mark.parametrize("size", SIZES)
def test_whole_large_messages_among_small_ones(backend, size):
    small_before, _ = message(10, 1)
    large, payload = message(size, 2)
    small_after, _ = message(300, 3)
    stream = small_before + large + small_after
    for data in (stream, bytearray(stream), memoryview(b"." * 13 + stream)[13:]):
        messages = backend.decode(data)
        assert [m.headers["n"] for m in messages] == [1, 2, 3]
        assert type(messages[1].payload) is bytes and messages[1].payload == payload
        assert messages[1].headers == {**HEADERS, "n": 2}
        assert messages[1].crc == struct.unpack("!I", large[-4:])[0]
        assert messages[1].total_length == len(large)


@pytest.mark.parametrize("size", [200_003, MIB + 77])
def test_payload_assembled_across_many_reads_at_every_alignment(backend, size):
    wire, payload = message(size, 4)
    head = len(wire) - size - 4  # prelude and headers
    stream = fastsmr.encode({"n": 0}, b"lead") + wire
    start_of_payload = len(stream) - size - 4
    for shift in range(64):
        # The first read ends `shift` bytes into the payload; the next ones
        # are of an odd size, so each starts at another offset modulo 64 of
        # the payload and of the stream.
        step = 65_536 + 4 * shift + 1 if size > MIB else 4_096 + 8 * shift + 3
        first = start_of_payload + shift
        messages, buffered = feed_in_reads(backend, stream, [first] + [step] * (size // step + 2))
        assert [m.headers["n"] for m in messages] == [0, 4], shift
        assert messages[1].payload == payload, shift
        # Until the message is complete, every byte fed so far is held for it.
        assert buffered[0] == head + shift
        assert buffered[1] == head + shift + step
        assert buffered[-1] == 0


def test_many_large_messages_in_reads_that_straddle_them(backend):
    wires, payloads = zip(*(message(size, seed) for seed, size in enumerate([70_000, 1, 90_001, 0, 1_100_000, 65_536])))
    stream = b"".join(wires)
    for step in (12, 4_099, 65_536, 262_144, 1_000_003):
        if backend.BACKEND == "python" and step < 4_096:
            continue  # the same code path as 4,099 bytes, a thousand times slower in Python
        messages, _ = feed_in_reads(backend, stream, [step] * (len(stream) // step + 1))
        assert [m.payload for m in messages] == list(payloads), step


def _corrupted(wire: bytes, at: int) -> bytes:
    bad = bytearray(wire)
    bad[at] ^= 0x20
    return bytes(bad)


@pytest.mark.parametrize("where", ["payload start", "payload middle", "payload end", "message crc", "headers"])
@pytest.mark.parametrize("size", [70_000, MIB + 77])
def test_a_checksum_mismatch_names_the_same_message_whole_and_in_reads(backend, size, where):
    good = fastsmr.encode({"n": 1}, b"a" * 100) + message(80_000, 2)[0]
    wire, _ = message(size, 3)
    payload_start = len(wire) - size - 4
    at = {
        "payload start": payload_start, "payload middle": payload_start + size // 2,
        "payload end": len(wire) - 5, "message crc": len(wire) - 1, "headers": 20,
    }[where]
    bad = _corrupted(wire, at)
    stream = good + bad + fastsmr.encode({"n": 4})
    expected = struct.unpack("!I", bad[-4:])[0]
    computed = zlib.crc32(bad[:-4])
    for reads in ([len(stream)], [len(good) + 1000] + [65_537] * 40):
        decoder = backend.Decoder()
        view = memoryview(stream)
        messages: list = []
        error: Optional[fastsmr.ChecksumMismatch] = None
        start = 0
        for size_of_read in reads:
            try:
                messages += decoder.feed(view[start : start + size_of_read])
            except fastsmr.ChecksumMismatch as exc:
                error = exc
                break
            start += size_of_read
        else:
            with pytest.raises(fastsmr.ChecksumMismatch) as info:
                decoder.close()
            error = info.value
        assert [m.headers["n"] for m in messages] == [1, 2]
        assert error is not None
        assert (error.part, error.offset, error.expected, error.computed) == ("message", len(good), expected, computed)
        with pytest.raises(fastsmr.ChecksumMismatch) as again:  # the decoder stays failed
            decoder.feed(b"")
        assert again.value.offset == len(good)


@pytest.mark.parametrize("size", [64 * KIB, MIB + 77])
def test_the_payload_limit_holds_whole_and_in_reads(backend, size):
    lead = fastsmr.encode({"n": 0}, b"x")
    wire, payload = message(size, 5)
    stream = lead + wire
    assert backend.decode(stream, max_payload_length=size)[1].payload == payload
    messages, _ = feed_in_reads(backend, stream, [len(lead) + 12] + [50_001] * 30, max_payload_length=size)
    assert messages[1].payload == payload
    # One byte under: rejected from the prelude alone, before a payload byte is read.
    for data in (stream, stream[: len(lead) + 12]):
        decoder = backend.Decoder(max_payload_length=size - 1)
        with pytest.raises(fastsmr.InvalidPayloadLength) as info:
            decoder.feed(data)
            decoder.close()
        assert (info.value.length, info.value.maximum, info.value.offset) == (size, size - 1, len(lead))


def test_the_headers_limit_holds_for_large_payloads(backend):
    wire, payload = message(MIB, 6)
    headers_length = struct.unpack("!I", wire[4:8])[0]
    (m,) = backend.decode(wire, max_headers_length=headers_length)
    assert m.payload == payload
    with pytest.raises(fastsmr.InvalidHeadersLength) as info:
        backend.decode(wire, max_headers_length=headers_length - 1)
    assert (info.value.length, info.value.maximum, info.value.offset) == (headers_length, headers_length - 1, 0)


def test_truncated_large_message_reports_the_bytes_left(backend):
    wire, _ = message(MIB + 77, 7)
    for cut in (12, 12 + 5, len(wire) - 4, len(wire) - 1):
        with pytest.raises(fastsmr.TruncatedStreamError) as info:
            backend.decode(wire[:cut])
        assert (info.value.remaining, info.value.offset) == (cut, 0)


def test_events_mapping_hands_back_large_payloads(backend):
    wire, payload = message(MIB + 77, 8)
    decoder = backend.Decoder()
    assert decoder.feed(wire, {"Chunk": None}) == [payload]
    assert decoder.feed(wire, {"Chunk": "Bytes"}) == [{"Chunk": {"Bytes": payload}}]


def test_threads_decoding_large_messages_each_get_their_own(backend):
    """Two threads at once (the C backend copies without the GIL), whole and in reads."""
    wires = [message(MIB + 77 * i, 10 + i) for i in range(2)]
    errors: List[BaseException] = []
    barrier = threading.Barrier(2)

    def work(i: int) -> None:
        wire, payload = wires[i]
        try:
            barrier.wait()
            for round_ in range(6):
                if round_ % 2:
                    messages = backend.decode(wire)
                else:
                    messages, _ = feed_in_reads(backend, wire, [262_144] * 8)
                assert [(m.headers["n"], m.payload) for m in messages] == [(10 + i, payload)]
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors
