"""Quality metrics of a visualization, on plain arrays (spec 8).

Conventions follow the reference so figures are comparable: NN@k counts the
shared members of the high-D and 2-D k-neighbour lists, the point itself
included in both (a count in [1, k]); boundary NN@k counts shared members of
the k nearest *border* points (in [0, k]). Temporal ranking metrics (tnn@k) are
also counts in [0, k]. Neighbour searches are exact, except the cross-searches of
large epochs (``approx``, knn.py: IVF, recall >= 0.98 measured).
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

import numpy as np

from .. import scoring


def knn(x: np.ndarray, k: int, base: Optional[np.ndarray] = None, device: str = "cpu") -> np.ndarray:
    """Indices of the k nearest points (self first when ``base`` is None).

    2-D (and 3-D) points use a k-d tree (exact, ~100x faster than a dense
    search there); higher dimensions use the chunked exact search.
    """
    from .complex import knn_exact
    if x.shape[1] <= 3:
        return _knn_tree(np.asarray(x, np.float64), k, None if base is None else np.asarray(base, np.float64))
    if base is None:
        return knn_exact(x, x, k, exclude_self_first=True, device=device)[0]
    return knn_exact(x, base, k, device=device)[0]


def _knn_tree(x: np.ndarray, k: int, base: Optional[np.ndarray]) -> np.ndarray:
    from scipy.spatial import cKDTree
    ref = x if base is None else base
    k = min(k, len(ref))
    idx = cKDTree(ref).query(x, k)[1].reshape(len(x), k).astype(np.int64)
    if base is None:
        # duplicates can push a point out of first place: put it back
        rows = np.nonzero(idx[:, 0] != np.arange(len(x)))[0]
        for i in rows:
            rest = [j for j in idx[i] if j != i][:k - 1]
            idx[i] = [i] + rest
    return idx


def overlap_counts(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row, how many entries of ``a[i]`` occur in ``b[i]`` (rows without repeats)."""
    a = np.asarray(a)
    b = np.asarray(b)
    out = np.zeros(a.shape[0], dtype=np.int64)
    for s in range(0, a.shape[0], 4096):
        out[s:s + 4096] = (a[s:s + 4096, :, None] == b[s:s + 4096, None, :]).any(-1).sum(-1)
    return out


def nn_preservation(high: np.ndarray, low: np.ndarray, k: int = 15, high_knn: Optional[np.ndarray] = None,
                    device: str = "cpu", low_knn: Optional[np.ndarray] = None) -> float:
    """NN@k: mean |kNN_high(i) ∩ kNN_2D(i)|, self included (in [1, k]).

    Precomputed sorted lists with at least k columns may be passed.
    """
    if high_knn is None or high_knn.shape[1] < k:
        high_knn = knn(high, k, device=device)
    if low_knn is None or low_knn.shape[1] < k:
        low_knn = knn(low, k, device=device)
    return float(overlap_counts(high_knn[:, :k], low_knn[:, :k]).mean())


def nn_preservation_rows(high: np.ndarray, low: np.ndarray, k: int = 15, device: str = "cpu",
                         high_knn: Optional[np.ndarray] = None) -> np.ndarray:
    """Per row, |kNN_high(i) ∩ kNN_2D(i)| (self included); mean of it is NN@k."""
    if high_knn is None or high_knn.shape[1] < k:
        high_knn = knn(high, k, device=device)
    return overlap_counts(high_knn[:, :k], knn(low, k, device=device))


def _merge(idx_a, d_a, idx_b, d_b, k):
    """The k nearest of two sorted candidate lists per row (ties: ``a`` first, so self stays first)."""
    idx, d = np.concatenate([idx_a, idx_b], 1), np.concatenate([d_a, d_b], 1)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(idx, order, 1)


def knn_joint(x_a: np.ndarray, x_b: np.ndarray, knn_a: Tuple[np.ndarray, np.ndarray], k: int,
              device: str = "cpu", knn_ba: Optional[Tuple[np.ndarray, np.ndarray]] = None,
              approx: bool = False, knn_ab: Optional[Tuple[np.ndarray, np.ndarray]] = None) -> np.ndarray:
    """kNN (self first) of the rows of [x_a; x_b] among themselves, reusing ``knn_a``
    (x_a among x_a: indices and distances, self first, >= k columns) and, when given, ``knn_ba``
    (x_b among x_a, >= k columns: the fit's placement of test rows already searched it; ``knn_ab``
    likewise x_a among x_b): only the
    remaining a-b and b-b distances are computed, ~1/5 of a full search when x_b is a tenth of the rows.
    Exact, or with ``approx`` the searches among x_b go through one IVF index (knn.py)."""
    from .complex import knn_reuse
    from .knn import Among
    ia, da = knn_a[0][:, :k], knn_a[1][:, :k]
    na = len(x_a)
    among_b = Among(x_b, approx=approx, device=device)
    ab_i, ab_d = (knn_ab[0][:, :k], knn_ab[1][:, :k]) if knn_ab is not None and knn_ab[0].shape[1] >= k \
        else among_b(x_a, k)
    bb_i, bb_d = among_b(x_b, k, exclude_self_first=True)
    ba_i, ba_d = knn_reuse(knn_ba, x_b, x_a, k, device=device)
    return np.concatenate([_merge(ia, da, ab_i + na, ab_d, k), _merge(bb_i + na, bb_d, ba_i, ba_d, k)])


