"""smithy-python's exception classes for bad event-stream bytes, with fastsmr's messages.

``smithy_aws_event_stream`` raises its own ``EventError`` subclasses for some
bad bytes (``ChecksumMismatch``, ``InvalidHeadersLength``,
``InvalidPayloadLength``, ``DuplicateHeader``, ``InvalidHeaderValueLength``,
``InvalidEventBytes``); its receiver re-raises any other failure of the decoder
(``KeyError`` for an unknown header type, ``struct.error``,
``UnicodeDecodeError``) as ``OSError("Failed to read from stream.")``, and it
takes a header value that runs past its block, or a header block longer than
its message, as shorter data. The drop-in raises an instance of smithy's class
for the same fault that is also the fastsmr error, with its message, offset and
attributes; where smithy has no class of its own, or reads on with short data,
the error is an ``InvalidEventBytes`` (smithy's class for bytes that are not an
event), which is what smithy raises for a stream that ends inside a message.
"""

from __future__ import annotations

from typing import Dict

from smithy_aws_event_stream import exceptions as smithy

from ..codec import errors as codec

__all__ = [
    "ChecksumMismatch",
    "InvalidHeadersLength",
    "InvalidPayloadLength",
    "DuplicateHeader",
    "InvalidHeaderValueLength",
    "InvalidMessageLength",
    "InvalidHeader",
    "TruncatedStreamError",
    "DecodeError",
    "translate",
]


class ChecksumMismatch(smithy.ChecksumMismatch, codec.ChecksumMismatch):
    """A prelude or message CRC did not match (smithy's ``ChecksumMismatch``)."""

    __init__ = codec.ChecksumMismatch.__init__


class InvalidHeadersLength(smithy.InvalidHeadersLength, codec.InvalidHeadersLength):
    """The header block is over 128 KiB (smithy's ``InvalidHeadersLength``)."""

    __init__ = codec.InvalidHeadersLength.__init__


class InvalidPayloadLength(smithy.InvalidPayloadLength, codec.InvalidPayloadLength):
    """The payload is over smithy's 16 MiB (smithy's ``InvalidPayloadLength``)."""

    __init__ = codec.InvalidPayloadLength.__init__


class DuplicateHeader(smithy.DuplicateHeader, codec.DuplicateHeader):
    """A header name appears twice in one message (smithy's ``DuplicateHeader``)."""

    __init__ = codec.DuplicateHeader.__init__


class InvalidHeaderValueLength(smithy.InvalidHeaderValueLength, codec.InvalidHeader):
    """A byte array or string header value over 32,767 bytes (smithy's
    ``InvalidHeaderValueLength``; the wire format allows 65,535)."""

    __init__ = codec.InvalidHeader.__init__


class InvalidMessageLength(smithy.InvalidEventBytes, codec.InvalidMessageLength):
    """The prelude's lengths cannot describe a message (an ``InvalidEventBytes``)."""

    __init__ = codec.InvalidMessageLength.__init__


class InvalidHeader(smithy.InvalidEventBytes, codec.InvalidHeader):
    """A malformed header: unknown type, value past the block, bad UTF-8, a
    timestamp out of ``datetime``'s range (an ``InvalidEventBytes``)."""

    __init__ = codec.InvalidHeader.__init__


class TruncatedStreamError(smithy.InvalidEventBytes, codec.TruncatedStreamError):
    """The response ended inside a message (smithy's ``InvalidEventBytes``)."""

    __init__ = codec.TruncatedStreamError.__init__


class DecodeError(smithy.InvalidEventBytes, codec.DecodeError):
    """Any other fastsmr decode error (an ``InvalidEventBytes``)."""

    __init__ = codec.DecodeError.__init__


_TRANSLATIONS: Dict[type, type] = {
    codec.ChecksumMismatch: ChecksumMismatch,
    codec.InvalidHeadersLength: InvalidHeadersLength,
    codec.InvalidPayloadLength: InvalidPayloadLength,
    codec.DuplicateHeader: DuplicateHeader,
    codec.InvalidMessageLength: InvalidMessageLength,
    codec.InvalidHeader: InvalidHeader,
    codec.TruncatedStreamError: TruncatedStreamError,
    codec.DecodeError: DecodeError,
}


def translate(error: codec.DecodeError) -> smithy.EventError:
    """The smithy-compatible twin of a fastsmr decode error: same message and attributes.

    A header value the drop-in's converters refused (see
    :mod:`fastsmr.smithy.headers`) becomes smithy's class for it.

    >>> import fastsmr
    >>> from smithy_aws_event_stream import exceptions
    >>> from fastsmr.smithy.errors import translate
    >>> error = translate(fastsmr.ChecksumMismatch("message", 1, 2, 0))
    >>> isinstance(error, exceptions.ChecksumMismatch), isinstance(error, fastsmr.ChecksumMismatch)
    (True, True)
    """
    if isinstance(error, smithy.EventError):
        return error
    target = None
    if isinstance(error, codec.InvalidHeader) and isinstance(error.__cause__, smithy.InvalidHeaderValueLength):
        target = InvalidHeaderValueLength
    else:
        for cls in type(error).__mro__:
            target = _TRANSLATIONS.get(cls)
            if target is not None:
                break
    twin = target.__new__(target)
    Exception.__init__(twin, *error.args)
    twin.__dict__.update(error.__dict__)
    return twin
