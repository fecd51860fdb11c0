import io
import tempfile
import unittest

from rich.console import Console

from pdip import Pdi
from pdip.integrator import Connection, Integration, Operation
from pdip.integrator.base import Integrator
from pdip.integrator.progress import ProgressBar


class ProgressBarTest(unittest.TestCase):
    def test_each_integration_gets_a_line_with_rows_and_its_outcome(self):
        output = io.StringIO()
        console = Console(file=output, force_terminal=True, width=120, color_system=None)
        with Pdi(root_directory=tempfile.mkdtemp(prefix="pdip-progress-")) as pdi:
            integrator = pdi.get(Integrator)
            integrator.stores["numbers"] = [{"n": i} for i in range(2500)]
            operation = Operation(
                "progress",
                [
                    Integration(
                        "numbers",
                        source=Connection("memory", {"store": "numbers"}),
                        target=Connection("memory", {"store": "out"}),
                        batch_size=1000,
                    ),
                    Integration(
                        "broken",
                        source=Connection("memory", {"store": "absent"}),
                        target=Connection("memory", {"store": "x"}),
                    ),
                ],
            )
            with ProgressBar(console).attach(integrator), io.StringIO() as quiet:
                import contextlib

                with contextlib.redirect_stdout(quiet):
                    result = integrator.integrate(operation)
        shown = output.getvalue()
        self.assertEqual(result["numbers"].rows_written, 2500)
        self.assertIn("numbers", shown)
        self.assertIn("2,500 rows", shown)
        self.assertIn("done", shown)
        self.assertIn("broken", shown)
        self.assertIn("failed", shown)


if __name__ == "__main__":
    unittest.main()
