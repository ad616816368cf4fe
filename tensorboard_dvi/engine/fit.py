"""Sequential temporal fitting of DVI visualizers, incremental and cached (spec 6).

Epoch t's visualizer starts from epoch t-1's stored state (warm start) and is
regularised towards it (temporal term). Everything needed to continue the
chain lives in the cache, so when a run gains epochs only the new ones are
fitted; when an epoch's input uid changes, fitting restarts from it.

Damaged epochs (storage.DamagedEpochError) are skipped with a warning; the
chain continues from the previous good epoch. Bad input that would give a
wrong picture (NaN/inf representations or logits, sizes that do not match the
run, a representation width that changes between epochs) raises EngineError.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
import warnings as _warnings
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Tuple

import numpy as np
import torch

from . import background as bg
from . import losses
from . import metrics as M
from .cache import (BACKGROUND_META, BACKGROUND_PNG, CACHE_FORMAT, EMBEDDING_FILE, EPOCH_FILE,
                    GRID_CLASSES, GRID_CONFIDENCE, KNN_FILE, METRICS_FILE, NPR_FILE, OFFSETS_FILE, STATE_FILE,
                    NotFittedError, RunCache)
from .complex import build_complex, knn_exact, knn_self, sample_edges
from .model import Visualizer
from .refine import interpolate, refine_positions, sampling_weights

log = logging.getLogger(__name__)


class EngineError(Exception):
    """Input the engine refuses to visualise; the message says why in plain words."""


@dataclass
class EngineConfig:
    """Settings of the engine. Defaults follow the reference unless noted."""
    n_neighbors: int = 15
    boundary_neighbors: int = 15
    prune_n_epochs: float = 15.0
    min_border: int = 5                 # fewer border points: no boundary complex (warned)
    negative_sample_rate: int = 5
    #: the reference uses 4 x 256 (TF); 3 x 64 trains ~6x faster per edge on CPU and
    #: reached better NN/PPR within the same time budget (docs/ENGINE_RESULTS.md)
    hidden: Tuple[int, ...] = (64, 64, 64)
    # -- phase 1, the encoder: UMAP cross-entropy on sampled edges (+ temporal term)
    lr: float = 0.01
    weight_decay: float = 1e-5
    batch_size: int = 1000
    #: trainer epochs of the encoder phase (cosine learning-rate decay over them); early stop
    #: when the mean loss improves by less than ``min_delta`` for ``patience`` epochs
    max_trainer_epochs: int = 2
    patience: int = 3
    min_delta: float = 0.01
    #: edge samples per trainer epoch (drawn with replacement, prob ∝ weight):
    #: ``edges_per_node`` x number of nodes unless ``edges_per_trainer_epoch`` is set;
    #: warm-started epochs use ``warm_edges_factor`` times as many.
    edges_per_node: float = 30.0
    edges_per_trainer_epoch: Optional[int] = None
    warm_edges_factor: float = 0.5
    #: share of the sampling weight given to the boundary complex (None: raw weights, ~60 %
    #: on the demo, which starves the spatial neighbours; docs/ENGINE_RESULTS.md)
    boundary_share: Optional[float] = 0.3
    # -- phase 2, per-sample refinement of the layout (engine/refine.py; 0 steps: positions
    #    are the encoder's output, as in the DVI paper)
    refine_steps: int = 200
    #: edges drawn per refinement step: ``refine_edges_per_node`` x number of nodes (about 50k
    #: on the demo's 11k nodes) unless ``refine_edges`` is set
    refine_edges_per_node: float = 4.5
    refine_edges: Optional[int] = None
    refine_lr: float = 0.05
    # -- phase 3, the decoder: fitted to the refined positions (reconstruction + prediction
    #    term + temporal term), passes over the nodes
    decoder_epochs: int = 20
    decoder_batch: int = 500
    decoder_lr: float = 0.01
    lambda_umap: float = 1.0
    lambda_recon: float = 1.0
    lambda_temporal: float = 0.3
    #: "mean" (deviation from the spec's "sum"): ||θ − θ_prev||² averaged per weight.
    #: Summed over the ~50k weights it dominated the loss and the warm-started chain
    #: degraded epoch after epoch (docs/ENGINE_RESULTS.md); "sum" restores the spec.
    temporal_reduction: str = "mean"
    #: prediction-preserving term (addition to the spec; 0 switches it off): cross-entropy
    #: of the logged head on the decoded position against the head's softmax on x.
    #: Raises PPR (docs/ENGINE_RESULTS.md).
    lambda_pred: float = 0.1
    #: False = independent epochs (ablation): no warm start, no temporal term.
    temporal: bool = True
    background_resolution: int = 200
    seed: int = 0
    #: torch CPU threads; 1 measured fastest on the shared 2-core machine (2 threads
    #: were 2-20x slower per batch under load). None: leave torch's setting.
    threads: Optional[int] = 1
    temporal_window: int = 20           # epochs back for temporal metrics
    temporal_sample: int = 2000         # samples used for tnn/tr
    trust_rows: Optional[int] = 2000    # rows that estimate trustworthiness (None: all)
    ppr_train_warn: float = 0.9
    ppr_test_warn: float = 0.85

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden"] = list(d["hidden"])
        return d

    def config_hash(self) -> str:
        """Hash of the settings that change results (not threads)."""
        d = self.to_dict()
        d.pop("threads", None)
        return hashlib.sha1(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


# ---------------------------------------------------------------------------- helpers


class _Stopped(Exception):
    pass


class _Progress:
    """Turns stage/epoch positions into the progress dicts of the contract."""
    STAGES = {"load": (0.0, 0.03), "complex": (0.03, 0.12), "train": (0.12, 0.85),
              "background": (0.85, 0.9), "metrics": (0.9, 1.0)}

    def __init__(self, callback, total: int):
        self.callback = callback
        self.total = total
        self.done = 0

    def __call__(self, stage: str, epoch: Optional[int], message: str, within: float = 0.0):
        if self.callback is None:
            return
        if stage == "done":
            frac = 1.0
        else:
            lo, hi = self.STAGES[stage]
            frac = (self.done + lo + (hi - lo) * min(max(within, 0.0), 1.0)) / max(self.total, 1)
        self.callback({"stage": stage, "epoch": epoch, "epochs_done": self.done,
                       "epochs_total": self.total, "fraction": float(min(frac, 1.0)), "message": message})


def _open_reader(run):
    if hasattr(run, "epochs") and hasattr(run, "epoch"):
        return run
    from ..storage import RunReader
    return RunReader(run)


def _damaged_error_types():
    try:
        from ..storage import DamagedEpochError
        return (DamagedEpochError,)
    except Exception:  # pragma: no cover - storage always importable in the package
        return ()


def _apply_in_batches(fn, x: np.ndarray, device: str, batch: int = 8192) -> np.ndarray:
    out = []
    with torch.no_grad():
        for s in range(0, len(x), batch):
            out.append(fn(torch.as_tensor(np.require(x[s:s + batch], np.float32, ["C", "W"]), device=device)).float().cpu().numpy())
    if not out:
        return np.zeros((0, 0), dtype=np.float32)
    return np.concatenate(out)


# ---------------------------------------------------------------------------- training


def _warmup_cosine(opt, total: int, warmup: float):
    """Linear warm-up over ``warmup`` of the steps, then cosine decay to 0 at ``total``."""
    return torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / max(1.0, warmup * total))
        * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))


def train_visualizer(model: Visualizer, cx, cfg: EngineConfig, *, device: str, seed: int,
                     prev_params: Optional[Dict[str, torch.Tensor]] = None, temporal_weight: float = 0.0,
                     warm: bool = False,
                     head_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                     offsets: Optional[torch.Tensor] = None,
                     on_epoch: Optional[Callable[[int, float], None]] = None,
                     on_phase: Optional[Callable[[str, float], None]] = None,
                     should_stop: Optional[Callable[[], bool]] = None) -> dict:
    """Train ``model`` on the complex ``cx`` and place its nodes. Returns a report with
    ``positions`` (2-D, one row per node) and ``offsets`` (positions − encoder output).

    Three phases (docs/ENGINE_RESULTS.md): (1) the encoder on UMAP's cross-entropy over
    edges drawn ∝ weight with in-batch negatives (spec 5), regularised towards the previous
    epoch's weights; (2) per-node offsets refined on the same objective (refine.py),
    warm-started from ``offsets``; (3) the decoder fitted to the refined positions
    (reconstruction + prediction term), also regularised towards the previous epoch.
    """
    def stop():
        if should_stop is not None and should_stop():
            raise _Stopped()

    def phase(name, frac):
        if on_phase is not None:
            on_phase(name, frac)

    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    x = torch.as_tensor(cx.nodes, device=device)
    head = torch.as_tensor(cx.head, device=device)
    tail = torch.as_tensor(cx.tail, device=device)
    w = sampling_weights(torch.as_tensor(cx.weight), cx.n_spatial_edges, cfg.boundary_share)
    n_samples = cfg.edges_per_trainer_epoch or cfg.edges_per_node * len(cx.nodes)
    n_samples = max(int(n_samples * (cfg.warm_edges_factor if warm else 1.0)), 1)
    model.set_normalization(x)
    xn = (x - model.center) / model.scale
    use_temporal = prev_params is not None and temporal_weight > 0 and cfg.lambda_temporal > 0

    def temporal_term(prefix):
        if not use_temporal:
            return 0.0
        prev_sub = {k[len(prefix):]: v for k, v in prev_params.items() if k.startswith(prefix)}
        return cfg.lambda_temporal * temporal_weight * losses.temporal(
            getattr(model, prefix.rstrip(".")), prev_sub, cfg.temporal_reduction)

    # ---- phase 1: encoder
    enc = model.encoder_net
    opt = torch.optim.Adam(enc.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    batches = math.ceil(n_samples / cfg.batch_size)
    total_steps = max(cfg.max_trainer_epochs * batches, 1)
    sched = _warmup_cosine(opt, total_steps, 0.05)
    best, bad, history = math.inf, 0, []
    model.train()
    for te in range(cfg.max_trainer_epochs):
        stop()
        idx = sample_edges(w, n_samples, gen).to(device)
        total, count = 0.0, 0
        for batch in idx.split(cfg.batch_size):
            h, t = head[batch], tail[batch]
            y = enc(torch.cat([xn[h], xn[t]]))
            m = len(batch)
            loss = cfg.lambda_umap * losses.umap_cross_entropy(y[:m], y[m:], cfg.negative_sample_rate, gen)
            loss = loss + temporal_term("encoder_net.")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * m
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

    # ---- phase 2: per-node offsets
    model.eval()
    with torch.no_grad():
        p0 = torch.cat([enc(xn[s:s + 8192]) for s in range(0, len(xn), 8192)])
    steps = max(int(cfg.refine_steps), 0)
    delta = refine_positions(p0, head, tail, w, steps=steps,
                             edges_per_step=cfg.refine_edges or int(cfg.refine_edges_per_node * len(x)),
                             lr=cfg.refine_lr, negative_sample_rate=cfg.negative_sample_rate, generator=gen,
                             offsets=offsets, should_stop=stop,
                             on_step=lambda s: phase("refine", (s + 1) / steps) if s % 20 == 19 else None)
    pos = p0 + delta

    # ---- phase 3: decoder on the refined positions
    dec = model.decoder_net
    dec.train()
    use_pred = head_fn is not None and cfg.lambda_pred > 0
    if use_pred:
        with torch.no_grad():
            target_prob = torch.cat([torch.softmax(head_fn(x[s:s + 8192]).float(), dim=1)
                                     for s in range(0, len(x), 8192)])
    dopt = torch.optim.Adam(dec.parameters(), lr=cfg.decoder_lr, weight_decay=cfg.weight_decay)
    dsteps = max(cfg.decoder_epochs * math.ceil(len(x) / cfg.decoder_batch), 1)
    dsched = _warmup_cosine(dopt, dsteps, 0.1)
    for de in range(cfg.decoder_epochs):
        stop()
        for b in torch.randperm(len(x), generator=gen).to(device).split(cfg.decoder_batch):
            xr = dec(pos[b])
            loss = cfg.lambda_recon * losses.reconstruction(xn[b], xr)
            if use_pred:
                loss = loss + cfg.lambda_pred * losses.prediction(head_fn(xr * model.scale + model.center),
                                                                  target_prob[b])
            loss = loss + temporal_term("decoder_net.")
            dopt.zero_grad(set_to_none=True)
            loss.backward()
            dopt.step()
            dsched.step()
        phase("decoder", (de + 1) / cfg.decoder_epochs)
    model.eval()
    return {"trainer_epochs": len(history), "loss": history, "positions": pos.detach(), "offsets": delta}


# ---------------------------------------------------------------------------- one epoch


def _load_epoch(reader, e: int, n: int, train_rows: np.ndarray, num_classes: int):
    ed = reader.epoch(e)
    reps = np.asarray(ed.representations, dtype=np.float32)
    logits = np.asarray(ed.logits, dtype=np.float32)
    border = np.asarray(ed.border, dtype=np.float32)
    if reps.ndim != 2 or reps.shape[0] != n:
        raise EngineError(f"epoch {e}: representations have shape {reps.shape}, but the run logs {n} samples")
    if logits.ndim != 2 or logits.shape[0] != n:
        raise EngineError(f"epoch {e}: logits have shape {logits.shape}, expected {n} rows")
    bad = ~np.isfinite(reps).all(axis=1)
    if bad.any():
        raise EngineError(f"epoch {e}: {int(bad.sum())} of {n} samples have NaN or infinite "
                          "representations (did training diverge?); refusing to draw a map of them")
    if not np.isfinite(logits).all():
        raise EngineError(f"epoch {e}: logits contain NaN or infinite values")
    warns = []
    if border.ndim != 2 or (border.shape[0] and border.shape[1] != reps.shape[1]):
        raise EngineError(f"epoch {e}: border points have shape {border.shape}, representations "
                          f"have {reps.shape[1]} dimensions")
    if border.shape[0]:
        ok = np.isfinite(border).all(axis=1)
        if not ok.all():
            warns.append(f"{int((~ok).sum())} border points with NaN/inf values were ignored")
            border = border[ok]
    head = ed.head_module()
    return ed.uid, reps, logits, border, head, warns


def _check_head(head, reps, logits, e, device) -> List[str]:
    take = min(len(reps), 256)
    with torch.no_grad():
        out = head(torch.as_tensor(np.require(reps[:take], np.float32, ["C", "W"]), device=device)).float().cpu().numpy()
    if out.shape != (take, logits.shape[1]):
        raise EngineError(f"epoch {e}: the logged head maps representations to shape {out.shape[1:]}, "
                          f"but {logits.shape[1]} logits were logged")
    err = np.abs(out - logits[:take]).max() if take else 0.0
    tol = 1e-3 * max(1.0, float(np.abs(logits[:take]).max()) if take else 1.0)
    if err > tol:
        return [f"the logged head does not reproduce the logged logits (max difference {err:.3g}); "
                "the background may not match the model"]
    return []


def _chain(cache: RunCache, e: int, window: int) -> List[int]:
    """e and its predecessors in the fitted chain, oldest first (at most ``window``)."""
    out = [e]
    cur = e
    while len(out) < window:
        try:
            prev = cache.epoch_info(cur).get("prev_epoch")
        except NotFittedError:
            break
        if prev is None:
            break
        out.append(prev)
        cur = prev
    return out[::-1]


class _EpochFitter:
    def __init__(self, reader, cache: RunCache, cfg: EngineConfig, device: str, progress: _Progress,
                 should_stop):
        self.reader = reader
        self.cache = cache
        self.cfg = cfg
        self.device = device
        self.progress = progress
        self.should_stop = should_stop
        static = reader.static()
        self.meta = reader.meta
        split = np.asarray(static.split)
        self.n = len(split)
        self.train_rows = np.nonzero(split == 0)[0]
        self.test_rows = np.nonzero(split == 1)[0]
        self.num_classes = int(self.meta.get("num_classes") or 0)
        k = cfg.n_neighbors
        if len(self.train_rows) < 3 * k + 2:
            raise EngineError(f"the run logs {len(self.train_rows)} training samples; the visualizer "
                              f"needs at least {3 * k + 2} (k = {k} neighbours)")
        rs = np.random.RandomState(cfg.seed)
        m = min(cfg.temporal_sample, len(self.train_rows))
        self.temporal_rows = np.sort(rs.choice(len(self.train_rows), m, replace=False))

    def _stop(self):
        if self.should_stop is not None and self.should_stop():
            raise _Stopped()

    def fit(self, e: int, prev: Optional[int]) -> dict:
        cfg, dev, P = self.cfg, self.device, self.progress
        timings = {}
        t0 = time.perf_counter()
        P("load", e, f"loading epoch {e}")
        uid, reps, logits, border, head, warns = _load_epoch(self.reader, e, self.n, self.train_rows,
                                                             self.num_classes)
        head = head.to(dev).float().eval()
        head.requires_grad_(False)
        warns += _check_head(head, reps, logits, e, dev)
        dim = reps.shape[1]
        prev_state = None
        if prev is not None:
            prev_state = torch.load(self.cache.state_path(prev), map_location=dev, weights_only=True)
            prev_dim = prev_state["center"].shape[0]
            if prev_dim != dim:
                raise EngineError(f"epoch {e} has {dim}-dimensional representations but epoch {prev} "
                                  f"had {prev_dim}; the representation width must stay the same")
        timings["load"] = time.perf_counter() - t0
        self._stop()

        t0 = time.perf_counter()
        P("complex", e, f"building the neighbourhood graph of epoch {e}")
        x_train = reps[self.train_rows]
        knn20 = knn_self(x_train, max(20, cfg.n_neighbors), device=dev)  # NNDescent from 20k rows
        cx = build_complex(x_train, border, n_neighbors=cfg.n_neighbors,
                           boundary_neighbors=cfg.boundary_neighbors, prune_n_epochs=cfg.prune_n_epochs,
                           min_border=cfg.min_border, device=dev, knn=knn20)
        warns += cx.warnings
        npr = None
        if prev is not None:
            npr = M.neighbour_preserving_rate(np.asarray(self.cache.knn(prev)), cx.knn_idx)
        timings["complex"] = time.perf_counter() - t0
        self._stop()

        t0 = time.perf_counter()
        torch.manual_seed(cfg.seed * 100003 + e)
        model = Visualizer(dim, cfg.hidden)
        model.to(dev)
        prev_params = None
        tw = 0.0
        if prev_state is not None:
            model.load_state_dict(prev_state)
            if cfg.temporal:
                prev_params = {k: v.detach().clone().to(dev) for k, v in prev_state.items()}
                tw = float(npr.mean())
        offsets = None
        if prev_state is not None and cfg.temporal:
            prev_off = self.cache.offsets(prev)
            if prev_off is not None and len(prev_off) == len(self.train_rows):
                prev_off = np.asarray(prev_off, dtype=np.float32)
                b_off = np.zeros((cx.n_border, 2), np.float32)
                if cx.n_border:
                    bi, bd = knn_exact(cx.nodes[cx.n_train:], x_train, cfg.n_neighbors, device=dev)
                    b_off = interpolate(prev_off, bi, bd)
                offsets = torch.as_tensor(np.concatenate([prev_off, b_off]), device=dev)
        stages = {"refine": (0.5, 0.8), "decoder": (0.8, 1.0)}  # the encoder: 0-0.5, via on_epoch
        P("train", e, f"training the visualizer of epoch {e}")
        report = train_visualizer(
            model, cx, cfg, device=dev, seed=cfg.seed * 100003 + e, prev_params=prev_params,
            temporal_weight=tw, warm=prev_state is not None, should_stop=self.should_stop,
            head_fn=head if cfg.lambda_pred > 0 else None, offsets=offsets,
            on_epoch=lambda i, loss: P("train", e, f"training the visualizer of epoch {e}: "
                                       f"encoder epoch {i + 1}, loss {loss:.3f}",
                                       0.5 * (i + 1) / max(cfg.max_trainer_epochs, 1)),
            on_phase=lambda name, frac: P("train", e, f"training the visualizer of epoch {e}: {name}",
                                          stages[name][0] + (stages[name][1] - stages[name][0]) * frac))
        timings["train"] = time.perf_counter() - t0
        self._stop()

        t0 = time.perf_counter()
        P("background", e, f"drawing the decision regions of epoch {e}")
        # positions: the refined layout for the complex's nodes (train rows, border points);
        # test rows: encoder output + their training neighbours' mean offset (refine.py)
        pos = report["positions"].cpu().numpy().astype(np.float32)
        off = report["offsets"].cpu().numpy().astype(np.float32)
        emb = np.zeros((self.n, 2), np.float32)
        emb[self.train_rows] = pos[:cx.n_train]
        if len(self.test_rows):
            x_test = reps[self.test_rows]
            ti, td = knn_exact(x_test, x_train, cfg.n_neighbors, device=dev)
            emb[self.test_rows] = _apply_in_batches(model.encoder, x_test, dev) + interpolate(off[:cx.n_train], ti, td)
        emb_border = pos[cx.n_train:] if cx.n_border else np.zeros((0, 2), np.float32)

        def decode_and_classify(p):
            return head(model.decoder(p))

        png, bmeta, gcls, gconf = bg.render(lambda pts: _apply_in_batches(decode_and_classify, pts, dev),
                                            emb, cfg.background_resolution,
                                            max(self.num_classes, logits.shape[1]))
        timings["background"] = time.perf_counter() - t0
        self._stop()

        t0 = time.perf_counter()
        P("metrics", e, f"measuring how faithful the map of epoch {e} is")
        met, mwarn = self._metrics(e, prev, reps, logits, border, emb, emb_border, model, head, cx, knn20, npr)
        warns += mwarn
        timings["metrics"] = time.perf_counter() - t0

        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        import io
        buf = io.BytesIO()
        torch.save(state, buf)
        info = {"cache_format": CACHE_FORMAT, "epoch": e, "input_uid": uid, "prev_epoch": prev,
                "prev_uid": self.cache.input_uid(prev) if prev is not None else None,
                "config_hash": cfg.config_hash(), "config": cfg.to_dict(), "device": str(dev),
                "timings": timings, "trainer_epochs": report["trainer_epochs"], "loss": report["loss"],
                "offset_mean": float(np.linalg.norm(off[:cx.n_train], axis=1).mean()) if cx.n_train else None,
                "n_edges": int(len(cx.weight)), "n_border": int(cx.n_border), "dim": int(dim),
                "created": time.time()}
        met["poor"] = bool(any(w.startswith("faithfulness:") for w in warns))
        met["warnings"] = [w[len("faithfulness: "):] if w.startswith("faithfulness: ") else w for w in warns]
        arrays = {EMBEDDING_FILE: emb, GRID_CLASSES: gcls, GRID_CONFIDENCE: gconf.astype(np.float32),
                  KNN_FILE: cx.knn_idx.astype(np.int32), OFFSETS_FILE: off[:cx.n_train]}
        if npr is not None:
            arrays[NPR_FILE] = npr.astype(np.float32)
        self.cache.write_epoch(e, arrays, {METRICS_FILE: met, BACKGROUND_META: bmeta, EPOCH_FILE: info},
                               {BACKGROUND_PNG: png, STATE_FILE: buf.getvalue()})
        return info

    def _metrics(self, e, prev, reps, logits, border, emb, emb_border, model, head, cx, knn20, npr):
        cfg, dev = self.cfg, self.device
        warns = []
        tr_rows, te_rows = self.train_rows, self.test_rows
        with torch.no_grad():
            # what the map shows: the head on the decoded position of each sample
            recon_logits = _apply_in_batches(lambda p: head(model.decoder(p)), emb, dev)
        pred = logits.argmax(1)
        pred_r = recon_logits.argmax(1)
        m = {}
        x_tr, y_tr = reps[tr_rows], emb[tr_rows]
        low20 = M.knn(y_tr, 20)
        for k in (10, 15, 20):
            m[f"nn_{k}"] = M.nn_preservation(x_tr, y_tr, k, high_knn=knn20[0], low_knn=low20, device=dev)
        m["nn_15_test"] = (M.nn_preservation(reps[te_rows], emb[te_rows], 15, device=dev)
                           if len(te_rows) > 15 else None)
        if cx.border_knn is not None and cx.border_knn.shape[1] >= 15:
            m["boundary_nn_15"] = M.boundary_nn(x_tr, border, y_tr, emb_border, 15,
                                                high_knn=cx.border_knn, device=dev)
        else:
            m["boundary_nn_15"] = None
        m["ppr_train"] = M.ppr(pred[tr_rows], pred_r[tr_rows])
        m["ppr_test"] = M.ppr(pred[te_rows], pred_r[te_rows]) if len(te_rows) else None
        m["inv_conf_diff"] = M.inverse_confidence_difference(logits[tr_rows], recon_logits[tr_rows])
        m["trustworthiness"] = M.trustworthiness(x_tr, y_tr, 15, device=dev, max_rows=cfg.trust_rows,
                                                 seed=cfg.seed)
        m["npr_mean"] = float(npr.mean()) if npr is not None else None
        m["tnn_5"], m["tr"], m["temporal_corr"] = None, None, None
        if prev is not None:
            try:
                m.update(self._temporal(e, prev, reps, emb, npr))
            except (NotFittedError, OSError, KeyError) + _damaged_error_types() as err:
                warns.append(f"temporal metrics skipped: {err}")
        if m["ppr_train"] is not None and m["ppr_train"] < cfg.ppr_train_warn:
            warns.append(f"faithfulness: only {m['ppr_train']:.0%} of training samples keep their "
                         "predicted class when mapped to 2-D and back; the regions drawn may not "
                         "match what the model does")
        if m["ppr_test"] is not None and m["ppr_test"] < cfg.ppr_test_warn:
            warns.append(f"faithfulness: only {m['ppr_test']:.0%} of test samples keep their predicted "
                         "class when mapped to 2-D and back")
        return m, warns

    def _temporal(self, e, prev, reps, emb, npr) -> dict:
        """Temporal metrics over the chain of epochs that ends at e (window-limited)."""
        chain = _chain(self.cache, prev, self.cfg.temporal_window - 1) + [e]
        tr_rows = self.train_rows
        out = {}
        # DVI correlation: NPR vs 2-D displacement over consecutive chain pairs
        nprs, disps = [], []
        embs = {c: np.asarray(self.cache.embedding(c))[tr_rows] for c in chain[:-1]}
        embs[e] = emb[tr_rows]
        for a, b in zip(chain[:-1], chain[1:]):
            r = npr if b == e else self.cache.npr(b)
            if r is None:
                continue
            nprs.append(np.asarray(r))
            disps.append(np.linalg.norm(embs[b] - embs[a], axis=1))
        out["temporal_corr"] = M.temporal_correlation(np.array(nprs), np.array(disps)) if len(nprs) >= 3 else None
        # TimeVis tnn@5 / tr with e as the anchor
        rows = tr_rows[self.temporal_rows]
        high = np.stack([reps[rows] if c == e else self._rows_of(c, rows) for c in chain])
        low = np.stack([embs[c][self.temporal_rows] for c in chain])
        tnn, tr = M.temporal_ranking(high, low, 5, anchors=[len(chain) - 1])
        out["tnn_5"], out["tr"] = tnn, tr
        return out

    def _rows_of(self, epoch: int, rows: np.ndarray) -> np.ndarray:
        """Some rows of an earlier epoch's representations (memory-mapped when possible)."""
        ed = self.reader.epoch(epoch)
        src = getattr(ed, "representations_raw", None)
        if src is None:
            src = ed.representations
        return np.asarray(src[rows], dtype=np.float32)


