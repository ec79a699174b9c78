"""How the endpoint reads requests (fastsmr.testing.http1): chunked bodies through the
codec's ChunkedDecoder on either backend, requests pipelined on one connection, and
framing it cannot read ending the connection."""

from __future__ import annotations

import socket

from fastsmr.testing import generate_text


def _exchange(endpoint, request: bytes) -> bytes:
    with socket.create_connection((endpoint.host, endpoint.port), timeout=10) as sock:
        sock.sendall(request)
        data = bytearray()
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return bytes(data)
            data += chunk


def _invoke(body: bytes, *, chunked: bool, close: bool) -> bytes:
    head = b"POST /endpoints/raw/invocations HTTP/1.1\r\nHost: x\r\n"
    head += b"Transfer-Encoding: chunked\r\n" if chunked else b"Content-Length: %d\r\n" % len(body)
    return head + (b"Connection: close\r\n" if close else b"") + b"\r\n" + body


def test_pipelined_requests_after_a_chunked_body_with_extensions_and_trailers(endpoint, backend):
    # Sent in one write: what the chunked reader takes past its body is the next request.
    rest = b'astsmr": {"tokens": 2}}'
    first = _invoke(b'3;name=value\r\n{"f\r\n%x\r\n%s\r\n0\r\nX-Trailer: 1\r\n\r\n' % (len(rest), rest),
                    chunked=True, close=False)
    second = _invoke(b'{"fastsmr": {"tokens": 3}}', chunked=False, close=True)
    reply = _exchange(endpoint, first + second)
    responses = reply.split(b"HTTP/1.1 ")[1:]
    assert [r.split(b"\r\n", 1)[0] for r in responses] == [b"200 OK", b"200 OK"]
    assert responses[0].endswith(b"\r\n\r\n" + generate_text(2).encode())
    assert responses[1].endswith(b"\r\n\r\n" + generate_text(3).encode())


def test_broken_chunked_body_ends_the_connection_unanswered(endpoint, backend):
    reply = _exchange(endpoint, _invoke(b"zz\r\n{}\r\n0\r\n\r\n", chunked=True, close=False))
    assert reply == b""


def test_chunked_body_cut_short_ends_the_connection_unanswered(endpoint, backend):
    request = _invoke(b"10\r\n{}", chunked=True, close=False)
    with socket.create_connection((endpoint.host, endpoint.port), timeout=10) as sock:
        sock.sendall(request)
        sock.shutdown(socket.SHUT_WR)
        assert sock.recv(65536) == b""
