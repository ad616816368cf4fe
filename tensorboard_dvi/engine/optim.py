"""Adam and the warm-up/cosine schedule of the training phases, with little per-step overhead.

The encoder and decoder take hundreds of steps on small networks, where torch.optim's
per-step bookkeeping (grouping tensors, checks, the LR scheduler) costs as much as the
update itself, and its first step in a process imports torch._dynamo (1-3 s, paid by
the first epoch of every fit). :class:`Adam` makes torch.optim.Adam's fused update (same kernel, same
state, same result) in one call per step, and :func:`warmup_cosine_lrs` gives the
learning rate of every step up front (the values torch's LambdaLR would set).
"""

from __future__ import annotations

import math
from typing import Iterable, List

import torch


def warmup_cosine_lrs(base_lr: float, total: int, warmup: float) -> List[float]:
    """Learning rate of steps 0 … total−1: linear warm-up over ``warmup`` of the steps, then
    cosine decay to 0 at ``total`` (as LambdaLR with this factor sets it before each step)."""
    def factor(s):
        return (min(1.0, (s + 1) / max(1.0, warmup * total))
                * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    return [base_lr * factor(s) for s in range(total)]


class Adam:
    """torch.optim.Adam (``betas``, eps 1e-8, L2 ``weight_decay``) over ``params``.

    On CPU/CUDA with one device and dtype: its fused kernel called directly, state
    kept here (tests check equality with torch.optim.Adam(fused=True)); elsewhere
    torch.optim.Adam itself. ``step(lr)`` takes the learning rate of that step."""

    def __init__(self, params: Iterable[torch.Tensor], weight_decay: float = 0.0, betas=(0.9, 0.999)):
        self.params = list(params)
        self.weight_decay, self.betas = float(weight_decay), (float(betas[0]), float(betas[1]))
        kinds = {(p.device, p.dtype) for p in self.params}
        self.fused = len(kinds) == 1 and next(iter(kinds))[0].type in ("cpu", "cuda")
        if self.fused:
            self.exp_avg = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
            self.exp_avg_sq = [torch.zeros_like(p, memory_format=torch.preserve_format) for p in self.params]
            self.steps = [torch.zeros((), dtype=torch.float32, device=p.device) for p in self.params]
        else:
            self.opt = torch.optim.Adam(self.params, lr=0.0, betas=self.betas, weight_decay=self.weight_decay)

    def zero_grad(self) -> None:
        for p in self.params:
            p.grad = None

    def step(self, lr: float) -> None:
        if not self.fused:
            for g in self.opt.param_groups:
                g["lr"] = lr
            self.opt.step()
            return
        torch._foreach_add_(self.steps, 1)
        torch._fused_adam_(self.params, [p.grad for p in self.params], self.exp_avg, self.exp_avg_sq, [],
                           self.steps, amsgrad=False, lr=lr, beta1=self.betas[0], beta2=self.betas[1],
                           weight_decay=self.weight_decay, eps=1e-8, maximize=False,
                           grad_scale=None, found_inf=None)
