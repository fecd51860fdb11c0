"""codetracer's trace-filter files (TOML: [meta], [scope], [[scope.rules]] and their
[[scope.rules.value_patterns]]) load as pdip policies, with codetracer's semantics.

The fixtures are written here in codetracer's format, one construct at a time; FILTER uses
every construct a filter file has."""

import logging
import pickle
import unittest

from pdip.policy import REDACTED, Policy, PolicyFileError, PolicyLogFilter
from pdip.policy.tracefilters import TracePattern, glob_to_path_regex
from tests.unittests.policy.support import PolicyFilesTestCase

BILLING = "pkg:my_app.services.billing"

FILTER = r"""
[meta]
name = "billing-filter"
version = 1
description = "Protect secrets while allowing metrics."
labels = ["example"]

[scope]
default_exec = "trace"
default_value_action = "allow"

[[scope.rules]]
selector = "pkg:my_app.services.*"
value_default = "redact"
reason = "services handle customer data"

[[scope.rules.value_patterns]]
selector = "local:glob:public_*"
action = "allow"

[[scope.rules.value_patterns]]
selector = 'local:regex:^(metric|masked)_\w+$'
action = "allow"

[[scope.rules.value_patterns]]
selector = "local:glob:secret_*"
action = "redact"

[[scope.rules.value_patterns]]
selector = "arg:literal:debug_payload"
action = "drop"
reason = "never leaves"

[[scope.rules]]
selector = "file:glob:src/reports/**/*.py"
exec = "skip"

[[scope.rules.value_patterns]]
selector = "global:FEATURE_*"
action = "allow"

[[scope.rules.value_patterns]]
selector = "ret:regex:(?i)report"
action = "deny"

[[scope.rules]]
selector = "obj:literal:my_app.auth.login"
exec = "trace"
value_default = "inherit"

[[scope.rules.value_patterns]]
selector = "attr:regex:(?i)token"
action = "drop"
"""


class TraceFilterFileTest(PolicyFilesTestCase):
    def setUp(self):
        super().setUp()
        self.policy = Policy.load(self.write("trace-filter.toml", FILTER))

    def test_a_scope_rule_sets_the_value_default_and_its_patterns_refine_it(self):
        record = {
            "public_id": 7,
            "metric_count": 3,
            "secret_code": "x",
            "debug_payload": "dump",
            "customer": "Ada",
        }
        self.assertEqual(
            self.policy.apply(record, scope=BILLING),
            {"public_id": 7, "metric_count": 3, "secret_code": REDACTED, "customer": REDACTED},
        )

    def test_out_of_its_scopes_the_file_allows_and_pdip_built_in_rules_still_hold(self):
        record = {"public_id": 7, "customer": "Ada", "password": "pw", "debug_payload": "dump"}
        expected = {"public_id": 7, "customer": "Ada", "password": REDACTED, "debug_payload": "dump"}
        self.assertEqual(self.policy.apply(record, scope="pkg:my_app.api"), expected)
        self.assertEqual(self.policy.apply(record, scope="table:customers"), expected)
        self.assertEqual(self.policy.apply(record), expected)

    def test_globs_are_case_sensitive(self):
        self.assertEqual(self.policy.apply({"Public_id": 1}, scope=BILLING), {"Public_id": REDACTED})
        self.assertEqual(self.policy.apply({"x": 1}, scope="pkg:My_App.services.billing"), {"x": 1})

    def test_file_globs_keep_to_path_segments_and_double_stars_cross_them(self):
        record = {"FEATURE_FLAGS": "on", "monthly_report": "r", "other": 1}
        expected = {"FEATURE_FLAGS": "on", "monthly_report": REDACTED, "other": 1}
        self.assertEqual(self.policy.apply(record, scope="file:src/reports/monthly/sales.py"), expected)
        self.assertEqual(self.policy.apply(record, scope="file:src/reports/sales.py"), expected)
        self.assertEqual(self.policy.apply(record, scope="file:lib/src/reports/sales.py"), record)

    def test_attr_patterns_reach_nested_keys_not_top_level_fields(self):
        record = {"token": "t", "user": {"id": 1, "AuthToken": "a", "profile": {"token": "p"}}}
        applied = self.policy.apply(record, scope="obj:my_app.auth.login")
        self.assertEqual(applied, {"token": REDACTED, "user": {"id": 1, "profile": {}}})

    def test_meta_and_the_file_show_in_the_run_metadata(self):
        (described,) = self.policy.metadata()["files"]
        self.assertEqual((described["name"], described["rules"], len(described["sha256"])), ("billing-filter", 3, 64))
        self.assertEqual(self.policy.files[0].meta["labels"], ["example"])
        self.assertEqual(
            repr(self.policy.files[0].rules[0]), f"TraceFilter({self.policy.files[0].path!r}, 3 scope rules)"
        )

    def test_a_pickled_policy_decides_as_the_original(self):
        copy = pickle.loads(pickle.dumps(self.policy))
        record = {"public_id": 7, "customer": "Ada"}
        self.assertEqual(copy.apply(record, scope=BILLING), self.policy.apply(record, scope=BILLING))

    def test_the_logger_name_is_the_pkg_of_a_log_record(self):
        record = logging.LogRecord("my_app.services.billing", logging.INFO, __file__, 1, "m", None, None)
        record.fields = {"public_id": 7, "customer": "Ada"}
        self.assertTrue(PolicyLogFilter(self.policy).filter(record))
        self.assertEqual(record.fields, {"public_id": 7, "customer": REDACTED})
        self.assertEqual(self.policy.counters, {"redact": {"log:my_app.services.billing": 1}})


