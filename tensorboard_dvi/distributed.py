"""Fit many runs (a sweep) on an existing Dask distributed cluster.

One task per run: runs are independent and spread over the workers, the epochs
of a run stay sequential inside its task (each warm-starts from the previous
one). Each finished epoch is published to the run's cache at once (atomic:
rename locally, commit marker on object stores), so when a worker is lost the
scheduler hands the task to another worker and ``fit_run``, being incremental,
resumes from the last published epoch; an epoch cut off mid-write is never
visible, so no corrupt cache entry can be picked up. Progress travels from the
workers as Dask events (``log_event`` / ``subscribe_topic``) and is shown per
run in the terminal.

The caches must be reachable by every worker: an object-store URL or a shared
folder (``cache_root``); without one each run uses the plugin's default cache
of that run (fine for a cluster on one machine).
"""

from __future__ import annotations

import sys
import time
import uuid
from typing import Callable, Dict, List, Optional, Sequence

TOPIC_PREFIX = "tensorboard-dvi-progress-"


def _fit_task(name: str, run_url: str, cache_url: str, config, device: str, epochs, topic: str,
              interval: float = 0.5) -> List[int]:
    """Runs on a worker: fit one run, sending (throttled) progress events to ``topic``."""
    from distributed import get_worker

    from .engine import fit_run
    worker = get_worker()
    last = {"t": 0.0, "stage": None}

    def progress(p: dict) -> None:
        now = time.monotonic()
        if now - last["t"] < interval and p.get("stage") == last["stage"]:
            return
        last["t"], last["stage"] = now, p.get("stage")
        worker.log_event(topic, {"run": name, "worker": worker.address, **_plain(p)})

    worker.log_event(topic, {"run": name, "worker": worker.address, "stage": "started", "fraction": 0.0})
    done = fit_run(run_url, cache_url, epochs=epochs, config=config, device=device, progress=progress)
    worker.log_event(topic, {"run": name, "worker": worker.address, "stage": "done", "fraction": 1.0,
                             "fitted": done})
    return done


def _plain(p: dict) -> dict:
    keep = ("fraction", "stage", "epoch", "epochs_done", "epochs_total")
    return {k: p.get(k) for k in keep if isinstance(p.get(k), (int, float, str, type(None)))}


class TerminalProgress:
    """One tqdm bar per run on stderr, updated from the workers' events."""

    def __init__(self, names: Sequence[str], disable: bool = False):
        from tqdm import tqdm
        self.bars = {n: tqdm(total=1000, desc=n, position=i, leave=True, file=sys.stderr, disable=disable,
                             bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")
                     for i, n in enumerate(names)}
        self.restarts: Dict[str, int] = {n: 0 for n in names}

    def __call__(self, msg: dict) -> None:
        bar = self.bars.get(msg.get("run"))
        if bar is None:
            return
        if msg.get("stage") == "started" and bar.n:
            self.restarts[msg["run"]] += 1  # the task came back on another worker
        target = int(round(float(msg.get("fraction") or 0.0) * 1000))
        bar.update(target - bar.n)
        ep = "" if msg.get("epoch") is None else f" epoch {msg['epoch']}"
        again = f" (resumed x{self.restarts[msg['run']]})" if self.restarts[msg["run"]] else ""
        bar.set_description(f"{msg['run']}{ep} {msg.get('stage') or ''}{again} @{msg.get('worker', '')}",
                            refresh=True)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()


def fit_runs_on_cluster(runs: Sequence[tuple], scheduler_address, *, config=None,
                        device: str = "cpu", epochs=None, retries: int = 2,
                        progress: Optional[Callable[[dict], None]] = None,
                        timeout: Optional[float] = None) -> Dict[str, object]:
    """Fit ``runs`` = [(name, run URL, cache URL[, epochs])] on the cluster at ``scheduler_address``.

    ``scheduler_address`` may also be a ``distributed.Client``/cluster (tests). Returns
    name -> fitted epochs (list) or the exception that run ended with; one failing run
    does not stop the others. ``progress(msg)`` gets every event (default: terminal bars).
    """
    from distributed import Client, as_completed

    own = not isinstance(scheduler_address, Client)
    client = Client(scheduler_address) if own else scheduler_address
    topic = TOPIC_PREFIX + uuid.uuid4().hex[:8]
    bars = None
    if progress is None:
        bars = TerminalProgress([r[0] for r in runs])
        progress = bars
    client.subscribe_topic(topic, lambda event: progress(event[1]))
    try:
        futures = {client.submit(_fit_task, r[0], r[1], r[2], config, device, r[3] if len(r) > 3 else epochs,
                                 topic, key=f"dvi-fit-{r[0]}-{uuid.uuid4().hex[:8]}", pure=False,
                                 retries=retries): r[0]
                   for r in runs}
        out: Dict[str, object] = {}
        for fut in as_completed(list(futures), timeout=timeout):
            name = futures[fut]
            try:
                out[name] = fut.result()
            except Exception as e:  # noqa: BLE001 (reported per run; the sweep goes on)
                out[name] = e
        return out
    finally:
        try:
            client.unsubscribe_topic(topic)
        except Exception:  # noqa: BLE001
            pass
        if bars is not None:
            bars.close()
        if own:
            client.close()
