import dataclasses
import unittest
from typing import Any, Literal

from pdip.configuration import BaseConfig, Configuration, ConfigurationError
from pdip.conversion import ConversionError, convert


@dataclasses.dataclass
class Pool:
    size: int = 5
    timeout: float = 1.0


class ShapesConfig(BaseConfig):
    anything: Any = None
    level: Literal["low", "high"] = "low"
    pool: Pool = dataclasses.field(default_factory=Pool)
    sizes: tuple[int, ...] = ()
    names: frozenset[str] = frozenset()
    plain: dict = dataclasses.field(default_factory=dict)
    computed: int = dataclasses.field(default=0, init=False)


class ValidatedConfig(BaseConfig):
    low: int = 0
    high: int = 10

    def __post_init__(self):
        if self.low > self.high:
            raise ValueError(f"LOW ({self.low}) must not exceed HIGH ({self.high})")


def lenient(value, hint):
    return convert(value, hint, lenient=True)


def section(cls, data):
    return Configuration({cls.section_name(): data}, environ={}).section(cls)


class CoerceTest(unittest.TestCase):
    def test_shapes_beyond_scalars(self):
        built = section(
            ShapesConfig,
            {
                "ANYTHING": {"x": [1]},
                "LEVEL": "high",
                "POOL": {"size": "9"},
                "SIZES": "[1, 2, 3]",
                "NAMES": "a,b",
                "PLAIN": {"k": "v"},
            },
        )
        self.assertEqual(built.anything, {"x": [1]})
        self.assertEqual(built.level, "high")
        self.assertEqual(built.pool, Pool(size=9, timeout=1.0))
        self.assertEqual(built.sizes, (1, 2, 3))
        self.assertEqual(built.names, frozenset({"a", "b"}))
        self.assertEqual(built.plain, {"k": "v"})
        self.assertEqual(built.computed, 0)

    def test_values_that_do_not_fit_their_shape(self):
        cases = [
            ({"LEVEL": "medium"}, "SHAPES.LEVEL: expected one of 'low', 'high', got 'medium'"),
            ({"POOL": "big"}, "SHAPES.POOL: expected Pool"),
            ({"POOL": {"size": "x"}}, "SHAPES.POOL.SIZE: expected int, got 'x'"),
            ({"POOL": {"depth": 1}}, "SHAPES.POOL.DEPTH: unknown field"),
            ({"SIZES": 5}, r"SHAPES.SIZES: expected tuple\[int, ...\]"),
            ({"PLAIN": 5}, "SHAPES.PLAIN: expected dict"),
        ]
        for data, message in cases:
            with self.subTest(data=data):
                with self.assertRaisesRegex(ConfigurationError, message):
                    section(ShapesConfig, data)

    def test_a_check_in_post_init_becomes_a_configuration_error(self):
        with self.assertRaisesRegex(ConfigurationError, r"VALIDATED: LOW \(5\) must not exceed HIGH \(1\)"):
            section(ValidatedConfig, {"LOW": 5, "HIGH": 1})

    def test_coerce_refuses_what_does_not_convert(self):
        refused = [
            (True, str),
            ([1], int),
            ({"a": 1}, float),
            ("x", bytes),
            (3, list[int]),
            ("[1, 2]", tuple[int, str, int]),
            (2, bool),
            (None, int),
        ]
        for value, hint in refused:
            with self.subTest(value=value, hint=hint):
                with self.assertRaises(ConversionError):
                    lenient(value, hint)

    def test_coerce_converts_what_it_can(self):
        self.assertEqual(lenient("7", int | None), 7)
        self.assertIsNone(lenient("~", int | None))
        self.assertEqual(lenient(3.0, int), 3)
        self.assertEqual(lenient(["1", "2"], set[int]), {1, 2})
        self.assertEqual(lenient(("a", "1"), tuple[str, int]), ("a", 1))
        self.assertEqual(lenient(b"raw", bytes), b"raw")
        self.assertEqual(lenient("cmF3", bytes), b"raw")


class ConfigurationObjectTest(unittest.TestCase):
    def test_repr_names_the_files_and_environment(self):
        self.assertEqual(repr(Configuration({}, environment="test")), "Configuration(no files, environment='test')")

    def test_an_encrypted_application_secret_key_is_not_used_as_a_key(self):
        configuration = Configuration({"APPLICATION": {"SECRET_KEY": "enc:abc"}}, environ={})
        self.assertIsNone(configuration.secret_keys())
        self.assertEqual(Configuration({"APPLICATION": {"SECRET_KEY": "k1"}}, environ={}).secret_keys(), "k1")
        self.assertEqual(Configuration({}, environ={"APPLICATION_SECRET_KEY": "k2"}).secret_keys(), "k2")


if __name__ == "__main__":
    unittest.main()
