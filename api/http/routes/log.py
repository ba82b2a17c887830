"""The verifiable log (可验证日志): the service's key, checkpoints, inclusion and consistency proofs, leaves,
and witnesses' cosignatures."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.http import bodies as b
from api.http import log_models as m
from api.http.answers import REPLAY_HEADER
from api.http.deps import CurrentActor, IdempotencyKey
from api.shared import Service

router = APIRouter(tags=["log"])
LOG = "/years/{year}/log"
Size = Annotated[int, Query(ge=0, le=2**62)]


@router.get("/log/key", response_model=m.LogKey)
def key(service: Service) -> dict:
    # No token: the key is what everyone checks the log with.
    return service.log_key()


@router.get(LOG + "/checkpoint", response_model=m.Checkpoint)
def checkpoint(year: int, service: Service, actor: CurrentActor) -> dict:
    return service.latest_checkpoint(actor, year)


@router.get(LOG + "/inclusion", response_model=m.Inclusion)
def inclusion(year: int, service: Service, actor: CurrentActor, index: Size, size: Size | None = None) -> dict:
    return service.inclusion(actor, year, index, size)


@router.get(LOG + "/consistency", response_model=m.Consistency)
def consistency(year: int, service: Service, actor: CurrentActor, first: Size, second: Size) -> dict:
    return service.consistency(actor, year, first, second)


@router.get(LOG + "/leaves", response_model=m.Leaves, response_model_exclude_none=True)
def leaves(year: int, service: Service, actor: CurrentActor, start: Size,
           end: Annotated[int, Query(ge=0, le=2**62, description="exclusive; at most 1000 leaves a call")]) -> dict:
    return service.leaves(actor, year, start, end)


@router.post(LOG + "/cosignatures", status_code=201, response_model=m.Cosigned)
def cosign(year: int, body: b.Cosignature, service: Service, actor: CurrentActor, response: Response,
           key: IdempotencyKey = None) -> dict:
    result = service.cosign(actor, year, body.note, idempotency_key=key)
    if result.pop("idempotent_replay", False):
        response.headers[REPLAY_HEADER] = "true"
    return result
