"""install() and botocore's EventStreamBuffer: what code that decodes without EventStream sees.

botocore's own buffer is the oracle: the same chunks, fed and iterated the
same way, must give messages with equal prelude, headers (types included),
payload, crc and to_response_dict(), the same stops on partial data, and the
same exceptions at the same place — botocore's class where it has one (also a
fastsmr error naming the offset), a clear ParserError where it crashes with a
generic error or reads garbage. Every test runs on both backends.
"""

from __future__ import annotations

import struct
import warnings
import zlib
from typing import Any, Callable, List

import botocore.eventstream as bes
import botocore.parsers
import botocore.session
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastsmr
from fastsmr.boto import buffer as _buffer
from fastsmr.boto import compat
from support import dropin_models
from support.dropin_models import typed
from support.wire import frame

STOCK = bes.EventStreamBuffer
SETTINGS = settings(suppress_health_check=[*settings.default.suppress_health_check, HealthCheck.function_scoped_fixture])


@pytest.fixture(autouse=True)
def stock_botocore():
    """Each test starts and ends with botocore stock, whatever ran before it."""
    fastsmr.uninstall()
    yield
    fastsmr.uninstall()


def stock_buffer() -> Any:
    assert not fastsmr.is_installed()
    return STOCK()


def installed_buffer() -> Any:
    assert fastsmr.install()
    try:
        return STOCK()  # what code that calls botocore's class gets
    finally:
        fastsmr.uninstall()  # a buffer keeps its implementation for life


def view(message: Any) -> Any:
    assert isinstance(message, bes.EventStreamMessage)
    return (
        vars(message.prelude),
        typed(message.headers),
        typed(message.payload),
        message.crc,
        typed(message.to_response_dict()),
        typed(message.to_response_dict(status_code=206)),
    )


def feed(make: Callable[[], Any], chunks: List[bytes], pattern: str) -> tuple:
    """(views of the messages, the exception or None, what iterating again gives)."""
    buffer = make()
    seen: List[Any] = []
    error = None
    try:
        if pattern == "each":  # LiteLLM's loop
            for chunk in chunks:
                buffer.add_data(chunk)
                for message in buffer:
                    seen.append(view(message))
        elif pattern == "all":
            for chunk in chunks:
                buffer.add_data(chunk)
            seen += [view(message) for message in buffer]
        else:  # "next": at most one message per chunk, then the rest
            for chunk in chunks:
                buffer.add_data(chunk)
                try:
                    seen.append(view(buffer.next()))
                except StopIteration:
                    pass
            seen += [view(message) for message in buffer]
    except Exception as exc:
        error = exc
    try:
        again = [view(message) for message in buffer]
    except Exception as exc:
        again = [("raised", type(exc))]
    return seen, error, again


# --- random streams against botocore's buffer -----------------------------------------

names = st.text(max_size=10).filter(lambda s: len(s.encode()) < 256)
values = st.one_of(
    st.booleans(),
    st.integers(-128, 127).map(fastsmr.Byte),
    st.integers(-(2**15), 2**15 - 1).map(fastsmr.Short),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1).map(fastsmr.Long),
    st.binary(max_size=30),
    st.text(max_size=20),
    st.integers(-(2**63), 2**63 - 1).map(fastsmr.Timestamp),
    st.binary(min_size=16, max_size=16).map(fastsmr.Uuid),
)
messages = st.builds(fastsmr.encode, st.dictionaries(names, values, max_size=5), st.binary(max_size=200))
streams = st.lists(messages, min_size=1, max_size=6).map(b"".join)
patterns = st.sampled_from(["each", "all", "next"])


@st.composite
def chunked(draw, data):
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    edges = [0] + cuts + [len(data)]
    return [data[a:b] for a, b in zip(edges, edges[1:])]


