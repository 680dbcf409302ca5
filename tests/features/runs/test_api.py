"""Runs with the local executor, end to end through the HTTP app and the engine."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import time
import uuid
from pathlib import Path

import yaml
from fastapi.testclient import TestClient

from tests.conftest import ADMIN_KEY, BOB_KEY, bearer
from tests.features.runs.conftest import ALICE, host_path, start_run, wait_for_status
from tests.support.data import OPENAI, jsonl


def processes_in_group(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is `pgid`."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def test_run_succeeds_with_progress_metrics_logs_and_artifacts(runs_client) -> None:
    client = runs_client()
    run = start_run(client, {"env": {"FAKE_STEPS": "4"}, "note": "first try"})
    assert run["status"] == "pending" and run["queue_position"] == 1
    assert run["command"][:2] == ["sh", "fake_train.sh"] and run["command"][2].endswith(
        f"runs/{run['id']}/train.yaml"
    )
    done = wait_for_status(client, run["id"])
    assert done["status"] == "succeeded", done
    assert (done["progress"], done["current_step"], done["total_steps"], done["epoch"]) == (1.0, 4, 4, 4.0)
    assert done["error"] is None and done["started_at"] and done["finished_at"]

    lines = client.get(f"/runs/{run['id']}/logs?limit=1000", headers=ALICE).json()["data"]
    assert [line["seq"] for line in lines] == list(range(1, len(lines) + 1))
    assert lines[0]["line"].startswith(f"run {run['id']} config ")
    assert "finished" in lines[-1]["line"]

    series = client.get(f"/runs/{run['id']}/metrics", headers=ALICE).json()["data"]
    # one point per step: trainer_log.jsonl's values, with the grad_norm only output.log printed
    assert [p["step"] for p in series] == [1, 2, 3, 4]
    assert {p["source"] for p in series} == {"trainer_log"}
    assert [p["loss"] for p in series] == [1.9, 1.8, 1.7, 1.6]
    assert [p["epoch"] for p in series] == [1, 2, 3, 4]
    assert all(p["lr"] == 2e-05 and p["grad_norm"] == 0.5 for p in series)

    artifacts = client.get(f"/runs/{run['id']}/artifacts", headers=ALICE).json()["data"]
    kinds = {a["path"]: a["kind"] for a in artifacts}
    assert kinds == {
        "adapter_config.json": "adapter",
        "adapter_model.safetensors": "adapter",
        "checkpoint-4/trainer_state.json": "checkpoint",
        "trainer_log.jsonl": "log",
    }
    weights = next(a for a in artifacts if a["path"] == "adapter_model.safetensors")
    assert weights["bytes"] == 7
    tagged = client.post(
        f"/runs/{run['id']}/artifacts/{weights['id']}/tags", json={"tags": ["best"]}, headers=ALICE
    )
    assert tagged.json()["tags"] == ["best"]


def test_transformers_output_gives_one_point_per_step_and_a_summary(runs_client) -> None:
    """A loading bar, evaluation bars and dicts, and the final average: none of them is a step."""
    client = runs_client()
    run = start_run(client, {"env": {"FAKE_STEPS": "4", "FAKE_REAL": "1"}})
    done = wait_for_status(client, run["id"])
    assert done["status"] == "succeeded", done
    assert (done["current_step"], done["total_steps"], done["progress"]) == (4, 4, 1.0)
    assert done["summary"] == {
        "train_runtime": 0.5,
        "train_samples_per_second": 64.0,
        "train_steps_per_second": 8.0,
        "train_loss": 1.75,
        "epoch": 4.0,
    }
    series = client.get(f"/runs/{run['id']}/metrics", headers=ALICE).json()["data"]
    assert [p["step"] for p in series] == [1, 2, 3, 4]
    assert [(p["loss"], p["eval_loss"], p["grad_norm"]) for p in series] == [
        (1.9, 2.1, 0.5),
        (1.8, 2.2, 0.5),
        (1.7, 2.3, 0.5),
        (1.6, 2.4, 0.5),
    ]
    assert all(p["source"] == "trainer_log" and "train_loss" not in p["extra"] for p in series)


def test_without_trainer_log_the_training_bar_numbers_the_steps(runs_client) -> None:
    client = runs_client()
    run = start_run(client, {"env": {"FAKE_STEPS": "4", "FAKE_REAL": "1", "FAKE_NO_TRAINER_LOG": "1"}})
    done = wait_for_status(client, run["id"])
    assert done["status"] == "succeeded", done
    assert (done["current_step"], done["total_steps"], done["epoch"]) == (4, 4, 4.0)
    assert done["summary"]["train_loss"] == 1.75
    series = client.get(f"/runs/{run['id']}/metrics", headers=ALICE).json()["data"]
    assert [(p["step"], p["loss"], p["eval_loss"], p["source"]) for p in series] == [
        (1, 1.9, 2.1, "output"),
        (2, 1.8, 2.2, "output"),
        (3, 1.7, 2.3, "output"),
        (4, 1.6, 2.4, "output"),
    ]


def test_progress_while_running_follows_the_steps(runs_client) -> None:
    """The loading bar (21/21) is not progress; progress never goes back and is 1 only at success."""
    client = runs_client()
    run = start_run(client, {"env": {"FAKE_STEPS": "20", "FAKE_SLEEP": "0.15", "FAKE_REAL": "1"}})
    seen: list[float] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        current = client.get(f"/runs/{run['id']}", headers=ALICE).json()
        if current["status"] != "running":
            if current["status"] in {"succeeded", "failed", "cancelled"}:
                break
            continue
        seen.append(current["progress"])
        assert current["total_steps"] in (None, 20), current
        time.sleep(0.05)
    assert current["status"] == "succeeded" and current["progress"] == 1.0
    assert seen == sorted(seen), "progress went back"
    assert max(seen) < 1.0
    assert any(0.05 < value < 0.95 for value in seen), seen


def test_the_command_gets_its_environment(runs_client, training_dir: Path) -> None:
    client = runs_client()
    run = start_run(client, {"env": {"FAKE_STEPS": "1"}})
    done = wait_for_status(client, run["id"])
    workspace = host_path(client, done["workspace"])
    assert workspace.parent == training_dir.resolve() / "runs"
    assert (workspace / "exit_code").read_text().strip() == "0"
    assert (workspace / "pid").read_text().strip().isdigit()
    first = client.get(f"/runs/{run['id']}/logs?limit=1", headers=ALICE).json()["data"][0]["line"]
    assert first.endswith("gpus []")  # CUDA_VISIBLE_DEVICES is set, and empty without GPUs
    assert done["workspace"] == f"runs/{run['id']}"  # a user key sees no host path
    assert done["output_dir"] == f"runs/{run['id']}/output"


def test_failed_run_reports_exit_code_and_log_tail(runs_client) -> None:
    client = runs_client()
    run = start_run(client, {"env": {"FAKE_STEPS": "1", "FAKE_EXIT": "3", "FAKE_LINES": "60"}})
    done = wait_for_status(client, run["id"])
    assert done["status"] == "failed"
    error = done["error"]
    assert error["cause"] == "exit_code" and error["exit_code"] == 3
    assert len(error["log_tail"]) == 50 and error["log_tail"][-1] == "finished"


def test_out_of_memory_is_its_own_cause(runs_client) -> None:
    client = runs_client()
    run = start_run(client, {"env": {"FAKE_STEPS": "1", "FAKE_EXIT": "1", "FAKE_OOM": "1"}})
    assert wait_for_status(client, run["id"])["error"]["cause"] == "oom"


def test_missing_workdir_is_a_failure_not_a_crash(runs_client) -> None:
    client = runs_client(training_workdir="no/such/dir")
    run = start_run(client)
    done = wait_for_status(client, run["id"])
    assert done["status"] == "failed" and done["error"]["exit_code"] == 127
    assert "working directory not found" in done["error"]["log_tail"][-1]


def test_cancel_running_run_leaves_no_process(runs_client) -> None:
    client = runs_client()
    run = start_run(client, {"env": {"FAKE_STEPS": "200", "FAKE_SLEEP": "0.2"}})
    wait_for_status(client, run["id"], {"running"})
    deadline = time.monotonic() + 10
    workspace = host_path(client, client.get(f"/runs/{run['id']}", headers=ALICE).json()["workspace"])
    while not (workspace / "pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    pgid = int((workspace / "pid").read_text())
    cancelled = client.post(f"/runs/{run['id']}/cancel", headers=ALICE)
    assert cancelled.status_code == 200
    done = wait_for_status(client, run["id"])
    assert done["status"] == "cancelled" and done["error"]["cause"] == "cancelled_by_user"
    assert processes_in_group(pgid) == [], "the run's process group survived the cancel"
    again = client.post(f"/runs/{run['id']}/cancel", headers=ALICE)
    assert again.status_code == 400 and again.json()["error"]["code"] == "run_finished"


def test_cancel_pending_run(runs_client) -> None:
    client = runs_client(scheduler=False)
    run = start_run(client)
    response = client.post(f"/runs/{run['id']}/cancel", headers=ALICE)
    assert response.json()["status"] == "cancelled"
    assert response.json()["error"]["cause"] == "cancelled_by_user"


def test_runs_wait_for_gpus_and_get_them(runs_client) -> None:
    client = runs_client(gpus=["0", "1"], max_concurrent_runs=5)
    first = start_run(client, {"gpus": 2, "env": {"FAKE_STEPS": "40", "FAKE_SLEEP": "0.1"}})
    wait_for_status(client, first["id"], {"running"})
    second = start_run(client, {"gpus": 1, "env": {"FAKE_STEPS": "1"}})
    deadline = time.monotonic() + 10
    waiting = client.get(f"/runs/{second['id']}", headers=ALICE).json()
    # the next scheduler pass records why the run waits
    while waiting["pending_reason"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
        waiting = client.get(f"/runs/{second['id']}", headers=ALICE).json()
    assert waiting["status"] == "pending" and "waiting for 1 free GPU" in waiting["pending_reason"]
    assert f"run {first['id']}" in waiting["pending_reason"]
    gpus = client.get("/v1/gpus", headers=ALICE).json()
    assert [(g["id"], g["holder"]["id"]) for g in gpus["data"]] == [("0", first["id"]), ("1", first["id"])]
    assert wait_for_status(client, first["id"])["gpu_ids"] == ["0", "1"]
    done = wait_for_status(client, second["id"])
    assert done["status"] == "succeeded" and len(done["gpu_ids"]) == 1
    assert all(g["holder"] is None for g in client.get("/v1/gpus", headers=ALICE).json()["data"])
    too_many = client.post("/projects/demo/runs", json={"gpus": 3}, headers=ALICE)
    assert too_many.status_code == 400 and too_many.json()["error"]["param"] == "gpus"


def test_admission_names_what_is_missing(runs_client) -> None:
    client = runs_client(scheduler=False)
    cases = [
        ({"dataset": "data/nope.jsonl"}, "dataset"),
        ({"dataset": "../outside"}, "dataset"),
        ({"train_config": "configs/nope.yaml"}, "train_config"),
        ({"train_config": "/etc/passwd"}, "train_config"),
        ({"env": {"TUNING_API_KEYS": "x"}}, "env.TUNING_API_KEYS"),
        ({"env": {"CUDA_VISIBLE_DEVICES": "0"}}, "env.CUDA_VISIBLE_DEVICES"),
    ]
    for body, param in cases:
        response = client.post("/projects/demo/runs", json=body, headers=ALICE)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["error"]["param"] == param
    client.post("/projects", json={"name": "bare"}, headers=ALICE)
    bare = client.post("/projects/bare/runs", json={}, headers=ALICE)
    assert bare.status_code == 400 and "no dataset" in bare.json()["error"]["message"]
    assert client.get("/projects/demo/runs", headers=ALICE).json()["data"] == []


def test_uploaded_dataset_and_config_are_staged(runs_client) -> None:
    client = runs_client()
    dataset_id = client.post("/v1/datasets", json={"name": "d"}, headers=ALICE).json()["id"]
    client.put(
        f"/v1/datasets/{dataset_id}/files", files={"file": ("chat.jsonl", jsonl(OPENAI))}, headers=ALICE
    )
    config = client.post(
        "/v1/train-configs",
        json={"name": "c.yaml", "content": "stage: sft\noutput_dir: out\n"},
        headers=ALICE,
    ).json()
    run = start_run(client, {"dataset": dataset_id, "train_config": config["id"], "env": {"FAKE_STEPS": "1"}})
    workspace = host_path(client, run["workspace"])
    assert (workspace / "data" / "chat.jsonl").read_bytes() == jsonl(OPENAI)
    # the run's own copy of the YAML, its output_dir re-rooted into the workspace
    assert yaml.safe_load((workspace / "train.yaml").read_text()) == {
        "stage": "sft",
        "output_dir": str(workspace / "out"),
    }
    assert run["command"][2] == f"runs/{run['id']}/train.yaml"
    assert run["output_dir"] == f"runs/{run['id']}/out"
    admin_view = client.get(f"/runs/{run['id']}", headers=bearer(ADMIN_KEY)).json()
    assert admin_view["output_dir"] == str(workspace / "out")  # admins see host paths
    assert wait_for_status(client, run["id"])["status"] == "succeeded"
    assert client.delete(f"/v1/datasets/{dataset_id}", headers=ALICE).status_code == 200


def test_logs_paging_tail_tags_and_append(runs_client) -> None:
    client = runs_client()
    run = start_run(client, {"env": {"FAKE_STEPS": "1", "FAKE_LINES": "30"}})
    wait_for_status(client, run["id"])
    first = client.get(f"/runs/{run['id']}/logs?limit=10", headers=ALICE).json()
    assert [line["seq"] for line in first["data"]] == list(range(1, 11)) and first["has_more"]
    second = client.get(f"/runs/{run['id']}/logs?limit=10&after={first['last_seq']}", headers=ALICE).json()
    assert second["data"][0]["seq"] == 11
    tail = client.get(f"/runs/{run['id']}/logs?tail=3", headers=ALICE).json()["data"]
    assert [line["line"] for line in tail] == ["line 29", "line 30", "finished"]
    added = client.post(
        f"/runs/{run['id']}/logs", json={"line": "note: good", "tags": ["review"]}, headers=ALICE
    )
    assert added.status_code == 201 and added.json()["data"][0]["tags"] == ["review"]
    tagged = client.get(f"/runs/{run['id']}/logs?tag=review", headers=ALICE).json()["data"]
    assert [line["line"] for line in tagged] == ["note: good"]


def test_logs_stream_follows_live_and_ends(runs_client) -> None:
    client = runs_client()
    run = start_run(client, {"env": {"FAKE_STEPS": "5", "FAKE_SLEEP": "0.1"}})
    events: list[dict] = []
    ended = False
    with client.stream("GET", f"/runs/{run['id']}/logs/stream", headers=ALICE) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        event = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                if event == "end":
                    ended = True
                    break
                events.append(json.loads(line.removeprefix("data: ")))
    assert ended
    stored = client.get(f"/runs/{run['id']}/logs?limit=1000", headers=ALICE).json()["data"]
    assert [e["seq"] for e in events] == [s["seq"] for s in stored]


def test_list_runs_and_ownership(runs_client) -> None:
    client = runs_client(scheduler=False)
    ids = [start_run(client)["id"] for _ in range(3)]
    page = client.get("/projects/demo/runs?limit=2", headers=ALICE).json()
    assert [r["id"] for r in page["data"]] == ids[::-1][:2] and page["has_more"]
    rest = client.get(f"/projects/demo/runs?after={page['data'][-1]['id']}", headers=ALICE).json()
    assert [r["id"] for r in rest["data"]] == [ids[0]]
    assert [r["queue_position"] for r in page["data"]] == [3, 2]
    bob = bearer(BOB_KEY)
    assert client.get(f"/runs/{ids[0]}", headers=bob).status_code == 404
    assert client.post(f"/runs/{ids[0]}/cancel", headers=bob).status_code == 404
    assert client.get(f"/runs/{ids[0]}/logs", headers=bob).status_code == 404
    assert client.get("/projects/demo/runs", headers=bob).status_code == 404
    assert client.delete("/projects/demo", headers=ALICE).status_code == 400


def test_health_counts_runs(runs_client) -> None:
    client: TestClient = runs_client(scheduler=False)
    start_run(client)
    health = client.get("/health").json()
    assert (health["active_jobs"], health["total_jobs"]) == (1, 1)


def wait_for_pid(workspace: Path) -> int:
    deadline = time.monotonic() + 10
    while not (workspace / "pid").exists():
        assert time.monotonic() < deadline, "the wrapper never wrote its pid"
        time.sleep(0.05)
    return int((workspace / "pid").read_text())


def test_silent_run_is_stopped_as_stalled(runs_client) -> None:
    client = runs_client(stall_timeout=1.0, cancel_grace=0.5)
    run = start_run(client, {"env": {"FAKE_HANG": "60"}})
    pgid = wait_for_pid(host_path(client, run["workspace"]))
    done = wait_for_status(client, run["id"], timeout=30)
    assert done["status"] == "failed" and done["error"]["cause"] == "stalled"
    assert processes_in_group(pgid) == []


def test_run_whose_process_vanishes_is_lost(runs_client) -> None:
    client = runs_client()
    run = start_run(client, {"env": {"FAKE_HANG": "60"}})
    pgid = wait_for_pid(host_path(client, run["workspace"]))
    os.killpg(pgid, signal.SIGKILL)  # the wrapper dies too, so no exit_code is ever written
    done = wait_for_status(client, run["id"], timeout=30)
    assert done["status"] == "failed" and done["error"]["cause"] == "lost"


def test_cancel_kills_a_run_that_ignores_term(runs_client) -> None:
    client = runs_client(cancel_grace=0.5)
    run = start_run(client, {"env": {"FAKE_IGNORE_TERM": "1", "FAKE_HANG": "60"}})
    pgid = wait_for_pid(host_path(client, run["workspace"]))
    time.sleep(0.3)
    client.post(f"/runs/{run['id']}/cancel", headers=ALICE)
    done = wait_for_status(client, run["id"], timeout=30)
    assert done["status"] == "cancelled"
    assert processes_in_group(pgid) == []


def test_artifacts_download_with_owner_checks(runs_client) -> None:
    client = runs_client()
    run = start_run(client, {"env": {"FAKE_STEPS": "2"}})
    assert wait_for_status(client, run["id"])["status"] == "succeeded"
    artifacts = {
        a["path"]: a for a in client.get(f"/runs/{run['id']}/artifacts", headers=ALICE).json()["data"]
    }
    adapter = artifacts["adapter_config.json"]
    url = f"/runs/{run['id']}/artifacts/{adapter['id']}/content"
    response = client.get(url, headers=ALICE)
    assert response.status_code == 200
    assert response.content == b'{"r": 8}\n'
    assert hashlib.sha256(response.content).hexdigest() == adapter["sha256"]
    assert 'filename="adapter_config.json"' in response.headers["content-disposition"]
    assert client.get(url, headers=bearer(BOB_KEY)).status_code == 404
    other = client.get(f"/runs/{run['id']}/artifacts/{uuid.uuid4()}/content", headers=ALICE)
    assert other.status_code == 404 and other.json()["error"]["param"] == "artifact_id"
