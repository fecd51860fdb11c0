"""Local servers that receive what pdip sends out: HTTP POSTs (a lineage collector, a webhook)
and mail (an SMTP server, aiosmtpd). Each listens on 127.0.0.1 on a free port and keeps what
it received.

    with HttpReceiver() as receiver:          # receiver.url, receiver.received, receiver.status
        ...
    with MailReceiver() as mail:              # mail.port, mail.messages
        ...
"""

from __future__ import annotations

import email
import email.policy
import http.server
import json
import socket
import threading
from pathlib import Path
from typing import Any


class HttpReceiver(http.server.ThreadingHTTPServer):
    """Answers every POST with `status`, keeping (path, headers, JSON body) of each."""

    def __init__(self, status: int = 200):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = status
        self.received: list[tuple[str, dict[str, str], Any]] = []
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def bodies(self) -> list[Any]:
        return [body for _, _, body in self.received]

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers), json.loads(body)))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


class MailReceiver:
    """An SMTP server (aiosmtpd) keeping each message it is given, parsed."""

    def __init__(self, auth: tuple[str, str] | None = None, tls: Any = None, security: str = "none"):
        """`tls`: a server `ssl.SSLContext`, used as `security` says: `starttls` (offered, and
        required before anything else) or `ssl` (TLS from the start)."""
        self.port = free_port()
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[Any] = []
        self._auth = auth
        self._tls = tls
        self._security = security

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def __enter__(self) -> MailReceiver:
        from aiosmtpd.controller import Controller

        options: dict[str, Any] = {}
        if self._auth:
            options = {"authenticator": self._authenticate, "auth_require_tls": False}
        if self._security == "starttls":
            options.update(tls_context=self._tls, require_starttls=True)
        elif self._security == "ssl":
            options["ssl_context"] = self._tls
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, **options)
        self._controller.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._controller.stop()

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult

        user, password = self._auth
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok)


def self_signed(folder: Path) -> tuple[Path, Any]:
    """A certificate for 127.0.0.1 signed by its own key, written to `folder`: (its PEM file,
    which a client trusts as `ca_file`; a server `ssl.SSLContext` that presents it)."""
    import datetime as dt
    import ipaddress
    import ssl

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    certificate_file, key_file = folder / "server.pem", folder / "server.key"
    certificate_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate_file, key_file)
    return certificate_file, context


def free_port() -> int:
    """A port nothing listens on now (for a server that cannot be given port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
