"""The office's pages (办公室): roll call at meetings, report deadlines and submissions, temporary tasks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.service import KaoheApp
from api.shared import Service
from api.web.frame import Form, done, guarded, key, lines, render, signed_in, submit, text
from domain.actors import Actor, can, require
from domain.errors import InvalidInput

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
            excused=[d for d, a in attendance.items() if a == "excused"], idempotency_key=key(form))

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


@router.post("/web/{year}/reports/{report_id}/submissions")
@guarded
def record_submission(request: Request, service: Service, form: Form, year: int, report_id: str) -> Response:
    actor = signed_in(request, service)
    values = {"district": text(form, "district"), "submitted_on": text(form, "submitted_on")}

    def action() -> dict:
        if not values["district"]:
            raise InvalidInput("请选择报送单位 (choose a district)", field="district")
        return service.record_submission(actor, year=year, report_id=report_id, district=values["district"],
                                         submitted_on=values["submitted_on"], idempotency_key=key(form))

    return submit(request, f"submission-{report_id}", ("district", "submitted_on"), values, action,
                  lambda r: done(f"/web/{year}/reports", "submission"),
                  lambda forms, status: reports_page(request, service, actor, year, status, forms))


@router.post("/web/{year}/reports/{report_id}/close")
@guarded
def close_report(request: Request, service: Service, form: Form, year: int, report_id: str) -> Response:
    actor = signed_in(request, service)
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


@router.post("/web/{year}/tasks/{task_id}/outcomes")
@guarded
def record_outcome(request: Request, service: Service, form: Form, year: int, task_id: str) -> Response:
    actor = signed_in(request, service)
    values = {"district": text(form, "district"), "outcome": text(form, "outcome"), "note": text(form, "note")}

    def action() -> dict:
        if not values["district"]:
            raise InvalidInput("请选择单位 (choose a district)", field="district")
        if not values["outcome"]:
            raise InvalidInput("请选择完成情况 (choose completed or unfinished)", field="outcome")
        return service.record_task_outcome(actor, year=year, task_id=task_id, district=values["district"],
                                           outcome=values["outcome"], note=values["note"] or None,
                                           idempotency_key=key(form))

    return submit(request, f"outcome-{task_id}", ("district", "outcome", "note"), values, action,
                  lambda r: done(f"/web/{year}/tasks", "outcome"),
                  lambda forms, status: tasks_page(request, service, actor, year, status, forms))