class SemanticsTest(PolicyFilesTestCase):
    def load(self, text):
        return Policy.load(self.write("filter.toml", text))

    def test_within_a_rule_the_first_matching_pattern_wins(self):
        policy = self.load(
            """
            [scope]
            default_value_action = "allow"
            [[scope.rules]]
            selector = "pkg:*"
            [[scope.rules.value_patterns]]
            selector = "local:public_*"
            action = "allow"
            [[scope.rules.value_patterns]]
            selector = "local:regex:.*"
            action = "redact"
            [[scope.rules.value_patterns]]
            selector = "local:public_name"
            action = "drop"
            """
        )
        self.assertEqual(
            policy.apply({"public_name": "a", "b": 1}, scope="pkg:app"), {"public_name": "a", "b": REDACTED}
        )

    def test_a_later_matching_scope_rule_replaces_the_patterns_and_keeps_the_default(self):
        policy = self.load(
            """
            [scope]
            default_value_action = "allow"
            [[scope.rules]]
            selector = "pkg:app.*"
            value_default = "redact"
            [[scope.rules.value_patterns]]
            selector = "local:name"
            action = "allow"
            [[scope.rules]]
            selector = "pkg:app.billing"
            [[scope.rules.value_patterns]]
            selector = "local:amount"
            action = "allow"
            [[scope.rules]]
            selector = "pkg:app.shipping"
            value_default = "allow"
            """
        )
        record = {"name": "Ada", "amount": 3}
        self.assertEqual(policy.apply(record, scope="pkg:app.orders"), {"name": "Ada", "amount": REDACTED})
        self.assertEqual(policy.apply(record, scope="pkg:app.billing"), {"name": REDACTED, "amount": 3})
        self.assertEqual(policy.apply(record, scope="pkg:app.shipping"), record)

    def test_the_default_value_action_applies_everywhere(self):
        policy = self.load('[scope]\ndefault_value_action = "drop"\n')
        self.assertEqual(policy.apply({"a": 1, "b": {"c": 2}}, scope="table:t"), {})
        self.assertEqual(self.load('[scope]\ndefault_value_action = "inherit"\n').apply({"a": 1}), {"a": 1})

    def test_an_explicit_allow_overrides_pdip_built_in_rule(self):
        policy = self.load(
            """
            [scope]
            default_value_action = "allow"
            [[scope.rules]]
            selector = "pkg:app"
            [[scope.rules.value_patterns]]
            selector = "arg:literal:session_id"
            action = "allow"
            """
        )
        self.assertEqual(policy.apply({"session_id": "s"}, scope="pkg:app"), {"session_id": "s"})
        self.assertEqual(policy.apply({"session_id": "s"}, scope="pkg:other"), {"session_id": REDACTED})

    def test_a_regex_searches_the_name_as_codetracer_does(self):
        policy = self.load(
            r"""
            [scope]
            default_value_action = "allow"
            [[scope.rules]]
            selector = 'pkg:regex:^(asyncio|threading)(\.|$)'
            value_default = "redact"
            [[scope.rules]]
            selector = 'file:regex:.*[\\/]site-packages[\\/]_virtualenv\.py$'
            value_default = "drop"
            """
        )
        self.assertEqual(policy.apply({"a": 1}, scope="pkg:asyncio.events"), {"a": REDACTED})
        self.assertEqual(policy.apply({"a": 1}, scope="pkg:threading"), {"a": REDACTED})
        self.assertEqual(policy.apply({"a": 1}, scope="pkg:my_asyncio"), {"a": 1})
        self.assertEqual(policy.apply({"a": 1}, scope="file:/venv/lib/site-packages/_virtualenv.py"), {})
        self.assertEqual(policy.apply({"a": 1}, scope=r"file:C:\venv\Lib\site-packages\_virtualenv.py"), {})

    def test_pdip_rules_may_name_the_same_scopes(self):
        policy = Policy.load(self.write("p.yml", "rules:\n  - pkg: my_app.*\n    column: note\n    action: drop\n"))
        self.assertEqual(policy.apply({"note": 1}, scope=BILLING), {})
        self.assertEqual(policy.apply({"note": 1}, scope="obj:my_app.x"), {"note": 1})

    def test_a_yaml_file_of_the_same_shape_loads_too(self):
        policy = Policy.load(self.write("filter.yml", "scope:\n  default_value_action: redact\n  default_exec: skip\n"))
        self.assertEqual(policy.apply({"a": 1}), {"a": REDACTED})


