"""The assessing side's pages (departments, the office, admin): findings per indicator and district, sign-off, the dispute queue."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.service import KaoheApp
from api.shared import Service
from api.web.confirm import confirmation, confirmed
from api.web.frame import Form, done, guarded, key, lines, render, signed_in, submit, text
from domain.actors import Actor, can, can_record, can_retract, require
from domain.errors import Forbidden, InvalidInput, NotFound
from domain.lifecycle import open_to_change

router = APIRouter(include_in_schema=False)


# --- departments (and the office, admin): findings per indicator and district ------------

def my_indicators(actor: Actor, tree: dict) -> list[dict]:
    return [i for c in tree["categories"] for i in c["indicators"] if can_record(actor, i)]


@router.get("/web/{year}/assess")
@guarded
def assess(request: Request, service: Service, year: int) -> Response:
    actor = signed_in(request, service)
    require(actor, "record_findings")
    info = service.year_info(year)
    indicators = my_indicators(actor, service.rubric_tree(year))
    cells: dict[str, dict[str, dict]] = {}
    for d in info["districts"]:
        for c in service.district_score(actor, year, d)["categories"]:
            for i in c["indicators"]:
                cells.setdefault(i["id"], {})[d] = i
    return render(request, "assess.html", actor, year, {"districts": info["districts"], "indicators": indicators,
                                                      "cells": cells})


def indicator_page(request: Request, service: KaoheApp, actor: Actor, year: int, district: str, indicator_id: str,
                   status: int = 200, forms: dict | None = None) -> Response:
    require(actor, "record_findings")
    info = service.year_info(year)
    if district not in info["districts"]:
        raise NotFound(f"{year} 年度没有被考核单位 {district}")
    tree = service.rubric_tree(year)
    rubric_indicator = next((i for c in tree["categories"] for i in c["indicators"] if i["id"] == indicator_id), None)
    if rubric_indicator is None:
        raise NotFound(f"考核细则中没有指标 {indicator_id}")
    if rubric_indicator not in my_indicators(actor, tree):
        raise Forbidden(f"{actor.name} 不是指标 {indicator_id}（{rubric_indicator['name']}）的责任部门"
                        f"（责任部门：{'、'.join(rubric_indicator['departments'])}）")
    score = service.district_score(actor, year, district, every_finding=True)
    scored = next(i for c in score["categories"] for i in c["indicators"] if i["id"] == indicator_id)
    scored_clauses = {cl["id"]: cl for cl in scored["clauses"]}
    clauses = [{**cl, "scored": scored_clauses.get(cl["id"], {"deduction": "0", "findings": []})}
               for cl in rubric_indicator["clauses"]]
    for cl in clauses:
        for f in cl["scored"]["findings"]:
            by = f.get("actor") or {}
            f["can_retract"] = open_to_change(f.get("status", ""), f.get("dispute")) and can_retract(actor, by)
    submission = next((s for s in service.district_submissions(actor, year, district)
                       if s["indicator"] == indicator_id and not s["superseded"]), None)
    return render(request, "indicator.html", actor, year, {
        "district": district, "districts": info["districts"], "indicator": rubric_indicator, "scored": scored,
        "clauses": clauses, "closed": info["closed"], "submission": submission}, status, forms)


@router.get("/web/{year}/assess/{district}/{indicator_id}")
@guarded
def indicator(request: Request, service: Service, year: int, district: str, indicator_id: str) -> Response:
    return indicator_page(request, service, signed_in(request, service), year, district, indicator_id)


@router.post("/web/{year}/assess/{district}/{indicator_id}/findings")
@guarded
def record_finding(request: Request, service: Service, form: Form, year: int, district: str,
                   indicator_id: str) -> Response:
    actor = signed_in(request, service)
    clause_id = text(form, "clause")
    clause = next((cl for c in service.rubric_tree(year)["categories"] for i in c["indicators"]
                   if i["id"] == indicator_id for cl in i["clauses"] if cl["id"] == clause_id), None)
    if clause is None:
        raise NotFound(f"指标 {indicator_id} 中没有条款 {clause_id}")
    measure_keys = [m["key"] for m in clause.get("measures", [])]
    values: dict[str, Any] = {"note": text(form, "note"), "evidence": form.get("evidence") or ""}
    fields = ["note", "evidence", "clause", "measures"]
    if clause["kind"] == "occurrence":
        values["occurred_on"] = text(form, "occurred_on")
        fields.append("occurred_on")
    for k in measure_keys:
        values[f"measures.{k}"] = text(form, f"measures.{k}")
        fields.append(f"measures.{k}")

    def action() -> dict:
        measures = {k: values[f"measures.{k}"] for k in measure_keys if values[f"measures.{k}"] != ""}
        return service.record_finding(
            actor, year=year, district=district, clause=clause_id, occurred_on=values.get("occurred_on") or None,
            measures=measures or None, note=values["note"] or None, evidence=lines(str(values["evidence"])),
            idempotency_key=key(form))

    back = f"/web/{year}/assess/{quote(district)}/{indicator_id}"
    return submit(request, f"finding-{clause_id}", tuple(fields), values, action,
                  lambda r: done(back, "finding", r.get("receipt")),
                  lambda forms, status: indicator_page(request, service, actor, year, district, indicator_id,
                                                       status, forms),
                  labels={f"measures.{m['key']}": m["label"] for m in clause.get("measures", [])})


@router.post("/web/{year}/assess/{district}/{indicator_id}/findings/{finding_id}/retraction")
@guarded
def retract_finding(request: Request, service: Service, form: Form, year: int, district: str, indicator_id: str,
                    finding_id: str) -> Response:
    actor = signed_in(request, service)
    values = {"reason": text(form, "reason")}
    back = f"/web/{year}/assess/{quote(district)}/{indicator_id}"
    if values["reason"] and not confirmed(form):
        finding = next((f for c in service.district_score(actor, year, district, every_finding=True)["categories"]
                        for i in c["indicators"] for cl in i["clauses"] for f in cl["findings"]
                        if f["id"] == finding_id), None)
        if finding is None:
            raise NotFound(f"{district} 没有这条扣分事项 {finding_id}")
        what = finding.get("note") or finding.get("clause")
        return confirmation(request, actor, year, title="撤销扣分事项", consequences=[
            f"撤销{district}在条款 {finding.get('clause')} 上的扣分事项（{what}），该扣分不再计入得分",
            f"撤销记入历史，理由：{values['reason']}；撤销后不能恢复，如需要只能重新记录"],
            action=f"{back}/findings/{finding_id}/retraction", form=form, back=back, button="确认撤销")
    return submit(request, f"retract-{finding_id}", ("reason",), values,
                  lambda: service.retract_finding(actor, year=year, finding_id=finding_id, reason=values["reason"],
                                                  idempotency_key=key(form)),
                  lambda r: done(back, "retracted", r.get("receipt")),
                  lambda forms, status: indicator_page(request, service, actor, year, district, indicator_id,
                                                       status, forms))


@router.post("/web/{year}/assess/{district}/{indicator_id}/signoff")
@guarded
def sign_off(request: Request, service: Service, form: Form, year: int, district: str, indicator_id: str) -> Response:
    actor = signed_in(request, service)
    values = {"note": text(form, "note")}
    back = f"/web/{year}/assess/{quote(district)}/{indicator_id}"
    return submit(request, "signoff", ("note", "indicator"), values,
                  lambda: service.sign_off(actor, year=year, district=district, indicator=indicator_id,
                                           note=values["note"] or None, idempotency_key=key(form)),
                  lambda r: done(back, "signoff", r.get("receipt")),
                  lambda forms, status: indicator_page(request, service, actor, year, district, indicator_id,
                                                       status, forms))



# --- disputes ---------------------------------------------------------------------------

def finding_index(service: KaoheApp, actor: Actor, year: int, districts: set[str]) -> dict[str, dict]:
    """finding id → the finding as the district's breakdown shows it (with the clause's label)."""
    index: dict[str, dict] = {}
    for d in sorted(districts):
        for c in service.district_score(actor, year, d, every_finding=True)["categories"]:
            for i in c["indicators"]:
                for cl in i["clauses"]:
                    for f in cl["findings"]:
                        index[f["id"]] = {**f, "label": cl["label"], "indicator_name": i["name"]}
    return index


def disputes_page(request: Request, service: KaoheApp, actor: Actor, year: int, status: int = 200,
                  forms: dict | None = None) -> Response:
    show = request.query_params.get("show", "open")
    items = service.disputes(actor, year)
    findings = finding_index(service, actor, year, {d["district"] for d in items})
    for d in items:
        d["finding_detail"] = findings.get(d["finding"], {})
    open_items = [d for d in items if d["status"] == "open"]
    listed = open_items if show == "open" else items
    can_resolve = can(actor, "resolve_disputes") and not service.year_info(year)["closed"]
    return render(request, "disputes.html", actor, year, {"disputes": listed, "show": show, "open_count": len(open_items),
                                                        "all_count": len(items), "can_resolve": can_resolve},
                  status, forms)


@router.get("/web/{year}/disputes")
@guarded
def disputes(request: Request, service: Service, year: int) -> Response:
    return disputes_page(request, service, signed_in(request, service), year)


@router.post("/web/{year}/disputes/{dispute_id}/resolution")
@guarded
def resolve_dispute(request: Request, service: Service, form: Form, year: int, dispute_id: str) -> Response:
    actor = signed_in(request, service)
    values = {"decision": text(form, "decision"), "reason": text(form, "reason")}

    def action() -> dict:
        if not values["decision"]:
            raise InvalidInput("请选择处理结果：维持或撤销扣分 (choose upheld or overturned)", field="decision")
        return service.resolve_dispute(actor, year=year, dispute_id=dispute_id, decision=values["decision"],
                                       reason=values["reason"], idempotency_key=key(form))

    return submit(request, f"resolve-{dispute_id}", ("decision", "reason"), values, action,
                  lambda r: done(f"/web/{year}/disputes", "resolved"),
                  lambda forms, status: disputes_page(request, service, actor, year, status, forms))


