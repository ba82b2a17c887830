"""The web pages (网页): server-rendered Jinja2 pages for the office, the departments, the districts,
auditors and the admin, over the same application service as the JSON API.

Sign-in keeps the token in an HttpOnly, SameSite=Strict session cookie. Every form posts to a
page route that calls one `KaoheApp` command; a refused command re-renders the page with the
service's message next to the field it names (`DomainError.field`) and what was typed kept.
A success redirects (POST/redirect/GET); each rendered form carries a fresh idempotency key,
so a form sent twice records once. Forbidden → a 403 page; unknown → a 404 page.
"""

from __future__ import annotations

import functools
import re
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Callable
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from api import tokens
from api.http import XLSX, attachment, get_service
from api.service import KaoheApp
from domain.actors import ROLE_LABELS, Actor, require_role
from domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound
from domain.scoring import display

HERE = Path(__file__).parent
STATIC = HERE / "static"
COOKIE = "kaohe_token"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_RUBRIC = "dalian-2018"

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))

Service = Annotated[KaoheApp, Depends(get_service)]


def the_service(request: Request) -> KaoheApp:
    """The service outside a route's parameters (where api.http's `get_service` put it at start-up)."""
    return request.app.state.kaohe


async def _form(request: Request) -> FormData:
    return await request.form()


Form = Annotated[FormData, Depends(_form)]


# --- display helpers (Jinja filters) ---------------------------------------------------

def points(value: Any) -> str:
    """Exact points → text with 2 decimals, rounded once half-up (domain.scoring.display)."""
    if value is None or value == "":
        return ""
    try:
        return str(display(Decimal(str(value))))
    except InvalidOperation:
        return str(value)


