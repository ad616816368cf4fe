"""``GET neighbours``: a sample's nearest neighbours in the representation space.

Exact, over the epoch's logged high-dimensional vectors (memory-mapped): one
query row against all rows by chunked matrix–vector products with the rows'
squared norms (kept per epoch), then the best candidates re-ranked with direct
differences in float64, so float32 cancellation cannot reorder them. The 2-D
map of a fitted epoch tells which of them the map keeps among its own k
nearest (``kept_on_map``, ``map_recall``): the Projector's "nearest points",
plus how far the map can be trusted for this sample.
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from werkzeug import wrappers

from .. import storage
from . import codes, validate
from .runs import LRU
from .sample_routes import respond_json

DEFAULT_K = 10
MAX_K = 200
CHUNK = 16384


def _int_param(args, name: str, default: int, lo: int, hi: int) -> int:
    value = args.get(name)
    if value is None or value == "":
        return default
    if not value.isdigit() or not value.isascii() or not lo <= int(value) <= hi:
        raise codes.BadParam(f"parameter '{name}' must be an integer in [{lo}, {hi}], got {value[:40]!r}")
    return int(value)


def squared_norms(reps) -> np.ndarray:
    out = np.empty(len(reps), dtype=np.float64)
    for s in range(0, len(reps), CHUNK):
        x = np.asarray(reps[s:s + CHUNK], dtype=np.float32)
        out[s:s + len(x)] = np.einsum("ij,ij->i", x, x, dtype=np.float64)
    return out


def nearest(reps, idx: int, k: int, norms: Optional[np.ndarray] = None) -> Tuple[np.ndarray, np.ndarray]:
    """(rows, distances) of the ``k`` rows of ``reps`` nearest to row ``idx`` (itself excluded),
    nearest first; ties by row. ``reps`` may be a memory map (float32 or float16)."""
    n = len(reps)
    k = min(k, n - 1)
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    norms = squared_norms(reps) if norms is None else norms
    q = np.asarray(reps[idx], dtype=np.float32)
    d2 = np.empty(n, dtype=np.float64)
    for s in range(0, n, CHUNK):
        x = np.asarray(reps[s:s + CHUNK], dtype=np.float32)
        d2[s:s + len(x)] = x @ q
    d2 = norms - 2.0 * d2 + float(q.astype(np.float64) @ q)
    d2[idx] = np.inf
    pool = min(n - 1, 2 * k + 16)
    cand = np.argpartition(d2, pool - 1)[:pool] if pool < n else np.arange(n)
    cand = cand[cand != idx]
    diff = np.asarray(reps[np.sort(cand)], dtype=np.float64) - q.astype(np.float64)
    exact = np.sqrt(np.einsum("ij,ij->i", diff, diff))
    rows = np.sort(cand)
    order = np.lexsort((rows, exact))[:k]
    return rows[order], exact[order]


def map_nearest(coords: np.ndarray, idx: int, k: int) -> np.ndarray:
    """Rows of the ``k`` nearest points to ``idx`` on the 2-D map (itself excluded)."""
    d = np.sum((np.asarray(coords, dtype=np.float64) - np.asarray(coords[idx], dtype=np.float64)) ** 2, axis=1)
    d[idx] = np.inf
    k = min(k, len(d) - 1)
    return np.lexsort((np.arange(len(d)), d))[:k]


class NeighbourRoutes:
    """``GET neighbours``; squared norms are kept for the ``max_epochs`` most recent epochs."""

    def __init__(self, runs, max_epochs: int = 16):
        self.runs = runs
        self._norms = LRU(max_epochs)

    def _map_rows(self, run, e: int, uids, idx: int, k: int):
        if e not in self.runs.fitted(run, uids):
            return None
        try:
            coords = run.cache.embedding(e)
        except (KeyError, OSError, ValueError):
            return None
        if coords.shape != (len(self.runs.static(run).ids), 2):
            return None
        return set(int(r) for r in map_nearest(coords, idx, k))

    @wrappers.Request.application
    def neighbours(self, request):
        run = self.runs.open(request.args)
        sid = validate.sample_id(request.args)
        k = _int_param(request.args, "k", DEFAULT_K, 1, MAX_K)
        e, uid = self.runs.epoch(run, request.args)
        idx = int(self.runs.index_of(run, [sid])[0])
        ep = self.runs.epoch_data(run, e)
        try:
            reps = ep.representations_raw
        except storage.DamagedEpochError as err:
            raise codes.Damaged(f"epoch {e} of run {run.name!r} is damaged: {err.reason}") from None
        key = (run.path, e, uid)
        norms = self._norms.get(key)
        if norms is None:
            norms = self._norms.put(key, squared_norms(reps))
        rows, dist = nearest(reps, idx, k, norms)
        ids = self.runs.static(run).ids
        _, uids, _ = self.runs.scan(run)
        kept = self._map_rows(run, e, uids, idx, len(rows))
        out = [{"id": int(ids[r]), "index": int(r), "distance": float(d),
                "kept_on_map": (int(r) in kept) if kept is not None else None} for r, d in zip(rows, dist)]
        recall = (sum(n["kept_on_map"] for n in out) / len(out)) if kept is not None and out else None
        return respond_json(request, {"id": sid, "index": idx, "epoch": e, "k": k, "space": "representation",
                                      "neighbours": out, "map_recall": recall})
