"""The three training phases of one epoch's visualizer (docs/ENGINE_RESULTS.md).

(1) the encoder on UMAP's cross-entropy over edges drawn ∝ weight with in-batch
negatives (spec 5), regularised towards the previous epoch's weights; (2) per-node
offsets refined on the same objective (refine.py), warm-started from the previous
epoch's offsets; (3) the decoder fitted to the refined positions (reconstruction +
prediction term), also regularised towards the previous epoch.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn

from . import losses
from .border_place import place_in_layout
from .complex import sample_edges
from .config import EngineConfig
from .decoder_grads import relu_mlp_linears, set_decoder_grads
from .model import Visualizer, folded_head, head_weight
from .optim import Adam, warmup_cosine_lrs
from .precision import linear_bf16, mlp_bf16, use_bf16
from .progress import check_stop
from .rank_history import smoother as rank_smoother
from .subspace import ReducedLayers, basis as subspace_basis
from .refine import refine_positions, sampling_weights, stretch_moves


class TemporalTerm:
    """DVI's temporal term for one sub-network: λ_t · NPR · ‖θ − θ_prev‖² (zero when off).

    Applied in closed form after ``backward()`` (:meth:`add_grad`): its gradient
    2·c·(θ − θ_prev) is added to each weight's gradient, instead of an autograd graph
    over every weight at every step (same gradient, a fraction of the cost)."""

    def __init__(self, model: Visualizer, cfg: EngineConfig, prev_params: Optional[Dict[str, torch.Tensor]],
                 weight: float):
        self.model, self.cfg, self.prev, self.weight = model, cfg, prev_params, weight
        self.on = prev_params is not None and weight > 0 and cfg.lambda_temporal > 0
        self._pairs = {}
        # per-weight mean over the full sub-networks, also while a layer trains in a subspace (subspace.py)
        self._counts = {prefix: sum(p.numel() for p in getattr(model, prefix.rstrip(".")).parameters())
                        for prefix in ("encoder_net.", "decoder_net.")}

    def add_grad(self, prefix: str, value: bool = True) -> float:
        """Add the term's gradient to the sub-network ``prefix``'s weights; return its value
        (0.0 without computing it when ``value`` is False)."""
        if not self.on:
            return 0.0
        if prefix not in self._pairs:
            named = list(getattr(self.model, prefix.rstrip(".")).named_parameters())
            count = self._counts[prefix] if self.cfg.temporal_reduction == "mean" else 1
            self._pairs[prefix] = ([p for _, p in named], [self.prev[prefix + k] for k, _ in named],
                                   self.cfg.lambda_temporal * self.weight / max(count, 1))
        params, prevs, c = self._pairs[prefix]
        with torch.no_grad():
            diffs = torch._foreach_sub(params, prevs)  # one call for all weights (few, small tensors)
            if any(p.grad is None for p in params):
                for p, d in zip(params, diffs):
                    if p.grad is None:
                        p.grad = torch.zeros_like(p)
            torch._foreach_add_([p.grad for p in params], diffs, alpha=2.0 * c)
            if not value:
                return 0.0
            return c * float(torch.stack(torch._foreach_norm(diffs)).double().square().sum())


def train_encoder(model: Visualizer, xn: torch.Tensor, head: torch.Tensor, tail: torch.Tensor,
                  w: torch.Tensor, n_samples: int, cfg: EngineConfig, gen: torch.Generator,
                  temporal: TemporalTerm, device: str, on_epoch=None, should_stop=None) -> list:
    """Phase 1: the encoder on UMAP's cross-entropy; returns the mean loss per trainer epoch."""
    enc = model.encoder_net
    opt = Adam(enc.parameters(), cfg.weight_decay)
    # the first layer's products in bfloat16 where native, the hidden layers' too with ``bf16_hidden`` (precision.py)
    low = use_bf16(cfg.bf16_products, device, xn.shape[1]) and isinstance(enc[0], nn.Linear)
    xs = xn.to(torch.bfloat16) if low else xn
    batches = math.ceil(n_samples / cfg.batch_size)
    lrs, step = warmup_cosine_lrs(cfg.lr, max(cfg.max_trainer_epochs * batches, 1), 0.05), 0
    best, bad, history = math.inf, 0, []
    model.train()
    for te in range(cfg.max_trainer_epochs):
        check_stop(should_stop)
        idx = sample_edges(w, n_samples, gen).to(device)
        total, count = 0.0, 0
        for batch in idx.split(cfg.batch_size):
            ends = torch.cat([head.index_select(0, batch), tail.index_select(0, batch)])
            xb = xs.index_select(0, ends)  # one gather of both ends (index_select: no fancy indexing)
            y = (mlp_bf16(enc, xb) if cfg.bf16_hidden else enc[1:](linear_bf16(xb, enc[0]))) if low else enc(xb)
            m = len(batch)
            loss = cfg.lambda_umap * losses.umap_cross_entropy(y[:m], y[m:], cfg.negative_sample_rate, gen)
            opt.zero_grad()
            loss.backward()
            loss_t = temporal.add_grad("encoder_net.")
            opt.step(lrs[step])
            step += 1
            total += (float(loss.detach()) + loss_t) * m
            count += m
        mean = total / max(count, 1)
        history.append(mean)
        if on_epoch is not None:
            on_epoch(te, mean)
        if best - mean < cfg.min_delta:
            bad += 1
            if bad >= cfg.patience:
                break
        else:
            bad = 0
        best = min(best, mean)
    model.eval()
    return history


