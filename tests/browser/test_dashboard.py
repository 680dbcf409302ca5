"""The dashboard in a real browser (Debian's Chromium through Playwright), on a real server.

One server for the module, training with the bundled trainer on the demo model (a tiny real
LoRA run on the CPU), serving with the stand-in vLLM, with two GPU ids from the settings.
The tests check what a person would: logging in, a run's progress and loss curve rising
live, a posted log line arriving, a failure's cause, a deployment on the GPU timeline,
another owner's run as a 404 page, no request to another host and no console error.
Each page is saved as a screenshot under TUNING_SCREENSHOTS_DIR (default
build/screenshots/) to look at, since CI keeps nothing.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from tests.features.deployments.conftest import FAKE_COMMAND, port_range
from tests.support.server import PROJECT_ROOT, live_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("TUNING_TEST_DATABASE") == "postgresql", reason="browser tests run in the SQLite pass"
    ),
]

ADMIN_KEY, ALICE_KEY, BOB_KEY = "test-admin-key-000", "test-key-001", "test-key-002"
KEYS = [
    {"key": ADMIN_KEY, "owner": "root", "role": "admin"},
    {"key": ALICE_KEY, "owner": "alice", "role": "user"},
    {"key": BOB_KEY, "owner": "bob", "role": "user"},
]
EXAMPLES = PROJECT_ROOT / "examples" / "data"
SCREENSHOTS = Path(os.environ.get("TUNING_SCREENSHOTS_DIR") or PROJECT_ROOT / "build" / "screenshots")
# long enough (800 logged steps, 20 s or more here) for the browser to watch it move
LONG_RUN_YAML = (
    (EXAMPLES / "sft_lora.yaml").read_text().replace("num_train_epochs: 2", "num_train_epochs: 200")
)
FAILING_YAML = (
    (EXAMPLES / "sft_lora.yaml")
    .read_text()
    .replace("per_device_train_batch_size: 4", "per_device_train_batch_size: 0")
)


class Api:
    """The JSON API as alice (or another key), for setting up what the pages then show."""

    def __init__(self, base: str, key: str = ALICE_KEY) -> None:
        self.http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=30)

    def ok(self, response: httpx.Response) -> dict:
        assert response.status_code < 300, response.text
        return response.json()

    def post(self, path: str, **kwargs: object) -> dict:
        return self.ok(self.http.post(path, **kwargs))

    def get(self, path: str) -> dict:
        return self.ok(self.http.get(path))

    def wait_run(self, run_id: str, statuses: set[str], timeout: float = 240) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.get(f"/runs/{run_id}")
            if run["status"] in statuses:
                return run
            time.sleep(0.2)
        raise AssertionError(f"{run_id} stayed {run['status']}")


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("dashboard")
    settings = {
        "TUNING_API_KEYS": json.dumps(KEYS),
        "TUNING_DEMO_MODEL": "1",
        "TUNING_GPUS": "0,1",
        "TUNING_TRAINING_DIR": str(workdir / "training"),
        "TUNING_MONITOR_INTERVAL": "0.2",
        "TUNING_DEPLOY_COMMAND": json.dumps(FAKE_COMMAND),
        "TUNING_DEPLOY_PORTS": port_range(),
        "TUNING_DEPLOY_HEALTH_INTERVAL": "0.3",
        "TUNING_DEPLOY_STOP_GRACE": "2",
    }
    with live_server(database_url, workdir, **settings) as base:
        yield base


@pytest.fixture(scope="module")
def project(server: str) -> str:
    """alice's project: the sample chats and the sample config, both uploaded."""
    api = Api(server)
    dataset = api.post("/v1/datasets", json={"name": "sample-chats"})["id"]
    uploaded = api.ok(
        api.http.put(
            f"/v1/datasets/{dataset}/files",
            files={"file": ("chat.jsonl", (EXAMPLES / "chat.jsonl").read_bytes())},
        )
    )
    assert uploaded["status"] == "valid"
    config = api.post("/v1/train-configs", json={"name": "long.yaml", "content": LONG_RUN_YAML})["id"]
    api.post("/projects", json={"name": "support-bot", "dataset_name": dataset, "training_yaml_name": config})
    failing = api.post("/v1/train-configs", json={"name": "broken.yaml", "content": FAILING_YAML})["id"]
    api.post("/projects", json={"name": "broken-bot", "dataset_name": dataset, "training_yaml_name": failing})
    return "support-bot"


