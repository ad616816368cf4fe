"""Per-run state of the plugin: which runs exist, what each has logged and fitted.

:class:`Runs` finds a run (exact match against ``logdirs.list_runs``, realpath
inside its logdir or ``--logdir_spec`` folder), keeps one small :class:`RunState` per run seen, scans its
epochs (an epoch is re-validated only when its ``epoch.json``/folder changes)
and answers "which epochs are fitted" from the engine's cache. Every route,
the dynamics routes included, reads a run through this one object.

Memory: per run only small things are kept; the static per-sample arrays (and
what is derived from them: the id index, the encoded ``samples``, the dynamics
accumulators) are held for at most ``max_loaded_runs`` recently used runs
(:class:`LRU`), and dropped (reloaded on demand) for the others.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .. import fs as dfs
from .. import metadata as md
from .. import storage
from . import logdirs, validate
from .codes import Damaged, NotFitted, UnknownEpoch, UnknownRun, UnknownSample


#: How long an epoch scan is reused while the epochs folder is unchanged (seconds).
SCAN_TTL_S = 0.5


class LRU:
    """A small thread-safe LRU bounded by entry count and (optionally) total bytes."""

    def __init__(self, max_items: int, max_bytes: Optional[int] = None, on_evict=None):
        self._d: "collections.OrderedDict" = collections.OrderedDict()
        self._max_items, self._max_bytes = max_items, max_bytes
        self._on_evict = on_evict
        self._bytes = 0
        self._lock = threading.Lock()

    @staticmethod
    def _size(value) -> int:
        return len(value) if isinstance(value, (bytes, bytearray)) else 0

    def get(self, key):
        with self._lock:
            if key in self._d:
                self._d.move_to_end(key)
                return self._d[key]
        return None

    def put(self, key, value):
        evicted = []
        with self._lock:
            if key in self._d:
                self._bytes -= self._size(self._d.pop(key))
            self._d[key] = value
            self._bytes += self._size(value)
            while len(self._d) > self._max_items or (self._max_bytes and self._bytes > self._max_bytes
                                                    and len(self._d) > 1):
                _, old = self._d.popitem(last=False)
                self._bytes -= self._size(old)
                evicted.append(old)
        if self._on_evict is not None:
            for old in evicted:
                self._on_evict(old)
        return value

    def discard_if(self, pred):
        with self._lock:
            for k in [k for k in self._d if pred(k)]:
                self._bytes -= self._size(self._d.pop(k))

    @property
    def nbytes(self):
        return self._bytes

    def __len__(self):
        return len(self._d)


class RunState:
    """Cached state of one run: reader, cache, epoch scan, id index, dynamics memo.

    ``confine`` (the logdir): files reached through a symlink out of it are refused.
    """

    def __init__(self, name: str, path: str, cache_dir: str, cache, confine: Optional[str] = None):
        self.name = name
        self.path = path
        self.cache_dir = cache_dir
        self.confine = confine
        self.reader = storage.RunReader(path, confine=confine)
        self.cache = cache
        self.lock = threading.RLock()
        self.epoch_state: Dict[int, tuple] = {}  # epoch -> (stat key, uid or None, reason or None)
        self.fitted_memo = None  # (key, time, fitted list)
        self.scan_memo = None  # (epochs folder stat, time, scan result)
        self.id_order = None  # (sorted ids, argsort)
        self.samples_blob = None
        self.dynamics = None  # dynamics_route's memo (accumulators over the logged epochs)

    def drop_heavy(self):
        """Forget the per-sample arrays (reloaded on demand); keeps the small per-epoch state."""
        with self.lock:
            self.reader = storage.RunReader(self.path, confine=self.confine)
            self.id_order = None
            self.samples_blob = None
            self.dynamics = None

    def static_key(self):
        """Stat of the static labels file: changes when the run's static data is rewritten."""
        try:
            st = os.stat(os.path.join(self.reader.root, md.STATIC_DIR, md.LABELS_FILE))
            return (st.st_ino, st.st_mtime_ns, st.st_size)
        except OSError:
            return None

    def epoch_key(self, epoch: int, folder: Optional[str] = None):
        """Stat of the epoch folder and its epoch.json: the scan re-validates an epoch only when it
        changes. A folder without (a readable) epoch.json has a key too, so that its damage is
        remembered instead of re-checked on every request (a flood of empty folders)."""
        folder = folder or self.reader.epoch_path(epoch)
        try:
            dst = os.stat(folder)
        except OSError:
            return None
        try:
            st = os.stat(os.path.join(folder, md.EPOCH_FILE))
            return (st.st_ino, st.st_mtime_ns, st.st_size, dst.st_ino, dst.st_mtime_ns)
        except OSError:
            return (None, None, None, dst.st_ino, dst.st_mtime_ns)


