"""Rejection-sampling SFT: sample several answers, score them, train on the best one.

    run_id = create_training_run("tuning/tiny-demo", lora_rank=1)
    candidates = generate_candidates(prompt=prompt, question=question, run_id=run_id, num_candidates=4)
    result = select_best_candidate_and_train(
        run_id=run_id, prompt=prompt, candidates=candidates, ground_truth=answer,
        question=question, dataset=dataset, learning_rate=2e-4,
    )

Each helper takes an `EZTinkerClient` (`client=`); without one it opens one from
TUNING_BASE_URL / TUNING_API_KEY for the call. `run_demo` is what `eztinker demo` runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from eztinker.client import EZTinkerClient
from eztinker.datasets import GSM8KDataset, evaluate_answer

DEMO_MODEL = (
    "tuning/tiny-demo"  # the service's built-in demo model: random weights, trains in seconds on a CPU
)


def bundled_problems() -> Path:
    """The arithmetic problems shipped with the package, in GSM8K's format."""
    return Path(str(resources.files("eztinker") / "data" / "arithmetic.jsonl"))


@contextmanager
def _client(client: EZTinkerClient | None) -> Iterator[EZTinkerClient]:
    if client is not None:
        yield client
        return
    with EZTinkerClient() as own:
        yield own


def create_training_run(
    base_model: str,
    lora_rank: int = 8,
    lora_alpha: float | None = None,
    *,
    client: EZTinkerClient | None = None,
) -> str:
    with _client(client) as c:
        return c.create_run(base_model, lora_rank=lora_rank, lora_alpha=lora_alpha)


def generate_candidates(
    prompt: str,
    question: str | None = None,
    run_id: str | None = None,
    num_candidates: int = 4,
    temperature: float = 0.8,
    max_new_tokens: int = 32,
    *,
    client: EZTinkerClient | None = None,
) -> list[str]:
    """`num_candidates` answers to `prompt` from the run as it is now (one job on the server).

    `question` is accepted for the seed's call shape; the prompt already holds it.
    """
    with _client(client) as c:
        return c.sample_many(
            prompt, num_candidates, max_new_tokens=max_new_tokens, temperature=temperature, run_id=run_id
        )


def select_best_candidate_and_train(
    run_id: str,
    prompt: str,
    candidates: list[str],
    ground_truth: str,
    question: str | None = None,
    dataset: GSM8KDataset | None = None,
    learning_rate: float = 2e-4,
    *,
    client: EZTinkerClient | None = None,
) -> dict[str, Any]:
    """Score each candidate against `ground_truth`, train one step on the best (the first of equals).

    Returns the scores, the chosen candidate, its score (`selected_score`) and the step's loss.
    """
    if not candidates:
        raise ValueError("no candidates to choose from")
    score = dataset.evaluate_answer if dataset is not None else evaluate_answer
    scores = [float(score(candidate, ground_truth, question)["score"]) for candidate in candidates]
    best = max(range(len(candidates)), key=lambda i: scores[i])
    with _client(client) as c:
        step = c.forward_backward_text(run_id, candidates[best], prompt=prompt)
        c.optim_step(run_id, learning_rate=learning_rate)
    return {
        "scores": scores,
        "selected_index": best,
        "selected": candidates[best],
        "selected_score": scores[best],
        "loss": step["loss"],
    }


def run_demo(
    client: EZTinkerClient,
    *,
    base_model: str = DEMO_MODEL,
    rounds: int = 3,
    num_candidates: int = 4,
    max_samples: int = 8,
    learning_rate: float = 2e-4,
    max_new_tokens: int = 16,
    report: Callable[[str], None] = print,
) -> list[dict[str, float]]:
    """Rejection-sampling SFT on the bundled arithmetic problems; one line per round, and their figures.

    With the demo model's random weights the scores say nothing; the loop is what it shows.
    """
    dataset = GSM8KDataset(file_path=bundled_problems(), max_samples=max_samples)
    run_id = client.create_run(base_model, lora_rank=8, label="eztinker-demo", seed=0)
    report(f"run {run_id} on {base_model}: {len(dataset)} problems, {num_candidates} candidates each")
    figures = []
    try:
        for round_number in range(1, rounds + 1):
            scores, chosen, losses = [], [], []
            for index in range(len(dataset)):
                question, prompt, answer = dataset.get_example_question(index)
                candidates = generate_candidates(
                    prompt, question, run_id, num_candidates, max_new_tokens=max_new_tokens, client=client
                )
                result = select_best_candidate_and_train(
                    run_id, prompt, candidates, answer, question, dataset, learning_rate, client=client
                )
                scores.extend(result["scores"])
                chosen.append(result["selected_score"])
                losses.append(result["loss"])
            figure = {
                "round": round_number,
                "mean_score": statistics.fmean(scores),
                "best_of_n": statistics.fmean(chosen),
                "loss": statistics.fmean(losses),
            }
            figures.append(figure)
            report(
                f"round {round_number}: mean score {figure['mean_score']:.3f}, "
                f"best of {num_candidates} {figure['best_of_n']:.3f}, loss {figure['loss']:.3f}"
            )
        path = client.save_checkpoint(run_id, "eztinker-demo")
        report(f"saved {path}")
    finally:
        client.delete_run(run_id)
    return figures
