"""Zoomed background tiles, computed in the plugin's render worker process (never in TensorBoard's).

``render_tile`` loads the fitted epoch's cached visualizer state (``weights_only=True``)
and the logged head once per (state file, head), keeps a few of them warm, and runs the
grid of the requested bounds through decoder → head (engine/background.py's colours).
"""

from __future__ import annotations

import os
from collections import OrderedDict

import numpy as np
import torch

from . import background as bg
from .cache import EPOCH_FILE, RunCache
from .. import safe_read
from .model import Visualizer, decoded_prediction, load_state

_MODELS: "OrderedDict[tuple, tuple]" = OrderedDict()
_KEEP = 4


def _init_worker() -> None:
    """One thread per render worker: it shares the machine with TensorBoard and the fitting jobs."""
    torch.set_num_threads(1)


def _load(run_path: str, cache_dir: str, confine, epoch: int, num_classes: int):
    """(decoder → head function, class count) of one fitted epoch, memoised by its state file's stat."""
    cache = RunCache(cache_dir)
    state_path = cache.state_path(epoch)
    st = os.stat(state_path)
    key = (state_path, st.st_mtime_ns, st.st_size)
    if key in _MODELS:
        _MODELS.move_to_end(key)
        return _MODELS[key]
    from ..storage import RunReader
    info = safe_read.read_json(os.path.join(cache.epoch_path(epoch), EPOCH_FILE), EPOCH_FILE)
    cfg = (info.get("config") if isinstance(info, dict) else None) or {}
    state = load_state(state_path, "cpu")
    if state is None:
        raise ValueError(f"the cached visualizer of epoch {epoch} cannot be read safely")
    model = Visualizer(int(state["center"].shape[0]), cfg.get("hidden") or (64, 64, 64), cfg.get("decoder_hidden"))
    model.load_state_dict(state)
    model.eval()
    head = RunReader(run_path, confine=confine).epoch(epoch).head_module().float().eval()

    predict = decoded_prediction(model, head)

    @torch.no_grad()
    def fn(pts: np.ndarray) -> np.ndarray:
        return predict(torch.from_numpy(pts)).numpy()

    probe = fn(np.zeros((1, 2), np.float32))
    _MODELS[key] = (fn, max(int(num_classes), probe.shape[1]))
    while len(_MODELS) > _KEEP:
        _MODELS.popitem(last=False)
    return _MODELS[key]


def render_tile(run_path: str, cache_dir: str, confine, epoch: int, bounds, resolution: int,
                num_classes: int) -> bytes:
    """PNG (``resolution``², row 0 at y_max) of epoch ``epoch``'s decision regions over ``bounds``."""
    fn, c = _load(run_path, cache_dir, confine, epoch, num_classes)
    return bg.render_bounds(fn, tuple(float(b) for b in bounds), int(resolution), c)
