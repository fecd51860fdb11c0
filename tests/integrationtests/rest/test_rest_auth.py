"""REST credentials against a real local server: each style of `auth` gets in, a wrong one gets a
clear error, and no secret reaches the error, the events, the log or the state database."""

import unittest

from pdip.integrator import StateStore
from tests.integrationtests.rest.test_rest_source import ORDERS, RestServerCase

SECRET = "s3cr3t-7f41"


class AuthCase(RestServerCase):
    given: dict  # the connection's `auth` that the server takes

    def read(self, auth: dict, **settings):
        self.server.tables["orders"] = ORDERS[:3]
        return self.copy({"url": f"{self.base}/all/orders", "auth": auth, **settings})

    def test_the_right_credentials_read_and_wrong_ones_fail_without_showing_them(self):
        result = self.read(self.given)
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual(self.copied(), ORDERS[:3])
        wrong = self.wrong()
        result = self.read(wrong)
        self.assertEqual(result.status, "failed")
        error = result["orders"].error
        self.assertIn("rest connection 'shop': auth", error)
        self.assertIn(f"401 UNAUTHORIZED to GET {self.base}/all/orders", error)
        self.assertIn("check the credentials", error)
        self.assert_hidden(result)

    def assert_hidden(self, result) -> None:
        shown = [result["orders"].error, self.printed.getvalue(), *map(repr, self.events)]
        shown += [repr(execution) for execution in self.pdi.get(StateStore).executions()]
        for text in shown:
            self.assertNotIn(SECRET, text)


class BearerTest(AuthCase):
    auth = ("bearer", SECRET)
    given = {"bearer": SECRET}

    def wrong(self):
        return {"bearer": f"{SECRET}-old"}

    def test_no_credentials_at_all_say_so(self):
        error = self.failed({"url": f"{self.base}/all/orders"})
        self.assertIn("rest connection 'shop': auth: none given, and the server answered 401", error)


class HeaderKeyTest(AuthCase):
    auth = ("header", "X-Api-Key", SECRET)
    given = {"api_key": {"header": "X-Api-Key", "value": SECRET}}

    def wrong(self):
        return {"api_key": {"header": "X-Api-Key", "value": f"{SECRET}-old"}}


class QueryKeyTest(AuthCase):
    auth = ("query", "key", SECRET)
    given = {"api_key": {"query": "key", "value": SECRET}}

    def wrong(self):
        return {"api_key": {"query": "key", "value": f"{SECRET}-old"}}

    def test_the_key_in_the_query_string_is_masked_in_errors(self):
        self.server.fault(500, times=10)
        result = self.read(self.given)
        self.assertIn(f"GET {self.base}/all/orders failed after 3 tries", result["orders"].error)
        self.assertIn("key=" + SECRET, self.server.requests[0].path)  # sent, but never shown
        self.assert_hidden(result)


class BasicTest(AuthCase):
    auth = ("basic", "reader", SECRET)
    given = {"basic": {"user": "reader", "password": SECRET}}

    def wrong(self):
        return {"basic": {"user": "reader", "password": f"{SECRET}-old"}}


class ClientCredentialsTest(AuthCase):
    auth = ("oauth2", "pdip", SECRET)

    @property
    def given(self):
        return {
            "oauth2": {
                "token_url": f"{self.base}/oauth/token",
                "client_id": "pdip",
                "client_secret": SECRET,
                "scope": "read",
            }
        }

    def wrong(self):
        return {"oauth2": {**self.given["oauth2"], "client_secret": f"{SECRET}-old"}}

    def test_the_right_credentials_read_and_wrong_ones_fail_without_showing_them(self):
        result = self.read(self.given)
        self.assertTrue(result.ok, result["orders"].error)
        result = self.read(self.wrong())
        error = result["orders"].error
        self.assertIn("rest connection 'shop': auth.oauth2: the token endpoint", error)
        self.assertIn("answered 401 UNAUTHORIZED without an access_token", error)
        self.assert_hidden(result)

    def test_a_token_is_asked_for_once_and_again_when_the_api_no_longer_takes_it(self):
        self.server.tables["orders"] = ORDERS
        revoked = []

        def revoke_once(request):
            if request.args.get("page") == "2" and not revoked:
                revoked.append(True)
                self.server.revoke()
            return False

        self.server.fault(200, when=revoke_once)
        settings = {
            "url": f"{self.base}/page/orders",
            "records": "data",
            "auth": self.given,
            "paginate": {"page": {"size_param": "size", "size": 40}},
        }
        result = self.copy(settings)
        self.assertTrue(result.ok, result["orders"].error)
        self.assertEqual(self.copied(), ORDERS)
        tokens = [asked for asked in self.server.requests if asked.path.startswith("/oauth/token")]
        self.assertEqual(len(tokens), 2)
        self.assertIn(b"scope=read", tokens[0].body)

    def test_a_token_endpoint_answering_without_a_token_names_the_setting(self):
        self.server.fault(200, "<html>sign in</html>", when=lambda request: request.path == "/oauth/token")
        given = {key: value for key, value in self.given["oauth2"].items() if key != "scope"}
        result = self.read({"oauth2": given})
        self.assertIn("auth.oauth2: the token endpoint", result["orders"].error)
        self.assertIn("answered 200 OK without an access_token: <html>sign in</html>", result["orders"].error)
        self.assertNotIn(b"scope", self.server.requests[0].body)

    def test_an_unreachable_token_endpoint_names_the_setting(self):
        result = self.read({"oauth2": {**self.given["oauth2"], "token_url": "http://127.0.0.1:9/token"}})
        self.assertIn(
            "rest connection 'shop': auth.oauth2.token_url: http://127.0.0.1:9/token: ConnectError",
            result["orders"].error,
        )


del AuthCase  # a base, not a test of its own

if __name__ == "__main__":
    unittest.main()
