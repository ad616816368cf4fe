"""A provisional first map: a quick layout of one epoch, shown until its fitted map exists.

Fitting an epoch of 10k x 512 takes a minute or more on a small CPU; a tab that opens an
unfitted run would stay empty that long. So, before the real fit of a run that has no fitted
epoch, the worker computes a provisional layout of the first epoch it will fit: exact kNN
(complex.knn_exact: torch, no numba compile; from 256 dims in the top 128 principal directions),
UMAP's fuzzy simplicial set, a PCA start, and
150 steps of UMAP's layout optimisation (refine.refine_positions, closed-form
gradients); test rows are placed at their training neighbours' membership-weighted mean.
There is no encoder, no decoder and so no background: the tab says what it shows.

It never masquerades as a fitted epoch: it lives in ``cache_dir/provisional/epoch-NNNNNN/``
(``embedding.npy`` + ``provisional.json`` with the input uid), outside ``epochs/`` that every
reader of fitted epochs lists, and is removed once the run has a fitted epoch. Reading is
numpy + stdlib only (the plugin's request threads); torch is imported inside the fit.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from .. import safe_read, storage
from ..metadata import TRASH_PREFIX, epoch_dir_name, parse_epoch_dir_name

PROVISIONAL_DIR = "provisional"
PROVISIONAL_FILE = "provisional.json"
PROVISIONAL_EMBEDDING = "embedding.npy"
KIND = "provisional"
#: ``TENSORBOARD_DVI_PROVISIONAL=0`` in the worker's environment: no provisional map (the first
#: fitted map then comes a few seconds sooner, the first map of all much later)
ENV_SWITCH = "TENSORBOARD_DVI_PROVISIONAL"


@dataclass(frozen=True)
class ProvisionalSettings:
    """How the quick layout is made (not part of EngineConfig: it changes no fitted result)."""
    n_neighbors: int = 15
    prune_n_epochs: float = 15.0
    #: UMAP layout-optimisation steps from the PCA start, each drawing about
    #: ``edges_per_node`` x n edges (∝ weight) and ``negative_sample_rate`` negatives per edge
    steps: int = 150
    edges_per_node: float = 4.5
    lr: float = 0.3
    negative_sample_rate: int = 5
    #: the PCA start is scaled to this standard deviation (UMAP's spectral start spans ~10)
    init_std: float = 3.0
    #: at most this many training rows are laid out (a seeded random subset); the others are
    #: placed like test rows, so the exact kNN's n² cost stays bounded on large runs
    max_layout_rows: int = 12000
    seed: int = 0
    #: torch threads (1: two threads were 3-10x slower in the layout steps on the shared 2-core machine)
    threads: Optional[int] = 1
    #: representations of at least 256 dims are laid out from their top this many principal directions
    #: (subspace.basis; None: all dims): the search's products shrink 4x at 512 dims; on 8,000 x 512 real
    #: rows the layout took 3.0 s instead of 4.8 s at NN@15 5.71 against 5.79 (docs/QUALITY_RESULTS.md)
    subspace_dim: Optional[int] = 128


# ---------------------------------------------------------------------------- the layout

def project(reps: np.ndarray, fit_rows: np.ndarray, dim: Optional[int]) -> np.ndarray:
    """``reps`` in the top ``dim`` principal directions of its rows ``fit_rows`` (centred on their mean), or
    ``reps`` itself where subspace.basis declines (fewer than 256 dims, ``dim`` None)."""
    import torch

    from .subspace import basis
    fit = torch.as_tensor(np.require(reps[fit_rows], np.float32, ["C"]))
    mean = fit.mean(0)
    p = basis(fit - mean, dim)
    if p is None:
        return reps
    return ((torch.as_tensor(np.require(reps, np.float32, ["C"])) - mean) @ p).numpy()


def pca_init(x: np.ndarray, std: float) -> np.ndarray:
    """The first two principal components of ``x``, scaled to standard deviation ``std``."""
    import torch
    t = torch.as_tensor(np.require(x, np.float32, ["C"]))
    t = t - t.mean(0, keepdim=True)
    _, _, v = torch.pca_lowrank(t, q=min(4, t.shape[1]), center=False, niter=3)
    y = (t @ v[:, :2]).numpy().astype(np.float32)
    if y.shape[1] < 2:
        y = np.concatenate([y, np.zeros((len(y), 2 - y.shape[1]), np.float32)], 1)
    return y / max(float(y.std()), 1e-12) * std


def layout(x_train: np.ndarray, settings: ProvisionalSettings = ProvisionalSettings(), *,
           device: str = "cpu", should_stop: Optional[Callable[[], None]] = None,
           timings: Optional[Dict[str, float]] = None) -> Tuple[np.ndarray, Tuple[np.ndarray, np.ndarray]]:
    """(positions n x 2 float32, (knn idx, knn dist)) of the training rows ``x_train``."""
    import torch

    from .complex import fuzzy_simplicial_set, knn_exact, prune
    from .refine import refine_positions
    s = settings
    timings = {} if timings is None else timings
    t0 = time.perf_counter()
    k = min(s.n_neighbors, len(x_train))
    knn = knn_exact(x_train, x_train, k, exclude_self_first=True, device=device)
    timings["knn"], t0 = time.perf_counter() - t0, time.perf_counter()
    g = prune(fuzzy_simplicial_set(knn[0], knn[1], len(x_train)), s.prune_n_epochs)
    timings["graph"], t0 = time.perf_counter() - t0, time.perf_counter()
    p0 = torch.as_tensor(pca_init(x_train, s.init_std), device=device)
    timings["init"], t0 = time.perf_counter() - t0, time.perf_counter()
    gen = torch.Generator().manual_seed(s.seed)
    delta = refine_positions(p0, torch.as_tensor(g.row, dtype=torch.int64), torch.as_tensor(g.col, dtype=torch.int64),
                             torch.as_tensor(g.data, dtype=torch.float32), steps=s.steps,
                             edges_per_step=int(s.edges_per_node * len(x_train)), lr=s.lr,
                             negative_sample_rate=s.negative_sample_rate, generator=gen, should_stop=should_stop)
    timings["optimise"] = time.perf_counter() - t0
    return (p0 + delta).cpu().numpy().astype(np.float32), knn


def place_rows(x_rows: np.ndarray, x_train: np.ndarray, train_pos: np.ndarray, k: int,
               device: str = "cpu") -> np.ndarray:
    """Rows outside the layout (test rows) at their training neighbours' membership-weighted mean."""
    from .complex import knn_exact
    from .refine import interpolate
    if not len(x_rows):
        return np.zeros((0, 2), np.float32)
    idx, dist = knn_exact(x_rows, x_train, k, device=device)
    return interpolate(train_pos, idx, dist)


