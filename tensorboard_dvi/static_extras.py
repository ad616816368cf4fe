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
    return FormatError(f"{md.STATIC_DIR}/{fname} {what}")


def _string_list(value, n: Optional[int], fname: str, what: str) -> List[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise _bad(fname, f"must be a JSON list of strings ({what})")
    if n is not None and len(value) != n:
        raise _bad(fname, f"has {len(value)} entries, expected {n} ({what})")
    return value


def texts(reader) -> Optional[List[str]]:
    value = _json(reader, md.TEXTS_FILE)
    if value is None:
        return None
    return _string_list(value, _n(reader), md.TEXTS_FILE, "one per sample, train then test")


def feature_names(reader) -> Optional[List[str]]:
    value = _json(reader, md.FEATURE_NAMES_FILE)
    if value is None:
        return None
    return _string_list(value, None, md.FEATURE_NAMES_FILE, "one per feature column")


def features(reader) -> Optional[np.ndarray]:
    """float32 [N, F], memory-mapped."""
    from .reader import FormatError, _load_npy
    names = feature_names(reader)
    if names is None:
        return None
    rel = f"{md.STATIC_DIR}/{md.FEATURES_FILE}"
    try:
        arr = _load_npy(_path(reader, md.FEATURES_FILE), mmap=True, rel=rel, exc=FormatError)
    except (ValueError, OSError, EOFError) as e:
        raise FormatError(f"{rel} is unreadable ({e})") from None
    n = _n(reader)
    if arr.dtype != np.float32 or arr.shape != (n, len(names)):
        raise _bad(md.FEATURES_FILE, f"has shape {arr.shape} and dtype {arr.dtype}, expected "
                   f"({n}, {len(names)}) float32 (N samples × the feature names)")
    return arr


def metadata_columns(reader) -> Optional[Dict[str, list]]:
    doc = _json(reader, md.METADATA_FILE)
    if doc is None:
        return None
    columns = doc.get("columns") if isinstance(doc, dict) else None
    if not isinstance(columns, dict):
        raise _bad(md.METADATA_FILE, 'must be {"columns": {"name": [values...]}}')
    n = _n(reader)
    for name, values in columns.items():
        if not name or not isinstance(values, list) or len(values) != n:
            got = len(values) if isinstance(values, list) else type(values).__name__
            raise _bad(md.METADATA_FILE, f"column {name!r} must be a list of {n} values, got {got}")
        if not all(v is None or isinstance(v, (str, int, float)) for v in values):
            raise _bad(md.METADATA_FILE, f"column {name!r} holds a value that is not a string, number or null")
    return columns
