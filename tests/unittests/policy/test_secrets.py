import unittest

import pdip.policy
from pdip.policy import MASK, is_secret_name, mask_connection_string, mask_secrets


class PublicNamesTest(unittest.TestCase):
    def test_the_secret_rules_are_public(self):
        for name in ["MASK", "is_secret_name", "mask_connection_string", "mask_secrets"]:
            self.assertIn(name, pdip.policy.__all__)

    def test_the_other_names_load_on_first_use(self):
        self.assertEqual(sorted(dir(pdip.policy)), sorted(set(dir(pdip.policy)) | set(pdip.policy.__all__)))
        self.assertIn("Policy", dir(pdip.policy))
        with self.assertRaisesRegex(AttributeError, "module 'pdip.policy' has no attribute 'Nothing'"):
            pdip.policy.Nothing  # noqa: B018

    def test_mask_is_three_stars(self):
        self.assertEqual(MASK, "***")


class IsSecretNameTest(unittest.TestCase):
    SECRET = (
        # the plain nouns
        "password",
        "passwd",
        "pwd",
        "pass",
        "passphrase",
        "secret",
        "secrets",
        "token",
        "credentials",
        "credential",
        "authorization",
        "cookie",
        # qualified keys
        "secret_key",
        "api_key",
        "apikey",
        "private_key",
        "access_key",
        "signing_key",
        "encryption_key",
        "client_key",
        "app_key",
        "AWS_SECRET_ACCESS_KEY",
        # prefixed, in every spelling
        "DATABASE_PASSWORD",
        "dbPassword",
        "DbPassword",
        "db-password",
        "db.password",
        "db password",
        "access_token",
        "accessToken",
        "AccessToken",
        "ACCESS_TOKEN",
        "x-api-key",
        "X-Api-Key",
        "X_API_KEY",
        "apiKey",
        "APIKey",
        "APIKEY",
        "privateKey",
        "client_secret",
        "clientSecret",
        "refresh_token",
        "Proxy-Authorization",
        "Set-Cookie",
        "db_pass",
        "MYSQL_PASS",
        "userPWD",
        "OAuthToken",
        "csrftoken",
        "dbpassword",
        "secretkey",
        "bearer_token",
        # the same secret in another form, or numbered
        "password_hash",
        "passwordHash",
        "password_confirmation",
        "password2",
        "token_1",
        "new_password",
        "old_password",
        # sessions, cards and personal numbers
        "X-Auth-Token",
        "Authorization",
        "bearer",
        "cookie",
        "cookies",
        "session_id",
        "sessionId",
        "JSESSIONID",
        "PHPSESSID",
        "credit_card",
        "creditCardNumber",
        "credit_card_no",
        "card_number",
        "cc_num",
        "cvv",
        "CVV2",
        "cvc",
        "iban",
        "customer_iban",
        "ssn",
        "SSN",
        "social_security_number",
        # keys, tokens and their companions that travel under short or unusual names
        "ssh_key",
        "sshKey",
        "SSH_PRIVATE_KEY",
        "jwt",
        "JWT",
        "refresh_jwt",
        "private_key_pem",
        "secret_key_base",
        "password_salt",
        "id_token_hint",
        "auth",
        "basic_auth",
        "X-Auth",
    )
    NOT_SECRET = (
        "keyboard",
        "monkey",
        "passenger",
        "key_column",
        "key",
        "primary_key",
        "sort_key",
        "token_count",
        "tokenCount",
        "max_tokens",
        "tokens_used",
        "tokenizer",
        "token_type",
        "token_url",
        "password_policy",
        "password_length",
        "password_file",
        "secret_name",
        "access_key_id",
        "AWS_ACCESS_KEY_ID",
        "private_key_path",
        "compass",
        "bypass",
        "passport",
        "author",
        "authority",
        "authors",
        "oauth_provider",
        "passwordless",
        "jwt_issuer",
        "ssh_host",
        "OLDPWD",
        "dsn",
        "connection_string",
        "url",
        "user",
        "username",
        "email",
        "",
        "_",
        "company_name",
        "passenger_count",
        "session",
        "session_count",
        "card",
        "discard_number",
        "cardinality",
        "lessn",
        "number",
    )

    def test_secret_names(self):
        for name in self.SECRET:
            with self.subTest(name=name):
                self.assertTrue(is_secret_name(name))

    def test_names_that_only_look_alike_are_not_secret(self):
        for name in self.NOT_SECRET:
            with self.subTest(name=name):
                self.assertFalse(is_secret_name(name))

    def test_a_key_that_is_not_a_string_is_not_secret(self):
        self.assertFalse(is_secret_name(1))
        self.assertFalse(is_secret_name(None))
        self.assertFalse(is_secret_name(("password",)))


