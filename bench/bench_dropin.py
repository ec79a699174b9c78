"""The boto3 drop-in against stock botocore, side by side in one run.

    python bench/bench_dropin.py [--rounds N] [--messages N] [--quick]

What a user's loop costs: iterating ``response["Body"]`` (a botocore
``EventStream``) over chunks already in memory, so that only decoding and
event building are measured, not the network.

* SageMaker ``InvokeEndpointWithResponseStream``: 20,000 ``PayloadPart``
  messages with 150-300 byte payloads, delivered one message per chunk (as
  tokens arrive from a live endpoint) and in 64 KiB chunks. Stock iteration
  against ``fastsmr.install()`` and against ``fastsmr.payload_parts()``, and
  the decoder alone (no events built: the floor for both).
* The same SageMaker stream as a real urllib3 response whose chunked HTTP
  body (one message per HTTP chunk, as a model server sends tokens) is
  already in memory: stock botocore reads it through urllib3's chunk parser,
  fastsmr through its own (the way both read a live connection).
* Bedrock ``ConverseStream``: JSON events (``contentBlockDelta`` with a token
  each, framed by the start, stop and metadata events), stock against
  installed.

Each round runs every variant once, in a rotating order, and computes the
ratios within the round; the report gives the median over rounds with its
min-max, per fastsmr backend available. Times are CPU time of this process.
"""

from __future__ import annotations

import argparse
import gc
import http.client
import io
import json
import platform
import random
import statistics
import sys
import time
from typing import Any, Callable, Dict, List

import botocore
import botocore.session
import urllib3
from botocore.eventstream import EventStream
from botocore.parsers import create_parser

import fastsmr
from fastsmr.codec import _codec_py as _pure

try:
    from fastsmr.codec import _codec_c as _speedups
except ImportError:
    _speedups = None

BACKENDS = {"c": _speedups, "python": _pure}
# The C backend's targets (median speedup over stock botocore); the pure
# backend has none here. Each run says whether its own medians meet them.
TARGETS = {"installed": 30.0, "payload_parts": 50.0, "converse installed": 5.0}


