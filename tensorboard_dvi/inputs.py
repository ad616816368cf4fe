"""Model inputs as models take them: tensors, dicts and tuples of tensors, Datasets.

A *batch* is a tensor, a dict of tensors (e.g. a tokenizer's ``BatchEncoding``)
or a tuple of tensors; the model is called as ``model(x)``, ``model(**x)`` or
``model(*x)``. Integer and bool tensors stay as they are (token ids, masks,
categorical columns); floating tensors are cast to the model's floating dtype
when moved to its device. ``Samples`` holds one fixed subset (train or test),
given whole or as a sized ``Dataset``, and serves it by index and in batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Callable, Optional

import numpy as np
import torch

#: Keys of a dict item that hold its label (Hugging Face uses "labels"; datasets often "label").
LABEL_KEYS = ("labels", "label")

_HOW = ("pass tensors/arrays [N, ...], a dict or tuple of them, or a Dataset together with "
        "collate_fn= (a function that turns a list of items into model inputs)")


def leaves(x):
    """The tensors of a batch structure, in order."""
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, Mapping):
        return [t for v in x.values() for t in leaves(v)]
    if isinstance(x, (tuple, list)):
        return [t for v in x for t in leaves(v)]
    return []


def apply(fn: Callable, x):
    """``fn`` applied to every tensor of a batch structure (dicts stay plain dicts)."""
    if isinstance(x, torch.Tensor):
        return fn(x)
    if isinstance(x, Mapping):
        return {k: apply(fn, v) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return tuple(apply(fn, v) for v in x)
    return x


def zip_apply(fn: Callable, a, b):
    """``fn(ta, tb)`` over the paired tensors of two structures of the same layout."""
    if isinstance(a, torch.Tensor):
        return fn(a, b)
    if isinstance(a, Mapping):
        return {k: zip_apply(fn, v, b[k]) for k, v in a.items()}
    return tuple(zip_apply(fn, u, v) for u, v in zip(a, b))


def _merge(parts: list, fn: Callable):
    """``fn`` over the corresponding tensors of several structures of the same layout."""
    first = parts[0]
    if isinstance(first, torch.Tensor):
        return fn(parts)
    if isinstance(first, Mapping):
        return {k: _merge([p[k] for p in parts], fn) for k in first}
    if isinstance(first, (tuple, list)):
        return tuple(_merge([p[i] for p in parts], fn) for i in range(len(first)))
    raise TypeError(type(first).__name__)


def stack(items: list):
    """One batch from a list of per-sample structures (torch.stack on each tensor)."""
    return _merge(items, torch.stack)


def cat(parts: list):
    """One batch from several batches (torch.cat on each tensor)."""
    return _merge(parts, torch.cat)


def call(model, x):
    """Call a model the way it takes this batch: ``model(x)``, ``model(**x)`` or ``model(*x)``."""
    if isinstance(x, Mapping):
        return model(**x)
    if isinstance(x, tuple):
        return model(*x)
    return model(x)


def is_float_only(x) -> bool:
    return all(torch.is_floating_point(t) for t in leaves(x))


def to_device(x, device: torch.device, float_dtype: Optional[torch.dtype] = None, channels_last: bool = False):
    """Move a batch; floating tensors take the model's dtype, images its memory format."""
    def move(t: torch.Tensor):
        if torch.is_floating_point(t):
            t = t.to(device=device, dtype=float_dtype or t.dtype)
            if channels_last and t.dim() == 4:
                t = t.contiguous(memory_format=torch.channels_last)
            return t
        return t.to(device)
    return apply(move, x)


