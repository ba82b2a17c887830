"""The office's registers and workflows: meetings (8.2 attendance), reports (8.2 submissions), tasks (8.5)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.http import bodies as b
from api.http import models as m
from api.http.answers import written
from api.http.deps import CurrentActor, IdempotencyKey
from api.shared import Service

router = APIRouter()
YEAR = "/years/{year}"


@router.post(YEAR + "/meetings", status_code=201, response_model=m.HeldMeeting, response_model_exclude_unset=True)
def hold_meeting(year: int, body: b.HoldMeeting, service: Service, actor: CurrentActor, response: Response,
                 key: IdempotencyKey = None) -> dict:
    return written(service.hold_meeting(actor, year=year, **body.model_dump(), idempotency_key=key), response, service)


@router.get(YEAR + "/meetings", response_model=m.Meetings)
def meetings(year: int, service: Service, actor: CurrentActor) -> dict:
    return {"year": year, "meetings": service.workflows(actor, year, "Meeting")}


@router.post(YEAR + "/reports", status_code=201, response_model=m.ScheduledReport)
def schedule_report(year: int, body: b.ScheduleReport, service: Service, actor: CurrentActor, response: Response,
                    key: IdempotencyKey = None) -> dict:
    return written(service.schedule_report(actor, year=year, **body.model_dump(), idempotency_key=key),
                   response, service)


@router.get(YEAR + "/reports", response_model=m.Reports, response_model_exclude_unset=True)
def reports(year: int, service: Service, actor: CurrentActor) -> dict:
    return {"year": year, "reports": service.workflows(actor, year, "Report")}


@router.post(YEAR + "/reports/{report_id}/submissions", status_code=201, response_model=m.RecordedSubmission)
def record_submission(year: int, report_id: str, body: b.RecordSubmission, service: Service, actor: CurrentActor,
                      response: Response, key: IdempotencyKey = None) -> dict:
    return written(service.record_submission(actor, year=year, report_id=report_id, **body.model_dump(),
                                             idempotency_key=key), response, service)


@router.post(YEAR + "/reports/{report_id}/close", response_model=m.ClosedReport, response_model_exclude_unset=True)
def close_report(year: int, report_id: str, service: Service, actor: CurrentActor, response: Response,
                 key: IdempotencyKey = None) -> dict:
    return written(service.close_report(actor, year=year, report_id=report_id, idempotency_key=key),
                   response, service)


@router.post(YEAR + "/tasks", status_code=201, response_model=m.AssignedTask)
def assign_task(year: int, body: b.AssignTask, service: Service, actor: CurrentActor, response: Response,
                key: IdempotencyKey = None) -> dict:
    return written(service.assign_task(actor, year=year, **body.model_dump(), idempotency_key=key), response, service)


@router.get(YEAR + "/tasks", response_model=m.Tasks)
def tasks(year: int, service: Service, actor: CurrentActor) -> dict:
    return {"year": year, "tasks": service.workflows(actor, year, "Task")}


@router.post(YEAR + "/tasks/{task_id}/outcomes", status_code=201, response_model=m.RecordedOutcome,
             response_model_exclude_unset=True)
def record_outcome(year: int, task_id: str, body: b.RecordOutcome, service: Service, actor: CurrentActor,
                   response: Response, key: IdempotencyKey = None) -> dict:
    return written(service.record_task_outcome(actor, year=year, task_id=task_id, **body.model_dump(),
                                               idempotency_key=key), response, service)
