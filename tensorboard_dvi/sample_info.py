"""Per-sample extras shown in the tab: thumbnails, texts, tabular features, metadata columns.

Each is validated when the writer is built (lengths and types, errors naming the
argument) and stored once in the run's ``static/`` folder (docs/FORMAT.md).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Optional

import numpy as np
import torch

from . import inputs as inp


def noisy_mask(noisy, ids: np.ndarray, n_train: int) -> Optional[np.ndarray]:
    """A bool mask over all samples from train ids or a bool mask over the train subset."""
    if noisy is None:
        return None
    arr = np.asarray(noisy.cpu() if isinstance(noisy, torch.Tensor) else noisy)
    mask = np.zeros(len(ids), dtype=bool)
    if arr.dtype == bool:
        if arr.shape not in ((n_train,), (len(mask),)):
            raise ValueError(f"noisy mask has shape {arr.shape}, expected ({n_train},)")
        mask[:len(arr)] = arr
        return mask
    where = {int(i): k for k, i in enumerate(ids)}
    missing = [int(i) for i in arr.reshape(-1) if int(i) not in where]
    if missing:
        raise ValueError(f"noisy ids not among the logged sample ids: {missing[:5]}")
    mask[[where[int(i)] for i in arr.reshape(-1)]] = True
    return mask


def _all_inputs(subsets):
    return inp.cat([s.inputs(np.arange(s.n)) for s in subsets])


def thumbnails(value, subsets, n: int) -> Optional[np.ndarray]:
    """uint8 [N, H, W(, C)] from ``thumbnails=True`` (image inputs) or a given array."""
    if value is None or value is False:
        return None
    if value is True:
        x = _all_inputs(subsets)
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        if not isinstance(x, torch.Tensor) or not torch.is_floating_point(x) or x.dim() not in (3, 4) or (
                x.dim() == 4 and x.shape[1] not in (1, 3)):
            raise ValueError(f"thumbnails=True needs image inputs [N, 1|3, H, W] or [N, H, W], got {shape}: "
                             f"pass thumbnails= an image array [{n}, H, W] or [{n}, H, W, C] (uint8, or floats "
                             "in [0, 1]), or drop the option (for text use texts=, for tables feature_names=)")
        x = x.float().unsqueeze(1) if x.dim() == 3 else x.float()
        lo = x.amin(dim=(1, 2, 3), keepdim=True)
        hi = x.amax(dim=(1, 2, 3), keepdim=True)
        x = ((x - lo) / (hi - lo).clamp_min(1e-8) * 255).round().to(torch.uint8)
        arr = x.permute(0, 2, 3, 1).numpy()
        return arr[..., 0] if arr.shape[-1] == 1 else arr
    arr = np.asarray(value)
    if arr.ndim not in (3, 4) or arr.shape[0] != n or arr.dtype.kind not in "uif":
        raise ValueError(f"thumbnails has shape {arr.shape} dtype {arr.dtype}, expected [{n}, H, W] or "
                         f"[{n}, H, W, C] numbers (one image per logged sample, train then test)")
    if arr.dtype != np.uint8:
        arr = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
    return arr


def texts(value, n: int) -> Optional[list]:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise TypeError(f"texts= must be a list of {n} strings (one per logged sample), got {type(value).__name__}")
    value = list(value)
    if len(value) != n:
        raise ValueError(f"texts= has {len(value)} entries, expected {n} (one per logged sample: train then test)")
    bad = next((i for i, t in enumerate(value) if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"texts[{bad}] is a {type(value[bad]).__name__}, expected a string")
    return value


def features(names, subsets, n: int):
    """(feature names, float32 [N, F] input values) of tabular inputs, or (None, None)."""
    if names is None:
        return None, None
    if isinstance(names, str) or not all(isinstance(s, str) for s in names):
        raise TypeError("feature_names= must be a list of strings, one per input column")
    names = list(names)
    if len(set(names)) != len(names):
        raise ValueError("feature_names= has duplicate names")
    x = _all_inputs(subsets)
    cols = [t for t in inp.leaves(x) if t.dim() == 2]
    if not cols or len(cols) != len(inp.leaves(x)):
        raise ValueError("feature_names= needs tabular inputs: tensors [N, F] (or a dict/tuple of them), got "
                         f"{[tuple(t.shape) for t in inp.leaves(x)]}")
    values = torch.cat([t.float() for t in cols], dim=1).numpy().astype(np.float32)
    if values.shape[1] != len(names):
        raise ValueError(f"feature_names= has {len(names)} names but the inputs have {values.shape[1]} columns")
    return names, values


def _cell(col: str, i: int, v):
    if isinstance(v, torch.Tensor) and v.numel() == 1:
        v = v.item()
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, (int, float)):
        return None if isinstance(v, float) and not math.isfinite(v) else v
    raise TypeError(f"metadata[{col!r}][{i}] is a {type(v).__name__}; values must be strings, numbers or None")


def metadata(value, n: int) -> Optional[dict]:
    """{"columns": {name: [str|number|None] * N}} from ``metadata={"col": [...]}``."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not value:
        raise TypeError("metadata= must be a non-empty dict {column name: [one value per logged sample]}")
    columns = {}
    for col, values in value.items():
        if not isinstance(col, str) or not col:
            raise TypeError(f"metadata= column names must be non-empty strings, got {col!r}")
        if isinstance(values, (str, bytes)) or not hasattr(values, "__len__"):
            raise TypeError(f"metadata[{col!r}] must be a list of {n} values, got {type(values).__name__}")
        values = values.tolist() if isinstance(values, (np.ndarray, torch.Tensor)) else list(values)
        if len(values) != n:
            raise ValueError(f"metadata[{col!r}] has {len(values)} values, expected {n} "
                             "(one per logged sample: train then test)")
        columns[col] = [_cell(col, i, v) for i, v in enumerate(values)]
    return {"columns": columns}
