"""A Tinker worker process: one base model, the LoRA models assigned to it, their requests from the store.

    python -m src.features.tinker.worker --worker-id tw-... --base-model NAME --model-path DIR

The API writes each request as a `tinker_future` row and this process runs them:
a model's requests strictly in `seq_id` order (the SDK may send them out of
order), each result written back for `retrieve_future`. The store is the only
channel, so any API replica can take a request, and an API restart loses
nothing. The database URL arrives in `TINKER_WORKER_DATABASE_URL`, never on the
command line. A thread beats `heartbeat_at` every second from the start (loading
a model takes a while); the API counts a worker silent for `workers.STALE_AFTER` as gone
and fails its requests with category `server`. The worker leaves when its row
says `stopping`, on SIGTERM, or once it has held no model for `--idle-seconds`.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, load_only

from src.features.gpus import service as gpus_service
from src.features.tinker import wire, workers
from src.features.tinker.service import session_expired, silent_too_long
from src.features.tinker.workers import DATABASE_URL_VARIABLE
from src.storage import Store
from src.storage.tables import (
    TinkerCheckpoint,
    TinkerFuture,
    TinkerModel,
    TinkerSampler,
    TinkerSession,
    TinkerWorker,
)
from src.storage.types import utcnow

HEARTBEAT_EVERY = 1.0
POLL = 0.02
# A training loop sends its next call within milliseconds of the last answer: for a while after a
# request, look for work more often (an idle look costs ~0.7 ms of CPU).
BUSY_POLL = 0.005
BUSY_FOR = 2.0
GAP_WAIT = timedelta(seconds=30)
UPKEEP_EVERY = 1.0
WRITE_ATTEMPTS = 6
MAX_VALUES_PER_TOKEN = 64  # a loss input holds a value (or a few) per input token; none may be bigger
DEFAULT_MAX_TOKENS = 64

logger = logging.getLogger("tinker.worker")


class Worker:
    """The loop: release what ended, run the next runnable request, beat, leave when idle."""

    def __init__(
        self, store: Store, trainer: Any, *, worker_id: str, base_model: str, idle_seconds: float
    ) -> None:
        self.store = store
        self.trainer = trainer
        self.worker_id = worker_id
        self.base_model = base_model
        self.idle_seconds = idle_seconds
        self.stop = threading.Event()
        self._idle_since = time.monotonic()
        self._next_upkeep = 0.0
        self._ran: set[str] = set()  # requests run here, even if their result could not be written
        self._last_request = 0.0
        self._served: dict[str, float] = {}  # owner -> when a request of theirs was last picked

    def run(self) -> None:
        with self.store.session_scope() as session:
            session.execute(
                update(TinkerWorker)
                .where(TinkerWorker.id == self.worker_id, TinkerWorker.status == "starting")
                .values(status="ready", heartbeat_at=utcnow(), pid=os.getpid())
            )
        while not self.stop.is_set():
            try:
                did = self.step()
            except Exception:  # the database away for a moment, say: every user's models stay
                logger.exception("worker step failed; trying again")
                self.stop.wait(1.0)
                continue
            if not did:
                if self._idle_too_long():
                    logger.info("no model for %s s: leaving", self.idle_seconds)
                    break
                busy = time.monotonic() - self._last_request < BUSY_FOR
                self.stop.wait(BUSY_POLL if busy else POLL)
            else:
                self._last_request = time.monotonic()

    def step(self) -> bool:
        """Run one request if one can run now; True when something was done.

        Looking for work takes no write lock (SQLite has one for the whole store):
        the upkeep that writes (letting ended sessions go, failing what can never
        run) happens once a second.
        """
        if time.monotonic() >= self._next_upkeep:
            self._next_upkeep = time.monotonic() + UPKEEP_EVERY
            with self.store.session_scope() as session:
                if not self._upkeep(session):
                    return False
        with self.store.session_scope(read_only=True) as session:
            if _status(session, self.worker_id) != "ready":
                self.stop.set()
                return False
            models = self._models(session)
            runnable = [f for f in self._pending(session) if f.id not in self._ran and _runnable(f, models)]
            future = self._next_fair(runnable)
            if future is None:
                return False
            payload = session.scalar(select(TinkerFuture.payload).where(TinkerFuture.id == future.id))
            job = (future.id, future.kind, future.model_id, future.seq_id, payload or b"")
        self._run(*job)
        return True

    def _next_fair(self, runnable: list[TinkerFuture]) -> TinkerFuture | None:
        """The oldest runnable request of the owner served longest ago: owners take turns, so one
        owner's deep queue delays another's next step by one request, not by the whole queue."""
        if not runnable:
            return None
        first: dict[str, int] = {}  # each owner's oldest runnable request
        for index, future in enumerate(runnable):
            first.setdefault(future.owner, index)
        owner = min(first, key=lambda o: (self._served.get(o, 0.0), first[o]))
        self._served[owner] = time.monotonic()
        return runnable[first[owner]]

    def _upkeep(self, session: Session) -> bool:
        """Let ended sessions' models go, settle what can never run, note whether the worker is idle."""
        if _status(session, self.worker_id) != "ready":
            self.stop.set()
            return False
        models = self._models(session)
        self._release_ended(session, models)
        if any(m.status in ("creating", "ready") for m in models.values()) or self._has_samplers(session):
            self._idle_since = time.monotonic()
        _settle(session, self._pending(session), models)
        return True

    def _models(self, session: Session) -> dict[str, TinkerModel]:
        rows = session.scalars(select(TinkerModel).where(TinkerModel.worker_id == self.worker_id))
        return {model.id: model for model in rows}

    def _pending(self, session: Session) -> list[TinkerFuture]:
        """This worker's waiting requests, oldest first, without their payloads."""
        columns = (
            TinkerFuture.id,
            TinkerFuture.owner,
            TinkerFuture.kind,
            TinkerFuture.model_id,
            TinkerFuture.seq_id,
            TinkerFuture.status,
            TinkerFuture.created_at,
        )
        return list(
            session.scalars(
                select(TinkerFuture)
                .options(load_only(*columns))
                .where(TinkerFuture.worker_id == self.worker_id, TinkerFuture.status == "pending")
                .order_by(TinkerFuture.created_at, TinkerFuture.id)
            )
        )

    def _has_samplers(self, session: Session) -> bool:
        """Samplers of live sessions keep the worker; those of ended ones give their adapter back."""
        rows = session.execute(
            select(
                TinkerSampler.id,
                TinkerSession.status,
                TinkerSession.last_heartbeat_at,
                TinkerSession.idle_timeout_s,
            )
            .join(TinkerSession, TinkerSession.id == TinkerSampler.session_id)
            .where(TinkerSampler.worker_id == self.worker_id)
        ).all()
        live = False
        for sampler_id, status, last_heartbeat_at, idle_timeout_s in rows:
            if status == "active" and not silent_too_long(last_heartbeat_at, idle_timeout_s):
                live = True
            elif self.trainer.has_sampler(sampler_id):
                self.trainer.close_sampler(sampler_id)
        return live

    def _release_ended(self, session: Session, models: dict[str, TinkerModel]) -> None:
        """Models whose session finished or fell silent give their adapter back."""
        session_ids = {m.session_id for m in models.values() if m.status in ("creating", "ready")}
        if not session_ids:
            return
        for tinker_session in session.scalars(select(TinkerSession).where(TinkerSession.id.in_(session_ids))):
            if session_expired(tinker_session):
                tinker_session.status = "expired"
                tinker_session.finished_at = utcnow()
            if tinker_session.status == "active":
                continue
            for model in models.values():
                if model.session_id == tinker_session.id and model.status in ("creating", "ready"):
                    model.status = "released"
                    self.trainer.release(model.id)
                    _fail_pending(session, model_id=model.id, message=f"session {tinker_session.id} ended")

    def _run(
        self, future_id: str, kind: str, model_id: str | None, seq_id: int | None, payload: bytes
    ) -> None:
        started = time.monotonic()
        result: bytes | None = None
        result_format = "json"
        error: tuple[str, str] | None = None
        try:
            if kind == "create_model":
                config = json.loads(payload)
                self.trainer.create(
                    model_id,
                    rank=int(config["rank"]),
                    train_attn=bool(config.get("train_attn", True)),
                    train_mlp=bool(config.get("train_mlp", True)),
                    train_unembed=bool(config.get("train_unembed", True)),
                    seed=config.get("seed"),
                    alpha=config.get("alpha"),
                )
                if config.get("load"):
                    load = config["load"]
                    self.trainer.load(model_id, Path(load["directory"]), optimizer=bool(load["optimizer"]))
                    answer = {"model_id": model_id, "path": load["path"], "type": "load_weights"}
                else:
                    answer = {"model_id": model_id, "type": "create_model"}
                result = json.dumps(answer).encode()
            elif kind == "forward_backward":
                result, result_format = self._forward_backward(model_id, payload), "proto"
            elif kind == "optim_step":
                metrics = self.trainer.optim_step(model_id, json.loads(payload).get("adam_params") or {})
                result = json.dumps({"metrics": metrics, "type": "optim_step"}).encode()
            elif kind == "load_weights":
                load = json.loads(payload)
                self.trainer.load(model_id, Path(load["directory"]), optimizer=bool(load["optimizer"]))
                result = json.dumps({"path": load["path"], "type": "load_weights"}).encode()
            elif kind == "save_weights":
                result = json.dumps(self._save(model_id, json.loads(payload))).encode()
            elif kind == "sample":
                result, result_format = self._sample(json.loads(payload)), "proto"
            elif kind == "forward_backward_text":  # the plain /v1/runs API: learn a completion
                spec = json.loads(payload)
                metrics = self.trainer.forward_backward_text(
                    model_id, spec["prompt"], spec["completion"], forward_only=bool(spec.get("forward_only"))
                )
                loss = metrics["loss:sum"]
                result = json.dumps({"loss": loss, "metrics": metrics, "type": "forward_backward"}).encode()
            elif kind == "generate":  # the plain /v1/sample API: text in, text out
                spec = json.loads(payload)
                texts = self.trainer.generate_text(
                    spec["prompt"],
                    model_id=model_id,
                    max_tokens=int(spec["max_new_tokens"]),
                    temperature=float(spec["temperature"]),
                    num_samples=int(spec.get("num_samples", 1)),
                    seed=spec.get("seed"),
                )
                result = json.dumps({"text": texts[0], "texts": texts, "type": "sample"}).encode()
            else:
                error = (f"request kind {kind!r} is not supported by this worker", "user")
        except wire.UserError as exc:
            error = (str(exc), "user")
        except Exception:  # a bug or an out-of-memory: the request fails, the worker goes on
            logger.exception("request %s (%s) failed", future_id, kind)
            error = (f"the worker failed on this request ({future_id}); its log says why", "server")
        if kind == "create_model" and error is not None:
            self.trainer.release(model_id)  # an adapter made before a load that failed
        self._ran.add(future_id)  # whatever happens to the write below, never run it twice
        values: dict[str, Any] = {"finished_at": utcnow(), "payload": b""}  # the request is spent
        if error is None:
            values.update(status="done", result=result, result_format=result_format)
        else:
            values.update(status="failed", error=error[0][:4000], category=error[1])
        model_values: dict[str, Any] = {"last_seq": seq_id}
        if kind == "create_model":
            model_values["status"] = "ready" if error is None else "failed"
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.store.session_scope() as session:
                    session.execute(update(TinkerFuture).where(TinkerFuture.id == future_id).values(**values))
                    if model_id is not None and seq_id is not None:
                        session.execute(
                            update(TinkerModel).where(TinkerModel.id == model_id).values(**model_values)
                        )
                break
            except Exception:  # the store busy for a moment: the result must not be lost
                logger.warning(
                    "writing the result of %s failed (attempt %d)", future_id, attempt + 1, exc_info=True
                )
                self.stop.wait(min(2**attempt, 10))
        logger.info(
            "request %s (%s) %s in %.3f s",
            future_id,
            kind,
            "failed" if error else "done",
            time.monotonic() - started,
        )

    def _forward_backward(self, model_id: str | None, payload: bytes) -> bytes:
        from src.features.tinker.trainer import Datum

        request = wire.parse_forward_backward(payload)
        wire.check_request_size(request, max_tokens=wire.MAX_REQUEST_TOKENS)
        data = []
        for datum in request.data:
            tokens = wire.datum_tokens(datum)
            limit = MAX_VALUES_PER_TOKEN * max(1, len(tokens))
            inputs = {
                key: wire.tensor_array(t, max_elements=limit) for key, t in datum.loss_fn_inputs.items()
            }
            data.append(Datum(tokens=tokens, inputs=inputs))
        logprobs, metrics = self.trainer.forward_backward(
            model_id,
            data,
            loss_fn=request.loss_fn or "cross_entropy",
            loss_fn_config=wire.loss_config(request),
            forward_only=request.forward_only,
        )
        return wire.forward_backward_output(logprobs, metrics)

    def _save(self, model_id: str | None, spec: dict[str, Any]) -> dict[str, Any]:
        """Write the adapter, record the checkpoint (and the sampler a sampler save opens)."""
        with self.store.session_scope(read_only=True) as session:
            taken = session.scalar(
                select(TinkerCheckpoint.id).where(
                    TinkerCheckpoint.model_id == model_id,
                    TinkerCheckpoint.kind == spec["kind"],
                    TinkerCheckpoint.name == spec["name"],
                )
            )
        if taken is not None:  # two saves of one name queued at once: the first keeps it
            raise wire.UserError(f"{spec['tinker_path']} exists already; choose another name")
        directory = Path(f"{spec['directory']}-{secrets.token_hex(4)}")  # never another save's files
        size = self.trainer.save(model_id, directory, optimizer=spec["kind"] == "weights")
        with self.store.session_scope() as session:
            model = session.get(TinkerModel, model_id)
            assert model is not None
            session.add(
                TinkerCheckpoint(
                    id="ckpt-" + secrets.token_hex(8),
                    model_id=model.id,
                    owner=model.owner,
                    kind=spec["kind"],
                    name=spec["name"],
                    path=str(directory),
                    size_bytes=size,
                )
            )
            if spec.get("sampler_id"):
                session.add(
                    TinkerSampler(
                        id=spec["sampler_id"],
                        session_id=spec["session_id"],
                        owner=model.owner,
                        base_model=self.base_model,
                        model_path=spec["tinker_path"],
                        weights_dir=str(directory),
                        worker_id=self.worker_id,
                    )
                )
        answer: dict[str, Any] = {"path": spec["tinker_path"]}
        if spec.get("sampler_id"):
            answer["sampling_session_id"] = spec["sampler_id"]
        return answer

    def _sample(self, spec: dict[str, Any]) -> bytes:
        sampler_id = spec["sampling_session_id"]
        weights = spec.get("weights_dir")
        self.trainer.open_sampler(sampler_id, Path(weights) if weights else None)
        params = spec.get("sampling_params") or {}
        stop = params.get("stop") or []
        sequences, prompt_logprobs = self.trainer.sample(
            sampler_id,
            [token for chunk in spec["prompt"]["chunks"] for token in chunk["tokens"]],
            num_samples=int(spec.get("num_samples", 1)),
            max_tokens=int(params.get("max_tokens") or DEFAULT_MAX_TOKENS),
            temperature=float(params.get("temperature", 1.0)),
            top_k=int(params.get("top_k", -1)),
            top_p=float(params.get("top_p", 1.0)),
            seed=params.get("seed"),
            stop=[stop] if isinstance(stop, str) else list(stop),
            prompt_logprobs=bool(spec.get("prompt_logprobs")),
        )
        return wire.sample_response(sequences, prompt_logprobs)

    def _idle_too_long(self) -> bool:
        return time.monotonic() - self._idle_since > self.idle_seconds


