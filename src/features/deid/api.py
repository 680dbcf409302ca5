"""De-identification routes: the test call, policies, dataset jobs and mappings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Path, Request, status

from app.deps import AdminDep, PrincipalDep, ReadSessionDep, SessionDep, SettingsDep, StoreDep
from src.features.datasets.dependencies import BackgroundDep, DatasetDep, DatasetFilesDep
from src.features.deid import service
from src.features.deid.mappings import MappingVault
from src.models.common import Message, ObjectId
from src.models.deid import (
    DeidJobCreate,
    DeidJobRead,
    DeidMappingRead,
    DeidPolicyList,
    DeidPolicyRead,
    DeidPolicyWrite,
    DeidTestRequest,
    DeidTestResponse,
    PolicyId,
)
from src.models.errors import error_responses

router = APIRouter(prefix="/v1", tags=["deid"], responses=error_responses(400, 401, 404, 422))
PolicyIdPath = Annotated[PolicyId, Path(description="`default` or a policy's id")]
JobId = Annotated[ObjectId, Path(description="the de-identification job's id")]


def _vault(request: Request) -> MappingVault:
    return request.app.state.deid_vault


@router.post("/deidentify:test", response_model=DeidTestResponse, responses=error_responses(403, 413))
def deidentify_test(
    body: DeidTestRequest, store: StoreDep, principal: PrincipalDep, settings: SettingsDep
) -> DeidTestResponse:
    """De-identify texts with a policy: masked texts, the entities found, the mapping for admins."""
    with store.session_scope(read_only=True) as session:
        policy = service.compiled_policy(session, policy_id=body.policy_id, principal=principal)
    limits = settings.deid
    return service.deidentify_texts(
        policy,
        request=body,
        principal=principal,
        max_chars=limits.deid_max_request_chars,
        max_texts=limits.deid_max_texts,
    )


@router.get("/deid/policies", response_model=DeidPolicyList)
def list_deid_policies(session: ReadSessionDep, principal: PrincipalDep) -> DeidPolicyList:
    """The built-in default policy and the caller's own policies."""
    return DeidPolicyList(
        data=[service.to_read(p) for p in service.list_policies(session, principal=principal)]
    )


@router.post("/deid/policies", status_code=status.HTTP_201_CREATED, response_model=DeidPolicyRead)
def create_deid_policy(body: DeidPolicyWrite, session: SessionDep, principal: PrincipalDep) -> DeidPolicyRead:
    """Create a policy: entity types with an operator each, an allow-list, dictionary terms."""
    return service.to_read(service.create_policy(session, principal=principal, data=body))


@router.get("/deid/policies/{policy_id}", response_model=DeidPolicyRead)
def get_deid_policy(
    policy_id: PolicyIdPath, session: ReadSessionDep, principal: PrincipalDep
) -> DeidPolicyRead:
    """One policy."""
    return service.to_read(service.get_policy(session, policy_id=policy_id, principal=principal))


@router.put("/deid/policies/{policy_id}", response_model=DeidPolicyRead, responses=error_responses(403))
def replace_deid_policy(
    policy_id: PolicyIdPath, body: DeidPolicyWrite, session: SessionDep, principal: PrincipalDep
) -> DeidPolicyRead:
    """Replace a policy's settings (the built-in default: admin keys only)."""
    policy = service.get_policy(session, policy_id=policy_id, principal=principal)
    return service.to_read(service.replace_policy(session, policy=policy, principal=principal, data=body))


@router.delete("/deid/policies/{policy_id}", response_model=Message)
def delete_deid_policy(policy_id: PolicyIdPath, session: SessionDep, principal: PrincipalDep) -> Message:
    """Delete a policy; the built-in default cannot be deleted."""
    policy = service.get_policy(session, policy_id=policy_id, principal=principal)
    service.delete_policy(session, policy=policy, principal=principal)
    return Message(detail=f"policy {policy_id!r} deleted")


@router.post(
    "/datasets/{dataset_id}/deidentify",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeidJobRead,
    responses=error_responses(409),
)
def deidentify_dataset(
    body: DeidJobCreate,
    dataset: DatasetDep,
    session: SessionDep,
    principal: PrincipalDep,
    store: StoreDep,
    files: DatasetFilesDep,
    background: BackgroundDep,
    tasks: BackgroundTasks,
    request: Request,
) -> DeidJobRead:
    """Start a job that writes a de-identified copy of the dataset as a new dataset."""
    policy = service.get_policy(session, policy_id=body.policy_id, principal=principal)
    job = service.start_job(session, principal=principal, dataset=dataset, policy=policy, data=body)
    # handed to a worker once the response is sent, i.e. after the job's row is committed
    tasks.add_task(
        background.submit,
        service.run_job,
        store,
        job_id=job.id,
        files=files,
        vault=_vault(request),
        should_stop=background.should_stop,
    )
    return DeidJobRead.model_validate(job)


@router.get("/deid/jobs/{job_id}", response_model=DeidJobRead)
def get_deid_job(job_id: JobId, session: ReadSessionDep, principal: PrincipalDep) -> DeidJobRead:
    """A dataset job: status, files done, records, counts per entity type."""
    return DeidJobRead.model_validate(service.get_job(session, job_id=job_id, principal=principal))


@router.get("/deid/mappings/{job_id}", response_model=DeidMappingRead, responses=error_responses(403, 409))
def get_deid_mapping(
    job_id: JobId, session: ReadSessionDep, principal: AdminDep, request: Request
) -> DeidMappingRead:
    """The stored mapping of a job (replacement → original); admin keys only."""
    return service.read_mapping(session, job_id=job_id, vault=_vault(request))
