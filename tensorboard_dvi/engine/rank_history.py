"""Each training sample's earlier epochs, so that its new place ranks them as its representation does
(config ``rank_*``; docs/QUALITY_RESULTS.md, "Fourteenth pass").

The reference evaluator's tr and tnn@k rank a sample's 2-D distances to its own other epochs by its
high-D ones, and its temporal r correlates each 2-D step with how many high-D neighbours held. The
anchors (epoch.py) tie a sample to where the previous map would put it; nothing ties it to where it
was two or more epochs ago, so on a run whose representations change erratically the paths zig-zag
back over ground they left (resnet_colour: tr ~0.4 with every neighbour target met).

After the anchored refinement, ``rank_steps`` more steps of the layout objective add, per training
row, with the chain's last ``rank_history`` epochs drawn and fixed:

- the Pearson correlation of its 2-D distances to its earlier drawn positions with the ranks of its
  high-D distances to its earlier representations (this epoch as the anchor), and of each earlier
  epoch's list, which this epoch now joins (each earlier epoch as the anchor);
- ``rank_npr`` x the Pearson correlation, over the consecutive epochs, of its 2-D step with its NPR
  (lowered: a sample moves more where fewer neighbours held).

Both are scale-free per sample, so a sample that moves little keeps its small moves. Each term (one
epoch's lists, the step-NPR) fades out as its mean over the rows nears its goal (``rank_goal``,
``rank_npr_goal``): on a converged model the anchored map is already in order (the mean tr stand-in
0.8-0.9 before these steps on the demo's runs, 0.3-0.6 on resnet_colour) and pushing further only shakes
rows out of their neighbourhoods (the demo's NN@15 fell ~8 %; docs/QUALITY_RESULTS.md, "Fifteenth
pass"). The gradients are closed-form (a few vectors per sample), so a step costs about a gather of the
history. Each row's gradient
is then shared with its high-D neighbours' (``smoother``, ``rank_smooth``): alone, a row's terms pull it
away from the neighbours it is drawn among (resnet_colour's NN@15 1.01x -> 0.93x UMAP's at rank_weight 3,
unshared); shared, groups move together.
"""

from __future__ import annotations

import warnings
from typing import List, Optional

import numpy as np
import torch

from .cache import RunCache


def chain(cache: RunCache, prev: Optional[int], limit: int) -> List[int]:
    """The warm-start chain's last ``limit`` epochs ending at ``prev``, oldest first (links followed
    through each epoch's ``prev_epoch``; a missing record ends the chain)."""
    out: List[int] = []
    e = prev
    while e is not None and len(out) < limit:
        out.append(e)
        try:
            e = cache.epoch_info(e).get("prev_epoch")
        except (OSError, ValueError, KeyError):
            break
    return out[::-1]


def _standard(x: torch.Tensor) -> torch.Tensor:
    """Each column (sample) standardised over the rows (epochs)."""
    x = x - x.mean(0, keepdim=True)
    return x / x.pow(2).mean(0, keepdim=True).sqrt().clamp_min(1e-9)


def _rank_z(x: torch.Tensor) -> torch.Tensor:
    """Standardised ranks of each column; 0 for a column whose values do not differ (a sample whose
    representation did not move has no order to keep)."""
    z = _standard(torch.argsort(torch.argsort(x, dim=0), dim=0).to(torch.float32))
    spread = x.max(0).values - x.min(0).values
    return z * (spread > 1e-6 * x.abs().max(0).values.clamp_min(1e-12)).to(z.dtype)


def _pearson_grad(d: torch.Tensor, z: torch.Tensor, weights: Optional[torch.Tensor] = None):
    """d Pearson(d[:, i], z[:, i]) / d d, per entry (z standardised over dim 0), and the correlations'
    mean with ``weights`` (1 x N, summing to 1; None: not computed), a 0-d tensor: no device sync."""
    m = d.shape[0]
    dc = d - d.mean(0, keepdim=True)
    sd = dc.pow(2).mean(0, keepdim=True).sqrt().clamp_min(1e-9)
    p = (dc / sd * z).mean(0, keepdim=True)
    mean = None if weights is None else (p * weights).sum()
    return (z - p * dc / sd) / (m * sd), mean


def _fade(mean: Optional[torch.Tensor], goal: float, sign: float = 1.0):
    """A term's share of its force: 1 while its mean correlation is ``_RAMP`` or more short of ``goal``,
    0 once it reaches it (``sign`` −1: a goal from below), linear between; 1 without a mean."""
    if mean is None:
        return 1.0
    return (sign * (goal - mean) / _RAMP).clamp(0.0, 1.0)


