"""Routes for training dynamics (docs/HTTP_API.md, "Training dynamics"; docs/DYNAMICS.md).

Self-contained so that plugin.py only dispatches to it::

    resp = dynamics_route.serve("dynamics", run.path, run.cache_dir, request.values, cache=run.cache)
    return http_util.Respond(request, resp.body, resp.mimetype, headers=resp.headers)

``serve`` raises ``tensorboard.errors.InvalidArgumentError`` (400) for malformed
parameters and ``NotFoundError`` (404) for an unreadable run, no epochs yet or
unknown ids; TensorBoard turns both into plain-text answers.

Cost: signals are computed online (engine.dynamics.SignalAccumulator, O(N)
memory) and kept per run, keyed by the logged epochs' uids. A request after a
new epoch arrived reads only that epoch's logits (the accumulator is extended);
a replaced or removed epoch (different uid sequence) recomputes from scratch.
The map path (distance_travelled) is keyed separately by the fresh fitted epochs
and their embedding files, so fitting progress never re-reads logits.
"""

from __future__ import annotations

import collections
import json
import os
import re
import threading
from typing import List, Mapping, NamedTuple, Optional, Tuple

import numpy as np
from tensorboard import errors

from .. import storage
from ..engine import dynamics
from . import wire

ROUTES = ("dynamics", "dynamics_query", "dynamics_export")
MAX_RUNS = 8
MAX_EXPORT_IDS = 1_000_000
_ROUTE_PARAMS = {"run", "query", "format", "ids"}
_ID_RE = re.compile(r"^-?[0-9]{1,18}$")


class Response(NamedTuple):
    body: bytes
    mimetype: str
    headers: List[Tuple[str, str]]


class _State:
    """Per-run memo: the accumulator for a uid sequence, the map path for a fitted sequence."""

    def __init__(self):
        self.lock = threading.Lock()
        self.static_key = None
        self.static: Optional[storage.StaticData] = None
        self.uid_key: Tuple = ()
        self.acc: Optional[dynamics.SignalAccumulator] = None
        self.used_epochs: List[int] = []
        self.skipped: dict = {}
        self.path_key: Tuple = ()
        self.path: Optional[dynamics.PathAccumulator] = None
        self.result = None  # (uid_key, path_key, Signals, blob)


_states: "collections.OrderedDict[Tuple[str, str], _State]" = collections.OrderedDict()
_states_lock = threading.Lock()


def _state(run_path: str, cache_dir: str) -> _State:
    key = (os.path.realpath(run_path), os.path.realpath(cache_dir) if cache_dir else "")
    with _states_lock:
        st = _states.get(key)
        if st is None:
            st = _states[key] = _State()
        _states.move_to_end(key)
        while len(_states) > MAX_RUNS:
            _states.popitem(last=False)
        return st


def clear_cache() -> None:
    """Forget every run's memo (tests)."""
    with _states_lock:
        _states.clear()


def _is_prefix(short: Tuple, long: Tuple) -> bool:
    return len(short) <= len(long) and long[:len(short)] == short


