"""An aiobotocore body taken off aiohttp: the transport's bytes go straight to the codec.

aiohttp reads a chunked body through Python for every arrival: its
protocol's ``data_received`` (rescheduling the read timeout each time), its
parser's callbacks into the ``StreamReader`` (a chunk's start, its data, its
end), the reader's waiter, then ``readany``. A :class:`TakenBody` stands in
for aiohttp's protocol on the transport (``transport.set_protocol``) while
one body is read: each arrival is de-chunked and decoded by the codec in
``data_received`` and the waiting consumer is woken once per batch of
messages, with one read-timeout timer per timeout period instead of one per
arrival.

The body can change hands only where aiohttp's parser (llhttp, the C
parser) is provably between chunks, since its state cannot be read: until
then each arrival goes through aiohttp as before, and the hand-over comes
after an arrival that ended with a chunk's end (its last byte the line feed
after the chunk's data, and the chunk's end the parser's last callback: any
byte after it would have made another callback or an error). At the end of
the body, aiohttp gets the transport back and a last chunk, so that it ends
the response as its own and returns the connection to the pool; a body
followed by stray bytes, a decode error, a timeout or a lost connection
closes the connection instead, as aiohttp does. Errors are aiohttp's: its
``SocketTimeoutError`` for a stall, its ``ClientPayloadError`` for a body cut
short. A TLS transport hands its protocol the decrypted bytes, so HTTPS
bodies change hands too; the default event loop's transports and uvloop's
both take a new protocol (``set_protocol``).
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from typing import TYPE_CHECKING, Any, Deque, List, Optional

from aiohttp import ClientPayloadError
from aiohttp.client_proto import ResponseHandler
from aiohttp.streams import StreamReader

from ..codec import backend

if TYPE_CHECKING:
    from aiohttp.client_exceptions import SocketTimeoutError as _ReadTimeout
else:
    try:
        from aiohttp.client_exceptions import SocketTimeoutError as _ReadTimeout
    except ImportError:  # an aiohttp before 3.10
        from aiohttp import ServerTimeoutError as _ReadTimeout

try:
    from aiohttp._http_parser import HttpResponseParser as _LlhttpParser
except ImportError:  # aiohttp without its C parser: bodies stay with aiohttp
    _LlhttpParser = None

__all__ = ["TakenBody", "take_body"]

#: Bytes of decoded, undelivered messages past which reading stops until the consumer catches up.
HIGH_WATER = 1 << 18

#: The most one receive takes (as urllib3's reads, and the codec's BodyReader).
READ_SIZE = 65536


class _Watched(StreamReader):
    """A ``StreamReader`` whose chunk ends are noted, while a body waits to change hands."""

    __slots__ = ()

    def begin_http_chunk_receiving(self) -> None:
        _LAST.chunk_end = False
        super().begin_http_chunk_receiving()

    def feed_data(self, data: bytes, size: int = 0) -> bool:
        _LAST.chunk_end = False
        return super().feed_data(data, size)

    def end_http_chunk_receiving(self) -> None:
        _LAST.chunk_end = True
        super().end_http_chunk_receiving()


# Whether the parser's last callback was a chunk's end: set and read within
# one data_received call, so per thread (each event loop runs in one).
_LAST = threading.local()


class TakenBody(asyncio.BufferedProtocol):
    """One body's reading, off aiohttp once its parser is between chunks; made by :func:`take_body`.

    A buffered protocol: the transport receives into one buffer per body
    (``READ_SIZE`` bytes; asyncio's own reads allocate 256 KiB per call, which
    glibc serves with an mmap and munmap each time).

    It holds the connection, never the response: a response its consumer
    drops is collected and closes its connection, as under aiohttp.
    """

    def __init__(self, response: Any, handler: Any, transport: Any, core: Any) -> None:
        self.connection = response.connection
        self.handler = handler
        self.transport = transport
        self.core = core
        self.content = response.content
        self.timeout: Optional[float] = handler.read_timeout
        self.loop = asyncio.get_running_loop()
        self.time = self.loop.time
        self.feed = core.decoder().feed
        self.chunked: Any = None  # the codec's ChunkedDecoder, once the body is ours
        self.batches: Deque[List[Any]] = deque()
        self.size = 0  # body bytes behind the undelivered batches
        self.error: Optional[BaseException] = None
        self.ended = False
        self.paused = False
        self.waiter: Optional[asyncio.Future[None]] = None
        self.last = self.loop.time()
        self.timer: Optional[asyncio.TimerHandle] = None
        self.buffer = memoryview(bytearray(READ_SIZE))
        self.content.__class__ = _Watched
        transport.set_protocol(self)
        handler._drop_timeout()  # this reader times the arrivals from now on, aiohttp's or not
        self._arm()
        self._pull()

    # --- the consumer's side ------------------------------------------------------

    async def next_batch(self) -> Optional[List[Any]]:
        """The next decoded messages (a non-empty list), None at the end of the body; raises what ended it."""
        while True:
            if self.batches:
                batch = self.batches.popleft()
                if not self.batches:
                    self.size = 0
                    if self.paused and not self.ended:
                        self.paused = False
                        self.transport.resume_reading()
                        self.last = self.loop.time()
                        self._arm()
                return batch
            if self.error is not None:
                raise self.error
            if self.ended:
                return None
            waiter = self.waiter = self.loop.create_future()
            try:
                await waiter
            finally:
                self.waiter = None

    # --- the transport's side ------------------------------------------------------

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(self.buffer[:nbytes])

    def data_received(self, data: Any) -> None:
        """``data`` (bytes-like) arrived: aiohttp's to parse until the body is the codec's."""
        chunked = self.chunked
        if chunked is None:  # still aiohttp's
            self.last = self.time()
            _LAST.chunk_end = False
            self.handler.data_received(bytes(data))
            self.handler._drop_timeout()
            self._pull()
            if _LAST.chunk_end and data[-1:] == b"\n" and not self.ended:
                self._take()
            return
        self.last = self.time()
        error: Optional[BaseException] = None
        try:
            body = chunked.feed(data)  # raises at once only when no data came before the bad bytes
        except Exception as raised:
            body, error = b"", raised
        else:
            if not chunked.done:
                try:
                    chunked.feed(b"")  # raises an error found past the data
                except Exception as raised:
                    error = raised
        if error is not None:
            error = ClientPayloadError(f"Response payload is not completed: {error}")  # as aiohttp says it
        if body:
            feed = self.feed
            try:
                batch = feed(body, self.core.events)
            except Exception as raised:
                batch, error = None, raised
            if batch:  # _add(), inline: once per arrival
                self.batches.append(batch)
                self.size += len(body)
                if self.size > HIGH_WATER and not self.paused:
                    self.paused = True
                    self.transport.pause_reading()
                waiter = self.waiter
                if waiter is not None and not waiter.done():
                    waiter.set_result(None)
                try:
                    feed(b"")  # raises a decode error found past the messages now
                except Exception as raised:
                    error = raised
        if error is not None:
            self._fail(error)
        elif chunked.done:
            self._end(chunked.unused)

    def eof_received(self) -> Any:
        return self.handler.eof_received()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.handler.connection_lost(exc)
        if self.chunked is None:
            self._pull()
        if not self.ended:
            self._fail(ClientPayloadError("Response payload is not completed: the connection was lost"))

    def pause_writing(self) -> None:
        self.handler.pause_writing()

    def resume_writing(self) -> None:
        self.handler.resume_writing()

    # --- steps ------------------------------------------------------------------------

    def _pull(self) -> None:
        """Take what aiohttp's reader holds (while the body is aiohttp's)."""
        content = self.content
        try:
            data = content.read_nowait()
            if data:
                self._add(self.feed(data, self.core.events), len(data))
                self.feed(b"")  # raises a decode error found past the messages now
        except Exception as error:  # aiohttp's (the reader's exception) or the codec's
            self._fail(error)
            return
        if content.is_eof():
            self.ended = True
            self._give_back()
            self._wake()

    def _take(self) -> None:
        """aiohttp's parser is between chunks: the body is the codec's from here."""
        self.content.__class__ = StreamReader
        self.chunked = backend.impl.ChunkedDecoder()

    def _add(self, batch: List[Any], size: int) -> None:
        if batch:
            self.batches.append(batch)
            self.size += size
            if self.size > HIGH_WATER and not self.paused:
                self.paused = True  # the consumer is behind: stop reading until it catches up (and timing)
                self.transport.pause_reading()
            self._wake()

    def _end(self, unused: int) -> None:
        """The body ended at its last chunk: aiohttp ends the response as its own."""
        self.ended = True
        self._give_back()
        if unused:
            # Bytes past the body belong to no response: the connection cannot be reused.
            self.connection.close()
        else:
            self.handler.data_received(b"0\r\n\r\n")  # aiohttp's parser waits for a chunk
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.ended = True
        self._give_back()
        self.connection.close()  # the connection is closed now, as aiohttp does after an error
        self._wake()

    def _give_back(self) -> None:
        self._disarm()
        self.content.__class__ = StreamReader
        if self.transport.get_protocol() is self:
            self.transport.set_protocol(self.handler)
        if self.paused:
            self.paused = False
            self.transport.resume_reading()

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # --- the read timeout: one timer per period, checked against the last arrival -----

    def _arm(self) -> None:
        if self.timeout and self.timer is None and not self.ended:
            self.timer = self.loop.call_at(self.last + self.timeout, self._check)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _check(self) -> None:
        self.timer = None
        if self.ended or self.paused:
            return
        assert self.timeout is not None
        if self.loop.time() - self.last >= self.timeout:
            self._fail(_ReadTimeout("Timeout on reading data from socket"))
        else:
            self._arm()


def take_body(response: Any, core: Any) -> Optional[TakenBody]:
    """A :class:`TakenBody` reading ``response`` (aiohttp's, as aiobotocore's
    ``raw_stream``) into ``core``, or None to read it through aiohttp.

    Taken: a chunked body not content-encoded, not started, on a connection
    whose transport aiohttp's protocol (with its C parser) reads.
    """
    if _LlhttpParser is None:
        return None
    try:
        content = response.content
        connection = response.connection
        if type(content) is not StreamReader or connection is None:
            return None
        handler = connection.protocol
        transport = handler.transport
        if (
            type(handler) is not ResponseHandler
            or type(handler._parser) is not _LlhttpParser
            or transport is None
            or transport.get_protocol() is not handler
            or response.headers.get("Transfer-Encoding", "").lower() != "chunked"
            or response.headers.get("Content-Encoding")
            or content.exception() is not None
            or content.is_eof()
            or content._waiter is not None
            or not callable(handler._drop_timeout)
        ):
            return None
    except AttributeError:  # an aiohttp whose internals differ
        return None
    return TakenBody(response, handler, transport, core)
