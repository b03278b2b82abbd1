"""Grouping packed hashes for `dedup`: equal codes, codes within a Hamming radius, images
whose several views match, and the union of such groupings (the `combined` hash).

Codes within r bits are found by multi-index hashing: the code is cut into r + 1 chunks,
and two codes within r bits agree exactly on at least one chunk, so only codes sharing a
chunk are compared. Every search runs among distinct codes only: k exact copies would
otherwise cost k^2 pairs.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components


def _exact_labels(keys: np.ndarray) -> np.ndarray:
    """Group label per row: rows with equal bytes share one."""
    keys = np.ascontiguousarray(keys)
    void = keys.view(np.dtype((np.void, keys.shape[1]))).ravel()
    return np.unique(void, return_inverse=True)[1].ravel()


def _components(edges: list[np.ndarray], n: int) -> np.ndarray:
    """Connected-component label per node of the graph with these (i, j) edge arrays."""
    e = np.concatenate(edges) if edges else np.zeros((0, 2), np.int64)
    graph = coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    return connected_components(graph, directed=False)[1]


def _chunk_groups(bits: np.ndarray, radius: int) -> Iterator[np.ndarray]:
    """Rows of unpacked `bits` that agree on one of radius + 1 chunks (groups of 2 or more)."""
    for chunk in np.array_split(np.arange(bits.shape[1]), radius + 1):
        labels = _exact_labels(np.packbits(bits[:, chunk], axis=1))
        order = np.argsort(labels, kind="stable")
        bounds = np.flatnonzero(np.diff(labels[order])) + 1
        yield from (m for m in np.split(order, bounds) if len(m) > 1)


def _near_pairs(codes: np.ndarray, members: np.ndarray, radius: int) -> Iterator[np.ndarray]:
    """Pairs (i, j), i < j, among `members` whose codes lie within `radius` bits."""
    block = max(1, 2**22 // max(1, len(members) * codes.shape[1]))
    for start in range(0, len(members), block):
        rows = members[start : start + block]
        dist = np.bitwise_count(codes[rows][:, None, :] ^ codes[members][None]).sum(-1)
        i, j = np.nonzero(dist <= radius)
        keep = rows[i] < members[j]
        yield np.stack([rows[i][keep], members[j][keep]], axis=1)


def group_labels(codes: np.ndarray, radius: int = 0) -> np.ndarray:
    """A group label per packed code: equal codes (radius 0) or, transitively, codes within
    `radius` bits of each other."""
    exact = _exact_labels(codes)
    if radius == 0 or len(codes) < 2:
        return exact
    first = np.unique(exact, return_index=True)[1]
    distinct = codes[first]
    bits = np.unpackbits(distinct, axis=1)
    pairs = [p for m in _chunk_groups(bits, radius) for p in _near_pairs(distinct, m, radius)]
    return _components(pairs, len(distinct))[exact]


def view_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits from view 0 of each `a` to the nearest view of each `b`: packed views (any
    unsigned dtype), ... x views x words, broadcast against each other."""
    return np.bitwise_count(a[..., :1, :] ^ b).sum(-1).min(-1).astype(np.int64)


def view_labels(views: np.ndarray, radius: int) -> np.ndarray:
    """A group label per image of packed `views` (N x views x bytes): image j joins an
    earlier image i when view 0 of i lies within `radius` bits of some view of j
    (`view_distance`), transitively; images with equal views share a group."""
    n = len(views)
    exact = _exact_labels(views.reshape(n, -1))
    first = np.unique(exact, return_index=True)[1]  # each distinct set of views' first image
    last = np.zeros(len(first), np.int64)
    np.maximum.at(last, exact, np.arange(n))  # and its last one
    k, v = len(first), views.shape[1]
    entries = views[first].reshape(k * v, -1)  # entry e: view e % v of distinct set e // v
    pairs = []
    # distinct sets p, q are joined when view 0 of p lies near a view of q and an image of
    # p comes before an image of q
    for members in _chunk_groups(np.unpackbits(entries, axis=1), radius):
        for near in _near_pairs(entries, members, radius):
            for e, f in (near.T, near.T[::-1]):
                p, q = e // v, f // v
                keep = (e % v == 0) & (p != q) & (first[p] < last[q])
                pairs.append(np.stack([p[keep], q[keep]], axis=1))
    return _components(pairs, k)[exact]


def union_labels(*labellings: np.ndarray) -> np.ndarray:
    """One label per item joining every group of every labelling (transitively)."""
    n = len(labellings[0])
    rows = np.arange(n)
    edges = []
    for labels in labellings:
        first, inverse = np.unique(labels, return_index=True, return_inverse=True)[1:]
        edges.append(np.stack([rows, first[inverse.ravel()]], axis=1))
    return _components(edges, n)


def combined_labels(
    codes: np.ndarray, views: np.ndarray, radius: int, views_radius: int
) -> np.ndarray:
    """The `combined` hash's groups: images joined by their learned codes within `radius`
    OR by their pHash views within `views_radius` (`view_labels`), transitively."""
    return union_labels(group_labels(codes, radius), view_labels(views, views_radius))


def duplicate_groups(labels: np.ndarray) -> list[np.ndarray]:
    """Indices of each group of two or more, in source order, ordered by first member."""
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    groups = [g for g in np.split(order, bounds) if len(g) > 1]
    return sorted(groups, key=lambda g: int(g[0]))