def _leaf(name: str, value) -> torch.Tensor:
    """One input given whole: a tensor, a numeric array or a rectangular numeric list."""
    if isinstance(value, torch.Tensor):
        return value.detach()
    if isinstance(value, list) and value and all(isinstance(v, torch.Tensor) for v in value):
        try:  # a list of per-sample tensors
            return torch.stack([v.detach() for v in value])
        except RuntimeError as e:
            raise TypeError(f"{name}: cannot stack its tensors ({e}); {_HOW}") from None
    if isinstance(value, (list, tuple)) and value and not isinstance(value[0], (int, float, list, tuple, np.ndarray,
                                                                             np.number, bool)):
        raise TypeError(f"{name}: cannot batch a list of {type(value[0]).__name__}; {_HOW}")
    try:
        arr = np.asarray(value)
    except ValueError as e:  # ragged nested lists
        raise TypeError(f"{name}: cannot batch it ({e}); {_HOW}") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name}: cannot batch values of type {arr.dtype} "
                        f"({type(value).__name__}); {_HOW}")
    return torch.from_numpy(np.ascontiguousarray(arr))


def as_batch(name: str, data):
    """A whole subset given as a tensor/array/list, a dict (BatchEncoding) or a tuple of them."""
    if isinstance(data, Mapping):
        if not data:
            raise ValueError(f"{name} is an empty dict")
        return {str(k): _leaf(f"{name}[{k!r}]", v) for k, v in data.items()}
    if isinstance(data, tuple):
        return tuple(_leaf(f"{name}[{i}]", v) for i, v in enumerate(data))
    return _leaf(name, data)


def split_item(item):
    """(input, label or None) of one Dataset item or collated batch.

    Items are ``x``, ``(x, label)``, ``(x1, ..., xk, label)`` or a dict whose
    label (if any) is under "labels" or "label".
    """
    if isinstance(item, Mapping):
        label = next((item[k] for k in LABEL_KEYS if k in item), None)
        return {k: v for k, v in item.items() if k not in LABEL_KEYS}, label
    if isinstance(item, (tuple, list)):
        if len(item) < 2:
            return item[0], None
        return (item[0] if len(item) == 2 else tuple(item[:-1])), item[-1]
    return item, None


def _check_tensors(name: str, x) -> None:
    """Every input must be a tensor (strings, PIL images, ragged lists cannot be batched)."""
    if isinstance(x, torch.Tensor):
        return
    if isinstance(x, Mapping):
        for k, v in x.items():
            _check_tensors(f"{name}[{k!r}]", v)
        return
    if isinstance(x, (tuple, list)) and x:
        for i, v in enumerate(x):
            _check_tensors(f"{name}[{i}]", v)
        return
    raise TypeError(f"{name} is a {type(x).__name__}, not a tensor; {_HOW}"
                    + (" (drop text columns, e.g. dataset.remove_columns, and pass the strings as texts=)"
                       if isinstance(x, str) else ""))


def _is_dataset(data) -> bool:
    """A sized, indexable collection of items: a torch Dataset, a Hugging Face ``datasets.Dataset``,
    or a list of dict / tuple items."""
    if isinstance(data, list):
        return bool(data) and isinstance(data[0], (Mapping, tuple))
    if isinstance(data, (tuple, Mapping, np.ndarray, torch.Tensor, str, bytes)):
        return False
    return hasattr(data, "__len__") and hasattr(data, "__getitem__")


