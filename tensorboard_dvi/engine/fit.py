"""Sequential temporal fitting of DVI visualizers, incremental and cached (spec 6).

Epoch t's visualizer starts from epoch t-1's stored state (warm start) and is
regularised towards it (temporal term). Everything needed to continue the
chain lives in the cache, so when a run gains epochs only the new ones are
fitted; when an epoch's input uid changes, fitting restarts from it.

Damaged epochs (storage.DamagedEpochError) are skipped with a warning; the
chain continues from the previous good epoch. Bad input that would give a
wrong picture (NaN/inf representations or logits, sizes that do not match the
run, a representation width that changes between epochs) raises EngineError.

The pieces: config.py (settings), progress.py (progress/cancel), phases.py (the
three training phases), epoch.py (the per-epoch pipeline), faithfulness.py and
run_metrics.py (the metrics).
"""

from __future__ import annotations

import logging
from typing import Callable, Dict, Iterable, List, Optional

import torch

from ..storage import FormatError
from .cache import RunCache
from .config import EngineConfig, EngineError
from .epoch import EpochFitter
from .faithfulness import damaged_error_types
from .phases import train_visualizer
from .progress import Progress, Stopped, warn
from .run_metrics import update_run_metrics

__all__ = ["fit_run", "EngineConfig", "EngineError", "train_visualizer"]

log = logging.getLogger(__name__)


def _open_reader(run, confine=None):
    if hasattr(run, "epochs") and hasattr(run, "epoch"):
        return run
    from ..storage import RunReader
    return RunReader(run, confine=confine)


def _select(all_epochs: List[int], epochs) -> List[int]:
    if epochs is None:
        return list(all_epochs)
    if isinstance(epochs, range) or not isinstance(epochs, (str, bytes)):
        wanted = {int(e) for e in epochs}
    else:
        raise EngineError(f"epochs must be a list of integers, got {epochs!r}")
    return [e for e in all_epochs if e in wanted]


def fit_run(run_path, cache_dir: str, *, epochs: Optional[Iterable[int]] = None,
            config: Optional[EngineConfig] = None, device: str = "cpu",
            progress: Optional[Callable[[dict], None]] = None,
            should_stop: Optional[Callable[[], bool]] = None, confine: Optional[str] = None,
            reference=None) -> List[int]:
    """Fit every epoch of the run that is not fresh in the cache; return those fitted.

    ``run_path`` is a run folder (or an object with the RunReader API).
    Epochs are fitted in order; each warm-starts from the latest fresh epoch
    before it (unless ``config.temporal`` is False); an epoch that arrives after
    later ones were fitted makes those later ones refit (``_in_epoch_order``). ``should_stop()`` is
    polled between stages and trainer epochs; finished epochs stay valid. ``confine`` (the
    plugin passes its logdir): files reached through a symlink out of it are not read.
    ``reference``: another run's layout to fit from (reference.py's ``fit_from_reference``).
    """
    cfg = config or EngineConfig()
    device = str(device)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise EngineError("device 'cuda' was requested but torch sees no CUDA GPU")
    reader = _open_reader(run_path, confine)
    damaged_types = damaged_error_types()
    old_threads = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(int(cfg.threads))
    try:
        try:
            all_epochs = reader.epochs()
            reader.static()
        except FormatError as err:
            raise EngineError(str(err)) from err
        uids: Dict[int, str] = {}
        for e in all_epochs:
            try:
                uids[e] = reader.epoch(e).uid
            except damaged_types as err:
                warn(f"skipping epoch {e}: {getattr(err, 'reason', err)}")
            except KeyError:
                pass
        if not uids:
            raise EngineError("the run has no complete logged epochs to visualise")
        cache = RunCache(cache_dir)
        fresh = set(cache.fitted_epochs(uids, cfg.config_hash()))
        if cfg.temporal:
            fresh = _in_epoch_order(cache, fresh, sorted(uids))
        selected = _select(sorted(uids), epochs)
        todo = [e for e in selected if e not in fresh]
        P = Progress(progress, len(todo))
        fitter = EpochFitter(reader, cache, cfg, device, P, should_stop)
        fitter.reference = reference
        done: List[int] = []
        for e in todo:
            if should_stop is not None and should_stop():
                break
            prev = None
            if cfg.temporal:
                cands = [p for p in (fresh | set(done)) if p < e]
                prev = max(cands) if cands else None
            try:
                fitter.fit(e, prev)
            except Stopped:
                break
            except damaged_types as err:
                warn(f"skipping epoch {e}: {getattr(err, 'reason', err)}")
                continue
            done.append(e)
            P.done += 1
        if done and cfg.run_metrics:
            update_run_metrics(reader, cache, uids, cfg.config_hash())
        P("done", done[-1] if done else None, f"fitted {len(done)} of {len(todo)} epochs")
        return done
    finally:
        torch.set_num_threads(old_threads)


def _in_epoch_order(cache: RunCache, fresh: set, good: List[int]) -> set:
    """The fresh epochs whose chain follows epoch order; stop at the first that does not.

    An epoch logged late (out of order, e.g. 2 after 3 was fitted) leaves epoch 3
    warm-started from 1; that epoch and every later one are refitted, so each
    epoch continues from the latest good epoch before it.
    """
    kept = set()
    for e in sorted(fresh):
        expected = max((g for g in good if g < e), default=None)
        if cache.epoch_info(e).get("prev_epoch") != expected:
            break
        kept.add(e)
    return kept


