"""A warm epoch's self-kNN, searched from the previous epoch's graph instead of from scratch.

Consecutive epochs log the same samples and their representations drift gradually, so the
new neighbours of a row are mostly among its old neighbours and their neighbours. Rows are
ordered so that graph neighbours sit close together (reverse Cuthill-McKee on the previous
graph), and each block of rows is searched exactly, by one matrix product, among the union of
its rows' candidates (old neighbours and neighbours of neighbours): a dense product on a few
thousand columns instead of all N. The result is checked against the exact search on a
random sample of rows; below ``min_recall`` the caller falls back to the full search.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

#: below this many rows the exact search is cheap (the whole complex stage of a 4,500 x 512 epoch
#: took 0.8 s, 1 thread, idle) and runs instead; the quality subjects (2,500 rows) stay exact
MIN_ROWS = 4000
#: rows per block of the candidate search (the candidates of a block are searched together)
BLOCK_ROWS = 512
#: where a block of ``BLOCK_ROWS`` rows gathers more than this share of all rows as candidates, the
#: blocks are halved. A real CNN's graph is less clustered than generated clusters: on
#: bench_speed_real.py's 512-d MNIST CNN (epoch 2's graph -> epoch 3, 1 thread, CPU seconds)
#: 512-row blocks gathered 0.60 / 0.49 / 0.33 of the rows at 5k / 10k / 18k (refused at 5k), 256-row
#: blocks 0.45 / 0.34 / 0.22, the search 0.30 s (accepted; the exact one 0.68 s) / 0.94 -> 0.75 s /
#: 1.90 -> 1.43 s at the same recall@15 (0.9985-0.9996); bench_speed's clusters gather 0.10-0.13 in
#: 512-row blocks, where halving them needed a second round (0.42-0.53 -> 0.63 s at 10k)
SPLIT_SHARE = 0.15
#: at most this many halvings of ``BLOCK_ROWS`` (each while the candidates exceed ``SPLIT_SHARE``).
#: 2 (down to 128-row blocks; tenth pass, warm epoch: 1 and a share of 0.25 before): on mnist_speed20k's
#: CNN features share 0.31 -> 0.21 at 10k, 0.24 -> 0.155 at 18k, the search 0.64 -> 0.55 s / 1.39 -> 1.17 s
#: of CPU, recall@15 against the exact graph 0.9986 -> 0.9981 / 0.9975 -> 0.9967 (docs/QUALITY_RESULTS.md,
#: "Tenth pass, warm epoch")
SPLITS = 2
#: rows whose exact neighbours are compared with the warm result (and replace it)
CHECK_ROWS = 512
#: below this estimated recall at ``RECALL_AT`` neighbours (the complex's 15; the metrics' k=20
#: columns come from the same search) the warm result is refused; 0.993: 0.99 plus 3 standard
#: errors of the estimate from 512 rows
MIN_RECALL = 0.993
RECALL_AT = 15
#: the warm search is not tried when a block's candidates are more than this share of all rows
#: on average (the full search is then as cheap)
MAX_CANDIDATE_SHARE = 0.5
#: neighbours of neighbours taken from the first this many columns of each neighbour's list
HOP_COLUMNS = 20
#: from ``complex.APPROX_KNN_FROM`` rows (where NNDescent is the alternative, not the exact search):
#: one round with neighbours of neighbours from 10 columns (100k bench run, epoch 1's graph ->
#: epoch 2, 1 thread: 6.7 s CPU at recall@15 0.997 vs NNDescent 7.3 s at 0.984; 15 columns: 7.1 s,
#: 0.998; 8: 6.6 s, 0.996; docs/SCALE.md, "Growth, fifth session, second round")
LARGE_ROUNDS = 1
LARGE_HOP_COLUMNS = 10
#: after a warm search was refused, the next ``RETRY_AFTER`` epochs skip it and search as the refused
#: epoch did (IVF, exact or NNDescent: the same graph as a refused try gives), then it is tried again:
#: while the representations move too fast for it, every try costs its sampled exact rows and its
#: candidates for nothing (bench_speed's 45k x 512, refused every epoch: ~0.7 s per warm epoch)
RETRY_AFTER = 3


def previous_graph(cache, prev, n_rows: int):
    """(the previous epoch's cached self-kNN of the training rows with its further columns, or None
    when there is none of ``n_rows`` rows; its ``knn_search`` record from epoch.json, or None)."""
    if prev is None:
        return None, None
    try:
        knn = cache.knn_wide(prev)
        knn = knn if knn.ndim == 2 and len(knn) == n_rows else None
    except (OSError, ValueError, KeyError):
        knn = None
    try:
        search = cache.epoch_info(prev).get("knn_search")
    except (OSError, ValueError, KeyError):
        search = None
    return knn, search


def recorded_skips(value) -> Optional[int]:
    """A skip count read from epoch.json, or None when it is not a non-negative integer (an edited file)."""
    return None if isinstance(value, bool) or not isinstance(value, int) or value < 0 else value


def skips_after(prev_search: Optional[dict]) -> int:
    """Whether this epoch skips the warm search, from the previous epoch's ``knn_search`` record
    (epoch.json): 0 to try it, else how many epochs in a row will have skipped it (recorded as
    ``warm_skipped``): after a refused try (a record with the candidates' figures and no warm
    result) or a skip, up to ``RETRY_AFTER`` in a row."""
    if not isinstance(prev_search, dict) or prev_search.get("search") == "warm":
        return 0
    skipped = recorded_skips(prev_search.get("warm_skipped") or 0) or 0
    if not skipped and "candidate_share" not in prev_search:  # not tried (too few rows, no graph)
        return 0
    return skipped + 1 if skipped < RETRY_AFTER else 0


def locality_order(prev_idx: np.ndarray) -> np.ndarray:
    """Rows in reverse Cuthill-McKee order of the symmetrised previous graph (neighbours close)."""
    import scipy.sparse
    from scipy.sparse.csgraph import reverse_cuthill_mckee
    n, k = prev_idx.shape
    g = scipy.sparse.csr_matrix((np.ones(n * k, np.int8), (np.repeat(np.arange(n), k), prev_idx.ravel())),
                                shape=(n, n))
    return np.asarray(reverse_cuthill_mckee((g + g.T).tocsr(), symmetric_mode=True), dtype=np.int64)



def _block_candidates(prev_idx: np.ndarray, rows: np.ndarray, hop: int, seen: np.ndarray) -> np.ndarray:
    """The block's rows, their neighbours and those neighbours' first ``hop`` neighbours, sorted and
    distinct. ``seen`` (n bools, all False, left so): marks instead of np.unique's sort of ~100k
    ids per block (1.8 of a 100k round's 7.7 s, profiled)."""
    first = prev_idx[rows]
    ids = np.concatenate([rows, first.ravel(), prev_idx[first][:, :, :hop].ravel()])
    seen[ids] = True
    out = np.flatnonzero(seen)
    seen[out] = False
    return out


def knn_warm(x, prev_idx, k: int, *, device: str = "cpu", min_recall: Optional[float] = None,
             check_rows: Optional[int] = None, max_share: Optional[float] = None, rounds: int = 3,
             hop_columns: int = HOP_COLUMNS, seed: int = 0, info: Optional[dict] = None) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Self-first kNN of ``x`` (idx int64, dist float32, as ``complex.knn_exact`` returns them)
    searched from ``prev_idx`` (the previous epoch's self-first kNN of the same rows, any number
    of columns), or None when it cannot be used: a different row count, too few rows, candidates
    that cover more than ``max_share`` of the rows (the full search is as cheap), or an estimated
    recall at ``RECALL_AT`` (exact search of ``check_rows`` random rows) below ``min_recall`` after
    ``rounds`` rounds (each round searches from the graph of the round before).
    ``info`` (a dict), when given, receives the rounds, candidate share and estimated recall."""
    import torch
    from .complex import knn_exact
    info = {} if info is None else info
    min_recall = MIN_RECALL if min_recall is None else min_recall
    check_rows = CHECK_ROWS if check_rows is None else check_rows
    max_share = MAX_CANDIDATE_SHARE if max_share is None else max_share
    n = x.shape[0]
    if prev_idx is None or np.ndim(prev_idx) != 2 or len(prev_idx) != n or np.shape(prev_idx)[1] < 2 \
            or n < max(MIN_ROWS, 4 * BLOCK_ROWS, k + 1):
        info["reason"] = "no previous graph of these rows, or too few rows"
        return None
    graph = np.asarray(prev_idx, np.int64)
    if graph.min() < 0 or graph.max() >= n:
        info["reason"] = "previous graph out of range"
        return None
    xt = torch.as_tensor(np.require(x, np.float32, ["C", "W"]), device=device)
    sq = (xt * xt).sum(1)
    sample = np.sort(np.random.RandomState(seed).choice(n, min(check_rows, n), replace=False))
    exact = _self_first(knn_exact(x[sample], x, k + 1, device=device)[0], sample)[:, :k]
    m = min(k, RECALL_AT)
    for r in range(max(1, rounds)):
        info["rounds"] = r + 1
        last = (sample, exact[:, 1:m], min_recall) if r == max(1, rounds) - 1 else None
        found = _search_round(xt, sq, graph, k, max_share, info, device, hop_columns, last)
        if found is None:
            return None
        idx, d2 = found
        hits = sum(len(np.intersect1d(a[1:m], b[1:m])) for a, b in zip(exact, idx[sample]))
        info["recall"] = hits / float(len(sample) * (m - 1))
        if info["recall"] >= min_recall:
            break
        graph = idx
    else:
        info["reason"] = f"estimated recall {info['recall']:.4f} < {min_recall}"
        return None
    return _finish(xt, sq, idx, d2, sample, exact)


def _search_round(xt, sq, graph, k, max_share, info, device, hop=HOP_COLUMNS, last=None):
    """One exact search of every block of rows among its candidates: (idx, squared distances).
    ``last`` (sampled rows, their exact neighbours, min recall) on the last round: refused before
    any distance is computed when the candidates already miss too many of those neighbours (the
    round finds a row's neighbours exactly when they are among its block's candidates)."""
    import torch
    n = len(graph)
    order = locality_order(graph)
    seen = np.zeros(n, bool)
    for size in (BLOCK_ROWS >> h for h in range(SPLITS + 1)):  # halved where blocks gather too many candidates
        blocks = [order[s:s + size] for s in range(0, n, size)]
        cands = [_block_candidates(graph, b, hop, seen) for b in blocks]
        info["candidate_share"] = sum(len(c) for c in cands) / float(n * len(blocks))
        if info["candidate_share"] <= SPLIT_SHARE or size // 2 < k:
            break
    info["block_rows"] = size
    if info["candidate_share"] > max_share or min(len(c) for c in cands) < k:
        info["reason"] = f"candidates cover {info['candidate_share']:.2f} of the rows"
        return None
    if last is not None:
        sample, exact, min_recall = last
        block_of = np.empty(n, np.int64)
        block_of[order] = np.arange(n) // size
        covered = sum(int(np.isin(e, cands[block_of[s]]).sum()) for s, e in zip(sample, exact))
        info["candidate_recall"] = covered / float(exact.size)
        if info["candidate_recall"] < min_recall:
            info["reason"] = f"candidates hold {info['candidate_recall']:.4f} < {min_recall} of the sampled neighbours"
            return None
    idx = np.empty((n, k), np.int64)
    d2 = torch.empty((n, k), dtype=torch.float32, device=device)
    # one buffer for every block's candidates and distances: a fresh allocation per block is a fresh
    # mapping to fault in (a third of the gathers' time at 18k x 512, mnist_speed20k)
    widest = max(len(c) for c in cands)
    cand_buf = torch.empty((widest, xt.shape[1]), dtype=xt.dtype, device=device)
    dist_buf = torch.empty(size * widest, dtype=xt.dtype, device=device)
    for rows, cand in zip(blocks, cands):
        r = torch.as_tensor(rows, device=device)
        c = torch.as_tensor(cand, device=device)
        xc = torch.index_select(xt, 0, c, out=cand_buf[:len(c)])
        d = torch.mm(xt[r], xc.T, out=dist_buf[:len(r) * len(c)].view(len(r), len(c)))
        d.mul_(-2.0).add_(sq[r][:, None]).add_(sq[c][None, :])
        # each row itself first (it is among its block's candidates)
        d[torch.arange(len(rows), device=device), torch.searchsorted(c, r)] = -1.0
        val, top = torch.topk(d, k, dim=1, largest=False, sorted=True)
        idx[rows] = c[top].cpu().numpy()
        d2[r] = val
    return idx, d2


#: squared distances below this share of |x|^2 + |y|^2 are recomputed from differences (the
#: expansion's float32 cancellation error is ~1e-7 of that sum)
RECOMPUTE_BELOW = 1e-3


def _finish(xt, sq, idx, d2, sample, exact):
    """Accurate, sorted distances; the sampled rows' exact neighbours put in."""
    import torch
    idx[sample] = exact
    it = torch.as_tensor(idx, device=xt.device)
    d2[torch.as_tensor(sample, device=xt.device)] = RECOMPUTE_BELOW * -1.0  # recomputed below
    near = d2 < RECOMPUTE_BELOW * (sq[:, None] + sq[it])
    # each row's own column (the first) is 0, not recomputed: 18,000 of 18,008 near pairs at 18k
    own = it[:, 0] == torch.arange(len(it), device=xt.device)
    d2[:, 0][own] = 0.0
    near[:, 0] &= ~own
    rows, cols = torch.nonzero(near, as_tuple=True)
    for s in range(0, len(rows), 65536):
        rr, cc = rows[s:s + 65536], cols[s:s + 65536]
        diff = xt[rr] - xt[it[rr, cc]]
        d2[rr, cc] = (diff * diff).sum(1)
    dist, perm = torch.sort(torch.sqrt(d2.clamp_(min=0.0)), dim=1, stable=True)
    it = torch.gather(it, 1, perm)
    return it.cpu().numpy(), dist.cpu().numpy().astype(np.float32)


def _self_first(idx: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Each sampled row's neighbours with the row itself moved to the front."""
    out = np.empty_like(idx)
    for i, (r, nb) in enumerate(zip(rows, idx)):
        out[i] = np.concatenate([[r], nb[nb != r]])[:idx.shape[1]]
    return out
