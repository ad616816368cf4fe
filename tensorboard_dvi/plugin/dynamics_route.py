"""Routes for training dynamics (docs/HTTP_API.md, "Training dynamics"; docs/DYNAMICS.md).

plugin.py resolves the run and dispatches::

    resp = dynamics_route.serve("dynamics", run, request.values, runs)
    return http_util.Respond(request, resp.body, resp.mimetype, headers=resp.headers)

``run`` is the per-run state of :mod:`runs` (reader, cache, epoch scan); this
module keeps its memo in ``run.dynamics``, so it lives and is dropped with the
run's other per-sample data. Parameters go through validate.py (queries are
typed by the catalogue); errors are the typed ones of codes.py.

Cost: signals are computed online (engine.dynamics.SignalAccumulator, O(N)
memory), keyed by the logged epochs' uids. A request after a new epoch arrived
reads only that epoch's logits (the accumulator is extended); a replaced or
removed epoch (different uid sequence) recomputes from scratch. The map path
(distance_travelled) is keyed separately by the fresh fitted epochs and their
embedding files, so fitting progress never re-reads logits.
"""

from __future__ import annotations

import json
import os
import re
import threading
from typing import List, Mapping, NamedTuple, Tuple

import numpy as np

from .. import catalogue
from .. import metadata as md
from .. import storage
from ..engine import dynamics
from ..engine.cache import EMBEDDING_FILE
from . import validate, wire
from .codes import BadParam, Damaged, UnknownEpoch
from .runs import Runs, RunState

ROUTES = ("dynamics", "dynamics_query", "dynamics_export")
MAX_EXPORT_IDS = 1_000_000
_ROUTE_PARAMS = {"run", "query", "format", "ids"}


class Response(NamedTuple):
    body: bytes
    mimetype: str
    headers: List[Tuple[str, str]]


class _State:
    """Per-run memo: the accumulator for a uid sequence, the map path for a fitted sequence."""

    def __init__(self, static_key):
        self.lock = threading.Lock()
        self.static_key = static_key
        self.uid_key: Tuple = ()
        self.acc = None
        self.used_epochs: List[int] = []
        self.skipped: dict = {}
        self.path_key: Tuple = ()
        self.path = None
        self.result = None  # (uid_key, path_key, Signals, blob, info)


def _state(run: RunState) -> _State:
    """The run's memo; a rewritten static folder (new labels) starts a fresh one."""
    key = run.static_key()
    with run.lock:
        st = run.dynamics
        if st is None or key is None or st.static_key != key:
            if st is not None:
                run.drop_heavy()  # the cached static arrays are stale too
            st = run.dynamics = _State(key)
        return st


def _is_prefix(short: Tuple, long: Tuple) -> bool:
    return len(short) <= len(long) and long[:len(short)] == short


def _embedding_key(cache, e: int):
    try:
        st = os.stat(os.path.join(cache.epoch_path(e), EMBEDDING_FILE))
        return (e, st.st_ino, st.st_mtime_ns, st.st_size)
    except (OSError, AttributeError):
        return (e, None)


def _extend_signals(st: _State, run: RunState, static, uid_list) -> None:
    """Feed the accumulator the epochs it has not seen (from scratch when the sequence changed)."""
    uid_key = tuple(uid_list)
    if st.acc is None or not _is_prefix(st.uid_key, uid_key):
        acc, used, skipped, start = dynamics.SignalAccumulator(static.labels), [], {}, 0
    else:
        acc, used, skipped, start = st.acc.copy(), list(st.used_epochs), dict(st.skipped), len(st.uid_key)
    for e, _uid in uid_list[start:]:
        try:
            acc.add(run.reader.epoch(e).logits)
            used.append(e)
        except storage.DamagedEpochError as err:
            skipped[e] = err.reason
        except KeyError:
            skipped[e] = "vanished while reading"
        except dynamics.DynamicsError as err:
            skipped[e] = str(err)
    st.acc, st.uid_key, st.used_epochs, st.skipped = acc, uid_key, used, skipped


