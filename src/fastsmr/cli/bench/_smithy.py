"""End-to-end cases of the new AWS SDK for Python: smithy-python clients, stock and with fastsmr.

* ``smithy-bidirectional`` — ``aws-sdk-sagemaker-runtime-http2``'s
  ``invoke_endpoint_with_bidirectional_stream`` over awscrt (HTTP/2, TLS)
  against ``fastsmr serve --bidirectional`` in a child process. Each stream
  sends one request and receives the ``tgi`` endpoint's answer of N tokens:
  N + 2 ``PayloadPart`` events (TGI's end-of-sequence part, then the empty
  ``COMPLETE`` part).
* ``smithy-converse`` — ``aws-sdk-bedrock-runtime``'s ``converse_stream`` over
  aiohttp (HTTP/1.1) against ``fastsmr serve``'s ConverseStream route in a
  child process: N ``contentBlockDelta`` events and five others.

Clients, each reading every event as a user would (``async for``):

* ``stock smithy`` — the generated client as shipped;
* ``fastsmr.install()`` — the same client with fastsmr installed;
* ``fastsmr.smithy.plugin`` — a client made with ``plugins=[fastsmr.smithy.plugin]``.

The servers run in other processes, so this process's CPU time
(``time.process_time()``: user plus system time of every thread, awscrt's
event-loop thread included) is the client's alone.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any, Awaitable, Callable, Dict, List, Sequence, Tuple

import fastsmr

from ._measure import Entry, Pair, Table, rotation

__all__ = ["NAMES", "BidirectionalServer", "bidirectional_tables", "converse_tables"]

NAMES = ("stock smithy", "fastsmr.install()", "fastsmr.smithy.plugin")
_REQUIREMENTS = {
    "smithy-bidirectional": ("aws_sdk_sagemaker_runtime_http2", "awscrt", "h2", "trustme"),
    "smithy-converse": ("aws_sdk_bedrock_runtime",),
}


class BidirectionalServer:
    """``fastsmr serve --bidirectional`` in a child process, started on first use."""

    def __init__(self) -> None:
        self._process: Any = None
        self.url = ""
        self.ca_pem = b""

    def start(self) -> Tuple[str, bytes]:
        if self._process is None:
            from ..demo import ServerProcess

            process = ServerProcess(args=["--bidirectional"])
            process.__enter__()
            self._process, self.url = process, process.url
            with open(process.ca_bundle, "rb") as f:
                self.ca_pem = f.read()
        return self.url, self.ca_pem

    def close(self) -> None:
        if self._process is not None:
            self._process.__exit__(None, None, None)
            self._process = None


def _missing(case: str) -> str:
    import importlib.util

    absent = [name for name in _REQUIREMENTS[case] if importlib.util.find_spec(name) is None]
    if not absent:
        return ""
    if sys.version_info < (3, 12):
        return "the new AWS SDK for Python needs Python >= 3.12"
    return f"{', '.join(absent)} not installed (pip install 'fastsmr[smithy]')"


def _plan(levels: Sequence[int], quick: bool) -> List[Tuple[int, int]]:
    budget = {1: 2_000, 16: 200} if quick else {1: 20_000, 16: 2_000}
    return [(n, budget.get(n, max(20, (2_000 if quick else 20_000) // n))) for n in levels]


def _prepare(name: str) -> None:
    if name == "fastsmr.install()":
        if not fastsmr.install():
            raise RuntimeError("fastsmr.install() refused this smithy-python (see the warning)")
    else:
        fastsmr.uninstall()


def _table(case: str, title: str, entries: List[Entry], streams: int, tokens: int, events: int, rounds: int,
           headline: bool, notes: List[str]) -> Table:
    stock, install, plugin = NAMES
    pairs = [Pair(install, stock, "cpu_per_event", headline=headline), Pair(plugin, stock, "cpu_per_event"),
             Pair(install, stock, "events_per_s")]
    params = {"streams": streams, "tokens_per_stream": tokens, "events_per_stream": events}
    metrics = ["cpu_per_event", "events_per_s", "cpu_percent", "wall_seconds"]
    return Table(case, title, "event", streams * events, 0, metrics, entries, pairs, notes, rounds, params)


def _tables(
    case: str,
    client_label: str,
    levels: Sequence[int],
    quick: bool,
    rounds: int,
    make_clients: Callable[[], Awaitable[Dict[str, Any]]],
    one_stream: Callable[[Any, int], Awaitable[int]],
    events_for: Callable[[int], int],
    notes: List[str],
) -> List[Table]:
    plan = _plan(levels, quick)
    levels_entries = [(n, t, [Entry(name, "baseline" if name.startswith("stock") else "fastsmr") for name in NAMES])
                      for n, t in plan]
    missing = _missing(case)
    if missing:
        for _, _, entries in levels_entries:
            for entry in entries:
                entry.status, entry.reason = "skipped", missing

    async def main() -> None:
        clients = await make_clients()
        try:
            async def run(name: str, streams: int, tokens: int) -> Tuple[float, float, int]:
                _prepare(name)
                client = clients[name]
                cpu, start = time.process_time(), time.perf_counter()
                counts = await asyncio.gather(*(one_stream(client, tokens) for _ in range(streams)))
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                expected = events_for(tokens)
                if list(counts) != [expected] * streams:
                    raise AssertionError(f"{name}: received {sorted(set(counts))} events per stream, expected {expected}")
                return wall, cpu, streams * expected

            for name in NAMES:  # warm-up: imports, connections, the first stream's setup
                try:
                    await run(name, max(levels), 20)
                except Exception as error:
                    for _, _, entries in levels_entries:
                        next(e for e in entries if e.name == name).fail(error)
            for r in range(rounds):
                for streams, tokens, entries in levels_entries:
                    for entry in rotation(entries, r):
                        try:
                            wall, cpu, events = await run(entry.name, streams, tokens)
                        except Exception as error:
                            entry.fail(error)
                            continue
                        entry.record("wall_seconds", wall)
                        entry.record("cpu_per_event", cpu / events)
                        entry.record("events_per_s", events / wall)
                        entry.record("cpu_percent", 100.0 * cpu / wall)
        finally:
            for client in {id(c): c for c in clients.values()}.values():
                await client.close()

    if not missing:
        try:
            asyncio.run(main())
        except Exception as error:  # the endpoint or the SDK failed before any round
            for _, _, entries in levels_entries:
                for entry in entries:
                    if entry.status == "ok":
                        entry.fail(error)
        finally:
            fastsmr.uninstall()
    return [
        _table(case, f"{client_label}, {n} {'stream' if n == 1 else 'concurrent streams'} of {t:,} tokens, unpaced",
               entries, n, t, events_for(t), rounds, n == min(levels), notes)
        for n, t, entries in levels_entries
    ]


def bidirectional_tables(server: BidirectionalServer, *, levels: Sequence[int], quick: bool, rounds: int) -> List[Table]:
    """SageMaker Runtime HTTP/2's bidirectional stream, stock smithy against fastsmr."""

    async def make_clients() -> Dict[str, Any]:
        import fastsmr.smithy
        from ...testing.sdk import sagemaker_http2_client

        url, ca_pem = server.start()
        stock = await sagemaker_http2_client(url, ca_pem)
        plugin = await sagemaker_http2_client(url, ca_pem, plugins=[fastsmr.smithy.plugin])
        return {NAMES[0]: stock, NAMES[1]: stock, NAMES[2]: plugin}

    async def one_stream(client: Any, tokens: int) -> int:
        from aws_sdk_sagemaker_runtime_http2 import models

        stream = await client.invoke_endpoint_with_bidirectional_stream(
            models.InvokeEndpointWithBidirectionalStreamInput(endpoint_name="tgi")
        )
        body = b'{"inputs": "Hi", "parameters": {"max_new_tokens": %d}}' % tokens
        await stream.input_stream.send(models.RequestStreamEventPayloadPart(models.RequestPayloadPart(bytes_=body)))
        await stream.input_stream.close()
        _, receiver = await stream.await_output()
        count = 0
        async for event in receiver:
            event.value.bytes_
            count += 1
        return count

    notes = ["Client CPU per event = this process's CPU time (user + system, every thread) / events received; "
             "the endpoint runs in another process. Requests are signed (SigV4 events) and encoded as usual."]
    return _tables("smithy-bidirectional", "aws-sdk-sagemaker-runtime-http2 over awscrt (HTTP/2)", levels, quick,
                   rounds, make_clients, one_stream, lambda tokens: tokens + 2, notes)


