"""The HTTP API (FastAPI): thin routes over the application service, bearer tokens, one error handler.

Every route parses its input, calls one method of `KaoheApp` and returns the answer. The
service enforces the role table; the edge adds only what it does not (verify, export).
Exact decimals become JSON numbers here, rounded once for display.
"""

from __future__ import annotations

import asyncio
import csv
import gc
import io
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Annotated, Any, AsyncIterator, Callable, Literal
from urllib.parse import quote

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import tokens
from api.score_cache import RememberedScores
from api.service import KaoheApp
from domain.actors import SCORE_READERS, Actor, require_role
from domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from domain.scoring import display

ERROR_STATUS: dict[type[DomainError], int] = {InvalidInput: 422, NotFound: 404, Conflict: 409, Forbidden: 403}
HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 409: "conflict", 422: "invalid"}
AUDIT_COLUMNS = ("seq", "recorded_at", "actor", "type", "data", "hash", "prev_hash")
SCORE_FIELDS = ("total", "points", "score", "deduction")
REPLAY_HEADER = "Idempotent-Replay"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- request bodies ------------------------------------------------------------------

class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


DateText = Annotated[str, Field(description="Asia/Shanghai calendar date, YYYY-MM-DD", examples=["2018-03-15"])]


class OpenYear(Body):
    year: int = Field(examples=[2018])
    rubric: str = Field(examples=["dalian-2018"])
    districts: list[str] = Field(examples=[["中山区", "西岗区", "沙河口区"]])


class RecordFinding(Body):
    clause: str = Field(examples=["2.1.a"])
    occurred_on: DateText | None = None
    measures: dict[str, Any] | None = Field(
        None, description="one number per measure key of the clause (rates in %, counts whole)",
        examples=[{"rate": 77.9}])
    reference: str | None = None
    note: str | None = None
    evidence: list[str] | None = None


class Retraction(Body):
    reason: str
    evidence: list[str] | None = None


class HoldMeeting(Body):
    title: str
    held_on: DateText
    absent: list[str] = []
    excused: list[str] = []
    note: str | None = None
    evidence: list[str] | None = None


class ScheduleReport(Body):
    title: str
    due_on: DateText
    note: str | None = None


class RecordSubmission(Body):
    district: str
    submitted_on: DateText
    evidence: list[str] | None = None


class AssignTask(Body):
    title: str
    assigned_on: DateText
    due_on: DateText
    districts: list[str]
    note: str | None = None


class RecordOutcome(Body):
    district: str
    outcome: Literal["completed", "unfinished"]
    note: str | None = None
    evidence: list[str] | None = None


class FileDispute(Body):
    statement: str
    evidence: list[str] | None = None


class ResolveDispute(Body):
    decision: Literal["upheld", "overturned"]
    reason: str
    evidence: list[str] | None = None


class SignOff(Body):
    indicator: str = Field(examples=["8.2"])
    note: str | None = None
    evidence: list[str] | None = None


class CloseYear(Body):
    force: bool = False
    note: str | None = None


# --- dependencies ----------------------------------------------------------------------

async def get_service(request: Request) -> KaoheApp:
    return request.app.state.kaohe


Service = Annotated[KaoheApp, Depends(get_service)]
bearer = HTTPBearer(auto_error=False, description="an API token from `kaohe token create`")


async def current_actor(service: Service,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Actor:
    actor = tokens.actor_for(service.views, credentials.credentials if credentials else None)
    if actor is None:
        raise HTTPException(401, "需要有效的访问令牌 (missing or unknown bearer token)",
                            headers={"WWW-Authenticate": "Bearer"})
    return actor


CurrentActor = Annotated[Actor, Depends(current_actor)]
IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=200,
    description="the same key with the same body returns the first response and records nothing new")]


def actor_with_role(*roles: str) -> Callable[[Actor], Actor]:
    """A dependency for reads the service leaves open but the role table does not."""

    async def check(actor: CurrentActor) -> Actor:
        require_role(actor, *roles)
        return actor

    return check


Verifier = Annotated[Actor, Depends(actor_with_role("auditor", "admin"))]
Exporter = Annotated[Actor, Depends(actor_with_role("office", "auditor", "admin"))]


# --- answers ---------------------------------------------------------------------------

