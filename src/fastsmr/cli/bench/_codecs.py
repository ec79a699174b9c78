"""Decoder cases: every decoder, and the floors, over the same bytes in one process.

Competitors (each optional; one that is not installed is reported as skipped):

* ``botocore EventStreamBuffer`` — botocore's decoder, fed chunk by chunk.
* ``botocore EventStream`` — what ``for event in response[...]`` runs: the
  buffer plus botocore's parsing of each message into an event dict, for the
  operation the bytes belong to (SageMaker, Lambda or Bedrock).
* ``smithy Event.decode`` — the new AWS SDK's decoder (smithy-aws-event-stream)
  reading an ``io.BytesIO`` of the stream: its synchronous interface, at its
  best (one buffer, no chunk handling).
* ``smithy Event.decode_async`` — the same decoder as the SDK drives it: from a
  ``smithy_core`` ``AsyncBytesReader`` over the chunks, in an event loop.
* ``fastsmr c`` / ``fastsmr python`` — ``Decoder.feed`` of each backend.
* ``fastsmr.smithy decoder`` — what the new-SDK drop-in decodes with: the
  best backend's ``Decoder`` with smithy's limits and header types
  (:mod:`fastsmr.smithy.headers`), against ``smithy Event.decode_async``.
* ``fastsmr.install() c`` / ``python`` — botocore's ``EventStream`` iterated
  with the drop-in installed; ``fastsmr.payload_parts`` — SageMaker's parts.
* Floors: the fastest CRC-32 available in the run (a decoder must checksum
  every byte) and a plain copy of every chunk into one buffer.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import io
import sys
import time
import tracemalloc
from types import ModuleType
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, cast

import fastsmr
from fastsmr.codec import _codec_py as _pure

from ._inputs import chunked, converse_messages, large_payload_message, token_messages
from ._measure import Entry, Pair, Table, cpu_rounds, rotation, time_rounds


__all__ = [
    "crc_candidates", "fastest_crc", "decoder_table", "http_body_table", "crc_table", "memory_table", "DECODER_CASES",
]

C_MISSING = "the C extension is not built or FASTSMR_NO_EXTENSIONS is set"


def _c_backend() -> Optional[ModuleType]:
    """The C backend, unless it is not built or FASTSMR_NO_EXTENSIONS turned it off."""
    if fastsmr.BACKEND != "c":
        return None
    from fastsmr.codec import _codec_c as _speedups

    return _speedups


def _c_available() -> bool:
    return _c_backend() is not None


# --- CRC-32 implementations ------------------------------------------------------


def crc_candidates() -> Tuple[List[Tuple[str, Callable[..., int]]], Dict[str, str]]:
    """The CRC-32 functions importable here, and why the others are not."""
    found: List[Tuple[str, Callable[..., int]]] = [("binascii.crc32", binascii.crc32)]
    missing: Dict[str, str] = {}
    try:
        from zlib_ng import zlib_ng

        found.append(("zlib-ng crc32", zlib_ng.crc32))
    except ImportError:
        missing["zlib-ng crc32"] = "zlib-ng is not installed (pip install zlib-ng)"
    try:
        from isal import isal_zlib

        found.append(("isal crc32", isal_zlib.crc32))
    except ImportError:
        missing["isal crc32"] = "isal is not installed (pip install isal)"
    c = _c_backend()
    if c is not None:
        found.append(("fastsmr.crc32 c", c.crc32))
    else:
        missing["fastsmr.crc32 c"] = C_MISSING
    return found, missing


@functools.lru_cache(maxsize=None)
def fastest_crc() -> Tuple[str, Callable[..., int]]:
    """The fastest CRC-32 here: best of five passes over 4 MiB each."""
    data = bytes(range(256)) * (1 << 14)
    best: Tuple[float, str, Callable[..., int]] = (float("inf"), "", binascii.crc32)
    for name, function in crc_candidates()[0]:
        for _ in range(5):
            start = time.perf_counter()
            function(data, 0)
            best = min(best, (time.perf_counter() - start, name, function), key=lambda t: t[0])
    return best[1], best[2]


# --- competitors -----------------------------------------------------------------


class _Body:
    """The raw HTTP body botocore's EventStream reads: ``stream()`` yields the chunks."""

    __slots__ = ("_chunks",)

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks

    def stream(self) -> Iterable[bytes]:
        return iter(self._chunks)

    def close(self) -> None:
        pass


