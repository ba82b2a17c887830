"""The verifiable log (可验证日志): one RFC 9162 Merkle tree per assessment year over every hash-chained event,
in notification order, kept as view tables (leaves and perfect-subtree nodes) that proofs read in O(log n).

Leaf input = the 32 bytes of the event's chain hash. During a batch the projection holds each year's right
border (one perfect subtree per set bit of the size); `LogTree` answers roots and proofs from the rows.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence
from uuid import UUID

import orjson
from eventsourcing.persistence import Notification

from domain import merkle
from projections.catchup import BATCH, HISTORY, CatchUp, Fact
from projections.store import Transaction

INSERT_LEAF = ("INSERT INTO view_log_leaves (year, idx, hash, position, aggregate_id, version) "
               "VALUES (?, ?, ?, ?, ?, ?)")
INSERT_NODE = "INSERT INTO view_log_nodes (year, level, idx, hash) VALUES (?, ?, ?, ?)"
KNOWN_LEAVES = 10_000  # leaves an integration keeps the nodes of for its receipts (a batch: a few dozen)


class Frontier:
    """A growing tree's right border: size and the perfect subtrees it is made of, level → hash."""

    def __init__(self, size: int = 0, border: dict[int, bytes] | None = None):
        self.size = size
        self.border = dict(border or {})

    def _get(self, level: int, index: int) -> bytes:
        return self.border[level]  # new_nodes only ever asks for the left sibling, a border node

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return every node it completes (level 0 = the leaf itself)."""
        made = merkle.new_nodes(self.size, leaf, self._get)
        for level, _, _ in made[:-1]:
            del self.border[level]
        top_level, _, top = made[-1]
        self.border[top_level] = top
        self.size += 1
        return made

    def path(self) -> list[bytes]:
        """The inclusion proof of the leaf appended next, in the tree that leaf completes (size + 1): the
        border itself, lowest level first (RFC 9162 §2.1.3.1 for the last leaf: the siblings inside its own
        perfect subtree, then each bigger subtree to its left)."""
        return [self.border[level] for level in sorted(self.border)]

    def root(self) -> bytes:
        """MTH of the whole tree: the border's subtrees combined right to left (RFC 9162's split)."""
        if not self.border:
            return merkle.EMPTY_ROOT
        levels = sorted(self.border)
        h = self.border[levels[0]]
        for level in levels[1:]:
            h = merkle.node_hash(self.border[level], h)
        return h


def border_keys(size: int) -> list[tuple[int, int]]:
    """The (level, index) of the perfect subtrees a tree of `size` leaves is made of."""
    return [(k, (size >> k) - 1) for k in range(size.bit_length()) if size >> k & 1]


class LogCatchUp(CatchUp):
    """The Merkle log's own catch-up. It runs inside the event store's insert transaction (see
    api.service.log_integration), so it reads the notifications through that transaction, which sees the
    events it has just inserted, and needs only each event's class, hash and aggregate: it reads the stored
    JSON directly instead of building events."""

    reads_data = False  # a leaf is the event's chain hash: its other fields are not the log's business

    def __init__(self, app: Any, views: Any, log: MerkleLog, events_table: str):
        super().__init__(app, views, [log])
        self.log = log
        column = "notification_id" if views.is_postgres else "rowid"
        self._select = (f"SELECT {column}, originator_id, originator_version, topic, state FROM {events_table} "
                        f"WHERE {column} > ? ORDER BY {column} LIMIT ?")

    def _notifications(self, tx: Transaction, start: int) -> list[Notification]:
        return [Notification(id=int(i), originator_id=UUID(str(o)), originator_version=int(v), topic=t,
                             state=bytes(state)) for i, o, v, t, state in tx.query(self._select, (start, BATCH))]

    def integrate(self, tx: Transaction, inserted: Sequence[Notification] = ()) -> int:
        """Catch the log up inside `tx` (the store's insert transaction); return the position it reached.
        `committed()` or `forget()` must follow, once the transaction has committed or failed.

        `inserted`: the notifications this transaction has just inserted. When they follow on from where
        this process left the log, nobody else can have added anything in between (the insert holds the
        store's lock), so they are the whole batch: neither the log's position nor the events are read back.
        """
        with self._lock:
            self.log.integrated = []
            self.log.known_nodes = {}
            known = self.log.position
            if known is not None and inserted and [n.id for n in inserted] == list(
                    range(known + 1, known + 1 + len(inserted))):
                return self._batch(tx, {self.log.name: known}, inserted)[1]
            while True:
                count, reached = self._batch(tx)
                if count < BATCH:
                    return reached

    def committed(self, reached: int) -> None:
        self._publish(reached)

    def _decode(self, notification: Any) -> tuple[str, dict, str]:
        state = orjson.loads(notification.state)
        stamp = state.get("timestamp")
        return notification.topic.partition(":")[2], state, stamp.get("_data_", "") if isinstance(stamp, dict) else ""


class MerkleLog:
    name = "merkle_log"

    def __init__(self, *, integrating: bool = True) -> None:
        # `integrating=False`: a rebuild's fresh log, which no insert reads back (`integrated` would hold every
        # leaf of the history, and each leaf's inclusion path would be computed for nobody).
        self.integrating = integrating
        self._trees: dict[int, Frontier] = {}  # each year's border, as of the notification at `position`
        self.position: int | None = None
        self._leaves: list[tuple] = []
        self._nodes: list[tuple] = []
        self.integrated: list[tuple[int, int, str]] = []  # (year, leaf index, chain hash) of leaves added
        # year → (index, inclusion proof) of its newest leaf: the border before it was added, lowest level first
        self.last_proofs: dict[int, tuple[int, list[bytes]]] = {}
        # year → (level, index) → hash: the border before the integration's first leaf of the year and every
        # node its leaves made, which is every node an inclusion proof of those leaves in the new tree needs
        # (a left sibling of a new leaf's path is a border node; a right one was made by the new leaves)
        self.known_nodes: dict[int, dict[tuple[int, int], bytes]] = {}

    def begin(self, tx: Transaction, position: int) -> None:
        """A batch starts. The borders in memory hold if the log is where this process left it; otherwise
        (another process, or a rebuild, moved it) each year's is read again (two indexed queries)."""
        if position != self.position:
            self._trees.clear()
            self.last_proofs.clear()

    def apply(self, tx: Transaction, fact: Fact) -> None:
        self.position = fact.position
        if fact.kind in HISTORY and fact.year is not None and fact.hash:
            tree = self._trees.get(fact.year)
            if tree is None:
                tree = self._trees[fact.year] = load_frontier(tx.query, fact.year)
            index = tree.size
            known = None
            if self.integrating:
                self.last_proofs[fact.year] = (index, tree.path())
                known = self.known_nodes.get(fact.year)
                if len(self.integrated) > KNOWN_LEAVES:  # a first start taking a whole history: proofs by SELECT
                    self.known_nodes.clear()
                    known = None
                elif known is None:
                    known = self.known_nodes[fact.year] = {
                        key: tree.border[key[0]] for key in border_keys(tree.size)}
            for level, j, h in tree.append(merkle.leaf_hash(bytes.fromhex(fact.hash))):
                self._nodes.append((fact.year, level, j, h.hex()))
                if known is not None:
                    known[(level, j)] = h
            self._leaves.append((fact.year, index, fact.hash, fact.position, fact.aggregate_id, fact.version))
            if self.integrating:
                self.integrated.append((fact.year, index, fact.hash))

    def finish(self, tx: Transaction) -> None:
        leaves, self._leaves = self._leaves, []
        nodes, self._nodes = self._nodes, []
        tx.executemany(INSERT_LEAF, leaves)
        tx.executemany(INSERT_NODE, nodes)

    def head(self, year: int) -> tuple[int, bytes]:
        """(size, root) of a year's tree as this batch left it (a year it has added leaves to)."""
        tree = self._trees[year]
        return tree.size, tree.root()

    def forget(self) -> None:
        self._trees.clear()
        self.position = None
        self.last_proofs.clear()
        self.known_nodes = {}
        self.integrated = []
        self._leaves, self._nodes = [], []


Query = Callable[..., list[tuple[Any, ...]]]


def log_size(query: Query, year: int) -> int:
    rows = query("SELECT MAX(idx) FROM view_log_leaves WHERE year = ?", (year,))
    return 0 if not rows or rows[0][0] is None else int(rows[0][0]) + 1


def fetch_nodes(query: Query, year: int, keys: set[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
    """The stored nodes at `keys`, in one SELECT."""
    if not keys:
        return {}
    keys_list = sorted(keys)
    # Each term names the whole primary key, so both databases answer it as a union of index lookups.
    where = " OR ".join("(year = ? AND level = ? AND idx = ?)" for _ in keys_list)
    params: list[Any] = []
    for level, index in keys_list:
        params += [year, level, index]
    rows = query(f"SELECT level, idx, hash FROM view_log_nodes WHERE {where}", params)
    return {(int(level), int(index)): bytes.fromhex(h) for level, index, h in rows}


def load_frontier(query: Query, year: int) -> Frontier:
    size = log_size(query, year)
    keys = border_keys(size)
    found = fetch_nodes(query, year, set(keys))
    return Frontier(size, {level: found[(level, index)] for level, index in keys})


class LogTree:
    """Roots and proofs of one year's tree from the view tables: each answer reads its nodes in one SELECT
    (the merkle functions run once with a recording lookup to learn which nodes, then on the fetched ones)."""

    def __init__(self, query: Query, year: int):
        self.query = query
        self.year = year

    def size(self) -> int:
        return log_size(self.query, self.year)

    def _run(self, compute: Callable[[merkle.Get], Any]) -> Any:
        wanted: set[tuple[int, int]] = set()

        def record(level: int, index: int) -> bytes:
            wanted.add((level, index))
            return bytes(32)

        compute(record)
        found = fetch_nodes(self.query, self.year, wanted)
        missing = wanted - set(found)
        if missing:
            raise LookupError(f"the log of {self.year} lacks nodes {sorted(missing)[:3]}")
        return compute(lambda level, index: found[(level, index)])

    def root(self, size: int) -> bytes:
        return self._run(lambda get: merkle.root(size, get))

    def inclusion_proofs(self, indices: list[int], size: int) -> dict[int, list[bytes]]:
        """Inclusion proofs of several leaves at one size, in one SELECT."""
        return self._run(lambda get: {i: merkle.inclusion_proof(i, size, get) for i in indices})

    def inclusion(self, index: int, size: int) -> tuple[bytes, list[bytes], bytes]:
        """(leaf hash, proof, root at size) in one SELECT."""
        def compute(get: merkle.Get) -> tuple[bytes, list[bytes], bytes]:
            return get(0, index), merkle.inclusion_proof(index, size, get), merkle.root(size, get)
        return self._run(compute)

    def consistency(self, first: int, second: int) -> tuple[list[bytes], bytes, bytes]:
        """(proof, root at first, root at second) in one SELECT."""
        def compute(get: merkle.Get) -> tuple[list[bytes], bytes, bytes]:
            return (merkle.consistency_proof(first, second, get), merkle.root(first, get),
                    merkle.root(second, get))
        return self._run(compute)
