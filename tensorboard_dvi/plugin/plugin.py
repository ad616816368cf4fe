"""The DVI TensorBoard plugin: the route table of docs/HTTP_API.md and thin handlers.

Handlers validate the query (validate.py), find the run and its epochs through
:class:`runs.Runs` (per-run state, LRU, epoch scan), read from the logdir
(storage.RunReader, memory-mapped) and the engine's cache
(engine.cache.RunCache), answer. Nothing trains in a request: fitting is
delegated to :class:`jobs.JobManager` worker processes, when
:class:`fitting.LazyFitter` decides. Errors are typed (codes.py): each answer
names its cause in the ``X-DVI-Error`` header.
"""

from __future__ import annotations

import logging
import mimetypes
import os
import time
from typing import Callable, Optional

import numpy as np
from werkzeug import wrappers

from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin

from .. import catalogue
from .. import fs as dfs
from .. import mirror
from .. import metadata as md
from .. import storage
from ..engine.cache import map_shift
from . import codes, dynamics_route, logdirs, map_data, validate, zoom_route
from .fitting import LazyFitter
from .guard import Guard
from .lifecycle import on_sigterm
from .jobs import JobManager
from .neighbours import NeighbourRoutes
from .reference_route import ReferenceRoutes
from .runs import LRU, Runs, RunState
from .sample_routes import SampleRoutes, class_name, respond_json
from .tags import TagRoutes

logger = logging.getLogger(__name__)

STATIC_ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "static")

_CONTENT_TYPES = {
    ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".png": "image/png",
    ".svg": "image/svg+xml", ".json": "application/json", ".html": "text/html", ".map": "application/json",
    ".woff2": "font/woff2", ".txt": "text/plain",
}


