"""Reading scores: the ranking, a district's breakdown with the findings behind each clause, as of any instant.

Current answers come from the scoreboard's views; `as_of` answers fold the audit log's events
up to that instant with the same `DistrictHistory` the scoreboard uses, so both agree.
"""

from __future__ import annotations

import threading
from datetime import datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any, Callable
from zoneinfo import ZoneInfo

from api.service.reads.ranking import Line, Tie, YearRanking
from domain.actors import Actor, require, require_reader_of
from domain.chain import history_digest
from domain.cycle import dispute_until
from domain.errors import InvalidInput, NotFound
from domain.lifecycle import DistrictHistory, FindingStatus
from domain.text import iso_date, iso_datetime
from projections.catchup import dumps, loads
from projections.scoreboard import breakdown

SHANGHAI = ZoneInfo("Asia/Shanghai")
REMEMBERED = 256  # answers kept by `remembered` (the ranking, the breakdowns read lately)


def as_of_bound(value: str | None) -> str | None:
    """`as_of` → the last included instant as UTC ISO text. A date means the end of that day in Shanghai."""
    if not value:
        return None
    try:
        if "T" not in value and " " not in value:  # a date (2018-12-31): the end of that day
            day = iso_date(value, "as_of")
            end = datetime.combine(day + timedelta(days=1), time(0), SHANGHAI) - timedelta(microseconds=1)
        else:
            end = iso_datetime(value, "as_of")
            if end.tzinfo is None:
                end = end.replace(tzinfo=SHANGHAI)
        bound = end.astimezone(timezone.utc).isoformat(timespec="microseconds")
    except (ValueError, OverflowError):
        raise InvalidInput(f"as_of 格式错误，应为日期或日期时间 (malformed as_of: {value!r})", field="as_of") from None
    return bound


