"""The training-side writer: a few lines in a training loop log what DVI needs.

``DVIWriter.log_epoch(epoch)`` runs the model in eval mode over a fixed sample
subset and writes, atomically, the representations, logits, predictions, the
classifier head and border points of that epoch (docs/FORMAT.md).

Pieces: ``inputs`` (batches as models take them), ``capture`` (which module runs,
which is the head), ``mixing`` (where border points mix), ``sample_info``
(thumbnails, texts, features, metadata), ``run_files`` (static folder, summary).
Everything that can be checked is checked when the writer is built, with a dry
run on two samples, so a mistake fails before an epoch of training, not after.
"""

from __future__ import annotations

import contextlib
import operator
import os
import time
import uuid
import warnings
from typing import Callable, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn as nn

from . import inputs as inp
from . import metadata as md
from . import mixing, run_files, sample_info, storage
from .border import find_border_points
from .capture import Capture, unwrap
from .heads import describe_head, head_files

ArrayLike = Union[torch.Tensor, np.ndarray, Sequence]


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


def as_epoch(epoch) -> int:
    """An epoch number from an int, a numpy integer or a one-element integer tensor."""
    if isinstance(epoch, bool) or isinstance(epoch, float) or (
            isinstance(epoch, torch.Tensor) and (epoch.numel() != 1 or torch.is_floating_point(epoch))):
        raise ValueError(f"epoch must be an integer >= 0, got {epoch!r}")
    try:
        value = operator.index(epoch.reshape(()) if isinstance(epoch, torch.Tensor) else epoch)
    except TypeError:
        raise ValueError(f"epoch must be an integer >= 0, got {type(epoch).__name__} {epoch!r}") from None
    if value < 0:
        raise ValueError(f"epoch must be an integer >= 0, got {value}")
    return value


