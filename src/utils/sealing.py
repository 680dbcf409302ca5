"""Seal short secrets for storage (AES-256-GCM, key stretched with HKDF), bound to what they belong to."""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEALED_PREFIX = "sealed:v1:"
_NONCE_BYTES = 12


class SealBroken(ValueError):
    """A sealed value does not open with this key or under this owner (another key, or altered)."""


class Sealer:
    """Seals and opens text; `context` (a run id, say) must match to open, so values cannot be moved."""

    def __init__(self, secret: str, *, purpose: str) -> None:
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
            secret.encode()
        )
        self._aead = AESGCM(key)

    def seal(self, plain: str, *, context: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = nonce + self._aead.encrypt(nonce, plain.encode(), context.encode())
        return SEALED_PREFIX + base64.urlsafe_b64encode(sealed).decode()

    def open(self, value: str, *, context: str) -> str:
        """The plain text of a sealed value; a value that was never sealed comes back as it is."""
        if not value.startswith(SEALED_PREFIX):
            return value
        try:
            raw = base64.urlsafe_b64decode(value[len(SEALED_PREFIX) :])
            nonce, body = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            return self._aead.decrypt(nonce, body, context.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise SealBroken("the sealed value does not open with this key") from exc


def is_sealed(value: str) -> bool:
    return value.startswith(SEALED_PREFIX)
