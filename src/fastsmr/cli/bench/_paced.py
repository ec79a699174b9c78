"""The paced cases: many streams, each token arriving on its own, measured against the floor.

An LLM service relays tokens from many concurrent streams, each at tens of
tokens per second. Each case here runs 128 streams (``--streams``) at 30
tokens/s, with the endpoint in another process pacing every stream on its
own schedule, to the microsecond (:func:`fastsmr.testing.server.new_event_loop`):

* ``paced``: phases spread evenly, so that no two tokens arrive together and
  each is its own socket read and its own wake-up — the worst case for a
  client, and what independent generations look like;
* ``paced-batched``: every stream's token at the same moment, as a batching
  engine (continuous batching) emits one token for every sequence per step.

Every client runs in a fresh process (:mod:`._paced_run`), one after another
in an order that rotates from round to round. Its CPU time (user + system,
all threads) is read over a fixed window in which every stream is in full
flow, and divided by the tokens due in that window; ratios are taken within
a round. Next to each client stands the floor of its model — the same
sockets read the same way with no HTTP parsing or decoding (``recv`` per
thread with a socket timeout, as urllib3 reads; an asyncio Protocol reading
64 KiB at a time; one epoll loop) — and the report says how far each client
is from it. Per-token latency is the arrival (when the client's code sees
the part) minus the time the server was told to send it: it includes the
server's own lateness, the same for every client, so compare it with the
floor's. Relay clients write each token's text to a sink process, which
times the arrivals there.
"""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from ._measure import Entry, Pair, Table, rotation
from ._paced_run import CLIENTS, MODELS

__all__ = ["MODES", "paced_table", "serve", "sink"]

#: case -> arrival mode
MODES = {"paced": "spread", "paced-batched": "batched"}

_METRICS = ["cpu_per_token", "cpu_percent", "latency_p50", "latency_p99", "ttft_p50", "switches_per_token"]


