"""Token helpers against the buffering code they replace, side by side in one run.

    python bench/bench_tokens.py [--tokens N] [--repeat R]

Each table runs fastsmr and the baseline in R interleaved rounds, as
``fastsmr bench`` does (its inputs, measuring and report: ``fastsmr.cli.bench``),
and gives the median time per unit of each and the median of the per-round
ratios. The baselines stand for the patterns users write today:

* ``LineIterator``: the buffering class of AWS's SageMaker streaming
  examples. Every part is appended to one ``io.BytesIO``; every line is read
  by seeking to the last read position and calling ``readline``. It is given
  plain bytes parts (the examples also unwrap ``PayloadPart`` dicts), so it
  is measured without that extra work.
* ``LineIterator + json.loads``: what those examples do next, per line, to
  print a TGI token (``fastsmr bench``'s line-parsing baseline).

Inputs are synthetic TGI and OpenAI-compatible streams with one part per
token (the usual SageMaker shape), and single parts holding many lines.
The end-to-end table is ``fastsmr bench``'s ``e2e-sync`` case at one stream:
client CPU of a real boto3 call to the local endpoint in another process.
"""

from __future__ import annotations

import argparse
import io
import platform
from typing import Any, Callable, Iterable, Iterator, List

import fastsmr
from fastsmr.cli.bench import _clients, _report
from fastsmr.cli.bench._inputs import openai_parts, tgi_parts
from fastsmr.cli.bench._measure import Entry, Pair, Table, time_rounds
from fastsmr.codec.backend import impl as _impl
from fastsmr.tokens import text as _text


class LineIterator:
    """The BytesIO-seeking line buffer of the AWS examples, rebuilt from its description."""

    def __init__(self, parts: Iterable[bytes]) -> None:
        self.parts = iter(parts)
        self.buffer = io.BytesIO()
        self.read_pos = 0

    def __iter__(self) -> "LineIterator":
        return self

    def __next__(self) -> bytes:
        while True:
            self.buffer.seek(self.read_pos)
            line = self.buffer.readline()
            if line and line[-1] == ord("\n"):
                self.read_pos += len(line)
                return line[:-1]
            try:
                part = next(self.parts)
            except StopIteration:
                if self.read_pos < self.buffer.getbuffer().nbytes:
                    continue
                raise
            self.buffer.seek(0, io.SEEK_END)
            self.buffer.write(part)


def baseline_tgi_text(parts: Iterable[bytes]) -> Iterator[str]:
    """LineIterator + json.loads per line, as the examples print TGI tokens."""
    texts = _clients.LineTexts()
    for part in parts:
        yield from texts.feed(part)


def count(iterable: Iterable[Any]) -> int:
    n = 0
    for _ in iterable:
        n += 1
    return n


def table(case: str, title: str, unit: str, units: int, entries: List[Entry], data: Any, rounds: int,
          expected: int) -> Table:
    """Time ``entries`` on ``data`` in interleaved rounds; every one of them against the last (the baseline)."""

    def check(entry: Entry, result: Any) -> None:
        if result != expected:
            raise AssertionError(f"{entry.name}: {result} items, expected {expected}")

    time_rounds(entries, data, rounds, check=check)
    baseline = entries[-1].name if entries[-1].role == "baseline" else None
    pairs = [Pair(e.name, baseline, "seconds") for e in entries if baseline and e.role == "fastsmr"]
    return Table(case, title, unit, units, sum(map(len, data)), ["seconds"], entries, pairs, [], rounds)


def with_loads(loads: Callable[[Any], Any]) -> Callable[[], None]:
    def prepare() -> None:
        _text._loads = loads

    return prepare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15, help="rounds per table (default 15)")
    args = parser.parse_args()
    n, rounds = args.tokens, args.repeat
    lines_path = "C (backend iter_lines)" if hasattr(_impl, "iter_lines") else "pure Python"
    print(f"python {platform.python_version()} ({platform.python_implementation()}) on {platform.machine()}; "
          f"backend {fastsmr.BACKEND}; lines in {lines_path}; {n} tokens; medians of {rounds} interleaved rounds")

    tgi = tgi_parts(n)
    assert list(fastsmr.lines(tgi)) == list(LineIterator(tgi))
    tables = [table("lines", "lines, one part per token (TGI stream)", "token", n, [
        Entry("fastsmr.lines", "fastsmr", run=lambda parts: count(fastsmr.lines(parts))),
        Entry("LineIterator", "baseline", run=lambda parts: count(LineIterator(parts))),
    ], tgi, rounds, 2 * n)]
    for events in (1_000, 10_000, 100_000):
        blob = [b"".join(tgi_parts(events))]
        tables.append(table("lines", f"lines, {events:,} TGI events in one part (cost per line should not grow)",
                            "line", 2 * events, [
                                Entry("fastsmr.lines", "fastsmr", run=lambda parts: count(fastsmr.lines(parts))),
                                Entry("LineIterator", "baseline", run=lambda parts: count(LineIterator(parts))),
                            ], blob, max(3, rounds // 3), 2 * events))

    expected = list(baseline_tgi_text(tgi))
    text_entries = [Entry("fastsmr.text_stream, stdlib json", "fastsmr", prepare=with_loads(_text._std_loads),
                          run=lambda parts: count(fastsmr.text_stream(parts)))]
    if _text._fast_loads is not None:
        text_entries.append(Entry("fastsmr.text_stream, orjson", "fastsmr", prepare=with_loads(_text._fast_loads),
                                  run=lambda parts: count(fastsmr.text_stream(parts))))
    text_entries.append(Entry("LineIterator + json.loads", "baseline",
                              run=lambda parts: count(baseline_tgi_text(parts))))
    saved = _text._loads
    try:
        tables.append(table("text", "text_stream vs LineIterator + json.loads per line (TGI, one part per token)",
                            "token", n, text_entries, tgi, rounds, len(expected)))
    finally:
        _text._loads = saved

    openai = openai_parts(n)
    tables.append(table("text", "for reference: text_stream, OpenAI chat chunks", "token", n, [
        Entry("fastsmr.text_stream", "fastsmr", run=lambda parts: count(fastsmr.text_stream(parts))),
    ], openai, rounds, n))
    tables.append(table("sse", "for reference: sse_events, TGI", "event", n, [
        Entry("fastsmr.sse_events", "fastsmr", run=lambda parts: count(fastsmr.sse_events(parts)))], tgi, rounds, n))

    server = _clients.Server()
    try:
        tables += _clients.sync_tables(server, levels=[1], quick=False, rounds=max(3, rounds // 3))
    finally:
        server.close()
    for t in tables:
        for line in _report.text_lines(_report.table_json(t)):
            print(line)


if __name__ == "__main__":
    main()
