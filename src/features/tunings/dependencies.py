"""Dependencies of the tuning job routes (`/v1/tunings.*` and OpenAI's `/v1/fine_tuning/jobs`)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, Path, Request

from app.deps import PrincipalDep, ReadSessionDep, SessionDep, rate_limited
from src.features.tunings import service
from src.features.tunings.service import TuningSetup
from src.models.errors import NotFound
from src.storage.tables import TuningJob

LimitTunings = Depends(rate_limited("tunings"))
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=255, description="repeat a create safely: same key, same job"),
]
JOB_ID = re.compile(r"job-[0-9a-f]{12}")
JobIdPath = Annotated[
    str, Path(max_length=64, description="`job-` and 12 hex digits", examples=["job-0123456789ab"])
]


async def job_id_in_path(job_id: JobIdPath) -> str:  # async: no worker thread for a regex
    """The path's job id; one no job can have (`job-doesnotexist`) is not found, as an unknown one is."""
    if JOB_ID.fullmatch(job_id) is None:
        raise NotFound(f"tuning job {job_id!r} not found", param="id")
    return job_id


JobId = Annotated[str, Depends(job_id_in_path)]


# async: FastAPI would run a plain function on a worker thread, for an attribute read
async def get_setup(request: Request) -> TuningSetup:
    return request.app.state.tuning_setup


def load_job(job_id: JobId, session: ReadSessionDep, principal: PrincipalDep) -> TuningJob:
    return service.get(session, job_id=job_id, principal=principal)


def load_job_to_change(job_id: JobId, session: SessionDep, principal: PrincipalDep) -> TuningJob:
    """The job, loaded through the request's write session (the handler's `SessionDep` is the same one)."""
    return service.get(session, job_id=job_id, principal=principal)


SetupDep = Annotated[TuningSetup, Depends(get_setup)]
JobDep = Annotated[TuningJob, Depends(load_job)]
JobToChangeDep = Annotated[TuningJob, Depends(load_job_to_change)]
