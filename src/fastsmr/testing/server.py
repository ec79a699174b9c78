"""The asyncio HTTP/1.1 server that answers like SageMaker Runtime (and
Bedrock Runtime's streaming operations, see :mod:`fastsmr.testing.bedrock`).

Why asyncio rather than a thread pool: a streaming LLM response is a socket
that is idle most of the time (waiting for the next token) or blocked on the
client reading. One event loop holds thousands of such sockets in one thread
at a few KiB each, with no per-stream thread stacks and no GIL hand-offs
between hundreds of threads on a 2-core machine; a bounded thread pool would
instead stall stream N+1 until one of N finished. The per-token work (encode
one small message, frame it as an HTTP chunk) is short, so a single thread
keeps up, and shutting down is one place that knows every open connection.

:class:`EndpointServer` reads the requests of each connection
(:mod:`~fastsmr.testing.http1`) and hands each to its operation
(:mod:`~fastsmr.testing.sagemaker`, :mod:`~fastsmr.testing.bedrock`), whose
streams :mod:`~fastsmr.testing.stream_writer` writes. It runs inside a running event loop (``fastsmr serve``
uses it directly); :class:`fastsmr.testing.StreamingEndpoint` runs one in a
background thread for synchronous code and tests.
"""

from __future__ import annotations

import asyncio
import math
import selectors
import sys
import time
import uuid
from typing import Dict, List, Mapping, Optional, Set, Tuple
from urllib.parse import unquote

from . import bedrock, sagemaker
from .config import EndpointConfig
from .http1 import MAX_HEAD, HangUp, Request, RequestReader, error, region_of, respond
from .sagemaker import ACCOUNT_ID, MAX_BODY, model_error_body
from .stream_writer import ServerStats

# The names this module has always offered; their homes are the modules above.
__all__ = ["EndpointServer", "ServerStats", "ACCOUNT_ID", "MAX_BODY", "model_error_body", "new_event_loop", "region_of"]


class _PreciseSelector(selectors.DefaultSelector):
    """The default selector, with timeouts kept to the microsecond.

    epoll and poll count their timeout in whole milliseconds, rounded up, so
    an event loop wakes a paced stream up to 1 ms late and every stream due
    within that millisecond wakes with it: tokens meant to be spread in time
    arrive in bunches, which flatters clients that read many sockets per
    wake-up. This waits the whole milliseconds in the selector and the rest
    in ``time.sleep`` (a nanosecond-resolution sleep), then looks again.
    """

    def select(self, timeout: Optional[float] = None) -> List[Tuple[selectors.SelectorKey, int]]:
        if timeout is None or timeout <= 0:
            return super().select(timeout)
        deadline = time.monotonic() + timeout
        whole = math.floor(timeout * 1000) / 1000
        if whole > 0:
            ready = super().select(whole)
            if ready:
                return ready
        left = deadline - time.monotonic()
        if left > 0:
            time.sleep(left)
        return super().select(0)


def new_event_loop() -> asyncio.AbstractEventLoop:
    """An event loop whose timers fire on time to the microsecond (see
    :class:`_PreciseSelector`) where asyncio uses selectors; the default
    loop elsewhere (Windows' proactor)."""
    if sys.platform == "win32":
        return asyncio.new_event_loop()
    return asyncio.SelectorEventLoop(_PreciseSelector())


class EndpointServer:
    """SageMaker Runtime's two invocation operations, and Bedrock Runtime's
    ``InvokeModelWithResponseStream`` and ``ConverseStream``, on a local socket.

    SageMaker endpoint names and Bedrock model IDs both look up their
    :class:`EndpointConfig` in ``endpoints``; a model ID that is not there
    streams with the defaults (the format comes from the model ID, see
    :mod:`fastsmr.testing.bedrock`).

    >>> import asyncio
    >>> from fastsmr.testing.server import EndpointServer
    >>> async def main():
    ...     server = EndpointServer({"demo": EndpointConfig()})
    ...     await server.start()
    ...     port = server.port
    ...     await server.close()
    ...     return port > 0
    >>> asyncio.run(main())
    True
    """

    def __init__(self, endpoints: Mapping[str, EndpointConfig], *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.endpoints: Dict[str, EndpointConfig] = dict(endpoints)
        self.host = host
        self.port = port
        self.stats = ServerStats()
        self._server: Optional[asyncio.AbstractServer] = None
        self._tasks: Set[asyncio.Task[None]] = set()  # the connections' handlers
        self._writers: Set[asyncio.StreamWriter] = set()
        self._closing = False

    async def start(self) -> None:
        """Bind and start accepting; ``port`` then holds the bound port."""
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, limit=MAX_HEAD, backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self, timeout: float = 5.0) -> None:
        """Stop accepting, end every open connection, and wait for them.

        Open streams are closed mid-response (a client sees the connection
        end before the final chunk); any that do not finish within
        ``timeout`` seconds are aborted.
        """
        self._closing = True
        if self._server is not None:
            self._server.close()  # stop listening
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        for writer in list(self._writers):
            writer.transport.abort()
        if self._server is not None:
            # Since Python 3.12 this also waits for every connection to end,
            # hence only now that they have been ended.
            await asyncio.wait_for(self._server.wait_closed(), timeout)

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._closing:
            writer.transport.abort()
            return
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            requests = RequestReader(reader, writer)
            while True:
                request = await requests.next()
                if request is None:
                    break
                self.stats.requests += 1
                await self._dispatch(request, writer)
                if not request.keep_alive:
                    break
        except (HangUp, ConnectionError, asyncio.CancelledError):
            pass  # the peer left, the request was unreadable, a reset fault, or shutdown
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            if self._closing:
                # Shutting down: do not wait for a client that may never read
                # what is still buffered.
                writer.transport.abort()
            elif not writer.transport.is_closing():
                writer.close()

    async def _dispatch(self, request: Request, writer: asyncio.StreamWriter) -> None:
        request_id = str(uuid.uuid4())
        parts = request.path.split("/")
        # POST /model/{modelId}/{operation} is Bedrock's, POST /endpoints/{name}/{operation} SageMaker's.
        service = {"model": bedrock, "endpoints": sagemaker}.get(parts[1]) if len(parts) == 4 and not parts[0] else None
        if request.method == "GET" and request.path == "/ping":
            respond(writer, 200, b"", "text/plain", request_id)
        elif request.method == "POST" and service is not None and parts[3] in service.OPERATIONS:
            await service.serve(request, unquote(parts[2]), parts[3], writer, self.endpoints, self.stats, request_id)
        else:
            message = f"No operation at {request.method} {request.path}"
            error(writer, 404, "UnknownOperationException", {"message": message}, request_id)
