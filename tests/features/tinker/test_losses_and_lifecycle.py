"""The RL losses by their formulas, separate sessions, deletes that remove files, owners, gaps, restarts."""

from __future__ import annotations

import contextlib
import json
import math
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from src.features.tinker.worker import GAP_WAIT, _settle
from src.storage import Store
from src.storage.tables import TinkerCheckpoint, TinkerFuture, TinkerModel, TinkerSession, TinkerWorker
from src.storage.types import utcnow
from tests.features.tinker.test_training import ALICE, BASE, BOB, _datum, sdk, server  # noqa: F401 (fixtures)
from tests.support.server import free_port, server_env, start_server, wait_until_healthy

ADMIN = "tml-admin-0123456789abcdef"


def test_rl_losses_follow_their_formulas(server: str, sdk) -> None:  # noqa: F811
    from tinker import types

    training = sdk(ALICE).create_lora_training_client(base_model=BASE, rank=4, seed=0).result()
    tokenizer = training.get_tokenizer()
    datum, length = _datum(tokenizer, "the quick brown fox jumps over the lazy dog.")
    logprobs = (
        training.forward([datum], "cross_entropy").result(timeout=120).loss_fn_outputs[0]["logprobs"].tolist()
    )
    advantages = [(-1.0) ** i * (0.5 + i / length) for i in range(length)]
    shift = 0.1  # the sampler's logprobs 0.1 below the model's: every ratio is e^0.1 (inside PPO's clip)
    rl = types.Datum(
        model_input=datum.model_input,
        loss_fn_inputs={
            "target_tokens": datum.loss_fn_inputs["target_tokens"],
            "logprobs": [value - shift for value in logprobs],
            "advantages": advantages,
        },
    )
    ratio = math.exp(shift)
    expected = {
        "importance_sampling": -sum(ratio * a for a in advantages),
        "ppo": -sum(ratio * a for a in advantages),
        "cispo": -sum(ratio * lp * a for lp, a in zip(logprobs, advantages, strict=True)),
        "dro": -sum(lp * a - 0.5 * 0.05 * shift**2 for lp, a in zip(logprobs, advantages, strict=True)),
    }
    for loss, value in expected.items():
        got = training.forward([rl], loss).result(timeout=120).metrics["loss:sum"]
        assert got == pytest.approx(value, rel=1e-3, abs=1e-3), loss
    # the loss settings travel: a PPO clip below the ratio, DRO's beta
    clipped = training.forward([rl], "ppo", {"clip_low_threshold": 0.5, "clip_high_threshold": 1.05})
    assert clipped.result(timeout=120).metrics["loss:sum"] == pytest.approx(
        -sum(min(ratio * a, 1.05 * a) for a in advantages), rel=1e-3
    )
    beta = training.forward([rl], "dro", {"beta": 1.0}).result(timeout=120).metrics["loss:sum"]
    assert beta == pytest.approx(expected["dro"] + length * 0.5 * (1.0 - 0.05) * shift**2, rel=1e-3)


def test_two_sessions_keep_separate_adapters(server: str, sdk) -> None:  # noqa: F811
    from tinker import types

    first = sdk(ALICE).create_lora_training_client(base_model=BASE, rank=4, seed=0).result()
    second = sdk(ALICE).create_lora_training_client(base_model=BASE, rank=4, seed=0).result()
    assert first.model_id.split(":")[0] != second.model_id.split(":")[0]  # two sessions
    datum, _length = _datum(first.get_tokenizer(), "the lazy dog sleeps. " * 3)
    before = second.forward([datum], "cross_entropy").result(timeout=120).metrics["loss:sum"]
    for _ in range(5):
        first.forward_backward([datum], "cross_entropy").result(timeout=120)
        first.optim_step(types.AdamParams(learning_rate=1e-2)).result(timeout=120)
    trained = first.forward([datum], "cross_entropy").result(timeout=120).metrics["loss:sum"]
    untouched = second.forward([datum], "cross_entropy").result(timeout=120).metrics["loss:sum"]
    assert trained < before and untouched == pytest.approx(before, rel=1e-5)


