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

    def vouched(self, signature: Any) -> bool:
        """`ok` for an event a signed checkpoint covers (see LogCheck): only whether it carries a signature
        counts here, the checkpoint's signature proving its chain hash already."""
        if self.verifier is None:
            return True
        if signature is None and not self.began:
            self.before += 1
            return True
        self.began = self.began or signature is not None
        return signature is not None

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


class LogCheck:
    """The tree of each year's stored events, grown one chain hash at a time as `verify` reads them (nothing kept
    but each tree's right border), against every checkpoint kept for the year at the size it was signed, and at
    the end against the log's views.

    `vouched`: the newest checkpoint of each year whose signature holds is its anchor; `add` says whether a leaf
    lies under it. If the tree at the anchor's size has the anchor's root (checked at the end), the signed root
    proves every chain hash under it, so those events' own signatures need no Ed25519 check of their own.
    """

    def __init__(self, app: Any, signatures: Signatures, *, vouched: bool = False):
        self.app = app
        self.kept: dict[int, list[dict[str, Any]]] = {}
        for cp in log_tables.checkpoints(app.views):
            self.kept.setdefault(cp["year"], []).append(cp)  # by year, then size
        self.trees: dict[int, Frontier] = {}
        self.counts: dict[int, int] = {}  # year → chain hashes read
        self.bad: dict[int, int] = {}  # year → index of its first chain hash that is not hex
        self.roots: dict[tuple[int, int], bytes] = {(y, 0): merkle.EMPTY_ROOT for y in self.kept}
        self._next: dict[int, int] = {}  # year → its next checkpoint (index into kept[year]) not yet reached
        self.anchors: dict[int, dict[str, Any]] = {}
        if vouched and signatures.verifier is not None:
            for y, kept in self.kept.items():
                self.anchors[y] = next((cp for cp in reversed(kept) if not _check_note(app, signatures, y, cp)),
                                       {"size": 0})

    def add(self, year: int, chain_hash: str) -> bool:
        """The next leaf of `year`'s tree; True if the year's anchor covers it."""
        index = self.counts.get(year, 0)
        self.counts[year] = index + 1
        if year in self.bad:
            return False
        tree = self.trees.get(year)
        if tree is None:
            tree = self.trees[year] = Frontier()
        try:
            tree.append(merkle.leaf_hash(bytes.fromhex(chain_hash)))
        except ValueError:
            self.bad[year] = index
            return False
        kept = self.kept.get(year)
        if kept:
            i = self._next.get(year, 0)
            while i < len(kept) and kept[i]["size"] <= tree.size:
                if kept[i]["size"] == tree.size:
                    self.roots[(year, tree.size)] = tree.root()
                i += 1
            self._next[year] = i
        anchor = self.anchors.get(year)
        return anchor is not None and index < anchor["size"]

    def problems(self, year: int | None, began: bool = True) -> list[dict[str, Any]]:
        """Every checkpoint kept against the tree of the stored events, and the log's views against that tree."""
        kept = {y: cps for y, cps in self.kept.items() if year is None or y == year}
        years = [year] if year is not None else sorted(set(self.counts) | set(kept))
        signatures = Signatures(self.app)
        problems: list[dict[str, Any]] = []
        if kept and sum(self.counts.values()) and not began:
            # Checkpoints are signed only by a service that signs its events: here none is signed any more.
            problems.append(_problem(min(kept), None, "checkpoints are kept but no event carries the service's "
                                                      "signature: the signatures were stripped"))
        for y in years:
            count, bad = self.counts.get(y, 0), self.bad.get(y)
            for cp in kept.get(y, []):
                problems.extend(_check_note(self.app, signatures, y, cp))
                if cp["size"] > count:
                    problems.append(_problem(y, cp["size"], f"a checkpoint of size {cp['size']} was signed but the "
                                                            f"store holds only {count} events of the year: events "
                                                            "were deleted"))
                    continue
                if bad is not None and cp["size"] > bad:
                    problems.append(_problem(y, cp["size"], "a stored chain hash is not 64 hex digits"))
                    break
                if self.roots[(y, cp["size"])].hex() != cp["root"]:
                    problems.append(_problem(y, cp["size"], f"the stored events make a different tree at size "
                                                            f"{cp['size']} than the checkpoint signed then: history "
                                                            "was rewritten"))
            if bad is None:
                problems.extend(_check_views(self.app, y, count, self.trees.get(y) or Frontier()))
        return problems


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


def _check_views(app: Any, year: int, count: int, expected: Frontier) -> list[dict[str, Any]]:
    """The log's view tables (what proofs are served from) hold the tree of the stored events (`count` of them,
    `expected` their tree)."""
    if _lagging(app, app.log_integration):
        return []  # the log's views have not read the whole store (a read-only copy): nothing to compare
    tree = app.log_tree(year)
    size = tree.size()
    if size != count:
        return [_problem(year, size, f"the log's views hold {size} leaves, the store {count} events: "
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
