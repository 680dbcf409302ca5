"""Dashboard routes: login and logout, and the pages about runs (overview, runs, run, compare).

Other features' pages live beside this in `<part>_api.py`. Every route here is outside the
OpenAPI document (`include_in_schema=False`): they answer HTML for people, not JSON for clients.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, Depends, Form, Header, Path, Query, Request
from fastapi.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from sqlalchemy.orm import Session
from starlette.concurrency import iterate_in_threadpool

from app.deps import ReadDep, ReadSessionDep, SessionDep, StoreDep
from src.features.auth.service import Principal
from src.features.runs import logstream, state
from src.features.runs import service as runs_service
from src.features.runs.dependencies import LayoutDep
from src.features.runs.workspace import TrainingLayout
from src.features.ui import sessions, views
from src.features.ui.web import (
    LOGIN_PATH,
    SECURITY_HEADERS,
    UI_LOGIN_SCOPE_KEY,
    UI_PREFIX,
    ChangeDep,
    LoginDep,
    LoginRequired,
    authenticate_ui,
    check_local_admin,
    page,
    safe_next,
    same_origin,
)
from src.models.errors import Forbidden, Invalid, Unauthenticated
from src.models.runs import RunStatus
from src.storage import Store
from src.storage.tables import Run

# the log lines a run page starts with; the stream adds to them, and the page keeps at most
# MAX_LOG_LINES_IN_PAGE however long it follows (the whole log is a download)
LOG_LINES_SHOWN = 200
MAX_LOG_LINES_IN_PAGE = 2000
MAX_COMPARED = 8
RUN_ID = re.compile(r"run-[0-9a-f]{28}")

router = APIRouter(prefix=UI_PREFIX, include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
async def ui_login_page(
    request: Request, next: Annotated[str | None, Query(max_length=512)] = None
) -> HTMLResponse:
    """The login form."""
    auth_off = request.app.state.settings.auth.mode == "off"
    return page(request, None, "login.html", next=safe_next(next), auth_off=auth_off, message=None)


def _log_in(store: Store, key: str, auth_off: bool) -> str:
    with store.session_scope() as session:
        token, _login = sessions.log_in(session, key=key, auth_off=auth_off)
    return token


@router.post("/login", response_class=HTMLResponse)
async def ui_log_in(
    request: Request,
    store: StoreDep,
    key: Annotated[str, Form(max_length=512)] = "",
    next: Annotated[str, Form(max_length=512)] = "",
) -> Response:
    """Trade an API key for a session cookie (HttpOnly, SameSite=Strict); the key is not kept.

    Only from a page of this service: another site's form would log the visitor in as
    whoever's key it posts (login CSRF), and what they then upload would be that owner's.
    """
    if not same_origin(request):
        raise Forbidden("log in from this service's own login page", code="csrf_failed")
    auth_off = request.app.state.settings.auth.mode == "off"
    if auth_off:
        await check_local_admin(request)
    try:
        token = await anyio.to_thread.run_sync(_log_in, store, key.strip(), auth_off)
    except Unauthenticated as exc:
        return page(
            request,
            None,
            "login.html",
            status_code=401,
            next=safe_next(next),
            auth_off=auth_off,
            message=exc.message,
        )
    response = RedirectResponse(safe_next(next), status_code=303, headers=SECURITY_HEADERS)
    response.set_cookie(
        sessions.COOKIE_NAME,
        token,
        max_age=sessions.SESSION_HOURS * 3600,
        path=UI_PREFIX,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/logout")
def ui_log_out(request: Request, store: StoreDep, _login: ChangeDep) -> Response:
    """End the session: its row is deleted, so the cookie is worth nothing even if kept."""
    with store.session_scope() as session:
        sessions.log_out(session, token=request.cookies.get(sessions.COOKIE_NAME))
    response = RedirectResponse(LOGIN_PATH, status_code=303, headers=SECURITY_HEADERS)
    response.delete_cookie(sessions.COOKIE_NAME, path=UI_PREFIX)
    return response


# ---- overview ---------------------------------------------------------------------------------


OVERVIEW_PARTS = ("timeline", "queue", "running", "deployments", "failures")


def _overview(
    session: Session,
    *,
    parts: tuple[str, ...],
    principal: Principal,
    layout: TrainingLayout,
    slots: int,
    window: int,
) -> dict[str, Any]:
    """What the overview's `parts` show: a panel's poll reads only its own."""
    context: dict[str, Any] = {"window": window, "windows": views.TIMELINE_WINDOWS}
    if "timeline" in parts:
        context["gpu_rows"], context["ticks"] = views.gpu_timeline(
            session, principal=principal, gpu_ids=list(layout.gpu_ids), minutes=window
        )
    if "queue" in parts:
        context["queued"] = views.queue(session, principal=principal, slots=slots)
    if "running" in parts:
        context["running"] = views.running(session, principal=principal)
    if "deployments" in parts:
        context["deployments"] = views.live_deployments(session, principal=principal)
    if "failures" in parts:
        context["failures"] = views.recent_failures(session, principal=principal)
    return context


def _window(minutes: int) -> int:
    if minutes not in views.TIMELINE_WINDOWS:
        raise Invalid(f"the timeline shows one of {list(views.TIMELINE_WINDOWS)} minutes", param="window")
    return minutes


WindowQuery = Annotated[int, Query(description="minutes of GPU history")]


@router.get("/", response_class=HTMLResponse)
async def ui_overview(
    request: Request,
    login: LoginDep,
    read: ReadDep,
    layout: LayoutDep,
    window: WindowQuery = views.TIMELINE_DEFAULT,
) -> HTMLResponse:
    """One GPU timeline for runs, deployments and training sessions; the queue; running runs; failures."""
    slots = request.app.state.settings.training.max_concurrent_runs
    context = await read(
        _overview,
        parts=OVERVIEW_PARTS,
        principal=login.principal,
        layout=layout,
        slots=slots,
        window=_window(window),
    )
    return page(request, login, "overview.html", **context)


@router.get("/fragments/overview/{part}", response_class=HTMLResponse)
async def ui_overview_part(
    request: Request,
    part: Annotated[str, Path(pattern="^(timeline|queue|running|deployments|failures)$")],
    login: LoginDep,
    read: ReadDep,
    layout: LayoutDep,
    window: WindowQuery = views.TIMELINE_DEFAULT,
) -> HTMLResponse:
    """One panel of the overview, for htmx to swap in every few seconds."""
    slots = request.app.state.settings.training.max_concurrent_runs
    context = await read(
        _overview,
        parts=(part,),
        principal=login.principal,
        layout=layout,
        slots=slots,
        window=_window(window),
    )
    return page(request, login, f"fragments/overview_{part}.html", **context)


# ---- runs ---------------------------------------------------------------------------------------

# no NUL: PostgreSQL refuses it in a text parameter (a 500 rather than a 400)
TextFilter = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]


async def run_filters(
    status: RunStatus | None = None,
    project: TextFilter = None,
    owner: TextFilter = None,
    q: TextFilter = None,
) -> views.RunFilters:
    """The runs page's filters, as the URL gives them (an empty field is no filter)."""
    return views.RunFilters(
        status=status.value if status else None,
        project=project or None,
        owner=owner or None,
        text=(q or "").strip() or None,
    )


