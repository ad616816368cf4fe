"""The training-side writer: a few lines in a training loop log what DVI needs.

``DVIWriter.log_epoch(epoch)`` runs the model in eval mode over a fixed sample
subset and writes, atomically, the representations, logits, predictions, the
classifier head and border points of that epoch (docs/FORMAT.md).

Representation and head, with the contract ``head(representation) == logits``:
- default: the input of the model's last ``nn.Linear`` (forward pre-hook) and
  that layer as the head;
- ``head_module="classifier"``: the input of that named submodule, which is the
  head (e.g. an ``nn.Sequential(Linear, ReLU, Linear)``);
- ``feature=`` / ``head=``: callables ``feature(x) -> representation`` and an
  ``nn.Module`` head.
"""

from __future__ import annotations

import json
import os
import time
import uuid
import warnings
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn

from . import metadata as md
from . import storage
from .border import find_border_points
from .heads import describe_head, head_files

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence]


class _Samples:
    """A fixed sample subset given as a tensor or a Dataset, addressable by index."""

    def __init__(self, name: str, data, labels):
        self.name = name
        label_name = name.replace("_data", "_labels")
        if isinstance(data, (torch.Tensor, np.ndarray)):
            self.tensor = torch.as_tensor(data)
            if self.tensor.dim() < 2:
                raise ValueError(f"{name}: expected a batch of inputs [N, ...], got shape {tuple(self.tensor.shape)}")
            if not torch.is_floating_point(self.tensor):
                self.tensor = self.tensor.float()
            self.dataset = None
            self.n = self.tensor.shape[0]
            item_label = None
        elif isinstance(data, torch.utils.data.Dataset) and hasattr(data, "__len__"):
            self.tensor, self.dataset, self.n = None, data, len(data)
            if self.n == 0:
                raise ValueError(f"{name} is empty")
            first = data[0]
            item_label = None
            if isinstance(first, (tuple, list)):
                if len(first) < 2 and labels is None:
                    raise ValueError(f"{name}: items have no label and no {label_name} were given")
                if not isinstance(first[0], torch.Tensor):
                    raise TypeError(f"{name}: dataset items must be tensors or (tensor, label) tuples, "
                                    f"got {type(first[0]).__name__}")
                item_label = True
            elif not isinstance(first, torch.Tensor):
                raise TypeError(f"{name}: dataset items must be tensors or (tensor, label) tuples, "
                                f"got {type(first).__name__}")
        else:
            raise TypeError(f"{name} must be a torch.Tensor, a numpy array or a sized torch Dataset, "
                            f"got {type(data).__name__}")
        if self.n == 0:
            raise ValueError(f"{name} is empty")
        if labels is None and item_label:
            labels = [int(self.dataset[i][1]) for i in range(self.n)]
        if labels is None:
            raise ValueError(f"{label_name} are missing: pass them, or a Dataset of (input, label) items")
        labels = torch.as_tensor(np.asarray(labels)).reshape(-1) if not isinstance(labels, torch.Tensor) else labels
        if labels.dim() != 1 or labels.shape[0] != self.n:
            raise ValueError(f"{label_name} has shape {tuple(labels.shape)}, expected ({self.n},) to match {name}")
        if torch.is_floating_point(labels) and not torch.equal(labels, labels.round()):
            raise ValueError(f"{label_name} must be integer class indices")
        self.labels = labels.long().cpu().numpy()

    def inputs(self, index: np.ndarray) -> torch.Tensor:
        if self.tensor is not None:
            return self.tensor[torch.as_tensor(index)]
        items = [self.dataset[int(i)] for i in index]
        return torch.stack([it[0] if isinstance(it, (tuple, list)) else it for it in items])

    def batches(self, batch_size: int):
        for start in range(0, self.n, batch_size):
            yield self.inputs(np.arange(start, min(start + batch_size, self.n)))


def _as_int_ids(name: str, ids, n: int, default_start: int) -> np.ndarray:
    if ids is None:
        return np.arange(default_start, default_start + n, dtype=np.int64)
    arr = np.asarray(ids.cpu() if isinstance(ids, torch.Tensor) else ids)
    if arr.shape != (n,) or arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be {n} integer ids, got shape {arr.shape} dtype {arr.dtype}")
    return arr.astype(np.int64)


