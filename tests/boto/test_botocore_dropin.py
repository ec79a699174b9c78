"""install()/uninstall()/wrap()/payload_parts(): their contract, decode errors, and botocore that looks different."""

from __future__ import annotations

import gc
import json
import logging
import pickle
import subprocess
import sys
import threading
import warnings
import weakref
from typing import Any, Dict, List

import botocore.eventstream as bes
import botocore.exceptions
import botocore.model
import botocore.parsers
import pytest

from support import dropin_models
import fastsmr
from support.dropin_models import aio_observe, observe, typed
from fastsmr.boto import compat, shapes, sync
from support.wire import frame

SAGEMAKER = dropin_models.sagemaker_operation()
PARSER = dropin_models.event_stream_parser(SAGEMAKER.protocol)


@pytest.fixture(autouse=True)
def stock_botocore():
    """Each test starts and ends with botocore stock, whatever ran before it."""
    fastsmr.uninstall()
    yield
    fastsmr.uninstall()


class RawStream:
    def __init__(self, chunks: List[bytes]) -> None:
        self.chunks = chunks
        self.streamed = 0
        self.closed = False

    def stream(self):
        self.streamed += 1
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


def part(payload: bytes) -> bytes:
    return fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart"}, payload)


def model_stream_error(message: str = "timed out") -> bytes:
    body = json.dumps({"Message": message, "ErrorCode": "ModelInvocationTimeExceeded"}).encode()
    return fastsmr.encode({":message-type": "exception", ":exception-type": "ModelStreamError"}, body)


def sagemaker_stream(*chunks: bytes, parser: Any = PARSER, cls: type = bes.EventStream) -> Any:
    return cls(RawStream(list(chunks)), SAGEMAKER.shape, parser, SAGEMAKER.name)


@pytest.fixture
def installed():
    assert fastsmr.install()
    yield
    fastsmr.uninstall()


@pytest.fixture
def fresh_checks(monkeypatch):
    """Forget what was learnt about botocore, so that a test can show it something else."""
    monkeypatch.setattr(compat, "_verdicts", {})
    yield
    fastsmr.uninstall()


# --- install() and uninstall() ---------------------------------------------------------


def classes() -> List[type]:
    """The classes install() patches: botocore's, and aiobotocore's when it is installed."""
    try:
        import aiobotocore.eventstream
    except ImportError:
        return [bes.EventStream]
    return [bes.EventStream, aiobotocore.eventstream.AioEventStream]


def test_import_fastsmr_does_not_import_botocore():
    code = "import fastsmr, sys; assert not [m for m in sys.modules if m.startswith(('botocore', 'boto3'))]"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_install_twice_then_uninstall_restores_the_exact_attributes(backend):
    before = {cls: dict(vars(cls)) for cls in classes()}
    assert not fastsmr.is_installed()
    assert fastsmr.install() is True
    assert fastsmr.install() is True
    assert fastsmr.is_installed()
    for cls in classes():
        assert vars(cls)["_create_raw_event_generator"] is not before[cls]["_create_raw_event_generator"]
    fastsmr.uninstall()
    fastsmr.uninstall()
    assert not fastsmr.is_installed()
    for cls in classes():
        after = dict(vars(cls))
        assert after.keys() == before[cls].keys()
        assert all(after[name] is before[cls][name] for name in after)


