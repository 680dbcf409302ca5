"""The dashboard's deployment pages, with the stand-in model server (tests/support/fake_vllm.py)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from app.config import DeploymentSettings, ModelSettings, TrainingSettings
from tests.conftest import ADMIN_KEY, ALICE_KEY, BOB_KEY, bearer
from tests.features.deployments.conftest import FAKE_COMMAND, port_range, wait_for
from tests.features.ui.conftest import log_in

ALICE, BOB = bearer(ALICE_KEY), bearer(BOB_KEY)
DEPLOYMENT_PAGE = re.compile(r"^/ui/deployments/(dep-[0-9a-f]{12})$")


@pytest.fixture
def deploying(app_factory, tmp_path: Path) -> TestClient:
    """An app with two GPUs (0 and 1) whose deployments run the stand-in server on model `qwen2.5`."""
    root = tmp_path / "models"
    (root / "qwen2.5").mkdir(parents=True)
    (root / "qwen2.5" / "config.json").write_text("{}")
    return app_factory(
        training=TrainingSettings(training_dir=tmp_path / "training", gpus=["0", "1"], monitor_interval=0.2),
        models=ModelSettings(model_roots=[root]),
        deployments=DeploymentSettings(
            deploy_command=FAKE_COMMAND,
            deploy_ports=port_range(),
            deploy_health_interval=0.2,
            deploy_stop_grace=2.0,
            deploy_unhealthy_after=2,
        ),
    )


class Browser(TestClient):
    """A client of the app with a dashboard session of its own, and the CSRF token of its pages."""

    csrf: str = ""


def browser_of(client: TestClient, key: str) -> Browser:
    browser = Browser(client.app)
    browser.csrf = log_in(browser, key)
    return browser


def deploy_by_api(client: TestClient, headers: dict, **body: object) -> str:
    response = client.post("/deployments", json={"model_path": "qwen2.5", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()["deployment_id"]


def deploy_form(browser: Browser, **fields: object) -> dict[str, object]:
    return {"csrf_token": browser.csrf, "model_path": "", "gpu_count": 1, **fields}


def gpu_radios(html: str) -> dict[str, bool]:
    """Each GPU of the picker and whether it can be picked."""
    radios = re.findall(r'<input type="radio" name="preferred_gpu" value="([^"]+)"([^>]*)>', html, re.S)
    return {gpu: "disabled" not in attributes for gpu, attributes in radios}


def shown_deployment(response: httpx.Response) -> str:
    """The deployment a redirect goes to show."""
    assert response.status_code == 303, response.text
    match = DEPLOYMENT_PAGE.match(response.headers["location"])
    assert match, response.headers["location"]
    return match.group(1)


def row_ids(html: str) -> list[str]:
    return re.findall(r'data-testid="deployment-row" data-deployment-id="([^"]+)"', html)


def test_create_from_the_form_serve_playground_restart_and_stop(deploying: TestClient) -> None:
    alice = browser_of(deploying, ALICE_KEY)
    listing = alice.get("/ui/deployments")
    assert 'data-testid="deployments-table"' in listing.text and row_ids(listing.text) == []
    assert gpu_radios(listing.text) == {"0": True, "1": True}

    created = alice.post(
        "/ui/deployments",
        data=deploy_form(alice, model_path="qwen2.5", served_model_name="qwen-ui", preferred_gpu="1"),
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    deployment_id = shown_deployment(created)
    info = wait_for(deploying, deployment_id, {"running"})
    assert info["gpu_ids"] == ["1"] and info["served_model_name"] == "qwen-ui"

    shown = alice.get(f"/ui/deployments/{deployment_id}")
    assert shown.status_code == 200
    assert 'data-testid="deployment-status">running<' in shown.text
    assert f'data-testid="deployment-port">{info["port"]}<' in shown.text
    assert 'data-testid="deployment-gpus">1<' in shown.text and "CUDA_VISIBLE_DEVICES=1" in shown.text
    # the snippets call the service's proxy with the key from the environment, never a real one
    proxy = f"http://testserver/deployments/{deployment_id}/v1"
    assert f"curl {proxy}/completions" in shown.text and f'base_url="{proxy}"' in shown.text
    assert "$TUNING_API_KEY" in shown.text and 'os.environ["TUNING_API_KEY"]' in shown.text
    assert ALICE_KEY not in shown.text
    rows = alice.get("/ui/deployments/table")
    assert row_ids(rows.text) == [deployment_id] and "<html" not in rows.text
    assert 'data-testid="deployment-health"><span class="badge healthy">' in rows.text

    answer = alice.post(
        f"/ui/deployments/{deployment_id}/playground",
        data={"prompt": "Hi there", "max_tokens": 8},
        headers={"X-CSRF-Token": alice.csrf, "HX-Request": "true"},
    )
    assert answer.status_code == 200, answer.text
    assert 'data-testid="playground-text">hello from the stand-in</pre>' in answer.text

    restarted = alice.post(
        f"/ui/deployments/{deployment_id}/restart", data={"csrf_token": alice.csrf}, follow_redirects=False
    )
    assert restarted.status_code == 303
    new_id = shown_deployment(restarted)
    assert new_id != deployment_id
    assert deploying.get(f"/deployments/{deployment_id}", headers=ALICE).json()["status"] == "stopped"
    wait_for(deploying, new_id, {"running"})

    stopped = alice.post(
        f"/ui/deployments/{new_id}/stop", data={"csrf_token": alice.csrf}, follow_redirects=False
    )
    assert stopped.status_code == 303 and stopped.headers["location"] == f"/ui/deployments/{new_id}"
    assert deploying.get(f"/deployments/{new_id}", headers=ALICE).json()["status"] == "stopped"
    page = alice.get(f"/ui/deployments/{new_id}")
    assert 'data-testid="deployment-status">stopped<' in page.text and "deployment-stop" not in page.text
    assert 'hx-trigger="every 3s"' not in page.text.split('id="deployment-status"')[1].split(">")[0]
    not_serving = alice.post(
        f"/ui/deployments/{new_id}/playground",
        data={"prompt": "Hi"},
        headers={"X-CSRF-Token": alice.csrf, "HX-Request": "true"},
    )
    assert not_serving.status_code == 400 and "not serving" in not_serving.text


def test_gpu_picker_disables_gpus_others_hold_and_a_busy_gpu_is_a_message(deploying: TestClient) -> None:
    bobs = deploy_by_api(deploying, BOB, preferred_gpu=0)
    alice = browser_of(deploying, ALICE_KEY)
    listing = alice.get("/ui/deployments")
    assert gpu_radios(listing.text) == {"0": False, "1": True}
    assert "held by another owner" in listing.text and bobs not in listing.text
    admin = browser_of(deploying, ADMIN_KEY)
    seen_by_admin = admin.get("/ui/deployments").text
    assert gpu_radios(seen_by_admin) == {"0": False, "1": True}
    assert f"held by deployment {bobs}" in seen_by_admin and row_ids(seen_by_admin) == [bobs]

    busy = alice.post("/ui/deployments", data=deploy_form(alice, model_path="qwen2.5", preferred_gpu="0"))
    assert busy.status_code == 409
    assert 'data-testid="deploy-error">GPU 0 is taken' in busy.text and 'value="qwen2.5"' in busy.text
    assert bobs not in busy.text  # the message names no other owner's deployment
    two_sources = alice.post(
        "/ui/deployments", data=deploy_form(alice, model_path="qwen2.5", run_id="run-" + "0" * 28)
    )
    assert two_sources.status_code == 400 and "give one of" in two_sources.text
    no_model = alice.post("/ui/deployments", data=deploy_form(alice, model_path="nowhere"))
    assert no_model.status_code == 400 and "not a model directory" in no_model.text
    assert deploying.get("/deployments", headers=ALICE).json()["data"] == []
    assert deploying.get("/v1/gpus", headers=ALICE).json()["data"][1]["held"] is False  # nothing leaked


def test_the_deploy_button_of_a_run_fills_the_form(deploying: TestClient) -> None:
    alice = browser_of(deploying, ALICE_KEY)
    run_id = "run-" + "ab" * 14
    page = alice.get(f"/ui/deployments?run_id={run_id}")
    assert re.search(rf'name="run_id" type="text" value="{run_id}"', page.text)
    not_yours = alice.post("/ui/deployments", data=deploy_form(alice, run_id=run_id))
    assert not_yours.status_code == 404 and 'data-testid="deploy-error"' in not_yours.text


def test_changes_without_the_csrf_token_are_refused(deploying: TestClient) -> None:
    alices = deploy_by_api(deploying, ALICE)
    wait_for(deploying, alices, {"running"})
    alice = browser_of(deploying, ALICE_KEY)
    created = alice.post("/ui/deployments", data={"model_path": "qwen2.5", "gpu_count": 1})
    assert created.status_code == 403 and 'data-testid="error-page"' in created.text
    forged = alice.post("/ui/deployments", data={"model_path": "qwen2.5", "csrf_token": "forged"})
    assert forged.status_code == 403
    for action in ("stop", "restart"):
        refused = alice.post(f"/ui/deployments/{alices}/{action}", follow_redirects=False)
        assert refused.status_code == 403, action
    prompt = alice.post(f"/ui/deployments/{alices}/playground", data={"prompt": "Hi"})
    assert prompt.status_code == 403
    elsewhere = alice.post(
        f"/ui/deployments/{alices}/stop",
        data={"csrf_token": alice.csrf},
        headers={"Origin": "http://evil.example"},
    )
    assert elsewhere.status_code == 403
    listed = deploying.get("/deployments", headers=ALICE).json()["data"]
    assert [(d["deployment_id"], d["status"]) for d in listed] == [(alices, "running")]


def test_another_owners_deployment_is_a_404_page(deploying: TestClient) -> None:
    bobs = deploy_by_api(deploying, BOB)
    alice = browser_of(deploying, ALICE_KEY)
    page = alice.get(f"/ui/deployments/{bobs}")
    assert page.status_code == 404 and 'data-testid="error-page"' in page.text
    assert alice.get(f"/ui/deployments/{bobs}/status").status_code == 404
    stop = alice.post(f"/ui/deployments/{bobs}/stop", data={"csrf_token": alice.csrf})
    assert stop.status_code == 404
    prompt = alice.post(
        f"/ui/deployments/{bobs}/playground",
        data={"prompt": "Hi"},
        headers={"X-CSRF-Token": alice.csrf},
    )
    assert prompt.status_code == 404
    assert bobs not in alice.get("/ui/deployments/table").text
    assert deploying.get(f"/deployments/{bobs}", headers=BOB).json()["status"] in ("starting", "running")
    bob = browser_of(deploying, BOB_KEY)
    assert bob.get(f"/ui/deployments/{bobs}").status_code == 200
