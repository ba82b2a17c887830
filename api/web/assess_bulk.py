"""A department's bulk pages (部门批量考核): one clause for every district in one table, previewed before it is
saved; sign-off of many districts or many indicators at once; the workbook import with its preview."""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from api.service import KaoheApp
from api.shared import XLSX, Service, attachment
from api.web.assessment import my_indicators
from api.web.frame import FIELD_LABELS, Form, done, friendly, guarded, key, render, signed_in, text
from api.web.rows import submit_table
from domain.actors import Actor, can_sign_off, require
from domain.errors import Forbidden, InvalidInput, NotFound

router = APIRouter(include_in_schema=False)
TAKES_FLAGS = ("flag", "gate", "exemption")


# --- one clause, every district ------------------------------------------------------------

def find_clause(service: KaoheApp, actor: Actor, year: int, clause_id: str) -> tuple[dict, dict]:
    tree = service.rubric_tree(year)
    for c in tree["categories"]:
        for i in c["indicators"]:
            for cl in i["clauses"]:
                if cl["id"] == clause_id:
                    if i not in my_indicators(actor, tree):
                        raise Forbidden(f"{actor.name} 不是指标 {i['id']}（{i['name']}）的责任部门"
                                        f"（责任部门：{'、'.join(i['departments'])}）")
                    return i, cl
    raise NotFound(f"考核细则中没有条款 {clause_id}")


def clause_rows(service: KaoheApp, actor: Actor, year: int, districts: list[str], indicator: dict,
                clause: dict) -> list[dict]:
    """Per district: the clause's deduction now, and the figures it rests on."""
    rows = []
    for d in districts:
        scored = next(i for c in service.district_score(actor, year, d)["categories"] for i in c["indicators"]
                      if i["id"] == indicator["id"])
        cl = next(x for x in scored["clauses"] if x["id"] == clause["id"])
        counted = [f for f in cl["findings"] if f["counted"]]
        rows.append({"district": d, "deduction": cl["deduction"], "score": scored["score"],
                     "current": counted[-1].get("measures") if counted else None, "recorded": bool(counted)})
    return rows


def clause_page(request: Request, service: KaoheApp, actor: Actor, year: int, clause_id: str, status: int = 200,
                forms: dict | None = None, preview: dict | None = None) -> Response:
    require(actor, "record_findings")
    info = service.year_info(year)
    indicator, clause = find_clause(service, actor, year, clause_id)
    return render(request, "clause_bulk.html", actor, year, {
        "indicator": indicator, "clause": clause, "closed": info["closed"],
        "rows": clause_rows(service, actor, year, info["districts"], indicator, clause),
        "takes_flags": clause["kind"] in TAKES_FLAGS, "preview": preview}, status, forms)


@router.get("/web/{year}/clauses/{clause_id}")
@guarded
def clause_table(request: Request, service: Service, year: int, clause_id: str) -> Response:
    return clause_page(request, service, signed_in(request, service), year, clause_id)


def typed_rows(form: Any, districts: list[str], clause: dict) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """What the table says: the values typed (to show again) and one finding row per district that has any."""
    keys = [m["key"] for m in clause.get("measures") or []]
    values: dict[str, str] = {}
    rows = []
    for d in districts:
        note = text(form, f"note.{d}")
        values[f"note.{d}"] = note
        if keys:
            figures = {k: text(form, f"m.{d}.{k}") for k in keys}
            values.update({f"m.{d}.{k}": v for k, v in figures.items()})
            if any(figures.values()):
                rows.append({"district": d, "clause": clause["id"], "note": note or None,
                             "measures": {k: v for k, v in figures.items() if v}})
        elif clause["kind"] in TAKES_FLAGS:
            values[f"flag.{d}"] = "1" if text(form, f"flag.{d}") == "1" else ""
            if values[f"flag.{d}"]:
                rows.append({"district": d, "clause": clause["id"], "note": note or None})
    return values, rows


def cell_name(district: str, field: str | None) -> str:
    if field and field.startswith("measures."):
        return f"m.{district}.{field.split('.', 1)[1]}"
    return f"note.{district}" if field == "note" else f"flag.{district}"


