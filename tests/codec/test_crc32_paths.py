"""Every CRC-32 implementation the CPU can run agrees with zlib (C backend)."""

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


def test_unknown_or_unavailable_path_is_refused(c_backend):
    with pytest.raises(ValueError):
        c_backend._crc32_using("nope", b"")
    missing = {"table", "pclmul", "vpclmul", "armv8"} - set(c_backend._crc32_impls())
    for name in missing:
        with pytest.raises(ValueError, match="not available"):
            c_backend._set_crc32_impl(name)


def test_decoder_through_each_forced_path(c_backend, impls):
    rng = random.Random(7)
    wires = [fastsmr.encode({"i": i}, rng.randbytes(rng.randrange(0, 5000))) for i in range(40)]
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
            corrupt = bytearray(stream)
            corrupt[len(stream) // 2] ^= 0x40
            with pytest.raises(fastsmr.ChecksumMismatch):
                c_backend.decode(bytes(corrupt))
    finally:
        c_backend._set_crc32_impl(active)
