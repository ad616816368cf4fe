"""Training dynamics per sample: which samples matter (docs/DYNAMICS.md).

From the logits logged every epoch (and, when available, the fitted 2-D maps)
this computes per-sample signals known from the literature -- dataset
cartography (Swayamdipta et al. 2020), forgetting events (Toneva et al. 2019),
area under the margin (Pleiss et al. 2020) -- plus DVI-specific ones (epochs
near the decision boundary, distance travelled on the map), ready-made queries
over them, and CSV/JSON export.

Import-light on purpose (numpy and the standard library only): the plugin calls
this in request threads. Everything is computed online, one epoch at a time,
with O(N) memory (:class:`SignalAccumulator`), so a run is never held in
memory as a whole.

Epoch sequence: the epochs given, in order. Transitions (forgetting, flips,
crossings, map steps) are counted between *consecutive given* epochs; an epoch
that was not logged or is damaged is simply absent from the sequence.
"""

from __future__ import annotations

import copy
import math
from typing import Dict, Iterable, Mapping, Optional, Sequence

import numpy as np

from .. import scoring
from ..catalogue import QUERIES as CATALOGUE_QUERIES, SERVED_SIGNALS, default
# DynamicsError and the CSV/JSON export live in dynamics_export.py; re-exported for the plugin.
from .dynamics_export import DynamicsError, to_csv, to_json, to_records  # noqa: F401

#: Near-boundary criterion (one definition: tensorboard_dvi.scoring).
NEAR_BOUNDARY = scoring.NEAR_BOUNDARY_MARGIN

#: Signal names in the order they are served, with a one-line description (tensorboard_dvi.catalogue).
SIGNALS: Dict[str, str] = SERVED_SIGNALS

COUNT_SIGNALS = ("forgetting", "flips", "boundary_crossings", "near_boundary_epochs")
FLAG_SIGNALS = ("final_near_boundary", "final_correct")


class Signals(dict):
    """``dict[str, np.ndarray]`` of per-sample signals, plus the epochs they cover."""

    def __init__(self, arrays: Mapping[str, np.ndarray], n_epochs: int, n_coord_epochs: int):
        super().__init__(arrays)
        self.n_epochs = int(n_epochs)
        self.n_coord_epochs = int(n_coord_epochs)


# --------------------------------------------------------------------------- per-epoch quantities


def _label_stats(logits: np.ndarray, labels: np.ndarray):
    """(log p(label), prediction, logit margin of the label, near-boundary) for one epoch."""
    z = np.asarray(logits, dtype=np.float64)
    n, c = z.shape
    rows = np.arange(n)
    z_label = z[rows, labels]
    logp = scoring.log_softmax(z)[rows, labels]
    pred = z.argmax(axis=1)
    if c >= 2:
        other = z.copy()
        other[rows, labels] = -np.inf
        margin = z_label - other.max(axis=1)
        near = scoring.near_boundary(z)
    else:
        margin = np.zeros(n)
        near = np.zeros(n, bool)
    return logp, pred, margin, near


class PathAccumulator:
    """Sum of 2-D step lengths over a sequence of maps (None = epoch without a map)."""

    def __init__(self, n: int):
        self.n = int(n)
        self.total = np.zeros(self.n, dtype=np.float64)
        self.prev: Optional[np.ndarray] = None
        self.count = 0

    def add(self, coords: Optional[np.ndarray]) -> None:
        if coords is None:
            return
        xy = np.asarray(coords, dtype=np.float64)
        if xy.shape != (self.n, 2):
            raise DynamicsError(f"coords have shape {xy.shape}, expected ({self.n}, 2)")
        if self.prev is not None:
            self.total += np.hypot(xy[:, 0] - self.prev[:, 0], xy[:, 1] - self.prev[:, 1])
        self.prev = xy
        self.count += 1

    def result(self) -> np.ndarray:
        if self.count == 0:
            return np.full(self.n, np.nan, dtype=np.float32)
        return self.total.astype(np.float32)

    def copy(self) -> "PathAccumulator":
        return copy.deepcopy(self)