def test_install_and_uninstall_from_many_threads(backend):
    stock = {cls: dict(vars(cls)) for cls in classes()}
    wire = b"".join(part(b"x%d" % i) for i in range(50))
    expected = observe(sagemaker_stream(wire))
    barrier = threading.Barrier(8)
    results: List[Any] = []

    def worker(index: int) -> None:
        barrier.wait()
        for _ in range(20):
            results.append(fastsmr.install())
            results.append(observe(sagemaker_stream(wire[: 37 * index], wire[37 * index :])) == expected)
        if index % 2:
            fastsmr.uninstall()

    threads = [threading.Thread(target=worker, args=(index,)) for index in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(results) and len(results) == 8 * 40
    fastsmr.install()
    fastsmr.uninstall()
    # whatever the interleaving, what uninstall() put back is botocore's own
    for cls in classes():
        assert all(vars(cls)[name] is stock[cls][name] for name in stock[cls])


def test_streams_made_before_install_and_used_after_uninstall_work(backend):
    wire = b"".join(part(b"p%d" % i) for i in range(5))
    expected = observe(sagemaker_stream(wire))
    before = sagemaker_stream(wire)
    fastsmr.install()
    during = sagemaker_stream(wire)
    assert observe(before) == expected
    fastsmr.uninstall()
    assert observe(during) == expected


def test_installed_stream_mixes_get_initial_response_and_partial_iteration(backend, installed):
    wire = fastsmr.encode({":event-type": "initial-response"}, b"{}") + b"".join(part(b"%d" % i) for i in range(6))
    stream = sagemaker_stream(wire)
    assert stream.get_initial_response().payload == b"{}"
    first = []
    for event in stream:
        first.append(event)
        if len(first) == 2:
            break
    rest = list(stream)
    assert [e["PayloadPart"]["Bytes"] for e in first + rest] == [b"%d" % i for i in range(6)]
    with pytest.raises(bes.NoInitialResponseError):
        sagemaker_stream(part(b"x")).get_initial_response()
    stream.close()
    assert stream._raw_stream.closed


READERS = {
    "events": lambda stream: (event["PayloadPart"]["Bytes"] for event in stream),
    "payload_parts": fastsmr.payload_parts,
    "botocore's next()": lambda stream: (message.payload for message in stream._event_generator),
}


@pytest.mark.parametrize("first, second", [(a, b) for a in READERS for b in READERS if a != b])
def test_interleaved_readers_share_one_position(backend, installed, first, second):
    # Three batches of three. The first reader takes one part and is left
    # suspended; the second takes the rest of the first batch and two of
    # the second; the first then comes back for the rest, in order.
    payloads = [b"p%d" % i for i in range(9)]
    stream = sagemaker_stream(*(b"".join(part(p) for p in payloads[i : i + 3]) for i in (0, 3, 6)))
    a = READERS[first](stream)
    seen = [next(a)]
    b = READERS[second](stream)
    seen += [next(b) for _ in range(4)]
    seen += list(a)
    assert seen == payloads
    assert list(b) == []


def test_aio_interleaved_readers_share_one_position(backend, installed):
    aio = pytest.importorskip("aiobotocore.eventstream")
    import asyncio

    import aiobotocore.parsers

    import fastsmr.aio

    parser = dropin_models.event_stream_parser(SAGEMAKER.protocol, aiobotocore.parsers)
    payloads = [b"p%d" % i for i in range(9)]
    chunks = [b"".join(part(p) for p in payloads[i : i + 3]) for i in (0, 3, 6)]

    class Content:
        async def iter_chunks(self):
            for chunk in chunks:
                await asyncio.sleep(0)
                yield chunk, True

    class Response(RawStream):
        content = Content()

    async def parts_of(events):
        async for event in events:
            yield event["PayloadPart"]["Bytes"]

    readers = {"events": lambda stream: parts_of(stream), "payload_parts": fastsmr.aio.payload_parts}

    async def scenario(first: str, second: str) -> List[bytes]:
        stream = aio.AioEventStream(Response([]), SAGEMAKER.shape, parser, SAGEMAKER.name)
        a = readers[first](stream)
        seen = [await a.__anext__()]
        b = readers[second](stream)
        seen += [await b.__anext__() for _ in range(4)]
        seen += [item async for item in a]
        assert [item async for item in b] == []
        return seen

    for first, second in (("events", "payload_parts"), ("payload_parts", "events"), ("events", "events")):
        assert asyncio.run(scenario(first, second)) == payloads, (first, second)


def test_get_initial_response_between_two_events_loses_only_what_botocore_loses(backend):
    chunks = [part(b"a"), part(b"b") + part(b"c")]

    def run() -> List[Any]:
        stream = sagemaker_stream(*chunks)
        events = iter(stream)
        seen: List[Any] = [next(events)]
        with pytest.raises(bes.NoInitialResponseError):
            stream.get_initial_response()  # takes "b", which is not an initial response
        return seen + list(events)

    stock = run()
    fastsmr.install()
    try:
        assert run() == stock == [{"PayloadPart": {"Bytes": b"a"}}, {"PayloadPart": {"Bytes": b"c"}}]
    finally:
        fastsmr.uninstall()


# --- botocore that looks different -----------------------------------------------------


def _parse_event_with_extra(self, event, extra=None):
    return {}


def _generator_that_reads_otherwise(self):
    for chunk in self._raw_stream.iter_chunks():
        yield chunk


DIFFERENT_BOTOCORE = {
    "a method with other parameters": ("EventStream", "_parse_event", _parse_event_with_extra),
    "a missing method": ("EventStreamMessage", "to_response_dict", None),
    "a missing class": (None, "MessagePrelude", None),
    "a generator that reads something else": ("EventStream", "_create_raw_event_generator",
                                              _generator_that_reads_otherwise),
}


@pytest.mark.parametrize("difference", sorted(DIFFERENT_BOTOCORE))
def test_unrecognised_botocore_warns_once_and_stays_stock(backend, monkeypatch, fresh_checks, difference):
    owner, name, value = DIFFERENT_BOTOCORE[difference]
    target = bes if owner is None else getattr(bes, owner)
    if value is None:
        monkeypatch.delattr(target, name)
    else:
        monkeypatch.setattr(target, name, value)
    before = dict(vars(bes.EventStream))
    with pytest.warns(fastsmr.BotocoreCompatibilityWarning, match="leaves botocore stock"):
        assert fastsmr.install() is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fastsmr.install() is False  # warned once only
    assert not fastsmr.boto.is_installed()  # botocore stays stock (smithy-python, if present, is installed)
    assert dict(vars(bes.EventStream)) == before
    if owner is None or value is not _generator_that_reads_otherwise:
        return
    stream = sagemaker_stream(part(b"x"))
    assert fastsmr.wrap(stream) is stream  # left to botocore as well


def test_unrecognised_aiobotocore_is_left_stock_and_botocore_installed(backend, monkeypatch, fresh_checks):
    aio = pytest.importorskip("aiobotocore.eventstream")

    def not_a_generator(self):
        return iter(())

    monkeypatch.setattr(aio.AioEventStream, "_create_raw_event_generator", not_a_generator)
    before = dict(vars(aio.AioEventStream))
    with pytest.warns(fastsmr.BotocoreCompatibilityWarning, match="aiobotocore"):
        assert fastsmr.install() is True
    assert vars(bes.EventStream)["__iter__"] is sync._iter
    assert dict(vars(aio.AioEventStream)) == before


# --- decode errors -----------------------------------------------------------------------


def header(name: bytes, kind: int, value: bytes) -> bytes:
    return bytes([len(name)]) + name + bytes([kind]) + value


EVENT = header(b":event-type", 7, b"\x00\x0bPayloadPart")
GOOD = part(b"good")


def flip(wire: bytes, index: int) -> bytes:
    return wire[:index] + bytes([wire[index] ^ 1]) + wire[index + 1 :]


CORRUPT = {
    # name: (bytes after two good messages, botocore's class or None, fastsmr's class)
    "prelude crc": (flip(GOOD, 9), bes.ChecksumMismatch, fastsmr.ChecksumMismatch),
    "message crc": (flip(GOOD, len(GOOD) - 2), bes.ChecksumMismatch, fastsmr.ChecksumMismatch),
    "headers over 128 KiB": (frame(b"", total=16 + 200_000, headers_length=200_000)[:12] + b"\0" * 64,
                             bes.InvalidHeadersLength, fastsmr.InvalidHeadersLength),
    "payload over 24 MiB": (frame(b"", total=16 + 25 * 2**20)[:12] + b"\0" * 64,
                            bes.InvalidPayloadLength, fastsmr.InvalidPayloadLength),
    "duplicate header": (frame(EVENT + EVENT, b"x"), bes.DuplicateHeader, fastsmr.DuplicateHeader),
    "unknown header type": (frame(EVENT + header(b"odd", 11, b""), b"x"), None, fastsmr.InvalidHeader),
    "header past its block": (frame(EVENT + header(b"s", 7, b"\x00\x09ab")), None, fastsmr.InvalidHeader),
    "header not UTF-8": (frame(EVENT + header(b"s", 7, b"\x00\x02\xff\xfe")), None, fastsmr.InvalidHeader),
    "total length below 16": (frame(b"", total=12), None, fastsmr.InvalidMessageLength),
    "stream cut inside a message": (GOOD[:-3], None, fastsmr.TruncatedStreamError),
}


@pytest.mark.parametrize("name", sorted(CORRUPT))
@pytest.mark.parametrize("way", ["installed", "wrapped", "payload_parts"])
def test_decode_errors_follow_botocore_classes_after_the_good_messages(backend, name, way):
    bad, botocore_class, fastsmr_class = CORRUPT[name]
    wire = GOOD + GOOD + bad
    # everything in one chunk: the decoder reports the error after the good messages
    if way == "installed":
        fastsmr.install()
        try:
            seen = observe(sagemaker_stream(wire))
        finally:
            fastsmr.uninstall()
    elif way == "wrapped":
        seen = observe(fastsmr.wrap(sagemaker_stream(wire)))
    else:
        seen = observe({"PayloadPart": {"Bytes": p}} for p in fastsmr.payload_parts(sagemaker_stream(wire)))
    good = typed({"PayloadPart": {"Bytes": b"good"}})
    assert seen[:2] == [good, good]
    assert len(seen) == 3
    _, cls, message, _ = seen[2]
    assert issubclass(cls, fastsmr_class)
    assert issubclass(cls, botocore_class or bes.ParserError)
    assert "offset" in message
    if botocore_class is not None:
        if name != "total length below 16":
            stock = observe(sagemaker_stream(wire))
            assert stock[:2] == seen[:2] and issubclass(cls, stock[2][1])


def test_stock_botocore_loses_a_cut_stream_quietly_where_fastsmr_raises(backend, installed):
    wire = GOOD + GOOD[:-3]
    error = pytest.raises(bes.ParserError, list, sagemaker_stream(wire[:10], wire[10:])).value
    assert isinstance(error, fastsmr.TruncatedStreamError)
    assert error.remaining == len(GOOD) - 3 and error.offset == len(GOOD)
    fastsmr.uninstall()
    assert len(list(sagemaker_stream(wire))) == 1


def test_translated_errors_pickle_and_keep_fastsmr_attributes(backend, installed):
    error = pytest.raises(bes.ChecksumMismatch, list, sagemaker_stream(GOOD + flip(GOOD, 9))).value
    assert isinstance(error, fastsmr.ChecksumMismatch)
    assert (error.part, error.offset) == ("prelude", len(GOOD))
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error) and copy.expected == error.expected


