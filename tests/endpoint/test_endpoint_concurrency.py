"""The local endpoint under load (256 streams open at once) and at shutdown."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from botocore.config import Config

from fastsmr.testing import StreamingEndpoint, generate_text

STREAMS = 256


def test_256_concurrent_streams():
    """256 boto3 streams are open at the same moment and all keep streaming.

    Each client thread reads its first token, then waits at a barrier that
    only opens once every stream has delivered one: if the server stalled
    any stream (a bounded pool, a blocked loop) the barrier would time out.
    The streams are far longer than the test, so the server holds all 256
    open at once; each thread then reads a few more tokens and hangs up.
    """
    more = 5
    barrier = threading.Barrier(STREAMS, timeout=120)
    results: dict = {}

    with StreamingEndpoint() as endpoint:
        client = endpoint.client(
            config=Config(max_pool_connections=STREAMS, read_timeout=120, retries={"total_max_attempts": 1})
        )

        def one(index: int) -> None:
            try:
                response = client.invoke_endpoint_with_response_stream(
                    EndpointName="raw",
                    Body=b"{}",
                    CustomAttributes=f"fastsmr-tokens=100000; fastsmr-rate=20; fastsmr-seed={index}",
                )
                events = iter(response["Body"])
                parts = [next(events)["PayloadPart"]["Bytes"]]
                if barrier.wait() == 0:
                    results["peak"] = endpoint.stats.streams_peak
                parts += [next(events)["PayloadPart"]["Bytes"] for _ in range(more)]
                response["Body"].close()
                results[index] = b"".join(parts).decode("utf-8")
            except BaseException as exc:  # reported below
                barrier.abort()
                results[index] = exc

        threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(STREAMS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(180)
        assert not any(thread.is_alive() for thread in threads)
        errors = {i: r for i, r in results.items() if isinstance(r, BaseException)}
        assert not errors, f"{len(errors)} streams failed, e.g. {next(iter(errors.values()))!r}"
        assert results.pop("peak") >= STREAMS
        assert results == {i: generate_text(1 + more, seed=i) for i in range(STREAMS)}
        for _ in range(1000):  # bounded wait for the server to see every hang-up
            if endpoint.stats.streams_open == 0:
                break
            time.sleep(0.01)
        assert endpoint.stats.streams_open == 0


def test_shutdown_closes_open_streams():
    endpoint = StreamingEndpoint().start()
    client = endpoint.client(config=Config(read_timeout=30, retries={"total_max_attempts": 1}))
    bodies = []
    for _ in range(5):
        response = client.invoke_endpoint_with_response_stream(
            EndpointName="raw", Body=b"{}", CustomAttributes="fastsmr-tokens=100000; fastsmr-rate=10"
        )
        events = iter(response["Body"])
        next(events)
        bodies.append(events)
    assert endpoint.stats.streams_open == 5

    endpoint.close(timeout=5)

    for events in bodies:
        received = 0
        try:
            for _ in events:
                received += 1
                assert received < 1000, "the stream went on after shutdown"
        except Exception:
            pass  # urllib3 reports the response ended early; either way it ended
    assert endpoint.stats.streams_open == 0
    with pytest.raises(OSError):
        socket.create_connection((endpoint.host, endpoint.port), timeout=5).close()
    endpoint.close()  # idempotent


def test_shutdown_with_a_client_that_stopped_reading():
    """A stream blocked on a full socket buffer does not hold up shutdown."""
    with StreamingEndpoint() as endpoint:
        sock = socket.create_connection((endpoint.host, endpoint.port), timeout=10)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(
            b"POST /endpoints/raw/invocations-response-stream HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
            b"X-Amzn-SageMaker-Custom-Attributes: fastsmr-tokens=5000000\r\n\r\n"
        )
        for _ in range(500):  # bounded wait until the stream is open and stuck
            if endpoint.stats.streams_open == 1:
                break
            time.sleep(0.01)
        assert endpoint.stats.streams_open == 1
    # leaving the with-block returned: the server closed despite the stuck stream
    assert endpoint.stats.streams_open == 0
    sock.close()


def test_start_failure_is_raised():
    with StreamingEndpoint() as first:
        taken = StreamingEndpoint(port=first.port)
        with pytest.raises(OSError):
            taken.start()
