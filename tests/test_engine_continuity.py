"""Time travel: a sample whose representation did not change stays where it was drawn.

The temporal parts of the refinement (engine/epoch.py: the anchor follows the previous
map, moves on along the last step, and each sample moves by its mobility 1 − NPR) must
keep an unchanged epoch's map in place, also when every representation is shifted and
scaled at once (a global growth of the features is not a movement of any sample relative to
the others: the whole map follows the representations' mean, drift.py), while independent
fits of the same data land elsewhere.
"""

import numpy as np
import torch

from engine_testdata import TINY, FakeReader, blobs_run, border_points, linear_head
from tensorboard_dvi.engine import EngineConfig, fit_run
from tensorboard_dvi.engine.cache import RunCache


def _run(transform):
    """Epoch 1 from the blobs run, epochs 2 and 3 its representations under ``transform``."""
    labels, split, epochs = blobs_run(epochs=(1,), n_border=40)
    x, _, _ = epochs[1]
    rng = np.random.RandomState(1)
    out = {}
    for e in (1, 2, 3):
        xe = x if e == 1 else transform(x)
        centres = np.stack([xe[:240][labels[:240] == c].mean(0) for c in range(4)])
        head = linear_head(centres)
        out[e] = (xe.astype(np.float32), head, border_points(xe[:240], head, 40, rng))
    return labels, split, out


def _displacement(cache, n_train, a, b):
    ea, eb = np.asarray(cache.embedding(a))[:n_train], np.asarray(cache.embedding(b))[:n_train]
    return float(np.median(np.linalg.norm(eb - ea, axis=1)) / ea.std())


def _fit(tmp_path, name, reader, **kw):
    torch.manual_seed(0)
    cache_dir = str(tmp_path / name)
    fit_run(reader, cache_dir, config=EngineConfig(**{**TINY, **kw}))
    return RunCache(cache_dir)


def test_unchanged_representations_keep_their_place(tmp_path):
    labels, split, epochs = _run(lambda x: x)
    temporal = _fit(tmp_path, "t", FakeReader(labels, split, epochs))
    # a new random stream per epoch: independent fits of the same data land elsewhere
    independent = _fit(tmp_path, "i", FakeReader(labels, split, epochs), temporal=False, seed_per_epoch=True)
    moved_t = [_displacement(temporal, 240, 1, e) for e in (2, 3)]
    moved_i = [_displacement(independent, 240, 1, e) for e in (2, 3)]
    assert max(moved_t) < 0.1, moved_t            # well under a tenth of the spread
    assert min(moved_i) > 4 * max(moved_t), (moved_t, moved_i)


def _relative_displacement(cache, n_train, a, b):
    """As _displacement, after taking away the move of the whole map (its centre's translation)."""
    ea, eb = np.asarray(cache.embedding(a))[:n_train], np.asarray(cache.embedding(b))[:n_train]
    return float(np.median(np.linalg.norm((eb - eb.mean(0)) - (ea - ea.mean(0)), axis=1)) / ea.std())


def test_a_global_shift_and_growth_moves_the_whole_map_not_the_samples(tmp_path):
    """Every sample keeps its place relative to the others; with ``drift`` (default) the whole map
    moves, by the translation its epochs record (drift.py); without it the map stays put."""
    grow = np.float32(1.6)
    shift = np.linspace(-2, 2, 16).astype(np.float32)
    labels, split, epochs = _run(lambda x: x * grow + shift)
    cache = _fit(tmp_path, "g", FakeReader(labels, split, epochs))
    assert _relative_displacement(cache, 240, 1, 2) < 0.1
    assert _relative_displacement(cache, 240, 2, 3) < 0.1
    w = {e: np.asarray(cache.epoch_info(e)["drift"]["shift"]) for e in (1, 2, 3)}
    centre = {e: np.asarray(cache.embedding(e))[:240].mean(0) for e in (1, 2, 3)}
    assert np.linalg.norm(w[2] - w[1]) > 0.1 * np.asarray(cache.embedding(1))[:240].std()
    np.testing.assert_allclose(centre[2] - centre[1], w[2] - w[1], atol=0.05 * np.linalg.norm(w[2] - w[1]))
    assert np.linalg.norm(w[3] - w[2]) < 1e-3 * np.linalg.norm(w[2] - w[1])  # epochs 2 and 3 are the same
    still = _fit(tmp_path, "s", FakeReader(labels, split, epochs), drift=0.0)
    assert _displacement(still, 240, 1, 2) < 0.1
    assert _displacement(still, 240, 2, 3) < 0.1


