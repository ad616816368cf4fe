"""Zoomed backgrounds (``background?bounds=``): validation, tile cache, and the render worker.

The decoder → head grid needs torch, which the TensorBoard process never imports; one
small long-lived worker process (spawn, started on the first zoomed request) renders the
tiles (engine/zoom.py). At most ``max_pending`` renders wait at once (more: 503 ``busy``),
each for at most ``timeout_s``. Tiles are kept in an LRU keyed by (run, epoch, input uid,
cached state's stat, rounded bounds, resolution).
"""

from __future__ import annotations

import concurrent.futures as cf
from concurrent.futures.process import BrokenProcessPool
import math
import multiprocessing
import os
import threading
from typing import Optional, Tuple

from .codes import BadParam, Damaged, NotFitted
from .runs import LRU

MAX_RESOLUTION = 400
MIN_SPAN = 1e-3    # of the epoch's full span: deeper zooms show the decoder's noise, not the model
MAX_OUTSIDE = 2.0  # bounds may reach this many full spans beyond the full bounds, no further


def parse_bounds(args, full) -> Optional[Tuple[Tuple[float, float, float, float], int]]:
    """(bounds, resolution) of a zoomed request, or None without ``bounds``; BadParam names the fault."""
    raw = args.get("bounds")
    if raw is None:
        return None
    parts = raw.split(",") if len(raw) <= 256 else []
    try:
        b = tuple(float(p) for p in parts)
    except ValueError:
        b = ()
    if len(b) != 4 or not all(math.isfinite(v) for v in b):
        raise BadParam(f"parameter 'bounds' must be four finite numbers x0,y0,x1,y1, got {raw[:80]!r}")
    x0, y0, x1, y1 = b
    if not (x0 < x1 and y0 < y1):
        raise BadParam("parameter 'bounds' needs x0 < x1 and y0 < y1")
    fx0, fy0, fx1, fy1 = (float(v) for v in full)
    span = max(fx1 - fx0, fy1 - fy0)
    if min(x1 - x0, y1 - y0) < MIN_SPAN * span:
        raise BadParam(f"parameter 'bounds' spans less than {MIN_SPAN:g} of the epoch's map "
                       f"({span:.4g} wide); zoom out")
    if x1 < fx0 - MAX_OUTSIDE * span or x0 > fx1 + MAX_OUTSIDE * span or \
            y1 < fy0 - MAX_OUTSIDE * span or y0 > fy1 + MAX_OUTSIDE * span or \
            max(x1 - x0, y1 - y0) > (1 + 2 * MAX_OUTSIDE) * span:
        raise BadParam("parameter 'bounds' lies too far outside the epoch's map "
                       f"[{fx0:.4g}, {fy0:.4g}, {fx1:.4g}, {fy1:.4g}]")
    res = args.get("resolution", "200")
    if not res.isdigit() or not 1 <= int(res) <= MAX_RESOLUTION:
        raise BadParam(f"parameter 'resolution' must be an integer from 1 to {MAX_RESOLUTION}, got {res[:20]!r}")
    return b, int(res)


def rounded(bounds, full) -> tuple:
    """Bounds snapped to 1e-6 of the full span (the tile cache's key; the tile is rendered on these)."""
    q = max(float(full[2]) - float(full[0]), float(full[3]) - float(full[1])) * 1e-6
    return tuple(round(v / q) * q for v in bounds)


class Busy(Exception):
    """Too many zoomed renders waiting, or one took too long (answered 503 ``busy``)."""


