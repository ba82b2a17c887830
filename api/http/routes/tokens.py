"""Access tokens for admin: who holds which (never the token itself), what was made or revoked when, and revocation."""

from __future__ import annotations

from fastapi import APIRouter

from api.http import models as m
from api.http.deps import CurrentActor
from api.service import tokens
from api.shared import Service

router = APIRouter()


@router.get("/tokens", response_model=m.TokenList, tags=["tokens"])
def list_tokens(service: Service, actor: CurrentActor) -> dict:
    return tokens.list_tokens(service.views, actor)


@router.delete("/tokens/{name}", response_model=m.TokenInfo, tags=["tokens"],
               description="revoke: every server refuses the token within a second; the record stays (status "
                           "`revoked`) and revoking it again changes nothing")
def revoke_token(name: str, service: Service, actor: CurrentActor) -> dict:
    return tokens.revoke_token(service.views, name, actor)
