"""RFC 9162 §2.1 Merkle tree hashing; roots and proofs from stored perfect-subtree hashes, read through
`get(level, index)` where node (k, j) covers leaves [j·2^k, (j+1)·2^k) and level 0 is the leaf hashes."""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Get = Callable[[int, int], bytes]


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + bytes(data)).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def new_nodes(size_before: int, leaf: bytes, get: Get) -> list[tuple[int, int, bytes]]:
    """Every (level, index, hash) that becomes complete when `leaf` (a leaf hash) lands at `size_before`.

    `get` must already see the nodes of every earlier leaf (in a batch: of the earlier leaves
    of the same batch too), since the left siblings are read from it.
    """
    if size_before < 0:
        raise ValueError("size_before must be >= 0")
    out = [(0, size_before, leaf)]
    h, level, index = leaf, 0, size_before
    while index & 1:  # a right child completes its parent, the parent may complete its own, ...
        h = node_hash(get(level, index - 1), h)
        level, index = level + 1, index >> 1
        out.append((level, index, h))
    return out


def subtree_root(lo: int, hi: int, get: Get) -> bytes:
    """MTH(D[lo:hi]) by RFC 9162's recursion, reading a stored node wherever a part is a perfect subtree."""
    if not 0 <= lo <= hi:
        raise ValueError(f"bad range [{lo}, {hi})")
    n = hi - lo
    if n == 0:
        return EMPTY_ROOT
    if n & (n - 1) == 0 and lo % n == 0:
        level = n.bit_length() - 1
        return get(level, lo >> level)
    k = _split(n)
    return node_hash(subtree_root(lo, lo + k, get), subtree_root(lo + k, hi, get))


def root(size: int, get: Get) -> bytes:
    return subtree_root(0, size, get)


def inclusion_proof(index: int, size: int, get: Get) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, leaf-side first."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} out of range for tree size {size}")
    path: list[bytes] = []  # collected root-side first, reversed at the end
    lo, hi, m = 0, size, index
    while hi - lo > 1:
        k = _split(hi - lo)
        if m < k:
            path.append(subtree_root(lo + k, hi, get))
            hi = lo + k
        else:
            path.append(subtree_root(lo, lo + k, get))
            lo, m = lo + k, m - k
    path.reverse()
    return path


def consistency_proof(m: int, n: int, get: Get) -> list[bytes]:
    """PROOF(m, D[0:n]) of RFC 9162 §2.1.4.1; empty for m == n and for m == 0 (the empty tree)."""
    if not 0 <= m <= n:
        raise ValueError(f"bad sizes {m}, {n}")
    if m == 0 or m == n:
        return []
    proof: list[bytes] = []  # root-side first, reversed at the end
    lo, hi, b = 0, n, True
    while m != hi - lo:  # SUBPROOF(m, D[lo:hi], b)
        k = _split(hi - lo)
        if m <= k:
            proof.append(subtree_root(lo + k, hi, get))
            hi = lo + k
        else:
            proof.append(subtree_root(lo, lo + k, get))
            lo, m, b = lo + k, m - k, False
    if not b:
        proof.append(subtree_root(lo, hi, get))
    proof.reverse()
    return proof


