"""The visualization model: an encoder D -> 2 and a decoder 2 -> D (spec 2).

Plain ReLU MLPs with linear outputs and no normalisation, as in the
reference; hidden widths are configurable (EngineConfig.hidden).
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class Visualizer(nn.Module):
    """``encode(x)`` projects to 2-D, ``decode(y)`` maps 2-D back to D.

    Inputs are centred and divided by one global scale (buffers ``center`` and
    ``scale``, set from each epoch's data with :meth:`set_normalization`), and
    the decoder's output is mapped back: ReLU features are far from centred,
    and centring makes the MLP train in far fewer steps. One scale for all
    dimensions keeps the reconstruction loss weighted as in raw space.
    """

    def __init__(self, dim: int, hidden: Sequence[int] = (256, 256, 256, 256),
                 decoder_hidden: Optional[Sequence[int]] = None):
        super().__init__()
        hidden = [int(h) for h in hidden]
        dec = list(reversed(hidden)) if decoder_hidden is None else [int(h) for h in decoder_hidden]
        self.dim = int(dim)
        self.encoder_net = _mlp([self.dim, *hidden, 2])
        self.decoder_net = _mlp([2, *dec, self.dim])
        self.register_buffer("center", torch.zeros(self.dim))
        self.register_buffer("scale", torch.ones(()))

    @staticmethod
    @torch.no_grad()
    def normalization(x: torch.Tensor):
        """(center, scale) of ``x``: its mean and one global RMS deviation (1 when there is none)."""
        center = x.mean(0)
        s = float(torch.sqrt(((x - center) ** 2).mean()))
        return center, (s if s > 1e-12 else 1.0)

    @torch.no_grad()
    def set_normalization(self, x: torch.Tensor) -> None:
        center, scale = self.normalization(x)
        self.center.copy_(center)
        self.scale.fill_(scale)

    def encoder(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder_net((x - self.center) / self.scale)

    def decoder_normalized(self, y: torch.Tensor) -> torch.Tensor:
        return self.decoder_net(y)

    def decoder(self, y: torch.Tensor) -> torch.Tensor:
        return self.decoder_net(y) * self.scale + self.center

    def forward(self, x: torch.Tensor):
        y = self.encoder(x)
        return y, self.decoder(y)


def split_head(head_fn):
    """(first, rest) when the head starts with a Linear layer (a Linear, rest None, or a Sequential
    starting with one, rest the layers after it or None), else None."""
    if isinstance(head_fn, nn.Linear):
        return head_fn, None
    if isinstance(head_fn, nn.Sequential) and len(head_fn) and isinstance(head_fn[0], nn.Linear):
        return head_fn[0], (head_fn[1:] if len(head_fn) > 1 else None)
    return None


def head_weight(head_fn) -> Optional[torch.Tensor]:
    """The weight of the head's first Linear layer (classes × D), or None (no head, or another first layer)."""
    split = split_head(head_fn)
    return None if split is None else split[0].weight.detach()


def folded_head(head_fn, scale, center):
    """(W, b, rest) with ``head_fn(x · scale + center) == rest(x @ W.T + b)`` when the head starts
    with a Linear layer (the logged heads: a Linear or a Sequential starting with one), else None.
    The decoder's prediction term then applies W to the decoder's last hidden layer through
    W · last.weight: (classes × D)·(D × hidden) once per step instead of (batch × D)·(D × classes)
    and the de-normalisation of every reconstruction (same value, fewer and smaller products)."""
    split = split_head(head_fn)
    if split is None:
        return None
    first, rest = split
    with torch.no_grad():
        w = first.weight.detach()
        b = w @ center if first.bias is None else w @ center + first.bias.detach()
        return w * scale, b, rest


def decoded_prediction(model: Visualizer, head):
    """``y -> head(model.decoder(y))`` for 2-D points, what the background shows. A head that starts with
    a Linear layer is folded into the decoder's last layer (:func:`folded_head`): one (classes x D) x
    (D x hidden) product here instead of every point's D-wide output and its de-normalisation (the same
    function, up to float rounding). Built from the model's current weights: make it after training."""
    last = model.decoder_net[-1]
    fold = folded_head(head, model.scale, model.center) if isinstance(last, nn.Linear) else None
    if fold is None:
        return lambda y: head(model.decoder(y))
    w, b, rest = fold
    with torch.no_grad():
        wf, bf = w @ last.weight, torch.addmv(b, w, last.bias)
    body = model.decoder_net[:-1]

    def predict(y: torch.Tensor) -> torch.Tensor:
        z = nn.functional.linear(body(y), wf, bf)
        return z if rest is None else rest(z)
    return predict


def apply_in_batches(fn, x: np.ndarray, device: str, batch: int = 8192) -> np.ndarray:
    """``fn`` (tensor -> tensor) over the rows of a numpy array, in chunks, without gradients."""
    out = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            chunk = torch.as_tensor(np.require(x[s:s + batch], np.float32, ["C", "W"]), device=device)
            out.append(fn(chunk).float().cpu().numpy())
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(out)


def load_state(path: str, device) -> Optional[dict]:
    """A cached visualizer state (``weights_only=True``: never unpickled), or None when it is
    refused, damaged or not a visualizer's; callers then refit, and nothing suggests loading
    it unsafely."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception:  # noqa: BLE001 - UnpicklingError, RuntimeError, OSError, EOFError, ...
        return None
    if not isinstance(state, dict) or not hasattr(state.get("center"), "shape"):
        return None
    return state