def boundary_nn(high: np.ndarray, border_high: np.ndarray, low: np.ndarray, border_low: np.ndarray,
                k: int = 15, high_knn: Optional[np.ndarray] = None, device: str = "cpu") -> Optional[float]:
    """Boundary NN@k: shared k nearest border points, high-D vs 2-D (None if < k border points)."""
    if border_high.shape[0] < k:
        return None
    if high_knn is None or high_knn.shape[1] < k:
        high_knn = knn(high, k, base=border_high, device=device)
    return float(overlap_counts(high_knn[:, :k], knn(low, k, base=border_low, device=device)).mean())


def ppr(pred: np.ndarray, pred_recon: np.ndarray) -> Optional[float]:
    """Prediction preserving rate: share of samples whose class survives 2-D and back."""
    if len(pred) == 0:
        return None
    return float(np.mean(np.asarray(pred) == np.asarray(pred_recon)))


def inverse_confidence_difference(logits: np.ndarray, logits_recon: np.ndarray) -> Optional[float]:
    """mean |softmax(f(x))_y - softmax(f(x_hat))_y| with y = argmax f(x)."""
    if len(logits) == 0:
        return None
    p, q = scoring.softmax(logits), scoring.softmax(logits_recon)
    y = p.argmax(1)
    r = np.arange(len(y))
    return float(np.mean(np.abs(p[r, y] - q[r, y])))


#: distances per block of trustworthiness' rows (16 MB of float32, with its int32 buckets): blocks under glibc's
#: 32 MB mmap threshold are reused from the heap instead of mapped and zero-filled anew each time (18k x 512,
#: 1,111 rows: 0.74 -> 0.68 s of CPU with 64 MB blocks before; docs/QUALITY_RESULTS.md, "Speed, tenth pass")
TRUST_BLOCK_ELEMENTS = 1 << 22


