"""The per-epoch pipeline: load → complex → train (phases.py) → background → metrics → cache.

``EpochFitter.fit(e, prev)`` fits one epoch, warm-started from ``prev`` (already in the
cache), and writes everything the plugin and the next epoch need into the cache.
Bad input that would give a wrong picture raises EngineError naming the problem.
"""

from __future__ import annotations

import io
import time

import numpy as np
import torch

from . import background as bg
from . import metrics as M
from .cache import (BACKGROUND_META, BACKGROUND_PNG, BORDER_EMBEDDING_FILE, BORDER_ROWS_FILE, CACHE_FORMAT,
                    CENTROID_FILE, EMBEDDING_FILE, EPOCH_FILE, GRID_CLASSES, GRID_CONFIDENCE, KNN_FILE, KNN_MORE_FILE,
                    METRICS_FILE, NPR_FILE, OFFSETS_FILE, STATE_FILE, RunCache, map_shift)
from . import drift as D
from . import knn as K
from . import knn_checked as KC
from . import knn_warm as W
from . import rank_history as RH
from .complex import build_complex, knn_exact, knn_self
from .consistency import layout_scale, snap_to_prediction
from .config import EngineConfig, EngineError
from .epoch_input import check_head, load_epoch, one_class_warning
from .faithfulness import epoch_metrics
from .model import Visualizer, apply_in_batches, decoded_prediction, load_state
from .phases import train_visualizer
from .progress import Progress, check_stop, warn
from .refine import interpolate
from .transform import place_new_points


