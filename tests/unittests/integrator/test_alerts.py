"""When alerts are sent and what they say (the senders are tested against local servers in
tests/integrationtests/delivery)."""

import shutil
import sys
import tempfile
import unittest
from unittest import mock

from pdip import Pdi
from pdip.configuration import ConfigurationError
from pdip.integrator import Integrator
from pdip.integrator.alerts import Alerts, AlertsConfig, EmailAlertConfig, Summary, WebhookAlertConfig
from pdip.integrator.delivery import DeliveryFailures, scrubbed
from pdip.integrator.events import IntegrationFailed, IntegrationFinished, OperationFinished, OperationStarted


class Recorded(Alerts):
    """Keeps the summaries it would send."""

    def __init__(self, config):
        super().__init__(config, DeliveryFailures(None))
        self.sent = []
        self.config.webhooks = [WebhookAlertConfig("http://hook")]

    def _post(self, config, summary):
        self.sent.append(summary)


def run(alerts, status, dead_lettered=0):
    alerts.operation_started(OperationStarted("e1", "nightly", 2))
    alerts.integration_ended(IntegrationFinished("e1", "nightly", "orders", 5, 4, dead_lettered, 0.5))
    if status != "finished":
        alerts.integration_ended(IntegrationFailed("e1", "nightly", "items", "OperationalError: refused", 0.25))
    alerts.operation_finished(OperationFinished("e1", "nightly", status, 1.0))


class WhenTest(unittest.TestCase):
    def test_failures_alert_by_default_successes_when_asked(self):
        alerts = Recorded(AlertsConfig())
        run(alerts, "finished")
        run(alerts, "failed")
        self.assertEqual([summary.reasons for summary in alerts.sent], [["failure"]])
        both = Recorded(AlertsConfig(on_failure=False, on_success=True))
        run(both, "interrupted")
        run(both, "finished")
        self.assertEqual([summary.status for summary in both.sent], ["finished"])

    def test_dead_letters_over_the_limit_alert_even_when_the_run_finished(self):
        alerts = Recorded(AlertsConfig(dead_letters_over=2))
        run(alerts, "finished", dead_lettered=2)
        run(alerts, "finished", dead_lettered=3)
        self.assertEqual([summary.reasons for summary in alerts.sent], [["more than 2 rows dead-lettered"]])


class WhatTest(unittest.TestCase):
    def summary(self, link=None):
        alerts = Recorded(AlertsConfig(base_url=link))
        run(alerts, "failed")
        return alerts.sent[0]

    def test_the_text_gives_status_counts_errors_and_the_link(self):
        summary = self.summary("https://pdip.example.com/")
        self.assertEqual(summary.subject(), "pdip: nightly failed (execution e1)")
        self.assertEqual(
            summary.text(),
            "Operation nightly: failed in 1.00 s\n"
            "Execution: e1\n"
            "Alerted for: failure\n"
            "Rows dead-lettered: 0\n"
            "- orders: finished, read 5, written 4, dead-lettered 0, 0.50 s\n"
            "- items: failed, read 0, written 0, dead-lettered 0, 0.25 s\n"
            "  error: OperationalError: refused\n"
            "Run page: https://pdip.example.com/runs/e1\n",
        )

    def test_payloads_json_and_slack(self):
        summary = self.summary("https://pdip.example.com")
        payload = summary.payload("json")
        self.assertEqual(
            {key: payload[key] for key in ("execution_id", "operation", "status", "link", "reasons")},
            {
                "execution_id": "e1",
                "operation": "nightly",
                "status": "failed",
                "link": "https://pdip.example.com/runs/e1",
                "reasons": ["failure"],
            },
        )
        self.assertEqual(payload["integrations"][1]["error"], "OperationalError: refused")
        slack = summary.payload("slack")
        self.assertEqual(list(slack), ["text"])
        self.assertIn("<https://pdip.example.com/runs/e1|Run page>", slack["text"])
        self.assertNotIn("<", self.summary().payload("slack")["text"])

    def test_an_execution_heard_only_at_its_end_still_alerts(self):
        alerts = Recorded(AlertsConfig())
        alerts.operation_finished(OperationFinished("e9", "nightly", "failed", 0.0))
        self.assertEqual((alerts.sent[0].execution_id, alerts.sent[0].integrations), ("e9", []))


