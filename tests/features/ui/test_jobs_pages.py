"""The tuning jobs page: OpenAI-style fine-tuning jobs, and Tinker sessions with their loss."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import ModelSettings
from src.storage.tables import TinkerFuture, TinkerModel, TinkerSession
from src.storage.types import utcnow
from tests.conftest import ALICE_KEY, BOB_KEY, bearer
from tests.features.ui.conftest import log_in
from tests.support.data import OPENAI, jsonl

ALICE, BOB = bearer(ALICE_KEY), bearer(BOB_KEY)
MODEL = "tiny/fake"


@pytest.fixture
def jobs_client(app_factory, tmp_path: Path) -> TestClient:
    """The scheduler is off (the test settings), so a job stays queued: no trainer is needed."""
    model_dir = tmp_path / "fake-model"
    model_dir.mkdir()
    (model_dir / "config.json").write_text("{}")
    return app_factory(models=ModelSettings(model_catalog={MODEL: model_dir}))


def create_job(client: TestClient, headers: dict, suffix: str) -> dict:
    dataset_id = client.post("/v1/datasets", json={"name": f"chat-{suffix}"}, headers=headers).json()["id"]
    upload = client.put(
        f"/v1/datasets/{dataset_id}/files",
        files={"file": ("chat.jsonl", jsonl(OPENAI, OPENAI))},
        headers=headers,
    )
    assert upload.status_code == 201, upload.text
    response = client.post(
        "/v1/fine_tuning/jobs",
        json={"model": MODEL, "training_file": dataset_id, "suffix": suffix},
        headers=headers,
    )
    assert response.status_code == 200, response.text
    return client.get(f"/v1/tunings.get/{response.json()['id']}", headers=headers).json()


def forward_backward_result(loss: float) -> bytes:
    from tinker.proto import tinker_public_pb2 as pb

    return pb.ForwardBackwardOutput(metrics={"loss:sum": loss}).SerializeToString()


def add_tinker_session(client: TestClient, *, owner: str, session_id: str, losses: list[float]) -> str:
    """A session with one model and its finished requests, as the workers leave them in the store."""
    model_id = f"{session_id}:train:0"
    with client.app.state.store.session_scope() as session:
        session.add(TinkerSession(id=session_id, owner=owner, display_name=f"{owner}'s session"))
        session.flush()
        session.add(
            TinkerModel(
                id=model_id,
                session_id=session_id,
                owner=owner,
                base_model="tuning/tiny-demo",
                lora_rank=8,
                status="ready",
                last_seq=2 * len(losses),
            )
        )
        session.flush()
        futures = [("create_model", 0, b'{"type": "create_model"}', "json")]
        for index, loss in enumerate(losses):
            seq = 2 * index + 1
            if index % 2:  # the plain /v1/runs API stores its answer as JSON
                result, fmt = json.dumps({"loss": loss, "type": "forward_backward"}).encode(), "json"
                kind = "forward_backward_text"
            else:  # the tinker SDK's, as protobuf
                result, fmt, kind = forward_backward_result(loss), "proto", "forward_backward"
            futures += [(kind, seq, result, fmt), ("optim_step", seq + 1, b'{"type": "optim_step"}', "json")]
        for kind, seq, result, fmt in futures:
            session.add(
                TinkerFuture(
                    id=f"{session_id[-8:]}-{seq}",
                    owner=owner,
                    model_id=model_id,
                    kind=kind,
                    seq_id=seq,
                    payload=b"",
                    status="done",
                    result=result,
                    result_format=fmt,
                    finished_at=utcnow(),
                )
            )
        # a request still running has no loss yet
        session.add(
            TinkerFuture(
                id=f"{session_id[-8:]}-run",
                owner=owner,
                model_id=model_id,
                kind="forward_backward",
                seq_id=2 * len(losses) + 1,
                payload=b"x",
                status="running",
            )
        )
    return model_id


def test_the_page_lists_the_callers_fine_tuning_jobs_with_their_run(jobs_client: TestClient) -> None:
    client = jobs_client
    alices = create_job(client, ALICE, "alice")
    bobs = create_job(client, BOB, "bob")
    log_in(client, ALICE_KEY)
    page = client.get("/ui/jobs")
    assert page.status_code == 200
    assert 'data-testid="jobs-table"' in page.text and 'data-testid="tinker-sessions"' in page.text
    row = re.search(rf'data-job-id="{alices["id"]}".*?</tr>', page.text, re.S)
    assert row, page.text
    assert 'data-status="pending"' in row.group(0) and MODEL in row.group(0)
    assert f'href="/ui/runs/{alices["run_id"]}"' in row.group(0)
    assert bobs["id"] not in page.text and bobs["run_id"] not in page.text
    # a queued job keeps its rows polled; the fragment is the table's body alone
    assert 'hx-get="/ui/jobs/rows"' in page.text
    rows = client.get("/ui/jobs/rows", headers={"HX-Request": "true"})
    assert rows.status_code == 200 and rows.text.lstrip().startswith("<tbody") and alices["id"] in rows.text
    assert bobs["id"] not in rows.text


def test_tinker_sessions_show_their_models_and_loss(client: TestClient) -> None:
    model_id = add_tinker_session(
        client, owner="alice", session_id="sess-00000000000a11ce", losses=[3.5, 2.25, 1.5]
    )
    bobs = add_tinker_session(client, owner="bob", session_id="sess-0000000000000b0b", losses=[9.0])
    log_in(client, ALICE_KEY)
    page = client.get("/ui/jobs")
    assert page.status_code == 200
    assert 'data-session-id="sess-00000000000a11ce"' in page.text and "alice&#39;s session" in page.text
    assert f'data-model-id="{model_id}"' in page.text
    url = "/ui/jobs/tinker/sess-00000000000a11ce%3Atrain%3A0/loss.json"
    assert f'data-metrics-urls="{url}"' in page.text
    assert "sess-0000000000000b0b" not in page.text

    body = client.get(url).json()
    assert [(p["step"], p["loss"]) for p in body["points"]] == [(1, 3.5), (3, 2.25), (5, 1.5)]
    assert body["finished"] is False  # the session is active
    later = client.get(url, params={"from_step": 3}).json()
    assert [p["step"] for p in later["points"]] == [3, 5]

    assert client.get(f"/ui/jobs/tinker/{bobs}/loss.json").status_code == 404

    with client.app.state.store.session_scope() as session:
        row = session.get(TinkerSession, "sess-00000000000a11ce")
        assert row is not None
        row.status = "finished"
    assert client.get(url).json()["finished"] is True
    assert 'data-testid="tinker-session-status">finished' in client.get("/ui/jobs").text


def test_the_jobs_page_needs_a_login(client: TestClient) -> None:
    response = client.get("/ui/jobs", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].startswith("/ui/login")
    json_response = client.get("/ui/jobs/tinker/sess-1:train:0/loss.json", follow_redirects=False)
    assert json_response.status_code == 303
