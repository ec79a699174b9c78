"""A loopback HTTP/1.1 server (or HTTPS) that answers each request with a script of pieces sent over time.

Each script is a list of (seconds to wait, bytes to send), the response head
included, so that a test decides where each arrival starts and ends; the
connection is kept alive between responses, and ``connections`` says which
connection each request came on.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import Any, List, Optional, Tuple

import fastsmr

PAYLOADS = [b'{"token": %d}' % i for i in range(12)]
PARTS = [fastsmr.encode({":message-type": "event", ":event-type": "PayloadPart"}, p) for p in PAYLOADS]
HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.amazon.eventstream\r\nTransfer-Encoding: chunked\r\n\r\n"
LAST = b"0\r\n\r\n"

#: (seconds to wait first, bytes to send, or None to end the connection)
Script = List[Tuple[float, Optional[bytes]]]


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def paced(gap: float, parts: List[bytes] = PARTS, end: bytes = LAST) -> "Script":
    """The head with the first part, then a part per chunk every ``gap`` seconds."""
    return [(0.0, HEAD + chunk(parts[0]))] + [(gap, chunk(p)) for p in parts[1:]] + [(0.0, end)]


class PacedServer:
    """Loopback HTTP/1.1 (keep-alive, or TLS): each request is answered with the next script."""

    def __init__(self, context: Optional[ssl.SSLContext] = None) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._context = context
        self._scripts: List[Script] = []
        self.connections: List[int] = []  # the connection number of each request
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"{'https' if self._context else 'http'}://127.0.0.1:{self._listener.getsockname()[1]}"

    def answer(self, script: Script) -> None:
        self._scripts.append(script)

    def __enter__(self) -> "PacedServer":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self) -> None:
        number = 0
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            number += 1
            threading.Thread(target=self._connection, args=(conn, number), daemon=True).start()

    def _connection(self, conn: socket.socket, number: int) -> None:
        conn.settimeout(10)
        try:
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
            with conn:
                while not self._stop.is_set():
                    data = b""
                    while b"\r\n\r\n" not in data:
                        more = conn.recv(65536)
                        if not more:
                            return
                        data += more
                    head, _, body = data.partition(b"\r\n\r\n")
                    length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                                       if line.lower().startswith(b"content-length:")), b"0"))
                    while len(body) < length:
                        body += conn.recv(65536)
                    self.connections.append(number)
                    for wait, piece in self._scripts.pop(0):
                        time.sleep(wait)
                        if piece is None:  # end the connection here
                            return
                        conn.sendall(piece)
        except OSError:
            return


def tls_context() -> ssl.SSLContext:
    """A server context with a self-signed certificate for 127.0.0.1 (needs ``cryptography``)."""
    import tempfile
    from datetime import datetime, timedelta, timezone

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .sign(key, hashes.SHA256()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = f"{folder}/cert.pem", f"{folder}/key.pem"
        with open(cert_file, "wb") as out:
            out.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(key_file, "wb") as out:
            out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()))
        context.load_cert_chain(cert_file, key_file)
    return context
