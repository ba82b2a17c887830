"""What `verify` adds for the verifiable log: each event's signature by the service, the Merkle tree recomputed
from the stored events against every checkpoint the service signed (so a truncated or rewritten history is
caught even after `kaohe replay`), and the scores recomputed from the events against what the views show.
"""

from __future__ import annotations

from typing import Any

from api.service import log_tables
from domain import merkle
from domain.log_check import event_signature_ok
from domain.signed_note import MalformedNote, parse_checkpoint, parse_note
from projections.catchup import dumps, loads
from projections.merkle_log import Frontier
from projections.scoreboard import breakdown


class Signatures:
    """Checks each event's `signature` with the service's public key."""

    def __init__(self, app: Any):
        self.verifier = app.log_verifier()
        self.began = False  # a validly signed event was seen: from there on every event must be signed
        self.before = 0  # unsigned events before the first signed one: written before signing began

    def ok(self, chain_hash: str, signature: Any) -> bool:
        """Events are read in store order. Unsigned ones before the first signed one were written before
        kaohe signed events (an older store): counted, not refused. Without a key (a copy checked without
        --vkey) nothing is checked: `verify` says so."""
        if self.verifier is None:
            return True
        if signature is None and not self.began:
            self.before += 1
            return True
        good = event_signature_ok(self.verifier, chain_hash, signature)
        self.began = self.began or good
        return good

    def notes(self) -> list[str]:
        if self.verifier is None:
            return ["no log key here (a copy without kaohe-log.key): signatures not checked; pass --vkey to check them"]
        if self.before:
            return [f"{self.before} event(s) written before signing began (unsigned, before the first signed one)"]
        return []

    def problem(self, signature: Any) -> str:
        if self.verifier is None:
            return "no log key to check the event's signature with"
        if signature is None:
            return "unsigned: this event was not written by the service"
        return "the service's signature does not match the event's hash: not written by the service, or re-hashed"


def _problem(year: int, size: int | None, text: str) -> dict[str, Any]:
    return {"aggregate": f"log/{year}", "version": size, "position": None, "problem": text}


def check_log(app: Any, leaves: dict[int, list[str]], year: int | None, began: bool = True) -> list[dict[str, Any]]:
    """The tree of each year's stored events against every checkpoint kept for it, and against the log's views."""
    kept: dict[int, list[dict[str, Any]]] = {}
    for cp in log_tables.checkpoints(app.views, year):
        kept.setdefault(cp["year"], []).append(cp)
    years = [year] if year is not None else sorted(set(leaves) | set(kept))
    signatures = Signatures(app)
    problems: list[dict[str, Any]] = []
    if kept and any(leaves.values()) and not began:
        # Checkpoints are signed only by a service that signs its events: here none is signed any more.
        problems.append(_problem(min(kept), None, "checkpoints are kept but no event carries the service's "
                                                  "signature: the signatures were stripped"))
    for y in years:
        hashes = leaves.get(y, [])
        checkpoints = kept.get(y, [])
        tree = Frontier()
        for cp in checkpoints:
            problems.extend(_check_note(app, signatures, y, cp))
            if cp["size"] > len(hashes):
                problems.append(_problem(y, cp["size"], f"a checkpoint of size {cp['size']} was signed but the store "
                                                        f"holds only {len(hashes)} events of the year: events were deleted"))
                continue
            if not _grow(tree, hashes, cp["size"]):
                problems.append(_problem(y, cp["size"], "a stored chain hash is not 64 hex digits"))
                break
            if tree.root().hex() != cp["root"]:
                problems.append(_problem(y, cp["size"], f"the stored events make a different tree at size {cp['size']} "
                                                        "than the checkpoint signed then: history was rewritten"))
        problems.extend(_check_views(app, y, hashes))
    return problems


def _grow(tree: Frontier, hashes: list[str], size: int) -> bool:
    try:
        while tree.size < size:
            tree.append(merkle.leaf_hash(bytes.fromhex(hashes[tree.size])))
    except ValueError:
        return False
    return True


def _check_note(app: Any, signatures: Signatures, year: int, cp: dict[str, Any]) -> list[dict[str, Any]]:
    if signatures.verifier is None:
        return []
    try:
        body, _ = parse_note(cp["note"])
        stated = parse_checkpoint(body)
    except MalformedNote:
        stated = None
    if not signatures.verifier.verify(cp["note"]) or stated != (app.origin(year), cp["size"], bytes.fromhex(cp["root"])):
        return [_problem(year, cp["size"], "a kept checkpoint is not signed by the service's key or says "
                                           "something else than its size and root")]
    return []


def _check_views(app: Any, year: int, hashes: list[str]) -> list[dict[str, Any]]:
    """The log's view tables (what proofs are served from) hold the tree of the stored events."""
    if _lagging(app, app.log_integration):
        return []  # the log's views have not read the whole store (a read-only copy): nothing to compare
    tree = app.log_tree(year)
    size = tree.size()
    expected = Frontier()
    if not _grow(expected, hashes, len(hashes)):
        return []
    if size != len(hashes):
        return [_problem(year, size, f"the log's views hold {size} leaves, the store {len(hashes)} events: "
                                     "events were deleted or inserted behind the service's back")]
    try:
        served = tree.root(size)
    except LookupError as e:
        return [_problem(year, size, f"the log's views are incomplete: {e}")]
    if served != expected.root():
        return [_problem(year, size, "the log's views give another root than the stored events: the views were edited")]
    return []


def check_scores(app: Any, year: int | None) -> list[dict[str, Any]]:
    """Every district's breakdown and every finding's status recomputed from the events (the fast replay)
    against what the views show (and so the API, the pages and the workbook)."""
    from api.service.history import fast_histories

    if _lagging(app, app.catchup):
        return []  # views behind the store are not lying, only late (a read-only copy): nothing to compare
    years = [year] if year is not None else [y for (y,) in app.views.query("SELECT DISTINCT year FROM view_districts")]
    problems = []
    for y in years:
        rubric = app.rubric_of_year(y)
        shown = {d: (total, data) for d, total, data in app.views.query(
            "SELECT district, total, breakdown FROM view_districts WHERE year = ?", (y,))}
        statuses = dict(app.views.query("SELECT finding_id, status FROM view_findings WHERE year = ?", (y,)))
        for district, history in fast_histories(app, y).items():
            where = {"aggregate": f"scores/{y}/{district}", "version": None, "position": None}
            expected = breakdown(rubric, district, history)
            total, data = shown.get(district, (None, None))
            if total != expected["total"] or loads(data) != loads(dumps(expected)):
                problems.append({**where, "problem": f"the views show {total} but the events give "
                                                     f"{expected['total']}: the views were edited"})
            wrong = [f for f in history.findings if statuses.get(f) != history.status(f).value]
            if wrong:
                problems.append({**where, "problem": f"{len(wrong)} finding(s) shown with another status than "
                                                     f"the events give (first {wrong[0]}): the views were edited"})
    return problems


def _lagging(app: Any, catchup: Any) -> bool:
    """Whether these views have not read the whole store, after catching up where the views may be written."""
    if not app.views.read_only:
        app.fresh()
        app.log_fresh()
    latest = app.recorder.max_notification_id() or 0
    return min(catchup.positions().values(), default=0) < latest
