"""TLS termination by the gateway itself: an SSLContext from the settings' certificate files."""

from __future__ import annotations

import ssl

from gateway.settings import Settings


def server_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """TLS 1.2+ server context, or None when no certificate is set.

    With a client CA, a client certificate is asked for and verified when sent (CERT_OPTIONAL), so admin
    and analyst routes still work with bearer tokens alone; the device endpoints refuse requests that
    came without one (gateway/http/limits.py).
    """
    if not settings.tls_cert_file:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(settings.tls_cert_file, settings.tls_key_file or None)
    if settings.tls_client_ca_file:
        context.load_verify_locations(settings.tls_client_ca_file)
        context.verify_mode = ssl.CERT_OPTIONAL
    return context
