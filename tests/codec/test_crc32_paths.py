"""Every CRC-32 implementation the CPU can run agrees with zlib (C backend).

Each implementation has a copying twin (``fsmr_crc32_copy``) that writes the
bytes it checksums to a destination, with ordinary or streaming stores; the
decoder assembles payloads through it. Both are checked through every path the
CPU has, forced one at a time, at every alignment of source and destination.
"""

from __future__ import annotations

import random
import zlib

import pytest

import fastsmr


@pytest.fixture
def impls(c_backend):
    names = c_backend._crc32_impls()
    assert "table" in names
    return names


def test_active_is_the_fastest_available(c_backend, impls):
    assert c_backend._crc32_impl() == impls[-1]


def test_every_path_every_alignment_random_lengths(c_backend, impls):
    rng = random.Random(20261121)
    data = rng.randbytes(100_000 + 64)
    lengths = list(range(0, 300)) + [rng.randrange(0, 100_001) for _ in range(640)] + [100_000]
    for name in impls:
        for align in range(64):
            for length in lengths[align::64] + [lengths[-1 - align]]:
                view = memoryview(data)[align : align + length]
                seed = rng.getrandbits(32)
                assert c_backend._crc32_using(name, view, seed) == zlib.crc32(view, seed), (
                    name, align, length,
                )


@pytest.mark.parametrize("uncached", [False, True])
def test_every_path_copies_every_alignment_random_lengths(c_backend, impls, uncached):
    rng = random.Random(20261130)
    data = rng.randbytes(100_000 + 64)
    lengths = list(range(0, 300)) + [rng.randrange(0, 100_001) for _ in range(640)] + [100_000]
    for name in impls:
        for align in range(64):
            for i, length in enumerate(lengths[align::64] + [lengths[-1 - align]]):
                source = memoryview(data)[align : align + length]
                at = (align * 7 + i * 13) % 64  # the destination's offset modulo 64, varied too
                seed = rng.getrandbits(32)
                crc, out = c_backend._crc32_copy_using(name, source, seed, uncached, at)
                assert crc == zlib.crc32(source, seed), (name, align, at, length)
                assert out[at : at + length] == source, (name, align, at, length)
                # Not a byte written outside the destination.
                assert out[:at] == b"\xa5" * at and out[at + length :] == b"\xa5" * 64, (name, align, at, length)


def test_copying_twin_refuses_what_the_checksum_refuses(c_backend):
    with pytest.raises(ValueError):
        c_backend._crc32_copy_using("nope", b"")
    with pytest.raises(ValueError):
        c_backend._crc32_copy_using("table", b"", at=-1)


def test_unknown_or_unavailable_path_is_refused(c_backend):
    with pytest.raises(ValueError):
        c_backend._crc32_using("nope", b"")
    missing = {"table", "pclmul", "vpclmul256", "vpclmul", "armv8"} - set(c_backend._crc32_impls())
    for name in missing:
        with pytest.raises(ValueError, match="not available"):
            c_backend._set_crc32_impl(name)


def test_decoder_through_each_forced_path(c_backend, impls):
    rng = random.Random(7)
    wires = [fastsmr.encode({"i": i}, rng.randbytes(rng.randrange(0, 5000))) for i in range(40)]
    # Payloads the decoder copies as it checksums, whole or in pieces, and
    # from 1 MiB on with streaming stores.
    wires[10] = fastsmr.encode({"i": 10}, rng.randbytes(70_001))
    wires[20] = fastsmr.encode({"i": 20}, rng.randbytes((1 << 20) + 33))
    stream = b"".join(wires)
    active = c_backend._crc32_impl()
    try:
        for name in impls:
            c_backend._set_crc32_impl(name)
            assert c_backend._crc32_impl() == name
            assert c_backend.crc32(stream) == zlib.crc32(stream)
            decoder = c_backend.Decoder()
            messages = []
            for start in range(0, len(stream), 777):
                messages += decoder.feed(stream[start : start + 777])
            decoder.close()
            assert [m.headers["i"] for m in messages] == list(range(40))
            assert c_backend.decode(stream) == messages
            assert [m.payload for m in messages] == [w[-4 - len(m.payload) : -4] for w, m in zip(wires, messages)]
            corrupt = bytearray(stream)
            corrupt[len(stream) // 2] ^= 0x40
            with pytest.raises(fastsmr.ChecksumMismatch):
                c_backend.decode(bytes(corrupt))
    finally:
        c_backend._set_crc32_impl(active)
