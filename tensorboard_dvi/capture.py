"""Where the representation comes from: the model to run, its head, one forward pass.

- ``unwrap``: logging passes run on the plain module inside DistributedDataParallel,
  DataParallel and ``torch.compile`` wrappers, so they never enter a collective
  (a DDP forward on rank 0 alone hangs when DDP synchronises buffers) and hooks and
  submodule names work as in the user's class.
- ``Capture``: resolves the head (named, ``feature=``/``head=``, timm's
  ``get_classifier()``, else the last ``nn.Linear`` *called* in a forward pass), and
  runs a batch returning ``(representations, head(representations), model output)``.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Callable, Optional

import torch
import torch.nn as nn

from . import inputs as inp

#: Names of submodules that usually are a classifier's head (shown in error messages).
HEAD_NAMES = ("classifier", "fc", "head", "heads", "out_proj", "score", "output", "last_linear")


def unwrap(model: nn.Module) -> nn.Module:
    """The module that logging passes should run (see the module docstring)."""
    while True:
        cls = type(model).__name__
        if cls == "FullyShardedDataParallel" or any(c.__name__ == "FSDPModule" for c in type(model).__mro__):
            raise TypeError(
                "FSDP-sharded models cannot be logged from rank 0 alone: their forward pass gathers "
                "parameters from every rank. Gather a full state dict on rank 0 into an unsharded copy of "
                "the model and pass that copy (docs: README, 'Distributed training')")
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):  # torch.compile's OptimizedModule
            model = model._orig_mod
        else:
            return model


def model_logits(out) -> Optional[torch.Tensor]:
    """The logits in a model's output: a tensor, ``.logits`` (Hugging Face), dict["logits"] or tuple[0]."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(getattr(out, "logits", None), torch.Tensor):
        return out.logits
    if isinstance(out, Mapping) and isinstance(out.get("logits"), torch.Tensor):
        return out["logits"]
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    return None


def _named(model: nn.Module, name: str) -> nn.Module:
    modules = dict(model.named_modules())
    for candidate in (name, name.removeprefix("module."), name.removeprefix("_orig_mod.")):
        if candidate in modules:
            return modules[candidate]
    near = difflib.get_close_matches(name, [n for n in modules if n], n=3)
    likely = [n for n in modules if n.split(".")[-1] in HEAD_NAMES]
    raise ValueError(f"head_module={name!r}: the model has no submodule of that name"
                     + (f"; did you mean {', '.join(map(repr, near))}?" if near else "")
                     + (f" (head-like submodules: {', '.join(likely)})" if likely else ""))


