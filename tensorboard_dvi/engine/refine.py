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
on gathers and scatters): each step draws a fixed count of edges ∝ weight from an
alias table, its columns on a strided lattice (sampling.py; each edge's expected draws per
step equal the Bernoulli probability of earlier versions, ∝ weight capped at 1), pulls both
ends together, and pushes each head and ``negative_sample_rate`` uniformly drawn nodes apart
(both ends move, which kept more neighbours than moving the head only); Adam on the offsets,
linear learning-rate decay. ``SampledForces`` and ``NegativeDraws`` say how a step is kept
cheap on one CPU thread (docs/QUALITY_RESULTS.md, "Sixteenth pass": 1.5x faster per step).
"""

from __future__ import annotations

import math
from typing import Callable, Optional

import numpy as np
import torch

from .complex import smooth_knn_dist
from .losses import UMAP_A, UMAP_B
from .sampling import alias_draw_strided, alias_table


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
                     mobility: Optional[torch.Tensor] = None, repulsion: float = 1.0,
                     repulsion_end: Optional[float] = None,
                     extra_grad: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                     should_stop: Optional[Callable[[], None]] = None,
                     on_step: Optional[Callable[[int], None]] = None) -> torch.Tensor:
    """Offsets (same shape as ``p0``) that lower UMAP's cross-entropy of ``p0 + offsets``.

    ``weight`` are the sampling weights (see :func:`sampling_weights`);
    ``offsets`` warm-starts from an earlier epoch's offsets. ``anchor`` (positions, same
    shape as ``p0``) with ``anchor_weight`` (one weight per node) adds the pull
    ``anchor_weight_i / 2 · ‖p_i − anchor_i‖²``, which keeps samples whose neighbourhood
    did not change where they were in the previous epoch's map (temporal continuity).
    ``mobility`` (one factor in [0, 1] per node) scales each node's steps. ``repulsion`` scales
    the negative samples' force (umap-learn's ``repulsion_strength``); with ``repulsion_end`` it goes
    linearly from ``repulsion`` to ``repulsion_end`` over the steps. ``extra_grad(positions)`` adds the
    gradient of another term on the first rows (rank_history.py).
    """
    n = p0.shape[0]
    delta = (offsets.detach().clone(memory_format=torch.contiguous_format) if offsets is not None
             else torch.zeros_like(p0, memory_format=torch.contiguous_format))
    if steps <= 0 or len(weight) == 0:
        return delta
    dev = p0.device
    prob = (weight / weight.sum() * edges_per_step).clamp(max=1.0)
    count = max(int(round(float(prob.sum()))), 1)
    accept, alias = alias_table(prob)
    head, tail = head.to(dev, torch.int32), tail.to(dev, torch.int32)  # 32-bit tables: fewer cache misses
    adam = _Adam(delta, betas=(0.5, 0.9))
    pull = anchor is not None and anchor_weight is not None
    negatives = NegativeDraws(n, negative_sample_rate * count, steps, generator, dev)
    forces = SampledForces(n, count, negative_sample_rate, p0.dtype, dev)
    for s in range(steps):
        if should_stop is not None and s % 20 == 0:
            should_stop()
        e = alias_draw_strided(accept, alias, count, generator).to(dev)
        rep = repulsion if repulsion_end is None else repulsion + (repulsion_end - repulsion) * s / steps
        p = p0 + delta
        neg, shift = negatives.next()
        grad = forces(p, head.index_select(0, e), tail.index_select(0, e), neg, shift, rep)
        if pull:
            grad += anchor_weight.unsqueeze(1) * (p - anchor)
        if extra_grad is not None:
            eg = extra_grad(p)
            grad[:len(eg)] += eg
        adam.step(grad, lr * (1.0 - s / steps), mobility)
        if on_step is not None:
            on_step(s)
    return delta


class NegativeDraws:
    """Each step's ``length`` negative samples, uniform over the ``n`` nodes: ``(window, shift)``, node
    ``(window[j] + shift) mod n`` (see :class:`SampledForces`, which reads the positions written twice).

    ``torch.randint`` draws ~6 ns per index on one CPU thread: for 5 negatives per edge that was a
    sixth of a step. Here one pool of uniform indices is drawn per call; a step takes a window of it
    at a random start and one random shift in [0, n), so each step's negatives are uniform and
    independent of its heads, and the shift keeps a node that the pool happens to hold more often
    from being pushed more over the whole call. A step's draw costs nothing but the two numbers.
    """

    POOL_WINDOWS = 4  # the pool: 5 windows (at 50k nodes 1.2M negatives a step: 50 MB)

    def __init__(self, n: int, length: int, steps: int, generator: torch.Generator, device):
        span = max(min(int(steps), self.POOL_WINDOWS), 1) * length
        self.length = length
        self.pool = torch.randint(0, n, (span + length,), generator=generator).to(device)
        self.starts = torch.randint(0, span + 1, (max(int(steps), 1),), generator=generator).tolist()
        self.shifts = torch.randint(0, n, (max(int(steps), 1),), generator=generator).tolist()
        self.step = 0

    def next(self):
        s = self.step % len(self.starts)
        self.step += 1
        a = self.starts[s]
        return self.pool[a:a + self.length], self.shifts[s]


class SampledForces:
    """The gradient of UMAP's sampled cross-entropy for one step's edges (``h``, ``t``) and
    ``negative_sample_rate`` negatives per edge, (n, 2).

    Attraction on each edge ``2ab d^(2b-2) / (1 + a d^2b) · (p_h − p_t)``, repulsion
    ``−2·rep·b / ((0.001 + d²)(1 + a d^2b)) · (p_h − p_q)`` (umap-learn's forms); each force acts on
    the head and, opposite, on the tail or the negative. Negative ``j`` is node ``(neg[j] + shift) mod
    n``: the positions are written twice, so that is row ``neg[j]`` of the view starting at ``shift``.
    Written for one CPU thread, where the step is bound by memory traffic rather than arithmetic: x
    and y in separate contiguous rows (a gather per coordinate beats strided real/imag views), every
    intermediate in a buffer allocated once, ``d^2b`` as ``exp(b log d²)`` (half the time of
    ``pow``). The same code runs on a GPU.
    """

    def __init__(self, n: int, count: int, negative_sample_rate: int, dtype, device):
        self.n, self.count, self.k = n, count, negative_sample_rate
        e = lambda *shape: torch.empty(*shape, dtype=dtype, device=device)
        self.xy, self.g = e(2, 2 * n), e(2, 2 * n)                 # positions and gradient, written twice
        self.hx, self.hy, self.d2, self.d2b, self.fp, self.sx, self.sy, self.tx, self.ty = (e(count) for _ in range(9))
        self.nx, self.ny, self.d2n, self.fn = (e(negative_sample_rate * count) for _ in range(4))

    def __call__(self, p: torch.Tensor, h: torch.Tensor, t: torch.Tensor, neg: torch.Tensor, shift: int = 0,
                 repulsion: float = 1.0) -> torch.Tensor:
        n, c, k, a, b = self.n, self.count, self.k, UMAP_A, UMAP_B
        self.xy[:, :n].copy_(p.T)
        self.xy[:, n:].copy_(p.T)
        px, py = self.xy[0, :n], self.xy[1, :n]
        hx, hy, d2, d2b, fp, tx, ty = self.hx, self.hy, self.d2, self.d2b, self.fp, self.tx, self.ty
        torch.index_select(px, 0, h, out=hx)
        torch.index_select(py, 0, h, out=hy)
        torch.sub(hx, torch.index_select(px, 0, t, out=tx), out=tx)          # tx, ty: p_h - p_t
        torch.sub(hy, torch.index_select(py, 0, t, out=ty), out=ty)
        torch.mul(tx, tx, out=d2).addcmul_(ty, ty).add_(1e-12)
        torch.log(d2, out=d2b).mul_(b).exp_()
        torch.mul(d2b, a, out=fp).add_(1.0).mul_(d2)                         # d² (1 + a d^2b)
        torch.div(d2b, fp, out=fp).mul_(2.0 * a * b)
        tx.mul_(fp)                                                          # the attraction on the head
        ty.mul_(fp)
        nx, ny, d2n, fn = self.nx, self.ny, self.d2n, self.fn
        sx_, sy_ = self.xy[0, shift:shift + n], self.xy[1, shift:shift + n]  # row j: node (j + shift) mod n
        torch.index_select(sx_, 0, neg, out=nx)
        torch.index_select(sy_, 0, neg, out=ny)
        nx2, ny2 = nx.view(k, c), ny.view(k, c)
        torch.sub(hx, nx2, out=nx2)
        torch.sub(hy, ny2, out=ny2)
        torch.mul(nx, nx, out=d2n).addcmul_(ny, ny)
        torch.add(d2n, 1e-12, out=fn).log_().mul_(b).exp_().mul_(a).add_(1.0)  # 1 + a d^2b
        d2n.add_(1e-3).mul_(fn)
        torch.reciprocal(d2n, out=fn).mul_(-2.0 * repulsion * b)
        nx.mul_(fn)                                                          # the repulsions on the head
        ny.mul_(fn)
        # heads get the sum of their forces, tails and negatives the opposite ones
        torch.add(tx, nx2.sum(0), out=self.sx)
        torch.add(ty, ny2.sum(0), out=self.sy)
        g = self.g.zero_()
        for row, own, pull, push in ((0, self.sx, tx, nx), (1, self.sy, ty, ny)):
            g[row, :n].index_add_(0, h, own).index_add_(0, t, pull, alpha=-1)
            g[row, shift:shift + n].index_add_(0, neg, push, alpha=-1)
        return (g[:, :n] + g[:, n:]).T


class _Adam:
    """torch.optim.Adam's update (no weight decay) on one tensor, in place, without autograd:
    the optimizer's per-step bookkeeping cost more than the update on ~20k numbers.
    ``mobility`` (one factor per row) scales each row's step."""

    def __init__(self, param: torch.Tensor, betas=(0.9, 0.999), eps: float = 1e-8):
        self.param, self.b1, self.b2, self.eps, self.t = param, betas[0], betas[1], eps, 0
        self.m, self.v = torch.zeros_like(param), torch.zeros_like(param)

    def step(self, grad: torch.Tensor, lr: float, mobility: Optional[torch.Tensor] = None) -> None:
        self.t += 1
        self.m.mul_(self.b1).add_(grad, alpha=1 - self.b1)
        self.v.mul_(self.b2).addcmul_(grad, grad, value=1 - self.b2)
        denom = (self.v.sqrt() / math.sqrt(1 - self.b2 ** self.t)).add_(self.eps)
        upd = self.m / denom
        if mobility is not None:
            upd.mul_(mobility.unsqueeze(1))
        self.param.add_(upd, alpha=-lr / (1 - self.b1 ** self.t))


def stretch_moves(pos: torch.Tensor, previous: torch.Tensor, mobility: torch.Tensor, n: int,
                  power: float, cap: float, k: int = 15, shift: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Training rows' moves since the previous epoch lengthened towards their share of the moves
    (config ``move_stretch``): a row whose neighbourhood changed much (mobility ∝ 1 − NPR) but
    which the optimiser moved little goes on along its own direction to |v|^(1−p) · target^p, with
    target = mobility · mean |v| / mean mobility; a move is never shortened, and never lengthened by
    more than ``cap`` × the row's distance to its k-th nearest row in the new layout (it stays among
    its neighbours). How far a sample moves then says more of how much its neighbourhood changed
    (DVI's temporal correlation). ``shift`` (2,): the translation the whole map gets after this step
    (drift.py); the row's drawn displacement is then v + shift, and the extra length goes along it,
    so it lengthens that displacement by exactly its amount (along v alone, a row moving against
    the shift would be drawn as moving less: offline on the quality subjects' cached fits, temporal
    r −0.01 to −0.03 better, tr +0.01–0.02, NN@15 equal)."""
    if power <= 0 or cap <= 0 or n <= k:
        return pos
    from .metrics import knn
    v = pos[:n] - previous[:n]
    length = v.norm(dim=1).clamp_min(1e-12)
    mob = mobility[:n].to(v.dtype)
    target = mob * (length.mean() / mob.mean().clamp_min(1e-12))
    grow = length * ((target / length).pow(power).clamp_min(1.0) - 1.0)
    p = pos[:n].detach().cpu().numpy().astype(np.float64)
    local = np.linalg.norm(p - p[knn(p, k + 1)[:, k]], axis=1)  # distance to the k-th nearest other row
    grow = torch.minimum(grow, cap * torch.as_tensor(local, dtype=v.dtype, device=v.device))
    drawn = v if shift is None else v + shift.to(v)
    out = pos.clone()
    out[:n] = pos[:n] + drawn * (grow / drawn.norm(dim=1).clamp_min(1e-12)).unsqueeze(1)
    return out


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
