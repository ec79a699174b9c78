"""The soak case: what each stream through one long-lived client leaves behind.

A service keeps one client for life and pushes thousands of streams through
it, so whatever a stream leaves behind adds up. :func:`soak` runs ``streams``
SageMaker streams through one boto3 (or aiobotocore) client against the local
endpoint in a child process (so the server's memory is not counted), every
tenth one ending in a decode error (a corrupt message CRC while the rest of
the body is still on its way), after a warm-up that fills the caches. It
reports the growth of Python's allocations (tracemalloc), of the resident
set, of the open file descriptors and of the botocore parser objects alive
— botocore makes one parser per request, so anything that keeps them shows
up there. The bench compares stock with each way fastsmr is used;
``tests/boto/test_soak.py`` holds fastsmr to bounds with the same code.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import time
import tracemalloc
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional, Sequence

import fastsmr

from ._measure import Entry, Table

__all__ = ["WAYS", "Growth", "soak", "soak_table"]

#: The ways a stream is read: stock, and each way fastsmr comes in.
WAYS = ("stock", "install", "wrap", "payload_parts")

if TYPE_CHECKING:
    from ._clients import Credentials

_CREDENTIALS: Credentials = {
    "region_name": "us-east-1", "aws_access_key_id": "fastsmr-soak", "aws_secret_access_key": "fastsmr-soak",
}
_GOOD = "fastsmr-tokens=4"
# The corrupt message comes before the body ends: the connection is still open when it raises.
_BAD = "fastsmr-tokens=8; fastsmr-rate=1000; fastsmr-fault=bad-crc; fastsmr-fail-after=2"
ERRORS_EVERY = 10


@dataclasses.dataclass
class Growth:
    """What ``streams`` streams left behind (None where this platform cannot tell)."""

    streams: int
    errors: int
    seconds: float
    traced_bytes: Optional[int]
    rss_bytes: Optional[int]
    descriptors: Optional[int]
    #: botocore parser objects alive at the end, less those at the start
    #: (botocore makes one per request).
    parsers: int


def _rss() -> Optional[int]:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def _descriptors() -> Optional[int]:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return None


def _parsers() -> int:
    """botocore parser objects alive, after a full collection."""
    import botocore.parsers

    gc.collect()
    return sum(1 for o in gc.get_objects() if isinstance(o, botocore.parsers.ResponseParser))


def _attributes(index: int) -> str:
    return _BAD if index % ERRORS_EVERY == ERRORS_EVERY - 1 else _GOOD


def _prepare(way: str) -> None:
    if way == "install":
        if not fastsmr.install():
            raise RuntimeError("fastsmr.install() refused this botocore (see the warning)")
    else:
        fastsmr.uninstall()


def _read_sync(way: str, body: Any) -> int:
    import botocore.eventstream

    count = 0
    try:
        if way == "payload_parts":
            for _ in fastsmr.payload_parts(body):
                count += 1
        else:
            for event in fastsmr.wrap(body) if way == "wrap" else body:
                event["PayloadPart"]["Bytes"]
                count += 1
    except botocore.eventstream.ChecksumMismatch:
        return -1
    return count


async def _read_async(way: str, body: Any) -> int:
    import botocore.eventstream

    import fastsmr.aio

    count = 0
    try:
        if way == "payload_parts":
            async for _ in fastsmr.aio.payload_parts(body):
                count += 1
        else:
            async for event in fastsmr.wrap(body) if way == "wrap" else body:
                event["PayloadPart"]["Bytes"]
                count += 1
    except botocore.eventstream.ChecksumMismatch:
        return -1
    return count


def _check(way: str, index: int, count: int) -> int:
    """1 if the stream ended in the expected decode error, 0 if it read every part; raises otherwise."""
    bad = _attributes(index) == _BAD
    if count != (-1 if bad else 4):
        raise AssertionError(f"{way}: stream {index} read {count} parts (-1: a decode error)")
    return int(bad)


def soak(url: str, kind: str, ways: Sequence[str], streams: int, *, warmup: int = 200, trace: bool = True) -> Growth:
    """``streams`` streams through one ``kind`` ("boto3" or "aiobotocore") client, rotating ``ways``.

    Growth is measured from after ``warmup`` streams (caches, the connection
    pool) to the end, each end after a full garbage collection.
    """
    if kind == "boto3":
        return _soak_sync(url, ways, streams, warmup, trace)
    return asyncio.run(_soak_async(url, ways, streams, warmup, trace))


class _Meter:
    def __init__(self, trace: bool) -> None:
        self.trace = trace

    def start(self) -> None:
        self.parsers = _parsers()
        if self.trace:
            tracemalloc.start()
        self.traced = tracemalloc.get_traced_memory()[0] if self.trace else 0
        self.rss, self.fds, self.time = _rss(), _descriptors(), time.perf_counter()

    def stop(self, streams: int, errors: int) -> Growth:
        seconds = time.perf_counter() - self.time
        gc.collect()
        traced = None
        if self.trace:
            traced = tracemalloc.get_traced_memory()[0] - self.traced
            tracemalloc.stop()
        rss, fds = _rss(), _descriptors()
        return Growth(
            streams, errors, seconds, traced,
            None if rss is None or self.rss is None else rss - self.rss,
            None if fds is None or self.fds is None else fds - self.fds,
            _parsers() - self.parsers,
        )


def _soak_sync(url: str, ways: Sequence[str], streams: int, warmup: int, trace: bool) -> Growth:
    import boto3
    from botocore.config import Config

    client = boto3.client("sagemaker-runtime", endpoint_url=url,
                          config=Config(retries={"total_max_attempts": 1}, read_timeout=60), **_CREDENTIALS)

    def run(index: int) -> int:
        way = ways[index % len(ways)]
        _prepare(way)
        response = client.invoke_endpoint_with_response_stream(
            EndpointName="raw", Body=b"{}", CustomAttributes=_attributes(index))
        return _check(way, index, _read_sync(way, response["Body"]))

    meter = _Meter(trace)
    try:
        for index in range(warmup):
            run(index)
        meter.start()
        errors = sum(run(index) for index in range(streams))
        return meter.stop(streams, errors)
    finally:
        fastsmr.uninstall()
        client.close()


async def _closes_done() -> None:
    """Let the event loop run the socket closes the last stream scheduled.

    A connection closed after a decode error keeps its descriptor until the
    loop's next iteration (asyncio's transports close their socket in a
    callback, stock aiohttp's as much as fastsmr's): counted at once, it
    shows as one descriptor more or less than the steady state.
    """
    await asyncio.sleep(0)


async def _soak_async(url: str, ways: Sequence[str], streams: int, warmup: int, trace: bool) -> Growth:
    import aiobotocore.session
    from aiobotocore.config import AioConfig

    config = AioConfig(retries={"total_max_attempts": 1}, read_timeout=60)
    session = aiobotocore.session.get_session()
    meter = _Meter(trace)
    async with session.create_client("sagemaker-runtime", endpoint_url=url, config=config, **_CREDENTIALS) as client:

        async def run(index: int) -> int:
            way = ways[index % len(ways)]
            _prepare(way)
            response = await client.invoke_endpoint_with_response_stream(
                EndpointName="raw", Body=b"{}", CustomAttributes=_attributes(index))
            return _check(way, index, await _read_async(way, response["Body"]))

        try:
            for index in range(warmup):
                await run(index)
            await _closes_done()
            meter.start()
            errors = 0
            for index in range(streams):
                errors += await run(index)
            await _closes_done()
            return meter.stop(streams, errors)
        finally:
            fastsmr.uninstall()


# --- the bench table ----------------------------------------------------------------


def _names(kind: str) -> Dict[str, str]:
    stock = "stock boto3" if kind == "boto3" else "stock aiobotocore"
    suffix = "" if kind == "boto3" else " aiobotocore"
    return {"stock": stock, "install": f"fastsmr.install(){suffix}", "wrap": f"fastsmr.wrap(){suffix}",
            "payload_parts": "fastsmr.payload_parts" if kind == "boto3" else "fastsmr.aio.payload_parts"}


def soak_table(start_server: Callable[[], str], kind: str, *, streams: int, warmup: int = 200) -> Table:
    """Per stream: traced and resident bytes, descriptors; parsers kept at the end; each way in a run of its own."""
    names = _names(kind)
    entries = [Entry(names[way], "baseline" if way == "stock" else "fastsmr") for way in WAYS]
    try:
        __import__("boto3" if kind == "boto3" else "aiobotocore")
        url = start_server()
    except ImportError:
        for entry in entries:
            entry.status, entry.reason = "skipped", f"{kind} is not installed"
    except (RuntimeError, OSError) as error:
        for entry in entries:
            entry.fail(error)
    else:
        for way, entry in zip(WAYS, entries):
            try:
                growth = soak(url, kind, [way], streams, warmup=warmup)
            except Exception as error:  # a competitor's failure is reported, not fatal
                entry.fail(error)
                continue
            for metric in ("traced_bytes", "rss_bytes", "descriptors"):
                value = getattr(growth, metric)
                if value is not None:
                    entry.record(metric, value / streams)
            entry.record("parsers", growth.parsers)
            entry.extra.update(seconds=round(growth.seconds, 2), errors=growth.errors)
    notes = [
        f"{streams:,} streams through one client after a {warmup}-stream warm-up, one in {ERRORS_EVERY} ending in a "
        "decode error: growth per stream of tracemalloc's traced bytes and of the resident set, open file "
        "descriptors gained per stream, and botocore parser objects alive at the end that were not at the start "
        "(botocore makes one per request). Flat is about zero per stream, whatever the sign.",
    ]
    title = f"{kind}, one long-lived client: what each stream leaves behind ({streams:,} streams)"
    return Table("soak", title, "stream", streams, 0, ["traced_bytes", "rss_bytes", "descriptors", "parsers"],
                 entries, [], notes, 1, {"streams": streams, "errors_every": ERRORS_EVERY})
