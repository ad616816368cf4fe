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
                       scale: float = None, stop_margin: Optional[float] = None, reach_move: float = 0.0,
                       device: str = "cpu") -> np.ndarray:
    """Positions where the samples that disagree with their region are moved into it (others
    unchanged). ``max_move`` is relative to ``scale`` (the layout's spread; default: :func:`layout_scale` of ``pos``); a
    sample that cannot reach its class's region within it keeps its position. ``stop_margin`` (None: off): a
    sample stops at the first step where its class's logit leads every other by this much, so it crosses
    into its region and goes no deeper (the samples it leaves stay its 2-D neighbours). ``reach_move`` (relative to
    ``scale`` as ``max_move``; 0: off): a sample the descent left outside its region is moved to the nearest
    point of it within this distance (:func:`reach_region`)."""
    pos = np.asarray(pos, np.float32).copy()
    if steps <= 0 or len(pos) == 0:
        return pos
    scale = layout_scale(pos) if scale is None else scale
    max_move = float(max_move * scale)
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
    if reach_move > 0 and not bool(ok.all()):
        left = idx[~ok].cpu().numpy()
        pos[left] = reach_region(pos[left], np.asarray(target)[left], logits_fn, max_move=float(reach_move * scale),
                                 margin=stop_margin or 0.0, device=device)
    return pos


def reach_region(pos: np.ndarray, target: np.ndarray, logits_fn: Callable[[torch.Tensor], torch.Tensor], *,
                 max_move: float, rings: int = 16, angles: int = 16, margin: float = 0.0,
                 device: str = "cpu") -> np.ndarray:
    """Each sample moved to the nearest point, on ``rings`` circles of radius up to ``max_move`` (absolute
    units) around it with ``angles`` points each, where its class's logit leads every other by ``margin``
    (on the nearest such circle: the point with the largest lead); a sample with no such point keeps its
    position. Where the region of the sample's class is not downhill from it (the descent of
    :func:`snap_to_prediction` stalls on another class's plateau) a search, not a gradient, finds it."""
    pos = np.asarray(pos, np.float32).copy()
    if len(pos) == 0 or rings <= 0 or max_move <= 0:
        return pos
    theta = 2 * np.pi * np.arange(angles, dtype=np.float32) / angles
    unit = torch.as_tensor(np.stack([np.cos(theta), np.sin(theta)], 1), device=device)  # angles x 2
    tgt = torch.as_tensor(np.asarray(target, np.int64), device=device)
    p0 = torch.as_tensor(pos, device=device)
    active = torch.arange(len(pos), device=device)
    with torch.no_grad():  # circle by circle, outwards: a sample leaves the search on its first hit
        for j in range(1, rings + 1):
            cand = p0[active, None, :] + (max_move * j / rings) * unit[None]  # active x angles x 2
            t = tgt[active].repeat_interleave(angles)
            lead = torch.cat([_lead(logits_fn(q), tt) for q, tt in
                              zip(cand.reshape(-1, 2).split(4096), t.split(4096))]).reshape(len(active), angles)
            hit = (lead >= margin) & (lead > 0)
            found = hit.any(1)
            if bool(found.any()):
                best = lead[found].masked_fill(~hit[found], float("-inf")).argmax(1)
                pos[active[found].cpu().numpy()] = cand[found, best].cpu().numpy()
                active = active[~found]
            if len(active) == 0:
                break
    return pos


def _lead(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per row, the target class's logit minus the largest other logit (> 0: predicted as the target)."""
    own = logits.gather(1, target[:, None]).squeeze(1)
    other = logits.scatter(1, target[:, None], float("-inf")).max(1).values
    return own - other
