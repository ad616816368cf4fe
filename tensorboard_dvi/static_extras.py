"""Reading the optional per-sample extras of a run's static folder (numpy + stdlib only).

``RunReader.texts()``, ``feature_names()``, ``features()`` and ``metadata_columns()``
call these; each returns None when the run did not log it and raises
``FormatError`` naming the file when it is malformed (docs/FORMAT.md).
"""

from __future__ import annotations

import os
from typing import Dict, List, Optional

import numpy as np

from . import metadata as md


def _path(reader, fname: str) -> str:
    from .reader import FormatError, _outside
    path = os.path.join(reader.root, md.STATIC_DIR, fname)
    if _outside(path, reader.confine):
        raise FormatError(f"{md.STATIC_DIR}/{fname} is a link out of the logdir")
    return path


def _json(reader, fname: str):
    """safe_read.read_json: regular files only, size and nesting limits; None when absent."""
    from .safe_read import read_json
    try:
        return read_json(_path(reader, fname), f"{md.STATIC_DIR}/{fname}")
    except FileNotFoundError:
        return None


def _n(reader) -> int:
    return reader.meta["n_train"] + reader.meta["n_test"]


def _bad(fname: str, what: str):
    from .reader import FormatError
    return FormatError(f"{md.STATIC_DIR}/{fname} is not {what}")


def texts(reader) -> Optional[List[str]]:
    value = _json(reader, md.TEXTS_FILE)
    if value is not None and (not isinstance(value, list) or len(value) != _n(reader)
                              or not all(isinstance(t, str) for t in value)):
        raise _bad(md.TEXTS_FILE, f"a list of {_n(reader)} strings")
    return value


def feature_names(reader) -> Optional[List[str]]:
    value = _json(reader, md.FEATURE_NAMES_FILE)
    if value is not None and (not isinstance(value, list) or not all(isinstance(t, str) for t in value)):
        raise _bad(md.FEATURE_NAMES_FILE, "a list of strings")
    return value


def features(reader) -> Optional[np.ndarray]:
    """float32 [N, F], memory-mapped."""
    from .reader import FormatError, _load_npy
    names = feature_names(reader)
    if names is None:
        return None
    try:
        arr = _load_npy(_path(reader, md.FEATURES_FILE), mmap=True)
    except (ValueError, OSError) as e:
        raise FormatError(f"{md.STATIC_DIR}/{md.FEATURES_FILE} is unreadable: {e}") from None
    if arr.dtype != np.float32 or arr.shape != (_n(reader), len(names)):
        raise _bad(md.FEATURES_FILE, f"float32 ({_n(reader)}, {len(names)}) but {arr.dtype} {arr.shape}")
    return arr


def metadata_columns(reader) -> Optional[Dict[str, list]]:
    doc = _json(reader, md.METADATA_FILE)
    if doc is None:
        return None
    columns = doc.get("columns") if isinstance(doc, dict) else None
    ok = isinstance(columns, dict) and all(
        isinstance(v, list) and len(v) == _n(reader)
        and all(x is None or isinstance(x, (str, int, float)) for x in v) for v in columns.values())
    if not ok:
        raise _bad(md.METADATA_FILE, f'{{"columns": {{name: [{_n(reader)} strings/numbers/null]}}}}')
    return columns
