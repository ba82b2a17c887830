"""The admin's and the auditor's pages: years, the ranking, verification, the workbook, closing a year."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup

from api.documents.charts import category_heatmap, ranking_bars
from api.service import KaoheApp
from api.shared import XLSX, Service, attachment
from api.web.confirm import confirmation, confirmed
from api.web.frame import DEFAULT_RUBRIC, Form, done, guarded, key, landing, render, signed_in, submit, text
from domain.actors import Actor, can, require
from domain.cycle import DEFAULT_DISPUTE_DAYS
from domain.errors import InvalidInput

router = APIRouter(include_in_schema=False)


# --- years (admin) ----------------------------------------------------------------------

def years_page(request: Request, service: KaoheApp, actor: Actor, status: int = 200,
               forms: dict | None = None) -> Response:
    require(actor, "read_years")
    years = [{**y, **service.year_info(y["year"])} for y in service.years()]  # with stage and 公示
    return render(request, "years.html", actor, None, {
        "years": years, "default_rubric": DEFAULT_RUBRIC, "can_open": can(actor, "manage_years"),
        "can_rank": can(actor, "read_ranking"), "can_publish": can(actor, "publish"),
        "can_add_rubric": can(actor, "add_rubrics"), "rubrics": service.rubrics()}, status, forms)


@router.get("/web/years")
@guarded
def years(request: Request, service: Service) -> Response:
    return years_page(request, service, signed_in(request, service))


@router.post("/web/years")
@guarded
def open_year(request: Request, service: Service, form: Form) -> Response:
    actor = signed_in(request, service)
    require(actor, "manage_years")
    values = {"year": text(form, "year"), "rubric": text(form, "rubric"), "districts": form.get("districts") or "",
              "dispute_days": text(form, "dispute_days")}

    def action() -> dict:
        try:
            year = int(values["year"])
        except ValueError:
            raise InvalidInput("请填写年度，例如 2018 (year must be a number)", field="year") from None
        names = [d.strip() for d in str(values["districts"]).splitlines() if d.strip()]
        if not names:
            raise InvalidInput("请填写被考核单位，每行一个 (at least one district)", field="districts")
        try:
            days = int(values["dispute_days"] or DEFAULT_DISPUTE_DAYS)
        except ValueError:
            raise InvalidInput("申诉期请填写工作日天数，例如 10 (dispute_days must be a number)",
                               field="dispute_days") from None
        return service.open_year(actor, year=year, rubric=values["rubric"] or DEFAULT_RUBRIC, districts=names,
                                 dispute_days=days, idempotency_key=key(form))

    return submit(request, "open_year", ("year", "rubric", "districts", "dispute_days"), values, action,
                  lambda r: done(landing(actor, r["year"]), "year", r.get("receipt")),
                  lambda forms, status: years_page(request, service, actor, status, forms))



# --- ranking, verify, export, close -----------------------------------------------------

@router.get("/web/{year}/ranking")
@guarded
def ranking(request: Request, service: Service, year: int) -> Response:
    actor = signed_in(request, service)
    result = service.scores(actor, year)
    categories = service.rubric_tree(year)["categories"]
    points = Decimal(service.rubric_tree(year)["total"])
    # Drawn on the server: inline SVG, no script; the charts escape every name themselves.
    bars = Markup(ranking_bars(result["districts"], max_points=points))
    heatmap = Markup(category_heatmap(result["districts"], categories))
    return render(request, "ranking.html", actor, year, {
        "ranking": result, "categories": categories, "bars": bars, "heatmap": heatmap,
        "previous": service.previous_results(actor, year), "checkpoint": service.figures_checkpoint(year),
        "can_export": can(actor, "export"), "can_bulletin": can(actor, "read_bulletin")})


@router.get("/web/{year}/verify")
@guarded
def verify(request: Request, service: Service, year: int) -> Response:
    actor = signed_in(request, service)
    require(actor, "verify")
    service.year_info(year)
    return render(request, "verify.html", actor, year, {"result": service.verify(year=year),
                                                      "digest": service.digest(year)})


@router.get("/web/{year}/export.xlsx")
@guarded
def export(request: Request, service: Service, year: int) -> Response:
    actor = signed_in(request, service)
    require(actor, "export")
    return Response(service.export_xlsx(year=year, actor=actor), media_type=XLSX,
                    headers={"Content-Disposition": attachment(f"kaohe-{year}.xlsx")})


def close_page(request: Request, service: KaoheApp, actor: Actor, year: int, status: int = 200,
               forms: dict | None = None) -> Response:
    require(actor, "manage_years")
    unsigned = service.unsigned_pairs(year)
    indicators = [i for c in service.rubric_tree(year)["categories"] for i in c["indicators"]]
    state = (forms or {}).get("close") or {}
    waiting: dict[str, list[str]] = {}  # indicator id → the districts whose sign-off it still waits for
    for d, i in (state.get("details") or {}).get("unsigned", unsigned if state else []):
        waiting.setdefault(i, []).append(d)
    # Listed by indicator, with its name and 责任部门: who still has to sign off, and for whom.
    by_indicator = [{**i, "districts": waiting[i["id"]]} for i in indicators if i["id"] in waiting]
    return render(request, "close.html", actor, year, {"unsigned_count": len(unsigned), "refused_unsigned": by_indicator},
                  status, forms)


@router.get("/web/{year}/close")
@guarded
def close(request: Request, service: Service, year: int) -> Response:
    return close_page(request, service, signed_in(request, service), year)


@router.post("/web/{year}/close")
@guarded
def close_year(request: Request, service: Service, form: Form, year: int) -> Response:
    actor = signed_in(request, service)
    require(actor, "manage_years")
    values = {"force": text(form, "force") == "1", "note": text(form, "note")}
    unsigned = service.unsigned_pairs(year)
    if (values["force"] or not unsigned) and not confirmed(form):
        consequences = [f"结束 {year} 年度考核：此后本年度所有记录只读，不能再记录、撤销、申诉或核定",
                        "排名即为最终成绩，并生成历史摘要（digest）"]
        if unsigned:
            consequences.insert(0, f"强制结束：仍有 {len(unsigned)} 项（单位×指标）未核定，未核定清单将记入历史")
        return confirmation(request, actor, year, title="强制结束考核年度" if unsigned else "结束考核年度",
                            consequences=consequences, action=f"/web/{year}/close", form=form,
                            back=f"/web/{year}/close", button="确认结束年度")
    return submit(request, "close", ("force", "note"), values,
                  lambda: service.close_year(actor, year=year, force=values["force"], note=values["note"] or None,
                                             idempotency_key=key(form)),
                  lambda r: done(f"/web/{year}/ranking", "closed", r.get("receipt")),
                  lambda forms, status: close_page(request, service, actor, year, status, forms))


