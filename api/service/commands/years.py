"""Opening and closing an assessment year (考核年度)."""

from __future__ import annotations

from typing import Any

from api.service.rubric_files import load_rubric
from domain import chained
from domain.actors import Actor, require
from domain.cycle import DEFAULT_DISPUTE_DAYS
from domain.errors import Conflict, InvalidInput
from domain.ledger import DistrictLedger
from domain.rubric import RubricError
from domain.working_days import shanghai_date
from domain.year import AssessmentYear, year_id


class YearCommands:
    def open_year(self, actor: Actor, *, year: int, rubric: str, districts: list[str],
                  dispute_days: int = DEFAULT_DISPUTE_DAYS, idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "manage_years")

        def build() -> tuple[list, dict]:
            try:
                r = load_rubric(rubric, stored=self.stored_rubric_text)
            except RubricError as e:
                raise InvalidInput(str(e), field="rubric") from None
            if year_id(year) in self.repository:
                raise Conflict(f"{year} 年度已经开启 (year {year} is already open)")
            y = AssessmentYear.open(year=year, rubric=r.id, rubric_hash=r.content_hash,
                                    districts=districts, dispute_days=dispute_days, actor=actor.as_event())
            ledgers = [DistrictLedger.open(year=year, district=d, rubric=r.id, rubric_hash=r.content_hash,
                                           actor=actor.as_event()) for d in y.districts]
            return [y, *ledgers], {"year": year, "rubric": r.id, "rubric_hash": r.content_hash,
                                   "districts": y.districts, "dispute_days": y.dispute_days, "receipt": y.receipt}

        args = {"year": year, "rubric": rubric, "districts": districts}
        if dispute_days != DEFAULT_DISPUTE_DAYS:  # so a retry written before the field keeps its fingerprint
            args["dispute_days"] = dispute_days
        return self._write(actor, "open_year", args, build, idempotency_key)

    def close_year(self, actor: Actor, *, year: int, force: bool = False, note: str | None = None,
                   idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "manage_years")

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            today = shanghai_date(chained.utcnow())
            if not force:
                y.check_publication_over(today)  # 409 publication_running before anything else
            ledgers = [self._ledger(year, d) for d in y.districts]
            # Decided from the ledgers' own sign-offs, not from the views.
            indicators = [i.id for i in self.rubric_of_year(year).indicators]
            unsigned = [[ledger.district, i] for ledger in ledgers for i in indicators
                        if i not in ledger.history.signed]
            if unsigned and not force:
                raise Conflict(
                    f"还有 {len(unsigned)} 项指标未核定，不能结束考核 (unsigned indicators remain; pass force to close anyway)",
                    details={"unsigned": unsigned},
                )
            y.close(forced=bool(force), unsigned=unsigned, note=note, actor=actor.as_event())
            for ledger in ledgers:
                ledger.close(actor=actor.as_event(), note=note)
            return [y, *ledgers], {"year": year, "closed": True, "forced": bool(force), "unsigned": unsigned,
                                   "receipt": y.receipt}

        response = self._write(actor, "close_year", {"year": year, "force": bool(force), "note": note},
                               build, idempotency_key)
        self.fresh()
        # A copy: the response may be an idempotency record's. `log`: the final checkpoint (the close's receipt
        # signed it), which the final ranking and the workbook carry too.
        return {**response, "digest": self.digest(year), "log": self.final_log_head(year)}