def train_decoder(model: Visualizer, x: torch.Tensor, xn: torch.Tensor, pos: torch.Tensor, cfg: EngineConfig,
                  gen: torch.Generator, temporal: TemporalTerm, device: str,
                  head_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                  on_phase=None, should_stop=None, warm: bool = False,
                  reduced: Optional[ReducedLayers] = None) -> None:
    """Phase 3: the decoder fitted to the refined positions ``pos`` (one row per node).

    Each pass gathers its permutation of positions, targets and head probabilities once
    and takes the batches as slices of it. ``reduced``: the last layer trains in its basis's span
    (subspace.py) where the step's gradients are written by hand."""
    dec = model.decoder_net
    dec.train()
    use_pred = head_fn is not None and cfg.lambda_pred > 0
    fold, lin = None, isinstance(dec[-1], nn.Linear)
    if use_pred:
        with torch.no_grad():
            target_prob = torch.cat([losses.prediction_targets(head_fn(x[s:s + 8192]), cfg.pred_target_sharpen)
                                     for s in range(0, len(x), 8192)])
        fold = folded_head(head_fn, model.scale, model.center) if lin else None
    # the last layer's output is needed only by a head that cannot be folded (else losses.linear_reconstruction)
    expanded = lin and (fold is not None or not use_pred)
    body, last = dec[:-1], dec[-1]
    # gradients by hand (decoder_grads.py) for a ReLU MLP and no head or a single folded Linear
    linears = relu_mlp_linears(dec) if expanded and (fold is None or fold[2] is None) else None
    dim = xn.shape[1]
    if linears is not None and reduced is not None:
        reduced.reduce_decoder()
        dec, linears, xn = model.decoder_net, relu_mlp_linears(model.decoder_net), xn @ reduced.p
        fold = None if fold is None else (fold[0] @ reduced.p, fold[1], fold[2])
    xn_sq = (xn * xn).sum(1) if expanded and linears is None else None
    # the hand-written step's D-wide products in bfloat16 where native (precision.py)
    low = linears is not None and use_bf16(cfg.bf16_products, device, xn.shape[1])
    xs = xn.to(torch.bfloat16) if low else xn
    opt = Adam(dec.parameters(), cfg.weight_decay)
    per_pass = math.ceil(len(x) / cfg.decoder_batch)
    passes = max(cfg.decoder_epochs, math.ceil(cfg.decoder_min_steps / max(per_pass, 1)))
    if warm:
        passes = max(1, math.ceil(passes * cfg.warm_decoder_factor))
    if cfg.large_decoder_steps is not None and len(x) > cfg.large_nodes:  # umap-learn's size rule
        passes = max(1, min(passes, math.ceil(cfg.large_decoder_steps / max(per_pass, 1))))
    lrs, step, bs = warmup_cosine_lrs(cfg.decoder_lr, max(passes * per_pass, 1), 0.1), 0, cfg.decoder_batch
    for de in range(passes):
        check_stop(should_stop)
        perm = torch.randperm(len(x), generator=gen).to(device)
        pos_p, xn_p = pos.index_select(0, perm), xs.index_select(0, perm)
        tp_p = target_prob.index_select(0, perm) if use_pred else None
        sq_p = xn_sq.index_select(0, perm) if xn_sq is not None else None
        for s in range(0, len(x), bs):
            if linears is not None:
                set_decoder_grads(linears, pos_p[s:s + bs], xn_p[s:s + bs], cfg.lambda_recon,
                                  *(fold[:2] if use_pred else (None, None)), tp_p[s:s + bs] if use_pred else None,
                                  cfg.lambda_pred if use_pred else 0.0, dim=dim)
                temporal.add_grad("decoder_net.", value=False)
                opt.step(lrs[step])
                step += 1
                continue
            if expanded:
                h = body(pos_p[s:s + bs])
                loss = cfg.lambda_recon * losses.linear_reconstruction(h, last.weight, last.bias, xn_p[s:s + bs],
                                                                       sq_p[s:s + bs].sum())
            else:
                xr = dec(pos_p[s:s + bs])
                loss = cfg.lambda_recon * losses.reconstruction(xn_p[s:s + bs], xr)
            if use_pred:
                if fold is None:
                    logits = head_fn(xr * model.scale + model.center)
                else:  # head(xr·scale + center) = h·(W·last.weight)ᵀ + W·last.bias + b
                    logits = F.linear(h, fold[0] @ last.weight, torch.addmv(fold[1], fold[0], last.bias))
                    logits = logits if fold[2] is None else fold[2](logits)
                loss = loss + cfg.lambda_pred * losses.prediction(logits, tp_p[s:s + bs])
            opt.zero_grad()
            loss.backward()
            temporal.add_grad("decoder_net.", value=False)
            opt.step(lrs[step])
            step += 1
        if on_phase is not None:
            on_phase("decoder", (de + 1) / passes)
    if reduced is not None:
        reduced.expand()
    model.eval()