class Browser:
    """A page that records console errors and every host it really contacted."""

    def __init__(self, chromium, base: str, *, width: int = 1280, height: int = 900) -> None:
        self.base = base
        self.context = chromium.new_context(viewport={"width": width, "height": height})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.hosts: set[str] = set()
        self.page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.on("request", lambda request: self._record(request.url))

    def _record(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("data", "blob"):
            self.hosts.add(parts.hostname or url)

    def log_in(self, key: str) -> None:
        self.page.goto(f"{self.base}/ui/")
        assert "/ui/login" in self.page.url
        self.page.fill("#key", key)
        self.page.click("button[type=submit]")
        self.page.wait_for_url(f"{self.base}/ui/")

    def goto(self, path: str) -> None:
        self.page.goto(f"{self.base}{path}", wait_until="domcontentloaded")

    def shot(self, name: str, **kwargs: object) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True, **kwargs)

    def close(self) -> None:
        try:
            assert not self.errors, f"console errors: {self.errors}"
            outside = {host for host in self.hosts if host not in ("127.0.0.1", "localhost")}
            assert not outside, f"the page asked other hosts: {outside}"
        finally:
            self.context.close()


@pytest.fixture
def browser(chromium, server: str) -> Iterator[Browser]:
    opened = Browser(chromium, server)
    yield opened
    opened.close()


def test_a_live_run_rises_on_its_page_and_a_posted_log_line_arrives(
    browser: Browser, server: str, project: str
) -> None:
    api = Api(server)
    # one torch thread: the trainer leaves a core of these two-core machines to the server and the browser
    run = api.post(
        f"/projects/{project}/runs",
        json={"gpus": 1, "note": "lora r8 on the sample chats", "env": {"OMP_NUM_THREADS": "1"}},
    )
    browser.log_in(ALICE_KEY)
    # the page keeps at most 200 lines as it follows: the run writes more
    browser.goto(f"/ui/runs/{run['id']}?max_lines=200")
    page = browser.page
    page.wait_for_selector('[data-testid="run-status"]:text("running")', timeout=120_000)
    progress = page.locator('[data-testid="run-progress"]')
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=run-progress]').dataset.progress) > 0",
        timeout=60_000,
    )
    first = float(progress.get_attribute("data-progress"))
    page.wait_for_function(
        f"() => Number(document.querySelector('[data-testid=run-progress]').dataset.progress) > {first}",
        timeout=60_000,
    )
    chart = page.locator('[data-testid="loss-chart"]')
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=loss-chart]').dataset.points) > 0"
    )
    points = int(chart.get_attribute("data-points"))
    page.wait_for_function(
        f"() => Number(document.querySelector('[data-testid=loss-chart]').dataset.points) > {points}",
        timeout=60_000,
    )
    assert page.locator('[data-testid="loss-chart"] canvas').count() == 1

    # a line posted to the run appears in the followed log within 2 s
    marker = f"checkpoint reviewed by alice {time.time_ns()}"
    assert api.get(f"/runs/{run['id']}")["status"] == "running", "the run must outlast the checks above"
    api.post(f"/runs/{run['id']}/logs", json={"line": marker, "tags": ["review"]})
    posted = time.monotonic()
    page.wait_for_selector(f'[data-testid="log-line"]:has-text("{marker}")', timeout=2_000)
    print(f"the posted line appeared after {time.monotonic() - posted:.2f} s")

    # searching highlights the line; a reload mid-stream shows each line once
    page.fill('[data-testid="log-search"]', "reviewed by alice")
    assert page.locator('[data-testid="log-line"] mark').count() >= 1
    assert page.locator('[data-testid="log-line"]').count() <= 200
    page.reload()
    page.wait_for_selector('[data-testid="log-line"]')
    time.sleep(1.5)  # let the stream deliver whatever came after the page's last line
    seqs = page.eval_on_selector_all('[data-testid="log-line"]', "rows => rows.map(r => r.dataset.seq)")
    assert len(seqs) == len(set(seqs)), "a line shown twice after the reload"

    done = api.wait_run(run["id"], {"succeeded", "failed"})
    assert done["status"] == "succeeded", done
    page.wait_for_selector('[data-testid="run-status"]:text("succeeded")', timeout=10_000)
    page.wait_for_function(
        "() => document.querySelector('[data-testid=run-progress]').dataset.progress === '1.0'",
        timeout=10_000,
    )
    # followed to the end, the page holds the last lines and no more
    total = api.get(f"/runs/{run['id']}/logs?tail=1")["data"][0]["seq"]
    assert total > 1000
    page.wait_for_selector(f'[data-testid="log-line"][data-seq="{total}"]', timeout=10_000)
    assert page.locator('[data-testid="log-line"]').count() == 200
    browser.shot("run")