# ---------------------------------------------------------------------------- run


def _select(all_epochs: List[int], epochs) -> List[int]:
    if epochs is None:
        return list(all_epochs)
    if isinstance(epochs, range) or not isinstance(epochs, (str, bytes)):
        wanted = {int(e) for e in epochs}
    else:
        raise EngineError(f"epochs must be a list of integers, got {epochs!r}")
    return [e for e in all_epochs if e in wanted]


def fit_run(run_path, cache_dir: str, *, epochs: Optional[Iterable[int]] = None,
            config: Optional[EngineConfig] = None, device: str = "cpu",
            progress: Optional[Callable[[dict], None]] = None,
            should_stop: Optional[Callable[[], bool]] = None) -> List[int]:
    """Fit every epoch of the run that is not fresh in the cache; return those fitted.

    ``run_path`` is a run folder (or an object with the RunReader API).
    Epochs are fitted in order; each warm-starts from the latest fresh epoch
    before it (unless ``config.temporal`` is False). ``should_stop()`` is
    polled between stages and trainer epochs; finished epochs stay valid.
    """
    cfg = config or EngineConfig()
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError("device 'cuda' was requested but torch sees no CUDA GPU")
    reader = _open_reader(run_path)
    damaged_types = _damaged_error_types()
    old_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    try:
        try:
            all_epochs = reader.epochs()
            reader.static()
        except Exception as err:
            if type(err).__name__ in ("FormatError",):
                raise EngineError(str(err)) from err
            raise
        uids: Dict[int, str] = {}
        for e in all_epochs:
            try:
                uids[e] = reader.epoch(e).uid
            except damaged_types as err:
                _warn(f"skipping epoch {e}: {getattr(err, 'reason', err)}")
            except KeyError:
                pass
        if not uids:
            raise EngineError("the run has no complete logged epochs to visualise")
        cache = RunCache(cache_dir)
        fresh = set(cache.fitted_epochs(uids, cfg.config_hash()))
        selected = _select(sorted(uids), epochs)
        todo = [e for e in selected if e not in fresh]
        P = _Progress(progress, len(todo))
        fitter = _EpochFitter(reader, cache, cfg, device, P, should_stop)
        done: List[int] = []
        for e in todo:
            if should_stop is not None and should_stop():
                break
            prev = None
            if cfg.temporal:
                cands = [p for p in (fresh | set(done)) if p < e]
                prev = max(cands) if cands else None
            try:
                fitter.fit(e, prev)
            except _Stopped:
                break
            except damaged_types as err:
                _warn(f"skipping epoch {e}: {getattr(err, 'reason', err)}")
                continue
            done.append(e)
            P.done += 1
        P("done", done[-1] if done else None, f"fitted {len(done)} of {len(todo)} epochs")
        return done
    finally:
        torch.set_num_threads(old_threads)


def _warn(msg: str) -> None:
    log.warning(msg)
    _warnings.warn(msg, RuntimeWarning, stacklevel=3)
