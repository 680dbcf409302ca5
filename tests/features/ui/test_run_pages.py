"""The run pages with the scripted trainer: overview, runs list, run page, metrics, logs, compare."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient

from tests.conftest import ADMIN_KEY, ALICE_KEY, BOB_KEY, bearer
from tests.features.runs.conftest import wait_for_status
from tests.features.ui.conftest import log_in

ALICE = bearer(ALICE_KEY)


def start(client: TestClient, **env: str) -> str:
    response = client.post("/projects/demo/runs", json={"env": env} if env else {}, headers=ALICE)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_a_finished_run_page_shows_progress_loss_log_config_and_artifacts(runs_client) -> None:
    client = runs_client(scheduler=True)
    run_id = start(client, FAKE_STEPS="3", FAKE_REAL="1")
    assert wait_for_status(client, run_id)["status"] == "succeeded"
    log_in(client, ALICE_KEY)
    page = client.get(f"/ui/runs/{run_id}").text
    assert 'data-testid="run-status">succeeded<' in page
    assert 'data-progress="1.0"' in page
    assert re.search(r'data-testid="log-line" data-seq="1"', page)
    assert 'data-finished="1"' in page
    assert "Deploy this run" in page and f"/ui/deployments?run_id={run_id}" in page
    assert "adapter_model.safetensors" in page
    assert 'data-testid="run-config"' in page and "finetuning_type: lora" in page
    # a user's page shows no host path of the training directory outside the log (which is the
    # program's own output, shown as the API shows it)
    training_dir = str(client.app.state.training_layout.training_dir.resolve())
    outside_log = re.sub(r'<div class="log".*?</div>\s*<p class="muted">The page keeps', "", page, flags=re.S)
    assert training_dir not in outside_log

    metrics = client.get(f"/ui/runs/{run_id}/metrics.json").json()
    assert metrics["finished"] is True
    assert [p["step"] for p in metrics["points"]] == [1, 2, 3]
    assert metrics["points"][0]["loss"] == 1.9 and metrics["points"][0]["eval_loss"] == 2.1
    # a chart that has step 2 asks from there: step 2 again (it may have gained an eval loss) and on
    later = client.get(f"/ui/runs/{run_id}/metrics.json?from_step=2").json()
    assert [p["step"] for p in later["points"]] == [2, 3]

    download = client.get(f"/ui/runs/{run_id}/logs.txt")
    assert download.headers["content-disposition"] == f'attachment; filename="{run_id}.log"'
    api_lines = client.get(f"/runs/{run_id}/logs?limit=1000", headers=ALICE).json()["data"]
    assert download.text.splitlines() == [line["line"] for line in api_lines]

    artifacts = client.get(f"/runs/{run_id}/artifacts", headers=ALICE).json()["data"]
    weights = next(a for a in artifacts if a["path"].endswith("adapter_model.safetensors"))
    assert client.get(f"/ui/runs/{run_id}/artifacts/{weights['id']}").content == b"weights"


def test_the_log_stream_resumes_after_the_lines_the_page_has(runs_client) -> None:
    client = runs_client(scheduler=True)
    run_id = start(client, FAKE_STEPS="2", FAKE_LINES="30")
    wait_for_status(client, run_id)
    log_in(client, ALICE_KEY)
    total = client.get(f"/runs/{run_id}", headers=ALICE).json()
    lines = client.get(f"/runs/{run_id}/logs?limit=1000", headers=ALICE).json()["data"]
    assert total and len(lines) > 30
    with client.stream("GET", f"/ui/runs/{run_id}/logs/stream?after=10") as stream:
        body = "".join(stream.iter_text())
    seqs = [
        json.loads(line[len("data: ") :])["seq"]
        for line in body.splitlines()
        if line.startswith('data: {"seq"')
    ]
    assert seqs == list(range(11, len(lines) + 1)), "every line after the page's last, once"
    assert "event: end" in body


def test_a_failed_run_shows_its_cause_exit_code_and_last_lines(runs_client) -> None:
    client = runs_client(scheduler=True)
    run_id = start(client, FAKE_STEPS="1", FAKE_OOM="1", FAKE_EXIT="1")
    assert wait_for_status(client, run_id)["status"] == "failed"
    log_in(client, ALICE_KEY)
    page = client.get(f"/ui/runs/{run_id}").text
    assert 'data-testid="failure-cause">oom<' in page
    assert 'data-testid="exit-code">1<' in page
    assert "CUDA out of memory" in page
    overview = client.get("/ui/").text
    assert f'data-testid="failure-row" data-run-id="{run_id}"' in overview
    # each panel's poll renders that panel alone
    failures = client.get("/ui/fragments/overview/failures").text
    assert f'data-testid="failure-row" data-run-id="{run_id}"' in failures and "gpu-timeline" not in failures
    for part in ("timeline", "queue", "running", "deployments"):
        assert client.get(f"/ui/fragments/overview/{part}").status_code == 200, part


def test_another_owners_run_is_a_404_page_everywhere(runs_client) -> None:
    client = runs_client(scheduler=True)
    run_id = start(client, FAKE_STEPS="1")
    wait_for_status(client, run_id)
    log_in(client, BOB_KEY)
    for path in ("", "/status", "/metrics.json", "/logs/stream", "/logs.txt"):
        response = client.get(f"/ui/runs/{run_id}{path}")
        assert response.status_code == 404, path
        assert "not found" in response.text and "demo" not in response.text, path
    assert run_id not in client.get("/ui/runs").text
    assert 'data-testid="run-row"' not in client.get(f"/ui/fragments/runs?owner=alice&q={run_id}").text
    assert client.get(f"/ui/compare?run={run_id}").status_code == 404


def test_runs_filter_by_status_project_owner_and_text(runs_client) -> None:
    client = runs_client(scheduler=True)
    ok = start(client, FAKE_STEPS="1")
    bad = start(client, FAKE_STEPS="1", FAKE_EXIT="3")
    wait_for_status(client, ok), wait_for_status(client, bad)
    log_in(client, ADMIN_KEY)

    def shown(query: str) -> set[str]:
        rows = client.get(f"/ui/fragments/runs?{query}").text
        return set(re.findall(r'data-testid="run-row" data-run-id="([^"]+)"', rows))

    assert shown("") == {ok, bad}
    assert shown("status=failed") == {bad}
    assert shown("status=succeeded&project=demo") == {ok}
    assert shown("project=other") == set()
    assert shown("owner=alice") == {ok, bad} and shown("owner=bob") == set()
    assert shown(f"q={ok[-8:]}") == {ok}
    assert shown("q=%25") == set(), "a % is a character, not a wildcard"
    page = client.get("/ui/runs?status=failed").text
    assert '<option value="failed" selected>' in page, "the filter survives a reload"
    assert client.get("/ui/runs?status=bogus").status_code == 400


def test_compare_overlays_runs_and_diffs_only_the_keys_that_differ(runs_client) -> None:
    client = runs_client(scheduler=True)
    first = start(client, FAKE_STEPS="1")
    second = start(client, FAKE_STEPS="2")
    wait_for_status(client, first), wait_for_status(client, second)
    log_in(client, ALICE_KEY)
    page = client.get(f"/ui/compare?run={first}&run={second}").text
    rows = re.findall(r'data-testid="diff-row" data-key="([^"]+)"', page)
    assert rows == ["env.FAKE_STEPS"]
    assert f"/ui/runs/{first}/metrics.json /ui/runs/{second}/metrics.json" in page
    assert f"demo/{first}|demo/{second}" in page, "full names in the legend"
    assert client.get("/ui/compare?run=../../etc").status_code == 400


def test_cancel_from_the_page_needs_the_csrf_token(runs_client) -> None:
    client = runs_client(scheduler=True)
    run_id = start(client, FAKE_STEPS="50", FAKE_SLEEP="0.2")
    wait_for_status(client, run_id, {"running"})
    csrf = log_in(client, ALICE_KEY)
    refused = client.post(f"/ui/runs/{run_id}/cancel", follow_redirects=False)
    assert refused.status_code == 403
    assert client.get(f"/runs/{run_id}", headers=ALICE).json()["status"] == "running"
    done = client.post(f"/ui/runs/{run_id}/cancel", data={"csrf_token": csrf}, follow_redirects=False)
    assert done.status_code == 303
    assert wait_for_status(client, run_id)["status"] == "cancelled"


def test_the_overview_draws_gpu_holds_with_their_history(runs_client) -> None:
    client = runs_client(scheduler=True, gpus=["0", "1"])
    response = client.post("/projects/demo/runs", json={"gpus": 1, "env": {"FAKE_STEPS": "1"}}, headers=ALICE)
    run_id = response.json()["id"]
    assert wait_for_status(client, run_id)["status"] == "succeeded"
    log_in(client, ALICE_KEY)
    timeline = client.get("/ui/fragments/overview/timeline").text
    assert timeline.count('data-testid="gpu-row"') == 2
    bar = re.search(rf'data-holder-type="run" data-holder-id="{run_id}" data-live="(\d)"', timeline)
    assert bar and bar.group(1) == "0", "the released hold stays on the timeline, ended"
    assert timeline.count('data-testid="gpu-holder">free<') == 2
    assert run_id in client.get("/ui/fragments/overview/timeline?window=1440").text
    assert client.get("/ui/?window=7").status_code == 400
    # bob sees that a GPU was held, not by what
    client.cookies.clear()
    log_in(client, BOB_KEY)
    theirs = client.get("/ui/fragments/overview/timeline").text
    assert run_id not in theirs and 'data-holder-type="hidden"' in theirs
