"""Typed values from raw data and back: one converter for configuration, DTOs and change logs."""

from pdip.conversion.coercion import (
    Problem,
    check,
    convert,
    expected,
    json_bytes,
    json_default,
    to_bool,
    to_plain,
)
from pdip.conversion.errors import ConversionError

__all__ = [
    "ConversionError",
    "Problem",
    "check",
    "convert",
    "expected",
    "json_bytes",
    "json_default",
    "to_bool",
    "to_plain",
]
