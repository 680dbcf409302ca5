"""Sealed mappings: they open with their key and job id only."""

from __future__ import annotations

from pathlib import Path

import pytest

from src.features.deid.engine import MappingEntry
from src.features.deid.mappings import MappingUnreadable, MappingVault, load_or_create_key_file

MAPPING = {"<PHONE_1>": MappingEntry("PHONE", "13812345678"), "<PERSON_1>": MappingEntry("PERSON", "张三")}


def test_round_trip_and_no_plaintext_on_disk(tmp_path: Path) -> None:
    vault = MappingVault(tmp_path, secret="a secret of some length")
    path = vault.seal("job-1", MAPPING)
    assert b"13812345678" not in path.read_bytes() and "张三".encode() not in path.read_bytes()
    assert vault.open("job-1") == [("<PHONE_1>", "PHONE", "13812345678"), ("<PERSON_1>", "PERSON", "张三")]


def test_another_key_or_another_job_id_does_not_open_it(tmp_path: Path) -> None:
    MappingVault(tmp_path, secret="a secret of some length").seal("job-1", MAPPING)
    with pytest.raises(MappingUnreadable):
        MappingVault(tmp_path, secret="another secret entirely").open("job-1")
    (tmp_path / "job-1.mapping").rename(tmp_path / "job-2.mapping")
    with pytest.raises(MappingUnreadable):
        MappingVault(tmp_path, secret="a secret of some length").open("job-2")


def test_generated_key_is_made_once_and_private(tmp_path: Path) -> None:
    key_file = tmp_path / "deid-mapping.key"
    first = load_or_create_key_file(key_file)
    assert load_or_create_key_file(key_file) == first and len(first) >= 32
    assert key_file.stat().st_mode & 0o777 == 0o600
