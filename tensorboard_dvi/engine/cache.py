"""Derived results of the engine, one folder per fitted epoch (read by the plugin).

Import-light on purpose: numpy and the standard library only, because the
plugin imports this module in its request threads. Reads are small: arrays are
memory-mapped, so serving one epoch never loads the others.

Layout (``cache_dir`` is given by the caller, see :func:`default_cache_dir`)::

    cache_dir/epochs/epoch-000003/
        epoch.json            input uid, chain predecessor, config hash, timings, knn_search (which self-kNN search ran)
        embedding.npy         float32 N x 2, storage order (train rows, then test)
        background.png        decision regions, row 0 = y_max
        background.json       {"bounds": [x_min, y_min, x_max, y_max], "resolution": R}
        grid_classes.npy      uint8 (or int16 for > 255 classes) R x R
        grid_confidence.npy   float32 R x R, softmax top-1 of the head at the cell centre
        metrics.json          see RunCache.metrics
        visualizer.pt         torch state_dict of encoder + decoder (warm start)
        knn.npy               int32 n_train x k, high-D neighbours (temporal term)
        knn_more.npy          int32 n_train x (20 - k), the epoch's self-kNN's further columns (the next
                              epoch's warm search starts from all 20; absent in older caches)
        npr.npy               float32 n_train, neighbour-preserving rate vs predecessor
        offsets.npy           float32 n_train x 2, refined position − encoder output (warm start)
        border_embedding.npy  float32 n_border x 2, drawn positions of the border points used
        border_rows.npy       int32 n_border, their rows in the epoch's logged border array
    cache_dir/run_metrics.json  run-level figures of the reference evaluator (run_metrics.py)

Every epoch folder is written by the format's own atomic writer
(``storage.write_folder``: dot-prefixed temporary folder, every file fsynced,
then renamed into place, or exchanged with the old folder in one step), so a
reader sees a whole epoch or none, even after a power cut.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from typing import Dict, List, Optional, Tuple

import numpy as np

from .. import fs as dfs
from .. import mirror, safe_read, storage
from ..metadata import EPOCH_FILE, EPOCHS_DIR, TEMP_PREFIX, TRASH_PREFIX  # noqa: F401 (re-exported)
from ..metadata import epoch_dir_name, parse_epoch_dir_name

CACHE_FORMAT = 1
EMBEDDING_FILE = "embedding.npy"
BACKGROUND_PNG = "background.png"
BACKGROUND_META = "background.json"
GRID_CLASSES = "grid_classes.npy"
GRID_CONFIDENCE = "grid_confidence.npy"
METRICS_FILE = "metrics.json"
STATE_FILE = "visualizer.pt"
KNN_FILE = "knn.npy"
KNN_MORE_FILE = "knn_more.npy"
NPR_FILE = "npr.npy"
OFFSETS_FILE = "offsets.npy"
#: mean of the training representations (drift.py: the map's centre follows it)
CENTROID_FILE = "centroid.npy"
BORDER_EMBEDDING_FILE = "border_embedding.npy"
BORDER_ROWS_FILE = "border_rows.npy"
RUN_METRICS_FILE = "run_metrics.json"

METRIC_KEYS = ("nn_10", "nn_15", "nn_20", "nn_15_test", "nn_15_test_rows", "boundary_nn_15",
               "boundary_nn_15_test", "ppr_train", "ppr_test", "inv_conf_diff", "trustworthiness",
               "tnn_5_chain", "tr_chain", "temporal_corr_chain")
#: run-level figures (every epoch an anchor), in ``run_metrics.json`` (see run_metrics.py)
RUN_METRIC_KEYS = ("tnn_3", "tnn_5", "tr", "temporal_corr")


def map_shift(epoch_info: dict) -> list:
    """[x, y]: how far the epoch's whole map was moved to follow the representations' mean
    (engine/drift.py; ``epoch.json``'s ``drift.shift``), [0, 0] without a usable record."""
    rec = epoch_info.get("drift") if isinstance(epoch_info, dict) else None
    try:
        w = np.asarray(rec["shift"], np.float64).reshape(2) if isinstance(rec, dict) else np.zeros(2)
    except (KeyError, ValueError, TypeError):
        return [0.0, 0.0]
    return w.tolist() if np.isfinite(w).all() else [0.0, 0.0]


def default_cache_dir(run_path: str) -> str:
    """Where results for ``run_path`` live: never inside the logdir.

    ``$TENSORBOARD_DVI_CACHE/<key>`` if set, else
    ``($XDG_CACHE_HOME or ~/.cache)/tensorboard-dvi/<key>``, where ``key`` is
    the first 16 hex digits of the SHA-1 of the absolute real path of the run, or
    of its URL for a remote run (also when given its local mirror), so a fit on
    one machine and a TensorBoard on another find the same cache (which may be a
    URL too: ``TENSORBOARD_DVI_CACHE=s3://...``); freshness is per epoch content.
    """
    key = hashlib.sha1(run_identity(run_path).encode("utf-8", "surrogateescape")).hexdigest()[:16]
    root = os.environ.get("TENSORBOARD_DVI_CACHE")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(base, "tensorboard-dvi")
    return dfs.join(root, key)


def run_identity(run_path: str) -> str:
    """The run's URL (remote runs and their mirrors) or its absolute real path (local runs)."""
    text = os.fspath(run_path)
    if not dfs.is_local(text):
        return dfs.normalise(text)
    return mirror.source_url(text) or os.path.realpath(os.path.abspath(dfs.local_path(text)))


class NotFittedError(KeyError):
    """The epoch has no (complete) results in this cache."""


class RunCache:
    """Read (and, for the engine, write) the results of one run."""

    def __init__(self, cache_dir: str):
        # A URL: writes are published there (commit markers), reads go through a local mirror.
        self.url = None if dfs.is_local(cache_dir) else dfs.normalise(cache_dir)
        cache_dir = mirror.local_for(self.url) if self.url else dfs.local_path(cache_dir)
        self.cache_dir = cache_dir
        self.epochs_dir = os.path.join(cache_dir, EPOCHS_DIR)

    # ------------------------------------------------------------------ reading
    def epoch_path(self, epoch: int) -> str:
        return os.path.join(self.epochs_dir, epoch_dir_name(epoch))

    def _all_epochs(self) -> List[int]:
        if self.url:
            mirror.refresh(self.epochs_dir, "children")
        try:
            names = os.listdir(self.epochs_dir)
        except (FileNotFoundError, NotADirectoryError):
            return []
        out = []
        for name in names:
            e = parse_epoch_dir_name(name)
            if e is not None and os.path.isfile(os.path.join(self.epochs_dir, name, EPOCH_FILE)):
                out.append(e)
        return sorted(out)

    def _json(self, epoch: int, name: str) -> dict:
        """A JSON object of the cache, read safely (storage.read_json: regular files only, size
        and nesting limits); wrong type or syntax is ValueError, a missing file NotFittedError."""
        try:
            obj = safe_read.read_json(os.path.join(self.epoch_path(epoch), name), name, max_bytes=4 << 20)
        except FileNotFoundError:
            raise NotFittedError(f"epoch {epoch} is not fitted ({name} missing)") from None
        except safe_read.FormatError as e:
            raise ValueError(f"cached {e}") from None
        if not isinstance(obj, dict):
            raise ValueError(f"cached {name} must hold a JSON object, got {type(obj).__name__}")
        return obj

    def epoch_info(self, epoch: int) -> dict:
        """The epoch's ``epoch.json`` (input uid, predecessor, config hash, timings)."""
        try:
            return self._json(epoch, EPOCH_FILE)
        except ValueError as e:
            raise NotFittedError(f"epoch {epoch}: unreadable {EPOCH_FILE} ({e})") from None

    def input_uid(self, epoch: int) -> Optional[str]:
        return self.epoch_info(epoch).get("input_uid")

    def fitted_epochs(self, uids: Optional[Dict[int, str]] = None,
                      config_hash: Optional[str] = None) -> List[int]:
        """Fitted epochs, sorted. With ``uids`` (epoch -> input uid), only fresh ones.

        Fresh means: the stored input uid equals ``uids[e]`` and the epoch it was
        warm-started from (if any) is itself fresh with the uid it saw then; a
        changed epoch therefore makes every later epoch of its chain stale.
        ``config_hash`` (engine use) additionally requires the same settings.
        """
        epochs = self._all_epochs()
        if uids is None and config_hash is None:
            return epochs
        fresh: Dict[int, bool] = {}
        for e in epochs:  # ascending, so predecessors are decided first
            try:
                info = self.epoch_info(e)
            except NotFittedError:
                fresh[e] = False
                continue
            ok = info.get("cache_format") == CACHE_FORMAT
            if uids is not None:
                ok = ok and uids.get(e) is not None and info.get("input_uid") == uids.get(e)
            if config_hash is not None:
                ok = ok and info.get("config_hash") == config_hash
            prev = info.get("prev_epoch")
            if ok and prev is not None:
                ok = fresh.get(prev, False) and (uids is None or uids.get(prev) == info.get("prev_uid"))
            fresh[e] = ok
        return [e for e in epochs if fresh[e]]

    def _file(self, epoch: int, name: str) -> str:
        path = os.path.join(self.epoch_path(epoch), name)
        try:
            safe_read.check_regular(path, name, ValueError)  # a FIFO or device is never opened
        except FileNotFoundError:
            raise NotFittedError(f"epoch {epoch} is not fitted ({name} missing)") from None
        return path

    def _npy(self, epoch: int, name: str) -> np.ndarray:
        return np.load(self._file(epoch, name), mmap_mode="r", allow_pickle=False)

    def embedding(self, epoch: int) -> np.ndarray:
        """float32 N x 2 (memory-mapped), rows in storage order (train, then test)."""
        return self._npy(epoch, EMBEDDING_FILE)

    def background_png(self, epoch: int) -> bytes:
        with open(self._file(epoch, BACKGROUND_PNG), "rb") as f:
            return f.read()

    def background_meta(self, epoch: int) -> dict:
        """``{"bounds": [x_min, y_min, x_max, y_max], "resolution": R}``; row 0 = y_max."""
        meta = self._json(epoch, BACKGROUND_META)
        bounds, r = meta.get("bounds"), meta.get("resolution")
        if (not isinstance(bounds, list) or len(bounds) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in bounds)
                or not bounds[0] < bounds[2] or not bounds[1] < bounds[3]):
            raise ValueError(f"cached {BACKGROUND_META}: 'bounds' must be 4 finite numbers x_min < x_max, y_min < y_max")
        if not isinstance(r, int) or isinstance(r, bool) or not 1 <= r <= 8192:
            raise ValueError(f"cached {BACKGROUND_META}: 'resolution' must be an integer in [1, 8192]")
        return meta

    def grid(self, epoch: int) -> Tuple[np.ndarray, np.ndarray]:
        """(classes R x R, confidence float32 R x R), same orientation as the PNG."""
        return self._npy(epoch, GRID_CLASSES), self._npy(epoch, GRID_CONFIDENCE)

    def metrics(self, epoch: int) -> dict:
        """NN@k, boundary NN, PPR, ..., ``poor`` and ``warnings`` (None = undefined)."""
        return self._json(epoch, METRICS_FILE)

    def npr(self, epoch: int) -> Optional[np.ndarray]:
        try:
            return self._npy(epoch, NPR_FILE)
        except NotFittedError:
            return None

    def offsets(self, epoch: int) -> Optional[np.ndarray]:
        """Per training row, refined position − encoder output (None when not stored)."""
        try:
            return self._npy(epoch, OFFSETS_FILE)
        except NotFittedError:
            return None

    def centroid(self, epoch: int) -> Optional[np.ndarray]:
        """Mean of the epoch's training representations (None when not stored)."""
        try:
            return self._npy(epoch, CENTROID_FILE)
        except NotFittedError:
            return None

    def border_embedding(self, epoch: int) -> Optional[Tuple[np.ndarray, np.ndarray]]:
        """(positions n_border x 2, rows in the logged border array), None when not stored."""
        try:
            return self._npy(epoch, BORDER_EMBEDDING_FILE), self._npy(epoch, BORDER_ROWS_FILE)
        except NotFittedError:
            return None

    def run_metrics(self) -> Optional[dict]:
        """The run-level figures (``run_metrics.json``), None before they were computed.

        Only the documented fields come back, each a finite number or None (``epochs`` a list of
        ints, ``mean`` a dict of numbers): the file may be damaged or hostile, and it is served."""
        try:
            raw = safe_read.read_json_at(dfs.join(self.url or self.cache_dir, RUN_METRICS_FILE), RUN_METRICS_FILE)
        except (OSError, safe_read.FormatError):
            return None
        if not isinstance(raw, dict):
            return None
        out = {k: _finite_or_none(raw.get(k)) for k in RUN_METRIC_KEYS}
        epochs = raw.get("epochs")
        out["epochs"] = [int(e) for e in epochs if isinstance(e, int) and not isinstance(e, bool)] \
            if isinstance(epochs, list) else []
        mean = raw.get("mean")
        out["mean"] = {str(k): _finite_or_none(v) for k, v in mean.items()} if isinstance(mean, dict) else {}
        uids = raw.get("input_uids")
        out["input_uids"] = {str(k): v for k, v in uids.items() if isinstance(v, str)} \
            if isinstance(uids, dict) else {}
        at = raw.get("fitted_at")
        out["fitted_at"] = {str(k): _finite_or_none(v) for k, v in at.items()} if isinstance(at, dict) else {}
        if "n_samples" in raw:  # a count: an integer (or None), not the float _finite_or_none makes
            n = _finite_or_none(raw["n_samples"])
            out["n_samples"] = int(n) if n is not None and n >= 0 and float(n).is_integer() else None
        return out

    def knn(self, epoch: int) -> np.ndarray:
        return self._npy(epoch, KNN_FILE)

    def knn_wide(self, epoch: int) -> np.ndarray:
        """``knn`` with the further columns of ``knn_more.npy`` appended when the epoch has them."""
        knn = np.asarray(self.knn(epoch))
        try:
            more = np.asarray(self._npy(epoch, KNN_MORE_FILE))
        except (OSError, ValueError, KeyError):
            return knn
        return np.concatenate([knn, more], 1) if more.ndim == 2 and len(more) == len(knn) else knn

    def state_path(self, epoch: int) -> str:
        return self._file(epoch, STATE_FILE)

    def predict_at(self, epoch: int, x: float, y: float) -> Tuple[int, float, bool]:
        """Predicted class and confidence at a 2-D point, from the stored grid cell.

        Outside the background's bounds the nearest cell answers and ``inside``
        is False. The grid is what the background shows, so the answer always
        agrees with the picture.
        """
        meta = self.background_meta(epoch)
        x_min, y_min, x_max, y_max = (float(v) for v in meta["bounds"])
        r = int(meta["resolution"])
        classes, conf = self.grid(epoch)
        x, y = float(x), float(y)
        if not (np.isfinite(x) and np.isfinite(y)):
            raise ValueError("x and y must be finite numbers")
        inside = x_min <= x <= x_max and y_min <= y <= y_max
        if classes.shape != (r, r) or conf.shape != (r, r):
            raise ValueError(f"cached grid has shape {classes.shape}/{conf.shape}, expected ({r}, {r})")
        # clipped as floats first: far outside the bounds (x = 1e308) the cell index overflows an int
        col = int(np.clip(np.floor((x - x_min) / (x_max - x_min) * r), 0, r - 1))
        row = int(np.clip(np.floor((y_max - y) / (y_max - y_min) * r), 0, r - 1))
        return int(classes[row, col]), float(conf[row, col]), bool(inside)

    # ------------------------------------------------------------------ writing
    def write_epoch(self, epoch: int, arrays: Dict[str, np.ndarray], jsons: Dict[str, object],
                    blobs: Dict[str, bytes]) -> str:
        """Write one epoch's results atomically, replacing an older result of the same epoch.

        ``epoch.json`` is written last (its presence marks a complete folder for
        :meth:`fitted_epochs`). Raises ``storage.StorageError`` (an OSError) when the
        disk is full or read-only; what was in place stays untouched.
        """
        ordered = dict(sorted(jsons.items(), key=lambda kv: kv[0] == EPOCH_FILE))
        if self.url:  # the shared copy first, then this machine's mirror of it
            published = storage.write_folder(dfs.join(self.url, EPOCHS_DIR), epoch_dir_name(epoch), arrays, ordered,
                                             replace=True, extra_files=blobs)
            blobs = {**blobs, mirror.SOURCE_FILE: published.rsplit("/", 1)[-1].encode("utf-8")}
        try:
            return storage.write_folder(self.epochs_dir, epoch_dir_name(epoch), arrays, ordered, replace=True,
                                        extra_files=blobs)
        except storage.StorageError as e:
            if "no space left" in str(e):
                raise storage.StorageError(e.errno, f"cache disk full (no space left on device): epoch {epoch}'s "
                                           "results could not be written to the cache; free space there or "
                                           "choose another cache folder with --dvi_cache_dir") from e
            raise

    def remove_epoch(self, epoch: int) -> None:
        if self.url:
            from .. import publish
            fsys, parent = dfs.get_fs(dfs.join(self.url, EPOCHS_DIR))
            publish.remove_folder(fsys, parent, epoch_dir_name(epoch), url=dfs.join(self.url, EPOCHS_DIR))
        final = self.epoch_path(epoch)
        if os.path.exists(final):
            trash = os.path.join(self.epochs_dir, TRASH_PREFIX + epoch_dir_name(epoch) + "-" + uuid.uuid4().hex[:8])
            os.rename(final, trash)
            shutil.rmtree(trash, ignore_errors=True)

    def write_run_metrics(self, obj: dict) -> None:
        """Write ``run_metrics.json`` atomically (temp file, fsync, then replace; one PUT remotely)."""
        data = json.dumps(obj, indent=1, sort_keys=True).encode("utf-8")
        if self.url:
            storage.replace_file(dfs.join(self.url, RUN_METRICS_FILE), data)
        storage.replace_file(os.path.join(self.cache_dir, RUN_METRICS_FILE), data)


def _finite_or_none(value) -> Optional[float]:
    """A JSON number as a finite float, anything else (NaN, strings, lists, bools) as None."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if np.isfinite(value) else None