class _LastRowPearson:
    """``_pearson_grad``'s last row for K stacked lists whose first H − 1 rows are fixed, and the
    correlations' weighted means: per step only the last row (this epoch's distance) moves, so the
    fixed rows' sums are taken once and a step costs a few (K, N) operations instead of a Pearson
    over (H, N) per list (the rank steps' cost was mostly these per-list calls: 5 ms per step at
    8 lists x 5,000 rows, one thread).

    ``fixed`` (K, H−1, N), ``z`` (K, H, N) standardised over dim 1, ``weights`` (K, N) or None per
    list (see ``_pearson_grad``)."""

    def __init__(self, fixed: torch.Tensor, z: torch.Tensor, weights: List[Optional[torch.Tensor]]):
        self.h = fixed.shape[1] + 1
        self.centre = fixed.mean(1)                                   # the fixed rows centred on their mean
        f = fixed - self.centre[:, None]
        self.sum_sq = f.pow(2).sum(1)
        self.sum_zf = (z[:, :-1] * f).sum(1)
        self.z_last = z[:, -1]
        self.has_goal = torch.tensor([w is not None for w in weights], device=fixed.device)
        self.weights = torch.stack([w.reshape(-1) if w is not None else torch.zeros_like(self.centre[0])
                                    for w in weights]) if any(w is not None for w in weights) else None

    def __call__(self, x: torch.Tensor):
        """(d corr / d x, mean correlation per list or None) for last rows ``x`` (K, N)."""
        h = self.h
        xc = x - self.centre
        mean = xc / h                                                   # the column's mean (centred; the fixed sum 0)
        sd = ((self.sum_sq + xc * xc) / h - mean * mean).clamp_min(0.0).sqrt().clamp_min(1e-9)
        p = (self.sum_zf + self.z_last * xc) / (h * sd)                 # z sums to 0 over the column
        dd = (self.z_last - p * (xc - mean) / sd) / (h * sd)
        means = None if self.weights is None else (p * self.weights).sum(1)
        return dd, means

    def fades(self, means: Optional[torch.Tensor], goal: float, sign: float = 1.0):
        """Each list's share of its force (``_fade``; 1 for a list without a goal), (K, 1)."""
        if means is None:
            return 1.0
        return torch.where(self.has_goal, _fade(means, goal, sign), torch.ones_like(means)).unsqueeze(1)


#: the width of the ramp below a goal over which a term's force fades out
_RAMP = 0.1


class RankHistory:
    """The rank terms of one epoch's training rows against its chain's earlier epochs (fixed).

    ``positions``: (H, N, 2) earlier drawn positions, oldest first; ``high``: (H + 1, N, D) the same
    samples' representations at those epochs and this one (last); ``npr``: (H, N) NPR of each
    consecutive pair ending at the earlier epochs' successors (the last row: this epoch's) or None;
    ``shift``: the translation the drawn map will get after the layout (drift.py), so distances are
    measured between drawn positions.
    """

    def __init__(self, positions: np.ndarray, high_dist: np.ndarray, npr: Optional[np.ndarray],
                 npr_weight: float, shift=None, device: str = "cpu", goal: float = 1.0, npr_goal: float = -1.0):
        p = torch.as_tensor(np.asarray(positions, np.float32), device=device)   # H, N, 2
        h = p.shape[0]
        self.n = p.shape[1]
        self.prev = p
        dh = torch.as_tensor(np.asarray(high_dist, np.float32), device=device)   # H+1, H+1, N
        self.shift = (torch.zeros(2, device=device) if shift is None
                      else torch.as_tensor(np.asarray(shift, np.float32).reshape(2), device=device))
        self.goal, self.npr_goal = float(goal), float(npr_goal)
        # this epoch as the anchor: its distances to the H earlier ones (needs 2 to rank)
        self.z_new = _rank_z(dh[h, :h]) if h >= 2 else None
        self.z_new_rows = self._ordered(self.z_new, self.goal < 1.0)
        # each earlier epoch a as the anchor: its list over the other earlier epochs and this one (last)
        fixed, zs = [], []
        for a in range(h if h >= 2 else 0):
            others = [b for b in range(h) if b != a]
            fixed.append(torch.linalg.vector_norm(p[others] - p[a][None], dim=2))      # H-1, N
            zs.append(_rank_z(torch.cat([dh[a, others], dh[a, h][None]], 0)))         # H, N
        self.anchors = (_LastRowPearson(torch.stack(fixed), torch.stack(zs),
                                        [self._ordered(z, self.goal < 1.0) for z in zs]) if fixed else None)
        self.terms = (1 if self.z_new is not None else 0) + len(fixed)
        # temporal r: 2-D steps between consecutive earlier epochs (fixed) and this epoch's (last)
        self.npr_weight = float(npr_weight)
        self.z_npr, self.npr_term = None, None
        if npr is not None and self.npr_weight > 0 and h >= 2:
            nz = torch.as_tensor(np.asarray(npr, np.float32), device=device)      # H, N
            if nz.shape[0] == h:
                steps = torch.linalg.vector_norm(p[1:] - p[:-1], dim=2)           # H-1, N
                self.z_npr = _standard(nz)
                self.npr_term = _LastRowPearson(steps[None], self.z_npr[None],
                                                [self._ordered(self.z_npr, self.npr_goal > -1.0)])

    @staticmethod
    def _ordered(z: Optional[torch.Tensor], wanted: bool) -> Optional[torch.Tensor]:
        """Equal weights (1 x N, summing to 1) on the columns (rows of the map) that have an order, over
        which a term's goal is measured; None when the term has no goal or no such column."""
        if z is None or not wanted:
            return None
        rows = (z.abs().sum(0, keepdim=True) > 0).to(z.dtype)
        count = float(rows.sum())
        return rows / count if count > 0 else None

    @property
    def active(self) -> bool:
        return self.terms > 0 or self.z_npr is not None

    def grad(self, pos: torch.Tensor) -> torch.Tensor:
        """Gradient (N x 2, training rows) of −mean rank correlation + ``npr_weight`` x step-NPR
        correlation (per sample: the mean over its rank terms; each term faded by how near its mean
        over the rows is to its goal)."""
        y = pos[:self.n] + self.shift
        g = torch.zeros_like(y)
        diff = y[None] - self.prev                                            # H, N, 2
        dist = torch.hypot(diff[..., 0], diff[..., 1]).clamp_min(1e-6)        # H, N (a norm over dim 2: 4x slower)
        unit = diff / dist.unsqueeze(2)
        if self.terms:
            if self.z_new is not None:
                dd, mean = _pearson_grad(dist, self.z_new, self.z_new_rows)
                g -= _fade(mean, self.goal) * (dd.unsqueeze(2) * unit).sum(0)
            if self.anchors is not None:                                      # every earlier epoch at once
                dd, means = self.anchors(dist)
                g -= ((self.anchors.fades(means, self.goal) * dd).unsqueeze(2) * unit).sum(0)
            g *= 1.0 / self.terms
        if self.npr_term is not None:
            dd, means = self.npr_term(dist[-1][None])
            g += self.npr_weight * self.npr_term.fades(means, self.npr_goal, -1.0) * dd[0].unsqueeze(1) * unit[-1]
        return g