def _env() -> Dict[str, str]:
    import fastsmr

    root = os.path.dirname(os.path.dirname(os.path.abspath(fastsmr.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


class Helper:
    """``python -m fastsmr.cli.bench._paced ROLE`` in a child process: the endpoint or the sink.

    It prints ``address: HOST:PORT`` once ready; closing its stdin stops it.
    """

    def __init__(self, role: str, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "fastsmr.cli.bench._paced", role], env=_env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        lines: "queue.Queue[str]" = queue.Queue()
        stdout = self.proc.stdout
        assert stdout is not None

        def pump() -> None:
            for line in iter(stdout.readline, ""):
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        self.lines = lines
        self.address = self.line(timeout).split("address: ", 1)[-1].strip()

    def line(self, timeout: float) -> str:
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise RuntimeError("a bench helper process did not answer in time") from None

    def ask(self, request: str, timeout: float = 30.0) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(request + "\n")
        self.proc.stdin.flush()
        return self.line(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                assert self.proc.stdin is not None
                self.proc.stdin.close()
                self.proc.wait(15)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait(10)


def _available(name: str) -> str:
    """Why ``name`` cannot run here, or ''."""
    import importlib.util

    model, runner, uvloop = CLIENTS[name]
    needs = []
    if runner.startswith(("boto3_", "mux_")):
        needs.append("boto3")
    if runner.startswith("aio_"):
        needs.append("aiobotocore")
    if uvloop:
        needs.append("uvloop")
    for module in needs:
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed"
    if runner == "floor_epoll" or runner.startswith("mux_"):
        import select

        if not hasattr(select, "epoll") and runner == "floor_epoll":
            return "select.epoll is Linux-only"
    if runner.startswith("mux_") and importlib.util.find_spec("fastsmr.mux") is None:
        return "fastsmr.mux is not in this build"
    return ""


def _pairs(names: Sequence[str]) -> List[Pair]:
    present = set(names)
    pairs = []

    def add(fast: str, slow: str, metric: str = "cpu_per_token", headline: bool = False) -> None:
        if fast in present and slow in present:
            pairs.append(Pair(fast, slow, metric, headline))

    for fast in ("fastsmr.install()", "fastsmr.payload_parts", "fastsmr.mux.Reader"):
        add(fast, "stock boto3", headline=True)
    for fast in ("fastsmr.install() aiobotocore", "fastsmr.aio.payload_parts", "fastsmr.install() aiobotocore, uvloop",
                 "fastsmr.aio.payload_parts, uvloop"):
        add(fast, "stock aiobotocore", headline=True)
    add("fastsmr.mux.Reader relay", "stock boto3 + relay", headline=True)
    for fast, slow in (("fastsmr.install()", "stock boto3"), ("fastsmr.payload_parts", "stock boto3"),
                       ("fastsmr.mux.Reader", "stock boto3"), ("fastsmr.aio.payload_parts", "stock aiobotocore"),
                       ("fastsmr.aio.payload_parts, uvloop", "stock aiobotocore"),
                       ("fastsmr.mux.Reader relay", "stock boto3 + relay")):
        add(fast, slow, "latency_p99")
    for name in names:  # how far each client is from the floor of its model
        model = CLIENTS[name][0]
        floor = MODELS[model]
        if name.startswith("floor"):
            continue
        if CLIENTS[name][2]:
            floor += ", uvloop"
        add(name, floor)
    return pairs


def _run_client(spec: Dict[str, Any], sink: Optional[Helper]) -> Dict[str, Any]:
    timeout = spec["window"] + spec["settle"] + 120
    result = subprocess.run([sys.executable, "-m", "fastsmr.cli.bench._paced_run", json.dumps(spec)], env=_env(),
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"the client exited with {result.returncode}: {tail}")
    out: Dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    if sink is not None:
        from ._paced_run import percentiles

        start, end = out["window"]
        report = json.loads(sink.ask(f"report {start!r} {end!r}", timeout=60))
        out["latency"] = report["latency"]
        first = {int(i): t for i, t in report["first"].items()}
        out["ttft"] = percentiles([first[i] - t for i, t in enumerate(out["requested"]) if i in first])
    return out


def _record(entry: Entry, out: Dict[str, Any]) -> None:
    due = out["due"]
    if not due or out["cpu"] <= 0:
        raise RuntimeError(f"nothing measured in the window: {out}")
    entry.record("cpu_per_token", out["cpu"] / due)
    entry.record("cpu_percent", 100.0 * out["cpu"] / out["wall"])
    entry.record("switches_per_token", max(out["switches"], 1e-9) / due)
    latency, ttft = out.get("latency") or {}, out.get("ttft") or {}
    if latency:
        entry.record("latency_p50", max(latency["p50"], 1e-9))
        entry.record("latency_p99", max(latency["p99"], 1e-9))
    if ttft:
        entry.record("ttft_p50", ttft["p50"])
    if out.get("missing"):
        entry.extra["missing_tokens"] = entry.extra.get("missing_tokens", 0) + out["missing"]


def paced_table(case: str, *, streams: int, rate: float, rounds: int, window: float, settle: float,
                names: Optional[Sequence[str]] = None, progress: Callable[[str], None] = lambda line: None) -> Table:
    """One paced case: every client of :data:`CLIENTS` (or ``names``), ``rounds`` interleaved rounds."""
    mode = MODES[case]
    names = list(names or CLIENTS)
    entries = []
    for name in names:
        reason = _available(name)
        role = "floor" if name.startswith("floor") else "baseline" if name.startswith("stock") else "fastsmr"
        entries.append(Entry.skipped(name, role, reason) if reason else Entry(name, role))
    title = (f"{streams} streams at {rate:g} tokens/s each, "
             + ("phases spread evenly" if mode == "spread" else "batched arrival (every stream's token at once)"))
    table = Table(case, title, "token", 0, 0, list(_METRICS), entries, _pairs(names), _notes(), rounds,
                  {"streams": streams, "rate_per_stream": rate, "window_seconds": window, "arrival": mode})
    try:
        server = Helper("serve")
    except (OSError, RuntimeError) as error:
        for entry in entries:
            if entry.status == "ok":
                entry.fail(error)
        return table
    sink: Optional[Helper] = None
    try:
        for r in range(rounds):
            for entry in rotation(entries, r):
                relay = CLIENTS[entry.name][0] == "relay"
                spec = {"client": entry.name, "url": server.address, "streams": streams, "rate": rate, "mode": mode,
                        "window": window, "settle": settle}
                progress(f"{case}: round {r + 1}/{rounds}: {entry.name}")
                try:
                    if relay:
                        if sink is None:
                            sink = Helper("sink")
                        spec["sink"] = sink.address
                    _record(entry, _run_client(spec, sink if relay else None))
                except Exception as error:  # a client's failure is reported, not fatal
                    entry.fail(error)
    finally:
        server.close()
        if sink is not None:
            sink.close()
    return table


def _notes() -> List[str]:
    return [
        "CPU/token: the client process's user + system CPU time over a fixed window with every stream in full flow, "
        "divided by the tokens due in it; each client a fresh process; ratios within a round.",
        "latency: when the client's code sees a token minus when the server was told to send it (p50, p99 over the "
        "window's tokens; the server's lateness is in it for every client alike: compare with the floor). "
        "TTFT: from the request call to the first part (the reader's loop runs while the requests are made, and "
        "each response joins it as its head arrives). Relay clients' latency and TTFT are timed where the text "
        "arrives.",
        "floors read the same sockets with no HTTP parsing or decoding: recv per thread with a socket timeout (as "
        "urllib3 reads), an asyncio BufferedProtocol with 64 KiB reads, one epoll loop.",
    ]


# --- the helper processes ------------------------------------------------------------


def serve() -> None:
    """The paced endpoint: a StreamingEndpoint (microsecond timers) until stdin closes."""
    from fastsmr.testing import StreamingEndpoint

    with StreamingEndpoint() as endpoint:
        print(f"address: {endpoint.url}", flush=True)
        sys.stdin.read()


def sink() -> None:
    """The downstream of relay clients: accepts connections, times each Server-Sent Event.

    Each connection starts with a comment, ``: STREAM ORIGIN RATE``, giving
    its stream's number and token schedule; event ``k`` (``k >= 1``) was due
    at ``ORIGIN + (k - 1) / RATE``. ``report START END`` on stdin prints the
    latency percentiles of the events due in that window and when each
    stream's first event came (and forgets every connection).
    """
    import select
    import socket

    from ._paced_run import percentiles

    listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
    listener.setblocking(False)
    print(f"address: 127.0.0.1:{listener.getsockname()[1]}", flush=True)
    poller = select.epoll()
    poller.register(listener.fileno(), select.EPOLLIN)
    poller.register(sys.stdin.fileno(), select.EPOLLIN)
    conns: Dict[int, Tuple[socket.socket, List[Any]]] = {}  # fd -> (sock, [buffer, origin, rate, stream, stamps])
    finished: List[Tuple[float, float, int, List[float]]] = []
    while True:
        for fd, _ in poller.poll():
            if fd == listener.fileno():
                while True:
                    try:
                        sock, _ = listener.accept()
                    except BlockingIOError:
                        break
                    sock.setblocking(False)
                    conns[sock.fileno()] = (sock, [b"", 0.0, 0.0, -1, []])
                    poller.register(sock.fileno(), select.EPOLLIN)
            elif fd == sys.stdin.fileno():
                line = sys.stdin.readline()
                if not line:
                    return
                _, start, end = line.split()
                lo, hi = float(start), float(end)
                latency, first = [], {}
                for origin, rate, stream, stamps in finished + [(s[1], s[2], s[3], s[4]) for _, s in conns.values()]:
                    if stamps:
                        first[stream] = stamps[0]
                    for k, arrived in enumerate(stamps):
                        due = origin + (k - 1) / rate
                        if k >= 1 and lo <= due < hi:
                            latency.append(arrived - due)
                finished.clear()
                print(json.dumps({"latency": percentiles(latency), "first": first}), flush=True)
            else:
                sock, state = conns[fd]
                data = sock.recv(65536)
                now = time.monotonic()
                if not data:
                    poller.unregister(fd)
                    sock.close()
                    del conns[fd]
                    finished.append((state[1], state[2], state[3], state[4]))
                    continue
                buffer = state[0] + data
                *events, state[0] = buffer.split(b"\n\n")
                for event in events:
                    if event.startswith(b": ") and state[3] < 0:
                        stream, origin, rate = event[2:].split()
                        state[1], state[2], state[3] = float(origin), float(rate), int(stream)
                    else:
                        state[4].append(now)


if __name__ == "__main__":
    {"serve": serve, "sink": sink}[sys.argv[1]]()
