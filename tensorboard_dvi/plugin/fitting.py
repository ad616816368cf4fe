"""Lazy fitting: when to hand a run to the job manager, and the watcher thread.

Opening a run in the tab (``POST status``; ``GET status`` has no side effect) marks it
*opened* and schedules a job when some readable epoch is not fitted; a daemon thread
re-checks opened runs every ``watch_interval_s`` so epochs logged while TensorBoard runs are
picked up (a run not polled for ``forget_after_s`` is no longer watched). No loops: a run
cancelled by the user stays cancelled until ``POST fit``, and a job that ended on the same set
of epochs is not resubmitted, unless epochs it had fitted vanished from the cache since
(the cache folder was deleted): those are refitted.
"""

from __future__ import annotations

import logging
import threading
from typing import Callable, Dict, Optional

from .jobs import JobManager
from .runs import Runs, RunState

logger = logging.getLogger(__name__)


class LazyFitter:
    """Decides when a run is (re)fitted; owns the watcher thread."""

    def __init__(self, runs: Runs, jobs: JobManager, *, autofit: bool, watch_interval_s: float,
                 clock: Callable[[], float], forget_after_s: float = 600.0):
        self._runs = runs
        self._jobs = jobs
        self._autofit = autofit
        self._interval = float(watch_interval_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._opened: Dict[str, float] = {}
        self._forget = float(forget_after_s)
        self._seen: Dict[str, tuple] = {}  # run -> (job id, epochs seen fitted since that job)
        self._watcher: Optional[threading.Thread] = None
        self._stop = threading.Event()

    def schedule(self, run: RunState, *, user: bool = False) -> None:
        """Submit a job for the run's readable epochs if some are not fitted (always when ``user``)."""
        _, uids, _ = self._runs.scan(run)
        valid = sorted(uids)
        if user:
            self._jobs.submit(run.name, run.path, run.cache_dir, valid, user=True)
            return
        if not self._autofit or not valid:
            return
        fitted = set(self._runs.fitted(run, uids))
        with self._jobs.lock:
            job = self._jobs.job(run.name)
            vanished = self._vanished(run.name, job, fitted)
            if all(e in fitted for e in valid):
                return
            state = job.state if job is not None else "idle"
            if state == "cancelled" and job.user_cancelled:
                return
            if state in ("error", "done", "cancelled") and job.epochs == valid and not vanished:
                return  # the same input already ended that way: do not loop
            if vanished:
                logger.warning("DVI: fitted epochs %s of run %r vanished from the cache; refitting",
                               sorted(vanished), run.name)
            self._jobs.submit(run.name, run.path, run.cache_dir, valid)

    def _vanished(self, name: str, job, fitted: set) -> set:
        """Epochs seen fitted since the run's last finished job that are no longer in the cache."""
        if job is None or job.state != "done":
            return set()
        seen = self._seen.get(name)
        if seen is None or seen[0] != job.id:
            seen = self._seen[name] = (job.id, set(job.fitted or ()))
        gone = seen[1] - fitted
        seen[1].update(fitted)
        if gone:
            del self._seen[name]
        return gone

    def open(self, run: RunState) -> None:
        """The tab shows this run: watch it from now on (starts the watcher on first use)."""
        with self._lock:
            self._opened[run.name] = self._clock()
            if self._watcher is None and self._interval > 0:
                self._watcher = threading.Thread(target=self._watch, name="dvi-watch", daemon=True)
                self._watcher.start()

    def close(self) -> None:
        self._stop.set()

    def _watch(self):
        while not self._stop.wait(self._interval):
            with self._lock:
                now = self._clock()
                for name in [n for n, t in self._opened.items() if now - t > self._forget]:
                    del self._opened[name]  # the tab stopped polling it
                names = list(self._opened)
            for name in names:
                try:
                    run = self._runs.resolve(name)
                    if run is not None:
                        self.schedule(run)
                except Exception:
                    logger.exception("DVI watcher failed for run %r", name)
