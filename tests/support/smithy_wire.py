"""Event-stream wires built with smithy-python's own encoder, and the stock receiver as the oracle."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import enum
from typing import Any, Callable, Iterator, List, Sequence, Tuple

from hypothesis import strategies as st
from smithy_aws_event_stream.aio import AWSEventReceiver
from smithy_aws_event_stream.events import Byte, Event, EventMessage, Long, Short
from smithy_core.aio.types import AsyncBytesReader
from smithy_core.documents import Document

import fastsmr.codec.backend
from fastsmr.codec import _codec_py
from fastsmr.smithy.receiver import EventReceiver

try:
    from fastsmr.codec import _codec_c
except ImportError:  # the pure-only install
    _codec_c = None

#: The codec backends to compare, C first when it is built.
BACKENDS = [module for module in (_codec_c, _codec_py) if module is not None]


@contextlib.contextmanager
def using(module: Any) -> Iterator[Any]:
    """Make ``module`` the backend the drop-in uses (inside one hypothesis example)."""
    saved = fastsmr.codec.backend.impl
    fastsmr.codec.backend.impl = module
    try:
        yield module
    finally:
        fastsmr.codec.backend.impl = saved

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

header_names = st.text(min_size=1, max_size=12).filter(lambda name: len(name.encode()) <= 255)
header_values = st.one_of(
    st.booleans(),
    st.integers(-(2**7), 2**7 - 1).map(Byte),
    st.integers(-(2**15), 2**15 - 1).map(Short),
    st.integers(-(2**31), 2**31 - 1),
    st.integers(-(2**63), 2**63 - 1).map(Long),
    st.binary(max_size=40),
    st.text(max_size=30),
    # Whole milliseconds within datetime's range: what survives smithy's round trip.
    st.integers(-62_135_596_800_000, 253_402_300_799_999).map(
        lambda ms: _EPOCH + datetime.timedelta(milliseconds=ms)
    ),
    st.uuids(),
)
headers = st.dictionaries(header_names, header_values, max_size=6)
payloads = st.binary(max_size=200)
messages = st.lists(st.tuples(headers, payloads), min_size=1, max_size=5)


def wire_of(items: Sequence[Tuple[dict, bytes]]) -> bytes:
    """The wire smithy's encoder writes for these messages."""
    return b"".join(EventMessage(headers=h, payload=p).encode() for h, p in items)


@st.composite
def chunkings(draw: Any, data: bytes) -> List[bytes]:
    """``data`` cut at random places (empty chunks included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


async def chunks_of(pieces: Sequence[bytes]):
    for piece in pieces:
        yield piece


async def stock_events(pieces: Sequence[bytes]) -> List[Event]:
    """smithy's Event.decode_async over the chunks, as its receiver drives it."""
    source = AsyncBytesReader(chunks_of(pieces))
    events = []
    while (event := await Event.decode_async(source)) is not None:
        events.append(event)
    return events


def plain(value: Any) -> Any:
    """A value as nested tuples of type names and contents, for comparing events exactly.

    Covers what dataclass equality misses: fields with ``repr=False`` (payload
    bytes), value types (``1`` vs ``1.0`` vs ``Decimal``), and smithy's
    "corrected" enum values, which equal only themselves.
    """
    cls = type(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (cls.__name__, tuple((f.name, plain(getattr(value, f.name))) for f in dataclasses.fields(value)))
    if isinstance(value, enum.Enum):
        return (cls.__name__, plain(value.value), getattr(value, "_smithy_unknown", False))
    if isinstance(value, Document):
        return (cls.__name__, plain(value.as_value()))
    if isinstance(value, dict):
        return (cls.__name__, tuple((plain(k), plain(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return (cls.__name__, tuple(plain(item) for item in value))
    if isinstance(value, BaseException):
        return (cls.__name__, str(value))
    return (cls.__name__, value)


async def outcome(receiver: Any) -> Tuple[List[Any], BaseException | None]:
    """What a receiver gives: its events, then the exception it raised (or None)."""
    events: List[Any] = []
    try:
        while (event := await receiver.receive()) is not None:
            events.append(event)
    except Exception as error:  # the outcome under test
        return events, error
    return events, None


def stock_receiver(codec: Any, pieces: Sequence[bytes], deserializer: Callable[[Any], Any]) -> AWSEventReceiver:
    return AWSEventReceiver(payload_codec=codec, source=AsyncBytesReader(chunks_of(pieces)), deserializer=deserializer)


def fastsmr_receiver(codec: Any, pieces: Sequence[bytes], deserializer: Callable[[Any], Any]) -> EventReceiver:
    return EventReceiver(payload_codec=codec, body=chunks_of(pieces), deserializer=deserializer)
