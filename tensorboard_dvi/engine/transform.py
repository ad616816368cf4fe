"""Placing points that were not in an epoch's complex (test rows, anything projected later).

The drawn training positions are ``encoder(x) + offset`` (refine.py), so a new point
needs more than the encoder. As umap-learn's ``transform``: start at the encoder's
output plus the membership-weighted mean offset of its 15 nearest training samples
in high-D, then optimise the new points alone on UMAP's objective against the
*fixed* training positions (attraction to those 15 neighbours with their fuzzy
memberships, repulsion from random training samples). The fit places test rows with
this very function, so a logged sample's drawn position is what
``Projection.transform`` returns for its representation.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .complex import knn_reuse
from .losses import UMAP_A, UMAP_B
from .optim import Adam
from .refine import interpolate, membership_weights


def place_new_points(x_new: np.ndarray, x_train: np.ndarray, pos_train: np.ndarray, off_train: np.ndarray,
                     encode: Callable[[np.ndarray], np.ndarray], *, k: int = 15, steps: int = 60,
                     lr: float = 0.05, negative_sample_rate: int = 5, seed: int = 0,
                     device: str = "cpu", knn=None) -> np.ndarray:
    """2-D positions of ``x_new`` given the fitted training rows (representations, drawn
    positions, offsets) and ``encode`` (representations -> encoder output). ``knn``: the
    exact (indices, distances) of ``x_new`` among ``x_train`` when already searched."""
    if len(x_new) == 0:
        return np.zeros((0, 2), np.float32)
    k = min(k, len(x_train))
    idx, dist = knn_reuse(knn, np.ascontiguousarray(x_new, dtype=np.float32), x_train, k, device=device)
    init = encode(x_new) + interpolate(off_train, idx, dist)
    if steps <= 0:
        return init.astype(np.float32)
    w = torch.as_tensor(membership_weights(dist) * np.log2(max(k, 2)), dtype=torch.float32)  # sums to log2 k
    return optimise_new(torch.as_tensor(init), torch.as_tensor(np.asarray(pos_train, np.float32)),
                        torch.as_tensor(idx), w, steps=steps, lr=lr,
                        negative_sample_rate=negative_sample_rate, seed=seed).numpy()


def optimise_new(y: torch.Tensor, fixed: torch.Tensor, idx: torch.Tensor, w: torch.Tensor, *, steps: int,
                 lr: float, negative_sample_rate: int, seed: int) -> torch.Tensor:
    """Adam on the new points only: expected UMAP gradient of their edges (weights ``w``,
    m x k, to rows ``idx`` of ``fixed``) plus ``negative_sample_rate`` repulsions per unit weight."""
    gen = torch.Generator().manual_seed(seed)
    y = y.clone().float().requires_grad_(True)
    opt = Adam([y], betas=(0.5, 0.9))
    a, b = UMAP_A, UMAP_B
    m, k = idx.shape
    n_neg = negative_sample_rate * k
    neg_scale = w.sum(1, keepdim=True) / k
    near = fixed[idx]  # the neighbours are fixed: gathered once, not every step
    for s in range(steps):
        with torch.no_grad():
            dv = y[:, None, :] - near                             # m x k x 2
            d2 = (dv * dv).sum(-1) + 1e-12
            d2b = torch.pow(d2, b)
            g_pos = (w * (2.0 * a * b * d2b / d2) / (1.0 + a * d2b)).unsqueeze(-1) * dv
            neg = torch.randint(0, len(fixed), (m, n_neg), generator=gen)
            dn = y[:, None, :] - fixed.index_select(0, neg.view(-1)).view(m, n_neg, 2)
            d2n = (dn * dn).sum(-1)
            g_neg = (-2.0 * b / ((1e-3 + d2n) * (1.0 + a * torch.pow(d2n + 1e-12, b)))).unsqueeze(-1) * dn
            grad = g_pos.sum(1) + g_neg.sum(1) * neg_scale
        y.grad = grad
        opt.step(lr * (1.0 - s / steps))
    return y.detach()
