"""The verifiable log's use cases: the service's key, signed checkpoints, inclusion and consistency proofs,
the leaves, receipts' log entries, and witnesses' cosignatures (见证签名).

The tree is the `merkle_log` projection's view tables; checkpoints are signed here, at most one per size,
and kept in `log_tables` (never dropped by a rebuild).
"""

from __future__ import annotations

import base64
import logging
from collections import defaultdict
from typing import Any
from uuid import UUID

from api.service import log_tables
from api.service.log_integration import Integrated
from api.service.writes import IdempotencyKeyReused, refused_by_store
from domain import merkle
from domain.actors import Actor, can_read_event, require
from domain.errors import Conflict, InvalidInput
from domain.signed_note import MalformedNote, Verifier, checkpoint_body, parse_checkpoint, parse_note
from projections.merkle_log import LogTree

log = logging.getLogger("kaohe.log")


class InconsistentCheckpoint(Conflict):
    """A cosignature refused: the checkpoint does not extend what that witness cosigned before (→ 409)."""

    code = "inconsistent_checkpoint"

MAX_LEAVES = 1000
READ_WAIT = 5.0


class LogService:
    """Mixed into `KaoheApp`; bootstrap sets `log_signer` (domain.signed_note.Signer) and `log_integration`
    (api.service.log_integration: the log caught up inside every insert's transaction)."""

    log_signer: Any = None
    log_integration: Any = None
    log_vkey: str | None = None  # a verifier key given from outside (kaohe verify --vkey)

    # --- the key and the tree --------------------------------------------------------------

    def log_key(self) -> dict[str, Any]:
        signer = self._signer()
        return {"name": signer.name, "public_key": base64.b64encode(signer.public_key_bytes).decode(),
                "vkey": signer.vkey}

    def origin(self, year: int) -> str:
        if not self.log_vkey and self.log_signer is not None:
            return f"{self.log_signer.name}/{year}"  # every write signs one: no key parsing on that path
        key = self.log_verifier()
        if key is None:
            raise Conflict("没有日志签名密钥 (no log key)")
        return f"{key.name}/{year}"

    def log_verifier(self) -> Verifier | None:
        """The public key events and checkpoints are checked with: the one given (`kaohe verify --vkey`),
        else the service's own; None for a copy checked without its key."""
        if self.log_vkey:
            return Verifier(self.log_vkey)
        return Verifier(self.log_signer.vkey) if self.log_signer is not None else None

    def _signer(self) -> Any:
        if self.log_signer is None:
            raise Conflict("没有日志签名密钥 (no log signing key: the store was opened read-only without one)")
        return self.log_signer

    def log_tree(self, year: int) -> LogTree:
        return LogTree(self.views.query, year)

    def log_fresh(self) -> None:
        """Before a log read. Every write is in the log when it commits (its own transaction adds it), so
        this only matters for events that reached the store some other way: those are integrated by the
        runner (or here, without one), under the store's insert lock."""
        if self.views.read_only:
            return  # a read-only copy: the log's views are what they are
        integration = self.log_integration
        head = self.recorder.max_notification_id() or 0
        if (integration.caught_up_to or 0) >= head:
            return
        if self.runner is None or not self.runner.running:
            integration.run()
            return
        self.runner.nudge()
        if self.runner.error is None:
            integration.wait_for(head, READ_WAIT)

    # --- checkpoints -------------------------------------------------------------------------

    def sign_checkpoint(self, year: int, size: int | None = None, root: bytes | None = None) -> dict[str, Any]:
        """The checkpoint at `size` (default: the log's size now), signed now unless one of that size is kept.

        At most one per size: a kept one is returned as it is, even if the tree now disagrees with it
        (that disagreement is what `verify`, witnesses and receipts catch).
        """
        tree = self.log_tree(year)
        size = tree.size() if size is None else size
        kept = log_tables.checkpoint(self.views, year, size)
        if kept is not None:
            return kept
        root = tree.root(size) if root is None else root
        note = self._signer().sign(checkpoint_body(self.origin(year), size, root))
        return log_tables.store_checkpoint(self.views, year, size, root.hex(), note)

    def latest_checkpoint(self, actor: Actor, year: int) -> dict[str, Any]:
        """The newest checkpoint, signed for the log's current size if no write has signed one yet."""
        require(actor, "read_log")
        self.year_info(year)
        self.log_fresh()
        size = self.log_tree(year).size()
        latest = log_tables.checkpoint(self.views, year)
        if latest is None or latest["size"] < size:
            try:
                latest = self.sign_checkpoint(year, size)
            except Exception as e:
                # The database refuses writes (disk full): the newest kept checkpoint still answers the read.
                if latest is None or not refused_by_store(e):
                    raise
        return self._checkpoint_answer(year, latest)

    def final_checkpoint(self, year: int) -> dict[str, Any] | None:
        """A closed year's final checkpoint: the first signed after the year's Closed event (the close's
        receipt signed it; a 通报 heading set later grows the log, not the figures)."""
        y = self._year(year)
        if not y.closed:
            return None
        self.log_fresh()
        closed = next((e for e in reversed(list(self.events.get(y.id))) if type(e).__name__ == "Closed"), None)
        rows = self.views.query("SELECT idx FROM view_log_leaves WHERE hash = ?", (closed.hash,)) if closed else []
        return log_tables.checkpoint_covering(self.views, year, int(rows[0][0])) if rows else None

    def final_log_head(self, year: int) -> dict[str, Any] | None:
        """{size, root} of a closed year's final checkpoint."""
        cp = self.final_checkpoint(year)
        return {"size": cp["size"], "root": cp["root"]} if cp else None

    def _checkpoint_answer(self, year: int, cp: dict[str, Any]) -> dict[str, Any]:
        return {"origin": self.origin(year), "size": cp["size"], "root": cp["root"], "note": cp["note"],
                "signed_at": cp["signed_at"], "cosignatures": log_tables.cosignatures(self.views, year, cp["size"])}

    # --- proofs ------------------------------------------------------------------------------

    def _size_in_log(self, year: int, value: int, field: str, *, allow_zero: bool = True) -> int:
        size = self.log_tree(year).size()
        if not isinstance(value, int) or value < (0 if allow_zero else 1) or value > size:
            raise InvalidInput(f"{field} 超出日志范围 0..{size} (out of range: the log of {year} has {size} leaves)",
                               field=field)
        return size

    def inclusion(self, actor: Actor, year: int, index: int, size: int | None = None) -> dict[str, Any]:
        require(actor, "read_log")
        self.year_info(year)
        self.log_fresh()
        current = self.log_tree(year).size()
        size = current if size is None else size
        self._size_in_log(year, size, "size", allow_zero=False)
        if not isinstance(index, int) or not 0 <= index < size:
            raise InvalidInput(f"index 必须在 0..{size - 1} 之间 (index out of range for size {size})", field="index")
        leaf, proof, root = self.log_tree(year).inclusion(index, size)
        return {"index": index, "size": size, "leaf_hash": leaf.hex(), "root": root.hex(),
                "proof": [p.hex() for p in proof]}

    def consistency(self, actor: Actor, year: int, first: int, second: int) -> dict[str, Any]:
        require(actor, "read_log")
        self.year_info(year)
        self.log_fresh()
        self._size_in_log(year, second, "second")
        if not isinstance(first, int) or not 0 <= first <= second:
            raise InvalidInput(f"first 必须在 0..{second} 之间 (first must be between 0 and second)", field="first")
        proof, _, _ = self.log_tree(year).consistency(first, second)
        return {"first": first, "second": second, "proof": [p.hex() for p in proof]}

    def leaves(self, actor: Actor, year: int, start: int, end: int) -> dict[str, Any]:
        """Leaves [start, end): each its chain hash and leaf hash, and the full stored event where the caller
        may read it (a district only its own ledger's), so anyone can recompute both hashes."""
        require(actor, "read_log")
        self.year_info(year)
        self.log_fresh()
        size = self._size_in_log(year, end, "end")
        if not isinstance(start, int) or not 0 <= start <= end:
            raise InvalidInput("start 必须在 0..end 之间 (start must be between 0 and end)", field="start")
        if end - start > MAX_LEAVES:
            raise InvalidInput(f"一次最多 {MAX_LEAVES} 条 (at most {MAX_LEAVES} leaves a call)", field="end")
        rows = self.views.query(
            "SELECT l.idx, l.hash, n.hash, l.aggregate_id, l.version, a.kind, a.district FROM view_log_leaves l "
            "JOIN view_log_nodes n ON n.year = l.year AND n.level = 0 AND n.idx = l.idx "
            "LEFT JOIN view_aggregates a ON a.aggregate_id = l.aggregate_id "
            "WHERE l.year = ? AND l.idx >= ? AND l.idx < ? ORDER BY l.idx", (year, start, end))
        readable = [(aggregate, version) for _, _, _, aggregate, version, kind, district in rows
                    if can_read_event(actor, kind, district)]
        stored = self.stored_events_of(readable)
        out = []
        for index, digest, leaf, aggregate, version, _, _ in rows:
            entry: dict[str, Any] = {"index": int(index), "hash": digest, "leaf_hash": leaf}
            event = stored.get((aggregate, int(version)))
            if event is not None:
                entry["event"] = event
            out.append(entry)
        return {"year": year, "start": start, "end": end, "size": size, "leaves": out}

    def stored_events_of(self, wanted: list[tuple[str, int]]) -> dict[tuple[str, int], dict[str, Any]]:
        """(aggregate, version) → the event exactly as stored: topic, originator id and version, state (text)."""
        by_aggregate: dict[str, list[int]] = defaultdict(list)
        for aggregate, version in wanted:
            by_aggregate[aggregate].append(int(version))
        found = {}
        for aggregate, versions in by_aggregate.items():
            for e in self.recorder.select_events(UUID(aggregate), gt=min(versions) - 1, lte=max(versions)):
                found[(aggregate, e.originator_version)] = {
                    "topic": e.topic, "originator_id": str(e.originator_id),
                    "originator_version": e.originator_version, "state": bytes(e.state).decode("utf-8")}
        return found

    # --- receipts ----------------------------------------------------------------------------

    def log_entries(self, hashes: list[str], *, integrated: Integrated | None = None,
                    first: bool = False) -> dict[str, dict[str, Any]]:
        """Per chain hash, what a receipt carries: its leaf index, a signed checkpoint and the inclusion proof
        against it. A leaf the write just added (`integrated`) is proven against the checkpoint its insert
        signed, from the nodes it made (in memory); any other against the newest kept
        checkpoint, or (`first`) the first kept one that included it. A hash the log has not got (the views
        failing) is left out: the write itself is stored all the same."""
        wanted = list(dict.fromkeys(h for h in hashes if h))
        out: dict[str, dict[str, Any]] = {}
        # (year, size) → the checkpoint and the leaves to prove against it
        pending: dict[tuple[int, int], tuple[dict[str, Any], list[tuple[int, str]]]] = {}

        def entry(index: int, digest: str, cp: dict[str, Any], proof: list[bytes]) -> dict[str, Any]:
            return {"index": index, "size": cp["size"], "root": cp["root"], "note": cp["note"],
                    "proof": [p.hex() for p in proof], "hash": digest}

        try:
            found = integrated.leaves if integrated else {}
            for digest in wanted:
                if digest not in found:
                    continue
                year, index = found[digest]
                cp = integrated.checkpoints[year]
                newest = integrated.last_proofs.get(year)
                if newest is not None and newest[0] == index == cp["size"] - 1:
                    out[digest] = entry(index, digest, cp, newest[1])
                    continue
                proof = _proof_in_memory(integrated.nodes.get(year), index, cp["size"])
                if proof is not None:  # a batch's other leaves: from the nodes the insert made, no SELECT
                    out[digest] = entry(index, digest, cp, proof)
                else:
                    pending.setdefault((year, cp["size"]), (cp, []))[1].append((index, digest))
            rest = [h for h in wanted if h not in found]
            if rest:
                rows = self.views.query(f"SELECT year, idx, hash FROM view_log_leaves WHERE hash IN "
                                        f"({', '.join('?' * len(rest))})", rest)
                for year, index, digest in rows:
                    year, index = int(year), int(index)
                    cp = log_tables.checkpoint_covering(self.views, year, index) if first \
                        else log_tables.checkpoint(self.views, year)
                    if cp is not None and cp["size"] > index:
                        pending.setdefault((year, cp["size"]), (cp, []))[1].append((index, digest))
            for (year, size), (cp, items) in pending.items():
                proofs = self.log_tree(year).inclusion_proofs([i for i, _ in items], size)
                for index, digest in items:
                    out[digest] = entry(index, digest, cp, proofs[index])
        except Exception as e:  # noqa: BLE001 - a receipt without its log entry beats a stored write answered 500
            log.warning("no log entry for %s: %s", wanted[:3], e)
            return {}
        return out

    def receipts(self, actor: Actor, year: int, district: str) -> list[dict[str, Any]]:
        """Every receipt of a district: each event of its ledger with the first checkpoint that included it."""
        events = self.audit(actor, year, district)
        self.log_fresh()
        entries = self.log_entries([e["hash"] for e in events], first=True)
        out = []
        for e in events:
            entry = entries.get(e["hash"])
            out.append({"year": year, "district": district, "type": e["type"], "recorded_at": e["recorded_at"],
                        "receipt": {"aggregate": e["originator_id"], "version": e["seq"], "head": e["hash"],
                                    "log": entry}})
        return out

    # --- witnesses ---------------------------------------------------------------------------

    def add_witness_key(self, vkey: str) -> dict[str, Any]:
        try:
            verifier = Verifier(vkey.strip())
        except MalformedNote as e:
            raise InvalidInput(f"见证密钥格式错误 (malformed witness key: {e.message})", field="vkey") from None
        if self.log_signer is not None and verifier.vkey == self.log_signer.vkey:
            raise InvalidInput("服务自己的密钥不能作见证 (the service's own key cannot be a witness)", field="vkey")
        added = log_tables.add_witness_key(self.views, verifier.vkey, verifier.name)
        return {"name": verifier.name, "vkey": verifier.vkey, "added": added}

    def cosign(self, actor: Actor, year: int, note: str, idempotency_key: str | None = None) -> dict[str, Any]:
        """Keep a witness's cosignature of a checkpoint this log signed, if consistent with the last one that
        witness cosigned (so a witness never vouches for two diverging histories)."""
        require(actor, "cosign")
        self.year_info(year)
        self.log_fresh()
        if idempotency_key:
            earlier = log_tables.cosigned_with_key(self.views, actor.name, idempotency_key)
            if earlier:
                if not all(y == year and line in note for y, _, _, line in earlier):
                    raise IdempotencyKeyReused("Idempotency-Key 已用于另一个请求 (this Idempotency-Key was used "
                                               "with a different request)", field="Idempotency-Key")
                return {**self._cosigned(year, note, [v for _, v, _, _ in earlier]), "idempotent_replay": True}
        try:
            body, sigs = parse_note(note)
            origin, size, root = parse_checkpoint(body)
        except MalformedNote as e:
            raise InvalidInput(f"不是签名检查点 (not a signed checkpoint: {e.message})", field="note") from None
        kept = log_tables.checkpoint(self.views, year, size)
        if origin != self.origin(year) or kept is None or parse_note(kept["note"])[0] != body:
            raise InvalidInput(f"不是本日志签署的 {year} 年度检查点 (not a checkpoint this log signed)", field="note")
        witnesses = log_tables.witness_keys(self.views)
        signing = [Verifier(v) for v in witnesses if any((n, k) == (Verifier(v).name, Verifier(v).key_id)
                                                         for n, k, _ in sigs)]
        if not signing:
            raise InvalidInput("没有已登记见证密钥的签名 (no signature by a registered witness key)", field="note")
        for verifier in signing:
            if not verifier.verify(note):
                raise InvalidInput(f"见证 {verifier.name} 的签名无效 (the cosignature does not verify)", field="note")
            self._check_witness_consistency(year, verifier, size, root)
        for verifier in signing:
            line = next(f"\u2014 {n} {base64.b64encode(k + s).decode()}\n" for n, k, s in sigs
                        if (n, k) == (verifier.name, verifier.key_id))
            log_tables.store_cosignature(self.views, year, verifier.vkey, size, root.hex(), line, actor.name,
                                         idempotency_key)
        return self._cosigned(year, note, [v.vkey for v in signing])

    def _check_witness_consistency(self, year: int, verifier: Verifier, size: int, root: bytes) -> None:
        last = log_tables.last_cosigned(self.views, year, verifier.vkey)
        if last is None:
            return
        last_size, last_root = last
        if size < last_size:
            raise InconsistentCheckpoint(f"见证 {verifier.name} 已签过更大的检查点 {last_size} "
                                         f"(this witness cosigned size {last_size}: a smaller one would roll the log back)")
        if size > self.log_tree(year).size():
            raise InconsistentCheckpoint("日志比该检查点短：历史被截断 (the log is shorter than this checkpoint)")
        proof, _, _ = self.log_tree(year).consistency(last_size, size)
        if not merkle.verify_consistency(last_size, size, bytes.fromhex(last_root), root, proof):
            raise InconsistentCheckpoint(f"该检查点与见证 {verifier.name} 上次签署的检查点（大小 {last_size}）不一致 "
                                         "(inconsistent with the last checkpoint this witness cosigned)")

    def _cosigned(self, year: int, note: str, vkeys: list[str]) -> dict[str, Any]:
        body, _ = parse_note(note)
        _, size, root = parse_checkpoint(body)
        names = log_tables.witness_keys(self.views)
        return {"year": year, "size": size, "root": root.hex(), "witnesses": [names.get(v, v) for v in vkeys],
                "cosignatures": log_tables.cosignatures(self.views, year, size)}


def _proof_in_memory(nodes: dict[tuple[int, int], bytes] | None, index: int, size: int) -> list[bytes] | None:
    """The inclusion proof of a leaf an insert just added, from the nodes it kept (None: one is not there)."""
    if not nodes:
        return None
    try:
        return merkle.inclusion_proof(index, size, lambda level, i: nodes[(level, i)])
    except KeyError:
        return None