def test_after_an_error_the_stream_is_over_like_botocores(backend, installed):
    stream = sagemaker_stream(GOOD + flip(GOOD, 9) + GOOD)
    with pytest.raises(bes.ChecksumMismatch):
        list(stream)
    assert list(stream) == []
    stream = sagemaker_stream(GOOD + model_stream_error() + GOOD)
    with pytest.raises(botocore.exceptions.EventStreamError):
        list(stream)
    assert len(list(stream)) == 1  # botocore's raw generator goes on after a modeled error too


# --- payload_parts() and wrap() --------------------------------------------------------


def test_payload_parts_yields_bytes_and_raises_botocores_error(backend):
    wire = part(b"Hel") + part(b"lo") + fastsmr.encode({":event-type": "Other"}, b"?") + model_stream_error()
    stock = observe(sagemaker_stream(wire))
    parts = observe(fastsmr.payload_parts(sagemaker_stream(wire[:20], wire[20:])))
    assert parts[:2] == [typed(b"Hel"), typed(b"lo")]
    assert parts[2] == stock[2]
    assert parts[2][1] is botocore.exceptions.EventStreamError
    assert parts[2][3] == typed(
        {"Error": {"Code": "ModelStreamError", "Message": "timed out"}}
    )


def test_payload_parts_continues_a_stream_botocore_started(backend):
    stream = sagemaker_stream(fastsmr.encode({":event-type": "initial-response"}, b"{}") + part(b"a") + part(b"b"))
    stream.get_initial_response()  # botocore's generator is running now
    assert list(fastsmr.payload_parts(stream)) == [b"a", b"b"]


