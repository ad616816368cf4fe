"""The edges DVI trains on: spatial + boundary fuzzy simplicial sets, pruned.

kNN is exact (chunked matrix products in torch) instead of pynndescent: for
~10k x 512 it takes about a second, is exact, and avoids numba's 25-35 s
compile per process. The fuzzy simplicial set is a vectorised numpy
re-implementation of umap-learn's ``smooth_knn_dist`` +
``compute_membership_strengths`` + fuzzy union (local_connectivity 1,
bandwidth 1, set_op_mix_ratio 1); tests compare it with umap-learn's
``fuzzy_simplicial_set`` on the same kNN (docs/ENGINE_RESULTS.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np
import scipy.sparse

SMOOTH_K_TOLERANCE = 1e-5
#: at most this many distances per block of the exact search (64 MB of float32): the row chunk
#: shrinks as the base grows, so 100k base rows cost ~64 MB, not 2048 x 100k x 4 B x 3 (2.4 GB)
KNN_BLOCK_ELEMENTS = 1 << 24
MIN_K_DIST_SCALE = 1e-3


def knn_exact(queries, base, k: int, *, exclude_self_first: bool = False, chunk: int = 2048,
              device: str = "cpu") -> Tuple[np.ndarray, np.ndarray]:
    """Exact Euclidean kNN of ``queries`` among ``base``: (int64 idx, float32 dist).

    With ``exclude_self_first`` (queries is base), row i's first neighbour is i
    itself at distance 0, as in umap-learn's kNN; ties never push it out.
    Distances are recomputed from differences, so they are accurate even where
    the |x|^2 - 2xy + |y|^2 expansion cancels.
    """
    import torch
    q = torch.as_tensor(np.require(queries, np.float32, ["C", "W"]), device=device)
    b = q if base is queries else torch.as_tensor(np.require(base, np.float32, ["C", "W"]), device=device)
    k = int(min(k, b.shape[0]))
    chunk = max(1, min(chunk, KNN_BLOCK_ELEMENTS // max(b.shape[0], 1)))
    bsq = (b * b).sum(1)
    idx_out, dist_out = [], []
    for s in range(0, q.shape[0], chunk):
        qc = q[s:s + chunk]
        # one chunk x base block, updated in place: -2xy + |x|^2 + |y|^2 (the same sums as
        # |x|^2 - 2xy + |y|^2, without three temporaries of the block's size)
        d = (qc @ b.T).mul_(-2.0).add_((qc * qc).sum(1, keepdim=True)).add_(bsq[None, :])
        if exclude_self_first:
            rows = torch.arange(qc.shape[0], device=device)
            d[rows, rows + s] = -1.0
        _, idx = torch.topk(d, k, dim=1, largest=False, sorted=True)
        dist = listed_distances(qc, b, idx)
        # re-sort on the accurate distances (self stays first at 0)
        dist, order = torch.sort(dist, dim=1, stable=True)
        idx = torch.gather(idx, 1, order)
        idx_out.append(idx.cpu())
        dist_out.append(dist.cpu())
    return torch.cat(idx_out).numpy().astype(np.int64), torch.cat(dist_out).numpy().astype(np.float32)


#: rows of differences formed at a time by :func:`listed_distances`: 128 rows x 15 x 512 float32
#: (4 MB) stay in cache; 2048 at once (63 MB) made the exact search's differences cost as much as
#: its matrix product (5k x 512, one thread: 0.22 s against 0.05 s per 2048 rows, same values)
DIFF_ROWS = 128


def listed_distances(q, base, idx):
    """Euclidean distances from each row of ``q`` to the rows ``idx[i]`` of ``base`` (torch tensors,
    (m, k) out), from differences (accurate where the expansion cancels), a few rows at a time."""
    import torch
    out = torch.empty(idx.shape, dtype=q.dtype, device=q.device)
    for s in range(0, q.shape[0], DIFF_ROWS):
        diff = q[s:s + DIFF_ROWS, None, :] - base[idx[s:s + DIFF_ROWS]]
        out[s:s + DIFF_ROWS] = torch.sqrt((diff * diff).sum(-1))
    return out


def knn_reuse(known, queries, base, k: int, *, device: str = "cpu") -> Tuple[np.ndarray, np.ndarray]:
    """The first ``k`` columns of ``known`` ((idx, dist) of ``queries`` among ``base``, searched
    earlier in the epoch) when it has that many, else :func:`knn_exact` of them."""
    if known is not None and known[0].shape[1] >= k:
        return known[0][:, :k], known[1][:, :k]
    return knn_exact(queries, base, k, device=device)


#: From this many training points on (CPU only), the self-kNN of an epoch uses pynndescent's
#: NNDescent instead of the exact search (up to knn.SELF_IVF_UNTIL rows only where an IVF search
#: missed too much). Measured (docs/SCALE.md, 256-d, 1 thread, loaded
#: machine): exact 1.0 s at 5k, 7.9 s at 10k, 54-58 s at 20k (quadratic); NNDescent with the
#: settings below 10 s at 20k, recall 0.998, plus a numba compile of 1-5 min once per process.
#: From the same size the epoch's cross-searches (test rows, border points <-> training rows)
#: go through knn.py's IVF index (recall 0.9995-1.0 at 100k; exact there: ~50 s of 109 s).
APPROX_KNN_FROM = int(os.environ.get("TENSORBOARD_DVI_APPROX_KNN_FROM", "20000"))


def knn_self(x, k: int, *, device: str = "cpu", approx_from: Optional[int] = None,
             prev_idx: Optional[np.ndarray] = None, info: Optional[dict] = None,
             ivf_index=None) -> Tuple[np.ndarray, np.ndarray]:
    """Self-first kNN of ``x`` among itself. On the CPU, with ``prev_idx`` (the previous epoch's
    self-first kNN of the same rows), it is searched from that graph first (knn_warm.py: block
    searches among old neighbours and their neighbours, kept only at an estimated recall@15 >=
    0.993; 18k x 512: 1.5 s instead of 5.6 s; from ``approx_from`` rows one round only, refused
    before its distances when the candidates miss too much: 4.9 s NNDescent vs 8-11 s for 3 rounds
    on bench_speed's 45k x 512, docs/QUALITY_RESULTS.md; 100k bench run 6.7 s vs 7.3 s, recall
    0.997 vs 0.984, docs/SCALE.md); otherwise, or when that is refused: exact below
    ``approx_from`` rows or on a GPU, NNDescent (25 neighbours searched, 50 candidates: recall
    ~0.998 at 20k on the demo, 0.91 on bench_speed's 45k x 512) above; from knn.SELF_IVF_FROM rows up
    to knn.SELF_IVF_UNTIL on the CPU an IVF index is tried first (knn.knn_self_ivf, kept at an estimated
    recall@15 >= 0.993 where the exact search is the alternative, >= 0.98 where NNDescent is: no numba
    compile in the process, ~24 s of CPU; ``ivf_index``: knn_self_ivf's ``index``). ``info`` (a dict), when
    given, receives which search ran ("warm", "ivf", "exact", "nndescent") and the warm search's figures."""
    info = {} if info is None else info
    limit = APPROX_KNN_FROM if approx_from is None else int(approx_from)
    n, cpu = x.shape[0], str(device).startswith("cpu")
    if prev_idx is not None and cpu:
        from . import knn_warm as W
        large = {} if n < limit else {"rounds": W.LARGE_ROUNDS, "hop_columns": W.LARGE_HOP_COLUMNS}
        found = W.knn_warm(x, prev_idx, k, device=device, info=info, **large)
        if found is not None:
            info["search"] = "warm"
            return found
    exact = n < limit or not cpu or n <= k
    from . import knn as K
    if K.self_ivf_applies(n, device) and n > k:  # 10k to 50k rows: IVF where its recall holds
        # where NNDescent (unchecked) is the alternative, fewer probes and a lower bar (knn.py)
        large = {} if exact else {"shares": K.LARGE_SELF_PROBE_SHARES, "min_recall": K.LARGE_SELF_MIN_RECALL}
        found = K.knn_self_ivf(x, k, device=device, info=info, index=ivf_index, **large)
        if found is not None:
            info["search"] = "ivf"
            return found
    info["search"] = "exact" if exact else "nndescent"
    if exact:
        return knn_exact(x, x, k, exclude_self_first=True, device=device)
    import torch
    from pynndescent import NNDescent
    data = np.require(x, np.float32, ["C"])
    threads = torch.get_num_threads()
    try:
        idx, dist = NNDescent(data, n_neighbors=max(k, 25), max_candidates=50, random_state=0,
                              n_jobs=max(1, threads)).neighbor_graph
    finally:
        # numba's OpenMP layer shares torch's OpenMP runtime: after NNDescent torch ran on every
        # core (2 threads instead of the configured 1: 7x the CPU per training step, docs/SCALE.md)
        torch.set_num_threads(threads)
    idx, dist = idx.astype(np.int64), dist.astype(np.float32)
    # Self first at distance 0, as the exact search returns it (duplicates can displace it).
    moved = np.nonzero(idx[:, 0] != np.arange(n))[0]
    idx[moved], dist[moved] = own_row_first(idx[moved], dist[moved], moved)
    return np.ascontiguousarray(idx[:, :k]), np.ascontiguousarray(dist[:, :k])


def own_row_first(idx: np.ndarray, dist: np.ndarray, rows: np.ndarray):
    """Neighbour lists of queries that are rows ``rows`` of the searched base, with each query's own
    row moved to the front at distance 0 (as ``knn_exact(..., exclude_self_first=True)`` has it)."""
    idx, dist = idx.copy(), dist.copy()
    m = idx.shape[1]
    for i, r in enumerate(rows):
        keep = idx[i] != r
        idx[i] = np.concatenate([[r], idx[i][keep]])[:m]
        dist[i] = np.concatenate([[0.0], dist[i][keep]])[:m]
    return idx, dist


def smooth_knn_dist(dists: np.ndarray, k: float, n_iter: int = 64) -> Tuple[np.ndarray, np.ndarray]:
    """(sigma, rho) per row, as umap-learn computes them, vectorised over rows.

    rho is the first non-zero neighbour distance; sigma is found by bisection so
    that sum_{j>=1} exp(-(d_j - rho)/sigma) = log2(k). Column 0 is skipped in
    the sum (umap-learn assumes it is the point itself).
    """
    dists = np.asarray(dists, dtype=np.float64)
    n = dists.shape[0]
    target = np.log2(k)
    pos = np.where(dists > 0, dists, np.inf)
    rho = pos.min(axis=1)
    rho[~np.isfinite(rho)] = 0.0
    lo = np.zeros(n)
    hi = np.full(n, np.inf)
    mid = np.ones(n)
    active = np.ones(n, dtype=bool)
    d = dists[:, 1:] - rho[:, None]
    for _ in range(n_iter):
        if not active.any():
            break
        a = np.nonzero(active)[0]
        da = d[a]
        with np.errstate(over="ignore"):
            terms = np.where(da > 0, np.exp(-np.maximum(da, 0) / mid[a, None]), 1.0)
        psum = terms.sum(axis=1)
        done = np.abs(psum - target) < SMOOTH_K_TOLERANCE
        over = psum > target
        upd = a[~done]
        ov = over[~done]
        hi[upd[ov]] = mid[upd[ov]]
        mid[upd[ov]] = (lo[upd[ov]] + hi[upd[ov]]) / 2.0
        un = upd[~ov]
        lo[un] = mid[un]
        inf = ~np.isfinite(hi[un])
        mid[un[inf]] *= 2.0
        mid[un[~inf]] = (lo[un[~inf]] + hi[un[~inf]]) / 2.0
        active[a[done]] = False
    mean_all = dists.mean()
    mean_row = dists.mean(axis=1)
    floor = np.where(rho > 0, MIN_K_DIST_SCALE * mean_row, MIN_K_DIST_SCALE * mean_all)
    sigma = np.maximum(mid, floor)
    return sigma.astype(np.float32), rho.astype(np.float32)


def fuzzy_simplicial_set(knn_idx: np.ndarray, knn_dist: np.ndarray, n_points: int,
                         rows: Optional[np.ndarray] = None) -> scipy.sparse.csr_matrix:
    """UMAP's fuzzy union graph (n_points x n_points) from a kNN.

    ``rows`` gives the point index of each kNN row (default 0..len-1), so a kNN
    computed for a subset of points (the boundary complex) can be used.
    """
    k = knn_idx.shape[1]
    sigma, rho = smooth_knn_dist(knn_dist, k)
    if rows is None:
        rows = np.arange(knn_idx.shape[0])
    d = knn_dist.astype(np.float64) - rho[:, None]
    vals = np.where((d <= 0) | (sigma[:, None] == 0), 1.0, np.exp(-np.maximum(d, 0) / sigma[:, None]))
    r = np.repeat(rows, k)
    c = knn_idx.reshape(-1)
    vals = vals.reshape(-1)
    vals[r == c] = 0.0
    keep = c >= 0
    w = scipy.sparse.coo_matrix((vals[keep], (r[keep], c[keep])), shape=(n_points, n_points)).tocsr()
    w.eliminate_zeros()
    wt = w.T.tocsr()
    prod = w.multiply(wt)
    g = (w + wt - prod).tocsr()
    g.eliminate_zeros()
    return g


def prune(graph: scipy.sparse.csr_matrix, n_epochs: float) -> scipy.sparse.coo_matrix:
    """Drop edges with weight < max/n_epochs (UMAP's rule; spec section 4)."""
    g = graph.tocoo()
    if g.nnz == 0:
        return g
    keep = g.data >= g.data.max() / float(n_epochs)
    return scipy.sparse.coo_matrix((g.data[keep], (g.row[keep], g.col[keep])), shape=g.shape)


@dataclass
class Complex:
    """Training data for one epoch's visualizer.

    ``nodes`` = train representations followed by border points; edges index
    into it. ``knn_idx``/``knn_dist``: high-D kNN of the train rows (self
    first); ``border_knn``: each train row's nearest border points (0..B-1).
    """
    nodes: np.ndarray
    n_train: int
    n_border: int
    head: np.ndarray
    tail: np.ndarray
    weight: np.ndarray
    n_spatial_edges: int
    knn_idx: np.ndarray
    knn_dist: np.ndarray
    border_knn: Optional[np.ndarray]
    warnings: List[str] = field(default_factory=list)


def build_complex(x_train: np.ndarray, border: np.ndarray, *, n_neighbors: int = 15,
                  boundary_neighbors: int = 15, prune_n_epochs: float = 15.0,
                  min_border: int = 5, device: str = "cpu",
                  knn: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                  cross: Optional[Tuple[np.ndarray, np.ndarray]] = None,
                  border_rows: bool = True) -> Complex:
    """Spatial complex of ``x_train`` + boundary complex with ``border`` (spec 4).

    ``knn`` may pass a precomputed self-first kNN with at least ``n_neighbors``
    columns (the metrics reuse a k=20 search). ``cross`` may pass the kNN of the training
    rows and then the border points among the border points (large epochs: knn.py's IVF).
    ``border_rows`` False: the boundary complex from the training rows' memberships only (no
    border point's own list of nearest border points).
    """
    n = x_train.shape[0]
    warnings: List[str] = []
    if knn is None:
        knn = knn_self(x_train, n_neighbors, device=device)
    knn_idx = np.ascontiguousarray(knn[0][:, :n_neighbors])
    knn_dist = np.ascontiguousarray(knn[1][:, :n_neighbors])
    spatial = prune(fuzzy_simplicial_set(knn_idx, knn_dist, n), prune_n_epochs)
    heads, tails, weights = [spatial.row], [spatial.col], [spatial.data]
    b = 0 if border is None else border.shape[0]
    border_knn = None
    if b >= min_border:
        kb = min(boundary_neighbors, b)
        if kb < boundary_neighbors:
            warnings.append(f"only {b} border points were logged (fewer than {boundary_neighbors}); "
                            f"the boundary complex uses {kb} neighbours and boundary NN@15 is undefined")
        stacked = np.concatenate([x_train, border], axis=0)
        bidx, bdist = cross if cross is not None else knn_exact(stacked, border, kb, device=device)
        bidx, bdist = bidx[:, :kb], bdist[:, :kb]
        border_knn = bidx[:n].copy()
        m = n + b if border_rows else n
        bw = prune(fuzzy_simplicial_set(bidx[:m] + n, bdist[:m], n + b, rows=np.arange(m)), prune_n_epochs)
        heads.append(bw.row)
        tails.append(bw.col)
        weights.append(bw.data)
        nodes = stacked
    else:
        warnings.append(f"only {b} border points were logged (need at least {min_border}); the "
                        "visualizer was trained without the boundary complex, so decision "
                        "boundaries may be drawn less faithfully and boundary NN@15 is undefined")
        nodes = np.ascontiguousarray(x_train)
        b = 0
    head = np.concatenate(heads).astype(np.int64)
    tail = np.concatenate(tails).astype(np.int64)
    weight = np.concatenate(weights).astype(np.float32)
    return Complex(nodes=np.ascontiguousarray(nodes, dtype=np.float32), n_train=n, n_border=b,
                   head=head, tail=tail, weight=weight, n_spatial_edges=len(spatial.data),
                   knn_idx=knn_idx, knn_dist=knn_dist, border_knn=border_knn, warnings=warnings)


def sample_edges(weight, n_samples: int, generator=None):
    """Edge indices drawn with replacement, probability ∝ weight (UMAP semantics).

    The TF reference and parametric UMAP repeat *low*-weight edges more; the
    spec (section 4) says not to, and tests check the frequencies.
    """
    import torch
    w = torch.as_tensor(weight, dtype=torch.float64)
    if w.numel() == 0:
        raise ValueError("the complex has no edges")
    return torch.multinomial(w, int(n_samples), replacement=True, generator=generator)
