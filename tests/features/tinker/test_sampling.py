"""Sampling and saved weights through the unmodified tinker SDK: snapshots, named saves, save_state."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from tests.features.tinker.test_training import ALICE, BASE, BOB, sdk, server  # noqa: F401 (fixtures)


def _train(training, tokenizer, steps: int) -> None:
    from tinker import types

    tokens = tokenizer.encode("the quick brown fox jumps over the lazy dog. " * 2)
    datum = types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": tokens[1:], "weights": [1.0] * (len(tokens) - 1)},
    )
    for _ in range(steps):
        training.forward_backward([datum], "cross_entropy").result(timeout=120)
        training.optim_step(types.AdamParams(learning_rate=5e-3)).result(timeout=120)


def test_a_snapshot_samples_scores_and_saves_by_name(server: str, sdk) -> None:  # noqa: F811
    from tinker import types

    client = sdk(ALICE)
    training = client.create_lora_training_client(
        base_model=BASE, rank=8, seed=0, user_metadata={"renderer_name": "role_colon"}
    ).result()
    tokenizer = training.get_tokenizer()
    _train(training, tokenizer, steps=5)

    sampler = training.save_weights_and_get_sampling_client().result()
    prompt = types.ModelInput.from_ints(tokenizer.encode("the quick"))
    greedy = types.SamplingParams(max_tokens=8, temperature=0.0)
    answer = sampler.sample(prompt=prompt, num_samples=2, sampling_params=greedy).result(timeout=120)
    assert len(answer.sequences) == 2
    first, second = answer.sequences
    assert 1 <= len(first.tokens) <= 8 and first.tokens == second.tokens  # greedy: the same twice
    assert len(first.logprobs) == len(first.tokens) and all(value <= 0 for value in first.logprobs)
    assert first.stop_reason in ("stop", "length")

    scored = sampler.compute_logprobs(prompt).result(timeout=120)
    assert len(scored) == prompt.length and scored[0] is None
    assert all(value is not None and math.isfinite(value) and value <= 0 for value in scored[1:])

    # a named save is a tinker:// path another sampler can open, with the same weights
    saved = training.save_weights_for_sampler(name="step-5").result(timeout=120)
    assert saved.path == f"tinker://{training.model_id}/sampler_weights/step-5"
    reopened = client.create_sampling_client(model_path=saved.path).result()
    again = reopened.sample(prompt=prompt, num_samples=1, sampling_params=greedy).result(timeout=120)
    assert again.sequences[0].tokens == first.tokens

    state = training.save_state("state-5").result(timeout=120)
    assert state.path == f"tinker://{training.model_id}/weights/state-5"
    with pytest.raises(Exception, match="exists already"):
        training.save_weights_for_sampler(name="step-5").result(timeout=120)

    # the REST client lists the run and its checkpoints, and deletes one
    rest = client.create_rest_client()
    runs = rest.list_training_runs().result(timeout=60)
    (run,) = [r for r in runs.training_runs if r.training_run_id == training.model_id]
    assert run.base_model == BASE and run.lora_rank == 8 and run.model_owner == "alice"
    # create_model's metadata, where tinker-cookbook keeps the renderer it checks when it resumes
    assert run.user_metadata == {"renderer_name": "role_colon"}
    assert run.last_checkpoint.tinker_path == state.path
    assert run.last_sampler_checkpoint.tinker_path == saved.path
    listed = rest.list_checkpoints(training.model_id).result(timeout=60).checkpoints
    assert {c.checkpoint_id for c in listed} >= {"sampler_weights/step-5", "weights/state-5"}
    assert rest.get_weights_info_by_tinker_path(state.path).result(timeout=60).base_model == BASE
    rest.delete_checkpoint(training.model_id, "weights/state-5").result(timeout=60)
    left = rest.list_checkpoints(training.model_id).result(timeout=60).checkpoints
    assert "weights/state-5" not in {c.checkpoint_id for c in left}

    # Bob can neither open Alice's weights nor see her runs
    bob = sdk(BOB)
    with pytest.raises(Exception, match="not found"):
        bob.create_sampling_client(model_path=saved.path).result()
    bob_rest = bob.create_rest_client()
    assert bob_rest.list_training_runs().result(timeout=60).training_runs == []
    with pytest.raises(Exception, match=r"404|not found"):
        bob_rest.list_checkpoints(training.model_id).result(timeout=60)


def test_a_base_model_sampler_and_seeded_sampling(server: str, sdk) -> None:  # noqa: F811
    import tinker
    from tinker import types

    client = sdk(ALICE)
    sampler = client.create_sampling_client(base_model=BASE).result()
    prompt = types.ModelInput.from_ints([5, 6, 7])
    seeded = types.SamplingParams(max_tokens=6, temperature=1.0, seed=7)
    one = sampler.sample(prompt=prompt, num_samples=1, sampling_params=seeded).result(timeout=120)
    two = sampler.sample(prompt=prompt, num_samples=1, sampling_params=seeded).result(timeout=120)
    assert one.sequences[0].tokens == two.sequences[0].tokens  # the same seed, the same draw
    with pytest.raises(tinker.RequestFailedError, match="vocabulary"):
        sampler.sample(
            prompt=types.ModelInput.from_ints([10**6]), num_samples=1, sampling_params=seeded
        ).result(timeout=120)


def test_saved_state_loads_back_and_starts_a_new_model(server: str, sdk) -> None:  # noqa: F811
    from tinker import types

    client = sdk(ALICE)
    training = client.create_lora_training_client(base_model=BASE, rank=8, seed=0).result()
    tokenizer = training.get_tokenizer()
    tokens = tokenizer.encode("the quick brown fox jumps over the lazy dog. " * 2)
    datum = types.Datum(
        model_input=types.ModelInput.from_ints(tokens[:-1]),
        loss_fn_inputs={"target_tokens": tokens[1:], "weights": [1.0] * (len(tokens) - 1)},
    )

    def loss(model) -> float:
        return model.forward([datum], "cross_entropy").result(timeout=120).metrics["loss:sum"]

    _train(training, tokenizer, steps=5)
    saved_loss = loss(training)
    state = training.save_state("after-5").result(timeout=120)
    _train(training, tokenizer, steps=5)
    assert loss(training) != pytest.approx(saved_loss)

    training.load_state(state.path).result(timeout=120)
    assert loss(training) == pytest.approx(saved_loss, rel=1e-5)

    resumed = client.create_training_client_from_state_with_optimizer(
        state.path, user_metadata={"renderer_name": "role_colon"}
    ).result()
    assert resumed.model_id != training.model_id
    run = client.create_rest_client().get_training_run(resumed.model_id).result(timeout=60)
    assert run.user_metadata == {"renderer_name": "role_colon"}
    assert loss(resumed) == pytest.approx(saved_loss, rel=1e-5)
    _train(resumed, tokenizer, steps=1)  # its optimizer state came along: it trains on
    assert loss(resumed) < saved_loss

    with pytest.raises(Exception, match="not found"):
        sdk(BOB).create_training_client_from_state(state.path).result()


def test_stops_and_logprobs_follow_the_model_not_the_sampling_settings(
    server: str,  # noqa: F811
    sdk,  # noqa: F811
    tiny_model: Path,
) -> None:
    from tinker import types

    client = sdk(ALICE)
    sampler = client.create_sampling_client(base_model=BASE).result()
    prompt = types.ModelInput.from_ints([5, 6, 7])
    greedy = sampler.sample(
        prompt=prompt, num_samples=1, sampling_params=types.SamplingParams(max_tokens=8, temperature=0.0)
    ).result(timeout=120)
    tokens, logprobs = greedy.sequences[0].tokens, greedy.sequences[0].logprobs
    # top_k=1 draws the greedy tokens; their log-probabilities are still the model's, not 0
    top1 = sampler.sample(
        prompt=prompt, num_samples=1, sampling_params=types.SamplingParams(max_tokens=8, top_k=1, seed=3)
    ).result(timeout=120)
    assert top1.sequences[0].tokens == tokens
    assert top1.sequences[0].logprobs == pytest.approx(logprobs, abs=1e-4) and min(logprobs) < -1e-3
    stop_at = tokens[2]
    stopped = sampler.sample(
        prompt=prompt,
        num_samples=1,
        sampling_params=types.SamplingParams(max_tokens=8, temperature=0.0, stop=[stop_at]),
    ).result(timeout=120)
    first_stop = tokens.index(stop_at)
    assert stopped.sequences[0].tokens == tokens[: first_stop + 1]
    assert stopped.sequences[0].stop_reason == "stop"

    # a text stop (tinker-cookbook's renderers send "\n\nUser:") ends each sequence at the
    # first token whose decoded text holds it
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    stop_text = tokenizer.decode(tokens[2:3])
    end = next(i for i in range(len(tokens)) if stop_text in tokenizer.decode(tokens[: i + 1]))
    by_text = sampler.sample(
        prompt=prompt,
        num_samples=2,
        sampling_params=types.SamplingParams(max_tokens=8, temperature=0.0, stop=[stop_text]),
    ).result(timeout=120)
    for sequence in by_text.sequences:
        assert sequence.tokens == tokens[: end + 1] and sequence.stop_reason == "stop"


def test_the_base_model_samples_after_every_adapter_is_gone(server: str, sdk) -> None:  # noqa: F811
    """A released last adapter must not break sampling from the base model for the next user."""
    import httpx
    from tinker import types

    first = sdk(ALICE)
    model_id = first.create_lora_training_client(base_model=BASE, rank=4).result().model_id
    first.close("success").result(timeout=60)
    for _ in range(600):  # the worker lets the adapter go within its next upkeep (once a second)
        answer = httpx.post(
            f"{server}/api/v1/optim_step",
            json={"model_id": model_id, "seq_id": 50},
            headers={"X-API-Key": ALICE},
        )
        if answer.status_code == 400:
            break
        time.sleep(0.05)
    assert answer.status_code == 400  # released: the worker holds no adapter now
    second = sdk(BOB)
    sampler = second.create_sampling_client(base_model=BASE).result()
    answer = sampler.sample(
        prompt=types.ModelInput.from_ints([5, 6, 7]),
        num_samples=1,
        sampling_params=types.SamplingParams(max_tokens=4, temperature=0.0),
    ).result(timeout=120)
    assert 1 <= len(answer.sequences[0].tokens) <= 4
