"""Hostile volume: up to 10 million 16-byte empty messages.

    python bench/bench_hostile.py [--max-millions N] [--skip-pure]

An empty message is the smallest a peer can send, so it is the most messages
per byte it can make a decoder handle. For 1, 2, 5 and 10 million messages
fed in 64 KiB reads (the results of each read dropped, as a consumer would),
this prints the time per message, which stays flat when decoding is linear,
and the growth of the process's peak resident set, which stays near zero when
memory is constant. botocore, fed the same way, is timed at the smallest size
for comparison; fed one large buffer it is quadratic, which the last table
shows at sizes it can finish.
"""

from __future__ import annotations

import argparse
import resource
import time

import fastsmr
from fastsmr.codec import _codec_py as _pure

try:
    from fastsmr.codec import _codec_c as _speedups
except ImportError:
    _speedups = None

EMPTY = fastsmr.encode({})
READ = 64 * 1024
PER_READ = READ // len(EMPTY)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def fastsmr_chunked(module, count: int) -> int:
    decoder = module.Decoder()
    chunk = EMPTY * PER_READ
    seen = 0
    for _ in range(count // PER_READ):
        seen += len(decoder.feed(chunk))
    seen += len(decoder.feed(EMPTY * (count % PER_READ)))
    decoder.close()
    return seen


def botocore_chunked(count: int, chunk_bytes: int = READ) -> int:
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    chunk = EMPTY * (chunk_bytes // len(EMPTY))
    seen = 0
    for _ in range(count * len(EMPTY) // chunk_bytes):
        buffer.add_data(chunk)
        for _message in buffer:
            seen += 1
    return seen


def timed(fn, *args) -> tuple:
    rss = peak_rss_mib()
    start = time.perf_counter()
    seen = fn(*args)
    return seen, time.perf_counter() - start, peak_rss_mib() - rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-millions", type=int, default=10)
    parser.add_argument("--skip-pure", action="store_true")
    args = parser.parse_args()
    sizes = [n * 1_000_000 for n in (1, 2, 5, 10) if n <= args.max_millions]
    backends = [m for m in (_speedups, None if args.skip_pure else _pure) if m is not None]

    print(f"{'decoder':10} {'messages':>12} {'seconds':>9} {'ns/message':>11} {'peak RSS growth':>16}")
    for module in backends:
        fastsmr_chunked(module, PER_READ * 50)  # warm up
        for count in sizes:
            seen, seconds, grew = timed(fastsmr_chunked, module, count)
            assert seen == count
            print(f"{module.BACKEND:10} {seen:>12,} {seconds:>9.2f} {seconds / seen * 1e9:>11.0f} {grew:>13.1f} MiB")
    seen, seconds, grew = timed(botocore_chunked, sizes[0])
    print(f"{'botocore':10} {seen:>12,} {seconds:>9.2f} {seconds / seen * 1e9:>11.0f} {grew:>13.1f} MiB")

    print("\none buffer holding every message, fed at once (time per message)")
    print(f"{'messages':>10} " + " ".join(f"{m.BACKEND:>10}" for m in backends) + f" {'botocore':>10}")
    for count in (10_000, 20_000, 40_000):
        row = []
        for module in backends:
            start = time.perf_counter()
            assert len(module.decode(EMPTY * count)) == count
            row.append((time.perf_counter() - start) / count * 1e9)
        seconds = timed(botocore_chunked, count, count * len(EMPTY))[1]
        row.append(seconds / count * 1e9)
        print(f"{count:>10,} " + " ".join(f"{ns:>8.0f}ns" for ns in row))


if __name__ == "__main__":
    main()
