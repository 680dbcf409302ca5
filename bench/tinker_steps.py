"""Benchmark: LoRA training steps through the tinker SDK and the service, next to the same loop in-process.

In one run, on the CPU, with a Llama of random weights built here (by default
hidden 512, 8 layers, vocabulary 8192: 34 M parameters; the demo model's
byte-level BPE tokenizer, nothing downloaded), cross entropy on fixed batches
(4 sequences of 128 tokens, about 0.7 s a step on one core, and 1 of 16, about
0.1 s), LoRA rank 16, alpha 32, on every attention and MLP projection and
lm_head (what `create_lora_training_client` asks for), AdamW, float32:

1. First step on a fresh service (`python main.py`, SQLite in a temp dir):
   `ServiceClient` -> `create_lora_training_client` -> first `forward_backward`
   result; it includes starting the worker process and loading the model. Next
   to it, the same in a fresh Python in-process (imports, load, first step).
2. Steps/s of `forward_backward` + `optim_step` through the unmodified `tinker`
   SDK three ways: each result awaited before the next call; both calls sent,
   then both awaited (the SDK's documented loop); the next step sent before the
   last one is awaited.
3. The same steps in-process: plain transformers + peft over the whole batch
   (the goal's reference), and the service's own `Trainer` (what the worker runs:
   one forward per sequence), which leaves only the transport in the difference.
   In-process and API rounds alternate, so drift on noisy cores hits both;
   steps/s come from the median step of all rounds.
4. Where a call's time goes: round trips of a 1-token `forward`, of an
   `optim_step` with no gradients, and the calls of the awaited loop, split with
   the store's timestamps and the worker's log into submit (SDK + HTTP +
   handler), queued (commit, until the worker's poll takes it), run, write (the
   result to the store) and answer (until `retrieve_future` hands it back).

The figure to watch is steps/s API / in-process (goal >= 0.8: the API costs at
most 25 %). Torch runs `--threads` threads on both sides, 1 by default (the
worker gets OMP_NUM_THREADS): on 2 busy cores two torch threads stall on each
other and a step takes 10x longer, and the server and the SDK need a core.
About 3 minutes on 2 cores.

    .venv/bin/python -m bench.tinker_steps [--steps 10] [--rounds 2] [--threads 1] [--json PATH]

Prints a table (and, with --json PATH, the figures as JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
KEY = "tml-bench-0123456789abcdef"
BASE_MODEL = "bench/llama-random"
ADAM = {"learning_rate": 1e-4, "beta1": 0.9, "beta2": 0.95, "eps": 1e-12, "weight_decay": 0.0}
TINY_CALLS = 20
LOOPS = {
    "peft": "in-process: peft, whole batch",
    "trainer": "in-process: service Trainer",
    "awaited": "API: each result awaited",
    "pipelined": "API: fb + optim sent, then awaited",
    "overlapped": "API: next step sent before awaiting",
}
API_LOOPS = ("awaited", "pipelined", "overlapped")


@dataclass(frozen=True)
class Shape:
    hidden: int = 512
    layers: int = 8
    vocab: int = 8192
    rank: int = 16

    @property
    def heads(self) -> int:
        return max(1, self.hidden // 64)

    @property
    def intermediate(self) -> int:
        return max(64, self.hidden * 11 // 4 // 64 * 64)  # Llama's ~2.75x, a multiple of 64


@dataclass(frozen=True)
class Sequence:
    tokens: list[int]
    targets: list[int]
    weights: list[float]


# --- the model and the batches ----------------------------------------------------------------


def build_model(directory: Path, shape: Shape) -> int:
    """The demo model's tokenizer and a Llama of `shape` with random weights; returns its parameter count."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    from src.features.models.demo import build_tiny_llama

    build_tiny_llama(directory)  # the tokenizer, and a 2-layer model replaced below
    tokenizer = PreTrainedTokenizerFast.from_pretrained(directory)
    config = LlamaConfig(
        vocab_size=max(shape.vocab, len(tokenizer)),
        hidden_size=shape.hidden,
        intermediate_size=shape.intermediate,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads,
        max_position_embeddings=4096,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.save_pretrained(directory)
    return sum(param.numel() for param in model.parameters())


def parse_batch(text: str) -> tuple[int, int]:
    """`4x128`: 4 sequences of 128 tokens."""
    sequences, tokens = text.lower().split("x")
    return int(sequences), int(tokens)


def make_batch(size: tuple[int, int], vocab: int, seed: int = 0) -> list[Sequence]:
    rng = random.Random(seed)
    batch = []
    for _ in range(size[0]):
        tokens = [rng.randrange(4, vocab) for _ in range(size[1] + 1)]
        batch.append(Sequence(tokens[:-1], tokens[1:], [1.0] * size[1]))
    return batch


# --- in-process loops -------------------------------------------------------------------------


class PeftLoop:
    """The loop a user writes in-process: one forward and backward over the whole batch."""

    def __init__(self, model_dir: Path, *, rank: int) -> None:
        import torch
        from peft import LoraConfig, get_peft_model
        from transformers import AutoModelForCausalLM

        from src.features.tinker.trainer import ATTENTION_MODULES, LORA_ALPHA, MLP_MODULES, UNEMBED_MODULES

        base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        base.eval()
        torch.manual_seed(0)
        config = LoraConfig(
            r=rank,
            lora_alpha=LORA_ALPHA,
            lora_dropout=0.0,
            target_modules=[*ATTENTION_MODULES, *MLP_MODULES, *UNEMBED_MODULES],
            bias="none",
        )
        self.model = get_peft_model(base, config)
        self.optimizer = torch.optim.AdamW(
            [param for param in self.model.parameters() if param.requires_grad],
            lr=ADAM["learning_rate"],
            betas=(ADAM["beta1"], ADAM["beta2"]),
            eps=ADAM["eps"],
            weight_decay=ADAM["weight_decay"],
        )

    @staticmethod
    def prepare(batch: list[Sequence]) -> Any:
        import torch

        return tuple(
            torch.tensor([getattr(s, name) for s in batch]) for name in ("tokens", "targets", "weights")
        )

    def step(self, prepared: Any) -> float:
        import torch

        inputs, targets, weights = prepared
        logits = self.model(input_ids=inputs).logits.to(torch.float32)
        logprobs = torch.log_softmax(logits, dim=-1).gather(-1, targets[..., None])[..., 0]
        loss = -(logprobs * weights).sum()
        loss.backward()
        logprobs.detach().numpy()  # what the SDK hands back per sequence
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return float(loss.detach())


class TrainerLoop:
    """The service's own `Trainer`, in this process: the worker's compute without the transport."""

    def __init__(self, model_dir: Path, *, rank: int) -> None:
        from src.features.tinker.trainer import Trainer

        self.trainer = Trainer(model_dir)
        self.trainer.create("bench", rank=rank, seed=0)

    @staticmethod
    def prepare(batch: list[Sequence]) -> Any:
        import numpy as np

        from src.features.tinker.trainer import Datum

        return [
            Datum(
                tokens=s.tokens,
                inputs={
                    "target_tokens": np.asarray(s.targets, dtype=np.int64),
                    "weights": np.asarray(s.weights, dtype=np.float32),
                },
            )
            for s in batch
        ]

    def step(self, prepared: Any) -> float:
        _, metrics = self.trainer.forward_backward("bench", prepared, loss_fn="cross_entropy")
        self.trainer.optim_step("bench", ADAM)
        return metrics["loss:sum"]


def cold_start(model_dir: Path, size: tuple[int, int], threads: int, rank: int) -> dict[str, float]:
    """In a fresh Python: seconds to import, to load the model with its adapter, and for the first step."""
    started = time.perf_counter()
    import peft  # noqa: F401
    import torch
    import transformers  # noqa: F401

    torch.set_num_threads(threads)
    imported = time.perf_counter()
    loop = PeftLoop(model_dir, rank=rank)
    loaded = time.perf_counter()
    loop.step(loop.prepare(make_batch(size, int(loop.model.config.vocab_size))))
    stepped = time.perf_counter()
    return {
        "import_s": imported - started,
        "load_s": loaded - imported,
        "first_step_s": stepped - loaded,
        "total_s": stepped - started,
    }


# --- the service ------------------------------------------------------------------------------


@dataclass
class Call:
    """One SDK call, in the order sent: the SDK numbers a model's requests (seq_id) in that order."""

    kind: str  # forward_backward | optim_step (a forward is a forward_backward on the wire)
    phase: str
    sent: float  # time.time()
    answered: float | None = None


@dataclass
class Service:
    base: str
    log: Path
    data_dir: Path
    database_url: str


@contextlib.contextmanager
def service(work: Path, model_dir: Path, threads: int) -> Iterator[Service]:
    """`python main.py` with the model in its catalog; its worker is gone on the way out."""
    from bench.api_throughput import process
    from tests.support.server import free_port, server_env

    port = free_port()
    url = f"sqlite:///{work / 'bench.db'}"
    env = server_env(
        url,
        port,
        TUNING_DATA_DIR=str(work / "data"),
        TUNING_API_KEYS=json.dumps([{"key": KEY, "owner": "bench", "role": "user"}]),
        TUNING_MODEL_CATALOG=json.dumps({BASE_MODEL: str(model_dir)}),
        OMP_NUM_THREADS=str(threads),  # the worker inherits it; its Trainer keeps torch's count
        MKL_NUM_THREADS=str(threads),
    )
    base = f"http://127.0.0.1:{port}"
    log = work / "service.log"
    try:
        with process(
            [sys.executable, str(ROOT / "main.py")], env=env, cwd=work, log=log, health=f"{base}/healthz"
        ):
            yield Service(base=base, log=log, data_dir=work / "data", database_url=url)
    finally:
        _stop_workers(url)


def _stop_workers(database_url: str) -> None:
    """The service asks its workers to leave when it stops; wait for them, and end one that stays."""
    from sqlalchemy import select

    from src.storage import Store
    from src.storage.tables import TinkerWorker

    store = Store(database_url, pool_size=1)
    try:
        with store.session_scope(read_only=True) as session:
            pids = [pid for pid in session.scalars(select(TinkerWorker.pid)) if pid]
    finally:
        store.dispose()
    deadline = time.monotonic() + 15
    for pid in pids:
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)


