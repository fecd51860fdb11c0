"""HttpExporter against a local HTTP server, S3Exporter against a local S3 server (moto)."""

import http.server
import json
import logging
import threading
import unittest
from unittest import mock

import boto3
from botocore.config import Config

from pdip.tracking import ChangeLogEntry, ExportError, HttpExporter, S3Exporter, TrackedDict
from tests.support.object_store import ObjectStore


class Endpoint(http.server.ThreadingHTTPServer):
    """Answers POSTs with `status`, keeping each body and its headers."""

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = 200
        self.received: list[tuple[dict, list]] = []
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/changes"

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.server.status == 200:
            self.server.received.append((dict(self.headers), json.loads(body)))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):  # quiet
        pass


class HttpExporterTest(unittest.TestCase):
    def setUp(self):
        self.endpoint = Endpoint()
        self.addCleanup(self.endpoint.close)

    def test_each_batch_is_one_post_of_a_json_array(self):
        exporter = HttpExporter(self.endpoint.url, headers={"Authorization": "Bearer s3cret"}, batch_size=2)
        cart = TrackedDict(name="cart", observers=[exporter])
        cart["a"] = 1
        cart["b"] = 2
        cart["c"] = 3
        exporter.close()
        self.assertEqual([len(body) for _, body in self.endpoint.received], [2, 1])
        headers, first = self.endpoint.received[0]
        self.assertEqual((headers["Authorization"], headers["Content-Type"]), ("Bearer s3cret", "application/json"))
        entries = [ChangeLogEntry.from_dict(item) for _, body in self.endpoint.received for item in body]
        self.assertEqual(entries, cart.tracking_changes())
        self.assertEqual(first[0]["path"], "a")

    def test_a_refusing_endpoint_keeps_the_entries_for_the_next_flush(self):
        exporter = HttpExporter(
            f"http://user:pw@127.0.0.1:{self.endpoint.server_address[1]}/changes?token=s3cret", batch_size=10
        )
        TrackedDict(observers=[exporter])["a"] = 1
        self.endpoint.status = 503
        with self.assertRaises(ExportError) as caught:
            exporter.flush()
        where = f"http://127.0.0.1:{self.endpoint.server_address[1]}/changes"
        self.assertEqual(
            str(caught.exception),
            f"{where} answered HTTP 503 (Service Unavailable) to 1 change-log entries; they wait for the next flush",
        )
        self.assertEqual((exporter.pending, repr(exporter)), (1, f"HttpExporter({where!r}, pending=1)"))
        self.endpoint.status = 200
        exporter.close()
        self.assertEqual([body[0]["key"] for _, body in self.endpoint.received], ["a"])
        self.assertEqual(self.endpoint.received[0][0]["Authorization"], "Basic dXNlcjpwdw==")  # user:pw

    def test_an_endpoint_that_does_not_answer(self):
        self.endpoint.close()  # closing again in the cleanup is harmless
        exporter = HttpExporter(self.endpoint.url, timeout=2, batch_size=1)
        cart = TrackedDict(observers=[exporter], logger=mock.Mock())
        cart["a"] = 1
        self.assertEqual((exporter.pending, cart.tracker.observer_errors), (1, 1))
        with self.assertRaisesRegex(
            ExportError, r"^cannot send 1 change-log entries to http://127.0.0.1:\d+/changes \("
        ):
            exporter.flush()

    def test_the_url_is_checked(self):
        with self.assertRaisesRegex(ValueError, r"^url: expected an http:// or https:// address; got 'ftp://host/x'$"):
            HttpExporter("ftp://user:pw@host/x?key=1")
        with self.assertRaisesRegex(ValueError, r"got 'int'$"):
            HttpExporter(3)


class S3ExporterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.store = ObjectStore(bucket="audit").start()
        environment = cls.store.environment()
        cls.options = {
            "endpoint_url": cls.store.endpoint,
            "region_name": environment["AWS_DEFAULT_REGION"],
            "aws_access_key_id": environment["AWS_ACCESS_KEY_ID"],
            "aws_secret_access_key": environment["AWS_SECRET_ACCESS_KEY"],
        }

    @classmethod
    def tearDownClass(cls):
        cls.store.stop()

    def objects(self, prefix):
        client = boto3.client("s3", **self.options)
        listed = client.list_objects_v2(Bucket="audit", Prefix=prefix).get("Contents", [])
        return [client.get_object(Bucket="audit", Key=item["Key"])["Body"].read().decode() for item in listed]

    def test_each_batch_is_one_json_lines_object(self):
        exporter = S3Exporter("audit", prefix="carts/", client_options=self.options, batch_size=2)
        cart = TrackedDict(name="cart", observers=[exporter])
        for key in "abc":
            cart[key] = key.upper()
        exporter.close()
        bodies = self.objects("carts/")
        self.assertEqual([body.count("\n") for body in bodies], [2, 1])
        entries = [ChangeLogEntry.from_json(line) for body in bodies for line in body.splitlines()]
        self.assertEqual(entries, cart.tracking_changes())
        self.assertTrue(all(name.startswith("carts/") and name.endswith(".jsonl") for name in exporter.objects))
        self.assertEqual(repr(exporter), "S3Exporter('s3://audit/carts/', pending=0)")

    def test_a_missing_bucket_keeps_the_entries_and_says_why(self):
        exporter = S3Exporter("no-such-bucket", client_options=self.options, batch_size=10)
        with self.assertLogs("pdip.tracking", logging.WARNING):
            cart = TrackedDict(observers=[exporter])
            cart["a"] = 1
            cart["b"] = object()  # refused on arrival, logged as a warning
        with self.assertRaisesRegex(
            ExportError,
            r"^s3://no-such-bucket/changes/\S+\.jsonl: the store refused 1 change-log entries \(NoSuchBucket\)",
        ):
            exporter.flush()
        self.assertEqual((exporter.pending, exporter.refused), (1, 1))
        exporter.bucket = "audit"
        exporter.close()
        self.assertEqual(len(self.objects("changes/")), 1)

    def test_an_unreachable_store_and_a_bad_bucket(self):
        unreachable = {
            **self.options,
            "endpoint_url": "http://127.0.0.1:1",
            "config": Config(retries={"total_max_attempts": 1}),
        }
        exporter = S3Exporter("audit", client_options=unreachable)
        TrackedDict(observers=[exporter])["a"] = 1
        with self.assertRaisesRegex(ExportError, r"cannot write 1 change-log entries \(EndpointConnectionError\)"):
            exporter.flush()
        with self.assertRaisesRegex(ValueError, "bucket: expected a bucket name; got ''"):
            S3Exporter("", client=object())


if __name__ == "__main__":
    unittest.main()
