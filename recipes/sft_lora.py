"""Supervised fine-tuning (LoRA or full) from a LLaMA-Factory-style YAML, on GPU or CPU.

    python recipes/sft_lora.py train.yaml [--dataset PATH] [--output_dir DIR]

Reads `model_name_or_path`, `dataset` (a .jsonl/.json file or a folder of them:
OpenAI chat, alpaca or ShareGPT records), `finetuning_type` (`lora` | `full`),
`lora_rank`, `lora_alpha`, `num_train_epochs`, `learning_rate`,
`per_device_train_batch_size`, `cutoff_len`, `output_dir`, `logging_steps`,
`quantization_bit`, `seed`, `save_strategy`, `save_total_limit`. Writes
LLaMA-Factory's `trainer_log.jsonl`, the adapter (or full weights), the
tokenizer and `training_args.json` to output_dir.
Nothing is downloaded: the model must be a local directory.
"""

from __future__ import annotations

import argparse
import getpass
import importlib.util
import json
import os
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import yaml

LAUNCH_ERROR = "[tuning:launch_error]"
ROLE_TAGS = {"system": "<|system|>", "user": "<|user|>", "assistant": "<|assistant|>", "tool": "<|tool|>"}
SHAREGPT_ROLES = {
    "human": "user",
    "gpt": "assistant",
    "system": "system",
    "observation": "tool",
    "function_call": "assistant",
}


def fail_launch(message: str) -> None:
    """Stop before training: the service reports this line as the run's launch_error."""
    print(f"{LAUNCH_ERROR} {message}", flush=True)
    sys.exit(78)


def conversation(record: dict[str, Any]) -> list[tuple[str, str]]:
    """(role, text) turns of one record in any supported format."""
    if "messages" in record:
        return [(m["role"], m.get("content") or "") for m in record["messages"]]
    if "conversations" in record:
        turns = record["conversations"]
        if turns and "from" in turns[0]:
            return [(SHAREGPT_ROLES.get(t["from"], "user"), t["value"]) for t in turns]
        return [(t["role"], t["content"]) for t in turns]
    prompt = "\n".join(p for p in (record.get("instruction"), record.get("input")) if p)
    turns = [("system", record["system"])] if record.get("system") else []
    for question, answer in record.get("history") or []:
        turns += [("user", question), ("assistant", answer)]
    return [*turns, ("user", prompt), ("assistant", record.get("output", ""))]


def load_records(path: Path) -> list[dict[str, Any]]:
    files = sorted(p for p in path.iterdir() if p.suffix in (".jsonl", ".json")) if path.is_dir() else [path]
    records: list[dict[str, Any]] = []
    for file in files:
        if file.suffix == ".jsonl":
            for line in file.read_text(encoding="utf-8").splitlines():
                if line.strip():
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
        else:
            document = json.loads(file.read_text(encoding="utf-8"))
            records += document if isinstance(document, list) else document.get("data", [])
    return [r for r in records if isinstance(r, dict)]


def render(turns: list[tuple[str, str]], eos: str) -> str:
    return "".join(f"{ROLE_TAGS.get(role, '<|user|>')}\n{text}\n" for role, text in turns) + eos


class TrainerLog:
    """Writes LLaMA-Factory's trainer_log.jsonl from the Trainer's log events."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = time.monotonic()

    def callback(self):
        from transformers import TrainerCallback

        log = self

        class _Callback(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                if not logs or not state.is_world_process_zero:
                    return
                total = state.max_steps or 1
                elapsed = time.monotonic() - log.started
                remaining = elapsed / max(state.global_step, 1) * (total - state.global_step)
                record = {
                    "current_steps": state.global_step,
                    "total_steps": total,
                    "loss": logs.get("loss"),
                    "eval_loss": logs.get("eval_loss"),
                    "lr": logs.get("learning_rate"),
                    "grad_norm": logs.get("grad_norm"),  # not in LLaMA-Factory's file; readers ignore it
                    "epoch": logs.get("epoch", state.epoch),
                    "percentage": round(state.global_step / total * 100, 2),
                    "elapsed_time": str(timedelta(seconds=int(elapsed))),
                    "remaining_time": str(timedelta(seconds=int(remaining))),
                }
                if "loss" not in logs and "eval_loss" not in logs:
                    return
                with log.path.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(record) + "\n")

        return _Callback()


def require_trainer_packages() -> None:
    """Fail as a launch error, naming the install command, when this Python lacks the trainer's packages."""
    missing = [name for name in ("torch", "transformers", "peft") if importlib.util.find_spec(name) is None]
    if missing:
        fail_launch(
            f"the bundled trainer needs {', '.join(missing)}, which {sys.executable} does not have: "
            "install them with `pip install -r requirements-trainer.txt` (scripts/setup.sh does)"
        )


