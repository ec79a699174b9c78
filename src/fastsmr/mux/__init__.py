"""One reader for many event streams: ``fastsmr.mux.Reader``.

A service that relays tokens from many concurrent SageMaker streams usually
gives each stream a thread (boto3) or a task (aiobotocore), and each token
then costs a wake-up of its own, an HTTP chunk parsed in Python and a decode.
A :class:`Reader` instead takes every response body after its head and reads
them all from one place — one ``epoll`` set read by C code with the GIL
released (the C backend) or one ``selectors`` loop (the pure-Python backend):
it takes the HTTP chunks apart, decodes the event stream and hands Python one
wake-up per batch of ready streams, each with the ``PayloadPart`` payloads
that arrived for it. With ``text=`` it turns each stream's output into the
text a person would see and gives it as Server-Sent Events, ready to write to
a downstream client; with ``relay_to=`` it writes them there itself.

>>> import fastsmr.mux
>>> from fastsmr.testing import StreamingEndpoint, generate_text
>>> with StreamingEndpoint() as endpoint:
...     client = endpoint.client()
...     bodies = [client.invoke_endpoint_with_response_stream(
...         EndpointName="raw", Body=b"{}", CustomAttributes=f"fastsmr-tokens=5; fastsmr-seed={i}")["Body"]
...         for i in range(3)]
...     with fastsmr.mux.Reader() as reader:
...         streams = [reader.add(body, key=i) for i, body in enumerate(bodies)]
...         texts = {i: b"" for i in range(3)}
...         for stream, parts in reader.batches():
...             texts[stream.key] += b"".join(parts)   # stream.error is set if the stream failed
>>> texts == {i: generate_text(5, seed=i).encode() for i in range(3)}
True

Each stream's errors stay its own: a stream that fails, is cut short or times
out ends with ``stream.error`` set to the exception that
``fastsmr.payload_parts`` would raise for the same body (urllib3's
``ProtocolError`` and ``ReadTimeoutError``, botocore's ``EventStreamError``
for a ``ModelStreamError``, fastsmr's ``TruncatedStreamError``), and the
other streams go on. A body that ends cleanly gives its connection back to
the client's pool.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any, AsyncIterator, Deque, Dict, Iterator, List, Optional, Tuple

from ..codec import backend

__all__ = ["Reader", "Stream", "sse_text"]

_SOCKET_TIMEOUT: Any = object()


def sse_text(text: str) -> bytes:
    """One Server-Sent Event carrying ``text``: ``data: {"text": ...}`` and a blank line.

    The text travels as a JSON string, so that any character (line breaks
    included) reaches the browser unchanged: ``JSON.parse(event.data).text``.

    >>> sse_text(" héllo\\n")
    b'data: {"text":" h\\xc3\\xa9llo\\\\n"}\\n\\n'
    """
    return b"data: " + json.dumps({"text": text}, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


class Stream:
    """One response body a :class:`Reader` reads.

    ``key`` is what the caller passed to :meth:`Reader.add` (default: the
    body); ``done`` turns true once the stream ended, and ``error`` is then
    None for a clean end or the exception it failed with. ``text`` is the
    output format asked for (None: payload parts), ``relay_to`` the
    downstream socket.
    """

    __slots__ = ("key", "body", "text", "relay_to", "done", "error", "_adapter", "_fd", "_texts", "_reader")

    def __init__(self, reader: "Reader", key: Any, body: Any, adapter: Any, text: Optional[str], relay_to: Any) -> None:
        self.key = key
        self.body = body
        self.text = text
        self.relay_to = relay_to
        self.done = False
        self.error: Optional[BaseException] = None
        self._reader = reader
        self._adapter = adapter
        self._fd = -1
        self._texts: Any = None
        if text is not None:
            from ..tokens.text import TextDecoder

            self._texts = TextDecoder(text)

    def close(self) -> None:
        """Stop reading this stream now; its connection is closed (not reused)."""
        self._reader._abandon(self)

    def __repr__(self) -> str:
        state = "open" if not self.done else "failed" if self.error is not None else "done"
        return f"<fastsmr.mux.Stream key={self.key!r} {state}>"


class Reader:
    """Reads many SageMaker response streams at once; see the module docstring.

    ``read_timeout`` (seconds) ends a stream with urllib3's
    ``ReadTimeoutError`` when nothing arrives on it for that long; by
    default each stream keeps the read timeout its client set on the
    socket (botocore's ``read_timeout``, 60 s unless configured); None
    waits for ever.

    :meth:`add` may be called from any thread; :meth:`batches`,
    :meth:`poll` and :meth:`abatches` from one at a time.
    """

    def __init__(self, *, read_timeout: Any = _SOCKET_TIMEOUT) -> None:
        self._core = backend.impl.Mux()
        self._read_timeout = read_timeout
        self._streams: Dict[int, Stream] = {}
        self._pending: Deque[Stream] = deque()
        self._lock = threading.Lock()
        self._ended: List[Tuple[Stream, List[Any]]] = []
        self._closed = False

    # --- adding streams ------------------------------------------------------------

    def add(self, body: Any, *, key: Any = None, text: Optional[str] = None, relay_to: Any = None) -> Stream:
        """Read ``body`` (``response["Body"]`` of ``invoke_endpoint_with_response_stream``,
        not iterated yet) from now on; returns its :class:`Stream`.

        ``key`` labels the stream for the caller (default: ``body``).
        ``text`` (``"tgi"``, ``"lmi"``, ``"openai"``, ``"raw"`` or ``"auto"``,
        as in ``fastsmr.text_stream``) asks for the text instead of the
        parts: each batch then gives the stream's new text as one bytes
        object of Server-Sent Events (:func:`sse_text` per text piece).
        ``relay_to`` (needs ``text``) has the reader send those events on
        itself, so that the batches carry nothing for this stream: to a
        connected socket (``sendall``), or to an ASGI ``send`` callable, which
        :meth:`abatches` awaits with ``{"type": "http.response.body", "body":
        events, "more_body": True}`` (the application starts and ends the
        response itself).

        Raises ``TypeError`` for a body that was already read from or that
        is not a chunked HTTP/1.1 response, ``ValueError`` for an unknown
        ``text`` format or ``relay_to`` without ``text``.
        """
        if self._closed:
            raise RuntimeError("this Reader is closed")
        if relay_to is not None and text is None:
            raise ValueError("relay_to needs text= (the format of the model's output)")
        if relay_to is not None and not (hasattr(relay_to, "sendall") or callable(relay_to)):
            raise TypeError("relay_to must be a connected socket or an ASGI send callable")
        from ._boto import BotoBody

        adapter = BotoBody(body)
        stream = Stream(self, body if key is None else key, body, adapter, text, relay_to)
        with self._lock:
            self._pending.append(stream)
        self._core.wake()
        return stream

    def _admit(self) -> None:
        """Hand the streams added since the last poll to the core (in the polling thread)."""
        while True:
            with self._lock:
                if not self._pending:
                    return
                stream = self._pending.popleft()
            adapter = stream._adapter
            try:
                fd, buffered = adapter.take()
            except BaseException as error:
                stream.done, stream.error = True, error
                self._ended.append((stream, []))
                continue
            timeout = adapter.timeout if self._read_timeout is _SOCKET_TIMEOUT else self._read_timeout
            stream._fd = fd
            self._streams[fd] = stream
            self._core.add(fd, buffered, timeout)

    # --- reading ------------------------------------------------------------------------

    def __len__(self) -> int:
        """Streams added and not yet reported done."""
        return len(self._streams) + len(self._pending) + len(self._ended)

    def poll(self, timeout: Optional[float] = None) -> List[Tuple[Stream, Any]]:
        """One wake-up: wait up to ``timeout`` seconds (None: until something
        arrives) and return ``(stream, output)`` for every stream with new
        output or an end (a stream's end is reported once, with
        ``stream.done`` true). ``output`` is a list of payload bytes, or for a
        ``text`` stream one bytes object of Server-Sent Events (``b""`` when
        the stream is relayed or had no new text).
        """
        self._admit()
        if self._ended:
            out, self._ended = self._ended, []
            return out
        if not self._streams:
            return []
        return self._reports(self._core.poll(timeout))

    def batches(self) -> Iterator[Tuple[Stream, Any]]:
        """``(stream, output)`` pairs (see :meth:`poll`), one wake-up per batch,
        until every stream added so far has ended."""
        while len(self):
            for stream, output in self.poll():
                if output and stream.relay_to is not None:
                    raise TypeError("a stream relayed to an ASGI send is read with abatches()")
                yield stream, output

    async def abatches(self) -> AsyncIterator[Tuple[Stream, Any]]:
        """The ``async for`` twin of :meth:`batches`: the running event loop
        watches the reader's descriptor, so no thread is involved."""
        import asyncio

        loop = asyncio.get_running_loop()
        fd = self._core.fileno()
        ready = asyncio.Event()
        loop.add_reader(fd, ready.set)
        try:
            while len(self):
                reports = self.poll(0)
                if not reports:
                    ready.clear()
                    try:
                        await asyncio.wait_for(ready.wait(), self._core.timeout())
                    except asyncio.TimeoutError:
                        pass
                    continue
                for stream, output in reports:
                    if output and stream.relay_to is not None:  # an ASGI send
                        try:
                            await stream.relay_to({"type": "http.response.body", "body": output, "more_body": True})
                        except Exception as error:  # the downstream client left: this stream ends, alone
                            self._abandon(stream)
                            stream.error = error
                        output = b""
                    yield stream, output
        finally:
            loop.remove_reader(fd)

    def _reports(self, reports: List[Tuple[int, List[bytes], Any]]) -> List[Tuple[Stream, Any]]:
        out = []
        for fd, parts, end in reports:
            stream = self._streams.get(fd)
            if stream is None:
                continue
            output: Any = parts
            if stream._texts is not None:
                output, failure = self._text(stream, parts, end)
                if failure is not None:
                    self._core.remove(fd)
                    end = failure
            if end is not None:
                self._end(stream, end)
            out.append((stream, output))
        return out

    def _text(self, stream: Stream, parts: List[bytes], end: Any) -> Tuple[bytes, Optional[BaseException]]:
        """The Server-Sent Events of ``parts``' text (sent on when relayed), and an error of the text."""
        texts = stream._texts
        events = []
        failure: Optional[BaseException] = None
        try:
            for part in parts:
                for text in texts.feed(part):
                    events.append(sse_text(text))
            if end is not None and isinstance(end, int):
                for text in texts.close():
                    events.append(sse_text(text))
        except Exception as error:  # the model's output is not the format: the stream ends with it
            failure = error
        data = b"".join(events)
        relay = stream.relay_to
        if relay is not None and data and hasattr(relay, "sendall"):
            try:
                relay.sendall(data)
            except OSError as error:
                failure = failure or error
            data = b""
        return data, failure

    def _end(self, stream: Stream, end: Any) -> None:
        del self._streams[stream._fd]
        adapter = stream._adapter
        clean = isinstance(end, int)
        stream.done = True
        if not clean:
            stream.error = adapter.error(end)
        adapter.finish(clean and end == backend.impl.MUX_END)

    def _abandon(self, stream: Stream) -> None:
        if stream.done:
            return
        with self._lock:
            if stream in self._pending:
                self._pending.remove(stream)
        if self._streams.pop(stream._fd, None) is not None:
            self._core.remove(stream._fd)
        stream.done = True
        stream._adapter.finish(False)

    # --- closing ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop reading every stream still open (their connections are closed) and free the reader."""
        if self._closed:
            return
        for stream in list(self._streams.values()) + list(self._pending):
            self._abandon(stream)
        self._core.close()
        self._closed = True

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<fastsmr.mux.Reader {len(self)} streams ({backend.impl.BACKEND})>"