def test_run_level_figures_follow_a_refit_with_other_settings(tmp_path):
    """A refit keeps the input uids; the whole-run figures must still be recomputed from it."""
    labels, split, epochs = blobs_run(epochs=(1, 2, 3, 4))
    reader = FakeReader(labels, split, epochs)
    cache = _fit(tmp_path, "c", reader)
    first = cache.run_metrics()
    cache = _fit(tmp_path, "c", reader, temporal=False)  # same cache folder, other settings
    second = cache.run_metrics()
    assert second["fitted_at"] != first["fitted_at"]
    assert second["tr"] != first["tr"]
    assert second["fitted_at"] == {str(e): cache.epoch_info(e)["created"] for e in (1, 2, 3, 4)}


def test_one_random_stream_for_every_epoch_repeats_the_same_map(tmp_path):
    """``seed_per_epoch=False`` (default): identical epochs fitted independently give the same map
    (the jitter of the layout optimiser repeats instead of zig-zagging); True: a new stream each epoch."""
    labels, split, epochs = _run(lambda x: x)
    epochs = {e: epochs[1] for e in (1, 2, 3)}  # the very same epoch three times, border points too
    same = _fit(tmp_path, "s", FakeReader(labels, split, epochs), temporal=False)
    fresh = _fit(tmp_path, "f", FakeReader(labels, split, epochs), temporal=False, seed_per_epoch=True)
    assert max(_displacement(same, 240, 1, e) for e in (2, 3)) < 1e-4
    assert min(_displacement(fresh, 240, 1, e) for e in (2, 3)) > 0.05


def test_map_error_marks_samples_drawn_among_strangers():
    """``mobility_error``: a sample whose 2-D neighbours at its previous position are not its high-D
    neighbours gets a high map error; one drawn among its own neighbours gets none."""
    from types import SimpleNamespace
    from tensorboard_dvi.engine.complex import knn_exact
    from tensorboard_dvi.engine.epoch import EpochFitter

    rng = np.random.RandomState(0)
    pos = rng.randn(300, 2).astype(np.float32)
    x = np.concatenate([pos, 0.01 * rng.randn(300, 6).astype(np.float32)], axis=1)  # high-D = 2-D + noise
    wrong = rng.choice(300, 30, replace=False)
    drawn = pos.copy()
    drawn[wrong] = rng.uniform(-3, 3, (30, 2))  # these are drawn far from their neighbours
    fitter = SimpleNamespace(cache=SimpleNamespace(embedding=lambda e: drawn), train_rows=np.arange(300),
                             device="cpu")
    cx = SimpleNamespace(knn_idx=knn_exact(x, x, 15)[0])
    err = EpochFitter._map_error(fitter, 1, cx)
    ok = np.setdiff1d(np.arange(300), wrong)
    assert err[wrong].mean() > 0.8, err[wrong]
    assert np.median(err[ok]) == 0.0 and err[ok].mean() < 0.15, err[ok].mean()


def test_stretched_moves_follow_how_much_each_neighbourhood_changed(tmp_path):
    """move_stretch (refine.stretch_moves): with the same previous map, an epoch's moves grow only,
    and their lengths follow 1 − NPR more closely than without the stretch."""
    labels, split, epochs = blobs_run(epochs=(1, 2), n_border=40, drift=0.6)
    reader = FakeReader(labels, split, epochs)
    off, on = (_fit(tmp_path, n, reader, move_stretch=s, snap_steps=0) for n, s in (("off", 0.0), ("on", 1.0)))
    np.testing.assert_array_equal(off.embedding(1), on.embedding(1))
    mobility = 1 - np.asarray(on.npr(2))
    np.testing.assert_array_equal(mobility, 1 - np.asarray(off.npr(2)))

    def moves(cache):
        e1, e2 = np.asarray(cache.embedding(1))[:240], np.asarray(cache.embedding(2))[:240]
        shift = np.subtract(cache.epoch_info(2)["drift"]["shift"], cache.epoch_info(1)["drift"]["shift"])
        return np.linalg.norm(e2 - e1 - shift, axis=1)

    m_off, m_on = moves(off), moves(on)
    assert not np.allclose(m_off, m_on)
    assert np.median(m_on) >= np.median(m_off)
    corr = lambda m: float(np.corrcoef(m, mobility)[0, 1])
    assert corr(m_on) > corr(m_off), (corr(m_on), corr(m_off))
