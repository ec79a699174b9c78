"""New AWS SDK for Python clients of the local endpoints (Python 3.12+).

:func:`sagemaker_http2_client` makes an ``aws-sdk-sagemaker-runtime-http2``
client that reaches :class:`~fastsmr.testing.BidirectionalEndpoint` over
awscrt's HTTP/2 (the transport the SDK needs for bidirectional streams),
trusting the endpoint's throw-away CA; :func:`bedrock_client` makes an
``aws-sdk-bedrock-runtime`` client of :class:`~fastsmr.testing.StreamingEndpoint`'s
``ConverseStream`` (HTTP/1.1, the SDK's default aiohttp transport). Both use
dummy credentials, region us-east-1 and a single attempt, so that nothing is
looked up and an injected fault surfaces at once.

smithy-http's awscrt client has no option for a trust store yet, so
:class:`LocalCRTClient` sets the TLS context the client builds in its
constructor (its ``_tls_ctx``), and keeps it across the copies the SDK makes of
its configuration; it refuses to start if that attribute has moved.
"""

from __future__ import annotations

import copy
from typing import Any, List, Optional

from awscrt import io as crt_io
from smithy_http.aio.crt import AWSCRTHTTPClient, AWSCRTHTTPClientConfig

__all__ = ["LocalCRTClient", "sagemaker_http2_client", "bedrock_client", "LOCAL_CREDENTIALS"]

#: Credentials the local endpoints accept (they check no signature).
LOCAL_CREDENTIALS = {"aws_access_key_id": "fastsmr-local", "aws_secret_access_key": "fastsmr-local"}


class LocalCRTClient(AWSCRTHTTPClient):
    """smithy-http's awscrt HTTP client, trusting ``ca_pem`` (a PEM CA certificate) only.

    HTTP/2 is required (``force_http_2``) unless ``client_config`` says otherwise.
    """

    def __init__(
        self, ca_pem: bytes, eventloop: Any = None, client_config: Optional[AWSCRTHTTPClientConfig] = None
    ) -> None:
        super().__init__(eventloop=eventloop, client_config=client_config or AWSCRTHTTPClientConfig(force_http_2=True))
        if not isinstance(getattr(self, "_tls_ctx", None), crt_io.ClientTlsContext):
            raise RuntimeError(
                "this smithy-http's AWSCRTHTTPClient keeps its TLS context elsewhere: "
                "fastsmr cannot make it trust the local endpoint's certificate"
            )
        options = crt_io.TlsContextOptions()
        options.override_default_trust_store(ca_pem)
        self._tls_ctx = crt_io.ClientTlsContext(options)
        self._ca_pem = ca_pem

    def __deepcopy__(self, memo: Any) -> LocalCRTClient:
        return LocalCRTClient(self._ca_pem, eventloop=self._eventloop, client_config=copy.deepcopy(self._config))


async def sagemaker_http2_client(url: str, ca_pem: bytes, *, plugins: Optional[List[Any]] = None, **config: Any) -> Any:
    """An ``AsyncSageMakerRuntimeHTTP2Client`` of a local bidirectional endpoint at ``url``.

    ``config`` overrides fields of ``AsyncSageMakerRuntimeHTTP2Config.resolve``;
    ``plugins`` go to the client.
    """
    from aws_sdk_sagemaker_runtime_http2.client import AsyncSageMakerRuntimeHTTP2Client
    from aws_sdk_sagemaker_runtime_http2.config import AsyncSageMakerRuntimeHTTP2Config

    options = {"endpoint_uri": url, "region": "us-east-1", "max_attempts": 1, **LOCAL_CREDENTIALS}
    options.update(config)
    if "transport" not in options:
        options["transport"] = LocalCRTClient(ca_pem)
    resolved = await AsyncSageMakerRuntimeHTTP2Config.resolve(**options)
    return AsyncSageMakerRuntimeHTTP2Client(config=resolved, plugins=plugins)


async def bedrock_client(url: str, *, plugins: Optional[List[Any]] = None, **config: Any) -> Any:
    """An ``AsyncBedrockRuntimeClient`` of a local ``ConverseStream`` at ``url``.

    ``config`` overrides fields of ``AsyncBedrockRuntimeConfig.resolve``;
    ``plugins`` go to the client.
    """
    from aws_sdk_bedrock_runtime.client import AsyncBedrockRuntimeClient
    from aws_sdk_bedrock_runtime.config import AsyncBedrockRuntimeConfig

    options = {"endpoint_uri": url, "region": "us-east-1", "max_attempts": 1, **LOCAL_CREDENTIALS}
    options.update(config)
    resolved = await AsyncBedrockRuntimeConfig.resolve(**options)
    return AsyncBedrockRuntimeClient(config=resolved, plugins=plugins)
