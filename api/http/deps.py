"""The JSON API's dependencies: who is calling (bearer token), the idempotency key, the group commit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from api.auth_limit import AuthFailures
from api.http.group_commit import GroupCommit
from api.service import KaoheApp, tokens
from api.service.own_writes import READING_FOR
from api.shared import Service
from domain.actors import Actor

bearer = HTTPBearer(auto_error=False, description="an API token from `kaohe token create`")


def remembered_actor_for_authorization(service: KaoheApp, authorization: str | None) -> Actor | None:
    """The actor an `Authorization: Bearer <token>` header speaks for, if found within the last RECHECK
    seconds (no database query: safe on the event loop); None otherwise."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return tokens.remembered_actor(service.views, token.strip())


async def current_actor(request: Request, service: Service,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Actor:
    """The caller; 401 for a missing, unknown, revoked or expired token; 429 after too many failures.

    Async so that a token found a moment ago costs no thread hop (FastAPI runs a plain `def`
    dependency in its thread pool, for every request); only asking the database goes to a thread."""
    limiter: AuthFailures = request.app.state.auth_failures
    client = request.client.host if request.client else None
    wait = limiter.retry_after(client)
    if wait is not None:
        raise HTTPException(429, f"认证失败次数过多，请 {wait} 秒后再试 (too many failed authentications)",
                            headers={"Retry-After": str(wait)})
    token = credentials.credentials if credentials else None
    actor = tokens.remembered_actor(service.views, token)
    if actor is None:
        actor = await run_in_threadpool(tokens.actor_for, service.views, token)
    if actor is None:
        if credentials is not None:  # no token at all is a mistake, not a guess
            limiter.failed(client, request.url.path)
        raise HTTPException(401, "需要有效的访问令牌 (missing or unknown bearer token)",
                            headers={"WWW-Authenticate": "Bearer"})
    READING_FOR.set(actor)  # this request's reads wait for this caller's own writes (the endpoint's thread copies it)
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="the same key with the same body returns the first response and records nothing new")]
ReadAfter = Annotated[int | None, Header(
    alias="Kaohe-Read-After", ge=0,
    description="a store position a write answered (header Kaohe-Position): the read waits until the views show it")]


async def get_group_commit(request: Request) -> GroupCommit:  # async: no thread hop for an attribute
    return request.app.state.group_commit


Committer = Annotated[GroupCommit, Depends(get_group_commit)]
