"""What a process pays for at start: the integrator does not import the ORM, the outbox or the
tracking of the data layer, and `pdip.data` still gives every name it promises."""

import subprocess
import sys
import unittest

import pdip.data

HEAVY = ("sqlalchemy.orm", "pdip.data.outbox", "pdip.data.session", "pdip.tracking", "pdip.policy.engine")


class LazyImportsTest(unittest.TestCase):
    def test_the_integrator_and_the_cli_import_none_of_the_data_layer_they_do_not_use(self):
        code = (
            "import sys, pdip.cli, pdip.integrator, pdip.integrator.adapters.sql.rows; "
            f"print(','.join(name for name in {HEAVY!r} if name in sys.modules))"
        )
        loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        self.assertEqual(loaded.stdout.strip(), "")

    def test_every_promised_name_of_the_data_layer_is_there_and_an_unknown_one_is_named(self):
        from pdip.data import Repository, UnitOfWork
        from pdip.data.repository import Repository as Home

        self.assertIs(Repository, Home)
        self.assertEqual(UnitOfWork.__module__, "pdip.data.unit_of_work")
        self.assertTrue(set(pdip.data.__all__) <= set(dir(pdip.data)))
        with self.assertRaises(AttributeError) as raised:
            pdip.data.Repositry  # noqa: B018 - the lookup is the test
        self.assertIn("module 'pdip.data' has no attribute 'Repositry'", str(raised.exception))


if __name__ == "__main__":
    unittest.main()
