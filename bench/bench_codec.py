"""Codec speed, side by side with botocore and binascii in one run.

    python bench/bench_codec.py [--repeat N] [--quick]

Every round runs every competitor once, in a rotating order, and the ratios
are computed within each round; the report gives the median ratio over rounds
with its min-max. Shared, noisy machines move absolute times around; ratios
taken this way move much less.
"""

from __future__ import annotations

import argparse
import binascii
import gc
import platform
import random
import statistics
import sys
import time

import fastsmr
from fastsmr.codec import _codec_py as _pure
from fastsmr.cli.bench import _codecs, _inputs

try:
    from fastsmr.codec import _codec_c as _speedups
except ImportError:
    _speedups = None

token_messages = _inputs.token_messages
botocore_decode = _codecs._botocore_buffer
decoder_of = _codecs._fastsmr_decoder
QUICK = False  # set by --quick: inputs too small to judge targets by


chunk = _inputs.chunked


def retaining(module):
    """Decode and keep every message until the end, as one big feed() must."""

    def run(chunks) -> int:
        decoder = module.Decoder()
        kept = []
        for piece in chunks:
            kept += decoder.feed(piece)
        decoder.close()
        return len(kept)

    return run


def crc_of(function):
    def run(chunks) -> int:
        crc = 0
        for piece in chunks:
            crc = function(piece, crc)
        return crc

    return run


def measure(competitors: dict, data, rounds: int, inner: int = 1, data_for=None) -> dict:
    """Seconds per call of each competitor, one list entry per round.

    Each competitor gets ``data``, or its own entry of ``data_for``.
    """
    times = {name: [] for name in competitors}
    names = list(competitors)
    inputs = {name: (data_for or {}).get(name, data) for name in names}
    for name in names:  # warm-up
        competitors[name](inputs[name])
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            # One untimed call first, as pyperf warms up each run: caches and
            # the allocator's free lists then hold what this competitor uses,
            # not what the previous one left.
            competitors[name](inputs[name])
            gc.collect()
            start = time.perf_counter()
            for _ in range(inner):
                competitors[name](inputs[name])
            times[name].append((time.perf_counter() - start) / inner)
    return times


def ratio_summary(times: dict, fast: str, slow: str) -> tuple:
    ratios = [s / f for s, f in zip(times[slow], times[fast])]
    return statistics.median(ratios), min(ratios), max(ratios)


def verdict(met: bool) -> str:
    """Whether this run's median meets a target; a --quick run is too small to judge."""
    if QUICK:
        return "not judged (--quick)"
    return f"{'met' if met else 'not met'} in this run"


def show_ratio(label: str, times: dict, fast: str, slow: str, target: float | None) -> None:
    med, low, high = ratio_summary(times, fast, slow)
    verdict_ = "" if target is None else f"  target >= {target:g}x: {verdict(med >= target)}"
    print(f"  {label:<44} {med:7.2f}x  (min {low:.2f}, max {high:.2f}){verdict_}")


