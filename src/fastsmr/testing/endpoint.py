"""Local endpoints for synchronous code: each asyncio server on its own
event loop in a background thread.

:class:`StreamingEndpoint` serves SageMaker Runtime's HTTP/1.1 operations (and
Bedrock Runtime's streaming ones); :class:`BidirectionalEndpoint` serves
``InvokeEndpointWithBidirectionalStream`` over HTTP/2.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Mapping, Optional, Protocol, TypeVar, cast

from .._extras import needs
from .config import EndpointConfig
from .model import FORMATS
from .server import EndpointServer, ServerStats, new_event_loop

if TYPE_CHECKING:
    from .bidirectional import BidirectionalServer

__all__ = ["StreamingEndpoint", "BidirectionalEndpoint", "bidirectional_endpoints", "default_endpoints"]


def default_endpoints(**fields: Any) -> Dict[str, EndpointConfig]:
    """One endpoint per output format, named after it: ``tgi``, ``lmi``, ``openai``, ``raw``.

    ``fields`` set the other :class:`EndpointConfig` fields of all four.

    >>> sorted(default_endpoints(tokens=4))
    ['lmi', 'openai', 'raw', 'tgi']
    """
    return {fmt: EndpointConfig(format=fmt, **fields) for fmt in FORMATS}


_Self = TypeVar("_Self", bound="_Background")


class _Server(Protocol):
    """What :class:`_Background` runs: an :class:`EndpointServer` or a ``BidirectionalServer``."""

    host: str
    port: int
    endpoints: Dict[str, EndpointConfig]
    stats: ServerStats

    async def start(self) -> None: ...
    async def close(self, timeout: float = 5.0) -> None: ...


class _Background:
    """A server (``start``/``close`` coroutines, ``host``, ``port``, ``endpoints``,
    ``stats``) run on its own event loop in a daemon thread."""

    def __init__(self, server: _Server) -> None:
        self._server = server
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._thread: Optional[threading.Thread] = None
        self._ready = threading.Event()
        self._startup_error: Optional[BaseException] = None

    @property
    def host(self) -> str:
        """The address the server listens on."""
        return self._server.host

    @property
    def port(self) -> int:
        """The bound port (known once started)."""
        return self._server.port

    _SCHEME = "http"

    @property
    def url(self) -> str:
        """The endpoint URL to give a client (boto3's ``endpoint_url``, the new SDK's ``endpoint_uri``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self._SCHEME}://{host}:{self.port}"

    @property
    def endpoints(self) -> Dict[str, EndpointConfig]:
        """The served endpoints by name (a live mapping)."""
        return self._server.endpoints

    @property
    def stats(self) -> ServerStats:
        """Request and stream counters, including the peak of concurrent streams."""
        return self._server.stats

    def add_endpoint(self, name: str, config: Optional[EndpointConfig] = None, **fields: Any) -> EndpointConfig:
        """Serve ``name`` from now on with ``config`` (or ``EndpointConfig(**fields)``).

        >>> with StreamingEndpoint({}) as endpoint:
        ...     endpoint.add_endpoint("chat", format="openai").format
        'openai'
        """
        if config is None:
            config = EndpointConfig(**fields)
        elif fields:
            config = config.replace(**fields)
        self._server.endpoints[name] = config
        return config

    def start(self: _Self) -> _Self:
        """Start serving in a background thread; returns once the port is bound."""
        if self._thread is not None:
            raise RuntimeError("this StreamingEndpoint was already started")
        self._thread = threading.Thread(target=self._run, name=f"fastsmr-endpoint-{id(self):x}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._startup_error is not None:
            self._thread.join()
            raise self._startup_error
        return self

    def _run(self) -> None:
        loop = new_event_loop()
        self._loop = loop
        try:
            try:
                loop.run_until_complete(self._server.start())
            except BaseException as exc:  # reported to start()'s caller
                self._startup_error = exc
                return
            finally:
                self._ready.set()
            loop.run_forever()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the server, closing open streams; idempotent.

        Streams still open are cut off (clients see the connection end before
        the response does); ``timeout`` bounds the wait for them.
        """
        loop, thread = self._loop, self._thread
        if loop is None or thread is None or loop.is_closed():
            return
        future = asyncio.run_coroutine_threadsafe(self._server.close(timeout), loop)
        try:
            future.result(timeout + 5)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout + 5)

    def __enter__(self: _Self) -> _Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self._thread is not None and self._thread.is_alive() else "stopped"
        return f"<{type(self).__name__} {self.url} {state} endpoints={sorted(self.endpoints)}>"


class StreamingEndpoint(_Background):
    """SageMaker Runtime's ``InvokeEndpoint`` and
    ``InvokeEndpointWithResponseStream`` on 127.0.0.1, for tests and demos,
    and Bedrock Runtime's ``InvokeModelWithResponseStream`` and
    ``ConverseStream`` (see :mod:`fastsmr.testing.bedrock`).

    ``endpoints`` maps endpoint names to their :class:`EndpointConfig`
    (default: :func:`default_endpoints`); any other name gets SageMaker's
    ``ValidationError``. Each call can override the config through
    ``CustomAttributes`` or the JSON body (see :mod:`fastsmr.testing.config`).

    >>> import boto3
    >>> from fastsmr.testing import StreamingEndpoint, generate_text
    >>> with StreamingEndpoint() as endpoint:
    ...     client = endpoint.client()
    ...     response = client.invoke_endpoint_with_response_stream(
    ...         EndpointName="raw", Body=b'{"inputs": "Hi"}', CustomAttributes="fastsmr-tokens=3")
    ...     parts = [event["PayloadPart"]["Bytes"] for event in response["Body"]]
    >>> b"".join(parts).decode() == generate_text(3)
    True
    """

    def __init__(
        self,
        endpoints: Optional[Mapping[str, EndpointConfig]] = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(EndpointServer(default_endpoints() if endpoints is None else endpoints, host=host, port=port))

    def client(self, service_name: str = "sagemaker-runtime", **kwargs: Any) -> Any:
        """A boto3 client for this endpoint: ``sagemaker-runtime``, or ``bedrock-runtime``
        for the Bedrock routes (``invoke_model_with_response_stream``, ``converse_stream``).

        It uses dummy credentials and region (nothing is looked up, nothing
        leaves the machine) and does not retry, so injected faults surface
        on the first attempt. ``kwargs`` go to ``boto3.client``. Without boto3
        it raises a ``ModuleNotFoundError`` naming the extra to install.

        >>> with StreamingEndpoint() as endpoint:
        ...     stream = endpoint.client("bedrock-runtime").converse_stream(
        ...         modelId="meta.llama3-8b-instruct-v1:0", inferenceConfig={"maxTokens": 2},
        ...         messages=[{"role": "user", "content": [{"text": "Hi"}]}])["stream"]
        ...     [next(iter(event)) for event in stream]
        ['messageStart', 'contentBlockDelta', 'contentBlockDelta', 'contentBlockStop', 'messageStop', 'metadata']
        """
        with needs("StreamingEndpoint.client()", "demo", "boto3", "botocore"):
            import boto3
            from botocore.config import Config

        options: Dict[str, Any] = {
            "endpoint_url": self.url,
            "region_name": "us-east-1",
            "aws_access_key_id": "fastsmr-local",
            "aws_secret_access_key": "fastsmr-local",
            "config": Config(retries={"total_max_attempts": 1}),
        }
        options.update(kwargs)
        client: Callable[..., Any] = boto3.client  # any service name, not only the literals of types-boto3's overloads
        return client(service_name, **options)

    async def bedrock_client(self, **config: Any) -> Any:
        """A new AWS SDK ``aws-sdk-bedrock-runtime`` client of this endpoint's ``ConverseStream``.

        Dummy credentials, region us-east-1, one attempt; ``config`` (for
        instance ``plugins=[fastsmr.smithy.plugin]``) goes to
        :func:`fastsmr.testing.sdk.bedrock_client`.
        """
        from .sdk import bedrock_client

        return await bedrock_client(self.url, **config)


def bidirectional_endpoints(**fields: Any) -> Dict[str, EndpointConfig]:
    """:func:`default_endpoints` and ``echo``, which answers each request with its own bytes.

    >>> sorted(bidirectional_endpoints())
    ['echo', 'lmi', 'openai', 'raw', 'tgi']
    """
    return {**default_endpoints(**fields), "echo": EndpointConfig(**{"format": "raw", **fields, "echo": True})}


class BidirectionalEndpoint(_Background):
    """SageMaker Runtime's ``InvokeEndpointWithBidirectionalStream`` on 127.0.0.1
    over HTTP/2 and TLS (see :mod:`fastsmr.testing.bidirectional`).

    ``endpoints`` defaults to :func:`bidirectional_endpoints`. The certificate
    is made when the endpoint is; clients trust :attr:`ca_pem`, which
    :meth:`client` does for you.

    >>> import asyncio
    >>> from fastsmr.testing import BidirectionalEndpoint
    >>> from aws_sdk_sagemaker_runtime_http2.models import (
    ...     InvokeEndpointWithBidirectionalStreamInput, RequestPayloadPart, RequestStreamEventPayloadPart)
    >>> async def ask(endpoint):
    ...     async with await endpoint.client() as client:
    ...         stream = await client.invoke_endpoint_with_bidirectional_stream(
    ...             InvokeEndpointWithBidirectionalStreamInput(endpoint_name="echo"))
    ...         await stream.input_stream.send(RequestStreamEventPayloadPart(RequestPayloadPart(bytes_=b"Hi")))
    ...         await stream.input_stream.close()
    ...         _, events = await stream.await_output()
    ...         return b"".join([event.value.bytes_ or b"" async for event in events])
    >>> with BidirectionalEndpoint() as endpoint:
    ...     asyncio.run(ask(endpoint))
    b'Hi'
    """

    _SCHEME = "https"

    def __init__(
        self,
        endpoints: Optional[Mapping[str, EndpointConfig]] = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        from .bidirectional import BidirectionalServer

        super().__init__(
            BidirectionalServer(bidirectional_endpoints() if endpoints is None else endpoints, host=host, port=port)
        )

    @property
    def ca_pem(self) -> bytes:
        """The PEM certificate of the CA that signed the endpoint's certificate."""
        return cast("BidirectionalServer", self._server).certificate.ca_pem  # what __init__ gave _Background

    async def client(self, **config: Any) -> Any:
        """A new AWS SDK ``aws-sdk-sagemaker-runtime-http2`` client of this endpoint.

        Over awscrt (HTTP/2), trusting :attr:`ca_pem`; dummy credentials,
        region us-east-1, one attempt. ``config`` (for instance
        ``plugins=[fastsmr.smithy.plugin]``) goes to
        :func:`fastsmr.testing.sdk.sagemaker_http2_client`.
        """
        from .sdk import sagemaker_http2_client

        return await sagemaker_http2_client(self.url, self.ca_pem, **config)