def _settle(session: Session, pending: list[TinkerFuture], models: dict[str, TinkerModel]) -> None:
    """Fail what can never run, and step over a seq_id that never came, so no request waits forever.

    A model that failed or was let go fails its requests; a seq_id at or below the
    last one run is a duplicate. A seq_id the SDK took for a request the API refused
    (a 422, say) never arrives: once the next request has waited `GAP_WAIT` for it,
    the model moves past the gap.
    """
    now = utcnow()
    waiting: dict[str, int] = {}
    for future in pending:
        if future.model_id is None:  # a sample on a sampler or on the base model: no order to keep
            continue
        model = models.get(future.model_id or "")
        reason = None
        if model is None or model.status in ("failed", "released"):
            reason = f"model {future.model_id} is {model.status if model else 'gone'}"
        elif future.kind != "create_model" and future.seq_id is not None and future.seq_id <= model.last_seq:
            reason = f"seq_id {future.seq_id} of model {model.id} has run already"
        if reason is not None:
            future.status, future.error, future.category, future.finished_at = "failed", reason, "user", now
            continue
        if future.kind != "create_model" and future.seq_id is not None:
            waiting[model.id] = min(waiting.get(model.id, future.seq_id), future.seq_id)
    for model_id, first in waiting.items():
        model = models[model_id]
        if model.status != "ready" or first == model.last_seq + 1:
            continue
        oldest = min(f.created_at for f in pending if f.model_id == model_id and f.status == "pending")
        if now - oldest > GAP_WAIT:
            logger.warning(
                "model %s: seq_id %s never came; going on at %s", model_id, model.last_seq + 1, first
            )
            model.last_seq = first - 1


