"""Charts drawn on the server as inline SVG: no script, no CDN, prints and scales (width 100%, viewBox).

Every piece of text is escaped: district and category names are typed by people.
"""

from __future__ import annotations

import html
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Iterable

FONT_FAMILY = "'Noto Sans CJK SC', 'Noto Sans SC', 'Source Han Sans SC', 'Microsoft YaHei', sans-serif"
WIDTH = 720  # viewBox units; the SVG itself is width="100%" of whatever holds it
LABEL_WIDTH = 150  # room for a district name of about ten characters at font-size 14
MAX_LABEL_WIDTH = 300  # a longer name (大连长兴岛经济技术开发区 is 12) widens the label column up to this
VALUE_WIDTH = 64
RANK_WIDTH = 24  # room for the rank (1 … 99) before a district's name in the bars
ROW = 28
BAR = 18

# XML 1.0 cannot carry most C0 controls at all, even escaped: drop them so one bad name cannot
# make the whole page's SVG unparseable.
_XML_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")

GREY = (0xE5, 0xE7, 0xEB)
GREEN = (0x15, 0x80, 0x3D)


def two_decimals(value: Any) -> str:
    """A score as people read it: two decimals, half up (0.005 → 0.01), as in the 通报."""
    if not isinstance(value, Decimal):
        value = Decimal(str(value))  # via str: a float's binary tail must not decide the rounding
    return f"{value.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):f}"


def _esc(value: Any) -> str:
    return html.escape(_XML_FORBIDDEN.sub("", str(value)), quote=True)


def _num(x: float | Decimal) -> str:
    # Coordinates: short and locale-free.
    return f"{float(x):.2f}".rstrip("0").rstrip(".") or "0"


