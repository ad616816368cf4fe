"""Border points placed among the fixed training positions by their training rows' neighbour lists.

Boundary NN@15 (DVI's evaluator) asks, for each training sample, whether its 15 nearest border
points in high-D are its 15 nearest in 2-D. The refinement places border points by UMAP's
objective over the boundary complex, where each border point is pulled towards ~150 training rows
(those that list it) and pushed from random nodes: with the training rows held by continuity in a
warm epoch, that settles each border point near the mean of its rows, and the order of the
border points *around a row* is left to chance. Here the border points alone move (the training
rows keep their refined positions, so neighbours and continuity are untouched; PPR only through the
decoder, which then learns the placed border points) to lower, for every
training row i, the cross-entropy of its high-D nearest border points under a heavy-tailed
softmax over all border points by 2-D distance (Student's kernel ``(1 + d² / (t·ν·s²))^−ν``, s the
layout's spread; ν = 1 is t-SNE's): a row's own border points nearer than the others.
It runs after the refinement and before the decoder (phases.train_visualizer, :func:`place_in_layout`):
the decoder learns the border representations at their placed positions, so the decision regions drawn
under the map follow the border points, not only the stored ``border_embedding.npy`` (placing them after
the decoder would have improved the figure without changing the picture).
The kernel that serves a model best differs between models, so each epoch tries three and keeps the
placement that keeps most of the rows' nearest border points (:func:`place_in_layout`).
docs/QUALITY_RESULTS.md, "Eleventh pass, boundary neighbours" and "Twelfth pass".
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch

from . import metrics as M
from .border_moves import move_border_points


def place_border(train_pos: torch.Tensor, border_pos: torch.Tensor, border_knn: np.ndarray, *, steps: int,
                 temp: float = 0.05, dof: float = 1.0, lr: float = 0.2, elements_per_step: Optional[int] = 1 << 20,
                 generator: Optional[torch.Generator] = None, sampled_steps: Optional[int] = None) -> torch.Tensor:
    """New 2-D positions of the border points (``border_pos`` moved; ``train_pos`` fixed).

    ``border_knn`` (training rows x k): each training row's nearest border points in high-D (indices
    into ``border_pos``). Adam at ``lr`` x the training layout's spread, decaying linearly to 0 over
    ``steps`` steps; where rows x border points exceed ``elements_per_step``, each step reads a random
    subset of the training rows that fits it (at least 256), and ``sampled_steps`` steps are taken
    (when given): 18k x 1,800 real CNN rows, 50 steps of 582 rows each fell below the start at one
    epoch of three; 100 steps with the decay reached within 0.1 of the full rows' (docs/QUALITY_RESULTS.md)."""
    n, b = train_pos.shape[0], border_pos.shape[0]
    if steps <= 0 or b == 0 or n == 0 or border_knn is None:
        return border_pos
    y = train_pos.detach().to(torch.float32)
    spread = float(y.std(0).mean())
    if not np.isfinite(spread) or spread <= 0:
        return border_pos
    hk = torch.as_tensor(np.asarray(border_knn), dtype=torch.int64, device=y.device)
    k = hk.shape[1]
    z = border_pos.detach().to(torch.float32).clone()
    m, v = torch.zeros_like(z), torch.zeros_like(z)
    b1, b2, step = 0.9, 0.999, lr * spread
    scale = temp * dof * spread * spread
    per = n if elements_per_step is None else max(256, int(elements_per_step) // b)
    if n > per and sampled_steps is not None:
        steps = int(sampled_steps)
    for t in range(1, int(steps) + 1):
        if n > per:
            rows = torch.randperm(n, generator=generator)[:per].to(y.device)
            yr, kr = y.index_select(0, rows), hk.index_select(0, rows)
        else:
            yr, kr = y, hk
        g = _grad(yr, z, kr, scale, k, dof)
        m.mul_(b1).add_(g, alpha=1 - b1)
        v.mul_(b2).addcmul_(g, g, value=1 - b2)
        rate = step * (1.0 - (t - 1) / steps)  # linear decay: settles the subsampled steps' noise
        z.addcdiv_(m, (v / (1 - b2 ** t)).sqrt_().add_(1e-8), value=-rate / (1 - b1 ** t))  # Adam
    return z.to(border_pos.dtype)


def _grad(y: torch.Tensor, z: torch.Tensor, knn: torch.Tensor, scale: float, k: int, dof: float = 1.0) -> torch.Tensor:
    """Gradient in ``z`` of the mean over rows of −(1/k)·Σ_{j∈knn_i} log q_ij,
    q_ij ∝ (1 + |y_i − z_j|²/scale)^−dof, in closed form (no autograd graph over rows x border points):
    d/dz_j = Σ_i c_ij (z_j − y_i), c_ij = −2·dof·(q_ij − [j∈knn_i]/k) / (scale + d²_ij) / rows."""
    c = torch.cdist(y, z).square_().add_(scale).reciprocal_()   # 1 / (scale + d²)
    q = c if dof == 1.0 else c.pow(dof)
    q = q / q.sum(1, keepdim=True)                                # (scale/(scale + d²))^dof normalised: q_ij
    q.scatter_add_(1, knn, torch.full(knn.shape, -1.0 / k, dtype=q.dtype, device=q.device))
    c.mul_(q).mul_(-2.0 * dof / y.shape[0])
    return c.sum(0).unsqueeze(1) * z - c.T @ y


def place_in_layout(pos: torch.Tensor, cx, cfg, seed: int, large: bool,
                    head_fn=None) -> Tuple[torch.Tensor, Optional[dict]]:
    """``pos`` (one row per node of the complex ``cx``) with its border points placed (config
    ``border_place_*``; off on a ``large`` complex, phases.py's size rule, unless ``border_place_large``),
    and which kernel placed them (None when off).

    Each kernel of ``(border_place_dof, border_place_temp)`` and ``border_place_kernels`` places the
    border points from the same start; the placement that keeps the most of the training rows' k high-D
    nearest border points among their k nearest in 2-D (metrics.boundary_nn on the training data itself,
    with the complex's high-D lists) is used. The best kernel differs between models (docs/QUALITY_RESULTS.md,
    "Twelfth pass"), so no single one is a default for all. ``border_place_trial`` < 1 makes the tries
    shorter trials (that share of the steps) and places the winner again with all the steps. Then the
    border points are moved one at a time on the exact count (border_moves.py), between their two classes'
    rows where ``head_fn`` (the classifier head on representations) tells the classes."""
    if (cfg.border_place_steps <= 0 or not cx.n_border or cx.border_knn is None
            or (large and not cfg.border_place_large)):
        return pos, None
    n = cx.n_train
    kernels = [(float(cfg.border_place_dof), float(cfg.border_place_temp))]
    kernels += [(float(d), float(t)) for d, t in cfg.border_place_kernels if (float(d), float(t)) not in kernels]
    share = min(float(cfg.border_place_trial), 1.0)

    def place(kernel, part=1.0):
        """The border points placed from their refined positions with ``kernel`` for ``part`` of the steps."""
        return place_border(pos[:n], pos[n:], cx.border_knn, steps=max(1, round(cfg.border_place_steps * part)),
                            dof=kernel[0], temp=kernel[1], lr=cfg.border_place_lr,
                            elements_per_step=cfg.border_place_elements,
                            sampled_steps=max(1, round(cfg.border_place_sampled_steps * part)),
                            generator=torch.Generator().manual_seed(seed))

    out = pos.clone()
    if len(kernels) == 1:
        out[n:] = place(kernels[0])
        return _moved(out, cx, cfg, seed, {"dof": kernels[0][0], "temp": kernels[0][1], "kept": None, "trials": None},
                      head_fn)
    train_2d, k = pos[:n].detach().cpu().numpy(), cx.border_knn.shape[1]

    def kept(z):
        """Boundary NN@k of the placement on the training data (the evaluator's figure, its high-D lists reused)."""
        return M.boundary_nn(cx.nodes[:n], cx.nodes[n:], train_2d, z.detach().cpu().numpy(), k, high_knn=cx.border_knn)

    tries = [place(kern, share) for kern in kernels]
    trials = [kept(z) for z in tries]
    best = int(np.argmax(trials))
    kernel = kernels[best]
    out[n:] = tries[best] if share >= 1.0 else place(kernel)
    return _moved(out, cx, cfg, seed, {"dof": kernel[0], "temp": kernel[1], "trials": trials,
                                       "kept": trials[best] if share >= 1.0 else kept(out[n:])}, head_fn)


def _moved(pos: torch.Tensor, cx, cfg, seed: int, record: dict, head_fn=None) -> Tuple[torch.Tensor, dict]:
    """``pos`` after the one-at-a-time moves on the exact count (border_moves.py; ``border_moves_*``)."""
    n = cx.n_train
    if cfg.border_moves_sweeps <= 0:
        return pos, record
    row_class = border_classes = None
    if head_fn is not None and cfg.border_moves_classes:
        with torch.no_grad():
            logits = head_fn(torch.as_tensor(cx.nodes, device=pos.device)).float().cpu()
        if logits.ndim == 2 and logits.shape[1] >= 2:
            row_class, border_classes = logits[:n].argmax(1), logits[n:].topk(2, dim=1).indices
    z, moves = move_border_points(pos[:n], pos[n:], cx.border_knn, candidates=cfg.border_moves_candidates,
                                  sweeps=cfg.border_moves_sweeps, seed=seed, max_elements=cfg.border_moves_elements,
                                  budget=cfg.border_moves_budget, row_class=row_class, border_classes=border_classes)
    pos[n:] = z
    return pos, {**record, "moves": moves}
