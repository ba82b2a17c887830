"""Years (考核年度): open, read, the rubric, close, verify, the workbook."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.http import bodies as b
from api.http import models as m
from api.http.answers import written
from api.http.deps import CurrentActor, IdempotencyKey, ReadAfter
from api.shared import XLSX, Service, attachment

router = APIRouter()
YEAR = "/years/{year}"


@router.get("/years", response_model=m.Years)
def list_years(service: Service, actor: CurrentActor) -> dict:
    return {"years": service.years()}


@router.post("/years", status_code=201, response_model=m.OpenedYear)
def open_year(body: b.OpenYear, service: Service, actor: CurrentActor, response: Response,
              key: IdempotencyKey = None) -> dict:
    return written(service.open_year(actor, **body.model_dump(), idempotency_key=key), response, service)


@router.get(YEAR, response_model=m.YearInfo)
def year_info(year: int, service: Service, actor: CurrentActor, after: ReadAfter = None) -> dict:
    return service.year_info(year, after)


@router.get(YEAR + "/rubric", response_model=m.RubricTree, response_model_exclude_unset=True)
def rubric_tree(year: int, service: Service, actor: CurrentActor) -> dict:
    return service.rubric_tree(year)


@router.post(YEAR + "/close", response_model=m.ClosedYear)
def close_year(year: int, service: Service, actor: CurrentActor, response: Response,
               body: b.CloseYear | None = None, key: IdempotencyKey = None) -> dict:
    body = body or b.CloseYear()
    return written(service.close_year(actor, year=year, **body.model_dump(), idempotency_key=key), response, service)


@router.get(YEAR + "/verify", response_model=m.Verification)
def verify(year: int, service: Service, actor: CurrentActor) -> dict:
    return service.verify(year=year, actor=actor)


@router.get(YEAR + "/export.xlsx", response_class=Response,
            responses={200: {"content": {XLSX: {}}, "description": "汇总 and one 扣分明细 sheet per district"}})
def export_xlsx(year: int, service: Service, actor: CurrentActor) -> Response:
    return Response(service.export_xlsx(year=year, actor=actor), media_type=XLSX,
                    headers={"Content-Disposition": attachment(f"kaohe-{year}.xlsx")})
