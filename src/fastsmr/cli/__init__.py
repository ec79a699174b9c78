"""The ``fastsmr`` command: ``demo``, ``serve``, ``invoke``, ``decode`` and ``bench``.

Every error is one line on stderr, ``fastsmr COMMAND: what went wrong``;
the exit code says which kind (the same for every subcommand):

====  =====================================================================
0     success
1     the endpoint or the stream reported an error (ValidationError,
      ModelError, ModelStreamError, InternalStreamFailure, a broken or
      corrupt stream), the demo or a benchmark competitor failed, or
      the output could not be written (a full disk)
2     bad usage (an unknown option, a value out of range such as
      ``--port 99999``, a malformed ``--endpoint-url``, an unreadable
      ``--body`` file, a missing optional dependency) or, for ``decode``,
      input that is not a well-formed event stream
3     could not connect, bind a port, or find credentials/region; the
      message says what to try
130   interrupted (Ctrl-C) — except ``serve``, for which Ctrl-C is the
      normal way to stop (exit 0)
====  =====================================================================

>>> from fastsmr.cli import main
>>> main(["decode", "--help"])  # doctest: +ELLIPSIS
usage: fastsmr decode ...
0
"""

from __future__ import annotations

import argparse
import base64
import errno
import ipaddress
import json
import math
import os
import re
import socket
import sys
import textwrap
from typing import Any, BinaryIO, Callable, Dict, NoReturn, Optional, Sequence
from urllib.parse import urlsplit

from .. import __version__
from .failures import Received, connection_failure
from ..tokens.text import FORMATS as TEXT_FORMATS
from ..tokens.text import REASONING

__all__ = ["main", "EXIT_OK", "EXIT_ERROR", "EXIT_USAGE", "EXIT_UNREACHABLE", "EXIT_INTERRUPTED"]

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_INTERRUPTED = 130

_EXIT_CODES = """\
exit codes:
  0    success
  1    the endpoint or the stream reported an error
  2    bad usage, or malformed input for decode
  3    could not connect, bind, or find credentials/region
  130  interrupted"""



class _Failure(Exception):
    """A failure to report on one line and exit with ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line (exit 2) instead of the usage text and the error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _count(minimum: int) -> Callable[[str], int]:
    """An argparse type: an int of at least ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is too small: {minimum} or more")
        return value

    return parse


def _seconds(text: str) -> float:
    """An argparse type: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text} must be a number of seconds above 0")
    return value


def _rate(text: str) -> float:
    """An argparse type: tokens per second, 0 (unpaced) or more."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"{text} must be 0 (unpaced) or a positive number of tokens/s")
    return value


def _port(text: str) -> int:
    """An argparse type: a TCP port to listen on, 0 for any free one."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port: 1-65535, or 0 for any free one")
    return value


def _endpoint_url(text: str) -> str:
    """An argparse type: an http:// or https:// URL with a host and a valid port."""
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an http:// or https:// URL (e.g. http://127.0.0.1:8080, as fastsmr serve prints)"
        )
    try:
        port = parts.port
    except ValueError:  # "Port out of range 0-65535", "Port could not be cast to integer value"
        port = -1
    if port is not None and not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: the port must be a number from 1 to 65535")
    return text