def test_payload_parts_refuses_other_streams(backend):
    other = next(op for op in dropin_models.operations() if op.name == "SelectObjectContent")
    stream = bes.EventStream(RawStream([]), other.shape, PARSER, other.name)
    with pytest.raises(TypeError, match="PayloadPart"):
        fastsmr.payload_parts(stream)


def test_wrap_iterates_closes_and_delegates(backend):
    wire = fastsmr.encode({":event-type": "initial-response"}, b'{"x": 1}') + part(b"a")
    stream = sagemaker_stream(wire)
    wrapped = fastsmr.wrap(stream)
    assert fastsmr.wrap(wrapped) is not stream
    assert wrapped.get_initial_response().payload == b'{"x": 1}'
    assert list(wrapped) == [{"PayloadPart": {"Bytes": b"a"}}]
    assert wrapped._operation_name == SAGEMAKER.name
    wrapped.close()
    assert stream._raw_stream.closed
    assert not fastsmr.is_installed()
    with pytest.raises(bes.NoInitialResponseError):
        fastsmr.wrap(sagemaker_stream(part(b"a"))).get_initial_response()


# --- where fastsmr hands a message back to botocore's parser ----------------------------


def test_debug_logging_of_botocore_parsers_is_kept(backend, caplog):
    wire = part(b"a") + part(b"b")
    with caplog.at_level(logging.DEBUG, logger="botocore.parsers"):
        stock = observe(sagemaker_stream(wire))
        stock_lines = [record.getMessage() for record in caplog.records]
        caplog.clear()
        fastsmr.install()
        try:
            installed = observe(sagemaker_stream(wire))
        finally:
            fastsmr.uninstall()
        assert [record.getMessage() for record in caplog.records] == stock_lines
    assert installed == stock and len(stock_lines) >= 4


