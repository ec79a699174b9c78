"""fastsmr's decode errors as botocore's classes, so that existing ``except`` clauses keep working.

Each fastsmr error is re-raised as a class deriving from both botocore's class
for the same fault (``botocore.eventstream.ChecksumMismatch``, ...) and
fastsmr's, with fastsmr's message (which names the offset) and attributes.
Where botocore has no class of its own it fails with KeyError, struct.error,
UnicodeDecodeError, loops forever or returns short data (a body short of its
Content-Length included): those errors derive from
``botocore.eventstream.ParserError``. A broken chunked transfer coding is
a ``urllib3.exceptions.ProtocolError``, as urllib3's own chunked reads raise.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Type

import botocore.eventstream as bes

from ..codec import errors as _errors

if TYPE_CHECKING:
    from urllib3.exceptions import ProtocolError as _ProtocolError
else:
    try:
        from urllib3.exceptions import ProtocolError as _ProtocolError
    except ImportError:  # botocore needs urllib3; a stand-in keeps this importable without it
        _ProtocolError = OSError

__all__ = [
    "ChecksumMismatch",
    "InvalidHeadersLength",
    "InvalidPayloadLength",
    "DuplicateHeader",
    "InvalidMessageLength",
    "InvalidHeader",
    "TruncatedStreamError",
    "IncompleteBodyError",
    "ChunkedEncodingError",
    "DecodeError",
    "translate",
    "BOTOCORE_CLASSES",
]

#: The botocore.eventstream classes this module derives from (install() refuses a botocore without one).
BOTOCORE_CLASSES = ("ParserError", "ChecksumMismatch", "InvalidHeadersLength", "InvalidPayloadLength",
                    "DuplicateHeader")


class _Absent(Exception):
    """Stands in for a botocore class this botocore lacks (install() then refuses)."""


def _botocore_class(name: str) -> Type[Exception]:
    found = getattr(bes, name, None)
    return found if isinstance(found, type) and issubclass(found, Exception) else _Absent


# Type checkers see botocore's classes (its stubs have all five); at run time
# a botocore without one gets _Absent in its place.
if TYPE_CHECKING:
    from botocore.eventstream import ChecksumMismatch as _ChecksumMismatch
    from botocore.eventstream import DuplicateHeader as _DuplicateHeader
    from botocore.eventstream import InvalidHeadersLength as _InvalidHeadersLength
    from botocore.eventstream import InvalidPayloadLength as _InvalidPayloadLength
    from botocore.eventstream import ParserError as _ParserError
else:
    _ParserError = _botocore_class("ParserError")
    _ChecksumMismatch = _botocore_class("ChecksumMismatch")
    _InvalidHeadersLength = _botocore_class("InvalidHeadersLength")
    _InvalidPayloadLength = _botocore_class("InvalidPayloadLength")
    _DuplicateHeader = _botocore_class("DuplicateHeader")


class ChecksumMismatch(_ChecksumMismatch, _errors.ChecksumMismatch):
    """A prelude or message CRC did not match (``botocore.eventstream.ChecksumMismatch``)."""

    __init__ = _errors.ChecksumMismatch.__init__  # pyright: ignore[reportAssignmentType]  # fastsmr's arguments: fastsmr raises it


class InvalidHeadersLength(_InvalidHeadersLength, _errors.InvalidHeadersLength):
    """The header block is over the limit (``botocore.eventstream.InvalidHeadersLength``)."""

    __init__ = _errors.InvalidHeadersLength.__init__  # pyright: ignore[reportAssignmentType]  # fastsmr's arguments: fastsmr raises it


class InvalidPayloadLength(_InvalidPayloadLength, _errors.InvalidPayloadLength):
    """The payload is over the limit (``botocore.eventstream.InvalidPayloadLength``)."""

    __init__ = _errors.InvalidPayloadLength.__init__  # pyright: ignore[reportAssignmentType]  # fastsmr's arguments: fastsmr raises it


class DuplicateHeader(_DuplicateHeader, _errors.DuplicateHeader):
    """A header name appears twice (``botocore.eventstream.DuplicateHeader``)."""

    __init__ = _errors.DuplicateHeader.__init__  # pyright: ignore[reportAssignmentType]  # fastsmr's arguments: fastsmr raises it


class InvalidMessageLength(_ParserError, _errors.InvalidMessageLength):
    """The prelude's lengths cannot describe a message (a ``ParserError``)."""

    __init__ = _errors.InvalidMessageLength.__init__


class InvalidHeader(_ParserError, _errors.InvalidHeader):
    """A malformed header: unknown type, value past the block, bad UTF-8 (a ``ParserError``)."""

    __init__ = _errors.InvalidHeader.__init__


class TruncatedStreamError(_ParserError, _errors.TruncatedStreamError):
    """The response ended inside a message (a ``ParserError``; botocore drops the bytes)."""

    __init__ = _errors.TruncatedStreamError.__init__


class IncompleteBodyError(_ParserError, _errors.IncompleteBodyError):
    """The body ended short of its Content-Length (a ``ParserError``; botocore ends the stream quietly)."""

    __init__ = _errors.IncompleteBodyError.__init__


class ChunkedEncodingError(_ProtocolError, _errors.ChunkedEncodingError):
    """The HTTP body's chunked transfer coding is broken or cut short: a
    ``urllib3.exceptions.ProtocolError``, as urllib3's own chunked reads raise."""

    __init__ = _errors.ChunkedEncodingError.__init__


class DecodeError(_ParserError, _errors.DecodeError):
    """Any other fastsmr decode error (a ``ParserError``)."""

    __init__ = _errors.DecodeError.__init__


_TRANSLATIONS: Dict[type, Type[Exception]] = {
    _errors.ChecksumMismatch: ChecksumMismatch,
    _errors.InvalidHeadersLength: InvalidHeadersLength,
    _errors.InvalidPayloadLength: InvalidPayloadLength,
    _errors.DuplicateHeader: DuplicateHeader,
    _errors.InvalidMessageLength: InvalidMessageLength,
    _errors.InvalidHeader: InvalidHeader,
    _errors.TruncatedStreamError: TruncatedStreamError,
    _errors.IncompleteBodyError: IncompleteBodyError,
    _errors.ChunkedEncodingError: ChunkedEncodingError,
    _errors.DecodeError: DecodeError,
}
_TWINS = frozenset(_TRANSLATIONS.values())


def translate(error: BaseException) -> BaseException:
    """The botocore-compatible twin of a fastsmr decode error (same message and
    attributes); any other error is returned as it is.

    >>> import fastsmr, botocore.eventstream
    >>> from fastsmr.boto.errors import translate
    >>> err = translate(fastsmr.DuplicateHeader("x", 0))
    >>> isinstance(err, botocore.eventstream.DuplicateHeader), isinstance(err, fastsmr.DuplicateHeader)
    (True, True)
    """
    if not isinstance(error, _errors.DecodeError) or type(error) in _TWINS:
        return error
    for cls in type(error).__mro__:
        target = _TRANSLATIONS.get(cls)
        if target is not None:
            twin = target.__new__(target)
            Exception.__init__(twin, *error.args)
            twin.__dict__.update(error.__dict__)
            return twin
    return error