def sdk_data(batch: list[Sequence]) -> list[Any]:
    from tinker import types

    return [
        types.Datum(
            model_input=types.ModelInput.from_ints(s.tokens),
            loss_fn_inputs={"target_tokens": s.targets, "weights": s.weights},
        )
        for s in batch
    ]


class ApiLoop:
    """Steps through the SDK; every call is recorded for the breakdown."""

    def __init__(self, training: Any) -> None:
        from tinker import types

        self.training = training
        self.adam = types.AdamParams(**ADAM)
        self.calls: list[Call] = []

    def send_fb(self, data: list[Any], phase: str, *, forward_only: bool = False) -> tuple[Any, Call]:
        call = Call("forward_backward", phase, time.time())
        self.calls.append(call)
        if forward_only:
            return self.training.forward(data, "cross_entropy"), call
        return self.training.forward_backward(data, "cross_entropy"), call

    def send_optim(self, phase: str) -> tuple[Any, Call]:
        call = Call("optim_step", phase, time.time())
        self.calls.append(call)
        return self.training.optim_step(self.adam), call

    @staticmethod
    def wait(sent: tuple[Any, Call]) -> Any:
        future, call = sent
        result = future.result(timeout=600)
        call.answered = time.time()
        return result

    def awaited(self, data: list[Any], steps: int, phase: str) -> list[float]:
        """Each result awaited before the next call; returns each step's seconds."""
        ends = [time.perf_counter()]
        for _ in range(steps):
            self.wait(self.send_fb(data, phase))
            self.wait(self.send_optim(phase))
            ends.append(time.perf_counter())
        return _intervals(ends)

    def pipelined(self, data: list[Any], steps: int, phase: str) -> list[float]:
        """forward_backward and optim_step sent together, then both awaited."""
        ends = [time.perf_counter()]
        for _ in range(steps):
            fb, optim = self.send_fb(data, phase), self.send_optim(phase)
            self.wait(fb)
            self.wait(optim)
            ends.append(time.perf_counter())
        return _intervals(ends)

    def overlapped(self, data: list[Any], steps: int, phase: str) -> list[float]:
        """The next step sent before the previous one is awaited (the worker runs them in order)."""
        ends = [time.perf_counter()]
        previous: list[tuple[Any, Call]] = []
        for _ in range(steps):
            current = [self.send_fb(data, phase), self.send_optim(phase)]
            for sent in previous:
                self.wait(sent)
            if previous:
                ends.append(time.perf_counter())
            previous = current
        for sent in previous:
            self.wait(sent)
        ends.append(time.perf_counter())
        return _intervals(ends)

    def tiny(self, count: int) -> None:
        """Round trips that compute next to nothing: a 1-token forward, an optim_step with no gradients."""
        one_token = sdk_data([Sequence([5], [6], [1.0])])
        for _ in range(count):
            self.wait(self.send_fb(one_token, "tiny", forward_only=True))
        for _ in range(count):
            self.wait(self.send_optim("tiny"))


