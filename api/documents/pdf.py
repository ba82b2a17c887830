"""The 通报 (results bulletin) and a district's 扣分明细 as A4 PDFs whose text can be extracted.

Chinese is set in reportlab's built-in CID font STSong-Light: the reader's viewer supplies the
glyphs (Adobe-GB1), so nothing has to be installed on the server and the text stays text.
"""

from __future__ import annotations

import io
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

FONT = "STSong-Light"
pdfmetrics.registerFont(UnicodeCIDFont(FONT))  # idempotent; a CID font needs no font file

MARGIN = 15 * mm
RANK_W, DISTRICT_W, TOTAL_W = 28, 66, 48
MAX_DISTRICT_W = 112
MIN_CATEGORY_W = 44  # a 5-character category name (女职工工作) at 8 pt on one line, or "100.00"

STATUS_LABELS = {"live": "有效", "retracted": "已撤销", "overturned": "申诉后撤销", "disputed": "申诉中", "open": "申诉中"}

_BASE = ParagraphStyle("base", fontName=FONT, fontSize=10, leading=14, wordWrap="CJK")
TITLE = ParagraphStyle("title", parent=_BASE, fontSize=16, leading=24, alignment=TA_CENTER, spaceAfter=4)
CENTRE = ParagraphStyle("centre", parent=_BASE, alignment=TA_CENTER)
HEADING = ParagraphStyle("heading", parent=_BASE, fontSize=13, leading=18, spaceBefore=10, spaceAfter=4)
SUBHEADING = ParagraphStyle("subheading", parent=_BASE, fontSize=11, leading=16, spaceBefore=6, spaceAfter=2)
BODY = _BASE
DISTRICT_LINE = ParagraphStyle("district_line", parent=_BASE, spaceBefore=3, spaceAfter=3)
SMALL = ParagraphStyle("small", parent=_BASE, fontSize=8, leading=11)
CELL = ParagraphStyle("cell", parent=_BASE, fontSize=8.5, leading=11)
CELL_CENTRE = ParagraphStyle("cell_centre", parent=CELL, alignment=TA_CENTER)
HEADER_CELL = ParagraphStyle("header_cell", parent=CELL_CENTRE, fontSize=8, leading=10)
# The root in a fixed-width face on a line of its own: 64 hex digits at 8 pt are ~310 pt, within
# the frame, so it never wraps and a reader can copy or compare it whole.
ROOT = ParagraphStyle("root", parent=SMALL, fontName="Courier", wordWrap=None)


def two_decimals(value: Any) -> str:
    """A score as printed: two decimals, half up."""
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):f}"


def _p(text: Any, style: ParagraphStyle = BODY) -> Paragraph:
    # Paragraph parses its text as markup: every piece of user text is escaped first.
    return Paragraph(escape(str(text)), style)


def _page_number(canvas, doc) -> None:
    canvas.saveState()
    canvas.setFont(FONT, 8)
    canvas.drawCentredString(doc.pagesize[0] / 2, 8 * mm, f"第 {doc.page} 页")
    canvas.restoreState()


def _build(story: list, pagesize, title: str) -> bytes:
    out = io.BytesIO()
    doc = SimpleDocTemplate(
        out,
        pagesize=pagesize,
        leftMargin=MARGIN,
        rightMargin=MARGIN,
        topMargin=MARGIN,
        bottomMargin=MARGIN + 4 * mm,
        title=title,
        author="kaohe",
        # Same data, same bytes (no creation time or random document id): a PDF can be hashed
        # and compared with one produced earlier from the same checkpoint.
        invariant=1,
    )
    doc.build(story, onFirstPage=_page_number, onLaterPages=_page_number)
    return out.getvalue()


def _checkpoint_lines(checkpoint: dict | None) -> list:
    if not checkpoint:
        return [_p("日志检查点：无（本文件未绑定可验证日志）", SMALL)]
    if checkpoint.get("kind") == "digest":  # until the signed log is wired in: the history digest
        when = "考核年度结束时" if checkpoint.get("final") else "生成本文件时"
        return [
            _p(f"以上数据来自{when}的历史记录：事件数 {checkpoint['size']}，历史摘要（SHA-256）：", SMALL),
            Paragraph(escape(str(checkpoint["root"])), ROOT),
        ]
    when = "考核年度结束时" if checkpoint.get("final") else "生成本文件时"
    return [
        _p(f"以上数据来自{when}的可验证日志检查点：日志大小 {checkpoint['size']}，根哈希：", SMALL),
        Paragraph(escape(str(checkpoint["root"])), ROOT),
    ]


def _table_style(header_rows: int = 1) -> TableStyle:
    return TableStyle(
        [
            ("FONT", (0, 0), (-1, -1), FONT, 8.5),
            ("GRID", (0, 0), (-1, -1), 0.4, colors.HexColor("#9ca3af")),
            ("BACKGROUND", (0, 0), (-1, header_rows - 1), colors.HexColor("#e5e7eb")),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("LEFTPADDING", (0, 0), (-1, -1), 2),
            ("RIGHTPADDING", (0, 0), (-1, -1), 2),
        ]
    )


