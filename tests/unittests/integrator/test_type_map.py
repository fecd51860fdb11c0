"""The one type map: the docs' table is the code's, file `types:` names are the map's, values
cross between Arrow and Python, and a driver is given JSON and UUID values it can take."""

import datetime as dt
import re
import unittest
import uuid
from decimal import Decimal
from pathlib import Path

import pyarrow
import sqlalchemy as sa

from pdip.integrator.adapters.file.values import TYPES, VALUE_TYPES
from pdip.integrator.batch import Batch
from pdip.integrator.types import (
    FILE_TYPE_NAMES,
    arrow_array,
    arrow_to_sql,
    driver_rows,
    python_values,
    sql_to_arrow,
    type_of_values,
    type_table,
)

DOCS = Path(__file__).resolve().parents[3] / "docs" / "integrator.md"


class TypeMapTest(unittest.TestCase):
    def test_the_docs_table_is_the_map(self):
        text = DOCS.read_text()
        inside = re.search(r"<!-- types-table -->\n(.*)<!-- /types-table -->", text, re.S).group(1)
        self.assertEqual(inside, type_table())

    def test_the_file_type_names_are_the_maps_and_each_has_a_conversion(self):
        self.assertEqual(set(VALUE_TYPES), set(FILE_TYPE_NAMES))
        self.assertEqual(TYPES.allowed, FILE_TYPE_NAMES)

    def test_uuid_and_json_have_arrows_extension_types_both_ways(self):
        self.assertEqual(sql_to_arrow(sa.Uuid()), pyarrow.uuid())
        self.assertEqual(sql_to_arrow(sa.JSON()), pyarrow.json_())
        self.assertIsInstance(arrow_to_sql(pyarrow.uuid()), sa.Uuid)
        self.assertIsInstance(arrow_to_sql(pyarrow.json_()), sa.JSON)
        self.assertIsNone(sql_to_arrow(sa.ARRAY(sa.Integer())))  # no faithful Arrow type: the values decide

    def test_a_column_nothing_declared_takes_its_first_values_type(self):
        self.assertIsInstance(type_of_values([None, uuid.uuid4()]), sa.Uuid)
        self.assertIsInstance(type_of_values([{"a": 1}]), sa.JSON)
        self.assertIsInstance(type_of_values([Decimal("1.5")]), sa.Numeric)
        self.assertIsInstance(type_of_values([dt.date(2026, 1, 1)]), sa.Date)
        self.assertEqual(type_of_values(["abc", None]).length, 255)
        self.assertIsInstance(type_of_values(["x" * 300]), sa.Text)


class ValuesTest(unittest.TestCase):
    def test_json_text_in_arrow_is_an_object_in_python_and_back(self):
        array = arrow_array([{"a": [1, 2]}, '{"b": true}', None], pyarrow.json_())
        self.assertEqual(array.to_pylist(), ['{"a": [1, 2]}', '{"b": true}', None])
        self.assertEqual(python_values(array), [{"a": [1, 2]}, {"b": True}, None])
        batch = Batch.from_arrow(pyarrow.table({"doc": array}))
        self.assertEqual(batch.rows, [({"a": [1, 2]},), ({"b": True},), (None,)])

    def test_a_uuids_text_becomes_a_uuid(self):
        value = uuid.uuid4()
        array = arrow_array([str(value), value, None], pyarrow.uuid())
        self.assertEqual(array.to_pylist(), [value, value, None])

    def test_a_value_a_parquet_column_of_the_map_cannot_take_names_the_column(self):
        from pdip.integrator.adapters.file.parquet import conform

        schema = pyarrow.schema([("id", pyarrow.uuid())])
        with self.assertRaises(ValueError) as raised:
            conform(Batch(["id"], [("not a uuid",)]), schema)
        self.assertIn("column 'id' (extension<arrow.uuid>)", str(raised.exception))

    def test_a_driver_gets_json_as_text_on_postgresql_and_uuids_as_hex_elsewhere(self):
        table = sa.Table("t", sa.MetaData(), sa.Column("doc", sa.JSON), sa.Column("id", sa.CHAR(32)))
        value = uuid.uuid4()
        rows = [({"a": 1}, value), ('{"b": 2}', None)]
        self.assertEqual(
            driver_rows(["doc", "id"], rows, table, "postgresql"), [('{"a": 1}', value), ('{"b": 2}', None)]
        )
        self.assertEqual(driver_rows(["doc", "id"], rows, table, "sqlite"), [({"a": 1}, value.hex), ('{"b": 2}', None)])
        plain = [(None, "text")]
        self.assertIs(driver_rows(["doc", "id"], plain, table, "sqlite"), plain)


if __name__ == "__main__":
    unittest.main()
