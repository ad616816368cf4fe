"""A run's optional per-sample extras: texts, tabular features, metadata columns.

Files of the run's ``static/`` folder (docs/FORMAT.md), written by
``DVIWriter(texts=, feature_names=, metadata=)``: ``texts.json`` (N strings),
``feature_names.json`` (F names) with ``features.npy`` (float N×F),
``metadata.json`` (``{"columns": {name: [N values]}}``). Each is checked against
N = n_train + n_test; a malformed or missing-half file is named in ``damaged``
and left out, so the run itself always stays readable. JSON only, ``.npy``
without pickles; files reached through a link out of the logdir are refused.
Parsed contents are cached per run and reloaded when a file's stat changes.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import numpy as np

from .. import metadata as md
from . import validate
from .runs import LRU

TEXTS_FILE = "texts.json"
FEATURE_NAMES_FILE = "feature_names.json"
FEATURES_FILE = "features.npy"
METADATA_FILE = "metadata.json"
FILES = (TEXTS_FILE, FEATURE_NAMES_FILE, FEATURES_FILE, METADATA_FILE)


class _Bad(Exception):
    """One extra file is malformed (the message says how)."""


@dataclass
class Extras:
    texts: Optional[List[str]] = None
    feature_names: Optional[List[str]] = None
    features: Optional[np.ndarray] = None  # float [N, F], memory-mapped
    columns: Dict[str, list] = field(default_factory=dict)
    damaged: Dict[str, str] = field(default_factory=dict)  # file name -> reason
    memo: dict = field(default_factory=dict)  # search's derived lists, dropped with the contents

    def summary(self) -> dict:
        """The fields ``GET runs`` adds to a run entry (small)."""
        return {"has_texts": self.texts is not None, "feature_names": self.feature_names,
                "metadata_columns": list(self.columns), "damaged_extras": dict(self.damaged)}

    def of_sample(self, idx: int) -> dict:
        """The fields ``GET sample`` adds for row ``idx``."""
        feats = None
        if self.features is not None:
            row = np.asarray(self.features[idx], dtype=np.float64)
            feats = {n: (float(v) if np.isfinite(v) else None) for n, v in zip(self.feature_names, row)}
        return {"text": self.texts[idx] if self.texts is not None else None, "features": feats,
                "metadata": {c: v[idx] for c, v in self.columns.items()}}


def _path(reader, fname: str) -> str:
    path = os.path.join(reader.root, md.STATIC_DIR, fname)
    if reader.confine and not validate.is_inside(path, reader.confine):
        raise _Bad("is a link out of the logdir")
    return path


def _json(reader, fname: str):
    from ..safe_read import FormatError, read_json
    try:  # regular files only (a FIFO would block), size and nesting limits
        return read_json(_path(reader, fname), fname)
    except (FormatError, OSError) as err:
        raise _Bad(f"is unreadable ({err.strerror if isinstance(err, OSError) and err.strerror else err})") from None


def _string_list(value, n: Optional[int], what: str) -> List[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise _Bad(f"must be a JSON list of strings ({what})")
    if n is not None and len(value) != n:
        raise _Bad(f"has {len(value)} entries, expected {n} ({what})")
    return value


def _texts(reader, n: int) -> List[str]:
    return _string_list(_json(reader, TEXTS_FILE), n, "one per sample, train then test")


def _features(reader, n: int):
    names = _string_list(_json(reader, FEATURE_NAMES_FILE), None, "one per feature column")
    try:
        from ..safe_read import check_regular
        check_regular(_path(reader, FEATURES_FILE), FEATURES_FILE, _Bad)  # a FIFO would block np.load
        arr = np.load(_path(reader, FEATURES_FILE), mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise _Bad(f"{FEATURES_FILE} is unreadable ({err})") from None
    if arr.dtype.kind != "f" or arr.shape != (n, len(names)):
        raise _Bad(f"{FEATURES_FILE} has shape {arr.shape} and dtype {arr.dtype}, expected "
                   f"({n}, {len(names)}) floats (N samples × the feature names)")
    return names, arr


def _columns(reader, n: int) -> Dict[str, list]:
    doc = _json(reader, METADATA_FILE)
    cols = doc.get("columns") if isinstance(doc, dict) else None
    if not isinstance(cols, dict):
        raise _Bad('must be {"columns": {"name": [values...]}}')
    for name, values in cols.items():
        if not name or not isinstance(values, list) or len(values) != n:
            got = len(values) if isinstance(values, list) else type(values).__name__
            raise _Bad(f"column {name!r} must be a list of {n} values, got {got}")
        if not all(v is None or isinstance(v, (str, int, float)) for v in values):
            raise _Bad(f"column {name!r} holds a value that is not a string, number or null")
    return cols


def load(reader) -> Extras:
    """Every extra present in the run's static folder; damage is recorded, never raised."""
    out = Extras()
    try:
        n = int(reader.meta["n_train"]) + int(reader.meta["n_test"])
    except (KeyError, TypeError, ValueError):
        return out  # meta.json itself is malformed: the run's own error says so
    static = os.path.join(reader.root, md.STATIC_DIR)
    present = {f for f in FILES if os.path.exists(os.path.join(static, f))}
    if TEXTS_FILE in present:
        try:
            out.texts = _texts(reader, n)
        except _Bad as err:
            out.damaged[TEXTS_FILE] = str(err)
    if present & {FEATURE_NAMES_FILE, FEATURES_FILE}:
        missing = {FEATURE_NAMES_FILE, FEATURES_FILE} - present
        try:
            if missing:
                raise _Bad(f"{missing.pop()} is missing")
            out.feature_names, out.features = _features(reader, n)
        except _Bad as err:
            out.damaged[FEATURE_NAMES_FILE] = str(err)
    if METADATA_FILE in present:
        try:
            out.columns = _columns(reader, n)
        except _Bad as err:
            out.damaged[METADATA_FILE] = str(err)
    return out


def _stat_key(reader) -> tuple:
    key = []
    for fname in FILES:
        try:
            st = os.stat(os.path.join(reader.root, md.STATIC_DIR, fname))
            key.append((st.st_ino, st.st_mtime_ns, st.st_size))
        except OSError:
            key.append(None)
    return tuple(key)


class ExtrasStore:
    """Parsed extras of the ``max_loaded`` recently used runs, plus every run's small summary."""

    def __init__(self, max_loaded: int = 8):
        self._full = LRU(max_loaded)
        self._summaries: Dict[str, tuple] = {}
        self._lock = threading.Lock()

    def get(self, run) -> Extras:
        key = _stat_key(run.reader)
        hit = self._full.get(run.path)
        if hit is not None and hit[0] == key:
            return hit[1]
        extras = load(run.reader)
        self._full.put(run.path, (key, extras))
        with self._lock:
            self._summaries[run.path] = (key, extras.summary())
        return extras

    def summary(self, run) -> dict:
        """``GET runs``' fields for the run, ``border_space`` included (from meta.json)."""
        key = _stat_key(run.reader)
        with self._lock:
            hit = self._summaries.get(run.path)
        out = dict(hit[1]) if hit is not None and hit[0] == key else self.get(run).summary()
        space = run.reader.meta.get("border_space")
        out["border_space"] = space if isinstance(space, str) else None
        return out
