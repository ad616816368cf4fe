"""Fitting run B's maps laid out from run A's ("fitted from A" in Compare runs, docs/COMPARE.md).

Two runs fitted independently get unrelated layouts, and a rigid alignment (Procrustes, the tab's
align.js) leaves much of the spread as residual. Here run B's epoch e is fitted with its
refinement started at, and anchored to, run A's drawn positions of epoch e, matched by sample id:

* shared samples start at A's position, pulled there with weight ∝ the share of their 15 high-D
  neighbours in B that are also their neighbours in A at that epoch (the NPR idea of the temporal
  anchor, metrics.neighbour_preserving_rate): where B sees the same neighbourhood as A it keeps
  A's place, where it does not, B's own UMAP objective decides;
* B's samples that A lacks start at the membership-weighted mean of their shared high-D
  neighbours' positions (as border points are placed), unanchored; border points likewise.

Network weights still warm-start from B's previous epoch *of this chain*. Results go to their own
cache folder (:func:`reference_cache_dir`), never B's. Freshness: each epoch's ``input_uid`` is B's
uid combined with A's fitted epoch (uid, config hash, creation time), so refitting A makes the
dependent epochs stale (fit.py's chain rules do the rest). Needs A's epoch e fitted first:
:class:`ReferenceNotReady` otherwise. Import-light (numpy): the plugin uses the folder and
freshness helpers in request threads; torch is imported only by the fitting functions.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Dict, Iterable, List, Optional

import numpy as np

from .cache import NotFittedError, RunCache, run_identity
from .config import EngineError

#: multiplies ``anchor_strength`` for the pull towards run A's positions; larger: closer to A, fewer of
#: B's own neighbours kept (the sweep in docs/COMPARE.md, "Fitted from A")
REFERENCE_STRENGTH = 1.0


class ReferenceNotReady(EngineError):
    """Run A (the reference) has not fitted the epochs run B's reference fit needs."""


