"""SageMaker Runtime's ``InvokeEndpointWithBidirectionalStream`` over HTTP/2 on a local socket.

The operation is HTTP/2 only: one ``POST
/endpoints/{EndpointName}/invocations-bidirectional-stream`` whose request
body is a stream of SigV4-signed event messages (each wraps a ``PayloadPart``
event, the last is an empty signed message) and whose response body is a
stream of ``PayloadPart`` events, both open at once. :class:`BidirectionalServer`
serves it with TLS (a certificate made on the spot, see
:mod:`fastsmr.testing.tls`) and ALPN ``h2``, so that awscrt, which the new AWS
SDK for Python uses for it, connects as it would to SageMaker. The HTTP/2
framing, HPACK and flow-control state are the ``h2`` library's; this module
drives it from asyncio.

Each request — the payload parts up to one whose ``CompletionState`` is not
``PARTIAL`` — gets an answer: the endpoint's pseudo-model output in its
``format`` (or, with ``echo``, the request's own bytes) as ``PayloadPart``
events with ``DataType`` (the request's) and ``CompletionState: PARTIAL``,
then an empty part with ``CompletionState: COMPLETE``, paced, re-sliced and
broken as :class:`~fastsmr.testing.EndpointConfig` asks (the faults of the
HTTP/1.1 endpoint; ``reset`` resets the HTTP/2 stream). A JSON request may
override options as the HTTP/1.1 endpoint's body does (``"fastsmr": {...}``,
``parameters.max_new_tokens``, ``max_tokens``); an option it gets wrong ends
the stream with a ``ModelStreamError`` whose ``ErrorCode`` is
``ValidationError``. Answers are sent in order; the response ends when the
client has ended its requests and the last answer is sent, or when an answer
fails. Signatures are not checked.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any, Dict, List, Mapping, Optional, Set, Tuple, cast
from urllib.parse import unquote, urlsplit

from ..codec import backend
from ..codec.encoder import encode
from ..codec.errors import DecodeError
from .config import EndpointConfig, OptionError, overrides_from_body
from .http1 import region_of
from .sagemaker import ACCOUNT_ID, PAYLOAD_PART, EchoRoute, SageMakerRoute, model_error_body
from .stream_writer import Route, ServerStats, StreamWriter
from .tls import LocalCertificate

__all__ = ["BidirectionalServer", "BidirectionalRoute", "PATH_SUFFIX"]

#: The last segment of the operation's path.
PATH_SUFFIX = "invocations-bidirectional-stream"
# An unpaced answer is handed to the connection in batches of about this size.
_BATCH_BYTES = 64 * 1024


class BidirectionalRoute(Route):
    """The answer of ``route`` (a SageMaker route) as this API frames it: each
    ``PayloadPart`` with ``DataType`` and ``CompletionState: PARTIAL``, and
    :meth:`complete`, the empty part that ends an answer.

    >>> import fastsmr
    >>> route = BidirectionalRoute(SageMakerRoute("raw"), "UTF8")
    >>> [(m.headers["CompletionState"], m.payload) for m in fastsmr.decode(route.message(b"Hi") + route.complete())]
    [('PARTIAL', b'Hi'), ('COMPLETE', b'')]
    """

    def __init__(self, route: Route, data_type: str) -> None:
        self.route = route
        self.lead = route.lead
        self.reslices = route.reslices
        self._partial = {**PAYLOAD_PART, "DataType": data_type, "CompletionState": "PARTIAL"}
        self._complete = {**PAYLOAD_PART, "DataType": data_type, "CompletionState": "COMPLETE"}

    def steps(self, tokens: Any, *, start: bool, finish: bool) -> Any:
        return self.route.steps(tokens, start=start, finish=finish)

    def message(self, step: bytes) -> bytes:
        return encode(self._partial, step)

    def exception(self, fault: str, config: EndpointConfig) -> bytes:
        return self.route.exception(fault, config)

    def complete(self) -> bytes:
        """The part that ends an answer."""
        return encode(self._complete, b"")


class BidirectionalServer:
    """``InvokeEndpointWithBidirectionalStream`` on ``host:port`` (TLS, HTTP/2).

    ``endpoints`` maps endpoint names to their :class:`EndpointConfig`;
    ``certificate`` defaults to a new :class:`~fastsmr.testing.tls.LocalCertificate`.
    Run it inside an event loop (``await start()``, ``await close()``), or
    through :class:`fastsmr.testing.BidirectionalEndpoint` from synchronous code.
    """

    def __init__(
        self,
        endpoints: Mapping[str, EndpointConfig],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        certificate: Optional[LocalCertificate] = None,
    ) -> None:
        try:
            import h2.connection  # noqa: F401
        except ImportError:
            raise ImportError("the HTTP/2 bidirectional endpoint needs h2: pip install 'fastsmr[smithy]'") from None
        self.endpoints: Dict[str, EndpointConfig] = dict(endpoints)
        self.host = host
        self.port = port
        self.stats = ServerStats()
        self.certificate = certificate or LocalCertificate()
        self._server: Optional[asyncio.AbstractServer] = None
        self._connections: Set[_Connection] = set()

    async def start(self) -> None:
        """Bind and start accepting; ``port`` then holds the bound port."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: _Connection(self), self.host, self.port, ssl=self.certificate.server_context(), backlog=1024
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self, timeout: float = 5.0) -> None:
        """Stop accepting and end every connection (open streams are cut off)."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.abort()
        if self._server is not None:
            await asyncio.wait_for(self._server.wait_closed(), timeout)


class _Connection(asyncio.Protocol):
    """One HTTP/2 connection: h2's state machine, driven by asyncio."""

    def __init__(self, server: BidirectionalServer) -> None:
        import h2.config
        import h2.connection

        self.server = server
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
        self.transport: Any = None
        self.exchanges: Dict[int, _Exchange] = {}
        self.window = asyncio.Event()  # set when a flow-control window may have grown
        self.writable = asyncio.Event()  # clear while the transport's buffer is full
        self.writable.set()
        self.closed = False

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.server._connections.add(self)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None or ssl_object.selected_alpn_protocol() != "h2":
            transport.close()  # this endpoint speaks HTTP/2 only
            return
        self.h2.initiate_connection()
        self.flush()

    def data_received(self, data: bytes) -> None:
        import h2.events
        import h2.exceptions

        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError:
            self.flush()
            self.transport.close()
            return
        for event in events:
            if isinstance(event, h2.events.RequestReceived):
                # header_encoding="utf-8" above: h2 gives the names and values as str
                self._request(event.stream_id, cast(List[Tuple[str, str]], event.headers))
            elif isinstance(event, h2.events.DataReceived):
                self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                exchange = self.exchanges.get(event.stream_id)
                if exchange is not None:
                    exchange.feed(event.data)
            elif isinstance(event, h2.events.StreamEnded):
                exchange = self.exchanges.get(event.stream_id)
                if exchange is not None:
                    exchange.input_ended()
            elif isinstance(event, h2.events.StreamReset):
                exchange = self.exchanges.pop(event.stream_id, None)
                if exchange is not None:
                    exchange.cancel()
            elif isinstance(event, (h2.events.WindowUpdated, h2.events.RemoteSettingsChanged)):
                self.window.set()
            elif isinstance(event, h2.events.ConnectionTerminated):
                self.transport.close()
        self.flush()

    def flush(self) -> None:
        data = self.h2.data_to_send()
        if data and not self.closed:
            self.transport.write(data)

    def pause_writing(self) -> None:
        self.writable.clear()

    def resume_writing(self) -> None:
        self.writable.set()

    def connection_lost(self, exc: Optional[BaseException]) -> None:
        self.closed = True
        self.server._connections.discard(self)
        for exchange in list(self.exchanges.values()):
            exchange.cancel()
        self.exchanges.clear()
        self.window.set()
        self.writable.set()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def respond(self, stream_id: int, status: int, headers: List[Tuple[str, str]], body: Optional[bytes]) -> None:
        """Send a response's headers, and when ``body`` is given the whole response."""
        self.h2.send_headers(stream_id, [(":status", str(status)), *headers], end_stream=body == b"")
        if body:
            self.h2.send_data(stream_id, body, end_stream=True)
        self.flush()

    def _request(self, stream_id: int, headers: List[Tuple[str, str]]) -> None:
        server = self.server
        server.stats.requests += 1
        fields = dict(headers)
        request_id = str(uuid.uuid4())
        path = urlsplit(fields.get(":path", "")).path
        parts = path.split("/")
        if fields.get(":method") != "POST" or len(parts) != 4 or parts[:2] != ["", "endpoints"] or parts[3] != PATH_SUFFIX:
            self._error(stream_id, request_id, 404, "UnknownOperationException",
                        {"message": f"No operation at {fields.get(':method')} {path}"})
            return
        name = unquote(parts[2])
        config = server.endpoints.get(name)
        if config is None:
            self._error(stream_id, request_id, 400, "InputValidationError",
                        {"Message": f"Endpoint {name} of account {ACCOUNT_ID} not found."})
            return
        if config.fault == "model-error":
            original = json.dumps({"error": "fault injected by fastsmr", "error_type": "generation"})
            body = model_error_body(name, region_of(fields), config.status, original)
            self._error(stream_id, request_id, 424, "ModelError", body)
            return
        self.respond(stream_id, 200, [
            ("content-type", "application/vnd.amazon.eventstream"),
            ("x-amzn-requestid", request_id),
            ("x-amzn-invoked-production-variant", config.variant),
        ], None)
        stats = server.stats
        stats.streams_open += 1
        stats.streams_total += 1
        stats.streams_peak = max(stats.streams_peak, stats.streams_open)
        self.exchanges[stream_id] = _Exchange(self, stream_id, config)

    def _error(self, stream_id: int, request_id: str, status: int, code: str, body: Dict[str, Any]) -> None:
        headers = [("content-type", "application/json"), ("x-amzn-errortype", code), ("x-amzn-requestid", request_id)]
        self.respond(stream_id, status, headers, json.dumps(body).encode())