def _intervals(ends: list[float]) -> list[float]:
    return [later - earlier for earlier, later in itertools.pairwise(ends)]


# --- the breakdown ----------------------------------------------------------------------------


@dataclass
class Segments:
    """Median milliseconds of a kind of call in a phase, from the client's clock, the store and the worker."""

    phase: str
    kind: str
    count: int
    total_ms: float
    submit_ms: float  # SDK call -> the handler built the row (SDK serialization, HTTP, auth, checks)
    queued_ms: float  # -> the worker took it (the handler's commit, then the worker's poll)
    run_ms: float  # -> the worker had the result (parse, compute, encode)
    write_ms: float  # -> the worker had written it to the store
    answer_ms: float  # -> the SDK returned it (retrieve_future's polls of the store, HTTP, decoding)
    overhead_ms: float  # all but the run: what the call costs beyond the compute
    handler_ms: float = float("nan")  # the submit's time in the server (access log)


@dataclass(frozen=True)
class WorkerRun:
    ended: float  # time.time() of the worker's log line, written after the result (1 ms resolution)
    seconds: float  # from taking the request to that line


WORKER_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ [\w.]+ request (req-\w+) \(\w+\) (?:done|failed) "
    r"in ([\d.]+) s$",
    re.MULTILINE,
)