def test_a_deleted_checkpoint_leaves_no_files(server: str, sdk, database_url: str) -> None:  # noqa: F811
    import tinker

    client = sdk(ALICE)
    training = client.create_lora_training_client(base_model=BASE, rank=2).result()
    path = training.save_state("gone-soon").result(timeout=120).path
    store = Store(database_url, pool_size=1)
    try:
        with store.session_scope(read_only=True) as session:
            directory = Path(session.query(TinkerCheckpoint).filter_by(name="gone-soon").one().path)
        assert (directory / "adapter_model.safetensors").is_file()
        rest = tinker.RestClient(base_url=server, api_key=ALICE)
        with pytest.raises(tinker.NotFoundError):  # Bob's key: nothing removed
            tinker.RestClient(base_url=server, api_key=BOB).delete_checkpoint_from_tinker_path(path).result(
                timeout=60
            )
        assert directory.is_dir()
        rest.delete_checkpoint_from_tinker_path(path).result(timeout=60)
        deadline = time.monotonic() + 10
        while directory.exists():  # removed right after the delete commits (a task after the answer)
            assert time.monotonic() < deadline, "the checkpoint's files stayed"
            time.sleep(0.05)
        assert rest.list_checkpoints(training.model_id).result(timeout=60).checkpoints == []
    finally:
        store.dispose()


def test_an_admin_working_in_a_users_session_makes_that_users_model(
    tmp_path: Path, database_url: str, tiny_model: Path
) -> None:
    from tests.support.server import live_server

    keys = [{"key": ALICE, "owner": "alice", "role": "user"}, {"key": ADMIN, "owner": "ops", "role": "admin"}]
    with live_server(
        database_url,
        tmp_path,
        TUNING_API_KEYS=json.dumps(keys),
        TUNING_MODEL_CATALOG=json.dumps({BASE: str(tiny_model)}),
    ) as url:
        session_id = httpx.post(
            f"{url}/api/v1/create_session", json={"tags": []}, headers={"X-API-Key": ALICE}
        ).json()["session_id"]
        body = {"session_id": session_id, "model_seq_id": 0, "base_model": BASE, "lora_config": {"rank": 2}}
        made = httpx.post(f"{url}/api/v1/create_model", json=body, headers={"X-API-Key": ADMIN})
        assert made.status_code == 200, made.text
        model_id = made.json()["model_id"]
        run = httpx.get(f"{url}/api/v1/training_runs/{model_id}", headers={"X-API-Key": ALICE})
        assert run.status_code == 200 and run.json()["model_owner"] == "alice"  # hers, not the admin's
        httpx.post(f"{url}/api/v1/sessions/{session_id}/finish", json={}, headers={"X-API-Key": ALICE})


def test_a_seq_id_that_never_comes_is_stepped_over_after_the_wait(database_url: str) -> None:
    """The SDK used seq_id 2 for a request the API refused: seq_id 3 runs once it has waited GAP_WAIT."""
    store = Store(database_url, pool_size=1)
    store.upgrade()
    try:
        with store.session_scope() as session:
            session.add(TinkerSession(id="sess-0000000000000001", owner="alice"))
            session.add(TinkerWorker(id="tw-gap", base_model=BASE, status="ready"))
            session.flush()
            model = TinkerModel(
                id="sess-0000000000000001:train:0",
                session_id="sess-0000000000000001",
                owner="alice",
                base_model=BASE,
                lora_rank=2,
                worker_id="tw-gap",
                status="ready",
                last_seq=1,
            )
            session.add(model)
            session.flush()
            waiting = TinkerFuture(
                id="req-gap",
                owner="alice",
                model_id=model.id,
                worker_id="tw-gap",
                kind="optim_step",
                seq_id=3,
                payload=b"",
            )
            session.add(waiting)
            session.flush()
            _settle(session, [waiting], {model.id: model})
            assert model.last_seq == 1  # a fresh gap: the missing request may still arrive
            waiting.created_at = utcnow() - GAP_WAIT - timedelta(seconds=1)
            _settle(session, [waiting], {model.id: model})
            assert model.last_seq == 2 and waiting.status == "pending"  # seq_id 3 is next now
            duplicate = TinkerFuture(
                id="req-dup",
                owner="alice",
                model_id=model.id,
                worker_id="tw-gap",
                kind="optim_step",
                seq_id=2,
                payload=b"",
            )
            session.add(duplicate)
            session.flush()
            _settle(session, [duplicate], {model.id: model})
            assert (duplicate.status, duplicate.category) == ("failed", "user")  # at or below the last run
    finally:
        from tests.conftest import clear_tables

        clear_tables(store)
        store.dispose()