class ConfigTest(unittest.TestCase):
    def pdi(self, alerts):
        root = tempfile.mkdtemp(prefix="pdip-alerts-")
        self.addCleanup(shutil.rmtree, root, True)
        pdi = Pdi(root_directory=root, configurations={"INTEGRATOR": {"ALERTS": alerts}}, validate=False)
        self.addCleanup(pdi.cleanup)
        return pdi

    def test_wrong_settings_are_refused_naming_them(self):
        cases = [
            ({"WEBHOOKS": [{"URL": "hooks.example.com/x"}]}, r"URL: expected an http:// or https:// address"),
            ({"WEBHOOKS": [{"URL": "http://h", "FORMAT": "teams"}]}, r"FORMAT.*teams"),
            ({"EMAIL": {"HOST": "smtp", "SENDER": "pdip", "TO": ["a@b"]}}, r"expected an email address.*'pdip'"),
            ({"EMAIL": {"HOST": "smtp", "SENDER": "p@d", "TO": []}}, r"TO: at least one address"),
            ({"ON_FAILUER": True}, r"INTEGRATOR.ALERTS.ON_FAILUER.*unknown"),
        ]
        for alerts, pattern in cases:
            with self.subTest(alerts=alerts), self.assertRaisesRegex(ConfigurationError, pattern):
                self.pdi(alerts).get(Integrator)

    def test_pdip_check_lists_every_problem_of_lineage_and_alerts_with_its_file(self):
        from pathlib import Path

        from tests.unittests.test_cli import run

        root = Path(tempfile.mkdtemp(prefix="pdip-alerts-"))
        self.addCleanup(shutil.rmtree, root, True)
        (root / "application.yml").write_text(
            "INTEGRATOR:\n  LINEAGE: {TRANSPORT: http, URI: 'http://x'}\n"
            "  ALERTS:\n    WEBHOOKS: [{URL: hooks.example.com/abc}]\n"
        )
        code, _, err = run("check", str(root))
        self.assertEqual(code, 2)
        self.assertIn("application.yml:2: INTEGRATOR.LINEAGE.URI: unknown field", err)
        self.assertIn("INTEGRATOR.ALERTS.WEBHOOKS[0]: URL: expected an http:// or https:// address", err)

    def test_secrets_are_never_shown(self):
        email = EmailAlertConfig("smtp", "p@d", ["a@b"], user="u", password="pw-123")
        webhook = WebhookAlertConfig("https://hooks.example.com/T0/B0/tok-123", headers={"X-Token": "tok-456"})
        shown = repr(AlertsConfig(email=email, webhooks=[webhook]))
        for secret in ("pw-123", "tok-123", "tok-456"):
            self.assertNotIn(secret, shown)
        self.assertEqual(
            scrubbed("at https://h/tok-123 with pw-123", ["https://h/tok-123", None, "pw-123"]), "at *** with ***"
        )

    def test_encrypted_values_inside_the_section_are_decrypted(self):
        from pdip.cryptography import CryptoService
        from pdip.integrator import IntegratorConfig

        key = CryptoService.generate_key()
        token = CryptoService(key).encrypt("hunter2")
        root = tempfile.mkdtemp(prefix="pdip-alerts-")
        self.addCleanup(shutil.rmtree, root, True)
        email = {"HOST": "smtp", "SENDER": "p@d", "TO": ["a@b"], "PASSWORD": f"enc:{token}"}
        webhook = {"URL": "https://hook", "HEADERS": {"Authorization": f"enc:{token}"}}
        configurations = {
            "APPLICATION": {"SECRET_KEY": key},
            "INTEGRATOR": {"ALERTS": {"EMAIL": email, "WEBHOOKS": [webhook]}},
        }
        pdi = Pdi(root_directory=root, configurations=configurations, validate=False)
        self.addCleanup(pdi.cleanup)
        alerts = pdi.configuration.section(IntegratorConfig).alerts
        self.assertEqual((alerts.email.password, alerts.webhooks[0].headers["Authorization"]), ("hunter2", "hunter2"))

    def test_without_httpx_a_webhook_names_the_extra(self):
        with mock.patch.dict(sys.modules, {"httpx": None}):
            with self.assertRaisesRegex(ConfigurationError, r"WEBHOOKS\) need the httpx package.*pdip\[alerts\]"):
                self.pdi({"WEBHOOKS": [{"URL": "http://h"}]}).get(Integrator)

    def test_summary_defaults(self):
        self.assertEqual(Summary("e", "o").rows_dead_lettered, 0)


class FailuresTest(unittest.TestCase):
    def test_each_execution_is_logged_once_and_only_recent_ones_are_remembered(self):
        logger = mock.Mock()
        failures = DeliveryFailures(logger)
        with mock.patch("pdip.integrator.delivery._REMEMBERED", 2):
            for execution in ("a", "a", "b", "c", "a"):
                failures.failed("webhook", execution, "HTTP 500")
        self.assertEqual([call.args[2] for call in logger.error.call_args_list], ["a", "b", "c", "a"])
        self.assertEqual(failures.counts(), {"webhook": 5})
