"""The compute side of Tinker models, inside a worker: one base model, one LoRA adapter per model.

Each model gets its own adapter (peft) and its own AdamW optimizer; gradients
add up over `forward_backward` calls until `optim_step` applies and clears them,
as Tinker's training loop expects. Losses are sums over the weighted tokens, the
way the SDK reports them (`loss:sum`).

LoRA alpha: the tinker wire has none, so its adapters use `LORA_ALPHA` = 32
whatever their rank (the scale Thinking Machines' "LoRA Without Regret" keeps
fixed), which makes a learning rate carry over between ranks. The plain
`/v1/runs` API (EZTinker) may choose another.

Losses (all sums over tokens): `cross_entropy`; and on the sampler's logprobs and
advantages, `importance_sampling`, `ppo` (ratio clipped to 0.8..1.2 unless
`clip_low_threshold`/`clip_high_threshold` say otherwise), `cispo` (the clipped
ratio, held constant, weights the policy gradient; same thresholds) and `dro`
(the quadratic penalty `beta`, 0.05 unless set).

Imported only by the worker process: torch, transformers and peft load there.
"""

from __future__ import annotations

import math
import tempfile
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model, set_peft_model_state_dict
from safetensors.torch import load_file
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    GenerationConfig,
    StoppingCriteria,
    StoppingCriteriaList,
)

from src.features.tinker.wire import LORA_ALPHA, MAX_REQUEST_TOKENS, UserError

ATTENTION_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj")
MLP_MODULES = ("gate_proj", "up_proj", "down_proj")
UNEMBED_MODULES = ("lm_head",)
LOSSES = ("cross_entropy", "importance_sampling", "ppo", "cispo", "dro")
DRO_BETA = 0.05
MAX_SAMPLES = 16
MAX_NEW_TOKENS = 2048


