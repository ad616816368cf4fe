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


def prediction_targets(logits: torch.Tensor, sharpen: float = 0.0) -> torch.Tensor:
    """Targets of the decoder's prediction term: the head's softmax on x, mixed with the one-hot of
    its argmax by ``sharpen`` (config ``pred_target_sharpen``; 0: the softmax alone). PPR asks for the
    argmax only; on a low-confidence sample (0.35 against 0.30) the softmax alone lets the decoder
    predict the runner-up at almost no loss, while the mix gives the argmax a lead of at least
    ``sharpen`` in the target."""
    prob = torch.softmax(logits.float(), dim=1)
    if sharpen <= 0:
        return prob
    onehot = torch.nn.functional.one_hot(prob.argmax(1), prob.shape[1]).to(prob.dtype)
    return (1.0 - sharpen) * prob + sharpen * onehot


def prediction(logits_hat: torch.Tensor, target_prob: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the classifier's output on reconstructions against its
    probabilities on the originals (soft targets: near-certain samples act as hard
    labels, border points keep their ambiguity). Not in the DVI paper."""
    return -(target_prob * torch.log_softmax(logits_hat, dim=1)).sum(1).mean()


class _LinearReconstruction(torch.autograd.Function):
    """mean((h·Wᵀ + b − x)²) and its gradients without forming the (batch × D) reconstruction.

    Expanded: Σ(hWᵀ + b − x)² = Σ(hᵀh ⊙ WᵀW) + 2bᵀW·Σh + n‖b‖² − 2Σ(xW ⊙ h) − 2bᵀΣx + Σx²; its
    gradients: dW ∝ W·hᵀh + b·(Σh)ᵀ − xᵀh, db ∝ W·Σh + n·b − Σx, dh ∝ h·WᵀW + bᵀW − xW. The two
    products with x (xW, xᵀh) replace three of the size (batch × D × hidden) (forward, dW, dh)."""

    @staticmethod
    def forward(ctx, h, weight, bias, x, x_sq):
        n, d = x.shape
        hh, wtw, xw = h.t() @ h, weight.t() @ weight, x @ weight
        hs, xs = h.sum(0), x.sum(0)
        total = ((hh * wtw).sum() + 2 * (bias @ weight @ hs) + n * (bias @ bias) - 2 * (xw * h).sum()
                 - 2 * (bias @ xs) + x_sq)
        ctx.save_for_backward(h, weight, bias, x, hh, wtw, xw, hs, xs)
        return total / (n * d)

    @staticmethod
    def backward(ctx, g):
        h, weight, bias, x, hh, wtw, xw, hs, xs = ctx.saved_tensors
        n, d = x.shape
        k = g * (2.0 / (n * d))
        dh = dw = db = None
        if ctx.needs_input_grad[0]:
            dh = (torch.addmm(-xw, h, wtw) + bias @ weight) * k
        if ctx.needs_input_grad[1]:
            dw = (torch.addmm(torch.outer(bias, hs), weight, hh) - x.t() @ h) * k
        if ctx.needs_input_grad[2]:
            db = (torch.addmv(n * bias - xs, weight, hs)) * k
        return dh, dw, db, None, None


def linear_reconstruction(h: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, x: torch.Tensor,
                          x_sq: Optional[torch.Tensor] = None) -> torch.Tensor:
    """``reconstruction(x, F.linear(h, weight, bias))`` (same value and gradients, up to rounding)
    for a decoder whose last layer is ``weight, bias``; ``x_sq``: Σx² of the batch when known."""
    if x_sq is None:
        x_sq = (x * x).sum()
    return _LinearReconstruction.apply(h, weight, bias, x, x_sq)