RunFiltersDep = Annotated[views.RunFilters, Depends(run_filters)]


def _runs(session: Session, *, principal: Principal, filters: views.RunFilters) -> dict[str, Any]:
    projects, owners = views.filter_choices(session, principal=principal)
    return {
        "runs": views.filtered_runs(session, principal=principal, filters=filters),
        "filters": filters,
        "projects": projects,
        "owners": owners,
        "statuses": [s.value for s in RunStatus],
    }


@router.get("/runs", response_class=HTMLResponse)
async def ui_runs(request: Request, login: LoginDep, read: ReadDep, filters: RunFiltersDep) -> HTMLResponse:
    """Runs filtered by status, project, owner (admins) and text; the filters live in the URL."""
    context = await read(_runs, principal=login.principal, filters=filters)
    return page(request, login, "runs.html", **context)


@router.get("/fragments/runs", response_class=HTMLResponse)
async def ui_runs_rows(
    request: Request, login: LoginDep, read: ReadDep, filters: RunFiltersDep
) -> HTMLResponse:
    """The runs table's rows, polled by the page so rows update live."""
    context = await read(_runs, principal=login.principal, filters=filters)
    return page(request, login, "fragments/runs_rows.html", **context)


# ---- one run ------------------------------------------------------------------------------------

RunIdPath = Annotated[str, Path(pattern=r"^run-[0-9a-f]{28}$")]


