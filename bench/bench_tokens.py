"""Token helpers against the buffering code they replace, side by side in one run.

    python bench/bench_tokens.py [--tokens N] [--repeat R]

Each comparison runs fastsmr and the baseline alternately, R times, and
reports the median time per unit of each and the median of the per-round
ratios (these machines are shared and noisy; alternating keeps both sides
under the same load). The baselines are written here from the patterns they
stand for:

* ``LineIterator``: the buffering class of AWS's SageMaker streaming
  examples. Every part is appended to one ``io.BytesIO``; every line is read
  by seeking to the last read position and calling ``readline``. It is given
  plain bytes parts (the examples also unwrap ``PayloadPart`` dicts), so it
  is measured without that extra work.
* ``LineIterator + json.loads``: what those examples do next, per line, to
  print a TGI token.

Inputs are synthetic TGI and OpenAI-compatible streams with one part per
token (the usual SageMaker shape), and single parts holding many lines.
The end-to-end row calls the local endpoint (fastsmr.testing) with boto3 and
counts this thread's CPU time only (the endpoint runs in another thread).
"""

from __future__ import annotations

import argparse
import io
import json
import platform
import statistics
import time
from typing import Callable, Iterable, Iterator, List

import fastsmr
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
    for line in LineIterator(parts):
        if line.startswith(b"data:"):
            token = json.loads(line[5:])["token"]
            if not token["special"]:
                yield token["text"]


WORDS = ["The", " quick", " brown", " fox", " jumps", " over", " the", " lazy", " dog", ".", " Ünï", "cödé", " 数据", " 🚀"]


def tgi_parts(n: int) -> List[bytes]:
    parts = []
    for i in range(n):
        event = {
            "index": i + 1,
            "token": {"id": 1000 + i, "text": WORDS[i % len(WORDS)], "logprob": -0.25, "special": False},
            "generated_text": None,
            "details": None,
        }
        parts.append(b"data:" + json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n")
    return parts


def openai_parts(n: int) -> List[bytes]:
    parts = []
    for i in range(n):
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1700000000,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": WORDS[i % len(WORDS)]}, "logprobs": None, "finish_reason": None}],
        }
        parts.append(b"data: " + json.dumps(chunk, ensure_ascii=False).encode() + b"\n\n")
    return parts + [b"data: [DONE]\n\n"]


def consume(iterable: Iterable) -> int:
    n = 0
    for _ in iterable:
        n += 1
    return n


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def compare(label: str, ours: Callable[[], object], theirs: Callable[[], object], units: int, unit: str, repeat: int) -> None:
    our_times, their_times, ratios = [], [], []
    for _ in range(repeat):
        a, b = timed(ours), timed(theirs)
        our_times.append(a)
        their_times.append(b)
        ratios.append(b / a)
    print(
        f"  {label:<44} fastsmr {statistics.median(our_times) / units * 1e9:7.0f} ns/{unit}"
        f"   baseline {statistics.median(their_times) / units * 1e9:7.0f} ns/{unit}"
        f"   {statistics.median(ratios):5.1f}x"
    )


def alone(label: str, fn: Callable[[], object], units: int, unit: str, repeat: int) -> None:
    times = [timed(fn) for _ in range(repeat)]
    print(f"  {label:<44} fastsmr {statistics.median(times) / units * 1e9:7.0f} ns/{unit}")


def end_to_end(n: int, repeat: int) -> None:
    """Client CPU per token (this thread's CPU time; the endpoint runs in another
    thread) for a real boto3 call to the local endpoint, one part per token."""
    from fastsmr.testing import StreamingEndpoint, generate_text

    def stock(client) -> str:
        response = client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b"{}", CustomAttributes=attrs)
        parts = (event["PayloadPart"]["Bytes"] for event in response["Body"] if "PayloadPart" in event)
        return "".join(baseline_tgi_text(parts))

    def ours(client) -> str:
        response = client.invoke_endpoint_with_response_stream(EndpointName="tgi", Body=b"{}", CustomAttributes=attrs)
        return "".join(fastsmr.text_stream(fastsmr.payload_parts(response["Body"])))

    attrs = f"fastsmr-tokens={n}"
    with StreamingEndpoint() as endpoint:
        client = endpoint.client()
        assert stock(client) == ours(client) == generate_text(n)
        our_times, their_times, ratios = [], [], []
        for _ in range(repeat):
            start = time.thread_time()
            ours(client)
            middle = time.thread_time()
            stock(client)
            a, b = middle - start, time.thread_time() - middle
            our_times.append(a)
            their_times.append(b)
            ratios.append(b / a)
    print(
        f"  {'text_stream(payload_parts(body)) vs boto3':<44} fastsmr {statistics.median(our_times) / n * 1e9:7.0f} ns/token"
        f"   baseline {statistics.median(their_times) / n * 1e9:7.0f} ns/token   {statistics.median(ratios):5.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    n, repeat = args.tokens, args.repeat
    lines_path = "C (backend iter_lines)" if hasattr(_impl, "iter_lines") else "pure Python"
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}) on {platform.machine()}; "
        f"backend {fastsmr.BACKEND}; lines in {lines_path}; {n} tokens; medians of {repeat} alternating rounds"
    )

    tgi = tgi_parts(n)
    assert list(fastsmr.lines(tgi)) == list(LineIterator(tgi))
    print("\nlines, one part per token (TGI stream)")
    compare("lines() vs LineIterator", lambda: consume(fastsmr.lines(tgi)), lambda: consume(LineIterator(tgi)),
            n, "token", repeat)

    print("\nlines, one part holding many lines (cost per line should not grow)")
    for count in (1_000, 10_000, 100_000):
        blob = [b"".join(tgi_parts(count))]
        compare(f"{count:>7} TGI events in one part", lambda: consume(fastsmr.lines(blob)),
                lambda: consume(LineIterator(blob)), 2 * count, "line", max(3, repeat // 3))

    print("\ntext_stream vs LineIterator + json.loads per line (TGI, one part per token)")
    expected = list(baseline_tgi_text(tgi))
    parsers = {"stdlib json": _text._std_loads}
    if _text._fast_loads is not None:
        parsers["orjson"] = _text._fast_loads
    saved = _text._loads
    try:
        for name, loads in parsers.items():
            _text._loads = loads
            assert list(fastsmr.text_stream(tgi)) == expected
            compare(f"text_stream, {name}", lambda: consume(fastsmr.text_stream(tgi)),
                    lambda: consume(baseline_tgi_text(tgi)), n, "token", repeat)
    finally:
        _text._loads = saved

    print(f"\nend to end: client CPU per token, boto3 to the local endpoint (TGI, {n // 4} tokens)")
    print("  (baseline: stock botocore event stream + LineIterator + json.loads per line)")
    end_to_end(n // 4, max(3, repeat // 3))

    print("\nfor reference")
    openai = openai_parts(n)
    alone("text_stream, OpenAI chat chunks", lambda: consume(fastsmr.text_stream(openai)), n, "token", repeat)
    alone("sse_events, TGI", lambda: consume(fastsmr.sse_events(tgi)), n, "event", repeat)


if __name__ == "__main__":
    main()