def check_call(model: nn.Module, x, what: str) -> None:
    """A model whose forward needs arguments the writer was not given: say which."""
    try:
        sig = inspect.signature(model.forward)
    except (TypeError, ValueError):
        return
    try:
        if isinstance(x, Mapping):
            sig.bind(**x)
        elif isinstance(x, tuple):
            sig.bind(*x)
        else:
            sig.bind(x)
    except TypeError as e:
        params = sig.parameters
        given = set(x) if isinstance(x, Mapping) else set(list(params)[:len(x) if isinstance(x, tuple) else 1])
        missing = [n for n, p in params.items() if p.default is p.empty and n not in given
                   and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        extra = sorted(set(x) - set(params)) if isinstance(x, Mapping) else []
        hint = (f"it needs {', '.join(missing)} that {what} do not provide" if missing else
                f"it takes no argument named {', '.join(extra)}" if extra else str(e))
        raise TypeError(f"cannot call the model's forward with {what}: {hint}. Pass the inputs as a dict "
                        "of keyword arguments (e.g. {'input_ids': ..., 'attention_mask': ...}) or a tuple "
                        "of positional arguments") from None


class Capture:
    """Runs batches and captures the representation at the head's input."""

    def __init__(self, model: nn.Module, head_module: Optional[str] = None, feature: Optional[Callable] = None,
                 head: Optional[nn.Module] = None):
        self.model = model
        self.feature, self.head = feature, head
        self.head_name = None
        self.embedding_name: Optional[str] = None
        if feature is None:
            if head_module is not None:
                self.head, self.head_name = _named(model, head_module), head_module
            elif callable(getattr(model, "get_classifier", None)) and isinstance(model.get_classifier(), nn.Module) \
                    and not isinstance(model.get_classifier(), nn.Identity):
                self.head = model.get_classifier()  # timm
                self.head_name = next(n for n, m in model.named_modules() if m is self.head)
            self.guessed = head_module is None
        else:
            self.guessed = False

    # ------------------------------------------------------------------ first batch
    def probe(self, x) -> None:
        """Dry run on a small batch: pick the default head, find the input embedding."""
        order, embeds = [], []

        def linear_hook(module, args, output):
            order.append(module)

        def embed_hook(module, args, output):
            if args and isinstance(args[0], torch.Tensor) and not torch.is_floating_point(args[0]):
                embeds.append(module)

        names = {m: n for n, m in self.model.named_modules()}
        handles = [m.register_forward_hook(linear_hook) for m in self.model.modules() if isinstance(m, nn.Linear)]
        handles += [m.register_forward_hook(embed_hook) for m in self.model.modules()
                    if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
        if self.feature is None:
            check_call(self.model, x, "the logged inputs")
        try:
            if self.feature is None:
                inp.call(self.model, x)
        finally:
            for h in handles:
                h.remove()
        if embeds:
            self.embedding_name = names.get(embeds[0])
        if self.feature is None and self.head is None:
            if not order:
                raise ValueError("could not guess the head: the model calls no nn.Linear layer. Pass head_module= "
                                 "(the submodule that maps the representation to the logits) or feature= and head=")
            self.head = order[-1]
            self.head_name = names.get(self.head, "?")

    def forward(self, x):
        """(representations [B, D], head logits [B, C], model output or None) for a batch on the device."""
        if self.feature is not None:
            reps = self.feature(x)
            if not isinstance(reps, torch.Tensor):
                raise TypeError(f"feature= returned {type(reps).__name__}, expected a tensor [B, D]")
            reps = reps.flatten(1)
            return reps, self.head(reps), None
        captured = {}

        def hook(module, args, kwargs):
            if "reps" not in captured:
                found = [a for a in list(args) + list(kwargs.values()) if isinstance(a, torch.Tensor)]
                if found:
                    captured["reps"] = found[0]

        handle = self.head.register_forward_pre_hook(hook, with_kwargs=True)
        try:
            out = inp.call(self.model, x)
        finally:
            handle.remove()
        if "reps" not in captured:
            raise RuntimeError(f"the head ({self.head_name}) was not called during the model's forward pass; "
                               "pass head_module= or feature= and head=")
        reps = captured["reps"].flatten(1)
        try:
            logits = self.head(reps)
        except RuntimeError as e:
            raise ValueError(f"the head ({self.head_name}) cannot be applied to its flattened input "
                             f"{tuple(reps.shape)} ({e}); pass head_module= a submodule that maps a vector to "
                             "the logits, or feature= and head=") from None
        return reps, logits, model_logits(out)

    def check(self, logits: torch.Tensor, out) -> None:
        """head(representation) must predict what the model predicts."""
        if out is None or out.dim() != 2 or out.shape[0] != logits.shape[0]:
            return
        agree = 0.0
        if out.shape == logits.shape:
            # the head's class must be (up to rounding: autocast, ties) the model's top class
            finite = torch.isfinite(out).all(1) & torch.isfinite(logits).all(1)  # NaN is reported later
            if not finite.any():
                return
            top = out.float().max(1).values
            at_head = out.float().gather(1, logits.argmax(1).view(-1, 1)).squeeze(1)
            agree = (at_head >= top - 1e-3 * (1 + top.abs()))[finite].float().mean().item()
        if out.shape != logits.shape or agree < 0.99:
            how = ("the default guess, the input of the last nn.Linear called" if self.guessed
                   else "the given head")
            likely = [n for n, _ in self.model.named_modules() if n.split(".")[-1] in HEAD_NAMES]
            raise ValueError(f"head(representation) does not reproduce the model's predictions "
                             f"(agreement {agree:.0%}, head output {tuple(logits.shape)} vs model output "
                             f"{tuple(out.shape)}): {how} ({self.head_name}) is not the model's last step. "
                             "Pass head_module= the submodule that maps the representation to the logits"
                             + (f" (e.g. {', '.join(map(repr, likely[:3]))})" if likely else "")
                             + ", or feature= and head=")