def _run_page(
    session: Session,
    *,
    run_id: str,
    principal: Principal,
    layout: TrainingLayout,
    max_lines: int = MAX_LOG_LINES_IN_PAGE,
) -> dict[str, Any]:
    run = runs_service.get(session, run_id=run_id, principal=principal)
    tail = runs_service.log_tail(session, run_id=run.id, count=min(LOG_LINES_SHOWN, max_lines))
    return {
        "run": run,
        "read": runs_service.to_read(session, run=run, principal=principal, layout=layout),
        "log_lines": tail,
        "last_seq": tail[-1].seq if tail else 0,
        "finished": state.is_finished(run),
        "artifacts": runs_service.artifacts(session, run=run),
        "config": views.config_text(run, principal=principal, layout=layout),
        "holds": views.hold_history(session, holder_type="run", holder_id=run.id),
        "max_log_lines": max_lines,
    }


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def ui_run(
    request: Request,
    run_id: RunIdPath,
    login: LoginDep,
    read: ReadDep,
    layout: LayoutDep,
    max_lines: Annotated[int, Query(ge=50, le=MAX_LOG_LINES_IN_PAGE)] = MAX_LOG_LINES_IN_PAGE,
) -> HTMLResponse:
    """A run: status, progress, loss chart, the log that follows, config, artifacts, failure.

    `max_lines`: how many log lines the page keeps as it follows (the oldest go first).
    """
    context = await read(
        _run_page, run_id=run_id, principal=login.principal, layout=layout, max_lines=max_lines
    )
    return page(request, login, "run.html", **context)


@router.get("/runs/{run_id}/status", response_class=HTMLResponse)
async def ui_run_status(
    request: Request, run_id: RunIdPath, login: LoginDep, read: ReadDep, layout: LayoutDep
) -> HTMLResponse:
    """The status panel (status, progress, queue, failure), polled while the run is live."""
    context = await read(_run_page, run_id=run_id, principal=login.principal, layout=layout)
    return page(request, login, "fragments/run_status.html", **context)


def _metrics(session: Session, *, run_id: str, principal: Principal, from_step: int) -> dict[str, Any]:
    run = runs_service.get(session, run_id=run_id, principal=principal)
    return {
        "run_id": run.id,
        "points": views.metric_points(session, run=run, from_step=from_step),
        "finished": state.is_finished(run),
    }


@router.get("/runs/{run_id}/metrics.json")
async def ui_run_metrics(
    run_id: RunIdPath,
    login: LoginDep,
    read: ReadDep,
    from_step: Annotated[int, Query(ge=0, le=2**31 - 1)] = 0,
) -> JSONResponse:
    """The run's loss points from `from_step` on, for the chart to add to what it has."""
    body = await read(_metrics, run_id=run_id, principal=login.principal, from_step=from_step)
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


def _still_logged_in(request: Request) -> Callable[[], Awaitable[bool]]:
    """Whether the session that opened a stream still stands: read again, not from the request."""

    async def check() -> bool:
        request.scope.pop(UI_LOGIN_SCOPE_KEY, None)
        try:
            await authenticate_ui(request)
        except LoginRequired:
            return False
        return True

    return check