class SignalAccumulator:
    """Online computation of the signals: feed epochs in order with :meth:`add`.

    Memory is O(N) whatever the number of epochs (a few float64/int32 arrays),
    so the plugin can keep one per run and extend it when a new epoch arrives
    (:meth:`copy` first when other threads may read the old state).
    """

    def __init__(self, labels: Sequence[int]):
        self.labels = np.asarray(labels, dtype=np.int64)
        if self.labels.ndim != 1:
            raise DynamicsError(f"labels must be 1-D, got shape {self.labels.shape}")
        n = self.n = len(self.labels)
        self.num_classes: Optional[int] = None
        self.epochs = 0
        self.sum_p = np.zeros(n)
        self.sum_p2 = np.zeros(n)
        self.sum_margin = np.zeros(n)
        self.sum_loss = np.zeros(n)
        self.correct = np.zeros(n, dtype=np.int32)
        self.forgetting = np.zeros(n, dtype=np.int32)
        self.flips = np.zeros(n, dtype=np.int32)
        self.crossings = np.zeros(n, dtype=np.int32)
        self.near = np.zeros(n, dtype=np.int32)
        self.last_pred = np.zeros(n, dtype=np.int64)
        self.last_correct = np.zeros(n, dtype=bool)
        self.last_near = np.zeros(n, dtype=bool)
        self.last_logp = np.zeros(n)
        self.path = PathAccumulator(n)

    def add(self, logits: np.ndarray, coords: Optional[np.ndarray] = None) -> None:
        """One epoch: logits [N, C]; coords [N, 2] when the epoch has a fitted map, else None."""
        z = np.asarray(logits)
        if z.ndim != 2 or z.shape[0] != self.n:
            raise DynamicsError(f"logits have shape {z.shape}, expected ({self.n}, C)")
        if self.num_classes is None:
            if self.n and (self.labels.min() < 0 or self.labels.max() >= z.shape[1]):
                raise DynamicsError(f"labels must lie in [0, {z.shape[1]})")
            self.num_classes = z.shape[1]
        elif z.shape[1] != self.num_classes:
            raise DynamicsError(f"logits have {z.shape[1]} classes, earlier epochs {self.num_classes}")
        logp, pred, margin, near = _label_stats(z, self.labels)
        p = np.exp(logp)
        correct = pred == self.labels
        self.sum_p += p
        self.sum_p2 += p * p
        self.sum_margin += margin
        self.sum_loss -= logp
        self.correct += correct
        self.near += near
        if self.epochs:
            self.forgetting += self.last_correct & ~correct
            self.crossings += self.last_correct != correct
            self.flips += pred != self.last_pred
        self.last_pred, self.last_correct, self.last_near, self.last_logp = pred, correct, near, logp
        self.epochs += 1
        self.path.add(coords)

    def add_coords(self, coords: Optional[np.ndarray]) -> None:
        """Map of the next epoch without its logits (when maps are accumulated separately)."""
        self.path.add(coords)

    def copy(self) -> "SignalAccumulator":
        return copy.deepcopy(self)

    def result(self, distance: Optional[np.ndarray] = None) -> Signals:
        """The signals so far (does not change the state). ``distance`` overrides the map path."""
        if self.epochs == 0:
            raise DynamicsError("no epochs: signals need at least one logged epoch")
        t = float(self.epochs)
        mean = self.sum_p / t
        var = np.maximum(self.sum_p2 / t - mean * mean, 0.0)
        out = {
            "conf_mean": mean.astype(np.float32),
            "conf_std": np.sqrt(var).astype(np.float32),
            "correct_rate": (self.correct / t).astype(np.float32),
            "forgetting": self.forgetting.copy(),
            "flips": self.flips.copy(),
            "boundary_crossings": self.crossings.copy(),
            "near_boundary_epochs": self.near.copy(),
            "final_near_boundary": self.last_near.copy(),
            "distance_travelled": (self.path.result() if distance is None
                                   else np.asarray(distance, dtype=np.float32)),
            "loss_mean": (self.sum_loss / t).astype(np.float32),
            "margin_mean": (self.sum_margin / t).astype(np.float32),
            "final_correct": self.last_correct.copy(),
            "final_prediction": self.last_pred.copy(),
            "final_loss": (-self.last_logp).astype(np.float32),
        }
        out["mislabel_score"] = mislabel_score(out)
        return Signals(out, self.epochs, self.path.count if distance is None else 0)


