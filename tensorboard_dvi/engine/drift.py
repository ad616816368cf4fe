"""The map follows the representations' mean (config ``drift``; docs/QUALITY_RESULTS.md, seventh pass).

Each epoch's layout is fitted in the frame of the previous one, so a drift that moves every
representation together (the mean of the penultimate layer wanders as training goes on) does not
move the map: a sample whose neighbourhood held stays put even when its vector moved far. The
reference evaluator's tr and tnn@k rank a sample's 2-D distances to its other epochs by its high-D
ones, and that shared drift is a large share of a sample's high-D move between epochs (the centroid's
step is 0.35–0.81 of the mean per-sample step on the quality subjects).

So the whole map of an epoch (samples, border points and decision regions together) is translated
so that the path of the map's centre reproduces the path of the training representations' mean:
an incremental MDS of the epochs' centroids along one line, ``|W_t − W_j| ≈ s · ‖c_t − c_j‖`` for
the earlier epochs j of the chain, with ``s`` = ``drift`` · (2-D spread / high-D spread) of the
chain's first epoch. A translation changes no neighbour, boundary or PPR figure; it is baked into the
visualizer's biases, so ``transform``/``inverse_transform`` and the next epoch's warm start agree.
"""

from __future__ import annotations

from typing import List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from .cache import map_shift

#: Gauss-Newton steps of the 1-parameter MDS solve
STEPS = 30
#: earlier epochs of the chain the new centre is placed against (every record carries the chain's
#: scale, so a long run reads a bounded number of records per epoch)
HISTORY = 64


def spread(x: np.ndarray, block: int = 8192) -> float:
    """RMS distance of the rows to their mean (in blocks: no float64 copy of a 100k x 512 epoch)."""
    n = len(x)
    if n == 0:
        return 0.0
    c = np.asarray(x).mean(0, dtype=np.float64)
    sq = sum(float(((np.asarray(x[s:s + block], np.float64) - c) ** 2).sum()) for s in range(0, n, block))
    return float(np.sqrt(sq / n))


def next_shift(shifts: List[np.ndarray], centroids: List[np.ndarray], centroid: np.ndarray,
               scale: float) -> np.ndarray:
    """The new epoch's map centre W_t = (p_t, 0): ``|p_t − p_j| ≈ scale · ‖c_t − c_j‖`` over the earlier
    epochs (least squares), searched from the last centre plus the latest step, so the path goes on
    forward unless the centroid came back.

    The path is one straight line (along x). A 2-D fit of the same distances let the path curl back
    towards earlier epochs and lost most of the gain: mnist_cnn tr 0.81 → 0.59 (QUALITY_RESULTS.md)."""
    p = np.asarray(shifts, np.float64).reshape(-1, 2)[:, 0]
    r = scale * np.linalg.norm(np.asarray(centroids, np.float64) - np.asarray(centroid, np.float64)[None], axis=1)
    w = p[-1] + r[-1]
    best, best_cost = w, np.inf
    for _ in range(STEPS):  # Gauss-Newton on the residuals |w − p_j| − r_j; the best point kept
        f = np.abs(w - p) - r
        cost = float(f @ f)
        if cost < best_cost:
            best, best_cost = w, cost
        J = np.sign(w - p)
        if not J.any():
            break
        w = w - float(J @ f) / float(J @ J)
    return np.array([best, 0.0])


def _linears(seq: nn.Sequential) -> List[nn.Linear]:
    return [m for m in seq if isinstance(m, nn.Linear)]


@torch.no_grad()
def translate_model(model, delta: np.ndarray) -> None:
    """Shift the visualizer's 2-D frame by ``delta``: encoder outputs move by it, and the decoder
    reads a point moved by it as it read the unmoved one (biases of the last encoder and first
    decoder layer)."""
    d = torch.as_tensor(np.asarray(delta, np.float32), device=model.center.device)
    _linears(model.encoder_net)[-1].bias.add_(d)
    first = _linears(model.decoder_net)[0]
    first.bias.sub_(first.weight @ d)


def chain(cache, prev) -> Tuple[List[np.ndarray], List[np.ndarray], Optional[float]]:
    """(shifts, centroids, scale) of the last ``HISTORY`` epochs of ``prev``'s warm-start chain, oldest
    first; empty lists and None when the chain has no drift record (fitted before it, or drift off)."""
    shifts, cents, scale, e, seen = [], [], None, prev, set()
    while e is not None and e not in seen and len(seen) < HISTORY:
        seen.add(e)
        try:
            info = cache.epoch_info(e)
            rec, c = info.get("drift"), cache.centroid(e)
        except (OSError, ValueError, KeyError):
            return [], [], None
        if not isinstance(rec, dict) or c is None or np.ndim(c) != 1:
            return [], [], None
        shifts.append(np.asarray(map_shift(info), np.float64))  # a damaged record reads as no move
        cents.append(np.asarray(c, np.float64))
        scale = rec.get("scale")
        e = info.get("prev_epoch")
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not np.isfinite(scale) or scale <= 0:
        return [], [], None  # no usable scale: this epoch starts a new chain
    return shifts[::-1], cents[::-1], float(scale)


def plan(cache, prev, drift: float, x_train: np.ndarray) -> Optional[dict]:
    """This epoch's translation, known before its layout (it depends on the centroids alone):
    {"centroid", and for a warm epoch of a chain "scale", "shift" (the new centre), "delta" (the
    move from the previous centre)}; None when ``drift`` is off. ``prev`` as in :func:`follow_mean`."""
    if drift <= 0:
        return None
    c = np.asarray(x_train).mean(0, dtype=np.float64)
    shifts, cents, scale = chain(cache, prev) if prev is not None else ([], [], None)
    if not shifts:
        return {"centroid": c}
    w = next_shift(shifts, cents, c, float(scale))
    return {"centroid": c, "scale": float(scale), "shift": w, "delta": w - shifts[-1]}


def follow_mean(cache, prev, drift: float, model, positions: torch.Tensor, x_train: np.ndarray,
                n_train: int, planned: Optional[dict] = None) -> Tuple[Optional[dict], Optional[np.ndarray]]:
    """Translate this epoch's map (``model`` and the refined ``positions``, in place) so its centre
    follows the representations' mean; ``prev``: the warm-start predecessor (None: this epoch starts
    a chain, and only its scale is recorded); ``planned``: :func:`plan`'s result when already made.
    Returns (the ``drift`` record of epoch.json, the centroid to store), or (None, None) when
    ``drift`` is off."""
    p = plan(cache, prev, drift, x_train) if planned is None else planned
    if p is None:
        return None, None
    c = p["centroid"]
    if "delta" not in p:
        hi = spread(x_train)
        scale = drift * spread(positions[:n_train].detach().cpu().numpy()) / hi if hi > 0 else 0.0
        return {"shift": [0.0, 0.0], "scale": float(scale)}, c.astype(np.float32)
    w, delta, scale = p["shift"], p["delta"], p["scale"]
    translate_model(model, delta)
    positions += torch.as_tensor(delta, dtype=positions.dtype, device=positions.device)
    return {"shift": [float(w[0]), float(w[1])], "scale": float(scale)}, c.astype(np.float32)