# ---------------------------------------------------------------------------- the cache side

def provisional_root(cache_dir: str) -> str:
    """``cache_dir/provisional`` (local: a remote cache's provisional maps stay on this machine)."""
    from .cache import RunCache
    return os.path.join(RunCache(cache_dir).cache_dir, PROVISIONAL_DIR)


def write_provisional(cache_dir: str, epoch: int, embedding: np.ndarray, info: dict) -> str:
    """Publish one provisional map atomically (the format's folder writer), replacing an older one."""
    info = {**info, "kind": KIND, "epoch": int(epoch)}
    return storage.write_folder(provisional_root(cache_dir), epoch_dir_name(epoch),
                                {PROVISIONAL_EMBEDDING: np.asarray(embedding, np.float32)},
                                {PROVISIONAL_FILE: info}, replace=True)


def _listed(cache_dir: str) -> List[int]:
    try:
        names = os.listdir(provisional_root(cache_dir))
    except OSError:
        return []
    return sorted(e for e in (parse_epoch_dir_name(n) for n in names) if e is not None)


def read_info(cache_dir: str, epoch: int) -> Optional[dict]:
    """The epoch's ``provisional.json`` (checked like every cache file), or None."""
    path = os.path.join(provisional_root(cache_dir), epoch_dir_name(epoch), PROVISIONAL_FILE)
    try:
        info = safe_read.read_json(path, PROVISIONAL_FILE, max_bytes=1 << 20)
    except (OSError, safe_read.FormatError):
        return None
    return info if isinstance(info, dict) and info.get("kind") == KIND else None


def provisional_epochs(cache_dir: str, uids: Dict[int, str]) -> List[int]:
    """Epochs with a provisional map made from the logged data ``uids`` (epoch -> input uid)."""
    out = []
    for e in _listed(cache_dir):
        info = read_info(cache_dir, e)
        if info is not None and uids.get(e) is not None and info.get("input_uid") == uids[e]:
            out.append(e)
    return out


def read_provisional(cache_dir: str, epoch: int, uid: str, n: int) -> Optional[Tuple[np.ndarray, dict]]:
    """(embedding n x 2, info) of a provisional map of this input, or None (absent, stale, damaged)."""
    info = read_info(cache_dir, epoch)
    if info is None or info.get("input_uid") != uid:
        return None
    path = os.path.join(provisional_root(cache_dir), epoch_dir_name(epoch), PROVISIONAL_EMBEDDING)
    try:
        safe_read.check_regular(path, PROVISIONAL_EMBEDDING, ValueError)
        emb = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError):
        return None
    if emb.shape != (n, 2) or emb.dtype != np.float32:
        return None
    return emb, info


def clear_provisional(cache_dir: str) -> None:
    """Remove every provisional map of the run (renamed aside first: readers never see half of one)."""
    root = provisional_root(cache_dir)
    for e in _listed(cache_dir):
        src = os.path.join(root, epoch_dir_name(e))
        trash = os.path.join(root, TRASH_PREFIX + epoch_dir_name(e) + "-" + uuid.uuid4().hex[:8])
        try:
            os.rename(src, trash)
        except OSError:
            continue
        shutil.rmtree(trash, ignore_errors=True)


