"""Scores and history: the ranking, a district's breakdown (as of any instant), the change between two, the audit log."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from api.documents.audit_csv import audit_csv
from api.http import models as m
from api.http.deps import CurrentActor, ReadAfter
from api.http import model_json, ranking_json
from api.service import KaoheApp
from api.shared import Service, attachment
from domain.actors import Actor

router = APIRouter()
RANKING_JSON = ranking_json.RankingJSON()
BREAKDOWN_JSON = model_json.encoder(m.Breakdown)  # the model's JSON, a third of the time (api.http.model_json)
YEAR = "/years/{year}"
AsOf = Annotated[str | None, Query(description="ISO date (end of that day, Asia/Shanghai) or datetime")]


@router.get(YEAR + "/scores", response_model=m.Ranking)
def scores(year: int, service: Service, actor: CurrentActor, as_of: AsOf = None, after: ReadAfter = None) -> Response:
    if as_of:
        return _json(m.Ranking.model_validate(service.scores(actor, year, as_of=as_of)))
    return Response(ranking_bytes(service, actor, year, after), media_type="application/json")


def ranking_bytes(service: KaoheApp, actor: Actor, year: int, after: int | None = None) -> bytes:
    """The ranking as the route answers it (also answered before routing: api.http.score_cache)."""
    service.ranking_reader(actor, year, after)  # the role checked before anything remembered is answered
    # The busiest read: its JSON is kept until the views move on (see ScoreReads.remembered), and made
    # again from the lines that changed (api.http.ranking_json).
    return service.remembered("scores.json", year, lambda: RANKING_JSON.render(
        *service.ranking(actor, year, ranking_json.line)))


def _json(model: m.Answer) -> Response:
    return Response(model.model_dump_json().encode(), media_type="application/json")


@router.get(YEAR + "/districts/{district}/score", response_model=m.Breakdown, response_model_exclude_unset=True)
def district_score(year: int, district: str, service: Service, actor: CurrentActor, as_of: AsOf = None,
                   findings: Annotated[Literal["shown", "all"], Query(
                       description="`all`: every finding of every clause (by default a clause lists the counted "
                                   "ones and its newest, at most 10, and gives `findings_total`)")] = "shown",
                   after: ReadAfter = None) -> Response:
    if as_of or findings == "all":
        if after:
            service.year_info(year, after)
        return Response(BREAKDOWN_JSON(service.district_score(
            actor, year, district, as_of=as_of, every_finding=findings == "all")), media_type="application/json")
    return Response(breakdown_json(service, actor, year, district, after), media_type="application/json")


def breakdown_json(service: KaoheApp, actor: Actor, year: int, district: str, after: int | None = None) -> bytes:
    """A district's breakdown as the route answers it (also answered before routing: api.http.score_cache)."""
    if after:
        service.year_info(year, after)  # waits until the views show that position
    service.district_of(actor, year, district)  # the role and the district checked before anything is remembered
    # Kept until the views move on, like the ranking: a district's page is read far more often than written.
    return service.remembered(f"score/{district}", year, lambda: BREAKDOWN_JSON(
        service.district_score(actor, year, district)))


@router.get(YEAR + "/districts/{district}/score/diff", response_model=m.ScoreDifference)
def score_difference(year: int, district: str, service: Service, actor: CurrentActor,
                     since: Annotated[str, Query(description="ISO date or datetime")], until: AsOf = None) -> dict:
    return service.score_difference(actor, year, district, since=since, until=until)


@router.get(YEAR + "/districts/{district}/audit", response_model=m.AuditLog,
            responses={200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with ?format=csv"}})
def audit(year: int, district: str, service: Service, actor: CurrentActor,
          format: Literal["json", "csv"] = "json") -> dict | Response:
    events = service.audit(actor, year, district)
    if format == "csv":
        return Response(audit_csv(events), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": attachment(f"audit-{year}-{district}.csv")})
    return {"year": year, "district": district, "events": events}
