"""End-to-end cases: real boto3 and aiobotocore clients against the local endpoint.

The endpoint runs in a child process (``fastsmr serve``), so the CPU time this
process uses — ``time.process_time()``, user plus system time from the OS, all
threads — is the client's alone. Every stream asks the ``tgi`` endpoint for the
same Text Generation Inference output (one PayloadPart per token, ~200-byte
messages); N streams run at once (threads for boto3, tasks for aiobotocore),
unpaced (as fast as server and client go). The paced cases, where the figure
that matters is the client's CPU % at a fixed token rate, are
:mod:`fastsmr.cli.bench._paced`'s.

Readers, each the way a user would write it:

* stock: ``for event in body: event["PayloadPart"]["Bytes"]`` with botocore stock;
* ``fastsmr.install()``: the same loop with the drop-in installed;
* ``fastsmr.payload_parts(body)`` (``fastsmr.aio.payload_parts``);
* stock + line parsing: the stock loop feeding the AWS examples' line buffer
  (an ``io.BytesIO`` read with ``seek``/``readline``) and ``json.loads`` per
  TGI line — the baseline for getting text;
* ``fastsmr.text_stream(fastsmr.payload_parts(body), "tgi")``.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Dict, List, Sequence, Tuple, TypedDict

import fastsmr

from ._measure import Entry, Pair, Table, rotation

__all__ = ["LineTexts", "Server", "sync_tables", "async_tables", "SYNC_NAMES", "ASYNC_NAMES"]

SYNC_NAMES = ("stock boto3", "fastsmr.install()", "fastsmr.payload_parts", "stock boto3 + line parsing", "fastsmr.text_stream")
ASYNC_NAMES = (
    "stock aiobotocore",
    "fastsmr.install() aiobotocore",
    "fastsmr.aio.payload_parts",
    "stock aiobotocore + line parsing",
    "fastsmr.aio.text_stream",
)
_TEXT_READERS = {SYNC_NAMES[3], SYNC_NAMES[4], ASYNC_NAMES[3], ASYNC_NAMES[4]}
# The concurrencies whose ratios make the headline: 1 stream (what fastsmr
# demo measures) and 16.
_HEADLINE_STREAMS = (1, 16)


class Credentials(TypedDict):
    """The keyword arguments of ``boto3.client`` and aiobotocore's ``create_client`` that
    point a client at the local endpoint (its region; credentials it does not check)."""

    region_name: str
    aws_access_key_id: str
    aws_secret_access_key: str


_CREDENTIALS: Credentials = {
    "region_name": "us-east-1", "aws_access_key_id": "fastsmr-bench", "aws_secret_access_key": "fastsmr-bench",
}


class LineTexts:
    """The baseline text decoder: the AWS SageMaker examples' line buffer plus ``json.loads``.

    Every part is appended to one ``io.BytesIO``; each line is read by seeking
    back to the last read position and calling ``readline``.

    >>> texts = LineTexts()
    >>> texts.feed(b'data:{"token": {"text": "Hi", "special": false}}\\n') + texts.feed(b"\\n")
    ['Hi']
    """

    def __init__(self) -> None:
        self.buffer = io.BytesIO()
        self.read_pos = 0

    def feed(self, part: bytes) -> List[str]:
        buffer = self.buffer
        buffer.seek(0, io.SEEK_END)
        buffer.write(part)
        out: List[str] = []
        while True:
            buffer.seek(self.read_pos)
            line = buffer.readline()
            if not line.endswith(b"\n"):
                return out
            self.read_pos += len(line)
            if line.startswith(b"data:"):
                token = json.loads(line[5:])["token"]
                if not token["special"]:
                    out.append(token["text"])


class Server:
    """The endpoint in a child process, started on first use and shared by the cases."""

    def __init__(self) -> None:
        self._process: Any = None
        self.url = ""

    def start(self) -> str:
        if self._process is None:
            from ..demo import ServerProcess

            process = ServerProcess()
            process.__enter__()
            self._process, self.url = process, process.url
        return self.url

    def close(self) -> None:
        if self._process is not None:
            self._process.__exit__(None, None, None)
            self._process = None


def _attributes(tokens: int) -> str:
    return f"fastsmr-tokens={tokens}"  # no fastsmr-rate: the endpoint sends unpaced


def _expected(name: str, tokens: int) -> int:
    # TGI ends with a special end-of-sequence event: one more part than tokens, no text.
    return tokens if name in _TEXT_READERS else tokens + 1


def _record(entry: Entry, wall: float, cpu: float, tokens: int) -> None:
    entry.record("wall_seconds", wall)
    entry.record("cpu_seconds", cpu)
    entry.record("cpu_per_token", cpu / tokens)
    entry.record("tokens_per_s", tokens / wall)
    entry.record("cpu_percent", 100.0 * cpu / wall)


def _pairs(names: Sequence[str], headline: bool) -> List[Pair]:
    stock, install, parts, line_text, text = names
    pairs = []
    for metric in ("cpu_per_token", "tokens_per_s"):
        first = headline and metric != "tokens_per_s"
        pairs += [Pair(install, stock, metric, headline=first), Pair(parts, stock, metric, headline=first),
                  Pair(text, line_text, metric, headline=first), Pair(text, stock, metric)]
    return pairs


def _table(case: str, title: str, names: Sequence[str], entries: List[Entry], streams: int, tokens: int,
           rounds: int, headline: bool, notes: List[str]) -> Table:
    metrics = ["cpu_per_token", "tokens_per_s", "cpu_percent", "wall_seconds"]
    params = {"streams": streams, "tokens_per_stream": tokens, "rate_per_stream": 0.0}  # the paced tables' key: unpaced
    return Table(case, title, "token", streams * tokens, 0, metrics, entries, _pairs(names, headline),
                 list(notes), rounds, params)


def _plan(levels: Sequence[int], quick: bool) -> List[Tuple[int, int]]:
    """(streams, tokens per stream) for each concurrency level."""
    budget = {1: 2_000, 16: 200, 128: 30} if quick else {1: 20_000, 16: 2_000, 128: 400}
    return [(n, budget.get(n, max(30, (2_000 if quick else 40_000) // n))) for n in levels]


# --- boto3 -----------------------------------------------------------------------


def _sync_readers() -> Dict[str, Tuple[Callable[[Any], int], Callable[[], Any]]]:
    """name -> (read the body, prepare botocore)."""

    def events(body: Any) -> int:
        count = 0
        for event in body:
            event["PayloadPart"]["Bytes"]
            count += 1
        return count

    def parts(body: Any) -> int:
        count = 0
        for _ in fastsmr.payload_parts(body):
            count += 1
        return count

    def line_text(body: Any) -> int:
        texts = LineTexts()
        count = 0
        for event in body:
            count += len(texts.feed(event["PayloadPart"]["Bytes"]))
        return count

    def text(body: Any) -> int:
        count = 0
        for _ in fastsmr.text_stream(fastsmr.payload_parts(body), "tgi"):
            count += 1
        return count

    return {
        SYNC_NAMES[0]: (events, fastsmr.uninstall),
        SYNC_NAMES[1]: (events, _install),
        SYNC_NAMES[2]: (parts, fastsmr.uninstall),
        SYNC_NAMES[3]: (line_text, fastsmr.uninstall),
        SYNC_NAMES[4]: (text, fastsmr.uninstall),
    }


def _install() -> None:
    if not fastsmr.install():
        raise RuntimeError("fastsmr.install() refused this botocore (see the warning)")


def _role(name: str) -> str:
    return "baseline" if name.startswith("stock") else "fastsmr"


def _not_run(case: str, client: str, names: Sequence[str], plan: List[Tuple[int, int]], rounds: int,
             status: str, reason: str) -> List[Table]:
    """Tables whose every client was skipped (not installed) or failed (no endpoint)."""
    tables = []
    for streams, tokens in plan:
        entries = [Entry(name, _role(name), status=status, reason=reason) for name in names]
        tables.append(_table(case, _title(client, streams, tokens), names, entries, streams, tokens, rounds, False, []))
    return tables


def sync_tables(server: Server, *, levels: Sequence[int], quick: bool, rounds: int) -> List[Table]:
    """boto3 end to end, one table per concurrency level."""
    plan = _plan(levels, quick)
    case = "e2e-sync"
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        return _not_run(case, "boto3", SYNC_NAMES, plan, rounds, "skipped", "boto3 is not installed")
    try:
        url = server.start()
    except (RuntimeError, OSError) as error:
        return _not_run(case, "boto3", SYNC_NAMES, plan, rounds, "failed", f"the endpoint: {error}")
    biggest = max(levels)
    client = boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=300, max_pool_connections=biggest),
        **_CREDENTIALS,
    )
    readers = _sync_readers()
    tables = []
    with ThreadPoolExecutor(biggest) as pool:

        def run(name: str, streams: int, tokens: int) -> Tuple[float, float]:
            read, prepare = readers[name]
            prepare()
            attributes = _attributes(tokens)

            def one(_: int) -> int:
                response = client.invoke_endpoint_with_response_stream(
                    EndpointName="tgi", Body=b"{}", CustomAttributes=attributes
                )
                return read(response["Body"])

            cpu, start = time.process_time(), time.perf_counter()
            counts = list(pool.map(one, range(streams)))
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            expected = _expected(name, tokens)
            if counts != [expected] * streams:
                raise AssertionError(f"{name}: read {sorted(set(counts))} items per stream, expected {expected}")
            return wall, cpu

        entries_by_level = []
        for streams, tokens in plan:
            entries = [Entry(name, _role(name)) for name in SYNC_NAMES]
            entries_by_level.append((streams, tokens, entries))
        try:
            # Warm-up: imports, the connection pool, every thread.
            for name in SYNC_NAMES:
                try:
                    run(name, biggest, min(20, plan[-1][1]))
                except Exception as error:
                    _fail(entries_by_level, name, error)
            for r in range(rounds):
                for streams, tokens, entries in entries_by_level:
                    for entry in rotation(entries, r):
                        try:
                            _record(entry, *run(entry.name, streams, tokens), streams * tokens)
                        except Exception as error:
                            entry.fail(error)
        finally:
            fastsmr.uninstall()
    for streams, tokens, entries in entries_by_level:
        tables.append(_table(case, _title("boto3", streams, tokens), SYNC_NAMES, entries, streams, tokens,
                             rounds, streams in _HEADLINE_STREAMS, _NOTES))
    return tables


def _fail(levels: List[Tuple[int, int, List[Entry]]], name: str, error: BaseException) -> None:
    """Mark ``name`` failed at every concurrency level."""
    for _, _, entries in levels:
        for entry in entries:
            if entry.name == name:
                entry.fail(error)


def _event_loop() -> Tuple[asyncio.AbstractEventLoop, str]:
    """uvloop's event loop when it is installed (the ``uvloop`` extra), asyncio's otherwise; and its name."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop(), "asyncio's event loop (pip install 'fastsmr[uvloop]' for uvloop's)"
    return uvloop.new_event_loop(), "uvloop's event loop"