def main() -> None:
    require_trainer_packages()
    parser = argparse.ArgumentParser(description="SFT with LoRA or full weights from a LLaMA-Factory YAML")
    parser.add_argument("config")
    parser.add_argument("--dataset", help="overrides the YAML's dataset")
    parser.add_argument("--output_dir", help="overrides the YAML's output_dir")
    args = parser.parse_args()
    config = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
    dataset_path = Path(args.dataset or config.get("dataset", ""))
    output_dir = Path(args.output_dir or config.get("output_dir") or "output")
    model_path = Path(str(config.get("model_name_or_path", "")))
    if not model_path.is_dir():
        fail_launch(f"model_name_or_path {str(model_path)!r} is not a local model directory")
    unreadable = [f.name for f in model_path.iterdir() if f.is_file() and not os.access(f, os.R_OK)]
    if unreadable:
        fail_launch(
            f"{', '.join(sorted(unreadable))} in {model_path} cannot be read by user "
            f"{getpass.getuser()!r}, who runs training: make the model directory world-readable"
        )
    if not dataset_path.exists():
        fail_launch(f"dataset {str(dataset_path)!r} not found")

    import torch

    quantization = config.get("quantization_bit")
    if quantization:
        if not torch.cuda.is_available():
            fail_launch(f"quantization_bit={quantization} (QLoRA) needs a CUDA GPU; none is available")
        try:
            import bitsandbytes  # noqa: F401
        except ImportError:
            fail_launch("quantization_bit (QLoRA) needs the bitsandbytes package, which is not installed")

    from transformers import AutoModelForCausalLM, AutoTokenizer, Trainer, TrainingArguments, set_seed

    set_seed(int(config.get("seed", 42)))
    tokenizer = AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
    load_kwargs: dict[str, Any] = {}
    if quantization:
        from transformers import BitsAndBytesConfig

        load_kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=int(quantization) == 4, load_in_8bit=int(quantization) == 8
        )
    model = AutoModelForCausalLM.from_pretrained(model_path, **load_kwargs)
    finetuning = config.get("finetuning_type", "lora")
    if finetuning == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(
            model,
            LoraConfig(
                r=int(config.get("lora_rank", 8)),
                lora_alpha=int(config.get("lora_alpha", 2 * int(config.get("lora_rank", 8)))),
                lora_dropout=float(config.get("lora_dropout", 0.0)),
                target_modules="all-linear",
                task_type="CAUSAL_LM",
            ),
        )

    cutoff = int(config.get("cutoff_len", 1024))
    texts = [render(conversation(r), tokenizer.eos_token or "") for r in load_records(dataset_path)]
    if not texts:
        print("Cannot find valid samples in the dataset", flush=True)
        sys.exit(2)
    encoded = [tokenizer(text, truncation=True, max_length=cutoff)["input_ids"] for text in texts]
    features = [{"input_ids": ids, "labels": list(ids)} for ids in encoded if ids]

    def collate(batch: list[dict[str, list[int]]]) -> dict[str, torch.Tensor]:
        width = max(len(item["input_ids"]) for item in batch)
        pad = tokenizer.pad_token_id or 0
        input_ids = [item["input_ids"] + [pad] * (width - len(item["input_ids"])) for item in batch]
        labels = [item["labels"] + [-100] * (width - len(item["labels"])) for item in batch]
        mask = [[1] * len(item["input_ids"]) + [0] * (width - len(item["input_ids"])) for item in batch]
        return {
            "input_ids": torch.tensor(input_ids),
            "labels": torch.tensor(labels),
            "attention_mask": torch.tensor(mask),
        }

    output_dir.mkdir(parents=True, exist_ok=True)
    training_args = TrainingArguments(
        output_dir=str(output_dir),
        num_train_epochs=float(config.get("num_train_epochs", 3)),
        learning_rate=float(config.get("learning_rate", 1e-4)),
        per_device_train_batch_size=int(config.get("per_device_train_batch_size", 4)),
        gradient_accumulation_steps=int(config.get("gradient_accumulation_steps", 1)),
        logging_steps=int(config.get("logging_steps", 10)),
        save_strategy=str(config.get("save_strategy", "no")),
        save_total_limit=config.get("save_total_limit"),
        report_to=[],
        use_cpu=not torch.cuda.is_available(),
        disable_tqdm=False,
        seed=int(config.get("seed", 42)),
    )
    trainer = Trainer(
        model=model,
        args=training_args,
        train_dataset=features,
        data_collator=collate,
        callbacks=[TrainerLog(output_dir / "trainer_log.jsonl").callback()],
    )
    trainer.train()
    model.save_pretrained(output_dir)
    tokenizer.save_pretrained(output_dir)
    (output_dir / "training_args.json").write_text(json.dumps(training_args.to_dict(), indent=2, default=str))
    print(f"saved {finetuning} weights to {output_dir}", flush=True)


if __name__ == "__main__":
    main()