class ScoreReads:
    """Mixed into the application service; `self.views` is its read side."""

    def scores(self, actor: Actor, year: int, as_of: str | None = None) -> dict[str, Any]:
        bound = as_of_bound(as_of)
        if bound is None:
            head, ranked = self.ranking(actor, year)
            return {**head, "districts": [
                {"district": r.district, "total": r.total, "rank": rank, "signed_off": r.signed_off,
                 "categories": dict(r.categories)} for rank, tie in ranked for r in tie.rows]}
        info = self.ranking_reader(actor, year)
        ranked = rank([self._breakdown_as_of(year, d, bound)[0] for d in info["districts"]], info["districts"])
        return {
            **self._ranking_head(year, info, final=False, as_of=bound),
            "districts": [
                {"district": r["district"], "total": Decimal(r["total"]), "rank": r["rank"],
                 "signed_off": r["signed_off"],
                 "categories": {c["id"]: Decimal(c["score"]) for c in r["categories"]}}
                for r in ranked
            ],
        }

    def ranking(self, actor: Actor, year: int,
                line: Line | None = None) -> tuple[dict[str, Any], list[tuple[int, Tie]]]:
        """The ranking now: its heading (year, final, digest …) and its ties with their ranks, best first, from
        the ranking this process keeps in memory (api.service.reads.ranking): a read after a write costs the
        rows it changed. `line`: how a renderer renders a row (one kept ranking per renderer)."""
        info = self.ranking_reader(actor, year)
        board = self._rankings.get((year, line))
        if board is None or board.official_order != info["districts"]:
            board = self._rankings[(year, line)] = YearRanking(year, info["districts"], line)
        return self._ranking_head(year, info, final=info["closed"], as_of=None), board.read(self.views)

    def ranking_reader(self, actor: Actor, year: int, after: int | None = None) -> dict[str, Any]:
        """The year as `year_info` gives it, once the actor may read its ranking."""
        info = self.year_info(year, after)
        require(actor, "read_ranking", stage=info["stage"])  # during 公示 every district reads the ranking
        return info

    def _ranking_head(self, year: int, info: dict[str, Any], *, final: bool, as_of: str | None) -> dict[str, Any]:
        return {"year": year, "final": final, "as_of": as_of, "digest": self.digest(year) if final else None,
                "log": self.final_log_head(year) if final else None,
                "indicators": len(self.rubric_of_year(year).indicators)}

    def remembered_now(self, name: str, year: int, wait: bool = True, caller: Actor | None = None) -> Any:
        """The remembered answer if the views have not moved on since; None otherwise. `wait=False` (the event
        loop's thread must not block): None as well while the views lag the caller's own writes."""
        if wait:
            self.fresh()
        elif not self.holds_own_writes(caller):
            return None
        return self._kept(name, year)

    def _kept(self, name: str, year: int) -> Any:
        """The answer kept for the views' position now, or None."""
        hit = self._remembered.get((name, year))
        if hit is not None and hit[0] is not None and hit[0] == self.catchup.caught_up_to:
            return hit[1]
        return None

    def remembered(self, name: str, year: int, compute: Callable[[], Any]) -> Any:
        """A read answer kept until the views move on.

        The views are a function of the store's history up to the position they have caught
        up to, so the same position gives the same answer, in any process. Callers check the
        reader's role before asking.
        """
        value = self.remembered_now(name, year)
        if value is not None:
            return value
        # One thread makes it; the others that missed it meanwhile wait and take the same answer. Right after
        # each catch-up every reader of the ranking misses at once, and sixteen of them making it side by
        # side would share the interpreter sixteen ways (the mixed load's read p99).
        with self._remembering:
            making = self._computing.setdefault((name, year), threading.Lock())
        with making:
            # Made while this thread waited? (Its caller's own writes were waited for above: not again here,
            # where another caller's read would wait behind it.)
            value = self._kept(name, year)
            if value is None:
                # Labelled with the position reached before computing: the answer holds at least
                # that much (the runner may catch up further meanwhile; a label older than the
                # content only costs a recomputation, a newer one would hide a write).
                position = self.catchup.caught_up_to
                value = compute()
                with self._remembering:  # request threads share it
                    self._remembered[(name, year)] = (position, value)
                    self._remembered.move_to_end((name, year))
                    while len(self._remembered) > REMEMBERED:  # one per district read: keep the recent ones
                        self._remembered.popitem(last=False)
        return value

    def district_of(self, actor: Actor, year: int, district: str) -> dict[str, Any]:
        """The year as `year_info` gives it, once the actor may read this district's scores and the year has it."""
        require_reader_of(actor, district)
        info = self.year_info(year)
        if district not in info["districts"]:
            raise NotFound(f"{year} 年度没有被考核单位 {district!r} (unknown district)")
        return info

    def district_score(self, actor: Actor, year: int, district: str, as_of: str | None = None,
                       every_finding: bool = False) -> dict[str, Any]:
        """The district's breakdown: each clause with its deduction and the findings behind it.

        Each clause lists at most a few findings beyond the counted ones and says how many it has
        (projections.scoreboard.shown_findings), so a read costs the same whatever the history's
        length; `every_finding` lists them all (pages and documents that show every finding).
        """
        info = self.district_of(actor, year, district)
        bound = as_of_bound(as_of)
        rows = [] if bound is not None or every_finding else self.views.query(
            "SELECT breakdown FROM view_districts WHERE year = ? AND district = ?", (year, district))
        if rows and rows[0][0]:
            result = loads(rows[0][0])
            details = self._finding_details([
                fid for c in result["categories"] for i in c["indicators"] for cl in i["clauses"]
                for fid in cl["findings"]])
        else:  # as of an instant, every finding, or not scored yet: fold the audit log's events
            result, history = self._breakdown_as_of(year, district, bound, every_finding)
            details = {fid: history.finding_view(fid)
                       for c in result["categories"] for i in c["indicators"] for cl in i["clauses"]
                       for fid in cl["findings"]}
        rubric = self.rubric_of_year(year)
        publication = info["publication"]["ends_on"] if info["publication"] else None
        for category in result["categories"]:
            for indicator in category["indicators"]:
                for clause in indicator["clauses"]:
                    cl = rubric.clause(clause["id"])
                    clause.update(kind=cl.kind, label=cl.label, points=str(cl.points))
                    shares = clause.get("shares") or {}
                    counted = set(clause["counted"])
                    clause["findings"] = [{**details.get(fid, {"id": fid}), "counted": fid in counted}
                                          for fid in clause["findings"]]
                    for f in clause["findings"]:
                        f["points"] = shares.get(f["id"], "0")  # its share of the clause's deduction
                        if f.get("status") == FindingStatus.LIVE.value:
                            until = dispute_until(f.get("recorded_at"), info["dispute_days"], publication)
                            f["dispute_until"] = until.isoformat() if until else None
        result.update(year=year, as_of=bound)
        return result

    def _breakdown_as_of(self, year: int, district: str, bound: str | None,
                         every_finding: bool = False) -> tuple[dict[str, Any], DistrictHistory]:
        """The district's breakdown and history from the audit log's events recorded up to `bound`."""
        sql = "SELECT type, data, actor, recorded_at FROM view_audit WHERE year = ? AND district = ? AND kind = ?"
        params: list[Any] = [year, district, "DistrictLedger"]
        if bound is not None:
            sql += " AND recorded_at <= ?"
            params.append(bound)
        history = DistrictHistory(details=True)
        for event, data, who, at in self.views.query(sql + " ORDER BY position", params):
            history.apply(event, {**loads(data), "actor": loads(who)}, at)
        # A copy: the reader fills it in, and a breakdown shares the parts nothing was recorded on.
        return loads(dumps(breakdown(self.rubric_of_year(year), district, history, every=every_finding))), history

    def event_effects(self, actor: Actor, year: int, district: str) -> dict[int, Decimal]:
        """Store position of each of the district's ledger events → how far it moved the total
        (negative: points deducted; positive: points restored), folded as `_breakdown_as_of` folds."""
        require_reader_of(actor, district)
        self.year_info(year)
        rubric = self.rubric_of_year(year)
        history = DistrictHistory(details=True)
        before = history.score(rubric).total
        effects: dict[int, Decimal] = {}
        for position, event, data, who, at in self.views.query(
                "SELECT position, type, data, actor, recorded_at FROM view_audit "
                "WHERE year = ? AND district = ? AND kind = ? ORDER BY position", (year, district, "DistrictLedger")):
            history.apply(event, {**loads(data), "actor": loads(who)}, at)
            if event in ("FindingRecorded", "FindingRetracted", "DisputeResolved"):  # the ones that can move it
                after = history.score(rubric).total
                effects[position], before = after - before, after
        return effects

    def _finding_details(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """The view rows of the findings `ids` (the ones a breakdown shows), as the breakdown lists them."""
        if not ids:
            return {}
        rows = self.views.query(
            "SELECT finding_id, clause, recorded_at, data, status, status_reason, dispute FROM view_findings "
            f"WHERE finding_id IN ({', '.join('?' * len(ids))})", ids)  # by key: not a scan of the district
        return {fid: {"id": fid, "clause": clause, "recorded_at": at, **loads(data), "status": status,
                      "status_reason": reason, "dispute": loads(dispute)}
                for fid, clause, at, data, status, reason, dispute in rows}

    def score_difference(self, actor: Actor, year: int, district: str, since: str,
                         until: str | None = None) -> dict[str, Any]:
        """What changed in a district's score between two instants, indicator by indicator."""
        before = self.district_score(actor, year, district, as_of=since)
        after = self.district_score(actor, year, district, as_of=until)
        old = {i["id"]: i for c in before["categories"] for i in c["indicators"]}
        changes = []
        for category in after["categories"]:
            for i in category["indicators"]:
                was = Decimal(old[i["id"]]["score"])
                now = Decimal(i["score"])
                if was != now:
                    changes.append({"indicator": i["id"], "name": i["name"], "before": was, "after": now,
                                    "change": now - was})
        return {"district": district, "since": before["as_of"], "until": after["as_of"],
                "before": Decimal(before["total"]), "after": Decimal(after["total"]),
                "change": Decimal(after["total"]) - Decimal(before["total"]), "indicators": changes}

    def digest(self, year: int) -> str:
        """SHA-256 over every chain head of the year, as the audit log has seen them."""
        self.fresh()
        rows = self.views.query(
            "SELECT e.aggregate_id, e.version, e.hash FROM view_audit e JOIN ("
            " SELECT aggregate_id, MAX(version) AS v FROM view_audit WHERE year = ? GROUP BY aggregate_id) m"
            " ON e.aggregate_id = m.aggregate_id AND e.version = m.v", (year,))
        return history_digest((a, v, h) for a, v, h in rows)


def rank(results: list[dict[str, Any]], official_order: list[str]) -> list[dict[str, Any]]:
    """Best first; equal totals share a rank (1, 1, 3) and are listed in the official order
    (the year's district order, as given when it opened), never by name."""
    place_in_order = {d: i for i, d in enumerate(official_order)}
    last = len(place_in_order)
    ordered = sorted(results, key=lambda r: (-Decimal(r["total"]), place_in_order.get(r["district"], last)))
    previous = None
    for place, r in enumerate(ordered, start=1):
        total = Decimal(r["total"])
        r["rank"] = previous[1] if previous and previous[0] == total else place
        previous = (total, r["rank"])
    return ordered
