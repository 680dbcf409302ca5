"""De-identification: policies, the test call, whole-dataset jobs and their sealed mappings."""

from __future__ import annotations

import logging
import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from src.features.auth.service import Principal
from src.features.datasets import service as datasets_service
from src.features.datasets.uploads import DatasetFiles
from src.features.deid.engine import CompiledPolicy, Deidentifier
from src.features.deid.files import deidentify_file
from src.features.deid.mappings import MappingUnreadable, MappingVault
from src.features.deid.operators import OperatorRule
from src.models.datasets import DatasetCreate, FileStatus
from src.models.deid import (
    BUILTIN_TYPES,
    DEFAULT_POLICY_ID,
    DeidJobCreate,
    DeidJobStatus,
    DeidMappingRead,
    DeidPolicyRead,
    DeidPolicyWrite,
    DeidTestRequest,
    DeidTestResponse,
    DeidTextResult,
    EntityRead,
    MappingEntryRead,
    Operator,
)
from src.models.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge
from src.storage import Store
from src.storage.scoping import get_owned, owned
from src.storage.tables import Dataset, DeidJob, DeidPolicy
from src.storage.types import utcnow
from src.utils.ids import new_uuid7

logger = logging.getLogger(__name__)

DEFAULT_ENTITIES = {entity_type: {"operator": Operator.replace.value} for entity_type in BUILTIN_TYPES}
_FINISHED = (DeidJobStatus.succeeded.value, DeidJobStatus.failed.value)
# a source name cut so that `-deid-<n>` still fits the 128 characters of a dataset name
MAX_OUTPUT_STEM = 128 - len("-deid") - len("-99999")


# ---- policies ------------------------------------------------------------------


def ensure_default_policy(session: Session) -> None:
    """Create the built-in `default` policy (every built-in type, replaced) if it is missing."""
    if session.get(DeidPolicy, DEFAULT_POLICY_ID) is not None:
        return
    session.add(
        DeidPolicy(
            id=DEFAULT_POLICY_ID,
            owner=None,
            name="default",
            description="every built-in entity type, replaced by a typed placeholder",
            entities=DEFAULT_ENTITIES,
            allow_list=[],
            dictionary={},
            secret=secrets.token_hex(32),
        )
    )
    session.flush()


def list_policies(session: Session, *, principal: Principal) -> list[DeidPolicy]:
    """The default policy and the caller's own (an admin sees every owner's)."""
    stmt = owned(select(DeidPolicy), DeidPolicy, principal, shared_when_null=True)
    return list(session.scalars(stmt.order_by(DeidPolicy.created_at, DeidPolicy.id)))


def get_policy(session: Session, *, policy_id: str, principal: Principal) -> DeidPolicy:
    return get_owned(
        session, DeidPolicy, policy_id, principal, what="policy", param="policy_id", shared_when_null=True
    )


def create_policy(session: Session, *, principal: Principal, data: DeidPolicyWrite) -> DeidPolicy:
    """Store a new policy owned by the caller, with its own secret for `hash` and pseudonyms."""
    policy = DeidPolicy(id=new_uuid7(), owner=principal.owner, secret=secrets.token_hex(32))
    _write(policy, data)
    session.add(policy)
    session.flush()
    return policy


def replace_policy(
    session: Session, *, policy: DeidPolicy, principal: Principal, data: DeidPolicyWrite
) -> DeidPolicy:
    """Replace a policy's settings; the built-in one only with an admin key. The secret stays."""
    if policy.owner is None:
        principal.require_admin()
    _write(policy, data)
    policy.updated_at = utcnow()
    session.flush()
    return policy


def delete_policy(session: Session, *, policy: DeidPolicy, principal: Principal) -> None:
    if policy.id == DEFAULT_POLICY_ID:
        raise Invalid(
            "the built-in default policy cannot be deleted", param="policy_id", code="builtin_policy"
        )
    session.delete(policy)
    session.flush()


def _write(policy: DeidPolicy, data: DeidPolicyWrite) -> None:
    policy.name = data.name
    policy.description = data.description
    policy.entities = {name: rule.model_dump(mode="json") for name, rule in data.entities.items()}
    policy.allow_list = list(data.allow_list)
    policy.dictionary = {name: list(terms) for name, terms in data.dictionary.items()}


def to_read(policy: DeidPolicy) -> DeidPolicyRead:
    return DeidPolicyRead(
        id=policy.id,
        name=policy.name,
        description=policy.description,
        owner=policy.owner,
        builtin=policy.owner is None,
        entities=policy.entities,
        allow_list=policy.allow_list,
        dictionary=policy.dictionary,
        created_at=policy.created_at,
        updated_at=policy.updated_at,
    )


def snapshot(policy: DeidPolicy) -> dict[str, Any]:
    """What a job needs of a policy, frozen when the job starts."""
    return {
        "entities": policy.entities,
        "allow_list": policy.allow_list,
        "dictionary": policy.dictionary,
        "secret": policy.secret,
    }


