"""The DVI TensorBoard plugin: routes (docs/HTTP_API.md), lazy fitting, caches.

Handlers are thin: validate the query (validate.py), find the run (exact match
against ``storage.list_runs``, realpath inside the logdir), read from the
logdir (storage.RunReader, memory-mapped) and the engine's cache
(engine.cache.RunCache), answer. Nothing trains in a request: fitting is
delegated to :class:`jobs.JobManager` worker processes.

Memory: per run, only small things are kept (meta, static per-sample arrays,
per-epoch uids) in a bounded LRU of runs; encoded projections live in a
byte-bounded LRU. Epoch arrays are memory-mapped per request and dropped.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import mimetypes
import os
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
from werkzeug import wrappers

from tensorboard import errors
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin

from .. import metadata as md
from .. import storage
from ..engine.png import encode_png
from . import dynamics_route, validate, wire
from .jobs import JobManager

logger = logging.getLogger(__name__)

STATIC_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static")

NEAR_BOUNDARY = 0.1
FLAG_MISCLASSIFIED, FLAG_NOISY, FLAG_NEAR_BOUNDARY = 1, 2, 4

_CONTENT_TYPES = {
    ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".png": "image/png",
    ".svg": "image/svg+xml", ".json": "application/json", ".html": "text/html", ".map": "application/json",
    ".woff2": "font/woff2", ".txt": "text/plain",
}


class _LRU:
    """A small thread-safe LRU bounded by entry count and (optionally) total bytes."""

    def __init__(self, max_items: int, max_bytes: Optional[int] = None, on_evict=None):
        self._d: "collections.OrderedDict" = collections.OrderedDict()
        self._max_items, self._max_bytes = max_items, max_bytes
        self._on_evict = on_evict
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def _size(value) -> int:
        return len(value) if isinstance(value, (bytes, bytearray)) else 0

    def get(self, key):
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        return None

    def put(self, key, value):
        evicted = []
        with self._lock:
            if key in self._d:
                self._bytes -= self._size(self._d.pop(key))
            self._d[key] = value
            self._bytes += self._size(value)
            while len(self._d) > self._max_items or (self._max_bytes and self._bytes > self._max_bytes
                                                    and len(self._d) > 1):
                _, old = self._d.popitem(last=False)
                self._bytes -= self._size(old)
                evicted.append(old)
        if self._on_evict is not None:
            for old in evicted:
                self._on_evict(old)
        return value

    def discard_if(self, pred):
        with self._lock:
            for k in [k for k in self._d if pred(k)]:
                self._bytes -= self._size(self._d.pop(k))

    @property
    def nbytes(self):
        return self._bytes

    def __len__(self):
        return len(self._d)


def _clean(obj):
    """JSON-safe copy: numpy → Python, NaN/inf → None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def softmax_confidence(logits: np.ndarray) -> np.ndarray:
    """Softmax top-1 probability per row (float32)."""
    z = np.asarray(logits, dtype=np.float32)
    m = z.max(axis=1, keepdims=True)
    s = np.exp(z - m).sum(axis=1)
    return (1.0 / s).astype(np.float32)