class PatternTest(unittest.TestCase):
    def test_globs(self):
        cases = [
            ("pytest*", "pytest.main", True),
            ("py.*", "py.path", True),
            ("py.*", "pyx", False),
            ("*_test", "billing_test", True),
            ("src/*.py", "src/a.py", True),
            ("src/*.py", "src/a/b.py", False),
            ("**/test_*.py", "test_a.py", True),
            ("**/test_*.py", "tests/unit/test_a.py", True),
            ("**/tests/**/*.py", "tests/a.py", True),
            ("**/tests/**/*.py", "x/tests/a/b.py", True),
            ("src/**", "src/a/b", True),
            ("**", "a/b", True),
            ("?.py", "a.py", True),
            ("?.py", "/.py", False),
            ("[ab].py", "b.py", True),
            ("[!ab].py", "c.py", True),
            ("[!ab].py", "a.py", False),
            ("*.{py,pyi}", "a.pyi", True),
            ("*.{py,pyi}", "a.txt", False),
            (r"a\*b", "a*b", True),
            (r"a\*b", "axb", False),
            ("a+b(c)", "a+b(c)", True),
            ("Public_*", "public_x", False),
            ("a**b", "axxb", True),
            ("a**b", "a/b", False),
            ("**a", "xa", True),
        ]
        for glob, name, expected in cases:
            with self.subTest(glob=glob, name=name):
                self.assertEqual(TracePattern("glob", glob).matches(name), expected)

    def test_literal_and_regex(self):
        self.assertTrue(TracePattern("literal", "a*b").matches("a*b"))
        self.assertTrue(TracePattern("literal", "a*b").is_literal())
        self.assertFalse(TracePattern("glob", "ab").is_literal())
        self.assertFalse(TracePattern("literal", "a*b").matches("A*B"))
        self.assertTrue(TracePattern("regex", "oken").matches("AuthToken"))
        self.assertEqual(glob_to_path_regex("[^a]"), "[^a]")
        self.assertEqual(repr(TracePattern("glob", "a*")), "TracePattern('glob', 'a*')")
        self.assertTrue(pickle.loads(pickle.dumps(TracePattern("regex", "^a"))).matches("ab"))