def _title(client: str, streams: int, tokens: int) -> str:
    plural = "stream" if streams == 1 else "concurrent streams"
    return f"{client}, {streams} {plural} of {tokens:,} tokens, unpaced"


_NOTES = ["Unpaced: tokens/s is bounded by the endpoint (a Python server in another process) as well as "
          "the client; CPU per token is the client's alone."]


# --- aiobotocore -----------------------------------------------------------------


def _async_readers() -> Dict[str, Tuple[Callable[[Any], Awaitable[int]], Callable[[], Any]]]:
    import fastsmr.aio

    async def events(body: Any) -> int:
        count = 0
        async for event in body:
            event["PayloadPart"]["Bytes"]
            count += 1
        return count

    async def parts(body: Any) -> int:
        count = 0
        async for _ in fastsmr.aio.payload_parts(body):
            count += 1
        return count

    async def line_text(body: Any) -> int:
        texts = LineTexts()
        count = 0
        async for event in body:
            count += len(texts.feed(event["PayloadPart"]["Bytes"]))
        return count

    async def text(body: Any) -> int:
        count = 0
        async for _ in fastsmr.aio.text_stream(fastsmr.aio.payload_parts(body), "tgi"):
            count += 1
        return count

    return {
        ASYNC_NAMES[0]: (events, fastsmr.uninstall),
        ASYNC_NAMES[1]: (events, _install),
        ASYNC_NAMES[2]: (parts, fastsmr.uninstall),
        ASYNC_NAMES[3]: (line_text, fastsmr.uninstall),
        ASYNC_NAMES[4]: (text, fastsmr.uninstall),
    }


