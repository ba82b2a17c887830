"""The 通报 print view (and its heading form for the office), and the PDFs behind a signed-in session."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.service import KaoheApp
from api.shared import PDF, Service, attachment
from api.web.frame import Form, done, guarded, key, render, signed_in, submit, text
from domain.actors import Actor, can

router = APIRouter(include_in_schema=False)


def bulletin_page(request: Request, service: KaoheApp, actor: Actor, year: int, status: int = 200,
                  forms: dict | None = None) -> Response:
    data = service.bulletin_data(actor, year)  # asks the role table (read_bulletin)
    return render(request, "bulletin.html", actor, year, {"bulletin": data, "can_issue": can(actor, "issue_bulletin")},
                  status, forms)


@router.get("/web/{year}/bulletin")
@guarded
def bulletin(request: Request, service: Service, year: int) -> Response:
    return bulletin_page(request, service, signed_in(request, service), year)


@router.post("/web/{year}/bulletin")
@guarded
def set_bulletin(request: Request, service: Service, form: Form, year: int) -> Response:
    actor = signed_in(request, service)
    values = {"title": text(form, "title"), "number": text(form, "number"), "date": text(form, "date")}
    return submit(request, "bulletin", ("title", "number", "date"), values,
                  lambda: service.set_bulletin(actor, year=year, title=values["title"] or None,
                                               number=values["number"], date=values["date"],
                                               idempotency_key=key(form)),
                  lambda r: done(f"/web/{year}/bulletin", "bulletin", r.get("receipt")),
                  lambda forms, status: bulletin_page(request, service, actor, year, status, forms),
                  labels={"number": "文号", "date": "日期", "title": "标题"})


@router.get("/web/{year}/bulletin.pdf")
@guarded
def bulletin_pdf(request: Request, service: Service, year: int) -> Response:
    actor = signed_in(request, service)
    return Response(service.bulletin_pdf(actor, year), media_type=PDF,
                    headers={"Content-Disposition": attachment(f"通报-{year}.pdf")})


@router.get("/web/{year}/districts/{district}/statement.pdf")
@guarded
def statement_pdf(request: Request, service: Service, year: int, district: str) -> Response:
    actor = signed_in(request, service)
    return Response(service.statement_pdf(actor, year, district), media_type=PDF,
                    headers={"Content-Disposition": attachment(f"扣分明细-{year}-{district}.pdf")})