def compile_snapshot(policy_id: str, data: dict[str, Any]) -> CompiledPolicy:
    rules = {
        name: OperatorRule(
            operator=Operator(rule["operator"]),
            mask_char=rule.get("mask_char", "*"),
            keep_start=rule.get("keep_start"),
            keep_end=rule.get("keep_end"),
        )
        for name, rule in data["entities"].items()
    }
    return CompiledPolicy.build(
        policy_id=policy_id,
        rules=rules,
        allow_list=data["allow_list"],
        dictionary=data["dictionary"],
        secret=bytes.fromhex(data["secret"]),
    )


class _CompiledCache:
    """Compiled policies by (id, updated_at): a large dictionary compiles once, not per request."""

    def __init__(self, size: int = 32) -> None:
        self._items: OrderedDict[tuple[str, datetime], CompiledPolicy] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, policy: DeidPolicy) -> CompiledPolicy:
        key = (policy.id, policy.updated_at)
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
                return found
        compiled = compile_snapshot(policy.id, snapshot(policy))
        with self._lock:
            self._items[key] = compiled
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return compiled


_compiled = _CompiledCache()


# ---- the test call -----------------------------------------------------------------


def compiled_policy(session: Session, *, policy_id: str, principal: Principal) -> CompiledPolicy:
    """The caller's (or the default) policy, compiled; cached until the policy changes."""
    return _compiled.get(get_policy(session, policy_id=policy_id, principal=principal))


def deidentify_texts(
    policy: CompiledPolicy, *, request: DeidTestRequest, principal: Principal, max_chars: int, max_texts: int
) -> DeidTestResponse:
    """De-identify a list of texts with one policy; the same value gets the same replacement."""
    if len(request.text) > max_texts:
        raise TooLarge(f"at most {max_texts} texts per call", param="text")
    if sum(len(text) for text in request.text) > max_chars:
        raise TooLarge(
            f"at most {max_chars} characters per call; de-identify a dataset for more", param="text"
        )
    if request.options.return_mapping and not principal.is_admin:
        raise Forbidden(
            "the mapping back to original values is for admin keys only",
            param="options.return_mapping",
            code="mapping_not_allowed",
        )
    engine = Deidentifier(policy, seed=request.options.seed, keep_mapping=request.options.return_mapping)
    results = [
        DeidTextResult(
            text=result.text,
            entities=[
                EntityRead(type=e.type, start=e.start, end=e.end, replacement=e.replacement)
                for e in result.entities
            ],
        )
        for result in engine.deidentify_many(request.text)
    ]
    mapping = None
    if request.options.return_mapping:
        mapping = {replacement: entry.original for replacement, entry in engine.mapping.items()}
    return DeidTestResponse(
        policy_id=policy.policy_id, results=results, counts=dict(engine.counts), mapping=mapping
    )


# ---- dataset jobs -------------------------------------------------------------------


def start_job(
    session: Session, *, principal: Principal, dataset: Dataset, policy: DeidPolicy, data: DeidJobCreate
) -> DeidJob:
    """Create the output dataset and a queued job; the caller hands `run_job` to a worker."""
    if not dataset.files:
        raise Invalid(
            f"dataset {dataset.id!r} has no files to de-identify", param="dataset_id", code="dataset_empty"
        )
    if any(f.status == FileStatus.validating.value for f in dataset.files):
        raise Conflict(
            f"dataset {dataset.id!r} is still being validated; try again when it is ready",
            param="dataset_id",
            code="dataset_not_ready",
        )
    job_id = new_uuid7()
    output = datasets_service.create(
        session,
        principal=Principal(owner=dataset.owner, role=principal.role),
        data=DatasetCreate(
            name=data.name
            or datasets_service.free_name(
                session, owner=dataset.owner, stem=f"{dataset.name[:MAX_OUTPUT_STEM]}-deid"
            ),
            type=dataset.type,
            description=f"de-identified copy of {dataset.name!r} with policy {policy.name!r}"[:2000],
            task_type=dataset.task_type,
            metadata={"deid_job": job_id, "source_dataset": dataset.id, "deid_policy": policy.id},
            strict=dataset.strict,
        ),
    )
    job = DeidJob(
        id=job_id,
        owner=dataset.owner,
        dataset_id=dataset.id,
        output_dataset_id=output.id,
        policy_id=policy.id,
        policy=snapshot(policy),
        seed=data.seed,
        store_mapping=data.store_mapping,
        status=DeidJobStatus.queued.value,
        files_total=len(dataset.files),
        counts={},
    )
    session.add(job)
    session.flush()
    return job


def get_job(session: Session, *, job_id: str, principal: Principal) -> DeidJob:
    return get_owned(session, DeidJob, job_id, principal, what="de-identification job", param="job_id")


def unfinished_jobs(store: Store) -> list[str]:
    """Jobs a stopped service left queued or running; they start over on the next start."""
    with store.session_scope(read_only=True) as session:
        stmt = select(DeidJob.id).where(DeidJob.status.not_in(_FINISHED)).order_by(DeidJob.created_at)
        return list(session.scalars(stmt))


