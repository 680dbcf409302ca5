"""EZTinkerClient: runs, training steps, samples and checkpoints over the service's plain run API.

    with EZTinkerClient() as client:            # TUNING_BASE_URL, TUNING_API_KEY
        run_id = client.create_run("tuning/tiny-demo", lora_rank=8)
        client.forward_backward(run_id, input_ids)
        client.optim_step(run_id, learning_rate=2e-4)
        print(client.sample("Hello!", max_new_tokens=20, run_id=run_id))
        client.save_checkpoint(run_id, "final")

Every call is queued on the server and answered with a job; the client waits for the
job (the server holds each poll up to 20 s) and returns its result, or raises
`JobFailedError` with the server's reason. Only reads are retried: a training step
sent twice would be two steps.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from tuning_sdk._base import DEFAULT_BASE_URL, backoff_seconds, raise_for_response
from tuning_sdk.errors import APIConnectionError, APIError, TuningError

POLL_SECONDS = 20  # the server holds a job poll this long at most (it allows 25)
READ_RETRIES = 3


def _part(value: str) -> str:
    """An id as one path segment: `../deployments/x` stays an (unknown) id, never another route."""
    return quote(value, safe="")


class JobFailedError(TuningError):
    """A queued job failed on the server: `category` is `user` (fix the request) or `server`."""

    def __init__(self, message: str, *, job_id: str, category: str) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.category = category


class EZTinkerClient:
    """A client of one server; `base_url` and `api_key` default to TUNING_BASE_URL and TUNING_API_KEY."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 60.0,
        job_timeout: float = 900.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        self.base_url = (base_url or os.environ.get("TUNING_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        key = api_key or os.environ.get("TUNING_API_KEY")
        headers = {"User-Agent": "eztinker/0.1.0", **({"Authorization": f"Bearer {key}"} if key else {})}
        self.job_timeout = job_timeout
        self._http = http_client or httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout + POLL_SECONDS
        )
        self._base_models: dict[str, str] = {}  # run id -> its base model, for sample() without a run

    # -- plumbing ---------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kwargs: Any) -> Any:
        """One request; reads are retried on connection errors and 5xx, changes never are."""
        attempt = 0
        while True:
            try:
                response = self._http.request(method, path, **kwargs)
                raise_for_response(response)
                return response.json() if response.content else None
            except (httpx.HTTPError, APIError) as exc:
                retry = method == "GET" and attempt < READ_RETRIES
                retry = retry and (isinstance(exc, httpx.HTTPError) or getattr(exc, "status_code", 0) >= 500)
                if not retry:
                    if isinstance(exc, httpx.HTTPError):
                        raise APIConnectionError(f"cannot reach {self.base_url}: {exc}") from exc
                    raise
            time.sleep(backoff_seconds(attempt, None))
            attempt += 1

    def wait(self, job_id: str) -> dict[str, Any]:
        """The job's result once it completes; `JobFailedError` if it fails."""
        deadline = time.monotonic() + self.job_timeout
        while True:
            job = self._send("GET", f"/v1/jobs/{_part(job_id)}", params={"wait": POLL_SECONDS})
            if job["status"] == "completed":
                return job["result"] or {}
            if job["status"] == "failed":
                error = job.get("error") or {}
                raise JobFailedError(
                    error.get("message", "the job failed"),
                    job_id=job_id,
                    category=error.get("category", "unknown"),
                )
            if time.monotonic() > deadline:
                raise TuningError(f"job {job_id} did not finish in {self.job_timeout:.0f} s")

    # -- server ------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The server's /health answer."""
        return self._send("GET", "/health")

    # -- runs --------------------------------------------------------------------------------

    def create_run(
        self,
        base_model: str,
        lora_rank: int = 8,
        lora_alpha: float | None = None,
        *,
        label: str | None = None,
        seed: int | None = None,
        wait: bool = True,
    ) -> str:
        """Start a LoRA run on a base model the server has; returns the run id the server issued.

        `label` is a name of yours shown beside the run, never its id.
        """
        body = {"base_model": base_model, "lora_rank": lora_rank, "lora_alpha": lora_alpha, "label": label}
        if seed is not None:
            body["seed"] = seed
        run = self._send("POST", "/v1/runs", json={k: v for k, v in body.items() if v is not None})
        if wait:
            self.wait(run["job_id"])
        self._base_models[run["run_id"]] = base_model
        return run["run_id"]

    def get_run(self, run_id: str) -> dict[str, Any]:
        return self._send("GET", f"/v1/runs/{_part(run_id)}")

    def list_runs(self, limit: int = 100) -> list[dict[str, Any]]:
        """Your runs, newest first."""
        return self._send("GET", "/v1/runs", params={"limit": limit})["data"]

    def delete_run(self, run_id: str) -> dict[str, Any]:
        """End a run (its checkpoints stay)."""
        return self._send("DELETE", f"/v1/runs/{_part(run_id)}")

    # -- training ----------------------------------------------------------------------------

    def forward_backward(
        self, run_id: str, input_ids: list[int], weights: list[float] | None = None
    ) -> dict[str, Any]:
        """Next-token cross-entropy on one token sequence; gradients add up until `optim_step`.

        Returns `{"loss": …, "metrics": …}` (the loss is a sum over the weighted tokens).
        """
        body: dict[str, Any] = {"input_ids": list(input_ids)}
        if weights is not None:
            body["weights"] = list(weights)
        return self.wait(
            self._send("POST", f"/v1/runs/{_part(run_id)}/forward_backward", json=body)["job_id"]
        )

    def forward_backward_text(self, run_id: str, completion: str, prompt: str = "") -> dict[str, Any]:
        """Learn `completion` after `prompt`, tokenized by the server with the run's tokenizer."""
        body = {"prompt": prompt, "completion": completion}
        return self.wait(
            self._send("POST", f"/v1/runs/{_part(run_id)}/forward_backward", json=body)["job_id"]
        )

    def forward(self, run_id: str, input_ids: list[int]) -> dict[str, Any]:
        """The loss on a sequence, without a gradient."""
        body = {"input_ids": list(input_ids), "forward_only": True}
        return self.wait(
            self._send("POST", f"/v1/runs/{_part(run_id)}/forward_backward", json=body)["job_id"]
        )

    def optim_step(self, run_id: str, learning_rate: float = 1e-4) -> dict[str, Any]:
        """An AdamW step with the gradients gathered since the last one."""
        body = {"learning_rate": learning_rate}
        return self.wait(self._send("POST", f"/v1/runs/{_part(run_id)}/optim_step", json=body)["job_id"])

    # -- sampling ----------------------------------------------------------------------------

    def sample(
        self,
        prompt: str,
        max_new_tokens: int = 64,
        temperature: float = 0.7,
        run_id: str | None = None,
        *,
        base_model: str | None = None,
        seed: int | None = None,
    ) -> str:
        """A completion of `prompt`: from `run_id` as trained so far, else from a base model
        (`base_model`, else that of the last run this client created, else the server's demo model)."""
        return self.sample_many(
            prompt, 1, max_new_tokens=max_new_tokens, temperature=temperature, run_id=run_id,
            base_model=base_model, seed=seed,
        )[0]  # fmt: skip

    def sample_many(
        self,
        prompt: str,
        num_samples: int,
        *,
        max_new_tokens: int = 64,
        temperature: float = 0.7,
        run_id: str | None = None,
        base_model: str | None = None,
        seed: int | None = None,
    ) -> list[str]:
        """`num_samples` completions of one prompt, in one job."""
        body: dict[str, Any] = {
            "prompt": prompt,
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "num_samples": num_samples,
        }
        if run_id is not None:
            body["run_id"] = run_id
        elif base_model or self._base_models:
            body["base_model"] = base_model or list(self._base_models.values())[-1]
        if seed is not None:
            body["seed"] = seed
        return self.wait(self._send("POST", "/v1/sample", json=body)["job_id"])["texts"]

    # -- checkpoints -------------------------------------------------------------------------

    def save_checkpoint(self, run_id: str, name: str) -> str:
        """Save the adapter and its optimizer state; returns its `tinker://` path."""
        job = self._send("POST", f"/v1/runs/{_part(run_id)}/checkpoints", json={"name": name})
        return self.wait(job["job_id"])["path"]

    def list_checkpoints(self, run_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Your saved weights, newest first; of one run with `run_id`."""
        params: dict[str, Any] = {"limit": limit}
        if run_id is not None:
            params["run_id"] = run_id
        return self._send("GET", "/v1/checkpoints", params=params)["data"]

    def download_checkpoint(self, checkpoint_id: str, destination: str | Path) -> Path:
        """Write the checkpoint's files as a .tar.gz to `destination` (a file, or a directory for it)."""
        target = Path(destination)
        with self._http.stream("GET", f"/v1/checkpoints/{_part(checkpoint_id)}/archive") as response:
            if not response.is_success:
                response.read()
                raise_for_response(response)
            if target.is_dir():
                name = response.headers.get("content-disposition", "").rpartition("filename=")[2].strip('"')
                target = target / (Path(name).name or f"{checkpoint_id}.tar.gz")
            with target.open("wb") as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
        return target

    # -- life cycle --------------------------------------------------------------------------

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> EZTinkerClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