def bulletin_pdf(data: dict) -> bytes:
    """The 通报: title, 文号 and date, the ranking with category scores, each district's deductions, the checkpoint."""
    categories = data["categories"]
    portrait_frame = A4[0] - 2 * MARGIN
    # A category column takes its name on two lines of 8 pt; portrait while every one fits, else
    # landscape. There the unit column also widens to the longest name on one line where it can
    # (大连长兴岛经济技术开发区: 12 characters), up to a limit; in portrait a long name wraps.
    longest_category = max((len(str(c["name"])) for c in categories), default=4)
    category_w = max(MIN_CATEGORY_W, -(-longest_category // 2) * 8 + 6)
    portrait = RANK_W + DISTRICT_W + TOTAL_W + len(categories) * category_w <= portrait_frame
    pagesize = A4 if portrait else landscape(A4)
    longest_name = max((len(str(r["district"])) for r in data["districts"]), default=4)
    district_w = DISTRICT_W if portrait else min(max(DISTRICT_W, longest_name * 8.6 + 6), MAX_DISTRICT_W)
    fixed = RANK_W + district_w + TOTAL_W
    frame = pagesize[0] - 2 * MARGIN
    cat_w = (frame - fixed) / max(len(categories), 1)

    header = [_p("排名", CELL_CENTRE), _p("单位", CELL_CENTRE), _p("总分", CELL_CENTRE)] + [
        Paragraph(f"{escape(str(c['name']))}<br/>({escape(two_decimals(c['points']))})", HEADER_CELL) for c in categories
    ]
    body = []
    for row in data["districts"]:  # in the order given: rank order, ties in the official order
        scores = row.get("categories", {})
        body.append(
            [str(row["rank"]), _p(row["district"], CELL), two_decimals(row["total"])]
            + [two_decimals(scores[c["id"]]) if scores.get(c["id"]) is not None else "—" for c in categories]
        )
    table = Table(
        [header] + body,
        colWidths=[RANK_W, district_w, TOTAL_W] + [cat_w] * len(categories),
        repeatRows=1,  # the header again on every page the ranking runs over
    )
    style = _table_style()
    style.add("ALIGN", (0, 1), (0, -1), "CENTER")
    style.add("ALIGN", (2, 1), (-1, -1), "RIGHT")
    table.setStyle(style)

    title = str(data.get("title") or f"{data['year']} 年度实绩考核结果通报")
    story: list = [_p(title, TITLE)]
    number_and_date = "　".join(str(x) for x in (data.get("number"), data.get("date")) if x)
    if number_and_date:
        story.append(_p(number_and_date, CENTRE))
    story += [Spacer(1, 6 * mm), _p("一、考核得分与排名", HEADING), table, _p("二、各单位扣分情况", HEADING)]
    for row in data["districts"]:  # one paragraph a district: its name, total and every deduction
        lines = [str(d).strip().rstrip("。；;") for d in row.get("deductions", []) if str(d).strip()]
        said = "；".join(lines) + "。" if lines else "无扣分。"
        story.append(Paragraph(f"<b>{escape(str(row['district']))}</b>（总分 {two_decimals(row['total'])}）："
                               f"{escape(said)}", DISTRICT_LINE))
    story += [Spacer(1, 6 * mm)] + _checkpoint_lines(data.get("checkpoint"))
    return _build(story, pagesize, title)


def statement_pdf(data: dict) -> bytes:
    """One district's 扣分明细: total and rank, then per category and indicator every deduction with its status."""
    district, year = data["district"], data["year"]
    title = f"{year} 年度实绩考核扣分明细"
    frame = A4[0] - 2 * MARGIN
    story: list = [
        _p(title, TITLE),
        _p(str(district), CENTRE),
        Spacer(1, 4 * mm),
        _p(f"总分 {two_decimals(data['total'])}" + (f"，第 {data['rank']} 名" if data.get("rank") else ""), HEADING),
    ]
    for cat in data["categories"]:
        story.append(
            _p(f"{cat['name']}（满分 {two_decimals(cat['points'])}，得分 {two_decimals(cat['score'])}）", HEADING)
        )
        for ind in cat.get("indicators", []):
            story.append(
                _p(f"{ind['name']}（满分 {two_decimals(ind['points'])}，得分 {two_decimals(ind['score'])}）", SUBHEADING)
            )
            deductions = ind.get("deductions", [])
            if not deductions:
                story.append(_p("无扣分。", BODY))
                continue
            rows = [[_p("条款", CELL_CENTRE), _p("事由", CELL_CENTRE), _p("扣分", CELL_CENTRE), _p("状态", CELL_CENTRE)]]
            for d in deductions:
                status = STATUS_LABELS.get(str(d.get("status")), d.get("status") or "")
                rows.append([_p(d.get("clause", ""), CELL), _p(d.get("text", ""), CELL), two_decimals(d["points"]), _p(status, CELL_CENTRE)])
            table = Table(rows, colWidths=[70, frame - 70 - 50 - 60, 50, 60], repeatRows=1)
            style = _table_style()
            style.add("ALIGN", (2, 1), (2, -1), "RIGHT")
            table.setStyle(style)
            story.append(table)
    story += [Spacer(1, 6 * mm)] + _checkpoint_lines(data.get("checkpoint"))
    return _build(story, A4, f"{title} {district}")
