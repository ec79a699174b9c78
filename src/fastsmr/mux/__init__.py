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
a downstream client; with ``relay_to=`` it writes them there itself — under
the C backend without running any Python for the tokens.

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

Text is what ``fastsmr.text_stream`` yields for the same stream (with the
same ``reasoning=``: a reasoning model's thinking raises, is skipped or is
included), text by text, and a stream whose output fails as text (an error
the model server wrote into it, content that fits no format) ends with the
exception ``text_stream`` raises, after the text before it. The C backend makes the
text of the usual token events in C (csrc/text.c) and hands a stream over to
the tokens layer's ``TextDecoder`` where it meets anything else, so the two
backends give the same events and the same errors.

Relays never wait for one slow downstream: events are written without
blocking, what a downstream does not take waits in a buffer of the stream's
own, and past ``relay_limit`` bytes there the reader stops reading that
stream's response (TCP then slows the server down) until half of them are
gone. A downstream that fails or hangs up ends its stream alone, with the
``OSError`` the write raised (``BrokenPipeError``, ``ConnectionResetError``;
``TimeoutError`` if it took nothing for the stream's read timeout).

aiobotocore bodies are refused with a ``TypeError``: aiohttp's response
parser has already taken the chunked coding apart up to a point that it
does not expose (its C parser keeps the chunk's remaining size to itself),
so the rest of the body cannot be taken off its connection safely.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections import deque
from typing import Any, AsyncIterator, Deque, Iterator, List, Optional, Set, Tuple

from ..codec import backend
from ..codec.muxing import DEFAULT_LIMIT, FLUSHED, DownstreamFailed
from ..tokens.text import FORMATS, REASONING, Format, Reasoning
from ._text import resume, sse_text

__all__ = ["Reader", "Stream", "sse_text"]

_SOCKET_TIMEOUT: Any = object()


class Stream:
    """One response body a :class:`Reader` reads.

    ``key`` is what the caller passed to :meth:`Reader.add` (default: the
    body); ``done`` turns true once the stream ended, and ``error`` is then
    None for a clean end or the exception it failed with. ``text`` is the
    output format asked for (None: payload parts), ``reasoning`` what
    becomes of a reasoning model's thinking in it, ``relay_to`` the
    downstream socket or ASGI ``send``.
    """

    __slots__ = ("key", "body", "text", "reasoning", "relay_to", "done", "error", "_adapter", "_texts", "_reader",
                 "_socket", "_relay_fd", "_relay_own", "_body_own", "_upstream_over", "_asgi", "_asgi_send")

    def __init__(self, reader: "Reader", key: Any, body: Any, adapter: Any, text: Optional[Format],
                 reasoning: Reasoning, relay_to: Any, relay_fd: Optional[int]) -> None:
        self.key = key
        self.body = body
        self.text: Optional[Format] = text
        self.reasoning: Reasoning = reasoning
        self.relay_to = relay_to
        self.done = False
        self.error: Optional[BaseException] = None
        # Weak: the reader holds its streams, and a strong reference back
        # would leave a reader dropped without close() (and every connection
        # it reads) to the next collection instead of its last reference.
        self._reader = weakref.ref(reader)
        self._adapter = adapter
        self._texts: Any = None  # the tokens layer's TextDecoder, once Python makes the text
        self._socket = relay_fd is not None  # relayed to a socket by the multiplexer
        self._relay_fd = relay_fd
        # The reader's own descriptor of the relay's socket: the caller may close
        # theirs (a server does when its client leaves) and the number be given
        # to a new connection, which must never get this stream's events.
        self._relay_own: Optional[int] = None
        self._body_own: Optional[int] = None  # the same for the response's socket, once taken
        self._asgi_send = relay_to is not None and relay_fd is None  # relayed to an ASGI send, by _AsgiRelay
        self._asgi: Optional[_AsgiRelay] = None
        self._upstream_over = False  # the response is over and its connection given back

    def close(self) -> None:
        """Stop reading this stream now; its connection is closed (not reused)."""
        reader = self._reader()
        if reader is not None:  # (else the reader was dropped, and closed its streams then)
            reader._abandon(self)

    def __repr__(self) -> str:
        state = "open" if not self.done else "failed" if self.error is not None else "done"
        return f"<fastsmr.mux.Stream key={self.key!r} {state}>"


class Reader:
    """Reads many SageMaker response streams at once; see the module docstring.

    ``read_timeout`` (seconds) ends a stream with urllib3's
    ``ReadTimeoutError`` when nothing arrives on it for that long; by
    default each stream keeps the read timeout its client set on the
    socket (botocore's ``read_timeout``, 60 s unless configured); None
    waits for ever. The same time bounds how long a relay's downstream may
    take nothing while the stream waits for it. ``relay_limit`` (bytes,
    default 256 KiB) bounds what waits for each relay's downstream.

    :meth:`add` may be called from any thread, and so may :meth:`close`;
    :meth:`batches`, :meth:`poll` and :meth:`abatches` from one at a time.
    """

    def __init__(self, *, read_timeout: Any = _SOCKET_TIMEOUT, relay_limit: int = DEFAULT_LIMIT) -> None:
        if relay_limit < 1:
            raise ValueError("relay_limit must be at least 1 byte")
        self._core = backend.impl.Mux()
        self._read_timeout = read_timeout
        self._limit = relay_limit
        self._streams: Set[Stream] = set()  # in the core
        self._pending: Deque[Stream] = deque()  # added, not yet in the core
        self._lock = threading.Lock()
        self._ended: List[Tuple[Stream, Any]] = []  # ended outside a poll: reported by the next
        # Reports a poll made that a batches() loop has not yielded yet (it was
        # left with break): the next loop or poll gives them first.
        self._undelivered: Deque[Tuple[Stream, Any]] = deque()
        self._relay_fds: Set[int] = set()
        self._woken: Any = None  # abatches' event, set to make it poll
        self._polling = False
        self._closed = False

    # --- adding streams ------------------------------------------------------------

    def add(self, body: Any, *, key: Any = None, text: Optional[Format] = None, reasoning: Reasoning = "raise",
            relay_to: Any = None) -> Stream:
        """Read ``body`` (``response["Body"]`` of ``invoke_endpoint_with_response_stream``,
        not iterated yet) from now on; returns its :class:`Stream`.

        ``key`` labels the stream for the caller (default: ``body``).
        ``text`` (``"tgi"``, ``"lmi"``, ``"openai"``, ``"raw"`` or ``"auto"``,
        as in ``fastsmr.text_stream``) asks for the text instead of the
        parts: each batch then gives the stream's new text as one bytes
        object of Server-Sent Events (:func:`sse_text` per text piece).
        ``reasoning`` (with ``text``; ``"raise"``, ``"skip"`` or
        ``"include"``, as in ``fastsmr.text_stream``) says what becomes of a
        reasoning model's thinking, the ``reasoning`` or
        ``reasoning_content`` field of an OpenAI-compatible delta (vLLM's
        and SGLang's reasoning parsers): by default the stream ends with
        ``text_stream``'s ``TextStreamError`` naming the field, ``"skip"``
        relays the answer alone, ``"include"`` the thinking too, before the
        answer.
        ``relay_to`` (needs ``text``) has the reader send those events on
        itself, so that the batches carry nothing for this stream: to a
        connected socket (nothing else may write to it until the stream is
        done: write the HTTP response head before adding, any last event
        after ``done``; the reader writes through a descriptor of its own,
        so closing the socket early never sends the events to the connection
        that gets its number next), or to an ASGI ``send``
        callable, which
        :meth:`abatches` awaits with ``{"type": "http.response.body", "body":
        events, "more_body": True}`` (the application starts and ends the
        response itself).

        The reader starts reading the stream at once if a :meth:`batches`
        (or :meth:`abatches`, :meth:`poll`) loop is running in another
        thread, else when one starts.

        Raises ``TypeError`` for a body that was already read from, that is
        not a chunked HTTP/1.1 response, or that is an aiobotocore body (see
        the module docstring), ``ValueError`` for an unknown ``text`` format
        or ``reasoning``, ``relay_to`` or a ``reasoning`` other than
        ``"raise"`` without ``text``, or a socket another open stream relays
        to.

        >>> import fastsmr.mux
        >>> from fastsmr.testing import StreamingEndpoint
        >>> with StreamingEndpoint() as endpoint, fastsmr.mux.Reader() as reader:
        ...     body = endpoint.client().invoke_endpoint_with_response_stream(
        ...         EndpointName="openai", Body=b"{}", CustomAttributes="fastsmr-tokens=2")["Body"]
        ...     stream = reader.add(body, text="openai", reasoning="skip")
        ...     events = b"".join(output for _, output in reader.batches())
        >>> events.count(b"data: "), stream.error
        (2, None)
        """
        if self._closed:
            raise RuntimeError("this Reader is closed")
        if text is not None and text not in FORMATS:
            raise ValueError(f"unknown text format {text!r}; expected one of {', '.join(FORMATS)}")
        if reasoning not in REASONING:
            raise ValueError(f"unknown reasoning {reasoning!r}; expected one of {', '.join(REASONING)}")
        if reasoning != "raise" and text is None:
            raise ValueError("reasoning= needs text= (the payload parts are given as they are)")
        if relay_to is not None and text is None:
            raise ValueError("relay_to needs text= (the format of the model's output)")
        relay_fd = None
        if relay_to is not None:
            if hasattr(relay_to, "sendall") and hasattr(relay_to, "fileno"):
                relay_fd = relay_to.fileno()
                if relay_fd < 0:
                    raise ValueError("relay_to is a closed socket")
            elif not callable(relay_to):
                raise TypeError("relay_to must be a connected socket or an ASGI send callable")
        from ._boto import BotoBody

        adapter = BotoBody(body)
        stream = Stream(self, body if key is None else key, body, adapter, text, reasoning, relay_to, relay_fd)
        with self._lock:
            if relay_fd is not None:
                if relay_fd in self._relay_fds:
                    adapter.finish(False)
                    raise ValueError(f"another open stream relays to the socket of descriptor {relay_fd}")
                stream._relay_own = os.dup(relay_fd)
                self._relay_fds.add(relay_fd)
            self._pending.append(stream)
        self._core.wake()
        return stream

    def _admit(self) -> None:
        """Hand the streams added since the last poll to the core (in the polling thread)."""
        core = self._core
        while True:
            with self._lock:
                if not self._pending:
                    return
                stream = self._pending.popleft()
            adapter = stream._adapter
            try:
                fd, buffered = adapter.take()
            except BaseException as error:  # take() gave the connection back
                stream._upstream_over = True
                self._finish(stream, error)
                self._ended.append((stream, self._empty(stream)))
                continue
            timeout = adapter.timeout if self._read_timeout is _SOCKET_TIMEOUT else self._read_timeout
            text = stream.text
            if text is not None and text not in core.TEXT_FORMATS:
                from ..tokens.text import TextDecoder

                stream._texts = TextDecoder(text, reasoning=stream.reasoning)
                text = None
            # A descriptor of the reader's own: the body's owner may close the
            # connection (response["Body"].close()) and its number go to another.
            stream._body_own = fd = os.dup(fd)
            try:
                core.add(stream, fd, buffered, timeout, text, stream._relay_own, self._limit)
            except Exception as error:  # the descriptor cannot be watched: this stream fails alone
                self._release(stream)
                self._finish(stream, error)
                self._ended.append((stream, self._empty(stream)))
                continue
            self._streams.add(stream)

    # --- reading ------------------------------------------------------------------------

    def __len__(self) -> int:
        """Streams added and not yet reported done."""
        undelivered = sum(1 for stream, _ in self._undelivered if stream.done) if self._undelivered else 0
        return len(self._streams) + len(self._pending) + len(self._ended) + undelivered

    def poll(self, timeout: Optional[float] = None, *, wait: bool = False) -> List[Tuple[Stream, Any]]:
        """One wake-up: wait up to ``timeout`` seconds (None: until something
        arrives) and return ``(stream, output)`` for every stream with new
        output or an end (a stream's end is reported once, with
        ``stream.done`` true). ``output`` is a list of payload bytes, or for a
        ``text`` stream one bytes object of Server-Sent Events (``b""`` when
        the stream is relayed or had no new text).

        With no stream open it returns ``[]`` at once, unless ``wait`` is
        true: then it waits (up to ``timeout``) for another thread to add one,
        or to :meth:`close` the reader.
        """
        with self._lock:
            if self._closed:
                return []
            self._polling = True
        try:
            if self._undelivered:
                out = list(self._undelivered)
                self._undelivered.clear()
                return out
            if self._pending:  # (added under the lock, with a wake: one missed here is admitted next time)
                self._admit()
            if self._ended:
                out, self._ended = self._ended, []
                return out
            if not self._streams and not wait:
                return []
            return self._reports(self._core.poll(timeout))
        finally:
            with self._lock:
                self._polling = False
                closing = self._closed
            if closing:
                self._shutdown()

    def batches(self, *, wait: bool = False) -> Iterator[Tuple[Stream, Any]]:
        """``(stream, output)`` pairs (see :meth:`poll`), one wake-up per batch,
        until every stream added so far has ended — or, with ``wait`` true,
        until the reader is closed (from another thread, or by breaking out of
        the loop and closing it): another thread may go on adding streams,
        each read as soon as it is added."""
        undelivered = self._undelivered
        while not self._closed and (wait or len(self)):
            undelivered.extend(self.poll(wait=wait))
            while undelivered:  # taken off before it is yielded: a break leaves only the rest
                yield undelivered.popleft()

    async def abatches(self) -> AsyncIterator[Tuple[Stream, Any]]:
        """The ``async for`` twin of :meth:`batches`: the running event loop
        watches the reader's descriptor, so no thread is involved.

        Streams relayed to an ASGI ``send`` are sent their events by a task of
        their own, so that a slow client holds back only its stream (past
        ``relay_limit`` bytes waiting, the reader stops reading that stream's
        response until half are sent); such a stream is reported done once
        its last event is sent, or with the exception the send raised.
        """
        import asyncio

        loop = asyncio.get_running_loop()
        fd = self._core.fileno()
        ready = asyncio.Event()
        loop.add_reader(fd, ready.set)
        self._woken = ready
        try:
            undelivered = self._undelivered
            while len(self) and not self._closed:
                reports = self.poll(0)
                if not reports:
                    ready.clear()
                    try:
                        await asyncio.wait_for(ready.wait(), self._core.timeout())
                    except asyncio.TimeoutError:
                        pass
                    continue
                undelivered.extend(reports)
                while undelivered:  # as in batches(): a break leaves the rest for the next loop
                    yield undelivered.popleft()
        finally:
            # A loop left with break is closed by the event loop later, perhaps
            # while a newer abatches() runs: the watch is then that one's, and
            # stays. The relays stay in any case: they send what was read and
            # wait for the next loop's events (cancelled, they would lose what
            # they hold, and the next loop's would go nowhere); close() ends them.
            if self._woken is ready:
                loop.remove_reader(fd)
                self._woken = None

    def _empty(self, stream: Stream) -> Any:
        return [] if stream.text is None else b""

    def _reports(self, reports: List[Tuple[Stream, List[bytes], Any, Any, Any]]) -> List[Tuple[Stream, Any]]:
        out: List[Tuple[Stream, Any]] = []  # (stream, its parts) or (stream, its text's events)
        for stream, parts, events, handover, end in reports:
            if stream.done:
                continue
            if stream.text is None:  # payload parts
                if end is not None:
                    self._release(stream, end)
                    self._finish(stream, None)
                out.append((stream, parts))
                continue
            data, failure = self._text(stream, parts, events, handover, end)
            if stream._socket:
                if data:
                    self._core.send(stream, data)
                data = b""
            elif stream._asgi_send:
                if stream._asgi is None:
                    stream._asgi = _AsgiRelay(self, stream)
                if data:
                    stream._asgi.push(data)
                data = b""
            if end is FLUSHED or end.__class__ is DownstreamFailed:  # the relay's end
                if not stream._upstream_over:  # the downstream failed first
                    self._release(stream)
                self._finish(stream, end.error if isinstance(end, DownstreamFailed) else None)
            elif failure is not None or end is not None:
                if stream.error is None:  # the text's error comes before the response's (text_stream's order)
                    stream.error = failure
                self._release(stream, end)
                if stream._socket:  # done once the downstream has taken what was made
                    self._core.flush(stream)
                elif stream._asgi_send:  # done once the last events are sent
                    if end is None:
                        self._core.remove(stream)
                    assert stream._asgi is not None  # made with the first report, this is a later one
                    stream._asgi.end()
                else:
                    if end is None:  # still being read
                        self._core.remove(stream)
                    self._finish(stream, stream.error)
            if data or stream.done:
                out.append((stream, data))
        return out

    def _text(self, stream: Stream, parts: List[bytes], events: Optional[bytes], handover: Any,
              end: Any) -> Tuple[bytes, Optional[BaseException]]:
        """The Server-Sent Events of what the report brings (made by the core, or here), and an error of the text."""
        chunks = [events] if events else []
        failure: Optional[BaseException] = None
        try:
            if handover is not None:
                assert stream.text is not None  # a handover is reported for a stream read as text only
                stream._texts, texts = resume(stream.text, handover, stream.reasoning)
                for text in texts:
                    chunks.append(sse_text(text))
            texts = stream._texts
            if texts is not None:
                for part in parts:
                    for text in texts.feed(part):
                        chunks.append(sse_text(text))
                if end is not None and end.__class__ is int and end != FLUSHED:  # the response ended cleanly
                    for text in texts.close():
                        chunks.append(sse_text(text))
        except Exception as error:  # the model's output is not the format: the stream ends with it
            failure = error
        return b"".join(chunks), failure

    def _release(self, stream: Stream, end: Any = None) -> None:
        """The response is over (``end``: how; None: stopped early): give its connection back."""
        if stream._upstream_over:
            return
        stream._upstream_over = True
        clean = end is not None and end.__class__ is int
        if end is not None and not clean and stream.error is None:
            stream.error = stream._adapter.error(end)
        stream._adapter.finish(clean and end == backend.impl.MUX_END)

    def _finish(self, stream: Stream, error: Optional[BaseException]) -> None:
        """The stream is done (its relay too)."""
        stream.done = True
        if stream.error is None:
            stream.error = error
        self._streams.discard(stream)
        if stream._relay_fd is not None:
            with self._lock:
                self._relay_fds.discard(stream._relay_fd)
            if stream._relay_own is not None:  # (the core no longer writes to it)
                os.close(stream._relay_own)
                stream._relay_own = None
        if stream._body_own is not None:  # (nor reads this)
            os.close(stream._body_own)
            stream._body_own = None

    def _abandon(self, stream: Stream) -> None:
        if stream.done:
            return
        with self._lock:
            if stream in self._pending:
                self._pending.remove(stream)
        if stream in self._streams:
            self._core.remove(stream)
        self._release(stream)
        self._finish(stream, None)
        if stream._asgi is not None:
            stream._asgi.cancel()

    # --- closing ------------------------------------------------------------------------

    def close(self) -> None:
        """Stop reading every stream still open (their connections are closed) and free the reader.

        From another thread while a :meth:`batches` loop waits, it makes the
        loop end; the loop's thread then does the closing.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            polling = self._polling
        if polling:
            self._core.wake()
        else:
            self._shutdown()

    def _shutdown(self) -> None:
        with self._lock:
            pending = list(self._pending)
            self._pending.clear()
        for stream in list(self._streams) + pending:
            if stream._asgi is not None:
                stream._asgi.cancel()
            if not stream.done:
                self._release(stream)
                self._finish(stream, None)
        self._streams.clear()
        self._ended.clear()
        self._undelivered.clear()
        self._core.close()

    def __del__(self) -> None:
        # Dropped without close() (a loop left by an exception, code without
        # `with`): the connections still open go, as close() would do it.
        if not getattr(self, "_closed", True):
            self.close()

    def __enter__(self) -> "Reader":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<fastsmr.mux.Reader {len(self)} streams ({backend.impl.BACKEND})>"


class _AsgiRelay:
    """Sends one stream's events to its ASGI ``send`` from a task of its own.

    What waits to be sent is counted; past the reader's limit the stream's
    response is left unread until half of it is sent. When the response is
    over and everything is sent (or a send fails), the stream is done and
    reported by the reader's next poll.
    """

    def __init__(self, reader: Reader, stream: Stream) -> None:
        import asyncio

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise TypeError("a stream relayed to an ASGI send is read with abatches()") from None
        # Weak, as Stream._reader is: the reader holds the stream, which
        # holds this relay, so a strong one would leave a reader dropped
        # without close() (and every connection it reads) to the next
        # collection. The task's frame looks it up after each await for the
        # same reason.
        self._reader = weakref.ref(reader)
        self.limit = reader._limit
        self.stream = stream
        self.queue: Deque[bytes] = deque()
        self.waiting = 0
        self.held = False
        self.ending = False
        self.wakeup = asyncio.Event()
        self.task = loop.create_task(self.run())

    def push(self, data: bytes) -> None:
        self.queue.append(data)
        self.waiting += len(data)
        if not self.held and self.waiting > self.limit:
            self._hold(True)
        self.wakeup.set()

    def end(self) -> None:
        self.ending = True
        self.wakeup.set()

    def _hold(self, held: bool) -> None:
        self.held = held
        reader = self._reader()
        if reader is not None and not self.stream._upstream_over and self.stream in reader._streams:
            reader._core.hold(self.stream, held)

    async def run(self) -> None:
        stream, send = self.stream, self.stream.relay_to
        error: Optional[BaseException] = None
        try:
            while True:
                while self.queue:
                    data = self.queue.popleft()
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                    self.waiting -= len(data)
                    if self.held and self.waiting <= self.limit // 2:
                        self._hold(False)
                if self.ending:
                    break
                self.wakeup.clear()
                await self.wakeup.wait()
        except Exception as failure:  # the downstream client left: this stream ends, alone
            error = failure
            reader = self._reader()
            if reader is not None and not stream._upstream_over:
                reader._core.remove(stream)
                reader._release(stream)
        stream._asgi = None  # the relay is over: no cycle keeps it and its task until a collection
        reader = self._reader()
        if reader is None:  # dropped: its streams were closed then
            return
        reader._finish(stream, error)
        reader._ended.append((stream, b""))
        if reader._woken is not None:
            reader._woken.set()

    def cancel(self) -> None:
        if not self.task.done():
            self.task.cancel()
