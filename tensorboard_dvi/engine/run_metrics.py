"""Run-level figures as the DVI/TimeVis authors' evaluator defines them (spec 8).

Over ALL fitted epochs of a run, from the logdir (high-D) and the cache (2-D) alone:

- ``tnn_k`` (k = 3, 5): every epoch is an anchor; each training sample's own
  vectors at all other epochs are ranked by distance to its anchor vector, in
  high-D and in 2-D; the overlap of the two top-k, a count in [0, k]; mean over
  anchors and samples (chance: k² / (epochs − 1)).
- ``tr``: Spearman's rho of those two distance vectors, mean over anchors and samples.
- ``temporal_corr`` (DVI): per sample, Pearson r between its NPR@15 (high-D
  neighbours kept between consecutive epochs) and its 2-D displacement over the
  consecutive epoch pairs; mean over samples with non-constant series (more
  negative is better).
- ``mean``: the per-epoch figures of metrics.json averaged over the epochs.

Written to ``run_metrics.json`` in the cache (``RunCache.run_metrics``).
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import metrics as M
from .cache import RunCache
from .epoch_pairs import row_distances

MEAN_KEYS = ("nn_15", "nn_15_test", "boundary_nn_15", "boundary_nn_15_test", "ppr_train", "ppr_test",
             "trustworthiness")


def pairwise_epoch_distances(get: Callable[[int], np.ndarray], t: int) -> np.ndarray:
    """d[a, b, i] = ‖v_a[i] − v_b[i]‖ for every pair of epochs (two epochs in memory at a time)."""
    first = get(0)
    d = np.zeros((t, t, len(first)), np.float32)
    for a in range(t):
        va = first if a == 0 else get(a)
        for b in range(a + 1, t):
            d[a, b] = d[b, a] = row_distances(va, get(b))
    return d


def npr_series(knns: Sequence[np.ndarray], k: int = 15) -> np.ndarray:
    """NPR@k between consecutive epochs, pairs x samples (self-first kNN lists)."""
    return np.stack([M.neighbour_preserving_rate(np.asarray(a)[:, :k], np.asarray(b)[:, :k])
                     for a, b in zip(knns[:-1], knns[1:])])


def temporal_figures(high: Callable[[int], np.ndarray], low: Callable[[int], np.ndarray], t: int,
                     knns: Optional[Sequence[np.ndarray]] = None,
                     remember: Optional[Tuple[Sequence[Optional[str]], np.ndarray]] = None) -> Dict[str, Optional[float]]:
    """tnn@3, tnn@5, tr (every epoch an anchor) and DVI's temporal correlation.

    ``high(e)``/``low(e)``: the samples' vectors at the e-th epoch (same rows each
    time); ``knns``: their self-first high-D kNN lists per epoch (computed when absent);
    ``remember``: (the epochs' input uids, the rows) to reuse and keep the high-D pairs (epoch_pairs.py).
    """
    out: Dict[str, Optional[float]] = {"epochs_used": t}
    if t < 2:
        return {**out, "tnn_3": None, "tnn_5": None, "tr": None, "temporal_corr": None}
    if remember is not None:
        from .epoch_pairs import PAIRS
        uids, rows = remember
        dh = PAIRS.table(list(uids), rows, high)
    else:
        dh = pairwise_epoch_distances(high, t)
    dl = pairwise_epoch_distances(low, t)
    out["tnn_3"], _ = M.temporal_ranking_dist(dh, dl, 3)
    out["tnn_5"], out["tr"] = M.temporal_ranking_dist(dh, dl, 5)
    if knns is None:
        knns = [M.knn(high(e), 16) for e in range(t)]
    disp = np.stack([np.linalg.norm(low(e + 1) - low(e), axis=1) for e in range(t - 1)])
    out["temporal_corr"] = M.temporal_correlation(npr_series(knns), disp)
    return out


def run_metrics(reader, cache: RunCache, epochs: Optional[List[int]] = None) -> dict:
    """The run-level figures over ``epochs`` (default: every fitted epoch), train rows."""
    from .faithfulness import rows_of
    epochs = sorted(cache.fitted_epochs() if epochs is None else epochs)
    split = np.asarray(reader.static().split)
    rows = np.nonzero(split == 0)[0]
    out = temporal_figures(lambda i: rows_of(reader, epochs[i], rows),
                           lambda i: np.asarray(cache.embedding(epochs[i]), np.float32)[rows],
                           len(epochs), [np.asarray(cache.knn(e)) for e in epochs],
                           remember=([cache.input_uid(e) for e in epochs], rows))
    out["epochs"] = [int(e) for e in epochs]
    out["input_uids"] = {str(e): cache.input_uid(e) for e in epochs}
    out["fitted_at"] = _fitted_at(cache, epochs)
    per_epoch = [cache.metrics(e) for e in epochs]
    out["mean"] = {k: _mean([m.get(k) for m in per_epoch]) for k in MEAN_KEYS}
    out["n_samples"] = int(len(rows))
    return out


def _fitted_at(cache: RunCache, epochs) -> Dict[str, Optional[float]]:
    """When each epoch was fitted (epoch.json's ``created``): a refit changes it."""
    return {str(e): cache.epoch_info(e).get("created") for e in epochs}


def _mean(values) -> Optional[float]:
    v = [x for x in values if x is not None]
    return float(np.mean(v)) if v else None


def update_run_metrics(reader, cache: RunCache, uids: Dict[int, str], config_hash: Optional[str] = None) -> dict:
    """Recompute ``run_metrics.json`` over the fresh epochs when they changed; return it."""
    fresh = cache.fitted_epochs(uids, config_hash)
    old = cache.run_metrics()
    # the same epochs of the same input, and not refitted since (new settings keep the uids)
    if old is not None and old.get("epochs") == fresh and \
            old.get("input_uids") == {str(e): uids.get(e) for e in fresh} and \
            old.get("fitted_at") == _fitted_at(cache, fresh):
        return old
    new = run_metrics(reader, cache, fresh)
    cache.write_run_metrics(new)
    return new
