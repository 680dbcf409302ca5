"""Dashboard pages: de-identification (see src/features/ui/web.py for what every page shares).

A side-by-side test (original | de-identified, entities marked), policy editing and dataset
jobs with their progress. Every call is the deid feature's own service call, with the API's
rules: a user sees the built-in policy and its own, only an admin changes the built-in one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

import yaml
from fastapi import APIRouter, BackgroundTasks, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.config import DeidSettings
from app.deps import ReadDep, SessionDep, StoreDep
from src.features.auth.service import Principal
from src.features.datasets import service as datasets_service
from src.features.datasets.dependencies import BackgroundDep, DatasetFilesDep
from src.features.deid import service as deid_service
from src.features.ui.keys_api import validation_messages
from src.features.ui.sessions import UiLogin
from src.features.ui.web import SECURITY_HEADERS, UI_PREFIX, ChangeDep, LoginDep, is_htmx, page
from src.models.deid import (
    BUILTIN_TYPES,
    DEFAULT_POLICY_ID,
    DeidJobCreate,
    DeidJobStatus,
    DeidPolicyWrite,
    DeidTestRequest,
    EntityRead,
    PolicyId,
)
from src.models.errors import AppError
from src.storage.scoping import owned
from src.storage.tables import Dataset, DeidJob, DeidPolicy

router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)
PolicyIdPath = Annotated[PolicyId, Path()]
JOBS_SHOWN = 50
DATASETS_SHOWN = 100
MAX_TEST_CHARS = 100_000
MAX_POLICY_CHARS = 1_000_000
_UNFINISHED = (DeidJobStatus.queued.value, DeidJobStatus.running.value)
# what the editor starts from for a new policy: every field the policy body takes, once
NEW_POLICY_BODY = {
    "name": "my policy",
    "description": "mask phones, replace emails, pseudonymize the names listed",
    "entities": {
        "PHONE": {"operator": "mask", "keep_start": 3, "keep_end": 4},
        "EMAIL": {"operator": "replace"},
        "PERSON": {"operator": "pseudonymize"},
    },
    "allow_list": ["400-820-8820"],
    "dictionary": {"PERSON": ["张三", "李四"]},
}


@dataclass(frozen=True)
class Piece:
    """A stretch of text, and the entity type it is (None: plain text)."""

    text: str
    entity: str | None = None


def marked_original(text: str, entities: list[EntityRead]) -> list[Piece]:
    """The original text cut at the entities found, each entity a piece of its own."""
    pieces, at = [], 0
    for entity in sorted(entities, key=lambda e: (e.start, e.end)):
        if entity.start < at or entity.end > len(text):
            continue  # overlapping or out of range: shown as plain text rather than twice
        if entity.start > at:
            pieces.append(Piece(text[at : entity.start]))
        pieces.append(Piece(text[entity.start : entity.end], entity.type))
        at = entity.end
    if at < len(text):
        pieces.append(Piece(text[at:]))
    return pieces


def marked_result(original: list[Piece], entities: list[EntityRead], result: str) -> list[Piece]:
    """The de-identified text with each replacement marked, when the pieces rebuild it exactly."""
    replacements = iter(sorted(entities, key=lambda e: (e.start, e.end)))
    pieces = [
        Piece(next(replacements).replacement, piece.entity) if piece.entity else piece for piece in original
    ]
    if "".join(piece.text for piece in pieces) != result:
        return [Piece(result)]
    return [piece for piece in pieces if piece.text]


def _jobs(session: Session, *, principal: Principal) -> list[DeidJob]:
    stmt = owned(select(DeidJob), DeidJob, principal).order_by(DeidJob.created_at.desc(), DeidJob.id.desc())
    return list(session.scalars(stmt.limit(JOBS_SHOWN)))


def _jobs_context(session: Session, *, principal: Principal) -> dict[str, Any]:
    jobs = _jobs(session, principal=principal)
    dataset_ids = {job.dataset_id for job in jobs} | {job.output_dataset_id for job in jobs}
    names: dict[str, str] = {}
    if dataset_ids:
        stmt = owned(select(Dataset.id, Dataset.name), Dataset, principal).where(Dataset.id.in_(dataset_ids))
        names = {dataset_id: name for dataset_id, name in session.execute(stmt)}
    return {
        "jobs": jobs,
        "dataset_names": names,
        "jobs_live": any(job.status in _UNFINISHED for job in jobs),
    }


def _policy_body(policy: DeidPolicy) -> str:
    body = deid_service.to_read(policy).model_dump(
        mode="json", include={"name", "description", "entities", "allow_list", "dictionary"}
    )
    return json.dumps(body, ensure_ascii=False, indent=2)


def _deid_page(
    session: Session, *, principal: Principal, edit: str | None = None, editor: dict[str, Any] | None = None
) -> dict[str, Any]:
    policies = deid_service.list_policies(session, principal=principal)
    datasets, _more = datasets_service.list_page(session, principal=principal, limit=DATASETS_SHOWN)
    if editor is None:
        editor = {
            "policy_id": "",
            "body": json.dumps(NEW_POLICY_BODY, ensure_ascii=False, indent=2),
            "errors": [],
        }
        if edit:
            policy = deid_service.get_policy(session, policy_id=edit, principal=principal)
            if policy.owner is None:
                principal.require_admin()
            editor = {
                "policy_id": policy.id,
                "policy_name": policy.name,
                "body": _policy_body(policy),
                "errors": [],
            }
    return {
        "policies": policies,
        "datasets": datasets,
        "editor": editor,
        "builtin_types": BUILTIN_TYPES,
        "test": None,
        "job_form": {"errors": []},
        **_jobs_context(session, principal=principal),
    }


@router.get("/deid", response_class=HTMLResponse)
async def ui_deid(
    request: Request,
    login: LoginDep,
    read: ReadDep,
    edit: Annotated[PolicyId | None, Query(description="a policy to load into the editor")] = None,
) -> HTMLResponse:
    """The side-by-side test, the policies with their editor, and the dataset jobs."""
    context = await read(_deid_page, principal=login.principal, edit=edit)
    return page(request, login, "deid.html", **context)


# ---- the side-by-side test -----------------------------------------------------------------


def _test(
    session: Session, *, principal: Principal, limits: DeidSettings, text: str, policy_id: str
) -> dict[str, Any]:
    try:
        body = DeidTestRequest(policy_id=policy_id, text=[text])
        policy = deid_service.compiled_policy(session, policy_id=body.policy_id, principal=principal)
        answer = deid_service.deidentify_texts(
            policy,
            request=body,
            principal=principal,
            max_chars=limits.deid_max_request_chars,
            max_texts=limits.deid_max_texts,
        )
    except ValidationError as exc:
        return {"text": text, "policy_id": policy_id, "error": "; ".join(validation_messages(exc))}
    except AppError as exc:
        return {"text": text, "policy_id": policy_id, "error": exc.message}
    (result,) = answer.results
    original = marked_original(text, result.entities)
    return {
        "text": text,
        "policy_id": answer.policy_id,
        "error": None,
        "original": original,
        "result": marked_result(original, result.entities, result.text),
        "counts": answer.counts,
    }


@router.post("/deid/test", response_class=HTMLResponse)
async def ui_deid_test(
    request: Request,
    login: ChangeDep,
    read: ReadDep,
    text: Annotated[str, Form(max_length=MAX_TEST_CHARS)] = "",
    policy_id: Annotated[str, Form(max_length=64)] = DEFAULT_POLICY_ID,
) -> HTMLResponse:
    """De-identify a text with a policy: the original with its entities marked, beside the result."""
    limits = request.app.state.settings.deid
    test = await read(_test, principal=login.principal, limits=limits, text=text, policy_id=policy_id)
    if is_htmx(request):  # htmx swaps 2xx answers only, so a refusal is shown inside a 200
        return page(request, login, "fragments/deid_result.html", test=test)
    context = await read(_deid_page, principal=login.principal)
    context["test"] = test
    return page(request, login, "deid.html", status_code=400 if test["error"] else 200, **context)


# ---- policies ------------------------------------------------------------------------------


def _parse_policy(body: str) -> tuple[DeidPolicyWrite | None, list[str]]:
    """The editor's JSON (or YAML) as the API's policy body, or the reasons it is not one."""
    try:
        data = yaml.safe_load(body)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        return None, [f"{where}not valid JSON or YAML ({getattr(exc, 'problem', None) or exc})"]
    if not isinstance(data, dict):
        return None, ["the policy must be an object with name, entities, allow_list and dictionary"]
    try:
        return DeidPolicyWrite.model_validate(data), []
    except ValidationError as exc:
        return None, validation_messages(exc)


def _render_editor_error(
    request: Request,
    login: UiLogin,
    session: Session,
    *,
    policy_id: str,
    body: str,
    errors: list[str],
    status: int,
) -> HTMLResponse:
    session.rollback()  # nothing of a refused change is kept
    editor = {"policy_id": policy_id, "body": body, "errors": errors}
    context = _deid_page(session, principal=login.principal, editor=editor)
    return page(request, login, "deid.html", status_code=status, **context)


@router.post("/deid/policies", response_class=HTMLResponse)
def ui_save_deid_policy(
    request: Request,
    login: ChangeDep,
    session: SessionDep,
    body: Annotated[str, Form(max_length=MAX_POLICY_CHARS)] = "",
    policy_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Create a policy (no `policy_id`) or replace one, from the editor's JSON or YAML."""
    data, errors = _parse_policy(body)
    if data is None:
        return _render_editor_error(
            request, login, session, policy_id=policy_id, body=body, errors=errors, status=422
        )
    try:
        if policy_id:
            policy = deid_service.get_policy(session, policy_id=policy_id, principal=login.principal)
            policy = deid_service.replace_policy(session, policy=policy, principal=login.principal, data=data)
        else:
            policy = deid_service.create_policy(session, principal=login.principal, data=data)
    except AppError as exc:
        return _render_editor_error(
            request,
            login,
            session,
            policy_id=policy_id,
            body=body,
            errors=[exc.message],
            status=exc.status_code,
        )
    return RedirectResponse(
        f"{UI_PREFIX}/deid?edit={policy.id}#policies", status_code=303, headers=SECURITY_HEADERS
    )