def mislabel_score(signals: Mapping[str, np.ndarray]) -> np.ndarray:
    """How likely each sample's given label is wrong, in [0, 1] (higher = more likely).

    ``(1 - correct_rate) / 2 + (1 - exp(-loss_mean)) / 2``: the fraction of
    epochs in which the model disagreed with the label, averaged with one minus
    the geometric-mean (over epochs) probability it gave the label. Both halves
    use *every* logged epoch: a wrong label is not fitted in the early epochs
    even when the network memorises it later, which a final-epoch signal (the
    final loss) cannot see. Chosen on held-out sklearn-digits runs before
    looking at the demo (benchmarks/noisy_label_study.py --tune,
    docs/DYNAMICS.md): it had the highest mean precision at the noise rate in
    the two regimes where the network memorises the wrong labels (where the
    final loss collapses) and was within 0.001 of the best in the third. The
    geometric mean (rather than cartography's arithmetic ``conf_mean``) keeps
    early, confidently-wrong epochs from being washed out by late
    memorisation; the "hard-to-learn" corner of the data map (low confidence
    and low variability), AUM and forgetting counts ranked worse once the
    network memorises.
    """
    wrong_rate = 1.0 - np.asarray(signals["correct_rate"], dtype=np.float64)
    off_label = 1.0 - np.exp(-np.asarray(signals["loss_mean"], dtype=np.float64))
    return (0.5 * wrong_rate + 0.5 * off_label).clip(0.0, 1.0).astype(np.float32)


def compute_signals(logits_by_epoch: Iterable[np.ndarray], labels: Sequence[int],
                    coords_by_epoch: Optional[Iterable[Optional[np.ndarray]]] = None) -> Signals:
    """Signals of all samples from per-epoch logits (a list or any iterator, consumed once).

    ``coords_by_epoch`` (optional) gives each epoch's fitted map [N, 2], or None
    for an epoch without one; it may be shorter or a separate sequence of maps
    only (``distance_travelled`` is NaN when no map is given at all).
    """
    acc = SignalAccumulator(labels)
    for logits in logits_by_epoch:
        acc.add(logits)
    if coords_by_epoch is not None:
        for coords in coords_by_epoch:
            acc.add_coords(coords)
    return acc.result()


# --------------------------------------------------------------------------- queries


def _int_param(params, name, default=None, minimum=0):
    value = params.get(name, default)
    if value is None:
        raise DynamicsError(f"query parameter '{name}' is required")
    try:
        if isinstance(value, str):
            value = value.strip()
            if not value.lstrip("-").isdigit():
                raise ValueError
        if isinstance(value, float) and not value.is_integer():
            raise ValueError
        out = int(value)
    except (TypeError, ValueError):
        raise DynamicsError(f"query parameter '{name}' must be an integer, got {value!r}") from None
    if out < minimum:
        raise DynamicsError(f"query parameter '{name}' must be >= {minimum}, got {out}")
    return out


def _float_param(params, name, default=None, lo=-math.inf, hi=math.inf):
    value = params.get(name, default)
    if value is None:
        raise DynamicsError(f"query parameter '{name}' is required")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise DynamicsError(f"query parameter '{name}' must be a number, got {value!r}") from None
    if not math.isfinite(out) or not lo <= out <= hi:
        raise DynamicsError(f"query parameter '{name}' must lie in [{lo}, {hi}], got {value!r}")
    return out


def _top(values: np.ndarray, candidates: np.ndarray, n: int) -> np.ndarray:
    """Indices of the ``n`` largest finite values among ``candidates``, largest first (ties: lower index)."""
    cand = candidates[np.isfinite(values[candidates])]
    order = np.lexsort((cand, -values[cand].astype(np.float64)))
    return cand[order[:n]]