def local_time(value: str | None) -> str:
    """A stored UTC instant → Asia/Shanghai wall-clock time."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return value


EVENT_LABELS = {
    "Opened": "开启考核台账",
    "FindingRecorded": "记录扣分事项",
    "FindingRetracted": "撤销扣分事项",
    "ActivityNoted": "记录情况（不扣分）",
    "DisputeFiled": "提出申诉",
    "DisputeResolved": "处理申诉",
    "IndicatorSignedOff": "指标核定",
}
ACTIVITY_LABELS = {
    "excused_absence": "请假（不扣分）",
    "report_submitted": "按时报送",
    "report_submitted_late": "逾期报送",
    "task_completed": "完成临时交办任务",
}
DECISION_LABELS = {"upheld": "维持扣分", "overturned": "撤销扣分", "open": "待处理"}
STATUS_LABELS = {"live": "有效", "retracted": "已撤销", "overturned": "申诉后撤销"}
OUTCOME_LABELS = {"completed": "已完成", "unfinished": "未完成"}
KIND_LABELS = {"occurrence": "按次扣分", "flag": "缺项扣分", "gate": "一票扣除", "exemption": "不适用/免考",
               "shortfall": "比率未达标", "slots": "个数不足", "tiered": "分档计分", "threshold": "达标线"}
UNIT_LABELS = {"%": "%", "count": "个"}


def role_label(actor: Actor | dict | None) -> str:
    if actor is None:
        return ""
    if isinstance(actor, Actor):
        actor = actor.as_event()
    who = actor.get("name", "")
    scope = actor.get("department") or actor.get("district")
    role = ROLE_LABELS.get(actor.get("role", ""), actor.get("role", ""))
    if scope and scope != who:
        role = f"{role}·{scope}"
    return who if role == who else f"{who}（{role}）"


templates.env.filters.update(points=points, local_time=local_time, who=role_label)
templates.env.globals.update(
    new_key=lambda: uuid.uuid4().hex, EVENT_LABELS=EVENT_LABELS, ACTIVITY_LABELS=ACTIVITY_LABELS,
    DECISION_LABELS=DECISION_LABELS, STATUS_LABELS=STATUS_LABELS, OUTCOME_LABELS=OUTCOME_LABELS,
    KIND_LABELS=KIND_LABELS, UNIT_LABELS=UNIT_LABELS, ROLE_LABELS=ROLE_LABELS,
)

SUCCESS = {
    "meeting": "会议及点名情况已记录。",
    "report": "报送事项已创建。",
    "submission": "报送情况已记录。",
    "report_closed": "报送事项已截止，逾期和未报送单位已记录扣分。",
    "task": "临时交办任务已创建。",
    "outcome": "任务完成情况已记录。",
    "resolved": "申诉已处理。",
    "finding": "扣分事项已记录。",
    "retracted": "扣分事项已撤销。",
    "signoff": "指标已核定。",
    "dispute": "申诉已提交，请保存回执。",
    "year": "考核年度已开启。",
    "closed": "考核年度已结束。",
}


# --- who is signed in -------------------------------------------------------------------

class SignInRequired(Exception):
    pass


def signed_in(request: Request, service: KaoheApp) -> Actor:
    actor = tokens.actor_for(service.views, request.cookies.get(COOKIE))
    if actor is None:
        raise SignInRequired()
    return actor


def guarded(handler: Callable[..., Response]) -> Callable[..., Response]:
    """No session → the sign-in page; a refusal the page cannot show in a form → a message page."""

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        try:
            return handler(*args, **kwargs)
        except SignInRequired:
            return RedirectResponse("/?next=" + quote(request.url.path), status_code=303)
        except DomainError as e:
            return error_page(request, e)

    return wrapper


def error_page(request: Request, e: DomainError) -> Response:
    if isinstance(e, Forbidden):
        status, title = 403, "无权访问"
        hint = "您登录的角色不能查看或办理此事项。如需办理，请使用有权限的账号登录。"
    elif isinstance(e, NotFound):
        status, title = 404, "未找到"
        hint = "要查看的年度、单位或事项不存在。"
    elif isinstance(e, Conflict):
        status, title = 409, "不能办理"
        hint = "当前状态不允许此操作。"
    else:
        status, title = 422, "输入有误"
        hint = "请返回检查后重试。"
    actor, year = None, None
    try:
        service = the_service(request)
        actor = tokens.actor_for(service.views, request.cookies.get(COOKIE))
        year = current_year(service) if actor else None
    except Exception:  # the message page must render even when the service cannot answer
        pass
    return templates.TemplateResponse(request, "error.html", {
        "actor": actor, "year": None, "nav": nav_for(actor, year) if actor else [], "status": status,
        "title": title, "hint": hint, "message": friendly(e.message, FIELD_LABELS)}, status_code=status)


# --- page frame -------------------------------------------------------------------------

NAV = [
    ("meetings", "会议点名", ("office", "admin")),
    ("reports", "报送材料", ("office", "admin")),
    ("tasks", "临时任务", ("office", "admin")),
    ("assess", "指标考核", ("office", "department", "admin")),
    ("disputes", "申诉处理", ("office", "department", "admin")),
    ("ranking", "成绩排名", ("office", "department", "auditor", "admin")),
    ("verify", "历史校验", ("auditor", "admin")),
    ("close", "结束年度", ("admin",)),
]


def nav_for(actor: Actor, year: int | None) -> list[tuple[str, str]]:
    if year is None:
        return [("/web/years", "考核年度")] if actor.role == "admin" else []
    base = f"/web/{year}"
    if actor.role == "district":
        d = quote(actor.district or "")
        return [(f"{base}/districts/{d}", "得分明细"), (f"{base}/districts/{d}/history", "历史记录"),
                (f"{base}/districts/{d}/receipts", "回执"), (f"{base}/disputes", "我的申诉")]
    items = [(f"{base}/{path}", label) for path, label, roles in NAV if actor.role in roles]
    if actor.role == "admin":
        items.append(("/web/years", "考核年度"))
    return items


def landing(actor: Actor, year: int) -> str:
    if actor.role == "office":
        return f"/web/{year}/meetings"
    if actor.role == "department":
        return f"/web/{year}/assess"
    if actor.role == "district":
        return f"/web/{year}/districts/{quote(actor.district or '')}"
    return f"/web/{year}/ranking"


def render(request: Request, name: str, actor: Actor | None, year: int | None, context: dict[str, Any],
           status: int = 200, forms: dict[str, dict[str, Any]] | None = None) -> HTMLResponse:
    ok = SUCCESS.get(request.query_params.get("ok", ""))
    receipt = request.query_params.get("receipt") if ok else None
    info = None
    if year is not None:
        try:
            info = the_service(request).year_info(year)
        except DomainError:
            info = None
    page = {"actor": actor, "year": year, "year_info": info, "nav": nav_for(actor, year) if actor else [],
            "path": request.url.path, "ok": ok, "receipt": receipt, "forms": forms or {}, **context}
    return templates.TemplateResponse(request, name, page, status_code=status)


def done(url: str, ok: str, receipt: Any = None) -> RedirectResponse:
    """Redirect after a success; the receipt (the new chain head) is shown for the user to keep."""
    if isinstance(receipt, dict):
        receipt = receipt.get("head")
    query = {"ok": ok, **({"receipt": receipt} if receipt else {})}
    return RedirectResponse(f"{url}?{urlencode(query)}", status_code=303)


FIELD_LABELS = {
    "title": "名称", "held_on": "召开日期", "due_on": "截止日期", "assigned_on": "交办日期",
    "submitted_on": "报送日期", "occurred_on": "发生日期", "district": "单位", "districts": "单位",
    "absent": "缺席单位", "excused": "请假单位", "outcome": "完成情况", "statement": "申诉理由",
    "reason": "理由", "decision": "处理结果", "evidence": "证明材料", "note": "说明", "year": "年度",
    "rubric": "考核细则", "indicator": "指标", "clause": "条款", "measures": "数值",
}
ENGLISH_TAIL = re.compile(r"\s*\([^()\u4e00-\u9fff]*[A-Za-z][^()\u4e00-\u9fff]*\)(:.*)?$")


def friendly(message: str, labels: dict[str, str]) -> str:
    """The service's message for a person: Chinese field names, without the English gloss for developers."""
    if re.search(r"[\u4e00-\u9fff]", message):
        message = ENGLISH_TAIL.sub("", message)
    for name, label in sorted(labels.items(), key=lambda kv: -len(kv[0])):
        if message.startswith(name + " "):
            return label + message[len(name):]
    return message


