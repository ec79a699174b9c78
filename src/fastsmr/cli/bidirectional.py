"""``fastsmr invoke --bidirectional`` and ``fastsmr serve --bidirectional``.

``invoke`` calls SageMaker Runtime's ``InvokeEndpointWithBidirectionalStream``
with the new AWS SDK for Python (``aws-sdk-sagemaker-runtime-http2`` over
awscrt, Python 3.12+) and ``fastsmr.smithy.plugin``: the body goes out as
request events (``PayloadPart`` s of at most :data:`PART_BYTES`, ``PARTIAL``
then ``COMPLETE``), the answer is printed as it arrives. ``serve`` runs
:class:`fastsmr.testing.bidirectional.BidirectionalServer` in the foreground
and writes the certificate clients must trust to a file.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import sys
import tempfile
from typing import Any, AsyncIterator, Dict, List, Optional

__all__ = ["invoke", "serve", "PART_BYTES", "SDK_MISSING"]

#: The largest request part ``invoke`` sends.
PART_BYTES = 64 * 1024
#: What ``invoke --bidirectional`` says when the new SDK is not installed.
SDK_MISSING = (
    "fastsmr invoke --bidirectional needs the new AWS SDK for Python (Python 3.12+): pip install 'fastsmr[smithy]'"
)


class Failure(Exception):
    """A failure to report on one line and exit with ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _sdk() -> Any:
    try:
        import aws_sdk_sagemaker_runtime_http2.models as models
        import awscrt  # noqa: F401
        import smithy_aws_event_stream  # noqa: F401
    except ImportError:
        raise Failure(SDK_MISSING, 2) from None
    return models


async def _client(args: argparse.Namespace, loopback: bool) -> Any:
    import fastsmr.smithy
    from smithy_http.aio.crt import AWSCRTHTTPClient, AWSCRTHTTPClientConfig

    from ..testing.sdk import LOCAL_CREDENTIALS, LocalCRTClient
    from aws_sdk_sagemaker_runtime_http2.client import AsyncSageMakerRuntimeHTTP2Client
    from aws_sdk_sagemaker_runtime_http2.config import AsyncSageMakerRuntimeHTTP2Config

    options: Dict[str, Any] = {}
    if args.ca_bundle:
        try:
            with open(args.ca_bundle, "rb") as f:
                options["transport"] = LocalCRTClient(f.read())
        except OSError as exc:
            raise Failure(f"cannot read --ca-bundle {args.ca_bundle}: {exc.strerror or exc}", 2) from None
    else:
        options["transport"] = AWSCRTHTTPClient(client_config=AWSCRTHTTPClientConfig(force_http_2=True))
    if args.endpoint_url:
        options["endpoint_uri"] = args.endpoint_url
    if args.region:
        options["region"] = args.region
    if loopback and not args.profile:
        # A local endpoint checks no signature: never look for real credentials.
        options.setdefault("region", "us-east-1")
        options.update(LOCAL_CREDENTIALS)
        options["max_attempts"] = 1
    config = await AsyncSageMakerRuntimeHTTP2Config.resolve(profile=args.profile, **options)
    if config.region is None:
        raise Failure("no region: give --region or configure one (AWS_REGION, a profile)", 3)
    return AsyncSageMakerRuntimeHTTP2Client(config=config, plugins=[fastsmr.smithy.plugin])


def _jsonable(event: Any) -> Dict[str, Any]:
    value = event.value
    name = type(event).__name__.replace("ResponseStreamEvent", "")
    members: Dict[str, Any] = {}
    if hasattr(value, "bytes_"):
        data = value.bytes_ or b""
        try:
            members["Bytes"] = data.decode("utf-8")
        except UnicodeDecodeError:
            members["Bytes_base64"] = base64.b64encode(data).decode("ascii")
        for key, field in (("DataType", "data_type"), ("CompletionState", "completion_state"), ("P", "p")):
            if getattr(value, field) is not None:
                members[key] = getattr(value, field)
    return {name: members}


