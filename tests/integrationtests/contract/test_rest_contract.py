"""The adapter contract run against REST endpoints (`pdip.integrator.adapters.rest`): a local server
(`tests/support/http_server.py`) stores the rows a target sends and serves them in pages of 4, to a
bearer token; the source reads them in a reader process."""

import unittest
import uuid
from typing import Any

from pdip.integrator import Connection
from tests.integrationtests.contract.contract import CORE, AdapterContract, Refusal
from tests.support.http_server import RowServer, serve

TOKEN = "contract-token"
TYPES = {"amount": "decimal", "day": "date", "at": "datetime"}  # what JSON carries as text


class RestContract(AdapterContract, unittest.TestCase):
    kind = "rest"
    executor = "process"
    supported = CORE
    truncates = False  # an endpoint is not emptied by its client
    knows_empty_columns = False  # an empty page names no field
    misspelt = ("ulr", "url")

    @classmethod
    def setUpClass(cls):
        cls.server = RowServer(("bearer", TOKEN))
        cls._serving = serve(cls.server)
        cls.base = cls._serving.__enter__()

    @classmethod
    def tearDownClass(cls):
        cls._serving.__exit__(None, None, None)

    def settings(self, name: str, token: str = TOKEN) -> dict[str, Any]:
        return {
            "url": f"{self.base}/page/{name}",
            "records": "data",
            "auth": {"bearer": token},
            "paginate": {"page": {"size_param": "size", "size": 4}},
            "backoff": 0.01,
            "retries": 1,
        }

    def store(self, name: str) -> Connection:
        return Connection("rest", self.settings(name))

    def source_of(self, name: str) -> Connection:
        return Connection("rest", {**self.settings(name), "types": TYPES})

    def refusal(self) -> Refusal:
        target = f"strict_{uuid.uuid4().hex[:8]}"  # the server refuses a NULL label there
        self.integrator.stores["refusing"] = [
            {"id": number, "label": None if number % 3 == 0 else f"row {number}"} for number in range(1, 8)
        ]
        row_by_row = {
            **self.settings(target),
            "url": f"{self.base}/page/{target}/{{id}}",
            "send": "row",
            "method": "PUT",
        }
        return Refusal(
            Connection("memory", {"store": "refusing"}),
            Connection("rest", row_by_row),
            2,
            [1, 2, 4, 5, 7],
            lambda: self.read_back(target),
        )

    def with_secret(self, secret: str) -> Connection:
        return Connection("rest", self.settings(self.unique("secret"), token=secret))


if __name__ == "__main__":
    unittest.main()