class ProblemsTest(PolicyFilesTestCase):
    def problem(self, text):
        with self.assertRaises(PolicyFileError) as caught:
            Policy.load(self.write("filter.toml", text))
        return str(caught.exception)

    def test_each_problem_names_the_file_the_place_and_what_was_expected(self):
        path = str(self.folder / "filter.toml")
        rule = '[scope]\ndefault_value_action = "allow"\n[[scope.rules]]\n'
        pattern = rule + 'selector = "pkg:a"\n[[scope.rules.value_patterns]]\n'
        cases = [
            (
                "[scope]\n[io]\ncapture = true\n[extra]\n",
                f"{path}: unknown top-level key 'extra'; a trace filter has meta, scope and io",
            ),
            ("rules = []\n[scope]\n", f"{path}: unknown top-level key 'rules'; a trace filter has meta, scope and io"),
            ("scope = 3\n", f"{path}: scope: expected a table (default_value_action, rules, ...); got 3"),
            ("meta = 3\n[scope]\n", f"{path}: meta: expected a table (name, version, ...); got 3"),
            (
                "[meta]\nversion = 2\n[scope]\n",
                f"{path}: meta.version: expected 1 (the version of codetracer's format read here); got 2",
            ),
            (
                '[scope]\ndefault_value = "allow"\n',
                f"{path}: scope: unknown key 'default_value'; did you mean default_value_action?",
            ),
            (
                '[scope]\ndefault_value_action = "mask"\n',
                f"{path}: scope.default_value_action: expected one of allow, redact, drop, deny, inherit; got 'mask'",
            ),
            (
                '[scope]\ndefault_exec = "run"\n',
                f"{path}: scope.default_exec: expected one of trace, skip, inherit; got 'run'",
            ),
            ("[scope]\nrules = 3\n", f"{path}: scope.rules: expected a list of tables; got 3"),
            ("[scope]\nrules = [3]\n", f"{path}: rule 1: expected a table with a selector; got 3"),
            (
                rule + 'exec = "trace"\n',
                f"{path}: rule 1: selector: missing; expected kind:[glob|regex|literal:]pattern with kind one of pkg, file, obj",
            ),
            (rule + "selector = 3\n", f"{path}: rule 1: selector: expected text such as pkg:name; got 3"),
            (
                rule + 'selector = "pkg:a"\nvalue_patterns = [3]\n',
                f"{path}: rule 1: value pattern 1: expected a table with a selector and an action; got 3",
            ),
            (
                rule + 'selector = "pkg:{a"\n',
                f"{path}: rule 1: selector: 'pkg:{{a' is not a valid glob (missing ), unterminated subpattern at position 0)",
            ),
            (
                rule + 'selector = "local:x"\n',
                f"{path}: rule 1: selector: 'local:x' selects values; a scope rule takes one of pkg, file, obj",
            ),
            (
                rule + 'selector = "module:x"\n',
                f"{path}: rule 1: selector: unknown kind 'module' in 'module:x'; expected one of pkg, file, obj",
            ),
            (
                rule + 'selector = "pkg"\n',
                f"{path}: rule 1: selector: 'pkg' has no pattern; expected kind:[glob|regex|literal:]pattern",
            ),
            (
                rule + 'selector = "pkg:re:x"\n',
                f"{path}: rule 1: selector: unknown match type 're' in 'pkg:re:x'; expected glob, regex or literal",
            ),
            (
                rule + 'selector = "pkg:regex:("\n',
                f"{path}: rule 1: selector: 'pkg:regex:(' is not a valid regular expression (missing ), unterminated subpattern at position 0)",
            ),
            (
                rule + 'selector = "pkg:glob:"\n',
                f"{path}: rule 1: selector: 'pkg:glob:' has no pattern; expected kind:[glob|regex|literal:]pattern",
            ),
            (
                rule + 'selector = "pkg:a"\nvalue_defaults = "allow"\n',
                f"{path}: rule 1: unknown key 'value_defaults'; did you mean value_default?",
            ),
            (
                rule + 'selector = "pkg:a"\nvalue_default = "hash"\n',
                f"{path}: rule 1: value_default: expected one of allow, redact, drop, deny, inherit; got 'hash'",
            ),
            (rule + 'selector = "pkg:a"\nreason = 3\n', f"{path}: rule 1: reason: expected text; got 3"),
            (
                rule + 'selector = "pkg:a"\nvalue_patterns = 3\n',
                f"{path}: rule 1: value_patterns: expected a list of tables; got 3",
            ),
            (
                pattern + 'action = "allow"\n',
                f"{path}: rule 1: value pattern 1: selector: missing; expected kind:[glob|regex|literal:]pattern with kind one of local, global, arg, ret, attr",
            ),
            (
                pattern + 'selector = "pkg:x"\naction = "allow"\n',
                f"{path}: rule 1: value pattern 1: selector: 'pkg:x' selects scopes; a value pattern takes one of local, global, arg, ret, attr",
            ),
            (
                pattern + 'selector = "local:x"\n',
                f"{path}: rule 1: value pattern 1: action: expected one of allow, redact, drop, deny; got None",
            ),
            (
                pattern + 'selector = "local:x"\naction = "inherit"\n',
                f"{path}: rule 1: value pattern 1: action: expected one of allow, redact, drop, deny; got 'inherit'",
            ),
            (
                pattern + 'selector = "local:x"\naction = "allow"\nwhy = "x"\n',
                f"{path}: rule 1: value pattern 1: unknown key 'why' (known keys: selector, action, reason)",
            ),
        ]
        for text, expected in cases:
            with self.subTest(expected=expected):
                self.assertEqual(self.problem(text), expected)


