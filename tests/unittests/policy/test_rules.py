import unittest

from pdip.policy import Policy, PolicyFileError, Rule
from pdip.policy.rules import parse_rule
from pdip.policy.selectors import Pattern, glob_to_regex, parse_scope
from tests.unittests.policy.support import SALT, PolicyFilesTestCase


class PatternTest(unittest.TestCase):
    def test_glob_is_the_default_matches_whole_names_and_ignores_case(self):
        pattern = Pattern("cust*")
        self.assertTrue(pattern.matches("customers"))
        self.assertTrue(pattern.matches("CUSTOMERS"))
        self.assertFalse(pattern.matches("my_customers"))
        self.assertTrue(Pattern("Email").matches("email"))
        self.assertTrue(Pattern("?d").matches("id"))
        self.assertTrue(Pattern("orders[*].status").matches("orders[*].status"))
        self.assertTrue(Pattern("orders*status").matches("orders[*].status"))
        self.assertFalse(Pattern("orders[*].status").matches("orders.status"))

    def test_regex_must_match_the_whole_name_as_written(self):
        pattern = Pattern(r"regex:cust_\d+")
        self.assertTrue(pattern.matches("cust_42"))
        self.assertFalse(pattern.matches("cust_42_old"))
        self.assertFalse(pattern.matches("CUST_42"))
        with self.assertRaisesRegex(ValueError, r"'regex:\(' is not a valid regular expression"):
            Pattern("regex:(")

    def test_literal_is_exact(self):
        pattern = Pattern("literal:a*b")
        self.assertTrue(pattern.matches("a*b"))
        self.assertFalse(pattern.matches("axb"))
        self.assertFalse(pattern.matches("A*B"))

    def test_a_glob_prefix_says_what_is_the_default(self):
        pattern = Pattern("glob:cust*")
        self.assertTrue(pattern.matches("customers"))
        self.assertTrue(pattern.matches("CUSTOMERS"))
        self.assertFalse(pattern.matches("glob:customers"))
        self.assertTrue(Pattern("glob:email").matches("Email"))
        self.assertTrue(Pattern("glob:email").is_literal())
        self.assertEqual(Pattern("glob:email").literal_text(), "email")
        self.assertFalse(Pattern("glob:e*").is_literal())

    def test_which_patterns_are_literal(self):
        self.assertTrue(Pattern("actor").is_literal())
        self.assertTrue(Pattern("literal:a*").is_literal())
        self.assertEqual(Pattern("literal:a*").literal_text(), "a*")
        self.assertFalse(Pattern("act*").is_literal())
        self.assertFalse(Pattern("regex:actor").is_literal())
        self.assertEqual(repr(Pattern("x")), "Pattern('x')")

    def test_the_built_in_secret_pattern_is_a_predicate(self):
        (pattern,) = Policy.default().rules[0].fields
        self.assertFalse(pattern.is_literal())
        self.assertTrue(pattern.matches("db_password"))
        self.assertEqual(pattern.text, "secret-looking name")

    def test_glob_translation_escapes_everything_but_wildcards(self):
        self.assertEqual(glob_to_regex("a.b*[?]"), r"a\.b.*\[.\]")

    def test_scopes(self):
        self.assertEqual(parse_scope("table:sales.orders"), ("table", "sales.orders"))
        self.assertEqual(parse_scope("entity:a:b"), ("entity", "a:b"))
        for wrong in ("customers", "tabel:customers"):
            with self.subTest(scope=wrong), self.assertRaisesRegex(ValueError, "a scope is written kind:name"):
                parse_scope(wrong)


