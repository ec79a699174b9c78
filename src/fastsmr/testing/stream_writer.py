"""The response streams of the local endpoints: what an operation sends, and the
fault-injecting writer that sends it.

A :class:`Route` says what one streaming operation sends (the steps of a
stream and the event message of each); a :class:`StreamWriter` writes one
stream of it as :class:`~fastsmr.testing.EndpointConfig` asks: paced,
re-sliced, and broken by the configured fault. The HTTP/1.1 endpoint frames
each message as an HTTP chunk (:func:`stream_response`); the HTTP/2 one
(:mod:`fastsmr.testing.bidirectional`) writes through its own subclass.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import struct
from itertools import islice
from typing import Any, Iterable, Iterator, List

from .config import EndpointConfig
from .http1 import HangUp, date_header
from .model import iter_tokens

__all__ = ["Route", "StreamWriter", "ServerStats", "stream_response"]

# An unpaced stream writes its messages in batches of about this size.
_BATCH_BYTES = 64 * 1024


@dataclasses.dataclass
class ServerStats:
    """Counters kept by the server (read them from any thread).

    ``streams_peak`` is the largest number of response streams that were
    open at the same moment.
    """

    requests: int = 0
    streams_open: int = 0
    streams_peak: int = 0
    streams_total: int = 0


class Route:
    """What one streaming operation sends: the steps of a stream and their messages."""

    #: Steps before the first token's (a message start, say).
    lead = 0
    #: Whether ``part_bytes`` re-slices the steps (raw model output, SageMaker only).
    reslices = False

    def steps(self, tokens: Iterable[str], *, start: bool, finish: bool) -> Iterator[Any]:
        """One item per step: before the tokens (``start``), per token, after them (``finish``)."""
        raise NotImplementedError

    def message(self, step: Any) -> bytes:
        """The event message that carries ``step``."""
        raise NotImplementedError

    def exception(self, fault: str, config: EndpointConfig) -> bytes:
        """The exception message for a ``model-stream-error`` or ``internal-stream-failure``."""
        raise NotImplementedError

    def error_step(self) -> Any:
        """The step that carries the model server's own in-band error (``generation-error``)."""
        raise NotImplementedError