def reseal(buf: bytearray) -> None:
    """Recompute the first message's CRCs, so that corruption reaches past them."""
    if len(buf) < 12:
        return
    struct.pack_into("!I", buf, 8, zlib.crc32(bytes(buf[:8])))
    total = struct.unpack_from("!I", buf, 0)[0]
    if 16 <= total <= len(buf):
        struct.pack_into("!I", buf, total - 4, zlib.crc32(bytes(buf[: total - 4])))


@st.composite
def corrupted(draw):
    buf = bytearray(draw(streams))
    kind = draw(st.sampled_from(["flip", "flip-resealed", "length", "truncate", "garbage"]))
    if kind.startswith("flip"):
        index = draw(st.integers(0, len(buf) - 1))
        buf[index] ^= 1 << draw(st.integers(0, 7))
        if kind == "flip-resealed":
            reseal(buf)
    elif kind == "length":
        struct.pack_into("!I", buf, draw(st.sampled_from([0, 4])), draw(st.integers(0, 2**32 - 1)))
        reseal(buf)
    elif kind == "truncate":
        del buf[draw(st.integers(0, len(buf) - 1)) :]
    else:
        buf += draw(st.binary(max_size=40))
    return bytes(buf)


def unreadable(data: bytes) -> bool:
    """Whether a message botocore cannot read faithfully comes before the stream's end:
    impossible lengths or a malformed header block."""
    pos = 0
    while pos + 12 <= len(data):
        total, headers_length, _ = struct.unpack_from("!III", data, pos)
        if total < 16 or headers_length > total - 16:
            return True
        if pos + total > len(data):
            return False
        try:
            fastsmr.codec._codec_py.decode(frame(data[pos + 12 : pos + 12 + headers_length]))
        except fastsmr.DecodeError:
            return True
        pos += total
    return False


BOTOCORE_CLASSES = {
    fastsmr.ChecksumMismatch: bes.ChecksumMismatch,
    fastsmr.InvalidHeadersLength: bes.InvalidHeadersLength,
    fastsmr.InvalidPayloadLength: bes.InvalidPayloadLength,
    fastsmr.DuplicateHeader: bes.DuplicateHeader,
}


def check(data: bytes, chunks: List[bytes], pattern: str) -> None:
    theirs, their_error, their_again = feed(stock_buffer, chunks, pattern)
    ours, error, again = feed(installed_buffer, chunks, pattern)
    if error is None:
        assert their_error is None, their_error
        assert ours == theirs and again == their_again == []
        return
    # Ours is botocore's ParserError (where botocore crashes, reads short or
    # loops, the error says what is wrong) and fastsmr's, with an offset.
    assert isinstance(error, bes.ParserError) and isinstance(error, fastsmr.DecodeError), error
    assert isinstance(error.offset, int) and str(error.offset) in str(error)
    assert again == [("raised", type(error))]  # raised again on the next iteration, as botocore does
    if isinstance(error, (fastsmr.InvalidMessageLength, fastsmr.InvalidHeader)):
        # botocore reads such a message short or from impossible lengths
        # (going on with garbage, or failing later or not at all): we stop at it.
        assert unreadable(data)
        assert ours == theirs[: len(ours)]
        return
    assert ours == theirs, (error, their_error)
    if prelude_checks_in_another_order(error, their_error):
        return
    if isinstance(their_error, bes.ParserError):
        expected = [boto for ours_, boto in BOTOCORE_CLASSES.items() if isinstance(error, ours_)]
        assert expected and isinstance(error, expected[0]) and isinstance(their_error, expected[0]), (
            error, their_error,
        )
        assert their_again == [("raised", type(their_error))]
    else:
        # a generic crash in botocore (KeyError, UnicodeDecodeError): ours names it
        assert their_error is not None and isinstance(error, fastsmr.DuplicateHeader), (error, their_error)


def prelude_checks_in_another_order(error: Exception, their_error: Any) -> bool:
    """A prelude both corrupt and over a limit: older botocore (1.31, for one) checks
    the limits first, newer botocore (and fastsmr) the CRC first."""
    limits = (bes.InvalidHeadersLength, bes.InvalidPayloadLength)
    prelude_crc = isinstance(error, fastsmr.ChecksumMismatch) and error.part == "prelude"
    return (prelude_crc and isinstance(their_error, limits)) or (
        isinstance(error, limits) and isinstance(their_error, bes.ChecksumMismatch)
    )