def _extend_path(st: _State, run: RunState, n: int, fitted: List[int]) -> List[int]:
    """Feed the map path the fitted epochs it has not seen; returns the epochs it covers."""
    path_key = tuple(_embedding_key(run.cache, e) for e in fitted)
    if st.path is None or not _is_prefix(st.path_key, path_key) or any(k[1] is None for k in st.path_key):
        path, start = dynamics.PathAccumulator(n), 0
    else:
        path, start = st.path.copy(), len(st.path_key)
    fitted_used = [k[0] for k in path_key[:start]]
    for e in fitted[start:]:
        try:
            path.add(np.asarray(run.cache.embedding(e), dtype=np.float32))
            fitted_used.append(e)
        except (KeyError, OSError, ValueError, dynamics.DynamicsError):  # being refitted, or a wrong shape
            path_key = path_key[:len(fitted_used)]
            break
    st.path, st.path_key = path, path_key
    return fitted_used


def compute(run: RunState, runs: Runs):
    """(signals, binary container, static data, info) of a run, reusing what earlier calls computed."""
    st = _state(run)
    static = runs.static(run)
    with st.lock:
        logged, uids, damaged = runs.scan(run)
        if not logged:
            raise UnknownEpoch(f"run {run.name!r} has no epochs logged yet: training dynamics need at least one")
        uid_list = sorted(uids.items())
        _extend_signals(st, run, static, uid_list)
        skipped = {**damaged, **st.skipped}
        if st.acc.epochs == 0:
            raise Damaged("no readable epochs: " + "; ".join(f"epoch {e}: {r}" for e, r in sorted(skipped.items())))
        fitted_used = _extend_path(st, run, len(static.labels), runs.fitted(run, uids))
        if st.result is not None and st.result[0] == st.uid_key and st.result[1] == st.path_key:
            return st.result[2], st.result[3], static, st.result[4]
        signals = st.acc.result(distance=st.path.result())
        signals.n_coord_epochs = st.path.count
        info = {"epochs": st.used_epochs, "fitted_epochs": fitted_used,
                "skipped": {str(e): r for e, r in sorted(skipped.items())}}
        blob = encode_signals(signals, **info)
        st.result = (st.uid_key, st.path_key, signals, blob, info)
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


def _run_query(signals, static, params) -> Tuple[str, dict, np.ndarray]:
    query = validate.choice(params, "query", [q["name"] for q in catalogue.QUERIES])
    qp = validate.typed_params(params, catalogue.query_params(query), _ROUTE_PARAMS, f"query {query!r}")
    try:
        rows = dynamics.run_queries(signals, query, sample_split=static.split, **qp)
    except dynamics.DynamicsError as err:
        raise BadParam(str(err)) from None
    return query, qp, rows


def _extra_columns(static: storage.StaticData) -> dict:
    extra = {"label": static.labels, "split": np.where(static.split == md.SPLIT_TRAIN, "train", "test")}
    if static.noisy is not None:
        extra["noisy"] = static.noisy
    return extra


def _filename(run_path: str, what: str, ext: str) -> str:
    base = os.path.basename(os.path.normpath(run_path)) or "run"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"dvi-dynamics-{base}-{what}")[:120]
    return f"{safe}.{ext}"


def serve(route: str, run: RunState, params: Mapping, runs: Runs) -> Response:
    """Answer one of :data:`ROUTES` for ``run`` (already resolved by the plugin).

    ``params``: the request's parameters (``request.values``: query string and,
    for exports of large selections, a form-encoded POST body).
    """
    signals, blob, static, info = compute(run, runs)
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
    fmt = validate.choice(params, "format", ("csv", "json"), default="csv")
    has_ids, has_query = bool(params.get("ids")), bool(params.get("query"))
    if has_ids == has_query:
        raise BadParam("give exactly one of 'ids' (a selection) or 'query' (a ready-made query)")
    if has_ids:
        extra = validate.extra_params(params, _ROUTE_PARAMS)
        if extra:
            raise BadParam(f"unexpected parameter(s) {', '.join(extra)} with 'ids'")
        ids = validate.id_list(params, "ids", limit=MAX_EXPORT_IDS, per="export")
        rows, what, fields = runs.index_of(run, ids), "selection", {}
    else:
        query, qp, rows = _run_query(signals, static, params)
        what, fields = query, {"query": query, "params": qp}
    extra = _extra_columns(static)
    name = _filename(run.path, what, fmt)
    headers = [("Content-Disposition", f'attachment; filename="{name}"')]
    if fmt == "csv":
        text = dynamics.to_csv(static.ids, signals, rows, extra=extra)
        return Response(text.encode("utf-8"), "text/csv", headers)
    text = dynamics.to_json(static.ids, signals, rows, extra=extra, epochs=info["epochs"], **fields)
    return Response(text.encode("utf-8"), "application/json", headers)