class StreamWriter:
    """Writes one response stream: paced tokens, re-slicing, and the fault.

    The transport is in four methods — :meth:`_chunk` (queue a message),
    :meth:`_send` (hand what is queued to the connection), :meth:`_end` (the
    stream is complete), :meth:`_reset` (break the connection) — so that the
    HTTP/2 endpoint writes the same streams through its own subclass.
    """

    def __init__(self, writer: asyncio.StreamWriter, config: EndpointConfig, route: Route) -> None:
        self.writer = writer
        self.config = config
        self.route = route
        self._batch: List[bytes] = []
        self._batched = 0
        # When the next send is due (loop time), for paced streams; 0: now.
        self._due = 0.0

    async def run(self) -> None:
        config = self.config
        route = self.route
        loop = asyncio.get_running_loop()
        if config.start_delay:
            await asyncio.sleep(config.start_delay)
        fault = config.fault
        count = config.tokens
        # Tokens are made as they are sent: a long stream costs nothing up front.
        source = iter_tokens(config.seed)
        steps = route.steps(islice(source, count), start=True, finish=True)
        pending = bytearray()
        reslice = config.part_bytes if route.reslices else 0
        # Token k is due at base + k / rate (the loop's clock is time.monotonic()).
        base = config.pace_origin - 1 / config.rate if config.rate and config.pace_origin else loop.time()
        for step, item in enumerate(steps):
            token = step - route.lead  # the token this step carries (>= count after the last)
            if config.rate and 0 < token < count:
                when = base + token / config.rate
                if when > loop.time():
                    await self._send()
                    self._due = when
            if fault and token >= 0 and min(token, count) >= config.fail_after:
                await self._flush(pending)
                if not await self._fault(fault, item):
                    return
                fault = None  # a corrupted message is sent once; the stream goes on
                continue
            if reslice:
                pending += item
                while len(pending) >= reslice:
                    await self._message(bytes(pending[:reslice]))
                    del pending[:reslice]
            else:
                await self._message(item)
        await self._flush(pending)
        # A fault placed after the last token breaks the message of the token
        # that would have come next (islice left it first in ``source``).
        if fault and not await self._fault(fault, next(route.steps([next(source)], start=False, finish=False))):
            return
        await self._end()

    async def _flush(self, pending: bytearray) -> None:
        if pending:
            await self._message(bytes(pending))
            pending.clear()

    async def _message(self, step: Any, *, corrupt: bool = False) -> None:
        message = self.route.message(step)
        if corrupt:
            message = message[:-1] + bytes((message[-1] ^ 0xFF,))
        await self._chunk(message)

    async def _chunk(self, data: bytes) -> None:
        """Queue one HTTP chunk; send when a batch is full or the stream is paced.

        Every message is its own HTTP chunk, but an unpaced stream hands
        them to the socket in ~64 KiB batches: one ``send`` per message
        would make the server, not the client under test, the bottleneck
        (and each send is also where other streams get their turn).
        """
        self._batch.append(b"%x\r\n%s\r\n" % (len(data), data))
        self._batched += len(data)
        if self.config.rate or self._batched >= _BATCH_BYTES:
            await self._send()

    async def _send(self) -> None:
        if self._batch:
            data = b"".join(self._batch)
            self._batch.clear()
            self._batched = 0
            due, self._due = self._due, 0.0
            if due:
                await self._write_at(due, data)
            else:
                self.writer.write(data)
                await asyncio.sleep(0)  # let the other streams write too
            await self.writer.drain()

    async def _write_at(self, when: float, data: bytes) -> None:
        """Write ``data`` at loop time ``when``, from a timer callback.

        The write happens in the callback itself rather than in this task
        once it wakes: streams due at the same moment (batched arrival) then
        all write within one pass of the loop, back to back, as a batching
        engine's server would.
        """
        loop = asyncio.get_running_loop()
        written = loop.create_future()

        def write() -> None:
            if written.done():  # cancelled
                return
            try:
                self.writer.write(data)
            except Exception as exc:  # noqa: BLE001 - handed to the task
                written.set_exception(exc)
            else:
                written.set_result(None)

        handle = loop.call_at(when, write)
        try:
            await written
        finally:
            handle.cancel()

    async def _end(self) -> None:
        await self._chunk(b"")
        await self._send()

    async def _fault(self, fault: str, next_step: Any) -> bool:
        """Inject ``fault``; return whether the stream carries on afterwards."""
        if fault == "bad-crc":
            await self._message(next_step, corrupt=True)
            return True
        if fault == "generation-error":
            await self._message(self.route.error_step())
        elif fault in ("model-stream-error", "internal-stream-failure"):
            await self._chunk(self.route.exception(fault, self.config))
        else:  # reset or truncate: half of the next message, then the end
            message = self.route.message(next_step)
            await self._chunk(message[: len(message) // 2])
            if fault == "reset":
                await self._reset()
        await self._end()
        return False

    async def _reset(self) -> None:
        """Break the connection (a TCP reset) once what is queued has left."""
        await self._send()
        await _reset(self.writer)


async def _reset(writer: asyncio.StreamWriter) -> None:
    """Send a TCP RST once what was written has left our buffer."""
    transport = writer.transport
    for _ in range(1000):  # bounded: at most ~1 s for a slow reader
        if transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.001)
    sock = writer.get_extra_info("socket")
    if sock is not None:
        # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    raise HangUp


async def stream_response(
    writer: asyncio.StreamWriter, stats: ServerStats, config: EndpointConfig, route: Route, head: List[str],
    request_id: str,
) -> None:
    """An HTTP/1.1 ``200`` with the extra ``head`` lines, then the stream of ``route``, one HTTP chunk per message."""
    head = [
        "HTTP/1.1 200 OK",
        f"x-amzn-RequestId: {request_id}",
        *head,
        "Content-Type: application/vnd.amazon.eventstream",
        "Transfer-Encoding: chunked",
        date_header(),
        "",
        "",
    ]
    writer.write("\r\n".join(head).encode("latin-1"))
    stats.streams_open += 1
    stats.streams_total += 1
    stats.streams_peak = max(stats.streams_peak, stats.streams_open)
    try:
        await StreamWriter(writer, config, route).run()
    finally:
        stats.streams_open -= 1
