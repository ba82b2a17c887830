"""Corrections (更正): voiding a meeting entered by mistake, which retracts every finding it caused."""

from __future__ import annotations

from typing import Any

from domain.actors import Actor, require, require_retractor
from domain.errors import Conflict
from domain.lifecycle import FindingStatus
from domain.office import Meeting


class CorrectionCommands:
    def void_meeting(self, actor: Actor, *, year: int, meeting_id: str, reason: str,
                     idempotency_key: str | None = None) -> dict[str, Any]:
        """Mark the meeting 作废 and retract each live finding it caused, in one transaction."""
        require(actor, "run_office_workflows")

        def build() -> tuple[list, dict]:
            self._open_year(year)
            meeting = self._workflow(Meeting, year, meeting_id, "会议 (meeting)")
            changed: list = [meeting]
            retracted: list[dict[str, Any]] = []
            why = f"会议作废：{str(reason or '').strip()}"
            for district in meeting.absent:
                ledger = self._ledger(year, district)
                for finding_id in self._caused_by(ledger, str(meeting.id)):
                    if ledger.history.status(finding_id) is not FindingStatus.LIVE:
                        continue  # already retracted, or overturned on dispute: nothing left to take back
                    require_retractor(actor, ledger.history.finding(finding_id).recorded_by)
                    try:
                        ledger.retract_finding(finding_id=finding_id, reason=why, actor=actor.as_event())
                    except Conflict as e:
                        raise Conflict(f"{district}：{e.message}", field="meeting") from None
                    retracted.append({"id": finding_id, "district": district, "receipt": ledger.receipt})
                    changed.append(ledger)
            meeting.void(reason=reason, retracted=[r["id"] for r in retracted], actor=actor.as_event())
            index = self._meeting_index(year, meeting.title, meeting.held_on)
            if index is not None:
                index.note_voided(meeting_id=str(meeting.id), actor=actor.as_event())
                changed.append(index)
            return changed, {"id": str(meeting.id), "voided": True, "retracted": retracted,
                             "receipt": meeting.receipt}

        return self._write(actor, "void_meeting", {"year": year, "meeting": meeting_id, "reason": reason},
                           build, idempotency_key)

    def _caused_by(self, ledger: Any, source_id: str) -> list[str]:
        """The findings on a ledger that an office workflow (meeting, report, task) recorded, read from the store."""
        history = self.load_history(str(ledger.id), ledger.version, details=True)
        return [fid for fid, detail in (history.details or {}).items()
                if (detail.get("source") or {}).get("id") == source_id]