@router.post("/deid/policies/{policy_id}/delete")
def ui_delete_deid_policy(policy_id: PolicyIdPath, login: ChangeDep, session: SessionDep) -> Response:
    """Delete a policy; the built-in default cannot be deleted."""
    policy = deid_service.get_policy(session, policy_id=policy_id, principal=login.principal)
    deid_service.delete_policy(session, policy=policy, principal=login.principal)
    return RedirectResponse(f"{UI_PREFIX}/deid#policies", status_code=303, headers=SECURITY_HEADERS)


# ---- dataset jobs --------------------------------------------------------------------------


@router.get("/deid/jobs/rows", response_class=HTMLResponse)
async def ui_deid_job_rows(request: Request, login: LoginDep, read: ReadDep) -> HTMLResponse:
    """The jobs table's body, polled every 3 s while a job is queued or running."""
    context = await read(_jobs_context, principal=login.principal)
    return page(request, login, "fragments/deid_jobs.html", **context)


@router.post("/deid/jobs", response_class=HTMLResponse)
def ui_start_deid_job(
    request: Request,
    login: ChangeDep,
    session: SessionDep,
    store: StoreDep,
    files: DatasetFilesDep,
    background: BackgroundDep,
    tasks: BackgroundTasks,
    dataset_id: Annotated[str, Form(max_length=64)] = "",
    policy_id: Annotated[str, Form(max_length=64)] = DEFAULT_POLICY_ID,
    seed: Annotated[str, Form(max_length=20)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    store_mapping: Annotated[bool, Form()] = False,
) -> Response:
    """Start writing a de-identified copy of one of the caller's datasets, as the API does."""
    principal = login.principal
    try:
        data = DeidJobCreate(
            policy_id=policy_id,
            seed=int(seed) if seed.strip().isdigit() else (seed.strip() or None),
            store_mapping=store_mapping,
            name=name.strip() or None,
        )
        dataset = datasets_service.get(session, dataset_id=dataset_id, principal=principal)
        policy = deid_service.get_policy(session, policy_id=data.policy_id, principal=principal)
        job = deid_service.start_job(session, principal=principal, dataset=dataset, policy=policy, data=data)
    except (ValidationError, AppError) as exc:
        session.rollback()
        messages = validation_messages(exc) if isinstance(exc, ValidationError) else [exc.message]
        context = _deid_page(session, principal=principal)
        context["job_form"] = {"errors": messages, "dataset_id": dataset_id, "policy_id": policy_id}
        status = 422 if isinstance(exc, ValidationError) else exc.status_code
        return page(request, login, "deid.html", status_code=status, **context)
    # handed to a worker once the response is sent, i.e. after the job's row is committed
    tasks.add_task(
        background.submit,
        deid_service.run_job,
        store,
        job_id=job.id,
        files=files,
        vault=request.app.state.deid_vault,
        should_stop=background.should_stop,
    )
    return RedirectResponse(f"{UI_PREFIX}/deid#jobs", status_code=303, headers=SECURITY_HEADERS)
