import tempfile
import unittest
from pathlib import Path

from pdip.configuration import Configuration, ConfigurationError, DatabaseConfig
from pdip.configuration.loader import read_document, read_file


def folder() -> Path:
    return Path(tempfile.mkdtemp(prefix="pdip-yaml-"))


def bomb(levels: int = 9) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        previous, current = chr(96 + level), chr(97 + level)
        lines.append(f"{current}: &{current} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


class DocumentTest(unittest.TestCase):
    def test_every_key_keeps_its_line_and_variables_are_still_replaced(self):
        path = folder() / "op.yml"
        path.write_text("name: x\nlist:\n  - {a: 1, B: '${V:-two}'}\n  - 3\n")
        document = read_document(path, {})
        self.assertEqual(document.data, {"name": "x", "list": [{"a": 1, "B": "two"}, 3]})
        self.assertEqual((document.line("list", 0, "b"), document.line("list", 1)), (3, 4))
        self.assertEqual(document.where("list", 0, "missing"), "op.yml:3")  # the nearest key above
        self.assertEqual(document.where("nothing"), "op.yml")
        self.assertEqual(read_file(path, {"V": "v"})["list"][0]["B"], "v")

    def test_yaml_that_would_hang_or_recurse_is_refused_in_one_line(self):
        cases = {
            "a: &x [*x]\n": r"rec.yml, line 1: invalid YAML: an alias refers to a value that contains it",
            bomb(): r"rec.yml, line \d+: invalid YAML: aliases expand to more than 250,000 values",
        }
        for text, message in cases.items():
            with self.subTest(message=message):
                path = folder() / "rec.yml"
                path.write_text(text)
                with self.assertRaisesRegex(ConfigurationError, message):
                    read_file(path, {})
        small = folder() / "small.yml"
        small.write_text(bomb(3))  # aliases used within reason are fine
        self.assertEqual(len(read_file(small, {})["c"]), 9)

    def test_a_file_that_is_not_utf8_names_the_line(self):
        path = folder() / "latin.yml"
        path.write_bytes("a: 1\nb: caf\xe9\n".encode("latin-1"))
        with self.assertRaisesRegex(ConfigurationError, r"latin.yml, line 2: not UTF-8 text .*save the file as UTF-8"):
            read_file(path, {})


class SectionProblemsTest(unittest.TestCase):
    def test_unknown_keys_and_wrong_values_of_a_section_are_listed_together_with_their_lines(self):
        root = folder()
        (root / "application.yml").write_text(
            "DATABASE:\n  TYPE: sqlite\n  HOTS: x\n  PORT: abc\n  DATBASE: y\nMINE: {A: 1}\n"
        )
        configuration = Configuration.load(root, environ={})
        found = configuration.problems([DatabaseConfig])
        self.assertEqual(
            [problem.split(" (known")[0] for problem in found],
            [
                "application.yml:3: DATABASE.HOTS: unknown key",
                "application.yml:5: DATABASE.DATBASE: unknown key",
                "application.yml:4: DATABASE.PORT: expected int | None, got 'abc'",
            ],
        )
        self.assertIn("did you mean HOST?", found[0])
        self.assertEqual(configuration.where("database.hots"), "application.yml:3")
        self.assertEqual(configuration.where("MINE.A.deeper"), "application.yml:6")
        self.assertIsNone(configuration.where("ELSEWHERE"))
        self.assertEqual(Configuration.load(folder(), environ={}).problems([DatabaseConfig]), [])  # no section


if __name__ == "__main__":
    unittest.main()
