"""Alerts sent by email to a local SMTP server (aiosmtpd) and by webhook to a local HTTP server."""

import contextlib
import io
import logging
import shutil
import tempfile
import unittest
from pathlib import Path

from pdip import Pdi
from pdip.integrator import Connection, Integration, Integrator, Operation
from tests.support.receivers import HttpReceiver, MailReceiver, free_port, self_signed

SECRET = "s3cret-pw"
# A source whose connection string holds a password, and which cannot be reached: the run fails.
UNREACHABLE = Connection("postgresql", {"url": f"postgresql+psycopg://app:{SECRET}@127.0.0.1:1/shop", "table": "t"})


def memory(store):
    return Connection("memory", {"store": store})


def failing_operation():
    return Operation(
        "nightly",
        [
            Integration("orders", source=memory("orders"), target=memory("copy")),
            Integration("items", source=UNREACHABLE, target=memory("items")),
        ],
    )


class AlertsTest(unittest.TestCase):
    def integrator(self, **alerts):
        root = tempfile.mkdtemp(prefix="pdip-alerts-")
        self.addCleanup(shutil.rmtree, root, True)
        alerts.setdefault("BASE_URL", "https://pdip.example.com")
        pdi = Pdi(root_directory=root, configurations={"INTEGRATOR": {"ALERTS": alerts}})
        self.addCleanup(pdi.cleanup)
        integrator = pdi.get(Integrator)
        integrator.stores["orders"] = [{"id": 1}, {"id": 2}]
        return integrator

    def integrate(self, integrator, execution_id, operation=None):
        with contextlib.redirect_stdout(io.StringIO()) as output:
            result = integrator.integrate(operation or failing_operation(), execution_id=execution_id)
        return result, output.getvalue()

    def test_a_failed_run_is_mailed_with_its_summary_and_link_and_no_secret(self):
        with MailReceiver(auth=("pdip", "mail-pw")) as mail:
            integrator = self.integrator(
                EMAIL={
                    "HOST": "127.0.0.1",
                    "PORT": mail.port,
                    "USER": "pdip",
                    "PASSWORD": "mail-pw",
                    "SENDER": "pdip@example.com",
                    "TO": ["team@example.com", "oncall@example.com"],
                }
            )
            result, _ = self.integrate(integrator, "run-1")
        self.assertEqual(result.status, "failed")
        (message,) = mail.messages
        self.assertEqual(message["Subject"], "pdip: nightly failed (execution run-1)")
        self.assertEqual(mail.envelopes[0].rcpt_tos, ["team@example.com", "oncall@example.com"])
        body = message.get_content()
        self.assertIn("- orders: finished, read 2, written 2, dead-lettered 0", body)
        self.assertIn("- items: failed", body)
        self.assertIn("Run page: https://pdip.example.com/runs/run-1", body)
        self.assertNotIn(SECRET, body)
        self.assertNotIn("mail-pw", body)
        self.assertEqual(integrator.deliveries.counts(), {})

    def test_mail_goes_over_starttls_or_tls_checked_against_the_given_authority(self):
        folder = Path(tempfile.mkdtemp(prefix="pdip-alerts-tls-"))
        self.addCleanup(shutil.rmtree, folder, True)
        certificate, context = self_signed(folder)
        quiet = logging.getLogger("asyncio")  # the server's side of the refused handshakes
        self.addCleanup(quiet.setLevel, quiet.level)
        quiet.setLevel(logging.CRITICAL)
        for security in ("starttls", "ssl"):
            with self.subTest(security=security), MailReceiver(tls=context, security=security) as mail:
                email = {"HOST": "127.0.0.1", "PORT": mail.port, "SENDER": "p@d", "TO": ["a@b"]}
                trusted = self.integrator(EMAIL={**email, "SECURITY": security, "CA_FILE": str(certificate)})
                self.integrate(trusted, f"run-{security}")
                self.assertEqual(len(mail.messages), 1)
                self.assertEqual(trusted.deliveries.counts(), {})
                untrusted = self.integrator(EMAIL={**email, "SECURITY": security})
                _, logged = self.integrate(untrusted, f"run-{security}-untrusted")
                self.assertEqual(len(mail.messages), 1)
                self.assertIn("CERTIFICATE_VERIFY_FAILED", logged)
                self.assertEqual(untrusted.deliveries.counts(), {"email": 1})

    def test_webhooks_get_json_or_slack_payloads_and_a_success_is_sent_only_when_asked(self):
        with HttpReceiver() as hook:
            integrator = self.integrator(
                ON_SUCCESS=True,
                WEBHOOKS=[
                    {"URL": f"{hook.url}/json", "HEADERS": {"X-Token": "tok-1"}},
                    {"URL": f"{hook.url}/slack", "FORMAT": "slack"},
                ],
            )
            self.integrate(integrator, "run-2")
            ok = Operation("nightly", [Integration("orders", source=memory("orders"), target=memory("copy"))])
            self.integrate(integrator, "run-3", ok)
        (path, headers, first), (slack_path, _, slack) = hook.received[:2]
        self.assertEqual((path, slack_path), ("/json", "/slack"))
        self.assertEqual(headers["X-Token"], "tok-1")
        self.assertEqual((first["status"], first["reasons"]), ("failed", ["failure"]))
        self.assertEqual(first["link"], "https://pdip.example.com/runs/run-2")
        self.assertEqual([item["name"] for item in first["integrations"]], ["orders", "items"])
        self.assertNotIn(SECRET, str(hook.received))
        self.assertIn("<https://pdip.example.com/runs/run-2|Run page>", slack["text"])
        self.assertEqual([body["reasons"] for _, _, body in hook.received[2:3]], [["success"]])
        self.assertEqual(len(hook.received), 4)

    def test_servers_that_fail_or_are_not_there_never_fail_the_run_each_logged_once_and_counted(self):
        with HttpReceiver(status=503) as hook:
            integrator = self.integrator(
                WEBHOOKS=[{"URL": f"{hook.url}/T000/B000/tok-secret"}],
                EMAIL={"HOST": "127.0.0.1", "PORT": free_port(), "SENDER": "p@d", "TO": ["a@b"], "TIMEOUT": 2},
            )
            result, logged = self.integrate(integrator, "run-4")
        self.assertEqual(result.status, "failed")  # as the integration failed, not as the alerts did
        self.assertEqual(integrator.deliveries.counts(), {"email": 1, "webhook": 1})
        self.assertIn("email of execution run-4 not delivered", logged)
        self.assertIn("ConnectionRefusedError", logged)
        self.assertIn(f"webhook {hook.url}: HTTP 503", logged)
        self.assertNotIn("tok-secret", logged)
        self.assertNotIn(SECRET, logged)

    def test_a_webhook_that_cannot_be_reached_is_reported_without_its_url(self):
        url = f"http://127.0.0.1:{free_port()}/hooks/tok-secret"
        integrator = self.integrator(WEBHOOKS=[{"URL": url, "TIMEOUT": 2}])
        _, logged = self.integrate(integrator, "run-5")
        self.assertIn("webhook http://127.0.0.1:", logged)
        self.assertIn("ConnectError", logged)
        self.assertNotIn("tok-secret", logged)
        self.assertEqual(integrator.deliveries.counts(), {"webhook": 1})