def worker_runs(data_dir: Path) -> dict[str, WorkerRun]:
    """Each request's run in its worker, from the workers' logs (`logging`'s asctime: local time)."""
    runs: dict[str, WorkerRun] = {}
    for log in (data_dir / "tinker" / "workers").glob("*.log"):
        for match in WORKER_LINE.finditer(log.read_text(errors="replace")):
            ended = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()
            runs[match.group(2)] = WorkerRun(ended=ended, seconds=float(match.group(3)))
    return runs


def breakdown(service: Service, model_id: str, calls: list[Call], phases: tuple[str, ...]) -> list[Segments]:
    from sqlalchemy import select

    from src.storage import Store
    from src.storage.tables import TinkerFuture

    store = Store(service.database_url, pool_size=1)
    try:
        with store.session_scope(read_only=True) as session:
            rows = session.execute(
                select(TinkerFuture.id, TinkerFuture.kind, TinkerFuture.created_at, TinkerFuture.finished_at)
                .where(TinkerFuture.model_id == model_id, TinkerFuture.seq_id > 0)
                .order_by(TinkerFuture.seq_id)
            ).all()
    finally:
        store.dispose()
    if [row.kind for row in rows] != [call.kind for call in calls]:
        raise RuntimeError("the store's requests do not match the calls sent")
    runs = worker_runs(service.data_dir)
    parts: dict[tuple[str, str], list[tuple[float, ...]]] = {}
    for call, row in zip(calls, rows, strict=True):
        run = runs.get(row.id)
        if call.phase not in phases or call.answered is None or row.finished_at is None or run is None:
            continue
        created, finished = row.created_at.timestamp(), row.finished_at.timestamp()
        started = run.ended - run.seconds
        parts.setdefault((call.phase, call.kind), []).append(
            (
                call.answered - call.sent,
                created - call.sent,
                started - created,
                finished - started,
                run.ended - finished,
                call.answered - run.ended,
                call.answered - call.sent - (finished - started),
            )
        )
    return [
        Segments(
            phase, kind, len(values), *(statistics.median(v[i] for v in values) * 1000 for i in range(7))
        )
        for (phase, kind), values in parts.items()
    ]


