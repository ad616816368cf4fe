"""Per-sample scores shared by the border search, the dynamics and the plugin.

One definition each of softmax, the normalised margin and "near the boundary",
plus the projection flag bits and the JSON cleaner, so that the map's flags, the
dynamics signals and the border points can never disagree on what they mean.

Import-light on purpose (numpy and the standard library; torch only when a
torch tensor is passed): the plugin calls this in request threads.
"""

from __future__ import annotations

import math

import numpy as np

#: A sample is near the boundary when its normalised margin is below this (spec: top1 - top2 < 0.1).
NEAR_BOUNDARY_MARGIN = 0.1

#: Bits of the ``flags`` array of ``GET projection`` (docs/HTTP_API.md), served by ``GET catalogue``.
FLAGS = {"misclassified": 1, "noisy": 2, "near_boundary": 4}


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax (float64), stable for large logits."""
    z = np.asarray(logits, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax (float64): logits minus their log-sum-exp."""
    z = np.asarray(logits, dtype=np.float64)
    zmax = z.max(axis=1, keepdims=True)
    return z - (zmax + np.log(np.exp(z - zmax).sum(axis=1, keepdims=True)))


def softmax_confidence(logits: np.ndarray) -> np.ndarray:
    """Softmax top-1 probability per row (float32): 1 / sum(exp(z - max z))."""
    z = np.asarray(logits, dtype=np.float32)
    return (1.0 / np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)).astype(np.float32)


def normalised_margin(logits):
    """top1 - top2 of the logits min-max normalised over classes (0 = undecided, 1 = sure).

    Works on a numpy array (result in its float dtype) or a torch tensor (same dtype and
    device; the border search runs it on the model's device). Fewer than two
    classes: margin 1 (never near a boundary). Two classes: the softmax probability
    difference |p0 - p1| = tanh(|z0 - z1| / 2), because min-max normalisation maps any
    two logits to (1, 0): no binary sample (and no border point) could ever be undecided.
    """
    if hasattr(logits, "topk"):  # torch.Tensor, without importing torch here
        if logits.shape[1] == 2:
            return ((logits[:, 0] - logits[:, 1]).float().abs() / 2).tanh().to(logits.dtype)
        lo = logits.min(dim=1, keepdim=True).values
        hi = logits.max(dim=1, keepdim=True).values
        n = (logits - lo) / (hi - lo).clamp_min(1e-12)
        if n.shape[1] < 2:
            return n.new_ones(n.shape[0])
        top2 = n.topk(2, dim=1).values
        return top2[:, 0] - top2[:, 1]
    z = np.asarray(logits)
    if z.dtype.kind != "f":
        z = z.astype(np.float64)  # float32 stays float32: the projection route computes it per request
    if z.shape[1] < 2:
        return np.ones(len(z), z.dtype)
    if z.shape[1] == 2:
        return np.tanh(np.abs(z[:, 0] - z[:, 1]) / 2).astype(z.dtype)
    top2 = np.partition(z, z.shape[1] - 2, axis=1)[:, -2:]
    span = top2[:, 1] - z.min(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(span > 0, (top2[:, 1] - top2[:, 0]) / np.where(span > 0, span, 1.0), 0.0)


def near_boundary(logits, margin: float = NEAR_BOUNDARY_MARGIN):
    """Boolean per row: normalised margin below ``margin``."""
    return normalised_margin(logits) < margin


def projection_flags(predictions: np.ndarray, labels: np.ndarray, logits: np.ndarray,
                     noisy=None) -> np.ndarray:
    """uint8 flag bits per sample (:data:`FLAGS`): misclassified, noisy label, near the boundary."""
    flags = (np.asarray(predictions) != np.asarray(labels)).astype(np.uint8) * FLAGS["misclassified"]
    if noisy is not None:
        flags |= np.asarray(noisy).astype(np.uint8) * FLAGS["noisy"]
    flags |= near_boundary(logits).astype(np.uint8) * FLAGS["near_boundary"]
    return flags


def json_clean(obj):
    """JSON-safe copy: numpy → Python, NaN/inf → None, tuples → lists, keys and other objects → str."""
    if isinstance(obj, dict):
        return {str(k): json_clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return json_clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    return str(obj)