class _InMemory:
    """What http.client reads a response from: a socket's ``makefile``, here over bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> Any:
        return io.BufferedReader(io.BytesIO(self._data))


def http_response(body: bytes) -> Any:
    """A urllib3 response (what botocore's ``raw_stream`` is) with this chunked body in memory."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\nTransfer-Encoding: chunked\r\n\r\n"
    original = http.client.HTTPResponse(_InMemory(head + body), method="POST")  # type: ignore[arg-type]
    original.begin()
    return urllib3.HTTPResponse(body=original, headers=dict(original.msg.items()), status=original.status,
                                preload_content=False, decode_content=False, original_response=original)


def http_chunked(messages: List[bytes]) -> bytes:
    """The messages as a chunked HTTP body, one message per chunk."""
    return b"".join(b"%x\r\n%s\r\n" % (len(m), m) for m in messages) + b"0\r\n\r\n"


class Body:
    """What EventStream reads: ``stream()`` yielding the pre-buffered chunks."""

    def __init__(self, chunks: List[bytes]) -> None:
        self._chunks = chunks

    def stream(self):
        return iter(self._chunks)

    def close(self) -> None:
        pass


def stream_shape(service: str, operation: str) -> Any:
    model = botocore.session.get_session().get_service_model(service)
    shape = model.operation_model(operation).get_event_stream_output()
    return shape, create_parser(model.protocol)._event_stream_parser


def sagemaker_messages(count: int, seed: int = 1) -> List[bytes]:
    rng = random.Random(seed)
    headers = {":event-type": "PayloadPart", ":content-type": "application/octet-stream", ":message-type": "event"}
    return [fastsmr.encode(headers, bytes(rng.getrandbits(8) for _ in range(rng.randint(150, 300))))
            for _ in range(count)]


def converse_messages(count: int, seed: int = 1) -> List[bytes]:
    rng = random.Random(seed)
    words = "the of and to in is was for on that with as by at from model stream".split()

    def event(kind: str, body: Any) -> bytes:
        headers = {":event-type": kind, ":content-type": "application/json", ":message-type": "event"}
        return fastsmr.encode(headers, json.dumps(body, separators=(",", ":")).encode())

    out = [event("messageStart", {"p": "abcd", "role": "assistant"})]
    for _ in range(count - 4):
        out.append(event("contentBlockDelta", {
            "contentBlockIndex": 0, "delta": {"text": " " + rng.choice(words)}, "p": "abcdefghijkl",
        }))
    out += [event("contentBlockStop", {"contentBlockIndex": 0, "p": "abc"}),
            event("messageStop", {"p": "abcdef", "stopReason": "end_turn"}),
            event("metadata", {"metrics": {"latencyMs": 812}, "p": "ab",
                               "usage": {"inputTokens": 12, "outputTokens": count - 4, "totalTokens": count + 8}})]
    return out


def chunked(messages: List[bytes], size: int) -> List[bytes]:
    if size == 0:
        return messages
    data = b"".join(messages)
    return [data[i : i + size] for i in range(0, len(data), size)]


def iterate(shape: Any, parser: Any, body: Callable[[], Any]) -> Callable[[], int]:
    def run() -> int:
        count = 0
        for _ in EventStream(body(), shape, parser, "Bench"):
            count += 1
        return count

    return run


def parts(shape: Any, parser: Any, body: Callable[[], Any]) -> Callable[[], int]:
    def run() -> int:
        count = 0
        for _ in fastsmr.payload_parts(EventStream(body(), shape, parser, "Bench")):
            count += 1
        return count

    return run


def decode_only(chunks: List[bytes]) -> Callable[[], int]:
    """The floor: fastsmr's decoder alone over the same chunks, no events built."""

    def run() -> int:
        decoder = fastsmr.codec.backend.impl.Decoder()
        count = 0
        for piece in chunks:
            count += len(decoder.feed(piece))
        decoder.close()
        return count

    return run


def cpu_time(run: Callable[[], int], expected: int) -> float:
    gc.collect()
    start = time.process_time()
    count = run()
    elapsed = time.process_time() - start
    if count != expected:
        raise AssertionError(f"counted {count} messages, expected {expected}")
    return elapsed


def variants(backend: str, count: int) -> Dict[str, Dict[str, Any]]:
    """name -> {"run", "messages", "installed": bool, "baseline": name of the stock variant}."""
    sagemaker = stream_shape("sagemaker-runtime", "InvokeEndpointWithResponseStream")
    converse = stream_shape("bedrock-runtime", "ConverseStream")
    tokens = sagemaker_messages(count)
    events = converse_messages(count)
    found: Dict[str, Dict[str, Any]] = {}
    wire = http_chunked(tokens)
    bodies = {
        "per-message chunks": lambda chunks=chunked(tokens, 0): Body(chunks),
        "64 KiB chunks": lambda chunks=chunked(tokens, 65536): Body(chunks),
        "HTTP body in memory": lambda: http_response(wire),
    }
    for label, body in bodies.items():
        found[f"stock [{label}]"] = {"run": iterate(*sagemaker, body), "stock": True}
        found[f"installed [{label}]"] = {"run": iterate(*sagemaker, body), "baseline": f"stock [{label}]",
                                         "target": "installed"}
        found[f"payload_parts [{label}]"] = {"run": parts(*sagemaker, body), "baseline": f"stock [{label}]",
                                             "target": "payload_parts"}
        if label != "HTTP body in memory":
            found[f"decoder alone [{label}]"] = {"run": decode_only(body()._chunks), "baseline": f"stock [{label}]"}
    converse_body = lambda chunks=chunked(events, 0): Body(chunks)  # noqa: E731
    found["converse stock"] = {"run": iterate(*converse, converse_body), "stock": True}
    found["converse installed"] = {"run": iterate(*converse, converse_body), "baseline": "converse stock",
                                   "target": "converse installed"}
    return found


def measure(backend_name: str, module: Any, rounds: int, count: int, judge: bool = True) -> List[str]:
    fastsmr.codec.backend.impl = module  # the drop-in looks the backend up here at each stream start
    table = variants(backend_name, count)
    times: Dict[str, List[float]] = {name: [] for name in table}
    ratios: Dict[str, List[float]] = {name: [] for name, spec in table.items() if "baseline" in spec}
    names = list(table)
    for index in range(rounds):
        order = names[index % len(names):] + names[: index % len(names)]
        this_round = {}
        for name in order:
            spec = table[name]
            if spec.get("stock"):
                fastsmr.uninstall()
                this_round[name] = cpu_time(spec["run"], count)
            else:
                fastsmr.install()
                try:
                    this_round[name] = cpu_time(spec["run"], count)
                finally:
                    fastsmr.uninstall()
        for name, elapsed in this_round.items():
            times[name].append(elapsed)
        for name in ratios:
            ratios[name].append(this_round[table[name]["baseline"]] / this_round[name])
    lines = [f"backend {backend_name}: median CPU per message, and speedup over stock (median [min-max] of {rounds} rounds)"]
    for name in names:
        per_message = statistics.median(times[name]) / count * 1e6
        row = f"  {name:34s} {per_message:8.2f} us  {count / statistics.median(times[name]):12,.0f} msg/s"
        if name in ratios:
            values = ratios[name]
            row += f"  {statistics.median(values):6.1f}x [{min(values):.1f}-{max(values):.1f}]"
            if judge and backend_name == "c" and "target" in table[name]:
                target = TARGETS[table[name]["target"]]
                verdict = "met" if statistics.median(values) >= target else "not met"
                row += f"  target >= {target:.0f}x: {verdict} in this run"
        lines.append(row)
    return lines


def main(argv: Any = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 2,000 messages")
    options = parser.parse_args(argv)
    if options.quick:
        options.rounds, options.messages = 3, 2_000
    print(f"Python {platform.python_version()} ({platform.machine()}), botocore {botocore.__version__}, "
          f"fastsmr {fastsmr.__version__}; {options.messages:,} messages, {options.rounds} rounds")
    if fastsmr.is_installed():
        sys.exit("fastsmr is installed in this process already: nothing would be stock")
    for name, module in BACKENDS.items():
        if module is None:
            print(f"backend {name}: not built, skipped")
            continue
        print("\n".join(measure(name, module, options.rounds, options.messages, judge=not options.quick)))
    print("Targets are the C backend's, judged on a full run (not --quick); the python backend is shown for "
          "comparison. fastsmr bench measures the same cases, and its run is the one the README quotes.")


if __name__ == "__main__":
    main()
