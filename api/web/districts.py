"""A district's pages (and any reader in scope): its breakdown, its disputes, its history and receipts.

The receipts page checks a kept receipt in the browser (static/receipts.js, Web Crypto): it fetches only the
key, the latest checkpoint and a consistency proof, and verifies signatures and proofs itself.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from markupsafe import Markup

from api.documents.charts import district_vs_average
from api.service import KaoheApp
from api.shared import Service, attachment
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
from domain import chained
from domain.actors import Actor, can_dispute, require_disputer
from domain.cycle import window_open
from domain.errors import NotFound
from domain.lifecycle import open_to_change
from domain.scoring import display
from domain.wording import finding_facts, join
from domain.working_days import shanghai_date

router = APIRouter(include_in_schema=False)


# --- a district's pages (and any reader in scope) ----------------------------------------

@router.get("/web/{year}/districts/{district}")
@guarded
def breakdown(request: Request, service: Service, year: int, district: str) -> Response:
    actor = signed_in(request, service)
    score = service.district_score(actor, year, district, every_finding=True)
    tree = {i["id"]: i for c in service.rubric_tree(year)["categories"] for i in c["indicators"]}
    clauses = {cl["id"]: cl for i in tree.values() for cl in i["clauses"]}
    open_year = not service.year_info(year)["closed"]
    may_dispute = open_year and can_dispute(actor, district)
    today = shanghai_date(chained.utcnow())
    findings = [{"indicator": i, "clause": cl, "finding": f} for c in score["categories"] for i in c["indicators"]
                for cl in i["clauses"] for f in cl["findings"]]
    for item in findings:
        f = item["finding"]
        f["can_dispute"] = (may_dispute and open_to_change(f.get("status", ""), f.get("dispute"))
                            and window_open(f.get("dispute_until"), today))
    averages = service.category_averages(year)
    chart = Markup(district_vs_average(
        [{"id": c["id"], "name": c["name"], "points": c["points"], "score": c["score"],
          "average": averages.get(c["id"], Decimal(0))} for c in score["categories"]], district=district))
    previous = service.previous_results(actor, year).get(district)
    return render(request, "district.html", actor, year, {
        "district": district, "score": score, "clauses": clauses, "findings": findings, "chart": chart,
        "previous": previous})


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
    score = service.district_score(actor, year, district, every_finding=True)
    indicator_, clause, finding = find_finding(score, finding_id)
    tree = {cl["id"]: cl for c in service.rubric_tree(year)["categories"] for i in c["indicators"] for cl in i["clauses"]}
    return render(request, "dispute_form.html", actor, year, {
        "district": district, "indicator": indicator_, "clause": clause, "finding": finding,
        "clause_text": tree[clause["id"]]["text"], "measures": tree[clause["id"]].get("measures") or [],
        "files": service.evidence_files(actor, year, district)}, status, forms)


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
    chosen = [f for f in form.getlist("files") if isinstance(f, str)]
    values = {"statement": text(form, "statement"), "evidence": form.get("evidence") or "", "files": chosen}
    return submit(request, "dispute", ("statement", "evidence"), values,
                  lambda: service.file_dispute(actor, year=year, finding_id=finding_id,
                                               statement=values["statement"],
                                               evidence=chosen + lines(str(values["evidence"])),
                                               idempotency_key=key(form)),
                  lambda r: done(f"/web/{year}/districts/{quote(district)}", "dispute", r.get("receipt")),
                  lambda forms, status: dispute_page(request, service, actor, year, district, finding_id,
                                                     status, forms))


def points_moved(change: Decimal | None) -> str:
    """How an event moved the total, in words: 扣 0.50 分, 恢复 0.50 分, or that it did not."""
    if change is None:
        return ""
    if change < 0:
        return f"扣 {display(-change)} 分"
    if change > 0:
        return f"恢复 {display(change)} 分"
    return "得分不变"


def describe(event: dict, rubric: dict[str, dict], findings: dict[str, dict], change: Decimal | None) -> str:
    """One line of Chinese about what an event of the audit log says: which finding, and how many points.

    `rubric` maps clause and indicator ids to their tree entries; `findings` maps a finding id to
    what its FindingRecorded said (and the points it took), filled in as the history is read.
    """
    d = event["data"]
    t = event["type"]
    finding = findings.get(d.get("finding_id", "")) or {}

    def clause_words(clause_id: str | None) -> str:
        return f"{clause_id} {rubric.get(clause_id, {}).get('label', '')}".strip() if clause_id else ""

    def which() -> str:  # the finding an event is about, as the district would recognise it
        if not finding:
            return ""
        facts = finding_facts(finding, rubric.get(finding.get("clause"), {}).get("measures"))
        took = f"，原扣 {display(-finding['took'])} 分" if finding.get("took") else ""
        return f"扣分事项「{join([clause_words(finding.get('clause')), facts], '：')}」{took}"

    parts: list[str] = []
    if t == "Opened":
        parts.append(f"{d.get('year')} 年度，考核细则 {d.get('rubric')}")
    elif t == "FindingRecorded":
        parts.append(clause_words(d.get("clause")))
        parts.append(finding_facts({**d, "note": None}, rubric.get(d.get("clause"), {}).get("measures")))
        parts.append(points_moved(change) if change else "不影响得分（已达扣分上限或已扣）")
    elif t == "FindingRetracted":
        parts += [which(), f"原因：{d.get('reason')}", points_moved(change)]
    elif t == "ActivityNoted":
        parts.append(ACTIVITY_LABELS.get(d.get("activity", ""), d.get("activity", "")))
        if d.get("occurred_on"):
            parts.append(f"日期 {d['occurred_on']}")
    elif t == "DisputeFiled":
        parts += [which() or clause_words(d.get("clause")), f"申诉理由：{d.get('statement')}"]
    elif t == "DisputeResolved":
        parts += [DECISION_LABELS.get(d.get("decision", ""), d.get("decision", "")), which(),
                  f"理由：{d.get('reason')}", points_moved(change)]
    elif t == "IndicatorSignedOff":
        indicator = d.get("indicator")
        parts.append(f"指标 {indicator} {rubric.get(indicator, {}).get('name', '')}".strip())
    elif t == "EvidenceUploaded":
        parts.append(f"{d.get('filename')}（{d.get('media_type')}，{d.get('size')} 字节）")
    elif t == "MaterialsSubmitted":
        parts.append(f"指标 {d.get('indicator')}；自评说明：{d.get('statement')}")
    elif t == "SubmissionReturned":
        parts.append(f"指标 {d.get('indicator')}；退回理由：{d.get('reason')}")
    source = d.get("source") or {}
    if source.get("title"):
        parts.append(f"来源：{source['title']}")
    if d.get("note"):
        parts.append(f"说明：{d['note']}")
    return join(parts)  # evidence is shown beside it, as links


def audit_rows(service: KaoheApp, actor: Actor, year: int, district: str) -> list[dict]:
    events = service.audit(actor, year, district)
    effects = service.event_effects(actor, year, district)
    rubric: dict[str, dict] = {}
    for c in service.rubric_tree(year)["categories"]:
        for i in c["indicators"]:
            rubric[i["id"]] = i
            rubric.update((cl["id"], cl) for cl in i["clauses"])
    findings: dict[str, dict] = {}
    rows = []
    for e in events:
        change = effects.get(e["position"])
        if e["type"] == "FindingRecorded":
            findings[e["data"]["finding_id"]] = {**e["data"], "took": change}
        rows.append({**e, "summary": describe(e, rubric, findings, change)})
    return rows


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
    log = {r["receipt"]["version"]: r["receipt"]["log"] for r in service.receipts(actor, year, district)}
    return render(request, "receipts.html", actor, year, {
        "district": district, "events": list(reversed(events)), "head": events[-1] if events else None,
        "check": check, "match": match, "log": log, "vkey": service.log_key()["vkey"]})


@router.get("/web/{year}/districts/{district}/receipts/{version}.json")
@guarded
def receipt_file(request: Request, service: Service, year: int, district: str, version: int) -> Response:
    """One receipt to keep: the event's chain head and the log entry of the first checkpoint that included it."""
    actor = signed_in(request, service)
    found = next((r for r in service.receipts(actor, year, district) if r["receipt"]["version"] == version), None)
    if found is None:
        raise NotFound(f"{district} 没有第 {version} 个事件的回执")
    return JSONResponse(found, headers={"Content-Disposition": attachment(f"receipt-{year}-{district}-{version}.json")})


# What the receipts page's script fetches (the session cookie, not a bearer token, says who asks).

@router.get("/web/{year}/log/checkpoint.json")
@guarded
def latest_checkpoint(request: Request, service: Service, year: int) -> Response:
    return JSONResponse(service.latest_checkpoint(signed_in(request, service), year))


@router.get("/web/{year}/log/consistency.json")
@guarded
def consistency(request: Request, service: Service, year: int, first: int, second: int) -> Response:
    return JSONResponse(service.consistency(signed_in(request, service), year, first, second))

