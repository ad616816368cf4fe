"""Progress reports and cancellation of a fit (the contract the plugin's jobs read)."""

from __future__ import annotations

import logging
import warnings
from typing import Callable, Optional

log = logging.getLogger("tensorboard_dvi.engine.fit")


def warn(msg: str) -> None:
    """A warning about the fit: logged (the plugin's worker log) and raised as RuntimeWarning."""
    log.warning(msg)
    warnings.warn(msg, RuntimeWarning, stacklevel=3)


class Stopped(Exception):
    """Raised inside a fit when ``should_stop()`` said yes; finished epochs stay valid."""


def check_stop(should_stop: Optional[Callable[[], bool]]) -> None:
    """Raise :class:`Stopped` when the caller asked to stop."""
    if should_stop is not None and should_stop():
        raise Stopped()


class Progress:
    """Turns stage/epoch positions into the progress dicts of the contract."""
    STAGES = {"load": (0.0, 0.03), "complex": (0.03, 0.12), "train": (0.12, 0.85),
              "background": (0.85, 0.9), "metrics": (0.9, 1.0)}

    def __init__(self, callback, total: int):
        self.callback = callback
        self.total = total
        self.done = 0

    def __call__(self, stage: str, epoch: Optional[int], message: str, within: float = 0.0):
        if self.callback is None:
            return
        if stage == "done":
            frac = 1.0
        else:
            lo, hi = self.STAGES[stage]
            frac = (self.done + lo + (hi - lo) * min(max(within, 0.0), 1.0)) / max(self.total, 1)
        self.callback({"stage": stage, "epoch": epoch, "epochs_done": self.done,
                       "epochs_total": self.total, "fraction": float(min(frac, 1.0)), "message": message})