def test_a_failed_run_shows_its_cause(browser: Browser, server: str, project: str) -> None:
    api = Api(server)
    run = api.post("/projects/broken-bot/runs", json={"gpus": 0})
    failed = api.wait_run(run["id"], {"failed", "succeeded"})
    assert failed["status"] == "failed"
    browser.log_in(ALICE_KEY)
    browser.goto(f"/ui/runs/{run['id']}")
    cause = browser.page.locator('[data-testid="failure-cause"]')
    assert cause.inner_text() == failed["error"]["cause"]
    assert browser.page.locator('[data-testid="exit-code"]').inner_text() == str(failed["error"]["exit_code"])
    assert "batch" in browser.page.locator('[data-testid="failure-log"]').inner_text().lower()
    browser.shot("run-failed")


def test_another_owners_run_is_a_404_page(browser: Browser, server: str, project: str) -> None:
    api = Api(server)
    runs = api.get(f"/projects/{project}/runs")["data"]
    assert runs, "the live-run test made one"
    browser.log_in(BOB_KEY)
    response = browser.page.goto(f"{server}/ui/runs/{runs[0]['id']}")
    assert response is not None and response.status == 404
    assert browser.page.locator('[data-testid="error-page"]').is_visible()
    assert "support-bot" not in browser.page.content()
    # Chromium reports the 404 document itself as a failed load: the one error this test asked for
    assert browser.errors == [
        "Failed to load resource: the server responded with a status of 404 (Not Found)"
    ]
    browser.errors.clear()
    browser.goto("/ui/runs")
    assert browser.page.locator('[data-testid="run-row"]').count() == 0


def test_runs_filters_live_in_the_url_and_runs_compare(browser: Browser, server: str, project: str) -> None:
    browser.log_in(ALICE_KEY)
    browser.goto("/ui/runs")
    page = browser.page
    page.select_option("#f-status", "succeeded")
    page.click('[data-testid="runs-filters"] button[type=submit]')
    page.wait_for_url("**/ui/runs?status=succeeded**")
    page.reload()
    assert page.locator("#f-status").input_value() == "succeeded"
    rows = page.locator('[data-testid="run-row"]')
    assert rows.count() >= 1
    assert all(
        status == "succeeded" for status in rows.evaluate_all("rows => rows.map(r => r.dataset.status)")
    )
    browser.shot("runs")

    browser.goto("/ui/runs")
    page.locator('[data-testid="run-row"] input[type=checkbox]').nth(0).check()
    page.locator('[data-testid="run-row"] input[type=checkbox]').nth(1).check()
    page.click('[data-testid="compare-button"]')
    page.wait_for_url("**/ui/compare?run=*")
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=compare-chart]').dataset.points) > 0"
    )
    legend = page.locator('[data-testid="compare-chart"] .u-legend').inner_text()
    assert "support-bot/run-" in legend
    assert page.locator('[data-testid="diff-row"]').count() >= 1
    browser.shot("compare")


