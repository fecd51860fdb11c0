"""What the Delta and Iceberg adapters decide without a table: types as the formats hold them,
when a merge's delete flag deletes, and the message when a package is missing."""

import unittest
from unittest import mock

import pyarrow

from pdip.configuration import ConfigurationError
from pdip.integrator.adapters.lakehouse import delta, iceberg, tables
from pdip.integrator.batch import Batch
from pdip.integrator.errors import OperationError


class LakehouseTypesTest(unittest.TestCase):
    def test_fields_take_the_types_both_formats_hold(self):
        cases = {
            pyarrow.dictionary(pyarrow.int8(), pyarrow.string()): pyarrow.string(),
            pyarrow.uint8(): pyarrow.int16(),
            pyarrow.uint64(): pyarrow.decimal128(20, 0),
            pyarrow.time32("s"): pyarrow.time64("us"),
            pyarrow.timestamp("ns", tz="+02:00"): pyarrow.timestamp("us", tz="UTC"),
            pyarrow.uuid(): pyarrow.string(),
        }
        for given, wanted in cases.items():
            with self.subTest(given=str(given)):
                self.assertEqual(tables.common_field(pyarrow.field("x", given)).type, wanted)
        self.assertEqual(delta.storable(pyarrow.field("t", pyarrow.time64("us"))).type, pyarrow.string())

    def test_a_batch_already_of_the_tables_schema_is_taken_without_a_copy(self):
        record = pyarrow.record_batch({"id": [1, 2], "name": ["a", None]})
        fitted, refused = tables.fit(Batch.from_arrow(record), record.schema)
        self.assertEqual((fitted.to_pylist(), refused), ([{"id": 1, "name": "a"}, {"id": 2, "name": None}], []))
        self.assertEqual(
            fitted.column("name").chunk(0).buffers()[2].address, record.column("name").buffers()[2].address
        )
        required = pyarrow.schema([pyarrow.field("id", pyarrow.int64(), nullable=False), record.schema.field("name")])
        fitted, refused = tables.fit(Batch.from_arrow(record), required)  # a required column is still looked at
        self.assertEqual((fitted.num_rows, refused), (2, []))
        other = pyarrow.schema([pyarrow.field("id", pyarrow.int32()), record.schema.field("name")])
        self.assertEqual(tables.fit(Batch.from_arrow(record), other)[0].schema, other)  # cast, as before

    def test_a_delete_flag_deletes_by_its_type(self):
        self.assertEqual(delta._deleted("gone", pyarrow.bool_()), 'coalesce(s."gone", false)')
        self.assertEqual(delta._deleted("gone", pyarrow.int32()), 'coalesce(s."gone" <> 0, false)')
        self.assertEqual(delta._deleted("gone", pyarrow.timestamp("us")), 's."gone" IS NOT NULL')

    def test_a_missing_package_says_which_extra_to_install(self):
        with mock.patch("importlib.import_module", side_effect=ImportError):
            with self.assertRaisesRegex(OperationError, r"delta connections need the deltalake .*'pdip\[delta\]'"):
                delta._deltalake()
            with self.assertRaisesRegex(
                ConfigurationError, r"iceberg connections need the pyiceberg .*'pdip\[iceberg\]'"
            ):
                iceberg._module("pyiceberg.catalog.sql")


if __name__ == "__main__":
    unittest.main()
