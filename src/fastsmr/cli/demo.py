"""``fastsmr demo``: a streamed answer, then client CPU per token side by side.

The endpoint runs in a child process (``python -m fastsmr serve``) so that the
CPU measured here — ``time.process_time()`` of this process — is the client's
alone: no server thread shares the process or its GIL.
"""

from __future__ import annotations

import json
import math
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import types
from typing import IO, Any, Callable, Dict, Iterator, List, NamedTuple, Optional, Sequence, TextIO, Tuple

import fastsmr
from fastsmr.codec import _codec_py as _pure

from .failures import connection_failure

__all__ = ["run_demo", "ServerProcess", "cpu_per_token", "measure", "format_table"]


class ServerProcess:
    """``fastsmr serve --port 0`` in a child process; ``url`` once started.

    The child never outlives this process: it holds the write end of a pipe
    that is the child's standard input, and the child stops at its end of
    file (``--stop-at-stdin-eof``), which comes when this process exits,
    even killed with SIGKILL (``__exit__`` stops it at once with SIGTERM).

    >>> with ServerProcess() as server:
    ...     server.url.startswith("http://127.0.0.1:")
    True
    """

    def __init__(self, startup_timeout: float = 30.0, args: Sequence[str] = ()) -> None:
        self.startup_timeout = startup_timeout
        self.args = list(args)
        self.url = ""
        #: With ``--bidirectional``: the CA certificate file clients must trust.
        self.ca_bundle = ""
        self._proc: Optional[subprocess.Popen[str]] = None
        self._stderr: Optional[IO[bytes]] = None

    def __enter__(self) -> ServerProcess:
        # The child must import this very fastsmr, installed or not.
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(fastsmr.__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        self._stderr = tempfile.TemporaryFile()
        command = [sys.executable, "-m", "fastsmr", "serve", "--host", "127.0.0.1", "--port", "0",
                   "--stop-at-stdin-eof", *self.args]
        # stdin: the pipe whose end tells the child that this process is gone.
        self._proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, env=env, text=True
        )
        lines: "queue.Queue[str]" = queue.Queue()
        stdout = self._proc.stdout
        assert stdout is not None
        # readline() cannot time out on a pipe on every platform; a reader thread can.
        def pump() -> None:
            for line in iter(stdout.readline, ""):
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
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
        if proc is not None:
            for pipe in (proc.stdin, proc.stdout):
                if pipe is not None:
                    pipe.close()
        if self._stderr is not None:
            self._stderr.close()

    def failure(self) -> str:
        """What the child wrote to stderr (for error messages)."""
        if self._stderr is None or self._stderr.closed:
            return ""
        self._stderr.seek(0)
        return self._stderr.read().decode("utf-8", "replace").strip()


_READ_TIMEOUT = 60  # seconds the demo's client waits for the endpoint's data


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
        config=Config(retries={"total_max_attempts": 1}, read_timeout=_READ_TIMEOUT),
    )


