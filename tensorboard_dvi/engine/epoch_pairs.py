"""Per-sample distances between epochs' representations, remembered across fits of a run.

The rank terms (rank_history.py) and the run-level figures (run_metrics.py) both need
d[a, b, i] = ‖v_a[i] − v_b[i]‖ for every pair of epochs. Computed afresh, that reads every
earlier epoch's N × D rows once per pair (O(epochs²) reads) on every fit; a new epoch only adds
its pairs with the earlier ones. So the vectors are kept here (N floats per pair), keyed by the two
epochs' input uids (the writer gives each written epoch a new one) and the rows, and only the
missing pairs are read and computed, each epoch read at most once per call where they all share it.
Process-wide and bounded (least recently used pairs go first): the tab's worker and
``fit_run`` called epoch by epoch in one process both reuse it.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from typing import Callable, Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np

#: memory the remembered pairs may take (a pair of 10,000 rows: 40 kB)
MAX_BYTES = 256 << 20


def rows_key(rows: np.ndarray) -> str:
    """A short name for a set of row indices (the pairs are only reused for the same rows; it holds their count)."""
    r = np.ascontiguousarray(np.asarray(rows, np.int64))
    return f"{len(r)}:{hashlib.sha1(r.tobytes()).hexdigest()[:16]}"


def row_distances(a: np.ndarray, b: np.ndarray, chunk: int = 1024) -> np.ndarray:
    """‖a_i − b_i‖ per row, in chunks of rows: the difference of two whole epochs is a fresh N x D array
    to fault in (0.24 s at 18k x 512 against 0.01 s chunked; the same values)."""
    out = np.empty(len(a), np.float32)
    for s in range(0, len(a), chunk):
        out[s:s + chunk] = np.linalg.norm(a[s:s + chunk] - b[s:s + chunk], axis=1)
    return out


class PairDistances:
    """The remembered pairs; :meth:`table` returns the full epochs x epochs x rows array."""

    def __init__(self, max_bytes: int = MAX_BYTES):
        self.max_bytes = int(max_bytes)
        self._pairs: "OrderedDict[Tuple[Hashable, ...], np.ndarray]" = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.computed = 0  # pairs computed (not remembered), for tests and profiles

    def clear(self) -> None:
        with self._lock:
            self._pairs.clear()
            self._bytes = 0

    def _key(self, ua: Optional[str], ub: Optional[str], rows: str):
        if ua is None or ub is None or ua == ub:  # no name for the content: not remembered
            return None
        return (rows,) + tuple(sorted((str(ua), str(ub))))

    def _get(self, key) -> Optional[np.ndarray]:
        if key is None:
            return None
        with self._lock:
            v = self._pairs.get(key)
            if v is not None:
                self._pairs.move_to_end(key)
            return v

    def _put(self, key, v: np.ndarray) -> None:
        if key is None or v.nbytes > self.max_bytes:
            return
        with self._lock:
            if key in self._pairs:
                return
            self._pairs[key] = v
            self._bytes += v.nbytes
            while self._bytes > self.max_bytes:
                _, old = self._pairs.popitem(last=False)
                self._bytes -= old.nbytes

    def table(self, uids: Sequence[Optional[str]], rows: np.ndarray,
              load: Callable[[int], np.ndarray]) -> np.ndarray:
        """d[a, b, i] for the epochs named ``uids`` (in that order) over the row indices ``rows``;
        ``load(i)``: the i-th epoch's rows (float32, len(rows) x D), called only for epochs in a
        missing pair. Errors of ``load`` propagate (pairs finished before it stay remembered)."""
        t, name = len(uids), rows_key(rows)
        d = np.zeros((t, t, len(rows)), np.float32)
        missing: List[Tuple[int, int]] = []
        for a in range(t):
            for b in range(a + 1, t):
                v = self._get(self._key(uids[a], uids[b], name))
                if v is None:
                    missing.append((a, b))
                else:
                    d[a, b] = d[b, a] = v
        # the epoch in most missing pairs is read once and paired with the others first: a new epoch
        # against the remembered ones reads each epoch once
        while missing:
            count: Dict[int, int] = {}
            for a, b in missing:
                count[a] = count.get(a, 0) + 1
                count[b] = count.get(b, 0) + 1
            hub = max(count, key=lambda x: (count[x], x))
            vh = load(hub)
            rest = []
            for a, b in missing:
                if hub not in (a, b):
                    rest.append((a, b))
                    continue
                other = b if a == hub else a
                v = row_distances(vh, load(other))
                self.computed += 1
                d[a, b] = d[b, a] = v
                self._put(self._key(uids[a], uids[b], name), v)
            missing = rest
        return d


#: the process' remembered pairs
PAIRS = PairDistances()