class ShoutingParser(botocore.parsers.EventStreamJSONParser):
    """A parser subclass that changes how strings come out."""

    def _handle_string(self, shape, value):
        return value.upper()


class OwnPayloadParser(botocore.parsers.EventStreamJSONParser):
    def _parse_payload(self, response, shape, member_shapes, final_parsed):
        final_parsed["seen"] = len(response["body"])


class OwnEventStream(bes.EventStream):
    def _parse_event(self, event):
        return {"mine": event.payload}


@pytest.mark.parametrize("parser", [ShoutingParser(), OwnPayloadParser()], ids=["handler", "payload"])
def test_parser_subclasses_are_honoured(backend, installed, parser):
    synthetic = next(op for op in dropin_models.operations() if op.service == "synthetic-rest-json")
    wire = fastsmr.encode({":message-type": "event", ":event-type": "HeaderAndBody"}, b'{"Name": "end"}')

    def make() -> Any:
        return bes.EventStream(RawStream([wire]), synthetic.shape, parser, synthetic.name)

    installed_events = list(make())
    fastsmr.uninstall()
    assert installed_events == list(make())
    assert installed_events != [{"HeaderAndBody": {"Name": "end"}}]
    fastsmr.install()


def test_event_stream_subclasses_are_honoured(backend, installed):
    stream = sagemaker_stream(part(b"a"), cls=OwnEventStream)
    assert list(stream) == [{"mine": b"a"}]


PARSER_FREE = {
    # operation: (messages, how many go through botocore's parser)
    "InvokeEndpointWithResponseStream": ([part(b"x%d" % i) for i in range(5)], 0),
    "InvokeWithResponseStream": (
        [fastsmr.encode({":message-type": "event", ":event-type": "PayloadChunk"}, b"c%d" % i) for i in range(5)]
        + [fastsmr.encode({":message-type": "event", ":event-type": "InvokeComplete"}, b'{"ErrorCode": ""}')],
        0,
    ),
    "SelectObjectContent": (
        [fastsmr.encode({":message-type": "event", ":event-type": "Records"}, b"1,a\n") for _ in range(5)]
        + [fastsmr.encode({":message-type": "event", ":event-type": "Stats"},
                          b"<Stats><Details><BytesScanned>1</BytesScanned></Details></Stats>"),
           fastsmr.encode({":message-type": "event", ":event-type": "End"})],
        1,  # the XML Stats body
    ),
}


@pytest.mark.parametrize("name", sorted(PARSER_FREE))
def test_payload_events_never_reach_botocores_parser(backend, installed, name):
    operations = {op.name: op for op in dropin_models.operations()}
    operation = operations.get(name) or SAGEMAKER
    messages, expected_calls = PARSER_FREE[name]
    parser = dropin_models.event_stream_parser(operation.protocol)
    calls = []
    stock_parse = parser.parse

    def counting_parse(response: Any, shape: Any) -> Any:
        calls.append(response["headers"].get(":event-type"))
        return stock_parse(response, shape)

    parser.parse = counting_parse  # what EventStream._parse_event calls
    stream = bes.EventStream(RawStream([b"".join(messages)]), operation.shape, parser, operation.name)
    events = list(stream)
    assert len(events) == len(messages)
    assert len(calls) == expected_calls


