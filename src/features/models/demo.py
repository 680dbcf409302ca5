"""The demo base model, `tuning/tiny-demo`: a tiny Llama built on this host, never downloaded.

A byte-level BPE tokenizer trained on the bundled corpus beside this file and a
2-layer Llama with random weights from a fixed seed (hidden size 128 with 2
heads: head size 64, which vLLM's CPU attention needs). It trains in seconds
on a CPU, so a fresh install can run a whole fine-tune without a GPU or a
network; what it says is noise. Built once, on first start, under the data
directory; a half-built one never counts (built aside, then renamed).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

logger = logging.getLogger(__name__)

DEMO_MODEL_NAME = "tuning/tiny-demo"
CORPUS_FILE = Path(__file__).with_name("demo_corpus.txt")
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>\n{{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)


def trainer_packages_missing() -> list[str]:
    """The packages the bundled trainer needs that this Python lacks."""
    import importlib.util

    return [
        name
        for name in ("torch", "transformers", "peft", "tokenizers")
        if importlib.util.find_spec(name) is None
    ]


def build_tiny_llama(directory: Path, *, corpus: list[str] | None = None, seed: int = 0) -> Path:
    """Write a tokenizer and a randomly initialised tiny Llama to `directory`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    lines = corpus if corpus is not None else CORPUS_FILE.read_text(encoding="utf-8").splitlines()
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()  # decoded text has its spaces back, not byte-level marks
    tokenizer.train_from_iterator(
        lines,
        trainers.BpeTrainer(
            vocab_size=512,
            special_tokens=["<unk>", "<s>", "</s>", "<pad>"],
            # every byte has a token: capitals, digits, newlines and any UTF-8 text encode, never as <unk>
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    # a chat template, so an OpenAI-compatible server (vLLM) can answer chat completions with it
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(directory)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


def ensure_demo_model(models_dir: Path) -> Path | None:
    """The demo model's directory, built on first use; None when the trainer's packages are missing."""
    target = models_dir / "tiny-demo"
    if (target / "config.json").is_file():
        return target
    missing = trainer_packages_missing()
    if missing:
        logger.warning(
            "the demo model %s is not built: %s missing (pip install -r requirements-trainer.txt)",
            DEMO_MODEL_NAME,
            ", ".join(missing),
        )
        return None
    models_dir.mkdir(parents=True, exist_ok=True)
    building = Path(tempfile.mkdtemp(prefix=".tiny-demo-", dir=models_dir))
    try:
        build_tiny_llama(building)
        # readable by the unprivileged user that runs training (safetensors writes 0600)
        building.chmod(0o755)
        for file in building.iterdir():
            file.chmod(0o644)
        building.rename(target)
    except OSError:
        if not (target / "config.json").is_file():  # not another process that finished first
            raise
    finally:
        shutil.rmtree(building, ignore_errors=True)
    logger.info("built the demo model %s in %s", DEMO_MODEL_NAME, target)
    return target
