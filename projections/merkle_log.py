"""The verifiable log (可验证日志): one RFC 9162 Merkle tree per assessment year over every hash-chained event,
in notification order, kept as view tables (leaves and perfect-subtree nodes) that proofs read in O(log n).

Leaf input = the 32 bytes of the event's chain hash. During a batch the projection holds each year's right
border (one perfect subtree per set bit of the size); `LogTree` answers roots and proofs from the rows.
"""

from __future__ import annotations

from typing import Any, Callable

import orjson

from domain import merkle
from projections.catchup import HISTORY, CatchUp, Fact
from projections.store import Transaction

INSERT_LEAF = ("INSERT INTO view_log_leaves (year, idx, hash, position, aggregate_id, version) "
               "VALUES (?, ?, ?, ?, ?, ?)")
INSERT_NODE = "INSERT INTO view_log_nodes (year, level, idx, hash) VALUES (?, ?, ?, ?)"


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
    """The Merkle log's own catch-up: a write waits for it (its receipt), not for scoring. The log needs only
    each event's class, hash and aggregate, so it reads the stored JSON directly instead of building events."""

    def _decode(self, notification: Any) -> tuple[str, dict, str]:
        state = orjson.loads(notification.state)
        stamp = state.get("timestamp")
        return notification.topic.partition(":")[2], state, stamp.get("_data_", "") if isinstance(stamp, dict) else ""


class MerkleLog:
    name = "merkle_log"

    def __init__(self) -> None:
        self._trees: dict[int, Frontier] = {}  # within a batch: each year's border
        self.reached: dict[int, tuple[int, bytes]] = {}  # per year, (size, root) as the last batch committed it
        self._reaching: dict[int, tuple[int, bytes]] = {}  # the same, for batches not yet known committed
        self._leaves: list[tuple] = []
        self._nodes: list[tuple] = []

    def begin(self, tx: Transaction, position: int) -> None:
        """A batch starts: read each year's border again (two indexed queries), since another process, or a
        rebuild by one, may have moved the log since this one's last batch."""
        self._trees.clear()

    def apply(self, tx: Transaction, fact: Fact) -> None:
        if fact.kind in HISTORY and fact.year is not None and fact.hash:
            tree = self._trees.get(fact.year)
            if tree is None:
                tree = self._trees[fact.year] = load_frontier(tx.query, fact.year)
            index = tree.size
            for level, j, h in tree.append(merkle.leaf_hash(bytes.fromhex(fact.hash))):
                self._nodes.append((fact.year, level, j, h.hex()))
            self._leaves.append((fact.year, index, fact.hash, fact.position, fact.aggregate_id, fact.version))

    def finish(self, tx: Transaction) -> None:
        leaves, self._leaves = self._leaves, []
        nodes, self._nodes = self._nodes, []
        tx.executemany(INSERT_LEAF, leaves)
        tx.executemany(INSERT_NODE, nodes)
        self._reaching.update({year: (tree.size, tree.root()) for year, tree in self._trees.items()})

    def settle(self, views: Any) -> None:
        """The batches are committed: what they reached may be told (the write path signs its root)."""
        self.reached.update(self._reaching)
        self._reaching = {}

    def forget(self) -> None:
        self._trees.clear()
        self.reached.clear()
        self._reaching = {}
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
