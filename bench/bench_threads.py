"""Two threads decoding large messages against one thread doing the same work.

    python bench/bench_threads.py [--rounds N] [--message-mib M] [--per-thread K] [--quick]

The threads case of ``fastsmr bench`` (``fastsmr bench --case threads``) with
its sizes as options: each thread decodes its own K messages of M MiB, whole
(``decode``) and in 256 KiB reads (``Decoder.feed``), in each backend. The C
backend copies and checksums a large payload without the GIL, so two threads
can use two cores at once; the pure backend is run too (zlib.crc32 also drops
the GIL for large buffers), to show what Python alone manages. Each round
times every row, in an order that rotates; a ratio is one thread's time over
two threads' in the same round (2.0: perfect overlap), summarised as median
and min-max over the rounds.
"""

from __future__ import annotations

import argparse
import os

from fastsmr.cli.bench import _report, _threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--message-mib", type=int, default=8, help="payload size of each message (default 8)")
    parser.add_argument("--per-thread", type=int, default=4, help="messages each thread decodes (default 4)")
    parser.add_argument("--quick", action="store_true", help="2 messages of 1 MiB per thread")
    args = parser.parse_args()
    table = _threads.threads_table(quick=args.quick, rounds=args.rounds, message_mib=args.message_mib,
                                   per_thread=args.per_thread)
    for line in _report.text_lines(_report.table_json(table)):
        print(line)
    if hasattr(os, "getloadavg"):  # another busy process takes the second core
        print("load average at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))


if __name__ == "__main__":
    main()
