"""Decision-boundary background: grid -> decoder -> logged head -> image (spec 7)."""

from __future__ import annotations

from typing import Tuple

import numpy as np

from .. import scoring
from .palette import class_colors_rgb
from .png import encode_png

WHITE_BELOW = 0.15   # normalised top1 - top2 below this is drawn white (the boundary)
# Saturation rises from MIN_SATURATION just past the boundary to MAX_SATURATION at a margin of
# FULL_AT (square-root ramp): confident regions read as their class colour, not as a pale tint
# (issue 15: "olive and brown on near-white" with the former linear 0-45 % ramp).
MIN_SATURATION = 0.15
MAX_SATURATION = 0.6
FULL_AT = 0.6


def square_bounds(points: np.ndarray, margin: float = 0.1) -> Tuple[float, float, float, float]:
    """Bounding box of ``points`` grown by ``margin`` of its span each side, made square."""
    lo = points.min(0).astype(np.float64)
    hi = points.max(0).astype(np.float64)
    span = hi - lo
    lo, hi = lo - margin * span, hi + margin * span
    c = (lo + hi) / 2.0
    half = max(float((hi - lo).max()) / 2.0, 1e-6)
    return (float(c[0] - half), float(c[1] - half), float(c[0] + half), float(c[1] + half))


def cell_centres(bounds, resolution: int) -> np.ndarray:
    """(R*R, 2) cell centres, row-major, row 0 at y_max."""
    x_min, y_min, x_max, y_max = bounds
    r = int(resolution)
    xs = x_min + (np.arange(r) + 0.5) * (x_max - x_min) / r
    ys = y_max - (np.arange(r) + 0.5) * (y_max - y_min) / r
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1).astype(np.float32)


def colorize(logits: np.ndarray, num_classes: int) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb uint8 M x 3, class int64 M, softmax top-1 float32 M) from logits.

    Colour = class colour blended with white by the normalised margin (scoring.py; the same
    "undecided" as the border points and the near-boundary flag): white where diff < WHITE_BELOW, then MIN_SATURATION rising as the square
    root of the margin to MAX_SATURATION at diff >= FULL_AT. Class colours come from the fixed
    palette, never from the classes present.
    """
    logits = np.asarray(logits, dtype=np.float64)
    cls = logits.argmax(1)
    diff = scoring.normalised_margin(logits)
    ramp = np.sqrt(np.clip((diff - WHITE_BELOW) / (FULL_AT - WHITE_BELOW), 0.0, 1.0))
    s = np.where(diff < WHITE_BELOW, 0.0, MIN_SATURATION + (MAX_SATURATION - MIN_SATURATION) * ramp)
    colors = class_colors_rgb(max(num_classes, logits.shape[1])).astype(np.float64)[cls]
    rgb = np.round(255.0 * (1.0 - s[:, None]) + colors * s[:, None]).astype(np.uint8)
    return rgb, cls, scoring.softmax_confidence(logits)


def render(decode_and_classify, embedding: np.ndarray, resolution: int, num_classes: int):
    """Build the background of one epoch.

    ``decode_and_classify(points (M, 2) float32) -> logits (M, C)`` runs the
    decoder and the logged head. Returns (png bytes, meta dict, classes R x R,
    confidence R x R).
    """
    bounds = square_bounds(embedding)
    pts = cell_centres(bounds, resolution)
    logits = np.concatenate([decode_and_classify(pts[s:s + 16384]) for s in range(0, len(pts), 16384)])
    rgb, cls, prob = colorize(logits, num_classes)
    r = int(resolution)
    dtype = np.uint8 if max(num_classes, logits.shape[1]) <= 256 else np.int16
    png = encode_png(rgb.reshape(r, r, 3))
    meta = {"bounds": list(bounds), "resolution": r}
    return png, meta, cls.reshape(r, r).astype(dtype), prob.reshape(r, r)


def render_bounds(decode_and_classify, bounds, resolution: int, num_classes: int) -> bytes:
    """PNG of the decision regions over given ``bounds`` (a zoomed view), coloured as :func:`render`."""
    pts = cell_centres(bounds, resolution)
    logits = np.concatenate([decode_and_classify(pts[s:s + 16384]) for s in range(0, len(pts), 16384)])
    r = int(resolution)
    return encode_png(colorize(logits, num_classes)[0].reshape(r, r, 3))
