"""The 通报 and 扣分明细 PDFs: real text (extracted with pypdf), every figure with two decimals, A4."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pypdf
import pytest

from api.documents.pdf import bulletin_pdf, statement_pdf, two_decimals

ROOT = "3f" * 8 + "0123456789abcdef" * 3  # 64 hex digits
CATEGORY_NAMES = ["组织建设", "维权服务", "经费审查", "宣传教育", "女职工工作", "劳动竞赛", "基层建设", "重点任务"]
DISTRICT_NAMES = ["东城区", "西城区", "朝阳区", "海淀区", "丰台区", "石景山区", "门头沟区", "房山区", "通州区", "顺义区",
                  "昌平区", "大兴区", "怀柔区", "平谷区", "密云区", "延庆区", "经济技术开发区", "A&B <b>区</b>"]


def categories(n: int = 8) -> list[dict]:
    return [{"id": f"c{i}", "name": CATEGORY_NAMES[i % 8] + ("" if i < 8 else str(i)), "points": Decimal(20 if i == 0 else 10)} for i in range(n)]


def bulletin_data(n_categories: int = 8, repeat: int = 1) -> dict:
    cats = categories(n_categories)
    districts = []
    names = [f"{name}{k or ''}" for k in range(repeat) for name in DISTRICT_NAMES]
    for i, name in enumerate(names):
        total = Decimal("98.125") - Decimal(i) * Decimal("1.1")
        districts.append({
            "district": name,
            "total": total,
            "rank": i + 1,
            "categories": {c["id"]: Decimal("9.995") - Decimal(i) / 100 for c in cats},
            "deductions": [f"{name}：条款 2.{i} 未按期报送年度报告，扣 0.5 分", f"会议缺席 {i} 次"] if i % 3 else [],
        })
    return {
        "title": "关于 2024 年度区总工会实绩考核结果的通报",
        "number": "京工发〔2025〕3 号",
        "date": "2025 年 1 月 20 日",
        "year": 2024,
        "districts": districts,
        "categories": cats,
        "checkpoint": {"size": 123456, "root": ROOT},
    }


def text_of(pdf: bytes) -> tuple[pypdf.PdfReader, str]:
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def squash(text: str) -> str:
    # Table cells and wrapped lines come out with line breaks and spaces of their own.
    return re.sub(r"\s+", "", text)


def test_bulletin_text_is_extractable_and_complete():
    data = bulletin_data()
    pdf = bulletin_pdf(data)
    assert pdf.startswith(b"%PDF-")
    reader, text = text_of(pdf)
    flat = squash(text)
    assert squash(data["title"]) in flat
    assert "京工发〔2025〕3号" in flat and "2025年1月20日" in flat
    for d in data["districts"]:
        assert squash(d["district"]) in flat, d["district"]  # escaped for Paragraph, shown as typed
        assert two_decimals(d["total"]) in text
        for line in d["deductions"]:
            assert squash(line) in flat
    assert "98.13" in text  # 98.125 half up
    assert "10.00" in text  # 9.995 half up, in a category cell
    for c in data["categories"]:
        assert c["name"] in flat
    assert ROOT in flat and "123456" in text
    # A4 portrait: 8 category columns fit.
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (595, 842)


def test_bulletin_header_repeats_on_every_page_of_the_ranking():
    data = bulletin_data(repeat=4)  # 72 districts: the ranking runs over several pages
    reader, _ = text_of(bulletin_pdf(data))
    pages = [squash(p.extract_text()) for p in reader.pages]
    # Every page before the one where the deductions section begins carries ranking rows.
    end = next(i for i, page in enumerate(pages) if "二、各单位扣分情况" in page)
    table_pages = pages[:end]
    assert len(table_pages) >= 2
    for flat in table_pages:
        assert "排名" in flat and "总分" in flat and "组织建设(20.00)" in flat


def test_many_categories_go_landscape():
    reader, text = text_of(bulletin_pdf(bulletin_data(n_categories=11)))
    box = reader.pages[0].mediabox
    assert float(box.width) > float(box.height)
    assert "经费审查10" in squash(text)


def test_bulletin_without_checkpoint_and_deterministic():
    data = bulletin_data()
    data["checkpoint"] = None
    first = bulletin_pdf(data)
    assert "日志检查点：无" in squash(text_of(first)[1])
    assert bulletin_pdf(data) == first  # same figures, same bytes


def statement_data() -> dict:
    return {
        "year": 2024,
        "district": "朝阳区",
        "total": Decimal("87.345"),
        "rank": 3,
        "checkpoint": {"size": 77, "root": ROOT},
        "categories": [
            {"id": "org", "name": "组织建设", "points": Decimal(20), "score": Decimal("18.5"), "indicators": [
                {"id": "org.1", "name": "基层组织覆盖", "points": Decimal(10), "score": Decimal("8.5"), "deductions": [
                    {"clause": "1.1.2", "text": "新建企业工会 <3 家 & 未报送", "points": Decimal("1.5"), "status": "live"},
                    {"clause": "1.1.3", "text": "会员实名制录入不全", "points": Decimal("0.125"), "status": "overturned"},
                ]},
                {"id": "org.2", "name": "换届选举", "points": Decimal(10), "score": Decimal(10), "deductions": []},
            ]},
            {"id": "rights", "name": "维权服务", "points": Decimal(30), "score": Decimal("28.995"), "indicators": [
                {"id": "rights.1", "name": "困难职工帮扶", "points": Decimal(30), "score": Decimal("28.995"), "deductions": [
                    {"clause": "2.1", "text": "帮扶台账不完整", "points": Decimal("1.005"), "status": "disputed"},
                ]},
            ]},
        ],
    }


def test_statement_pdf():
    pdf = statement_pdf(statement_data())
    assert pdf.startswith(b"%PDF-")
    _, text = text_of(pdf)
    flat = squash(text)
    assert "朝阳区" in flat and "2024年度" in flat
    assert "87.35" in text and "第3名" in flat
    for expected in ("18.50", "8.50", "10.00", "29.00", "1.50", "0.13", "1.01"):
        assert expected in text, expected
    for expected in ("基层组织覆盖", "新建企业工会<3家&未报送", "会员实名制录入不全", "帮扶台账不完整", "1.1.2", "有效", "申诉后撤销", "申诉中", "无扣分"):
        assert expected in flat, expected
    assert ROOT in flat and "77" in text


@pytest.mark.parametrize("value, expected", [(Decimal("0.005"), "0.01"), (Decimal("2.345"), "2.35"), (Decimal(7), "7.00"), (2.675, "2.68")])
def test_two_decimals(value, expected):
    assert two_decimals(value) == expected
