"""The Merkle log projection: its border (`Frontier`) and its view-table reader (`LogTree`) against the RFC 9162
vectors of transparency-dev/merkle, one SELECT per proof, and the projection over a real store (rebuilt alike)."""

from __future__ import annotations

import sqlite3

from domain.merkle import EMPTY_ROOT, MemoryTree, inclusion_proof, leaf_hash, verify_inclusion
from projections.merkle_log import Frontier, LogTree, border_keys
from projections.store import SCHEMA
from tests.conftest import YEAR
from tests.domain.test_merkle import (
    LEAF_INPUTS,
    PUBLISHED_CONSISTENCY,
    PUBLISHED_INCLUSION,
    ROOTS,
)


def vector_views() -> tuple[sqlite3.Connection, list[str]]:
    """The view tables holding the tree of the RFC's 8 leaf inputs, and a log of the SELECTs made."""
    db = sqlite3.connect(":memory:")
    for statement in SCHEMA:
        db.execute(statement)
    tree = MemoryTree()
    for i, data in enumerate(LEAF_INPUTS):
        tree.append(data)
        db.execute("INSERT INTO view_log_leaves VALUES (?, ?, ?, ?, ?, ?)", (YEAR, i, data.hex(), i + 1, "a", i + 1))
    db.executemany("INSERT INTO view_log_nodes VALUES (?, ?, ?, ?)",
                   [(YEAR, level, index, h.hex()) for (level, index), h in tree.nodes.items()])
    return db, []


def reader(db: sqlite3.Connection, log: list[str]) -> LogTree:
    def query(sql: str, params=()):
        log.append(sql)
        return db.execute(sql, params).fetchall()
    return LogTree(query, YEAR)


def test_the_border_gives_every_published_root():
    border = Frontier()
    assert border.root() == EMPTY_ROOT == ROOTS[0]
    for n, data in enumerate(LEAF_INPUTS, start=1):
        border.append(leaf_hash(data))
        assert border.root() == ROOTS[n]
        assert sorted(border.border) == [level for level, _ in border_keys(n)]
    assert border.root().hex().startswith("5dc9da79") and border.root().hex().endswith("4328")


def test_the_border_before_a_leaf_is_that_leafs_inclusion_proof():
    """A write's receipt proves its newest leaf from memory: the border before the append, lowest level first,
    is the proof RFC 9162 gives for the last leaf (the published vectors, then every size up to 70)."""
    border = Frontier()
    for index, data in enumerate(LEAF_INPUTS):
        proof = border.path()
        border.append(leaf_hash(data))
        published = [p for i, size, p in PUBLISHED_INCLUSION if (i, size) == (index, index + 1)]
        assert all(proof == p for p in published)
        assert verify_inclusion(index, index + 1, leaf_hash(data), proof, border.root())
    tree, border = MemoryTree(), Frontier()
    for index in range(70):
        data = bytes([index])
        proof = border.path()
        tree.append(data)
        border.append(leaf_hash(data))
        assert proof == inclusion_proof(index, index + 1, tree.get)


def test_roots_and_proofs_from_the_views_match_the_published_vectors_in_one_select_each():
    db, log = vector_views()
    tree = reader(db, log)
    assert tree.size() == 8
    for n in range(9):
        assert tree.root(n) == ROOTS[n]
    for index, size, proof in PUBLISHED_INCLUSION:
        log.clear()
        leaf, path, root = tree.inclusion(index, size)
        assert (leaf, path, root) == (leaf_hash(LEAF_INPUTS[index]), proof, ROOTS[size])
        assert len(log) == 1  # every node the proof needs, in one query
    for m, n, proof in PUBLISHED_CONSISTENCY:
        log.clear()
        assert tree.consistency(m, n) == (proof, ROOTS[m], ROOTS[n]) and len(log) == 1


def test_the_projection_holds_the_tree_of_every_chained_event_and_rebuilds_it_alike(app, year_2018):
    from domain.actors import Actor

    office = Actor("办公室", "office")
    for day in ("2018-03-01", "2018-04-01", "2018-05-01"):
        app.hold_meeting(office, year=YEAR, title=f"会议 {day}", held_on=day, absent=["中山区"], excused=["西岗区"])
    app.log_fresh()
    hashes = [h for (h,) in app.views.query("SELECT hash FROM view_log_leaves WHERE year = ? ORDER BY idx", (YEAR,))]
    stored = [e for e in app.audit(Actor("a", "auditor"), YEAR, "中山区")]
    assert {e["hash"] for e in stored} <= set(hashes)
    # the year and three ledgers opened; each meeting: the meeting, its index, a finding and an excuse
    assert len(hashes) == 4 + 3 * 4
    expected = MemoryTree([leaf_hash(bytes.fromhex(h)) for h in hashes])
    tree = app.log_tree(YEAR)
    before = {n: tree.root(n) for n in range(len(hashes) + 1)}
    assert before == {n: expected.root(n) for n in range(len(hashes) + 1)}
    app.replay(YEAR)
    assert {n: app.log_tree(YEAR).root(n) for n in range(len(hashes) + 1)} == before
