"""The assessment cycle: 证明材料 files, a district's 申报 and their review, 公示, the rubrics a year can open on."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from api.http import bodies as b
from api.http import cycle_models as c
from api.http.answers import written
from api.http.deps import CurrentActor, IdempotencyKey
from api.shared import Service, file_response
from api.upload import read_upload
from domain.evidence_types import ACCEPTED

router = APIRouter()
YEAR = "/years/{year}"
UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "PDF, JPEG, PNG, docx/xlsx/pptx, doc/xls or plain text; at most "
                                           "KAOHE_EVIDENCE_MAX_BYTES (default 20 MiB)"}}}}}}}


@router.post(YEAR + "/districts/{district}/evidence", status_code=201, response_model=c.UploadedEvidence,
             openapi_extra=UPLOAD_BODY,
             responses={200: {"model": c.UploadedEvidence, "description": "the district already had these bytes"},
                        413: {"description": "too large"}, 415: {"description": "refused type"}})
async def upload_evidence(year: int, district: str, request: Request, service: Service, actor: CurrentActor,
                          response: Response, key: IdempotencyKey = None) -> dict:
    data, filename, _ = await read_upload(request)
    result = await run_in_threadpool(lambda: service.upload_evidence(actor, year=year, district=district, data=data,
                                                                     filename=filename, idempotency_key=key))
    if not result["created"]:
        response.status_code = 200
    return written(result, response, service)


@router.get(YEAR + "/districts/{district}/evidence", response_model=c.EvidenceList)
def evidence_files(year: int, district: str, service: Service, actor: CurrentActor) -> dict:
    return {"year": year, "district": district, "files": service.evidence_files(actor, year, district)}


@router.get(YEAR + "/districts/{district}/evidence/{sha256}", response_class=Response,
            responses={200: {"content": {media: {} for media in sorted(ACCEPTED)},
                             "description": "the file's bytes, in the type judged from its content at upload"}})
def evidence_file(year: int, district: str, sha256: str, service: Service, actor: CurrentActor) -> Response:
    return file_response(service.evidence_file(actor, year, district, sha256))


@router.post(YEAR + "/districts/{district}/submissions", status_code=201, response_model=c.Submitted)
def submit_materials(year: int, district: str, body: b.SubmitMaterials, service: Service, actor: CurrentActor,
                     response: Response, key: IdempotencyKey = None) -> dict:
    return written(service.submit_materials(actor, year=year, district=district, **body.model_dump(),
                                            idempotency_key=key), response, service)


@router.get(YEAR + "/districts/{district}/submissions", response_model=c.Submissions)
def district_submissions(year: int, district: str, service: Service, actor: CurrentActor) -> dict:
    return {"year": year, "submissions": service.district_submissions(actor, year, district)}


@router.get(YEAR + "/submissions", response_model=c.Submissions)
def submissions_queue(year: int, service: Service, actor: CurrentActor,
                      indicator: Annotated[str | None, Query(description="e.g. 2.1")] = None,
                      status: Annotated[str | None, Query(description="waiting, reviewed or returned")] = None) -> dict:
    return {"year": year, "submissions": service.submissions_queue(actor, year, indicator, status)}


@router.post(YEAR + "/submissions/{submission_id}/return", status_code=201, response_model=c.Submitted)
def return_submission(year: int, submission_id: str, body: b.ReturnSubmission, service: Service,
                      actor: CurrentActor, response: Response, key: IdempotencyKey = None) -> dict:
    return written(service.return_submission(actor, year=year, submission_id=submission_id, **body.model_dump(),
                                             idempotency_key=key), response, service)


@router.post(YEAR + "/publication", status_code=201, response_model=c.Published)
def publish(year: int, body: b.Publish, service: Service, actor: CurrentActor, response: Response,
            key: IdempotencyKey = None) -> dict:
    return written(service.publish(actor, year=year, **body.model_dump(), idempotency_key=key), response, service)


@router.get("/rubrics", response_model=c.Rubrics)
def rubrics(service: Service, actor: CurrentActor) -> dict:
    return {"rubrics": service.rubrics()}
