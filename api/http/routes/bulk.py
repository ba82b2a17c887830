"""Bulk entry (批量录入): batches of findings, sign-offs, submissions and outcomes, each all or nothing in one
transaction; an indicator's fill-in workbook and its import (with a dry run); voiding a meeting."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Query, Response, UploadFile

from api.http import bodies as b
from api.http import models as m
from api.http.answers import written
from api.http.deps import CurrentActor, IdempotencyKey
from api.shared import XLSX, Service, attachment

router = APIRouter()
YEAR = "/years/{year}"


@router.post(YEAR + "/findings/batch", status_code=201, response_model=m.RecordedFindings)
def record_findings(year: int, body: b.FindingBatch, service: Service, actor: CurrentActor, response: Response,
                    key: IdempotencyKey = None) -> dict:
    return written(service.record_findings(actor, year=year, findings=[r.model_dump() for r in body.findings],
                                           idempotency_key=key), response, service)


@router.post(YEAR + "/signoffs/batch", status_code=201, response_model=m.SignedOffMany)
def sign_off_many(year: int, body: b.SignOffBatch, service: Service, actor: CurrentActor, response: Response,
                  key: IdempotencyKey = None) -> dict:
    return written(service.sign_off_many(actor, year=year, signoffs=[r.model_dump() for r in body.signoffs],
                                         idempotency_key=key), response, service)


@router.post(YEAR + "/reports/{report_id}/submissions/batch", status_code=201, response_model=m.RecordedSubmissions)
def record_submissions(year: int, report_id: str, body: b.SubmissionBatch, service: Service, actor: CurrentActor,
                       response: Response, key: IdempotencyKey = None) -> dict:
    return written(service.record_submissions(actor, year=year, report_id=report_id,
                                              submissions=[r.model_dump() for r in body.submissions],
                                              idempotency_key=key), response, service)


@router.post(YEAR + "/tasks/{task_id}/outcomes/batch", status_code=201, response_model=m.RecordedOutcomes,
             response_model_exclude_unset=True)
def record_outcomes(year: int, task_id: str, body: b.OutcomeBatch, service: Service, actor: CurrentActor,
                    response: Response, key: IdempotencyKey = None) -> dict:
    return written(service.record_task_outcomes(actor, year=year, task_id=task_id,
                                                outcomes=[r.model_dump() for r in body.outcomes],
                                                idempotency_key=key), response, service)


@router.post(YEAR + "/meetings/{meeting_id}/void", response_model=m.VoidedMeeting)
def void_meeting(year: int, meeting_id: str, body: b.VoidMeeting, service: Service, actor: CurrentActor,
                 response: Response, key: IdempotencyKey = None) -> dict:
    return written(service.void_meeting(actor, year=year, meeting_id=meeting_id, reason=body.reason,
                                        idempotency_key=key), response, service)


@router.get(YEAR + "/indicators/{indicator}/template.xlsx", response_class=Response,
            responses={200: {"content": {XLSX: {}}, "description": "one row per district, one column per measure"}})
def indicator_template(year: int, indicator: str, service: Service, actor: CurrentActor) -> Response:
    return Response(service.indicator_template(actor, year=year, indicator=indicator), media_type=XLSX,
                    headers={"Content-Disposition": attachment(f"kaohe-{year}-{indicator}-填报.xlsx")})


@router.post(YEAR + "/imports", status_code=201, response_model=m.ImportResult)
def import_workbook(year: int, service: Service, actor: CurrentActor, response: Response,
                    file: Annotated[UploadFile, File(description="a filled template.xlsx")],
                    dry_run: Annotated[bool, Query(description="show what would be recorded; record nothing")] = False,
                    key: IdempotencyKey = None) -> dict:
    result = service.import_workbook(actor, year=year, content=file.file.read(), dry_run=dry_run,
                                     idempotency_key=key)
    if dry_run:
        response.status_code = 200
        return result
    return written(result, response, service)
