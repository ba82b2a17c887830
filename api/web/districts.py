"""A district's pages (and any reader in scope): its breakdown, its disputes, its history and receipts."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.service import KaoheApp
from api.shared import Service
from api.web.frame import (
    ACTIVITY_LABELS,
    DECISION_LABELS,
    Form,
    done,
    guarded,
    key,
    lines,
    render,
    signed_in,
    submit,
    text,
)
from domain.actors import Actor, can_dispute, require_disputer
from domain.errors import NotFound
from domain.lifecycle import open_to_change

router = APIRouter(include_in_schema=False)


# --- a district's pages (and any reader in scope) ----------------------------------------

@router.get("/web/{year}/districts/{district}")
@guarded
def breakdown(request: Request, service: Service, year: int, district: str) -> Response:
    actor = signed_in(request, service)
    score = service.district_score(actor, year, district)
    tree = {i["id"]: i for c in service.rubric_tree(year)["categories"] for i in c["indicators"]}
    texts = {cl["id"]: cl["text"] for i in tree.values() for cl in i["clauses"]}
    open_year = not service.year_info(year)["closed"]
    may_dispute = open_year and can_dispute(actor, district)
    findings = [{"indicator": i, "clause": cl, "finding": f} for c in score["categories"] for i in c["indicators"]
                for cl in i["clauses"] for f in cl["findings"]]
    for item in findings:
        f = item["finding"]
        f["can_dispute"] = may_dispute and open_to_change(f.get("status", ""), f.get("dispute"))
    return render(request, "district.html", actor, year, {
        "district": district, "score": score, "texts": texts, "findings": findings})


def find_finding(score: dict, finding_id: str) -> tuple[dict, dict, dict]:
    for c in score["categories"]:
        for i in c["indicators"]:
            for cl in i["clauses"]:
                for f in cl["findings"]:
                    if f["id"] == finding_id:
                        return i, cl, f
    raise NotFound(f"{score['district']} 没有这条扣分事项 {finding_id}")


def dispute_page(request: Request, service: KaoheApp, actor: Actor, year: int, district: str, finding_id: str,
                 status: int = 200, forms: dict | None = None) -> Response:
    score = service.district_score(actor, year, district)
    indicator_, clause, finding = find_finding(score, finding_id)
    tree = {cl["id"]: cl for c in service.rubric_tree(year)["categories"] for i in c["indicators"] for cl in i["clauses"]}
    return render(request, "dispute_form.html", actor, year, {
        "district": district, "indicator": indicator_, "clause": clause, "finding": finding,
        "clause_text": tree[clause["id"]]["text"]}, status, forms)


@router.get("/web/{year}/districts/{district}/findings/{finding_id}/dispute")
@guarded
def dispute_form(request: Request, service: Service, year: int, district: str, finding_id: str) -> Response:
    actor = signed_in(request, service)
    require_disputer(actor, district)
    return dispute_page(request, service, actor, year, district, finding_id)


@router.post("/web/{year}/districts/{district}/findings/{finding_id}/dispute")
@guarded
def file_dispute(request: Request, service: Service, form: Form, year: int, district: str,
                 finding_id: str) -> Response:
    actor = signed_in(request, service)
    require_disputer(actor, district)
    values = {"statement": text(form, "statement"), "evidence": form.get("evidence") or ""}
    return submit(request, "dispute", ("statement", "evidence"), values,
                  lambda: service.file_dispute(actor, year=year, finding_id=finding_id,
                                               statement=values["statement"],
                                               evidence=lines(str(values["evidence"])), idempotency_key=key(form)),
                  lambda r: done(f"/web/{year}/districts/{quote(district)}", "dispute", r.get("receipt")),
                  lambda forms, status: dispute_page(request, service, actor, year, district, finding_id,
                                                     status, forms))


def describe(event: dict, labels: dict[str, str]) -> str:
    """One line of Chinese about what an event of the audit log says."""
    d = event["data"]
    t = event["type"]
    clause = d.get("clause")
    about = f"{clause} {labels.get(clause, '')}".strip() if clause else ""
    parts: list[str] = []
    if t == "Opened":
        parts.append(f"{d.get('year')} 年度，考核细则 {d.get('rubric')}")
    elif t == "FindingRecorded":
        parts.append(about)
        if d.get("occurred_on"):
            parts.append(f"日期 {d['occurred_on']}")
        for k, v in (d.get("measures") or {}).items():
            parts.append(f"{k}={v}")
    elif t == "FindingRetracted":
        parts.append(f"原因：{d.get('reason')}")
    elif t == "ActivityNoted":
        parts.append(ACTIVITY_LABELS.get(d.get("activity", ""), d.get("activity", "")))
        if d.get("occurred_on"):
            parts.append(f"日期 {d['occurred_on']}")
    elif t == "DisputeFiled":
        parts.append(about)
        parts.append(f"申诉理由：{d.get('statement')}")
    elif t == "DisputeResolved":
        parts.append(DECISION_LABELS.get(d.get("decision", ""), d.get("decision", "")))
        parts.append(f"理由：{d.get('reason')}")
    elif t == "IndicatorSignedOff":
        parts.append(f"指标 {d.get('indicator')}")
    source = d.get("source") or {}
    if source.get("title"):
        parts.append(f"来源：{source['title']}")
    if d.get("note"):
        parts.append(f"说明：{d['note']}")
    if d.get("evidence"):
        parts.append(f"证明材料：{'、'.join(d['evidence'])}")
    return "；".join(p for p in parts if p)


def audit_rows(service: KaoheApp, actor: Actor, year: int, district: str) -> list[dict]:
    events = service.audit(actor, year, district)
    labels = {cl["id"]: cl["label"] for c in service.rubric_tree(year)["categories"] for i in c["indicators"]
              for cl in i["clauses"]}
    return [{**e, "summary": describe(e, labels)} for e in events]


@router.get("/web/{year}/districts/{district}/history")
@guarded
def history(request: Request, service: Service, year: int, district: str) -> Response:
    actor = signed_in(request, service)
    return render(request, "history.html", actor, year, {"district": district,
                                                       "events": audit_rows(service, actor, year, district)})


@router.get("/web/{year}/districts/{district}/receipts")
@guarded
def receipts(request: Request, service: Service, year: int, district: str) -> Response:
    actor = signed_in(request, service)
    events = audit_rows(service, actor, year, district)
    check = (request.query_params.get("check") or "").strip().lower()
    match = next((e for e in events if e["hash"] == check), None) if check else None
    return render(request, "receipts.html", actor, year, {
        "district": district, "events": list(reversed(events)), "head": events[-1] if events else None,
        "check": check, "match": match})

