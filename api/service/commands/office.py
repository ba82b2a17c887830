"""The office's workflows on 8.2 and 8.5: meetings (会议点名), reports (报送材料), temporary tasks (临时交办任务).

Each workflow event is saved in the same transaction as the findings it causes on the ledgers.
"""

from __future__ import annotations

from typing import Any

from eventsourcing.application import AggregateNotFoundError

from api.service.writes import strings
from domain.actors import Actor, require
from domain.errors import Conflict
from domain.ledger import new_item_id
from domain.meeting_index import MeetingIndex, meeting_index_id
from domain.office import MEETING_CLAUSE, REPORT_CLAUSE, TASK_CLAUSE, Meeting, Report, Task


class OfficeCommands:
    def hold_meeting(self, actor: Actor, *, year: int, title: str, held_on: str, absent: list[str],
                     excused: list[str] | None = None, note: str | None = None, evidence: list | None = None,
                     allow_duplicate: bool = False, idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "run_office_workflows")
        excused = list(excused or [])
        args = {"year": year, "title": title, "held_on": held_on, "absent": absent, "excused": excused, "note": note,
                "evidence": evidence, "allow_duplicate": bool(allow_duplicate)}

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            self._has_workflow_clause(year, MEETING_CLAUSE, "会议点名")
            day = self._business_date(year, held_on, "held_on", required=True)
            for field, names in (("absent", absent), ("excused", excused)):
                for d in strings(names, field):
                    self._check_district(y, d, field)
            proof = strings(evidence, "evidence")
            meeting = Meeting.hold(year=year, title=title, held_on=day, absent=absent, excused=excused,
                                   actor=actor.as_event(), note=note, evidence=proof)
            index = self._meeting_index(year, meeting.title, day)
            if index is None:
                index = MeetingIndex.register(year=year, title=meeting.title, held_on=day,
                                              meeting_id=str(meeting.id), actor=actor.as_event())
            else:
                index.check_new(allow_duplicate=bool(allow_duplicate))
                index.add(meeting_id=str(meeting.id), duplicate_confirmed=bool(index.live), actor=actor.as_event())
            source = {"kind": "meeting", "id": str(meeting.id), "title": meeting.title}
            ledgers, findings = [], []
            for d in absent:
                ledger = self._ledger(year, d)
                finding_id = new_item_id(year, d)
                ledger.record_finding(finding_id=finding_id, clause=MEETING_CLAUSE, indicator="8.2",
                                      actor=actor.as_event(), occurred_on=day, source=source, evidence=proof,
                                      note=f"未参加：{meeting.title}")
                ledgers.append(ledger)
                findings.append({"id": finding_id, "district": d, "clause": MEETING_CLAUSE, "receipt": ledger.receipt})
            for d in excused:
                ledger = self._ledger(year, d)
                ledger.note_activity(activity="excused_absence", actor=actor.as_event(), occurred_on=day,
                                     source=source, evidence=proof, note=f"请假：{meeting.title}")
                ledgers.append(ledger)
            return [meeting, index, *ledgers], {"id": str(meeting.id), "findings": findings}

        return self._write(actor, "hold_meeting", args, build, idempotency_key)

    def _meeting_index(self, year: int, title: str, held_on: str) -> MeetingIndex | None:
        try:
            return self._get(meeting_index_id(year, title, held_on))
        except AggregateNotFoundError:
            return None

    def schedule_report(self, actor: Actor, *, year: int, title: str, due_on: str, note: str | None = None,
                        idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "run_office_workflows")

        def build() -> tuple[list, dict]:
            self._open_year(year)
            day = self._business_date(year, due_on, "due_on", required=True)
            report = Report.schedule(year=year, title=title, due_on=day, actor=actor.as_event(), note=note)
            return [report], {"id": str(report.id), "title": report.title, "due_on": day}

        return self._write(actor, "schedule_report", {"year": year, "title": title, "due_on": due_on, "note": note},
                           build, idempotency_key)

    def record_submission(self, actor: Actor, *, year: int, report_id: str, district: str, submitted_on: str,
                          evidence: list | None = None, idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "run_office_workflows")
        row = {"district": district, "submitted_on": submitted_on, "evidence": evidence}
        return self._write(actor, "record_submission", {"year": year, "report": report_id, **row},
                           lambda: self._submission_step(actor, year, report_id, row), idempotency_key)

    def record_submissions(self, actor: Actor, *, year: int, report_id: str, submissions: list[dict[str, Any]],
                           idempotency_key: str | None = None) -> dict[str, Any]:
        """Many districts' submissions of one report in one transaction, all or nothing."""
        require(actor, "run_office_workflows")
        return self._write_rows(actor, "record_submissions", {"year": year, "report": report_id}, "submissions",
                                submissions, lambda i, row: self._submission_step(actor, year, report_id, row),
                                idempotency_key, before=lambda: self._report(year, report_id))

    def _report(self, year: int, report_id: str) -> Report:
        self._open_year(year)
        return self._workflow(Report, year, report_id, "报送事项 (report)")

    def _submission_step(self, actor: Actor, year: int, report_id: str, row: dict[str, Any]) -> tuple[list, dict]:
        y = self._open_year(year)
        district = row.get("district")
        self._check_district(y, district)
        day = self._business_date(year, row.get("submitted_on"), "submitted_on", required=True)
        report = self._report(year, report_id)
        proof = strings(row.get("evidence"), "evidence")
        report.record_submission(district=district, submitted_on=day, actor=actor.as_event(), evidence=proof)
        ledger = self._ledger(year, district)
        on_time = not report.is_late(day)
        ledger.note_activity(activity="report_submitted" if on_time else "report_submitted_late",
                             actor=actor.as_event(), occurred_on=day, evidence=proof,
                             source={"kind": "report", "id": report_id, "title": report.title,
                                     "due_on": report.due_on})
        return [report, ledger], {"report": report_id, "district": district, "submitted_on": day,
                                  "on_time": on_time, "receipt": ledger.receipt}

    def close_report(self, actor: Actor, *, year: int, report_id: str,
                     idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "run_office_workflows")

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            self._has_workflow_clause(year, REPORT_CLAUSE, "报送材料")
            report = self._workflow(Report, year, report_id, "报送事项 (report)")
            late, missing = report.close(districts=y.districts, actor=actor.as_event())
            source = {"kind": "report", "id": report_id, "title": report.title, "due_on": report.due_on}
            ledgers, findings = [], []
            for d in y.districts:
                if d not in late and d not in missing:
                    continue
                ledger = self._ledger(year, d)
                finding_id = new_item_id(year, d)
                what = "逾期报送" if d in late else "未报送"
                ledger.record_finding(finding_id=finding_id, clause=REPORT_CLAUSE, indicator="8.2",
                                      actor=actor.as_event(), occurred_on=report.due_on, source=source,
                                      note=f"{what}：{report.title}")
                ledgers.append(ledger)
                findings.append({"id": finding_id, "district": d, "clause": REPORT_CLAUSE,
                                 "reason": "late" if d in late else "missing", "receipt": ledger.receipt})
            return [report, *ledgers], {"id": report_id, "late": late, "missing": missing, "findings": findings}

        return self._write(actor, "close_report", {"year": year, "report": report_id}, build, idempotency_key)

    def assign_task(self, actor: Actor, *, year: int, title: str, assigned_on: str, due_on: str,
                    districts: list[str], note: str | None = None,
                    idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "run_office_workflows")
        args = {"year": year, "title": title, "assigned_on": assigned_on, "due_on": due_on,
                "districts": districts, "note": note}

        def build() -> tuple[list, dict]:
            y = self._open_year(year)
            start = self._business_date(year, assigned_on, "assigned_on", required=True)
            due = self._business_date(year, due_on, "due_on", required=True)
            for d in strings(districts, "districts"):
                self._check_district(y, d, "districts")
            task = Task.assign(year=year, title=title, assigned_on=start, due_on=due, districts=districts,
                               actor=actor.as_event(), note=note)
            return [task], {"id": str(task.id), "title": task.title, "districts": task.districts}

        return self._write(actor, "assign_task", args, build, idempotency_key)

    def record_task_outcome(self, actor: Actor, *, year: int, task_id: str, district: str, outcome: str,
                            note: str | None = None, evidence: list | None = None,
                            idempotency_key: str | None = None) -> dict[str, Any]:
        require(actor, "run_office_workflows")
        row = {"district": district, "outcome": outcome, "note": note, "evidence": evidence}
        return self._write(actor, "record_task_outcome", {"year": year, "task": task_id, **row},
                           lambda: self._outcome_step(actor, year, task_id, row), idempotency_key)

    def record_task_outcomes(self, actor: Actor, *, year: int, task_id: str, outcomes: list[dict[str, Any]],
                             idempotency_key: str | None = None) -> dict[str, Any]:
        """Many districts' outcomes of one task in one transaction, all or nothing."""
        require(actor, "run_office_workflows")
        return self._write_rows(actor, "record_task_outcomes", {"year": year, "task": task_id}, "outcomes",
                                outcomes, lambda i, row: self._outcome_step(actor, year, task_id, row),
                                idempotency_key, before=lambda: self._task(year, task_id))

    def _task(self, year: int, task_id: str) -> Task:
        self._open_year(year)
        return self._workflow(Task, year, task_id, "临时交办任务 (task)")

    def _outcome_step(self, actor: Actor, year: int, task_id: str, row: dict[str, Any]) -> tuple[list, dict]:
        y = self._open_year(year)
        district, outcome, note = row.get("district"), row.get("outcome"), row.get("note")
        self._check_district(y, district)
        task = self._task(year, task_id)
        proof = strings(row.get("evidence"), "evidence")
        task.record_outcome(district=district, outcome=outcome, actor=actor.as_event(), note=note, evidence=proof)
        ledger = self._ledger(year, district)
        source = {"kind": "task", "id": task_id, "title": task.title}
        response: dict[str, Any] = {"task": task_id, "district": district, "outcome": outcome}
        if outcome == "unfinished":
            self._has_workflow_clause(year, TASK_CLAUSE, "临时交办任务")
            finding_id = new_item_id(year, district)
            ledger.record_finding(finding_id=finding_id, clause=TASK_CLAUSE, indicator="8.5",
                                  actor=actor.as_event(), occurred_on=task.due_on, source=source, evidence=proof,
                                  note=note or f"未完成：{task.title}")
            response["finding"] = {"id": finding_id, "clause": TASK_CLAUSE}
        else:
            ledger.note_activity(activity="task_completed", actor=actor.as_event(), occurred_on=task.due_on,
                                 source=source, note=note, evidence=proof)
        response["receipt"] = ledger.receipt
        return [task, ledger], response

    def _has_workflow_clause(self, year: int, clause: str, workflow: str) -> None:
        """A year opened on a rubric without the office's clause (an added rubric) cannot deduct through it."""
        if not self.rubric_of_year(year).has_clause(clause):
            raise Conflict(f"{year} 年度的考核细则没有条款 {clause}，不能通过{workflow}扣分 "
                           f"(the year's rubric has no clause {clause} for this workflow)")
