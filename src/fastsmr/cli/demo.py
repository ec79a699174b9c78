"""``fastsmr demo``: a streamed answer, then client CPU per token side by side.

The endpoint runs in a child process (``python -m fastsmr serve``) so that the
CPU measured here — ``time.process_time()`` of this process — is the client's
alone: no server thread shares the process or its GIL.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import types
from typing import Any, Iterator, List, Optional, Sequence, TextIO, Tuple

import fastsmr
from fastsmr.codec import _codec_py as _pure

__all__ = ["run_demo", "ServerProcess", "cpu_per_token"]

_QUESTION = "Why decode AWS event streams in C?"


class ServerProcess:
    """``fastsmr serve --port 0`` in a child process; ``url`` once started.

    >>> with ServerProcess() as server:  # doctest: +SKIP
    ...     server.url
    'http://127.0.0.1:...'
    """

    def __init__(self, startup_timeout: float = 30.0, args: Sequence[str] = ()) -> None:
        self.startup_timeout = startup_timeout
        self.args = list(args)
        self.url = ""
        #: With ``--bidirectional``: the CA certificate file clients must trust.
        self.ca_bundle = ""
        self._proc: Optional[subprocess.Popen] = None
        self._stderr: Optional[Any] = None

    def __enter__(self) -> ServerProcess:
        # The child must import this very fastsmr, installed or not.
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(fastsmr.__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self._stderr = tempfile.TemporaryFile()
        command = [sys.executable, "-m", "fastsmr", "serve", "--host", "127.0.0.1", "--port", "0", *self.args]
        self._proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr, env=env, text=True
        )
        lines: "queue.Queue[str]" = queue.Queue()
        stdout = self._proc.stdout
        assert stdout is not None
        # readline() cannot time out on a pipe on every platform; a reader thread can.
        threading.Thread(target=lambda: [lines.put(line) for line in iter(stdout.readline, "")], daemon=True).start()
        deadline = time.monotonic() + self.startup_timeout
        while not self.url or ("--bidirectional" in self.args and not self.ca_bundle):
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                self.__exit__()
                raise RuntimeError(f"the endpoint did not start within {self.startup_timeout:g} s") from None
            if line.startswith("endpoint_url: "):
                self.url = line.split(": ", 1)[1].strip()
            elif line.startswith("ca_bundle: "):
                self.ca_bundle = line.split(": ", 1)[1].strip()
        return self

    def __exit__(self, *exc_info: object) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # the server closes its streams on SIGTERM
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()

    def failure(self) -> str:
        """What the child wrote to stderr (for error messages)."""
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace").strip()


def make_client(url: str) -> Any:
    """A boto3 client for a local endpoint: dummy credentials, no retries."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "sagemaker-runtime",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="fastsmr-demo",
        aws_secret_access_key="fastsmr-demo",
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )


def cpu_per_token(client: Any, tokens: int, reader: str = "events") -> float:
    """Client CPU seconds per token for one stream.

    The measured span is the whole call: request, response headers, and
    reading every part's bytes, either as users already do
    (``reader="events"``: ``for event in response["Body"]``) or with
    ``fastsmr.payload_parts`` (``reader="payload_parts"``).
    """
    start = time.process_time()
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="raw", Body=b"{}", CustomAttributes=f"fastsmr-tokens={tokens}"
    )
    count = 0
    if reader == "payload_parts":
        for _part in fastsmr.payload_parts(response["Body"]):
            count += 1
    else:
        for event in response["Body"]:
            event["PayloadPart"]["Bytes"]
            count += 1
    used = time.process_time() - start
    if count != tokens:
        raise RuntimeError(f"expected {tokens} events, got {count}")
    return used / tokens