def run_job(
    store: Store,
    *,
    job_id: str,
    files: DatasetFiles,
    vault: MappingVault,
    should_stop: Callable[[], bool],
) -> None:
    """Stream every file of the source dataset through the policy into the output dataset."""
    with store.session_scope() as session:
        job = session.get(DeidJob, job_id)
        if job is None or job.status in _FINISHED:
            return
        source = session.get(Dataset, job.dataset_id)
        output = session.get(Dataset, job.output_dataset_id)
        if source is None or output is None:
            datasets_service.discard(session, dataset_id=job.output_dataset_id, files=files)
            _finish(job, error="the source or output dataset was deleted before the job ran")
            return
        # an attempt cut short by a restart starts over: drop what it wrote
        datasets_service.clear_files(session, dataset=output, files=files)
        job.status = DeidJobStatus.running.value
        job.started_at = utcnow()
        job.files_done, job.records, job.counts = 0, 0, {}
        plan = [(f.name, f.stored_name) for f in source.files]
        source_id, output_id = source.id, output.id
        policy_id, policy_data, seed, keep_mapping = (
            job.policy_id,
            dict(job.policy),
            job.seed,
            job.store_mapping,
        )
    engine = Deidentifier(compile_snapshot(policy_id, policy_data), seed=seed, keep_mapping=keep_mapping)
    try:
        for name, stored_name in plan:
            _deidentify_one(
                store,
                job_id=job_id,
                engine=engine,
                files=files,
                source=(source_id, name, stored_name),
                output_id=output_id,
                should_stop=should_stop,
            )
        if keep_mapping:
            vault.seal(job_id, engine.mapping)
    except InterruptedError:
        logger.info(
            "de-identification job %s stopped with the service; it starts over on the next start", job_id
        )
        return
    except Exception as exc:
        logger.exception("de-identification job %s failed", job_id)
        _fail(
            store,
            job_id=job_id,
            output_id=output_id,
            files=files,
            vault=vault,
            error=_describe(exc),
        )
        return
    with store.session_scope() as session:
        job = session.get(DeidJob, job_id)
        if job is not None:
            job.counts = dict(engine.counts)
            _finish(job)


def _deidentify_one(
    store: Store,
    *,
    job_id: str,
    engine: Deidentifier,
    files: DatasetFiles,
    source: tuple[str, str, str],
    output_id: str,
    should_stop: Callable[[], bool],
) -> None:
    source_id, name, stored_name = source
    upload_id, result = datasets_service.add_generated_file(
        store,
        dataset_id=output_id,
        name=name,
        files=files,
        write=lambda target: deidentify_file(
            files.path(source_id, stored_name), target, engine, should_stop=should_stop
        ),
    )
    with store.session_scope() as session:
        job = session.get(DeidJob, job_id)
        if job is not None:
            job.files_done += 1
            job.records += result.records
            job.counts = dict(engine.counts)
    datasets_service.validate_upload(store, upload_id=upload_id, files=files)


def _fail(
    store: Store, *, job_id: str, output_id: str, files: DatasetFiles, vault: MappingVault, error: str
) -> None:
    """Nothing half-written stays: the output dataset and any mapping go; the job keeps the reason."""
    with store.session_scope() as session:
        datasets_service.discard(session, dataset_id=output_id, files=files)
        job = session.get(DeidJob, job_id)
        if job is not None:
            _finish(job, error=error[:2000])
    vault.remove(job_id)


def _describe(exc: Exception) -> str:
    """A reason for the job's record that names no path on this host."""
    if isinstance(exc, OSError):
        return f"a dataset file could not be read or written ({exc.strerror or type(exc).__name__})"
    return str(exc) or type(exc).__name__


def _finish(job: DeidJob, *, error: str | None = None) -> None:
    job.status = (DeidJobStatus.failed if error else DeidJobStatus.succeeded).value
    job.error = error
    job.finished_at = utcnow()


def read_mapping(session: Session, *, job_id: str, vault: MappingVault) -> DeidMappingRead:
    """The stored mapping of a job, opened (the route allows admin keys only)."""
    job = session.get(DeidJob, job_id)
    if job is None:
        raise NotFound(f"de-identification job {job_id!r} not found", param="job_id")
    if not job.store_mapping:
        raise NotFound(
            f"job {job_id!r} was not asked to store its mapping", param="job_id", code="no_mapping"
        )
    if job.status != DeidJobStatus.succeeded.value:
        raise Conflict(f"job {job_id!r} is {job.status}; its mapping exists once it succeeds", param="job_id")
    try:
        rows = vault.open(job_id)
    except FileNotFoundError as exc:
        raise NotFound(
            f"the mapping of job {job_id!r} is missing", param="job_id", code="no_mapping"
        ) from exc
    except MappingUnreadable as exc:
        raise Conflict(str(exc), param="job_id", code="mapping_unreadable") from exc
    return DeidMappingRead(
        job_id=job_id,
        entries=[MappingEntryRead(replacement=r, type=t, original=o) for r, t, o in rows],
    )
