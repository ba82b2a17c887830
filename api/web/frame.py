"""The frame every web page shares: templates and their filters, who is signed in, the menu, forms.

Sign-in opens a server-side session (api.service.sessions): the HttpOnly, SameSite=Strict cookie
holds the session id, never the token, and is Secure over HTTPS. Every form carries the
`form_guard()` macro (idempotency key + CSRF token) and is checked (api.web.csrf) where its
route reads it (`Form`). Every form posts to a
page route that calls one `KaoheApp` command; a refused command re-renders the page with the
service's message next to the field it names (`DomainError.field`) and what was typed kept.
A success redirects (POST/redirect/GET); each rendered form carries a fresh idempotency key,
so a form sent twice records once. Forbidden → a 403 page; unknown → a 404 page. What a role
may see or do is asked of the role table (domain.actors), never decided here.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
import re
import uuid
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, Callable
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.datastructures import FormData

from api.service import KaoheApp, sessions
from api.service.own_writes import READING_FOR
from api.shared import served_over_https
from api.web import csrf
from domain.actors import ROLE_LABELS, Actor, can, pages_for
from domain.cycle import STAGE_LABELS
from domain.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unavailable
from domain.evidence_types import referenced_file
from domain.lifecycle import DisputeStatus, FindingStatus
from domain.scoring import display
from domain.wording import measures_text, readable

HERE = Path(__file__).parent
STATIC = HERE / "static"
COOKIE = "kaohe_session"
SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_RUBRIC = "dalian-2018"

_CSRF: contextvars.ContextVar[str] = contextvars.ContextVar("kaohe_csrf", default="")


class Pages(Jinja2Templates):
    """Templates that know the CSRF token of the request they render (for `form_guard()`, whichever
    template or macro calls it)."""

    def TemplateResponse(self, request: Request, name: str, context: dict | None = None, **kwargs: Any):  # noqa: N802
        reset = _CSRF.set(sessions.csrf_token(request.cookies.get(COOKIE)))
        try:
            return super().TemplateResponse(request, name, context, **kwargs)
        finally:
            _CSRF.reset(reset)


templates = Pages(directory=str(HERE / "templates"))


def the_service(request: Request) -> KaoheApp:
    """The service outside a route's parameters (put there at start-up, see api.asgi)."""
    return request.app.state.kaohe


async def _form(request: Request) -> FormData:
    """A page's form, once it is known to come from our own page (api.web.csrf)."""
    form = await request.form()
    csrf.check(request, form, request.cookies.get(COOKIE))
    return form


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
    "EvidenceUploaded": "上传证明材料",
    "MaterialsSubmitted": "申报指标材料",
    "SubmissionReturned": "退回申报",
}
ACTIVITY_LABELS = {
    "excused_absence": "请假（不扣分）",
    "report_submitted": "按时报送",
    "report_submitted_late": "逾期报送",
    "task_completed": "完成临时交办任务",
}
DECISION_LABELS = {s.value: s.label for s in DisputeStatus}
STATUS_LABELS = {s.value: s.label for s in FindingStatus}
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


def evidence_links(request: Request, items: list | None, year: int | None, district: str | None) -> Markup:
    """An evidence list for a page: uploaded files (`sha256:`) as download links by their names, text as text."""
    parts = []
    names: dict[str, str] = {}
    if district and year and any(referenced_file(str(i)) for i in items or []):
        cache = request.state.__dict__.setdefault("evidence_names", {})
        if (year, district) not in cache:
            cache[(year, district)] = the_service(request).evidence_names(year, district)
        names = cache[(year, district)]
    for item in items or []:
        sha = referenced_file(str(item))
        if sha is None:
            parts.append(str(escape(item)))
            continue
        href = f"/web/{year}/districts/{quote(district or '')}/evidence/{sha}"
        label = names.get(sha) or f"文件 {sha[:12]}…"
        parts.append(f'<a class="file" href="{escape(href)}" data-sha256="{sha}" download>{escape(label)}</a>')
    return Markup("、".join(parts))