def test_futures_answer_after_an_api_restart(tmp_path: Path, database_url: str, tiny_model: Path) -> None:
    """A done request's result survives the API; one its stopped worker never ran fails as `server`."""
    import tinker

    port = free_port()
    env = server_env(
        database_url,
        port,
        TUNING_DATA_DIR=str(tmp_path / "data"),
        TUNING_API_KEYS=json.dumps([{"key": ALICE, "owner": "alice", "role": "user"}]),
        TUNING_MODEL_CATALOG=json.dumps({BASE: str(tiny_model)}),
    )
    store = Store(database_url, pool_size=1)
    servers: list[subprocess.Popen[str]] = []

    def start() -> str:
        servers.append(start_server(env, tmp_path))
        wait_until_healthy(servers[-1], port, timeout=60)
        return f"http://127.0.0.1:{port}"

    try:
        url = start()
        client = tinker.ServiceClient(base_url=url, api_key=ALICE)
        training = client.create_lora_training_client(base_model=BASE, rank=2).result()
        datum, _length = _datum(training.get_tokenizer(), "the quick brown fox")
        loss = training.forward([datum], "cross_entropy").result(timeout=120).metrics["loss:sum"]
        client.close("success").result(timeout=30)
        with store.session_scope(read_only=True) as session:
            done = session.query(TinkerFuture).filter_by(kind="forward_backward").one()
            worker_id = done.worker_id
        servers[-1].terminate()
        servers[-1].wait(timeout=60)
        with store.session_scope() as session:  # a request the stopped worker never took
            session.add(
                TinkerFuture(
                    id="req-orphan", owner="alice", worker_id=worker_id, kind="sample", payload=b"{}"
                )
            )
        url = start()
        headers = {"X-API-Key": ALICE}
        answer = httpx.post(f"{url}/api/v1/retrieve_future", json={"request_id": done.id}, headers=headers)
        assert answer.headers["content-type"].startswith("application/x-protobuf")
        from tinker.proto import tinker_public_pb2 as pb

        output = pb.ForwardBackwardOutput()
        output.ParseFromString(answer.content)
        assert output.metrics["loss:sum"] == pytest.approx(loss)
        orphan = httpx.post(
            f"{url}/api/v1/retrieve_future", json={"request_id": "req-orphan"}, headers=headers, timeout=60
        )
        assert orphan.json()["category"] == "server"  # at once, not try_again for ever
    finally:
        for process in servers:
            if process.poll() is None:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=30)
        from tests.conftest import clear_tables

        clear_tables(store)
        store.dispose()


def test_one_owner_cannot_fill_the_shared_queue(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from src.features.tinker import service
    from src.models.errors import RateLimited

    monkeypatch.setattr(service, "MAX_WAITING_PER_OWNER", 3)
    store = Store(database_url, pool_size=1)
    store.upgrade()
    try:
        with store.session_scope() as session:
            for index in range(3):
                session.add(TinkerFuture(id=f"req-wait-{index}", owner="alice", kind="sample", payload=b""))
            session.add(TinkerFuture(id="req-done", owner="bob", kind="sample", payload=b"", status="done"))
            session.flush()
            with pytest.raises(RateLimited, match="3 requests of yours are waiting"):
                service.check_backlog(session, owner="alice")
            service.check_backlog(session, owner="bob")  # another owner's queue is its own
    finally:
        from tests.conftest import clear_tables

        clear_tables(store)
        store.dispose()


def test_a_worker_serves_owners_in_turn() -> None:
    """Alice's deep queue delays Bob's next request by one of hers, not by all of them."""
    from types import SimpleNamespace

    from src.features.tinker.worker import Worker

    worker = Worker(None, None, worker_id="tw-fair", base_model=BASE, idle_seconds=60)  # type: ignore[arg-type]
    queue = [SimpleNamespace(id=f"a{i}", owner="alice") for i in range(5)] + [
        SimpleNamespace(id="b0", owner="bob")
    ]
    order = []
    while queue:
        chosen = worker._next_fair(queue)
        order.append(chosen.id)
        queue.remove(chosen)
    assert order == ["a0", "b0", "a1", "a2", "a3", "a4"]
