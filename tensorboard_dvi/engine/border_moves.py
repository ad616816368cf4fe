"""Border points moved one at a time to the spot that keeps the most rows' nearest border points.

After the smooth placement (border_place.py) each border point is tried at a few spots among the
training rows that list it in high-D (midpoints of a row of each of its two classes), and moved where
the exact count the evaluator reads grows most: for every training row, how many of its k nearest
border points in high-D are among its k nearest in 2-D (boundary NN@k). The smooth objective is a
surrogate of that count and leaves the order of the border points around a row to chance. One sweep
of these moves raised the count on all seven quality subjects (text_docs 1.09x -> 1.14x umap-learn's,
mnist_hard512 1.33x -> 1.43x), and the test rows' count, which no move reads, rose with it
(docs/QUALITY_RESULTS.md, "Thirteenth pass"). The training rows stay where they are (neighbours and
continuity are untouched); the decoder, trained afterwards, learns the border representations at
their new spots.

A move's gain is computed from each row's k-th and (k+1)-th nearest border points in 2-D: a row that
holds the point among its k nearest keeps it while the new spot is nearer than its (k+1)-th, else the
(k+1)-th comes in; a row that does not takes it in when the new spot is nearer than its k-th, which
goes out. Each row's nearest border points are kept up to date move by move, with a few spares so a
point that leaves a row's list rarely forces a new search; the whole count is checked at the end
(the start is kept if ties ever made the tally wrong).
"""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
import torch

from . import metrics as M


def _count(train_2d: torch.Tensor, border_2d: torch.Tensor, high: torch.Tensor) -> float:
    """Boundary NN@k of a placement as the evaluator counts it (metrics.knn and overlap_counts), ``high`` the
    rows' k high-D nearest border points."""
    low = M.knn(train_2d.numpy(), high.shape[1], base=border_2d.numpy())
    return float(M.overlap_counts(high.numpy(), low).mean())


