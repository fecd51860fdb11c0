"""Policies for what may leave the process; for now, the built-in rules for secrets."""

from pdip.policy.secrets import (
    MASK,
    is_secret_name,
    mask_connection_string,
    mask_secrets,
)

__all__ = ["MASK", "is_secret_name", "mask_connection_string", "mask_secrets"]