def fingerprint(rows: list[dict[str, Any]]) -> str:
    """What was previewed: saving anything else shows the preview again instead of saving unseen figures."""
    return hashlib.sha256(repr(rows).encode()).hexdigest()


@router.post("/web/{year}/clauses/{clause_id}")
@guarded
def clause_table_post(request: Request, service: Service, form: Form, year: int, clause_id: str) -> Response:
    actor = signed_in(request, service)
    require(actor, "record_findings")
    districts = service.year_info(year)["districts"]
    indicator, clause = find_clause(service, actor, year, clause_id)
    values, rows = typed_rows(form, districts, clause)
    form_id = f"clause-{clause_id}"
    again = lambda forms, status, preview=None: clause_page(  # noqa: E731
        request, service, actor, year, clause_id, status, forms, preview)
    if not rows:
        return again({form_id: {"values": values, "errors": {}, "general": "表中没有填写任何单位的数值"}}, 422)
    if text(form, "step") != "save" or text(form, "previewed") != fingerprint(rows):
        preview = service.preview_findings(actor, year=year, findings=rows)
        names = [r["district"] for r in rows]
        state = {"values": values, "errors": {}, "general": None}
        for e in preview["errors"]:
            state["errors"][cell_name(names[e["row"]], e["field"])] = friendly(e["message"], FIELD_LABELS)
        if state["errors"]:
            state["general"] = f"有 {len(state['errors'])} 处未通过检查，请修改后再预览。"
        by_district = {names[r["row"]]: r for r in preview["rows"]}
        return again({form_id: state}, 422 if state["errors"] else 200,
                     {"by_district": by_district, "fingerprint": fingerprint(rows) if not state["errors"] else None})
    return submit_table(request, form_id, values, [r["district"] for r in rows], cell_name,
                        lambda: service.record_findings(actor, year=year, findings=rows, idempotency_key=key(form)),
                        lambda r: done(f"/web/{year}/clauses/{clause_id}", "findings"),
                        lambda forms, status: again(forms, status))


# --- sign-off of many at once --------------------------------------------------------------------

def signoff_choices(service: KaoheApp, actor: Actor, year: int, indicator: str | None,
                    district: str | None) -> tuple[str, list[dict]]:
    """(title, [{district, indicator, label, signed}]) for one indicator × every district, or one district × mine."""
    info = service.year_info(year)
    unsigned = {tuple(p) for p in service.unsigned_pairs(year)}
    mine = [i for i in my_indicators(actor, service.rubric_tree(year)) if can_sign_off(actor, i)]
    if indicator:
        ind = next((i for i in mine if i["id"] == indicator), None)
        if ind is None:
            raise Forbidden(f"{actor.name} 不能核定指标 {indicator}（不是责任部门或没有该指标）")
        return (f"核定指标 {ind['id']} {ind['name']}：选择单位",
                [{"district": d, "indicator": ind["id"], "label": d, "signed": (d, ind["id"]) not in unsigned}
                 for d in info["districts"]])
    if district not in info["districts"]:
        raise NotFound(f"{year} 年度没有被考核单位 {district}")
    return (f"核定 {district} 的指标：选择指标",
            [{"district": district, "indicator": i["id"], "label": f"{i['id']} {i['name']}",
              "signed": (district, i["id"]) not in unsigned} for i in mine])


def signoffs_page(request: Request, service: KaoheApp, actor: Actor, year: int, indicator: str | None,
                  district: str | None, status: int = 200, forms: dict | None = None) -> Response:
    require(actor, "sign_off")
    title, choices = signoff_choices(service, actor, year, indicator, district)
    query = urlencode({"indicator": indicator} if indicator else {"district": district})
    return render(request, "signoffs.html", actor, year, {"title": title, "choices": choices, "query": query,
                                                        "closed": service.year_info(year)["closed"]}, status, forms)


@router.get("/web/{year}/signoffs")
@guarded
def signoffs(request: Request, service: Service, year: int) -> Response:
    q = request.query_params
    return signoffs_page(request, service, signed_in(request, service), year, q.get("indicator"), q.get("district"))


