"""Server-drawn SVG charts: well-formed, accessible, proportional, and escaping every name."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from api.documents.charts import category_heatmap, district_vs_average, ranking_bars, two_decimals

NS = "{http://www.w3.org/2000/svg}"

ROWS = [
    {"district": "东城区", "total": Decimal("95.125"), "rank": 2},
    {"district": "西城区", "total": Decimal("97.5"), "rank": 1},
    {"district": "<script>alert(1)</script>区", "total": Decimal("80"), "rank": 4},
    {"district": "朝阳区", "total": Decimal("95.125"), "rank": 2},
    {"district": "海淀区", "total": Decimal("0"), "rank": 5},
]
CATEGORIES = [
    {"id": "org", "name": "组织建设", "points": Decimal(20)},
    {"id": "rights", "name": "维权服务", "points": Decimal(30)},
    {"id": "x", "name": "A&B \"<b>\"", "points": Decimal(50)},
]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # fails on any unescaped name
    assert root.tag == NS + "svg"
    assert root.get("role") == "img"
    assert root.get("width") == "100%"
    assert len(root.get("viewBox").split()) == 4
    assert "Noto Sans CJK SC" in root.get("font-family") and "sans-serif" in root.get("font-family")
    title = root.find(NS + "title")
    assert title is not None and title.text == root.get("aria-label")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in title.text)
    assert "<script" not in svg.lower()  # no script element and no unescaped name
    assert root.find(f".//{NS}script") is None
    return root


def texts(root: ET.Element) -> list[str]:
    return [t.text for t in root.iter(NS + "text")]


def test_two_decimals_half_up():
    assert two_decimals(Decimal("95.125")) == "95.13"
    assert two_decimals(Decimal("0.005")) == "0.01"
    assert two_decimals(Decimal("-1.005")) == "-1.01"
    assert two_decimals(Decimal(80)) == "80.00"
    assert two_decimals(2.675) == "2.68"  # a float goes through its shortest repr, not binary 2.67499...


def test_ranking_bars():
    svg = ranking_bars(ROWS)
    root = parse(svg)
    bars = list(root.iter(NS + "rect"))
    assert len(bars) == len(ROWS)
    names = [t.text for t in root.iter(NS + "text") if t.get("class") == "name"]
    # Best first; equal ranks (东城区, 朝阳区) keep the given (official) order.
    assert names == ["西城区", "东城区", "朝阳区", "<script>alert(1)</script>区", "海淀区"]
    assert "&lt;script&gt;" in svg
    values = [t.text for t in root.iter(NS + "text") if t.get("class") == "value"]
    assert values == ["97.50", "95.13", "95.13", "80.00", "0.00"]
    widths = [float(b.get("width")) for b in bars]
    totals = [97.5, 95.125, 95.125, 80, 0]
    scale = widths[0] / totals[0]
    for w, t in zip(widths, totals):
        assert w == pytest.approx(t * scale, abs=0.01)
    # Scaled against max_points, not the best total (same name, so the same label column).
    half = parse(ranking_bars([{"district": "甲", "total": Decimal(50), "rank": 1}]))
    full = parse(ranking_bars([{"district": "甲", "total": Decimal(100), "rank": 1}]))
    assert float(next(half.iter(NS + "rect")).get("width")) == pytest.approx(
        float(next(full.iter(NS + "rect")).get("width")) / 2, abs=0.02)


def test_long_names_widen_the_label_column_and_long_categories_wrap():
    long_name = "大连长兴岛经济技术开发区"
    root = parse(ranking_bars([{"district": long_name, "total": Decimal(90), "rank": 1}]))
    name = next(t for t in root.iter(NS + "text") if t.get("class") == "name")
    assert float(name.get("x")) >= 12 * 14  # the whole name fits left of the bars
    bar = next(root.iter(NS + "rect"))
    assert float(bar.get("x")) > float(name.get("x"))
    cats = [{"id": "3", "name": "经济技术和劳动保护工作", "points": Decimal(10)}] * 8
    heat = parse(category_heatmap([{"district": long_name, "categories": {"3": Decimal(5)}}], cats))
    headers = [t.text for t in heat.iter(NS + "text") if t.get("class") == "category"]
    assert len(headers) > 8 and "".join(headers[:len(headers) // 8]) == "经济技术和劳动保护工作"


def test_ranking_bars_clamps_and_handles_empty():
    root = parse(ranking_bars([{"district": "甲", "total": Decimal("-3"), "rank": 1}, {"district": "乙", "total": Decimal(120), "rank": 2}], max_points=Decimal(100)))
    widths = [float(b.get("width")) for b in root.iter(NS + "rect")]
    assert widths[0] == 0 and widths[1] > 0
    assert "-3.00" in texts(root)
    parse(ranking_bars([]))


def test_control_characters_cannot_break_the_svg():
    parse(ranking_bars([{"district": "坏\x01名", "total": Decimal(1), "rank": 1}]))


def heat_rows():
    return [
        {"district": "东城区", "categories": {"org": Decimal(20), "rights": Decimal("15"), "x": Decimal("0")}},
        {"district": "<script>x</script>", "categories": {"org": Decimal("10.005"), "rights": Decimal(30)}},
    ]


def test_category_heatmap():
    svg = category_heatmap(heat_rows(), CATEGORIES)
    root = parse(svg)
    cells = [g for g in root.iter(NS + "g") if g.get("class") == "cell"]
    assert len(cells) == 2 * 3
    t = texts(root)
    for name in ("东城区", "<script>x</script>", "组织建设", "维权服务", 'A&B "<b>"'):
        assert name in t
    assert {"20.00", "15.00", "0.00", "10.01", "30.00", "—"} <= set(t)
    fills = {g.find(NS + "title").text: g.find(NS + "rect").get("fill") for g in cells}
    assert fills["东城区 · 组织建设：20.00"] == "#15803d"  # full marks: full green
    assert fills["东城区 · A&B \"<b>\"：0.00"] == "#e5e7eb"  # nothing: grey
    assert fills["东城区 · 维权服务：15.00"] not in ("#15803d", "#e5e7eb")


def test_district_vs_average():
    cats = [dict(c, score=s, average=a) for c, s, a in zip(CATEGORIES, [Decimal(18), Decimal("22.5"), Decimal(50)], [Decimal("15.333"), Decimal(30), Decimal(25)])]
    svg = district_vs_average(cats, district="朝阳<区>")
    root = parse(svg)
    assert "朝阳<区>" in root.find(NS + "title").text
    score_bars = [r for r in root.iter(NS + "rect") if r.get("class") == "score"]
    avg_bars = [r for r in root.iter(NS + "rect") if r.get("class") == "average"]
    assert len(score_bars) == len(avg_bars) == 3
    full = float(avg_bars[1].get("width"))  # average 30 of 30
    assert float(score_bars[0].get("width")) == pytest.approx(full * 18 / 20, abs=0.02)
    assert float(score_bars[1].get("width")) == pytest.approx(full * 22.5 / 30, abs=0.02)
    assert float(avg_bars[0].get("width")) == pytest.approx(full * 15.333 / 20, abs=0.02)
    assert {"18.00", "22.50", "50.00", "15.33", "30.00", "25.00", "全市平均"} <= set(texts(root))
    parse(district_vs_average(cats))  # default: 本区