def _runnable(future: TinkerFuture, models: dict[str, TinkerModel]) -> bool:
    """A model's requests run in seq_id order: the one after the last run, and only that one."""
    if future.model_id is None:  # a sample on a sampler or on the base model: no order to keep
        return True
    model = models.get(future.model_id or "")
    if model is None or model.status not in ("creating", "ready"):
        return False
    if future.kind == "create_model":
        return model.status == "creating"
    return model.status == "ready" and future.seq_id == model.last_seq + 1


def _status(session: Session, worker_id: str) -> str | None:
    return session.scalar(select(TinkerWorker.status).where(TinkerWorker.id == worker_id))


def _fail_pending(session: Session, *, model_id: str, message: str) -> None:
    session.execute(
        update(TinkerFuture)
        .where(TinkerFuture.model_id == model_id, TinkerFuture.status.in_(("pending", "running")))
        .values(status="failed", error=message, category="user", finished_at=utcnow())
    )


def _beat(store: Store, worker_id: str, stop: threading.Event) -> None:
    while not stop.wait(HEARTBEAT_EVERY):
        try:
            with store.session_scope() as session:
                session.execute(
                    update(TinkerWorker).where(TinkerWorker.id == worker_id).values(heartbeat_at=utcnow())
                )
        except Exception:  # the database is briefly away: the next beat tries again
            logger.warning("heartbeat failed", exc_info=True)


