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

    def __init__(self, auth: tuple[str, str] | None = None):
        self.port = free_port()
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[Any] = []
        self._auth = auth

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd's hook name
        self.envelopes.append(envelope)
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"

    def __enter__(self) -> MailReceiver:
        from aiosmtpd.controller import Controller

        options: dict[str, Any] = {}
        if self._auth:
            options = {"authenticator": self._authenticate, "auth_require_tls": False}
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


def free_port() -> int:
    """A port nothing listens on now (for a server that cannot be given port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