def reference_cache_dir(b_cache_dir: str, a_run_path: str) -> str:
    """B's results laid out from A: a sibling of B's cache folder, keyed by A's run identity
    (A's content and settings are checked per epoch, see :func:`combined_uid`)."""
    key = hashlib.sha1(run_identity(a_run_path).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return str(b_cache_dir).rstrip("/") + "-from-" + key


def a_fingerprint(a_cache: RunCache, e: int) -> Optional[str]:
    """What B's epoch depends on in A's cache (None: A's epoch e is not fitted)."""
    try:
        info = a_cache.epoch_info(e)
    except NotFittedError:
        return None
    return f"{info.get('input_uid')}|{info.get('config_hash')}|{info.get('created')}"


def combined_uid(b_uid: str, fingerprint: str) -> str:
    return hashlib.sha1(f"{b_uid}\0{fingerprint}".encode()).hexdigest()[:16]


def combined_uids(b_uids: Dict[int, str], a_cache: RunCache, a_fitted: Iterable[int]) -> Dict[int, str]:
    """{epoch: combined uid} for B's readable epochs whose epoch A has fitted."""
    out = {}
    for e in sorted(set(b_uids) & set(a_fitted)):
        fp = a_fingerprint(a_cache, e)
        if fp is not None:
            out[e] = combined_uid(b_uids[e], fp)
    return out


def fresh_epochs(ref_cache: RunCache, b_uids: Dict[int, str], a_cache: RunCache, a_fitted: Iterable[int]) -> List[int]:
    """B's epochs fitted from A and still fresh (for the plugin: no torch)."""
    uids = combined_uids(b_uids, a_cache, a_fitted)
    try:
        return [e for e in ref_cache.fitted_epochs(uids) if e in uids]
    except OSError:
        return []


def id_rows(ids: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row of each ``wanted`` id in ``ids`` (-1 where absent)."""
    order = np.argsort(ids, kind="stable")
    s = ids[order]
    pos = np.clip(np.searchsorted(s, wanted), 0, max(len(s) - 1, 0))
    hit = (s[pos] == wanted) if len(s) else np.zeros(len(wanted), bool)
    return np.where(hit, order[pos] if len(s) else -1, -1)


class ReferenceLayout:
    """Run A's fitted maps as the layout B's refinement starts from (``EpochFitter.reference``)."""

    def __init__(self, a_reader, a_cache: RunCache, b_ids: np.ndarray, b_train_rows: np.ndarray,
                 strength: Optional[float] = None):
        a_static = a_reader.static()
        a_ids = np.asarray(a_static.ids, np.int64)
        a_train = np.nonzero(np.asarray(a_static.split) == 0)[0]
        self.cache = a_cache
        self.strength = float(REFERENCE_STRENGTH if strength is None else strength)
        b_train_ids = np.asarray(b_ids, np.int64)[b_train_rows]
        self.a_row = id_rows(a_ids, b_train_ids)            # B train row -> A row (any split), -1
        a_train_pos = np.full(len(a_ids), -1, np.int64)
        a_train_pos[a_train] = np.arange(len(a_train))
        self.a_train_idx = np.where(self.a_row >= 0, a_train_pos[np.maximum(self.a_row, 0)], -1)
        # A train index -> B train index (-1: B does not log it as a training sample)
        self.a_to_b = np.full(len(a_train), -1, np.int64)
        ok = self.a_train_idx >= 0
        self.a_to_b[self.a_train_idx[ok]] = np.nonzero(ok)[0]
        self.n_shared = int((self.a_row >= 0).sum())

    def fingerprint(self, e: int) -> str:
        fp = a_fingerprint(self.cache, e)
        if fp is None:
            raise ReferenceNotReady(f"epoch {e} of the reference run is not fitted yet")
        return fp

    def shared_npr(self, e: int, b_knn: np.ndarray) -> np.ndarray:
        """Per B training sample: share of its high-D neighbours (self excluded) that are also its
        neighbours in A at epoch ``e``; 0 for samples A does not log as training samples."""
        a_knn = np.asarray(self.cache.knn(e))
        k = b_knn.shape[1]
        out = np.zeros(len(b_knn), np.float32)
        rows = np.nonzero(self.a_train_idx >= 0)[0]
        if not len(rows) or k < 2:
            return out
        a_nb = self.a_to_b[a_knn[self.a_train_idx[rows]][:, 1:k]]   # A's neighbours, as B rows
        b_nb = b_knn[rows, 1:]
        same = (a_nb[:, :, None] == b_nb[:, None, :]) & (a_nb[:, :, None] >= 0)
        out[rows] = same.any(2).sum(1) / (k - 1)
        return out

    def train_positions(self, e: int, knn_idx: np.ndarray, knn_dist: np.ndarray) -> np.ndarray:
        """A's drawn positions for B's training rows; rows A lacks: membership-weighted mean of
        their shared neighbours' positions (no shared neighbour: the mean of the shared ones)."""
        from .refine import membership_weights

        emb = np.asarray(self.cache.embedding(e), np.float32)
        shared = self.a_row >= 0
        pos = np.zeros((len(self.a_row), 2), np.float32)
        pos[shared] = emb[self.a_row[shared]]
        missing = np.nonzero(~shared)[0]
        if len(missing):
            w = membership_weights(knn_dist[missing, 1:]) * shared[knn_idx[missing, 1:]]
            tot = w.sum(1, keepdims=True)
            fallback = pos[shared].mean(0) if shared.any() else np.zeros(2, np.float32)
            mean = (w[:, :, None] * pos[knn_idx[missing, 1:]]).sum(1) / np.maximum(tot, 1e-12)
            pos[missing] = np.where(tot > 0, mean, fallback)
        return pos

    def anchors(self, fitter, e: int, cx, x_train):
        """(positions, per-node weights) as tensors, one row per node of ``cx`` (EpochFitter hook)."""
        import torch

        self.fingerprint(e)
        cfg = fitter.cfg
        pos = fitter.with_border(self.train_positions(e, cx.knn_idx, cx.knn_dist), cx, x_train)
        npr = self.shared_npr(e, cx.knn_idx)
        w = np.zeros(len(pos), np.float32)
        w[:cx.n_train] = cfg.anchor_strength * self.strength * np.power(npr, cfg.anchor_npr_power)
        return pos, torch.as_tensor(w, device=fitter.device)


class _Epoch:
    """One of B's logged epochs, with the uid that also names A's fitted epoch."""

    def __init__(self, ed, uid: str):
        self._ed, self.uid = ed, uid

    def __getattr__(self, name):
        return getattr(self._ed, name)


class ReferencedReader:
    """B's reader whose epochs exist only where A's epoch is fitted (uids combined with A's)."""

    def __init__(self, reader, layout: ReferenceLayout):
        self._reader, self._layout = reader, layout

    def __getattr__(self, name):
        return getattr(self._reader, name)

    def epoch(self, e: int):
        ed = self._reader.epoch(e)
        fp = a_fingerprint(self._layout.cache, e)
        if fp is None:
            raise KeyError(e)  # fit_run skips it; fit_from_reference reports it as waiting for A
        return _Epoch(ed, combined_uid(ed.uid, fp))


def fit_from_reference(run_path, cache_dir: str, *, reference_path: str, reference_cache: str,
                       epochs: Optional[Iterable[int]] = None, config=None, device: str = "cpu",
                       progress: Optional[Callable[[dict], None]] = None,
                       should_stop: Optional[Callable[[], bool]] = None, confine: Optional[str] = None) -> List[int]:
    """Fit run B (``run_path``) into ``cache_dir`` laid out from run A (``reference_path``, fitted
    into ``reference_cache``); the job manager's fit function for "B from A" jobs. Fits B's epochs
    whose epoch A has fitted; raises :class:`ReferenceNotReady` when there is none."""
    from ..storage import RunReader
    from .fit import fit_run

    b_reader = RunReader(run_path, confine=confine)
    a_reader = RunReader(reference_path, confine=confine)
    a_cache = RunCache(reference_cache)
    b_static = b_reader.static()
    split = np.asarray(b_static.split)
    layout = ReferenceLayout(a_reader, a_cache, b_static.ids, np.nonzero(split == 0)[0])
    if layout.n_shared < 3:
        raise EngineError(f"the two runs share {layout.n_shared} logged training sample ids; "
                          "laying one out from the other needs shared samples")
    wanted = b_reader.epochs() if epochs is None else sorted(int(e) for e in epochs)
    ready = [e for e in wanted if a_fingerprint(a_cache, e) is not None]
    if not ready:
        raise ReferenceNotReady(f"the reference run has fitted none of epochs {wanted} yet; "
                                "fit it first (open it in the tab)")
    return fit_run(ReferencedReader(b_reader, layout), cache_dir, epochs=ready, config=config, device=device,
                   progress=progress, should_stop=should_stop, reference=layout)


def residual(a_pos: np.ndarray, b_pos: np.ndarray, align: bool = True, keep: float = 0.7, iters: int = 10) -> float:
    """Median distance between paired positions / RMS spread of ``a_pos``, after the tab's robust
    Procrustes (align.js: similarity transform refit on the ``keep`` closest pairs) when ``align``."""
    a, b = np.asarray(a_pos, np.float64), np.asarray(b_pos, np.float64)
    spread = np.sqrt(((a - a.mean(0)) ** 2).sum(1).mean()) or 1.0
    fitted = b
    if align:
        use = np.arange(len(a))
        for _ in range(iters):
            fitted = _similarity(a[use], b[use], b)
            d = np.linalg.norm(a - fitted, axis=1)
            nxt = np.sort(np.argsort(d, kind="stable")[:max(3, int(np.ceil(keep * len(a))))])
            if len(nxt) == len(use) and np.array_equal(nxt, use):
                break
            use = nxt
    return float(np.median(np.linalg.norm(a - fitted, axis=1)) / spread)


def _similarity(a: np.ndarray, b: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """``pts`` under the scale·rotation/reflection + shift that best maps ``b`` onto ``a``."""
    ma, mb = a.mean(0), b.mean(0)
    u, s, vt = np.linalg.svd((b - mb).T @ (a - ma))
    r = u @ vt
    scale = s.sum() / max(((b - mb) ** 2).sum(), 1e-12)
    return (pts - mb) @ r * scale + ma
