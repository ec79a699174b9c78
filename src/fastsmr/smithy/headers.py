"""Header values typed as smithy-python types them.

smithy's decoder (``smithy_aws_event_stream.events.EventHeaderDecoder``) gives
byte, short and long headers as its ``Byte``, ``Short`` and ``Long`` int
subclasses (an integer header as a plain ``int``), a timestamp as an aware
``datetime`` (``TimestampFormat.EPOCH_SECONDS.deserialize(milliseconds / 1000)``),
a uuid as ``uuid.UUID``, and refuses a byte array or string value longer than
32,767 bytes with ``InvalidHeaderValueLength``. :data:`CONVERTERS` tells the
codec's decoder (its ``header_converters``) to build exactly those values; the
decoder keeps parsed header blocks, so a stream that repeats its headers pays
for the conversion once.
"""

from __future__ import annotations

import uuid
from typing import Any, Callable, Dict, Union

from smithy_aws_event_stream.events import MAX_HEADER_VALUE_BYTE_LENGTH, Byte, Long, Short
from smithy_aws_event_stream.exceptions import InvalidHeaderValueLength
from smithy_core.types import TimestampFormat

__all__ = ["CONVERTERS"]

_EPOCH_SECONDS = TimestampFormat.EPOCH_SECONDS.deserialize
# A string of n code points takes at most 4n bytes in UTF-8: shorter ones need no count.
_SHORT_STRING = MAX_HEADER_VALUE_BYTE_LENGTH // 4


def _sized(value: Union[bytes, str]) -> Union[bytes, str]:
    if len(value) > _SHORT_STRING:
        size = len(value) if value.__class__ is bytes else len(value.encode("utf-8"))  # type: ignore[union-attr]
        if size > MAX_HEADER_VALUE_BYTE_LENGTH:
            raise InvalidHeaderValueLength(size)
    return value


def _timestamp(milliseconds: int) -> Any:
    return _EPOCH_SECONDS(milliseconds / 1000)


def _uuid(raw: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=raw)


#: Wire type code -> what makes smithy's value from the codec's (see the
#: wire format in ``DESIGN.md``: 2 byte, 3 short, 5 long, 6 byte array,
#: 7 string, 8 timestamp, 9 uuid).
CONVERTERS: Dict[int, Callable[[Any], Any]] = {
    2: Byte,
    3: Short,
    5: Long,
    6: _sized,
    7: _sized,
    8: _timestamp,
    9: _uuid,
}
