"""The lifecycle guards of fitting jobs: time slices, a memory limit, and a prompt SIGTERM.

* :func:`check_budgets` (called by the job manager's scheduler thread): a job that ran
  ``slice_s`` while other runs wait is stopped between stages and requeued behind them (its
  fitted epochs are kept), so one run cannot hold the only worker for ever; a worker whose
  resident memory exceeds ``max_worker_mb`` is stopped and its job reported as an error.
* :func:`on_sigterm`: terminates the workers as soon as TensorBoard gets SIGTERM, instead of
  after its own shutdown (docs/RELIABILITY.md: the delay fitting adds to an exit).
"""

from __future__ import annotations

import logging
import os

logger = logging.getLogger(__name__)


def rss_bytes(pid) -> int:
    """Resident memory of a process (Linux /proc; 0 where unknown)."""
    try:
        with open(f"/proc/{int(pid)}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, TypeError):
        return 0


def default_max_rss() -> float:
    """Default memory guard of one worker: half the machine's memory (8 GiB where unknown)."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2
    except (ValueError, OSError, AttributeError):
        return 8.0 * 2 ** 30


def over_budget(pid, started_at, now, slice_s, max_rss):
    """Why a running job must stop (its time slice is over while others wait, or its worker uses
    too much memory), or None."""
    rss = rss_bytes(pid) if max_rss else 0
    if max_rss and rss > max_rss:
        return f"memory: the fitting process used {rss / 2 ** 20:.0f} MiB, over the limit of {max_rss / 2 ** 20:.0f} MiB"
    if slice_s is not None and started_at is not None and now - started_at > slice_s:
        return f"time slice of {slice_s:.0f} s used while other runs wait"
    return None


def check_budgets(manager) -> None:
    """Time slices (fair queueing) and the memory guard of running jobs."""
    now = manager._clock()
    for worker in list(manager._workers):
        with manager._lock:
            job = worker.job
            if job is None or job.cancel_requested:
                continue
            why = over_budget(worker.process.pid, job.started_at, now, manager._slice if manager._queue else None,
                              manager._max_rss)
            if why is None:
                continue
            logger.warning("DVI fitting of run %r: %s", job.run, why)
            job.cancel_requested = True
            if why.startswith("memory"):
                job.budget_error = why
            else:  # its turn is over: back in the queue, behind the runs that waited
                job.rerun = (job.run_path, job.cache_dir, job.epochs)
                job.message = "paused: other runs are waiting; continues after them"


def terminate_workers(jobs) -> None:
    """First step of an exit (from the SIGTERM handler): SIGTERM every worker now, wait for
    nothing, so that fitting stops using the CPU while TensorBoard shuts down."""
    for w in list(jobs._workers):
        try:
            w.process.terminate()
        except Exception:  # noqa: BLE001 - already gone
            pass


_SIGTERM_JOBS: "list" = []


def on_sigterm(jobs) -> None:
    """Chain a SIGTERM handler (before TensorBoard's, which exits) that terminates the fitting
    workers at once: without it they keep fitting until the atexit handler runs (issue 17: SIGTERM
    took 0.6 s longer while fitting). Only from the main thread, installed once per process."""
    import signal
    import threading
    _SIGTERM_JOBS.append(jobs)
    if len(_SIGTERM_JOBS) > 1 or threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGTERM)

    def handler(signum, frame):
        for j in list(_SIGTERM_JOBS):
            terminate_workers(j)
        if callable(previous):
            previous(signum, frame)
        else:
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    try:
        signal.signal(signal.SIGTERM, handler)
    except (ValueError, OSError):
        pass
