"""A certificate for the local HTTPS endpoint, made on the spot.

HTTP/2 clients such as awscrt speak it over TLS only (ALPN ``h2``), so the
bidirectional endpoint needs a certificate that a client on this machine can
trust. :class:`LocalCertificate` makes a throw-away certificate authority and
a server certificate for ``127.0.0.1``, ``::1`` and ``localhost`` with
``trustme`` (nothing is written to disk, nothing is added to any trust store);
a client trusts :attr:`LocalCertificate.ca_pem` explicitly.

>>> import trustme  # in the smithy extra: pip install 'fastsmr[smithy]'
>>> certificate = LocalCertificate()
>>> certificate.ca_pem.startswith(b"-----BEGIN CERTIFICATE-----")
True
>>> certificate.server_context().get_ca_certs() == []
True
"""

from __future__ import annotations

import ssl

__all__ = ["LocalCertificate"]


class LocalCertificate:
    """A fresh CA and a server certificate for the loopback names, signed by it."""

    def __init__(self) -> None:
        try:
            import trustme
        except ImportError:
            raise ImportError(
                "the HTTP/2 bidirectional endpoint needs trustme and h2: pip install 'fastsmr[smithy]'"
            ) from None
        self._ca = trustme.CA(organization_name="fastsmr local endpoint")
        self._server = self._ca.issue_cert("127.0.0.1", "::1", "localhost")

    @property
    def ca_pem(self) -> bytes:
        """The CA certificate (PEM) a client must trust to connect."""
        pem: bytes = self._ca.cert_pem.bytes()  # trustme's Blob (untyped where trustme is not installed)
        return pem

    def server_context(self, alpn: "list[str] | None" = None) -> ssl.SSLContext:
        """A server-side ``SSLContext`` with the certificate, offering ``alpn`` (default ``["h2"]``)."""
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._server.configure_cert(context)
        context.set_alpn_protocols(alpn or ["h2"])
        return context

    def client_context(self) -> ssl.SSLContext:
        """A client-side ``SSLContext`` that trusts the CA (for Python clients such as httpx)."""
        context = ssl.create_default_context()
        self._ca.configure_trust(context)
        context.set_alpn_protocols(["h2"])
        return context
