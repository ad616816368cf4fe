"""CSV and JSON export of per-sample training-dynamics signals (engine/dynamics.py): one row per
sample in the order asked for, id and extra columns first, then every signal of the catalogue."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import List, Mapping, Optional, Sequence

import numpy as np

from ..catalogue import SERVED_SIGNALS as SIGNALS


class DynamicsError(ValueError):
    """Bad input to a query or an export (the route answers 400 with the message)."""


def _columns(signals, extra):
    cols = [(k, np.asarray(v)) for k, v in (extra or {}).items()]
    cols += [(k, np.asarray(signals[k])) for k in SIGNALS if k in signals]
    return cols


def _py(value):
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if not math.isfinite(v) else float(f"{v:.7g}")
    if isinstance(value, (np.bool_, bool)):
        return int(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, (bytes, np.bytes_)):
        return value.decode("utf-8", "replace")
    return value.item() if isinstance(value, np.generic) else value


def _check_rows(ids, rows):
    rows = np.asarray(rows, dtype=np.int64).reshape(-1)
    if len(rows) and (rows.min() < 0 or rows.max() >= len(ids)):
        raise DynamicsError(f"row indices must lie in [0, {len(ids)})")
    return rows


def to_csv(ids: np.ndarray, signals: Mapping[str, np.ndarray], rows: Sequence[int],
           extra: Optional[Mapping[str, np.ndarray]] = None) -> str:
    """CSV (header + one line per row, in the given order): id, extra columns, then every signal.

    Floats have 7 significant digits; NaN is an empty field; flags are 0/1.
    """
    rows = _check_rows(ids, rows)
    cols = _columns(signals, extra)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["id"] + [k for k, _ in cols])
    ids = np.asarray(ids)
    for r in rows:
        line = [_py(ids[r])] + [_py(a[r]) for _, a in cols]
        w.writerow(["" if v is None else v for v in line])
    return buf.getvalue()


def to_records(ids, signals, rows, extra=None) -> List[dict]:
    rows = _check_rows(ids, rows)
    cols = _columns(signals, extra)
    ids = np.asarray(ids)
    return [dict([("id", _py(ids[r]))] + [(k, _py(a[r])) for k, a in cols]) for r in rows]


def to_json(ids: np.ndarray, signals: Mapping[str, np.ndarray], rows: Sequence[int],
            extra: Optional[Mapping[str, np.ndarray]] = None, **fields) -> str:
    """``{..fields, "count": n, "columns": [...], "samples": [{"id": ..., <signal>: ...}, ...]}`` (NaN: null)."""
    samples = to_records(ids, signals, rows, extra)
    cols = ["id"] + [k for k, _ in _columns(signals, extra)]
    return json.dumps({**fields, "count": len(samples), "columns": cols, "samples": samples},
                      separators=(",", ":"), allow_nan=False)