def _parser() -> argparse.ArgumentParser:
    from ..testing import ERROR_CODES, FAULTS, FORMATS

    parser = _Parser(
        prog="fastsmr",
        description="Fast decoding of AWS event streams; a local SageMaker-compatible streaming endpoint.",
        epilog=_EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fastsmr {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=help,
            description=textwrap.fill(description, 79),
            epilog=_EXIT_CODES,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )

    demo = command(
        "demo",
        "stream an answer from an embedded endpoint and compare client CPU per token",
        "Start a local SageMaker-compatible endpoint in a subprocess, stream an answer through a real "
        "boto3 client with fastsmr.install(), then measure client CPU per token for stock boto3, "
        "fastsmr (c) and fastsmr (python). No network, no AWS credentials.",
    )
    demo.add_argument("--tokens", type=_count(1), metavar="N",
                      help="tokens per measured stream (default 20000; 2000 with --quick)")
    demo.add_argument("--rounds", type=_count(1), metavar="N",
                      help="measured rounds, each streaming once through every client (default 7; 3 with --quick)")
    demo.add_argument("--answer-tokens", type=_count(0), metavar="N",
                      help="tokens of the answer printed first (default 60; 20 with --quick)")
    demo.add_argument("--rate", type=_rate, metavar="R",
                      help="tokens/s of the printed answer, 0 = unpaced (default 40; 0 with --quick)")
    demo.add_argument("--quick", action="store_true",
                      help="a run of a few seconds: smaller defaults (options given explicitly still apply)")

    serve = command(
        "serve",
        "run a local SageMaker-compatible streaming endpoint in the foreground",
        "Serve InvokeEndpoint and InvokeEndpointWithResponseStream on HOST:PORT until Ctrl-C. "
        "Endpoints are named tgi, lmi, openai and raw (or --endpoint NAME); each call can override "
        "the settings below with CustomAttributes 'fastsmr-<option>=<value>; ...' (e.g. "
        "'fastsmr-fault=bad-crc; fastsmr-fail-after=3') or a \"fastsmr\" object in a JSON body.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="port (default 8080; 0 picks a free one)")
    serve.add_argument(
        "--endpoint", action="append", metavar="NAME",
        help="serve this endpoint name (repeatable; default: tgi, lmi, openai, raw)",
    )
    serve.add_argument(
        "--format", choices=FORMATS,
        help="output format of every endpoint (default: the endpoint's name if it is a format, else tgi)",
    )
    serve.add_argument("--tokens", type=int, default=32, help="tokens per response (default 32)")
    serve.add_argument("--rate", type=float, default=0.0, help="tokens per second; 0 = as fast as possible")
    serve.add_argument("--fail-after", type=int, metavar="N", help="fail after N tokens (ModelStreamError unless --fault)")
    serve.add_argument("--fault", choices=FAULTS, help="fault to inject (after --fail-after tokens, default 0)")
    serve.add_argument("--error-code", choices=ERROR_CODES, default=ERROR_CODES[0], help="ModelStreamError ErrorCode")
    serve.add_argument("--start-delay", type=float, default=0.0, help="seconds before the first token")
    serve.add_argument("--part-bytes", type=int, default=0, help="re-slice output into parts of this many bytes")
    serve.add_argument("--seed", type=int, default=0, help="seed of the pseudo-text")
    serve.add_argument(
        "--bidirectional",
        action="store_true",
        help="serve InvokeEndpointWithBidirectionalStream over HTTP/2 and TLS instead (endpoints: the "
        "formats and echo; needs pip install 'fastsmr[smithy]')",
    )
    serve.add_argument(
        "--ca-file", metavar="PATH", help="with --bidirectional: write the CA certificate clients must trust here "
        "(default: a temporary file, removed at exit)"
    )
    serve.add_argument(
        "--stop-at-stdin-eof", action="store_true",
        help="also stop when standard input reaches its end (a parent holding a pipe's write end then takes the "
        "server with it when it exits, even if killed)",
    )

    invoke = command(
        "invoke",
        "stream an endpoint's answer to stdout as it arrives",
        "Call InvokeEndpointWithResponseStream with boto3's usual credential chain and print the answer "
        "as it arrives (text by default; --raw for the payload bytes; --events for one JSON line per event). "
        "For an --endpoint-url on this machine (127.0.0.1, localhost) without --profile, dummy credentials "
        "and region us-east-1 are used unless given.",
    )
    invoke.add_argument("endpoint_name", metavar="ENDPOINT_NAME")
    invoke.add_argument("--body", required=True, help="request body: JSON text, @FILE, or - for stdin")
    invoke.add_argument("--region", help="AWS region (default: boto3's configuration)")
    invoke.add_argument("--profile", help="AWS profile")
    invoke.add_argument("--endpoint-url", type=_endpoint_url, help="SageMaker Runtime URL (e.g. a local `fastsmr serve`)")
    invoke.add_argument("--connect-timeout", type=_seconds, default=10.0, metavar="SECONDS",
                        help="give up connecting (TCP and TLS) after this long, per attempt: boto3 retries "
                             "endpoints that are not on this machine (default 10)")
    invoke.add_argument("--read-timeout", type=_seconds, default=60.0, metavar="SECONDS",
                        help="give up when the endpoint sends nothing for this long (default 60)")
    invoke.add_argument("--content-type", default="application/json", help="request Content-Type (default application/json)")
    invoke.add_argument("--accept", help="Accept for the model's response")
    invoke.add_argument("--custom-attributes", help="CustomAttributes to send")
    invoke.add_argument(
        "--format", choices=TEXT_FORMATS, default="auto", help="model output format for text mode (default auto)"
    )
    invoke.add_argument(
        "--reasoning", choices=REASONING, default="raise",
        help="a reasoning model's thinking (OpenAI-compatible deltas' reasoning or reasoning_content), in text "
        "mode: raise an error naming the field (default), skip it, or include it in the text",
    )
    invoke.add_argument(
        "--bidirectional",
        action="store_true",
        help="call InvokeEndpointWithBidirectionalStream with the new AWS SDK for Python (HTTP/2; Python 3.12+, "
        "pip install 'fastsmr[smithy]'): the body goes out as request events",
    )
    invoke.add_argument("--ca-bundle", metavar="FILE",
                        help="with --bidirectional: trust this CA (a local `fastsmr serve --bidirectional`)")
    invoke.add_argument(
        "--data-type", choices=("UTF8", "BINARY"), default="UTF8", help="with --bidirectional: the request parts' DataType"
    )
    mode = invoke.add_mutually_exclusive_group()
    mode.add_argument("--raw", action="store_true", help="write each PayloadPart's bytes as they arrive")
    mode.add_argument("--events", action="store_true", help="print each event as a JSON line")

    decode = command(
        "decode",
        "print the messages of a captured event stream as JSON lines",
        "Decode an application/vnd.amazon.eventstream capture: one JSON line per message with its "
        "offset, headers and payload (text when it is UTF-8, else payload_base64). Malformed input "
        "prints the offset and the reason and exits 2.",
    )
    decode.add_argument("file", metavar="FILE", help="capture to read, or - for stdin")

    from .bench import add_arguments as bench_arguments

    bench = command(
        "bench",
        "benchmark fastsmr side by side with botocore, aiobotocore and smithy-aws-event-stream",
        "Measure decoders over the same bytes, CRC-32 and memory-copy floors, memory per open stream, and "
        "real boto3/aiobotocore clients against a local endpoint in a child process (1, 16 and 128 streams, "
        "unpaced and at 30 tokens/s). Interleaved rounds; medians with min-max of per-round ratios. "
        "Competitors that are not installed are reported as skipped: pip install 'fastsmr[bench]'.",
    )
    bench_arguments(bench)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``fastsmr`` command; returns the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help, --version and usage errors
        return int(exit_.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if sys.stdout is None:  # started with stdout closed (`>&-`): every command writes there
        print(f"fastsmr {args.command}: stdout is closed; redirect it (to /dev/null to discard it)", file=sys.stderr)
        return EXIT_USAGE
    handler = {"demo": _demo, "serve": _serve, "invoke": _invoke, "decode": _decode, "bench": _bench}[args.command]
    try:
        return handler(args)
    except _Failure as failure:
        _flush_stdout()
        print(f"fastsmr {args.command}: {failure}", file=sys.stderr)
        return failure.code
    except KeyboardInterrupt:
        _flush_stdout()
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `fastsmr decode big | head`: the reader left
        # Point stdout at devnull so the interpreter's final flush stays quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _flush_stdout() -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # the reader left, or the output failed (reported already)
        pass


def _stdin() -> BinaryIO:
    if sys.stdin is None:  # started with stdin closed (`<&-`)
        raise _Failure("stdin is closed; pipe the input in, or name a file", EXIT_USAGE)
    return sys.stdin.buffer


def _output_failed(exc: OSError) -> _Failure:
    """The failure for a write to stdout that failed (a full disk, an I/O error)."""
    # What is still buffered cannot be written either: drop it, so that the
    # interpreter's final flush adds no second error.
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return _Failure(f"cannot write the output: {exc.strerror or exc}", EXIT_ERROR)


# --- demo -------------------------------------------------------------------------


def _need_boto3(command: str) -> None:
    try:
        import boto3  # noqa: F401
    except ImportError:
        raise _Failure("needs boto3, which is not installed: pip install 'fastsmr[demo]'", EXIT_USAGE) from None


#: (default, default with --quick) of each demo option left out.
_DEMO_DEFAULTS = {"tokens": (20000, 2000), "rounds": (7, 3), "answer_tokens": (60, 20), "rate": (40.0, 0.0)}


def _demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    _need_boto3("demo")
    options: Dict[str, Any] = {name: (value if value is not None else defaults[args.quick])  # argparse's values
                               for name, defaults in _DEMO_DEFAULTS.items() for value in [getattr(args, name)]}
    try:
        run_demo(**options)
    except (RuntimeError, OSError) as exc:
        raise _Failure(str(exc), EXIT_ERROR) from None
    return EXIT_OK


# --- serve ------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from ..testing import FORMATS, EndpointConfig, OptionError
    from ..testing.server import EndpointServer

    fault = args.fault or ("model-stream-error" if args.fail_after is not None else None)
    names = args.endpoint or list(FORMATS) + (["echo"] if args.bidirectional else [])
    try:
        endpoints = {
            name: EndpointConfig(
                echo=args.bidirectional and name == "echo",
                format=args.format or (name if name in FORMATS else "raw" if name == "echo" else "tgi"),
                tokens=args.tokens,
                rate=args.rate,
                seed=args.seed,
                fault=fault,
                fail_after=args.fail_after or 0,
                error_code=args.error_code,
                start_delay=args.start_delay,
                part_bytes=args.part_bytes,
            )
            for name in names
        }
    except OptionError as exc:  # "fail_after must be ...": name the option as it was given
        field, _, rest = str(exc).partition(" ")
        option = f"--{field.replace('_', '-')}" if field in EndpointConfig.__dataclass_fields__ else field
        raise _Failure(f"{option} {rest}", EXIT_USAGE) from None
    if args.bidirectional:
        from . import bidirectional

        try:
            bidirectional.serve(args, endpoints)
        except bidirectional.Failure as failure:
            raise _Failure(str(failure), failure.code) from None
        return EXIT_OK
    if args.ca_file:
        raise _Failure("--ca-file goes with --bidirectional", EXIT_USAGE)
    server = EndpointServer(endpoints, host=args.host, port=args.port)

    async def serve() -> None:
        from .stopping import stop_event

        stop = stop_event(args.stop_at_stdin_eof)  # handlers first: whoever reads the URL may signal us at once
        await server.start()
        url = f"http://{'[%s]' % args.host if ':' in args.host else args.host}:{server.port}"
        pace = f"{args.rate:g} tokens/s" if args.rate else "unpaced"
        print(f"endpoint_url: {url}", flush=True)
        print(f"endpoints: {', '.join(f'{n} ({c.format})' for n, c in endpoints.items())}; {args.tokens} tokens, {pace}")
        if fault:
            print(f"fault: {fault} after {args.fail_after or 0} tokens")
        print(f"try: fastsmr invoke {names[0]} --endpoint-url {url} --body '{{\"inputs\": \"Hello\"}}'")
        print("Ctrl-C stops the server", flush=True)
        try:
            await stop.wait()
        finally:
            await server.close()

    try:
        asyncio.run(serve())
    except OSError as exc:
        raise _Failure(_cannot_listen(args.host, args.port, exc), EXIT_UNREACHABLE) from None
    except KeyboardInterrupt:
        pass
    return EXIT_OK


def _cannot_listen(host: str, port: int, exc: OSError) -> str:
    """Why ``serve`` could not bind, and what to try."""
    where = f"cannot listen on {host}:{port}"
    if isinstance(exc, socket.gaierror):
        return f"{where}: the host name does not resolve ({exc.strerror}); try --host 127.0.0.1"
    if exc.errno == errno.EADDRINUSE:
        return f"{where}: the port is in use; stop what listens there, or try --port 0 (any free port)"
    # Python 3.13's asyncio drops each address that fails with EADDRNOTAVAIL and then
    # says "could not bind on any address out of [...]", without an errno.
    if exc.errno == errno.EADDRNOTAVAIL or (exc.errno is None and "could not bind on any address" in str(exc)):
        return (f"{where}: {host} is not an address of this machine; "
                "try --host 127.0.0.1 (this machine only) or --host 0.0.0.0 (every interface)")
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"{where}: not permitted (ports below 1024 need privileges); try --port 8080 or --port 0"
    return f"{where}: {exc.strerror or exc}"


# --- invoke -----------------------------------------------------------------------


def _is_loopback(url: Optional[str]) -> bool:
    if not url:
        return False
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _read_body(spec: str) -> bytes:
    try:
        if spec == "-":
            return _stdin().read()
        if spec.startswith("@"):
            with open(spec[1:], "rb") as f:
                return f.read()
    except OSError as exc:
        raise _Failure(f"cannot read the body from {spec[1:] or 'stdin'}: {exc.strerror or exc}", EXIT_USAGE) from None
    return spec.encode("utf-8")


def _client(args: argparse.Namespace) -> Any:
    import boto3
    import botocore.exceptions
    from botocore.config import Config

    options: Dict[str, Any] = {}
    config: Dict[str, Any] = {"connect_timeout": args.connect_timeout, "read_timeout": args.read_timeout}
    if args.endpoint_url:
        options["endpoint_url"] = args.endpoint_url
    try:
        session = boto3.Session(profile_name=args.profile, region_name=args.region)
        if _is_loopback(args.endpoint_url):
            # A local endpoint is neither throttled nor flaky: report the first failure.
            config["retries"] = {"total_max_attempts": 1}
            if not args.profile:
                # It checks no signature either: never look for real credentials
                # (no instance-metadata round trips) or demand a region.
                options["region_name"] = args.region or session.region_name or "us-east-1"
                options["aws_access_key_id"] = options["aws_secret_access_key"] = "fastsmr-local"
        return session.client("sagemaker-runtime", config=Config(**config), **options)
    except botocore.exceptions.InvalidRegionError as exc:
        raise _Failure(f"--region: {exc}", EXIT_USAGE) from None
    except botocore.exceptions.NoRegionError:
        raise _Failure(_NO_REGION, EXIT_UNREACHABLE) from None
    except botocore.exceptions.ProfileNotFound as exc:
        raise _Failure(f"{exc} (aws configure list-profiles lists them)", EXIT_UNREACHABLE) from None


_NO_REGION = "no AWS region configured: pass --region, or set AWS_DEFAULT_REGION"
_NO_CREDENTIALS = ("no AWS credentials found: configure them (aws configure, AWS_PROFILE or --profile), "
                   "or pass the --endpoint-url of a local endpoint (fastsmr serve prints one)")


def _reason(exc: BaseException) -> str:
    """The innermost cause of a connection error, as the OS or OpenSSL put it."""
    error: BaseException = getattr(exc, "kwargs", {}).get("error") or exc
    inner = error.__cause__ or error.__context__
    while inner is not None:
        error, inner = inner, inner.__cause__ or inner.__context__
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


def _cannot_connect(url: str, exc: BaseException, args: argparse.Namespace) -> str:
    """What went wrong before the endpoint answered, and what to try."""
    import botocore.exceptions as be

    parts = urlsplit(url)
    host = parts.hostname or url
    plain_http = "if the endpoint speaks plain HTTP (as fastsmr serve does), use http://"
    if isinstance(exc, be.SSLError):
        return f"TLS handshake with {url} failed ({_reason(exc)}); {plain_http}"
    if isinstance(exc, be.ConnectTimeoutError):
        return (f"no connection to {url} within {args.connect_timeout:g} s (--connect-timeout): "
                f"check the host and port, and that no firewall drops the packets")
    if isinstance(exc, be.ReadTimeoutError):
        hint = plain_http if parts.scheme == "https" else "the endpoint may be overloaded or not an HTTP server"
        return f"{url} accepted the connection but sent no response in time (--connect-timeout, --read-timeout); {hint}"
    if isinstance(exc, be.ConnectionClosedError):
        return f"{url} closed the connection without a response; check that it is a SageMaker Runtime endpoint"
    error = getattr(exc, "kwargs", {}).get("error")
    root = error
    while root is not None and (root.__cause__ or root.__context__) is not None:
        root = root.__cause__ or root.__context__
    if isinstance(root, socket.gaierror):
        return f"cannot resolve {host} ({_reason(exc)}): check --endpoint-url or --region"
    if isinstance(root, ConnectionRefusedError):
        return (f"connection refused by {parts.netloc}: nothing listens there; start the endpoint "
                f"(fastsmr serve prints its endpoint_url) or check --endpoint-url")
    return f"could not connect to {url}: {_reason(exc)}"


def _invoke(args: argparse.Namespace) -> int:
    if args.bidirectional:
        return _invoke_bidirectional(args)
    if args.ca_bundle:
        raise _Failure("--ca-bundle goes with --bidirectional", EXIT_USAGE)
    _need_boto3("invoke")
    import botocore.exceptions
    import urllib3.exceptions

    import fastsmr

    body = _read_body(args.body)
    client = _client(args)
    request: Dict[str, Any] = {"EndpointName": args.endpoint_name, "Body": body, "ContentType": args.content_type}
    if args.accept:
        request["Accept"] = args.accept
    if args.custom_attributes:
        request["CustomAttributes"] = args.custom_attributes
    fastsmr.install()
    out = sys.stdout
    response = None
    received = Received("event" if args.events else "payload part")
    try:
        response = client.invoke_endpoint_with_response_stream(**request)
        stream = response["Body"]
        if args.events:
            for event in stream:
                received.parts += 1
                out.write(json.dumps(_jsonable(event), ensure_ascii=False) + "\n")
                out.flush()
        elif args.raw:
            binary: BinaryIO = out.buffer
            for part in received.count(fastsmr.payload_parts(stream)):
                binary.write(part)
                binary.flush()
        else:
            last = ""
            parts = received.count(fastsmr.payload_parts(stream))
            for text in fastsmr.text_stream(parts, args.format, reasoning=args.reasoning):
                out.write(text)
                out.flush()
                last = text
            if out.isatty() and not last.endswith("\n"):
                out.write("\n")
    except BrokenPipeError:
        raise  # stdout's reader left (a ConnectionError, but not the endpoint's)
    except botocore.exceptions.ClientError as exc:  # ValidationError, ModelError, EventStreamError, ...
        error = exc.response.get("Error", {})
        raise _Failure(f"{error.get('Code', 'Error')}: {error.get('Message', exc)}", EXIT_ERROR) from None
    except botocore.exceptions.ParamValidationError as exc:  # e.g. an empty ENDPOINT_NAME
        raise _Failure(" ".join(str(exc).split()), EXIT_USAGE) from None
    except botocore.exceptions.NoRegionError:
        raise _Failure(_NO_REGION, EXIT_UNREACHABLE) from None
    except botocore.exceptions.NoCredentialsError:
        raise _Failure(_NO_CREDENTIALS, EXIT_UNREACHABLE) from None
    except botocore.exceptions.PartialCredentialsError as exc:
        raise _Failure(str(exc), EXIT_UNREACHABLE) from None
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
        if response is None:  # before the endpoint answered: we could not reach it
            raise _Failure(_cannot_connect(client.meta.endpoint_url, exc, args), EXIT_UNREACHABLE) from None
        raise _Failure(_stream_broke(exc, received, args), EXIT_ERROR) from None
    except (fastsmr.TextStreamError, UnicodeDecodeError) as exc:  # the model's output: the message says where
        raise _Failure(f"the stream failed: {exc}", EXIT_ERROR) from None
    except (
        botocore.exceptions.BotoCoreError,  # incl. stream parser errors
        urllib3.exceptions.HTTPError,  # the connection broke mid-stream
        fastsmr.DecodeError,
        ConnectionError,
    ) as exc:
        raise _Failure(_stream_broke(exc, received, args), EXIT_ERROR) from None
    except OSError as exc:  # the socket's errors come wrapped (above): this is writing stdout
        raise _output_failed(exc) from None
    finally:
        fastsmr.uninstall()
    return EXIT_OK


def _stream_broke(exc: BaseException, received: Received, args: argparse.Namespace) -> str:
    """A stream that failed after the response began: its connection, or its event stream."""
    found = connection_failure(exc, args.read_timeout)
    if found is None:  # a corrupt event stream: the message names the offset
        return f"the stream failed {received}: {exc}"
    what, hint = found
    logs = ("the endpoint's own output" if _is_loopback(args.endpoint_url)
            else "the endpoint's logs (for SageMaker, in CloudWatch)")
    return f"the stream broke {received}: {what}; the answer is cut short: {hint or f'try again, and if it recurs, see {logs}'}"


def _invoke_bidirectional(args: argparse.Namespace) -> int:
    from . import bidirectional

    unused = [option for option, value in (("--accept", args.accept), ("--custom-attributes", args.custom_attributes))
              if value]
    if unused:
        raise _Failure(f"{', '.join(unused)} do not apply to --bidirectional", EXIT_USAGE)
    body = _read_body(args.body)
    try:
        bidirectional.invoke(args, body, _is_loopback(args.endpoint_url))
    except bidirectional.Failure as failure:
        raise _Failure(str(failure), failure.code) from None
    return EXIT_OK


def _jsonable(value: Any) -> Any:
    """An event as JSON: bytes as UTF-8 text, or under ``<key>_base64`` when not text."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if isinstance(item, (bytes, bytearray)):
                try:
                    out[key] = bytes(item).decode("utf-8")
                except UnicodeDecodeError:
                    out[f"{key}_base64"] = base64.b64encode(item).decode("ascii")
            else:
                out[key] = _jsonable(item)
        return out
    if isinstance(value, list):
        return [_jsonable(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


# --- bench ------------------------------------------------------------------------


def _bench(args: argparse.Namespace) -> int:
    from .bench import main as bench_main

    try:
        return bench_main(args)
    except ValueError as exc:  # bad --rounds or --streams
        raise _Failure(str(exc), EXIT_USAGE) from None
    except (RuntimeError, OSError) as exc:  # the endpoint did not start, an output file cannot be written
        raise _Failure(str(exc), EXIT_ERROR) from None


# --- decode -----------------------------------------------------------------------


def _header_value(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return {"bytes_base64": base64.b64encode(value).decode("ascii")}
    return value


_CHUNK_SIZE_LINE = re.compile(rb"[0-9A-Fa-f]{1,16}(;[^\r\n]*)?\r\n")
_SSE_FIELD = re.compile(rb"(data|event|id|retry):|:")
_NOT_AN_EVENT_STREAM = "not an event stream (binary messages, each with a 12-byte prelude of lengths and a CRC)"
_MODEL_OUTPUT = ("a model server's own output, which event-stream messages carry as payloads "
                 "(what fastsmr invoke --raw prints), not the stream around it")


def _looks_like(head: bytes) -> Optional[str]:
    """What ``head``, the first bytes of an input that does not decode, appears to be instead.

    >>> print(_looks_like(b'data: {"token": {"text": "Hi"}}'))  # doctest: +ELLIPSIS
    Server-Sent Events text (data: lines): a model server's own output, ...
    >>> print(_looks_like(bytes(range(16))))
    None
    """
    if head.startswith(b"HTTP/"):
        return "a whole HTTP response (status line and headers first); save the body alone (curl -o FILE, without -i)"
    if _CHUNK_SIZE_LINE.match(head):
        return ("an HTTP body still in chunked transfer coding (a hex size line before each chunk); "
                "save it de-chunked (curl -o FILE, without --raw)")
    stripped = head.lstrip()
    if _SSE_FIELD.match(stripped):
        return f"Server-Sent Events text (data: lines): {_MODEL_OUTPUT}"
    if stripped[:1] in (b"{", b"["):
        lines = [line for line in stripped.splitlines() if line.strip()]
        if len(lines) > 1 and all(line.lstrip()[:1] == b"{" for line in lines[:-1]):
            return f"JSON lines: {_MODEL_OUTPUT}"
        return "JSON (a whole response body, such as invoke_endpoint's or an error's)"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        text = head[: exc.start].decode("utf-8") if exc.start > len(head) - 4 else ""  # cut inside a character
    if text and sum(c.isprintable() or c.isspace() for c in text) >= 0.95 * len(text):
        return "text"
    return None


def _write(out: Any, text: str, flush: bool = False) -> None:
    try:
        out.write(text)
        if flush:
            out.flush()
    except BrokenPipeError:
        raise  # stdout's reader left: main() ends quietly
    except OSError as exc:
        raise _output_failed(exc) from None


def _decode(args: argparse.Namespace) -> int:
    import fastsmr

    try:
        source: BinaryIO = _stdin() if args.file == "-" else open(args.file, "rb")
    except OSError as exc:
        raise _Failure(f"cannot read {args.file}: {exc.strerror or exc}", EXIT_USAGE) from None
    name = "the input" if args.file == "-" else args.file
    decoder = fastsmr.Decoder()
    offset = 0
    head = b""
    out = sys.stdout
    with source:
        try:
            while True:
                chunk = source.read(1 << 16)
                head = head or chunk
                if chunk:
                    messages = decoder.feed(chunk)
                else:
                    decoder.close()  # raises if the input ended inside a message
                    messages = []
                for message in messages:
                    record: Dict[str, Any] = {
                        "offset": offset,
                        "headers": {name: _header_value(v) for name, v in message.headers.items()},
                    }
                    try:
                        record["payload"] = message.payload.decode("utf-8")
                    except UnicodeDecodeError:
                        record["payload_base64"] = base64.b64encode(message.payload).decode("ascii")
                    _write(out, json.dumps(record, ensure_ascii=False) + "\n")
                    offset += message.total_length
                if not chunk:
                    _write(out, "", flush=True)  # what is buffered: it may fail too
                    return EXIT_OK
        except fastsmr.DecodeError as exc:
            what = _looks_like(head[:4096]) if exc.offset == 0 else None
            if what:
                raise _Failure(f"{name} is {_NOT_AN_EVENT_STREAM}: it looks like {what}", EXIT_USAGE) from None
            raise _Failure(f"malformed event stream: {exc}", EXIT_USAGE) from None  # the message names the offset
        except BrokenPipeError:
            raise  # stdout's reader left: main() ends quietly
        except OSError as exc:
            raise _Failure(f"cannot read {args.file}: {exc.strerror or exc}", EXIT_USAGE) from None


if __name__ == "__main__":  # pragma: no cover - python -m fastsmr is the entry
    sys.exit(main())
