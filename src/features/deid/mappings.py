"""Stored mappings (replacement → original), sealed with AES-256-GCM.

The key comes from TUNING_DEID_MAPPING_KEY, stretched with HKDF; without one, a
random key is generated once into the data directory (mode 0600). Each file is
bound to its job id (the GCM associated data), so a sealed mapping copied under
another job's name does not open.
"""

from __future__ import annotations

import json
import os
import secrets
import zlib
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from src.features.deid.engine import MappingEntry
from src.utils.files import write_file_atomic

_MAGIC = b"TDM1"
_NONCE_BYTES = 12


class MappingUnreadable(RuntimeError):
    """The sealed file does not open with this key (another key, or altered)."""


def load_or_create_key_file(path: Path) -> str:
    """The generated secret in `path`, made on first use."""
    if path.exists():
        return path.read_text().strip()
    secret = secrets.token_urlsafe(32)
    write_file_atomic(path, (secret + "\n").encode(), mode=0o600)
    return secret


class MappingVault:
    """Seals and opens the mapping files of dataset jobs."""

    def __init__(self, directory: Path, *, secret: str) -> None:
        self.directory = directory
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"tuning-deid-mapping").derive(
            secret.encode()
        )
        self._aead = AESGCM(key)

    def path(self, job_id: str) -> Path:
        return self.directory / f"{job_id}.mapping"

    def seal(self, job_id: str, mapping: dict[str, MappingEntry]) -> Path:
        rows = [[replacement, entry.type, entry.original] for replacement, entry in mapping.items()]
        plain = zlib.compress(json.dumps(rows, ensure_ascii=False).encode(), level=6)
        nonce = os.urandom(_NONCE_BYTES)
        sealed = _MAGIC + nonce + self._aead.encrypt(nonce, plain, job_id.encode())
        path = self.path(job_id)
        write_file_atomic(path, sealed, mode=0o600)
        return path

    def open(self, job_id: str) -> list[tuple[str, str, str]]:
        """(replacement, type, original) rows; FileNotFoundError when none was stored."""
        sealed = self.path(job_id).read_bytes()
        if not sealed.startswith(_MAGIC):
            raise MappingUnreadable(f"{self.path(job_id).name} is not a sealed mapping")
        nonce = sealed[len(_MAGIC) : len(_MAGIC) + _NONCE_BYTES]
        try:
            plain = self._aead.decrypt(nonce, sealed[len(_MAGIC) + _NONCE_BYTES :], job_id.encode())
        except InvalidTag as exc:
            raise MappingUnreadable("the mapping does not open with this key") from exc
        return [tuple(row) for row in json.loads(zlib.decompress(plain))]

    def remove(self, job_id: str) -> None:
        self.path(job_id).unlink(missing_ok=True)
