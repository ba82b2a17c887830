"""Opening and closing an assessment year (考核年度)."""

from __future__ import annotations

from typing import Any

from api.service.rubric_files import load_rubric
from domain.actors import Actor, require
from domain.errors import Conflict, InvalidInput
from domain.ledger import DistrictLedger
from domain.rubric import RubricError
from domain.year import AssessmentYear, year_id


class YearCommands:
    def open_year(self, actor: Actor, *, year: int, rubric: str, districts: list[str],
                  idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "manage_years")

        def build() -> tuple[list, dict]:
            try:
                r = load_rubric(rubric)
            except RubricError as e:
                raise InvalidInput(str(e), field="rubric") from None
            if year_id(year) in self.repository:
                raise Conflict(f"{year} 年度已经开启 (year {year} is already open)")
            y = AssessmentYear.open(year=year, rubric=r.id, rubric_hash=r.content_hash,
                                    districts=districts, actor=actor.as_event())
            ledgers = [DistrictLedger.open(year=year, district=d, rubric=r.id, rubric_hash=r.content_hash,
                                           actor=actor.as_event()) for d in y.districts]
            return [y, *ledgers], {"year": year, "rubric": r.id, "rubric_hash": r.content_hash,
                                   "districts": y.districts, "receipt": y.receipt}

        return self._write(actor, "open_year", {"year": year, "rubric": rubric, "districts": districts},
                           build, idempotency_key)

    def close_year(self, actor: Actor, *, year: int, force: bool = False, note: str | None = None,
                   idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "manage_years")

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
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
        return {**response, "digest": self.digest(year)}  # a copy: the response may be an idempotency record's
