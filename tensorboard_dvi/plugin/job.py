"""The state of one run's fitting job, as the TensorBoard process sees it (see jobs.py)."""

from __future__ import annotations

from typing import List, Optional

STATES = ("idle", "queued", "running", "done", "cancelled", "error")


class Job:
    """The state of one run's fitting, as seen by the TensorBoard process."""

    __slots__ = ("id", "run", "run_path", "cache_dir", "epochs", "state", "stage", "epoch", "epochs_done",
                 "epochs_total", "fraction", "eta_s", "error", "message", "user_cancelled", "cancel_requested",
                 "cancel_deadline", "submitted_at", "started_at", "finished_at", "done_times", "fitted",
                 "rerun", "generation", "traceback", "eta_at", "s_per_epoch", "budget_error", "fit", "extra")

    def __init__(self, run: str):
        self.id = 0
        self.budget_error: Optional[str] = None  # set when the memory guard stopped the job
        self.run = run
        self.run_path = self.cache_dir = None
        self.epochs: Optional[List[int]] = None
        self.state = "idle"
        self.stage = None
        self.epoch = None
        self.epochs_done = 0
        self.epochs_total = 0
        self.fraction = None
        self.eta_s = None
        self.error = None
        self.message = ""
        self.user_cancelled = False
        self.cancel_requested = False
        self.cancel_deadline = None
        self.submitted_at = self.started_at = self.finished_at = None
        self.done_times: List[float] = []
        self.fitted: List[int] = []
        self.rerun = None  # (run_path, cache_dir, epochs) submitted while running
        self.generation = 0  # bumps whenever an epoch may have been (re)written in the cache
        self.traceback = None
        self.eta_at = None  # clock time of eta_s (the shown estimate counts down from there)
        self.s_per_epoch = None  # measured seconds per fitted epoch (start-up excluded once known)
        self.fit = None  # this job's own fit function (None: the manager's), e.g. a "B from A" fit
        self.extra = None  # its extra keyword arguments (dict)

    def queue(self, job_id: int, run_path, cache_dir, epochs: Optional[List[int]], now: float) -> None:
        """Reset the per-job fields for a new job on this run, waiting for a worker (the run's
        ``user_cancelled``, ``fitted``, ``generation`` and timing estimate carry over)."""
        self.id = job_id
        self.run_path, self.cache_dir, self.epochs = run_path, cache_dir, epochs
        self.state, self.stage, self.epoch = "queued", None, None
        self.epochs_done = 0
        self.epochs_total = len(epochs) if epochs is not None else 0
        self.fraction = self.eta_s = self.error = self.traceback = None
        self.message = "waiting for a worker"
        self.cancel_requested = False
        self.cancel_deadline = self.budget_error = None
        self.submitted_at, self.started_at, self.finished_at = now, None, None
        self.done_times = []
        self.rerun = None

    def snapshot(self) -> dict:
        return {"state": self.state, "stage": self.stage, "epoch": self.epoch, "epochs_done": self.epochs_done,
                "epochs_total": self.epochs_total, "eta_s": self.eta_s, "error": self.error,
                "message": self.message, "s_per_epoch": self.s_per_epoch}

    def raw_eta(self, now: float) -> Optional[float]:
        """Seconds left from the measured time per finished epoch (and the engine's fraction);
        None before there is a rate to go by. Sets :attr:`s_per_epoch`."""
        if self.state != "running" or self.started_at is None:
            return None
        total = self.epochs_total
        frac = self.fraction if isinstance(self.fraction, (int, float)) else None
        remaining = total * (1.0 - frac) if frac is not None and total else max(0, total - self.epochs_done)
        if self.done_times:
            if len(self.done_times) >= 2:
                per_epoch = (self.done_times[-1] - self.done_times[0]) / (len(self.done_times) - 1)
            else:
                per_epoch = self.done_times[0] - self.started_at
            self.s_per_epoch = round(per_epoch, 1)
            eta = per_epoch * remaining
            if frac is None:
                eta -= now - self.done_times[-1]
        elif frac is not None and frac > 0.02:
            elapsed = now - self.started_at
            eta = elapsed / frac * (1.0 - frac)
        else:
            return None
        return max(eta, 0.0)

    def update_eta(self, now: float) -> None:
        """The shown estimate: it counts down between progress reports, and a new raw estimate
        pulls it half-way when lower but only a quarter of the way when higher, so a stage that
        reports no progress for a while (the estimate's elapsed time grows, its fraction does not)
        does not make it climb by minutes within seconds."""
        raw = self.raw_eta(now)
        if raw is None:
            return
        if self.eta_s is None or self.eta_at is None:
            eta = raw
        else:
            predicted = max(self.eta_s - (now - self.eta_at), 0.0)
            eta = predicted + (0.5 if raw < predicted else 0.25) * (raw - predicted)
        self.eta_s, self.eta_at = round(eta, 1), now

    def record_progress(self, info: dict, now: float) -> bool:
        """Apply a worker's progress message; True when it reports a newly finished epoch."""
        done = info.get("epochs_done")
        finished = isinstance(done, int) and done > self.epochs_done
        if finished:
            self.done_times.extend([now] * (done - self.epochs_done))
            self.generation += 1  # an epoch may have been (re)written in the cache
        if isinstance(done, int):
            self.epochs_done = done
        for key in ("stage", "epoch", "fraction"):
            if key in info:
                setattr(self, key, info[key])
        if isinstance(info.get("epochs_total"), int):
            self.epochs_total = info["epochs_total"]
        if not self.cancel_requested and info.get("message") is not None:
            self.message = str(info["message"])
        self.update_eta(now)
        return finished
