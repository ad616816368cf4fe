"""Spaces in which border points mix two samples (DVI spec section 3).

DVI mixes two *inputs* predicted as different classes until the model is
undecided. Token ids and categorical columns cannot be interpolated, so the
writer picks a continuous space that still yields representations the network
produces, and records it in meta.json as ``border_space``:

- ``"input"``: every input tensor is floating point; mix the inputs.
- ``"embedding:<module>"``: mix the outputs of the input embedding layer (the
  first ``nn.Embedding``/``nn.EmbeddingBag`` called on integer ids, found by a
  hook, or named by the user); the rest of the network runs on the mixture.
  Integer inputs (ids, attention masks) come from the first sample of the pair,
  floating ones are mixed too.
- ``"representation"``: last resort, mix representations and run only the head.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from . import inputs as inp
from .border import mix_tensors


class _Stop(Exception):
    """Raised by a hook once the embedding output is captured: the rest of the forward is skipped."""


def mix_batch(x1, x2, lam: torch.Tensor, active: torch.Tensor):
    """Mix the floating tensors of two batches; integer/bool tensors come from ``x1``."""
    def one(a, b):
        return mix_tensors(a, _align(b, a), lam, active) if torch.is_floating_point(a) else a[active]
    return inp.zip_apply(one, x1, x2)


def _align(b: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
    """``b`` cut or zero-padded along dim 1 to ``a``'s length (batches padded to different lengths)."""
    if b.shape[1:] == a.shape[1:] or b.dim() < 3:
        return b
    length = a.shape[1]
    if b.shape[1] >= length:
        return b[:, :length]
    pad = b.new_zeros((b.shape[0], length - b.shape[1]) + tuple(b.shape[2:]))
    return torch.cat([b, pad], dim=1)


class InputSpace:
    name = "input"

    def __init__(self, get_batch: Callable, forward: Callable):
        self.get, self._forward = get_batch, forward
        self.mix = mix_batch

    def forward(self, x):
        return self._forward(x)[:2]


class EmbeddingSpace:
    """Mix the output of the embedding module ``module_name``."""

    def __init__(self, model: nn.Module, module_name: str, get_batch: Callable, forward: Callable):
        modules = dict(model.named_modules())
        if module_name not in modules:
            raise ValueError(f"border_space='embedding:{module_name}': the model has no submodule of that name")
        self.module, self.name = modules[module_name], f"embedding:{module_name}"
        self.model, self._get, self._forward = model, get_batch, forward

    def get(self, index: np.ndarray):
        x = self._get(index)
        captured = {}

        def grab(module, args, output):
            captured["e"] = output
            raise _Stop

        handle = self.module.register_forward_hook(grab)
        try:
            inp.call(self.model, x)
        except _Stop:
            pass
        finally:
            handle.remove()
        if "e" not in captured:
            raise RuntimeError(f"{self.name}: the module was not called in the model's forward pass")
        return x, captured["e"]

    def mix(self, p1, p2, lam, active):
        (x1, e1), (x2, e2) = p1, p2
        return mix_batch(x1, x2, lam, active), mix_tensors(e1, _align(e2, e1), lam, active)

    def forward(self, point):
        x, e = point
        used = []

        def replace(module, args, output):
            if used:
                return output
            used.append(True)
            return e.to(output.dtype)

        handle = self.module.register_forward_hook(replace)
        try:
            return self._forward(x)[:2]
        finally:
            handle.remove()


class RepresentationSpace:
    name = "representation"

    def __init__(self, representations: np.ndarray, head: nn.Module, device: torch.device, dtype: torch.dtype):
        self.reps, self.head, self.device, self.dtype = representations, head, device, dtype
        self.mix = mix_tensors

    def get(self, index: np.ndarray):
        return torch.as_tensor(self.reps[index]).to(self.device, self.dtype)

    def forward(self, r):
        return r, self.head(r)


def choose(spec: str, float_inputs: bool, embedding_name, has_feature: bool) -> str:
    """The border space for ``spec`` ("auto", "input", "representation", "embedding:<name>")."""
    if spec == "auto":
        if float_inputs:
            return "input"
        if embedding_name and not has_feature:
            return f"embedding:{embedding_name}"
        return "representation"
    if spec == "input" and not float_inputs:
        raise ValueError("border_space='input': the inputs include integer tensors (ids, categories), which "
                         "cannot be mixed; use 'auto', 'embedding:<module>' or 'representation'")
    if spec.startswith("embedding:") and has_feature:
        raise ValueError("border_space='embedding:...' needs the model's own forward pass, not feature=/head=")
    if spec in ("input", "representation") or (spec.startswith("embedding:") and len(spec) > 10):
        return spec
    raise ValueError(f"border_space must be 'auto', 'input', 'representation' or 'embedding:<module name>', "
                     f"got {spec!r}")