def move_border_points(train_2d: torch.Tensor, border_2d: torch.Tensor, border_knn: np.ndarray, *,
                       candidates: int = 24, sweeps: int = 1, seed: int = 0, spare: int = 8,
                       max_elements: int = 1 << 24, budget: Optional[int] = None,
                       row_class: Optional[torch.Tensor] = None,
                       border_classes: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, Optional[dict]]:
    """New border positions (``train_2d`` fixed) and a record {before, after, moved}; None when skipped.

    ``border_knn`` (rows x k): each training row's nearest border points in high-D. The spots tried for a
    point lie among the training rows that list it (:func:`_spots`): with ``row_class`` (each training row's
    predicted class) and ``border_classes`` (each border point's two most likely classes, rows x 2), midpoints
    of a row of either class, so the point stays between its two classes' rows where the decoder will draw
    their boundary. A visit reads every row, so
    ``budget`` (rows x visits per sweep; None: every point) bounds the time on large layouts: the points
    whose listing rows hold them least are visited first. Skipped when rows x border points exceed
    ``max_elements`` (the rows x border table is held in memory) or there are fewer border points than
    k + 1."""
    y = train_2d.detach().to("cpu", torch.float32)       # small, sequential work: the CPU's
    z = border_2d.detach().to("cpu", torch.float32).clone()
    n, m = y.shape[0], z.shape[0]
    if border_knn is None or sweeps <= 0 or n == 0:
        return border_2d, None
    hk = torch.as_tensor(np.asarray(border_knn), dtype=torch.int64)
    k = hk.shape[1]
    if m <= k or n * m > max_elements:
        return border_2d, None
    wanted = torch.zeros(n, m, dtype=torch.bool)
    wanted.scatter_(1, hk, True)
    wanted_t = wanted.T.float().contiguous()                               # one point's rows, contiguous
    listing = [torch.nonzero(wanted_t[j]).flatten() for j in range(m)]    # the rows that list each point
    gen = torch.Generator().manual_seed(int(seed))
    width = min(m, k + 1 + spare)                                           # each row's nearest, with spares
    dist, idx = torch.cdist(y, z).topk(width, dim=1, largest=False)
    valid = torch.full((n,), width, dtype=torch.int64)                      # how many of them are still exact
    kth = torch.zeros(n)
    next_ = torch.zeros(n)
    # per point, over the rows (a visit reads one point's row of each: contiguous, not a strided column)
    held = torch.zeros(m, n, dtype=torch.bool)                              # held[j, i]: j among row i's k nearest
    # each row's k-th, (k+1)-th and last exact nearest distances as vectors, the training rows' x and y likewise
    rad_k, rad_next, rad_last = dist[:, k - 1].clone(), dist[:, k].clone(), dist[:, -1].clone()
    yx, yy = y[:, 0].contiguous(), y[:, 1].contiguous()

    def worth(rows: torch.Tensor) -> None:
        """What the k-th and (k+1)-th nearest of ``rows`` are worth, and which points they hold."""
        kth[rows] = wanted[rows, idx[rows, k - 1]].float()
        next_[rows] = wanted[rows, idx[rows, k]].float()
        held[idx[rows, :k], rows[:, None]] = True
        rad_k[rows], rad_next[rows] = dist[rows, k - 1], dist[rows, k]
        rad_last[rows] = dist[rows].gather(1, (valid[rows] - 1)[:, None]).flatten()  # the last exact entry

    def relist(j: int, d_old: torch.Tensor, d_new: torch.Tensor) -> None:
        """Rows' lists after point j moved (``d_old``, ``d_new``: its distances to every row before and
        after). A row keeps its other listed points (the nearest of the others, in order) and takes j back
        in where j is nearer than its last exact entry; where fewer than k + 1 stay exact, the row is
        searched again. Only rows that listed j (then j was no farther than their last entry) or take it in
        are touched."""
        rows = torch.nonzero((d_old <= rad_last) | (d_new < rad_last)).flatten()
        if len(rows) == 0:
            return
        dr, ir = dist[rows], idx[rows]
        lr = (ir == j) & (torch.arange(width) < valid[rows, None])
        was = lr.any(1)
        held[ir[:, :k], rows[:, None]] = False                              # exactly what worth() set
        dr = dr.masked_fill(lr, float("inf"))
        left = valid[rows] - was.long()                                     # exact entries other than j
        dr, order = dr.sort(1)
        ir = ir.gather(1, order)
        last_other = dr.gather(1, (left - 1).clamp(min=0)[:, None]).flatten()
        back = (d_new[rows] < last_other) & (left > 0)                      # j's new place is among the exact
        dr = torch.cat([dr, torch.where(back, d_new[rows], torch.full_like(last_other, float("inf")))[:, None]], 1)
        ir = torch.cat([ir, torch.full((len(rows), 1), j, dtype=ir.dtype)], 1)
        dr, order = dr.sort(1)
        dist[rows], idx[rows] = dr[:, :width], ir.gather(1, order)[:, :width]
        valid[rows] = (left + back.long()).clamp(max=width)
        short = rows[valid[rows] < k + 1]
        if len(short):
            dist[short], idx[short] = torch.cdist(y[short], z).topk(width, dim=1, largest=False)
            valid[short] = width
        worth(rows)

    worth(torch.arange(n))
    before = _count(y, z, hk)
    moved = 0
    visits = m if budget is None else max(1, min(m, int(budget) // n))
    for _ in range(int(sweeps)):
        # the points whose rows hold them least first: where the budget stops, the rest had least to gain
        share = torch.tensor([float(held[j, mine].float().mean()) if len(mine) else 1.0
                              for j, mine in enumerate(listing)])
        order = torch.randperm(m, generator=gen)
        order = order[share[order].argsort(stable=True)][:visits]
        for j in order.tolist():
            mine = listing[j]
            if len(mine) == 0:
                continue
            pick = mine if len(mine) <= candidates else mine[torch.randperm(len(mine), generator=gen)[:candidates]]
            spots = _spots(j, mine, pick, y, z, candidates, gen, row_class, border_classes)
            # a row that holds j and loses it takes its (k+1)-th; a row that takes j in gives up its k-th,
            # which only a spot nearer than that k-th can do (the spots' bounding box bounds that)
            has, hj = held[j], wanted_t[j]
            (lo_x, lo_y), (hi_x, hi_y) = spots.min(0).values.tolist(), spots.max(0).values.tolist()
            gap = torch.hypot(yx - yx.clamp(lo_x, hi_x), yy - yy.clamp(lo_y, hi_y))  # each row to the spots' box
            lose = torch.where(has, next_ - hj, 0.0)
            take = torch.where(has | (gap >= rad_k), 0.0, hj - kth)
            live = torch.nonzero((lose != 0) | (take != 0)).flatten()
            if len(live) == 0:
                continue
            d = torch.cdist(spots, y[live])                                        # spots x live rows
            gain = (d >= rad_next[live]).float() @ lose[live] + (d < rad_k[live]).float() @ take[live]
            best = int(torch.argmax(gain[1:])) + 1
            if float(gain[best]) <= float(gain[0]):
                continue
            d_old = torch.cdist(z[j:j + 1], y).flatten()
            z[j] = spots[best]
            relist(j, d_old, torch.cdist(spots[best:best + 1], y).flatten())
            moved += 1
    tally = float(wanted.gather(1, idx[:, :k]).sum(1).float().mean())   # the lists kept move by move
    exact = _count(y, z, hk)
    if exact < before:  # never worse than the smooth placement, whatever ties did to the tally
        return border_2d, {"before": before, "after": before, "moved": 0}
    return z.to(border_2d.device, border_2d.dtype), {"before": before, "after": exact, "moved": moved, "tally": tally}


def _spots(j: int, mine: torch.Tensor, pick: torch.Tensor, y: torch.Tensor, z: torch.Tensor, candidates: int,
           gen: torch.Generator, row_class: Optional[torch.Tensor],
           border_classes: Optional[torch.Tensor]) -> torch.Tensor:
    """Where point j is tried (its current spot first): midpoints of 2 x ``candidates`` random pairs of its
    listing rows ``mine``, one predicted as each of its two classes, and their centre. Without classes, or
    where the rows that list it hold only one of them: ``pick``'s rows moved 0.1 and 0.4 of the way to the
    centre. Spots next to single rows gain a little more of the count than the midpoints (the thirteenth
    pass, text_tokens: +0.39 against +0.35) but sit inside one class, and the decoder learnt the border
    point there as more of that class: the head's margin on the decoded border points went from 0.158
    before the moves to 0.193 with spots next to rows, and to 0.181 with the midpoints."""
    centre = y[mine].mean(0, keepdim=True)
    if row_class is not None and border_classes is not None:
        cls = row_class[mine]
        ra, rb = mine[cls == border_classes[j, 0]], mine[cls == border_classes[j, 1]]
        if len(ra) and len(rb):
            ia = ra[torch.randint(len(ra), (2 * candidates,), generator=gen)]
            ib = rb[torch.randint(len(rb), (2 * candidates,), generator=gen)]
            return torch.cat([z[j:j + 1], 0.5 * (y[ia] + y[ib]), centre])
    return torch.cat([z[j:j + 1], y[pick] * 0.9 + centre * 0.1, y[pick] * 0.6 + centre * 0.4, centre])