# ---------------------------------------------------------------------------- the worker side

def fit_provisional(reader, cache_dir: str, epoch: int, *, settings: ProvisionalSettings = ProvisionalSettings(),
                    device: str = "cpu", should_stop: Optional[Callable[[], bool]] = None) -> dict:
    """Compute and publish the provisional map of ``epoch`` of the run read by ``reader``."""
    import torch

    from .config import EngineError
    from .progress import check_stop
    t_start = time.perf_counter()
    old = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(int(settings.threads))
    try:
        split = np.asarray(reader.static().split)
        ed = reader.epoch(epoch)
        reps = np.asarray(ed.representations, dtype=np.float32)
        if reps.ndim != 2 or reps.shape[0] != len(split) or not np.isfinite(reps).all():
            raise EngineError(f"epoch {epoch}: representations of shape {reps.shape} (or with NaN/inf) "
                              "cannot be laid out")
        train, test = np.nonzero(split == 0)[0], np.nonzero(split != 0)[0]
        if len(train) > settings.max_layout_rows:  # the rest is placed like the test rows
            keep = np.zeros(len(train), bool)
            keep[np.random.default_rng(settings.seed).choice(len(train), settings.max_layout_rows, replace=False)] = True
            train, test = train[keep], np.sort(np.concatenate([test, train[~keep]]))
        if len(train) < settings.n_neighbors + 2:
            raise EngineError(f"epoch {epoch}: {len(train)} training samples are too few for a layout")
        timings: Dict[str, float] = {}
        t0 = time.perf_counter()
        reps = project(reps, train, settings.subspace_dim)
        timings["project"] = time.perf_counter() - t0
        pos, _ = layout(reps[train], settings, device=device, should_stop=lambda: check_stop(should_stop),
                        timings=timings)
        emb = np.zeros((len(split), 2), np.float32)
        emb[train] = pos
        t0 = time.perf_counter()
        emb[test] = place_rows(reps[test], reps[train], pos, settings.n_neighbors, device)
        timings["test_rows"] = time.perf_counter() - t0
    finally:
        torch.set_num_threads(old)
    info = {"input_uid": ed.uid, "seconds": round(time.perf_counter() - t_start, 2),
            "timings": {k: round(v, 3) for k, v in timings.items()}, "settings": asdict(settings),
            "background": False, "created": time.time()}
    write_provisional(cache_dir, epoch, emb, info)
    return info


def fit_run_first_map(run_path, cache_dir: str, *, epochs=None, config=None, device: str = "cpu",
                      progress: Optional[Callable[[dict], None]] = None,
                      should_stop: Optional[Callable[[], bool]] = None, confine: Optional[str] = None) -> List[int]:
    """``fit_run`` (same signature and result), preceded by a provisional map when the run has
    no fitted epoch yet: of the first epoch the fit will do, the one the tab shows first.
    The plugin's jobs call this; provisional maps are removed once an epoch is fitted."""
    from .cache import RunCache
    from .fit import _open_reader, _select, fit_run
    from .progress import Stopped
    reader = _open_reader(run_path, confine)
    uids = _logged_uids(reader)
    cache = RunCache(cache_dir)
    if cache.fitted_epochs(uids):
        clear_provisional(cache_dir)
    elif os.environ.get(ENV_SWITCH, "1") != "0":
        todo = _select(sorted(uids), epochs)
        if todo and todo[0] not in provisional_epochs(cache_dir, uids):
            e = todo[0]
            if progress is not None:
                progress({"stage": "provisional", "epoch": e, "epochs_done": 0, "epochs_total": len(todo),
                          "fraction": 0.0, "message": f"computing a provisional layout of epoch {e}"})
            try:
                fit_provisional(reader, cache_dir, e, device=device, should_stop=should_stop)
            except Stopped:
                return []
            except Exception as err:  # noqa: BLE001 - a preview never stops the real fit
                from .progress import warn
                warn(f"no provisional layout of epoch {e}: {type(err).__name__}: {err}")

    cleared = []

    def relay(info):
        if not cleared and isinstance(info.get("epochs_done"), int) and info["epochs_done"] > 0:
            cleared.append(True)
            clear_provisional(cache_dir)
        if progress is not None:
            progress(info)

    done = fit_run(reader, cache_dir, epochs=epochs, config=config, device=device, progress=relay,
                   should_stop=should_stop, confine=confine)
    if done and not cleared:
        clear_provisional(cache_dir)
    return done


def _logged_uids(reader) -> Dict[int, str]:
    """Epoch -> input uid of the readable epochs (damaged ones are fit_run's to report)."""
    out = {}
    for e in reader.epochs():
        try:
            out[e] = reader.epoch(e).uid
        except Exception:  # noqa: BLE001 - damaged: fit_run names it
            continue
    return out