def numbers(value: Any) -> Any:
    """Exact decimals → JSON numbers, rounded once (half-up, 2 places) for display."""
    if isinstance(value, Decimal):
        return float(display(value))
    if isinstance(value, dict):
        return {k: numbers(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [numbers(v) for v in value]
    return value


def breakdown_numbers(node: dict[str, Any]) -> dict[str, Any]:
    """A district breakdown keeps its points as exact text; here they become decimals, then numbers."""
    out = dict(node)
    for key in SCORE_FIELDS:
        if isinstance(out.get(key), str):
            out[key] = Decimal(out[key])
    for key in ("categories", "indicators", "clauses"):
        if isinstance(out.get(key), list):
            out[key] = [breakdown_numbers(child) for child in out[key]]
    return out


def written(result: dict[str, Any], response: Response) -> dict[str, Any]:
    """A command's answer: a replay returns the first body unchanged and says so in a header."""
    if result.get("idempotent_replay"):
        response.headers[REPLAY_HEADER] = "true"
    return numbers({k: v for k, v in result.items() if k != "idempotent_replay"})


def audit_csv(year: int, district: str, events: list[dict[str, Any]]) -> Response:
    """The audit log as CSV, UTF-8 with a BOM so Excel shows the Chinese."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(AUDIT_COLUMNS)
    for e in events:
        writer.writerow([e["seq"], e["recorded_at"], json_text(e["actor"]), e["type"], json_text(e["data"]),
                         e["hash"], e["prev_hash"]])
    return Response(("\ufeff" + buffer.getvalue()).encode("utf-8"), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": attachment(f"audit-{year}-{district}.csv")})


def json_text(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def attachment(filename: str) -> str:
    return f"attachment; filename=\"{filename.encode('ascii', 'replace').decode()}\"; filename*=UTF-8''{quote(filename)}"


# --- errors ----------------------------------------------------------------------------

class OrjsonResponse(JSONResponse):
    """JSON answers written by orjson (EVENTSOURCING-NOTES: FastAPI deprecates its own ORJSONResponse)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_body(code: str, message: str, field: str | None = None, details: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    if details is not None:
        error["details"] = numbers(details)
    return {"error": error}


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    code = next((s for cls, s in ERROR_STATUS.items() if isinstance(exc, cls)), 400)
    return JSONResponse(error_body(exc.code, exc.message, exc.field, exc.details), status_code=code)


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = [{"field": field_of(e), "message": e["msg"], "type": e["type"]} for e in exc.errors()]
    first = problems[0] if problems else {"field": None, "message": "invalid request"}
    message = f"请求参数无效 (invalid {first['field'] or 'request'}: {first['message']})"
    return JSONResponse(error_body("invalid", message, first["field"], problems), status_code=422)


def field_of(error: dict[str, Any]) -> str:
    """('body', 'measures', 'rate') → 'measures.rate'; the whole body when it is not JSON."""
    loc = [str(part) for part in error.get("loc", ())]
    if error.get("type") == "json_invalid" or loc == ["body"]:
        return "body"
    if loc and loc[0] in ("body", "query", "path", "header"):
        loc = loc[1:]
    return ".".join(loc)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(error_body(HTTP_CODES.get(exc.status_code, "http_error"), str(exc.detail)),
                        status_code=exc.status_code, headers=exc.headers)


# --- group commit ----------------------------------------------------------------------

class GroupCommit:
    """Commands that arrive in the same turn of the event loop run and are saved together."""

    def __init__(self, service: KaoheApp):
        self.service = service
        self._waiting: list[tuple[Callable[[], dict[str, Any]], asyncio.Future]] = []

    async def run(self, command: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if not self._waiting:
            loop.call_soon(self._flush)  # after the requests already in this turn have queued theirs
        self._waiting.append((command, future))
        return await future

    def _flush(self) -> None:
        batch, self._waiting = self._waiting, []
        try:
            results = self.service.run_together([command for command, _ in batch])
        except BaseException as e:  # every waiting request gets an answer, whatever happened
            results = [e] * len(batch)
        for (_, future), result in zip(batch, results):
            if future.done():
                continue  # its request was cancelled (client gone, shutdown); the others still get theirs
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)


async def get_group_commit(request: Request) -> GroupCommit:
    return request.app.state.group_commit


Committer = Annotated[GroupCommit, Depends(get_group_commit)]


# --- routes ----------------------------------------------------------------------------

router = APIRouter(prefix="/api")
YEAR = "/years/{year}"


@router.get("/years")
async def list_years(service: Service, actor: CurrentActor) -> dict[str, Any]:
    return {"years": service.years()}


@router.post("/years", status_code=201)
async def open_year(body: OpenYear, service: Service, actor: CurrentActor, response: Response,
                    key: IdempotencyKey = None) -> dict[str, Any]:
    return written(service.open_year(actor, **body.model_dump(), idempotency_key=key), response)


@router.get(YEAR)
async def year_info(year: int, service: Service, actor: CurrentActor) -> dict[str, Any]:
    return service.year_info(year)


@router.get(YEAR + "/rubric")
async def rubric_tree(year: int, service: Service, actor: CurrentActor) -> dict[str, Any]:
    return numbers(service.rubric_tree(year))


@router.post(YEAR + "/close")
def close_year(year: int, service: Service, actor: CurrentActor, response: Response,
               body: CloseYear | None = None, key: IdempotencyKey = None) -> dict[str, Any]:
    body = body or CloseYear()
    return written(service.close_year(actor, year=year, **body.model_dump(), idempotency_key=key), response)


@router.get(YEAR + "/verify")
def verify(year: int, service: Service, actor: Verifier) -> dict[str, Any]:
    return service.verify(year=year)


@router.get(YEAR + "/export.xlsx", response_class=Response,
            responses={200: {"content": {XLSX: {}}, "description": "汇总 and one 扣分明细 sheet per district"}})
def export_xlsx(year: int, service: Service, actor: Exporter) -> Response:
    return Response(service.export_xlsx(year=year), media_type=XLSX,
                    headers={"Content-Disposition": attachment(f"kaohe-{year}.xlsx")})


# findings, retractions, disputes, sign-offs

@router.post(YEAR + "/districts/{district}/findings", status_code=201, response_model=None)
async def record_finding(year: int, district: str, body: RecordFinding, service: Service, actor: CurrentActor,
                         committer: Committer, response: Response, key: IdempotencyKey = None) -> Response:
    # The two busiest calls answer with a finished response, skipping FastAPI's re-serialisation.
    # Findings that arrive together are saved together (group commit: one fsync for the lot).
    result = written(await committer.run(
        lambda: service.record_finding(actor, year=year, district=district, **body.model_dump(),
                                       idempotency_key=key)), response)
    replay = {REPLAY_HEADER: response.headers[REPLAY_HEADER]} if REPLAY_HEADER in response.headers else None
    return OrjsonResponse(result, status_code=201, headers=replay)


@router.post(YEAR + "/findings/{finding_id}/retraction", status_code=201)
async def retract_finding(year: int, finding_id: str, body: Retraction, service: Service, actor: CurrentActor,
                          response: Response, key: IdempotencyKey = None) -> dict[str, Any]:
    return written(service.retract_finding(actor, year=year, finding_id=finding_id, **body.model_dump(),
                                           idempotency_key=key), response)


@router.post(YEAR + "/findings/{finding_id}/disputes", status_code=201)
async def file_dispute(year: int, finding_id: str, body: FileDispute, service: Service, actor: CurrentActor,
                       response: Response, key: IdempotencyKey = None) -> dict[str, Any]:
    return written(service.file_dispute(actor, year=year, finding_id=finding_id, **body.model_dump(),
                                        idempotency_key=key), response)


@router.post(YEAR + "/disputes/{dispute_id}/resolution", status_code=201)
async def resolve_dispute(year: int, dispute_id: str, body: ResolveDispute, service: Service, actor: CurrentActor,
                          response: Response, key: IdempotencyKey = None) -> dict[str, Any]:
    return written(service.resolve_dispute(actor, year=year, dispute_id=dispute_id, **body.model_dump(),
                                           idempotency_key=key), response)


@router.get(YEAR + "/disputes")
async def disputes(year: int, service: Service, actor: CurrentActor,
                   status: Annotated[str | None, Query(description="open, upheld or overturned")] = None) -> dict[str, Any]:
    return {"year": year, "disputes": service.disputes(actor, year, status)}


@router.post(YEAR + "/districts/{district}/signoffs", status_code=201)
async def sign_off(year: int, district: str, body: SignOff, service: Service, actor: CurrentActor, response: Response,
                   key: IdempotencyKey = None) -> dict[str, Any]:
    return written(service.sign_off(actor, year=year, district=district, **body.model_dump(),
                                    idempotency_key=key), response)


# the office's workflows: meetings, reports, tasks

@router.post(YEAR + "/meetings", status_code=201)
async def hold_meeting(year: int, body: HoldMeeting, service: Service, actor: CurrentActor, response: Response,
                       key: IdempotencyKey = None) -> dict[str, Any]:
    return written(service.hold_meeting(actor, year=year, **body.model_dump(), idempotency_key=key), response)


@router.get(YEAR + "/meetings")
async def meetings(year: int, service: Service, actor: CurrentActor) -> dict[str, Any]:
    return {"year": year, "meetings": service.workflows(actor, year, "Meeting")}


@router.post(YEAR + "/reports", status_code=201)
async def schedule_report(year: int, body: ScheduleReport, service: Service, actor: CurrentActor, response: Response,
                          key: IdempotencyKey = None) -> dict[str, Any]:
    return written(service.schedule_report(actor, year=year, **body.model_dump(), idempotency_key=key), response)


@router.get(YEAR + "/reports")
async def reports(year: int, service: Service, actor: CurrentActor) -> dict[str, Any]:
    return {"year": year, "reports": service.workflows(actor, year, "Report")}


@router.post(YEAR + "/reports/{report_id}/submissions", status_code=201)
async def record_submission(year: int, report_id: str, body: RecordSubmission, service: Service, actor: CurrentActor,
                            response: Response, key: IdempotencyKey = None) -> dict[str, Any]:
    return written(service.record_submission(actor, year=year, report_id=report_id, **body.model_dump(),
                                             idempotency_key=key), response)


@router.post(YEAR + "/reports/{report_id}/close")
async def close_report(year: int, report_id: str, service: Service, actor: CurrentActor, response: Response,
                       key: IdempotencyKey = None) -> dict[str, Any]:
    return written(service.close_report(actor, year=year, report_id=report_id, idempotency_key=key), response)


@router.post(YEAR + "/tasks", status_code=201)
async def assign_task(year: int, body: AssignTask, service: Service, actor: CurrentActor, response: Response,
                      key: IdempotencyKey = None) -> dict[str, Any]:
    return written(service.assign_task(actor, year=year, **body.model_dump(), idempotency_key=key), response)


@router.get(YEAR + "/tasks")
async def tasks(year: int, service: Service, actor: CurrentActor) -> dict[str, Any]:
    return {"year": year, "tasks": service.workflows(actor, year, "Task")}


@router.post(YEAR + "/tasks/{task_id}/outcomes", status_code=201)
async def record_outcome(year: int, task_id: str, body: RecordOutcome, service: Service, actor: CurrentActor,
                         response: Response, key: IdempotencyKey = None) -> dict[str, Any]:
    return written(service.record_task_outcome(actor, year=year, task_id=task_id, **body.model_dump(),
                                               idempotency_key=key), response)


# scores and history

AsOf = Annotated[str | None, Query(description="ISO date (end of that day, Asia/Shanghai) or datetime")]


@router.get(YEAR + "/scores", response_model=None)
async def scores(year: int, service: Service, actor: CurrentActor, as_of: AsOf = None) -> Response:
    if as_of:
        return OrjsonResponse(numbers(service.scores(actor, year, as_of=as_of)))
    require_role(actor, *SCORE_READERS)
    # The busiest read: its JSON is kept until the store moves on (see Queries.remembered).
    body = service.remembered("scores.json", year, lambda: orjson.dumps(numbers(service.scores(actor, year))))
    return Response(body, media_type="application/json")


@router.get(YEAR + "/districts/{district}/score")
async def district_score(year: int, district: str, service: Service, actor: CurrentActor,
                         as_of: AsOf = None) -> dict[str, Any]:
    return numbers(breakdown_numbers(service.district_score(actor, year, district, as_of=as_of)))


@router.get(YEAR + "/districts/{district}/score/diff")
async def score_difference(year: int, district: str, service: Service, actor: CurrentActor,
                           since: Annotated[str, Query(description="ISO date or datetime")],
                           until: AsOf = None) -> dict[str, Any]:
    return numbers(service.score_difference(actor, year, district, since=since, until=until))


@router.get(YEAR + "/districts/{district}/audit", response_model=None)
async def audit(year: int, district: str, service: Service, actor: CurrentActor,
                format: Literal["json", "csv"] = "json") -> dict[str, Any] | Response:
    events = service.audit(actor, year, district)
    if format == "csv":
        return audit_csv(year, district, events)
    return {"year": year, "district": district, "events": events}


# --- the application -------------------------------------------------------------------

def create_app(app: KaoheApp | None = None) -> FastAPI:
    """The FastAPI application over `app`, or over a `KaoheApp` built from the environment at start-up."""

    @asynccontextmanager
    async def lifespan(api: FastAPI) -> AsyncIterator[None]:
        service = app if app is not None else KaoheApp.from_url()
        tokens.init(service.views)
        api.state.kaohe = service
        api.state.group_commit = GroupCommit(service)
        # Everything built at start-up (rubric, routes, caches) lives as long as the process:
        # keep it out of the cyclic collector's way, so its pauses stay short under load.
        gc.freeze()
        try:
            yield
        finally:
            if app is None:  # a given app belongs to its caller
                service.close()

    api = FastAPI(title="kaohe 实绩考核", version="0.1.0", lifespan=lifespan, default_response_class=OrjsonResponse,
                  description="Event-sourced audit-trail scoring for the annual assessment of district trade unions.")
    api.add_middleware(RememberedScores)
    api.add_exception_handler(DomainError, domain_error)
    api.add_exception_handler(RequestValidationError, validation_error)
    api.add_exception_handler(StarletteHTTPException, http_error)

    @api.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    api.include_router(router)
    from api import web  # imported here: the pages reuse this module's dependencies

    api.include_router(web.router)
    return api
