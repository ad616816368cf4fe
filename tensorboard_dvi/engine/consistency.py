"""Keep each drawn sample inside the region of its own predicted class (an addition to DVI).

The background is the head's prediction on the decoded 2-D point; a smooth decoder
cannot carve a region for every sample whose prediction differs from its 2-D
neighbours' (on the quality subjects the 5 nearest 2-D neighbours' majority agreed
with a sample's prediction for only 72-91 % of samples), so the sample would sit on
a region that contradicts it. Here such samples alone are moved, a bounded
distance, to where the decoded point is predicted as their class: minimise
cross-entropy(head(decoder(p)), predicted class) + ``mu``·‖p − p0‖², with every
step clipped to ``max_move`` from p0. The background is unchanged; only the
samples that disagreed with it move, so neighbours change little
(docs/QUALITY_RESULTS.md measures both).
"""

from __future__ import annotations

from typing import Callable, Optional

import numpy as np
import torch

from .optim import Adam


def layout_scale(pos: np.ndarray) -> float:
    """RMS deviation of the coordinates from the layout's centre: the spread ``max_move`` is relative
    to (unlike a flat ``std()`` it does not change when the whole map is moved, drift.py)."""
    pos = np.asarray(pos, np.float64)
    return float(np.sqrt(((pos - pos.mean(0)) ** 2).mean())) if len(pos) else 0.0


def snap_to_prediction(pos: np.ndarray, target: np.ndarray, logits_fn: Callable[[torch.Tensor], torch.Tensor], *,
                       steps: int = 40, lr: float = 0.05, mu: float = 0.5, max_move: float = 0.2,
                       scale: float = None, stop_margin: Optional[float] = None, device: str = "cpu") -> np.ndarray:
    """Positions where the samples that disagree with their region are moved into it (others
    unchanged). ``max_move`` is relative to ``scale`` (the layout's spread; default: :func:`layout_scale` of ``pos``); a
    sample that cannot reach its class's region within it keeps its position. ``stop_margin`` (None: off): a
    sample stops at the first step where its class's logit leads every other by this much, so it crosses
    into its region and goes no deeper (the samples it leaves stay its 2-D neighbours)."""
    pos = np.asarray(pos, np.float32).copy()
    if steps <= 0 or len(pos) == 0:
        return pos
    max_move = float(max_move * (layout_scale(pos) if scale is None else scale))
    lr = lr * max_move
    tgt = torch.as_tensor(np.asarray(target, np.int64), device=device)
    p_all = torch.as_tensor(pos, device=device)
    with torch.no_grad():
        wrong = torch.cat([logits_fn(p_all[s:s + 8192]).argmax(1) for s in range(0, len(pos), 8192)]) != tgt
    idx = torch.nonzero(wrong).flatten()
    if len(idx) == 0:
        return pos
    p0 = p_all[idx].clone()
    p = p0.clone().requires_grad_(True)
    opt = Adam([p])
    done, frozen = torch.zeros(len(idx), dtype=torch.bool, device=p.device), p0
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(logits_fn(p), tgt[idx], reduction="sum") \
            + mu * ((p - p0) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step(lr)
        with torch.no_grad():
            d = p - p0
            n = d.norm(dim=1, keepdim=True).clamp_min(1e-12)
            q = p0 + d * (n.clamp(max=max_move) / n)
            if stop_margin is not None:  # a sample that crossed far enough stays where it crossed
                q = torch.where(done[:, None], frozen, q)
                new = ~done & (_lead(logits_fn(q), tgt[idx]) >= stop_margin)
                frozen, done = torch.where(new[:, None], q, frozen), done | new
            p.copy_(q)
        if bool(done.all()):
            break
    with torch.no_grad():
        ok = logits_fn(p).argmax(1) == tgt[idx]
    pos[idx[ok].cpu().numpy()] = p.detach()[ok].cpu().numpy()
    return pos


def _lead(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per row, the target class's logit minus the largest other logit (> 0: predicted as the target)."""
    own = logits.gather(1, target[:, None]).squeeze(1)
    other = logits.scatter(1, target[:, None], float("-inf")).max(1).values
    return own - other
