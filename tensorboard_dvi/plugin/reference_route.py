"""Run B laid out from run A ("fitted from A" in Compare runs; engine/reference.py).

``POST fit_from?run=B&ref=A`` queues the fit (a job of the plugin's JobManager under a key that
is no run name: run names never hold a NUL), ``GET fit_from`` reads its state and which epochs
are fitted or wait for A, ``POST fit_from_cancel`` cancels it. With ``ref=A``, ``projection``,
``background`` (zoomed too), ``background_meta`` and ``predict_at`` serve B's epoch from the
reference cache (a sibling folder of B's cache, never B's own) through a :class:`RunState` view
of B over that cache. Nothing here imports torch.
"""

from __future__ import annotations

import threading
from typing import Dict, Tuple

from ..engine.cache import RunCache
from ..engine.reference import a_fingerprint, combined_uid, fresh_epochs, reference_cache_dir
from tensorboard.backend import http_util
from werkzeug import wrappers

from . import codes
from .codes import BadParam, NotFitted, ReferenceNotFitted
from .runs import RunState

REFERENCE_FIT = "tensorboard_dvi.engine.reference:fit_from_reference"


def job_key(b: str, a: str) -> str:
    """The job manager's key of "B from A" (a NUL never occurs in a run name: validate.run_name)."""
    return f"{b}\0{a}"


class ReferenceRoutes:
    """The ``fit_from`` routes and the ``ref=`` view of a run's fitted epochs."""

    def __init__(self, runs, jobs, respond_json):
        self.runs, self.jobs, self._json = runs, jobs, respond_json
        self._views: Dict[tuple, RunState] = {}
        self._lock = threading.Lock()

    def pair(self, args) -> Tuple[RunState, RunState]:
        """(B, A) of ``run=B&ref=A``, both validated and opened as any run is."""
        b = self.runs.open(args)
        ref = args.get("ref")
        if not ref:
            raise BadParam("missing query parameter 'ref' (the run to lay this one out from)")
        try:
            a = self.runs.open({"run": ref})
        except BadParam as err:
            raise BadParam(f"parameter 'ref': {err}") from None
        if a.name == b.name:
            raise BadParam("parameter 'ref' must name another run than 'run'")
        return b, a

    def view(self, b: RunState, a: RunState) -> RunState:
        """B's run state over the reference cache (named for messages: "B laid out from A")."""
        key = (b.name, b.path, a.name, a.path)
        with self._lock:
            v = self._views.get(key)
            if v is None:
                d = reference_cache_dir(b.cache_dir, a.path)
                v = self._views[key] = RunState(f"{b.name} laid out from {a.name}", b.path, d, RunCache(d),
                                                confine=b.confine)
            return v

    def _state(self, b: RunState, a: RunState):
        """(B's readable uids, A's fitted epochs, the view, B's epochs fitted from A and fresh)."""
        _, b_uids, _ = self.runs.scan(b)
        _, a_uids, _ = self.runs.scan(a)
        a_fitted = self.runs.fitted(a, a_uids)
        v = self.view(b, a)
        return b_uids, a_fitted, v, fresh_epochs(v.cache, b_uids, a.cache, a_fitted)

    def summary(self, b: RunState, a: RunState) -> dict:
        b_uids, a_fitted, _, fitted = self._state(b, a)
        logged = self.runs.scan(b)[0]
        job = dict(self.jobs.status(job_key(b.name, a.name)))
        job.pop("run", None)
        return {**job, "run": b.name, "ref": a.name, "epochs": logged, "fitted": fitted,
                "ready": [e for e in sorted(b_uids) if e in a_fitted],
                "waiting_for_ref": [e for e in sorted(b_uids) if e not in a_fitted]}

    def start(self, b: RunState, a: RunState) -> dict:
        """Queue fitting of B's epochs that A has fitted and that are not fresh (409 when A has none)."""
        b_uids, a_fitted, v, fitted = self._state(b, a)
        ready = [e for e in sorted(b_uids) if e in a_fitted]
        if not ready:
            raise ReferenceNotFitted(f"run {a.name!r} has fitted none of the epochs run {b.name!r} logs yet; "
                                     f"fit {a.name!r} first (open it in the tab)")
        if any(e not in fitted for e in ready):
            self.jobs.submit(job_key(b.name, a.name), b.path, v.cache_dir, ready, user=True,
                             fit=REFERENCE_FIT, extra={"reference_path": a.path, "reference_cache": a.cache_dir})
        return self.summary(b, a)

    def cancel(self, b: RunState, a: RunState) -> dict:
        self.jobs.cancel(job_key(b.name, a.name))
        return self.summary(b, a)

    @wrappers.Request.application
    def serve_fit_from(self, request):
        """GET: the state of "B from A"; POST: also start it (202)."""
        b, a = self.pair(request.args)
        if request.method == "POST":
            return self._json(request, self.start(b, a), code=202)
        return self._json(request, self.summary(b, a))

    @wrappers.Request.application
    def serve_cancel(self, request):
        if request.method != "POST":
            return http_util.Respond(request, "use POST for this route", "text/plain", code=405,
                                     headers=codes.method_headers(["POST"]))
        return self._json(request, self.cancel(*self.pair(request.args)), code=202)

    def resolve(self, args):
        """(run, epoch, uid) of a fitted epoch for the map routes: the run's own, or with ``ref=A``
        the run laid out from A."""
        if "ref" in args:
            return self.fitted_epoch(args)
        run = self.runs.open(args)
        return (run, *self.runs.epoch(run, args, fitted=True))

    def trajectory_source(self, args):
        """(run state whose cache holds the positions, its readable uids, its fitted epochs) for
        ``trajectories``: the run's own, or with ``ref=A`` the run laid out from A."""
        if "ref" not in args:
            run = self.runs.open(args)
            _, uids, _ = self.runs.scan(run)
            return run, uids, set(self.runs.fitted(run, uids))
        b, a = self.pair(args)
        b_uids, _, v, fitted = self._state(b, a)
        return v, b_uids, set(fitted)

    def fitted_epoch(self, args):
        """(view, epoch, uid) of ``run=B&ref=A&epoch=e``: B's logged epoch, A's fitted one (409
        otherwise), fitted from A and fresh (404 ``not_fitted`` otherwise)."""
        b, a = self.pair(args)
        e, b_uid = self.runs.epoch(b, args)
        _, a_fitted, v, fitted = self._state(b, a)
        if e not in a_fitted:
            raise ReferenceNotFitted(f"epoch {e} of run {a.name!r} is not fitted yet; run {b.name!r} is laid "
                                     "out from it once it is")
        if e not in fitted:
            raise NotFitted(f"epoch {e} of run {v.name!r} is not fitted yet (POST fit_from starts it)")
        try:
            stamp = v.cache.epoch_info(e).get("created")
        except KeyError:
            raise NotFitted(f"epoch {e} of run {v.name!r} is being rewritten; try again") from None
        # the uid names B's input, A's fitted epoch and this fit: caches keyed by it never go stale
        return v, e, f"{combined_uid(b_uid, a_fingerprint(a.cache, e))}:{stamp}"

