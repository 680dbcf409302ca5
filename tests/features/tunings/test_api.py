"""Tuning jobs end to end: a real LoRA run of the bundled trainer on a tiny model, and bad input."""

from __future__ import annotations

import os
import re
import time
import uuid

import pytest
from fastapi.testclient import TestClient

from app.config import RateLimitSettings
from tests.features.tunings.conftest import ALICE, TINY, chat_jsonl, wait_for_job

REDIS_URL = os.environ.get("TUNING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def upload_training_file(client: TestClient) -> str:
    dataset_id = client.post("/v1/datasets", json={"name": "chat"}, headers=ALICE).json()["id"]
    response = client.put(
        f"/v1/datasets/{dataset_id}/files", files={"file": ("chat.jsonl", chat_jsonl())}, headers=ALICE
    )
    assert response.json()["status"] == "valid"
    return dataset_id


def test_tuning_job_trains_the_tiny_model(tuning_client) -> None:
    client = tuning_client()
    training_file = upload_training_file(client)
    created = client.post(
        "/v1/tunings.create",
        json={
            "model": TINY,
            "training_file": training_file,
            "suffix": "demo",
            "hyperparameters": {"epochs": 3, "learning_rate": 0.005, "batch_size": 4, "rank": 8},
        },
        headers=ALICE,
    )
    assert created.status_code == 201, created.text
    job = created.json()
    assert re.fullmatch(r"job-[0-9a-f]{12}", job["id"]) and job["object"] == "tuning.job"
    assert re.fullmatch(rf"{re.escape(TINY)}-demo-\d{{8}}-\d{{6}}", job["fine_tuned_model"])
    assert job["status"] == "pending" and job["metrics"] is None

    done = wait_for_job(client, job["id"])
    assert done["status"] == "succeeded", done
    assert done["metrics"]["progress"] == 1.0
    assert {"adapter_model.safetensors", "adapter_config.json", "training_args.json"} <= set(
        done["result_files"]
    )
    assert done["duration"] > 0

    series = client.get(f"/v1/tunings.metrics/{job['id']}", headers=ALICE).json()["data"]
    losses = [p["loss"] for p in series if p["source"] == "trainer_log"]
    assert len(losses) >= 4 and losses[-1] < losses[0]

    models = client.get("/v1/models", headers=ALICE).json()["data"]
    assert {(m["id"], m["kind"]) for m in models} >= {
        (TINY, "base"),
        (done["fine_tuned_model"], "fine-tuned"),
    }

    listed = client.get("/v1/tunings.list?status=succeeded", headers=ALICE).json()
    assert [j["id"] for j in listed["data"]] == [job["id"]]
    refused = client.post(f"/v1/tunings.cancel/{job['id']}", headers=ALICE)
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "run_finished"
    deleted = client.delete(f"/v1/tunings.delete/{job['id']}", headers=ALICE)
    assert deleted.json() == {"id": job["id"], "object": "tuning.job", "deleted": True}
    assert client.get(f"/v1/tunings.get/{job['id']}", headers=ALICE).status_code == 404


def test_real_run_progress_and_one_metric_point_per_step(tuning_client) -> None:
    """The bundled trainer on the tiny model: 40 steps, watched while it runs."""
    client = tuning_client()
    training_file = upload_training_file(client)
    created = client.post(
        "/v1/tunings.create",
        json={
            "model": TINY,
            "training_file": training_file,
            "hyperparameters": {"epochs": 10, "batch_size": 4, "learning_rate": 0.005},
        },
        headers=ALICE,
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    seen: list[float] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        job = client.get(f"/v1/tunings.get/{job_id}", headers=ALICE).json()
        if job["status"] in ("succeeded", "failed", "cancelled"):
            break
        if job["status"] == "running" and job["metrics"] is not None:
            seen.append(job["metrics"]["progress"])
        time.sleep(0.2)
    assert job["status"] == "succeeded", job
    assert job["metrics"]["progress"] == 1.0 and job["metrics"]["total_steps"] == 40
    assert seen == sorted(seen), f"progress went back: {seen}"
    assert all(value < 1.0 for value in seen), seen
    assert any(0.05 < value < 0.95 for value in seen), seen
    assert job["summary"]["train_loss"] > 0 and job["summary"]["train_runtime"] > 0

    series = client.get(f"/v1/tunings.metrics/{job_id}", headers=ALICE).json()["data"]
    assert [p["step"] for p in series] == list(range(1, 41))
    assert all(p["loss"] is not None and p["grad_norm"] is not None for p in series), series
    assert job["metrics"]["train_loss"] == series[-1]["loss"]
    run_series = client.get(f"/runs/{job['run_id']}/metrics", headers=ALICE).json()["data"]
    assert [(p["step"], p["loss"]) for p in run_series] == [(p["step"], p["loss"]) for p in series]

    events = client.get(f"/v1/fine_tuning/jobs/{job_id}/events?limit=1000", headers=ALICE).json()["data"]
    metric_events = [e["data"] for e in events if e["type"] == "metrics"]
    assert sorted((d["step"], d["train_loss"]) for d in metric_events) == [
        (p["step"], p["loss"]) for p in series
    ]
    checkpoints = client.get(f"/v1/fine_tuning/jobs/{job_id}/checkpoints?limit=100", headers=ALICE).json()
    by_step = {p["step"]: p["loss"] for p in series}
    assert checkpoints["data"], checkpoints
    for checkpoint in checkpoints["data"]:
        step = checkpoint["step_number"]
        assert checkpoint["metrics"]["train_loss"] == by_step[step] is not None


def test_bad_input_is_a_clear_4xx(tuning_client) -> None:
    client = tuning_client()
    training_file = upload_training_file(client)
    cases = [
        ({"model": "no/such-model", "training_file": training_file}, 400, "unknown model"),
        ({"model": "../../etc", "training_file": training_file}, 400, "unknown model"),
        ({"model": TINY, "training_file": "data/missing.jsonl"}, 400, "not found"),
        (
            {"model": TINY, "training_file": training_file, "hyperparameters": {"epochs": -1}},
            400,
            "hyperparameters.epochs",
        ),
        (
            {"model": TINY, "training_file": training_file, "hyperparameters": {"warmup": 3}},
            400,
            "unknown hyperparameter(s) ['warmup']",
        ),
    ]
    for body, status, message in cases:
        response = client.post("/v1/tunings.create", json=body, headers=ALICE)
        assert response.status_code == status, (body, response.text)
        assert message in response.json()["error"]["message"], response.json()
    assert client.get("/v1/tunings.list", headers=ALICE).json()["data"] == []


def test_cancel_twice(tuning_client) -> None:
    client = tuning_client()
    training_file = upload_training_file(client)
    job = client.post(
        "/v1/tunings.create",
        json={"model": TINY, "training_file": training_file, "hyperparameters": {"epochs": 50}},
        headers=ALICE,
    ).json()
    first = client.delete(f"/v1/tunings.cancel/{job['id']}", headers=ALICE)
    assert first.status_code == 200
    wait_for_job(client, job["id"])
    second = client.post(f"/v1/tunings.cancel/{job['id']}", headers=ALICE)
    assert second.status_code == 400 and "already cancelled" in second.json()["error"]["message"]


def test_quantization_without_cuda_fails_fast_as_launch_error(tuning_client) -> None:
    client = tuning_client()
    training_file = upload_training_file(client)
    job = client.post(
        "/v1/tunings.create",
        json={"model": TINY, "training_file": training_file, "hyperparameters": {"use_quantization": True}},
        headers=ALICE,
    ).json()
    done = wait_for_job(client, job["id"])
    assert done["status"] == "failed"
    assert done["error"]["code"] == "launch_error" and "CUDA" in done["error"]["message"]


def test_rate_limit_answers_429_with_retry_after(tuning_client) -> None:
    client = tuning_client(tunings="3/minute")
    for _ in range(3):
        assert client.get("/v1/tunings.list", headers=ALICE).status_code == 200
    limited = client.get("/v1/tunings.list", headers=ALICE)
    assert limited.status_code == 429
    assert limited.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert client.get("/projects", headers=ALICE).status_code == 200  # other groups are not limited


def test_rate_limit_shared_through_redis(app_factory) -> None:
    """Two service instances on one Redis share the caller's budget."""
    import redis

    try:
        redis.Redis.from_url(REDIS_URL).ping()
    except redis.RedisError as exc:
        if os.environ.get("CI"):
            pytest.fail(f"Redis is not reachable at {REDIS_URL}: {exc}")
        pytest.skip("Redis is not reachable")
    limits = RateLimitSettings(
        rate_limit_storage=REDIS_URL,
        rate_limit_prefix=f"test-{uuid.uuid4().hex}",
        rate_limits={"tunings": "4/minute"},
    )
    first, second = app_factory(rate_limits=limits), app_factory(rate_limits=limits)
    for client in (first, second, first, second):
        assert client.get("/v1/tunings.list", headers=ALICE).status_code == 200
    assert second.get("/v1/tunings.list", headers=ALICE).status_code == 429


def test_idempotent_create_returns_the_same_job(tuning_client) -> None:
    client = tuning_client()
    training_file = upload_training_file(client)
    body = {"model": TINY, "training_file": training_file, "hyperparameters": {"epochs": 50}}
    headers = {**ALICE, "Idempotency-Key": "create-once-123"}
    first = client.post("/v1/tunings.create", json=body, headers=headers).json()
    again = client.post("/v1/tunings.create", json=body, headers=headers).json()
    assert again["id"] == first["id"]
    other = client.post(
        "/v1/tunings.create", json=body, headers={**ALICE, "Idempotency-Key": "another"}
    ).json()
    assert other["id"] != first["id"]
    assert len(client.get("/v1/tunings.list", headers=ALICE).json()["data"]) == 2
    for job in (first, other):
        client.post(f"/v1/tunings.cancel/{job['id']}", headers=ALICE)
