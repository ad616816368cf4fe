"""Approximate cross-searches for large epochs: an inverted-file (IVF) index in torch.

The exact search of one set among another (test rows among the training rows, border points
among them and back) costs |queries| x |base| distances: with N/6 test rows and N/10 border
points that grows as N^2 and was most of a 100k warm epoch (docs/SCALE.md). pynndescent's
graph search, which serves the self-kNN, loses here: border points lie between classes, almost
equidistant from many training rows of two clusters, and its query recall stayed at 0.53-0.70
whatever ``epsilon`` (256-d bench runs, docs/SCALE.md). An IVF index does not depend on the
graph: k-means cells over the base, each query searched exactly among the members of its
``n_probe`` nearest cells (a fixed share of the base), merged into its k nearest. Distances of
the result are exact; only neighbours outside the probed cells can be missed.
"""

from __future__ import annotations

import math
from typing import List, Optional, Tuple

import numpy as np

from .complex import KNN_BLOCK_ELEMENTS, knn_exact, listed_distances, own_row_first

#: share of the training cells a test row / a border point searches in a joint pass (IVFIndex.join):
#: the smallest that found every neighbour both ways on the 100k bench run (docs/SCALE.md)
TEST_PROBE_SHARE = 0.125
BORDER_PROBE_SHARE = 0.25


#: Lloyd's iterations run on at most this many rows per cell (a random subsample), then every row
#: is assigned once: the centroids only steer which cells a query probes (its distances are exact),
#: and on the 100k bench run the k-means index cost 2.0 s on all rows (docs/SCALE.md, "Growth, fifth session, second round")
KMEANS_ROWS_PER_CELL = 48

#: queries whose exact neighbours check a search of ``Among(min_recall=...)``
CHECKED_QUERIES = 256
#: the border points' own index (their self-kNN, the test rows' boundary NN): its recall, checked;
#: 100k bench run: 1.0 among themselves, 0.99997 for the test rows at 2 sqrt(B) cells, 1/8 probed
BORDER_CELLS_PER_SQRT = 2.0
BORDER_MIN_RECALL = 0.99

#: a join bounds each query's k-th distance from its this many nearest cells (queries kept ~50 base
#: rows of the 25k they probe on the 100k bench run, from 2 cells; 1 cell: ~580)
NEAR_CELLS = 2
#: a cell's block keeps at most this many times k distances per query, else a top-k per query (many
#: rows tied at the bound, as duplicates make them, would otherwise all be kept)
KEEP_PER_ROW = 4
#: the bound is raised by this share of |q|^2 + max |b|^2 (float32 rounding of the expansion ~1e-7)
BOUND_SLACK = 1e-5


def _kmeans(b, n_cells: int, iters: int, seed: int):
    """Lloyd's k-means in torch: (centroids, cell of each row); starts from distinct random rows and
    iterates on a subsample of ``KMEANS_ROWS_PER_CELL`` rows per cell when ``b`` is larger."""
    import torch
    gen = torch.Generator().manual_seed(seed)
    perm = torch.randperm(b.shape[0], generator=gen).to(b.device)
    cen = b[perm[:n_cells]].clone()
    fit = b[perm[:KMEANS_ROWS_PER_CELL * n_cells]] if b.shape[0] > KMEANS_ROWS_PER_CELL * n_cells else b
    for _ in range(iters):
        cell = _nearest_cells(fit, cen, 1)[:, 0]
        count = torch.bincount(cell, minlength=n_cells)
        moved = torch.zeros_like(cen).index_add_(0, cell, fit) / count.clamp_min(1)[:, None].to(b.dtype)
        cen = torch.where((count > 0)[:, None], moved, cen)  # an empty cell keeps its centroid
    return cen, _nearest_cells(b, cen, 1)[:, 0]


