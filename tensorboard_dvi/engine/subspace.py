"""The D-wide layers trained in a k-dimensional subspace of the representations (``EngineConfig.subspace_dim``).

The products with the D-wide representations (the encoder's first layer, the decoder's last: D = 512 on
the held-out-shaped subjects) are most of a training step. CPUs with native bfloat16 shrink them
(precision.py); the others (AVX2 only) do not. Here both layers train in the span of a basis ``P`` (D × k,
orthonormal columns): the top ``subspace_dim`` principal directions of the epoch's normalised nodes plus the
head's row space (so every logit the decoded point can take stays reachable), at most D/2 in all (138 of
D = 512 with 10 classes, 128 of 256). The encoder's first weight W (h × D) trains as W·P on the coordinates z = xn·P, the decoder's last (D × h) as
Pᵀ·W with targets z; afterwards the full layers are written back (W ← B·Pᵀ, W ← P·A), so the stored model,
``transform`` and the background are the usual D-wide networks and nothing downstream changes. What is lost:
the encoder no longer reads the representations' components outside the span (1-7 % of the variance of the
512-d subjects at k = 128), and the decoder cannot reconstruct them, which its 64-wide last layer could only
partly do anyway. The reconstruction loss keeps its 1/D normalisation, the temporal term its per-weight mean
over the full layers (its previous weights projected the same way).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn

#: rows of the normalised nodes that estimate the principal directions (a fixed stride, no random draws)
MAX_ROWS = 8192
#: narrower representations train D-wide: there the D-wide products are no larger than the hidden layers'
#: (as precision.MIN_DIM)
MIN_DIM = 256
#: fewer principal directions than this (many classes in a narrow representation): D-wide
MIN_DIRECTIONS = 8


@torch.no_grad()
def basis(xn: torch.Tensor, dim: Optional[int], head_weight: Optional[torch.Tensor] = None) -> Optional[torch.Tensor]:
    """``P`` (D × k, orthonormal columns): the top principal directions of the centred rows ``xn`` (``dim``
    of them, fewer where they and the head's rows would exceed D/2) and the part of ``head_weight``'s rows
    (classes × D) outside them; None for representations narrower than ``MIN_DIM``, for fewer than
    ``MIN_DIRECTIONS`` directions, or when ``dim`` is None/0."""
    d = xn.shape[1]
    extra = 0 if head_weight is None else head_weight.shape[0]
    dim = min(int(dim or 0), d // 2 - extra)
    if d < MIN_DIM or dim < MIN_DIRECTIONS or len(xn) < 2:
        return None
    rows = xn[::max(1, -(-len(xn) // MAX_ROWS))].to("cpu", torch.float64)  # float64 on any device
    _, vecs = torch.linalg.eigh(rows.T @ rows)
    p = vecs[:, -dim:].flip(1)  # eigh sorts ascending
    if head_weight is not None:
        h = head_weight.detach().to("cpu", torch.float64).T
        rest = h - p @ (p.T @ h)
        q, r = torch.linalg.qr(rest)
        keep = r.diagonal().abs() > 1e-6 * max(float(h.norm()), 1e-30)
        p = torch.cat([p, q[:, keep]], 1)
    return p.to(xn.device, xn.dtype).contiguous()


class ReducedLayers:
    """The encoder's first and the decoder's last Linear swapped for their k-wide versions in the span of
    ``P`` (:meth:`reduce_encoder`/:meth:`reduce_decoder`), and written back as D-wide layers (:meth:`expand`).
    ``prev`` (the previous epoch's weights, by parameter name) gets the same projections, for the temporal term."""

    def __init__(self, model, p: torch.Tensor, prev: Optional[dict] = None):
        self.model, self.p, self.swapped = model, p, []
        self.prev = None if prev is None else dict(prev)

    @torch.no_grad()
    def reduce_encoder(self) -> None:
        """The first layer's weight W (h × D) as W·P; its bias is unchanged."""
        p = self.p
        self._swap("encoder_net", 0, lambda w, b: (w @ p, b), lambda w, b: (w @ p.T, b))

    @torch.no_grad()
    def reduce_decoder(self) -> None:
        """The last layer's weight W (D × h) and bias b as Pᵀ·W and Pᵀ·b."""
        p = self.p
        self._swap("decoder_net", len(self.model.decoder_net) - 1,
                   lambda w, b: (p.T @ w, p.T @ b), lambda w, b: (p @ w, p @ b))

    def _swap(self, net_name: str, index: int, to_small, to_full) -> None:
        """Put the k-wide layer ``to_small(W, b)`` in place of the D-wide one (``to_full`` maps back) and
        project the previous epoch's weights of that layer the same way."""
        full = getattr(self.model, net_name)[index]
        w, b = to_small(full.weight, full.bias)
        small = nn.Linear(w.shape[1], w.shape[0]).to(full.weight)
        small.weight.copy_(w)
        small.bias.copy_(b)
        getattr(self.model, net_name)[index] = small
        self.swapped.append((net_name, index, full, small, to_full))
        key = f"{net_name}.{index}."
        if self.prev is not None and key + "weight" in self.prev and key + "bias" in self.prev:
            self.prev[key + "weight"], self.prev[key + "bias"] = to_small(self.prev[key + "weight"],
                                                                          self.prev[key + "bias"])

    @torch.no_grad()
    def expand(self) -> None:
        """Write the k-wide layers back into the D-wide ones and put those back in place."""
        for net_name, index, full, small, to_full in reversed(self.swapped):
            w, b = to_full(small.weight, small.bias)
            full.weight.copy_(w)
            full.bias.copy_(b)
            getattr(self.model, net_name)[index] = full
        self.swapped = []