class ParseRuleTest(unittest.TestCase):
    def problem(self, raw):
        with self.assertRaises(PolicyFileError) as caught:
            parse_rule(raw, 3, "policy.yml")
        self.assertEqual((caught.exception.file, caught.exception.rule), ("policy.yml", 3))
        return str(caught.exception)

    def test_a_full_rule(self):
        rule = parse_rule(
            {
                "source": "crm",
                "table": ["customers", "leads"],
                "column": "deleted",
                "action": "drop_record",
                "equals": True,
            },
            2,
            "p.yml",
        )
        self.assertEqual(
            (rule.action, rule.field_kind, rule.equals, rule.where), ("drop_record", "column", True, "p.yml rule 2")
        )
        self.assertEqual([kind for kind, _ in rule.scopes], ["source", "table"])
        self.assertEqual(
            repr(rule), "Rule(p.yml rule 2: source=crm table=customers|leads column=deleted equals=True -> drop_record)"
        )
        self.assertEqual(repr(parse_rule({"action": "allow"}, 1, "p.yml")), "Rule(p.yml rule 1: everything -> allow)")

    def test_problems_name_the_file_the_rule_and_what_was_expected(self):
        cases = {
            "not a mapping": "policy.yml: rule 3: expected a mapping such as {table: customers, column: email, "
            "action: hash}; got 'not a mapping'",
        }
        for raw, message in cases.items():
            self.assertEqual(self.problem(raw), message)
        self.assertEqual(
            self.problem({"colum": "email", "action": "hash"}),
            "policy.yml: rule 3: unknown key 'colum'; did you mean column?",
        )
        self.assertIn("(known keys: source, table,", self.problem({"zzz": 1, "action": "hash"}))
        self.assertEqual(
            self.problem({"column": "email"}),
            "policy.yml: rule 3: no action; expected one of allow, redact, hash, drop, drop_record",
        )
        self.assertEqual(
            self.problem({"column": "email", "action": "mask"}),
            "policy.yml: rule 3: action: expected one of allow, redact, hash, drop, drop_record; got 'mask'",
        )
        self.assertEqual(
            self.problem({"column": "email", "key": "email", "action": "hash"}),
            "policy.yml: rule 3: selects fields by both column and key; a rule selects fields one way",
        )
        self.assertEqual(
            self.problem({"column": "email", "action": "hash", "equals": 1}),
            "policy.yml: rule 3: equals only goes with action drop_record (this rule's action is hash)",
        )
        self.assertEqual(
            self.problem({"action": "drop_record", "equals": 1}),
            "policy.yml: rule 3: equals needs a field selector (column, key, field or entry) to compare with",
        )
        self.assertEqual(
            self.problem({"entry": "actr", "action": "hash"}),
            "policy.yml: rule 3: entry: 'actr' is not a change-log field; expected one of actor, tenant, entity, "
            "key, path, before, after, extra",
        )
        self.assertEqual(
            self.problem({"column": ["email", 3], "action": "hash"}),
            "policy.yml: rule 3: column: expected a name or a list of names (text); got ['email', 3]",
        )
        self.assertEqual(
            self.problem({"table": [], "action": "hash"}),
            "policy.yml: rule 3: table: expected a name or a list of names (text); got []",
        )
        self.assertEqual(
            self.problem({"column": "regex:[", "action": "hash"}),
            "policy.yml: rule 3: column: 'regex:[' is not a valid regular expression "
            "(unterminated character set at position 0)",
        )
        self.assertEqual(
            self.problem({"action": "allow", "description": 5}),
            "policy.yml: rule 3: description: expected text; got 5",
        )

    def test_entry_selectors_take_extra_fields_and_patterns(self):
        for name in ("extra.request_id", "act*", "regex:.*", "tenant"):
            with self.subTest(name=name):
                self.assertEqual(parse_rule({"entry": name, "action": "hash"}, 1, "p").field_kind, "entry")


class ChainingTest(PolicyFilesTestCase):
    def test_later_rules_win_where_selectors_overlap(self):
        first = self.write(
            "first.yml", "rules:\n  - column: email\n    action: hash\n  - column: note\n    action: drop\n"
        )
        second = self.write("second.yml", "rules:\n  - table: customers\n    column: email\n    action: redact\n")
        policy = Policy.load(first, second, salt=SALT)
        self.assertEqual(policy.decide("email", "table:customers"), "redact")
        self.assertEqual(policy.decide("email", "table:orders"), "hash")
        self.assertEqual(policy.decide("note", "table:customers"), "drop")
        swapped = Policy.load(second, first, salt=SALT)
        self.assertEqual(swapped.decide("email", "table:customers"), "hash")

    def test_the_built_in_rules_come_first_and_can_be_overridden(self):
        allow = self.write("allow.yml", "rules:\n  - table: sessions\n    column: session_id\n    action: allow\n")
        policy = Policy.load(allow)
        self.assertEqual(policy.rules[0].source, "built-in")
        self.assertEqual(policy.decide("session_id", "table:sessions"), "allow")
        self.assertEqual(policy.decide("session_id", "table:customers"), "redact")
        self.assertEqual(policy.decide("db.session_id", "table:sessions"), "redact")  # column: top level only

    def test_scope_selectors_of_several_kinds_must_all_match(self):
        path = self.write("p.yml", "rules:\n  - source: crm\n    table: cust*\n    column: email\n    action: drop\n")
        policy = Policy.load(path)
        self.assertEqual(policy.decide("email", ["source:crm", "table:customers"]), "drop")
        self.assertEqual(policy.decide("email", "table:customers"), "allow")
        self.assertEqual(policy.decide("email", ["source:erp", "table:customers"]), "allow")
        self.assertEqual(policy.decide("email"), "allow")

    def test_a_rule_is_a_value_too(self):
        rule = Rule("drop", field_kind="column", fields=[])
        self.assertEqual(Policy([rule]).rules, (rule,))


if __name__ == "__main__":
    unittest.main()