@router.post("/web/{year}/signoffs")
@guarded
def sign_off_many(request: Request, service: Service, form: Form, year: int) -> Response:
    actor = signed_in(request, service)
    q = request.query_params
    _, choices = signoff_choices(service, actor, year, q.get("indicator"), q.get("district"))
    picked = {p for p in form.getlist("pick") if isinstance(p, str)}
    rows = [{"district": c["district"], "indicator": c["indicator"]} for c in choices
            if f"{c['district']}|{c['indicator']}" in picked and not c["signed"]]
    names = [f"{r['district']}|{r['indicator']}" for r in rows]

    def action() -> dict:
        if not rows:
            raise InvalidInput("请至少选择一项未核定的指标 (nothing chosen)", field="pick")
        return service.sign_off_many(actor, year=year, signoffs=rows, idempotency_key=key(form))

    back = f"/web/{year}/signoffs?{request.url.query}"
    return submit_table(request, "signoffs", {"pick": sorted(picked)}, names, lambda name, field: f"pick.{name}",
                        action, lambda r: RedirectResponse(back + "&ok=signoffs", status_code=303),
                        lambda forms, status: signoffs_page(request, service, actor, year, q.get("indicator"),
                                                            q.get("district"), status, forms))


# --- the workbook: template and import -----------------------------------------------------------

@router.get("/web/{year}/indicators/{indicator}/template.xlsx")
@guarded
def template(request: Request, service: Service, year: int, indicator: str) -> Response:
    actor = signed_in(request, service)
    return Response(service.indicator_template(actor, year=year, indicator=indicator), media_type=XLSX,
                    headers={"Content-Disposition": attachment(f"kaohe-{year}-{indicator}-填报.xlsx")})


def import_page(request: Request, service: KaoheApp, actor: Actor, year: int, status: int = 200,
                result: dict | None = None, content: bytes | None = None, general: str | None = None) -> Response:
    require(actor, "record_findings")
    info = service.year_info(year)
    tree = service.rubric_tree(year)
    labels = {cl["id"]: {m["key"]: m for m in cl.get("measures") or []}
              for c in tree["categories"] for i in c["indicators"] for cl in i["clauses"]}
    return render(request, "import.html", actor, year, {
        "indicators": my_indicators(actor, tree), "closed": info["closed"], "labels": labels,
        "result": result, "general": general,
        "content": base64.b64encode(content).decode() if content is not None else None}, status)


@router.get("/web/{year}/import")
@guarded
def import_form(request: Request, service: Service, year: int) -> Response:
    return import_page(request, service, signed_in(request, service), year)


@router.post("/web/{year}/import")
@guarded
def import_post(request: Request, service: Service, form: Form, year: int) -> Response:
    """预览 (a dry run of the uploaded file) → 确认导入 (the same bytes, carried in the preview page)."""
    actor = signed_in(request, service)
    require(actor, "record_findings")
    if text(form, "step") == "save":
        try:
            content = base64.b64decode(text(form, "content"), validate=True)
        except (binascii.Error, ValueError):
            return import_page(request, service, actor, year, 422, general="预览内容已损坏，请重新选择文件")
        try:
            service.import_workbook(actor, year=year, content=content, idempotency_key=key(form))
        except InvalidInput as e:
            errors = (e.details or {}).get("errors") if isinstance(e.details, dict) else None
            result = service.import_workbook(actor, year=year, content=content, dry_run=True) if errors else None
            return import_page(request, service, actor, year, 422, result, None, friendly(e.message, FIELD_LABELS))
        return done(f"/web/{year}/import", "imported")
    upload = form.get("file")
    content = upload.file.read() if hasattr(upload, "file") else b""
    if not content:
        return import_page(request, service, actor, year, 422, general="请选择填好的 xlsx 文件")
    result = service.import_workbook(actor, year=year, content=content, dry_run=True)
    return import_page(request, service, actor, year, 422 if result["errors"] else 200, result,
                       content if not result["errors"] and result["rows"] else None)

