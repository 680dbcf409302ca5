"""Dependencies of the tuning routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from app.deps import PrincipalDep, ReadSessionDep
from src.features.tunings import service
from src.features.tunings.service import TuningSetup
from src.storage.tables import TuningJob

JobId = Annotated[
    str, Path(pattern=r"^job-[0-9a-f]{12}$", description="the job's id", examples=["job-0123456789ab"])
]


def get_setup(request: Request) -> TuningSetup:
    return request.app.state.tuning_setup


def load_job(job_id: JobId, session: ReadSessionDep, principal: PrincipalDep) -> TuningJob:
    return service.get(session, job_id=job_id, principal=principal)


SetupDep = Annotated[TuningSetup, Depends(get_setup)]
JobDep = Annotated[TuningJob, Depends(load_job)]
