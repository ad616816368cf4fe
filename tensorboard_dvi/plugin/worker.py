"""The worker process side of background fitting (see jobs.py).

A worker runs jobs received on its pipe until told to stop or idle for too
long, sends progress dicts and a final ``done`` / ``cancelled`` / ``error``
message. Workers are long-lived (numba/torch start-up and JIT compilation are
paid once per worker, not per job); they are daemon processes
(``multiprocessing`` terminates them at interpreter exit, so TensorBoard still
exits promptly on SIGTERM), ignore SIGINT (the parent decides) and watch their
parent: if TensorBoard dies, even by SIGKILL, a worker exits within about a second.
:class:`WorkerHandle` is the parent's view of one worker.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import traceback
from multiprocessing import connection as mp_connection

from ..scoring import json_clean

def _resolve(fit):
    if isinstance(fit, str):
        import importlib

        module, _, attr = fit.partition(":")
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        return obj
    return fit


def _accepts(fn, name: str) -> bool:
    import inspect
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def _watch_parent(parent_pid: int, interval: float = 0.25) -> None:
    def loop():
        while True:
            if os.getppid() != parent_pid:
                os._exit(0)
            time.sleep(interval)

    threading.Thread(target=loop, name="dvi-parent-watch", daemon=True).start()


def worker_main(conn, stop_event, parent_pid: int, idle_timeout_s: float) -> None:
    """Entry point of a worker process: run jobs received on ``conn`` until told to stop."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except (ValueError, OSError):
        pass
    _watch_parent(parent_pid)
    try:
        os.nice(5)  # fitting yields the CPU to TensorBoard's request threads
    except (AttributeError, OSError):
        pass
    while True:
        try:
            if not conn.poll(idle_timeout_s):
                return  # idle for too long: give the memory back
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        job_id, fit, run_path, cache_dir, kwargs = msg

        def progress(info, _id=job_id):
            try:
                conn.send(("progress", _id, json_clean(dict(info))))
            except (OSError, ValueError):
                os._exit(0)  # the parent is gone

        def should_stop():
            return stop_event.is_set()

        try:
            fn = _resolve(fit)
            if "confine" in kwargs and not _accepts(fn, "confine"):
                kwargs = {k: v for k, v in kwargs.items() if k != "confine"}
            result = fn(run_path, cache_dir, progress=progress, should_stop=should_stop, **kwargs)
            epochs = [int(e) for e in (result or [])]
            conn.send(("cancelled" if stop_event.is_set() else "done", job_id, epochs))
        except BaseException as e:  # noqa: B902 - report everything, the worker survives
            if stop_event.is_set():
                conn.send(("cancelled", job_id, []))
            else:
                reason = f"{type(e).__name__}: {e}" if str(e) else type(e).__name__
                conn.send(("error", job_id, reason, traceback.format_exc()))
            if isinstance(e, (KeyboardInterrupt, SystemExit, MemoryError)):
                return


class WorkerHandle:
    """The parent's view of one worker process: its pipe, stop event and current job."""

    def __init__(self, process, conn, stop_event):
        self.process = process
        self.conn = conn
        self.stop_event = stop_event
        self.job = None  # jobs.Job or None

    def terminate(self) -> None:
        """End a worker that did not stop when asked: SIGTERM, then SIGKILL if it still runs."""
        self.process.terminate()
        self.process.join(2.0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(1.0)

    def close(self, join_s: float = 1.0) -> None:
        """Close the pipe and end the process (terminate if it still runs)."""
        try:
            self.conn.close()
        except OSError:
            pass
        if self.process.is_alive():
            self.process.terminate()
        self.process.join(join_s)


def stop_workers(workers, timeout: float, graceful: bool) -> None:
    """End every worker within ``timeout``: ask (pipe message), give each up to 0.3 s when
    ``graceful``, then terminate, and kill what is still alive at the deadline."""
    for w in workers:
        try:
            w.conn.send(None)
        except (OSError, ValueError):
            pass
    deadline = time.monotonic() + timeout
    for w in workers:
        if graceful:
            w.process.join(max(0.0, min(0.3, deadline - time.monotonic())))
        if w.process.is_alive():
            w.process.terminate()
    for w in workers:
        w.process.join(max(0.05, deadline - time.monotonic()))
        if w.process.is_alive():
            w.process.kill()
            w.process.join(0.5)
        try:
            w.conn.close()
        except OSError:
            pass


def wait_any(workers, wake_fd: int, timeout: float):
    """Block up to ``timeout`` until a worker has a message on its pipe, a worker process ended, or
    ``wake_fd`` (the scheduler's wake-up pipe, drained here) was written to.
    Returns (workers with messages, workers that ended)."""
    handles = {}
    for w in workers:
        handles[w.conn] = ("talking", w)
        handles[w.process.sentinel] = ("ended", w)
    ready = mp_connection.wait(list(handles) + [wake_fd], timeout=timeout)
    if wake_fd in ready:
        try:
            os.read(wake_fd, 4096)
        except OSError:
            pass
    found = [handles[h] for h in ready if h != wake_fd]
    return [w for kind, w in found if kind == "talking"], [w for kind, w in found if kind == "ended"]


def exit_reason(code) -> str:
    """How a worker process ended, in words (its exit code; negative: the signal)."""
    if code is not None and code < 0:
        try:
            how = f"killed by {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
        return how + (" (out of memory?)" if -code == signal.SIGKILL else "")
    return f"exited with code {code}"
