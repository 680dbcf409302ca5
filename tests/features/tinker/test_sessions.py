"""The Tinker-compatible API's first calls: config, capabilities, and sessions with their heartbeat.

The official `tinker` SDK (pinned in requirements.txt) is driven against a live server
for what it can already do here; the session routes are called with the bodies the SDK
sends (its own request models build them).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from tinker import types as tinker_types

from src.storage.tables import TinkerSession
from src.storage.types import utcnow
from tests.conftest import ALICE_KEY, BOB_KEY, bearer
from tests.support.server import live_server

ALICE = {"X-API-Key": ALICE_KEY}
BOB = {"X-API-Key": BOB_KEY}


def _sdk_body(model: object) -> dict[str, object]:
    """A request body exactly as the SDK serialises it (None left out, defaults and `type` sent)."""
    return model.model_dump(exclude_none=True, mode="json")  # type: ignore[attr-defined]


def _open(client: TestClient, headers: dict[str, str] = ALICE) -> str:
    body = _sdk_body(
        tinker_types.CreateSessionRequest(tags=["nb"], user_metadata={"team": "a"}, sdk_version="0.38.0")
    )
    response = client.post("/api/v1/create_session", json=body, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["session_id"]


def _beat(client: TestClient, session_id: str, headers: dict[str, str] = ALICE):
    body = _sdk_body(tinker_types.SessionHeartbeatRequest(session_id=session_id))
    return client.post("/api/v1/session_heartbeat", json=body, headers=headers)


def test_a_session_opens_beats_and_finishes(client: TestClient) -> None:
    session_id = _open(client)
    assert _beat(client, session_id).status_code == 200
    finished = client.post(
        f"/api/v1/sessions/{session_id}/finish",
        json={"reason": {"type": "success"}, "detail": None},
        headers=ALICE,
    )
    assert finished.status_code == 200 and finished.json()["session_id"] == session_id
    gone = _beat(client, session_id)
    assert gone.status_code == 410  # the SDK stops its heartbeat loop on 410
    assert gone.json()["error"]["code"] == "session_ended"
    with client.app.state.store.session_scope(read_only=True) as session:
        row = session.get(TinkerSession, session_id)
        assert (row.owner, row.status, row.finish_reason, row.tags) == (
            "alice",
            "finished",
            "success",
            ["nb"],
        )


def test_a_silent_session_expires(client: TestClient) -> None:
    session_id = _open(client)
    with client.app.state.store.session_scope() as session:
        session.execute(
            update(TinkerSession)
            .where(TinkerSession.id == session_id)
            .values(last_heartbeat_at=utcnow() - timedelta(minutes=10))
        )
    assert _beat(client, session_id).status_code == 410


def test_another_owners_session_is_not_found(client: TestClient) -> None:
    session_id = _open(client)
    assert _beat(client, session_id, BOB).status_code == 404
    finish = client.post(
        f"/api/v1/sessions/{session_id}/finish", json={"reason": {"type": "success"}}, headers=BOB
    )
    assert finish.status_code == 404
    assert _beat(client, session_id).status_code == 200  # still Alice's, still alive


def test_the_key_travels_as_x_api_key_only_on_these_routes(client: TestClient) -> None:
    no_key = client.post("/api/v1/create_session", json={"tags": []})
    assert no_key.status_code == 401 and no_key.json()["error"]["type"] == "authentication_error"
    wrong = client.post("/api/v1/create_session", json={"tags": []}, headers={"X-API-Key": "tml-not-a-key"})
    assert wrong.status_code == 401
    assert (
        client.post("/api/v1/create_session", json={"tags": []}, headers=bearer(ALICE_KEY)).status_code == 200
    )
    # a bad key beside a good one is refused, whichever header carries which
    for headers in (
        {"X-API-Key": "garbage", **bearer(ALICE_KEY)},
        {"X-API-Key": ALICE_KEY, **bearer("garbage")},
    ):
        assert client.post("/api/v1/create_session", json={"tags": []}, headers=headers).status_code == 401
        assert client.get("/api/v1/get_server_capabilities", headers=headers).status_code == 401
    # elsewhere the header means nothing: the service's own routes take bearer keys
    assert client.get("/projects", headers=ALICE).status_code == 401
    assert client.post("/projects", json={"name": "p"}, headers=ALICE).status_code == 401


def test_bad_bodies_are_4xx_in_the_envelope(client: TestClient) -> None:
    huge_tags = client.post("/api/v1/create_session", json={"tags": ["t"] * 65}, headers=ALICE)
    assert huge_tags.status_code == 422 and "error" in huge_tags.json()
    bad_reason = client.post(
        f"/api/v1/sessions/{_open(client)}/finish", json={"reason": {"type": "rm -rf"}}, headers=ALICE
    )
    assert bad_reason.status_code == 422
    traversal = client.post(
        "/api/v1/sessions/..%2f..%2fetc/finish", json={"reason": {"type": "success"}}, headers=ALICE
    )
    assert traversal.status_code in (404, 422)


def test_the_official_sdk_connects_with_a_tml_key(
    tmp_path: Path, database_url: str, tiny_model: Path
) -> None:
    """The SDK with a `tml-` key: client/config, then the capabilities list our base models."""
    import tinker

    keys = json.dumps([{"key": "tml-alice-0123456789", "owner": "alice", "role": "user"}])
    catalog = json.dumps({"tuning/tiny-test": str(tiny_model)})
    with live_server(database_url, tmp_path, TUNING_API_KEYS=keys, TUNING_MODEL_CATALOG=catalog) as url:
        rest = tinker.RestClient(base_url=url, api_key="tml-alice-0123456789")
        capabilities = rest.get_server_capabilities().result(timeout=60)
    assert [m.model_name for m in capabilities.supported_models] == ["tuning/tiny-test"]
    with pytest.raises(Exception, match="tml-"):
        tinker.RestClient(base_url="http://127.0.0.1:9", api_key="not-a-tml-key")


def test_an_owner_holds_a_bounded_number_of_live_models(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the cap, create_model is a 409 before any worker is started; other owners are not counted."""
    from src.features.tinker import service
    from src.storage.tables import TinkerModel, TinkerWorker

    monkeypatch.setattr(service, "MAX_LIVE_MODELS_PER_OWNER", 1)
    session_id = _open(client)
    with client.app.state.store.session_scope() as session:
        session.add(
            TinkerModel(
                id=f"{session_id}:train:0",
                session_id=session_id,
                owner="alice",
                base_model="tuning/tiny-demo",
                lora_rank=2,
                status="ready",
            )
        )
    body = {
        "session_id": session_id,
        "model_seq_id": 1,
        "base_model": "tuning/tiny-demo",
        "lora_config": {"rank": 2},
    }
    refused = client.post("/api/v1/create_model", json=body, headers=ALICE)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "too_many_models"
    with client.app.state.store.session_scope(read_only=True) as session:
        assert session.query(TinkerWorker).count() == 0  # nothing was started for it