def refused(e: DomainError, values: dict[str, Any], fields: tuple[str, ...],
            labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A form's state after a refusal: the message next to its field (or above the form), values kept."""
    state: dict[str, Any] = {"values": values, "errors": {}, "general": None}
    message = friendly(e.message, {**FIELD_LABELS, **(labels or {})})
    if e.field and e.field in fields:
        state["errors"][e.field] = message
    else:
        state["general"] = message
    return state


def submit(request: Request, form_id: str, fields: tuple[str, ...], values: dict[str, Any],
           action: Callable[[], Any], on_success: Callable[[Any], Response],
           on_refusal: Callable[[dict[str, dict[str, Any]], int], Response],
           labels: dict[str, str] | None = None) -> Response:
    """Run one command; success → redirect; invalid input or conflict → the page again with the error."""
    try:
        result = action()
    except (InvalidInput, Conflict) as e:
        status = 409 if isinstance(e, Conflict) else 422
        return on_refusal({form_id: {**refused(e, values, fields, labels), "details": e.details}}, status)
    return on_success(result)


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def optional(form: FormData, name: str) -> str | None:
    return text(form, name) or None


def lines(value: str) -> list[str]:
    """Evidence references typed one per line (or separated by ；/;)."""
    parts = value.replace("；", "\n").replace(";", "\n").splitlines()
    return [p.strip() for p in parts if p.strip()]


def key(form: FormData) -> str | None:
    return optional(form, "_key")


def current_year(service: KaoheApp) -> int | None:
    years = service.years()
    open_years = [y["year"] for y in years if not y["closed"]]
    if open_years:
        return max(open_years)
    return max((y["year"] for y in years), default=None)


# --- static files -----------------------------------------------------------------------

@router.get("/static/{name}")
def static(name: str) -> Response:
    path = STATIC / name
    if "/" in name or name.startswith(".") or not path.is_file():
        return Response("not found", status_code=404)
    return FileResponse(path, headers={"Cache-Control": "max-age=3600"})


# --- sign-in ----------------------------------------------------------------------------

@router.get("/", response_class=HTMLResponse)
def signin_page(request: Request, service: Service) -> Response:
    actor = tokens.actor_for(service.views, request.cookies.get(COOKIE))
    if actor is not None:
        return RedirectResponse("/web", status_code=303)
    return render(request, "signin.html", None, None, {"next": request.query_params.get("next", "")})


@router.post("/signin")
def signin(request: Request, service: Service, form: Form) -> Response:
    token = text(form, "token")
    nxt = text(form, "next")
    actor = tokens.actor_for(service.views, token)
    if actor is None:
        message = "请输入访问令牌" if not token else "访问令牌无效，请检查后重试"
        state = {"values": {"token": token}, "errors": {"token": message}, "general": None}
        return render(request, "signin.html", None, None, {"next": nxt}, status=401, forms={"signin": state})
    target = nxt if nxt.startswith("/web") else "/web"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
    return response


@router.post("/signout")
def signout(request: Request) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/web")
@guarded
def home(request: Request, service: Service) -> Response:
    actor = signed_in(request, service)
    year = current_year(service)
    if year is None:
        if actor.role == "admin":
            return RedirectResponse("/web/years", status_code=303)
        return render(request, "no_year.html", actor, None, {})
    return RedirectResponse(landing(actor, year), status_code=303)


# --- years (admin) ----------------------------------------------------------------------

def years_page(request: Request, service: KaoheApp, actor: Actor, status: int = 200,
               forms: dict | None = None) -> Response:
    require_role(actor, "admin")
    return render(request, "years.html", actor, None, {"years": service.years(), "default_rubric": DEFAULT_RUBRIC},
                  status, forms)


@router.get("/web/years")
@guarded
def years(request: Request, service: Service) -> Response:
    return years_page(request, service, signed_in(request, service))


@router.post("/web/years")
@guarded
def open_year(request: Request, service: Service, form: Form) -> Response:
    actor = signed_in(request, service)
    require_role(actor, "admin")
    values = {"year": text(form, "year"), "rubric": text(form, "rubric"), "districts": form.get("districts") or ""}

    def action() -> dict:
        try:
            year = int(values["year"])
        except ValueError:
            raise InvalidInput("请填写年度，例如 2018 (year must be a number)", field="year") from None
        names = [d.strip() for d in str(values["districts"]).splitlines() if d.strip()]
        if not names:
            raise InvalidInput("请填写被考核单位，每行一个 (at least one district)", field="districts")
        return service.open_year(actor, year=year, rubric=values["rubric"] or DEFAULT_RUBRIC, districts=names,
                                 idempotency_key=key(form))

    return submit(request, "open_year", ("year", "rubric", "districts"), values, action,
                  lambda r: done(landing(actor, r["year"]), "year", r.get("receipt")),
                  lambda forms, status: years_page(request, service, actor, status, forms))


# --- office: meetings -------------------------------------------------------------------

def meetings_page(request: Request, service: KaoheApp, actor: Actor, year: int, status: int = 200,
                  forms: dict | None = None) -> Response:
    require_role(actor, "office", "admin")
    info = service.year_info(year)
    meetings = sorted(service.workflows(actor, year, "Meeting"), key=lambda m: (m["held_on"], m["recorded_at"]),
                      reverse=True)
    return render(request, "meetings.html", actor, year, {"districts": info["districts"], "meetings": meetings},
                  status, forms)


@router.get("/web/{year}/meetings")
@guarded
def meetings(request: Request, service: Service, year: int) -> Response:
    return meetings_page(request, service, signed_in(request, service), year)


@router.post("/web/{year}/meetings")
@guarded
def hold_meeting(request: Request, service: Service, form: Form, year: int) -> Response:
    actor = signed_in(request, service)
    require_role(actor, "office", "admin")
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
    require_role(actor, "office", "admin")
    info = service.year_info(year)
    reports = sorted(service.workflows(actor, year, "Report"), key=lambda r: (r["closed"], r["due_on"]))
    for r in reports:
        subs = r.get("submissions", {})
        r["rows"] = [{"district": d, "submitted_on": subs.get(d), "late": bool(subs.get(d) and subs[d] > r["due_on"])}
                     for d in info["districts"]]
        r["pending"] = [d for d in info["districts"] if d not in subs]
    return render(request, "reports.html", actor, year, {"districts": info["districts"], "reports": reports},
                  status, forms)


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
    require_role(actor, "office", "admin")
    info = service.year_info(year)
    tasks = sorted(service.workflows(actor, year, "Task"), key=lambda t: (t["due_on"], t["recorded_at"]), reverse=True)
    for t in tasks:
        t["pending"] = [d for d in t["districts"] if d not in t.get("outcomes", {})]
    return render(request, "tasks.html", actor, year, {"districts": info["districts"], "tasks": tasks},
                  status, forms)


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


# --- disputes ---------------------------------------------------------------------------

def finding_index(service: KaoheApp, actor: Actor, year: int, districts: set[str]) -> dict[str, dict]:
    """finding id → the finding as the district's breakdown shows it (with the clause's label)."""
    index: dict[str, dict] = {}
    for d in sorted(districts):
        for c in service.district_score(actor, year, d)["categories"]:
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
    can_resolve = actor.role in ("office", "department", "admin") and not service.year_info(year)["closed"]
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


# --- ranking, verify, export, close -----------------------------------------------------

@router.get("/web/{year}/ranking")
@guarded
def ranking(request: Request, service: Service, year: int) -> Response:
    actor = signed_in(request, service)
    result = service.scores(actor, year)
    categories = service.rubric_tree(year)["categories"]
    return render(request, "ranking.html", actor, year, {
        "ranking": result, "categories": categories,
        "can_export": actor.role in ("office", "auditor", "admin")})


@router.get("/web/{year}/verify")
@guarded
def verify(request: Request, service: Service, year: int) -> Response:
    actor = signed_in(request, service)
    require_role(actor, "auditor", "admin")
    service.year_info(year)
    return render(request, "verify.html", actor, year, {"result": service.verify(year=year),
                                                      "digest": service.digest(year)})


@router.get("/web/{year}/export.xlsx")
@guarded
def export(request: Request, service: Service, year: int) -> Response:
    actor = signed_in(request, service)
    require_role(actor, "office", "auditor", "admin")
    return Response(service.export_xlsx(year=year, actor=actor), media_type=XLSX,
                    headers={"Content-Disposition": attachment(f"kaohe-{year}.xlsx")})


def close_page(request: Request, service: KaoheApp, actor: Actor, year: int, status: int = 200,
               forms: dict | None = None) -> Response:
    require_role(actor, "admin")
    unsigned = service.unsigned_pairs(year)
    by_district: dict[str, list[str]] = {}
    state = (forms or {}).get("close") or {}
    for d, i in (state.get("details") or {}).get("unsigned", unsigned if state else []):
        by_district.setdefault(d, []).append(i)
    return render(request, "close.html", actor, year, {"unsigned_count": len(unsigned), "refused_unsigned": by_district},
                  status, forms)


@router.get("/web/{year}/close")
@guarded
def close(request: Request, service: Service, year: int) -> Response:
    return close_page(request, service, signed_in(request, service), year)


@router.post("/web/{year}/close")
@guarded
def close_year(request: Request, service: Service, form: Form, year: int) -> Response:
    actor = signed_in(request, service)
    require_role(actor, "admin")
    values = {"force": text(form, "force") == "1", "note": text(form, "note")}
    return submit(request, "close", ("force", "note"), values,
                  lambda: service.close_year(actor, year=year, force=values["force"], note=values["note"] or None,
                                             idempotency_key=key(form)),
                  lambda r: done(f"/web/{year}/ranking", "closed", r.get("receipt")),
                  lambda forms, status: close_page(request, service, actor, year, status, forms))


# --- departments (and the office, admin): findings per indicator and district ------------

def my_indicators(actor: Actor, tree: dict) -> list[dict]:
    return [i for c in tree["categories"] for i in c["indicators"]
            if actor.role == "admin" or (actor.unit is not None and actor.unit in i["departments"])]


@router.get("/web/{year}/assess")
@guarded
def assess(request: Request, service: Service, year: int) -> Response:
    actor = signed_in(request, service)
    require_role(actor, "office", "department", "admin")
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
    require_role(actor, "office", "department", "admin")
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
    score = service.district_score(actor, year, district)
    scored = next(i for c in score["categories"] for i in c["indicators"] if i["id"] == indicator_id)
    scored_clauses = {cl["id"]: cl for cl in scored["clauses"]}
    clauses = [{**cl, "scored": scored_clauses.get(cl["id"], {"deduction": "0", "findings": []})}
               for cl in rubric_indicator["clauses"]]
    for cl in clauses:
        for f in cl["scored"]["findings"]:
            by = f.get("actor") or {}
            f["can_retract"] = f.get("status") == "live" and not (f.get("dispute") or {}).get("status") == "open" and (
                actor.role == "admin" or (by.get("role") == actor.role and by.get("department") == actor.department))
    return render(request, "indicator.html", actor, year, {
        "district": district, "districts": info["districts"], "indicator": rubric_indicator, "scored": scored,
        "clauses": clauses, "closed": info["closed"]}, status, forms)


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


# --- a district's pages (and any reader in scope) ----------------------------------------

@router.get("/web/{year}/districts/{district}")
@guarded
def breakdown(request: Request, service: Service, year: int, district: str) -> Response:
    actor = signed_in(request, service)
    score = service.district_score(actor, year, district)
    tree = {i["id"]: i for c in service.rubric_tree(year)["categories"] for i in c["indicators"]}
    texts = {cl["id"]: cl["text"] for i in tree.values() for cl in i["clauses"]}
    findings = [{"indicator": i, "clause": cl, "finding": f} for c in score["categories"] for i in c["indicators"]
                for cl in i["clauses"] for f in cl["findings"]]
    return render(request, "district.html", actor, year, {
        "district": district, "score": score, "texts": texts, "findings": findings,
        "can_dispute": actor.role == "district" and not service.year_info(year)["closed"]})


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
    score = service.district_score(actor, year, district)
    indicator_, clause, finding = find_finding(score, finding_id)
    tree = {cl["id"]: cl for c in service.rubric_tree(year)["categories"] for i in c["indicators"] for cl in i["clauses"]}
    return render(request, "dispute_form.html", actor, year, {
        "district": district, "indicator": indicator_, "clause": clause, "finding": finding,
        "clause_text": tree[clause["id"]]["text"]}, status, forms)


@router.get("/web/{year}/districts/{district}/findings/{finding_id}/dispute")
@guarded
def dispute_form(request: Request, service: Service, year: int, district: str, finding_id: str) -> Response:
    actor = signed_in(request, service)
    require_role(actor, "district")
    return dispute_page(request, service, actor, year, district, finding_id)


@router.post("/web/{year}/districts/{district}/findings/{finding_id}/dispute")
@guarded
def file_dispute(request: Request, service: Service, form: Form, year: int, district: str,
                 finding_id: str) -> Response:
    actor = signed_in(request, service)
    require_role(actor, "district")
    values = {"statement": text(form, "statement"), "evidence": form.get("evidence") or ""}
    return submit(request, "dispute", ("statement", "evidence"), values,
                  lambda: service.file_dispute(actor, year=year, finding_id=finding_id,
                                               statement=values["statement"],
                                               evidence=lines(str(values["evidence"])), idempotency_key=key(form)),
                  lambda r: done(f"/web/{year}/districts/{quote(district)}", "dispute", r.get("receipt")),
                  lambda forms, status: dispute_page(request, service, actor, year, district, finding_id,
                                                     status, forms))


def describe(event: dict, labels: dict[str, str]) -> str:
    """One line of Chinese about what an event of the audit log says."""
    d = event["data"]
    t = event["type"]
    clause = d.get("clause")
    about = f"{clause} {labels.get(clause, '')}".strip() if clause else ""
    parts: list[str] = []
    if t == "Opened":
        parts.append(f"{d.get('year')} 年度，考核细则 {d.get('rubric')}")
    elif t == "FindingRecorded":
        parts.append(about)
        if d.get("occurred_on"):
            parts.append(f"日期 {d['occurred_on']}")
        for k, v in (d.get("measures") or {}).items():
            parts.append(f"{k}={v}")
    elif t == "FindingRetracted":
        parts.append(f"原因：{d.get('reason')}")
    elif t == "ActivityNoted":
        parts.append(ACTIVITY_LABELS.get(d.get("activity", ""), d.get("activity", "")))
        if d.get("occurred_on"):
            parts.append(f"日期 {d['occurred_on']}")
    elif t == "DisputeFiled":
        parts.append(about)
        parts.append(f"申诉理由：{d.get('statement')}")
    elif t == "DisputeResolved":
        parts.append(DECISION_LABELS.get(d.get("decision", ""), d.get("decision", "")))
        parts.append(f"理由：{d.get('reason')}")
    elif t == "IndicatorSignedOff":
        parts.append(f"指标 {d.get('indicator')}")
    source = d.get("source") or {}
    if source.get("title"):
        parts.append(f"来源：{source['title']}")
    if d.get("note"):
        parts.append(f"说明：{d['note']}")
    if d.get("evidence"):
        parts.append(f"证明材料：{'、'.join(d['evidence'])}")
    return "；".join(p for p in parts if p)


def audit_rows(service: KaoheApp, actor: Actor, year: int, district: str) -> list[dict]:
    events = service.audit(actor, year, district)
    labels = {cl["id"]: cl["label"] for c in service.rubric_tree(year)["categories"] for i in c["indicators"]
              for cl in i["clauses"]}
    return [{**e, "summary": describe(e, labels)} for e in events]


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
    return render(request, "receipts.html", actor, year, {
        "district": district, "events": list(reversed(events)), "head": events[-1] if events else None,
        "check": check, "match": match})