def trustworthiness(high: np.ndarray, low: np.ndarray, k: int = 15, device: str = "cpu",
                    chunk: int = 1024, max_rows: Optional[int] = None, seed: int = 0,
                    low_knn: Optional[np.ndarray] = None) -> float:
    """Trustworthiness (Venna & Kaski), the same value as scikit-learn's, in O(N) memory.

    rank(i, j) = 1 + #{l != i : d(i, l) < d(i, j)} in high-D, for the 2-D
    neighbours j of i; penalty sum(max(0, rank - k)). With ``max_rows``, the
    penalty is averaged over that many fixed random rows (an unbiased
    estimate; ranks are still taken among all points). ``low_knn``: the 2-D
    self-first kNN of ``low`` when already searched (at least k + 1 columns).
    """
    import torch
    n = high.shape[0]
    if n <= 3 * k + 1:
        raise ValueError(f"trustworthiness needs more than {3 * k + 1} samples for k={k}")
    low_idx = (low_knn if low_knn is not None and low_knn.shape[1] > k else knn(low, k + 1, device=device))[:, 1:k + 1]
    rows_used = np.arange(n)
    if max_rows is not None and max_rows < n:
        rows_used = np.sort(np.random.RandomState(seed).choice(n, max_rows, replace=False))
    h = torch.as_tensor(np.ascontiguousarray(high, dtype=np.float32), device=device)
    hsq = (h * h).sum(1)
    total = 0.0
    li = torch.as_tensor(low_idx, device=device)
    ru = torch.as_tensor(rows_used, device=device)
    chunk = max(1, min(chunk, TRUST_BLOCK_ELEMENTS // n))  # a block of distances + its counts: O(N) memory
    for s in range(0, len(rows_used), chunk):
        r = ru[s:s + chunk]
        hc = h[r]
        m = hc.shape[0]
        d = (hc @ h.T).mul_(-2.0).add_((hc * hc).sum(1, keepdim=True)).add_(hsq[None]).clamp_min_(0)
        d[torch.arange(m, device=device), r] = float("inf")
        ranks = _ranks_below(d, torch.gather(d, 1, li[r])) + 1
        total += float((ranks - k).clamp_min(0).sum())
    total *= n / len(rows_used)
    return float(1.0 - total * (2.0 / (n * k * (2.0 * n - 3.0 * k - 1.0))))


def _ranks_below(d, thr):
    """Per row, how many entries of ``d`` (m x n) are below each of its thresholds ``thr`` (m x k):
    the same counts as sorting each row and searching it, at O(n log k) per row instead of
    O(n log n) (the sort was ~15 s of a 100k epoch's trustworthiness, docs/SCALE.md). Each
    distance finds its bucket among the row's sorted thresholds; bucket counts, accumulated,
    give the count below each threshold."""
    import torch
    m, k = thr.shape
    ts = torch.sort(thr, dim=1).values.contiguous()
    bucket = torch.searchsorted(ts, d, right=True, out_int32=True)  # thresholds <= each distance
    bucket = bucket.add_(torch.arange(m, dtype=torch.int32, device=d.device)[:, None] * (k + 1))
    cum = torch.bincount(bucket.view(-1), minlength=m * (k + 1)).view(m, k + 1).cumsum(1)
    # x < t exactly when fewer thresholds than the number below t are <= x
    return torch.gather(cum, 1, torch.searchsorted(ts, thr.contiguous(), right=False))


def neighbour_preserving_rate(knn_prev: np.ndarray, knn_cur: np.ndarray) -> np.ndarray:
    """Per sample, share of its high-D neighbours kept between two epochs.

    Both lists have the point itself first; it is left out, so the rate is
    |N_prev(i) ∩ N_cur(i)| / (k - 1) over true neighbours, in [0, 1].
    """
    k = knn_cur.shape[1]
    return (overlap_counts(knn_prev[:, 1:], knn_cur[:, 1:]) / max(k - 1, 1)).astype(np.float32)


def _pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r per row (columns = observations); NaN where a row is constant."""
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (a * b).sum(1) / den
    r[den <= 1e-12] = np.nan
    return r


def temporal_correlation(npr_series: np.ndarray, displacement: np.ndarray) -> Optional[float]:
    """DVI's temporal metric: per sample, Pearson r between its NPR and its 2-D
    displacement over consecutive epoch pairs (arrays pairs x samples); mean over
    samples with non-constant series. More negative is better. None if < 3 pairs."""
    npr_series = np.asarray(npr_series, dtype=np.float64)
    displacement = np.asarray(displacement, dtype=np.float64)
    if npr_series.shape[0] < 3:
        return None
    r = _pearson_rows(npr_series.T, displacement.T)
    return None if np.all(np.isnan(r)) else float(np.nanmean(r))


def _ranks(x: np.ndarray) -> np.ndarray:
    return np.argsort(np.argsort(x, axis=-1, kind="stable"), axis=-1, kind="stable").astype(np.float64)


def temporal_ranking(high: np.ndarray, low: np.ndarray, k: int = 5,
                     anchors: Optional[Sequence[int]] = None) -> Tuple[Optional[float], Optional[float]]:
    """TimeVis' tnn@k and tr for arrays epochs x samples x dims (see :func:`temporal_ranking_dist`)."""
    t = high.shape[0]
    anchors = list(range(t)) if anchors is None else list(anchors)
    dh = np.stack([np.linalg.norm(high - high[e][None], axis=-1) for e in anchors])
    dl = np.stack([np.linalg.norm(low - low[e][None], axis=-1) for e in anchors])
    return temporal_ranking_dist(dh, dl, k, anchors)


def temporal_ranking_dist(dist_high: np.ndarray, dist_low: np.ndarray, k: int = 5,
                          anchors: Optional[Sequence[int]] = None) -> Tuple[Optional[float], Optional[float]]:
    """tnn@k and tr from per-sample distances between epochs, arrays anchors x epochs x samples.

    For sample i at anchor epoch e, its vectors at all other epochs are ranked by
    distance to its vector at e, in high-D and in 2-D: tnn@k = size of the
    overlap of the two top-k (a count in [0, k]); tr = Spearman rho of the two
    distance vectors. Means over anchors and samples. tnn is None with fewer
    than k + 1 other epochs (the overlap would be trivially k), tr with fewer
    than 3.
    """
    t = dist_high.shape[1]
    anchors = list(range(t)) if anchors is None else list(anchors)
    tnn_vals, tr_vals = [], []
    for a, e in enumerate(anchors):
        others = [o for o in range(t) if o != e]
        dh, dl = dist_high[a, others].T, dist_low[a, others].T  # samples x others
        if len(others) > k:
            th = np.argsort(dh, axis=1, kind="stable")[:, :k]
            tl = np.argsort(dl, axis=1, kind="stable")[:, :k]
            tnn_vals.append(overlap_counts(th, tl).mean())
        if len(others) >= 3:
            r = _pearson_rows(_ranks(dh), _ranks(dl))
            if not np.all(np.isnan(r)):
                tr_vals.append(np.nanmean(r))
    tnn = float(np.mean(tnn_vals)) if tnn_vals else None
    tr = float(np.mean(tr_vals)) if tr_vals else None
    return tnn, tr
