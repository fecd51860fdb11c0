"""Every example in README.md and docs/ runs, in a fresh interpreter, and exits 0."""

import tempfile
import unittest
from pathlib import Path

from tests.support.markdown_examples import blocks, run_examples

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


class DocumentExamplesTest(unittest.TestCase):
    def test_every_document_example_runs(self):
        for document in DOCUMENTS:
            with self.subTest(document=document.name), tempfile.TemporaryDirectory() as folder:
                runs = run_examples(document, Path(folder))
                for run in runs:
                    where = f"{document.name}, block at line {run.block.line}"
                    self.assertEqual(run.returncode, 0, f"{where} failed:\n{run.stdout}\n{run.stderr}")

    def test_the_readme_bootstrap_prints_that_pdip_is_ready(self):
        with tempfile.TemporaryDirectory() as folder:
            runs = run_examples(ROOT / "README.md", Path(folder))
        bootstrap = [run for run in runs if run.block.path == "app.py"]
        self.assertEqual(len(bootstrap), 1)
        self.assertIn("pdip is ready", bootstrap[0].stdout)

    def test_documents_with_python_have_runnable_examples(self):
        for document in DOCUMENTS:
            with self.subTest(document=document.name):
                python = [block for block in blocks(document) if block.language == "python"]
                if python:
                    self.assertTrue(any(block.is_script for block in python), "python blocks but no script runs")

    def test_the_reader_understands_files_scripts_and_other_languages(self):
        markdown = (
            "```yaml\n# application.yml\nA: 1\n```\n"
            "```python\n# pkg/mod.py\nX = 1\n```\n"
            "```python\n# main.py\nprint('main')\n```\n"
            "```python\nprint('loose')\n```\n"
            "```bash\necho no\n```\n"
        )
        with tempfile.TemporaryDirectory() as folder:
            document = Path(folder) / "doc.md"
            document.write_text(markdown)
            work = Path(folder) / "work"
            work.mkdir()
            runs = run_examples(document, work)
            self.assertEqual((work / "application.yml").read_text(), "# application.yml\nA: 1\n")
            self.assertTrue((work / "pkg" / "mod.py").is_file())
        self.assertEqual([run.stdout.strip() for run in runs], ["main", "loose"])


if __name__ == "__main__":
    unittest.main()