class ZoomRenderer:
    """One lazily started spawn worker process rendering zoomed tiles, with an LRU of its answers."""

    def __init__(self, *, max_pending: int = 4, timeout_s: float = 20.0, cache_items: int = 256,
                 cache_bytes: int = 32 << 20):
        self._pool: Optional[cf.ProcessPoolExecutor] = None
        self._lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(max_pending)
        self.timeout_s = timeout_s
        self.tiles = LRU(cache_items, cache_bytes)

    def _executor(self) -> cf.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = cf.ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                                    initializer=_worker_init)
            return self._pool

    def _reset(self, pool) -> None:
        with self._lock:
            if self._pool is pool:
                self._pool = None
        for proc in list((getattr(pool, "_processes", None) or {}).values()):
            proc.terminate()  # a stuck render would otherwise keep its CPU
        pool.shutdown(wait=False, cancel_futures=True)

    def render(self, run, e: int, uid, bounds, resolution: int, full, num_classes: int) -> bytes:
        """The PNG tile; raises Busy (503), NotFitted or Damaged (404) naming the cause."""
        b = rounded(bounds, full)
        try:
            st = os.stat(run.cache.state_path(e))
            stamp = (st.st_mtime_ns, st.st_size)
        except (AttributeError, OSError):
            stamp = None
        key = (run.path, e, uid, stamp, b, resolution)
        png = self.tiles.get(key)
        if png is not None:
            return png
        if not self._slots.acquire(blocking=False):
            raise Busy("too many zoomed backgrounds are being drawn; try again")
        try:
            png = self._run(run, e, b, resolution, num_classes)
        finally:
            self._slots.release()
        if isinstance(png, tuple):  # the worker's answer for an epoch it cannot draw
            kind, message = png
            err = NotFitted if kind == "not_fitted" else Damaged
            raise err(f"epoch {e} of run {run.name!r}: cannot draw the zoomed background ({message})")
        return self.tiles.put(key, png)

    def _run(self, run, e, b, resolution, num_classes):
        """One render in the worker; a dead worker is replaced once, a stuck one stopped (Busy)."""
        for attempt in (0, 1):
            pool = self._executor()
            try:
                fut = pool.submit(_render, run.path, run.cache_dir, run.confine, e, b, resolution, num_classes)
                return fut.result(timeout=self.timeout_s)
            except cf.TimeoutError:
                self._reset(pool)  # a stuck render must not block the next ones
                raise Busy(f"drawing the zoomed background took longer than {self.timeout_s:g} s") from None
            except BrokenProcessPool:
                self._reset(pool)
                if attempt:
                    raise Busy("the background render worker stopped; try again") from None

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)


def _worker_init() -> None:
    from ..engine.zoom import _init_worker
    _init_worker()


def _render(*args):
    """PNG bytes, or (code, message) for an epoch the worker cannot draw (plain values: a library's
    exception class may not survive the trip back between processes)."""
    from ..engine.zoom import render_tile
    try:
        return render_tile(*args)
    except (KeyError, FileNotFoundError) as err:
        return ("not_fitted", str(err))
    except Exception as err:  # noqa: BLE001 - damaged state/head files: torch/pickle/format errors
        return ("damaged", f"{type(err).__name__}: {err}")


def meta(args, stored: dict) -> dict:
    """``background_meta`` of a zoomed request: the bounds and resolution the tile is drawn on."""
    full = stored.get("bounds")
    b, res = parse_bounds(args, full)
    return {"bounds": list(rounded(b, full)), "resolution": res, "full_bounds": full}


def serve_png(plugin, request, run, e: int, uid):
    """The zoomed PNG of ``background?bounds=``, drawn by the plugin's render worker."""
    from tensorboard.backend import http_util
    from . import codes
    stored = plugin._cache_call(run, e, lambda: run.cache.background_meta(e))
    full = stored.get("bounds")
    b, res = parse_bounds(request.args, full)
    num_classes = int(run.reader.meta.get("num_classes") or 0)
    try:
        png = plugin._cache_call(run, e, lambda: plugin.zoom.render(run, e, uid, b, res, full, num_classes))
    except Busy as err:
        return http_util.Respond(request, str(err), "text/plain", code=503, headers=[(codes.HEADER, "busy")])
    return http_util.Respond(request, png, "image/png")
