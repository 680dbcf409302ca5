"""Projects routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from app.deps import PrincipalDep, ReadDep, SessionDep
from src.features.projects import service
from src.models.common import Message
from src.models.errors import error_responses
from src.models.projects import (
    ProjectCreate,
    ProjectDetail,
    ProjectName,
    ProjectPage,
    ProjectStatus,
    ProjectUpdate,
    Tag,
)

router = APIRouter(prefix="/projects", tags=["projects"], responses=error_responses(400, 401))


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ProjectDetail,
    responses=error_responses(403, 409, 422),
)
def create_project(body: ProjectCreate, session: SessionDep, principal: PrincipalDep) -> ProjectDetail:
    """Create a project."""
    project = service.create(session, principal=principal, data=body)
    return service.details(session, projects=[project])[0]


@router.get("", response_model=ProjectPage, responses=error_responses(404, 422))
async def list_projects(
    read: ReadDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=100, description="page size")] = 20,
    after: Annotated[
        ProjectName | None, Query(description="name of the last project of the previous page")
    ] = None,
    tag: Annotated[Tag | None, Query()] = None,
    owner: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[ProjectStatus | None, Query()] = None,
) -> ProjectPage:
    """List projects, newest first, with cursor pagination."""
    return await read(
        service.page, principal=principal, limit=limit, after=after, tag=tag, owner=owner, status=status
    )


@router.get("/{name}", response_model=ProjectDetail, responses=error_responses(404, 422))
async def get_project(name: ProjectName, read: ReadDep, principal: PrincipalDep) -> ProjectDetail:
    """Get one project with its run counts."""
    return await read(service.get_detail, name=name, principal=principal)


@router.patch("/{name}", response_model=ProjectDetail, responses=error_responses(404, 422))
def update_project(
    name: ProjectName, body: ProjectUpdate, session: SessionDep, principal: PrincipalDep
) -> ProjectDetail:
    """Change a project's description, tags, file names or status."""
    project = service.get(session, name=name, principal=principal)
    service.update(session, project=project, data=body)
    return service.details(session, projects=[project])[0]


@router.delete("/{name}", response_model=Message, responses=error_responses(404, 422))
def delete_project(name: ProjectName, session: SessionDep, principal: PrincipalDep) -> Message:
    """Delete a project; refused while it has unfinished runs."""
    project = service.get(session, name=name, principal=principal)
    service.delete(session, project=project)
    return Message(detail=f"project {name!r} deleted")