def read_access_log(log: Path, start: int) -> dict[str, list[float]]:
    """Handler milliseconds by route (its last path part) from `start` on in the service's JSON log."""
    time.sleep(0.05)  # a request's line is written after its answer
    with log.open("rb") as handle:
        handle.seek(start)
        lines = handle.read().decode(errors="replace").splitlines()
    durations: dict[str, list[float]] = {}
    for line in lines:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and "duration_ms" in record and "path" in record:
                durations.setdefault(record["path"].rsplit("/", 1)[-1], []).append(
                    float(record["duration_ms"])
                )
    return durations


# --- the run ----------------------------------------------------------------------------------


@dataclass
class Result:
    shape: Shape
    batches: list[str]
    threads: int
    parameters: int
    steps: int
    rounds: int
    warmup: int
    step_seconds: dict[str, dict[str, list[float]]] = field(default_factory=dict)  # batch -> loop -> steps
    first_step: dict[str, float] = field(default_factory=dict)
    cold_inprocess: dict[str, float] = field(default_factory=dict)
    segments: list[Segments] = field(default_factory=list)
    retrieves_per_call: dict[str, list[float]] = field(default_factory=dict)  # batch -> awaited rounds

    def rate(self, batch: str, loop: str) -> float:
        """Steps/s from the median step: a burst of other work on the machine moves it little."""
        return 1 / statistics.median(self.step_seconds[batch][loop])


