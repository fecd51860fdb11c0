"""Typed values from raw data and back: one converter for configuration, DTOs and change logs."""

from pdip.conversion.coercion import (
    ConversionError,
    Problem,
    check,
    convert,
    expected,
    json_default,
    to_bool,
    to_plain,
)

__all__ = ["ConversionError", "Problem", "check", "convert", "expected", "json_default", "to_bool", "to_plain"]