templates.env.filters.update(points=points, local_time=local_time, who=role_label, readable=readable)
templates.env.globals.update(
    new_key=lambda: uuid.uuid4().hex, csrf_token=lambda: _CSRF.get(), measures_text=measures_text,
    EVENT_LABELS=EVENT_LABELS, ACTIVITY_LABELS=ACTIVITY_LABELS,
    DECISION_LABELS=DECISION_LABELS, STATUS_LABELS=STATUS_LABELS, OUTCOME_LABELS=OUTCOME_LABELS,
    KIND_LABELS=KIND_LABELS, UNIT_LABELS=UNIT_LABELS, ROLE_LABELS=ROLE_LABELS, STAGE_LABELS=STAGE_LABELS,
    evidence_links=evidence_links,
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
    "token_revoked": "令牌已撤销，所有服务器在一秒内拒绝它。",
    "bulletin": "通报的标题、文号和日期已保存。",
    "submissions": "报送情况已全部保存。",
    "outcomes": "任务完成情况已全部保存。",
    "voided": "会议已作废，因其记的扣分已全部撤销。",
    "findings": "整张表已保存，各单位的扣分事项已记录。",
    "signoffs": "所选指标已全部核定。",
    "imported": "工作簿已导入，全部扣分事项已记录。",
    "uploaded": "文件已上传，可在下方申报中引用。",
    "submitted": "申报已提交，等待责任部门审核。请保存回执。",
    "returned": "申报已退回，单位将看到退回理由。",
    "published": "考核结果已开始公示。",
    "rubric": "考核细则已添加，可在开启年度时选用。",
}


# --- who is signed in -------------------------------------------------------------------

class SignInRequired(Exception):
    pass


def signed_in(request: Request, service: KaoheApp) -> Actor:
    actor = sessions.actor_for(service.views, request.cookies.get(COOKIE))
    if actor is None:
        raise SignInRequired()
    READING_FOR.set(actor)  # the page's reads wait for this user's own writes (api.service.own_writes)
    wait_for_written(request, service)
    return actor


def guarded(handler: Callable[..., Response]) -> Callable[..., Response]:
    """No session → the sign-in page; a refusal the page cannot show in a form → a message page.
    A form's redirect names the store position it wrote, and the page it leads to waits for it (`written_cookie`)."""

    if inspect.iscoroutinefunction(handler):  # an upload reads its body itself (api.upload)
        @functools.wraps(handler)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Response:
            request: Request = kwargs["request"]
            try:
                return written_cookie(request, await handler(*args, **kwargs))
            except SignInRequired:
                return RedirectResponse("/?next=" + quote(request.url.path), status_code=303)
            except DomainError as e:
                return error_page(request, e)

        return async_wrapper

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        try:
            return written_cookie(request, handler(*args, **kwargs))
        except SignInRequired:
            return RedirectResponse("/?next=" + quote(request.url.path), status_code=303)
        except DomainError as e:
            return error_page(request, e)

    return wrapper


# The store position a form wrote, for the page its redirect leads to. With several server processes that page
# may be answered by another one, whose views have not shown the write yet: it waits for the position (bounded,
# as for an API read's Kaohe-Read-After), so the user sees what they have just done.
WRITTEN_COOKIE = "kaohe_written"
WRITTEN_FOR = 60  # seconds: the next page comes at once; later pages no longer need it


def written_cookie(request: Request, response: Response) -> Response:
    if request.method == "POST" and response.status_code == 303:
        service = the_service(request)
        position = service.own_writes.of(None, service.written_position)  # the signed-in user's own (signed_in)
        if position:
            response.set_cookie(WRITTEN_COOKIE, str(position), max_age=WRITTEN_FOR, httponly=True,
                                samesite="strict", path="/web", secure=served_over_https(request.scope))
    return response


def wait_for_written(request: Request, service: KaoheApp) -> None:
    """For a signed-in user's page (from `signed_in`): wait for the position its last form wrote."""
    raw = request.cookies.get(WRITTEN_COOKIE, "")
    if request.method == "GET" and raw.isascii() and raw.isdigit() and len(raw) < 19:
        service.fresh(int(raw))  # a position past the store's head is cut to the head