def run(args: argparse.Namespace) -> Result:
    import torch

    torch.set_num_threads(args.threads)
    import tinker

    shape = Shape(args.hidden, args.layers, args.vocab, args.rank)
    sizes = {name: parse_batch(name) for name in args.batches.split(",")}
    with tempfile.TemporaryDirectory(prefix="bench-tinker-") as tmp:
        work = Path(tmp)
        model_dir = work / "model"
        print(f"building a Llama ({shape}) ...", flush=True)
        parameters = build_model(model_dir, shape)
        result = Result(shape, list(sizes), args.threads, parameters, args.steps, args.rounds, args.warmup)
        print(f"  {parameters / 1e6:.1f} M parameters", flush=True)
        first_size = next(iter(sizes))
        cold = subprocess.run(
            [
                sys.executable,
                "-m",
                "bench.tinker_steps",
                f"--cold-start={model_dir}",
                f"--batches={first_size}",
                f"--threads={args.threads}",
                f"--rank={args.rank}",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        result.cold_inprocess = json.loads(cold.stdout.strip().splitlines()[-1])
        print(f"  in-process cold start: {result.cold_inprocess['total_s']:.1f} s", flush=True)
        batches = {name: make_batch(size, args.vocab) for name, size in sizes.items()}
        with service(work, model_dir, args.threads) as svc:
            print("first step through the SDK on a fresh service ...", flush=True)
            started = time.perf_counter()
            client = tinker.ServiceClient(base_url=svc.base, api_key=KEY)
            made = time.perf_counter()
            try:
                training = client.create_lora_training_client(
                    base_model=BASE_MODEL, rank=shape.rank, seed=0
                ).result(timeout=600)
                created = time.perf_counter()
                api = ApiLoop(training)
                data = {name: sdk_data(batch) for name, batch in batches.items()}
                api.wait(api.send_fb(data[first_size], "first"))
                answered = time.perf_counter()
                api.wait(api.send_optim("first"))
                result.first_step = {
                    "service_client_s": made - started,
                    "create_lora_training_client_s": created - made,
                    "first_forward_backward_s": answered - created,
                    "total_s": answered - started,
                }
                print(f"  {result.first_step['total_s']:.1f} s", flush=True)
                measure(result, api, data, model_dir, batches, svc, args)
                api.tiny(TINY_CALLS)
                tiny_log = read_access_log(svc.log, 0)
                model_id = training.model_id
            finally:
                with contextlib.suppress(Exception):
                    client.close("success").result(timeout=30)
            time.sleep(0.5)  # the worker's last log lines
            phases = (*(f"awaited {name}" for name in sizes), "tiny")
            result.segments = breakdown(svc, model_id, api.calls, phases)
            for seg in result.segments:
                if seg.phase == "tiny":
                    seg.handler_ms = statistics.median(tiny_log[seg.kind][-TINY_CALLS:])
    return result


def measure(
    result: Result,
    api: ApiLoop,
    data: dict[str, list[Any]],
    model_dir: Path,
    batches: dict[str, list[Sequence]],
    svc: Service,
    args: argparse.Namespace,
) -> None:
    """Warm-up, then rounds: each in-process loop, then each API loop, on each batch."""
    local = {"peft": PeftLoop(model_dir, rank=args.rank), "trainer": TrainerLoop(model_dir, rank=args.rank)}
    prepared = {
        name: {b: loop.prepare(batch) for b, batch in batches.items()} for name, loop in local.items()
    }
    for name in batches:
        api.awaited(data[name], args.warmup, "warmup")
        for loop_name, loop in local.items():
            for _ in range(args.warmup):
                loop.step(prepared[loop_name][name])
    for round_ in range(args.rounds):
        for name in batches:
            print(f"round {round_ + 1}/{args.rounds}, batch {name}", flush=True)
            seconds = result.step_seconds.setdefault(name, {})
            for loop_name, loop in local.items():
                ends = [time.perf_counter()]
                for _ in range(args.steps):
                    loop.step(prepared[loop_name][name])
                    ends.append(time.perf_counter())
                _record(seconds, loop_name, _intervals(ends))
            for loop_name in API_LOOPS:
                start = svc.log.stat().st_size
                phase = f"{loop_name} {name}"
                _record(seconds, loop_name, getattr(api, loop_name)(data[name], args.steps, phase))
                if loop_name == "awaited":
                    retrieves = len(read_access_log(svc.log, start).get("retrieve_future", []))
                    result.retrieves_per_call.setdefault(name, []).append(retrieves / (2 * args.steps))


def _record(seconds: dict[str, list[float]], loop: str, steps: list[float]) -> None:
    seconds.setdefault(loop, []).extend(steps)
    print(f"  {LOOPS[loop]:<40}{1 / statistics.median(steps):>7.2f} steps/s", flush=True)


# --- report -----------------------------------------------------------------------------------


def figures(result: Result) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in result.batches:
        peft, trainer = result.rate(name, "peft"), result.rate(name, "trainer")
        out[name] = {
            "steps_per_s": {loop: result.rate(name, loop) for loop in LOOPS},
            "ratio_vs_peft": {loop: result.rate(name, loop) / peft for loop in LOOPS},
            "ratio_vs_trainer": {loop: result.rate(name, loop) / trainer for loop in LOOPS},
            # two calls a step: what each costs beyond the worker's own compute
            "fixed_cost_per_call_ms": (1 / result.rate(name, "awaited") - 1 / trainer) / 2 * 1000,
        }
    return out


def print_table(result: Result) -> None:
    shape = result.shape
    numbers = figures(result)
    print(
        f"\nLlama {result.parameters / 1e6:.1f} M parameters (hidden {shape.hidden}, {shape.layers} layers, "
        f"vocab {shape.vocab}), random weights, float32; LoRA rank {shape.rank}, alpha 32, attn + mlp + "
        "lm_head; AdamW; cross_entropy"
    )
    print(
        f"torch threads {result.threads} on both sides (worker: OMP_NUM_THREADS); {result.steps} steps x "
        f"{result.rounds} rounds per loop after {result.warmup} warm-up steps; steps/s from the median step"
    )
    for name in result.batches:
        figures_ = numbers[name]
        print(f"\nbatch {name} tokens{'':<25}{'steps/s':>8}{'ms/step':>9}{'/ peft':>8}{'/ Trainer':>10}")
        for loop, label in LOOPS.items():
            rate = figures_["steps_per_s"][loop]
            ratio = figures_["ratio_vs_peft"][loop]
            mark = "  short of 0.8" if loop in API_LOOPS and ratio < 0.8 else ""
            print(
                f"{label:<40}{rate:>8.2f}{1000 / rate:>9.0f}{ratio:>8.2f}"
                f"{figures_['ratio_vs_trainer'][loop]:>10.2f}{mark}"
            )
        print(
            f"fixed cost per call from steps/s, (API awaited - Trainer) / 2: "
            f"{figures_['fixed_cost_per_call_ms']:.1f} ms"
        )
    print(
        "\nwhere a call's time goes, medians in ms: submit (SDK, HTTP, handler until the row is built), "
        "queued (commit,\nuntil the worker's poll takes it), run (in the worker), write (the result to "
        "the store), answer (until\nretrieve_future's polls see it, HTTP, decoding); handler: the submit "
        "route's time in the server;\nover: total - run, the call's fixed cost"
    )
    print(
        f"{'calls':<22}{'call':<18}{'n':>4}{'total':>8}{'submit':>8}{'queued':>8}{'run':>8}{'write':>7}"
        f"{'answer':>8}{'= over':>8}"
    )
    for seg in sorted(result.segments, key=lambda s: (s.phase != "tiny", s.phase)):
        label = "1 token / no grads" if seg.phase == "tiny" else seg.phase
        handler = f"  (handler {seg.handler_ms:.1f})" if seg.handler_ms == seg.handler_ms else ""
        print(
            f"{label:<22}{seg.kind:<18}{seg.count:>4}{seg.total_ms:>8.1f}{seg.submit_ms:>8.1f}"
            f"{seg.queued_ms:>8.1f}{seg.run_ms:>8.1f}{seg.write_ms:>7.1f}{seg.answer_ms:>8.1f}"
            f"{seg.overhead_ms:>8.1f}{handler}"
        )
    retrieves = {name: max(values) for name, values in result.retrieves_per_call.items()}
    print(f"retrieve_future requests per call (awaited loops): {retrieves} (the long poll holds one request)")
    first, cold = result.first_step, result.cold_inprocess
    print(
        f"\nfirst step on a fresh service: ServiceClient {first['service_client_s']:.2f} s + "
        f"create_lora_training_client {first['create_lora_training_client_s']:.2f} s (worker start, "
        f"model load) + first forward_backward {first['first_forward_backward_s']:.2f} s "
        f"= {first['total_s']:.1f} s"
    )
    print(
        f"in-process cold start (fresh python): imports {cold['import_s']:.2f} s + "
        f"load {cold['load_s']:.2f} s + first step {cold['first_step_s']:.2f} s = {cold['total_s']:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10, help="measured steps per loop, batch and round")
    parser.add_argument("--rounds", type=int, default=2, help="in-process / API alternations")
    parser.add_argument("--warmup", type=int, default=3, help="steps before measuring, per loop and batch")
    parser.add_argument("--threads", type=int, default=1, help="torch threads, here and in the worker")
    parser.add_argument(
        "--batches",
        default="4x128,1x16",
        help="sequences x tokens, comma-separated; the first is the main one",
    )
    parser.add_argument("--hidden", type=int, default=Shape.hidden)
    parser.add_argument("--layers", type=int, default=Shape.layers)
    parser.add_argument("--vocab", type=int, default=Shape.vocab)
    parser.add_argument("--rank", type=int, default=Shape.rank, help="LoRA rank")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--cold-start", type=Path, help=argparse.SUPPRESS)  # the fresh-python child
    args = parser.parse_args()
    os.environ.setdefault("TINKER_TELEMETRY", "0")
    if args.cold_start is not None:
        size = parse_batch(args.batches.split(",")[0])
        print(json.dumps(cold_start(args.cold_start, size, args.threads, args.rank)))
        return
    result = run(args)
    print_table(result)
    if args.json is None:
        return
    args.json.write_text(
        json.dumps(
            {
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                **asdict(result),
                "figures": figures(result),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
