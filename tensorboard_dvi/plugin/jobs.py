"""Background fitting: worker processes, one job per run, status, cancel.

TensorBoard's process never trains. A :class:`JobManager` owns a bounded set
of worker processes (multiprocessing "spawn": TensorBoard has threads, so no
fork) and one scheduler thread (a daemon) that

* hands queued jobs to idle workers (FIFO, at most one job per run),
* reads progress messages from the workers' pipes,
* turns a cancel request into the worker's ``should_stop`` event, and
  terminates the worker if it has not stopped after a grace period,
* notices a worker that died (crash, OOM kill) and reports the job as "error"
  with the reason; a fresh worker is started for the next job.

Workers (worker.py) are long-lived spawn processes that exit when idle for
``idle_timeout_s`` or when TensorBoard dies; the per-run state is job.py's :class:`Job`.

The fit function has the signature of ``tensorboard_dvi.engine.fit_run``:
``fit(run_path, cache_dir, *, epochs, config, device, progress, should_stop)``.
It is given as a ``"module:attr"`` string (resolved inside the worker, so the
TensorBoard process never imports torch) or as a picklable top-level callable.
"""

from __future__ import annotations

import collections
import itertools
import logging
import multiprocessing
import os
import threading
import time
from typing import Callable, Dict, List, Optional, Sequence, Union

from .job import STATES, Job  # noqa: F401 (Job and STATES are part of this module's API)
from .lifecycle import check_budgets, default_max_rss
from .worker import WorkerHandle, exit_reason, stop_workers, wait_any, worker_main

logger = logging.getLogger(__name__)

#: ``fit_run`` preceded by a provisional first map when the run has no fitted epoch (engine/provisional.py)
DEFAULT_FIT = "tensorboard_dvi.engine.provisional:fit_run_first_map"