class _StreamGone(Exception):
    """The client reset the stream or the connection ended."""


class _Exchange:
    """One bidirectional stream: reads request events, writes answers in order."""

    def __init__(self, connection: _Connection, stream_id: int, config: EndpointConfig) -> None:
        self.connection = connection
        self.stream_id = stream_id
        self.config = config
        self.decoder = backend.impl.Decoder()
        self.requests: asyncio.Queue[Optional[Tuple[bytes, str]]] = asyncio.Queue()  # None: the input ended
        self.pending = bytearray()
        self.data_type = "UTF8"
        self.gone = False
        self.task = asyncio.get_running_loop().create_task(self.run())

    # --- requests -----------------------------------------------------------

    def feed(self, data: bytes) -> None:
        try:
            messages = self.decoder.feed(data)
        except DecodeError:
            self.reset()
            return
        for message in messages:
            self._message(message)

    def _message(self, message: Any) -> None:
        headers = message.headers
        if ":chunk-signature" in headers:
            if not message.payload:
                return  # the signed empty message: the client's last
            try:
                (message,) = backend.impl.decode(message.payload)
            except (DecodeError, ValueError):
                self.reset()
                return
            headers = message.headers
        if headers.get(":message-type") != "event" or headers.get(":event-type") != "PayloadPart":
            return  # not a request part: nothing to answer
        self.pending += message.payload
        data_type = headers.get("DataType")
        if isinstance(data_type, str):
            self.data_type = data_type
        if headers.get("CompletionState") != "PARTIAL":
            self.requests.put_nowait((bytes(self.pending), self.data_type))
            self.pending.clear()

    def input_ended(self) -> None:
        if self.pending:
            self.requests.put_nowait((bytes(self.pending), self.data_type))
            self.pending.clear()
        self.requests.put_nowait(None)

    # --- answers --------------------------------------------------------------

    async def run(self) -> None:
        stats = self.connection.server.stats
        try:
            while True:
                request = await self.requests.get()
                if request is None:
                    self.end()
                    return
                if not await self._answer(*request):
                    return
        except (_StreamGone, asyncio.CancelledError):
            pass
        finally:
            stats.streams_open -= 1
            self.connection.exchanges.pop(self.stream_id, None)

    async def _answer(self, body: bytes, data_type: str) -> bool:
        """Send one answer; False when it ended the stream."""
        config = self.config
        try:
            if body.lstrip()[:1] == b"{":
                config = config.replace(**overrides_from_body(json.loads(body)))
        except OptionError as error:
            headers = {":exception-type": "ModelStreamError", ":content-type": "application/json",
                       ":message-type": "exception"}
            await self.send(encode(headers, json.dumps({"Message": str(error), "ErrorCode": "ValidationError"}).encode()))
            self.end()
            return False
        except ValueError:
            pass  # not JSON: a prompt
        inner: Route = EchoRoute(body) if config.echo else SageMakerRoute(config.format)
        writer = _AnswerWriter(self, config, BidirectionalRoute(inner, "BINARY" if data_type == "BINARY" else "UTF8"))
        await writer.run()
        return not writer.failing

    async def send(self, data: bytes) -> None:
        """Send ``data`` as DATA frames, within the peer's flow-control windows."""
        import h2.exceptions

        connection = self.connection
        h2_connection = connection.h2
        position = 0
        while position < len(data):
            if self.gone or connection.closed:
                raise _StreamGone
            try:
                size = min(
                    h2_connection.local_flow_control_window(self.stream_id),
                    h2_connection.max_outbound_frame_size,
                    len(data) - position,
                )
                if size <= 0:
                    connection.window.clear()
                    await connection.window.wait()
                    continue
                h2_connection.send_data(self.stream_id, data[position : position + size])
            except h2.exceptions.StreamClosedError:
                raise _StreamGone from None
            position += size
            connection.flush()
            await connection.writable.wait()

    def end(self) -> None:
        import h2.exceptions

        try:
            self.connection.h2.end_stream(self.stream_id)
        except h2.exceptions.StreamClosedError:
            return
        self.connection.flush()

    def reset(self) -> None:
        """Reset the stream (RST_STREAM, INTERNAL_ERROR): the HTTP/2 form of a broken connection."""
        import h2.errors
        import h2.exceptions

        self.gone = True
        try:
            self.connection.h2.reset_stream(self.stream_id, error_code=h2.errors.ErrorCodes.INTERNAL_ERROR)
        except h2.exceptions.StreamClosedError:
            pass
        self.connection.flush()
        if asyncio.current_task() is not self.task:
            self.task.cancel()

    def cancel(self) -> None:
        self.gone = True
        self.task.cancel()


