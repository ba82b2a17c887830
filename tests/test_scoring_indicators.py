"""Scoring of every indicator of `dalian-2018`, checked against hand-computed values.

Every case in CASES carries the seed sentence (a verbatim piece of
`domain/rubrics/dalian-2018.seed.txt`, checked) its expected score is computed from;
the arithmetic is written next to it. All comparisons are exact `Decimal` equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from importlib import resources

import pytest

from api.service.rubric_files import load_rubric
from domain.findings import Finding, check_measures
from domain.scoring import DistrictScore, display, score_district

RUBRIC = load_rubric("dalian-2018")
SEED = resources.files("domain.rubrics").joinpath("dalian-2018.seed.txt").read_text("utf-8")
HUNDRED = Decimal("100")


# --- helpers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class X:
    """One finding to record: a clause, and for measured clauses its measures as strings."""

    clause: str
    measures: dict[str, str] = field(default_factory=dict)

    def __init__(self, clause: str, **measures: str):
        object.__setattr__(self, "clause", clause)
        object.__setattr__(self, "measures", measures)


def times(clause: str, n: int) -> list[X]:
    """n occurrences (missed meetings, late reports, unfinished tasks) on one clause."""
    return [X(clause) for _ in range(n)]


def build(*specs: X | list[X]) -> list[Finding]:
    """Findings f1, f2, … in history order; measures checked by the domain and Decimal."""
    flat: list[X] = []
    for spec in specs:
        flat.extend(spec if isinstance(spec, list) else [spec])
    findings = []
    for n, spec in enumerate(flat, 1):
        clause = RUBRIC.clause(spec.clause)
        measures = check_measures(clause, {k: Decimal(v) for k, v in spec.measures.items()})
        occurred_on = date(2018, 3, 1) + timedelta(days=n) if clause.kind == "occurrence" else None
        findings.append(Finding(id=f"f{n}", clause=spec.clause, occurred_on=occurred_on, measures=measures))
    return findings


def score(*specs: X | list[X], cancelled: tuple[str, ...] = ()) -> DistrictScore:
    return score_district(RUBRIC, build(*specs), cancelled)


def exactly(actual: Decimal, expected: str) -> None:
    assert isinstance(actual, Decimal), f"{actual!r} is not a Decimal"
    assert actual == Decimal(expected), f"{actual} != {expected}"


def quoted(seed_sentence: str) -> str:
    assert seed_sentence in SEED, f"not a verbatim piece of the seed: {seed_sentence!r}"
    return seed_sentence


# --- one table, every indicator --------------------------------------------------------
# (indicator, findings, expected indicator score, seed sentence). Arithmetic in comments.


def case(case_id, indicator, findings, expected, seed):
    return pytest.param(indicator, findings, expected, seed, id=case_id)


CASES = [
    # 1.1 有效推进工会改革 (10)
    # 以区市县委（开放先导区党工委）名义印发工会改革方案，未下发扣5分。 → 10 − 5
    case("1.1.a-no-plan", "1.1", [X("1.1.a")], "5",
         "以区市县委（开放先导区党工委）名义印发工会改革方案，未下发扣5分。"),
    # 年底前完成改革主要任务，未完成扣5分。 → 10 − 5
    case("1.1.b-not-done", "1.1", [X("1.1.b")], "5", "年底前完成改革主要任务，未完成扣5分。"),
    # both → 10 − 5 − 5
    case("1.1-both", "1.1", [X("1.1.a"), X("1.1.b")], "0", "未下发扣5分。"),

    # 2.1 职工教育 (3)
    # 方案制定1分，…缺少扣1分 → 3 − 1
    case("2.1.a-no-plan", "2.1", [X("2.1.a")], "2",
         "方案制定1分，结合本单位实际，制定主题宣传教育方案，缺少扣1分"),
    # 开展活动三项以上满分，二项0.7分，一项0.3分，没有0分 (clause 1 point): deduction 1 − earned
    case("2.1.b-3-full", "2.1", [X("2.1.b", activities="3")], "3", "开展活动三项以上满分"),
    case("2.1.b-7-full", "2.1", [X("2.1.b", activities="7")], "3", "开展活动三项以上满分"),
    case("2.1.b-2", "2.1", [X("2.1.b", activities="2")], "2.7", "二项0.7分"),  # 3 − (1 − 0.7)
    case("2.1.b-1", "2.1", [X("2.1.b", activities="1")], "2.3", "一项0.3分"),  # 3 − (1 − 0.3)
    case("2.1.b-0", "2.1", [X("2.1.b", activities="0")], "2", "没有0分"),  # 3 − 1
    # 阵地宣传1分，…开展活动三项以上满分，二项0.7分 → 3 − 0.3
    case("2.1.c-2", "2.1", [X("2.1.c", activities="2")], "2.7",
         "阵地宣传1分，积极通过板报、标语、电子屏幕、宣传栏、网络、微信平台等工会阵地宣传党的路线方针政策"),
    case("2.1.c-0", "2.1", [X("2.1.c", activities="0")], "2", "没有0分。"),
    # 3 − 1 − (1 − 0.3) − 1 = 0.3
    case("2.1-mixed", "2.1", [X("2.1.a"), X("2.1.b", activities="1"), X("2.1.c", activities="0")],
         "0.3", "开展活动三项以上满分，二项0.7分，一项0.3分，没有0分。"),

    # 2.2 典型培树和宣传 (2): 开展活动为2分，没有为0分。 → 0
    case("2.2.a-none", "2.2", [X("2.2.a")], "0", "开展活动为2分，没有为0分。"),

    # 2.3 职工书屋 (3): “三有”每缺一项扣1分。
    case("2.3.a", "2.3", [X("2.3.a")], "2", "有制度、有考核、有档案"),  # 3 − 1
    case("2.3-all-three", "2.3", [X("2.3.a"), X("2.3.b"), X("2.3.c")], "0", "“三有”每缺一项扣1分。"),

    # 2.4 文化广场 (2): “四有”每缺一项扣0.5分。
    case("2.4.c", "2.4", [X("2.4.c")], "1.5", "“四有”每缺一项扣0.5分。"),  # 2 − 0.5
    case("2.4-all-four", "2.4", [X("2.4.a"), X("2.4.b"), X("2.4.c"), X("2.4.d")], "0",
         "有负责人、有计划、有活动、有队伍"),

    # 3.1 劳动和技能竞赛 (3; clauses carry only 2)
    case("3.1.a", "3.1", [X("3.1.a")], "2", "年度未组织劳动和技能竞赛扣1分"),
    # 基层参与面低于50%扣1分: 50 is not below 50 → no deduction; 49.9 is → 3 − 1
    case("3.1.b-at-50", "3.1", [X("3.1.b", rate="50")], "3", "基层参与面低于50%扣1分"),
    case("3.1.b-49.9", "3.1", [X("3.1.b", rate="49.9")], "2", "基层参与面低于50%扣1分"),
    case("3.1.b-100", "3.1", [X("3.1.b", rate="100")], "3", "基层参与面低于50%扣1分"),

    # 3.2 创新工作室创建 (3; clauses carry only 2)
    case("3.2.a", "3.2", [X("3.2.a")], "2", "工作室助推资金未配套扣1分"),
    case("3.2.b-at-10", "3.2", [X("3.2.b", rate="10")], "3", "年度新增工作室数量低于10%扣1分"),
    case("3.2.b-9.9", "3.2", [X("3.2.b", rate="9.9")], "2", "年度新增工作室数量低于10%扣1分"),
    # both clauses lost: 3 − 2 = 1 (the indicator can never go below 1)
    case("3.2-both", "3.2", [X("3.2.a"), X("3.2.b", rate="0")], "1", "工作室助推资金未配套扣1分"),

    # 3.3 安康杯竞赛 (4): four items, 1 each
    case("3.3.a", "3.3", [X("3.3.a")], "3", "年度未组织竞赛扣1分"),
    case("3.3-b-d", "3.3", [X("3.3.b"), X("3.3.d")], "2",
         "工具包项目未推广扣1分；未开展事故隐患报告工作扣1分；未开展向职代会报告安全生产工作扣1分。"),
    case("3.3-all", "3.3", [X("3.3.a"), X("3.3.b"), X("3.3.c"), X("3.3.d")], "0", "年度未组织竞赛扣1分"),

    # 4.1 困难职工档案 (3)
    case("4.1.a", "4.1", [X("4.1.a")], "1", "原始档案不规范扣2分"),  # 3 − 2
    case("4.1.b", "4.1", [X("4.1.b")], "2", "动态管理不及时扣1分"),  # 3 − 1
    case("4.1-both", "4.1", [X("4.1.a"), X("4.1.b")], "0", "原始档案不规范扣2分，动态管理不及时扣1分。"),

    # 4.2 精准帮扶 (3)
    case("4.2.a", "4.2", [X("4.2.a")], "2", "未有主席办公会议纪要扣1分"),
    case("4.2-all", "4.2", [X("4.2.a"), X("4.2.b"), X("4.2.c")], "0",
         "未有主席办公会议纪要扣1分，没有实名制救助名单扣1分，没按时录入帮扶信息扣1分。"),

    # 4.3 农民工“六助” (3): six items, 0.5 each
    case("4.3.a", "4.3", [X("4.3.a")], "2.5", "开展助技能培训0.5分"),
    case("4.3-b-e", "4.3", [X("4.3.b"), X("4.3.e")], "2", "开展助就业创业0.5分"),
    case("4.3-all-six", "4.3", [X(f"4.3.{s}") for s in "abcdef"], "0", "开展助返连务工车票补贴0.5分"),
    case("4.3.d", "4.3", [X("4.3.d")], "2.5", "开展助法律服务0.5分"),
    case("4.3.f", "4.3", [X("4.3.f")], "2.5", "开展助返连务工车票补贴0.5分"),

    # 4.4 温馨家园 (3): …开展特色活动，每项各0.5分。
    case("4.4-b-d", "4.4", [X("4.4.b"), X("4.4.d")], "2", "开展特色活动，每项各0.5分。"),
    case("4.4-all-six", "4.4", [X(f"4.4.{s}") for s in "abcdef"], "0", "每项各0.5分。"),
    case("4.4.a", "4.4", [X("4.4.a")], "2.5", "年度“温馨家园”建设计划"),
    case("4.4.c", "4.4", [X("4.4.c")], "2.5", "建立区域微信或QQ工作群"),
    case("4.4.e-f", "4.4", [X("4.4.e"), X("4.4.f")], "2", "资产登记管理；开展特色活动，每项各0.5分。"),

    # 5.1 职工法制宣传教育 (2)
    case("5.1.a", "5.1", [X("5.1.a")], "1.5", "没有“七五”普法规划扣0.5分"),
    case("5.1.c", "5.1", [X("5.1.c")], "1", "年度内开展了职工普法宣传活动，未开展扣1分。"),
    case("5.1-all", "5.1", [X("5.1.a"), X("5.1.b"), X("5.1.c")], "0", "没有年度普法工作计划扣0.5分"),

    # 5.2 职工法律援助 (2): three items 0.4, service 0.8
    case("5.2.d", "5.2", [X("5.2.d")], "1.2", "未提供法律援助服务的扣0.8分"),  # 2 − 0.8
    case("5.2-a-b-c", "5.2", [X("5.2.a"), X("5.2.b"), X("5.2.c")], "0.8",  # 2 − 3×0.4
         "未成立本级工会职工法律援助中心扣0.4分，未制定职工法律援助工作制度扣0.4分，未组建职工法律援助志愿者队伍扣0.4分。"),
    case("5.2-all", "5.2", [X("5.2.a"), X("5.2.b"), X("5.2.c"), X("5.2.d")], "0", "扣0.8分"),

    # 5.3 劳动法律监督 (1)
    case("5.3.a", "5.3", [X("5.3.a")], "0.5", "未成立本级工会劳动法律监督委员会扣0.5分"),
    case("5.3-both", "5.3", [X("5.3.a"), X("5.3.b")], "0", "年度内未开展劳动法律监督扣0.5分。"),

    # 5.4 集体协商 (5)
    case("5.4.a", "5.4", [X("5.4.a")], "4", "无方案或通知扣1分。"),
    # 建制率…80%以上2分。其中，百人以上企业…90%以上。平均值每少1%扣0.2分，扣满2分为止
    # mean target (80+90)/2 = 85; only full 1% steps of the mean count.
    case("5.4.b-at-target", "5.4", [X("5.4.b", enterprise_rate="80", large_enterprise_rate="90")], "5",
         "平均值每少1%扣0.2分，扣满2分为止"),
    # mean 84 → 1 step → 5 − 0.2
    case("5.4.b-one-step", "5.4", [X("5.4.b", enterprise_rate="79", large_enterprise_rate="89")], "4.8",
         "平均值每少1%扣0.2分"),
    # mean 84.75 vs 85 → 0.25 → no full step → 5
    case("5.4.b-79.5/90", "5.4", [X("5.4.b", enterprise_rate="79.5", large_enterprise_rate="90")], "5",
         "平均值每少1%扣0.2分"),
    # mean 83.95 vs 85 → 1.05 → 1 full step → 5 − 0.2 (the sum of gaps is 2.1, but the seed says 平均值)
    case("5.4.b-77.9/90", "5.4", [X("5.4.b", enterprise_rate="77.9", large_enterprise_rate="90")], "4.8",
         "平均值每少1%扣0.2分"),
    # mean 82.95 vs 85 → 2.05 → 2 steps → 5 − 0.4
    case("5.4.b-77.9/88", "5.4", [X("5.4.b", enterprise_rate="77.9", large_enterprise_rate="88")], "4.6",
         "平均值每少1%扣0.2分"),
    # mean 80 → 5 steps → 1.0 → 4
    case("5.4.b-75/85", "5.4", [X("5.4.b", enterprise_rate="75", large_enterprise_rate="85")], "4",
         "平均值每少1%扣0.2分"),
    # mean 85 (100 over, 70 under) → 0
    case("5.4.b-100/70-mean", "5.4", [X("5.4.b", enterprise_rate="100", large_enterprise_rate="70")], "5",
         "平均值每少1%扣0.2分"),
    # 0 and 0 → 85 steps → 17 → 扣满2分为止 → 5 − 2
    case("5.4.b-cap", "5.4", [X("5.4.b", enterprise_rate="0", large_enterprise_rate="0")], "3",
         "扣满2分为止"),
    # 典型5个（2个行业、2个企业、1个区域）计1分,每少一个扣0.2分 — per slot type
    case("5.4.c-full", "5.4", [X("5.4.c", industry="2", enterprise="2", region="1")], "5",
         "当年培育选树集体协商典型5个（2个行业、2个企业、1个区域）计1分,每少一个扣0.2分"),
    # 1 industry (1 missing), 2 enterprise (0), 0 region (1) → 2 missing → 0.4
    case("5.4.c-1/2/0", "5.4", [X("5.4.c", industry="1", enterprise="2", region="0")], "4.6",
         "每少一个扣0.2分"),
    # 1/1/0 → 1 + 1 + 1 = 3 missing → 0.6
    case("5.4.c-1/1/0", "5.4", [X("5.4.c", industry="1", enterprise="1", region="0")], "4.4",
         "每少一个扣0.2分"),
    # all zero → 5 missing → 1.0 = the clause's 1 point
    case("5.4.c-none", "5.4", [X("5.4.c", industry="0", enterprise="0", region="0")], "4",
         "计1分,每少一个扣0.2分"),
    # 4 industry, 2 enterprise, 0 region: 6 typical cases but the region slot is still missing → 0.2
    case("5.4.c-extra-no-makeup", "5.4", [X("5.4.c", industry="4", enterprise="2", region="0")], "4.8",
         "（2个行业、2个企业、1个区域）"),
    # 女职工…全覆盖计1分，每少5%扣0.1分
    case("5.4.d-100", "5.4", [X("5.4.d", rate="100")], "5", "全覆盖计1分，每少5%扣0.1分"),
    case("5.4.d-95", "5.4", [X("5.4.d", rate="95")], "4.9", "每少5%扣0.1分"),  # 1 step
    case("5.4.d-95.1", "5.4", [X("5.4.d", rate="95.1")], "5", "每少5%扣0.1分"),  # 4.9 < 5: no step
    case("5.4.d-0-cap", "5.4", [X("5.4.d", rate="0")], "4", "全覆盖计1分"),  # 20 steps → 2 → cap 1
    # everything lost: 1 + 2 + 1 + 1 = 5
    case("5.4-all", "5.4", [X("5.4.a"), X("5.4.b", enterprise_rate="0", large_enterprise_rate="0"),
                            X("5.4.c", industry="0", enterprise="0", region="0"), X("5.4.d", rate="0")],
         "0", "无方案或通知扣1分。"),

    # 5.5 民主管理 (6)
    case("5.5.a", "5.5", [X("5.5.a")], "5.5", "未建扣0.5分"),
    case("5.5.b", "5.5", [X("5.5.b")], "5.5", "无规划扣0.5分"),
    # 占比达到10%以上，每少1%扣0.2分，扣满1分为止。
    case("5.5.c-at-10", "5.5", [X("5.5.c", rate="10")], "6", "占比达到10%以上，每少1%扣0.2分，扣满1分为止。"),
    case("5.5.c-9", "5.5", [X("5.5.c", rate="9")], "5.8", "每少1%扣0.2分，扣满1分为止。"),
    case("5.5.c-9.5", "5.5", [X("5.5.c", rate="9.5")], "6", "每少1%扣0.2分，扣满1分为止。"),
    case("5.5.c-7.9", "5.5", [X("5.5.c", rate="7.9")], "5.6", "每少1%扣0.2分，扣满1分为止。"),  # 2 steps
    case("5.5.c-0-cap", "5.5", [X("5.5.c", rate="0")], "5", "扣满1分为止。"),  # 10 steps → 2 → cap 1
    # 公有制 …分别实现动态全覆盖，平均值每少1%扣0.2分，扣满1分为止
    case("5.5.d-full", "5.5", [X("5.5.d", congress_rate="100", openness_rate="100")], "6",
         "分别实现动态全覆盖，平均值每少1%扣0.2分，扣满1分为止"),
    case("5.5.d-99/99", "5.5", [X("5.5.d", congress_rate="99", openness_rate="99")], "5.8",
         "平均值每少1%扣0.2分，扣满1分为止"),
    # mean 99.75 → no full step
    case("5.5.d-99.5/100", "5.5", [X("5.5.d", congress_rate="99.5", openness_rate="100")], "6",
         "平均值每少1%扣0.2分，扣满1分为止"),
    # mean 95 → 5 steps → 1.0 (exactly the cap)
    case("5.5.d-90/100", "5.5", [X("5.5.d", congress_rate="90", openness_rate="100")], "5",
         "平均值每少1%扣0.2分，扣满1分为止"),
    # 非公有制 …保持在90%以上，平均值每少1%扣0.2分，扣满2.6分为止
    case("5.5.e-at-90", "5.5", [X("5.5.e", congress_rate="90", openness_rate="90")], "6",
         "分别动态保持在90%以上，平均值每少1%扣0.2分，扣满2.6分为止"),
    case("5.5.e-89/89", "5.5", [X("5.5.e", congress_rate="89", openness_rate="89")], "5.8",
         "平均值每少1%扣0.2分，扣满2.6分为止"),
    case("5.5.e-80/80", "5.5", [X("5.5.e", congress_rate="80", openness_rate="80")], "4",  # 10 steps → 2
         "平均值每少1%扣0.2分，扣满2.6分为止"),
    case("5.5.e-70/80-cap", "5.5", [X("5.5.e", congress_rate="70", openness_rate="80")], "3.4",  # 15 → 3 → 2.6
         "扣满2.6分为止"),
    case("5.5.f", "5.5", [X("5.5.f")], "5.6", "未调查或底数不清扣0.4分。"),
    # 0.5 + 0.5 + 1 + 1 + 2.6 + 0.4 = 6
    case("5.5-all", "5.5", [X("5.5.a"), X("5.5.b"), X("5.5.c", rate="0"),
                            X("5.5.d", congress_rate="0", openness_rate="0"),
                            X("5.5.e", congress_rate="0", openness_rate="0"), X("5.5.f")],
         "0", "扣满2.6分为止"),

    # 6.1 工会组建及换届选举 (5; clauses carry 5.5)
    # 企业建会率…93%以上；职工入会率…93%以上合计2分，平均值每少1%扣0.5分
    case("6.1.a-at-93", "6.1", [X("6.1.a", enterprise_rate="93", member_rate="93")], "5",
         "企业建会率保持在93%以上；职工入会率动态保持在93%以上合计2分，平均值每少1%扣0.5分"),
    case("6.1.a-92/93", "6.1", [X("6.1.a", enterprise_rate="92", member_rate="93")], "5",  # mean 92.5
         "平均值每少1%扣0.5分"),
    case("6.1.a-92/92", "6.1", [X("6.1.a", enterprise_rate="92", member_rate="92")], "4.5",  # 1 step
         "平均值每少1%扣0.5分"),
    case("6.1.a-90/92", "6.1", [X("6.1.a", enterprise_rate="90", member_rate="92")], "4",  # mean 91 → 2
         "平均值每少1%扣0.5分"),
    case("6.1.a-89/89", "6.1", [X("6.1.a", enterprise_rate="89", member_rate="89")], "3",  # 4 steps = 2
         "合计2分，平均值每少1%扣0.5分"),
    case("6.1.a-0-cap", "6.1", [X("6.1.a", enterprise_rate="0", member_rate="0")], "3",  # 93 steps → cap 2
         "合计2分，平均值每少1%扣0.5分"),
    # 完成职工入会服务站建设任务0.5分，完成率每少5%扣0.1分
    case("6.1.b-95", "6.1", [X("6.1.b", rate="95")], "4.9", "完成职工入会服务站建设任务0.5分，完成率每少5%扣0.1分"),
    case("6.1.b-96", "6.1", [X("6.1.b", rate="96")], "5", "完成率每少5%扣0.1分"),
    case("6.1.b-0-cap", "6.1", [X("6.1.b", rate="0")], "4.5", "完成职工入会服务站建设任务0.5分"),
    case("6.1.c", "6.1", [X("6.1.c")], "4.7", "本级按期换届0.3分"),
    # 乡镇街（委办局）、所属基层按期换届每少5%扣0.1分 — mean of the two (cap 0.7)
    case("6.1.d-90/100", "6.1", [X("6.1.d", township_rate="90", grassroots_rate="100")], "4.9",
         "乡镇街（委办局）、所属基层按期换届每少5%扣0.1分"),
    case("6.1.d-0-cap", "6.1", [X("6.1.d", township_rate="0", grassroots_rate="0")], "4.3",
         "换届选举1分，本级按期换届0.3分"),
    case("6.1.e-90", "6.1", [X("6.1.e", rate="90")], "4.8",
         "经费独立基层工会经审会建制率达到100%计1分，每少5%扣0.1分"),
    case("6.1.f-85", "6.1", [X("6.1.f", rate="85")], "4.7",
         "女职工组织在已建工会且有女职工的单位中的动态全覆盖计1分，每少5%扣0.1分"),
    case("6.1.f-0-cap", "6.1", [X("6.1.f", rate="0")], "4", "动态全覆盖计1分"),

    # 6.2 自身建设创新工作实事项目 (3)
    # 不少于2名兼职副主席、1名挂职副主席，每少1人扣0.1分
    case("6.2.a-full", "6.2", [X("6.2.a", part_time="2", seconded="1")], "3",
         "领导班子配备不少于2名兼职副主席、1名挂职副主席，每少1人扣0.1分"),
    case("6.2.a-1/1", "6.2", [X("6.2.a", part_time="1", seconded="1")], "2.9", "每少1人扣0.1分"),
    case("6.2.a-0/0", "6.2", [X("6.2.a", part_time="0", seconded="0")], "2.7", "每少1人扣0.1分"),
    # five part-time do not replace the missing seconded one
    case("6.2.a-5/0", "6.2", [X("6.2.a", part_time="5", seconded="0")], "2.9", "1名挂职副主席"),
    case("6.2.b", "6.2", [X("6.2.b")], "2.8", "按时足额发放乡镇街工会专项补助0.2分，未完成扣0.2分。"),
    case("6.2.c", "6.2", [X("6.2.c")], "2.5", "按时完成创新项目0.5分"),
    case("6.2-d-g", "6.2", [X("6.2.d"), X("6.2.e"), X("6.2.f"), X("6.2.g")], "1",
         "按要求完成实事项目2分，年初立项、规范运行、按期完成、通过验收各0.5分"),
    # 0.3 + 0.2 + 0.5 + 2 = 3
    case("6.2-all", "6.2", [X("6.2.a", part_time="0", seconded="0"), X("6.2.b"), X("6.2.c"),
                            X("6.2.d"), X("6.2.e"), X("6.2.f"), X("6.2.g")], "0", "自身建设0.5分"),

    # 6.3 建家评家 (3; clauses carry 2.5)
    case("6.3.a", "6.3", [X("6.3.a")], "2.4", "按要求制定职工之家建设实施方案0.6分"),
    # 年度AAA等级达到4%以上0.3分: 4 keeps it, 3.9 loses it
    case("6.3.b-at-4", "6.3", [X("6.3.b", rate="4")], "3", "年度AAA等级达到4%以上0.3分"),
    case("6.3.b-3.9", "6.3", [X("6.3.b", rate="3.9")], "2.7", "年度AAA等级达到4%以上0.3分"),
    case("6.3.c-at-12", "6.3", [X("6.3.c", rate="12")], "3", "AA等级达12%以上0.2分"),
    case("6.3.c-11.9", "6.3", [X("6.3.c", rate="11.9")], "2.8", "AA等级达12%以上0.2分"),
    case("6.3.d-at-16", "6.3", [X("6.3.d", rate="16")], "3", "A等级达到16%以上0.2分"),
    case("6.3.d-15.9", "6.3", [X("6.3.d", rate="15.9")], "2.8", "A等级达到16%以上0.2分"),
    case("6.3.e", "6.3", [X("6.3.e")], "2.8", "经抽查考核，申报认证工作规范严谨、成效好0.2分"),
    case("6.3-f-h", "6.3", [X("6.3.f"), X("6.3.g"), X("6.3.h")], "2.4",
         "按要求制定会员评家实施方案0.2分；指导基层规范开展会员评家工作0.2分，选树评家典型0.2分"),
    case("6.3.i-at-75", "6.3", [X("6.3.i", rate="75")], "3", "年度基层工会会员评家比例达到75%以上0.4分"),
    case("6.3.i-74.9", "6.3", [X("6.3.i", rate="74.9")], "2.6", "年度基层工会会员评家比例达到75%以上0.4分"),
    # every clause lost: 1.5 + 1 = 2.5 → 3 − 2.5 = 0.5 (the indicator never reaches 0)
    case("6.3-all", "6.3", [X("6.3.a"), X("6.3.b", rate="0"), X("6.3.c", rate="0"), X("6.3.d", rate="0"),
                            X("6.3.e"), X("6.3.f"), X("6.3.g"), X("6.3.h"), X("6.3.i", rate="0")],
         "0.5", "职工之家建设1.5分"),

    # 6.4 工会干部培训 (1)
    case("6.4.a", "6.4", [X("6.4.a")], "0.8", "按要求制定年度工会干部培训方案0.2分"),
    # 未举办培训班0分、举办1至2期培训班次0.2分、举办3期以上培训班次0.4分 (clause 0.4)
    case("6.4.b-3", "6.4", [X("6.4.b", sessions="3")], "1", "举办3期以上培训班次0.4分"),
    case("6.4.b-9", "6.4", [X("6.4.b", sessions="9")], "1", "举办3期以上培训班次0.4分"),
    case("6.4.b-2", "6.4", [X("6.4.b", sessions="2")], "0.8", "举办1至2期培训班次0.2分"),
    case("6.4.b-1", "6.4", [X("6.4.b", sessions="1")], "0.8", "举办1至2期培训班次0.2分"),
    case("6.4.b-0", "6.4", [X("6.4.b", sessions="0")], "0.6", "未举办培训班0分"),
    # 年度培训人次达到所属基层工会干部的1/5以上0.4分 → 20%
    case("6.4.c-at-20", "6.4", [X("6.4.c", rate="20")], "1", "年度培训人次达到所属基层工会干部的1/5以上0.4分"),
    case("6.4.c-19.9", "6.4", [X("6.4.c", rate="19.9")], "0.6", "年度培训人次达到所属基层工会干部的1/5以上0.4分"),
    case("6.4-all", "6.4", [X("6.4.a"), X("6.4.b", sessions="0"), X("6.4.c", rate="0")], "0",
         "未完成按项扣分。"),

    # 7.1 预算管理 (2.5)
    case("7.1.a", "7.1", [X("7.1.a")], "0.5", "完成本级工会年度预算编制，获得市总批复。完成计2分，未完成0分。"),
    case("7.1.b", "7.1", [X("7.1.b")], "2", "完成所属基层工会预算审批。完成计0.5分，未完成0分。"),
    case("7.1-both", "7.1", [X("7.1.a"), X("7.1.b")], "0", "完成计0.5分，未完成0分。"),

    # 7.2 决算管理 (2.5)
    case("7.2.a", "7.2", [X("7.2.a")], "0.5", "完成本级工会年度决算编制，获得市总批复。完成计2分，未完成0分。"),
    case("7.2.b", "7.2", [X("7.2.b")], "2", "完成所属基层工会决算审批。完成计0.5分，未完成0分。"),
    case("7.2-both", "7.2", [X("7.2.a"), X("7.2.b")], "0", "完成所属基层工会决算审批。"),

    # 7.3 构建工会经审监督体系 (2)
    case("7.3.a", "7.3", [X("7.3.a")], "1", "每年对本级工会经费预算执行情况进行审计1分。"),
    # …审计，每少10%扣0.25分。
    case("7.3.b-100", "7.3", [X("7.3.b", rate="100")], "2", "每少10%扣0.25分。"),
    case("7.3.b-95", "7.3", [X("7.3.b", rate="95")], "2", "每少10%扣0.25分。"),  # no full step
    case("7.3.b-90", "7.3", [X("7.3.b", rate="90")], "1.75", "每少10%扣0.25分。"),
    case("7.3.b-80", "7.3", [X("7.3.b", rate="80")], "1.5", "每少10%扣0.25分。"),
    case("7.3.b-0-cap", "7.3", [X("7.3.b", rate="0")], "1", "每少10%扣0.25分。"),  # 10 steps → 2.5 → 1

    # 7.4 达到届期内审计全覆盖 (3): 不少于30家，每年每少5家扣1分。
    case("7.4-30", "7.4", [X("7.4.a", count="30")], "3", "不少于30家，每年每少5家扣1分。"),
    case("7.4-45", "7.4", [X("7.4.a", count="45")], "3", "不少于30家"),
    case("7.4-26", "7.4", [X("7.4.a", count="26")], "3", "每年每少5家扣1分。"),  # 4 short: no full 5
    case("7.4-25", "7.4", [X("7.4.a", count="25")], "2", "每年每少5家扣1分。"),
    case("7.4-21", "7.4", [X("7.4.a", count="21")], "2", "每年每少5家扣1分。"),  # 9 short: 1 step
    case("7.4-20", "7.4", [X("7.4.a", count="20")], "1", "每年每少5家扣1分。"),
    case("7.4-15", "7.4", [X("7.4.a", count="15")], "0", "每年每少5家扣1分。"),
    case("7.4-0-cap", "7.4", [X("7.4.a", count="0")], "0", "每年每少5家扣1分。"),  # 6 steps → cap 3

    # 8.1 调研工作 (3): 有专人负责、有推动调研工作机制、有调研成果各1分。
    case("8.1.c", "8.1", [X("8.1.c")], "2", "有专人负责、有推动调研工作机制、有调研成果各1分。"),
    case("8.1-all", "8.1", [X("8.1.a"), X("8.1.b"), X("8.1.c")], "0", "有调研成果各1分。"),

    # 8.2 督查工作 (4): 报送…2分，每少一次扣0.5分；派员参加…2分，每少一次扣0.5分
    case("8.2.a-1", "8.2", times("8.2.a", 1), "3.5", "按时报送半年、全年工作总结及相关督察材料2分，每少一次扣0.5分"),
    case("8.2.a-4", "8.2", times("8.2.a", 4), "2", "每少一次扣0.5分"),
    case("8.2.a-5-cap", "8.2", times("8.2.a", 5), "2", "督察材料2分，每少一次扣0.5分"),
    case("8.2.b-5-cap", "8.2", times("8.2.b", 5), "2", "按要求派员参加市总各项活动和会议2分，每少一次扣0.5分"),
    case("8.2-3+1", "8.2", times("8.2.a", 3) + times("8.2.b", 1), "2", "每少一次扣0.5分"),  # 4 − 1.5 − 0.5
    case("8.2-both-capped", "8.2", times("8.2.a", 6) + times("8.2.b", 5), "0", "每少一次扣0.5分"),

    # 8.3 联席会议制度 (5)
    case("8.3.c", "8.3", [X("8.3.c")], "4", "召开会议1分"),
    case("8.3-c-f", "8.3", [X("8.3.c"), X("8.3.d"), X("8.3.e"), X("8.3.f")], "1",
         "召开会议1分，形成纪要1分，解决问题1分，长效机制1分。"),
    case("8.3-gate", "8.3", [X("8.3.b")], "0", "（未建立或未开展活动5分全扣）"),

    # 8.4 工青妇协同创新发展 (5): 未通过考核验收每少5%扣1分
    case("8.4-100", "8.4", [X("8.4.a", rate="100")], "5", "按要求完成试点任务，未通过考核验收每少5%扣1分"),
    case("8.4-96", "8.4", [X("8.4.a", rate="96")], "5", "未通过考核验收每少5%扣1分"),
    case("8.4-95", "8.4", [X("8.4.a", rate="95")], "4", "未通过考核验收每少5%扣1分"),
    case("8.4-80", "8.4", [X("8.4.a", rate="80")], "1", "未通过考核验收每少5%扣1分"),
    case("8.4-75", "8.4", [X("8.4.a", rate="75")], "0", "未通过考核验收每少5%扣1分"),
    case("8.4-0-cap", "8.4", [X("8.4.a", rate="0")], "0", "未通过考核验收每少5%扣1分"),
    case("8.4-exempt", "8.4", [X("8.4.b")], "5", "未开展试点任务不扣分。"),

    # 8.5 上级工会临时交办任务 (3): 每次扣1分，扣完为止。
    case("8.5-1", "8.5", times("8.5.a", 1), "2", "未能完成上级工会临时交办任务每次扣1分，扣完为止。"),
    case("8.5-3", "8.5", times("8.5.a", 3), "0", "每次扣1分，扣完为止。"),
    case("8.5-4-cap", "8.5", times("8.5.a", 4), "0", "扣完为止。"),
]


def test_every_indicator_has_a_case():
    covered = {p.values[0] for p in CASES}
    assert covered == {i.id for i in RUBRIC.indicators}
    assert len(covered) == 30


def test_case_ids_are_unique():
    ids = [p.id for p in CASES]
    assert len(ids) == len(set(ids))


@pytest.mark.parametrize("indicator_id, findings, expected, seed", CASES)
def test_indicator_score(indicator_id, findings, expected, seed):
    quoted(seed)
    for spec in findings:
        assert spec.clause.startswith(indicator_id + "."), "a case stays inside its indicator"
    result = score(findings)
    points = RUBRIC.indicator(indicator_id).points
    exactly(result.indicator(indicator_id).score, expected)
    exactly(result.indicator(indicator_id).deduction, str(points - Decimal(expected)))
    # the deduction reaches no other indicator
    for other in result.indicators:
        if other.id != indicator_id:
            exactly(other.score, str(RUBRIC.indicator(other.id).points))
    exactly(result.total, str(HUNDRED - points + Decimal(expected)))


# --- caps, flags, gates, exemptions ----------------------------------------------------


def test_8_2_b_five_missed_meetings_lose_only_2():
    # 按要求派员参加市总各项活动和会议2分，每少一次扣0.5分: 5 × 0.5 = 2.5 → capped at 2
    quoted("按要求派员参加市总各项活动和会议2分，每少一次扣0.5分")
    result = score(times("8.2.b", 5))
    clause = result.indicator("8.2").clause("8.2.b")
    exactly(clause.deduction, "2")
    exactly(result.indicator("8.2").score, "2")
    assert clause.counted == ("f1", "f2", "f3", "f4")  # the fifth costs nothing more
    assert len(clause.findings) == 5


def test_8_5_four_unfinished_tasks_lose_3():
    quoted("未能完成上级工会临时交办任务每次扣1分，扣完为止。")
    result = score(times("8.5.a", 4))
    exactly(result.indicator("8.5").clause("8.5.a").deduction, "3")
    exactly(result.indicator("8.5").score, "0")
    assert result.indicator("8.5").clause("8.5.a").counted == ("f1", "f2", "f3")
    exactly(result.total, "97")


@pytest.mark.parametrize("clause_id, indicator_id, expected", [
    ("2.3.a", "2.3", "2"),  # “三有”每缺一项扣1分
    ("4.3.c", "4.3", "2.5"),  # 开展助工资清欠0.5分
    ("8.3.d", "8.3", "4"),  # 形成纪要1分
])
def test_same_flag_twice_deducts_once(clause_id, indicator_id, expected):
    result = score(X(clause_id), X(clause_id))
    clause = result.indicator(indicator_id).clause(clause_id)
    exactly(clause.deduction, str(RUBRIC.clause(clause_id).points))
    assert clause.counted == ("f1",)
    assert len(clause.findings) == 2  # both stay in the history
    exactly(result.indicator(indicator_id).score, expected)


def test_6_1_floors_at_zero_although_its_clauses_deduct_5_5():
    # 合计2分 + 0.5分 + 0.3分 + 0.7 (换届选举1分 − 0.3) + 1分 + 1分 = 5.5 for an indicator of 5
    quoted("换届选举1分，本级按期换届0.3分")
    result = score(
        X("6.1.a", enterprise_rate="0", member_rate="0"),
        X("6.1.b", rate="0"),
        X("6.1.c"),
        X("6.1.d", township_rate="0", grassroots_rate="0"),
        X("6.1.e", rate="0"),
        X("6.1.f", rate="0"),
    )
    indicator = result.indicator("6.1")
    deductions = {c.id: c.deduction for c in indicator.clauses}
    assert deductions == {
        "6.1.a": Decimal("2"), "6.1.b": Decimal("0.5"), "6.1.c": Decimal("0.3"),
        "6.1.d": Decimal("0.7"), "6.1.e": Decimal("1"), "6.1.f": Decimal("1"),
    }
    exactly(sum(deductions.values(), Decimal(0)), "5.5")
    exactly(indicator.deduction, "5")
    exactly(indicator.score, "0")
    # the surplus 0.5 does not reach 6.2–6.4 nor the total
    for other in ("6.2", "6.3", "6.4"):
        exactly(result.indicator(other).score, str(RUBRIC.indicator(other).points))
    exactly(result.total, "95")


def test_6_1_a_per_0_5_per_percent_capped_at_2():
    quoted("平均值每少1%扣0.5分")
    for rates, deduction in [(("93", "93"), "0"), (("92", "92"), "0.5"), (("91", "91"), "1"),
                             (("90", "90"), "1.5"), (("89", "89"), "2"), (("88", "88"), "2"),
                             (("50", "10"), "2")]:
        result = score(X("6.1.a", enterprise_rate=rates[0], member_rate=rates[1]))
        exactly(result.indicator("6.1").clause("6.1.a").deduction, deduction)


def test_8_3_gate_takes_all_five_alone():
    quoted("建立制度1分，（未建立或未开展活动5分全扣）")
    result = score(X("8.3.b"))
    indicator = result.indicator("8.3")
    assert indicator.gated
    exactly(indicator.deduction, "5")
    exactly(indicator.score, "0")
    exactly(result.total, "95")


def test_8_3_gate_with_other_flags_still_five_not_more():
    result = score(X("8.3.c"), X("8.3.b"), X("8.3.a"), X("8.3.d"), X("8.3.e"), X("8.3.f"))
    indicator = result.indicator("8.3")
    exactly(indicator.deduction, "5")
    exactly(indicator.score, "0")
    for other in ("8.1", "8.2", "8.4", "8.5"):
        exactly(result.indicator(other).score, str(RUBRIC.indicator(other).points))
    exactly(result.total, "95")


def test_8_3_retracting_the_gate_leaves_the_flags():
    result = score(X("8.3.b"), X("8.3.c"), cancelled=("f1",))
    assert not result.indicator("8.3").gated
    exactly(result.indicator("8.3").score, "4")


def test_8_4_exemption_gives_full_five_despite_a_shortfall():
    # 按要求完成试点任务，未通过考核验收每少5%扣1分，未开展试点任务不扣分。
    quoted("按要求完成试点任务，未通过考核验收每少5%扣1分，未开展试点任务不扣分。")
    result = score(X("8.4.a", rate="50"), X("8.4.b"))
    indicator = result.indicator("8.4")
    assert indicator.exempt
    exactly(indicator.score, "5")
    exactly(indicator.deduction, "0")
    exactly(indicator.clause("8.4.a").deduction, "0")
    exactly(result.total, "100")


def test_8_4_without_the_exemption_the_shortfall_counts():
    result = score(X("8.4.a", rate="50"), X("8.4.b"), cancelled=("f2",))
    exactly(result.indicator("8.4").score, "0")  # 10 steps → 10 → capped at 5


def test_7_3_c_exempts_7_3_b_but_not_7_3_a():
    # 证明材料: 区市县及开放先导区街道没有直属企事业单位和成立总工会的，由本级工会证明材料确认。
    quoted("区市县及开放先导区街道没有直属企事业单位和成立总工会的，由本级工会证明材料确认。")
    result = score(X("7.3.a"), X("7.3.b", rate="50"), X("7.3.c"))
    indicator = result.indicator("7.3")
    exactly(indicator.clause("7.3.b").deduction, "0")
    assert indicator.clause("7.3.b").exempt
    exactly(indicator.clause("7.3.a").deduction, "1")  # 每年对本级工会经费预算执行情况进行审计1分。
    exactly(indicator.score, "1")
    assert not indicator.exempt


def test_7_3_b_without_the_exemption():
    result = score(X("7.3.a"), X("7.3.b", rate="50"))
    # 1 + 5 steps × 0.25 = 1.25 → 7.3.b capped at its 1 point → 2 − 2
    exactly(result.indicator("7.3").clause("7.3.b").deduction, "1")
    exactly(result.indicator("7.3").score, "0")


# --- history: newest measurement, retraction --------------------------------------------


def test_newest_measurement_wins():
    # 5.4.d 每少5%扣0.1分: 80 → 4 steps → 0.4, then 100 → 0
    result = score(X("5.4.d", rate="80"), X("5.4.d", rate="100"))
    clause = result.indicator("5.4").clause("5.4.d")
    exactly(clause.deduction, "0")
    assert clause.counted == ("f2",)
    assert [f.id for f in clause.findings] == ["f1", "f2"]  # both stay in the history
    exactly(result.indicator("5.4").score, "5")


def test_newest_measurement_wins_also_when_worse():
    result = score(X("5.4.d", rate="100"), X("5.4.d", rate="80"))
    clause = result.indicator("5.4").clause("5.4.d")
    exactly(clause.deduction, "0.4")
    assert clause.counted == ("f2",)
    exactly(result.indicator("5.4").score, "4.6")


def test_newest_measurement_wins_on_a_tiered_and_a_threshold_clause():
    result = score(X("2.1.b", activities="0"), X("2.1.b", activities="2"),
                   X("6.3.i", rate="80"), X("6.3.i", rate="70"))
    assert result.indicator("2.1").clause("2.1.b").counted == ("f2",)
    exactly(result.indicator("2.1").score, "2.7")
    assert result.indicator("6.3").clause("6.3.i").counted == ("f4",)
    exactly(result.indicator("6.3").score, "2.6")


def test_retracting_the_newest_measurement_brings_back_the_older():
    result = score(X("5.4.d", rate="80"), X("5.4.d", rate="100"), cancelled=("f2",))
    clause = result.indicator("5.4").clause("5.4.d")
    exactly(clause.deduction, "0.4")
    assert clause.counted == ("f1",)


def test_retraction_removes_the_deduction():
    quoted("未下发扣5分。")
    exactly(score(X("1.1.a")).indicator("1.1").score, "5")
    result = score(X("1.1.a"), cancelled=("f1",))
    exactly(result.indicator("1.1").score, "10")
    exactly(result.total, "100")
    assert result.indicator("1.1").clause("1.1.a").findings == ()


def test_retracting_one_of_two_same_flags_still_deducts_once():
    result = score(X("2.3.a"), X("2.3.a"), cancelled=("f1",))
    clause = result.indicator("2.3").clause("2.3.a")
    exactly(clause.deduction, "1")
    assert clause.counted == ("f2",)


def test_retracting_an_occurrence():
    result = score(times("8.5.a", 3), cancelled=("f2",))
    clause = result.indicator("8.5").clause("8.5.a")
    exactly(clause.deduction, "2")
    assert clause.counted == ("f1", "f3")
    exactly(result.indicator("8.5").score, "1")


def test_retracting_below_the_cap_lets_a_capped_occurrence_count():
    # five missed meetings, one retracted: four remain → still 2
    result = score(times("8.2.b", 5), cancelled=("f1",))
    clause = result.indicator("8.2").clause("8.2.b")
    exactly(clause.deduction, "2")
    assert clause.counted == ("f2", "f3", "f4", "f5")


# --- isolation, totals, display --------------------------------------------------------


def test_one_indicators_deductions_never_reach_another():
    # 3.2 clauses lost (2 of 3), 6.3 all lost (2.5 of 3), 8.3 gated: nothing else moves
    result = score(
        X("3.2.a"), X("3.2.b", rate="5"), X("8.3.b"), X("8.3.a"),
        X("6.3.a"), X("6.3.b", rate="0"), X("6.3.c", rate="0"), X("6.3.d", rate="0"), X("6.3.e"),
        X("6.3.f"), X("6.3.g"), X("6.3.h"), X("6.3.i", rate="0"),
    )
    expected = {"3.2": "1", "6.3": "0.5", "8.3": "0"}
    for indicator in result.indicators:
        points = RUBRIC.indicator(indicator.id).points
        exactly(indicator.score, expected.get(indicator.id, str(points)))
    exactly(result.total, "90.5")  # 100 − 2 − 2.5 − 5


def test_total_is_the_exact_sum_of_indicator_scores():
    result = score(
        X("1.1.a"),                                                  # −5
        X("2.1.b", activities="2"),                                  # −0.3
        X("2.4.a"),                                                  # −0.5
        X("5.4.b", enterprise_rate="77.9", large_enterprise_rate="90"),  # −0.2
        X("6.1.a", enterprise_rate="0", member_rate="0"), X("6.1.b", rate="0"), X("6.1.c"),
        X("6.1.d", township_rate="0", grassroots_rate="0"), X("6.1.e", rate="0"),
        X("6.1.f", rate="0"),                                        # −5 (not 5.5)
        X("6.2.a", part_time="0", seconded="0"),                     # −0.3
        X("6.3.b", rate="3.9"),                                      # −0.3
        X("7.3.b", rate="90"),                                       # −0.25
        X("7.4.a", count="26"),                                      # 0
        times("8.2.a", 3),                                           # −1.5
        times("8.5.a", 1),                                           # −1
    )
    # 100 − (5 + 0.3 + 0.5 + 0.2 + 5 + 0.3 + 0.3 + 0.25 + 1.5 + 1) = 100 − 14.35
    exactly(result.total, "85.65")
    exactly(sum((i.score for i in result.indicators), Decimal(0)), "85.65")
    exactly(sum((c.score for c in result.categories), Decimal(0)), "85.65")
    for category in result.categories:
        exactly(category.score, str(sum((i.score for i in category.indicators), Decimal(0))))
    assert result.total == sum((i.score for i in result.indicators), Decimal(0))
    assert str(result.indicator("6.2").score) == "2.7"  # 3 − 3 × 0.1, no 2.6999999…
    assert str(display(result.total)) == "85.65"


@pytest.mark.parametrize("value, shown", [
    ("85.65", "85.65"),
    ("100", "100.00"),
    ("0.125", "0.13"),  # half-up, not half-even (0.12)
    ("2.675", "2.68"),  # float arithmetic would give 2.67
    ("0.1249", "0.12"),  # rounded once: not 0.1249 → 0.125 → 0.13
    ("1.005", "1.01"),
    ("0.3", "0.30"),
])
def test_display_rounds_half_up_to_two_decimals_once(value, shown):
    got = display(Decimal(value))
    assert isinstance(got, Decimal)
    assert str(got) == shown


def test_display_does_not_change_the_exact_total():
    result = score(X("7.3.b", rate="90"))  # −0.25
    exactly(result.total, "99.75")
    assert str(display(result.total)) == "99.75"
    assert result.total == Decimal("99.75")


# --- readings the rubric data settles with void_when / triggered_by -------------------


def test_3_1_b_does_not_deduct_when_no_competition_was_organised():
    quoted("年度未组织劳动和技能竞赛扣1分；组织劳动和技能竞赛，基层参与面低于50%扣1分。")
    result = score(X("3.1.a"), X("3.1.b", rate="0"))
    exactly(result.indicator("3.1").score, "2")


def test_8_3_a_not_established_takes_all_five():
    quoted("建立制度1分，（未建立或未开展活动5分全扣）")
    result = score(X("8.3.a"))
    exactly(result.indicator("8.3").score, "0")