def smoother(head, tail, weight, n: int, alpha: float, iters: int):
    """``g -> (1 - alpha) g + alpha P g``, ``iters`` times, with ``P`` the row-normalised graph among
    the first ``n`` nodes: a sample's rank gradient shared with its high-D neighbours', so that groups
    move together and keep their neighbours (None when off)."""
    if alpha <= 0 or iters <= 0:
        return None
    keep = (head < n) & (tail < n)
    h, t, w = head[keep].long(), tail[keep].long(), weight[keep].to(torch.float32)
    deg = torch.zeros(n, dtype=torch.float32, device=w.device).index_add_(0, h, w)
    lone = (deg <= 0).unsqueeze(1)                    # no neighbour among the rows: keeps its own gradient
    with warnings.catch_warnings():                   # torch calls its sparse CSR support beta
        warnings.simplefilter("ignore", UserWarning)
        # CSR: ~9x faster than a gather + index_add per step (5k rows, one thread)
        mat = torch.sparse_coo_tensor(torch.stack([h, t]), w / deg.clamp_min(1e-12)[h], (n, n)).coalesce().to_sparse_csr()

    def apply(g: torch.Tensor) -> torch.Tensor:
        for _ in range(iters):
            g = (1.0 - alpha) * g + alpha * torch.where(lone, g, mat @ g)
        return g
    return apply


def build(reader, cache: RunCache, prev: Optional[int], e_reps: np.ndarray, npr: Optional[np.ndarray],
          train_rows: np.ndarray, cfg, shift=None, device: str = "cpu", uid: Optional[str] = None) -> Optional[RankHistory]:
    """The rank terms for a warm epoch whose chain ends at ``prev``, or None (off, too short a chain,
    or an earlier epoch no longer readable: the epoch is then laid out without them). ``uid``: this
    epoch's input uid, under which its distances to the earlier epochs are remembered (epoch_pairs.py)."""
    if cfg.rank_steps <= 0 or prev is None:
        return None
    eps = chain(cache, prev, max(int(cfg.rank_history), 1))
    if len(eps) < 2:
        return None
    from .epoch_pairs import PAIRS
    from .faithfulness import rows_of

    def high(i: int) -> np.ndarray:  # the chain's epochs, then this one
        return rows_of(reader, eps[i], train_rows) if i < len(eps) else np.asarray(e_reps, np.float32)
    try:
        pos = np.stack([np.asarray(cache.embedding(x), np.float32)[train_rows] for x in eps])
        nprs = [cache.npr(x) for x in eps[1:]]
        dist = PAIRS.table([cache.input_uid(x) for x in eps] + [uid], train_rows, high)
    except (OSError, ValueError, KeyError):
        return None
    npr_rows = None
    if npr is not None and all(x is not None and len(x) == len(train_rows) for x in nprs):
        npr_rows = np.stack([np.asarray(x, np.float32) for x in nprs] + [np.asarray(npr, np.float32)])
    r = RankHistory(pos, dist, npr_rows, cfg.rank_npr, shift, device, cfg.rank_goal, cfg.rank_npr_goal)
    return r if r.active else None