class JobManager:
    """Bounded worker processes running one fitting job per run.

    Every argument is injectable for tests: ``fit`` (the fit function),
    ``mp_context`` (a multiprocessing context, "spawn" by default), ``clock``.
    ``config`` and ``device`` are passed to the fit function unchanged.
    """

    def __init__(self, *, fit: Union[str, Callable] = DEFAULT_FIT, max_workers: int = 1, device: str = "cpu",
                 config=None, mp_context=None, clock: Callable[[], float] = time.monotonic,
                 cancel_grace_s: float = 5.0, idle_timeout_s: float = 600.0, poll_s: float = 0.5,
                 slice_s: float = 600.0, max_worker_mb: Optional[float] = None):
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self._fit = fit
        self._max_workers = int(max_workers)
        self._device = device
        self._config = config
        self._ctx = mp_context or multiprocessing.get_context("spawn")
        self._clock = clock
        self._grace = float(cancel_grace_s)
        self._idle_timeout = float(idle_timeout_s)
        self._poll = float(poll_s)
        # Fairness and memory guard (worker.py: over_budget): a job that ran ``slice_s`` while
        # other runs wait is stopped between stages and requeued behind them (fitted epochs are
        # kept); a worker above ``max_worker_mb`` resident memory is stopped with an error.
        self.confine: Optional[str] = None  # the logdir: the plugin sets it, the fit reads nothing outside
        self._slice = float(slice_s)
        self._max_rss = default_max_rss() if max_worker_mb is None else float(max_worker_mb) * 2 ** 20
        self._lock = threading.RLock()
        self._jobs: Dict[str, Job] = {}
        self._queue: "collections.deque[str]" = collections.deque()
        self._workers: List[WorkerHandle] = []
        self._ids = itertools.count(1)
        self._closed = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_w, False)
        self._thread: Optional[threading.Thread] = None
        self._listeners: List[Callable[[str, Job], None]] = []

    # ---------------------------------------------------------------- public API (any thread)

    def submit(self, run: str, run_path: str, cache_dir: str, epochs: Optional[Sequence[int]] = None,
               *, user: bool = False, fit=None, extra: Optional[dict] = None) -> dict:
        """Queue fitting of ``run`` (no-op if already queued; re-run after the current job if running);
        ``fit``/``extra``: this job's own fit function and keywords (reference_route.py's "B from A")."""
        epochs = None if epochs is None else sorted(int(e) for e in epochs)
        with self._lock:
            self._check_open()
            job = self._jobs.get(run) or Job(run)
            self._jobs[run] = job
            job.fit, job.extra = fit, extra
            if user:
                job.user_cancelled = False
            if job.state == "queued":
                job.run_path, job.cache_dir, job.epochs = run_path, cache_dir, epochs
                return job.snapshot()
            if job.state == "running":
                if not job.cancel_requested and (epochs is None or epochs != job.epochs):
                    job.rerun = (run_path, cache_dir, epochs)
                elif job.cancel_requested and user:
                    job.rerun = (run_path, cache_dir, epochs)
                return job.snapshot()
            self._queue_job(job, run_path, cache_dir, epochs)
            snap = job.snapshot()
        self._ensure_thread()
        self._wake()
        return snap

    def cancel(self, run: str) -> dict:
        """Cancel by the user: dequeue, or ask the worker to stop (terminated after the grace period)."""
        with self._lock:
            job = self._jobs.get(run) or Job(run)
            self._jobs[run] = job
            job.user_cancelled = True
            job.rerun = None
            if job.state == "queued":
                try:
                    self._queue.remove(run)
                except ValueError:
                    pass
                self._finish(job, "cancelled", message="cancelled before it started")
            elif job.state == "running":
                job.cancel_requested = True
                job.message = "cancelling"
                self._wake()
            elif job.state == "idle":
                self._finish(job, "cancelled", message="automatic fitting is off until fitting is requested")
            snap = job.snapshot()
        return snap

    def status(self, run: str) -> dict:
        with self._lock:
            job = self._jobs.get(run)
            if job is None:
                return Job(run).snapshot()
            job.update_eta(self._clock())
            return job.snapshot()

    def job(self, run: str) -> Optional[Job]:
        """The live job object (read under :attr:`lock`), or None."""
        return self._jobs.get(run)

    @property
    def lock(self):
        return self._lock

    def generation(self, run: str) -> int:
        job = self._jobs.get(run)
        return job.generation if job is not None else 0

    def add_listener(self, fn: Callable[[str, Job], None]) -> None:
        """``fn(event, job)`` on "epoch_done", "done", "error", "cancelled" (scheduler thread)."""
        self._listeners.append(fn)

    def worker_pids(self) -> List[int]:
        with self._lock:
            return [w.process.pid for w in self._workers if w.process.pid is not None]

    def wait_idle(self, run: str, timeout: float = 60.0) -> dict:
        """Block until ``run``'s job is no longer queued or running (tests, CLI)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                job = self._jobs.get(run)
                if job is None or (job.state not in ("queued", "running") and job.rerun is None):
                    return self.status(run)
            time.sleep(0.02)
        raise TimeoutError(f"job of {run!r} still {self.status(run)['state']} after {timeout} s")

    def shutdown(self, timeout: float = 2.0, graceful: bool = True) -> None:
        """Stop the scheduler and every worker (cancel, then terminate; at once if not graceful)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            workers = list(self._workers)
            self._workers.clear()
            for w in workers:
                w.stop_event.set()
        self._wake()
        stop_workers(workers, timeout, graceful)
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    # ---------------------------------------------------------------- internals

    def _check_open(self):
        if self._closed:
            raise RuntimeError("the job manager is shut down")

    def _wake(self):
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass

    def _ensure_thread(self):
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="dvi-jobs", daemon=True)
                self._thread.start()

    def _queue_job(self, job: Job, run_path, cache_dir, epochs):
        job.queue(next(self._ids), run_path, cache_dir, epochs, self._clock())
        self._queue.append(job.run)

    def _finish(self, job: Job, state: str, *, message: str = "", error: Optional[str] = None,
                fitted: Optional[List[int]] = None):
        job.state = state
        job.message = message
        job.error = error
        job.eta_s = None if state != "done" else 0.0
        job.finished_at = self._clock()
        job.generation += 1
        if fitted is not None:
            job.fitted = fitted
        event = state
        rerun, job.rerun = job.rerun, None
        self._notify(event, job)
        if rerun is not None and state in ("done", "cancelled") and not self._closed:
            self._queue_job(job, *rerun)
            self._wake()

    def _notify(self, event: str, job: Job):
        for fn in list(self._listeners):
            try:
                fn(event, job)
            except Exception:  # a listener must not kill the scheduler
                logger.exception("DVI job listener failed")

    def _spawn(self) -> WorkerHandle:
        parent_conn, child_conn = self._ctx.Pipe(duplex=True)
        stop_event = self._ctx.Event()
        process = self._ctx.Process(target=worker_main, name="dvi-worker",
                                    args=(child_conn, stop_event, os.getpid(), self._idle_timeout), daemon=True)
        process.start()
        child_conn.close()
        worker = WorkerHandle(process, parent_conn, stop_event)
        self._workers.append(worker)
        return worker

    def _assign(self):
        while True:
            with self._lock:
                if self._closed or not self._queue:
                    return
                idle = [w for w in self._workers if w.job is None and w.process.is_alive()]
                if not idle and len(self._workers) >= self._max_workers:
                    return
                run = self._queue.popleft()
                job = self._jobs[run]
            worker = idle[0] if idle else None
            if worker is None:
                try:
                    worker = self._spawn()
                except Exception as e:  # cannot start a process (resources)
                    with self._lock:
                        self._finish(job, "error", error=f"could not start a worker process: {e}")
                    continue
            with self._lock:
                if job.state != "queued":  # cancelled meanwhile
                    continue
                worker.stop_event.clear()
                worker.job = job
                job.state = "running"
                job.stage = "starting"
                job.message = "starting worker" if not idle else "starting"
                job.started_at = self._clock()
                kwargs = {"epochs": job.epochs, "config": self._config, "device": self._device, **(job.extra or {})}
                if self.confine:
                    kwargs["confine"] = self.confine
                msg = (job.id, job.fit or self._fit, job.run_path, job.cache_dir, kwargs)
            try:
                worker.conn.send(msg)
            except (OSError, ValueError) as e:
                with self._lock:
                    worker.job = None
                    self._finish(job, "error", error=f"could not reach the worker process: {e}")
                self._drop(worker)

    def _drop(self, worker: WorkerHandle):
        with self._lock:
            if worker in self._workers:
                self._workers.remove(worker)
        worker.close()

    def _handle(self, worker: WorkerHandle, msg):
        kind, job_id = msg[0], msg[1]
        with self._lock:
            job = worker.job
            if job is None or job.id != job_id:
                return
            if kind == "progress":
                if job.record_progress(msg[2], self._clock()):
                    self._notify("epoch_done", job)
                return
            worker.job = None
            if kind == "done":
                self._finish(job, "done", message=f"{len(msg[2])} epochs fitted", fitted=msg[2])
            elif kind == "cancelled" and getattr(job, "budget_error", None):
                self._finish(job, "error", error=job.budget_error, message="fitting stopped", fitted=msg[2])
            elif kind == "cancelled":
                self._finish(job, "cancelled", message="cancelled" if job.rerun is None else job.message,
                             fitted=msg[2])
            elif kind == "error":
                job.traceback = msg[3]
                logger.error("DVI fitting of run %r failed: %s\n%s", job.run, msg[2], msg[3])
                self._finish(job, "error", error=msg[2], message="fitting failed")

    def _died(self, worker: WorkerHandle):
        # Drain what the worker managed to say before it died.
        try:
            while worker.conn.poll(0):
                self._handle(worker, worker.conn.recv())
        except (EOFError, OSError):
            pass
        code = worker.process.exitcode
        with self._lock:
            job = worker.job
            worker.job = None
            if job is not None:
                if getattr(job, "budget_error", None):
                    self._finish(job, "error", error=job.budget_error, message="fitting stopped")
                elif job.cancel_requested:
                    self._finish(job, "cancelled", message="cancelled (worker stopped)")
                else:
                    self._finish(job, "error", error=f"the worker process died ({exit_reason(code)})",
                                 message="fitting failed")
        self._drop(worker)

    def _check_cancels(self):
        check_budgets(self)
        now = self._clock()
        for worker in list(self._workers):
            with self._lock:
                job = worker.job
                if job is None or not job.cancel_requested:
                    continue
                if not worker.stop_event.is_set():
                    worker.stop_event.set()
                    job.cancel_deadline = now + self._grace
                    continue
                overdue = job.cancel_deadline is not None and now >= job.cancel_deadline
            if overdue:
                logger.warning("DVI worker did not stop within %.1f s; terminating it", self._grace)
                worker.terminate()
                self._died(worker)

    def _loop(self):
        while True:
            with self._lock:
                if self._closed:
                    return
            try:
                self._assign()
                self._check_cancels()
                with self._lock:
                    workers = list(self._workers)
                busy_cancel = any(w.job is not None and w.job.cancel_requested for w in workers)
                talking, dead = wait_any(workers, self._wake_r, min(self._poll, 0.1) if busy_cancel else self._poll)
                for w in talking:
                    try:
                        while w.conn.poll(0):
                            self._handle(w, w.conn.recv())
                    except (EOFError, OSError):
                        dead.append(w)
                for w in dict.fromkeys(dead):
                    if w in self._workers:
                        w.process.join(1.0)
                        self._died(w)
                # Workers that exited on their own while idle (idle timeout).
                for w in list(self._workers):
                    if w.job is None and not w.process.is_alive():
                        self._drop(w)
            except Exception:
                if self._closed:
                    return
                logger.exception("DVI job scheduler error")
                time.sleep(self._poll)