def _clients() -> List[Tuple[str, Optional[types.ModuleType], str]]:
    """(label, backend, reader) for each measured client; backend None = stock botocore."""
    _speedups: Optional[types.ModuleType] = None
    if not os.environ.get("FASTSMR_NO_EXTENSIONS"):
        try:
            from fastsmr.codec import _codec_c as _speedups
        except ImportError:
            pass
    return [
        ("stock boto3", None, "events"),
        ("fastsmr (c)", _speedups, "events"),
        ("fastsmr (python)", _pure, "events"),
        ("payload_parts (c)", _speedups, "payload_parts"),
    ]


def measure(client: Any, tokens: int, runs: int) -> List[Tuple[str, Optional[float], str]]:
    """Best client CPU per token of ``runs`` streams for each client:
    stock boto3, boto3 after ``fastsmr.install()`` on each backend, and
    ``fastsmr.payload_parts`` (the fastest path, for reference).

    Rounds are interleaved (stock, c, python, stock, ...) so that a noisy
    neighbour on a shared machine hits every client alike.
    """
    clients = _clients()
    best: dict = {}
    notes: dict = {}
    saved = fastsmr.codec.backend.impl
    try:
        for round_ in range(runs + 1):  # round 0 warms up imports and caches
            for label, backend, reader in clients:
                if label in notes:
                    continue
                if label == "stock boto3":
                    fastsmr.uninstall()
                elif backend is None:
                    notes[label] = "C extension not in use"
                    continue
                elif not fastsmr.install():
                    notes[label] = "install() refused this botocore"
                    continue
                else:
                    fastsmr.codec.backend.impl = backend
                used = cpu_per_token(client, tokens if round_ else min(tokens, 200), reader)
                if round_:
                    best[label] = min(best.get(label, used), used)
    finally:
        fastsmr.codec.backend.impl = saved
        fastsmr.uninstall()
    return [(label, best.get(label), notes.get(label, "")) for label, _, _ in clients]


def format_table(rows: List[Tuple[str, Optional[float], str]]) -> Iterator[str]:
    """The side-by-side table, speedups relative to stock boto3."""
    stock = rows[0][1]
    yield f"  {'client':<18}{'µs/token':>10}{'speedup':>10}"
    for label, seconds, note in rows:
        if seconds is None:
            yield f"  {label:<18}{'—':>10}{'':>10}  ({note})"
            continue
        speedup = f"{stock / seconds:.1f}x" if stock and seconds > 0 else "—"
        yield f"  {label:<18}{seconds * 1e6:>10.2f}{speedup:>10}"


def run_demo(*, tokens: int, runs: int, answer_tokens: int, rate: float, out: TextIO = sys.stdout) -> None:
    """Stream an answer from a local endpoint, then print the CPU table."""
    if hasattr(out, "reconfigure"):
        out.reconfigure(errors="replace")  # a non-UTF-8 terminal gets '?' for the emoji
    write = out.write
    with ServerProcess() as server:
        client = make_client(server.url)
        write("fastsmr demo: a local SageMaker-compatible endpoint in a child process; no network, no AWS account\n")
        write(f"endpoint_url: {server.url}    fastsmr backend: {fastsmr.BACKEND}\n\n")
        write(f"> {_QUESTION}\n")
        write("(pseudo-text streamed through boto3 with fastsmr.install(), printed as it arrives)\n\n")
        out.flush()
        fastsmr.install()
        try:
            response = client.invoke_endpoint_with_response_stream(
                EndpointName="tgi",
                Body=json.dumps({"inputs": _QUESTION, "parameters": {"max_new_tokens": answer_tokens}}).encode(),
                ContentType="application/json",
                CustomAttributes=f"fastsmr-rate={rate:g}",
            )
            for text in fastsmr.text_stream(fastsmr.payload_parts(response["Body"]), "tgi"):
                write(text)
                out.flush()
        finally:
            fastsmr.uninstall()
        write("\n\n")
        write(f"Client CPU per token (time.process_time), {tokens}-token streams, best of {runs}:\n")
        out.flush()
        for line in format_table(measure(client, tokens, runs)):
            write(line + "\n")
        out.flush()
