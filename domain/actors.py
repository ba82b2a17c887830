"""Who acts (角色) and what each role may do: the role table of PRODUCT.md, in one place.

Every "may this actor …" question is answered here: the application service enforces the
`require_*` checks before every command and read (so HTTP, the pages and the command line
refuse alike, recording nothing), and the pages only ask the `can_*` questions to decide
what to show. A refusal raises `Forbidden`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from domain.errors import Forbidden
from domain.rubric import Indicator

ROLES = ("office", "department", "district", "auditor", "admin")
ROLE_LABELS = {
    "office": "市总工会办公室",
    "department": "责任部门",
    "district": "区市县总工会",
    "auditor": "审计/纪检",
    "admin": "系统管理员",
}
OFFICE_DEPARTMENT = "办公室"

# Who may do what, by role alone; scope (an indicator's 责任部门, a district's own data) is checked below.
ROLE_TABLE: dict[str, frozenset[str]] = {
    "read_ranking": frozenset({"office", "department", "auditor", "admin"}),  # a district reads only itself
    "record_findings": frozenset({"office", "department", "admin"}),
    "resolve_disputes": frozenset({"office", "department", "admin"}),
    "sign_off": frozenset({"office", "department", "admin"}),
    "dispute": frozenset({"district"}),
    "run_office_workflows": frozenset({"office", "admin"}),  # meetings, reports, tasks (8.2, 8.5)
    "read_registers": frozenset({"office", "auditor", "admin"}),  # the meeting, report and task registers
    "export": frozenset({"office", "auditor", "admin"}),
    "verify": frozenset({"auditor", "admin"}),
    "manage_years": frozenset({"admin"}),
    "manage_tokens": frozenset({"admin"}),  # list and revoke tokens, read who made or revoked them
    "read_years": frozenset({"office", "department", "auditor", "admin"}),
    # The 通报 (results bulletin). Districts gain it during and after 公示 (publication): that
    # stage is decided where publication lives; by role alone they have it not.
    "read_bulletin": frozenset({"office", "auditor", "admin"}),
    "issue_bulletin": frozenset({"office", "admin"}),  # set the 通报's title, 文号 and date
    "upload_evidence": frozenset({"district", "office", "department", "admin"}),  # a district for itself only
    "submit_materials": frozenset({"district"}),  # 申报: a district for itself only
    "review_submissions": frozenset({"office", "department", "admin"}),  # return a 申报 on one's own indicators
    "read_submissions": frozenset({"office", "department", "auditor", "admin"}),  # the review queue
    "read_all_disputes": frozenset({"office", "auditor", "admin"}),  # the office sees every dispute
    "publish": frozenset({"admin"}),  # 公示
    "add_rubrics": frozenset({"admin"}),
    "read_log": frozenset(ROLES),  # checkpoints and proofs; full events only in scope (can_read_event)
    "cosign": frozenset({"auditor"}),  # a witness's cosignature of a checkpoint
}
# What a role may do besides, while the year is in a stage (domain.cycle.stage): during 公示 every
# district sees the whole ranking. The stage is the service's to find out; the rule lives here.
STAGE_GRANTS: dict[str, dict[str, frozenset[str]]] = {
    "publication": {"read_ranking": frozenset({"district"}), "read_bulletin": frozenset({"district"})},
}
SCORE_READERS = tuple(sorted(ROLE_TABLE["read_ranking"]))

# The pages of the web interface and the permission each needs (the navigation follows this table).
PAGES: tuple[tuple[str, str, str], ...] = (
    ("meetings", "会议点名", "read_registers"),  # the auditor reads the registers; writing asks run_office_workflows
    ("reports", "报送材料", "read_registers"),
    ("tasks", "临时任务", "read_registers"),
    ("assess", "指标考核", "record_findings"),
    ("submissions", "申报审核", "read_submissions"),
    ("disputes", "申诉处理", "resolve_disputes"),
    ("ranking", "成绩排名", "read_ranking"),
    ("bulletin", "结果通报", "read_bulletin"),
    ("verify", "历史校验", "verify"),
    ("close", "结束年度", "manage_years"),
)
PERMISSION_LABELS = {
    "read_ranking": "查看全部排名", "record_findings": "记录扣分事项", "resolve_disputes": "处理申诉",
    "sign_off": "核定指标", "dispute": "提出申诉", "run_office_workflows": "办理会议、报送和临时任务",
    "read_registers": "查看会议、报送和任务登记", "export": "导出工作簿", "verify": "校验历史",
    "manage_years": "开启和结束考核年度", "manage_tokens": "管理访问令牌", "read_years": "查看考核年度",
    "read_bulletin": "查看结果通报", "issue_bulletin": "设置结果通报的标题、文号和日期",
    "upload_evidence": "上传证明材料",
    "submit_materials": "申报指标材料", "review_submissions": "审核申报", "read_submissions": "查看申报审核",
    "read_all_disputes": "查看全部申诉", "publish": "公示考核结果", "add_rubrics": "添加考核细则",
    "read_log": "查看可验证日志", "cosign": "见证签署检查点",
}


@dataclass(frozen=True)
class Actor:
    name: str
    role: str
    department: str | None = None  # for role department
    district: str | None = None  # for role district

    def as_event(self) -> dict[str, str]:
        """How the actor is written into every event: name and role (and scope)."""
        data = {"name": self.name, "role": self.role}
        if self.department:
            data["department"] = self.department
        if self.district:
            data["district"] = self.district
        return data

    @property
    def unit(self) -> str | None:
        """The 责任部门 this actor speaks for: its department, or 办公室 for the office."""
        if self.role == "office":
            return OFFICE_DEPARTMENT
        return self.department if self.role == "department" else None

    @property
    def label(self) -> str:
        return ROLE_LABELS.get(self.role, self.role)


# --- questions (for pages and reads) ------------------------------------------------

def can(actor: Actor, permission: str, stage: str | None = None) -> bool:
    """By role; `stage` (the year's, where the question concerns one) adds what STAGE_GRANTS give."""
    if actor.role in ROLE_TABLE[permission]:
        return True
    return stage is not None and actor.role in STAGE_GRANTS.get(stage, {}).get(permission, frozenset())


def is_responsible(actor: Actor, indicator: Indicator | Mapping[str, Any]) -> bool:
    """Admin always; office and departments only for indicators listing them as 责任部门."""
    if actor.role == "admin":
        return True
    departments = indicator["departments"] if isinstance(indicator, Mapping) else indicator.departments
    return actor.unit is not None and actor.unit in departments


def can_record(actor: Actor, indicator: Indicator | Mapping[str, Any]) -> bool:
    return can(actor, "record_findings") and is_responsible(actor, indicator)


def can_resolve(actor: Actor, indicator: Indicator | Mapping[str, Any]) -> bool:
    return can(actor, "resolve_disputes") and is_responsible(actor, indicator)


def can_sign_off(actor: Actor, indicator: Indicator | Mapping[str, Any]) -> bool:
    return can(actor, "sign_off") and is_responsible(actor, indicator)


def can_retract(actor: Actor, recorded_by: Mapping[str, Any] | None) -> bool:
    """Who recorded a finding takes it back (the same role and department), or admin."""
    if actor.role == "admin":
        return True
    by = recorded_by or {}
    return (can(actor, "record_findings") and by.get("role") == actor.role
            and by.get("department") == actor.department)


def can_read_district(actor: Actor, district: str) -> bool:
    """A district reads only itself; every other role reads every district."""
    return actor.role != "district" or actor.district == district


def can_read_event(actor: Actor, kind: str | None, district: str | None) -> bool:
    """A stored event in full (the log's leaves): a district reads only its own ledger's; every other role all."""
    return actor.role != "district" or (kind == "DistrictLedger" and district == actor.district)


def can_dispute(actor: Actor, district: str) -> bool:
    """A district disputes only its own findings."""
    return can(actor, "dispute") and actor.district == district


def can_see_dispute(actor: Actor, district: str, departments: list[str] | tuple[str, ...]) -> bool:
    """The queue: a district sees its own disputes, a department those on its indicators, the office all."""
    if actor.role == "district":
        return actor.district == district
    if can(actor, "read_all_disputes"):
        return True
    return actor.unit in departments


def can_upload(actor: Actor, district: str) -> bool:
    """证明材料 for a district: the district itself, the office, departments, admin."""
    return can(actor, "upload_evidence") and (actor.role != "district" or actor.district == district)


def can_submit(actor: Actor, district: str) -> bool:
    """申报: a district for itself."""
    return can(actor, "submit_materials") and actor.district == district


def can_review(actor: Actor, indicator: Indicator | Mapping[str, Any]) -> bool:
    """Return a 申报 (or sign the indicator off): the indicator's 责任部门, or admin."""
    return can(actor, "review_submissions") and is_responsible(actor, indicator)


def can_read_submissions_of(actor: Actor, indicator: Indicator | Mapping[str, Any]) -> bool:
    """The review queue: a department and the office see their own indicators; auditor and admin all."""
    if not can(actor, "read_submissions"):
        return False
    return actor.role in ("auditor", "admin") or is_responsible(actor, indicator)


def pages_for(actor: Actor, stage: str | None = None) -> list[tuple[str, str]]:
    """The pages (path part, label) the actor's role may open (in the year's stage), in menu order."""
    return [(path, label) for path, label, permission in PAGES if can(actor, permission, stage)]


# --- checks (the service enforces these) -----------------------------------------------

def require(actor: Actor, permission: str, stage: str | None = None) -> None:
    if not can(actor, permission, stage):
        raise Forbidden(f"{actor.label}（{actor.name}）无权{PERMISSION_LABELS[permission]} "
                        f"(role {actor.role!r} may not {permission})")


def require_writer(actor: Actor) -> None:
    if actor.role == "auditor":
        raise Forbidden("审计角色只读 (an auditor writes nothing)")


def require_responsible(actor: Actor, indicator: Indicator, doing: str) -> None:
    if not is_responsible(actor, indicator):
        raise Forbidden(
            f"{actor.name} 不是指标 {indicator.id}（{indicator.name}）的责任部门，不能{doing}"
            f"（责任部门：{'、'.join(indicator.departments)}） (not responsible for indicator {indicator.id})"
        )


def require_reader_of(actor: Actor, district: str) -> None:
    if not can_read_district(actor, district):
        raise Forbidden(f"只能查看本单位 ({actor.district}) 的数据 (a district reads only itself)")


def require_retractor(actor: Actor, recorded_by: Mapping[str, Any] | None) -> None:
    if not can_retract(actor, recorded_by):
        raise Forbidden("只有记录该扣分事项的部门或管理员可以撤销 (only the recording role, or admin, may retract)")


def require_disputer(actor: Actor, district: str) -> None:
    require(actor, "dispute")
    if not can_dispute(actor, district):
        raise Forbidden("只能对本单位的扣分提出申诉 (a district disputes only its own findings)")


def require_uploader(actor: Actor, district: str) -> None:
    require(actor, "upload_evidence")
    if not can_upload(actor, district):
        raise Forbidden("只能为本单位上传证明材料 (a district uploads only for itself)")


def require_submitter(actor: Actor, district: str) -> None:
    require(actor, "submit_materials")
    if not can_submit(actor, district):
        raise Forbidden("只能为本单位申报 (a district submits only for itself)")
