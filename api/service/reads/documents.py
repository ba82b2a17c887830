"""The documents of a year: the 通报 (bulletin) and each district's 扣分明细 as PDFs, the workbook,
and what pages print beside the figures (last year's results, the city average, the checkpoint).

Every figure comes from the same reads the API answers (`scores`, `district_score`); the
permission is asked of the role table first, then the service reads on its own behalf.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from domain.actors import Actor, can, can_read_district, require, require_reader_of
from domain.bulletin import default_title
from domain.chain import history_digest
from domain.errors import NotFound
from domain.scoring import display
from domain.wording import chinese_date, finding_facts, join
from projections.catchup import loads


class DocumentReads:
    """Mixed into the application service."""

    # --- the log checkpoint the figures come from ------------------------------------

    def figures_checkpoint(self, year: int) -> dict[str, Any]:
        """The checkpoint (size, root) the year's figures come from: the signed log checkpoint (`kind: "log"`,
        with `origin` and `note`): once the year is closed, the final one signed at its close (a 通报 heading
        set later changes no figure); before, one of the log as it is now. Where the log cannot be had (a
        read-only copy, no key), the history digest over every chain head and the number of events it
        covers instead (`kind: "digest"`).
        """
        self.fresh()
        if self.log_signer is not None and not self.views.read_only:
            final = self.final_checkpoint(year)
            cp = final if self.year_info(year)["closed"] else self.latest_checkpoint(self.system_actor, year)
            if cp is not None:
                return {"kind": "log", "size": cp["size"], "root": cp["root"], "origin": self.origin(year),
                        "note": cp["note"], "final": final is not None}
        closed_at = self.views.query(
            "SELECT MAX(position) FROM view_audit WHERE year = ? AND type = 'Closed' "
            "AND kind IN ('AssessmentYear', 'DistrictLedger')", (year,))
        upto = closed_at[0][0] if closed_at and closed_at[0][0] is not None else None
        bound, params = ("", (year,)) if upto is None else (" AND position <= ?", (year, upto))
        size = self.views.query(f"SELECT COUNT(*) FROM view_audit WHERE year = ?{bound}", params)[0][0]
        heads = self.views.query(
            "SELECT e.aggregate_id, e.version, e.hash FROM view_audit e JOIN ("
            f" SELECT aggregate_id, MAX(version) AS v FROM view_audit WHERE year = ?{bound} GROUP BY aggregate_id) m"
            " ON e.aggregate_id = m.aggregate_id AND e.version = m.v", params)
        return {"kind": "digest", "size": int(size), "root": history_digest((a, v, h) for a, v, h in heads),
                "final": upto is not None}

    # --- the 通报 ----------------------------------------------------------------------

    def bulletin_heading(self, year: int) -> dict[str, Any]:
        """The heading the office set (the newest Bulletin event), or the default title and no 文号."""
        self.year_info(year)
        rows = self.views.query(
            "SELECT data, actor, recorded_at FROM view_audit WHERE year = ? AND kind = 'Bulletin' "
            "ORDER BY position DESC LIMIT 1", (year,))
        if not rows:
            return {"year": year, "title": default_title(year), "number": None, "date": None, "set": False}
        data, actor, at = rows[0]
        d = loads(data)
        return {"year": year, "title": d["title"], "number": d["number"], "date": d["date"], "set": True,
                "set_by": loads(actor), "set_at": at}

    def bulletin_data(self, actor: Actor, year: int) -> dict[str, Any]:
        """What the 通报 prints: heading, ranking with category scores, one line per deducted clause, checkpoint."""
        require(actor, "read_bulletin", stage=self.year_info(year)["stage"])  # districts: during 公示
        ranking = self.scores(self.system_actor, year)
        rubric = self.rubric_of_year(year)
        breakdowns = {row["district"]: self.district_score(self.system_actor, year, row["district"])
                      for row in ranking["districts"]}
        head = self.bulletin_heading(year)
        districts = []
        for row in ranking["districts"]:  # rank order; ties in the official order (see `rank`)
            districts.append({**row, "deductions": deduction_lines(breakdowns[row["district"]], rubric)})
        return {
            **head, "date_text": chinese_date(head["date"]) if head["date"] else None, "final": ranking["final"],
            "categories": [{"id": c.id, "name": c.name, "points": c.points} for c in rubric.categories],
            "districts": districts, "checkpoint": self.figures_checkpoint(year),
            "indicators": ranking["indicators"],
        }

    def bulletin_pdf(self, actor: Actor, year: int) -> bytes:
        from api.documents.pdf import bulletin_pdf

        data = self.bulletin_data(actor, year)
        return bulletin_pdf({**data, "date": data["date_text"]})

    # --- a district's 扣分明细 ----------------------------------------------------------

    def statement_data(self, actor: Actor, year: int, district: str) -> dict[str, Any]:
        require_reader_of(actor, district)
        score = self.district_score(actor, year, district, every_finding=True)
        place = None  # a district learns its rank with the ranking (公示, the 通报), not from its statement
        if can(actor, "read_ranking") or can(actor, "read_bulletin"):
            ranking = self.scores(self.system_actor, year)
            place = next(r["rank"] for r in ranking["districts"] if r["district"] == district)
        rubric = self.rubric_of_year(year)
        categories = []
        for c in score["categories"]:
            indicators = []
            for i in c["indicators"]:
                rows = []
                for cl in i["clauses"]:
                    definitions = rubric.clause(cl["id"]).measures
                    counted = [f for f in cl["findings"] if f.get("counted")]
                    share = Decimal(cl["deduction"]) / len(counted) if counted else Decimal(0)
                    for f in cl["findings"]:
                        disputed = f.get("status") == "live" and (f.get("dispute") or {}).get("status") == "open"
                        rows.append({"clause": cl["id"], "text": join([cl["label"], finding_facts(f, definitions)], "："),
                                     "points": share if f.get("counted") else Decimal(0),
                                     "status": "disputed" if disputed else f.get("status")})
                indicators.append({"id": i["id"], "name": f"{i['id']} {i['name']}", "points": i["points"],
                                   "score": i["score"], "deductions": rows})
            categories.append({"id": c["id"], "name": f"{c['id']}. {c['name']}", "points": c["points"],
                               "score": c["score"], "indicators": indicators})
        return {"year": year, "district": district, "total": score["total"], "rank": place,
                "categories": categories, "checkpoint": self.figures_checkpoint(year)}

    def statement_pdf(self, actor: Actor, year: int, district: str) -> bytes:
        from api.documents.pdf import statement_pdf

        return statement_pdf(self.statement_data(actor, year, district))

    # --- the workbook ----------------------------------------------------------------

    def export_xlsx(self, year: int, actor: Actor | None = None) -> bytes:
        """The workbook of a year's ranking and every district's deductions (office, auditor, admin)."""
        from api.documents.workbook import build_workbook

        reader = actor or self.system_actor
        require(reader, "export")
        ranking = self.scores(reader, year)
        # One 扣分明细 sheet per district in the 汇总's order: best first, ties in the official order.
        breakdowns = [self.district_score(reader, year, row["district"], every_finding=True)
                      for row in ranking["districts"]]
        districts = self.year_info(year)["districts"]
        cycle = {"submissions": {d: self.district_submissions(reader, year, d) for d in districts},
                 "files": {d: self.evidence_files(reader, year, d) for d in districts}}
        return build_workbook(ranking, breakdowns, self.rubric_of_year(year), self.figures_checkpoint(year), cycle)

    # --- beside the figures: last year, the city average ------------------------------

    def previous_results(self, actor: Actor, year: int) -> dict[str, dict[str, Any]]:
        """Per district of `year`: its total and rank in the latest earlier year it was assessed in.

        Readers of the ranking get every district; a district only itself; others nothing.
        """
        districts = self.year_info(year)["districts"]
        wanted = [d for d in districts if can(actor, "read_ranking") or (
            actor.role == "district" and can_read_district(actor, d))]
        found: dict[str, dict[str, Any]] = {}
        for earlier in sorted((y for y in self.years() if y["year"] < year), key=lambda y: -y["year"]):
            missing = [d for d in wanted if d not in found and d in earlier["districts"]]
            if not missing:
                continue
            rows = {r["district"]: r for r in self.scores(self.system_actor, earlier["year"])["districts"]}
            for d in missing:
                if d in rows:
                    found[d] = {"year": earlier["year"], "total": rows[d]["total"], "rank": rows[d]["rank"],
                                "of": len(rows), "final": earlier["closed"]}
        return found

    def category_averages(self, year: int) -> dict[str, Decimal]:
        """The city average of each category's score over the year's districts (exact; pages round)."""
        self.year_info(year)
        summaries = [loads(s) for (s,) in self.views.query(
            "SELECT summary FROM view_districts WHERE year = ? AND summary IS NOT NULL", (year,))]
        if not summaries:
            raise NotFound(f"{year} 年度还没有成绩 (no scores yet)")
        totals: dict[str, Decimal] = {}
        for s in summaries:
            for c in s["categories"]:
                totals[c["id"]] = totals.get(c["id"], Decimal(0)) + Decimal(c["score"])
        return {cid: total / len(summaries) for cid, total in totals.items()}


def deduction_lines(score: dict[str, Any], rubric: Any) -> list[str]:
    """One line per clause that deducts: indicator, clause, what was found (labelled), and the points."""
    lines = []
    for c in score["categories"]:
        for i in c["indicators"]:
            for cl in i["clauses"]:
                deduction = Decimal(cl["deduction"])
                if not deduction:
                    continue
                definitions = rubric.clause(cl["id"]).measures
                facts = join((finding_facts(f, definitions) for f in cl["findings"] if f.get("counted")))
                what = f"{i['id']} {i['name']} · {cl['id']} {cl['label']}"
                points = f"扣 {display(deduction):.2f} 分"
                lines.append(f"{what}：{facts}，{points}" if facts else f"{what}：{points}")
    return lines