def _static_key(reader: storage.RunReader):
    path = os.path.join(reader.root, "static")
    try:
        st = os.stat(os.path.join(path, "labels.npy"))
        return (st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        return None


def _epoch_uids(reader: storage.RunReader):
    """[(epoch, uid)] of epochs whose epoch.json reads, and {epoch: reason} of the others."""
    out, damaged = [], {}
    for e in reader.epochs():
        try:
            out.append((e, reader.epoch(e).uid))
        except storage.DamagedEpochError as err:
            damaged[e] = err.reason
        except KeyError:  # vanished (being replaced)
            continue
    return out, damaged


def _embedding_key(cache, e: int):
    if hasattr(cache, "epoch_path"):
        try:
            st = os.stat(os.path.join(cache.epoch_path(e), "embedding.npy"))
            return (e, st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            return (e, None)
    return (e, None)


def compute(run_path: str, cache_dir: str, cache=None,
            confine: Optional[str] = None) -> Tuple[dynamics.Signals, bytes, storage.StaticData, dict]:
    """(signals, binary container, static data, info) for a run, reusing what earlier calls computed.

    ``confine``: the logdir; files reached through a symlink out of it are not read."""
    reader = storage.RunReader(run_path, confine=confine)
    st = _state(run_path, cache_dir)
    with st.lock:
        skey = _static_key(reader)
        if st.static is None or skey is None or skey != st.static_key:
            try:
                static = reader.static()
            except storage.FormatError as err:
                raise errors.NotFoundError(f"run cannot be read: {err}") from None
            st.static, st.static_key = static, skey
            st.acc, st.uid_key, st.path, st.path_key, st.result = None, (), None, (), None
        static = st.static
        try:
            uid_list, damaged_json = _epoch_uids(reader)
        except storage.FormatError as err:
            raise errors.NotFoundError(f"run cannot be read: {err}") from None
        uid_key = tuple(uid_list)
        if not uid_list:
            raise errors.NotFoundError("no epochs logged yet: training dynamics need at least one epoch")

        # Logits: extend the accumulator when the old uid sequence is a prefix of the new one.
        if st.acc is None or not _is_prefix(st.uid_key, uid_key):
            acc, used, skipped, start = dynamics.SignalAccumulator(static.labels), [], {}, 0
        else:
            acc, used, skipped, start = st.acc.copy(), list(st.used_epochs), dict(st.skipped), len(st.uid_key)
        for e, _uid in uid_list[start:]:
            try:
                logits = reader.epoch(e).logits
                acc.add(logits)
                used.append(e)
            except storage.DamagedEpochError as err:
                skipped[e] = err.reason
            except KeyError:
                skipped[e] = "vanished while reading"
            except dynamics.DynamicsError as err:
                skipped[e] = str(err)
        st.acc, st.uid_key, st.used_epochs, st.skipped = acc, uid_key, used, skipped
        if acc.epochs == 0:
            raise errors.NotFoundError("no readable epochs: " + "; ".join(
                f"epoch {e}: {r}" for e, r in sorted({**damaged_json, **skipped}.items())))

        # Map path over the fresh fitted epochs.
        if cache is None:
            from ..engine.cache import RunCache
            cache = RunCache(cache_dir)
        uids = dict(uid_list)
        try:
            fitted = [e for e in cache.fitted_epochs(uids) if e in uids]
        except OSError:
            fitted = []
        path_key = tuple(_embedding_key(cache, e) for e in fitted)
        if st.path is None or not _is_prefix(st.path_key, path_key) or any(k[1] is None for k in st.path_key):
            path, start = dynamics.PathAccumulator(len(static.labels)), 0
        else:
            path, start = st.path.copy(), len(st.path_key)
        fitted_used = [k[0] for k in path_key[:start]]
        for e in fitted[start:]:
            try:
                coords = np.asarray(cache.embedding(e), dtype=np.float32)
                path.add(coords)
                fitted_used.append(e)
            except (KeyError, OSError, ValueError):  # being refitted, or a map of the wrong shape
                path_key = path_key[:len(fitted_used)]
                break
        st.path, st.path_key = path, path_key

        if st.result is not None and st.result[0] == uid_key and st.result[1] == path_key:
            return st.result[2], st.result[3], static, st.result[4]
        signals = acc.result(distance=path.result())
        signals.n_coord_epochs = path.count
        info = {"epochs": used, "fitted_epochs": fitted_used,
                "skipped": {str(e): r for e, r in sorted({**damaged_json, **skipped}.items())}}
        blob = encode_signals(signals, **info)
        st.result = (uid_key, path_key, signals, blob, info)
        return signals, blob, static, info


def encode_signals(signals: Mapping[str, np.ndarray], **header) -> bytes:
    """The binary container of ``GET dynamics`` (dtypes: docs/HTTP_API.md)."""
    arrays = {}
    for name in dynamics.SIGNALS:
        if name not in signals:
            continue
        a = np.asarray(signals[name])
        if name in dynamics.COUNT_SIGNALS:
            a = np.clip(a, 0, 65535).astype(np.uint16)
        elif name in dynamics.FLAG_SIGNALS:
            a = a.astype(np.uint8)
        elif name == "final_prediction":
            a = a.astype(np.int16)
        else:
            a = a.astype(np.float32)
        arrays[name] = a
    n = len(next(iter(arrays.values()))) if arrays else 0
    return wire.encode(arrays, n=n, n_epochs=getattr(signals, "n_epochs", None),
                       n_coord_epochs=getattr(signals, "n_coord_epochs", None), **header)


def _query_params(params: Mapping) -> dict:
    out = {}
    for k in params.keys():
        if k in _ROUTE_PARAMS or k.startswith("_"):
            continue
        out[k] = params.get(k)
    return out


def _run_query(signals, static, params) -> Tuple[str, dict, np.ndarray]:
    query = params.get("query")
    if not query:
        raise errors.InvalidArgumentError(
            f"missing query parameter 'query' (one of {', '.join(dynamics.QUERIES)})")
    qp = _query_params(params)
    try:
        rows = dynamics.run_queries(signals, query, sample_split=static.split, **qp)
    except dynamics.DynamicsError as err:
        raise errors.InvalidArgumentError(str(err)) from None
    return query, qp, rows


def _parse_ids(value: str) -> List[int]:
    items = [s.strip() for s in value.split(",")]
    if items and items[-1] == "":
        items.pop()
    if len(items) > MAX_EXPORT_IDS:
        raise errors.InvalidArgumentError(f"at most {MAX_EXPORT_IDS} ids per export, got {len(items)}")
    for s in items:
        if not _ID_RE.match(s):
            raise errors.InvalidArgumentError(f"parameter 'ids' must be comma-separated integers, got {s[:40]!r}")
    return [int(s) for s in items]


def _rows_of_ids(static: storage.StaticData, ids: List[int]) -> np.ndarray:
    order = np.argsort(static.ids, kind="stable")
    sorted_ids = static.ids[order]
    q = np.asarray(ids, dtype=np.int64)
    if not len(q):
        return np.zeros(0, np.int64)
    pos = np.clip(np.searchsorted(sorted_ids, q), 0, max(len(sorted_ids) - 1, 0))
    found = sorted_ids[pos] == q if len(sorted_ids) else np.zeros(len(q), bool)
    if not np.all(found):
        missing = ", ".join(str(int(i)) for i in q[~found][:5])
        raise errors.NotFoundError(f"unknown sample id(s) {missing}")
    return order[pos]


def _extra_columns(static: storage.StaticData) -> dict:
    extra = {"label": static.labels, "split": np.where(static.split == 0, "train", "test")}
    if static.noisy is not None:
        extra["noisy"] = static.noisy
    return extra


def _filename(run_path: str, what: str, ext: str) -> str:
    base = os.path.basename(os.path.normpath(run_path)) or "run"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"dvi-dynamics-{base}-{what}")[:120]
    return f"{safe}.{ext}"


def serve(route: str, run_path: str, cache_dir: str, params: Mapping, cache=None,
          confine: Optional[str] = None) -> Response:
    """Answer one of :data:`ROUTES` for the run at ``run_path`` (already validated by the plugin).

    ``params``: the request's parameters (``request.values``: query string and,
    for exports of large selections, a form-encoded POST body).
    """
    if route not in ROUTES:
        raise errors.NotFoundError(f"unknown route {route!r}")
    signals, blob, static, info = compute(run_path, cache_dir, cache=cache, confine=confine)
    if route == "dynamics":
        return Response(blob, "application/octet-stream", [])
    if route == "dynamics_query":
        query, qp, rows = _run_query(signals, static, params)
        body = {"query": query, "params": qp, "count": int(len(rows)), "total": int(len(static.ids)),
                "ids": static.ids[rows].tolist(), "indices": rows.tolist(), "epochs": info["epochs"]}
        if query == "largest_movers" and signals.n_coord_epochs < 2:
            body["warning"] = "distance_travelled needs at least two fitted epochs"
        return Response(json.dumps(body, separators=(",", ":")).encode("utf-8"), "application/json", [])
    # dynamics_export
    fmt = params.get("format") or "csv"
    if fmt not in ("csv", "json"):
        raise errors.InvalidArgumentError(f"parameter 'format' must be csv or json, got {fmt!r}")
    has_ids, has_query = bool(params.get("ids")), bool(params.get("query"))
    if has_ids == has_query:
        raise errors.InvalidArgumentError("give exactly one of 'ids' (a selection) or 'query' (a ready-made query)")
    if has_ids:
        extra_params = [k for k in _query_params(params)]
        if extra_params:
            raise errors.InvalidArgumentError(f"unexpected parameter(s) {', '.join(extra_params)} with 'ids'")
        rows, what, fields = _rows_of_ids(static, _parse_ids(params.get("ids"))), "selection", {}
    else:
        query, qp, rows = _run_query(signals, static, params)
        what, fields = query, {"query": query, "params": qp}
    extra = _extra_columns(static)
    name = _filename(run_path, what, fmt)
    headers = [("Content-Disposition", f'attachment; filename="{name}"')]
    if fmt == "csv":
        text = dynamics.to_csv(static.ids, signals, rows, extra=extra)
        return Response(text.encode("utf-8"), "text/csv", headers)
    text = dynamics.to_json(static.ids, signals, rows, extra=extra, epochs=info["epochs"], **fields)
    return Response(text.encode("utf-8"), "application/json", headers)


def serve_dynamics(run_path: str, cache_dir: str, params: Mapping, cache=None) -> Tuple[bytes, str]:
    """``GET dynamics``: (binary container, mimetype)."""
    r = serve("dynamics", run_path, cache_dir, params, cache=cache)
    return r.body, r.mimetype
