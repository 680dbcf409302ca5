"""The unmodified tinker SDK trains LoRA models on this service: a worker process per base model.

A live server with the tiny test model in its catalog; the SDK's own client does
everything (config, session, create_model, get_info, protobuf forward_backward,
optim_step, retrieve_future long polls). The worker runs on the CPU.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import live_server

ALICE = "tml-alice-0123456789abcdef"
BOB = "tml-bob-0123456789abcdef0"
BASE = "tuning/tiny-test"


@pytest.fixture
def server(
    tmp_path: Path, database_url: str, tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("TINKER_TELEMETRY", "0")
    keys = json.dumps(
        [{"key": ALICE, "owner": "alice", "role": "user"}, {"key": BOB, "owner": "bob", "role": "user"}]
    )
    catalog = json.dumps({BASE: str(tiny_model)})
    with live_server(database_url, tmp_path, TUNING_API_KEYS=keys, TUNING_MODEL_CATALOG=catalog) as url:
        yield url


@pytest.fixture
def sdk(server: str) -> Iterator[Callable[[str], Any]]:
    """`sdk(key)`: a tinker ServiceClient, closed (its heartbeats stopped) before the server stops."""
    import tinker

    made: list[Any] = []

    def make(key: str) -> Any:
        made.append(tinker.ServiceClient(base_url=server, api_key=key))
        return made[-1]

    yield make
    for client in made:
        with contextlib.suppress(Exception):  # one the test closed already
            client.close("success").result(timeout=30)


def _datum(tokenizer, text: str):
    from tinker import types

    tokens = tokenizer.encode(text)
    return types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": tokens[1:], "weights": [1.0] * (len(tokens) - 1)},
    ), len(tokens) - 1


def test_loss_falls_and_two_models_keep_separate_adapters(server: str, sdk) -> None:
    from tinker import types

    client = sdk(ALICE)
    training = client.create_lora_training_client(base_model=BASE, rank=8, seed=0).result()
    tokenizer = training.get_tokenizer()  # get_info's tokenizer_id: a path that loads offline
    datum, length = _datum(tokenizer, "the quick brown fox jumps over the lazy dog. " * 2)

    losses = []
    for _ in range(20):
        result = training.forward_backward([datum], "cross_entropy").result(timeout=120)
        training.optim_step(types.AdamParams(learning_rate=5e-3)).result(timeout=120)
        losses.append(result.metrics["loss:sum"])
    assert losses[-1] < 0.7 * losses[0], losses
    logprobs = result.loss_fn_outputs[0]["logprobs"]
    assert len(logprobs.tolist()) == length
    assert -sum(logprobs.tolist()) == pytest.approx(losses[-1], rel=1e-4)  # the loss is the sum

    # forward only: no gradient, so the next step's loss is what this one says
    seen = training.forward([datum], "cross_entropy").result(timeout=120).metrics["loss:sum"]
    again = training.forward([datum], "cross_entropy").result(timeout=120).metrics["loss:sum"]
    assert seen == pytest.approx(again) and seen < losses[0]

    # a second model starts from the base (LoRA B is zero), untouched by the first one's training
    other = client.create_lora_training_client(base_model=BASE, rank=4, seed=1).result()
    fresh = other.forward([datum], "cross_entropy").result(timeout=120).metrics["loss:sum"]
    assert fresh == pytest.approx(losses[0], rel=1e-4)

    # Bob sees none of it
    model_id = training.model_id
    answer = httpx.post(f"{server}/api/v1/get_info", json={"model_id": model_id}, headers={"X-API-Key": BOB})
    assert answer.status_code == 404
    mine = httpx.post(f"{server}/api/v1/get_info", json={"model_id": model_id}, headers={"X-API-Key": ALICE})
    assert mine.status_code == 200 and mine.json()["model_data"]["model_name"] == BASE


def test_bad_requests_fail_with_category_user(server: str, sdk) -> None:
    import tinker
    from tinker import types

    client = sdk(ALICE)
    with pytest.raises(Exception, match="not on this server"):
        client.create_lora_training_client(base_model="no/such-model", rank=4).result()
    training = client.create_lora_training_client(base_model=BASE, rank=4).result()
    out_of_vocab = types.Datum(
        model_input=types.ModelInput.from_ints([1, 2, 10**6]),
        loss_fn_inputs={"target_tokens": [2, 3, 4], "weights": [1.0, 1.0, 1.0]},
    )
    with pytest.raises(tinker.RequestFailedError) as failed:
        training.forward_backward([out_of_vocab], "cross_entropy").result(timeout=120)
    assert "vocabulary" in str(failed.value)
    # the model goes on after a refused request
    ok = types.Datum(
        model_input=types.ModelInput.from_ints([1, 2, 3]),
        loss_fn_inputs={"target_tokens": [2, 3, 4], "weights": [1.0, 1.0, 1.0]},
    )
    assert training.forward_backward([ok], "cross_entropy").result(timeout=120).metrics["loss:sum"] > 0


def test_a_dead_worker_fails_its_requests_and_a_new_one_takes_over(
    server: str, sdk, database_url: str
) -> None:
    """Never a hang: requests of a worker that died answer with category `server`."""
    import os
    import signal

    import tinker
    from sqlalchemy import select
    from tinker import types

    from src.storage import Store
    from src.storage.tables import TinkerWorker

    client = sdk(ALICE)
    training = client.create_lora_training_client(base_model=BASE, rank=4).result()
    store = Store(database_url, pool_size=1)
    try:
        with store.session_scope(read_only=True) as session:
            (pid,) = session.scalars(select(TinkerWorker.pid).where(TinkerWorker.status == "ready")).all()
    finally:
        store.dispose()
    os.kill(pid, signal.SIGKILL)
    datum = types.Datum(
        model_input=types.ModelInput.from_ints([1, 2, 3]),
        loss_fn_inputs={"target_tokens": [2, 3, 4], "weights": [1.0, 1.0, 1.0]},
    )
    with pytest.raises(tinker.RequestFailedError) as failed:
        training.forward_backward([datum], "cross_entropy").result(timeout=120)
    assert "worker" in str(failed.value)
    again = client.create_lora_training_client(base_model=BASE, rank=4).result()
    assert again.forward_backward([datum], "cross_entropy").result(timeout=120).metrics["loss:sum"] > 0


def test_a_finished_session_lets_its_models_go(server: str, sdk) -> None:

    client = sdk(ALICE)
    model_id = client.create_lora_training_client(base_model=BASE, rank=4).result().model_id
    client.close("success").result(timeout=60)
    step = {"model_id": model_id, "seq_id": 99}
    for _ in range(600):  # the worker lets the model go within its next upkeep (once a second)
        answer = httpx.post(f"{server}/api/v1/optim_step", json=step, headers={"X-API-Key": ALICE})
        if answer.status_code != 200:
            break
        time.sleep(0.05)
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "model_unavailable"
