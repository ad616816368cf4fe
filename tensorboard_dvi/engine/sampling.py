"""Walker's alias table: draws of a fixed count of edges with probability ∝ weight in O(1) each.

The refinement draws tens of thousands of edges per step out of hundreds of thousands;
a Bernoulli mask over all edges (or ``torch.multinomial``'s binary search) costs several
times the optimisation step itself. The table is built once, vectorised (prefix sums and
``searchsorted`` instead of Vose's sequential sweep), and each draw is one uniform index,
one uniform float and a compare.
"""

from __future__ import annotations

from typing import Optional, Tuple

import torch


def alias_table(weight: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """(accept, alias) for ``weight`` (1-D, non-negative, positive sum): a draw picks column
    ``i`` uniformly and returns ``i`` with probability ``accept[i]``, else ``alias[i]``.

    Columns of height 1: light items (m·p < 1) are topped up by the heavy item whose excess
    interval (prefix sums of m·p − 1 over heavies) holds the start of their deficit interval
    (prefix sums of 1 − m·p over lights); a heavy's own column gives the part of the light
    that straddles its interval's end to the next heavy, so every item's total is exactly m·p.
    """
    w = torch.as_tensor(weight, dtype=torch.float64).reshape(-1)
    m = w.numel()
    if m == 0 or not bool(torch.isfinite(w).all()) or bool((w < 0).any()) or float(w.sum()) <= 0:
        raise ValueError(f"alias_table needs finite non-negative weights with a positive sum (got {m} weights)")
    q = w * (m / w.sum())
    light = torch.nonzero(q < 1).squeeze(1)
    heavy = torch.nonzero(q >= 1).squeeze(1)
    accept = torch.ones(m, dtype=torch.float64)
    alias = torch.arange(m)
    deficit = 1.0 - q[light]
    d_start = torch.cumsum(deficit, 0) - deficit               # where each light's deficit begins
    d_end = d_start + deficit
    s_end = torch.cumsum(q[heavy] - 1.0, 0)                    # where each heavy's excess ends
    if len(light):
        j = torch.searchsorted(s_end, d_start, right=True).clamp(max=len(heavy) - 1)
        accept[light] = q[light]
        alias[light] = heavy[j]
    # the light straddling a heavy's end point takes its spill-over from the next heavy
    k = torch.searchsorted(d_start, s_end, right=False)       # first light starting at/after the end
    spill = torch.zeros(len(heavy), dtype=torch.float64)
    inside = k > 0
    prev_end = d_end[(k - 1).clamp(min=0)] if len(light) else torch.zeros(len(heavy), dtype=torch.float64)
    spill[inside] = (prev_end[inside] - s_end[inside]).clamp(min=0.0)
    spill[-1:] = 0.0                                           # the last heavy: nothing after it (rounding)
    accept[heavy] = 1.0 - spill.clamp(max=1.0)
    alias[heavy[:-1]] = heavy[1:]
    return accept.to(torch.float32), alias.to(torch.int32 if m < 2 ** 31 else torch.int64)


def alias_probabilities(accept: torch.Tensor, alias: torch.Tensor) -> torch.Tensor:
    """The exact probability of each index under the table (for tests and checks)."""
    a = accept.to(torch.float64)
    p = a.clone()
    p.index_add_(0, alias, 1.0 - a)
    return p / len(a)



def alias_draw_strided(accept: torch.Tensor, alias: torch.Tensor, count: int,
                       generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """``count`` indices from the table of :func:`alias_table`, its columns taken on a lattice
    (every ``len/count``-th column from one uniform offset) instead of independently.

    Each index keeps its expected number of draws (``count`` x its probability): a column is taken
    with probability ``count/len`` and then resolved by its own uniform (the alias method's coin).
    Why: on a CPU independent draws (a random column each) read the tables (and then the edges' ends) at random places,
    and with a few hundred thousand edges those reads missed the caches -- 60 % of the refinement's
    draw-and-gather time. Lattice columns read them in order (the aliases of neighbouring light
    columns are neighbouring heavy ones, by the table's construction), about twice as fast. Like
    umap-learn's fixed schedule, a step then spreads its draws over the whole table (stratified: no
    more variance than independent draws). Needs ``count <= len(accept)``.
    """
    m = len(accept)
    if not 0 < count <= m:
        raise ValueError(f"alias_draw_strided: count {count} must be in 1..{m} (the table's columns)")
    u = torch.rand(1, generator=generator, dtype=torch.float64)
    col = (torch.arange(count, dtype=torch.float64) + u).mul_(m / count).long().clamp_(max=m - 1)
    r = torch.rand(int(count), generator=generator)
    return torch.where(r < accept.index_select(0, col), col, alias.index_select(0, col).long())
