import os
import unittest
from unittest import mock

from pdip import Pdi
from pdip.configuration import Configuration
from pdip.policy import REDACTED, Policy, PolicyConfig, PolicyFileError
from pdip.policy.hashing import ValueHasher
from tests.unittests.policy.support import PolicyFilesTestCase


class PolicyChainTest(PolicyFilesTestCase):
    def setUp(self):
        super().setUp()
        self.write(
            ".pdip/policy.yml", "rules:\n  - column: email\n    action: hash\n  - column: a\n    action: redact\n"
        )
        self.write(
            "policies/config.toml",
            '[[rules]]\ncolumn = "a"\naction = "drop"\n[[rules]]\ncolumn = "b"\naction = "redact"\n',
        )
        self.write("policies/env.yml", "rules:\n  - column: b\n    action: allow\n")
        self.write(
            "application.yml",
            "POLICY:\n  FILES: [policies/config.toml]\n  SALT: pepper\n",
        )

    def configuration(self, **environ):
        return Configuration.load(self.folder, environ=environ)

    def test_built_in_then_the_application_file_then_configured_files_then_the_variable(self):
        policy = Policy.for_configuration(self.configuration(), environ={"PDIP_POLICY": "policies/env.yml"})
        self.assertEqual(
            [file.path for file in policy.files],
            [str(self.folder / path) for path in (".pdip/policy.yml", "policies/config.toml", "policies/env.yml")],
        )
        self.assertEqual(policy.rules[0].source, "built-in")
        record = {"email": "a@b.com", "a": 1, "b": 2, "password": "pw"}
        self.assertEqual(
            policy.apply(record), {"email": ValueHasher("pepper")("a@b.com"), "b": 2, "password": REDACTED}
        )

    def test_the_variable_takes_several_files_and_absolute_paths(self):
        extra = self.write("elsewhere/x.yml", "rules:\n  - column: c\n    action: drop\n")
        policy = Policy.for_configuration(self.configuration(), environ={"PDIP_POLICY": f"policies/env.yml::{extra}::"})
        self.assertEqual(len(policy.files), 4)
        self.assertEqual(policy.decide("c"), "drop")

    def test_the_salt_may_come_from_the_environment(self):
        (self.folder / "application.yml").write_text("POLICY:\n  FILES: []\n")
        policy = Policy.for_configuration(self.configuration(POLICY_SALT="from-env"), environ={})
        self.assertEqual(policy.apply({"email": "x"})["email"], ValueHasher("from-env")("x"))

    def test_a_listed_file_that_is_missing_says_where_it_was_listed(self):
        (self.folder / "application.yml").write_text("POLICY:\n  FILES: [policies/nope.yml]\n  SALT: s\n")
        with self.assertRaisesRegex(PolicyFileError, r"policies/nope.yml: no such file \(listed in POLICY.FILES"):
            Policy.for_configuration(self.configuration(), environ={})
        (self.folder / "application.yml").write_text("POLICY:\n  SALT: s\n")
        with self.assertRaisesRegex(PolicyFileError, r"gone.yml: no such file \(listed in the PDIP_POLICY"):
            Policy.for_configuration(self.configuration(), environ={"PDIP_POLICY": "gone.yml"})

    def test_without_a_root_the_current_folder_is_the_root(self):
        with mock.patch.dict(os.environ, {"PDIP_POLICY": ""}):
            policy = Policy.for_configuration(Configuration())
        self.assertEqual(policy.files, ())

    def test_the_salt_is_never_shown(self):
        section = self.configuration().section(PolicyConfig)
        self.assertEqual(section.files, ["policies/config.toml"])
        self.assertEqual(repr(section), "PolicyConfig(files=['policies/config.toml'], salt=***)")
        self.assertEqual(repr(PolicyConfig()), "PolicyConfig(files=[], salt=None)")


class PdiPolicyTest(PolicyFilesTestCase):
    def test_an_application_gets_its_chained_policy_from_the_container(self):
        self.write(".pdip/policy.yml", "rules:\n  - table: customers\n    column: email\n    action: redact\n")
        with mock.patch.dict(os.environ, {"PDIP_POLICY": ""}), Pdi(root_directory=self.folder) as pdi:
            policy = pdi.get(Policy)
            self.assertIs(pdi.get(Policy), policy)
            self.assertEqual(policy.apply({"email": "a"}, "table:customers"), {"email": REDACTED})


if __name__ == "__main__":
    unittest.main()