def cpu_per_token(client: Any, tokens: int, reader: str = "events") -> float:
    """Client CPU seconds per token for one stream of ``tokens`` TGI tokens.

    The measured span is the whole call: request, response headers, and
    reading every part's bytes, either as users already do
    (``reader="events"``: ``for event in response["Body"]``) or with
    ``fastsmr.payload_parts`` (``reader="payload_parts"``). It is what
    ``fastsmr bench --case e2e-sync --streams 1`` measures.
    """
    start = time.process_time()
    response = client.invoke_endpoint_with_response_stream(
        EndpointName="tgi", Body=b"{}", CustomAttributes=f"fastsmr-tokens={tokens}"
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
    if count != tokens + 1:  # TGI ends with an end-of-sequence part that carries no token
        raise RuntimeError(f"expected {tokens + 1} events, got {count}")
    return used / tokens


#: (label, what the row measures) in the order of the table.
ROWS = (
    ("stock boto3", 'for event in response["Body"]: botocore as installed, decoding and parsing in Python'),
    ("fastsmr (c)", "the same loop after fastsmr.install(): the same events, decoded by the C extension"),
    ("fastsmr (python)", "the same, decoded by the pure-Python backend (what installs without a C compiler)"),
    ("payload_parts (c)", 'for part in fastsmr.payload_parts(response["Body"]), without install(): the bytes alone'),
)


def _clients() -> List[Tuple[str, Optional[types.ModuleType], str]]:
    """(label, backend, reader) for each measured client; backend None = stock botocore."""
    _speedups: Optional[types.ModuleType] = None
    if not os.environ.get("FASTSMR_NO_EXTENSIONS"):
        try:
            from fastsmr.codec import _codec_c as _speedups
        except ImportError:
            pass
    backends = [None, _speedups, _pure, _speedups]
    readers = ["events", "events", "events", "payload_parts"]
    return [(label, backend, reader) for (label, _), backend, reader in zip(ROWS, backends, readers)]


class Row(NamedTuple):
    """One client's figures: CPU per token and speedup over stock boto3, median and range over rounds."""

    label: str
    seconds: Optional[float]  # median client CPU per token; None when not measured
    speedup: Tuple[float, float, float]  # (median, min, max) of the per-round ratios stock / this
    note: str


def measure(
    client: Any, tokens: int, rounds: int, progress: Callable[[int], None] = lambda done: None
) -> List[Row]:
    """Client CPU per token for each client over ``rounds`` rounds: stock
    boto3, boto3 after ``fastsmr.install()`` on each backend, and
    ``fastsmr.payload_parts`` (the fastest path).

    Every round streams once through every client, in an order that rotates
    from round to round, and the speedups are taken within the round, so
    that a noisy neighbour on a shared machine hits every client alike; the
    result gives the median with the min-max over rounds. ``progress(n)`` is
    called after each of the ``rounds`` rounds.
    """
    clients = _clients()
    samples: Dict[str, List[float]] = {label: [] for label, _, _ in clients}
    ratios: Dict[str, List[float]] = {label: [] for label, _, _ in clients}
    notes: Dict[str, str] = {}
    saved = fastsmr.codec.backend.impl
    try:
        for round_ in range(rounds + 1):  # round 0 warms up imports and caches
            used: Dict[str, float] = {}
            shift = round_ % len(clients)
            for label, backend, reader in clients[shift:] + clients[:shift]:
                if label in notes:
                    continue
                if label == "stock boto3":
                    fastsmr.uninstall()
                elif backend is None:
                    notes[label] = "C extension not in use"
                    continue
                elif reader == "payload_parts":  # on a stock client, as fastsmr bench measures it
                    fastsmr.uninstall()
                    fastsmr.codec.backend.impl = backend
                elif not fastsmr.install():
                    notes[label] = "install() refused this botocore"
                    continue
                else:
                    fastsmr.codec.backend.impl = backend
                used[label] = cpu_per_token(client, tokens if round_ else min(tokens, 200), reader)
            if round_:
                for label, seconds in used.items():
                    samples[label].append(seconds)
                    ratios[label].append(used["stock boto3"] / seconds if seconds > 0 else math.inf)
                progress(round_)
    finally:
        fastsmr.codec.backend.impl = saved
        fastsmr.uninstall()
    rows = []
    for label, _, _ in clients:
        if not samples[label]:
            rows.append(Row(label, None, (0.0, 0.0, 0.0), notes.get(label, "")))
            continue
        r = ratios[label]
        rows.append(Row(label, statistics.median(samples[label]), (statistics.median(r), min(r), max(r)), ""))
    return rows


def format_table(rows: List[Row]) -> Iterator[str]:
    """The side-by-side table, speedups relative to stock boto3, then a line on what each row measures."""
    yield f"  {'client':<19}{'µs/token':>9}   {'speedup (min-max)'}"
    for row in rows:
        if row.seconds is None:
            yield f"  {row.label:<19}{'—':>9}   ({row.note})"
            continue
        median, low, high = row.speedup
        spread = "" if row.label == "stock boto3" else f" ({low:.1f}-{high:.1f})"
        yield f"  {row.label:<19}{row.seconds * 1e6:>9.2f}   {median:.1f}x{spread}"
    yield ""
    for label, meaning in ROWS:
        yield f"  {label:<19}{meaning}"


def run_demo(
    *, tokens: int, rounds: int, answer_tokens: int, rate: float, out: TextIO = sys.stdout,
    status: TextIO = sys.stderr,
) -> None:
    """Stream an answer from a local endpoint, then print the CPU table.

    ``out`` gets the answer and the table; ``status`` a progress line while
    the rounds run (rewritten in place on a terminal, a line per round
    otherwise).
    """
    reconfigure = getattr(out, "reconfigure", None)  # a TextIOWrapper's (TextIO does not promise it)
    if reconfigure is not None:
        reconfigure(errors="replace")  # a non-UTF-8 terminal gets '?' for the emoji
    with ServerProcess() as server:
        try:
            _run(server, tokens=tokens, rounds=rounds, answer_tokens=answer_tokens, rate=rate, out=out, status=status)
        except (fastsmr.DecodeError, fastsmr.TextStreamError) as exc:
            raise RuntimeError(_endpoint_failed(server, exc)) from None
        except Exception as exc:  # urllib3's and botocore's errors, without importing them first
            if type(exc).__module__.partition(".")[0] not in ("urllib3", "botocore"):
                raise
            raise RuntimeError(_endpoint_failed(server, exc)) from None


def _endpoint_failed(server: ServerProcess, exc: BaseException) -> str:
    """One line for a demo whose endpoint stopped answering: what the client saw, what the endpoint said."""
    found = connection_failure(exc, _READ_TIMEOUT)
    said = server.failure().strip().splitlines()
    return (f"the local endpoint (a child process) failed: {found[0] if found else exc}"
            + (f"; it wrote: {said[-1]}" if said else "") + "; run the demo again")


def _run(server: ServerProcess, *, tokens: int, rounds: int, answer_tokens: int, rate: float, out: TextIO,
         status: TextIO) -> None:
    write = out.write
    client = make_client(server.url)
    write("fastsmr demo: a local SageMaker-compatible endpoint in a child process; no network, no AWS account\n")
    write(f"endpoint_url: {server.url}    fastsmr backend: {fastsmr.BACKEND}\n\n")
    if answer_tokens:
        pace = f"at {rate:g} tokens/s" if rate else "unpaced"
        write(f"{answer_tokens} tokens of the endpoint's pseudo-text ({pace}), streamed through boto3 with "
              "fastsmr.install() and printed as they arrive:\n\n")
        out.flush()
        _stream_answer(client, answer_tokens, rate, write, out.flush)
        write("\n\n")
    write(f"Client CPU per token, median of {rounds} {'round' if rounds == 1 else 'rounds'}; each round streams "
          f"{tokens:,} tokens once\nthrough every client below, and the speedup's min-max is over the rounds:\n")
    out.flush()
    on_terminal = status.isatty()
    started = time.perf_counter()

    def progress(done: int) -> None:
        line = f"measuring: {done} of {rounds} rounds done ({time.perf_counter() - started:.0f} s)"
        status.write(f"\r{line}\033[K" if on_terminal else line + "\n")
        status.flush()

    progress(0)
    rows = measure(client, tokens, rounds, progress)
    if on_terminal:
        status.write("\r\033[K")
        status.flush()
    for line in format_table(rows):
        write(line + "\n")
    write("\nCPU is this process's (time.process_time) over each whole call: request, response, every part;\n"
          "fastsmr bench --case e2e-sync --streams 1 measures the same, and fastsmr bench much more.\n")
    out.flush()


def _stream_answer(client: Any, tokens: int, rate: float, write: Callable[[str], Any], flush: Callable[[], Any]) -> None:
    fastsmr.install()
    try:
        response = client.invoke_endpoint_with_response_stream(
            EndpointName="tgi",
            Body=json.dumps({"inputs": "", "parameters": {"max_new_tokens": tokens}}).encode(),
            ContentType="application/json",
            CustomAttributes=f"fastsmr-rate={rate:g}",
        )
        for text in fastsmr.text_stream(fastsmr.payload_parts(response["Body"]), "tgi"):
            write(text)
            flush()
    finally:
        fastsmr.uninstall()