def converse_tables(url_of: Callable[[], str], *, levels: Sequence[int], quick: bool, rounds: int) -> List[Table]:
    """Bedrock Runtime's converse_stream on the new SDK, stock smithy against fastsmr."""

    async def make_clients() -> Dict[str, Any]:
        import fastsmr.smithy
        from ...testing.sdk import bedrock_client

        url = url_of()
        stock = await bedrock_client(url)
        plugin = await bedrock_client(url, plugins=[fastsmr.smithy.plugin])
        return {NAMES[0]: stock, NAMES[1]: stock, NAMES[2]: plugin}

    async def one_stream(client: Any, tokens: int) -> int:
        from aws_sdk_bedrock_runtime import models

        stream = await client.converse_stream(models.ConverseStreamInput(
            model_id="fastsmr.bench-model",
            messages=[models.Message(role="user", content=[models.ContentBlockText("Hi")])],
            inference_config=models.InferenceConfiguration(max_tokens=tokens),
        ))
        count = 0
        async for _ in stream.output_stream:
            count += 1
        return count

    notes = ["Client CPU per event as above; events are Bedrock's JSON events (a contentBlockDelta per token), "
             "read over aiohttp, the SDK's default HTTP client."]
    return _tables("smithy-converse", "aws-sdk-bedrock-runtime converse_stream over aiohttp (HTTP/1.1)", levels,
                   quick, rounds, make_clients, one_stream, lambda tokens: tokens + 4, notes)