class _StopTexts(StoppingCriteria):
    """Ends a row once its new tokens decode to text holding a stop string: the rule `_cut` cuts by.

    Not transformers' `stop_strings`: its StopStringCriteria rebuilds each vocabulary
    entry's text with `convert_tokens_to_string` and fails outright ("substring not
    found") on a tokenizer that does not round-trip it, one without a decoder say;
    and a match by its rule need not be one by `_cut`'s.
    """

    def __init__(self, tokenizer: Any, texts: list[str], *, prompt_length: int) -> None:
        self._tokenizer = tokenizer
        self._texts = texts
        self._prompt_length = prompt_length

    def __call__(
        self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs: Any
    ) -> torch.BoolTensor:
        done = [
            any(text in self._tokenizer.decode(row[self._prompt_length :]) for text in self._texts)
            for row in input_ids.tolist()
        ]
        return torch.tensor(done, dtype=torch.bool, device=input_ids.device)  # type: ignore[return-value]


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
        # the GPU the worker holds (CUDA_VISIBLE_DEVICES), else the CPU
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self._base = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).to(self.device)
        self._base.eval()
        self._tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.vocab_size = int(self._base.config.vocab_size)
        self.max_length = int(getattr(self._base.config, "max_position_embeddings", 4096) or 4096)
        self._model: PeftModel | None = None
        self._adapters: dict[str, _Adapter] = {}
        self._names: dict[str, str] = {}  # model id -> adapter name (peft names cannot hold ':')
        self._samplers: dict[str, str | None] = {}  # sampler id -> adapter name (None: the base model)
        self._serial = 0

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
        alpha: float | None = None,
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
        name = self._next_name("m")
        config = LoraConfig(
            r=rank, lora_alpha=alpha or LORA_ALPHA, lora_dropout=0.0, target_modules=targets, bias="none"
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

    def _next_name(self, prefix: str) -> str:
        self._serial += 1
        return f"{prefix}{self._serial}"

    def release(self, model_id: str) -> None:
        """Forget a model's adapter and optimizer."""
        name = self._names.pop(model_id, None)
        if name is None or self._model is None:
            return
        self._adapters.pop(name, None)
        self._drop(name)

    def close_sampler(self, sampler_id: str) -> None:
        """Unload a sampler's adapter (its session ended)."""
        name = self._samplers.pop(sampler_id, None)
        if name is not None and self._model is not None:
            self._drop(name)

    def _drop(self, name: str) -> None:
        """Delete an adapter; with none left, take the LoRA layers out of the base model again."""
        assert self._model is not None
        self._model.delete_adapter(name)
        left = [*self._adapters, *(n for n in self._samplers.values() if n is not None)]
        if not left:
            self._base = self._model.unload()
            self._model = None
        elif self._model.active_adapter not in left:
            self._model.set_adapter(left[0])  # never leave a deleted adapter active

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
        if sum(len(datum.tokens) for datum in data) > MAX_REQUEST_TOKENS:
            raise UserError(
                f"one forward_backward takes at most {MAX_REQUEST_TOKENS} tokens; send smaller batches"
            )
        model, adapter = self._use(model_id)
        config = loss_fn_config or {}
        needs = (
            ("target_tokens", "weights")
            if loss_fn == "cross_entropy"
            else ("target_tokens", "logprobs", "advantages")
        )
        for index, datum in enumerate(data):  # all of them before any gradient: a refused batch leaves none
            self._check_tokens(datum, index)
            for key in needs:
                self._input(
                    datum, index, key, len(datum.tokens), np.float32 if key != "target_tokens" else np.int64
                )
        outputs: list[np.ndarray] = []
        total = 0.0
        try:
            with torch.no_grad() if forward_only else nullcontext():
                for index, datum in enumerate(data):
                    logprobs, loss = self._datum_loss(
                        model, datum, index=index, loss_fn=loss_fn, config=config
                    )
                    if not forward_only:
                        loss.backward()
                    total += float(loss.detach())
                    outputs.append(logprobs.detach().to(torch.float32).cpu().numpy())
        except BaseException:
            adapter.optimizer.zero_grad(set_to_none=True)  # no half a batch in the next step
            raise
        return outputs, {"loss:sum": total}

    def _check_tokens(self, datum: Datum, index: int) -> None:
        length = len(datum.tokens)
        if length == 0:
            raise UserError(f"datum {index} has no input tokens")
        if length > self.max_length:
            raise UserError(f"datum {index} has {length} tokens; this model takes at most {self.max_length}")
        if min(datum.tokens) < 0 or max(datum.tokens) >= self.vocab_size:
            raise UserError(f"datum {index} has token ids outside the vocabulary (0..{self.vocab_size - 1})")

    def _datum_loss(
        self, model: PeftModel, datum: Datum, *, index: int, loss_fn: str, config: dict[str, float]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        length = len(datum.tokens)
        targets = self._input(datum, index, "target_tokens", length, np.int64)
        if targets.min() < 0 or targets.max() >= self.vocab_size:
            raise UserError(f"datum {index}: target_tokens outside the vocabulary (0..{self.vocab_size - 1})")
        input_ids = torch.tensor([datum.tokens], dtype=torch.long, device=self.device)
        logits = model(input_ids=input_ids).logits[0].to(torch.float32)
        target_ids = torch.from_numpy(targets).to(self.device)
        logprobs = torch.log_softmax(logits, dim=-1).gather(-1, target_ids[:, None])[:, 0]
        if loss_fn == "cross_entropy":
            weights = torch.from_numpy(self._input(datum, index, "weights", length, np.float32)).to(
                self.device
            )
            return logprobs, -(logprobs * weights).sum()
        sampled = torch.from_numpy(self._input(datum, index, "logprobs", length, np.float32)).to(self.device)
        advantages = torch.from_numpy(self._input(datum, index, "advantages", length, np.float32)).to(
            self.device
        )
        ratio = torch.exp(logprobs - sampled)
        if loss_fn == "importance_sampling":
            return logprobs, -(ratio * advantages).sum()
        if loss_fn == "dro":
            beta = float(config.get("beta", DRO_BETA))
            return logprobs, -(logprobs * advantages - 0.5 * beta * (logprobs - sampled) ** 2).sum()
        low = float(config.get("clip_low_threshold", 0.8))
        high = float(config.get("clip_high_threshold", 1.2))
        clipped = torch.clamp(ratio, low, high)
        if loss_fn == "cispo":
            return logprobs, -(clipped.detach() * logprobs * advantages).sum()
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

    # -- weights and sampling ---------------------------------------------------------------

    def save(self, model_id: str, directory: Path, *, optimizer: bool) -> int:
        """Write the model's adapter (a PEFT adapter directory) to `directory`; returns its size in bytes."""
        model, adapter = self._use(model_id)
        directory.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=directory.parent) as scratch:
            model.save_pretrained(scratch, selected_adapters=[adapter.name])
            saved = Path(scratch) / adapter.name  # peft writes a named adapter into a folder of its name
            if optimizer:
                torch.save(adapter.optimizer.state_dict(), saved / "optimizer.pt")
            saved.rename(directory)
        return sum(path.stat().st_size for path in directory.rglob("*") if path.is_file())

    def load(self, model_id: str, directory: Path, *, optimizer: bool) -> None:
        """Put saved adapter weights (and with `optimizer`, its AdamW state) into the model's adapter."""
        model, adapter = self._use(model_id)
        weights = directory / "adapter_model.safetensors"
        state_file = directory / "optimizer.pt"
        if not weights.is_file():
            raise UserError("these saved weights are gone from the server")
        if optimizer and not state_file.is_file():
            raise UserError("these weights were saved without optimizer state (save_state saves it)")
        state = torch.load(state_file, weights_only=True, map_location=self.device) if optimizer else None
        result = set_peft_model_state_dict(
            model, load_file(str(weights), device=str(self.device)), adapter_name=adapter.name
        )
        if getattr(result, "unexpected_keys", None):
            raise UserError("these weights are for other layers than this model's LoRA")
        adapter.optimizer.zero_grad(set_to_none=True)
        if state is not None:
            adapter.optimizer.load_state_dict(state)
        else:
            adapter.optimizer.state.clear()  # the moments belonged to other weights

    def open_sampler(self, sampler_id: str, weights_dir: Path | None) -> None:
        """Sample from the base model (no weights) or from a saved adapter, loaded once."""
        if sampler_id in self._samplers:
            return
        if weights_dir is None:
            self._samplers[sampler_id] = None
            return
        if not (weights_dir / "adapter_model.safetensors").is_file():
            raise UserError("the weights this sampler was opened on are gone from the server")
        name = self._next_name("s")
        if self._model is None:
            self._model = PeftModel.from_pretrained(self._base, str(weights_dir), adapter_name=name)
        else:
            self._model.load_adapter(str(weights_dir), adapter_name=name)
        for key, param in self._model.named_parameters():
            if f".{name}." in key:
                param.requires_grad_(False)
        self._samplers[sampler_id] = name

    def has_sampler(self, sampler_id: str) -> bool:
        return sampler_id in self._samplers

    def sample(
        self,
        sampler_id: str | None,
        prompt: list[int],
        *,
        num_samples: int,
        max_tokens: int,
        temperature: float,
        top_k: int,
        top_p: float,
        seed: int | None,
        stop: list[int] | list[str],
        prompt_logprobs: bool,
        model_id: str | None = None,
        with_logprobs: bool = True,
    ) -> tuple[list[tuple[list[int], list[float], bool]], list[float] | None]:
        """`num_samples` continuations: (tokens, their log-probabilities, stopped); and the prompt's.

        From a sampler, or with `model_id` from a training model's adapter as it is now.
        """
        if not prompt:
            raise UserError("the prompt has no tokens")
        if min(prompt) < 0 or max(prompt) >= self.vocab_size:
            raise UserError(f"the prompt has token ids outside the vocabulary (0..{self.vocab_size - 1})")
        if not 1 <= num_samples <= MAX_SAMPLES:
            raise UserError(f"num_samples must be 1..{MAX_SAMPLES}")
        if not 1 <= max_tokens <= MAX_NEW_TOKENS or len(prompt) + max_tokens > self.max_length:
            raise UserError(
                f"max_tokens must be 1..{MAX_NEW_TOKENS}, and with the prompt at most {self.max_length}"
            )
        if model_id is not None:
            name: str | None = self._names.get(model_id, "missing")
            if name == "missing":
                raise UserError(f"model {model_id!r} is not loaded in this worker")
        elif sampler_id is None:
            name = None  # the base model
        else:
            name = self._samplers.get(sampler_id, "missing")
            if name == "missing":
                raise UserError(f"sampler {sampler_id!r} is not open in this worker")
        model = self._model if self._model is not None else self._base
        if name is not None:
            self._model.set_adapter(name)  # type: ignore[union-attr]
        base_only = (
            self._model.disable_adapter() if name is None and self._model is not None else nullcontext()
        )
        eos = self._tokenizer.eos_token_id
        stop_ids = [value for value in stop if isinstance(value, int)]
        stop_texts = [value for value in stop if isinstance(value, str) and value]
        # this request's settings only, not the model's generation_config (a repetition penalty, say)
        config = GenerationConfig(
            max_new_tokens=max_tokens,
            do_sample=temperature > 0,
            temperature=temperature if temperature > 0 else 1.0,
            top_k=top_k if top_k > 0 else 0,
            top_p=top_p if temperature > 0 else 1.0,
            pad_token_id=eos if eos is not None else 0,
            eos_token_id=[*([eos] if eos is not None else []), *stop_ids] or None,
            return_dict_in_generate=True,
            output_logits=with_logprobs,
        )
        # greedy cannot return several
        input_ids = torch.tensor([prompt] * num_samples, dtype=torch.long, device=self.device)
        if seed is not None:
            torch.manual_seed(seed)
        with torch.no_grad(), base_only:
            generated = model.generate(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                generation_config=config,
                stopping_criteria=StoppingCriteriaList(
                    [_StopTexts(self._tokenizer, stop_texts, prompt_length=len(prompt))] if stop_texts else []
                ),
            )
            new_tokens = generated.sequences[:, len(prompt) :]
            # the model's own log-probabilities (temperature 1, nothing cut), as importance sampling needs;
            # a step at a time, so at most one step's logits are copied (all of them at once: gigabytes)
            logprobs = torch.zeros(new_tokens.shape, dtype=torch.float32)
            for step, step_logits in enumerate(generated.logits if with_logprobs else ()):
                chosen = new_tokens[:, step : step + 1]
                logprobs[:, step] = (
                    torch.log_softmax(step_logits.float(), dim=-1).gather(-1, chosen)[:, 0].cpu()
                )
            prompt_values = self._prompt_logprobs(model, input_ids[:1]) if prompt_logprobs else None
        results = []
        for row, row_logprobs in zip(new_tokens.tolist(), logprobs.tolist(), strict=True):
            results.append(self._cut(row, row_logprobs, eos=eos, stop=stop))
        return results, prompt_values

    def forward_backward_text(
        self, model_id: str, prompt: str, completion: str, *, forward_only: bool
    ) -> dict[str, float]:
        """Cross-entropy on `completion` after `prompt` (the prompt's tokens weigh 0), tokenized here."""
        prompt_tokens = self._tokenizer.encode(prompt) if prompt else []
        tokens = self._tokenizer.encode(prompt + completion)
        eos = self._tokenizer.eos_token_id
        if eos is not None:
            tokens.append(eos)  # learn to stop after the completion
        if len(tokens) < 2 or len(tokens) <= len(prompt_tokens):
            raise UserError("the completion is empty once tokenized")
        weights = np.array(
            [0.0 if i < len(prompt_tokens) else 1.0 for i in range(1, len(tokens))], np.float32
        )
        datum = Datum(
            tokens=tokens[:-1],
            inputs={"target_tokens": np.array(tokens[1:], dtype=np.int64), "weights": weights},
        )
        _logprobs, metrics = self.forward_backward(
            model_id, [datum], loss_fn="cross_entropy", forward_only=forward_only
        )
        metrics["tokens:sum"] = float(weights.sum())
        return metrics

    def generate_text(
        self,
        prompt: str,
        *,
        model_id: str | None,
        max_tokens: int,
        temperature: float,
        num_samples: int,
        seed: int | None = None,
    ) -> list[str]:
        """Text in, texts out (/v1/sample): the base model's, or a training model's as it is now."""
        tokens = self._tokenizer.encode(prompt)
        if not tokens:
            raise UserError("the prompt is empty once tokenized")
        if len(tokens) + 1 > self.max_length:
            raise UserError(f"the prompt is {len(tokens)} tokens; this model takes at most {self.max_length}")
        max_tokens = min(max_tokens, self.max_length - len(tokens))
        sequences, _ = self.sample(
            None,
            tokens,
            num_samples=num_samples,
            max_tokens=max_tokens,
            temperature=temperature,
            top_k=-1,
            top_p=1.0,
            seed=seed,
            stop=[],
            prompt_logprobs=False,
            model_id=model_id,
            with_logprobs=False,  # text only: no logits kept
        )
        eos = self._tokenizer.eos_token_id
        return [
            self._tokenizer.decode([t for t in sequence if t != eos], skip_special_tokens=True)
            for sequence, _logprobs, _stopped in sequences
        ]

    @staticmethod
    def _prompt_logprobs(model: Any, input_ids: torch.Tensor) -> list[float]:
        logits = model(input_ids=input_ids).logits[0, :-1].to(torch.float32)
        values = torch.log_softmax(logits, dim=-1).gather(-1, input_ids[0, 1:, None])[:, 0]
        return [math.nan, *values.tolist()]

    def _cut(
        self, tokens: list[int], logprobs: list[float], *, eos: int | None, stop: list[int] | list[str]
    ) -> tuple[list[int], list[float], bool]:
        """A continuation up to and including its end: the end-of-sequence token or a stop."""
        stop_tokens = {value for value in stop if isinstance(value, int)}
        if eos is not None:
            stop_tokens.add(eos)
        stop_texts = [value for value in stop if isinstance(value, str) and value]
        for index, token in enumerate(tokens):
            if token in stop_tokens:
                return tokens[: index + 1], logprobs[: index + 1], True
            if stop_texts:
                text = self._tokenizer.decode(tokens[: index + 1])
                if any(value in text for value in stop_texts):
                    return tokens[: index + 1], logprobs[: index + 1], True
        return tokens, logprobs, False