@SETTINGS
@given(st.data(), streams, patterns)
def test_random_messages_random_chunks(backend, data, stream, pattern):
    check(stream, data.draw(chunked(stream)), pattern)


@SETTINGS
@given(st.data(), corrupted(), patterns)
def test_random_corruptions(backend, data, stream, pattern):
    check(stream, data.draw(chunked(stream)), pattern)


def test_errors_are_both_classes_and_raised_after_the_good_messages(backend):
    good = fastsmr.encode({":event-type": "a"}, b"1")
    bad = bytearray(fastsmr.encode({":event-type": "b"}, b"2"))
    bad[-1] ^= 1
    for make in (stock_buffer, installed_buffer):
        buffer = make()
        buffer.add_data(good + bytes(bad) + good)
        assert next(buffer).payload == b"1"
        with pytest.raises(bes.ChecksumMismatch) as info:
            next(buffer)
        with pytest.raises(bes.ChecksumMismatch):
            next(buffer)  # and again: botocore stays at the bad bytes
        buffer.add_data(good)
        with pytest.raises(bes.ChecksumMismatch):
            list(buffer)
    assert isinstance(info.value, fastsmr.ChecksumMismatch)
    assert info.value.offset == len(good) and info.value.part == "message"


@pytest.mark.parametrize("limit, cls", [(0, bes.InvalidHeadersLength), (4, bes.InvalidPayloadLength)])
def test_limits_are_decided_from_the_prelude(backend, limit, cls):
    prelude = struct.pack("!II", 16 + 200 * 1024 * 1024, 0) if limit else struct.pack("!II", 200_000, 150_000)
    prelude += struct.pack("!I", zlib.crc32(prelude))
    for make in (stock_buffer, installed_buffer):
        buffer = make()
        buffer.add_data(prelude)
        with pytest.raises(cls) as info:
            list(buffer)
    assert isinstance(info.value, fastsmr.DecodeError) and info.value.offset == 0


def test_botocore_limits_changed_by_the_program_apply(backend, monkeypatch):
    # The process's one look at botocore (and aiobotocore) decodes a 5-byte
    # probe with their own limits: taken first, as in any process whose other
    # tests ran before.
    assert fastsmr.install()
    fastsmr.uninstall()
    monkeypatch.setattr(bes, "_MAX_PAYLOAD_LENGTH", 4)
    buffer = installed_buffer()
    buffer.add_data(fastsmr.encode({}, b"12345"))
    with pytest.raises(bes.InvalidPayloadLength):
        list(buffer)


def test_a_generic_crash_of_botocore_is_a_parser_error(backend):
    unknown_type = frame(b"\x01x\x0c")  # header value type 12
    stock = stock_buffer()
    stock.add_data(unknown_type)
    with pytest.raises(KeyError):
        list(stock)
    ours = installed_buffer()
    ours.add_data(unknown_type)
    with pytest.raises(bes.ParserError, match="offset 12") as info:
        list(ours)
    assert isinstance(info.value, fastsmr.InvalidHeader)


# --- partial data, leftovers, close() ------------------------------------------------