def _wait_for_row(store: Store, worker_id: str, timeout: float = 30.0) -> bool:
    """The API commits the worker's row after starting it; a worker whose row never appears leaves."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.session_scope(read_only=True) as session:
            if _status(session, worker_id) is not None:
                return True
        time.sleep(0.1)
    return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m src.features.tinker.worker")
    parser.add_argument("--worker-id", required=True)
    parser.add_argument("--base-model", required=True)
    parser.add_argument("--model-path", required=True, type=Path)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    url = os.environ.pop(DATABASE_URL_VARIABLE, None)
    if not url:
        parser.error(f"{DATABASE_URL_VARIABLE} is not set")
    store = Store(url, pool_size=2)
    if not _wait_for_row(store, args.worker_id):
        logger.error("worker %s has no row in the store: leaving", args.worker_id)
        return 1
    stop = threading.Event()
    beats = threading.Thread(target=_beat, args=(store, args.worker_id, stop), daemon=True, name="heartbeat")
    beats.start()
    try:
        from src.features.tinker.trainer import Trainer

        trainer = Trainer(args.model_path)
    except Exception:  # the reason (a path, an out-of-memory naming other processes) stays in our log
        logger.exception("cannot load %s", args.model_path)
        message = f"the worker could not load base model {args.base_model!r}; the service's log says why"
        _stop_worker(store, args.worker_id, status="failed", error=message)
        stop.set()
        return 1
    worker = Worker(
        store, trainer, worker_id=args.worker_id, base_model=args.base_model, idle_seconds=args.idle_seconds
    )
    signal.signal(signal.SIGTERM, lambda *_: worker.stop.set())
    try:
        worker.run()
    finally:
        stop.set()
        _stop_worker(store, args.worker_id, status="stopped", error=None)
        store.dispose()
    return 0


def _stop_worker(store: Store, worker_id: str, *, status: str, error: str | None) -> None:
    """Mark the worker ended and fail what it will never run (category `server`)."""
    with store.session_scope() as session:
        session.execute(
            update(TinkerWorker)
            .where(TinkerWorker.id == worker_id)
            .values(status=status, error=error, stopped_at=utcnow())
        )
        session.execute(
            update(TinkerFuture)
            .where(TinkerFuture.worker_id == worker_id, TinkerFuture.status.in_(("pending", "running")))
            .values(
                status="failed", error=error or "the worker stopped", category="server", finished_at=utcnow()
            )
        )
        session.execute(
            update(TinkerModel)
            .where(TinkerModel.worker_id == worker_id, TinkerModel.status.in_(("creating", "ready")))
            .values(status="failed")
        )
        gpus_service.release(session, holder_type=workers.GPU_HOLDER, holder_id=worker_id)


if __name__ == "__main__":
    raise SystemExit(main())
