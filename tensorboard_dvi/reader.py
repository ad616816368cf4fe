"""The one reader of the on-disk format (docs/FORMAT.md); the writing half is storage.py.

Arrays are ``.npy`` files read with ``allow_pickle=False`` (memory-mapped where
large), metadata is JSON: nothing in a logdir is ever unpickled. The reader
tolerates a run that is still being written (temporary folders are skipped)
and keeps damage local: one damaged epoch raises :class:`DamagedEpochError`,
the others stay readable. Import through :mod:`tensorboard_dvi.storage`, which
re-exports everything here.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from typing import Dict, List, Optional

import numpy as np

from . import metadata as md
from .safe_read import (MAX_CLASSES, MAX_DIM, MAX_JSON_BYTES, MAX_LOGIT_ELEMENTS, MAX_SAMPLES,  # noqa: F401
                        REL_ROOT, FormatError, _reason, check_meta, check_regular, read_json)


class DamagedEpochError(FormatError):
    """One epoch's files are missing or inconsistent; other epochs are unaffected."""

    def __init__(self, epoch: int, reason: str):
        super().__init__(f"epoch {epoch} is damaged: {reason}")
        self.epoch = epoch
        self.reason = reason


def plugin_dir(run_path: str) -> str:
    return os.path.join(run_path, *md.PLUGIN_DIR)


@dataclass
class StaticData:
    ids: np.ndarray      # int64 [N]
    labels: np.ndarray   # int64 [N]
    split: np.ndarray    # uint8 [N]: 0 train, 1 test; train rows first
    noisy: Optional[np.ndarray]  # bool [N] or None

    @property
    def n_train(self) -> int:
        return int(np.count_nonzero(self.split == md.SPLIT_TRAIN))


def _load_npy(path: str, mmap: bool = False, rel: str = "", exc=None) -> np.ndarray:
    """An .npy file (never unpickled); only a regular file is opened (a FIFO would block)."""
    check_regular(path, rel or os.path.basename(path), exc)
    return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)


def _outside(path: str, confine: Optional[str]) -> bool:
    """Whether ``path`` resolves (symlinks followed) outside the real folder ``confine``."""
    if not confine:
        return False
    real = os.path.realpath(path)
    return not (real == confine or real.startswith(confine.rstrip(os.sep) + os.sep))


class EpochData:
    """One logged epoch. Arrays load lazily (memory-mapped) on first access."""

    def __init__(self, folder: str, epoch: int, info: dict, n: int, dim: int, num_classes: int,
                 confine: Optional[str] = None):
        self.folder = folder
        self._confine = confine
        self.epoch = epoch
        self.info = info
        self.uid: str = info["uid"]
        self._n, self._dim, self._c = n, dim, num_classes
        self._cache: Dict[str, np.ndarray] = {}

    def _array(self, fname: str, shape, kinds: str, mmap: bool = True) -> np.ndarray:
        if fname not in self._cache:
            path = os.path.join(self.folder, fname)
            if _outside(path, self._confine):
                raise DamagedEpochError(self.epoch, f"{fname} is a link out of the logdir")
            try:
                arr = _load_npy(path, mmap=mmap, rel=fname)
            except FileNotFoundError:
                raise DamagedEpochError(self.epoch, f"{fname} is missing") from None
            except FormatError as e:
                raise DamagedEpochError(self.epoch, str(e)) from None
            except (ValueError, OSError, EOFError, MemoryError) as e:
                raise DamagedEpochError(self.epoch, f"{fname} is unreadable ({_reason(e)[:200]})") from None
            if arr.dtype.kind not in kinds:
                raise DamagedEpochError(self.epoch, f"{fname} has dtype {arr.dtype}")
            if tuple(arr.shape) != tuple(d if d is not None else arr.shape[i] for i, d in enumerate(shape)) \
                    or arr.ndim != len(shape):
                raise DamagedEpochError(self.epoch, f"{fname} has shape {tuple(arr.shape)}, expected "
                                        + str(tuple("*" if d is None else d for d in shape)))
            self._cache[fname] = arr
        return self._cache[fname]

    @property
    def representations_raw(self) -> np.ndarray:
        """As stored (float32 or float16), memory-mapped."""
        return self._array(md.REPRESENTATIONS_FILE, (self._n, self._dim), "f")

    @property
    def representations(self) -> np.ndarray:
        return np.array(self.representations_raw, dtype=np.float32)

    @property
    def logits(self) -> np.ndarray:
        return np.array(self.logits_raw, dtype=np.float32)

    @property
    def logits_raw(self) -> np.ndarray:
        """As stored, memory-mapped: index rows of it instead of copying all of them."""
        return self._array(md.LOGITS_FILE, (self._n, self._c), "f")

    def logits_rows(self, rows) -> np.ndarray:
        """float32 logits of the given rows only (a slice or index array)."""
        return np.array(self.logits_raw[rows], dtype=np.float32)

    @property
    def predictions(self) -> np.ndarray:
        return np.array(self._array(md.PREDICTIONS_FILE, (self._n,), "iu"), dtype=np.int64)

    @property
    def border(self) -> np.ndarray:
        return np.array(self._array(md.BORDER_FILE, (None, self._dim), "f"), dtype=np.float32)

    def _check_head_links(self) -> None:
        for fname in (md.HEAD_SPEC_FILE, md.HEAD_WEIGHTS_FILE):
            if _outside(os.path.join(self.folder, fname), self._confine):
                raise DamagedEpochError(self.epoch, f"head: {fname} is a link out of the logdir")

    def head_module(self):
        """The logged classifier head as an eval-mode float32 torch module (its declared sizes
        are checked against the representation width and a limit before anything is allocated)."""
        from .heads import load_head
        self._check_head_links()
        try:
            return load_head(self.folder, in_dim=self._dim, num_classes=self._c)
        except (FileNotFoundError, ValueError, KeyError, OSError, RecursionError) as e:
            raise DamagedEpochError(self.epoch, f"head: {_reason(e) if isinstance(e, OSError) else e}") from None

    def validate(self) -> None:
        """Touch every file once; raises DamagedEpochError with the reason."""
        for fname, shape, kinds in ((md.REPRESENTATIONS_FILE, (self._n, self._dim), "f"),
                                    (md.LOGITS_FILE, (self._n, self._c), "f"),
                                    (md.PREDICTIONS_FILE, (self._n,), "iu"),
                                    (md.BORDER_FILE, (None, self._dim), "f")):
            self._array(fname, shape, kinds)
        from .heads import check_head_files
        self._check_head_links()
        try:
            check_head_files(self.folder, in_dim=self._dim, num_classes=self._c)
        except (FileNotFoundError, ValueError, KeyError, OSError, RecursionError) as e:
            raise DamagedEpochError(self.epoch, f"head: {_reason(e) if isinstance(e, OSError) else e}") from None


