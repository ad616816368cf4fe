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
from ..metadata import FEATURE_NAMES_FILE, FEATURES_FILE, METADATA_FILE, TEXTS_FILE
from ..safe_read import FormatError
from .runs import LRU

FILES = (TEXTS_FILE, FEATURE_NAMES_FILE, FEATURES_FILE, METADATA_FILE)


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


def load(reader) -> Extras:
    """Every extra present in the run's static folder, read and checked by the run's reader
    (static_extras.py); damage is recorded per file, never raised."""
    out = Extras()
    try:
        int(reader.meta["n_train"]) + int(reader.meta["n_test"])
    except (KeyError, TypeError, ValueError):
        return out  # meta.json itself is malformed: the run's own error says so
    static = os.path.join(reader.root, md.STATIC_DIR)
    present = {f for f in FILES if os.path.exists(os.path.join(static, f))}

    def read(fname, fn):
        try:
            return fn()
        except (FormatError, OSError) as err:
            out.damaged[fname] = str(err)
            return None

    if TEXTS_FILE in present:
        out.texts = read(TEXTS_FILE, reader.texts)
    if present & {FEATURE_NAMES_FILE, FEATURES_FILE}:
        missing = {FEATURE_NAMES_FILE, FEATURES_FILE} - present
        if missing:
            out.damaged[FEATURE_NAMES_FILE] = f"{missing.pop()} is missing"
        else:
            out.features = read(FEATURE_NAMES_FILE, reader.features)
            out.feature_names = reader.feature_names() if out.features is not None else None
    if METADATA_FILE in present:
        out.columns = read(METADATA_FILE, reader.metadata_columns) or {}
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
