"""The office's pages (办公室): roll call at meetings, report deadlines and submissions, temporary tasks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.service import KaoheApp
from api.shared import Service
from api.web.confirm import confirmation, confirmed
from api.web.frame import Form, done, guarded, key, lines, render, signed_in, submit, text
from domain.actors import Actor, can, require
from domain.errors import InvalidInput, NotFound

router = APIRouter(include_in_schema=False)


# --- office: meetings -------------------------------------------------------------------

def can_write(service: KaoheApp, actor: Actor, year: int) -> bool:
    """The registers are read by the auditor too; their forms are for the office, while the year is open."""
    return can(actor, "run_office_workflows") and not service.year_info(year)["closed"]


def meetings_page(request: Request, service: KaoheApp, actor: Actor, year: int, status: int = 200,
                  forms: dict | None = None) -> Response:
    require(actor, "read_registers")
    info = service.year_info(year)
    meetings = sorted(service.workflows(actor, year, "Meeting"), key=lambda m: (m["held_on"], m["recorded_at"]),
                      reverse=True)
    return render(request, "meetings.html", actor, year, {"districts": info["districts"], "meetings": meetings,
                                                        "can_write": can_write(service, actor, year)}, status, forms)


@router.get("/web/{year}/meetings")
@guarded
def meetings(request: Request, service: Service, year: int) -> Response:
    return meetings_page(request, service, signed_in(request, service), year)


@router.post("/web/{year}/meetings")
@guarded
def hold_meeting(request: Request, service: Service, form: Form, year: int) -> Response:
    actor = signed_in(request, service)
    require(actor, "run_office_workflows")
    districts = service.year_info(year)["districts"]
    attendance = {d: (text(form, f"attend.{d}") or "present") for d in districts}
    values: dict[str, Any] = {"title": text(form, "title"), "held_on": text(form, "held_on"),
                              "note": text(form, "note"), "evidence": form.get("evidence") or "",
                              "allow_duplicate": text(form, "allow_duplicate") == "1",
                              **{f"attend.{d}": a for d, a in attendance.items()}}

    def action() -> dict:
        for d, a in attendance.items():
            if a not in ("present", "absent", "excused"):
                raise InvalidInput(f"{d} 的出席情况无效 (attendance must be present, absent or excused)",
                                   field=f"attend.{d}")
        return service.hold_meeting(
            actor, year=year, title=values["title"], held_on=values["held_on"], note=values["note"] or None,
            evidence=lines(str(values["evidence"])),
            absent=[d for d, a in attendance.items() if a == "absent"],
            excused=[d for d, a in attendance.items() if a == "excused"], allow_duplicate=values["allow_duplicate"],
            idempotency_key=key(form))

    fields = ("title", "held_on", "note", "evidence", "absent", "excused", *(f"attend.{d}" for d in districts))
    return submit(request, "meeting", fields, values, action,
                  lambda r: done(f"/web/{year}/meetings", "meeting"),
                  lambda forms, status: meetings_page(request, service, actor, year, status, forms))


# --- office: reports --------------------------------------------------------------------

def reports_page(request: Request, service: KaoheApp, actor: Actor, year: int, status: int = 200,
                 forms: dict | None = None) -> Response:
    require(actor, "read_registers")
    info = service.year_info(year)
    reports = sorted(service.workflows(actor, year, "Report"), key=lambda r: (r["closed"], r["due_on"]))
    for r in reports:
        subs, late = r.get("submissions", {}), r.get("late_submissions", {})
        r["rows"] = [{"district": d, "submitted_on": subs.get(d), "late": late.get(d, False)} for d in info["districts"]]
        r["pending"] = [d for d in info["districts"] if d not in subs]
    return render(request, "reports.html", actor, year, {"districts": info["districts"], "reports": reports,
                                                       "can_write": can_write(service, actor, year)}, status, forms)


@router.get("/web/{year}/reports")
@guarded
def reports(request: Request, service: Service, year: int) -> Response:
    return reports_page(request, service, signed_in(request, service), year)


@router.post("/web/{year}/reports")
@guarded
def schedule_report(request: Request, service: Service, form: Form, year: int) -> Response:
    actor = signed_in(request, service)
    values = {"title": text(form, "title"), "due_on": text(form, "due_on"), "note": text(form, "note")}
    return submit(
        request, "report", ("title", "due_on", "note"), values,
        lambda: service.schedule_report(actor, year=year, title=values["title"], due_on=values["due_on"],
                                        note=values["note"] or None, idempotency_key=key(form)),
        lambda r: done(f"/web/{year}/reports", "report"),
        lambda forms, status: reports_page(request, service, actor, year, status, forms))


@router.post("/web/{year}/reports/{report_id}/close")
@guarded
def close_report(request: Request, service: Service, form: Form, year: int, report_id: str) -> Response:
    actor = signed_in(request, service)
    require(actor, "run_office_workflows")
    if not confirmed(form):
        report = next((r for r in service.workflows(actor, year, "Report") if r["id"] == report_id), None)
        if report is None:
            raise NotFound(f"{year} 年度没有这个报送事项：{report_id}")
        if not report["closed"]:
            late = [d for d, is_late in report["late_submissions"].items() if is_late]
            missing = [d for d in service.year_info(year)["districts"] if d not in report["submissions"]]
            consequences = [f"{d}：逾期报送，记扣分一次（8.2，0.5 分，扣满 2 分为止）" for d in late]
            consequences += [f"{d}：未报送，记扣分一次（8.2，0.5 分，扣满 2 分为止）" for d in missing]
            consequences = consequences or ["所有单位均已按时报送，不记扣分"]
            consequences.append(f"「{report['title']}」截止，此后不能再登记报送")
            return confirmation(request, actor, year, title=f"截止「{report['title']}」并计扣分",
                                consequences=consequences, action=f"/web/{year}/reports/{report_id}/close",
                                form=form, back=f"/web/{year}/reports", button="确认截止并计扣分")
    return submit(request, f"close-{report_id}", (), {},
                  lambda: service.close_report(actor, year=year, report_id=report_id, idempotency_key=key(form)),
                  lambda r: done(f"/web/{year}/reports", "report_closed"),
                  lambda forms, status: reports_page(request, service, actor, year, status, forms))


# --- office: temporary tasks ------------------------------------------------------------

def tasks_page(request: Request, service: KaoheApp, actor: Actor, year: int, status: int = 200,
               forms: dict | None = None) -> Response:
    require(actor, "read_registers")
    info = service.year_info(year)
    tasks = sorted(service.workflows(actor, year, "Task"), key=lambda t: (t["due_on"], t["recorded_at"]), reverse=True)
    for t in tasks:
        t["pending"] = [d for d in t["districts"] if d not in t.get("outcomes", {})]
    return render(request, "tasks.html", actor, year, {"districts": info["districts"], "tasks": tasks,
                                                     "can_write": can_write(service, actor, year)}, status, forms)


@router.get("/web/{year}/tasks")
@guarded
def tasks(request: Request, service: Service, year: int) -> Response:
    return tasks_page(request, service, signed_in(request, service), year)


@router.post("/web/{year}/tasks")
@guarded
def assign_task(request: Request, service: Service, form: Form, year: int) -> Response:
    actor = signed_in(request, service)
    values = {"title": text(form, "title"), "assigned_on": text(form, "assigned_on"), "due_on": text(form, "due_on"),
              "note": text(form, "note"), "districts": [d for d in form.getlist("districts") if isinstance(d, str)]}
    return submit(
        request, "task", ("title", "assigned_on", "due_on", "note", "districts"), values,
        lambda: service.assign_task(actor, year=year, title=values["title"], assigned_on=values["assigned_on"],
                                    due_on=values["due_on"], districts=values["districts"],
                                    note=values["note"] or None, idempotency_key=key(form)),
        lambda r: done(f"/web/{year}/tasks", "task"),
        lambda forms, status: tasks_page(request, service, actor, year, status, forms))
