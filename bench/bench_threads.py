"""Two threads decoding large messages against one thread doing the same work.

    python bench/bench_threads.py [--rounds N] [--megabytes M]

The C backend releases the GIL while it checksums (and, for a message that
arrives in pieces, copies) 64 KiB or more, so two threads decoding separate
streams of large messages can run on two cores at once. Each round times one
thread decoding two streams back to back and two threads decoding one each,
in alternating order; the report is the median of the per-round ratios (one
thread's time over two threads'), so above 1.0 means the threads overlapped.
The pure backend is run too: zlib.crc32 also drops the GIL for large
buffers, so it shows what Python alone manages.
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from typing import Callable, List

import fastsmr
from fastsmr.codec import _codec_py as _pure

try:
    from fastsmr.codec import _codec_c as _speedups
except ImportError:
    _speedups = None


def make_stream(megabytes: int, message_kib: int = 1024) -> bytes:
    payload = bytes(range(256)) * (message_kib * 4)
    one = fastsmr.encode({":event-type": "Chunk", ":message-type": "event"}, payload)
    return one * max(1, megabytes * 1024 // message_kib)


def decode(module, stream: bytes, chunk: int) -> int:
    decoder = module.Decoder()
    count = 0
    view = memoryview(stream)
    for start in range(0, len(stream), chunk):
        count += len(decoder.feed(view[start : start + chunk]))
    decoder.close()
    return count


def one_thread(work: Callable[[], int]) -> float:
    start = time.perf_counter()
    work()
    work()
    return time.perf_counter() - start


def two_threads(work: Callable[[], int]) -> float:
    barrier = threading.Barrier(3)

    def run() -> None:
        barrier.wait()
        work()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    start = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def measure(module, stream: bytes, chunk: int, rounds: int) -> List[float]:
    def work() -> int:
        return decode(module, stream, chunk)

    work()  # warm up
    ratios = []
    for i in range(rounds):
        if i % 2:
            two = two_threads(work)
            one = one_thread(work)
        else:
            one = one_thread(work)
            two = two_threads(work)
        ratios.append(one / two)
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--megabytes", type=int, default=256, help="size of each thread's stream")
    args = parser.parse_args()
    stream = make_stream(args.megabytes)
    print(f"each thread decodes {len(stream) / 2**20:.0f} MiB of 1 MiB messages; {args.rounds} rounds")
    print(f"{'backend':8} {'feeding':22} {'1 thread / 2 threads (median, min-max)':>40}")
    backends = [m for m in (_speedups, _pure) if m is not None]
    for module in backends:
        for label, chunk in (("whole stream at once", len(stream)), ("256 KiB reads", 256 * 1024)):
            ratios = measure(module, stream, chunk, args.rounds)
            print(
                f"{module.BACKEND:8} {label:22} {statistics.median(ratios):>20.2f}x"
                f"  ({min(ratios):.2f}-{max(ratios):.2f})"
            )


if __name__ == "__main__":
    main()