class DVIPlugin(base_plugin.TBPlugin):
    plugin_name = md.PLUGIN_NAME

    def __init__(self, context, *, jobs: Optional[JobManager] = None, cache_root: Optional[str] = None,
                 cache_factory: Optional[Callable] = None, clock: Callable[[], float] = time.monotonic,
                 watch_interval_s: float = 2.0, static_root: str = STATIC_ROOT, autofit: bool = True,
                 runs_ttl_s: float = 2.0, projection_cache_bytes: int = 64 << 20, max_loaded_runs: int = 8,
                 max_concurrent: int = 8):
        flags = getattr(context, "flags", None)
        # A URL logdir (s3://...) is read through its local mirror (mirror.py); caches may be URLs.
        logdir = mirror.localize(context.logdir) if getattr(context, "logdir", None) else ""
        root = cache_root if cache_root is not None else (getattr(flags, "dvi_cache_dir", "") or "")
        if jobs is None:
            jobs = JobManager(max_workers=int(getattr(flags, "dvi_workers", 1) or 1),
                              device=str(getattr(flags, "dvi_device", "cpu") or "cpu"))
        self._jobs = jobs
        if logdir and getattr(jobs, "confine", None) is None:
            jobs.confine = logdir  # the fitting process reads nothing outside the logdir either
        # On exit (TensorBoard turns SIGTERM into sys.exit), stop workers at once: a fit
        # in progress keeps what it finished in the cache and resumes next time.
        import atexit
        atexit.register(jobs.shutdown, 1.0, graceful=False)
        on_sigterm(jobs)
        self._static_root = static_root
        self.runs = Runs(logdir, cache_root=dfs.normalise(os.path.expanduser(root)) if root else None,
                         cache_factory=cache_factory, generation=jobs.generation, clock=clock,
                         runs_ttl_s=runs_ttl_s, max_loaded_runs=max_loaded_runs,
                         roots=logdirs.roots_from_context(context))
        self.fitter = LazyFitter(self.runs, jobs, autofit=autofit, watch_interval_s=watch_interval_s, clock=clock)
        self._projections = LRU(4096, projection_cache_bytes)
        self._samples = SampleRoutes(self.runs)
        self._neighbours = NeighbourRoutes(self.runs)
        self._tags = TagRoutes(self.runs)
        self._reference = ReferenceRoutes(self.runs, jobs, self._json)  # "B laid out from A"
        self.zoom = zoom_route.ZoomRenderer()  # zoomed backgrounds (plugin/zoom_route.py)
        atexit.register(self.zoom.close)
        allowed = str(getattr(flags, "dvi_allowed_hosts", "") or "").split(",")
        from ..engine.cache import default_cache_dir
        cache_base = mirror.localize(os.path.expanduser(root)) if root else os.path.dirname(default_cache_dir("."))
        scrub = {cache_base: "<cache>", os.path.realpath(cache_base): "<cache>"}
        for folder in [logdir] + [r.path for r in self.runs.roots]:
            if folder:
                scrub.update({folder: "<logdir>", os.path.realpath(folder): "<logdir>"})
        self._guard = Guard(bind_host=getattr(flags, "host", None), allowed_hosts=allowed, scrub=scrub,
                            max_concurrent=max_concurrent)

    # ------------------------------------------------------------------ TBPlugin

    def get_plugin_apps(self):
        """The route table; every route goes through the security wrapper (guard.py)."""
        routes = {
            "/runs": self._serve_runs,
            "/status": self._serve_status,
            "/fit": self._serve_fit,
            "/cancel": self._serve_cancel,
            "/fit_from": self._reference.serve_fit_from,
            "/fit_from_cancel": self._reference.serve_cancel,
            "/catalogue": self._serve_catalogue,
            "/samples": self._serve_samples,
            "/projection": self._serve_projection,
            "/background": self._serve_background,
            "/background_meta": self._serve_background_meta,
            "/predict_at": self._serve_predict_at,
            "/metrics": self._serve_metrics,
            "/sample": self._samples.sample,
            "/thumbnail": self._samples.thumbnail,
            "/trajectories": self._serve_trajectories,
            "/dynamics": self._dynamics_app("dynamics"),
            "/dynamics_query": self._dynamics_app("dynamics_query"),
            "/dynamics_export": self._dynamics_app("dynamics_export"),
            "/texts": self._samples.texts,
            "/metadata": self._samples.metadata,
            "/search": self._samples.search,
            "/history": self._samples.history,
            "/neighbours": self._neighbours.neighbours,
            "/tags": self._tags.tags,
            "/tags_export": self._tags.export,
            "/index.js": self._serve_static,
            "/*": self._serve_static,
        }
        return {path: self._guard.wrap(app, bounded=app != self._serve_static, heavy=path.endswith("_export"))
                for path, app in routes.items()}

    def is_active(self):
        return bool(self.runs.names())

    def frontend_metadata(self):
        return base_plugin.FrontendMetadata(es_module_path="/index.js", tab_name=md.TAB_NAME,
                                            disable_reload=True)

    def close(self, timeout: float = 2.0):
        """Stop the watcher and the workers (tests; TensorBoard uses atexit)."""
        self.fitter.close()
        self.zoom.close()
        self._jobs.shutdown(timeout)

    # ------------------------------------------------------------------ helpers

    def _run_summary(self, run: RunState) -> dict:
        logged, uids, damaged = self.runs.scan(run)
        fitted = self.runs.fitted(run, uids)
        return {"epochs": logged, "fitted": fitted, "provisional": self.runs.provisional(run, uids, fitted),
                "damaged": {str(k): v for k, v in damaged.items()}, "job": self._jobs.status(run.name)}

    _json = staticmethod(respond_json)

    @staticmethod
    def _cache_call(run: RunState, e: int, fn):
        """Read the engine's cache; a missing file is "not fitted", an unreadable one "damaged"."""
        try:
            return fn()
        except (KeyError, FileNotFoundError) as err:
            raise codes.NotFitted(f"epoch {e} of run {run.name!r} is not fitted yet ({err})") from None
        except (ValueError, OSError) as err:
            raise codes.Damaged(f"epoch {e} of run {run.name!r}: cached results unreadable ({err})") from None

    # ------------------------------------------------------------------ routes: runs and jobs

    def _run_entry(self, name: str) -> Optional[dict]:
        """One run of ``GET runs``; its damage stays in its entry (``error``), never a 500."""
        entry = {"name": name}
        try:
            run = self.runs.resolve(name)
            if run is None:  # removed since it was listed
                return None
            meta = run.reader.meta
            entry.update({"num_classes": meta.get("num_classes"), "class_names": meta.get("class_names"),
                          "n_train": meta.get("n_train"), "n_test": meta.get("n_test"), "dim": meta.get("dim"),
                          "has_thumbnails": bool(meta.get("has_thumbnails")),
                          "has_noisy": bool(meta.get("has_noisy"))})
            entry.update(self._samples.extras.summary(run))
            entry.update(self._run_summary(run))
            return entry
        except codes.Forbidden:
            return None
        except Exception as err:  # noqa: BLE001 - FormatError, or anything a hostile run provokes
            reason = str(err) if isinstance(err, storage.FormatError) else f"unreadable ({type(err).__name__})"
            if not isinstance(err, storage.FormatError):
                logger.warning("DVI: run %r cannot be listed: %r", name, err)
            return {"name": name, "epochs": [], "fitted": [], "damaged": {}, "error": reason,
                    "job": self._jobs.status(name)}

    @wrappers.Request.application
    def _serve_runs(self, request):
        out = [e for e in (self._run_entry(name) for name in self.runs.names()) if e is not None]
        skipped = self.runs.skipped()
        return self._json(request, {"runs": out, **({"skipped": skipped} if skipped else {})})

    @wrappers.Request.application
    def _serve_status(self, request):
        """GET: the job and the epochs, no side effect. POST (the tab opening or polling a run):
        also watch the run and queue fitting of unfitted epochs (:class:`LazyFitter`)."""
        run = self.runs.open(request.args)
        if request.method == "POST":
            self.fitter.open(run)
            self.fitter.schedule(run)
        summary = self._run_summary(run)
        job = dict(summary.pop("job"))
        job.update({"run": run.name, **summary})
        return self._json(request, job)

    def _fit_or_cancel(self, request, cancel: bool):
        if request.method != "POST":
            return http_util.Respond(request, "use POST for this route", "text/plain", code=405,
                                     headers=codes.method_headers(["POST"]))
        run = self.runs.open(request.args)
        self.fitter.open(run)
        if cancel:
            job = self._jobs.cancel(run.name)
        else:
            self.fitter.schedule(run, user=True)
            job = self._jobs.status(run.name)
        return self._json(request, job, code=202)

    @wrappers.Request.application
    def _serve_fit(self, request):
        return self._fit_or_cancel(request, cancel=False)

    @wrappers.Request.application
    def _serve_cancel(self, request):
        return self._fit_or_cancel(request, cancel=True)

    @wrappers.Request.application
    def _serve_catalogue(self, request):
        return self._json(request, catalogue.catalogue())

    # ------------------------------------------------------------------ routes: per-sample data

    @wrappers.Request.application
    def _serve_samples(self, request):
        run = self.runs.open(request.args)
        self.runs.touch(run)
        if run.samples_blob is None:
            run.samples_blob = map_data.samples_blob(self.runs.static(run))
        return http_util.Respond(request, run.samples_blob, "application/octet-stream")

    def projection_bytes(self, run: RunState, e: int, uid: str) -> bytes:
        key = (run.path, e, uid, self._jobs.generation(run.name))
        blob = self._projections.get(key)
        if blob is not None:
            return blob
        blob = map_data.projection_blob(run, e, self.runs.epoch_data(run, e), self.runs.static(run))
        self._projections.discard_if(lambda k: k[0] == run.path and k[1] == e and k != key)
        return self._projections.put(key, blob)

    @wrappers.Request.application
    def _serve_projection(self, request):
        """The fitted epoch's projection (or, with ``ref=A``, run B laid out from A); with
        ``provisional=1`` (not with ``ref``), until the epoch is fitted, its provisional layout
        (header ``provisional: true``), else ``not_fitted`` as without it."""
        if "ref" not in request.args and validate.choice(request.args, "provisional", ("0", "1"), default="0") == "1":
            run = self.runs.open(request.args)
            e, uid = self.runs.epoch(run, request.args)
            if e not in self.runs.fitted(run, self.runs.scan(run)[1]):
                blob = map_data.provisional_blob(run, e, self.runs.epoch_data(run, e), self.runs.static(run), uid)
                return http_util.Respond(request, blob, "application/octet-stream")
        run, e, uid = self._reference.resolve(request.args)
        return http_util.Respond(request, self.projection_bytes(run, e, uid), "application/octet-stream")

    @wrappers.Request.application
    def _serve_background(self, request):
        run, e, uid = self._reference.resolve(request.args)
        if "bounds" in request.args:
            return zoom_route.serve_png(self, request, run, e, uid)
        png = self._cache_call(run, e, lambda: run.cache.background_png(e))
        return http_util.Respond(request, png, "image/png")

    @wrappers.Request.application
    def _serve_background_meta(self, request):
        run, e, _ = self._reference.resolve(request.args)
        meta = self._cache_call(run, e, lambda: run.cache.background_meta(e))
        if "bounds" in request.args:
            return self._json(request, zoom_route.meta(request.args, meta))
        return self._json(request, {"bounds": meta.get("bounds"), "resolution": meta.get("resolution"),
                                    **{k: v for k, v in meta.items() if k not in ("bounds", "resolution")}})

    @wrappers.Request.application
    def _serve_predict_at(self, request):
        x = validate.finite_float(request.args, "x")
        y = validate.finite_float(request.args, "y")
        run, e, _ = self._reference.resolve(request.args)
        cls, conf, inside = self._cache_call(run, e, lambda: run.cache.predict_at(e, x, y))
        return self._json(request, {"class": int(cls), "class_name": class_name(run, cls),
                                    "confidence": float(conf), "inside": bool(inside)})

    def _dynamics_app(self, route: str):
        """Training-dynamics routes (engine/dynamics.py via plugin/dynamics_route.py)."""
        @wrappers.Request.application
        def app(request):
            run = self.runs.open(request.args)
            resp = dynamics_route.serve(route, run, request.values, self.runs)
            return http_util.Respond(request, resp.body, resp.mimetype, headers=resp.headers)
        return app

    @wrappers.Request.application
    def _serve_metrics(self, request):
        run = self.runs.open(request.args)
        e, _ = self.runs.epoch(run, request.args, fitted=True, optional=True)
        if e is not None:
            m = self._cache_call(run, e, lambda: run.cache.metrics(e))
            return self._json(request, {"epoch": e, **m})
        _, uids, _ = self.runs.scan(run)
        out_epochs, metrics = [], []
        for f in self.runs.fitted(run, uids):
            try:
                m = run.cache.metrics(f)
            except (KeyError, OSError, ValueError):
                continue
            out_epochs.append(f)
            metrics.append({"epoch": f, **m})
        return self._json(request, {"epochs": out_epochs, "metrics": metrics, "run": run.cache.run_metrics()})

    @wrappers.Request.application
    def _serve_trajectories(self, request):
        ids = validate.id_list(request.args)
        start = validate.epoch(request.args, "start", optional=True)
        end = validate.epoch(request.args, "end", optional=True)
        if start is not None and end is not None and start > end:
            raise codes.BadParam(f"start ({start}) is after end ({end})")
        # with ref=A: the positions of run B laid out from A (its epochs fitted from A and fresh)
        run, uids, fitted = self._reference.trajectory_source(request.args)
        idx = self.runs.index_of(run, ids)
        epochs = [e for e in sorted(uids) if (start is None or e >= start) and (end is None or e <= end)]
        columns, shifts = [], []
        for e in epochs:
            col = shift = None
            if e in fitted:
                try:
                    col = np.asarray(run.cache.embedding(e)[idx], dtype=np.float64).tolist()
                    shift = map_shift(run.cache.epoch_info(e))
                except (KeyError, OSError, ValueError, IndexError):
                    col = shift = None
            columns.append(col)
            shifts.append(shift)
        positions = [[(col[i] if col is not None else None) for col in columns] for i in range(len(ids))]
        return self._json(request, {"ids": ids, "epochs": epochs, "positions": positions, "shifts": shifts})

    @wrappers.Request.application
    def _serve_static(self, request):
        prefix = f"/data/plugin/{md.PLUGIN_NAME}/"
        path = request.path
        i = path.find(prefix)
        rel = path[i + len(prefix):] if i >= 0 else ""
        target = validate.static_file(self._static_root, rel)
        if target is None:
            return http_util.Respond(request, f"not found: {rel or '/'}", "text/plain", code=404,
                                     headers=[(codes.HEADER, "unknown_file")])
        ext = os.path.splitext(target)[1].lower()
        ctype = _CONTENT_TYPES.get(ext) or mimetypes.guess_type(target)[0] or "application/octet-stream"
        with open(target, "rb") as f:
            body = f.read()
        return http_util.Respond(request, body, ctype)