class EpochFitter:
    """Fits epochs of one run into its cache; holds what stays fixed over the run."""

    #: another run's layout to start from and anchor to (reference.py's ReferenceLayout), or None
    reference = None

    def __init__(self, reader, cache: RunCache, cfg: EngineConfig, device: str, progress: Progress,
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
        check_stop(self.should_stop)

    def _prev_state(self, prev, dim: int, e: int):
        """The previous epoch's visualizer state, or None when there is none or it cannot be read
        safely (``weights_only=True`` refused it, or it is damaged): the epoch is then fitted
        without warm start, and nothing suggests loading it unsafely."""
        if prev is None:
            return None
        state = load_state(self.cache.state_path(prev), self.device)
        if state is None:
            return None
        prev_dim = state["center"].shape[0]
        if prev_dim != dim:
            raise EngineError(f"epoch {e} has {dim}-dimensional representations but epoch {prev} "
                              f"had {prev_dim}; the representation width must stay the same")
        return state

    def _border_knn(self, cx, x_train):
        """Each border point's training neighbours (computed once per epoch, used twice)."""
        if getattr(cx, "_border_train_knn", None) is None:
            cx._border_train_knn = self.among_train(cx.nodes[cx.n_train:], self.cfg.n_neighbors)
        return cx._border_train_knn

    def _border_joint(self, border):
        """The border points' searches across sets from one pass over the training rows (IVF on
        large epochs, else exact; knn.Among.join): (kNN of training rows + border points among the
        border points, for the boundary complex; each border point's training neighbours), or (None, None)."""
        kb = min(self.cfg.boundary_neighbors, len(border))
        if len(border) < max(self.cfg.min_border, 1):
            return None, None
        (bi, bd), (ti, td) = self.among_train.join(border, max(kb, self.cfg.n_neighbors),
                                                   probe_share=K.BORDER_PROBE_SHARE, name="border")
        if self.among_train.approx:
            # the border points among themselves through an index of their own (recall checked), kept for the
            # test rows' boundary NN@15 (100k bench run: 0.4 + 0.5 s instead of 1.0 + 1.5 s exact)
            self.among_border = K.Among(border, approx=True, device=self.device,
                                        cells_per_sqrt=K.BORDER_CELLS_PER_SQRT, min_recall=K.BORDER_MIN_RECALL)
            si, sd = self.among_border(border, kb, exclude_self_first=True)
        else:
            si, sd = knn_exact(border, border, kb, device=self.device)
        cross = (np.concatenate([ti[:, :kb], si]), np.concatenate([td[:, :kb], sd]))
        return cross, (bi[:, :self.cfg.n_neighbors], bd[:, :self.cfg.n_neighbors])

    def with_border(self, train_values: np.ndarray, cx, x_train) -> torch.Tensor:
        """2-D values of the training rows, followed by the border points' (the membership-weighted
        mean over their training neighbours): one row per node of ``cx``."""
        train_values = np.asarray(train_values, np.float32)
        b = np.zeros((cx.n_border, 2), np.float32)
        if cx.n_border:
            b = interpolate(train_values, *self._border_knn(cx, x_train))
        return torch.as_tensor(np.concatenate([train_values, b]), device=self.device)

    def _warm_offsets(self, prev, cx, x_train):
        """The previous epoch's offsets for the train rows, interpolated for border points."""
        prev_off = self.cache.offsets(prev)
        if prev_off is None or len(prev_off) != len(self.train_rows):
            return None
        return self.with_border(prev_off, cx, x_train)

    def _anchors(self, prev, cx, x_train, npr):
        """Previous drawn positions of every node (border points: their training neighbours')
        and the per-node pull towards them (config ``anchor_*``; border points: none)."""
        cfg = self.cfg
        pos = self.with_border(np.asarray(self.cache.embedding(prev), np.float32)[self.train_rows], cx, x_train)
        w = np.zeros(len(pos), np.float32)
        w[:cx.n_train] = cfg.anchor_strength * np.power(np.asarray(npr, np.float32), cfg.anchor_npr_power)
        return pos, torch.as_tensor(w, device=self.device)

    def _follow(self, prev, anchor, model, cx, x_train):
        """Anchors blended towards the previous map's projection of the new representations
        (config ``anchor_follow``); ``model`` still holds the previous epoch's state."""
        f = self.cfg.anchor_follow
        prev_off = self.cache.offsets(prev) if f > 0 else None
        if prev_off is None or len(prev_off) != cx.n_train:
            return anchor
        # the previous network on the new representations, normalised as this epoch's model will
        # be (a global shift or growth of the representations is not a movement)
        center, scale = model.normalization(torch.as_tensor(cx.nodes, device=self.device))
        proj = apply_in_batches(lambda v: model.encoder_net((v - center) / scale), x_train, self.device)
        proj = proj + np.asarray(prev_off, np.float32)
        return self.with_border((1.0 - f) * anchor[:cx.n_train].cpu().numpy() + f * proj, cx, x_train)

    def _mobility(self, cx, npr, prev=None):
        """Per-node share of the refinement steps (config ``mobility_power``, ``mobility_error``;
        border points: 1)."""
        p = self.cfg.mobility_power
        if p <= 0 or npr is None:
            return None
        free = 1.0 - np.asarray(npr, np.float32)
        if self.cfg.mobility_error > 0 and prev is not None:
            free = np.maximum(free, self.cfg.mobility_error * self._map_error(prev, cx))
        mob = np.ones(len(cx.nodes), np.float32)
        mob[:cx.n_train] = np.maximum(np.clip(free, 0.05, 1.0) ** p, self.cfg.mobility_min)
        return torch.as_tensor(mob, device=self.device)

    def _map_error(self, prev, cx) -> np.ndarray:
        """Per training row, how wrong the previous map is for it now: clip(1 − NP_i / mean NP, 0, 1),
        NP_i = its current high-D neighbours among its 2-D neighbours at its previous drawn position."""
        pos = np.asarray(self.cache.embedding(prev), np.float32)[self.train_rows]
        k = cx.knn_idx.shape[1]
        idx2 = M.knn(pos, k, device=self.device)  # 2-D: a k-d tree (100k rows: 0.4 s; the dense search took 35 s)
        # overlap of the two neighbour lists, self excluded from both (lists hold distinct ids)
        hit = (cx.knn_idx[:, 1:, None] == idx2[:, None, 1:]).sum((1, 2)).astype(np.float32)
        return np.clip(1.0 - hit / max(float(hit.mean()), 1e-6), 0.0, 1.0)

    def _momentum(self, prev, anchor):
        """Training rows' anchors moved on along their last 2-D step (config ``anchor_momentum``)."""
        m = self.cfg.anchor_momentum
        if m <= 0:
            return anchor
        try:
            info = self.cache.epoch_info(prev)
            before = info.get("prev_epoch")
            if before is None:
                return anchor
            step = (np.asarray(self.cache.embedding(prev), np.float32)
                    - np.asarray(self.cache.embedding(before), np.float32))[self.train_rows]
            # the whole map's move (drift.py) is not the sample's
            step -= np.subtract(map_shift(info), map_shift(self.cache.epoch_info(before))).astype(np.float32)
        except (OSError, ValueError, KeyError):  # the epoch before is gone from the cache: no momentum
            return anchor
        out = anchor.clone()
        out[:len(step)] += m * torch.as_tensor(step, device=out.device)
        return out

    def _place(self, model, head, report, cx, reps, logits, x_train):
        """Drawn positions of every logged row and of the border points."""
        cfg, dev = self.cfg, self.device
        pos = report["positions"].cpu().numpy().astype(np.float32)
        off = report["offsets"].cpu().numpy().astype(np.float32)
        emb = np.zeros((self.n, 2), np.float32)
        snap = self._snapper(model, head, layout_scale(pos[:cx.n_train]))
        emb[self.train_rows] = snap(pos[:cx.n_train], logits[self.train_rows].argmax(1))
        # the test rows' training neighbours, searched once: placement here, test NN@15 in the metrics
        test_knn, self.train_test_knn = None, None
        if len(self.test_rows):  # both directions from one pass (IVF or exact, knn.py)
            test_knn, self.train_test_knn = self.among_train.join(reps[self.test_rows], max(cfg.n_neighbors, 15),
                                                                  probe_share=K.TEST_PROBE_SHARE, name="test")
        # test rows are placed as any new point is (transform.py), so transform(x) == drawn position; snapped at
        # the drawn training map's spread, which Projection.transform reads (the search's circles scale with it)
        snap = self._snapper(model, head, layout_scale(emb[self.train_rows]))
        emb[self.test_rows] = snap(place_new_points(
            reps[self.test_rows], x_train, emb[self.train_rows], off[:cx.n_train],
            lambda v: apply_in_batches(model.encoder, v, dev), k=cfg.n_neighbors, steps=cfg.transform_steps,
            lr=cfg.transform_lr, negative_sample_rate=cfg.negative_sample_rate, seed=cfg.seed, device=dev,
            knn=test_knn), logits[self.test_rows].argmax(1))
        emb_border = pos[cx.n_train:] if cx.n_border else np.zeros((0, 2), np.float32)
        return emb, emb_border, off, test_knn

    def _snapper(self, model, head, scale):
        cfg, dev = self.cfg, self.device
        predict = decoded_prediction(model, head)
        return lambda p, target: snap_to_prediction(p, target, predict,
                                                    steps=cfg.snap_steps, max_move=cfg.snap_max_move, mu=cfg.snap_mu,
                                                    scale=scale, stop_margin=cfg.snap_stop_margin,
                                                    reach_move=cfg.snap_reach_move, device=dev)

    def fit(self, e: int, prev) -> dict:
        cfg, dev, P = self.cfg, self.device, self.progress
        timings = {}
        t0 = time.perf_counter()
        P("load", e, f"loading epoch {e}")
        uid, reps, logits, border, border_rows, head, warns = load_epoch(self.reader, e, self.n, self.train_rows,
                                                                         self.num_classes)
        head = head.to(dev).float().eval()
        head.requires_grad_(False)
        warns += check_head(head, reps, logits, e, dev)
        warns += one_class_warning(logits[self.train_rows])
        dim = reps.shape[1]
        prev_state = self._prev_state(prev, dim, e)
        if prev is not None and prev_state is None:
            warns.append(f"the cached visualizer of epoch {prev} cannot be read safely; epoch {e} is "
                         "fitted without warm start")
            warn(warns[-1])
            prev = None
        timings["load"] = time.perf_counter() - t0
        self._stop()

        t0 = time.perf_counter()
        P("complex", e, f"building the neighbourhood graph of epoch {e}")
        x_train = reps[self.train_rows]
        # searches among the training rows (border points, test rows): IVF from 20k rows, checked IVF joins from 10k
        self.among_train = KC.among_train(x_train, dev, KC.previous_record(self.cache, prev))
        self.among_border = None  # large epochs: set by _border_joint
        prev_knn, prev_search = W.previous_graph(self.cache, prev, len(x_train))
        skips = W.skips_after(prev_search)  # refused last time: not tried again yet
        knn_info = {"warm_skipped": skips} if skips else {}  # one search at max(20, k): complex and metrics
        knn20 = knn_self(x_train, max(20, cfg.n_neighbors), device=dev, prev_idx=None if skips else prev_knn,
                         info=knn_info, ivf_index=self.among_train.index)
        cross, border_train = self._border_joint(border)
        cx = build_complex(x_train, border, n_neighbors=cfg.n_neighbors,
                           boundary_neighbors=cfg.boundary_neighbors, prune_n_epochs=cfg.prune_n_epochs,
                           min_border=cfg.min_border, device=dev, knn=knn20, cross=cross,
                           border_rows=cfg.boundary_border_rows)
        if border_train is not None and cx.n_border:
            cx._border_train_knn = border_train
        warns += cx.warnings
        npr = None
        if prev is not None:
            npr = M.neighbour_preserving_rate(np.asarray(prev_knn if prev_knn is not None
                                                         else self.cache.knn(prev))[:, :cx.knn_idx.shape[1]], cx.knn_idx)
        timings["complex"] = time.perf_counter() - t0
        self._stop()

        t0 = time.perf_counter()
        stream = cfg.seed * 100003 + (e if cfg.seed_per_epoch else 0)
        torch.manual_seed(stream)
        model = Visualizer(dim, cfg.hidden, cfg.decoder_hidden)
        model.to(dev)
        prev_params, tw, offsets, anchor, anchor_w, still = None, 0.0, None, None, None, None
        if prev_state is not None:
            model.load_state_dict(prev_state)
            if cfg.temporal:
                prev_params = {k: v.detach().clone().to(dev) for k, v in prev_state.items()}
                tw = float(npr.mean())
                offsets = self._warm_offsets(prev, cx, x_train)
        mobility = self._mobility(cx, npr, prev) if prev_params is not None else None
        if self.reference is not None:  # laid out from another run's map of this epoch
            anchor, anchor_w = self.reference.anchors(self, e, cx, x_train)
        elif prev_params is not None and (cfg.anchor_strength > 0 or cfg.init_from_previous):
            anchor, anchor_w = self._anchors(prev, cx, x_train, npr)
            still = anchor.clone()
            anchor = self._momentum(prev, self._follow(prev, anchor, model, cx, x_train))
            if mobility is not None and cfg.mobility_scales_init:
                anchor = still + mobility.unsqueeze(1) * (anchor - still)
        chained = prev if prev_params is not None and self.reference is None else None
        drift_plan = D.plan(self.cache, chained, cfg.drift, x_train)  # known before the layout
        rank = (RH.build(self.reader, self.cache, chained, x_train, npr, self.train_rows, cfg,
                         (drift_plan or {}).get("delta"), dev, uid) if chained is not None and cfg.temporal else None)
        stages = {"refine": (0.5, 0.8), "decoder": (0.8, 1.0)}  # the encoder: 0-0.5, via on_epoch
        P("train", e, f"training the visualizer of epoch {e}")
        report = train_visualizer(
            model, cx, cfg, device=dev, seed=stream, prev_params=prev_params,
            temporal_weight=tw, warm=prev_state is not None, should_stop=self.should_stop,
            head_fn=head if cfg.lambda_pred > 0 else None, offsets=offsets,
            anchor=anchor if cfg.anchor_strength > 0 else None, anchor_weight=anchor_w,
            mobility=mobility if anchor is not None else None,
            init_positions=anchor if cfg.init_from_previous else None, previous=still,
            shift=(drift_plan or {}).get("delta"),
            graph_change=1.0 - float(npr.mean()) if npr is not None and cfg.temporal else None, rank=rank,
            on_epoch=lambda i, loss: P("train", e, f"training the visualizer of epoch {e}: "
                                       f"encoder epoch {i + 1}, loss {loss:.3f}",
                                       0.5 * (i + 1) / max(cfg.max_trainer_epochs, 1)),
            on_phase=lambda name, frac: P("train", e, f"training the visualizer of epoch {e}: {name}",
                                          stages[name][0] + (stages[name][1] - stages[name][0]) * frac))
        drift, centroid = D.follow_mean(self.cache, chained, cfg.drift, model, report["positions"], x_train, cx.n_train,
                                        planned=drift_plan)
        timings["train"] = time.perf_counter() - t0
        self._stop()

        t0 = time.perf_counter()
        P("background", e, f"drawing the decision regions of epoch {e}")
        emb, emb_border, off, test_knn = self._place(model, head, report, cx, reps, logits, x_train)
        predict = decoded_prediction(model, head)
        png, bmeta, gcls, gconf = bg.render(lambda pts: apply_in_batches(predict, pts, dev),
                                            emb, cfg.background_resolution,
                                            max(self.num_classes, logits.shape[1]))
        timings["background"] = time.perf_counter() - t0
        self._stop()

        t0 = time.perf_counter()
        P("metrics", e, f"measuring how faithful the map of epoch {e} is")
        met, mwarn = epoch_metrics(self, e, prev, reps, logits, border, emb, emb_border, model, head, cx, knn20, npr,
                                   test_knn=test_knn, uid=uid)
        warns += mwarn
        timings["metrics"] = time.perf_counter() - t0

        buf = io.BytesIO()
        torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buf)
        info = {"cache_format": CACHE_FORMAT, "epoch": e, "input_uid": uid, "prev_epoch": prev,
                "prev_uid": self.cache.input_uid(prev) if prev is not None else None,
                "config_hash": cfg.config_hash(), "config": cfg.to_dict(), "device": str(dev),
                "timings": timings, "train_timings": report.get("timings", {}), "knn_search": knn_info,
                "refine_steps": report.get("refine_steps"), "trainer_epochs": report["trainer_epochs"], "loss": report["loss"],
                "border_place": report.get("border_place"), "drift": drift, "joins": getattr(self.among_train.checked, "record", None),
                "offset_mean": float(np.linalg.norm(off[:cx.n_train], axis=1).mean()) if cx.n_train else None,
                "n_edges": int(len(cx.weight)), "n_border": int(cx.n_border), "dim": int(dim),
                "created": time.time()}
        met["poor"] = bool(any(w.startswith("faithfulness:") for w in warns))
        met["warnings"] = [w[len("faithfulness: "):] if w.startswith("faithfulness: ") else w for w in warns]
        arrays = {EMBEDDING_FILE: emb, GRID_CLASSES: gcls, GRID_CONFIDENCE: gconf.astype(np.float32),
                  KNN_FILE: cx.knn_idx.astype(np.int32), KNN_MORE_FILE: knn20[0][:, cx.knn_idx.shape[1]:].astype(np.int32),
                  OFFSETS_FILE: off[:cx.n_train],
                  BORDER_EMBEDDING_FILE: emb_border.astype(np.float32),
                  BORDER_ROWS_FILE: np.asarray(border_rows[:cx.n_border], dtype=np.int32)}
        if npr is not None:
            arrays[NPR_FILE] = npr.astype(np.float32)
        if centroid is not None:
            arrays[CENTROID_FILE] = centroid
        self.cache.write_epoch(e, arrays, {METRICS_FILE: met, BACKGROUND_META: bmeta, EPOCH_FILE: info},
                               {BACKGROUND_PNG: png, STATE_FILE: buf.getvalue()})
        return info
