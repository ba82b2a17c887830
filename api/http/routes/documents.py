"""Documents: the 通报 (results bulletin) heading and PDF, a district's 扣分明细 PDF."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.http import bodies as b
from api.http import models as m
from api.http.answers import written
from api.http.deps import CurrentActor, IdempotencyKey
from api.shared import PDF, Service, attachment

router = APIRouter()
YEAR = "/years/{year}"
PDF_ANSWER = {200: {"content": {PDF: {}}, "description": "an A4 PDF whose text can be extracted"}}


@router.post(YEAR + "/bulletin", status_code=201, response_model=m.BulletinHeading)
def set_bulletin(year: int, body: b.SetBulletin, service: Service, actor: CurrentActor, response: Response,
                 key: IdempotencyKey = None) -> dict:
    return written(service.set_bulletin(actor, year=year, **body.model_dump(), idempotency_key=key), response,
                   service)


@router.get(YEAR + "/bulletin.pdf", response_class=Response, responses=PDF_ANSWER)
def bulletin_pdf(year: int, service: Service, actor: CurrentActor) -> Response:
    return Response(service.bulletin_pdf(actor, year), media_type=PDF,
                    headers={"Content-Disposition": attachment(f"通报-{year}.pdf")})


@router.get(YEAR + "/districts/{district}/statement.pdf", response_class=Response, responses=PDF_ANSWER)
def statement_pdf(year: int, district: str, service: Service, actor: CurrentActor) -> Response:
    return Response(service.statement_pdf(actor, year, district), media_type=PDF,
                    headers={"Content-Disposition": attachment(f"扣分明细-{year}-{district}.pdf")})