async def _invoke(args: argparse.Namespace, body: bytes, loopback: bool) -> None:
    import fastsmr.aio

    models = _sdk()
    out = sys.stdout
    client = await _client(args, loopback)
    async with client:
        stream = await client.invoke_endpoint_with_bidirectional_stream(
            models.InvokeEndpointWithBidirectionalStreamInput(endpoint_name=args.endpoint_name)
        )
        pieces: List[bytes] = [body[i : i + PART_BYTES] for i in range(0, len(body), PART_BYTES)] or [b""]

        async def send() -> None:
            for index, piece in enumerate(pieces):
                state = "COMPLETE" if index == len(pieces) - 1 else "PARTIAL"
                part = models.RequestPayloadPart(bytes_=piece, data_type=args.data_type, completion_state=state)
                await stream.input_stream.send(models.RequestStreamEventPayloadPart(part))
            await stream.input_stream.close()

        # Send while waiting for the response: if the connection or the call
        # fails, the request body is never read and sending would wait forever.
        sender = asyncio.ensure_future(send())
        try:
            _, events = await stream.await_output()
        except BaseException:
            sender.cancel()
            raise

        async def parts() -> AsyncIterator[bytes]:
            async for event in events:
                data = getattr(event.value, "bytes_", None)
                if data:
                    yield data

        if args.events:
            async for event in events:
                out.write(json.dumps(_jsonable(event), ensure_ascii=False) + "\n")
                out.flush()
        elif args.raw:
            async for data in parts():
                out.buffer.write(data)
                out.buffer.flush()
        else:
            last = ""
            async for text in fastsmr.aio.text_stream(parts(), args.format):
                out.write(text)
                out.flush()
                last = text
            if out.isatty() and not last.endswith("\n"):
                out.write("\n")
        await sender


def invoke(args: argparse.Namespace, body: bytes, loopback: bool) -> None:
    """Run ``fastsmr invoke --bidirectional``; raises :class:`Failure` with the exit code."""
    _sdk()
    import fastsmr
    from smithy_aws_event_stream.exceptions import EventError
    from smithy_core.exceptions import ModeledError, SmithyError

    try:
        asyncio.run(_invoke(args, body, loopback))
    except ModeledError as exc:  # ModelStreamError, InternalStreamFailure, ModelError, InputValidationError, ...
        raise Failure(f"{type(exc).__name__}: {exc.message}", 1) from None
    except (EventError, fastsmr.DecodeError, fastsmr.TextStreamError, UnicodeDecodeError) as exc:
        raise Failure(f"the stream failed: {exc}", 1) from None
    except BrokenPipeError:
        raise
    except Exception as exc:
        # SmithyError, OSError, awscrt's AwsCrtError: refused, TLS, no credentials
        cause = exc.__cause__ or exc
        if not isinstance(exc, (SmithyError, OSError)) and not type(cause).__module__.startswith("awscrt"):
            raise
        hint = ""
        if "TLS" in str(cause) and loopback and not args.ca_bundle:
            hint = " (a local `fastsmr serve --bidirectional` prints the --ca-bundle to pass)"
        raise Failure(f"could not reach the endpoint: {cause}{hint}", 3) from None


def serve(args: argparse.Namespace, endpoints: Dict[str, Any]) -> None:
    """Run the HTTP/2 endpoint until SIGINT/SIGTERM, or the end of stdin if asked (``fastsmr serve --bidirectional``)."""
    from ..testing.bidirectional import BidirectionalServer

    try:
        server = BidirectionalServer(endpoints, host=args.host, port=args.port)
    except ImportError as exc:
        raise Failure(f"{exc}", 2) from None
    ca_file = args.ca_file
    made: Optional[str] = None
    if ca_file is None:
        handle, made = tempfile.mkstemp(prefix="fastsmr-local-ca-", suffix=".pem")
        os.close(handle)
        ca_file = made
    try:
        with open(ca_file, "wb") as f:
            f.write(server.certificate.ca_pem)
    except OSError as exc:
        raise Failure(f"cannot write --ca-file {ca_file}: {exc.strerror or exc}", 2) from None

    async def run() -> None:
        from .stopping import stop_event

        stop = stop_event(args.stop_at_stdin_eof)
        await server.start()
        url = f"https://{'[%s]' % args.host if ':' in args.host else args.host}:{server.port}"
        pace = f"{args.rate:g} tokens/s" if args.rate else "unpaced"
        print(f"endpoint_url: {url}", flush=True)
        print(f"ca_bundle: {ca_file}")
        served = ", ".join(f"{n} ({'echo' if c.echo else c.format})" for n, c in endpoints.items())
        print(f"endpoints: {served}; {args.tokens} tokens, {pace}; HTTP/2 (TLS, ALPN h2)")
        name = next(iter(endpoints))
        print(f"try: fastsmr invoke --bidirectional {name} --endpoint-url {url} --ca-bundle {ca_file} "
              f"--body '{{\"inputs\": \"Hello\"}}'")
        print("Ctrl-C stops the server", flush=True)
        try:
            await stop.wait()
        finally:
            await server.close()

    try:
        asyncio.run(run())
    except OSError as exc:
        raise Failure(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc} (try --port 0)", 3) from None
    except KeyboardInterrupt:
        pass
    finally:
        if made is not None:
            os.unlink(made)
