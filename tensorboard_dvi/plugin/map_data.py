"""The two binary payloads the map is drawn from: a run's per-sample data (``GET samples``) and
one epoch's projection (``GET projection``: fitted, or with ``provisional=1`` a provisional
layout), encoded with :mod:`.wire`. Caching stays with the caller (the run state and the
plugin's projection LRU)."""

from __future__ import annotations

import numpy as np

from .. import scoring, storage
from . import codes, wire


def samples_blob(static) -> bytes:
    """ids (int32 when every id fits, else float64), labels, split and the noisy mask."""
    ids = static.ids
    if len(ids) and ids.min() >= -(2 ** 31) and ids.max() < 2 ** 31:
        ids = ids.astype(np.int32)
    else:
        ids = ids.astype(np.float64)
    arrays = {"ids": ids, "labels": static.labels.astype(np.int16), "split": static.split.astype(np.uint8)}
    if static.noisy is not None:
        arrays["noisy"] = static.noisy.astype(np.uint8)
    return wire.encode(arrays, n=int(len(static.ids)))


def projection_blob(run, e: int, ep, static) -> bytes:
    """coords, predictions, confidence and flag bits of fitted epoch ``e`` (HTTP_API.md)."""
    try:
        coords = np.asarray(run.cache.embedding(e), dtype=np.float32)
    except (KeyError, ValueError, OSError) as err:  # being (re)written: fitting will replace it
        raise codes.NotFitted(f"epoch {e} of run {run.name!r} is not fitted yet ({err})") from None
    n = len(static.ids)
    if coords.shape != (n, 2):
        raise codes.NotFitted(f"epoch {e} of run {run.name!r} is not fitted yet "
                              f"(cached projection has shape {coords.shape}, expected ({n}, 2))")
    return _blob(run, e, ep, static, coords)


def provisional_blob(run, e: int, ep, static, uid: str) -> bytes:
    """The same payload over the provisional layout of epoch ``e`` (engine/provisional.py), flagged
    in the header: ``provisional: true``, ``background: false``, the ``seconds`` it took."""
    from ..engine.provisional import read_provisional
    found = read_provisional(run.cache_dir, e, uid, len(static.ids))
    if found is None:
        raise codes.NotFitted(f"epoch {e} of run {run.name!r} is not fitted yet (no provisional layout either)")
    coords, info = found
    return _blob(run, e, ep, static, np.asarray(coords, dtype=np.float32), provisional=True,
                 background=bool(info.get("background")), seconds=info.get("seconds"))


def _blob(run, e: int, ep, static, coords, **header) -> bytes:
    try:
        logits, preds = ep.logits_raw, ep.predictions
    except storage.DamagedEpochError as err:
        raise codes.Damaged(f"epoch {e} of run {run.name!r} is damaged: {err.reason}") from None
    conf, flags = confidence_and_flags(preds, static.labels, logits, static.noisy)
    return wire.encode({"coords": coords, "predictions": preds.astype(np.int16),
                        "confidence": conf, "flags": flags}, n=len(static.ids), epoch=e, **header)


def confidence_and_flags(preds, labels, logits, noisy, block_elems: int = 1 << 20):
    """Softmax confidence and flag bits, computed over row blocks of the memory-mapped logits so
    that the memory used does not grow with the class count (at most ``block_elems`` at once)."""
    n = len(preds)
    rows = max(1, block_elems // max(1, logits.shape[1]))
    conf, flags = np.empty(n, np.float32), np.empty(n, np.uint8)
    for s in range(0, n, rows):
        block = np.asarray(logits[s:s + rows], dtype=np.float32)
        conf[s:s + rows] = scoring.softmax_confidence(block)
        flags[s:s + rows] = scoring.projection_flags(preds[s:s + rows], labels[s:s + rows], block,
                                                     None if noisy is None else noisy[s:s + rows])
    return conf, flags