def _is_rank_zero() -> bool:
    dist = torch.distributed
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


class DVIWriter:
    """Logs DVI data for a fixed sample subset, once per epoch.

    Args:
        logdir: a run folder, or an existing ``torch.utils.tensorboard.SummaryWriter``
            (its log dir is used and its event file receives the small per-epoch summary).
        model: the classifier being trained.
        train_data, train_labels: the fixed training subset (tensor [N, ...] or Dataset;
            labels may come from ``(input, label)`` Dataset items).
        test_data, test_labels: optional fixed test subset.
        train_ids, test_ids: stable sample ids (default: 0..N-1, then N.. for test).
        class_names: optional names, one per class.
        thumbnails: ``True`` to derive small images from image inputs, or a uint8/float
            array [N_train + N_test, H, W(, C)] shown on hover.
        noisy: train ids (or a bool mask over the train subset) whose labels were corrupted.
        head_module / feature / head: where the representation comes from (module docstring).
        border_points: number of border points per epoch; ``"auto"`` = N_train / 10, 0 disables.
        seed: border points are reproducible for a given seed and epoch.
        batch_size: samples per eval forward pass. 128 measured fastest for the demo's CNN
            on CPU (log_epoch 1.00 s vs 1.10 s at 64 and 1.12 s at 256; 512 and more are
            slower still: activations leave the cache); raise it on a GPU.
        dtype: ``"float32"`` or ``"float16"`` for stored representations.
        on_exists: what logging an existing epoch again does: ``"error"`` (default),
            ``"replace"`` (atomic swap) or ``"skip"``.
    """

    def __init__(self, logdir, model: nn.Module, train_data, train_labels: Optional[ArrayLike] = None, *,
                 test_data=None, test_labels: Optional[ArrayLike] = None, train_ids=None, test_ids=None,
                 class_names: Optional[Sequence[str]] = None, thumbnails=None, noisy=None,
                 head_module: Optional[str] = None, feature: Optional[Callable] = None,
                 head: Optional[nn.Module] = None, border_points: Union[int, str] = "auto", seed: int = 0,
                 batch_size: int = 128, dtype: str = "float32", on_exists: str = "error"):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if on_exists not in ("error", "replace", "skip"):
            raise ValueError(f"on_exists must be 'error', 'replace' or 'skip', got {on_exists!r}")
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
        if (feature is None) != (head is None):
            raise ValueError("pass feature= and head= together (head(feature(x)) must equal the logits)")
        self._summary_writer = None
        if hasattr(logdir, "get_logdir") and hasattr(logdir, "file_writer"):
            self._summary_writer = logdir
            logdir = logdir.get_logdir()
        if not isinstance(logdir, (str, os.PathLike)):
            raise TypeError(f"logdir must be a path or a SummaryWriter, got {type(logdir).__name__}")
        self.logdir = os.fspath(logdir)
        self.model = model
        self.train = _Samples("train_data", train_data, train_labels)
        self.test = _Samples("test_data", test_data, test_labels) if test_data is not None else None
        if test_data is None and test_labels is not None:
            raise ValueError("test_labels given without test_data")
        self.n_train = self.train.n
        self.n_test = self.test.n if self.test else 0
        self.ids = np.concatenate([_as_int_ids("train_ids", train_ids, self.n_train, 0)]
                                  + ([_as_int_ids("test_ids", test_ids, self.n_test, self.n_train)] if self.test else []))
        if len(np.unique(self.ids)) != len(self.ids):
            raise ValueError("sample ids must be unique across train and test")
        self.labels = np.concatenate([self.train.labels] + ([self.test.labels] if self.test else []))
        if self.labels.min() < 0:
            raise ValueError("labels must be non-negative class indices")
        self.class_names = list(class_names) if class_names is not None else None
        self.noisy = self._noisy_mask(noisy)
        self.thumbnails = self._thumbnails(thumbnails)
        self.feature, self.head = feature, head
        self.head_module = head_module
        self._head_layer = None if feature is not None else self._find_head(model, head_module)
        if self._head_layer is not None:
            describe_head(self._head_layer)  # fail now, not at the first epoch, if it cannot be stored
        else:
            if not isinstance(head, nn.Module):
                raise TypeError("head= must be an nn.Module so that it can be stored without pickle")
            describe_head(head)
        if border_points == "auto":
            border_points = max(self.n_train // 10, 0)
        if not isinstance(border_points, int) or border_points < 0:
            raise ValueError(f"border_points must be 'auto' or a non-negative int, got {border_points!r}")
        self.border_points = border_points
        self.seed, self.batch_size, self.dtype, self.on_exists = seed, batch_size, dtype, on_exists
        self.root = storage.plugin_dir(self.logdir)
        self._static_written = False
        self._event_writer = None
        self.last_timing = {}

    # ------------------------------------------------------------------ set-up helpers
    @staticmethod
    def _find_head(model: nn.Module, name: Optional[str]) -> nn.Module:
        if name is not None:
            modules = dict(model.named_modules())
            if name not in modules:
                raise ValueError(f"model has no submodule named {name!r}")
            return modules[name]
        last = None
        for module in model.modules():
            if isinstance(module, nn.Linear):
                last = module
        if last is None:
            raise ValueError("the model has no nn.Linear layer to take as the head; pass head_module= "
                             "or feature= and head=")
        return last

    def _noisy_mask(self, noisy) -> Optional[np.ndarray]:
        if noisy is None:
            return None
        arr = np.asarray(noisy.cpu() if isinstance(noisy, torch.Tensor) else noisy)
        mask = np.zeros(self.n_train + self.n_test, dtype=bool)
        if arr.dtype == bool:
            if arr.shape not in ((self.n_train,), (len(mask),)):
                raise ValueError(f"noisy mask has shape {arr.shape}, expected ({self.n_train},)")
            mask[:len(arr)] = arr
        else:
            where = {int(i): k for k, i in enumerate(self.ids)}
            missing = [int(i) for i in arr.reshape(-1) if int(i) not in where]
            if missing:
                raise ValueError(f"noisy ids not among the logged sample ids: {missing[:5]}")
            mask[[where[int(i)] for i in arr.reshape(-1)]] = True
        return mask

    def _thumbnails(self, thumbnails) -> Optional[np.ndarray]:
        if thumbnails is None or thumbnails is False:
            return None
        n = self.n_train + self.n_test
        if thumbnails is True:
            parts = [self.train.inputs(np.arange(self.n_train))]
            if self.test:
                parts.append(self.test.inputs(np.arange(self.n_test)))
            x = torch.cat(parts).float()
            if x.dim() == 3:
                x = x.unsqueeze(1)
            if x.dim() != 4 or x.shape[1] not in (1, 3):
                raise ValueError(f"thumbnails=True needs image inputs [N, 1|3, H, W], got {tuple(x.shape)}")
            lo = x.amin(dim=(1, 2, 3), keepdim=True)
            hi = x.amax(dim=(1, 2, 3), keepdim=True)
            x = ((x - lo) / (hi - lo).clamp_min(1e-8) * 255).round().to(torch.uint8)
            arr = x.permute(0, 2, 3, 1).numpy()
            return arr[..., 0] if arr.shape[-1] == 1 else arr
        arr = np.asarray(thumbnails)
        if arr.shape[0] != n or arr.ndim not in (3, 4):
            raise ValueError(f"thumbnails has shape {arr.shape}, expected [{n}, H, W] or [{n}, H, W, C]")
        if arr.dtype != np.uint8:
            arr = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
        return arr

    # ------------------------------------------------------------------ forward passes
    def _device(self) -> torch.device:
        for p in self.model.parameters():
            return p.device
        return torch.device("cpu")

    def _forward(self, x: torch.Tensor):
        """(representations [B, D], logits [B, C], model output or None) for a batch on the device."""
        if self.feature is not None:
            reps = self.feature(x)
            return reps.flatten(1), self.head(reps.flatten(1)), None
        captured = {}

        def hook(module, args):
            captured["reps"] = args[0]

        handle = self._head_layer.register_forward_pre_hook(hook)
        try:
            out = self.model(x)
        finally:
            handle.remove()
        if "reps" not in captured:
            raise RuntimeError("the head layer was not called during the model's forward pass; "
                               "pass head_module= or feature= and head=")
        reps = captured["reps"].flatten(1)
        return reps, self._head_layer(reps), out

    def _check_contract(self, logits: torch.Tensor, out) -> None:
        """head(representation) must predict what the model predicts."""
        if out is None or not isinstance(out, torch.Tensor) or out.shape[:1] != logits.shape[:1] or out.dim() != 2:
            return
        agree = (out.argmax(1) == logits.argmax(1)).float().mean().item()
        if out.shape != logits.shape or agree < 0.99:
            raise ValueError(f"head(representation) does not reproduce the model's predictions "
                             f"(agreement {agree:.0%}): the layer taken as the head is not the model's last "
                             "step. Pass head_module= the submodule that maps the representation to the "
                             "logits, or feature= and head=")

    # ------------------------------------------------------------------ logging
    def log_epoch(self, epoch: int, step: Optional[int] = None) -> Optional[str]:
        """Log one epoch; returns the epoch folder (None on non-zero ranks or when skipped)."""
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise ValueError(f"epoch must be a non-negative int, got {epoch!r}")
        if not _is_rank_zero():
            return None
        # A folder locally, a committed epoch on object stores (nothing is downloaded to know).
        exists = storage.folder_exists(os.path.join(self.root, md.EPOCHS_DIR), md.epoch_dir_name(epoch))
        if exists and self.on_exists == "skip":
            return None
        if exists and self.on_exists == "error":
            raise storage.EpochExistsError(
                f"epoch {epoch} is already logged in {self.logdir}; create the writer with "
                "on_exists='replace' to overwrite it or 'skip' to keep it")
        t0 = time.perf_counter()
        was_training = self.model.training
        self.model.eval()
        try:
            reps, logits, border = self._compute(epoch)
        finally:
            self.model.train(was_training)
        t1 = time.perf_counter()
        self._write_static(dim=int(reps.shape[1]), num_classes=int(logits.shape[1]))
        head = self._head_layer if self._head_layer is not None else self.head
        float_t = np.float16 if self.dtype == "float16" else np.float32
        predictions = logits.argmax(1)
        info = {"epoch": epoch, "step": int(step if step is not None else epoch), "uid": uuid.uuid4().hex,
                "time": time.time(), "n": int(len(reps)), "dim": int(reps.shape[1]),
                "num_classes": int(logits.shape[1]), "n_border": int(border.representations.shape[0]),
                "border_requested": self.border_points, "border_attempted": int(border.attempted),
                "dtype": self.dtype, "seed": self.seed,
                "train_accuracy": float((predictions[:self.n_train] == self.labels[:self.n_train]).mean())}
        if self.n_test:
            info["test_accuracy"] = float((predictions[self.n_train:] == self.labels[self.n_train:]).mean())
        if self.border_points and info["n_border"] < self.border_points // 2:
            warnings.warn(f"epoch {epoch}: only {info['n_border']} of {self.border_points} border points "
                          "were found (the model may predict too few classes yet)", stacklevel=2)
        bdim = border.representations.shape[1] if border.representations.numel() else reps.shape[1]
        arrays = {md.REPRESENTATIONS_FILE: reps.astype(float_t), md.LOGITS_FILE: logits.astype(np.float32),
                  md.PREDICTIONS_FILE: predictions.astype(np.int64),
                  md.BORDER_FILE: border.representations.numpy().reshape(-1, bdim).astype(float_t)}
        folder = storage.write_folder(os.path.join(self.root, md.EPOCHS_DIR), md.epoch_dir_name(epoch),
                                      arrays, {md.EPOCH_FILE: info}, replace=self.on_exists == "replace",
                                      extra_files=head_files(head))
        self._write_summary(epoch if step is None else step, info)
        self.last_timing = {"compute_s": t1 - t0, "write_s": time.perf_counter() - t1}
        return folder

    @torch.no_grad()
    def _compute(self, epoch: int):
        device = self._device()
        reps_parts, logit_parts = [], []
        checked = False
        for subset in [self.train] + ([self.test] if self.test else []):
            for x in subset.batches(self.batch_size):
                reps, logits, out = self._forward(x.to(device))
                if not checked:
                    self._check_contract(logits, out)
                    checked = True
                reps_parts.append(reps.float().cpu())
                logit_parts.append(logits.float().cpu())
        reps = torch.cat(reps_parts).numpy()
        logits = torch.cat(logit_parts).numpy()
        if not np.isfinite(reps).all() or not np.isfinite(logits).all():
            raise ValueError(f"epoch {epoch}: the model produced NaN or inf representations/logits")
        if self.class_names is not None and logits.shape[1] != len(self.class_names):
            raise ValueError(f"class_names has {len(self.class_names)} names but the head outputs "
                             f"{logits.shape[1]} logits")
        if self.labels.max() >= logits.shape[1]:
            raise ValueError(f"label {int(self.labels.max())} is out of range for a head with "
                             f"{logits.shape[1]} outputs")
        n = self.n_train

        def forward(x):
            r, lg, _ = self._forward(x)
            return r, lg

        border = find_border_points(forward, lambda idx: self.train.inputs(idx).to(device),
                                    logits[:n].argmax(1), logits[:n], self.border_points,
                                    seed=self.seed * 1_000_003 + epoch, batch_size=self.batch_size)
        return reps, logits, border

    def _write_static(self, dim: int, num_classes: int) -> None:
        if self._static_written:
            return
        split = np.concatenate([np.full(self.n_train, md.SPLIT_TRAIN, np.uint8),
                                np.full(self.n_test, md.SPLIT_TEST, np.uint8)])
        if storage.folder_exists(self.root, md.STATIC_DIR):
            existing = storage.RunReader(self.logdir)
            st = existing.static()
            if not (np.array_equal(st.ids, self.ids) and np.array_equal(st.labels, self.labels)
                    and np.array_equal(st.split, split)):
                raise ValueError(f"{self.logdir} already holds DVI data for a different sample subset "
                                 "(ids, labels or split differ); log to a new run folder")
            self._static_written = True
            return
        names = self.class_names or [str(c) for c in range(num_classes)]
        meta = {"format_version": md.FORMAT_VERSION, "n_train": self.n_train, "n_test": self.n_test,
                "num_classes": num_classes, "class_names": [str(s) for s in names], "dim": dim,
                "has_noisy": self.noisy is not None, "has_thumbnails": self.thumbnails is not None,
                "dtype": self.dtype, "created": time.time(), "writer": "tensorboard_dvi.DVIWriter"}
        arrays = {md.IDS_FILE: self.ids, md.LABELS_FILE: self.labels, md.SPLIT_FILE: split}
        if self.noisy is not None:
            arrays[md.NOISY_FILE] = self.noisy
        if self.thumbnails is not None:
            arrays[md.THUMBNAILS_FILE] = self.thumbnails
        try:
            storage.write_folder(self.root, md.STATIC_DIR, arrays, {md.META_FILE: meta})
        except storage.EpochExistsError:
            pass  # another process wrote it first; checked on the next call
        self._static_written = True

    def _write_summary(self, step: int, info: dict) -> None:
        """One small TENSOR summary per epoch, so TensorBoard enables the tab."""
        from tensorboard.compat.proto.summary_pb2 import DATA_CLASS_TENSOR, Summary, SummaryMetadata
        from tensorboard.util import tensor_util

        meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
            plugin_name=md.PLUGIN_NAME, content=json.dumps({"version": md.FORMAT_VERSION}).encode()),
            data_class=DATA_CLASS_TENSOR)
        summary = Summary(value=[Summary.Value(
            tag="dvi/epoch", metadata=meta,
            tensor=tensor_util.make_tensor_proto(np.array(info["epoch"], dtype=np.int64)))])
        writer = self._summary_writer
        if writer is None:
            if self._event_writer is None:
                from torch.utils.tensorboard import SummaryWriter
                self._event_writer = SummaryWriter(self.logdir)
            writer = self._event_writer
        writer.file_writer.add_summary(summary, global_step=step)
        writer.flush()

    def close(self) -> None:
        if self._event_writer is not None:
            self._event_writer.close()
            self._event_writer = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