if __name__ == "__main__":
    unittest.main()


class BuiltInShapedFilterTest(PolicyFilesTestCase):
    """A filter shaped like codetracer's own built-in default: scope rules that only skip code
    (ignored here), then one rule for every package whose patterns redact secret-looking values
    of all five kinds."""

    def test_it_loads_and_redacts_in_every_package(self):
        secret = r"(?i).*(pass(word)?|token|api[_-]?key).*"
        patterns = "".join(
            f'[[scope.rules.value_patterns]]\nselector = \'{kind}:regex:{secret}\'\naction = "redact"\nreason = "{kind}"\n'
            for kind in ("local", "global", "arg", "ret", "attr")
        )
        text = (
            '[meta]\nname = "built-in shaped"\nversion = 1\nlabels = ["builtin", "default"]\n'
            '[scope]\ndefault_exec = "trace"\ndefault_value_action = "allow"\n'
            "[[scope.rules]]\nselector = 'file:regex:.*([\\\\/]lib[\\\\/]python\\d+\\.\\d+[\\\\/]|[\\\\/]Lib[\\\\/]).*'\n"
            'exec = "skip"\nreason = "standard library"\n'
            "[[scope.rules]]\nselector = 'pkg:literal:builtins'\nexec = \"skip\"\n"
            "[[scope.rules]]\nselector = 'pkg:glob:*'\n" + patterns
        )
        policy = Policy.load(self.write("builtin_default.toml", text))
        record = {"PassPhrase": "p", "user": "ada", "profile": {"github_token": "t", "name": "n"}}
        expected = {"PassPhrase": REDACTED, "user": "ada", "profile": {"github_token": REDACTED, "name": "n"}}
        self.assertEqual(policy.apply(record, scope="pkg:my_app.billing"), expected)
        self.assertEqual(policy.apply(record, scope="pkg:builtins"), expected)
        self.assertEqual(
            policy.apply({"PassPhrase": "p"}, scope="file:/usr/lib/python3.11/json/x.py"), {"PassPhrase": "p"}
        )
        self.assertEqual(policy.metadata()["files"][0]["rules"], 3)