@functools.lru_cache(maxsize=None)
def _event_stream_factory(service: str, operation: str, member: str) -> Callable[[Any], Any]:
    """``chunks -> EventStream`` for ``operation``'s event stream, as botocore builds it
    (``chunks`` may also be a urllib3 response, the raw stream botocore really gets)."""
    import botocore.session
    from botocore.eventstream import EventStream
    from botocore.model import StructureShape
    from botocore.parsers import create_parser

    model = botocore.session.get_session().get_service_model(service)
    op = model.operation_model(operation)
    output = op.output_shape
    assert output is not None  # an event-stream operation has an output
    shape = cast(StructureShape, output.members[member])  # an event stream is a structure
    # the response parser's parser for events (an attribute botocore-stubs leave out)
    parser = create_parser(model.metadata["protocol"])._event_stream_parser  # type: ignore[attr-defined]
    return lambda chunks: EventStream(chunks if hasattr(chunks, "stream") else _Body(chunks), shape, parser, op.name)


class _InMemory:
    """What ``http.client`` reads a response from (a socket's ``makefile``), over bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def makefile(self, mode: str) -> Any:
        return io.BufferedReader(io.BytesIO(self._data))


def _http_response(body: bytes) -> Any:
    """A urllib3 response (what botocore's ``raw_stream`` is) whose chunked ``body`` is already in memory."""
    import http.client

    import urllib3

    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\nTransfer-Encoding: chunked\r\n\r\n"
    original = http.client.HTTPResponse(_InMemory(head + body), method="POST")  # type: ignore[arg-type]
    original.begin()
    return urllib3.HTTPResponse(body=original, headers=dict(original.msg.items()), status=original.status,
                                preload_content=False, decode_content=False, original_response=original)


def _botocore_buffer(chunks: Sequence[bytes]) -> int:
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    count = 0
    for piece in chunks:
        buffer.add_data(piece)
        for _ in buffer:
            count += 1
    return count


def _fastsmr_decoder(module: Any) -> Callable[[Sequence[bytes]], int]:
    def run(chunks: Sequence[bytes]) -> int:
        decoder = module.Decoder()
        feed = decoder.feed
        count = 0
        for piece in chunks:
            count += len(feed(piece))
        decoder.close()
        return count

    return run


def _iterate(make: Callable[[Iterable[bytes]], Any]) -> Callable[[Sequence[bytes]], int]:
    def run(chunks: Sequence[bytes]) -> int:
        count = 0
        for _ in make(chunks):
            count += 1
        return count

    return run


def _crc_floor(function: Callable[..., int]) -> Callable[[Sequence[bytes]], int]:
    def run(chunks: Sequence[bytes]) -> int:
        crc = 0
        for piece in chunks:
            crc = function(piece, crc)
        return crc

    return run


def _copy_floor(total: int) -> Callable[[Sequence[bytes]], int]:
    buffer = bytearray(total)  # allocated once: the floor is the copying alone

    def run(chunks: Sequence[bytes]) -> int:
        pos = 0
        for piece in chunks:
            end = pos + len(piece)
            buffer[pos:end] = piece
            pos = end
        return pos

    return run


def _smithy_entries(skip_async: str, loops: List[asyncio.AbstractEventLoop]) -> List[Entry]:
    names = ("smithy Event.decode", "smithy Event.decode_async")
    try:
        from smithy_aws_event_stream.events import Event
        from smithy_core.aio.types import AsyncBytesReader
    except ImportError:
        reason = "smithy-aws-event-stream is not installed (pip install smithy-aws-event-stream)"
        if sys.version_info < (3, 12):
            reason = "smithy-aws-event-stream is not installed: it needs Python >= 3.12"
        return [Entry.skipped(name, "baseline", reason) for name in names]

    def sync(chunks: Sequence[bytes]) -> int:
        source = io.BytesIO(b"".join(chunks))
        decode = Event.decode
        count = 0
        while decode(source) is not None:
            count += 1
        return count

    async def pull(chunks: Sequence[bytes]) -> int:
        async def body() -> Any:
            for piece in chunks:
                yield piece

        reader = AsyncBytesReader(body())
        decode = Event.decode_async
        count = 0
        while await decode(reader) is not None:
            count += 1
        return count

    entries = [Entry(names[0], "baseline", run=sync)]
    if skip_async:
        entries.append(Entry.skipped(names[1], "baseline", skip_async))
    else:
        loop = asyncio.new_event_loop()
        loops.append(loop)
        entries.append(Entry(names[1], "baseline", run=lambda chunks: loop.run_until_complete(pull(chunks))))
    return entries


def _smithy_decoder_entry() -> Entry:
    """The new-SDK drop-in's decoding alone (needs smithy-aws-event-stream for its header types)."""
    name = "fastsmr.smithy decoder"
    try:
        from fastsmr.smithy.headers import CONVERTERS
        from smithy_aws_event_stream.events import MAX_HEADERS_LENGTH, MAX_PAYLOAD_LENGTH
    except ImportError:
        return Entry.skipped(name, "fastsmr", "smithy-aws-event-stream is not installed (Python >= 3.12)")
    module = _c_backend() or _pure

    def run(chunks: Sequence[bytes]) -> int:
        decoder = module.Decoder(
            max_payload_length=MAX_PAYLOAD_LENGTH, max_headers_length=MAX_HEADERS_LENGTH, header_converters=CONVERTERS
        )
        feed = decoder.feed
        count = 0
        for piece in chunks:
            count += len(feed(piece))
        decoder.close()
        return count

    entry = Entry(name, "fastsmr", run=run)
    entry.extra["implementation"] = module.BACKEND
    return entry


def _set_backend(module: Any, installed: bool) -> Callable[[], None]:
    def prepare() -> None:
        fastsmr.codec.backend.impl = module
        if installed:
            if not fastsmr.install():
                raise RuntimeError("fastsmr.install() refused this botocore (see the warning)")
        else:
            fastsmr.uninstall()

    return prepare


def _botocore_entries(stream: Optional[Tuple[str, str, str]], sagemaker: bool) -> List[Entry]:
    """botocore's own competitors and the drop-in's, or skipped entries without botocore."""
    names = ["botocore EventStreamBuffer"]
    if stream is not None:
        names += ["botocore EventStream", "fastsmr.install() c", "fastsmr.install() python"]
        if sagemaker:
            names.append("fastsmr.payload_parts")
    try:
        import botocore  # noqa: F401
    except ImportError:
        return [
            Entry.skipped(n, "baseline" if n.startswith("botocore") else "fastsmr", "botocore is not installed")
            for n in names
        ]
    default = fastsmr.codec.backend.impl
    # Under install() botocore's EventStreamBuffer() builds fastsmr's: the baseline uninstalls first.
    entries = [Entry(names[0], "baseline", run=_botocore_buffer, prepare=fastsmr.uninstall)]
    if stream is None:
        return entries
    make = _event_stream_factory(*stream)
    entries.append(Entry("botocore EventStream", "baseline", run=_iterate(make), prepare=fastsmr.uninstall))
    c = _c_backend()
    if c is not None:
        entries.append(Entry("fastsmr.install() c", "fastsmr", run=_iterate(make), prepare=_set_backend(c, True)))
    else:
        entries.append(Entry.skipped("fastsmr.install() c", "fastsmr", C_MISSING))
    entries.append(Entry("fastsmr.install() python", "fastsmr", run=_iterate(make), prepare=_set_backend(_pure, True)))
    if sagemaker:
        parts = _iterate(lambda chunks: fastsmr.payload_parts(make(chunks)))
        entries.append(Entry("fastsmr.payload_parts", "fastsmr", run=parts, prepare=_set_backend(default, False)))
    return entries


#: The decoder cases and what each feeds the decoders.
DECODER_CASES: Dict[str, str] = {
    "tokens-64k": "token stream (150-300 B PayloadParts) in 64 KiB chunks",
    "tokens-per-message": "token stream (150-300 B PayloadParts), one message per chunk",
    "big-chunk": "one chunk holding every message of a token stream",
    "large-payload": "one large payload (Lambda PayloadChunk) in 64 KiB chunks",
    "converse": "Bedrock ConverseStream JSON events, one message per chunk",
}

_STREAMS = {
    "tokens-64k": ("sagemaker-runtime", "InvokeEndpointWithResponseStream", "Body"),
    "tokens-per-message": ("sagemaker-runtime", "InvokeEndpointWithResponseStream", "Body"),
    "big-chunk": ("sagemaker-runtime", "InvokeEndpointWithResponseStream", "Body"),
    "large-payload": ("lambda", "InvokeWithResponseStream", "EventStream"),
    "converse": ("bedrock-runtime", "ConverseStream", "stream"),
}


def _case_input(case: str, quick: bool) -> Tuple[List[bytes], int, str, str]:
    """(chunks, messages, unit, title) of a decoder case."""
    if case in ("tokens-64k", "tokens-per-message"):
        count = 2_000 if quick else 20_000
        messages = token_messages(count)
        chunks = chunked(b"".join(messages), 65536) if case == "tokens-64k" else messages
        return chunks, count, "message", f"{count:,} messages, " + DECODER_CASES[case]
    if case == "big-chunk":
        count = 4_000 if quick else 40_000
        data = b"".join(token_messages(count, seed=2))
        return [data], count, "message", f"one {len(data) / 1e6:.1f} MB chunk holding {count:,} token messages"
    if case == "large-payload":
        size = (2 if quick else 16) * 1024 * 1024 - 64  # under smithy's 16 MiB message limit
        chunks = chunked(large_payload_message(size), 65536)
        return chunks, 1, "message", f"one {size / 2**20:.0f} MiB payload in {len(chunks)} chunks of 64 KiB"
    if case == "converse":
        deltas = 2_000 if quick else 20_000
        messages = converse_messages(deltas)
        return messages, len(messages), "event", f"{len(messages):,} " + DECODER_CASES[case]
    raise KeyError(case)


def decoder_table(case: str, *, quick: bool, rounds: int) -> Table:
    """Measure every decoder on ``case``'s bytes."""
    chunks, count, unit, title = _case_input(case, quick)
    total = sum(map(len, chunks))
    quadratic = case == "big-chunk"
    notes: List[str] = []
    skip_async = ""
    if quadratic:
        # AsyncBytesReader keeps `rest = data[size:]`: every read copies the rest of the chunk.
        copied = 4 * count * total / 2
        skip_async = (
            f"AsyncBytesReader copies the unread rest of its chunk on every read (4 reads per message): "
            f"about {copied / 1e9:,.0f} GB of copying for this one chunk"
        )
        notes.append("botocore re-slices its buffer after every message, so its cost grows with the square of the chunk size.")
    loops: List[asyncio.AbstractEventLoop] = []
    entries = _botocore_entries(_STREAMS[case], case.startswith("tokens") or case == "big-chunk")
    entries += _smithy_entries(skip_async, loops)
    c = _c_backend()
    if c is not None:
        entries.append(Entry("fastsmr c", "fastsmr", run=_fastsmr_decoder(c)))
    else:
        entries.append(Entry.skipped("fastsmr c", "fastsmr", C_MISSING))
    entries.append(Entry("fastsmr python", "fastsmr", run=_fastsmr_decoder(_pure)))
    entries.append(_smithy_decoder_entry())
    crc_name, crc = fastest_crc()
    floor = Entry("CRC-32 floor", "floor", run=_crc_floor(crc))
    floor.extra["implementation"] = crc_name
    entries += [floor, Entry("memory copy floor", "floor", run=_copy_floor(total))]
    if case == "large-payload":
        entries.append(Entry("binascii.crc32", "reference", run=_crc_floor(binascii.crc32)))
        notes.append("binascii.crc32: zlib's CRC-32 of the same chunks, the yardstick of the codec's throughput "
                     "target here (the C backend at 3.5x it or more, and within 1.5x of the memory copy floor's time).")

    def check(entry: Entry, result: Any) -> None:
        if entry.role in ("baseline", "fastsmr") and result != count:
            raise AssertionError(f"{entry.name} decoded {result} messages, expected {count}")

    warmup = None
    if quadratic:  # warm up on a small piece: the real input takes seconds per call
        warmup = [b"".join(token_messages(200, seed=2))]
    saved = fastsmr.codec.backend.impl
    try:
        time_rounds(entries, chunks, rounds, warmup_data=warmup, check=check)
    finally:
        fastsmr.codec.backend.impl = saved
        fastsmr.uninstall()
        for loop in loops:
            loop.close()
    # The headline is the C backend's, or the pure one's where that is all there is.
    primary, dropin = ("fastsmr c", "fastsmr.install() c") if _c_available() else ("fastsmr python", "fastsmr.install() python")
    headline = {(primary, "botocore EventStreamBuffer"), (primary, "smithy Event.decode"), (dropin, "botocore EventStream")}
    pairs = [Pair(fast, slow, "seconds", headline=(fast, slow) in headline)
             for fast in ("fastsmr c", "fastsmr python")
             for slow in ("botocore EventStreamBuffer", "smithy Event.decode", "smithy Event.decode_async",
                          "CRC-32 floor", "memory copy floor")]
    # The new SDK's receiver decodes with Event.decode_async: decoding alone, drop-in against stock.
    pairs.append(Pair("fastsmr.smithy decoder", "smithy Event.decode_async", "seconds",
                      headline=case in ("tokens-per-message", "converse")))
    for fast in ("fastsmr.install() c", "fastsmr.install() python", "fastsmr.payload_parts"):
        if any(e.name == fast for e in entries):
            pairs.append(Pair(fast, "botocore EventStream", "seconds", headline=(fast, "botocore EventStream") in headline))
    if case == "large-payload":
        pairs += [Pair(fast, "binascii.crc32", "seconds", headline=fast == primary) for fast in ("fastsmr c", "fastsmr python")]
    notes.append(f"CRC-32 floor: {crc_name}, the fastest CRC-32 found in this run.")
    return Table(case, title, unit, count, total, ["seconds"], entries, pairs, notes, rounds)


# --- a chunked HTTP body --------------------------------------------------------


def http_body_table(*, quick: bool, rounds: int) -> Table:
    """The boto3 drop-in reading what a live response is: a urllib3 response whose
    chunked body (one message per HTTP chunk) is in memory; client CPU per event."""
    count = 2_000 if quick else 20_000
    messages = token_messages(count)
    wire = b"".join(b"%x\r\n%s\r\n" % (len(m), m) for m in messages) + b"0\r\n\r\n"
    entries = [e for e in _botocore_entries(_STREAMS["tokens-per-message"], True) if e.name != "botocore EventStreamBuffer"]
    for entry in entries:
        if entry.status == "ok":
            entry.run = functools.partial(_read_response, entry.run)

    def check(entry: Entry, result: Any) -> None:
        if result != count:
            raise AssertionError(f"{entry.name} read {result} events, expected {count}")

    saved = fastsmr.codec.backend.impl
    try:
        cpu_rounds(entries, wire, rounds, per=count, metric="cpu_per_event", check=check)
    finally:
        fastsmr.codec.backend.impl = saved
        fastsmr.uninstall()
    pairs = [Pair(fast, "botocore EventStream", "cpu_per_event")
             for fast in ("fastsmr.install() c", "fastsmr.install() python", "fastsmr.payload_parts")]
    notes = ["CPU per event (process time): wall time on a shared machine counts the neighbours too.",
             "Stock botocore reads the body through urllib3's chunk parser (Python, a few calls per HTTP chunk); "
             "installed, fastsmr reads it in 64 KiB reads and takes the chunks apart with the codec's ChunkedDecoder."]
    title = f"{count:,} token messages as a chunked HTTP body in memory, one message per HTTP chunk, through urllib3"
    return Table("http-body", title, "event", count, len(wire), ["cpu_per_event"], entries, pairs, notes, rounds)


def _read_response(read: Callable[[Any], int], body: bytes) -> int:
    return read(_http_response(body))


# --- CRC-32 --------------------------------------------------------------------


def _crc_once(function: Callable[..., int], data: bytes) -> int:
    return function(data, 0)


def crc_table(*, quick: bool, rounds: int) -> Table:
    """CRC-32 throughput of every implementation, on one buffer."""
    size = (1 if quick else 16) << 20
    data = large_payload_message(size - 64)[:size]
    found, missing = crc_candidates()
    def role(name: str) -> str:
        return "fastsmr" if name.startswith("fastsmr") else "baseline"

    entries = [Entry(name, role(name), run=functools.partial(_crc_once, f)) for name, f in found]
    entries += [Entry.skipped(name, role(name), reason) for name, reason in missing.items()]
    time_rounds(entries, data, rounds)
    pairs = [Pair("fastsmr.crc32 c", name, "seconds", headline=name == "binascii.crc32")
             for name in ("binascii.crc32", "zlib-ng crc32", "isal crc32")]
    title = f"CRC-32 of one {size >> 20} MiB buffer"
    return Table("crc", title, "byte", size, size, ["seconds"], entries, pairs, [], rounds)


# --- memory ----------------------------------------------------------------------


class _Fresh:
    """The chunks, copied as they are read: a socket hands each stream its own bytes."""

    __slots__ = ("_chunks",)

    def __init__(self, chunks: List[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Any:
        for piece in self._chunks:
            yield bytes(memoryview(piece))


Opener = Callable[[List[List[bytes]]], List[Any]]


def _open_event_streams(make: Callable[[Iterable[bytes]], Any], parts: bool) -> Opener:
    """Open one EventStream per body and read its first event (or part); keep them open."""

    def run(bodies: List[List[bytes]]) -> List[Any]:
        held = []
        for chunks in bodies:
            stream = make(_Fresh(chunks))
            iterator = iter(fastsmr.payload_parts(stream) if parts else stream)
            next(iterator)
            held.append(iterator)
        return held

    return run


def _open_decoders(new: Callable[[], Any], botocore: bool = False) -> Opener:
    """Open one decoder per body and feed it the first chunk, dropping the messages it returns."""

    def run(bodies: List[List[bytes]]) -> List[Any]:
        held = []
        for chunks in bodies:
            decoder = new()
            piece = bytes(memoryview(chunks[0]))
            if botocore:
                decoder.add_data(piece)
                for _ in decoder:
                    pass
            else:
                decoder.feed(piece)
            held.append(decoder)
        return held

    return run


def memory_table(*, quick: bool, rounds: int) -> Table:
    """tracemalloc peak and retained bytes per stream, for 1,000 streams held open at once."""
    streams = 100 if quick else 1_000
    chunks = chunked(b"".join(token_messages(600, seed=4)), 65536)
    bodies = [chunks] * streams
    entries: List[Entry] = []
    try:
        from botocore.eventstream import EventStreamBuffer
    except ImportError:
        for name in ("botocore EventStream", "fastsmr.install() c", "fastsmr.payload_parts", "botocore EventStreamBuffer"):
            role = "baseline" if name.startswith("botocore") else "fastsmr"
            entries.append(Entry.skipped(name, role, "botocore is not installed"))
    else:
        make = _event_stream_factory("sagemaker-runtime", "InvokeEndpointWithResponseStream", "Body")
        entries.append(Entry("botocore EventStream", "baseline", run=_open_event_streams(make, False),
                             prepare=fastsmr.uninstall))
        c = _c_backend()
        if c is not None:
            entries.append(Entry("fastsmr.install() c", "fastsmr", run=_open_event_streams(make, False),
                                 prepare=_set_backend(c, True)))
        else:
            entries.append(Entry.skipped("fastsmr.install() c", "fastsmr", C_MISSING))
        entries.append(Entry("fastsmr.payload_parts", "fastsmr", run=_open_event_streams(make, True),
                             prepare=_set_backend(fastsmr.codec.backend.impl, False)))
        entries.append(Entry("botocore EventStreamBuffer", "baseline", run=_open_decoders(EventStreamBuffer, True),
                             prepare=fastsmr.uninstall))
    c = _c_backend()
    if c is not None:
        entries.append(Entry("fastsmr c", "fastsmr", run=_open_decoders(c.Decoder)))
    else:
        entries.append(Entry.skipped("fastsmr c", "fastsmr", C_MISSING))
    entries.append(Entry("fastsmr python", "fastsmr", run=_open_decoders(_pure.Decoder)))
    entries.append(Entry.skipped("smithy Event.decode_async", "baseline",
                                 "a pull decoder holds no state between reads: its open stream is the HTTP client's"))
    saved = fastsmr.codec.backend.impl
    try:
        for r in range(rounds):
            for entry in rotation(entries, r):
                try:
                    peak, retained = _traced(entry, bodies)
                except Exception as error:
                    entry.fail(error)
                    continue
                entry.record("peak_bytes", peak / streams)
                entry.record("retained_bytes", retained / streams)
    finally:
        fastsmr.codec.backend.impl = saved
        fastsmr.uninstall()
    pairs = [
        Pair("fastsmr.install() c", "botocore EventStream", "peak_bytes", headline=_c_available()),
        Pair("fastsmr.install() c", "botocore EventStream", "retained_bytes"),
        Pair("fastsmr.payload_parts", "botocore EventStream", "peak_bytes", headline=not _c_available()),
        Pair("fastsmr.payload_parts", "botocore EventStream", "retained_bytes"),
        Pair("fastsmr c", "botocore EventStreamBuffer", "peak_bytes"),
        Pair("fastsmr c", "botocore EventStreamBuffer", "retained_bytes"),
        Pair("fastsmr python", "botocore EventStreamBuffer", "peak_bytes"),
        Pair("fastsmr python", "botocore EventStreamBuffer", "retained_bytes"),
    ]
    notes = [
        "Each stream receives its own copy of a 64 KiB chunk of a token stream; EventStream rows have "
        "read the first event (the rest of the chunk is still pending), decoder rows have fed the chunk "
        "and dropped the messages it returned.",
        "tracemalloc sees Python's allocators only: the C backend's header scratch buffer (malloc, at most "
        "one header block, here under 100 bytes) is not counted.",
    ]
    return Table("memory", f"memory per stream, {streams:,} streams open at once", "stream", streams,
                 sum(map(len, chunks[:1])) * streams, ["peak_bytes", "retained_bytes"], entries, pairs, notes, rounds)


def _traced(entry: Entry, bodies: List[List[bytes]]) -> Tuple[int, int]:
    """(peak, retained) bytes allocated while ``entry`` opens every stream."""
    if entry.prepare is not None:
        entry.prepare()
    entry.run(bodies[:1])  # imports and caches outside the measurement
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        held = entry.run(bodies)
        current, peak = tracemalloc.get_traced_memory()
        del held
    finally:
        tracemalloc.stop()
    return peak - base, current - base