class RunReader:
    """Reads one run's DVI data; tolerates a run that is still being written.

    ``confine`` (the plugin passes the logdir): every file read must resolve inside that
    folder; a symlink out of it makes the file unreadable (FormatError / DamagedEpochError).
    """

    def __init__(self, run_path: str, confine: Optional[str] = None):
        self.run_path = run_path
        self.root = plugin_dir(run_path)
        self.confine = os.path.realpath(confine) if confine else None
        self._meta: Optional[dict] = None
        self._static: Optional[StaticData] = None

    def exists(self) -> bool:
        try:
            return stat.S_ISREG(os.stat(os.path.join(self.root, md.STATIC_DIR, md.META_FILE)).st_mode)
        except OSError:
            return False

    @property
    def meta(self) -> dict:
        if self._meta is None:
            path = os.path.join(self.root, md.STATIC_DIR, md.META_FILE)
            rel = f"{REL_ROOT}/{md.STATIC_DIR}/{md.META_FILE}"
            if _outside(path, self.confine):
                raise FormatError(f"{rel} is a link out of the logdir")
            try:
                meta = read_json(path, rel)
            except FileNotFoundError:
                raise FormatError(f"the run has no DVI data (missing {rel})") from None
            self._meta = check_meta(meta, rel)
        return self._meta

    def static(self) -> StaticData:
        if self._static is None:
            folder = os.path.join(self.root, md.STATIC_DIR)
            n = self.meta["n_train"] + self.meta["n_test"]

            def load(fname, kinds):
                rel = f"{md.STATIC_DIR}/{fname}"
                if _outside(os.path.join(folder, fname), self.confine):
                    raise FormatError(f"{rel} is a link out of the logdir")
                try:
                    arr = _load_npy(os.path.join(folder, fname), rel=rel)
                except FormatError:
                    raise
                except (ValueError, OSError, EOFError, MemoryError) as e:
                    raise FormatError(f"{rel} is unreadable: {_reason(e)[:200]}") from None
                if arr.shape != (n,) or arr.dtype.kind not in kinds:
                    raise FormatError(f"{md.STATIC_DIR}/{fname} has shape {arr.shape} and dtype "
                                      f"{arr.dtype}, expected ({n},)")
                return arr

            noisy = load(md.NOISY_FILE, "b").astype(bool) if self.meta.get("has_noisy") else None
            self._static = StaticData(ids=load(md.IDS_FILE, "iu").astype(np.int64),
                                      labels=load(md.LABELS_FILE, "iu").astype(np.int64),
                                      split=load(md.SPLIT_FILE, "u").astype(np.uint8), noisy=noisy)
        return self._static

    def thumbnails(self) -> Optional[np.ndarray]:
        """uint8 [N, H, W] or [N, H, W, C], memory-mapped; None when not logged."""
        if not self.meta.get("has_thumbnails"):
            return None
        path = os.path.join(self.root, md.STATIC_DIR, md.THUMBNAILS_FILE)
        if _outside(path, self.confine):
            raise FormatError(f"{md.STATIC_DIR}/{md.THUMBNAILS_FILE} is a link out of the logdir")
        rel = f"{md.STATIC_DIR}/{md.THUMBNAILS_FILE}"
        try:
            arr = _load_npy(path, mmap=True, rel=rel)
        except FormatError:
            raise
        except (ValueError, OSError, EOFError) as e:
            raise FormatError(f"{rel} is unreadable: {_reason(e)[:200]}") from None
        if arr.dtype != np.uint8 or arr.ndim not in (3, 4) or arr.shape[0] != self.meta["n_train"] + self.meta["n_test"]:
            raise FormatError(f"{md.STATIC_DIR}/{md.THUMBNAILS_FILE} has shape {arr.shape} dtype {arr.dtype}")
        return arr

    def epoch_names(self) -> Dict[int, str]:
        """{epoch: folder name} of complete-looking epoch folders; temporary folders are skipped.
        Of several spellings of one epoch (``epoch-1``, ``epoch-000001``) the canonical one wins,
        else the first in name order, so an epoch is listed once."""
        folder = os.path.join(self.root, md.EPOCHS_DIR)
        if _outside(folder, self.confine):
            return {}
        found: Dict[int, str] = {}
        try:
            with os.scandir(folder) as it:
                entries = sorted((d.name, d.is_dir()) for d in it)
        except OSError:  # missing, a regular file (NotADirectoryError), unreadable
            return {}
        for name, is_dir in entries:
            e = md.parse_epoch_dir_name(name)
            if e is None or not is_dir:
                continue
            if e not in found or name == md.epoch_dir_name(e):
                found[e] = name
        return found

    def epochs(self) -> List[int]:
        """Complete epochs, sorted; temporary folders of a writer at work are skipped."""
        return sorted(self.epoch_names())

    def epoch_path(self, epoch: int) -> str:
        canonical = os.path.join(self.root, md.EPOCHS_DIR, md.epoch_dir_name(epoch))
        if os.path.isdir(canonical):
            return canonical
        name = self.epoch_names().get(epoch)
        return os.path.join(self.root, md.EPOCHS_DIR, name) if name else canonical

    def epoch(self, epoch: int) -> EpochData:
        folder = self.epoch_path(epoch)
        if not os.path.isdir(folder):
            raise KeyError(f"epoch {epoch} has not been logged")
        if _outside(os.path.join(folder, md.EPOCH_FILE), self.confine):
            raise DamagedEpochError(epoch, "the epoch folder or its epoch.json is a link out of the logdir")
        try:
            info = read_json(os.path.join(folder, md.EPOCH_FILE), md.EPOCH_FILE, max_bytes=1 << 20)
        except FileNotFoundError:
            raise DamagedEpochError(epoch, f"{md.EPOCH_FILE} is missing") from None
        except FormatError as e:
            raise DamagedEpochError(epoch, str(e)) from None
        if not isinstance(info, dict) or not isinstance(info.get("uid"), str) or info.get("epoch") != epoch:
            raise DamagedEpochError(epoch, f"{md.EPOCH_FILE} does not describe epoch {epoch}")
        meta = self.meta
        return EpochData(folder, epoch, info, meta["n_train"] + meta["n_test"], meta["dim"], meta["num_classes"],
                         confine=self.confine)

    def damaged(self) -> Dict[int, str]:
        """Reasons for every damaged epoch (reads each epoch's headers once)."""
        out = {}
        for e in self.epochs():
            try:
                self.epoch(e).validate()
            except DamagedEpochError as err:
                out[e] = err.reason
        return out


    # Optional per-sample extras (docs/FORMAT.md; checks in static_extras.py); None when not logged.
    def texts(self) -> Optional[List[str]]:
        from . import static_extras
        return static_extras.texts(self)

    def feature_names(self) -> Optional[List[str]]:
        from . import static_extras
        return static_extras.feature_names(self)

    def features(self) -> Optional[np.ndarray]:
        from . import static_extras
        return static_extras.features(self)

    def metadata_columns(self) -> Optional[Dict[str, list]]:
        from . import static_extras
        return static_extras.metadata_columns(self)


def list_runs(logdir: str) -> List[str]:
    """Run names (relative, '/'-separated; '.' for the logdir itself) that hold DVI data.

    Symlinked folders are not followed, so a run cannot point out of the logdir.
    """
    runs = []
    logdir = os.path.abspath(logdir)
    for dirpath, dirnames, _ in os.walk(logdir, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        meta = os.path.join(dirpath, *md.PLUGIN_DIR, md.STATIC_DIR, md.META_FILE)
        if os.path.exists(meta) and not os.path.isdir(meta):  # a FIFO too: listed, reported damaged
            rel = os.path.relpath(dirpath, logdir)
            runs.append(rel.replace(os.sep, "/"))
        if os.path.basename(dirpath) == "plugins":
            dirnames[:] = []
    return sorted(runs)
