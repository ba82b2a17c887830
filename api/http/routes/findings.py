"""Findings, retractions, disputes and sign-offs on a district's ledger."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.http import bodies as b
from api.http import models as m
from api.http.answers import written
from api.http.deps import Committer, CurrentActor, IdempotencyKey
from api.shared import Service

router = APIRouter()
YEAR = "/years/{year}"


@router.post(YEAR + "/districts/{district}/findings", status_code=201, response_model=m.RecordedFinding)
async def record_finding(year: int, district: str, body: b.RecordFinding, service: Service, actor: CurrentActor,
                         committer: Committer, response: Response, key: IdempotencyKey = None) -> dict:
    # The busiest write: findings that arrive together are saved together (group commit, one fsync).
    result = await committer.run(lambda: service.record_finding(actor, year=year, district=district,
                                                                **body.model_dump(), idempotency_key=key))
    return written(result, response, service)


@router.post(YEAR + "/findings/{finding_id}/retraction", status_code=201, response_model=m.Retracted)
def retract_finding(year: int, finding_id: str, body: b.Retraction, service: Service, actor: CurrentActor,
                    response: Response, key: IdempotencyKey = None) -> dict:
    return written(service.retract_finding(actor, year=year, finding_id=finding_id, **body.model_dump(),
                                           idempotency_key=key), response, service)


@router.post(YEAR + "/findings/{finding_id}/disputes", status_code=201, response_model=m.FiledDispute)
def file_dispute(year: int, finding_id: str, body: b.FileDispute, service: Service, actor: CurrentActor,
                 response: Response, key: IdempotencyKey = None) -> dict:
    return written(service.file_dispute(actor, year=year, finding_id=finding_id, **body.model_dump(),
                                        idempotency_key=key), response, service)


@router.post(YEAR + "/disputes/{dispute_id}/resolution", status_code=201, response_model=m.ResolvedDispute)
def resolve_dispute(year: int, dispute_id: str, body: b.ResolveDispute, service: Service, actor: CurrentActor,
                    response: Response, key: IdempotencyKey = None) -> dict:
    return written(service.resolve_dispute(actor, year=year, dispute_id=dispute_id, **body.model_dump(),
                                           idempotency_key=key), response, service)


@router.get(YEAR + "/disputes", response_model=m.DisputeQueue)
def disputes(year: int, service: Service, actor: CurrentActor,
             status: Annotated[str | None, Query(description="open, upheld or overturned")] = None) -> dict:
    return {"year": year, "disputes": service.disputes(actor, year, status)}


@router.post(YEAR + "/districts/{district}/signoffs", status_code=201, response_model=m.SignedOff)
def sign_off(year: int, district: str, body: b.SignOff, service: Service, actor: CurrentActor, response: Response,
             key: IdempotencyKey = None) -> dict:
    return written(service.sign_off(actor, year=year, district=district, **body.model_dump(),
                                    idempotency_key=key), response, service)
