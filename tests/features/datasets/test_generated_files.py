"""Files the service writes into a dataset itself (de-identified copies), through the datasets service."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from src.features.auth.service import Principal, Role
from src.features.datasets import service as datasets_service
from src.features.datasets.uploads import DatasetFiles
from src.models.datasets import DatasetCreate
from src.models.errors import NotFound
from src.storage import Store
from src.storage.tables import Dataset, DatasetFile
from tests.support.data import OPENAI, jsonl

ALICE = Principal(owner="alice", role=Role.user)


@dataclass
class Written:
    bytes: int
    sha256: str
    records: int


def write_content(content: bytes):
    def write(target: Path) -> Written:
        with target.open("xb") as handle:
            handle.write(content)
        return Written(len(content), hashlib.sha256(content).hexdigest(), 2)

    return write


@pytest.fixture
def files(client: TestClient) -> DatasetFiles:
    return client.app.state.dataset_files


def new_dataset(store: Store, name: str = "out") -> str:
    with store.session_scope() as session:
        return datasets_service.create(session, principal=ALICE, data=DatasetCreate(name=name)).id


def on_disk(files: DatasetFiles, dataset_id: str) -> list[str]:
    directory = files.dataset_dir(dataset_id)
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_a_generated_file_is_recorded_like_an_upload_and_validates(store: Store, files: DatasetFiles) -> None:
    dataset_id = new_dataset(store)
    content = jsonl(OPENAI, OPENAI)
    upload_id, written = datasets_service.add_generated_file(
        store, dataset_id=dataset_id, name="train.jsonl", files=files, write=write_content(content)
    )
    assert written.records == 2, "what the writer returned comes back"
    assert on_disk(files, dataset_id) == [f"{upload_id}_train.jsonl"], "no temp file is left beside it"
    with store.session_scope(read_only=True) as session:
        row = session.get(DatasetFile, upload_id)
        assert row is not None
        assert (row.name, row.bytes, row.status) == ("train.jsonl", len(content), "validating")
        assert row.sha256 == hashlib.sha256(content).hexdigest()
    datasets_service.validate_upload(store, upload_id=upload_id, files=files)
    with store.session_scope(read_only=True) as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None and dataset.status == "ready"
        assert dataset.files[0].status == "valid"


def test_a_writer_that_fails_leaves_no_file_and_no_record(store: Store, files: DatasetFiles) -> None:
    dataset_id = new_dataset(store)

    def fail(target: Path) -> Written:
        target.write_bytes(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        datasets_service.add_generated_file(
            store, dataset_id=dataset_id, name="train.jsonl", files=files, write=fail
        )
    assert on_disk(files, dataset_id) == []
    with store.session_scope(read_only=True) as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None and dataset.files == []


def test_a_dataset_deleted_while_its_file_was_written_gets_no_file(store: Store, files: DatasetFiles) -> None:
    dataset_id = new_dataset(store)
    content = jsonl(OPENAI)

    def write_then_lose_the_dataset(target: Path) -> Written:
        written = write_content(content)(target)
        with store.session_scope() as session:
            session.delete(session.get(Dataset, dataset_id))
        return written

    with pytest.raises(NotFound):
        datasets_service.add_generated_file(
            store, dataset_id=dataset_id, name="train.jsonl", files=files, write=write_then_lose_the_dataset
        )
    assert on_disk(files, dataset_id) == []


def test_clear_files_empties_a_dataset_and_keeps_it(store: Store, files: DatasetFiles) -> None:
    dataset_id = new_dataset(store)
    upload_id, _ = datasets_service.add_generated_file(
        store, dataset_id=dataset_id, name="a.jsonl", files=files, write=write_content(jsonl(OPENAI))
    )
    datasets_service.validate_upload(store, upload_id=upload_id, files=files)
    (files.dataset_dir(dataset_id) / ".upload-stale.tmp").write_bytes(b"left by a killed writer")
    with store.session_scope() as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None and dataset.status == "ready"
        datasets_service.clear_files(session, dataset=dataset, files=files)
    assert on_disk(files, dataset_id) == []
    with store.session_scope(read_only=True) as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None and dataset.files == [] and dataset.status == "pending"


def test_discard_removes_the_dataset_and_its_directory(store: Store, files: DatasetFiles) -> None:
    dataset_id = new_dataset(store)
    datasets_service.add_generated_file(
        store, dataset_id=dataset_id, name="a.jsonl", files=files, write=write_content(jsonl(OPENAI))
    )
    with store.session_scope() as session:
        datasets_service.discard(session, dataset_id=dataset_id, files=files)
        datasets_service.discard(session, dataset_id=dataset_id, files=files)  # gone already: no error
    assert not files.dataset_dir(dataset_id).exists()
    with store.session_scope(read_only=True) as session:
        assert session.get(Dataset, dataset_id) is None


def test_free_name_counts_up_past_the_owners_names_only(store: Store) -> None:
    for name in ("chats-deid", "chats-deid-2"):
        new_dataset(store, name)
    with store.session_scope() as session:
        datasets_service.create(
            session, principal=Principal(owner="bob", role=Role.user), data=DatasetCreate(name="chats-deid-3")
        )
        assert datasets_service.free_name(session, owner="alice", stem="chats-deid") == "chats-deid-3"
        assert datasets_service.free_name(session, owner="bob", stem="chats-deid") == "chats-deid"
        assert datasets_service.free_name(session, owner="alice", stem="chats_deid") == "chats_deid"