def near_boundary(logits: np.ndarray, threshold: float = NEAR_BOUNDARY) -> np.ndarray:
    """Normalised (min-max over classes) top1 − top2 below ``threshold``."""
    z = np.asarray(logits, dtype=np.float32)
    if z.shape[1] < 2:
        return np.zeros(len(z), bool)
    top2 = np.partition(z, z.shape[1] - 2, axis=1)[:, -2:]
    lo = z.min(axis=1)
    span = top2[:, 1] - lo
    gap = top2[:, 1] - top2[:, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(span > 0, gap / np.where(span > 0, span, 1), 0.0)
    return norm < threshold


class _Run:
    """Cached per-run state (small): reader, cache, epoch uids, id index."""

    def __init__(self, name: str, path: str, cache_dir: str, cache, confine: Optional[str] = None):
        self.name = name
        self.path = path
        self.cache_dir = cache_dir
        self.confine = confine  # files read through a symlink out of the logdir are refused
        self.reader = storage.RunReader(path, confine=confine)
        self.cache = cache
        self.lock = threading.RLock()
        self.epoch_state: Dict[int, tuple] = {}  # epoch -> (stat key, uid or None, reason or None)
        self.fitted_memo = None  # (key, time, fitted list)
        self.id_order = None  # (sorted ids, argsort)
        self.samples_blob = None

    def drop_heavy(self):
        """Forget the per-sample arrays (reloaded on demand); keeps the small per-epoch state."""
        with self.lock:
            self.reader = storage.RunReader(self.path, confine=self.confine)
            self.id_order = None
            self.samples_blob = None


class DVIPlugin(base_plugin.TBPlugin):
    plugin_name = md.PLUGIN_NAME

    def __init__(self, context, *, jobs: Optional[JobManager] = None, cache_root: Optional[str] = None,
                 cache_factory: Optional[Callable] = None, clock: Callable[[], float] = time.monotonic,
                 watch_interval_s: float = 2.0, static_root: str = STATIC_ROOT, autofit: bool = True,
                 runs_ttl_s: float = 2.0, projection_cache_bytes: int = 64 << 20, max_loaded_runs: int = 8):
        self._context = context
        flags = getattr(context, "flags", None)
        self._logdir = os.path.abspath(context.logdir) if getattr(context, "logdir", None) else ""
        root = cache_root if cache_root is not None else (getattr(flags, "dvi_cache_dir", "") or "")
        self._cache_root = os.path.abspath(os.path.expanduser(root)) if root else None
        if jobs is None:
            jobs = JobManager(max_workers=int(getattr(flags, "dvi_workers", 1) or 1),
                              device=str(getattr(flags, "dvi_device", "cpu") or "cpu"))
        self._jobs = jobs
        # On exit (TensorBoard turns SIGTERM into sys.exit), stop workers at once: a fit
        # in progress keeps what it finished in the cache and resumes next time.
        import atexit
        atexit.register(jobs.shutdown, 1.0, graceful=False)
        self._cache_factory = cache_factory
        self._clock = clock
        self._watch_interval = float(watch_interval_s)
        self._static_root = static_root
        self._autofit = autofit
        self._runs_ttl = runs_ttl_s
        self._lock = threading.RLock()
        self._runs_memo: Optional[Tuple[float, List[str]]] = None
        self._runs: Dict[str, _Run] = {}  # small objects: one per run seen
        self._loaded = _LRU(max_loaded_runs, on_evict=lambda run: run.drop_heavy())  # runs with static arrays
        self._projections = _LRU(4096, projection_cache_bytes)
        self._opened: Dict[str, float] = {}
        self._watcher: Optional[threading.Thread] = None
        self._stop = threading.Event()

    # ------------------------------------------------------------------ TBPlugin

    def get_plugin_apps(self):
        return {
            "/runs": self._serve_runs,
            "/status": self._serve_status,
            "/fit": self._serve_fit,
            "/cancel": self._serve_cancel,
            "/samples": self._serve_samples,
            "/projection": self._serve_projection,
            "/background": self._serve_background,
            "/background_meta": self._serve_background_meta,
            "/predict_at": self._serve_predict_at,
            "/metrics": self._serve_metrics,
            "/sample": self._serve_sample,
            "/thumbnail": self._serve_thumbnail,
            "/trajectories": self._serve_trajectories,
            "/dynamics": self._dynamics_app("dynamics"),
            "/dynamics_query": self._dynamics_app("dynamics_query"),
            "/dynamics_export": self._dynamics_app("dynamics_export"),
            "/index.js": self._serve_static,
            "/*": self._serve_static,
        }

    def is_active(self):
        return bool(self._logdir) and bool(self._list_runs())

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name=md.TAB_NAME,
                                            disable_reload=True)

    def close(self, timeout: float = 2.0):
        """Stop the watcher and the workers (tests; TensorBoard uses atexit)."""
        self._stop.set()
        self._jobs.shutdown(timeout)

    # ------------------------------------------------------------------ runs and epochs

    def _list_runs(self) -> List[str]:
        if not self._logdir:
            return []
        now = self._clock()
        with self._lock:
            memo = self._runs_memo
            if memo is not None and now - memo[0] < self._runs_ttl:
                return memo[1]
        try:
            runs = storage.list_runs(self._logdir)
        except OSError:
            runs = []
        with self._lock:
            self._runs_memo = (now, runs)
        return runs

    def _cache_dir(self, run_path: str) -> str:
        from ..engine.cache import default_cache_dir
        d = default_cache_dir(run_path)
        if self._cache_root:
            return os.path.join(self._cache_root, os.path.basename(d))
        return d

    def _make_cache(self, cache_dir: str):
        if self._cache_factory is not None:
            return self._cache_factory(cache_dir)
        from ..engine.cache import RunCache
        return RunCache(cache_dir)

    def _run(self, request) -> _Run:
        name = validate.run_name(request.args)
        known = self._list_runs()
        if name not in known:
            with self._lock:
                self._runs_memo = None  # a run created a moment ago
            known = self._list_runs()
        path = validate.resolve_run(self._logdir, name, known)
        run = self._get_run(name, path)
        try:
            run.reader.meta
        except storage.FormatError as e:
            raise errors.NotFoundError(f"run {name!r} cannot be read: {e}") from None
        return run

    def _get_run(self, name: str, path: str) -> _Run:
        with self._lock:
            run = self._runs.get(name)
            if run is None or run.path != path:
                cache_dir = self._cache_dir(path)
                run = self._runs[name] = _Run(name, path, cache_dir, self._make_cache(cache_dir),
                                              confine=self._logdir or None)
            return run

    @staticmethod
    def _stat_key(run: _Run, epoch: int):
        folder = run.reader.epoch_path(epoch)
        try:
            st = os.stat(os.path.join(folder, md.EPOCH_FILE))
            dst = os.stat(folder)
            return (st.st_ino, st.st_mtime_ns, st.st_size, dst.st_ino, dst.st_mtime_ns)
        except OSError:
            return None

    def _scan(self, run: _Run) -> Tuple[List[int], Dict[int, str], Dict[int, str]]:
        """(logged epochs, {epoch: uid} of readable ones, {epoch: reason} of damaged ones)."""
        logged = run.reader.epochs()
        uids, damaged = {}, {}
        with run.lock:
            for e in logged:
                key = self._stat_key(run, e)
                cached = run.epoch_state.get(e)
                if cached is None or cached[0] != key or key is None:
                    try:
                        ep = run.reader.epoch(e)
                        ep.validate()
                        cached = (key, ep.uid, None)
                    except storage.DamagedEpochError as err:
                        cached = (key, None, err.reason)
                    except KeyError:  # vanished (being replaced)
                        continue
                    except storage.FormatError as err:
                        cached = (key, None, str(err))
                    run.epoch_state[e] = cached
                if cached[1] is not None:
                    uids[e] = cached[1]
                else:
                    damaged[e] = cached[2]
            for e in [e for e in run.epoch_state if e not in logged]:
                del run.epoch_state[e]
        return logged, uids, damaged

    def _fitted(self, run: _Run, uids: Dict[int, str]) -> List[int]:
        key = (self._jobs.generation(run.name), tuple(sorted(uids.items())))
        now = self._clock()
        with run.lock:
            memo = run.fitted_memo
            if memo is not None and memo[0] == key and now - memo[1] < 1.0:
                return memo[2]
        try:
            fitted = [e for e in run.cache.fitted_epochs(uids) if e in uids]
        except OSError:
            fitted = []
        with run.lock:
            run.fitted_memo = (key, now, fitted)
        return fitted

    def _epoch(self, run: _Run, request, *, fitted: bool = False, optional: bool = False):
        """The validated ``epoch`` parameter: logged, not damaged, fitted if asked. Returns (epoch, uid)."""
        e = validate.epoch(request.args, optional=optional)
        if e is None:
            return None, None
        logged, uids, damaged = self._scan(run)
        if e not in logged:
            raise errors.NotFoundError(f"epoch {e} has not been logged in run {run.name!r}")
        if e in damaged:
            raise errors.NotFoundError(f"epoch {e} of run {run.name!r} is damaged: {damaged[e]}")
        if e not in uids:
            raise errors.NotFoundError(f"epoch {e} of run {run.name!r} is being rewritten; try again")
        if fitted and e not in self._fitted(run, uids):
            raise errors.NotFoundError(f"epoch {e} of run {run.name!r} is not fitted yet")
        return e, uids[e]

    def _epoch_data(self, run: _Run, e: int):
        try:
            return run.reader.epoch(e)
        except storage.DamagedEpochError as err:
            raise errors.NotFoundError(f"epoch {e} of run {run.name!r} is damaged: {err.reason}") from None
        except KeyError:
            raise errors.NotFoundError(f"epoch {e} has not been logged in run {run.name!r}") from None

    def _static(self, run: _Run) -> storage.StaticData:
        self._loaded.put(run.name, run)
        try:
            return run.reader.static()
        except storage.FormatError as err:
            raise errors.NotFoundError(f"run {run.name!r} cannot be read: {err}") from None

    def _index_of(self, run: _Run, ids: List[int]) -> np.ndarray:
        static = self._static(run)
        with run.lock:
            if run.id_order is None:
                order = np.argsort(static.ids, kind="stable")
                run.id_order = (static.ids[order], order)
            sorted_ids, order = run.id_order
        q = np.asarray(ids, dtype=np.int64)
        pos = np.clip(np.searchsorted(sorted_ids, q), 0, max(len(sorted_ids) - 1, 0))
        found = (len(sorted_ids) > 0) & (sorted_ids[pos] == q) if len(sorted_ids) else np.zeros(len(q), bool)
        if not np.all(found):
            missing = [int(i) for i in q[~found][:5]]
            raise errors.NotFoundError(f"unknown sample id{'s' if len(missing) > 1 else ''} "
                                       f"{', '.join(map(str, missing))} in run {run.name!r}")
        return order[pos]

    # ------------------------------------------------------------------ lazy fitting

    def _maybe_schedule(self, run: _Run, *, user: bool = False) -> None:
        logged, uids, damaged = self._scan(run)
        valid = sorted(uids)
        if user:
            self._jobs.submit(run.name, run.path, run.cache_dir, valid, user=True)
            return
        if not self._autofit or not valid:
            return
        fitted = set(self._fitted(run, uids))
        if all(e in fitted for e in valid):
            return
        with self._jobs.lock:
            job = self._jobs.job(run.name)
            state = job.state if job is not None else "idle"
            if state == "cancelled" and job.user_cancelled:
                return
            if state in ("error", "done", "cancelled") and job.epochs == valid:
                return  # the same input already ended that way: do not loop
            self._jobs.submit(run.name, run.path, run.cache_dir, valid)

    def _open(self, run: _Run) -> None:
        with self._lock:
            self._opened[run.name] = self._clock()
            if self._watcher is None and self._watch_interval > 0:
                self._watcher = threading.Thread(target=self._watch, name="dvi-watch", daemon=True)
                self._watcher.start()

    def _watch(self):
        while not self._stop.wait(self._watch_interval):
            with self._lock:
                names = list(self._opened)
            for name in names:
                try:
                    known = self._list_runs()
                    if name not in known:
                        continue
                    run = self._get_run(name, validate.resolve_run(self._logdir, name, known))
                    self._maybe_schedule(run)
                except Exception:
                    logger.exception("DVI watcher failed for run %r", name)

    def _run_summary(self, run: _Run) -> dict:
        logged, uids, damaged = self._scan(run)
        fitted = self._fitted(run, uids)
        return {"epochs": logged, "fitted": fitted, "damaged": {str(k): v for k, v in damaged.items()},
                "job": self._jobs.status(run.name)}

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _json(request, obj, code=200):
        return http_util.Respond(request, json.dumps(_clean(obj), separators=(",", ":")), "application/json",
                                 code=code)

    @staticmethod
    def _require_method(request, *methods):
        if request.method not in methods:
            raise _MethodNotAllowed(methods)

    # ------------------------------------------------------------------ routes

    @wrappers.Request.application
    def _serve_runs(self, request):
        out = []
        for name in self._list_runs():
            entry = {"name": name}
            try:
                path = validate.resolve_run(self._logdir, name, [name])
            except errors.PublicError:
                continue
            run = self._get_run(name, path)
            try:
                meta = run.reader.meta
            except storage.FormatError as err:
                entry.update({"epochs": [], "fitted": [], "damaged": {}, "error": str(err),
                              "job": self._jobs.status(name)})
                out.append(entry)
                continue
            entry.update({"num_classes": meta.get("num_classes"), "class_names": meta.get("class_names"),
                          "n_train": meta.get("n_train"), "n_test": meta.get("n_test"), "dim": meta.get("dim"),
                          "has_thumbnails": bool(meta.get("has_thumbnails")),
                          "has_noisy": bool(meta.get("has_noisy"))})
            entry.update(self._run_summary(run))
            out.append(entry)
        return self._json(request, {"runs": out})

    @wrappers.Request.application
    def _serve_status(self, request):
        run = self._run(request)
        self._open(run)
        self._maybe_schedule(run)
        summary = self._run_summary(run)
        job = dict(summary["job"])
        job.update({"run": run.name, "epochs": summary["epochs"], "fitted": summary["fitted"],
                    "damaged": summary["damaged"]})
        return self._json(request, job)

    def _serve_fit_or_cancel(self, request, cancel: bool):
        self._require_method(request, "POST")
        run = self._run(request)
        self._open(run)
        if cancel:
            job = self._jobs.cancel(run.name)
        else:
            self._maybe_schedule(run, user=True)
            job = self._jobs.status(run.name)
        return self._json(request, job, code=202)

    @wrappers.Request.application
    def _serve_fit(self, request):
        return self._method_guard(request, lambda: self._serve_fit_or_cancel(request, cancel=False))

    @wrappers.Request.application
    def _serve_cancel(self, request):
        return self._method_guard(request, lambda: self._serve_fit_or_cancel(request, cancel=True))

    def _method_guard(self, request, fn):
        try:
            return fn()
        except _MethodNotAllowed as e:
            return http_util.Respond(request, f"use {' or '.join(e.methods)} for this route", "text/plain",
                                     code=405, headers=[("Allow", ", ".join(e.methods))])

    @wrappers.Request.application
    def _serve_samples(self, request):
        run = self._run(request)
        self._loaded.put(run.name, run)
        blob = run.samples_blob
        if blob is None:
            static = self._static(run)
            ids = static.ids
            if len(ids) and ids.min() >= -(2 ** 31) and ids.max() < 2 ** 31:
                ids = ids.astype(np.int32)
            else:
                ids = ids.astype(np.float64)
            arrays = {"ids": ids, "labels": static.labels.astype(np.int16), "split": static.split.astype(np.uint8)}
            if static.noisy is not None:
                arrays["noisy"] = static.noisy.astype(np.uint8)
            blob = run.samples_blob = wire.encode(arrays, n=int(len(static.ids)))
        return http_util.Respond(request, blob, "application/octet-stream")

    def projection_bytes(self, run: _Run, e: int, uid: str) -> bytes:
        key = (run.path, e, uid, self._jobs.generation(run.name))
        blob = self._projections.get(key)
        if blob is not None:
            return blob
        ep = self._epoch_data(run, e)
        try:
            coords = np.asarray(run.cache.embedding(e), dtype=np.float32)
            logits = ep.logits
            preds = ep.predictions
        except storage.DamagedEpochError as err:
            raise errors.NotFoundError(f"epoch {e} of run {run.name!r} is damaged: {err.reason}") from None
        except (KeyError, FileNotFoundError, ValueError, OSError) as err:
            raise errors.NotFoundError(f"epoch {e} of run {run.name!r} is not fitted yet ({err})") from None
        static = self._static(run)
        n = len(static.ids)
        if coords.shape != (n, 2):
            raise errors.NotFoundError(f"epoch {e} of run {run.name!r} is not fitted yet "
                                       f"(cached projection has shape {coords.shape}, expected ({n}, 2))")
        flags = (preds != static.labels).astype(np.uint8) * FLAG_MISCLASSIFIED
        if static.noisy is not None:
            flags |= static.noisy.astype(np.uint8) * FLAG_NOISY
        flags |= near_boundary(logits).astype(np.uint8) * FLAG_NEAR_BOUNDARY
        blob = wire.encode({"coords": coords, "predictions": preds.astype(np.int16),
                            "confidence": softmax_confidence(logits), "flags": flags}, n=n, epoch=e)
        self._projections.discard_if(lambda k: k[0] == run.path and k[1] == e and k != key)
        return self._projections.put(key, blob)

    @wrappers.Request.application
    def _serve_projection(self, request):
        run = self._run(request)
        e, uid = self._epoch(run, request, fitted=True)
        return http_util.Respond(request, self.projection_bytes(run, e, uid), "application/octet-stream")

    def _cache_call(self, run: _Run, e: int, fn):
        try:
            return fn()
        except (KeyError, FileNotFoundError) as err:
            raise errors.NotFoundError(f"epoch {e} of run {run.name!r} is not fitted yet ({err})") from None
        except (ValueError, OSError) as err:
            raise errors.NotFoundError(f"epoch {e} of run {run.name!r}: cached results unreadable ({err})") from None

    @wrappers.Request.application
    def _serve_background(self, request):
        run = self._run(request)
        e, _ = self._epoch(run, request, fitted=True)
        png = self._cache_call(run, e, lambda: run.cache.background_png(e))
        return http_util.Respond(request, png, "image/png")

    @wrappers.Request.application
    def _serve_background_meta(self, request):
        run = self._run(request)
        e, _ = self._epoch(run, request, fitted=True)
        meta = self._cache_call(run, e, lambda: run.cache.background_meta(e))
        return self._json(request, {"bounds": meta.get("bounds"), "resolution": meta.get("resolution"),
                                    **{k: v for k, v in meta.items() if k not in ("bounds", "resolution")}})

    @wrappers.Request.application
    def _serve_predict_at(self, request):
        run = self._run(request)
        x = validate.finite_float(request.args, "x")
        y = validate.finite_float(request.args, "y")
        e, _ = self._epoch(run, request, fitted=True)
        cls, conf, inside = self._cache_call(run, e, lambda: run.cache.predict_at(e, x, y))
        names = run.reader.meta.get("class_names") or []
        name = names[cls] if 0 <= cls < len(names) else str(cls)
        return self._json(request, {"class": int(cls), "class_name": name, "confidence": float(conf),
                                    "inside": bool(inside)})

    def _dynamics_app(self, route: str):
        """Training-dynamics routes (engine/dynamics.py via plugin/dynamics_route.py)."""
        @wrappers.Request.application
        def app(request):
            run = self._run(request)
            resp = dynamics_route.serve(route, run.path, run.cache_dir, request.values, cache=run.cache,
                                        confine=run.confine)
            return http_util.Respond(request, resp.body, resp.mimetype, headers=resp.headers)
        return app

    @wrappers.Request.application
    def _serve_metrics(self, request):
        run = self._run(request)
        e, _ = self._epoch(run, request, fitted=True, optional=True)
        if e is not None:
            m = self._cache_call(run, e, lambda: run.cache.metrics(e))
            return self._json(request, {"epoch": e, **m})
        _, uids, _ = self._scan(run)
        out_epochs, metrics = [], []
        for f in self._fitted(run, uids):
            try:
                m = run.cache.metrics(f)
            except (KeyError, OSError, ValueError):
                continue
            out_epochs.append(f)
            metrics.append({"epoch": f, **m})
        return self._json(request, {"epochs": out_epochs, "metrics": metrics})

    @wrappers.Request.application
    def _serve_sample(self, request):
        run = self._run(request)
        sid = validate.sample_id(request.args)
        e, _ = self._epoch(run, request, optional=True)
        idx = int(self._index_of(run, [sid])[0])
        static = self._static(run)
        meta = run.reader.meta
        names = meta.get("class_names") or []

        def cname(c):
            return names[c] if 0 <= c < len(names) else str(c)

        label = int(static.labels[idx])
        out = {"id": sid, "index": idx, "split": "train" if static.split[idx] == md.SPLIT_TRAIN else "test",
               "label": label, "label_name": cname(label),
               "noisy": bool(static.noisy[idx]) if static.noisy is not None else False,
               "has_thumbnail": bool(meta.get("has_thumbnails"))}
        if e is not None:
            ep = self._epoch_data(run, e)
            try:
                pred = int(ep.predictions[idx])
                logits = ep.logits[idx:idx + 1]
            except storage.DamagedEpochError as err:
                raise errors.NotFoundError(f"epoch {e} of run {run.name!r} is damaged: {err.reason}") from None
            out.update({"epoch": e, "prediction": pred, "prediction_name": cname(pred),
                        "confidence": float(softmax_confidence(logits)[0])})
        return self._json(request, out)

    @wrappers.Request.application
    def _serve_thumbnail(self, request):
        run = self._run(request)
        sid = validate.sample_id(request.args)
        idx = int(self._index_of(run, [sid])[0])
        try:
            thumbs = run.reader.thumbnails()
        except storage.FormatError as err:
            raise errors.NotFoundError(f"thumbnails of run {run.name!r} are unreadable: {err}") from None
        if thumbs is None:
            raise errors.NotFoundError(f"run {run.name!r} has no thumbnails")
        try:
            png = encode_png(np.array(thumbs[idx]))
        except ValueError as err:
            raise errors.NotFoundError(f"thumbnail of sample {sid} cannot be shown: {err}") from None
        return http_util.Respond(request, png, "image/png", expires=3600)

    @wrappers.Request.application
    def _serve_trajectories(self, request):
        run = self._run(request)
        ids = validate.id_list(request.args)
        start = validate.epoch(request.args, "start", optional=True)
        end = validate.epoch(request.args, "end", optional=True)
        if start is not None and end is not None and start > end:
            raise errors.InvalidArgumentError(f"start ({start}) is after end ({end})")
        idx = self._index_of(run, ids)
        logged, uids, _ = self._scan(run)
        epochs = [e for e in sorted(uids) if (start is None or e >= start) and (end is None or e <= end)]
        fitted = set(self._fitted(run, uids))
        columns = []
        for e in epochs:
            col = None
            if e in fitted:
                try:
                    emb = run.cache.embedding(e)
                    col = np.asarray(emb[idx], dtype=np.float64).tolist()
                except (KeyError, OSError, ValueError, IndexError):
                    col = None
            columns.append(col)
        positions = [[(col[i] if col is not None else None) for col in columns] for i in range(len(ids))]
        return self._json(request, {"ids": ids, "epochs": epochs, "positions": positions})

    @wrappers.Request.application
    def _serve_static(self, request):
        prefix = f"/data/plugin/{md.PLUGIN_NAME}/"
        path = request.path
        i = path.find(prefix)
        rel = path[i + len(prefix):] if i >= 0 else ""
        target = validate.static_file(self._static_root, rel)
        if target is None:
            return http_util.Respond(request, f"not found: {rel or '/'}", "text/plain", code=404)
        ext = os.path.splitext(target)[1].lower()
        ctype = _CONTENT_TYPES.get(ext) or mimetypes.guess_type(target)[0] or "application/octet-stream"
        with open(target, "rb") as f:
            body = f.read()
        return http_util.Respond(request, body, ctype)


class _MethodNotAllowed(Exception):
    def __init__(self, methods):
        super().__init__("method not allowed")
        self.methods = methods
