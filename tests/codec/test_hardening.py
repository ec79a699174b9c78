"""Hostile and careless use of the decoder: leaks, limits, truncation, threads.

Memory is checked two ways: tracemalloc for Python-level allocations and the
process's resident set for everything (C allocations included). tracemalloc
slows every allocation some twenty-fold, so where a test decodes a million
messages RSS watches the whole run and tracemalloc a window of it after
warm-up; a leak of one small object per message would still exceed the budget
in either. The pure backend decodes fewer messages where noted: it is about
twenty times slower, and its per-message code path is the same at any count.

The end-to-end check of truncation through boto3 (a connection reset inside a
message surfaces as botocore's ParserError) is in test_endpoint_faults.py.
"""

from __future__ import annotations

import gc
import importlib.util
import os
import struct
import subprocess
import sys
import textwrap
import threading
import tracemalloc
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, List, Optional

import pytest

import fastsmr

MB = 1024 * 1024
BUDGET = 5 * MB
FUZZ = Path(__file__).parent.parent / "fuzz"
SAGEMAKER = {":event-type": "PayloadPart", ":content-type": "application/octet-stream", ":message-type": "event"}


def _rss() -> Optional[int]:
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        return None  # AddressSanitizer's quarantine holds freed memory on purpose
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None  # not Linux: tracemalloc alone


@contextmanager
def rss_flat(budget: int = BUDGET) -> Iterator[None]:
    """The resident set grows by less than ``budget`` across the block."""
    gc.collect()
    before = _rss()
    yield
    gc.collect()
    after = _rss()
    if before is not None and after is not None:
        assert after - before < budget, f"RSS grew by {(after - before) / MB:.1f} MB"


@contextmanager
def traced_flat(budget: int = BUDGET) -> Iterator[None]:
    """Python-level allocations still alive after the block total less than ``budget``."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        yield
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < budget, f"traced memory grew by {(after - before) / MB:.1f} MB"


def traced_peak(fn) -> int:
    """Peak Python-level allocation while ``fn()`` runs, above what was live before."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def prelude(total: int, headers_length: int) -> bytes:
    head = struct.pack("!II", total, headers_length)
    return head + struct.pack("!I", zlib.crc32(head))


def sagemaker_chunk(count: int) -> bytes:
    return b"".join(fastsmr.encode(SAGEMAKER, b'{"token": %d}' % i) for i in range(count))


