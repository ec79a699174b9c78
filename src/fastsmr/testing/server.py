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

:class:`EndpointServer` runs inside a running event loop (``fastsmr serve``
uses it directly); :class:`fastsmr.testing.StreamingEndpoint` runs one in a
background thread for synchronous code and tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import re
import selectors
import socket
import struct
import sys
import time
import uuid
from email.utils import formatdate
from itertools import islice
from typing import Any, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, Set, Tuple
from urllib.parse import unquote, urlsplit

from ..codec.encoder import encode
from . import bedrock
from .config import EndpointConfig, OptionError, overrides_from_attributes, overrides_from_body
from .model import generate_tokens, iter_tokens, render_error, render_response, render_stream, response_content_type

__all__ = ["EndpointServer", "ServerStats", "ACCOUNT_ID", "MAX_BODY", "model_error_body", "new_event_loop", "region_of"]

#: The account SageMaker's messages name (a documentation placeholder).
ACCOUNT_ID = "123456789012"
#: SageMaker's documented request payload limit (6 MB).
MAX_BODY = 6 * 1024 * 1024
# Bodies past the limit are read and thrown away up to this size so the
# client gets a ValidationError instead of a broken pipe; beyond it we hang up.
_DISCARD_LIMIT = 64 * 1024 * 1024
_MAX_HEAD = 64 * 1024
_MAX_ATTRIBUTES = 1024
# An unpaced stream writes its messages in batches of about this size.
_BATCH_BYTES = 64 * 1024

_REGION = re.compile(r"Credential=[^/,]+/\d{8}/([a-z0-9-]+)/")

_PAYLOAD_PART = {":event-type": "PayloadPart", ":content-type": "application/octet-stream", ":message-type": "event"}
_STREAM_ERROR_MESSAGES = {
    "ModelInvocationTimeExceeded": "The model did not finish sending its response within the allowed time.",
    "StreamBroken": "The connection between SageMaker and the model was reset or closed.",
}
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 424: "Failed Dependency", 431: "Request Header Fields Too Large"}
_BEDROCK_OPERATIONS = ("invoke-with-response-stream", "converse-stream")
# A model ID the endpoint has no config for streams with the defaults.
_BEDROCK_DEFAULT = EndpointConfig()


class _PreciseSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
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


@dataclasses.dataclass
class _Request:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    keep_alive: bool


