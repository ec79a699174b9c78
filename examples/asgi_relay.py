"""Relay 128 SageMaker streams to 128 browsers through one ASGI server, with one reader.

Each request to the ASGI application starts a SageMaker Runtime stream
(boto3, in a worker thread) and answers with Server-Sent Events: the
model's text, token by token. One ``fastsmr.mux.Reader`` on the event loop
reads every SageMaker stream — de-chunking and decoding in C, waking Python
once per batch of ready streams — and sends each stream's new text to its
ASGI ``send`` itself (``relay_to=send``).

Run it (no AWS account, no network: a local endpoint stands in for SageMaker):

    pip install "fastsmr[demo,asgi]"
    python examples/asgi_relay.py            # 128 streams; --streams N to change

It starts the local endpoint and uvicorn on 127.0.0.1, opens N Server-Sent
Event connections at once, checks that every one received exactly the text
the model generated, and prints how long it took and the CPU time this
process used (server, reader and the N test clients together).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import threading
import time
from typing import Any, Dict, List

import fastsmr.mux
from fastsmr.testing import StreamingEndpoint, generate_text

TOKENS = 60
RATE = 30.0


class Relay:
    """The ASGI application: one Reader for every stream, pumped by one task on the loop."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.reader = fastsmr.mux.Reader()
        self.pump: "asyncio.Task[None] | None" = None
        self.ended: Dict[Any, asyncio.Event] = {}

    async def __call__(self, scope: Dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        seed = int(scope["path"].rsplit("/", 1)[-1] or 0)
        body = await asyncio.to_thread(
            self.client.invoke_endpoint_with_response_stream, EndpointName="tgi", Body=b"{}",
            CustomAttributes=f"fastsmr-tokens={TOKENS}; fastsmr-rate={RATE:g}; fastsmr-seed={seed}")
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]})
        stream = self.reader.add(body["Body"], key=seed, text="tgi", relay_to=send)
        ended = self.ended[stream] = asyncio.Event()
        if self.pump is None or self.pump.done():
            self.pump = asyncio.get_running_loop().create_task(self.run())
        await ended.wait()
        del self.ended[stream]
        last = b"event: error\ndata: %s\n\n" % json.dumps(str(stream.error)).encode() if stream.error else b""
        await send({"type": "http.response.body", "body": last + b"event: end\ndata: {}\n\n", "more_body": False})

    async def run(self) -> None:
        """Read every stream until none is left (the next request starts it again)."""
        async for stream, _ in self.reader.abatches():  # relayed: the events went to each send already
            if stream.done:
                self.ended[stream].set()


def sse_client(port: int, seed: int, out: Dict[int, str]) -> None:
    """A browser's EventSource, by hand: the text of every data event until the end event."""
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(b"GET /generate/%d HTTP/1.1\r\nHost: relay\r\nAccept: text/event-stream\r\n\r\n" % seed)
        data = b""
        while b"event: end" not in data:
            more = sock.recv(65536)
            if not more:
                break
            data += more
    body = data.partition(b"\r\n\r\n")[2]
    texts: List[str] = []
    for line in body.split(b"\n"):  # chunked framing lines hold no "data: {" line
        if line.startswith(b'data: {"text"'):
            texts.append(json.loads(line[len(b"data: "):])["text"])
    out[seed] = "".join(texts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=128)
    args = parser.parse_args()
    import uvicorn

    with StreamingEndpoint() as endpoint:
        from botocore.config import Config

        client = endpoint.client(config=Config(retries={"total_max_attempts": 1}, max_pool_connections=args.streams))
        app = Relay(client)
        listener = socket.create_server(("127.0.0.1", 0), backlog=1024)
        port = listener.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
        thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.01)
        texts: Dict[int, str] = {}
        cpu, start = time.process_time(), time.perf_counter()
        clients = [threading.Thread(target=sse_client, args=(port, seed, texts)) for seed in range(args.streams)]
        for c in clients:
            c.start()
        for c in clients:
            c.join(120)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
        server.should_exit = True
        thread.join(10)
    wrong = [seed for seed in range(args.streams) if texts.get(seed) != generate_text(TOKENS, seed=seed)]
    print(f"relayed {args.streams} streams of {TOKENS} tokens at {RATE:g} tokens/s through uvicorn with one "
          f"fastsmr.mux.Reader ({fastsmr.BACKEND} backend): {wall:.2f} s, {cpu:.2f} s of CPU in this process")
    print("every stream's text arrived intact" if not wrong else f"streams with the wrong text: {wrong}")
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