def error_page(request: Request, e: DomainError) -> Response:
    if isinstance(e, csrf.CsrfRefused):
        status, title = 403, "请求已拒绝"
        hint = "此表单不是从本站页面提交的，或页面已过期。请回到页面，刷新后重试。"
    elif isinstance(e, Unavailable):
        status, title = 503, "暂时无法保存"
        hint = "数据库暂时不能写入（如磁盘已满或只读），本次操作没有保存。查看功能不受影响，请稍后重试或联系管理员。"
    elif isinstance(e, Forbidden):
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
        actor = sessions.actor_for(service.views, request.cookies.get(COOKIE))
        year = current_year(service, actor) if actor else None
    except Exception:  # the message page must render even when the service cannot answer
        pass
    return templates.TemplateResponse(request, "error.html", {
        "actor": actor, "year": None, "nav": nav_for(actor, year) if actor else [], "status": status,
        "title": title, "hint": hint, "message": friendly(e.message, FIELD_LABELS)}, status_code=status)


def page_not_found(request: Request) -> Response:
    """An unknown /web address: the 404 page, in Chinese, in the frame (not the API's JSON)."""
    return error_page(request, NotFound(f"没有这个页面：{request.url.path}"))


# --- page frame -------------------------------------------------------------------------

def nav_for(actor: Actor, year: int | None, stage: str | None = None) -> list[tuple[str, str]]:
    if year is None:
        return [*([("/web/years", "考核年度")] if can(actor, "read_years") else []),
                *([("/web/tokens", "访问令牌")] if can(actor, "manage_tokens") else [])]
    base = f"/web/{year}"
    if actor.role == "district":
        d = quote(actor.district or "")
        items = [(f"{base}/districts/{d}", "得分明细"), (f"{base}/districts/{d}/submissions", "申报材料"),
                 (f"{base}/districts/{d}/history", "历史记录"), (f"{base}/districts/{d}/receipts", "回执"),
                 (f"{base}/disputes", "我的申诉")]
        return items + [(f"{base}/{path}", label) for path, label in pages_for(actor, stage)]  # 公示: the ranking
    items = [(f"{base}/{path}", label) for path, label in pages_for(actor, stage)]
    if can(actor, "read_years"):
        items.append(("/web/years", "考核年度"))
    if can(actor, "manage_tokens"):
        items.append(("/web/tokens", "访问令牌"))
    return items


def year_choices(request: Request, actor: Actor, year: int | None) -> list[dict[str, Any]]:
    """The year switcher: every year the actor takes part in, each linking to the same page of that year
    (or to the role's landing page when the page is not a year's)."""
    try:
        years = the_service(request).years()
    except DomainError:
        return []
    prefix = f"/web/{year}/" if year is not None else None
    path = request.url.path
    choices = []
    for y in years:
        if actor.role == "district" and actor.district not in y["districts"]:
            continue
        if prefix and path.startswith(prefix):
            href = f"/web/{y['year']}/" + path[len(prefix):]
        else:
            href = landing(actor, y["year"])
        choices.append({"year": y["year"], "closed": y["closed"], "href": href, "current": y["year"] == year})
    return choices


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
    stage = info["stage"] if info else None
    page = {"actor": actor, "year": year, "year_info": info, "nav": nav_for(actor, year, stage) if actor else [],
            "years": year_choices(request, actor, year) if actor else [],
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
    "rubric": "考核细则", "indicator": "指标", "clause": "条款", "measures": "数值", "file": "文件",
    "days": "公示天数", "dispute_days": "申诉期（工作日）",
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


def current_year(service: KaoheApp, actor: Actor | None = None) -> int | None:
    """The year a role lands on: the newest open one (for a district, one it is assessed in), else the newest."""
    years = service.years()
    if actor is not None and actor.role == "district":
        years = [y for y in years if actor.district in y["districts"]]
    open_years = [y["year"] for y in years if not y["closed"]]
    if open_years:
        return max(open_years)
    return max((y["year"] for y in years), default=None)