@router.get("/runs/{run_id}/logs/stream")
async def ui_run_log_stream(
    request: Request,
    run_id: RunIdPath,
    login: LoginDep,
    read: ReadDep,
    store: StoreDep,
    after: Annotated[int, Query(ge=0, le=logstream.MAX_LOG_SEQ)] = 0,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    """The run's log as Server-Sent Events from `after` on: the API's stream, behind the cookie."""
    run = await read(runs_service.get, run_id=run_id, principal=login.principal)
    return StreamingResponse(
        logstream.follow(
            store, run.id, logstream.resume_after(after, last_event_id), allowed=_still_logged_in(request)
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _all_lines(store: Store, run_id: str) -> Iterator[bytes]:
    """Every line of the log, read in pages so a long log is never held in memory at once."""
    after = 0
    while True:
        with store.session_scope(read_only=True) as session:
            run = session.get(Run, run_id)
            if run is None:
                return
            page_ = runs_service.read_logs(session, run=run, after=after, limit=1000)
        yield "".join(line.line + "\n" for line in page_.data).encode("utf-8", errors="replace")
        if not page_.has_more:
            return
        after = page_.last_seq


@router.get("/runs/{run_id}/logs.txt")
async def ui_run_log_download(
    run_id: RunIdPath, login: LoginDep, read: ReadDep, store: StoreDep
) -> StreamingResponse:
    """The whole log as a text file."""
    run = await read(runs_service.get, run_id=run_id, principal=login.principal)
    return StreamingResponse(
        iterate_in_threadpool(_all_lines(store, run.id)),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{run.id}.log"', "Cache-Control": "no-store"},
    )


@router.get("/runs/{run_id}/artifacts/{artifact_id}")
def ui_run_artifact(
    run_id: RunIdPath,
    artifact_id: Annotated[str, Path(max_length=64)],
    login: LoginDep,
    session: ReadSessionDep,
    layout: LayoutDep,
) -> FileResponse:
    """Download one artifact of the run."""
    run = runs_service.get(session, run_id=run_id, principal=login.principal)
    artifact = runs_service.get_artifact(session, run=run, artifact_id=artifact_id)
    path = runs_service.artifact_file(run, artifact, layout=layout)
    return FileResponse(
        path, filename=artifact.path.rsplit("/", 1)[-1], media_type="application/octet-stream"
    )


@router.post("/runs/{run_id}/cancel")
def ui_cancel_run(run_id: RunIdPath, login: ChangeDep, session: SessionDep) -> Response:
    """Cancel the run (TERM, then KILL after the grace period), then show it again."""
    run = runs_service.get(session, run_id=run_id, principal=login.principal)
    runs_service.cancel(session, run=run)
    return RedirectResponse(f"{UI_PREFIX}/runs/{run.id}", status_code=303, headers=SECURITY_HEADERS)


# ---- compare --------------------------------------------------------------------------------------


def _compare(
    session: Session, *, run_ids: list[str], principal: Principal, layout: TrainingLayout
) -> dict[str, Any]:
    runs = views.visible_runs(session, principal=principal, run_ids=run_ids)
    settings = [views.run_settings(run, principal=principal, layout=layout) for run in runs]
    return {"runs": runs, "diff": views.config_diff(settings)}


@router.get("/compare", response_class=HTMLResponse)
async def ui_compare(
    request: Request,
    login: LoginDep,
    read: ReadDep,
    layout: LayoutDep,
    run: Annotated[list[str], Query(max_length=MAX_COMPARED)] = [],  # noqa: B006 (FastAPI copies defaults)
) -> HTMLResponse:
    """Several runs' loss curves overlaid, and the config keys whose values differ."""
    run_ids = list(dict.fromkeys(run))  # the same run twice is one run
    for run_id in run_ids:
        if not RUN_ID.fullmatch(run_id):
            raise Invalid(f"{run_id[:40]!r} is not a run id", param="run")
    context = await read(_compare, run_ids=run_ids, principal=login.principal, layout=layout)
    return page(request, login, "compare.html", **context)