def test_a_deployment_appears_on_the_gpu_timeline_and_leaves_it_when_stopped(
    browser: Browser, server: str, project: str
) -> None:
    api = Api(server)
    succeeded = api.get(f"/projects/{project}/runs?status=succeeded")["data"]
    assert succeeded, "the live-run test trained one"
    run_id = succeeded[0]["id"]
    browser.log_in(ALICE_KEY)
    page = browser.page
    # the run page's Deploy button opens the form with the run filled in; pick GPU 1
    browser.goto(f"/ui/runs/{run_id}")
    page.click('[data-testid="deploy-run"]')
    page.wait_for_url("**/ui/deployments?run_id=*")
    assert page.locator('[data-testid="deploy-run-id"]').input_value() == run_id
    page.check('[data-testid="gpu-choice"][data-gpu-id="1"]')
    browser.shot("deployments-form")
    page.click('[data-testid="deploy-submit"]')
    page.wait_for_url("**/ui/deployments/*")
    deployment_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.wait_for_selector('[data-testid="deployment-status"]:text("running")', timeout=30_000)
    page.fill('[data-testid="playground-prompt"]', "Say hello")
    page.click('[data-testid="playground-send"]')
    page.wait_for_selector('[data-testid="playground-answer"]:not(:empty)', timeout=10_000)
    browser.shot("deployment")

    browser.goto("/ui/")
    holder = f'[data-holder-type="deployment"][data-holder-id="{deployment_id}"]'
    live_bar = f'[data-testid="gpu-bar"]{holder}[data-live="1"]'
    page.wait_for_selector(live_bar, timeout=10_000)
    assert page.locator(f'[data-testid="gpu-row"][data-gpu="1"] {live_bar}').count() == 1
    run_bar = f'[data-testid="gpu-bar"][data-holder-type="run"][data-holder-id="{run_id}"]'
    assert page.locator(run_bar).count() == 1, "the run's hold is on the same timeline"
    browser.shot("overview")
    browser.goto("/ui/deployments")
    assert page.locator(f'[data-testid="deployment-row"][data-deployment-id="{deployment_id}"]').count() == 1
    browser.shot("deployments")

    browser.goto(f"/ui/deployments/{deployment_id}")
    page.click('[data-testid="deployment-stop"]')
    page.wait_for_selector('[data-testid="deployment-status"]:text("stopped")', timeout=30_000)
    browser.goto("/ui/")
    page.wait_for_selector(f'[data-testid="gpu-bar"]{holder}[data-live="0"]', timeout=10_000)
    assert page.locator(live_bar).count() == 0, "the stopped deployment no longer holds GPU 1"