def _q_crossed_boundary(s, cand, p):
    k = _int_param(p, "k", default("crossed_boundary", "k"), minimum=1)
    return cand[s["boundary_crossings"][cand] >= k]


def _q_largest_movers(s, cand, p):
    n = _int_param(p, "n", default("largest_movers", "n"), minimum=1)
    return _top(np.asarray(s["distance_travelled"]), cand, n)


def _q_stuck_near_boundary(s, cand, p):
    f = _float_param(p, "fraction", default("stuck_near_boundary", "fraction"), 0.0, 1.0)
    epochs = max(getattr(s, "n_epochs", 0) or 0, 1)
    frac = np.asarray(s["near_boundary_epochs"], dtype=np.float64) / epochs
    ok = (frac[cand] >= f - 1e-9) & np.asarray(s["final_near_boundary"], bool)[cand]
    return cand[ok]


def _q_still_misclassified(s, cand, p):
    return cand[~np.asarray(s["final_correct"], bool)[cand]]


def _q_likely_mislabelled(s, cand, p):
    given = [k for k in ("n", "fraction", "threshold") if p.get(k) not in (None, "")]
    if len(given) > 1:
        raise DynamicsError(f"likely_mislabelled takes one of n, fraction, threshold; got {', '.join(given)}")
    score = np.asarray(s["mislabel_score"])
    if given == ["threshold"]:
        t = _float_param(p, "threshold", None, 0.0, 1.0)
        hit = cand[score[cand] >= t]
        return _top(score, hit, len(hit))
    if given == ["fraction"]:
        n = int(round(_float_param(p, "fraction", None, 0.0, 1.0) * len(cand)))
    else:
        n = _int_param(p, "n", default("likely_mislabelled", "n"), minimum=1)
    return _top(score, cand, n)


_FUNCTIONS = {"crossed_boundary": _q_crossed_boundary, "largest_movers": _q_largest_movers,
              "stuck_near_boundary": _q_stuck_near_boundary, "still_misclassified": _q_still_misclassified,
              "likely_mislabelled": _q_likely_mislabelled}
#: name -> (function, {parameter: help}); names, help and defaults: tensorboard_dvi.catalogue.
QUERIES = {q["name"]: (_FUNCTIONS[q["name"]], {p["name"]: p["help"] for p in q["params"] if p["name"] != "split"})
           for q in CATALOGUE_QUERIES}
COMMON_PARAMS = {"split": "train, test or all (default all)"}


def run_queries(signals: Mapping[str, np.ndarray], query: str, *, sample_split: Optional[np.ndarray] = None,
                **params) -> np.ndarray:
    """Row indices (int64) answering a ready-made query.

    Ranked queries (``largest_movers``, ``likely_mislabelled``) return the rows
    best first; filters return them in storage order. ``params['split']``
    (train, test or all; default all) restricts the candidates using
    ``sample_split``, the run's uint8 split array (0 train, 1 test). Unknown
    queries or parameters and malformed values raise :class:`DynamicsError`.
    """
    if query not in QUERIES:
        raise DynamicsError(f"unknown query {query!r}; known: {', '.join(QUERIES)}")
    fn, allowed = QUERIES[query]
    params = {k: v for k, v in params.items() if v is not None}
    unknown = sorted(set(params) - set(allowed) - set(COMMON_PARAMS))
    if unknown:
        ok = ", ".join(list(allowed) + list(COMMON_PARAMS))
        raise DynamicsError(f"query {query!r} has no parameter {', '.join(map(repr, unknown))} (it takes: {ok})")
    n = len(next(iter(signals.values())))
    cand = np.arange(n, dtype=np.int64)
    which = params.pop("split", "all") or "all"
    if which not in ("all", "train", "test"):
        raise DynamicsError(f"query parameter 'split' must be train, test or all, got {which!r}")
    if which != "all":
        if sample_split is None:
            raise DynamicsError("split filtering needs the run's split array")
        cand = cand[np.asarray(sample_split) == (0 if which == "train" else 1)]
    return np.asarray(fn(signals, cand, params), dtype=np.int64)
