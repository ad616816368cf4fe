"""One logged epoch, read and checked before it is fitted: shapes, NaN/inf, the head against the logits, one class.

Bad input that would give a wrong picture raises EngineError naming the problem; input that can still be
drawn, with a caveat, comes back as warnings (shown in the tab and stored with the epoch's metrics).
"""

from __future__ import annotations

from typing import List

import numpy as np
import torch

from .config import EngineError


def load_epoch(reader, e: int, n: int, train_rows: np.ndarray, num_classes: int):
    """One logged epoch, checked: (uid, reps, logits, finite border points, their logged rows, head, warnings)."""
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
    border_rows = np.arange(len(border) if border.ndim == 2 else 0)
    if border.ndim != 2 or (border.shape[0] and border.shape[1] != reps.shape[1]):
        raise EngineError(f"epoch {e}: border points have shape {border.shape}, representations "
                          f"have {reps.shape[1]} dimensions")
    if border.shape[0]:
        ok = np.isfinite(border).all(axis=1)
        if not ok.all():
            warns.append(f"{int((~ok).sum())} border points with NaN/inf values were ignored")
            border, border_rows = border[ok], border_rows[ok]
    head = ed.head_module()
    return ed.uid, reps, logits, border, border_rows, head, warns


def check_head(head, reps, logits, e, device) -> List[str]:
    """Warn when the logged head does not reproduce the logged logits (error on a shape mismatch)."""
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


def one_class_warning(logits: np.ndarray) -> List[str]:
    """An epoch whose training samples are all predicted as one class has no boundary to draw."""
    classes = np.unique(logits.argmax(1))
    if len(classes) != 1:
        return []
    return [f"every training sample is predicted as class {int(classes[0])}: there is no decision boundary "
            "in this epoch, the background shows that one class and boundary metrics are undefined"]