def test_the_other_pages_render_real_data(browser: Browser, server: str, project: str) -> None:
    # an OpenAI-style fine-tuning job on the sample chats: a real tiny job for the jobs page
    api = Api(server)
    upload = api.ok(
        api.http.post(
            "/v1/files",
            files={"file": ("chat.jsonl", (EXAMPLES / "chat.jsonl").read_bytes())},
            data={"purpose": "fine-tune"},
        )
    )
    job = api.post("/v1/fine_tuning/jobs", json={"model": "tuning/tiny-demo", "training_file": upload["id"]})

    browser.log_in(ALICE_KEY)
    page = browser.page
    # upload through the page: the progress bar fills, then the dataset's page opens
    browser.goto("/ui/datasets")
    page.set_input_files('[data-testid="upload-file"]', str(EXAMPLES / "chat.jsonl"))
    page.fill('[data-testid="upload-name"]', "chats-from-the-page")
    page.click('[data-testid="upload-submit"]')
    page.wait_for_url("**/ui/datasets/*", timeout=30_000)
    assert "chats-from-the-page" in page.locator('[data-testid="dataset-name"]').inner_text()
    page.wait_for_selector('[data-testid="dataset-preview"]')
    browser.shot("dataset")
    browser.goto("/ui/datasets")
    assert page.locator('[data-testid="dataset-row"]').count() >= 2
    browser.shot("datasets")
    browser.goto("/ui/deid")
    page.fill('[data-testid="deid-text"]', "Call Alice at 415-555-0100 or alice@example.com")
    page.click('[data-testid="deid-run"]')
    page.wait_for_selector('[data-testid="entity"]', timeout=10_000)
    browser.shot("deid")
    deadline = time.monotonic() + 240
    while api.get(f"/v1/fine_tuning/jobs/{job['id']}")["status"] not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.5)
    # an interactive training session (the Tinker-compatible API through EZTinker): its loss per step
    from eztinker import EZTinkerClient

    with EZTinkerClient(server, ALICE_KEY) as tinker:
        tinker_run = tinker.create_run("tuning/tiny-demo", lora_rank=8, lora_alpha=16)
        for _ in range(4):
            tinker.forward_backward_text(
                tinker_run, " jumps over the lazy dog.", prompt="the quick brown fox"
            )
            tinker.optim_step(tinker_run, learning_rate=5e-3)
    browser.goto("/ui/jobs")
    row = page.locator(f'[data-testid="job-row"][data-job-id="{job["id"]}"]')
    assert row.get_attribute("data-status") == "succeeded"
    assert row.locator('[data-testid="job-run-link"]').count() == 1
    chart = page.locator('[data-testid="tinker-loss-chart"]').first
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=tinker-loss-chart]').dataset.points) >= 4",
        timeout=20_000,
    )
    assert chart.locator("canvas").count() == 1
    browser.shot("jobs")

    admin = Browser(browser.page.context.browser, server)
    try:
        admin.log_in(ADMIN_KEY)
        admin.goto("/ui/keys")
        assert admin.page.locator('[data-testid="key-row"]').count() >= 3
        admin.shot("keys")
        admin.goto("/ui/runs")
        admin.shot("runs-admin")
    finally:
        admin.close()


def test_dark_mode_toggle_survives_a_reload_and_pages_fit_390_px(chromium, server: str, project: str) -> None:
    narrow = Browser(chromium, server, width=390, height=844)
    try:
        narrow.log_in(ALICE_KEY)
        page = narrow.page
        before = page.evaluate("() => window.tuningTheme.current()")
        page.click("header [data-theme-toggle]")
        after = page.evaluate("() => window.tuningTheme.current()")
        assert after != before
        page.reload()
        assert page.evaluate("() => window.tuningTheme.current()") == after
        background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
        assert (background == "rgb(17, 19, 24)") == (after == "dark"), background
        runs = Api(server).get(f"/projects/{project}/runs")["data"]
        for path in ("/ui/", "/ui/runs", f"/ui/runs/{runs[0]['id']}"):
            narrow.goto(path)
            width = page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 390, f"{path} is {width} px wide at a 390 px viewport"
        narrow.shot("run-390px-dark")
        # the keyboard reaches the navigation: Tab from the top lands on the skip link, then the links
        narrow.goto("/ui/")
        page.keyboard.press("Tab")
        assert page.evaluate("() => document.activeElement.className") == "skip-link"
        reached = []
        for _ in range(8):
            page.keyboard.press("Tab")
            reached.append(page.evaluate("() => document.activeElement.textContent.trim()"))
        assert "Runs" in reached and "Deployments" in reached, reached
    finally:
        narrow.close()