class MaskConnectionStringTest(unittest.TestCase):
    def test_url_keeps_user_host_and_database(self):
        self.assertEqual(
            mask_connection_string("postgresql+psycopg://app:s3cret@db:5432/prod"),
            "postgresql+psycopg://app:***@db:5432/prod",
        )

    def test_url_password_with_an_at_sign_is_masked_whole(self):
        self.assertEqual(
            mask_connection_string("mysql://app:p@ss@db/prod?mail=a@b.com"),
            "mysql://app:***@db/prod?mail=a@b.com",
        )

    def test_url_with_empty_user(self):
        self.assertEqual(mask_connection_string("redis://:pw@cache:6379/0"), "redis://:***@cache:6379/0")

    def test_url_inside_a_sentence(self):
        self.assertEqual(
            mask_connection_string("cannot reach postgresql://app:pw@db/prod: timeout"),
            "cannot reach postgresql://app:***@db/prod: timeout",
        )

    def test_url_without_password_is_unchanged(self):
        for text in ["http://db:8080/path?mail=a@b.com", "postgresql://app@db/prod", "sqlite:///x.db"]:
            with self.subTest(text=text):
                self.assertEqual(mask_connection_string(text), text)

    def test_keyword_connection_strings(self):
        cases = {
            "Server=db;User Id=app;Password=s3cret;": "Server=db;User Id=app;Password=***;",
            "DRIVER={ODBC};PWD={a;b};UID=app": "DRIVER={ODBC};PWD=***;UID=app",
            "host=db password='a b' user=app": "host=db password=*** user=app",
            'host=db password = "a b" user=app': "host=db password = *** user=app",
            "https://h/login?passwd=x&next=/": "https://h/login?passwd=***&next=/",
        }
        for text, masked in cases.items():
            with self.subTest(text=text):
                self.assertEqual(mask_connection_string(text), masked)

    def test_text_without_credentials_is_unchanged(self):
        for text in ["plain text", "a=b;c=d", "my_password_policy=strict", ""]:
            with self.subTest(text=text):
                self.assertEqual(mask_connection_string(text), text)


class MaskSecretsTest(unittest.TestCase):
    def test_masks_secret_keys_and_keeps_the_rest(self):
        masked = mask_secrets({"user": "alice", "password": "s3cret", "apiKey": 12345})
        self.assertEqual(masked, {"user": "alice", "password": MASK, "apiKey": MASK})

    def test_returns_a_copy_and_leaves_the_input_alone(self):
        data = {"password": "s3cret", "nested": {"token": "t"}, "items": [{"secret": "x"}]}
        masked = mask_secrets(data)
        self.assertEqual(data, {"password": "s3cret", "nested": {"token": "t"}, "items": [{"secret": "x"}]})
        self.assertIsNot(masked["nested"], data["nested"])
        self.assertIsNot(masked["items"], data["items"])

    def test_recurses_into_dicts_lists_and_tuples(self):
        data = {
            "database": {"host": "db", "credentials": {"user": "app", "password": "pw"}},
            "connections": [{"name": "a", "password": "pw"}, "postgresql://u:pw@h/d", 3],
            "pair": ({"token": "t"}, "keep"),
        }
        self.assertEqual(
            mask_secrets(data),
            {
                "database": {"host": "db", "credentials": MASK},
                "connections": [{"name": "a", "password": MASK}, "postgresql://u:***@h/d", 3],
                "pair": ({"token": MASK}, "keep"),
            },
        )

    def test_a_secret_key_hides_a_whole_nested_value(self):
        masked = mask_secrets({"secrets": {"a": 1}, "tokens": ["x"]})
        self.assertEqual(masked, {"secrets": MASK, "tokens": ["x"]})

    def test_connection_string_password_masked_under_any_key(self):
        self.assertEqual(
            mask_secrets({"dsn": "postgresql://app:pw@db/prod", "note": "Password=pw;"}),
            {"dsn": "postgresql://app:***@db/prod", "note": "Password=***;"},
        )

    def test_none_stays_none_so_not_set_is_visible(self):
        self.assertEqual(mask_secrets({"password": None, "token": ""}), {"password": None, "token": MASK})

    def test_non_string_keys_and_values_pass_through(self):
        self.assertEqual(mask_secrets({1: 2.5, "flag": True}), {1: 2.5, "flag": True})


if __name__ == "__main__":
    unittest.main()


class SqlLiteralsTest(unittest.TestCase):
    def test_literals_compared_with_secret_columns_are_masked(self):
        from pdip.policy.secrets import mask_sql_literals

        sql = (
            "SELECT * FROM u WHERE api_token = 'abc''d' AND name = 'x' AND \"Card_Number\" LIKE '4%' "
            "AND pin <> 1234 AND email='a@b' -- postgresql://u:pw@h/d"
        )
        self.assertEqual(
            mask_sql_literals(sql, lambda name: name == "email"),
            "SELECT * FROM u WHERE api_token = *** AND name = 'x' AND \"Card_Number\" LIKE *** "
            "AND pin <> 1234 AND email=*** -- postgresql://u:***@h/d",
        )
        self.assertIn("email='a@b'", mask_sql_literals(sql))

    def test_text_without_a_comparison_is_returned_as_it_is(self):
        from pdip.policy.secrets import mask_sql_literals

        self.assertEqual(mask_sql_literals("SELECT 1"), "SELECT 1")
        self.assertEqual(mask_sql_literals("x LIKE 'secret_%'"), "x LIKE 'secret_%'")


class HiddenByPolicyTest(unittest.TestCase):
    def test_a_policy_hides_every_column_it_does_not_allow(self):
        import tempfile
        from pathlib import Path

        from pdip.integrator.base import _hidden_by
        from pdip.policy import Policy

        self.assertIsNone(_hidden_by(None))
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "policy.yml"
            path.write_text("rules:\n  - column: email\n    action: hash\n")
            hidden = _hidden_by(Policy.load(path, salt="s"))
        self.assertEqual((hidden("email"), hidden("city")), (True, False))
