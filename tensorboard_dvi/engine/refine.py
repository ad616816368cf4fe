"""Per-sample refinement of the encoder's layout (an addition to DVI, docs/ENGINE_RESULTS.md).

A small MLP encoder is a smooth map: even trained to regress UMAP's own layout
it keeps only ~3 of 15 neighbours (NN@15) where UMAP keeps ~5. So the positions
drawn are ``encoder(x) + offset``: every node of the complex (logged training
sample or border point) gets a 2-D offset, optimised on the same UMAP
cross-entropy over the same complex, starting from the encoder's layout. The
decoder is then fitted to the refined positions, so the background under a
sample is what the model predicts for it. Samples outside the complex (test
rows) get the membership-weighted mean offset of their high-D neighbours, the
way umap-learn places new points.

The optimisation is vectorised, with closed-form gradients (faster than autograd
on gathers and scatters): each step draws edges independently with probability
∝ weight, pulls both ends together, and pushes each head and ``negative_sample_rate``
uniformly drawn nodes apart (both ends move, which kept more neighbours than
moving the head only); Adam on the offsets, linear learning-rate decay.
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch

from .complex import smooth_knn_dist
from .losses import UMAP_A, UMAP_B


def sampling_weights(weight: torch.Tensor, n_spatial: int, boundary_share: Optional[float]) -> torch.Tensor:
    """Edge weights rescaled so boundary edges carry ``boundary_share`` of the total.

    The boundary complex joins every training sample to its 15 nearest border
    points; on the demo it holds ~60 % of the weight, so sampling ∝ raw weight
    spends most of the budget on boundary edges and neighbours suffer.
    ``None`` keeps the raw weights (the spec's plain concatenation).
    """
    w = weight.to(torch.float32).clone()
    if boundary_share is None or n_spatial >= len(w) or n_spatial == 0:
        return w
    ws, wb = w[:n_spatial].sum(), w[n_spatial:].sum()
    if wb <= 0 or ws <= 0:
        return w
    share = float(min(max(boundary_share, 1e-3), 1 - 1e-3))
    w[n_spatial:] *= share / (1 - share) * ws / wb
    return w


def refine_positions(p0: torch.Tensor, head: torch.Tensor, tail: torch.Tensor, weight: torch.Tensor, *,
                     steps: int, edges_per_step: int, lr: float, negative_sample_rate: int,
                     generator: torch.Generator, offsets: Optional[torch.Tensor] = None,
                     anchor: Optional[torch.Tensor] = None, anchor_weight: Optional[torch.Tensor] = None,
                     mobility: Optional[torch.Tensor] = None,
                     should_stop: Optional[Callable[[], None]] = None,
                     on_step: Optional[Callable[[int], None]] = None) -> torch.Tensor:
    """Offsets (same shape as ``p0``) that lower UMAP's cross-entropy of ``p0 + offsets``.

    ``weight`` are the sampling weights (see :func:`sampling_weights`);
    ``offsets`` warm-starts from an earlier epoch's offsets. ``anchor`` (positions, same
    shape as ``p0``) with ``anchor_weight`` (one weight per node) adds the pull
    ``anchor_weight_i / 2 · ‖p_i − anchor_i‖²``, which keeps samples whose neighbourhood
    did not change where they were in the previous epoch's map (temporal continuity).
    ``mobility`` (one factor in [0, 1] per node) scales each node's steps.
    """
    n = p0.shape[0]
    delta = (offsets.clone() if offsets is not None else torch.zeros_like(p0)).requires_grad_(True)
    if steps <= 0 or len(weight) == 0:
        return delta.detach()
    opt = torch.optim.Adam([delta], lr=lr, betas=(0.5, 0.9))
    prob = (weight / weight.sum() * edges_per_step).clamp(max=1.0).to(p0.device)
    head, tail = head.to(p0.device), tail.to(p0.device)
    a, b = UMAP_A, UMAP_B
    for s in range(steps):
        if should_stop is not None and s % 20 == 0:
            should_stop()
        for g in opt.param_groups:
            g["lr"] = lr * (1.0 - s / steps)
        keep = torch.rand(len(prob), generator=generator).to(p0.device) < prob
        h, t = head[keep], tail[keep]
        with torch.no_grad():
            p = p0 + delta
            dv = p[h] - p[t]
            d2 = (dv * dv).sum(1) + 1e-12
            d2b = torch.pow(d2, b)
            g_pos = ((2.0 * a * b * d2b / d2) / (1.0 + a * d2b)).unsqueeze(1) * dv
            hr = h.repeat(negative_sample_rate)
            neg = torch.randint(0, n, (len(hr),), generator=generator).to(p0.device)
            dn = p[hr] - p[neg]
            d2n = (dn * dn).sum(1)
            g_neg = (-2.0 * b / ((1e-3 + d2n) * (1.0 + a * torch.pow(d2n + 1e-12, b)))).unsqueeze(1) * dn
            grad = torch.zeros_like(p0)
            grad.index_add_(0, h, g_pos)
            grad.index_add_(0, t, -g_pos)
            grad.index_add_(0, hr, g_neg)
            grad.index_add_(0, neg, -g_neg)
            if anchor is not None and anchor_weight is not None:
                grad += anchor_weight.unsqueeze(1) * (p - anchor)
        delta.grad = grad
        if mobility is None:
            opt.step()
        else:  # each node moves by its share of Adam's step
            old = delta.detach().clone()
            opt.step()
            with torch.no_grad():
                delta.copy_(old + mobility.unsqueeze(1) * (delta - old))
        if on_step is not None:
            on_step(s)
    return delta.detach()


def membership_weights(knn_dist: np.ndarray) -> np.ndarray:
    """Rows of UMAP membership strengths exp(-(d - rho) / sigma), normalised to sum 1."""
    d = np.asarray(knn_dist, dtype=np.float64)
    k = d.shape[1]
    # smooth_knn_dist skips column 0 (it expects the point itself there): prepend a zero column,
    # so sigma makes the k memberships sum to log2(k) and the nearest neighbour has weight 1
    sigma, rho = smooth_knn_dist(np.concatenate([np.zeros((len(d), 1)), d], axis=1), k)
    w = np.exp(-np.maximum(d - rho[:, None], 0.0) / np.maximum(sigma[:, None], 1e-12))
    return w / np.maximum(w.sum(1, keepdims=True), 1e-12)


def interpolate(values: np.ndarray, knn_idx: np.ndarray, knn_dist: np.ndarray) -> np.ndarray:
    """Membership-weighted mean of ``values`` over each row's neighbours (umap-learn's transform init)."""
    if len(knn_idx) == 0:
        return np.zeros((0,) + values.shape[1:], dtype=np.float32)
    w = membership_weights(knn_dist)
    return (w[:, :, None] * values[knn_idx]).sum(1).astype(np.float32)