def async_tables(server: Server, *, levels: Sequence[int], quick: bool, rounds: int) -> List[Table]:
    """aiobotocore end to end, one table per concurrency level."""
    plan = _plan(levels, quick)
    case = "e2e-async"
    try:
        import aiobotocore.session
        from aiobotocore.config import AioConfig
    except ImportError:
        reason = "aiobotocore is not installed (pip install aiobotocore)"
        return _not_run(case, "aiobotocore", ASYNC_NAMES, plan, rounds, "skipped", reason)
    try:
        url = server.start()
    except (RuntimeError, OSError) as error:
        return _not_run(case, "aiobotocore", ASYNC_NAMES, plan, rounds, "failed", f"the endpoint: {error}")
    biggest = max(levels)
    readers = _async_readers()
    entries_by_level = [(n, t, [Entry(name, _role(name)) for name in ASYNC_NAMES]) for n, t in plan]

    async def main() -> None:
        config = AioConfig(retries={"total_max_attempts": 1}, read_timeout=300, max_pool_connections=biggest)
        session = aiobotocore.session.get_session()
        async with session.create_client("sagemaker-runtime", endpoint_url=url, config=config, **_CREDENTIALS) as client:

            async def run(name: str, streams: int, tokens: int) -> Tuple[float, float]:
                read, prepare = readers[name]
                prepare()
                attributes = _attributes(tokens)

                async def one() -> int:
                    response = await client.invoke_endpoint_with_response_stream(
                        EndpointName="tgi", Body=b"{}", CustomAttributes=attributes
                    )
                    return await read(response["Body"])

                cpu, start = time.process_time(), time.perf_counter()
                counts = await asyncio.gather(*(one() for _ in range(streams)))
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                expected = _expected(name, tokens)
                if list(counts) != [expected] * streams:
                    raise AssertionError(f"{name}: read {sorted(set(counts))} items per stream, expected {expected}")
                return wall, cpu

            for name in ASYNC_NAMES:  # warm-up
                try:
                    await run(name, biggest, min(20, plan[-1][1]))
                except Exception as error:
                    _fail(entries_by_level, name, error)
            for r in range(rounds):
                for streams, tokens, entries in entries_by_level:
                    for entry in rotation(entries, r):
                        try:
                            _record(entry, *await run(entry.name, streams, tokens), streams * tokens)
                        except Exception as error:
                            entry.fail(error)

    loop, loop_name = _event_loop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
        fastsmr.uninstall()
    return [
        _table(case, f"{_title('aiobotocore', n, t)}, {loop_name}", ASYNC_NAMES, entries, n, t, rounds,
               n in _HEADLINE_STREAMS, _NOTES)
        for n, t, entries in entries_by_level
    ]
