"""DVI's loss: UMAP cross-entropy + reconstruction + temporal (spec 5)."""

from __future__ import annotations

from typing import Dict, Optional

import torch

#: a, b of UMAP's low-dimensional similarity for spread=1, min_dist=0.1, computed
#: once with umap.umap_.find_ab_params(1.0, 0.1) (umap-learn 0.5.12).
UMAP_A = 1.5769434602697652
UMAP_B = 0.8950608778515733
EPS = 1e-4


def umap_cross_entropy(y_head: torch.Tensor, y_tail: torch.Tensor, negative_sample_rate: int,
                       generator: Optional[torch.Generator] = None, a: float = UMAP_A,
                       b: float = UMAP_B) -> torch.Tensor:
    """Mean CE of positive edges (target 1) and in-batch negatives (target 0).

    Negatives pair each head with ``negative_sample_rate`` tails of other
    edges of the batch (a random permutation per round), like parametric UMAP.
    Probabilities are clipped to [1e-4, 1].
    """
    n = y_head.shape[0]
    rep_head = y_head.repeat(negative_sample_rate, 1)
    perm = torch.randperm(n * negative_sample_rate, generator=generator, device="cpu").to(y_head.device)
    rep_tail = y_tail.repeat(negative_sample_rate, 1)[perm]
    d_pos = ((y_head - y_tail) ** 2).sum(1)
    d_neg = ((rep_head - rep_tail) ** 2).sum(1)
    # p = 1 / (1 + a d^(2b)), with d^2 given: d^(2b) = (d^2)^b
    p_pos = 1.0 / (1.0 + a * torch.pow(d_pos + 1e-12, b))
    p_neg = 1.0 / (1.0 + a * torch.pow(d_neg + 1e-12, b))
    ce_pos = -torch.log(p_pos.clamp(EPS, 1.0))
    ce_neg = -torch.log((1.0 - p_neg).clamp(EPS, 1.0))
    return torch.cat([ce_pos, ce_neg]).mean()


def reconstruction(x: torch.Tensor, x_hat: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    """Mean squared error, divided by ``scale`` (the data's mean per-dim variance); ``mse_loss``
    has one fused kernel each way where the written-out form took four."""
    return torch.nn.functional.mse_loss(x_hat, x) / scale


def temporal(model: torch.nn.Module, prev: Dict[str, torch.Tensor], reduction: str = "sum") -> torch.Tensor:
    """||theta - theta_prev||^2 over the visualizer's weights: summed (DVI) or, with
    ``reduction="mean"``, averaged per weight (independent of the model's size)."""
    total = None
    count = 0
    for name, p in model.named_parameters():
        t = ((p - prev[name]) ** 2).sum()
        count += p.numel()
        total = t if total is None else total + t
    if reduction == "mean":
        total = total / max(count, 1)
    return total


def prediction(logits_hat: torch.Tensor, target_prob: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the classifier's output on reconstructions against its
    probabilities on the originals (soft targets: near-certain samples act as hard
    labels, border points keep their ambiguity). Not in the DVI paper."""
    return -(target_prob * torch.log_softmax(logits_hat, dim=1)).sum(1).mean()