def test_converters_are_built_once_per_shape_and_kind_of_parser(backend, installed):
    # botocore makes a parser per request: every request's parser finds the
    # one table of its shape, which keeps none of them alive.
    list(sagemaker_stream(part(b"a")))
    table = shapes.table_for(SAGEMAKER.shape, PARSER)
    parsers = [dropin_models.event_stream_parser(SAGEMAKER.protocol) for _ in range(20)]
    for parser in parsers:
        assert list(sagemaker_stream(part(b"b"), parser=parser)) == [{"PayloadPart": {"Bytes": b"b"}}]
        assert shapes.table_for(SAGEMAKER.shape, parser) is table
    alive = [weakref.ref(parser) for parser in parsers]
    del parsers, parser
    gc.collect()
    assert not [ref for ref in alive if ref() is not None]
    # built when first used; then the blob payload is built without a call at all
    convert = table["PayloadPart"]
    assert convert == "Bytes" or convert({}, b"x") == {"Bytes": b"x"}
    assert table["PayloadPart"] == "Bytes"


def test_converter_tables_are_bounded_and_die_with_their_shape(backend):
    model = dropin_models._synthetic_model("rest-json")
    shape = botocore.model.ServiceModel(model, "synthetic").operation_model("Subscribe").get_event_stream_output()
    factories = [botocore.parsers.ResponseParserFactory() for _ in range(shapes.MAX_PARSER_KINDS + 3)]
    tables = []
    for number, factory in enumerate(factories):
        # a kind of parser of its own: the factory's timestamp parser differs
        factory.set_parser_defaults(timestamp_parser=lambda value, number=number: value)
        tables.append(shapes.table_for(shape, dropin_models.event_stream_parser("rest-json", factory)))
    assert all(table is not None for table in tables) and len({id(table) for table in tables}) == len(tables)
    assert len(shapes._TABLES[shape]) == shapes.MAX_PARSER_KINDS
    dying = weakref.ref(shape)
    del shape, tables
    gc.collect()
    assert dying() is None  # nothing in the cache held the shape


# --- aiobotocore without a network ------------------------------------------------------


def test_aio_payload_parts_wrap_and_installed(backend):
    aio = pytest.importorskip("aiobotocore.eventstream")
    import asyncio

    import aiobotocore.parsers

    import fastsmr.aio

    parser = dropin_models.event_stream_parser(SAGEMAKER.protocol, aiobotocore.parsers)

    class Content:
        def __init__(self, chunks: List[bytes]) -> None:
            self.chunks = chunks

        async def iter_chunks(self):
            for chunk in self.chunks:
                await asyncio.sleep(0)
                yield chunk, False

    class Response(RawStream):
        def __init__(self, chunks: List[bytes]) -> None:
            super().__init__(chunks)
            self.content = Content(chunks)

    wire = part(b"a") + part(b"b") + model_stream_error()

    def make() -> Any:
        return aio.AioEventStream(Response([wire[:9], wire[9:]]), SAGEMAKER.shape, parser, SAGEMAKER.name)

    async def scenario() -> Dict[str, Any]:
        seen = {"stock": await aio_observe(make()), "wrapped": await aio_observe(fastsmr.wrap(make()))}
        seen["parts"] = await aio_observe(fastsmr.aio.payload_parts(make()))
        started = make()
        with pytest.raises(bes.NoInitialResponseError):
            await started.get_initial_response()  # reads "a": botocore's generator is running now
        seen["started parts"] = await aio_observe(fastsmr.aio.payload_parts(started))
        fastsmr.install()
        try:
            seen["installed"] = await aio_observe(make())
        finally:
            fastsmr.uninstall()
        return seen

    seen = asyncio.run(scenario())
    assert seen["installed"] == seen["stock"] == seen["wrapped"]
    assert seen["parts"] == [typed(b"a"), typed(b"b"), seen["stock"][-1]]
    assert seen["started parts"] == [typed(b"b"), seen["stock"][-1]]
    with pytest.raises(TypeError, match="fastsmr.payload_parts"):
        fastsmr.aio.payload_parts(sagemaker_stream(wire))
    with pytest.raises(TypeError, match="fastsmr.aio.payload_parts"):
        fastsmr.payload_parts(make())
