"""Encryption of secrets with Fernet keys; needs the extra: pip install 'pdip[cryptography]'."""

from pdip.cryptography.crypto_service import CryptoService
from pdip.cryptography.errors import (
    CryptographyError,
    CryptographyNotInstalledError,
    DecryptionError,
    SecretKeyError,
)

__all__ = [
    "CryptoService",
    "CryptographyError",
    "CryptographyNotInstalledError",
    "DecryptionError",
    "SecretKeyError",
]
