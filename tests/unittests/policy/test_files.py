import hashlib
import sys
import unittest
from unittest import mock

from pdip.policy import Policy, PolicyFile, PolicyFileError
from pdip.policy.files import load_policy_file
from tests.unittests.policy.support import SALT, PolicyFilesTestCase

YAML = """\
meta:
  name: customer data
  owner: data team
rules:
  - table: customers
    column: email
    action: hash
  - column: notes
    action: drop
"""

TOML = """\
[meta]
name = "customer data"

[[rules]]
table = "customers"
column = "email"
action = "hash"

[[rules]]
column = "notes"
action = "drop"
"""


class LoadPolicyFileTest(PolicyFilesTestCase):
    def test_yaml_and_toml_say_the_same_thing(self):
        for name, text in (("policy.yml", YAML), ("policy.toml", TOML)):
            with self.subTest(file=name):
                path = self.write(name, text)
                loaded = load_policy_file(path)
                self.assertIsInstance(loaded, PolicyFile)
                self.assertEqual(loaded.name, "customer data")
                self.assertEqual(loaded.sha256, hashlib.sha256(path.read_bytes()).hexdigest())
                self.assertEqual(
                    [(r.action, r.field_kind, r.index, r.source) for r in loaded.rules],
                    [("hash", "column", 1, str(path)), ("drop", "column", 2, str(path))],
                )
                self.assertIn("2 rules", repr(loaded))
                policy = Policy.load(path, salt=SALT)
                self.assertEqual(policy.apply({"notes": "x", "a": 1}, "table:customers"), {"a": 1})

    def test_an_empty_file_and_a_file_without_rules_are_empty_policies(self):
        self.assertEqual(load_policy_file(self.write("empty.yml", "")).rules, ())
        only_meta = load_policy_file(self.write("meta.yml", "meta:\n  description: nothing yet\n"))
        self.assertEqual((only_meta.rules, only_meta.name), ((), None))

    def test_a_toml_file_on_python_3_10_needs_tomli(self):
        path = self.write("policy.toml", TOML)
        with mock.patch.dict(sys.modules, {"tomllib": None, "tomli": None}):
            with self.assertRaises(PolicyFileError) as caught:
                load_policy_file(path)
        self.assertEqual(
            str(caught.exception),
            f"{path}: reading TOML needs Python 3.11 or the tomli package (pip install tomli); or write the policy in YAML",
        )
        import tomllib

        with mock.patch.dict(sys.modules, {"tomllib": None, "tomli": tomllib}):
            self.assertEqual(len(load_policy_file(path).rules), 2)

    def problem(self, name, text):
        path = self.write(name, text)
        with self.assertRaises(PolicyFileError) as caught:
            load_policy_file(path)
        self.assertEqual(caught.exception.file, str(path))
        return str(caught.exception).removeprefix(f"{path}: ")

    def test_malformed_files_name_the_file_the_rule_and_the_problem(self):
        self.assertEqual(
            self.problem("p.yml", "rules:\n  - column: email\n    action: hash\n  - column: x\n    action: blur\n"),
            "rule 2: action: expected one of allow, redact, hash, drop, drop_record; got 'blur'",
        )
        self.assertEqual(
            self.problem(
                "p.toml", '[[rules]]\ncolumn = "x"\naction = "drop"\n\n[[rules]]\ncolum = "y"\naction = "drop"\n'
            ),
            "rule 2: unknown key 'colum'; did you mean column?",
        )
        self.assertTrue(self.problem("bad.yml", "rules: [\n").startswith("not valid YAML: while parsing"))
        self.assertIn("line 2", self.problem("bad2.yml", "rules: [\n"))
        self.assertTrue(self.problem("bad.toml", "rules = [\n").startswith("not valid TOML:"))
        self.assertEqual(self.problem("list.yml", "- a\n"), "expected a mapping with `meta` and `rules`; got list")
        self.assertEqual(
            self.problem("top.yml", "meta: {}\nrule: []\n"),
            "unknown top-level key 'rule'; a policy file has meta and rules",
        )
        self.assertEqual(
            self.problem("meta.yml", "meta: [1]\n"), "meta: expected a mapping (name, description, ...); got [1]"
        )
        self.assertEqual(self.problem("rules.yml", "rules: {a: 1}\n"), "rules: expected a list of rules; got dict")
        path = self.folder / "latin1.yml"
        path.write_bytes(b"rules: []\n# caf\xe9\n")
        with self.assertRaisesRegex(
            PolicyFileError, r"latin1.yml: not UTF-8 text \(invalid continuation byte at byte 15\)"
        ):
            load_policy_file(path)

    def test_a_missing_file(self):
        with self.assertRaisesRegex(
            PolicyFileError, r"nowhere.yml: cannot read the file \(No such file or directory\)"
        ):
            Policy.load(self.folder / "nowhere.yml")


if __name__ == "__main__":
    unittest.main()