def _text_width(text: Any, size: float = 14) -> float:
    """About how wide `text` is set at `size`: a CJK character is one em, other characters about 0.6."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.6 for ch in str(text))


def _label_width(names: Iterable[Any], size: float = 14) -> float:
    """The label column: the widest name on one line, never narrower than LABEL_WIDTH nor wider than the cap."""
    widest = max((_text_width(n, size) for n in names), default=0)
    return min(max(LABEL_WIDTH, widest + 16), MAX_LABEL_WIDTH)


def _lines(text: str, width: float, size: float, most: int = 3) -> list[str]:
    """`text` broken into as few lines as fit `width` (CJK breaks anywhere), balanced so no line is a
    lone character, at most `most` lines."""
    if _text_width(text, size) <= width or len(text) < 2:
        return [text]
    count = min(most, len(text), -(-int(_text_width(text, size)) // max(int(width), 1)))
    while count < min(most, len(text)):
        per = -(-len(text) // count)
        if all(_text_width(text[i:i + per], size) <= width for i in range(0, len(text), per)):
            break
        count += 1
    per = -(-len(text) // count)
    return [text[i:i + per] for i in range(0, len(text), per)]


def _ratio(part: Any, whole: Any) -> Decimal:
    whole = Decimal(str(whole))
    if whole <= 0:
        return Decimal(0)
    return min(max(Decimal(str(part)) / whole, Decimal(0)), Decimal(1))


def _svg(label: str, height: float, body: Iterable[str]) -> str:
    label = _esc(label)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{label}" '
        f'viewBox="0 0 {WIDTH} {_num(height)}" width="100%" preserveAspectRatio="xMinYMin meet" '
        f'font-family="{_esc(FONT_FAMILY)}" font-size="14">'
        f"<title>{label}</title>" + "".join(body) + "</svg>"
    )


def ranking_bars(rows: list[dict], max_points: Decimal = Decimal(100)) -> str:
    """Horizontal bars of totals, best first (by rank; equal ranks keep the given official order)."""
    ordered = sorted(rows, key=lambda r: r["rank"])  # sorted is stable: ties stay in official order
    label_w = RANK_WIDTH + _label_width(r["district"] for r in ordered)  # the rank stands left of the name
    area = WIDTH - label_w - VALUE_WIDTH - 8
    top = 8
    body = []
    for i, row in enumerate(ordered):
        y = top + i * ROW
        width = float(_ratio(row["total"], max_points)) * area
        name, total = row["district"], two_decimals(row["total"])
        body.append(
            f'<g class="row" data-rank="{_esc(row["rank"])}">'
            f"<title>{_esc(name)}：{total} 分，第 {_esc(row['rank'])} 名</title>"
            f'<text class="rank" x="28" y="{_num(y + BAR - 4)}" text-anchor="end" fill="#6b7280">{_esc(row["rank"])}</text>'
            f'<text class="name" x="{_num(label_w - 8)}" y="{_num(y + BAR - 4)}" text-anchor="end">{_esc(name)}</text>'
            f'<rect class="bar" x="{_num(label_w)}" y="{_num(y)}" width="{_num(width)}" height="{BAR}" fill="#2563eb"/>'
            f'<text class="value" x="{_num(label_w + width + 6)}" y="{_num(y + BAR - 4)}">{total}</text>'
            "</g>"
        )
    height = top * 2 + max(len(ordered), 1) * ROW
    return _svg(f"各单位总分排名（满分 {two_decimals(max_points)}）", height, body)


def _shade(ratio: Decimal) -> str:
    # Linear grey → green: a plain ramp that still reads when printed in greyscale (darker = better).
    r = float(ratio)
    return "#" + "".join(f"{round(g + (c - g) * r):02x}" for g, c in zip(GREY, GREEN))


def category_heatmap(rows: list[dict], categories: list[dict]) -> str:
    """A district × category grid, each cell shaded by score / points and labelled with the score.

    Category names wrap onto up to three lines of their column; district names set the label column.
    """
    label_w = _label_width(r["district"] for r in rows)
    cols = max(len(categories), 1)
    cell_w = (WIDTH - label_w) / cols
    head_size = 12
    wrapped = [_lines(str(cat["name"]), cell_w - 4, head_size) for cat in categories]
    name_lines = max((len(w) for w in wrapped), default=1)
    header = 8 + name_lines * (head_size + 2) + 16
    body = []
    for j, cat in enumerate(categories):
        x = label_w + j * cell_w + cell_w / 2
        for k, line in enumerate(wrapped[j]):
            body.append(f'<text class="category" x="{_num(x)}" y="{_num(8 + (k + 1) * (head_size + 2) - 2)}" '
                        f'text-anchor="middle" font-size="{head_size}">{_esc(line)}</text>')
        body.append(
            f'<text class="points" x="{_num(x)}" y="{_num(header - 6)}" text-anchor="middle" font-size="11" fill="#6b7280">'
            f"满分 {_esc(two_decimals(cat['points']))}</text>"
        )
    for i, row in enumerate(rows):
        y = header + i * ROW
        body.append(f'<g class="row"><text class="name" x="{_num(label_w - 8)}" y="{_num(y + ROW / 2 + 5)}" '
                    f'text-anchor="end">{_esc(row["district"])}</text>')
        scores = row.get("categories", {})
        for j, cat in enumerate(categories):
            x = label_w + j * cell_w
            score = scores.get(cat["id"])
            if score is None:
                fill, text, colour = "#f9fafb", "—", "#9ca3af"  # no score yet: shown, not guessed
            else:
                ratio = _ratio(score, cat["points"])
                fill, text = _shade(ratio), two_decimals(score)
                colour = "#ffffff" if ratio > Decimal("0.6") else "#111827"  # keep contrast on dark green
            label = f"{row['district']} · {cat['name']}：{text}"
            body.append(
                f'<g class="cell"><title>{_esc(label)}</title>'
                f'<rect x="{_num(x + 1)}" y="{_num(y + 1)}" width="{_num(cell_w - 2)}" height="{ROW - 2}" fill="{fill}"/>'
                f'<text x="{_num(x + cell_w / 2)}" y="{_num(y + ROW / 2 + 5)}" text-anchor="middle" fill="{colour}">{_esc(text)}</text></g>'
            )
        body.append("</g>")
    height = header + max(len(rows), 1) * ROW + 8
    return _svg("各单位分类得分（颜色越深得分率越高）", height, body)


def district_vs_average(categories: list[dict], district: str | None = None) -> str:
    """Per category, two bars: this district's score and the city average, both scaled to the category's points."""
    label_w = _label_width(c["name"] for c in categories)
    area = WIDTH - label_w - VALUE_WIDTH - 8
    group = 2 * BAR + 14
    legend = 28
    who = district if district else "本区"
    legend_gap = max(140, _text_width(who) + 40)
    body = [
        f'<rect x="{_num(label_w)}" y="6" width="12" height="12" fill="#2563eb"/>'
        f'<text x="{_num(label_w + 18)}" y="17">{_esc(who)}</text>'
        f'<rect x="{_num(label_w + legend_gap)}" y="6" width="12" height="12" fill="#9ca3af"/>'
        f'<text x="{_num(label_w + legend_gap + 18)}" y="17">全市平均</text>'
    ]
    for i, cat in enumerate(categories):
        y = legend + i * group
        score_w = float(_ratio(cat["score"], cat["points"])) * area
        avg_w = float(_ratio(cat["average"], cat["points"])) * area
        score, average = two_decimals(cat["score"]), two_decimals(cat["average"])
        body.append(
            f'<g class="category" data-id="{_esc(cat["id"])}">'
            f"<title>{_esc(cat['name'])}：{_esc(who)} {score}，全市平均 {average}（满分 {two_decimals(cat['points'])}）</title>"
            f'<text class="name" x="{_num(label_w - 8)}" y="{_num(y + BAR + 4)}" text-anchor="end">{_esc(cat["name"])}</text>'
            f'<rect class="score" x="{_num(label_w)}" y="{_num(y)}" width="{_num(score_w)}" height="{BAR}" fill="#2563eb"/>'
            f'<text class="value" x="{_num(label_w + score_w + 6)}" y="{_num(y + BAR - 4)}">{score}</text>'
            f'<rect class="average" x="{_num(label_w)}" y="{_num(y + BAR)}" width="{_num(avg_w)}" height="{BAR}" fill="#9ca3af"/>'
            f'<text class="value" x="{_num(label_w + avg_w + 6)}" y="{_num(y + 2 * BAR - 4)}" fill="#4b5563">{average}</text>'
            "</g>"
        )
    height = legend + max(len(categories), 1) * group + 4
    return _svg(f"{who}各类得分与全市平均对比", height, body)
