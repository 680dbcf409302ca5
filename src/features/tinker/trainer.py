"""The compute side of Tinker models, inside a worker: one base model, one LoRA adapter per model.

Each model gets its own adapter (peft) and its own AdamW optimizer; gradients
add up over `forward_backward` calls until `optim_step` applies and clears them,
as Tinker's training loop expects. Losses are sums over the weighted tokens, the
way the SDK reports them (`loss:sum`).

LoRA alpha: the wire has none, so every adapter uses `LORA_ALPHA` = 32 whatever
its rank (the scale Thinking Machines' "LoRA Without Regret" keeps fixed), which
makes a learning rate carry over between ranks.

Imported only by the worker process: torch, transformers and peft load there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from src.features.tinker.wire import UserError

LORA_ALPHA = 32
ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")
UNEMBED_MODULES = ("lm_head",)
LOSSES = ("cross_entropy", "importance_sampling", "ppo")


@dataclass
class Datum:
    """One example: its input tokens and the loss inputs, as numpy arrays of the input's length."""

    tokens: list[int]
    inputs: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class _Adapter:
    name: str
    optimizer: torch.optim.Optimizer
    steps: int = 0


class Trainer:
    """A base model and the LoRA adapters trained on it."""

    def __init__(self, model_path: Path) -> None:
        torch.set_num_threads(max(1, torch.get_num_threads()))
        self._base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
        self._base.eval()
        self.vocab_size = int(self._base.config.vocab_size)
        self._model: PeftModel | None = None
        self._adapters: dict[str, _Adapter] = {}
        self._names: dict[str, str] = {}  # model id -> adapter name (peft names cannot hold ':')

    # -- adapters ---------------------------------------------------------------------------

    def create(
        self,
        model_id: str,
        *,
        rank: int,
        train_attn: bool = True,
        train_mlp: bool = True,
        train_unembed: bool = True,
        seed: int | None = None,
    ) -> None:
        """A fresh adapter for `model_id` (LoRA B starts at zero: the model starts as its base)."""
        targets = [
            *(ATTENTION_MODULES if train_attn else ()),
            *(MLP_MODULES if train_mlp else ()),
            *(UNEMBED_MODULES if train_unembed else ()),
        ]
        present = {name.rsplit(".", 1)[-1] for name, _ in self._base.named_modules()}
        targets = [target for target in targets if target in present]
        if not targets:
            raise UserError("this base model has none of the layers the LoRA config asks to train")
        name = f"m{len(self._names)}"
        config = LoraConfig(
            r=rank, lora_alpha=LORA_ALPHA, lora_dropout=0.0, target_modules=targets, bias="none"
        )
        if seed is not None:
            torch.manual_seed(seed)
        if self._model is None:
            self._model = get_peft_model(self._base, config, adapter_name=name)
        else:
            self._model.add_adapter(name, config)
        params = [param for key, param in self._model.named_parameters() if f".{name}." in key]
        for param in params:
            param.requires_grad_(True)
        self._names[model_id] = name
        self._adapters[name] = _Adapter(name=name, optimizer=torch.optim.AdamW(params, lr=1e-4))

    def release(self, model_id: str) -> None:
        """Forget a model's adapter and optimizer."""
        name = self._names.pop(model_id, None)
        if name is None or self._model is None:
            return
        self._adapters.pop(name, None)
        self._model.delete_adapter(name)

    def has(self, model_id: str) -> bool:
        return model_id in self._names

    def _use(self, model_id: str) -> tuple[PeftModel, _Adapter]:
        name = self._names.get(model_id)
        if name is None or self._model is None:
            raise UserError(f"model {model_id!r} is not loaded in this worker")
        self._model.set_adapter(name)
        # set_adapter freezes every other adapter and may leave this one frozen: train only this one
        for key, param in self._model.named_parameters():
            param.requires_grad_(f".{name}." in key)
        return self._model, self._adapters[name]

    # -- training ---------------------------------------------------------------------------

    def forward_backward(
        self,
        model_id: str,
        data: list[Datum],
        *,
        loss_fn: str,
        loss_fn_config: dict[str, float] | None = None,
        forward_only: bool = False,
    ) -> tuple[list[np.ndarray], dict[str, float]]:
        """Per datum the log-probabilities of its target tokens, and `loss:sum`; gradients add up."""
        if loss_fn not in LOSSES:
            raise UserError(f"loss {loss_fn!r} is not supported here; use one of {', '.join(LOSSES)}")
        if not data:
            raise UserError("forward_backward needs at least one datum")
        model, _adapter = self._use(model_id)
        config = loss_fn_config or {}
        outputs: list[np.ndarray] = []
        total = 0.0
        for index, datum in enumerate(data):
            logprobs, loss = self._datum_loss(model, datum, index=index, loss_fn=loss_fn, config=config)
            if not forward_only:
                loss.backward()
            total += float(loss.detach())
            outputs.append(logprobs.detach().to(torch.float32).numpy())
        return outputs, {"loss:sum": total}

    def _datum_loss(
        self, model: PeftModel, datum: Datum, *, index: int, loss_fn: str, config: dict[str, float]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        length = len(datum.tokens)
        if length == 0:
            raise UserError(f"datum {index} has no input tokens")
        if min(datum.tokens) < 0 or max(datum.tokens) >= self.vocab_size:
            raise UserError(f"datum {index} has token ids outside the vocabulary (0..{self.vocab_size - 1})")
        targets = self._input(datum, index, "target_tokens", length, np.int64)
        if targets.min() < 0 or targets.max() >= self.vocab_size:
            raise UserError(f"datum {index}: target_tokens outside the vocabulary (0..{self.vocab_size - 1})")
        input_ids = torch.tensor([datum.tokens], dtype=torch.long)
        logits = model(input_ids=input_ids).logits[0].to(torch.float32)
        logprobs = torch.log_softmax(logits, dim=-1).gather(-1, torch.from_numpy(targets)[:, None])[:, 0]
        if loss_fn == "cross_entropy":
            weights = torch.from_numpy(self._input(datum, index, "weights", length, np.float32))
            return logprobs, -(logprobs * weights).sum()
        sampled = torch.from_numpy(self._input(datum, index, "logprobs", length, np.float32))
        advantages = torch.from_numpy(self._input(datum, index, "advantages", length, np.float32))
        ratio = torch.exp(logprobs - sampled)
        if loss_fn == "importance_sampling":
            return logprobs, -(ratio * advantages).sum()
        low = float(config.get("clip_low_threshold", 0.8))
        high = float(config.get("clip_high_threshold", 1.2))
        clipped = torch.clamp(ratio, low, high)
        return logprobs, -torch.minimum(ratio * advantages, clipped * advantages).sum()

    @staticmethod
    def _input(datum: Datum, index: int, key: str, length: int, dtype: type) -> np.ndarray:
        value = datum.inputs.get(key)
        if value is None:
            raise UserError(f"datum {index} lacks loss_fn_inputs[{key!r}]")
        array = np.asarray(value).reshape(-1).astype(dtype)
        if array.shape[0] != length:
            raise UserError(
                f"datum {index}: loss_fn_inputs[{key!r}] has {array.shape[0]} values for {length} tokens"
            )
        if not np.all(np.isfinite(array)):
            raise UserError(f"datum {index}: loss_fn_inputs[{key!r}] holds NaN or infinity")
        return array

    def optim_step(self, model_id: str, adam: dict[str, Any]) -> dict[str, float]:
        """Apply the gradients gathered since the last step with AdamW, then clear them."""
        _model, adapter = self._use(model_id)
        learning_rate = float(adam.get("learning_rate", 1e-4))
        if not math.isfinite(learning_rate) or learning_rate < 0:
            raise UserError("learning_rate must be a finite number >= 0")
        for group in adapter.optimizer.param_groups:
            group["lr"] = learning_rate
            group["betas"] = (float(adam.get("beta1", 0.9)), float(adam.get("beta2", 0.95)))
            group["eps"] = float(adam.get("eps", 1e-12))
            group["weight_decay"] = float(adam.get("weight_decay", 0.0))
        params = [p for group in adapter.optimizer.param_groups for p in group["params"]]
        metrics: dict[str, float] = {}
        clip = float(adam.get("grad_clip_norm", 0.0) or 0.0)
        if clip > 0:
            metrics["grad_norm:mean"] = float(torch.nn.utils.clip_grad_norm_(params, clip))
        adapter.optimizer.step()
        adapter.optimizer.zero_grad(set_to_none=True)
        adapter.steps += 1
        return metrics