class DVIWriter:
    """Logs DVI data for a fixed sample subset, once per epoch.

    Args:
        logdir: a run folder, or an existing ``torch.utils.tensorboard.SummaryWriter``
            (its log dir is used and its event file receives the small per-epoch summary).
        model: the classifier being trained (DDP/DataParallel/``torch.compile`` wrappers are
            looked through: logging passes run the inner module, outside any collective).
        train_data, train_labels: the fixed training subset: a tensor/array [N, ...], a dict of
            them (e.g. a tokenizer's output) or a tuple of them (several positional inputs), or a
            sized Dataset whose items are ``x``, ``(x, label)``, ``(x1, .., xk, label)`` or dicts
            (label under "labels"/"label"). Integer inputs stay integer.
        test_data, test_labels: optional fixed test subset, same forms.
        collate_fn: for Datasets whose items are not tensors (list of items -> model inputs).
        train_ids, test_ids: stable sample ids (default: 0..N-1, then N.. for test).
        class_names: optional names, one per class.
        thumbnails: ``True`` to derive small images from image inputs, or a uint8/float
            array [N_train + N_test, H, W(, C)] shown on hover.
        texts: one string per logged sample (train then test), shown and searchable in the tab.
        feature_names: names of the columns of tabular inputs; their values are stored too.
        metadata: ``{"column": [one str/number/None per logged sample]}``.
        noisy: train ids (or a bool mask over the train subset) whose labels were corrupted.
        head_module / feature / head: where the representation comes from (README).
        border_points: number of border points per epoch; ``"auto"`` = N_train / 10, 0 disables.
        border_space: where border points mix two samples: ``"auto"`` (inputs if all floating,
            else the input embedding's output, else representations), ``"input"``,
            ``"embedding:<module name>"`` or ``"representation"`` (see tensorboard_dvi.mixing).
        seed: border points are reproducible for a given seed and epoch.
        batch_size: samples per eval forward pass. 128 measured fastest for the demo's CNN
            on CPU (log_epoch 1.00 s vs 1.10 s at 64 and 1.12 s at 256); raise it on a GPU.
        autocast: ``None``, ``"bfloat16"`` or ``"float16"``: run logging passes under
            ``torch.autocast`` (representations are still stored as ``dtype``).
        dtype: ``"float32"`` or ``"float16"`` for stored representations.
        on_exists: ``"new"`` (default): the run must not hold logged epochs yet, checked when the
            writer is built (a rerun fails before training, not after an epoch); ``"error"``: add
            epochs to a run (resuming), logging an epoch that exists raises; ``"replace"`` (atomic
            swap) or ``"skip"`` (keep the logged one).
    """

    def __init__(self, logdir, model: nn.Module, train_data, train_labels: Optional[ArrayLike] = None, *,
                 test_data=None, test_labels: Optional[ArrayLike] = None, collate_fn: Optional[Callable] = None,
                 train_ids=None, test_ids=None, class_names: Optional[Sequence[str]] = None, thumbnails=None,
                 texts: Optional[Sequence[str]] = None, feature_names: Optional[Sequence[str]] = None,
                 metadata: Optional[dict] = None, noisy=None, head_module: Optional[str] = None,
                 feature: Optional[Callable] = None, head: Optional[nn.Module] = None,
                 border_points: Union[int, str] = "auto", border_space: str = "auto", seed: int = 0,
                 batch_size: int = 128, autocast: Optional[str] = None, dtype: str = "float32",
                 on_exists: str = "new"):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        if on_exists not in ("new", "error", "replace", "skip"):
            raise ValueError(f"on_exists must be 'new', 'error', 'replace' or 'skip', got {on_exists!r}")
        if dtype not in ("float32", "float16"):
            raise ValueError(f"dtype must be 'float32' or 'float16', got {dtype!r}")
        if autocast not in (None, "bfloat16", "float16", torch.bfloat16, torch.float16):
            raise ValueError(f"autocast must be None, 'bfloat16' or 'float16', got {autocast!r}")
        if (feature is None) != (head is None):
            raise ValueError("pass feature= and head= together (head(feature(x)) must equal the logits)")
        if head is not None and not isinstance(head, nn.Module):
            raise TypeError("head= must be an nn.Module so that it can be stored without pickle")
        self._summary_writer = None
        if hasattr(logdir, "get_logdir") and hasattr(logdir, "file_writer"):
            self._summary_writer = logdir
            logdir = logdir.get_logdir()
        if not isinstance(logdir, (str, os.PathLike)):
            raise TypeError(f"logdir must be a path or a SummaryWriter, got {type(logdir).__name__}")
        self.logdir = os.fspath(logdir)
        self.model = unwrap(model)
        if test_data is None and test_labels is not None:
            raise ValueError("test_labels given without test_data")
        self.train = inp.Samples("train_data", train_data, train_labels, collate_fn)
        self.test = inp.Samples("test_data", test_data, test_labels, collate_fn) if test_data is not None else None
        subsets = [self.train] + ([self.test] if self.test else [])
        self.n_train = self.train.n
        self.n_test = self.test.n if self.test else 0
        n = self.n_train + self.n_test
        self.ids = np.concatenate([_as_int_ids("train_ids", train_ids, self.n_train, 0)]
                                  + ([_as_int_ids("test_ids", test_ids, self.n_test, self.n_train)] if self.test else []))
        if len(np.unique(self.ids)) != len(self.ids):
            raise ValueError("sample ids must be unique across train and test")
        self.labels = np.concatenate([s.labels for s in subsets])
        self.class_names = list(class_names) if class_names is not None else None
        self.noisy = sample_info.noisy_mask(noisy, self.ids, self.n_train)
        self.thumbnails = sample_info.thumbnails(thumbnails, subsets, n)
        self.texts = sample_info.texts(texts, n)
        self.feature_names, self.features = sample_info.features(feature_names, subsets, n)
        self.metadata = sample_info.metadata(metadata, n)
        self.autocast = {"bfloat16": torch.bfloat16, "float16": torch.float16}.get(autocast, autocast)
        self.capture = Capture(self.model, head_module, feature, head)
        if border_points == "auto":
            border_points = max(self.n_train // 10, 0)
        if not isinstance(border_points, int) or border_points < 0:
            raise ValueError(f"border_points must be 'auto' or a non-negative int, got {border_points!r}")
        self.border_points = border_points
        self.seed, self.batch_size, self.dtype, self.on_exists = seed, batch_size, dtype, on_exists
        self.num_classes = self._dry_run()
        self.border_space = mixing.choose(border_space, self.train.float_only(), self.capture.embedding_name,
                                          feature is not None)
        if self.border_space.startswith("embedding:"):
            mixing.EmbeddingSpace(self.model, self.border_space[len("embedding:"):], None, None)  # name check
        self.root = storage.plugin_dir(self.logdir)
        self._check_existing()
        self._static_written = False
        self._own_summary = {}
        self._last_epoch = None
        self.last_timing = {}

    # ------------------------------------------------------------------ set-up checks
    @property
    def head(self) -> nn.Module:
        return self.capture.head

    def _dry_run(self) -> int:
        """Run two training samples now: head, call signature, label range and contract fail here."""
        x = self._to_device(self.train.inputs(np.arange(min(2, self.n_train))))
        with self._eval():
            self.capture.probe(x)
            describe_head(self.capture.head)  # fail now, not at the first epoch, if it cannot be stored
            _, logits, out = self.capture.forward(x)
        self.capture.check(logits, out)
        num_classes = int(logits.shape[1])
        if self.labels.max() >= num_classes:
            raise ValueError(f"label {int(self.labels.max())} is out of range for a head with {num_classes} outputs "
                             "(labels must be class indices 0..C-1)")
        if self.class_names is not None and len(self.class_names) != num_classes:
            raise ValueError(f"class_names has {len(self.class_names)} names but the head outputs "
                             f"{num_classes} logits")
        return num_classes

    def _check_existing(self) -> None:
        if self.on_exists != "new" or not _is_rank_zero():
            return
        logged = storage.RunReader(self.logdir).epochs()
        if logged:
            raise storage.EpochExistsError(
                f"{self.logdir} already holds logged epochs {logged[0]}..{logged[-1]}; log to a new run folder, "
                "or pass on_exists='error' to add epochs to it (resuming; an epoch that exists still raises), "
                "'skip' to keep the logged epochs or 'replace' to overwrite them")

    # ------------------------------------------------------------------ forward passes
    def _device(self) -> torch.device:
        for p in self.model.parameters():
            return p.device
        return torch.device("cpu")

    def _to_device(self, x):
        params = [p for p in self.model.parameters() if torch.is_floating_point(p)]
        float_dtype = params[0].dtype if params and self.autocast is None else None
        channels_last = any(p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last)
                            and not p.is_contiguous() for p in params)
        return inp.to_device(x, self._device(), float_dtype, channels_last)

    @contextlib.contextmanager
    def _eval(self):
        was_training = self.model.training
        self.model.eval()
        amp = (torch.autocast(self._device().type, dtype=self.autocast) if self.autocast is not None
               else contextlib.nullcontext())
        try:
            with torch.no_grad(), amp:
                yield
        finally:
            self.model.train(was_training)

    # ------------------------------------------------------------------ logging
    def log_epoch(self, epoch, step: Optional[int] = None) -> Optional[str]:
        """Log one epoch; returns the epoch folder (None on non-zero ranks or when skipped).

        ``epoch`` may be an int, a numpy integer or an integer tensor; epoch 0 is the
        model before training.
        """
        epoch = as_epoch(epoch)
        step = epoch if step is None else as_epoch(step)
        if not _is_rank_zero():
            return None
        reader = storage.RunReader(self.logdir)
        # A folder locally, a committed epoch on object stores (nothing is downloaded to know).
        exists = storage.folder_exists(os.path.join(self.root, md.EPOCHS_DIR), md.epoch_dir_name(epoch))
        if exists and self.on_exists == "skip":
            return None
        if exists and self.on_exists in ("new", "error"):
            raise storage.EpochExistsError(
                f"epoch {epoch} is already logged in {self.logdir}; create the writer with "
                "on_exists='replace' to overwrite it or 'skip' to keep it")
        later = [e for e in reader.epochs() if e > epoch]
        if later:
            warnings.warn(f"logging epoch {epoch} after epoch {later[-1]}: the tab orders epochs by number, so "
                          "this one is shown before it (pass the true epoch number)", stacklevel=2)
        t0 = time.perf_counter()
        with self._eval():
            reps, logits, border = self._compute(epoch)
        t1 = time.perf_counter()
        head = self.capture.head
        self._write_static(int(reps.shape[1]), int(logits.shape[1]), describe_head(head)[0])
        float_t = np.float16 if self.dtype == "float16" else np.float32
        predictions = logits.argmax(1)
        info = {"epoch": epoch, "step": step, "uid": uuid.uuid4().hex,
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
        run_files.write_summary(self._summary_writer, self.logdir, self._own_summary, step, epoch)
        self.last_timing = {"compute_s": t1 - t0, "write_s": time.perf_counter() - t1}
        return folder

    def _compute(self, epoch: int):
        reps_parts, logit_parts = [], []
        for subset in [self.train] + ([self.test] if self.test else []):
            for x in subset.batches(self.batch_size):
                reps, logits, out = self.capture.forward(self._to_device(x))
                if not reps_parts:
                    self.capture.check(logits, out)
                reps_parts.append(reps.float().cpu())
                logit_parts.append(logits.float().cpu())
        reps = torch.cat(reps_parts).numpy()
        logits = torch.cat(logit_parts).numpy()
        if not np.isfinite(reps).all() or not np.isfinite(logits).all():
            raise ValueError(f"epoch {epoch}: the model produced NaN or inf representations/logits")
        n = self.n_train
        space = self._space(reps[:n])
        border = find_border_points(space.forward, space.get, logits[:n].argmax(1), logits[:n], self.border_points,
                                    seed=self.seed * 1_000_003 + epoch, batch_size=self.batch_size, mix=space.mix)
        return reps, logits, border

    def _space(self, train_reps: np.ndarray):
        def get(idx):
            return self._to_device(self.train.inputs(idx))

        if self.border_space == "input":
            return mixing.InputSpace(get, self.capture.forward)
        if self.border_space == "representation":
            p = next((p for p in self.capture.head.parameters() if torch.is_floating_point(p)), None)
            return mixing.RepresentationSpace(train_reps, self.capture.head, self._device(),
                                              torch.float32 if p is None or self.autocast else p.dtype)
        return mixing.EmbeddingSpace(self.model, self.border_space[len("embedding:"):], get, self.capture.forward)

    def _write_static(self, dim: int, num_classes: int, head_spec: dict) -> None:
        if self._static_written:
            return
        if storage.RunReader(self.logdir).exists():
            run_files.check_same_model(self.logdir, dim, num_classes, head_spec)
        names = self.class_names or [str(c) for c in range(num_classes)]
        meta = {"num_classes": num_classes, "class_names": [str(s) for s in names], "dim": dim,
                "has_noisy": self.noisy is not None, "has_thumbnails": self.thumbnails is not None,
                "dtype": self.dtype, "border_space": self.border_space, "has_texts": self.texts is not None,
                "has_features": self.features is not None,
                "metadata_columns": list(self.metadata["columns"]) if self.metadata else []}
        run_files.write_static(
            self.logdir, self.root, ids=self.ids, labels=self.labels, n_train=self.n_train, n_test=self.n_test,
            meta_extra=meta, arrays={md.NOISY_FILE: self.noisy, md.THUMBNAILS_FILE: self.thumbnails,
                                     md.FEATURES_FILE: self.features},
            jsons={md.TEXTS_FILE: self.texts, md.FEATURE_NAMES_FILE: self.feature_names,
                   md.METADATA_FILE: self.metadata})
        self._static_written = True

    def close(self) -> None:
        if self._own_summary.get("writer") is not None:
            self._own_summary.pop("writer").close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
