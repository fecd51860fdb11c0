"""OpenLineage events written by the client's file and console transports (no server)."""

import contextlib
import io
import json
import logging
import shutil
import sys
import tempfile
import unittest
from pathlib import Path
from unittest import mock

import pyarrow

from pdip import Pdi
from pdip.configuration import ConfigurationError
from pdip.integrator import Connection, Integration, Integrator, Operation
from pdip.integrator.lineage import LineageConfig, run_id


def memory(store):
    return Connection("memory", {"store": store})


class LineageTest(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp(prefix="pdip-lineage-"))
        self.addCleanup(shutil.rmtree, self.root, True)

    def integrator(self, **lineage):
        pdi = Pdi(root_directory=self.root, configurations={"INTEGRATOR": {"LINEAGE": lineage}})
        self.addCleanup(pdi.cleanup)
        integrator = pdi.get(Integrator)
        integrator.stores["orders"] = pyarrow.table({"id": [1, 2, 3], "amount": [10.5, 20.0, 30.25]})
        return integrator

    def events(self):
        lines = (self.root / "lineage.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines]

    def test_a_run_reports_start_and_complete_with_datasets_schema_and_row_counts(self):
        integrator = self.integrator(TRANSPORT="file", PATH="lineage.jsonl", NAMESPACE="shop")
        operation = Operation("nightly", [Integration("orders", source=memory("orders"), target=memory("copy"))])
        self.assertTrue(integrator.integrate(operation, execution_id="run-1").ok)
        events = self.events()
        self.assertEqual(
            [(event["eventType"], event["job"]["name"]) for event in events],
            [
                ("START", "nightly"),
                ("START", "nightly.orders"),
                ("COMPLETE", "nightly.orders"),
                ("COMPLETE", "nightly"),
            ],
        )
        self.assertEqual({event["job"]["namespace"] for event in events}, {"shop"})
        started, completed = events[1], events[2]
        self.assertEqual(started["run"]["runId"], run_id("run-1", "orders"))
        self.assertEqual(started["run"]["facets"]["parent"]["run"]["runId"], run_id("run-1"))
        self.assertEqual(started["run"]["facets"]["parent"]["job"]["name"], "nightly")
        self.assertEqual([(d["namespace"], d["name"]) for d in started["inputs"]], [("memory", "orders")])
        self.assertEqual([(d["namespace"], d["name"]) for d in started["outputs"]], [("memory", "copy")])
        (source,), (target,) = completed["inputs"], completed["outputs"]
        self.assertEqual(source["inputFacets"]["inputStatistics"]["rowCount"], 3)
        self.assertEqual(target["outputFacets"]["outputStatistics"]["rowCount"], 3)
        fields = [(field["name"], field["type"]) for field in source["facets"]["schema"]["fields"]]
        self.assertEqual(fields, [("id", "int64"), ("amount", "double")])
        self.assertEqual(target["facets"]["schema"], source["facets"]["schema"])
        self.assertEqual(events[0]["run"]["facets"]["processing_engine"]["name"], "pdip")
        self.assertEqual(integrator.deliveries.counts(), {})

    def test_a_failed_integration_reports_fail_with_its_masked_error(self):
        integrator = self.integrator(TRANSPORT="file", PATH=str(self.root / "lineage.jsonl"))
        bad = Connection("postgresql", {"url": "postgresql+psycopg://app:s3cret@127.0.0.1:1/shop", "table": "t"})
        operation = Operation("nightly", [Integration("orders", source=bad, target=memory("copy"))])
        with contextlib.redirect_stdout(io.StringIO()):
            result = integrator.integrate(operation, execution_id="run-2")
        self.assertEqual(result.status, "failed")
        events = self.events()
        self.assertEqual([event["eventType"] for event in events], ["START", "START", "FAIL", "FAIL"])
        failed = events[2]
        self.assertEqual(
            [(d["namespace"], d["name"]) for d in failed["inputs"]], [("postgres://127.0.0.1:1", "shop.public.t")]
        )
        self.assertIn("OperationalError", failed["run"]["facets"]["errorMessage"]["message"])
        self.assertNotIn("s3cret", (self.root / "lineage.jsonl").read_text())

    def test_a_failing_transport_never_fails_the_run_and_is_logged_once_and_counted(self):
        integrator = self.integrator(TRANSPORT="file", PATH="missing-folder/lineage.jsonl")
        operation = Operation("nightly", [Integration("orders", source=memory("orders"), target=memory("copy"))])
        with contextlib.redirect_stdout(io.StringIO()) as output:
            self.assertTrue(integrator.integrate(operation, execution_id="run-3").ok)
            self.assertTrue(integrator.integrate(operation, execution_id="run-4").ok)
        lines = [line for line in output.getvalue().splitlines() if "not delivered" in line]
        self.assertEqual(len(lines), 2)  # once per execution
        self.assertIn("lineage of execution run-3 not delivered; the run goes on", lines[0])
        self.assertIn("file transport: RuntimeError: Failed to write to log file", lines[0])
        self.assertEqual(integrator.deliveries.counts(), {"lineage": 8})  # four events of each run

    def test_the_console_transport_logs_each_event(self):
        integrator = self.integrator(TRANSPORT="console")
        operation = Operation("nightly", [Integration("orders", source=memory("orders"), target=memory("copy"))])
        with self.assertLogs("openlineage.client.transport.console", logging.INFO) as logs:
            integrator.integrate(operation, execution_id="run-5")
        self.assertEqual(len(logs.records), 4)
        self.assertEqual(json.loads(logs.records[-1].getMessage())["eventType"], "COMPLETE")


class LineageConfigTest(unittest.TestCase):
    def pdi(self, lineage):
        root = tempfile.mkdtemp(prefix="pdip-lineage-")
        self.addCleanup(shutil.rmtree, root, True)
        pdi = Pdi(root_directory=root, configurations={"INTEGRATOR": {"LINEAGE": lineage}}, validate=False)
        self.addCleanup(pdi.cleanup)
        return pdi

    def test_a_transport_without_what_it_needs_is_refused_naming_the_setting(self):
        with self.assertRaisesRegex(ConfigurationError, r"INTEGRATOR.*URL: the http transport needs"):
            self.pdi({"TRANSPORT": "http"}).get(Integrator)
        with self.assertRaisesRegex(ConfigurationError, r"INTEGRATOR.*PATH: the file transport needs"):
            self.pdi({"TRANSPORT": "file"}).get(Integrator)

    def test_a_misspelt_key_or_unknown_transport_is_an_error_naming_it(self):
        with self.assertRaisesRegex(ConfigurationError, r"INTEGRATOR.LINEAGE.URI.*unknown"):
            self.pdi({"TRANSPORT": "http", "URI": "http://x"}).get(Integrator)
        with self.assertRaisesRegex(ConfigurationError, r"INTEGRATOR.LINEAGE.TRANSPORT.*kafka"):
            self.pdi({"TRANSPORT": "kafka"}).get(Integrator)

    def test_the_api_key_is_never_shown(self):
        config = LineageConfig("http", url="http://collector", api_key="key-123")
        self.assertNotIn("key-123", repr(config))
        self.assertIn("url='http://collector'", repr(config))

    def test_without_openlineage_installed_the_error_names_the_extra(self):
        with mock.patch.dict(sys.modules, {"openlineage.client": None}):
            with self.assertRaisesRegex(ConfigurationError, r"LINEAGE\) need the openlineage-python .*pdip\[lineage\]"):
                self.pdi({"TRANSPORT": "console"}).get(Integrator)