def show_times(times: dict, unit_count: int, unit: str) -> None:
    for name, values in times.items():
        med = statistics.median(values)
        print(f"    {name:<16} {med / unit_count * 1e9:10.0f} ns/{unit}  ({unit_count / med:,.0f} {unit}s/s)")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds per case (default 7)")
    parser.add_argument("--quick", action="store_true", help="3 rounds, skip botocore's quadratic case")
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else args.repeat
    global QUICK
    QUICK = args.quick

    print(f"fastsmr {fastsmr.__version__} on Python {platform.python_version()} ({platform.machine()}),"
          f" {platform.processor() or platform.platform()}")
    if _speedups is None:
        print("the C extension is not built: only the pure-Python backend is measured")
    else:
        print(f"CRC-32 implementation: {_speedups._crc32_impl()} (available: {', '.join(_speedups._crc32_impls())})")
    backends = {"fastsmr c": decoder_of(_speedups)} if _speedups else {}
    backends["fastsmr python"] = decoder_of(_pure)

    messages = token_messages(20_000)
    stream = b"".join(messages)
    for label, chunks in (("64 KiB chunks", chunk(stream, 65536)), ("one message per chunk", messages)):
        print(f"\n1. 20,000 PayloadPart messages (150-300 B), {label}")
        times = measure({"botocore": botocore_decode, **backends}, chunks, rounds)
        show_times(times, 20_000, "message")
        if _speedups:
            show_ratio(f"c vs botocore, {label}", times, "fastsmr c", "botocore", 40)
        show_ratio(f"python vs botocore, {label}", times, "fastsmr python", "botocore", 3)

    print("\n2. one 13 MB chunk holding 40,000 such messages, against the same stream in 64 KiB chunks")
    # One feed() returns all 40,000 messages at once, so they are alive
    # together; the 64 KiB run keeps its results too, so that the two differ
    # only in how the bytes are chunked (the scan cost the target is about)
    # and not in how many objects the allocator holds at once.
    big = b"".join(token_messages(40_000, seed=2))
    for name, module in (("fastsmr c", _speedups), ("fastsmr python", _pure)):
        if module is None:
            continue
        times = measure(
            {"64 KiB chunks": retaining(module), "one 13 MB chunk": retaining(module)},
            None, rounds, data_for={"64 KiB chunks": chunk(big, 65536), "one 13 MB chunk": [big]},
        )
        show_times(times, 40_000, "message")
        med, low, high = ratio_summary(times, "64 KiB chunks", "one 13 MB chunk")
        print(f"  {name}: per-message cost in one 13 MB chunk {med:.2f}x the 64 KiB chunks"
              f" (min {low:.2f}, max {high:.2f})  target <= 1.5x: {verdict(med <= 1.5)}")
    if not args.quick:
        start = time.perf_counter()
        botocore_decode([big])
        elapsed = time.perf_counter() - start
        print(f"    botocore         {elapsed / 40_000 * 1e9:10.0f} ns/message in one 13 MB chunk"
              " (one run: it is quadratic here)")

    print("\n3. a 16 MiB payload arriving in 64 KiB chunks")
    payload = random.Random(3).randbytes(16 * 1024 * 1024 - 64)
    chunks = chunk(fastsmr.encode({":event-type": "Chunk"}, payload), 65536)
    size = sum(map(len, chunks))
    crc_name, fastest = _codecs.fastest_crc()
    competitors = {"binascii.crc32": crc_of(binascii.crc32), f"{crc_name} (fastest CRC-32)": crc_of(fastest),
                   "memcpy": _codecs._copy_floor(size), **backends}
    if not args.quick:
        competitors["botocore"] = botocore_decode
    times = measure(competitors, chunks, rounds)
    for name, values in times.items():
        print(f"    {name:<34} {size / statistics.median(values) / 1e9:8.2f} GB/s")
    if _speedups:
        show_ratio("c vs binascii.crc32 throughput", times, "fastsmr c", "binascii.crc32", 3.5)
        show_ratio(f"c vs {crc_name}", times, "fastsmr c", f"{crc_name} (fastest CRC-32)", None)
        # The copy is the floor: the target is c's time at most 1.5x the copy's.
        med, low, high = ratio_summary(times, "memcpy", "fastsmr c")
        verdict = "meets" if med <= 1.5 else "MISSES"
        print(f"  {'c time over memcpy time':<44} {med:7.2f}x  (min {low:.2f}, max {high:.2f})  {verdict} target <= 1.5x")
    show_ratio("python vs binascii.crc32 throughput", times, "fastsmr python", "binascii.crc32", 0.8)

    print("\n4. CRC-32 of 1 MiB")
    data = random.Random(4).randbytes(1 << 20)
    crcs = {"binascii.crc32": binascii.crc32, "fastsmr.crc32": fastsmr.crc32}
    times = measure({k: (lambda f: lambda d: f(d))(f) for k, f in crcs.items()}, data, rounds, inner=50)
    for name, values in times.items():
        print(f"    {name:<16} {len(data) / statistics.median(values) / 1e9:8.2f} GB/s")
    show_ratio(f"fastsmr.crc32 ({fastsmr.BACKEND}) vs binascii.crc32", times,
                              "fastsmr.crc32", "binascii.crc32", 5 if fastsmr.BACKEND == "c" else None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
