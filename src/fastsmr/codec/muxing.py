"""What both twins of the multiplexer (``_mux_py.Mux`` and the C backend's ``Mux``) share.

A ``Mux.poll`` report is ``(key, parts, events, handover, end)``:

* ``parts``: the ``PayloadPart`` payloads read since the last report (a
  list of bytes), for a body whose text the multiplexer does not make;
* ``events``: for a body whose text it makes (``text=``), the Server-Sent
  Events of that text (bytes; ``b""`` when relayed or when there is none),
  else None;
* ``handover``: None, or once, when the multiplexer stopped making a body's
  text: ``(offset, framing, pieces)``, the stream offset from which a Python
  ``TextDecoder`` takes over, the framing it found (``"sse"``, ``"jsonl"``,
  ``"text"``, or None if it had not decided), and the bytes to feed it first,
  in parts; from then on the body's payloads come as ``parts``;
* ``end``: None while the body is open; once, how its response ended
  (:data:`END`, :data:`END_UNUSED`, an exception or error ``Message``, or
  an exception); for a relayed body, once more, how the relay ended
  (:data:`FLUSHED`, or a :class:`DownstreamFailed`).
"""

from __future__ import annotations

from typing import Optional

__all__ = ["END", "END_UNUSED", "FLUSHED", "DEFAULT_LIMIT", "TEXT_FORMATS", "DownstreamFailed",
           "downstream_timeout", "read_timeout", "bad_timeout", "check_timeout", "already_read", "descriptor_taken",
           "closed"]

#: The response was read to its last chunk; its connection can carry another request.
END = 1
#: The same when bytes followed the last chunk (the connection is not reusable).
END_UNUSED = 2
#: A relay was flushed: its downstream took every byte.
FLUSHED = 3
#: The most bytes that may wait for a relay's downstream before its body is left unread.
DEFAULT_LIMIT = 256 * 1024
#: The text formats (as ``fastsmr.text_stream`` names them) whose text the C multiplexer makes.
TEXT_FORMATS = ("auto", "tgi", "lmi", "openai", "raw")


class DownstreamFailed:
    """A relay's end: its downstream socket failed (``error``: the ``OSError``
    a write raised, or ``TimeoutError`` when it took nothing for the body's
    timeout)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __repr__(self) -> str:
        return f"DownstreamFailed({self.error!r})"


# The errors both twins raise or report, built here so that their texts agree.


def downstream_timeout(timeout: float) -> TimeoutError:
    """A relay's downstream took nothing for ``timeout`` seconds."""
    return TimeoutError(f"the downstream took nothing for {timeout:g} s")


def read_timeout(timeout: float) -> TimeoutError:
    """A body's socket gave nothing for ``timeout`` seconds."""
    return TimeoutError(f"no data for {timeout:g} s")


def bad_timeout() -> ValueError:
    return ValueError("timeout must be >= 0 or None")


def check_timeout(timeout: object) -> Optional[float]:
    """``Mux.add``'s ``timeout``: None, or a number of seconds >= 0 (as a float)."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be a number of seconds or None, not {type(timeout).__name__}")
    if not timeout >= 0:  # NaN included
        raise bad_timeout()
    return float(timeout)


def closed() -> ValueError:
    """A call on a ``Mux`` after its ``close()`` (a ``ValueError``, as a closed file raises)."""
    return ValueError("the Mux is closed")


def already_read(key: object) -> ValueError:
    return ValueError(f"{key!r} is already being read")


def descriptor_taken(fd: int, relay: object) -> ValueError:
    return ValueError(f"descriptor {fd} (or the relay's {relay}) is already being read or relayed to")
