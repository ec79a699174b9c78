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

Each size is measured once (not in rounds): what matters is how the cost
grows with the count. The inputs, decoders and timing are ``fastsmr bench``'s
(``fastsmr.cli.bench``).
"""

from __future__ import annotations

import argparse
from types import ModuleType
from typing import List

from fastsmr.cli.bench import _codecs
from fastsmr.cli.bench._inputs import empty_message_reads
from fastsmr.cli.bench._measure import once
from fastsmr.codec import _codec_py as _pure


def backends(skip_pure: bool) -> List[ModuleType]:
    c = _codecs._c_backend()
    return [m for m in (c, None if skip_pure else _pure) if m is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-millions", type=int, default=10)
    parser.add_argument("--skip-pure", action="store_true")
    args = parser.parse_args()
    sizes = [n * 1_000_000 for n in (1, 2, 5, 10) if n <= args.max_millions]
    modules = backends(args.skip_pure)

    print(f"{'decoder':10} {'messages':>12} {'seconds':>9} {'ns/message':>11} {'peak RSS growth':>16}")
    for module in modules:
        decode = _codecs._fastsmr_decoder(module)
        decode(empty_message_reads(200_000))  # warm up
        for count in sizes:
            seen, seconds, grew = once(decode, empty_message_reads(count))
            assert seen == count
            print(f"{module.BACKEND:10} {seen:>12,} {seconds:>9.2f} {seconds / seen * 1e9:>11.0f} {grew:>13.1f} MiB")
    seen, seconds, grew = once(_codecs._botocore_buffer, empty_message_reads(sizes[0]))
    print(f"{'botocore':10} {seen:>12,} {seconds:>9.2f} {seconds / seen * 1e9:>11.0f} {grew:>13.1f} MiB")

    print("\none buffer holding every message, fed at once (time per message)")
    print(f"{'messages':>10} " + " ".join(f"{m.BACKEND:>10}" for m in modules) + f" {'botocore':>10}")
    for count in (10_000, 20_000, 40_000):
        whole = [b"".join(empty_message_reads(count))]
        row = []
        for run in [_codecs._fastsmr_decoder(m) for m in modules] + [_codecs._botocore_buffer]:
            seen, seconds, _ = once(run, whole)
            assert seen == count
            row.append(seconds / count * 1e9)
        print(f"{count:>10,} " + " ".join(f"{ns:>8.0f}ns" for ns in row))


if __name__ == "__main__":
    main()
