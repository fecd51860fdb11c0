"""Authentication by API key or bearer token, and the tenant of each request."""

import contextlib
import hashlib
import unittest

from pdip import Pdi
from pdip.api import ApiApp, Credential, Principal, generate_key, hash_key
from pdip.api.errors import BadRequestError, ForbiddenError, UnauthorizedError
from pdip.api.security import Gate, StaticKeys
from pdip.configuration.models.api import ApiKeyConfig
from pdip.dependency import PdiConfigurationError
from tests.support.apps import application
from tests.unittests.api.sample_app import sample_api, sample_root

READER_KEY = "reader-key-0123456789"
ADMIN_KEY = "admin-key-0123456789"
KEYS = [
    {"NAME": "reader", "HASH": hash_key(READER_KEY), "TENANTS": ["tenant-a"], "TENANT": "tenant-a"},
    {"NAME": "admin", "HASH": hash_key(ADMIN_KEY)},
]

_ROOT = contextlib.ExitStack()
ROOT = None


def setUpModule():
    global ROOT
    ROOT, _ = _ROOT.enter_context(sample_root())


def tearDownModule():
    _ROOT.close()


class KeysTest(unittest.TestCase):
    def test_hash_key_is_sha256_with_a_prefix(self):
        self.assertEqual(hash_key("k"), "sha256:" + hashlib.sha256(b"k").hexdigest())

    def test_generated_keys_are_long_and_different(self):
        first, second = generate_key(), generate_key()
        self.assertNotEqual(first, second)
        self.assertGreaterEqual(len(first), 40)

    def test_static_keys_find_the_principal_of_a_key(self):
        keys = StaticKeys([ApiKeyConfig("reader", hash_key(READER_KEY), ["tenant-a"], "tenant-a")])
        principal = keys.authenticate(Credential("api_key", READER_KEY))
        self.assertEqual(principal, Principal("reader", frozenset({"tenant-a"}), "tenant-a"))
        self.assertIsNone(keys.authenticate(Credential("api_key", "guess")))

    def test_a_hash_that_is_not_sha256_is_refused_naming_the_key(self):
        with self.assertRaises(PdiConfigurationError) as raised:
            StaticKeys([ApiKeyConfig("ops", "plain-text-key")])
        self.assertIn("API.KEYS[0] (ops): HASH: expected 'sha256:'", str(raised.exception))
        self.assertNotIn("plain-text-key", str(raised.exception))

    def test_credentials_and_key_configs_never_show_the_secret(self):
        self.assertNotIn(READER_KEY, repr(Credential("api_key", READER_KEY)))
        self.assertNotIn("sha256", repr(ApiKeyConfig("reader", hash_key(READER_KEY))))


class GateTest(unittest.TestCase):
    def gate(self, scheme="api_key", **options):
        principal = Principal("svc", frozenset({"a"}), "a")

        class Fixed:
            def authenticate(self, credential):
                return principal if credential.value == "good" else None

        fixed = Fixed()
        return Gate(scheme, lambda: fixed, **options)

    def test_without_authentication_the_tenant_comes_from_the_header(self):
        gate = Gate("none")
        self.assertFalse(gate.enabled)
        self.assertEqual(gate.check({"X-Tenant-Id": " t1 "}).tenant_id, "t1")
        self.assertIsNone(gate.check({}).tenant_id)

    def test_a_missing_or_wrong_key_is_401_with_a_challenge(self):
        gate = self.gate()
        with self.assertRaises(UnauthorizedError) as missing:
            gate.check({})
        self.assertIn("X-API-Key", str(missing.exception))
        self.assertIn("ApiKey", missing.exception.headers["WWW-Authenticate"])
        with self.assertRaises(UnauthorizedError):
            gate.check({"X-API-Key": "bad"})
        self.assertEqual(gate.check({"X-API-Key": "good"}).principal.name, "svc")

    def test_bearer_tokens_come_from_the_authorization_header(self):
        gate = self.gate("bearer")
        self.assertEqual(gate.check({"Authorization": "Bearer good"}).principal.name, "svc")
        for header in ({"Authorization": "Basic good"}, {"Authorization": "Bearer "}, {"X-API-Key": "good"}):
            with self.subTest(header=header), self.assertRaises(UnauthorizedError) as raised:
                gate.check(header)
        self.assertEqual(raised.exception.headers["WWW-Authenticate"], 'Bearer realm="api"')

    def test_the_tenant_is_the_principals_unless_the_header_names_an_allowed_one(self):
        gate = self.gate()
        self.assertEqual(gate.check({"X-API-Key": "good"}).tenant_id, "a")
        self.assertEqual(gate.check({"X-API-Key": "good", "X-Tenant-Id": "a"}).tenant_id, "a")
        with self.assertRaises(ForbiddenError) as raised:
            gate.check({"X-API-Key": "good", "X-Tenant-Id": "b"})
        self.assertIn("svc may not act for tenant 'b'", str(raised.exception))

    def test_anonymous_actions_skip_authentication(self):
        self.assertIsNone(self.gate().check({}, anonymous=True).principal)

    def test_a_required_tenant_is_400_when_missing(self):
        gate = Gate("none", tenant_header="X-Org", tenant_required=True)
        with self.assertRaises(BadRequestError) as raised:
            gate.check({})
        self.assertIn("the X-Org header is required", str(raised.exception))
        self.assertEqual(gate.check({"X-Org": "o"}).tenant_id, "o")


class ApiKeyApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.pdi, api = sample_api(ROOT, {"AUTHENTICATION": "api_key", "KEYS": KEYS})
        cls.client = api.test_client()
        cls.spec = cls.client.get("/swagger.json").get_json()

    @classmethod
    def tearDownClass(cls):
        cls.pdi.cleanup()

    def test_requests_without_a_valid_key_are_401_problems(self):
        for headers in ({}, {"X-API-Key": "wrong"}):
            with self.subTest(headers=headers):
                response = self.client.get("/api/Who", headers=headers)
                self.assertEqual(response.status_code, 401)
                self.assertEqual(response.mimetype, "application/problem+json")
                self.assertIn("WWW-Authenticate", response.headers)

    def test_a_valid_key_acts_as_its_principal_and_default_tenant(self):
        who = self.client.get("/api/Who", headers={"X-API-Key": READER_KEY}).get_json()
        self.assertEqual(who, {"principal": "reader", "tenant": "tenant-a", "context": "tenant-a"})

    def test_a_key_limited_to_tenants_gets_403_for_another(self):
        response = self.client.get("/api/Who", headers={"X-API-Key": READER_KEY, "X-Tenant-Id": "tenant-b"})
        self.assertEqual(response.status_code, 403)
        self.assertEqual(response.get_json()["detail"], "reader may not act for tenant 'tenant-b'")

    def test_an_unlimited_key_may_name_any_tenant(self):
        who = self.client.get("/api/Who", headers={"X-API-Key": ADMIN_KEY, "X-Tenant-Id": "tenant-b"}).get_json()
        self.assertEqual(who, {"principal": "admin", "tenant": "tenant-b", "context": "tenant-b"})

    def test_anonymous_controllers_and_the_docs_need_no_key(self):
        self.assertEqual(self.client.get("/api/Health").status_code, 200)
        self.assertEqual(self.client.get("/api/docs").status_code, 200)

    def test_the_spec_declares_the_key_and_exempts_anonymous_actions(self):
        self.assertEqual(
            self.spec["securityDefinitions"]["api_key"],
            {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "an API key"},
        )
        self.assertEqual(self.spec["security"], [{"api_key": []}])
        self.assertEqual(self.spec["paths"]["/api/Health"]["get"]["security"], [])

    def test_the_tenant_is_cleared_after_each_request(self):
        from pdip.data import current_tenant

        self.client.get("/api/Who", headers={"X-API-Key": READER_KEY})
        self.assertIsNone(current_tenant())


AUTHENTICATOR_APP = {
    "{pkg}/__init__.py": "",
    "{pkg}/security.py": """
        from pdip.api import Authenticator, Principal, ControllerBase, Caller
        from pdip.dependency import ISingleton

        class TokenAuthenticator(Authenticator, ISingleton):
            def authenticate(self, credential):
                if credential.value.startswith("token-for-"):
                    tenant = credential.value[len("token-for-"):]
                    return Principal(f"user@{tenant}", frozenset({tenant}), tenant)
                return None

        class MeController(ControllerBase):
            def __init__(self, caller: Caller):
                self.caller = caller

            def get(self):
                return {"name": self.caller.principal.name, "tenant": self.caller.tenant_id}
    """,
}


class AuthenticatorServiceTest(unittest.TestCase):
    def test_the_applications_authenticator_checks_bearer_tokens(self):
        with application(AUTHENTICATOR_APP) as (root, _):
            with Pdi(root, configurations={"API": {"AUTHENTICATION": "bearer", "EXECUTIONS": False}}) as pdi:
                client = pdi.get(ApiApp).test_client()
                me = client.get("/api/Me", headers={"Authorization": "Bearer token-for-acme"})
                self.assertEqual(me.get_json(), {"name": "user@acme", "tenant": "acme"})
                self.assertEqual(client.get("/api/Me", headers={"Authorization": "Bearer nope"}).status_code, 401)
                other = client.get(
                    "/api/Me", headers={"Authorization": "Bearer token-for-acme", "X-Tenant-Id": "globex"}
                )
                self.assertEqual(other.status_code, 403)
                spec = client.get("/swagger.json").get_json()
                self.assertEqual(spec["securityDefinitions"]["bearer"]["name"], "Authorization")

    def test_two_authenticators_are_refused_naming_both(self):
        files = dict(AUTHENTICATOR_APP)
        files["{pkg}/second.py"] = (
            "from pdip.api import Authenticator\nfrom pdip.dependency import ISingleton\n"
            "class OtherAuthenticator(Authenticator, ISingleton):\n    def authenticate(self, credential):\n        return None\n"
        )
        with application(files) as (root, _):
            with Pdi(root, configurations={"API": {"AUTHENTICATION": "bearer", "EXECUTIONS": False}}) as pdi:
                with self.assertRaises(PdiConfigurationError) as raised:
                    pdi.get(ApiApp)
        self.assertIn("several implementations (OtherAuthenticator, TokenAuthenticator)", str(raised.exception))

    def test_authentication_without_keys_or_an_authenticator_fails_at_start(self):
        with self.assertRaises(PdiConfigurationError) as raised:
            sample_api(ROOT, {"AUTHENTICATION": "api_key"})
        self.assertIn("API.KEYS is empty and no Authenticator implementation was found", str(raised.exception))


if __name__ == "__main__":
    unittest.main()
