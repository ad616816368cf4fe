"""Public projection API, usable without TensorBoard, in umap-learn's shape.

    proj = tensorboard_dvi.load_projection("runs/clean", epoch=10)
    proj.embedding_            # drawn positions of the logged samples (storage order)
    proj.transform(X)          # representations -> 2-D (as test rows were placed)
    proj.inverse_transform(Y)  # 2-D -> representations (the decoder)
    proj.predict(Y)            # the logged head on the decoded points: class ids

The epoch must be fitted (``tensorboard-dvi fit``, or the tab); the projection
reads the same cache. Nothing is unpickled: weights load with
``weights_only=True``, arrays with ``allow_pickle=False``.
"""

from __future__ import annotations

import os
from typing import Optional

import numpy as np

__all__ = ["Projection", "load_projection", "projection_from"]


class Projection:
    """One fitted epoch's projection, inverse projection and the head behind its background."""

    def __init__(self, model, head, x_train: np.ndarray, pos_train: np.ndarray, off_train: np.ndarray,
                 embedding: np.ndarray, border_embedding: Optional[np.ndarray], config: dict, epoch: int):
        self._model, self._head = model, head
        self._x_train, self._pos_train, self._off_train = x_train, pos_train, off_train
        self._config = config
        from .engine.consistency import layout_scale  # lazy: importing the package stays light
        from .engine.model import decoded_prediction
        self._scale = layout_scale(pos_train)
        self._predict = decoded_prediction(model, head)  # as the fit drew the background
        self.epoch = epoch
        self.embedding_ = embedding
        self.border_embedding_ = border_embedding
        self.n_components = 2

    def _check(self, x, width: int, what: str) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if x.ndim == 1:
            x = x[None]
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(f"{what} must have shape (n, {width}), got {np.shape(x)}")
        if not np.isfinite(x).all():
            raise ValueError(f"{what} contains NaN or infinite values")
        return x

    def transform(self, X) -> np.ndarray:
        """2-D positions of representations ``X`` (n x D), placed as the fit placed test rows."""
        from .engine.consistency import snap_to_prediction
        from .engine.model import apply_in_batches
        from .engine.transform import place_new_points
        x = self._check(X, self._x_train.shape[1], "X")
        c = self._config
        y = place_new_points(x, self._x_train, self._pos_train, self._off_train,
                             lambda v: apply_in_batches(self._model.encoder, v, "cpu"),
                             k=int(c.get("n_neighbors", 15)), steps=int(c.get("transform_steps", 60)),
                             lr=float(c.get("transform_lr", 0.05)),
                             negative_sample_rate=int(c.get("negative_sample_rate", 5)), seed=int(c.get("seed", 0)))
        target = apply_in_batches(self._head, x, "cpu").argmax(1)
        return snap_to_prediction(y, target, self._predict,
                                  steps=int(c.get("snap_steps", 0)), max_move=float(c.get("snap_max_move", 0.2)),
                                  mu=float(c.get("snap_mu", 0.5)), scale=self._scale,
                                  stop_margin=None if c.get("snap_stop_margin") is None
                                  else float(c["snap_stop_margin"]), reach_move=float(c.get("snap_reach_move", 0.0)))

    def inverse_transform(self, Y) -> np.ndarray:
        """Representations (n x D) decoded from 2-D points ``Y`` (n x 2)."""
        from .engine.model import apply_in_batches
        return apply_in_batches(self._model.decoder, self._check(Y, 2, "Y"), "cpu")

    def predict_logits(self, Y) -> np.ndarray:
        """The logged head's logits on the decoded points."""
        from .engine.model import apply_in_batches
        return apply_in_batches(self._predict, self._check(Y, 2, "Y"), "cpu")

    def predict(self, Y) -> np.ndarray:
        """Class ids the head predicts for the decoded points (what the background shows)."""
        return self.predict_logits(Y).argmax(1)


def load_projection(run_path, epoch: int, cache_dir: Optional[str] = None) -> Projection:
    """The fitted projection of ``epoch`` of the run at ``run_path`` (cache: the plugin's by default).

    Raises ``tensorboard_dvi.engine.cache.NotFittedError`` (a KeyError) when the epoch is not
    in the cache, and ``EngineError`` when the cache was fitted on other inputs.
    """
    from .engine.cache import RunCache, default_cache_dir
    from .storage import RunReader
    reader = RunReader(os.fspath(run_path))
    return projection_from(reader, RunCache(cache_dir or default_cache_dir(os.fspath(run_path))), int(epoch))


def projection_from(reader, cache, epoch: int) -> Projection:
    """:func:`load_projection` for a reader (RunReader API) and a ``RunCache``."""
    import torch

    from .engine.cache import NotFittedError
    from .engine.config import EngineError
    from .engine.model import Visualizer
    info = cache.epoch_info(epoch)
    ed = reader.epoch(epoch)
    if info.get("input_uid") != ed.uid:
        raise EngineError(f"epoch {epoch} changed since it was fitted (cache {cache.cache_dir}); refit it")
    offsets = cache.offsets(epoch)
    if offsets is None:
        raise NotFittedError(f"epoch {epoch} was fitted by an older engine without offsets; refit it")
    state = torch.load(cache.state_path(epoch), map_location="cpu", weights_only=True)
    model = Visualizer(int(state["center"].shape[0]), info["config"]["hidden"], info["config"].get("decoder_hidden"))
    model.load_state_dict(state)
    model.eval()
    head = ed.head_module().float().eval()
    head.requires_grad_(False)
    split = np.asarray(reader.static().split)
    train = np.nonzero(split == 0)[0]
    emb = np.asarray(cache.embedding(epoch), dtype=np.float32)
    reps = np.asarray(ed.representations, dtype=np.float32)
    border = cache.border_embedding(epoch)
    return Projection(model, head, reps[train], emb[train], np.asarray(offsets, np.float32), emb,
                      None if border is None else np.asarray(border[0], np.float32), info["config"], epoch)