class IVFIndex:
    """k-means cells over ``base`` (built once, queried many times).

    ``n_cells`` defaults to ~2 sqrt(N) (``cells_per_sqrt``); ``probe_share`` is the share of the
    cells each query searches (the cost relative to the exact search, plus the centroids)."""

    def __init__(self, base, *, cells_per_sqrt: float = 2.0, probe_share: float = 0.125,
                 iters: int = 6, seed: int = 0, device: str = "cpu"):
        import torch
        self.device = device
        self.base = torch.as_tensor(np.require(base, np.float32, ["C"]), device=device)
        n = self.base.shape[0]
        self.n_cells = int(min(n, max(1, round(cells_per_sqrt * math.sqrt(n)))))
        self.n_probe = self.probes(probe_share)
        self.centroids, cell = _kmeans(self.base, self.n_cells, iters, seed)
        self.order = torch.argsort(cell, stable=True)          # base rows grouped by cell
        self.sorted_base = self.base[self.order].contiguous()
        self.sizes = torch.bincount(cell, minlength=self.n_cells)
        self.bounds = [0] + torch.cumsum(self.sizes, 0).tolist()
        self.order32 = self.order.to(torch.int32)
        self.sq = (self.sorted_base * self.sorted_base).sum(1)

    def probes(self, share: float) -> int:
        """How many cells a query searches for a ``share`` of them."""
        return int(min(self.n_cells, max(1, math.ceil(share * self.n_cells))))

    def join(self, queries, k: int, *, probe_share: float):
        """Both directions at once: the k nearest base rows of each query, and the k nearest
        queries of each base row, from the same distances (a query against the members of the
        cells it probes). A base row's neighbours among the queries are found when those queries
        probe its cell, which is where they lie when they are near it: recall 1.0 (test rows)
        and 1.0 with ``probe_share`` 0.25 (border points) on the 100k bench run, docs/SCALE.md.
        Returns ((idx, dist) queries -> base, (idx, dist) base -> queries)."""
        import torch
        q = torch.as_tensor(np.require(queries, np.float32, ["C"]), device=self.device)
        p = self.probes(probe_share)
        kb, kq = int(min(k, self.base.shape[0])), int(min(k, q.shape[0]))
        probe = _nearest_cells(q, self.centroids, p, ordered=True)
        col_d = torch.full((self.base.shape[0], kq), float("inf"), device=self.device)
        col_i = torch.full((self.base.shape[0], kq), -1, dtype=torch.int64, device=self.device)

        def columns(lo, hi, r, d):  # the base rows' nearest queries, merged cell by cell
            cd, ci = torch.topk(d, min(kq, len(r)), dim=0, largest=False, sorted=False)
            md, mi = torch.topk(torch.cat([col_d[lo:hi], cd.T], 1), kq, dim=1, largest=False, sorted=False)
            col_d[lo:hi] = md
            col_i[lo:hi] = torch.gather(torch.cat([col_i[lo:hi], r[ci.T]], 1), 1, mi)
        found, found_d = self._rows(q, probe, kb, columns=columns)
        rows = _finish(q, self.base, found, found_d)
        cols, cols_d = torch.empty_like(col_i), torch.empty_like(col_d)
        cols[self.order], cols_d[self.order] = col_i, col_d  # back from cell order to the base's rows
        return rows, _finish(self.base, q, cols, cols_d)

    def _bounds(self, q, near, k: int, self_first: bool = False):
        """Per query, its k-th squared distance among the members of its ``near`` cells (inf when
        they hold fewer than k), raised by ``BOUND_SLACK`` of |q|^2 + the largest |b|^2: the same
        distance computed in another matrix-product block may differ in its last bits."""
        import torch
        n = near.shape[1]
        row_d = torch.full((q.shape[0] * n, k), float("inf"), device=self.device)
        for lo, hi, pc, r, d in self._blocks(q, near, self_first):
            cd = torch.topk(d, min(k, hi - lo), dim=1, largest=False, sorted=False).values
            row_d[pc, :cd.shape[1]] = cd
        kth = torch.topk(row_d.view(-1, n * k), k, dim=1, largest=False, sorted=True).values[:, -1]
        return kth + BOUND_SLACK * ((q * q).sum(1) + self.sq.max())

    def _blocks(self, q, probe, self_first: bool = False):
        """Per cell: (first, end of its members in cell order, the (query, slot) pairs that probe
        it, those queries, their squared distances to the members: the |x|^2 - 2xy + |y|^2 block;
        with ``self_first`` (the queries are the base) -1 at query i's own row i)."""
        import torch
        p = probe.shape[1]
        pairs = torch.argsort(probe.reshape(-1), stable=True)  # (query, slot) pairs grouped by cell
        ends = [0] + torch.cumsum(torch.bincount(probe.reshape(-1), minlength=self.n_cells), 0).tolist()
        qsq = (q * q).sum(1)
        for c in range(self.n_cells):
            lo, hi = self.bounds[c], self.bounds[c + 1]
            pc = pairs[ends[c]:ends[c + 1]]
            if hi > lo and len(pc):
                r = pc // p
                d = (q.index_select(0, r) @ self.sorted_base[lo:hi].T).mul_(-2.0)
                d.add_(qsq.index_select(0, r)[:, None]).add_(self.sq[None, lo:hi])
                if self_first:
                    d[self.order[lo:hi][None, :] == r[:, None]] = -1.0
                yield lo, hi, pc, r, d

    def query(self, queries, k: int, *, exclude_self_first: bool = False,
              accurate: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        """(int64 idx, float32 dist) of the k nearest base rows found per query, sorted; with
        ``exclude_self_first`` (queries is the base) row i's first neighbour is i at distance 0;
        ``accurate``: distances from differences (see :func:`_finish`)."""
        import torch
        q = torch.as_tensor(np.require(queries, np.float32, ["C"]), device=self.device)
        k = int(min(k, self.base.shape[0]))
        probe = _nearest_cells(q, self.centroids, self.n_probe, ordered=True)
        # sorted: self (at -1 with exclude_self_first) stays first through _finish's stable sort
        return _finish(q, self.base, *self._rows(q, probe, k, self_first=exclude_self_first), accurate=accurate)

    def _rows(self, q, probe, k: int, *, self_first: bool = False, columns=None):
        """The k nearest members of each query's probed cells (``probe``, nearest first): (idx,
        squared distances), sorted. A query keeps only the distances at or below its k-th in its
        ``NEAR_CELLS`` nearest cells (:meth:`_bounds`: an upper bound of its k-th among all its
        cells, so nothing nearer is dropped): ~50 of the 25k a border point probes at 100k, then one
        sort, instead of a top-k per (query, cell), which was most of a join's time (a top-k on
        many short rows). ``columns(lo, hi, r, d)`` also sees every cell's block of distances."""
        import torch
        bound = self._bounds(q, probe[:, :min(probe.shape[1], NEAR_CELLS)], k, self_first)
        keep_q, keep_i, keep_d = [q.new_zeros(0, dtype=torch.int64)], [self.order32[:0]], [q.new_zeros(0)]
        for lo, hi, pc, r, d in self._blocks(q, probe, self_first):
            rr, cc = torch.nonzero(d <= bound.index_select(0, r)[:, None], as_tuple=True)
            if len(rr) > KEEP_PER_ROW * k * len(r):  # ties at the bound (duplicate rows): a top-k per row
                cc = torch.topk(d, min(k, hi - lo), dim=1, largest=False).indices.reshape(-1)
                rr = torch.arange(len(r), device=d.device).repeat_interleave(min(k, hi - lo))
            keep_q.append(r.index_select(0, rr))
            keep_i.append(self.order32[lo:hi].index_select(0, cc))
            keep_d.append(d[rr, cc])
            if columns is not None:
                columns(lo, hi, r, d)
        return _first_k(torch.cat(keep_q), torch.cat(keep_i), torch.cat(keep_d), q.shape[0], k)


def _nearest_cells(q, centroids, p: int, ordered: bool = False):
    """The ``p`` nearest centroids of each query (nearest first with ``ordered``)."""
    import torch
    csq = (centroids * centroids).sum(1)
    step = max(1, KNN_BLOCK_ELEMENTS // centroids.shape[0])
    return torch.cat([torch.topk((q[s:s + step] @ centroids.T).mul_(-2.0).add_(csq[None, :]), p, dim=1,
                                 largest=False, sorted=ordered).indices for s in range(0, max(q.shape[0], 1), step)])


def _first_k(rows, idx, d2, n: int, k: int):
    """The k smallest ``d2`` of each of ``n`` rows from (row, idx, d2) triples in any order:
    (idx int64, d2), -1 and inf where a row has fewer than k."""
    import torch
    order = torch.argsort(d2, stable=True)
    order = order.index_select(0, torch.argsort(rows.index_select(0, order), stable=True))  # by row, then d2
    count = torch.bincount(rows, minlength=n)
    slot = torch.arange(k, device=rows.device)
    ok = slot[None, :] < count[:, None]
    pick = order[((torch.cumsum(count, 0) - count)[:, None] + slot)[ok]]
    found = torch.full((n, k), -1, dtype=torch.int64, device=rows.device)
    found_d = torch.full((n, k), float("inf"), device=rows.device)
    found[ok], found_d[ok] = idx[pick].long(), d2[pick]
    return found, found_d


#: a found distance is taken from the |x|^2 - 2xy + |y|^2 expansion unless it is below this share
#: of |x|^2 + |y|^2, where float32 cancellation would make it inaccurate (near-duplicates):
#: those are recomputed from differences, as knn_exact does for all of its results
ACCURATE_BELOW = 1e-3


def _finish(q, base, idx, d2, accurate: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """(int64 idx, float32 dist) sorted by distance from the found indices and their expanded
    squared distances ``d2`` (with ``accurate`` every distance recomputed from differences, as
    :func:`knn_exact` does); rows with a slot no probed cell filled (fewer than k candidates)
    are searched exactly."""
    import torch
    found = idx >= 0
    safe = idx.clamp_min(0)
    dist = torch.where(found, d2.clamp_min(0).sqrt(), torch.full_like(d2, float("inf")))
    if accurate:
        dist = torch.where(found, listed_distances(q, base, safe), dist)
    else:
        qsq, bsq = (q * q).sum(1), (base * base).sum(1)
        r, c = torch.nonzero(found & (d2 < ACCURATE_BELOW * (qsq[:, None] + bsq[safe])), as_tuple=True)
        dist[r, c] = torch.linalg.vector_norm(base.index_select(0, safe[r, c]) - q.index_select(0, r), dim=-1)
    dist, order = torch.sort(dist, dim=1, stable=True)
    idx = torch.gather(idx, 1, order)
    idx, dist = idx.cpu().numpy().astype(np.int64), dist.cpu().numpy().astype(np.float32)
    short = np.nonzero((idx < 0).any(1))[0]  # rare: the probed cells held fewer than k rows
    if len(short):
        idx[short], dist[short] = knn_exact(q[torch.as_tensor(short, device=q.device)], base, idx.shape[1],
                                            device=str(q.device))
    return idx, dist


def approximate(n_train: int, device: str) -> bool:
    """Whether an epoch with ``n_train`` training rows searches across sets approximately: from
    ``complex.APPROX_KNN_FROM`` rows on, on the CPU (as the self-kNN switches to NNDescent)."""
    from . import complex as C
    return n_train >= C.APPROX_KNN_FROM and str(device).startswith("cpu")


class Among:
    """k-nearest-neighbour searches among one fixed ``base``: :func:`knn_exact` (bit-identical to
    calling it), or with ``approx`` an :class:`IVFIndex` built on the first search and kept.
    With ``min_recall``, each approximate search is checked against the exact one on
    ``CHECKED_QUERIES`` random queries (their exact rows are kept) and answered exactly below that
    recall: for sets whose recall was not measured (the border points' index)."""

    def __init__(self, base, *, approx: bool, device: str = "cpu", cells_per_sqrt: float = 2.0,
                 min_recall: Optional[float] = None, checked=None):
        self.base, self.approx, self.device, self._index = base, approx, device, None
        self.cells_per_sqrt, self.min_recall, self.checked = cells_per_sqrt, min_recall, checked
        self.recalls: List[float] = []  # of each checked search

    def index(self) -> IVFIndex:
        if self._index is None:
            self._index = IVFIndex(self.base, cells_per_sqrt=self.cells_per_sqrt, device=self.device)
        return self._index

    def __call__(self, queries, k: int, *, exclude_self_first: bool = False) -> Tuple[np.ndarray, np.ndarray]:
        if not self.approx:
            return knn_exact(queries, self.base, k, exclude_self_first=exclude_self_first, device=self.device)
        # a checked search stands in for the exact one: its distances too (the boundary complex's weights)
        idx, dist = self.index().query(queries, k, exclude_self_first=exclude_self_first,
                                       accurate=self.min_recall is not None)
        if self.min_recall is None:
            return idx, dist
        rows = np.sort(np.random.RandomState(0).choice(len(idx), min(CHECKED_QUERIES, len(idx)), replace=False))
        sample = np.asarray(queries)[rows]
        e_idx, e_dist = knn_exact(sample, self.base, k, device=self.device)
        if exclude_self_first:  # as knn_exact with exclude_self_first: the query's own row first
            e_idx, e_dist = own_row_first(e_idx, e_dist, rows)
        self.recalls.append(list_recall(idx[rows], e_idx))
        if self.recalls[-1] < self.min_recall:
            return knn_exact(queries, self.base, k, exclude_self_first=exclude_self_first, device=self.device)
        idx[rows], dist[rows] = e_idx, e_dist
        return idx, dist

    def join(self, queries, k: int, *, probe_share: float, name: str = ""):
        """((idx, dist) of ``queries`` among the base, (idx, dist) of the base among ``queries``): one
        IVF pass with ``approx``, the join ``name`` checked against the exact search on random rows with
        ``checked`` (knn_checked.CheckedJoins), else one exact pass over the distances (:func:`exact_join`)."""
        if self.approx:
            return self.index().join(queries, k, probe_share=probe_share)
        if self.checked is not None:
            return self.checked.join(self, queries, k, name)
        return exact_join(queries, self.base, k, device=self.device)


def list_recall(found: np.ndarray, exact: np.ndarray) -> float:
    """Share of the exact neighbour lists' ids (rows of distinct ids) that ``found``'s rows hold: a
    checked search's recall estimate (Among, knn_checked)."""
    if not exact.size:
        return 1.0
    return float(np.mean([len(np.intersect1d(a, b)) for a, b in zip(found, exact)])) / exact.shape[1]


def exact_join(queries, base, k: int, *, device: str = "cpu") -> Tuple[Tuple[np.ndarray, np.ndarray],
                                                                       Tuple[np.ndarray, np.ndarray]]:
    """Exact :meth:`Among.join` from one pass over the distances: ((idx, dist) of ``queries`` among
    ``base``, (idx, dist) of ``base`` among ``queries``). Each block of base rows x queries is reduced
    along both axes, so the two directions cost one distance computation instead of two, and
    distances come from the expansion (recomputed from differences only where it cancels,
    :func:`_finish`) instead of from differences for every result (the cost of knn_exact with many
    queries: 18k training rows among 2k test rows x 512, 1.2 s of CPU against 0.6 s the other way)."""
    import torch
    q = torch.as_tensor(np.require(queries, np.float32, ["C", "W"]), device=device)
    b = torch.as_tensor(np.require(base, np.float32, ["C", "W"]), device=device)
    kq, kb = int(min(k, b.shape[0])), int(min(k, q.shape[0]))
    qsq, bsq = (q * q).sum(1), (b * b).sum(1)
    step = max(1, KNN_BLOCK_ELEMENTS // max(q.shape[0], 1))
    best_d = torch.full((q.shape[0], 0), float("inf"), device=device)
    best_i = torch.full((q.shape[0], 0), -1, dtype=torch.long, device=device)
    b_i, b_d = [], []
    for s in range(0, b.shape[0], step):
        d = (b[s:s + step] @ q.T).mul_(-2.0).add_(bsq[s:s + step, None]).add_(qsq[None, :])
        v, i = torch.topk(d, kb, dim=1, largest=False, sorted=False)  # base rows among the queries
        b_d.append(v)
        b_i.append(i)
        v, i = torch.topk(d.T, min(kq, d.shape[0]), dim=1, largest=False, sorted=False)  # and the other way
        cand_d, cand_i = torch.cat([best_d, v], 1), torch.cat([best_i, i + s], 1)
        best_d, o = torch.topk(cand_d, min(kq, cand_d.shape[1]), dim=1, largest=False, sorted=False)
        best_i = torch.gather(cand_i, 1, o)
    return _finish(q, b, best_i, best_d), _finish(b, q, torch.cat(b_i), torch.cat(b_d))


#: From ``SELF_IVF_FROM`` training rows up to ``SELF_IVF_UNTIL`` (CPU) an epoch's self-kNN is searched
#: through an IVF index wherever it would be searched from scratch (the first epoch, or a warm search
#: knn_warm.py refused). Below complex.APPROX_KNN_FROM (20k), where the exact search is the alternative,
#: ``SELF_PROBE_SHARE`` of the cells, twice that when too few were found, kept at knn_warm's MIN_RECALL:
#: 18k x 512 (bench_speed's 20k run) 1.9 s instead of 5.5 s exact, recall@15 1.0000; 18k x 64 (a
#: tabular MLP's features) 1.0 s instead of 1.6 s, recall 0.9994 (docs/QUALITY_RESULTS.md, "Speed, seventh pass").
SELF_IVF_FROM = 10_000
SELF_PROBE_SHARE = 0.125
#: From 20k rows up to ``SELF_IVF_UNTIL`` NNDescent is the alternative: its result is not checked (recall@15
#: 0.90 on bench_speed's 45k x 512) and its numba compile costs ~24 s of CPU once per process (4.2 s per
#: search after). IVF probes ``LARGE_SELF_PROBE_SHARES`` there, kept at an estimated recall@15 >=
#: ``LARGE_SELF_MIN_RECALL``: 45k x 512, 1/16 of the cells: 5.0 s, recall 0.984 (1/8: 6.7 s, 1.0000).
#: Above, its cost (N^1.5) loses to NNDescent's (docs/QUALITY_RESULTS.md, "Speed, eighth pass").
SELF_IVF_UNTIL = 50_000
LARGE_SELF_PROBE_SHARES = (0.0625, 0.125)
LARGE_SELF_MIN_RECALL = 0.98


def knn_self_ivf(x, k: int, *, device: str = "cpu", info: Optional[dict] = None, shares=None,
                 min_recall: Optional[float] = None, index=None) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Self-first kNN of ``x`` among itself through an IVF index (~sqrt(N) cells; each row probes the
    first of ``shares`` of them, the next share when too few were found; default ``SELF_PROBE_SHARE``
    and twice that): (int64 idx, float32 dist), as complex.knn_self returns it, or None when the
    recall@15 estimated on knn_warm's ``CHECK_ROWS`` random rows (searched exactly) stays below
    ``min_recall`` (default knn_warm's ``MIN_RECALL``, 0.993; the probed cells miss neighbours on
    data whose classes spread over many cells: text_tokens' first epoch, 2.5k rows, 0.86 at 0.125).
    ``index``: a callable giving the IVF index of ``x`` at 1 sqrt(N) cells (``Among(x, cells_per_sqrt=1.0).index``:
    the epoch's cross-searches then use the same index instead of building it again)."""
    from .knn_warm import CHECK_ROWS, MIN_RECALL
    info = {} if info is None else info
    shares = (SELF_PROBE_SHARE, 2 * SELF_PROBE_SHARE) if shares is None else tuple(shares)
    min_recall = MIN_RECALL if min_recall is None else min_recall
    rows = np.sort(np.random.default_rng(0).choice(len(x), min(CHECK_ROWS, len(x)), replace=False))
    exact = knn_exact(np.asarray(x)[rows], x, 16, device=device)[0]  # self first (a duplicate may precede it)
    index = IVFIndex(x, cells_per_sqrt=1.0, probe_share=shares[0], device=device) if index is None else index()
    kept = index.n_probe
    for share in shares:
        index.n_probe = index.probes(share)
        found = index.query(x, k, exclude_self_first=True)
        index.n_probe = kept
        hits = sum(len(np.intersect1d(f[1:15], e[e != r][:14])) for f, e, r in zip(found[0][rows], exact, rows))
        recall = hits / float(len(rows) * 14)  # recall@15 of the neighbours proper, as knn_warm.py estimates it
        info.update(probe_share=share, recall=recall)
        if recall >= min_recall:
            return found
    return None


def self_ivf_applies(n_train: int, device: str) -> bool:
    """Whether complex.knn_self tries :func:`knn_self_ivf` for ``n_train`` rows before its exact search
    or NNDescent."""
    return SELF_IVF_FROM <= n_train < SELF_IVF_UNTIL and str(device).startswith("cpu")