class _AnswerWriter(StreamWriter):
    """The HTTP/1.1 endpoint's stream writer, writing one answer to an HTTP/2 stream.

    An answer that ends normally ends with the empty ``COMPLETE`` part and
    leaves the stream open for the next; one that fails (an exception event,
    a truncated message) ends the stream, and ``reset`` resets it.
    """

    def __init__(self, exchange: _Exchange, config: EndpointConfig, route: BidirectionalRoute) -> None:
        super().__init__(None, config, route)  # type: ignore[arg-type]  # no asyncio writer: the exchange sends
        self.exchange = exchange
        self.failing = False
        self._queued: List[bytes] = []
        self._queued_bytes = 0

    async def _fault(self, fault: str, next_step: Any) -> bool:
        self.failing = fault != "bad-crc"  # the others end the stream
        return await super()._fault(fault, next_step)

    async def _chunk(self, data: bytes) -> None:
        self._queued.append(data)
        self._queued_bytes += len(data)
        if self.config.rate or self._queued_bytes >= _BATCH_BYTES:
            await self._send()

    async def _send(self) -> None:
        if self._queued:
            data = b"".join(self._queued)
            self._queued.clear()
            self._queued_bytes = 0
            await self.exchange.send(data)

    async def _end(self) -> None:
        if not self.failing:
            await self._chunk(self.route.complete())  # type: ignore[attr-defined]
        await self._send()
        if self.failing:
            self.exchange.end()

    async def _reset(self) -> None:
        await self._send()
        self.exchange.reset()
        raise _StreamGone