# ------------------------------------------------------------------ fuzz corpus


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("fuzz_codec", FUZZ / "fuzz_codec.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.c_extension
def test_fuzz_corpus_decodes_alike_in_both_backends(c_backend):
    """Every seed and every input the fuzzers kept (crashes included) replays cleanly."""
    check = _fuzz_module().check
    files = sorted(p for p in (FUZZ / "corpus").iterdir() if p.is_file())
    assert len(files) > 100
    for path in files:
        try:
            check(path.read_bytes())
        except AssertionError as exc:
            raise AssertionError(f"{path.name}: {exc}") from None


# ------------------------------------------------------------------ leaks


def test_a_million_messages_leave_memory_flat(backend):
    chunk = sagemaker_chunk(1000)
    rounds = 1000 if backend.BACKEND == "c" else 200  # pure: 200,000 messages
    decoder = backend.Decoder()
    for _ in range(20):  # warm up caches and the allocator's arenas
        decoder.feed(chunk)
    with rss_flat():
        for _ in range(rounds):
            assert len(decoder.feed(chunk)) == 1000
        with traced_flat():
            for _ in range(rounds // 10 if backend.BACKEND == "c" else 10):
                assert len(decoder.feed(chunk)) == 1000
    decoder.close()


def test_a_thousand_dropped_decoders_leave_memory_flat(backend):
    # Each holds a split message: its header buffer and its payload half-filled.
    wire = fastsmr.encode({"name": "x" * 100}, b"p" * 100_000)
    half = wire[: len(wire) // 2]

    def churn(count: int) -> None:
        for _ in range(count):
            decoder = backend.Decoder()
            assert decoder.feed(half) == []
            assert decoder.buffered == len(half)

    churn(50)
    with rss_flat(), traced_flat():
        churn(1000)


def test_ten_thousand_errors_leave_memory_flat(backend):
    bad = bytearray(fastsmr.encode(SAGEMAKER, b"payload"))
    bad[-1] ^= 1
    bad = bytes(bad)

    def fresh(count: int) -> None:
        for _ in range(count):
            with pytest.raises(fastsmr.ChecksumMismatch):
                backend.Decoder().feed(bad)

    fresh(100)
    with rss_flat(), traced_flat():
        fresh(10_000)


def test_large_payloads_that_fail_their_checksum_leave_memory_flat(backend):
    # The C backend allocates the payload's bytes before it copies and
    # checksums it, whole message or not: a mismatch must drop it.
    bad = bytearray(fastsmr.encode(SAGEMAKER, b"\x07" * (2 * MB)))
    bad[-1] ^= 1
    bad = bytes(bad)

    def fail(count: int) -> None:
        for i in range(count):
            step = 300_000 if i % 2 else len(bad)  # in reads, or whole
            decoder = backend.Decoder()
            with pytest.raises(fastsmr.ChecksumMismatch):
                for start in range(0, len(bad), step):
                    decoder.feed(bad[start : start + step])
                decoder.close()

    fail(4)
    with rss_flat(budget=8 * MB), traced_flat(budget=MB):
        fail(60)


def test_a_failed_decoder_reraising_its_error_leaves_memory_flat(backend):
    # Each re-raise used to prepend to the stored exception's traceback, so a
    # caller that kept feeding a failed decoder grew it without bound.
    decoder = backend.Decoder()
    with pytest.raises(fastsmr.InvalidMessageLength) as first:
        decoder.feed(prelude(0, 0) + b"\x00" * 4)
    with rss_flat(), traced_flat(budget=MB):
        for _ in range(10_000):
            with pytest.raises(fastsmr.InvalidMessageLength) as again:
                decoder.feed(b"more")
            assert again.value is first.value
            with pytest.raises(fastsmr.InvalidMessageLength):
                decoder.close()
    depth, tb = 0, first.value.__traceback__
    while tb is not None:
        depth, tb = depth + 1, tb.tb_next
    assert depth < 10


# ------------------------------------------------------------------ limits


@pytest.mark.parametrize(
    "total, headers_length, limits, error",
    [
        (0xFFFFFFFF, 0, {}, fastsmr.InvalidPayloadLength),  # a 4 GiB message
        (0xFFFFFFFF, 0xFFFFFFEF, {}, fastsmr.InvalidHeadersLength),
        (16 + 128 * 1024 + 1, 128 * 1024 + 1, {}, fastsmr.InvalidHeadersLength),
        (16 + 24 * MB + 1, 0, {}, fastsmr.InvalidPayloadLength),
        (16 + 1001, 0, {"max_payload_length": 1000}, fastsmr.InvalidPayloadLength),
        (16 + 65, 65, {"max_headers_length": 64}, fastsmr.InvalidHeadersLength),
        (0xFFFFFFFF, 0, {"max_payload_length": 0xFFFFFFEE}, fastsmr.InvalidPayloadLength),
    ],
)
def test_lengths_over_the_maxima_fail_from_the_prelude_with_one_chunk_allocated(
    backend, total, headers_length, limits, error
):
    chunk = prelude(total, headers_length) + b"\xab" * 65_536
    decoder = backend.Decoder(**limits)
    caught: List[BaseException] = []

    def feed() -> None:
        try:
            decoder.feed(chunk)
        except fastsmr.DecodeError as exc:
            caught.append(exc)

    peak = traced_peak(feed)
    assert len(caught) == 1 and type(caught[0]) is error and caught[0].offset == 0
    assert peak < len(chunk), f"{peak} bytes allocated for a {len(chunk)}-byte chunk"
    assert decoder.buffered <= 12


def test_the_prelude_alone_is_enough_to_reject_a_4_gib_message(backend):
    decoder = backend.Decoder()
    whole = prelude(0xFFFFFFFF, 0)
    assert decoder.feed(whole[:11]) == []
    with pytest.raises(fastsmr.InvalidPayloadLength) as info:
        decoder.feed(whole[11:])
    assert info.value.length == 0xFFFFFFFF - 16


def test_empty_messages_decode_in_constant_memory(backend):
    """Scaled down from bench/bench_hostile.py's 10 million (timings are there)."""
    empty = fastsmr.encode({})
    assert len(empty) == 16
    chunk = empty * 4096  # 64 KiB

    def run(messages: int) -> int:
        decoder = backend.Decoder()

        def go() -> None:
            for _ in range(messages // 4096):
                assert len(decoder.feed(chunk)) == 4096
            decoder.close()

        return traced_peak(go)

    small = run(12_288)
    large = run(409_600 if backend.BACKEND == "c" else 49_152)
    # The peak is one chunk's messages either way, however long the stream.
    assert large < small + 256 * 1024, (small, large)
    assert large < 4 * MB


def test_a_stream_that_never_completes_holds_one_maximum_message_then_fails(backend):
    max_headers, max_payload = 4096, 4 * MB
    total = 16 + max_headers + max_payload
    decoder = backend.Decoder(max_headers_length=max_headers, max_payload_length=max_payload)
    junk = b"\x5a" * 65_536
    failures: List[BaseException] = []

    def flood() -> None:
        assert decoder.feed(prelude(total, max_headers)) == []
        for _ in range(total // len(junk) + 2):  # bounded: the message ends within this
            try:
                decoder.feed(junk)
            except fastsmr.DecodeError as exc:
                failures.append(exc)
                return
            assert decoder.buffered <= total

    peak = traced_peak(flood)
    assert len(failures) == 1 and isinstance(failures[0], fastsmr.ChecksumMismatch)
    assert failures[0].part == "message"
    # Both backends write the pieces straight into the one buffer the message
    # will be handed out from: one maximum message, two reads and some change.
    assert peak < total + 2 * len(junk) + 256 * 1024, (peak, total)


@pytest.mark.parametrize("cut", [1, 11, 12, 13, 40, -5, -4, -1])
def test_truncation_raises_with_the_byte_count(backend, cut):
    first = fastsmr.encode(SAGEMAKER, b"first")
    last = fastsmr.encode(SAGEMAKER, b"x" * 100)
    kept = last[:cut]
    decoder = backend.Decoder()
    got = decoder.feed(first + kept)
    assert [m.payload for m in got] == [b"first"]
    with pytest.raises(fastsmr.TruncatedStreamError) as info:
        decoder.close()
    assert info.value.remaining == len(kept) and info.value.offset == len(first)
    assert f"{len(kept)} byte" in str(info.value) and "left over" in str(info.value)


def test_a_split_message_without_headers(backend):
    # Assembled without a header buffer: the C core used to hand out a NULL
    # header pointer, which reached memcmp/memcpy (UBSan in .ci/sanitize).
    wire = fastsmr.encode({}, b"p" * 1000) * 2
    decoder = backend.Decoder()
    got = []
    for start in range(0, len(wire), 300):
        got.extend(decoder.feed(wire[start : start + 300]))
    decoder.close()
    assert [(m.headers, m.payload) for m in got] == [({}, b"p" * 1000)] * 2


@pytest.mark.c_extension
def test_header_allocation_failure_poisons_the_decoder(c_backend):
    """A failed allocation of the header buffer must not leave a decoder that
    writes through it when fed again (it did: a segfault on the next feed)."""
    if "asan" in os.environ.get("LD_PRELOAD", ""):
        pytest.skip("AddressSanitizer reserves more address space than the limit allows")
    pytest.importorskip("resource")  # POSIX only
    script = textwrap.dedent(
        """
        import resource, struct, zlib
        from fastsmr.codec import _codec_c as _speedups
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
        for total, headers in ((0xFFFFFFF0, 0xFFFFFFE0), (0xFFFFFFF0, 0)):
            d = _speedups.Decoder(max_headers_length=0xFFFFFFFF, max_payload_length=0xFFFFFFFF)
            head = struct.pack("!II", total, headers)
            head += struct.pack("!I", zlib.crc32(head))
            for data in (head, b"x" * 100, b"y" * 100):
                try:
                    d.feed(data)
                except MemoryError:
                    pass
                else:
                    raise SystemExit("fed on after a MemoryError")
            try:
                d.close()
            except MemoryError:
                pass
            else:
                raise SystemExit("closed cleanly after a MemoryError")
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "ok", (done.returncode, done.stdout, done.stderr)


# ------------------------------------------------------------------ threads


def _streams(count: int) -> List[bytes]:
    streams = []
    for i in range(count):
        parts = [fastsmr.encode({**SAGEMAKER, "n": i, "k": j}, bytes([i]) * (j * 997 % 3000)) for j in range(30)]
        parts.append(fastsmr.encode({"big": True}, bytes([i]) * (70_000 + i)))  # checksummed without the GIL
        streams.append(b"".join(parts))
    return streams


def _decode_chunked(module, stream: bytes, step: int) -> List[tuple]:
    decoder = module.Decoder()
    out = []
    for start in range(0, len(stream), step):
        out.extend((m.headers, m.payload, m.crc) for m in decoder.feed(stream[start : start + step]))
    decoder.close()
    return out


def test_64_threads_decoding_their_own_streams_match_one_thread(backend):
    streams = _streams(64)
    steps = [1000 + 4093 * i for i in range(64)]
    expected = [_decode_chunked(backend, s, step) for s, step in zip(streams, steps)]
    got: List[Optional[list]] = [None] * 64
    errors: List[BaseException] = []
    barrier = threading.Barrier(64)

    def work(i: int) -> None:
        try:
            barrier.wait()
            got[i] = _decode_chunked(backend, streams[i], steps[i])
        except BaseException as exc:  # reported below, with the thread's index
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert got == expected


@pytest.mark.parametrize("call", ["feed", "close", "__init__"])
def test_a_decoder_in_use_refuses_another_thread(backend, call):
    """While one thread is inside feed() (held here in a header converter, the
    one place a Decoder runs the caller's code), a second thread's call raises
    RuntimeError at once and changes nothing; the first call completes."""
    inside, release = threading.Event(), threading.Event()

    def hold(value):
        inside.set()
        assert release.wait(30)
        return value

    decoder = backend.Decoder(header_converters={7: hold})
    wire = fastsmr.encode({"s": "held"}, b"first") + fastsmr.encode({}, b"second")
    got: List[object] = []
    first = threading.Thread(target=lambda: got.extend(decoder.feed(wire)))
    first.start()
    try:
        assert inside.wait(30)
        with pytest.raises(RuntimeError, match=rf"Decoder\.{call}\(\) was called while another thread was using "
                                               "the same Decoder; use one Decoder per stream"):
            if call == "feed":
                decoder.feed(wire)
            elif call == "close":
                decoder.close()
            else:
                decoder.__init__()
    finally:
        release.set()
        first.join(30)
    assert [(m.headers, m.payload) for m in got] == [({"s": "held"}, b"first"), ({}, b"second")]
    decoder.close()  # free again, with nothing left over


def test_a_decoder_shared_between_threads_never_corrupts(backend):
    """Eight threads feed, close and re-initialise one Decoder at once.

    Each backend lets one call in at a time and tells the others so with a
    RuntimeError (the C backend's GIL-free checksum of the large messages
    makes overlaps common); chunks refused that way, or interleaved, leave the stream out of
    order, so DecodeErrors follow, after which a thread starts the decoder
    afresh, as it does when it meets a decoder another thread closed. What
    must never happen: a crash, another kind of exception, or a message that
    is not one of the stream's own.
    """
    payloads = [bytes([n]) * size for n, size in enumerate([200_000, 10, 90_000, 0, 300_000, 5])]
    stream = b"".join(fastsmr.encode({"n": n}, p) for n, p in enumerate(payloads))
    valid = {(n, p) for n, p in enumerate(payloads)}
    decoder = backend.Decoder()
    counts = {"messages": 0, "refused": 0}
    unexpected: List[BaseException] = []
    lock = threading.Lock()

    def refused(exc: RuntimeError) -> None:
        assert "use one Decoder per stream" in str(exc), exc
        with lock:
            counts["refused"] += 1

    def restart() -> None:
        try:
            decoder.__init__()
        except RuntimeError as exc:
            refused(exc)

    def hammer(seed: int) -> None:
        step = len(stream) if seed % 2 else 30_000 + seed * 7_919
        try:
            for _ in range(40):
                try:
                    for start in range(0, len(stream), step):
                        for m in decoder.feed(stream[start : start + step]):
                            assert (m.headers.get("n"), m.payload) in valid, f"corrupt message {m!r}"
                            with lock:
                                counts["messages"] += 1
                        assert 0 <= decoder.buffered < len(stream)
                    decoder.close()
                except RuntimeError as exc:
                    refused(exc)
                except fastsmr.DecodeError:
                    restart()
                except ValueError as exc:  # fed after a close() (this thread's or another's): the stream is over
                    assert "was called after close()" in str(exc), exc
                    restart()
        except BaseException as exc:  # reported below
            unexpected.append(exc)

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads)
    assert not unexpected, unexpected
    assert counts["messages"] > 0
    # A fresh decoder on the same thread still decodes the stream exactly.
    assert [(m.headers["n"], m.payload) for m in backend.decode(stream)] == list(enumerate(payloads))


@pytest.mark.c_extension
def test_a_feed_overlapping_a_gil_free_checksum_is_refused(c_backend):
    """While one thread checksums a large message without the GIL, a call from
    another thread gets the RuntimeError instead of touching the decoder."""
    wire = fastsmr.encode({"n": 1}, b"\x01" * (8 * MB))
    decoder = c_backend.Decoder()
    for _ in range(50):  # each attempt overlaps with near certainty; bounded all the same
        done = threading.Event()
        results: List[object] = []

        def feed() -> None:
            try:
                results.append(decoder.feed(wire))  # noqa: B023 - the thread is joined within its attempt
            finally:
                done.set()  # noqa: B023 - the thread is joined within its attempt

        worker = threading.Thread(target=feed)
        worker.start()
        refusal = None
        while not done.is_set() and refusal is None:
            try:
                assert decoder.feed(b"") == []
            except RuntimeError as exc:
                refusal = exc
        worker.join()
        assert len(results) == 1 and [m.payload for m in results[0]] == [b"\x01" * (8 * MB)]
        if refusal is not None:
            assert "use one Decoder per stream" in str(refusal)
            for call in (decoder.close, decoder.__init__, lambda: decoder.feed(b"x")):
                call()  # the decoder is free again and intact (__init__ opens it again after close)
            return
    pytest.fail("no call overlapped the GIL-free checksum in 50 attempts")
