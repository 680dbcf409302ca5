"""EZTinker: a small client, datasets and CLI for interactive LoRA training on Tuning Service.

from eztinker import EZTinkerClient

with EZTinkerClient() as client:          # TUNING_BASE_URL, TUNING_API_KEY
    run_id = client.create_run("tuning/tiny-demo")
    print(client.sample("Hello!", max_new_tokens=20))
"""

from eztinker.client import EZTinkerClient, JobFailedError
from eztinker.datasets import GSM8KDataset, ShareGPTDataset, evaluate_answer
from eztinker.rejection import create_training_run, generate_candidates, select_best_candidate_and_train

__version__ = "0.1.0"

__all__ = [
    "EZTinkerClient",
    "GSM8KDataset",
    "JobFailedError",
    "ShareGPTDataset",
    "__version__",
    "create_training_run",
    "evaluate_answer",
    "generate_candidates",
    "select_best_candidate_and_train",
]