class Runs:
    """Every run of one logdir, as the routes see them.

    ``generation(run_name)`` (the job manager's) changes whenever the cache of a
    run may have been rewritten; it keys the "fitted" memo.
    """

    def __init__(self, logdir: str, *, cache_root: Optional[str], cache_factory: Optional[Callable],
                 generation: Callable[[str], int], clock: Callable[[], float], runs_ttl_s: float = 2.0,
                 max_loaded_runs: int = 8, roots: Optional[List[logdirs.Root]] = None,
                 min_rescan_s: float = 1.0):
        self.logdir = logdir
        # Every folder runs are listed from (``--logdir``, or each ``--logdir_spec`` entry).
        self.roots = list(roots) if roots is not None else ([logdirs.Root(None, logdir)] if logdir else [])
        self._cache_root, self._cache_factory = cache_root, cache_factory
        self._generation, self._clock, self._ttl = generation, clock, runs_ttl_s
        self._min_rescan = min(float(min_rescan_s), float(runs_ttl_s))
        self._lock = threading.RLock()
        self._walk_lock = threading.Lock()  # one walk of the logdir at a time; others reuse it
        self._memo: Optional[Tuple[float, tuple]] = None
        self._runs: Dict[str, RunState] = {}  # small objects: one per run seen
        self._loaded = LRU(max_loaded_runs, on_evict=lambda run: run.drop_heavy())

    # ------------------------------------------------------------------ finding runs

    def _listing(self, fresh: bool = False):
        """({name: (root, relative name)}, skipped) of ``logdirs.list_runs``, re-listed at most
        every ``runs_ttl_s``. Only the list of names is memoised: epochs are scanned per request.

        ``fresh`` (an unknown name was asked for) re-lists at most every ``min_rescan_s``: a
        flood of unknown names is answered from this negative cache instead of walking the
        logdir once per request. Concurrent callers wait for one walk instead of starting theirs.
        """
        if not self.roots:
            return {}, []
        limit = self._min_rescan if fresh else self._ttl
        with self._lock:
            if self._memo is not None and self._clock() - self._memo[0] < limit:
                return self._memo[1]
        with self._walk_lock:
            with self._lock:  # another thread may have walked while this one waited
                if self._memo is not None and self._clock() - self._memo[0] < limit:
                    return self._memo[1]
            now = self._clock()
            listing = logdirs.list_runs(self.roots)
            with self._lock:
                self._memo = (now, listing)
        return listing

    def names(self, fresh: bool = False) -> List[str]:
        """Run names that the routes can open, sorted."""
        return sorted(self._listing(fresh)[0])

    def skipped(self) -> List[dict]:
        """Runs found on disk but not listed: ``[{"name", "reason"}]`` (see logdirs.py)."""
        return list(self._listing()[1])

    def locate(self, name: str, fresh: bool = True) -> Tuple[str, str]:
        """(absolute path, the root confining it) of a listed run; :class:`UnknownRun` otherwise."""
        found = self._listing()[0].get(name)
        if found is None and fresh:
            found = self._listing(fresh=True)[0].get(name)  # a run created a moment ago
        if found is None:
            raise UnknownRun(f"unknown run {name!r}")
        root, rel = found
        return validate.resolve_run(root.path, rel, [rel]), root.path

    def cache_dir(self, run_path: str) -> str:
        from ..engine.cache import default_cache_dir
        d = default_cache_dir(run_path)
        return dfs.join(self._cache_root, os.path.basename(d)) if self._cache_root else d

    def get(self, name: str, path: str, confine: Optional[str] = None) -> RunState:
        with self._lock:
            run = self._runs.get(name)
            if run is None or run.path != path:
                cache_dir = self.cache_dir(path)
                if self._cache_factory is not None:
                    cache = self._cache_factory(cache_dir)
                else:
                    from ..engine.cache import RunCache
                    cache = RunCache(cache_dir)
                run = self._runs[name] = RunState(name, path, cache_dir, cache,
                                                  confine=confine or self.logdir or None)
            return run

    def known(self, name: str) -> Optional[RunState]:
        """The state of a run already seen (None otherwise); resolves nothing."""
        return self._runs.get(name)

    def open(self, args) -> RunState:
        """The run named by the request's ``run`` parameter, with readable metadata."""
        name = validate.run_name(args)
        run = self.get(name, *self.locate(name))
        try:
            run.reader.meta
        except storage.FormatError as e:
            raise Damaged(f"run {name!r} cannot be read: {e}") from None
        return run

    def resolve(self, name: str) -> Optional[RunState]:
        """The run ``name`` if it is still listed (watcher, ``runs``), else None."""
        try:
            return self.get(name, *self.locate(name, fresh=False))
        except UnknownRun:
            return None

    # ------------------------------------------------------------------ epochs

    def scan(self, run: RunState) -> Tuple[List[int], Dict[int, str], Dict[int, str]]:
        """(logged epochs, {epoch: uid} of readable ones, {epoch: reason} of damaged ones)."""
        try:
            dst = os.stat(os.path.join(run.reader.root, md.EPOCHS_DIR))
            dkey = (dst.st_ino, dst.st_mtime_ns, dst.st_size)
        except OSError:
            dkey = None
        now = time.monotonic()
        with run.lock:  # a listing unchanged within SCAN_TTL_S is not re-checked epoch by epoch
            memo = run.scan_memo
            if memo is not None and dkey is not None and memo[0] == dkey and now - memo[1] < SCAN_TTL_S:
                return memo[2]
        folders = run.reader.epoch_names()
        logged = sorted(folders)
        uids, damaged = {}, {}
        with run.lock:
            for e in logged:
                key = run.epoch_key(e, os.path.join(run.reader.root, md.EPOCHS_DIR, folders[e]))
                cached = run.epoch_state.get(e)
                if cached is None or cached[0] != key or key is None:
                    try:
                        ep = run.reader.epoch(e)
                        ep.validate()
                        cached = (key, ep.uid, None)
                    except storage.DamagedEpochError as err:
                        cached = (key, None, err.reason)
                    except KeyError:  # vanished (being replaced)
                        continue
                    except storage.FormatError as err:
                        cached = (key, None, str(err))
                    except (OSError, ValueError, RecursionError, MemoryError) as err:  # never a 500
                        cached = (key, None, f"unreadable ({type(err).__name__})")
                    run.epoch_state[e] = cached
                if cached[1] is not None:
                    uids[e] = cached[1]
                else:
                    damaged[e] = cached[2]
            for e in [e for e in run.epoch_state if e not in logged]:
                del run.epoch_state[e]
            run.scan_memo = (dkey, now, (logged, uids, damaged))
        return logged, uids, damaged

    def fitted(self, run: RunState, uids: Dict[int, str]) -> List[int]:
        """Epochs fresh in the cache for these logged uids (memoised 1 s per generation)."""
        key = (self._generation(run.name), tuple(sorted(uids.items())))
        now = self._clock()
        with run.lock:
            memo = run.fitted_memo
            if memo is not None and memo[0] == key and now - memo[1] < 1.0:
                return memo[2]
        try:
            fitted = [e for e in run.cache.fitted_epochs(uids) if e in uids]
        except OSError:
            fitted = []
        with run.lock:
            run.fitted_memo = (key, now, fitted)
        return fitted

    @staticmethod
    def provisional(run: RunState, uids: Dict[int, str], fitted: List[int]) -> List[int]:
        """Epochs with a provisional layout of their logged data (engine/provisional.py), while the
        run has no fitted epoch (the tab then shows it, labelled, until the first fitted map)."""
        if fitted:
            return []
        from ..engine.provisional import provisional_epochs
        try:
            return provisional_epochs(run.cache_dir, uids)
        except OSError:
            return []

    def epoch(self, run: RunState, args, *, fitted: bool = False, optional: bool = False):
        """The validated ``epoch`` parameter: logged, not damaged, fitted if asked. Returns (epoch, uid)."""
        e = validate.epoch(args, optional=optional)
        if e is None:
            return None, None
        logged, uids, damaged = self.scan(run)
        if e not in logged:
            raise UnknownEpoch(f"epoch {e} has not been logged in run {run.name!r}")
        if e in damaged:
            raise Damaged(f"epoch {e} of run {run.name!r} is damaged: {damaged[e]}")
        if e not in uids:
            raise NotFitted(f"epoch {e} of run {run.name!r} is being rewritten; try again")
        if fitted and e not in self.fitted(run, uids):
            raise NotFitted(f"epoch {e} of run {run.name!r} is not fitted yet")
        return e, uids[e]

    @staticmethod
    def epoch_data(run: RunState, e: int) -> storage.EpochData:
        try:
            return run.reader.epoch(e)
        except storage.DamagedEpochError as err:
            raise Damaged(f"epoch {e} of run {run.name!r} is damaged: {err.reason}") from None
        except KeyError:
            raise UnknownEpoch(f"epoch {e} has not been logged in run {run.name!r}") from None

    # ------------------------------------------------------------------ per-sample data

    def static(self, run: RunState) -> storage.StaticData:
        """The run's static arrays (marks the run recently used: see :class:`LRU`)."""
        self._loaded.put(run.name, run)
        try:
            return run.reader.static()
        except storage.FormatError as err:
            raise Damaged(f"run {run.name!r} cannot be read: {err}") from None

    def touch(self, run: RunState) -> None:
        self._loaded.put(run.name, run)

    def index_of(self, run: RunState, ids: List[int]) -> np.ndarray:
        """Rows of the given sample ids (storage order); an unknown id is :class:`UnknownSample`."""
        static = self.static(run)
        with run.lock:
            if run.id_order is None:
                order = np.argsort(static.ids, kind="stable")
                run.id_order = (static.ids[order], order)
            sorted_ids, order = run.id_order
        q = np.asarray(ids, dtype=np.int64)
        if not len(q):
            return np.zeros(0, np.int64)
        pos = np.clip(np.searchsorted(sorted_ids, q), 0, max(len(sorted_ids) - 1, 0))
        found = (sorted_ids[pos] == q) if len(sorted_ids) else np.zeros(len(q), bool)
        if not np.all(found):
            missing = [int(i) for i in q[~found][:5]]
            raise UnknownSample(f"unknown sample id{'s' if len(missing) > 1 else ''} "
                                f"{', '.join(map(str, missing))} in run {run.name!r}")
        return order[pos]
