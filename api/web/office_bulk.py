"""The office's tables saved at once (办公室批量登记): a report's submissions, a task's outcomes; and voiding a
meeting entered by mistake, after a confirmation step that says which deductions it takes back."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.service import KaoheApp
from api.shared import Service
from api.web.confirm import confirmation, confirmed
from api.web.frame import Form, done, guarded, key, signed_in, submit, text
from api.web.office import meetings_page, reports_page, tasks_page
from api.web.rows import submit_table
from domain.actors import Actor, require
from domain.errors import InvalidInput, NotFound
from domain.lifecycle import FindingStatus

router = APIRouter(include_in_schema=False)


def registered(service: KaoheApp, actor: Actor, year: int, kind: str, item_id: str, what: str) -> dict[str, Any]:
    item = next((i for i in service.workflows(actor, year, kind) if i["id"] == item_id), None)
    if item is None:
        raise NotFound(f"{year} 年度没有这个{what}：{item_id}")
    return item


@router.post("/web/{year}/reports/{report_id}/submissions/batch")
@guarded
def record_submissions(request: Request, service: Service, form: Form, year: int, report_id: str) -> Response:
    """The report's table: a date typed per district, and 全部按时 for every district left blank."""
    actor = signed_in(request, service)
    require(actor, "run_office_workflows")
    report = registered(service, actor, year, "Report", report_id, "报送事项")
    pending = [d for d in service.year_info(year)["districts"] if d not in report["submissions"]]
    all_on_time = text(form, "mode") == "all_on_time"
    values = {f"on.{d}": text(form, f"on.{d}") for d in pending}
    rows = [{"district": d, "submitted_on": values[f"on.{d}"] or report["due_on"]} for d in pending
            if values[f"on.{d}"] or all_on_time]

    def action() -> dict:
        if not rows:
            raise InvalidInput("请至少填写一个单位的报送日期，或点“其余全部按时报送” (no dates given)", field="on")
        return service.record_submissions(actor, year=year, report_id=report_id, submissions=rows,
                                          idempotency_key=key(form))

    return submit_table(request, f"submissions-{report_id}", values, [r["district"] for r in rows],
                        lambda district, field: f"on.{district}", action,
                        lambda r: done(f"/web/{year}/reports", "submissions"),
                        lambda forms, status: reports_page(request, service, actor, year, status, forms))


@router.post("/web/{year}/tasks/{task_id}/outcomes/batch")
@guarded
def record_outcomes(request: Request, service: Service, form: Form, year: int, task_id: str) -> Response:
    """The task's table: 已完成 / 未完成 (and a note) per district, saved at once; blank rows wait."""
    actor = signed_in(request, service)
    require(actor, "run_office_workflows")
    task = registered(service, actor, year, "Task", task_id, "临时交办任务")
    pending = [d for d in task["districts"] if d not in task["outcomes"]]
    values = {f"{part}.{d}": text(form, f"{part}.{d}") for d in pending for part in ("outcome", "note")}
    rows = [{"district": d, "outcome": values[f"outcome.{d}"], "note": values[f"note.{d}"] or None}
            for d in pending if values[f"outcome.{d}"]]

    def action() -> dict:
        if not rows:
            raise InvalidInput("请至少选择一个单位的完成情况 (no outcome chosen)", field="outcome")
        return service.record_task_outcomes(actor, year=year, task_id=task_id, outcomes=rows,
                                            idempotency_key=key(form))

    return submit_table(request, f"outcomes-{task_id}", values, [r["district"] for r in rows],
                        lambda district, field: f"{'note' if field == 'note' else 'outcome'}.{district}", action,
                        lambda r: done(f"/web/{year}/tasks", "outcomes"),
                        lambda forms, status: tasks_page(request, service, actor, year, status, forms))


@router.post("/web/{year}/meetings/{meeting_id}/void")
@guarded
def void_meeting(request: Request, service: Service, form: Form, year: int, meeting_id: str) -> Response:
    actor = signed_in(request, service)
    require(actor, "run_office_workflows")
    meeting = registered(service, actor, year, "Meeting", meeting_id, "会议")
    values = {"reason": text(form, "reason")}
    if values["reason"] and not meeting.get("voided") and not confirmed(form):
        live = [a["district"] for a in meeting["absences"] if a["status"] == FindingStatus.LIVE.value]
        consequences = ([f"撤销{d}因缺席本会议记的扣分（8.2，每次 0.5 分）" for d in live]
                        or ["本会议没有仍计扣分的缺席记录"])
        consequences.append(f"会议「{meeting['title']}」（{meeting['held_on']}）在登记中标为作废，记录保留，理由：{values['reason']}")
        return confirmation(request, actor, year, title="会议作废", consequences=consequences,
                            action=f"/web/{year}/meetings/{meeting_id}/void", form=form,
                            back=f"/web/{year}/meetings", button="确认作废")
    return submit(request, f"void-{meeting_id}", ("reason",), values,
                  lambda: service.void_meeting(actor, year=year, meeting_id=meeting_id, reason=values["reason"],
                                               idempotency_key=key(form)),
                  lambda r: done(f"/web/{year}/meetings", "voided"),
                  lambda forms, status: meetings_page(request, service, actor, year, status, forms))
