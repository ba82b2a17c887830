"""The assessment cycle's pages: a district's 申报 per indicator (its 证明材料 and their upload), the
department's review queue, file downloads, and the admin's 公示 and rubric upload."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.service import KaoheApp
from api.shared import Service, file_response
from api.upload import read_upload
from api.web import csrf
from api.web.admin import years_page
from api.web.frame import COOKIE, Form, done, guarded, key, lines, refused, render, signed_in, submit, text
from domain.actors import Actor, can, can_review, can_submit, can_upload, require
from domain.errors import Conflict, InvalidInput, NotFound, TooLarge, UnsupportedType
from domain.evidence_types import is_sha256

router = APIRouter(include_in_schema=False)


def _indicators(service: KaoheApp, year: int) -> dict[str, dict]:
    return {i["id"]: i for c in service.rubric_tree(year)["categories"] for i in c["indicators"]}


def _base(year: int, district: str) -> str:
    return f"/web/{year}/districts/{quote(district)}/submissions"


# --- a district's 申报 ---------------------------------------------------------------------------

@router.get("/web/{year}/districts/{district}/submissions")
@guarded
def overview(request: Request, service: Service, year: int, district: str) -> Response:
    actor = signed_in(request, service)
    submissions = service.district_submissions(actor, year, district)
    newest = {s["indicator"]: s for s in submissions if not s["superseded"]}
    score = service.district_score(actor, year, district)
    signed = {i["id"] for c in score["categories"] for i in c["indicators"] if i["signed_off"]}
    return render(request, "submissions.html", actor, year, {
        "district": district, "indicators": list(_indicators(service, year).values()), "newest": newest,
        "signed": signed, "files": service.evidence_files(actor, year, district)})


def indicator_page(request: Request, service: KaoheApp, actor: Actor, year: int, district: str, indicator_id: str,
                   status: int = 200, forms: dict | None = None) -> Response:
    indicator = _indicators(service, year).get(indicator_id)
    if indicator is None:
        raise NotFound(f"考核细则中没有指标 {indicator_id}")
    submissions = [s for s in service.district_submissions(actor, year, district) if s["indicator"] == indicator_id]
    score = service.district_score(actor, year, district)
    signed = any(i["signed_off"] for c in score["categories"] for i in c["indicators"] if i["id"] == indicator_id)
    info = service.year_info(year)
    attach = {a for a in request.query_params.getlist("attach") if is_sha256(a)}
    return render(request, "submission.html", actor, year, {
        "district": district, "indicator": indicator, "submissions": list(reversed(submissions)), "signed": signed,
        "files": service.evidence_files(actor, year, district), "attach": attach,
        "may_upload": not info["closed"] and can_upload(actor, district),
        "may_submit": not info["closed"] and not signed and can_submit(actor, district)}, status, forms)


@router.get("/web/{year}/districts/{district}/submissions/{indicator_id}")
@guarded
def indicator(request: Request, service: Service, year: int, district: str, indicator_id: str) -> Response:
    return indicator_page(request, service, signed_in(request, service), year, district, indicator_id)


@router.post("/web/{year}/districts/{district}/submissions/{indicator_id}")
@guarded
def submit_materials(request: Request, service: Service, form: Form, year: int, district: str,
                     indicator_id: str) -> Response:
    actor = signed_in(request, service)
    chosen = [f for f in form.getlist("files") if isinstance(f, str)]
    values = {"statement": text(form, "statement"), "evidence": form.get("evidence") or "", "files": chosen}
    back = f"{_base(year, district)}/{indicator_id}"
    return submit(request, "submit", ("statement", "evidence"), values,
                  lambda: service.submit_materials(actor, year=year, district=district, indicator=indicator_id,
                                                   statement=values["statement"],
                                                   evidence=chosen + lines(str(values["evidence"])),
                                                   idempotency_key=key(form)),
                  lambda r: done(back, "submitted", r.get("receipt")),
                  lambda forms, status: indicator_page(request, service, actor, year, district, indicator_id,
                                                       status, forms))


@router.post("/web/{year}/districts/{district}/submissions/{indicator_id}/evidence")
@guarded
async def upload(request: Request, service: Service, year: int, district: str, indicator_id: str) -> Response:
    actor = signed_in(request, service)
    try:
        data, filename, fields = await read_upload(request)
        csrf.check(request, fields, request.cookies.get(COOKIE))  # as frame.Form does for other forms
        result = await run_in_threadpool(lambda: service.upload_evidence(
            actor, year=year, district=district, data=data, filename=filename, idempotency_key=fields.get("_key")))
    except InvalidInput as e:
        status = 413 if isinstance(e, TooLarge) else 415 if isinstance(e, UnsupportedType) else 422
        forms = {"upload": refused(e, {}, ("file",))}
        return await run_in_threadpool(indicator_page, request, service, actor, year, district, indicator_id,
                                       status, forms)
    query = urlencode({"ok": "uploaded", "attach": result["sha256"], "receipt": result["receipt"]["head"]})
    return RedirectResponse(f"{_base(year, district)}/{indicator_id}?{query}", status_code=303)


@router.get("/web/{year}/districts/{district}/evidence/{sha256}")
@guarded
def download(request: Request, service: Service, year: int, district: str, sha256: str) -> Response:
    actor = signed_in(request, service)
    return file_response(service.evidence_file(actor, year, district, sha256))


# --- the department's review queue -------------------------------------------------------------------

def queue_page(request: Request, service: KaoheApp, actor: Actor, year: int, status: int = 200,
               forms: dict | None = None) -> Response:
    require(actor, "read_submissions")
    indicator_id = request.query_params.get("indicator") or None
    state = request.query_params.get("status") or None
    items = service.submissions_queue(actor, year, indicator_id, state)
    indicators = _indicators(service, year)
    closed = service.year_info(year)["closed"]
    for s in items:
        s["name"] = indicators[s["indicator"]]["name"]
        s["can_review"] = not closed and can_review(actor, indicators[s["indicator"]])
    mine = [i for i in indicators.values() if can(actor, "read_submissions")
            and (actor.role in ("admin", "auditor") or actor.unit in i["departments"])]
    return render(request, "submission_queue.html", actor, year, {
        "items": items, "indicators": mine, "indicator_id": indicator_id, "state": state}, status, forms)


@router.get("/web/{year}/submissions")
@guarded
def queue(request: Request, service: Service, year: int) -> Response:
    return queue_page(request, service, signed_in(request, service), year)


@router.post("/web/{year}/submissions/{submission_id}/return")
@guarded
def return_submission(request: Request, service: Service, form: Form, year: int, submission_id: str) -> Response:
    actor = signed_in(request, service)
    values = {"reason": text(form, "reason")}
    return submit(request, f"return-{submission_id}", ("reason",), values,
                  lambda: service.return_submission(actor, year=year, submission_id=submission_id,
                                                    reason=values["reason"], idempotency_key=key(form)),
                  lambda r: done(f"/web/{year}/submissions", "returned", r.get("receipt")),
                  lambda forms, status: queue_page(request, service, actor, year, status, forms))


# --- admin: 公示 and rubrics ---------------------------------------------------------------------------

@router.post("/web/{year}/publication")
@guarded
def publish(request: Request, service: Service, form: Form, year: int) -> Response:
    actor = signed_in(request, service)
    values: dict[str, Any] = {"days": text(form, "days")}

    def action() -> dict:
        try:
            days = int(values["days"])
        except ValueError:
            raise InvalidInput("请填写公示天数（工作日），例如 5 (days must be a number)", field="days") from None
        return service.publish(actor, year=year, days=days, idempotency_key=key(form))

    return submit(request, f"publish-{year}", ("days",), values, action,
                  lambda r: done("/web/years", "published", r.get("receipt")),
                  lambda forms, status: years_page(request, service, actor, status, forms))


@router.post("/web/rubrics")
@guarded
async def add_rubric(request: Request, service: Service) -> Response:
    actor = signed_in(request, service)
    require(actor, "add_rubrics")
    try:
        data, _, fields = await read_upload(request)
        csrf.check(request, fields, request.cookies.get(COOKIE))
        try:
            document = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput("考核细则文件必须是 UTF-8 编码的 JSON (a rubric is UTF-8 JSON)",
                               field="rubric") from None
        await run_in_threadpool(lambda: service.add_rubric(actor, text=document, idempotency_key=fields.get("_key")))
    except (InvalidInput, Conflict) as e:
        status = 409 if isinstance(e, Conflict) else 422
        return await run_in_threadpool(years_page, request, service, actor, status,
                                       {"rubric_file": refused(e, {}, ("file", "rubric"))})
    return done("/web/years", "rubric")