def test_partial_messages_wait_for_the_rest(backend):
    wire = fastsmr.encode({"n": 1}, b"one") + fastsmr.encode({"n": 2}, b"two")
    for make in (stock_buffer, installed_buffer):
        buffer = make()
        for end in range(1, len(wire) + 1):
            buffer.add_data(wire[end - 1 : end])
            got = [m.headers["n"] for m in buffer]
            assert got == ([1] if end == len(wire) // 2 else [2] if end == len(wire) else [])


@pytest.mark.parametrize("make", [stock_buffer, installed_buffer])
def test_leftovers_are_silent_unless_close_is_called(backend, make):
    wire = fastsmr.encode({"n": 1}, b"one")
    buffer = make()
    buffer.add_data(wire + wire[:7])
    assert len(list(buffer)) == 1
    assert list(buffer) == []  # nothing raised: botocore's behaviour
    with pytest.raises(bes.ParserError) as info:
        fastsmr.close_buffer(buffer)
    assert isinstance(info.value, fastsmr.TruncatedStreamError)
    assert info.value.remaining == 7
    if make is installed_buffer:
        assert info.value.offset == len(wire) and f"offset {len(wire)}:" in str(info.value)
    else:
        assert info.value.offset == 0  # counted from the bytes botocore's buffer still holds


@pytest.mark.parametrize("make", [stock_buffer, installed_buffer])
def test_close_after_a_complete_stream_or_unread_messages(backend, make):
    wire = fastsmr.encode({"n": 1}, b"one") * 3
    buffer = make()
    buffer.add_data(wire)
    fastsmr.close_buffer(buffer)  # complete messages not iterated yet are not cut off
    assert len(list(buffer)) == 3
    fastsmr.close_buffer(buffer)
    buffer.add_data(wire[:20])
    with pytest.raises(fastsmr.TruncatedStreamError):
        fastsmr.close_buffer(buffer)


def test_close_raises_an_error_not_iterated_yet(backend):
    bad = bytearray(fastsmr.encode({}, b"x"))
    bad[0] ^= 1
    buffer = installed_buffer()
    buffer.add_data(bytes(bad))
    with pytest.raises(bes.ChecksumMismatch):
        fastsmr.close_buffer(buffer)


def test_close_takes_buffers_only():
    with pytest.raises(TypeError, match="EventStreamBuffer"):
        fastsmr.close_buffer(b"")


# --- add_data ----------------------------------------------------------------------------


@pytest.mark.parametrize("make", [stock_buffer, installed_buffer])
def test_add_data_takes_bytes_like_and_copies(backend, make):
    wire = bytearray(fastsmr.encode({"k": "v"}, b"payload") * 2)
    buffer = make()
    buffer.add_data(wire[:30])
    buffer.add_data(memoryview(wire)[30:])
    wire[:] = bytes(len(wire))  # the caller reuses its buffer
    assert [m.payload for m in buffer] == [b"payload", b"payload"]


@pytest.mark.parametrize("data", ["text", None, 12])
def test_add_data_rejects_what_botocore_rejects(backend, data):
    for make in (stock_buffer, installed_buffer):
        with pytest.raises(TypeError):
            make().add_data(data)


def test_add_data_twice_before_iterating_keeps_order(backend):
    buffer = installed_buffer()
    buffer.add_data(fastsmr.encode({"n": 1}) + fastsmr.encode({"n": 2}))
    assert next(buffer).headers["n"] == 1
    buffer.add_data(fastsmr.encode({"n": 3}))
    assert [m.headers["n"] for m in buffer] == [2, 3]


# --- messages ------------------------------------------------------------------------------


def test_messages_are_botocore_messages(backend):
    wire = fastsmr.encode({":event-type": "PayloadPart", "t": fastsmr.Timestamp(5)}, b"x" * 10)
    theirs = stock_buffer()
    theirs.add_data(wire)
    (their,) = list(theirs)
    ours = installed_buffer()
    ours.add_data(wire)
    (mine,) = list(ours)
    assert isinstance(mine, bes.EventStreamMessage) and isinstance(mine.prelude, bes.MessagePrelude)
    assert view(mine) == view(their)
    assert sorted(vars(mine)) == sorted(vars(their))  # the prelude is there once read
    mine.headers["added"] = True  # each message has a dict of its own, as in botocore
    ours.add_data(wire)
    assert "added" not in next(ours).headers
    mine.prelude = "replaced"  # writable, as botocore's
    assert mine.prelude == "replaced"
    with pytest.raises(AttributeError):
        _ = mine.missing


# --- install(), uninstall(), is_installed() -----------------------------------------------


def test_install_replaces_construction_and_uninstall_restores_it(backend):
    from botocore.eventstream import EventStreamBuffer  # imported before install(), as LiteLLM may

    class Mine(EventStreamBuffer):  # a program's own subclass stays botocore's
        pass

    before = dict(vars(STOCK))
    assert fastsmr.install()
    assert fastsmr.is_installed()
    made = EventStreamBuffer()
    assert type(made) is _buffer.EventStreamBuffer and isinstance(made, STOCK)
    assert type(Mine()) is Mine
    mine = Mine()
    mine.add_data(fastsmr.encode({}, b"x"))
    assert type(next(mine)) is bes.EventStreamMessage
    fastsmr.uninstall()
    assert not fastsmr.is_installed()
    assert dict(vars(STOCK)) == before
    assert type(EventStreamBuffer()) is STOCK
    # buffers keep their implementation for life
    made.add_data(fastsmr.encode({}, b"y"))
    assert type(next(made)) is _buffer.EventStreamMessage


def test_buffer_made_before_install_stays_stock(backend):
    early = STOCK()
    assert fastsmr.install()
    early.add_data(fastsmr.encode({}, b"x"))
    assert type(next(early)) is bes.EventStreamMessage


def test_stock_event_stream_generator_started_after_install(backend):
    # An EventStream made before install() builds its buffer on the first read.
    class Raw:
        def stream(self):
            yield fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart"}, b"x")

    stream = bes.EventStream(Raw(), dropin_models.sagemaker_operation().shape,
                             dropin_models.event_stream_parser("rest-json"), "Op")
    assert fastsmr.install()
    assert list(stream) == [{"PayloadPart": {"Bytes": b"x"}}]


DIFFERENT_BUFFER = {
    "add_data with other parameters": ("add_data", lambda self, data, copy=True: setattr(self, "_data", self._data + data)),
    "next missing": ("next", None),
    "a __new__ of its own": ("__new__", staticmethod(lambda cls: object.__new__(cls))),
    "bytes kept elsewhere": ("__init__", lambda self: setattr(self, "_data", bytearray())),
}


@pytest.fixture
def fresh_checks(monkeypatch):
    """Forget what was learnt about botocore, so that a test can show it something else."""
    monkeypatch.setattr(compat, "_verdicts", {})
    yield
    fastsmr.uninstall()


@pytest.mark.parametrize("difference", sorted(DIFFERENT_BUFFER))
def test_unrecognised_buffer_warns_once_and_leaves_botocore_stock(backend, monkeypatch, fresh_checks, difference):
    name, value = DIFFERENT_BUFFER[difference]
    if value is None:
        monkeypatch.delattr(STOCK, name)
    else:
        monkeypatch.setattr(STOCK, name, value)
    before = dict(vars(STOCK))
    with pytest.warns(fastsmr.BotocoreCompatibilityWarning, match="EventStreamBuffer"):
        assert fastsmr.install() is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fastsmr.install() is False
    assert not fastsmr.boto.is_installed()  # (fastsmr.is_installed() also covers smithy-python)
    assert dict(vars(STOCK)) == before
    assert "_do_parse" not in vars(botocore.parsers.BaseEventStreamParser) or (
        vars(botocore.parsers.BaseEventStreamParser)["_do_parse"].__module__ == "botocore.parsers"
    )


# --- the event parsers ---------------------------------------------------------------------

OPERATIONS = dropin_models.operations()


def parse_all(parser: Any, shapes: List[Any], messages: List[Any]) -> List[Any]:
    """What ``parser.parse(message.to_response_dict(), shape)`` gives, as LiteLLM calls it."""
    out = []
    for message in messages:
        for shape in shapes:
            try:
                out.append(typed(parser.parse(message.to_response_dict(), shape)))
            except Exception as error:
                out.append(("raised", type(error), str(error)))
    return out


@pytest.mark.parametrize("operation", OPERATIONS, ids=[operation.id for operation in OPERATIONS])
# Few examples: the drop-in's model test already draws many streams per operation
# through the same converters.
@settings(SETTINGS, max_examples=max(5, min(10, settings.default.max_examples // 10)))
@given(data=st.data())
def test_parsed_events_equal_stock_for_every_model(backend, operation, data):
    wire = dropin_models.encode(data.draw(dropin_models.stream(operation)))
    parser = dropin_models.event_stream_parser(operation.protocol)
    # the stream shape, and one that is not (LiteLLM passes SageMaker's output shape)
    shapes = [operation.shape]
    buffer = stock_buffer()
    buffer.add_data(wire)
    theirs = parse_all(parser, shapes, list(buffer))
    buffer = installed_buffer()
    buffer.add_data(wire)
    assert fastsmr.install()
    try:
        ours = parse_all(parser, shapes, list(buffer))
    finally:
        fastsmr.uninstall()
    assert ours == theirs


def test_parse_of_a_shape_that_is_not_a_stream(backend):
    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    if "InvokeEndpointWithResponseStream" not in model.operation_names:
        pytest.skip("this botocore predates SageMaker's response streams")
    output = model.operation_model("InvokeEndpointWithResponseStream").output_shape
    wire = fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart"}, b"x")
    parser = botocore.parsers.EventStreamJSONParser()
    buffer = installed_buffer()
    buffer.add_data(wire)
    (message,) = list(buffer)
    stock = parser.parse(message.to_response_dict(), output)
    assert fastsmr.install()
    assert parser.parse(message.to_response_dict(), output) == stock
    assert list(stock) == ["ResponseMetadata"]  # no event: LiteLLM then reads the body itself
    assert parser.parse(message.to_response_dict(), output.members["Body"]) == {"PayloadPart": {"Bytes": b"x"}}


def test_a_parser_per_stream_is_not_kept_alive(backend):
    """LiteLLM makes an event parser per stream: under install() each one goes
    when the program drops it, and one shape's table serves them all."""
    import gc
    import weakref

    from fastsmr.boto import shapes

    model = botocore.session.get_session().get_service_model("sagemaker-runtime")
    if "InvokeEndpointWithResponseStream" not in model.operation_names:
        pytest.skip("this botocore predates SageMaker's response streams")
    shape = model.operation_model("InvokeEndpointWithResponseStream").output_shape.members["Body"]
    event = {"status_code": 200, "body": b"x", "headers": {":message-type": "event", ":event-type": "PayloadPart"}}
    assert fastsmr.install()
    gone = []
    for _ in range(50):
        parser = botocore.parsers.EventStreamJSONParser()
        assert parser.parse(event, shape) == {"PayloadPart": {"Bytes": b"x"}}
        gone.append(weakref.ref(parser))
        del parser
    gc.collect()
    assert [ref for ref in gone if ref() is not None] == []
    assert len(shapes._TABLES[shape]) == 1


def test_a_parser_kept_for_life_keeps_few_shapes(backend):
    """One parser given the stream shapes of ever new service models keeps the last few, not all."""
    from fastsmr.boto import parsing

    session = botocore.session.get_session()
    if "InvokeEndpointWithResponseStream" not in session.get_service_model("sagemaker-runtime").operation_names:
        pytest.skip("this botocore predates SageMaker's response streams")
    event = {"status_code": 200, "body": b"x", "headers": {":message-type": "event", ":event-type": "PayloadPart"}}
    parser = botocore.parsers.EventStreamJSONParser()
    assert fastsmr.install()
    for _ in range(3 * parsing._SHAPES_PER_PARSER):
        model = session.get_service_model("sagemaker-runtime")  # a new model: new shapes
        shape = model.operation_model("InvokeEndpointWithResponseStream").output_shape.members["Body"]
        assert parser.parse(event, shape) == {"PayloadPart": {"Bytes": b"x"}}
    assert len(parsing._BY_PARSER[parser]) == parsing._SHAPES_PER_PARSER