class Samples:
    """A fixed sample subset (train or test), addressable by index."""

    def __init__(self, name: str, data, labels, collate_fn: Optional[Callable] = None):
        self.name = name
        label_name = name.replace("_data", "_labels")
        self.collate_fn = collate_fn
        self.tensor = self.whole = self.dataset = None
        if _is_dataset(data):
            self.dataset, self.n = data, len(data)
            if self.n == 0:
                raise ValueError(f"{name} is empty")
            item_labels = self._probe()
        elif isinstance(data, torch.utils.data.Dataset) or hasattr(data, "__iter__") and not isinstance(
                data, (list, tuple, Mapping, np.ndarray, torch.Tensor)):
            raise TypeError(f"{name} must be sized: a tensor, a dict/tuple of tensors or a Dataset with __len__, "
                            f"got {type(data).__name__} (a DataLoader or iterator cannot be indexed)")
        else:
            self.whole = as_batch(name, data)
            sizes = {t.shape[0] if t.dim() else -1 for t in leaves(self.whole)}
            if len(sizes) != 1 or -1 in sizes:
                raise ValueError(f"{name}: every input needs the same first dimension N, got "
                                 f"{[tuple(t.shape) for t in leaves(self.whole)]}")
            self.n = sizes.pop()
            if isinstance(self.whole, torch.Tensor):
                if self.whole.dim() < 2:
                    raise ValueError(f"{name}: expected a batch of inputs [N, ...], got shape "
                                     f"{tuple(self.whole.shape)}")
                self.tensor = self.whole
            item_labels = None
            if self.n == 0:
                raise ValueError(f"{name} is empty")
        if labels is None and item_labels:
            labels = [self._item_label(i) for i in range(self.n)]
        if labels is None:
            raise ValueError(f"{label_name} are missing: pass them, or a Dataset of (input, label) items")
        self.labels = check_labels(label_name, labels, self.n)

    def _probe(self) -> bool:
        """Build a batch of the first items now, so an unbatchable input fails at construction."""
        items = [self.dataset[i] for i in range(min(2, self.n))]
        x, label = split_item(items[0])
        if self.collate_fn is None:
            _check_tensors(f"{self.name} items", x)
        try:
            self.inputs(np.arange(len(items)))
        except Exception as e:  # noqa: BLE001 - re-raised with what to pass
            raise TypeError(f"{self.name}: cannot batch its items ({type(e).__name__}: {e}); {_HOW}") from None
        return label is not None

    def _item_label(self, i: int):
        label = split_item(self.dataset[i])[1]
        if label is None:
            raise ValueError(f"{self.name}[{i}] has no label")
        return label.item() if isinstance(label, torch.Tensor) and label.numel() == 1 else label

    def inputs(self, index: np.ndarray):
        """The batch of samples ``index`` (on the CPU, as stored)."""
        if self.whole is not None:
            idx = torch.as_tensor(np.asarray(index, dtype=np.int64))
            return apply(lambda t: t[idx], self.whole)
        items = [self.dataset[int(i)] for i in index]
        if self.collate_fn is not None:
            return split_item(self.collate_fn(items))[0]
        return stack([split_item(it)[0] for it in items])

    def batches(self, batch_size: int):
        for start in range(0, self.n, batch_size):
            yield self.inputs(np.arange(start, min(start + batch_size, self.n)))

    def float_only(self) -> bool:
        return is_float_only(self.inputs(np.arange(min(2, self.n))))


def check_labels(name: str, labels, n: int) -> np.ndarray:
    """Integer class indices [n]; strings, one-hot rows and fractions get a clear error."""
    if isinstance(labels, torch.Tensor):
        arr = labels.detach().cpu().numpy()
    else:
        try:
            arr = np.asarray([v.item() if isinstance(v, torch.Tensor) else v for v in labels]
                             if isinstance(labels, (list, tuple)) else labels)
        except (ValueError, TypeError) as e:
            raise ValueError(f"{name} cannot be read as class indices ({e})") from None
    if arr.dtype.kind in "USO":
        example = arr.reshape(-1)[0].item() if arr.size else ""
        raise ValueError(f"{name} are {type(example).__name__} values (e.g. {example!r}), not class indices: "
                         "map them to integers 0..C-1 and pass the names as class_names=")
    if arr.ndim == 2 and arr.shape[0] == n and arr.shape[1] > 1:
        raise ValueError(f"{name} has shape {arr.shape}: it looks one-hot or like probabilities; "
                         "pass class indices, e.g. labels.argmax(1)")
    arr = arr.reshape(-1) if arr.ndim == 2 and arr.shape[1:] == (1,) else arr
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} has shape {tuple(arr.shape)}, expected ({n},) to match "
                         f"{name.replace('_labels', '_data')}")
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "f" and not (np.isfinite(arr).all() and np.array_equal(arr, np.round(arr))):
        raise ValueError(f"{name} must be integer class indices")
    arr = arr.astype(np.int64)
    if n and arr.min() < 0:
        raise ValueError(f"{name} must be non-negative class indices, got {int(arr.min())}")
    return arr