class MemoryTree:
    """An in-memory node store over the same functions: for tests and offline tools."""

    def __init__(self, leaf_hashes: Sequence[bytes] = ()):
        self.leaves: list[bytes] = []
        self.nodes: dict[tuple[int, int], bytes] = {}
        for h in leaf_hashes:
            self.append_hash(h)

    def get(self, level: int, index: int) -> bytes:
        return self.nodes[(level, index)]

    def append(self, data: bytes) -> int:
        return self.append_hash(leaf_hash(data))

    def append_hash(self, h: bytes) -> int:
        if len(h) != HASH_SIZE:
            raise ValueError("a leaf hash is 32 bytes")
        index = self.size
        for level, j, node in new_nodes(index, bytes(h), self.get):
            self.nodes[(level, j)] = node
        self.leaves.append(bytes(h))
        return index

    @property
    def size(self) -> int:
        return len(self.leaves)

    def leaf_hash(self, index: int) -> bytes:
        return self.leaves[index]

    def root(self, size: int | None = None) -> bytes:
        return root(self.size if size is None else self._check(size), self.get)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        return inclusion_proof(index, self.size if size is None else self._check(size), self.get)

    def consistency_proof(self, m: int, n: int | None = None) -> list[bytes]:
        return consistency_proof(m, self.size if n is None else self._check(n), self.get)

    def _check(self, size: int) -> int:
        if not 0 <= size <= self.size:
            raise ValueError(f"tree size {size} beyond {self.size}")
        return size


# Verification (RFC 9162 §2.1.3.2, §2.1.4.2), written as transparency-dev/merkle's
# decomposition: `inner` proof nodes below the level where the paths to `index` and to
# the last leaf diverge, then `border` left siblings on the right border.

def _is_hash(h: object) -> bool:
    return isinstance(h, (bytes, bytearray)) and len(h) == HASH_SIZE


def _is_size(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _proof_ok(proof: object) -> bool:
    return isinstance(proof, (list, tuple)) and all(_is_hash(p) for p in proof)


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, p in enumerate(proof):
        seed = node_hash(p, seed) if (index >> i) & 1 else node_hash(seed, p)
    return seed


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> bytes:
    for i, p in enumerate(proof):
        if (index >> i) & 1:
            seed = node_hash(p, seed)
    return seed


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> bytes:
    for p in proof:
        seed = node_hash(p, seed)
    return seed


def verify_inclusion(index: int, size: int, leaf_hash: bytes, proof: Sequence[bytes], root: bytes) -> bool:
    """True iff `proof` shows the leaf hash at `index` in the tree of `size` leaves with `root`."""
    if not (_is_size(index) and _is_size(size) and 0 <= index < size):
        return False
    if not (_is_hash(leaf_hash) and _is_hash(root) and _proof_ok(proof)):
        return False
    inner = (index ^ (size - 1)).bit_length()
    border = bin(index >> inner).count("1")
    if len(proof) != inner + border:
        return False
    r = _chain_inner(bytes(leaf_hash), proof[:inner], index)
    return _chain_border_right(r, proof[inner:]) == bytes(root)


def verify_consistency(m: int, n: int, root_m: bytes, root_n: bytes, proof: Sequence[bytes]) -> bool:
    """True iff `proof` shows the tree of m leaves with `root_m` is a prefix of the tree of n with `root_n`."""
    if not (_is_size(m) and _is_size(n) and 0 <= m <= n and _proof_ok(proof)):
        return False
    if not isinstance(root_m, (bytes, bytearray)) or not isinstance(root_n, (bytes, bytearray)):
        return False
    if m == n:
        return len(proof) == 0 and bytes(root_m) == bytes(root_n) and (m > 0 or bytes(root_m) == EMPTY_ROOT)
    if m == 0:
        # Every tree extends the empty one; only its root can be checked.
        return len(proof) == 0 and bytes(root_m) == EMPTY_ROOT
    if not (_is_hash(root_m) and _is_hash(root_n)) or len(proof) == 0:
        return False
    inner = ((m - 1) ^ (n - 1)).bit_length()
    border = bin((m - 1) >> inner).count("1")
    shift = (m & -m).bit_length() - 1  # trailing zeros: height of the rightmost perfect part of the m-tree
    inner -= shift
    if m == 1 << shift:
        seed, rest = bytes(root_m), list(proof)  # the m-tree is itself a perfect node: not sent
    else:
        seed, rest = proof[0], list(proof[1:])
    if len(rest) != inner + border:
        return False
    mask = (m - 1) >> shift
    hash_m = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if hash_m != bytes(root_m):
        return False
    hash_n = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    return hash_n == bytes(root_n)