def encode(model: Visualizer, xn: torch.Tensor) -> torch.Tensor:
    """Encoder output for normalised inputs, in chunks (no gradients)."""
    with torch.no_grad():
        return torch.cat([model.encoder_net(xn[s:s + 8192]) for s in range(0, len(xn), 8192)])


def every(fn: Callable[[torch.Tensor], torch.Tensor], period: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """``fn`` evaluated on every ``period``-th call (the first included), its last value returned in between."""
    if period <= 1:
        return fn
    state = {"calls": 0, "last": None}

    def call(p: torch.Tensor) -> torch.Tensor:
        if state["calls"] % period == 0:
            state["last"] = fn(p)
        state["calls"] += 1
        return state["last"]
    return call


def train_visualizer(model: Visualizer, cx, cfg: EngineConfig, *, device: str, seed: int,
                     prev_params: Optional[Dict[str, torch.Tensor]] = None, temporal_weight: float = 0.0,
                     warm: bool = False,
                     head_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                     offsets: Optional[torch.Tensor] = None,
                     anchor: Optional[torch.Tensor] = None,
                     anchor_weight: Optional[torch.Tensor] = None,
                     mobility: Optional[torch.Tensor] = None,
                     init_positions: Optional[torch.Tensor] = None,
                     previous: Optional[torch.Tensor] = None,
                     shift=None,
                     graph_change: Optional[float] = None,
                     rank=None,
                     on_epoch: Optional[Callable[[int, float], None]] = None,
                     on_phase: Optional[Callable[[str, float], None]] = None,
                     should_stop: Optional[Callable[[], bool]] = None) -> dict:
    """Train ``model`` on the complex ``cx`` and place its nodes. Returns a report with
    ``positions`` (2-D, one row per node) and ``offsets`` (positions − encoder output).

    ``anchor``/``anchor_weight`` (optional, one row per node): positions of the previous
    epoch the refinement is pulled towards, per node (refine.py); ``init_positions`` (one row
    per node) starts the refinement there instead of at the encoder output + ``offsets``;
    ``previous`` (one row per node): the nodes' previous drawn positions, whose moves since
    are stretched by ``mobility`` (config ``move_stretch``), along the drawn move when the map
    is then translated by ``shift`` (drift.py).
    ``graph_change`` (1 − mean NPR; warm-started epochs only) scales the refinement steps
    when it starts from the previous map. ``rank`` (rank_history.RankHistory): after the refinement,
    ``rank_steps`` steps of the same objective plus the training rows' rank terms against their earlier
    epochs. ``report["timings"]`` holds each phase's seconds.
    """
    timings, t0 = {}, time.perf_counter()
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    x = torch.as_tensor(cx.nodes, device=device)
    head = torch.as_tensor(cx.head, device=device)
    tail = torch.as_tensor(cx.tail, device=device)
    share = cfg.warm_boundary_share if warm and cfg.warm_boundary_share is not None else cfg.boundary_share
    w = sampling_weights(torch.as_tensor(cx.weight), cx.n_spatial_edges, share)
    n_samples = cfg.edges_per_trainer_epoch or cfg.edges_per_node * len(cx.nodes)
    large = len(cx.nodes) > cfg.large_nodes  # umap-learn's size rule (config ``large_*``)
    edges = ((cfg.large_warm_edges_factor if large else cfg.warm_edges_factor) if warm
             else (cfg.large_cold_edges_factor if large else cfg.cold_edges_factor))
    n_samples *= edges * (cfg.large_edges_factor if large else 1.0)
    n_samples = max(int(n_samples), 1)
    model.set_normalization(x)
    xn = (x - model.center) / model.scale
    temporal = TemporalTerm(model, cfg, prev_params, temporal_weight)
    # the D-wide layers trained in a subspace (subspace.py)
    p_basis = subspace_basis(xn, cfg.subspace_dim, head_weight(head_fn))
    reduced = None
    if p_basis is not None:
        reduced = ReducedLayers(model, p_basis, temporal.prev)
        temporal.prev = reduced.prev
        reduced.reduce_encoder()
    history = train_encoder(model, xn if reduced is None else xn @ p_basis, head, tail, w, n_samples, cfg, gen,
                            temporal, device, on_epoch=on_epoch, should_stop=should_stop)
    if reduced is not None:
        reduced.expand()
    p0 = encode(model, xn)
    timings["encoder"], t0 = time.perf_counter() - t0, time.perf_counter()
    small = cfg.refine_steps_small is not None and not large
    steps = max(int(cfg.refine_steps_small if small else cfg.refine_steps), 0)
    if large and not warm and init_positions is None and cfg.large_cold_refine_steps is not None:
        steps = max(int(cfg.large_cold_refine_steps), 0)  # a run's first map, from the encoder's output
    if init_positions is not None:
        offsets = init_positions - p0
        if graph_change is not None:
            steps = int(math.ceil(steps * min(max(graph_change, cfg.warm_refine_min), 1.0)))
    rank_steps = (min(cfg.rank_steps, cfg.large_rank_steps) if large and cfg.large_rank_steps is not None
                  else cfg.rank_steps) if rank is not None else 0
    if rank_steps > 0 and init_positions is not None:
        steps = int(math.ceil(steps * min(max(cfg.rank_refine_share, 0.0), 1.0)))  # the rank steps take over
    # what the refinement and its optional polish share
    graph = dict(edges_per_step=cfg.refine_edges or int(cfg.refine_edges_per_node * len(x)),
                 negative_sample_rate=cfg.negative_sample_rate, generator=gen, repulsion=cfg.refine_repulsion,
                 repulsion_end=cfg.refine_repulsion_end, should_stop=lambda: check_stop(should_stop))
    cold = init_positions is None and cfg.cold_refine_lr is not None  # starts at the encoder's output
    delta = refine_positions(p0, head, tail, w, steps=steps, lr=cfg.cold_refine_lr if cold else cfg.refine_lr,
                             offsets=offsets, anchor=anchor,
                             anchor_weight=anchor_weight, mobility=mobility, **graph,
                             on_step=(lambda s: on_phase("refine", (s + 1) / steps) if s % 20 == 19 else None)
                             if on_phase is not None else None)
    if cfg.polish_steps > 0 and (anchor is not None or mobility is not None):
        # free local moves after the anchored steps (config ``polish_*``)
        delta = refine_positions(p0, head, tail, w, steps=cfg.polish_steps, lr=cfg.refine_lr * cfg.polish_lr,
                                 offsets=delta, **graph)
    if previous is not None and mobility is not None and cfg.move_stretch > 0:
        delta = stretch_moves(p0 + delta, previous, mobility, cx.n_train, cfg.move_stretch,
                              cfg.move_stretch_cap,
                              shift=None if shift is None else torch.as_tensor(shift, dtype=p0.dtype, device=device)) - p0
    if rank_steps > 0:
        # each training row's place ranked against its earlier epochs, free of anchors (rank_history.py);
        # the terms' gradient in units of one row's share of the edges drawn per step
        rank_graph = dict(graph, edges_per_step=max(1, int(graph["edges_per_step"] * cfg.rank_edges_factor)))
        unit = cfg.rank_weight * rank_graph["edges_per_step"] / max(cx.n_train, 1)
        q = (p0 + delta)[:cx.n_train]
        spread = float((q - q.mean(0)).pow(2).mean().sqrt())
        share = rank_smoother(head[:cx.n_spatial_edges], tail[:cx.n_spatial_edges], w[:cx.n_spatial_edges],
                              cx.n_train, cfg.rank_smooth, cfg.rank_smooth_iters) or (lambda g: g)
        delta = refine_positions(p0, head, tail, w, steps=rank_steps, lr=cfg.rank_lr * spread, offsets=delta,
                                 mobility=mobility if cfg.rank_mobility else None,
                                 extra_grad=every(lambda p: share(rank.grad(p)) * unit, cfg.rank_grad_every),
                                 **rank_graph)
    pos, placed = place_in_layout(p0 + delta, cx, cfg, seed, large, head_fn)  # border points among the rows (border_place.py)
    delta = pos - p0
    timings["refine"], t0 = time.perf_counter() - t0, time.perf_counter()
    train_decoder(model, x, xn, pos, cfg, gen, temporal, device, head_fn=head_fn, on_phase=on_phase,
                  should_stop=should_stop, warm=warm, reduced=reduced)
    timings["decoder"] = time.perf_counter() - t0
    return {"trainer_epochs": len(history), "loss": history, "positions": pos.detach(), "offsets": delta,
            "refine_steps": steps, "timings": timings, "border_place": placed}
