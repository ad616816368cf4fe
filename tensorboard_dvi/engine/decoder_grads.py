"""One decoder step's gradients written out, without autograd (phases.train_decoder).

The decoder is a small ReLU MLP (2 → hidden → D) taking ~800 steps per epoch; at a batch of
500, autograd's bookkeeping costs about as much as the small layers' products. Here the
forward pass keeps its activations and the backward pass is the chain rule by hand, for
the decoder's loss λ_recon · mean((dec(pos) − x)²) + λ_pred · CE(head(dec(pos)), target)
with the head folded onto the last hidden layer (phases.folded_head) and the
reconstruction in expanded form (losses.linear_reconstruction): no (batch × D) output is
formed. tests/test_engine_optim.py checks the gradients against autograd's. ``x`` may be the
representations rounded to bfloat16 (precision.py): the two D-wide products then run in bf16.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

from .precision import mm


def relu_mlp_linears(net: nn.Module) -> Optional[list]:
    """The Linear layers of ``net`` when it is Linear, ReLU, Linear, …, Linear (model._mlp), else None."""
    if not isinstance(net, nn.Sequential) or len(net) % 2 == 0:
        return None
    for i, layer in enumerate(net):
        if not isinstance(layer, nn.Linear if i % 2 == 0 else nn.ReLU) or (i % 2 == 0 and layer.bias is None):
            return None
    return list(net)[0::2]


@torch.no_grad()
def set_decoder_grads(linears: list, pos: torch.Tensor, x: torch.Tensor, lambda_recon: float,
                      fold_w: Optional[torch.Tensor] = None, fold_b: Optional[torch.Tensor] = None,
                      target: Optional[torch.Tensor] = None, lambda_pred: float = 0.0,
                      dim: Optional[int] = None) -> None:
    """Set ``.grad`` of every weight and bias of ``linears`` to the loss's gradient on the batch
    (``pos`` → ``x``; with ``fold_w``/``fold_b``/``target``: the prediction term on logits
    h · (fold_w · W_last)ᵀ + fold_w · b_last + fold_b). ``dim``: the D of the loss's mean when ``x`` holds
    coordinates in a subspace of it (subspace.py; default ``x``'s width)."""
    acts = [pos]
    for layer in linears[:-1]:
        acts.append(torch.addmm(layer.bias, acts[-1], layer.weight.t()).clamp_min_(0))
    h, w, b = acts[-1], linears[-1].weight, linears[-1].bias
    n, d = x.shape
    d = d if dim is None else dim
    k = 2.0 * lambda_recon / (n * d)
    hs = h.sum(0)
    # reconstruction: dh = k(h·WᵀW + bᵀW − xW), dW = k(W·hᵀh + b·hsᵀ − xᵀh), db = k(W·hs + n·b − Σx)
    dh = torch.addmm(mm(x, w).neg_().add_(b @ w), h, w.t() @ w).mul_(k)
    gw = torch.addmm(torch.outer(b, hs), w, h.t() @ h).sub_(mm(x.t(), h)).mul_(k)
    gb = torch.addmv(b * n - x.sum(0, dtype=b.dtype), w, hs).mul_(k)
    if fold_w is not None and lambda_pred > 0:
        wc = fold_w @ w
        logits = torch.addmm(torch.addmv(fold_b, fold_w, b), h, wc.t())
        # d/dlogits of −mean Σ t·log_softmax: (softmax · Σt − t) / n
        gl = torch.softmax(logits, 1).mul_(target.sum(1, keepdim=True)).sub_(target).mul_(lambda_pred / n)
        dh.addmm_(gl, wc)
        gw.addmm_(fold_w.t(), gl.t() @ h)
        gb.addmv_(fold_w.t(), gl.sum(0))
    linears[-1].weight.grad, linears[-1].bias.grad = gw, gb
    g = dh
    for i in range(len(linears) - 2, -1, -1):
        g.mul_(acts[i + 1] > 0)                       # through the ReLU
        linears[i].weight.grad, linears[i].bias.grad = g.t() @ acts[i], g.sum(0)
        if i > 0:
            g = g @ linears[i].weight
