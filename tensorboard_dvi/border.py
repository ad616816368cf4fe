"""Border points: realistic representations that lie on the decision boundary.

DVI (spec section 3) mixes two *inputs* predicted as different classes and
bisects the mixing coefficient until the model is undecided between classes;
the mixed input's representation is a border point. Mixing inputs (not
representations) keeps border points on the manifold the network produces.

Everything here is vectorised over candidate pairs: each bisection step is one
batched forward pass over the pairs still searching, so the cost is a few
forward passes of ~N/10 inputs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Tuple

import numpy as np
import torch

#: Border criterion on min-max normalised logits (spec: top1 - top2 < 0.1).
MARGIN = 0.1
MAX_STEPS = 8


def normalised_margin(logits: torch.Tensor) -> torch.Tensor:
    """top1 - top2 of the logits min-max normalised over classes (0 = undecided)."""
    lo = logits.min(dim=1, keepdim=True).values
    hi = logits.max(dim=1, keepdim=True).values
    n = (logits - lo) / (hi - lo).clamp_min(1e-12)
    top2 = n.topk(2, dim=1).values
    return top2[:, 0] - top2[:, 1]


@dataclass
class BorderResult:
    representations: torch.Tensor  # [B, D] on CPU, float32
    pairs: np.ndarray               # [B, 2] class pairs (c1, c2)
    attempted: int                  # number of pairs tried


def _choose_pairs(rng: np.random.Generator, predictions: np.ndarray, logits: np.ndarray, count: int,
                  success: np.ndarray, tried: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Pick ``count`` (i, j) sample pairs predicted as different classes.

    Class pairs mix balance (rarely tried pairs first) with past success rate
    (weight 0.05, as the reference); within a class, samples nearer the
    boundary to the other class are preferred (weight 1 / (margin + 1e-4)).
    """
    classes = np.unique(predictions)
    members = {c: np.flatnonzero(predictions == c) for c in classes}
    cpairs = np.array([(a, b) for a in classes for b in classes if a != b])
    rate = success[cpairs[:, 0], cpairs[:, 1]] / np.maximum(tried[cpairs[:, 0], cpairs[:, 1]], 1)
    balance = 1.0 / (1.0 + tried[cpairs[:, 0], cpairs[:, 1]])
    weight = 0.95 * balance / balance.sum() + 0.05 * (rate / rate.sum() if rate.sum() > 0 else 1.0 / len(rate))
    picks = cpairs[rng.choice(len(cpairs), size=count, p=weight / weight.sum())]
    first = np.empty(count, dtype=np.int64)
    second = np.empty(count, dtype=np.int64)
    for k, (c1, c2) in enumerate(picks):
        for out, a, b in ((first, c1, c2), (second, c2, c1)):
            idx = members[a]
            w = 1.0 / (logits[idx, a] - logits[idx, b] + 1e-4)
            out[k] = idx[rng.choice(len(idx), p=w / w.sum())]
    return first, second


@torch.no_grad()
def find_border_points(forward: Callable[[torch.Tensor], Tuple[torch.Tensor, torch.Tensor]],
                       get_inputs: Callable[[np.ndarray], torch.Tensor], predictions: np.ndarray,
                       logits: np.ndarray, count: int, seed: int, *, batch_size: int = 512,
                       lower: float = 0.0, max_rounds: int = 4) -> BorderResult:
    """Generate up to ``count`` border representations.

    ``forward(x) -> (representations, logits)`` runs the model on a batch of
    inputs (already on the model's device); ``get_inputs(indices)`` returns
    the logged inputs with those indices. Fewer than ``count`` points come
    back when the model predicts a single class or pairs keep failing; the
    caller records how many were found.
    """
    rng = np.random.default_rng(seed)
    num_classes = logits.shape[1]
    success = np.zeros((num_classes, num_classes))
    tried = np.zeros((num_classes, num_classes))
    found, found_pairs, attempted = [], [], 0
    if count <= 0 or len(np.unique(predictions)) < 2:
        return BorderResult(torch.zeros(0, 0), np.zeros((0, 2), dtype=np.int64), 0)
    for _ in range(max_rounds):
        need = count - sum(len(f) for f in found)
        if need <= 0:
            break
        n_pairs = int(np.ceil(need * 1.3)) + 8
        first, second = _choose_pairs(rng, predictions, logits, n_pairs, success, tried)
        attempted += n_pairs
        c1, c2 = predictions[first], predictions[second]
        np.add.at(tried, (c1, c2), 1)
        for start in range(0, n_pairs, batch_size):
            sl = slice(start, start + batch_size)
            reps, ok = _bisect(forward, get_inputs(first[sl]), get_inputs(second[sl]),
                               torch.as_tensor(c1[sl]), torch.as_tensor(c2[sl]), lower)
            ok_np = ok.cpu().numpy()
            np.add.at(success, (c1[sl][ok_np], c2[sl][ok_np]), 1)
            found.append(reps[ok].float().cpu())
            found_pairs.append(np.stack([c1[sl][ok_np], c2[sl][ok_np]], axis=1))
    reps = torch.cat(found)[:count] if found else torch.zeros(0, 0)
    pairs = np.concatenate(found_pairs)[:count] if found_pairs else np.zeros((0, 2), dtype=np.int64)
    return BorderResult(reps, pairs, attempted)


def _bisect(forward, x1: torch.Tensor, x2: torch.Tensor, c1: torch.Tensor, c2: torch.Tensor, lower: float):
    """Bisect lambda in [lower, 1] for x = lambda*x1 + (1-lambda)*x2, all pairs at once."""
    n = x1.shape[0]
    device = x1.device
    c1, c2 = c1.to(device), c2.to(device)
    lo = torch.full((n,), float(lower), device=device)
    hi = torch.ones(n, device=device)
    done = torch.zeros(n, dtype=torch.bool, device=device)
    reps_out = None
    shape = (n,) + (1,) * (x1.dim() - 1)
    for _ in range(MAX_STEPS):
        active = torch.nonzero(~done).squeeze(1)
        if active.numel() == 0:
            break
        lam = (lo[active] + hi[active]) / 2
        lam_b = lam.view((-1,) + shape[1:])
        x = lam_b * x1[active] + (1 - lam_b) * x2[active]
        reps, logits = forward(x)
        if reps_out is None:
            reps_out = torch.zeros((n, reps.shape[1]), dtype=reps.dtype, device=device)
        lo_n = logits.min(dim=1, keepdim=True).values
        span = (logits.max(dim=1, keepdim=True).values - lo_n).clamp_min(1e-12)
        norm = (logits - lo_n) / span
        still_first = norm.gather(1, c1[active].view(-1, 1)).squeeze(1) > norm.gather(1, c2[active].view(-1, 1)).squeeze(1)
        # Still on x1's side: move towards x2 (smaller lambda); else back towards x1.
        hi[active] = torch.where(still_first, lam, hi[active])
        lo[active] = torch.where(still_first, lo[active], lam)
        ok = (normalised_margin(logits) < MARGIN) & ((hi[active] - lo[active]) < 0.1)
        reps_out[active[ok]] = reps[ok]
        done[active[ok]] = True
    return reps_out if reps_out is not None else torch.zeros(n, 0), done
