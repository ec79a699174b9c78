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

from typing import Dict, Tuple

from smithy_aws_event_stream import exceptions as smithy
from smithy_aws_event_stream.events import EventHeaderDecoder

from ..codec import errors as codec

__all__ = [
    "ChecksumMismatch",
    "InvalidHeadersLength",
    "InvalidPayloadLength",
    "DuplicateHeader",
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
# (smithy's class, fastsmr's class) -> the class deriving from both: those
# above, and others made when first needed.
_HYBRIDS: Dict[Tuple[type, type], type] = {(hybrid.__bases__[0], cls): hybrid for cls, hybrid in _TRANSLATIONS.items()}


def _hybrid(smithy_class: type, codec_class: type) -> type:
    made = _HYBRIDS.get((smithy_class, codec_class))
    if made is None:
        namespace = {"__init__": codec_class.__init__, "__module__": __name__, "__doc__": codec_class.__doc__}
        made = type(codec_class.__name__, (smithy_class, codec_class), namespace)
        _HYBRIDS[(smithy_class, codec_class)] = made
    return made


def _smithy_verdict(header_block: bytes) -> type:
    """The class of what smithy's own header parser raises for this block
    (``InvalidEventBytes`` where it fails with a generic error or reads on)."""
    try:
        EventHeaderDecoder(header_block).decode_headers()
    except smithy.EventError as error:
        return type(error)
    except Exception:  # KeyError, struct.error, UnicodeDecodeError, ValueError: smithy wraps these in OSError
        pass
    return smithy.InvalidEventBytes


def translate(error: codec.DecodeError) -> smithy.EventError:
    """The smithy-compatible twin of a fastsmr decode error: same message and attributes.

    A bad header is judged by smithy's own header parser, run on the block the
    codec found it in (``header_block``), so that the class is the one smithy
    raises for that block — ``InvalidHeaderValueLength`` for a value over
    32,767 bytes, ``DuplicateHeader``, or ``InvalidEventBytes`` where smithy
    fails with a generic error or reads on with short data.

    >>> import fastsmr
    >>> from smithy_aws_event_stream import exceptions
    >>> from fastsmr.smithy.errors import translate
    >>> error = translate(fastsmr.ChecksumMismatch("message", 1, 2, 0))
    >>> isinstance(error, exceptions.ChecksumMismatch), isinstance(error, fastsmr.ChecksumMismatch)
    (True, True)
    """
    if isinstance(error, smithy.EventError):
        return error
    header_block = getattr(error, "header_block", None)
    if header_block is not None:
        target = _hybrid(_smithy_verdict(header_block), type(error))
    else:
        target = next(_TRANSLATIONS[cls] for cls in type(error).__mro__ if cls in _TRANSLATIONS)
    twin = target.__new__(target)
    Exception.__init__(twin, *error.args)
    twin.__dict__.update(error.__dict__)
    return twin
