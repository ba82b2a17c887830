"""Who acts (角色) and what each role may do: the role table of PRODUCT.md as small checks.

The application service calls these before every command, so the command line and HTTP
enforce the same rules. A refusal raises `Forbidden` and nothing is recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

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
SCORE_READERS = ("office", "department", "auditor", "admin")  # the ranking; a district reads only itself


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


def require_role(actor: Actor, *roles: str) -> None:
    if actor.role not in roles:
        raise Forbidden(
            f"角色 {actor.role} 无权执行此操作 (role {actor.role!r} may not do this; needs {' or '.join(roles)})"
        )


def is_responsible(actor: Actor, indicator: Indicator) -> bool:
    """Admin always; office and departments only for indicators listing them as 责任部门."""
    if actor.role == "admin":
        return True
    return actor.unit is not None and actor.unit in indicator.departments


def require_responsible(actor: Actor, indicator: Indicator, doing: str) -> None:
    if not is_responsible(actor, indicator):
        raise Forbidden(
            f"{actor.name} 不是指标 {indicator.id}（{indicator.name}）的责任部门，不能{doing}"
            f" (not responsible for indicator {indicator.id}: {', '.join(indicator.departments)})"
        )


def require_reader_of(actor: Actor, district: str) -> None:
    """A district reads only itself; every other role reads every district."""
    if actor.role == "district" and actor.district != district:
        raise Forbidden(f"只能查看本单位 ({actor.district}) 的数据 (a district reads only itself)")


def require_writer(actor: Actor) -> None:
    if actor.role == "auditor":
        raise Forbidden("审计角色只读 (an auditor writes nothing)")