class _HangUp(Exception):
    """The connection must end now (bad framing, reset fault)."""


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
        self._tasks: Set[asyncio.Task] = set()
        self._writers: Set[asyncio.StreamWriter] = set()
        self._closing = False

    async def start(self) -> None:
        """Bind and start accepting; ``port`` then holds the bound port."""
        self._server = await asyncio.start_server(
            self._connection, self.host, self.port, limit=_MAX_HEAD, backlog=1024
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
            while True:
                request = await _read_request(reader, writer)
                if request is None:
                    break
                self.stats.requests += 1
                await self._dispatch(request, writer)
                if not request.keep_alive:
                    break
        except (_HangUp, ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
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

    async def _dispatch(self, request: _Request, writer: asyncio.StreamWriter) -> None:
        request_id = str(uuid.uuid4())
        parts = request.path.split("/")
        if request.method == "GET" and request.path == "/ping":
            _respond(writer, 200, b"", "text/plain", request_id)
            return
        if request.method == "POST" and len(parts) == 4 and parts[:2] == ["", "model"] and parts[3] in _BEDROCK_OPERATIONS:
            await self._bedrock(request, unquote(parts[2]), parts[3], writer, request_id)
            return
        if request.method != "POST" or len(parts) != 4 or parts[:2] != ["", "endpoints"] or parts[3] not in (
            "invocations",
            "invocations-response-stream",
        ):
            _error(writer, 404, "UnknownOperationException", {"message": f"No operation at {request.method} {request.path}"}, request_id)
            return
        name = unquote(parts[2])
        region = region_of(request.headers)
        config = self.endpoints.get(name)
        if config is None:
            message = f"Endpoint {name} of account {ACCOUNT_ID} not found."
            _validation_error(writer, message, request_id)
            return
        try:
            config = self._per_call(config, request)
        except _ModelRejected as rejected:
            _model_error(writer, name, region, 400, rejected.message, request_id)
            return
        except OptionError as exc:
            _validation_error(writer, str(exc), request_id)
            return
        if config.fault == "model-error":
            original = json.dumps({"error": "fault injected by fastsmr", "error_type": "generation"})
            _model_error(writer, name, region, config.status, original, request_id)
            return
        attributes = request.headers.get("x-amzn-sagemaker-custom-attributes")
        if parts[3] == "invocations":
            await self._invoke(writer, config, attributes, request_id)
        else:
            await self._stream(writer, config, attributes, request_id, request.body)

    def _per_call(self, config: EndpointConfig, request: _Request) -> EndpointConfig:
        if len(request.body) > MAX_BODY:
            raise OptionError(
                f"Request payload of {len(request.body)} bytes exceeds the limit of {MAX_BODY} bytes."
            )
        attributes = request.headers.get("x-amzn-sagemaker-custom-attributes", "")
        if len(attributes) > _MAX_ATTRIBUTES:
            raise OptionError(
                "1 validation error detected: Value at 'customAttributes' failed to satisfy "
                f"constraint: Member must have length less than or equal to {_MAX_ATTRIBUTES}"
            )
        changes = overrides_from_attributes(attributes)
        content_type = request.headers.get("content-type", "")
        looks_json = "json" in content_type or request.body.lstrip()[:1] in (b"{", b"[")
        if looks_json and request.body.strip():
            try:
                body = json.loads(request.body)
            except ValueError as exc:
                # The container, not SageMaker, rejects a body it cannot parse:
                # SageMaker relays that as a ModelError.
                raise _ModelRejected(
                    json.dumps({"error": f"Failed to deserialize the JSON body: {exc}", "error_type": "validation"})
                ) from None
            changes = {**overrides_from_body(body), **changes}
        return config.replace(**changes) if changes else config

    async def _invoke(
        self, writer: asyncio.StreamWriter, config: EndpointConfig, attributes: Optional[str], request_id: str
    ) -> None:
        if config.start_delay:
            await asyncio.sleep(config.start_delay)
        body = render_response(config.format, generate_tokens(config.tokens, config.seed))
        extra = [("x-Amzn-Invoked-Production-Variant", config.variant)]
        if attributes is not None:
            extra.append(("X-Amzn-SageMaker-Custom-Attributes", attributes))
        _respond(writer, 200, body, response_content_type(config.format, streaming=False), request_id, extra)
        await writer.drain()

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        config: EndpointConfig,
        attributes: Optional[str],
        request_id: str,
        body: bytes,
    ) -> None:
        head = [
            f"X-Amzn-SageMaker-Content-Type: {response_content_type(config.format, streaming=True)}",
            f"x-Amzn-Invoked-Production-Variant: {config.variant}",
        ]
        if attributes is not None:
            head.append(f"X-Amzn-SageMaker-Custom-Attributes: {attributes}")
        route = EchoRoute(body) if config.echo else SageMakerRoute(config.format)
        await self._run_stream(writer, config, route, head, request_id)

    async def _run_stream(
        self, writer: asyncio.StreamWriter, config: EndpointConfig, route: Route, head: List[str], request_id: str
    ) -> None:
        head = [
            "HTTP/1.1 200 OK",
            f"x-amzn-RequestId: {request_id}",
            *head,
            "Content-Type: application/vnd.amazon.eventstream",
            "Transfer-Encoding: chunked",
            _date(),
            "",
            "",
        ]
        writer.write("\r\n".join(head).encode("latin-1"))
        stats = self.stats
        stats.streams_open += 1
        stats.streams_total += 1
        stats.streams_peak = max(stats.streams_peak, stats.streams_open)
        try:
            await StreamWriter(writer, config, route).run()
        finally:
            stats.streams_open -= 1

    async def _bedrock(
        self, request: _Request, model_id: str, operation: str, writer: asyncio.StreamWriter, request_id: str
    ) -> None:
        provider = bedrock.provider_of(model_id)
        if operation == "invoke-with-response-stream" and provider not in bedrock.INVOKE_PROVIDERS:
            _error(writer, 400, "ValidationException", {"message": "The provided model identifier is invalid."}, request_id)
            return
        config = self.endpoints.get(model_id, _BEDROCK_DEFAULT)
        try:
            body = json.loads(request.body)
            changes = overrides_from_body(body)
            config = config.replace(**changes) if changes else config
        except ValueError as exc:  # OptionError included
            message = str(exc) if isinstance(exc, OptionError) else f"Malformed input request: {exc}, please reformat your input and try again."
            _error(writer, 400, "ValidationException", {"message": message}, request_id)
            return
        if config.fault == "generation-error":
            message = "fault generation-error is for SageMaker containers (tgi, lmi, openai)"
            _error(writer, 400, "ValidationException", {"message": message}, request_id)
            return
        if config.fault == "model-error":
            region = region_of(request.headers)
            body = {
                "message": f"Received server error ({config.status}) from model. fault injected by fastsmr",
                "originalStatusCode": config.status,
                "resourceName": f"arn:aws:bedrock:{region}::foundation-model/{model_id}",
            }
            _error(writer, 424, "ModelErrorException", body, request_id)
            return
        if operation == "converse-stream":
            await self._run_stream(writer, config, _ConverseRoute(), [], request_id)
        else:
            head = ["X-Amzn-Bedrock-Content-Type: application/json"]
            await self._run_stream(writer, config, _InvokeRoute(provider), head, request_id)


class _ModelRejected(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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


class SageMakerRoute(Route):
    """InvokeEndpointWithResponseStream: the container's output in ``PayloadPart`` events."""

    reslices = True

    def __init__(self, fmt: str) -> None:
        self.format = fmt

    def steps(self, tokens: Iterable[str], *, start: bool, finish: bool) -> Iterator[bytes]:
        return render_stream(self.format, tokens, finish=finish)

    def message(self, step: bytes) -> bytes:
        return encode(_PAYLOAD_PART, step)

    def error_step(self) -> bytes:
        return render_error(self.format)

    def exception(self, fault: str, config: EndpointConfig) -> bytes:
        if fault == "model-stream-error":
            exception_type = "ModelStreamError"
            body = {"Message": _STREAM_ERROR_MESSAGES[config.error_code], "ErrorCode": config.error_code}
        else:
            exception_type = "InternalStreamFailure"
            body = {"Message": "An internal failure occurred while streaming; try your request again."}
        headers = {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
        return encode(headers, json.dumps(body).encode())


class EchoRoute(SageMakerRoute):
    """The request's own bytes as the output (``echo``): one step, carrying them."""

    def __init__(self, body: bytes) -> None:
        super().__init__("raw")
        self.body = body

    def steps(self, tokens: Iterable[str], *, start: bool, finish: bool) -> Iterator[bytes]:
        for _ in islice(tokens, 1):
            yield self.body


class _InvokeRoute(Route):
    """Bedrock's InvokeModelWithResponseStream: the provider's JSON events in ``chunk`` events."""

    def __init__(self, provider: str) -> None:
        self.provider = provider
        self.lead = bedrock.lead_steps("invoke-with-response-stream", provider)

    def steps(self, tokens: Iterable[str], *, start: bool, finish: bool) -> Iterator[bytes]:
        return bedrock.invoke_steps(self.provider, tokens, start=start, finish=finish)

    def message(self, step: bytes) -> bytes:
        return bedrock.chunk_message(step)

    def exception(self, fault: str, config: EndpointConfig) -> bytes:
        return bedrock.exception_message(fault, _bedrock_stream_error(fault, config), config.status)


class _ConverseRoute(Route):
    """Bedrock's ConverseStream: its own events, the same for every model."""

    lead = bedrock.lead_steps("converse-stream", "")

    def steps(self, tokens: Iterable[str], *, start: bool, finish: bool) -> Iterator[Tuple[str, Dict[str, Any]]]:
        return bedrock.converse_steps(tokens, start=start, finish=finish)

    def message(self, step: Tuple[str, Dict[str, Any]]) -> bytes:
        return bedrock.converse_message(step)

    def exception(self, fault: str, config: EndpointConfig) -> bytes:
        return bedrock.exception_message(fault, _bedrock_stream_error(fault, config), config.status)


def _bedrock_stream_error(fault: str, config: EndpointConfig) -> str:
    if fault == "model-stream-error":
        return _STREAM_ERROR_MESSAGES[config.error_code]
    return "The server encountered an internal error while streaming; try your request again."


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
    raise _HangUp


async def _read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Optional[_Request]:
    """Read one request; ``None`` when the client closed between requests."""
    first = await reader.read(1)
    if first == b"\x16":
        # A TLS handshake record: an https:// client. Answering in plain HTTP
        # at once fails its handshake now ("wrong version number") instead of
        # leaving it to wait for a ServerHello until its timeout.
        _respond(writer, 400, b"this endpoint speaks plain HTTP: use http://", "text/plain", str(uuid.uuid4()), close=True)
        raise _HangUp
    try:
        head = first + await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if (first + exc.partial).strip():
            raise _HangUp from None
        return None
    except asyncio.LimitOverrunError:
        _respond(writer, 431, b"", "text/plain", str(uuid.uuid4()), close=True)
        raise _HangUp from None
    lines = head[:-4].decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError:
        _respond(writer, 400, b"", "text/plain", str(uuid.uuid4()), close=True)
        raise _HangUp from None
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
    if headers.get("expect", "").lower() == "100-continue":
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError:
            length = -1
        if not 0 <= length <= _DISCARD_LIMIT:
            _respond(writer, 400, b"", "text/plain", str(uuid.uuid4()), close=True)
            raise _HangUp
        body = await reader.readexactly(length)
    return _Request(method, urlsplit(target).path, headers, body, keep_alive)


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        line = await reader.readuntil(b"\r\n")
        try:
            size = int(line.split(b";", 1)[0], 16)
        except ValueError:
            raise _HangUp from None
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass  # trailers
            return bytes(body)
        if len(body) + size > _DISCARD_LIMIT:
            raise _HangUp
        body += await reader.readexactly(size)
        await reader.readexactly(2)


def _date() -> str:
    return "Date: " + formatdate(time.time(), usegmt=True)


def region_of(headers: Mapping[str, str]) -> str:
    """The region a SigV4 ``authorization`` header names (us-east-1 without one)."""
    found = _REGION.search(headers.get("authorization", ""))
    return found.group(1) if found else "us-east-1"


def _respond(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str,
    request_id: str,
    extra: Sequence[Tuple[str, str]] = (),
    *,
    close: bool = False,
) -> None:
    head = [
        f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}",
        f"x-amzn-RequestId: {request_id}",
        *(f"{name}: {value}" for name, value in extra),
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        _date(),
    ]
    if close:
        head.append("Connection: close")
    writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def _error(writer: asyncio.StreamWriter, status: int, code: str, body: Dict[str, Any], request_id: str) -> None:
    # rest-json services name the error in x-amzn-ErrorType; botocore reads the
    # code from there and the message from the body's "message"/"Message".
    _respond(writer, status, json.dumps(body).encode(), "application/json", request_id, [("x-amzn-ErrorType", code)])


def _validation_error(writer: asyncio.StreamWriter, message: str, request_id: str) -> None:
    _error(writer, 400, "ValidationError", {"message": message}, request_id)


def model_error_body(name: str, region: str, status: int, original: str) -> Dict[str, Any]:
    """The JSON body of SageMaker's ``ModelError`` (HTTP 424) for a container that answered ``status``."""
    side = "client" if status < 500 else "server"
    return {
        "ErrorCode": f"{side.upper()}_ERROR_FROM_MODEL",
        "LogStreamArn": f"arn:aws:logs:{region}:{ACCOUNT_ID}:log-group:/aws/sagemaker/Endpoints/{name}",
        "Message": (
            f'Received {side} error ({status}) from primary with message "{original}". '
            f"See the endpoint's CloudWatch log group in account {ACCOUNT_ID} for more information."
        ),
        "OriginalMessage": original,
        "OriginalStatusCode": status,
    }


def _model_error(
    writer: asyncio.StreamWriter, name: str, region: str, status: int, original: str, request_id: str
) -> None:
    _error(writer, 424, "ModelError", model_error_body(name, region, status, original), request_id)
