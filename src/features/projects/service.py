"""Projects: create, read, list by cursor, update, delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from src.features.auth.service import Principal
from src.features.runs import service as runs_service
from src.models.errors import Conflict, Forbidden, Invalid, NotFound
from src.models.projects import (
    ProjectCreate,
    ProjectDetail,
    ProjectPage,
    ProjectStatus,
    ProjectUpdate,
    RunCounts,
)
from src.models.runs import RunStatus
from src.storage.paging import keyset_page
from src.storage.scoping import OwnedQuery, owned
from src.storage.tables import Project, ProjectTag, Run


def create(session: Session, *, principal: Principal, data: ProjectCreate) -> Project:
    """Create a project owned by the caller (admins may name another owner)."""
    owner = data.owner or principal.owner
    if owner != principal.owner and not principal.is_admin:
        raise Forbidden("a user key can only create projects it owns", param="owner", code="owner_mismatch")
    if session.scalar(select(Project.id).where(Project.name == data.name)) is not None:
        raise _name_taken(data.name)
    project = Project(
        name=data.name,
        description=data.description,
        owner=owner,
        status=ProjectStatus.active.value,
        dataset_name=data.dataset_name,
        training_yaml_name=data.training_yaml_name,
    )
    project.tags = data.tags
    session.add(project)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:  # a concurrent create won the race for the name
        raise _name_taken(data.name) from exc
    return project


def _name_taken(name: str) -> Conflict:
    # names are global, so this is all that may be said: not whose it is, nor what it holds
    return Conflict(f"the project name {name!r} is taken; choose another", param="name", code="name_taken")


_BY_NAME = OwnedQuery(select(Project).where(Project.name == bindparam("name")), Project)
_TAGS = (
    select(ProjectTag.project_id, ProjectTag.tag)
    .where(ProjectTag.project_id.in_(bindparam("project_ids", expanding=True)))
    .order_by(ProjectTag.project_id, ProjectTag.position)
)
_RUN_COUNTS = (
    select(Run.project_id, Run.status, func.count())
    .where(Run.project_id.in_(bindparam("project_ids", expanding=True)))
    .group_by(Run.project_id, Run.status)
)


def get(session: Session, *, name: str, principal: Principal) -> Project:
    """The project with this name, or 404 if it does not exist or belongs to someone else."""
    project = _BY_NAME.execute(session, principal, name=name).scalar_one_or_none()
    if project is None:
        raise NotFound(f"project {name!r} not found", param="name")
    return project


def get_detail(session: Session, *, name: str, principal: Principal) -> ProjectDetail:
    """The project with this name and its run counts, or 404."""
    return details(session, projects=[get(session, name=name, principal=principal)])[0]


def list_page(
    session: Session,
    *,
    principal: Principal,
    limit: int,
    after: str | None = None,
    tag: str | None = None,
    owner: str | None = None,
    status: ProjectStatus | None = None,
) -> tuple[list[Project], bool]:
    """One page, newest first, by keyset on the primary key; returns (projects, has_more)."""
    # With a tag, walk the (tag, project_id) index backwards instead of the whole table.
    order_key = ProjectTag.project_id if tag is not None else Project.id
    stmt = select(Project)
    if tag is not None:
        stmt = stmt.join(ProjectTag, ProjectTag.project_id == Project.id).where(ProjectTag.tag == tag)
    stmt = owned(stmt, Project, principal)
    if owner is not None:
        stmt = stmt.where(Project.owner == owner)
    if status is not None:
        stmt = stmt.where(Project.status == status.value)
    cursor_id = None
    if after is not None:
        try:
            cursor_id = get(session, name=after, principal=principal).id
        except NotFound as exc:
            raise NotFound(f"cursor project {after!r} not found", param="after") from exc
    return keyset_page(session, stmt, key=order_key, limit=limit, after=cursor_id)


def page(session: Session, *, principal: Principal, limit: int, **filters: Any) -> ProjectPage:
    """`list_page` with each project's details."""
    projects, has_more = list_page(session, principal=principal, limit=limit, **filters)
    return ProjectPage(data=details(session, projects=projects), has_more=has_more)


def update(session: Session, *, project: Project, data: ProjectUpdate) -> Project:
    """Apply the fields that were sent."""
    changes = data.model_dump(exclude_unset=True)
    if "tags" in changes:
        project.tags = changes.pop("tags") or []
    status = changes.pop("status", None)
    if status is not None:
        project.status = ProjectStatus(status).value
    for field, value in changes.items():
        setattr(project, field, value)
    session.flush()
    return project


def delete(session: Session, *, project: Project) -> None:
    """Delete a project and its finished runs; refused while a run is pending or running."""
    active = run_counts(session, project_ids=[project.id])[project.id]
    if active.pending or active.running:
        raise Invalid(
            f"project {project.name!r} has {active.pending + active.running} unfinished run(s); "
            "cancel them or wait for them to finish first",
            param="name",
            code="project_has_active_runs",
        )
    for run in session.scalars(select(Run).where(Run.project_id == project.id)):
        if not runs_service.delete(session, run=run):  # one started since the count above
            raise Invalid(
                f"project {project.name!r} has an unfinished run ({run.id}); cancel it or wait for it first",
                param="name",
                code="project_has_active_runs",
            )
    session.delete(project)
    session.flush()


def run_counts(session: Session, *, project_ids: list[int]) -> dict[int, RunCounts]:
    """Runs per status for each project, in one grouped query."""
    counts = {project_id: RunCounts() for project_id in project_ids}
    if not project_ids:
        return counts
    for project_id, status, count in session.execute(_RUN_COUNTS, {"project_ids": project_ids}):
        row = counts[project_id]
        if status in RunStatus.__members__:
            setattr(row, status, count)
        row.total += count
    return counts


def details(session: Session, *, projects: list[Project]) -> list[ProjectDetail]:
    """Projects with their tags and run counts, for one response: two queries whatever their number."""
    ids = [p.id for p in projects]
    counts = run_counts(session, project_ids=ids)
    tags: dict[int, list[str]] = {project_id: [] for project_id in ids}
    if ids:
        for project_id, tag in session.execute(_TAGS, {"project_ids": ids}):
            tags[project_id].append(tag)
    return [
        ProjectDetail(
            **{name: getattr(p, name) for name in _DETAIL_COLUMNS}, tags=tags[p.id], run_counts=counts[p.id]
        )
        for p in projects
    ]


_DETAIL_COLUMNS = [name for name in ProjectDetail.model_fields if name not in ("run_counts", "tags")]
