"""The public projection API on a run written by the real writer and fitted by the engine."""

import numpy as np
import pytest

import tensorboard_dvi
from conftest import make_run
from engine_testdata import TINY
from tensorboard_dvi.engine import EngineConfig, fit_run
from tensorboard_dvi.engine import metrics as M
from tensorboard_dvi.engine.cache import NotFittedError, RunCache
from tensorboard_dvi.storage import RunReader


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    d = tmp_path_factory.mktemp("proj")
    run = str(d / "run")
    make_run(run, epochs=2, n_train=400, n_test=100, seed=3)
    cache_dir = str(d / "cache")
    fit_run(run, cache_dir, config=EngineConfig(**{**TINY, "transform_steps": 60}))
    return run, cache_dir


def test_load_projection_matches_the_cache_and_the_drawn_map(fitted):
    run, cache_dir = fitted
    proj = tensorboard_dvi.load_projection(run, 2, cache_dir=cache_dir)
    cache, reader = RunCache(cache_dir), RunReader(run)
    emb = np.asarray(cache.embedding(2))
    assert np.array_equal(proj.embedding_, emb)
    # epoch 2's whole map was moved to follow the representations' mean (engine/drift.py): the
    # projection carries that move, as everything below checks
    assert np.linalg.norm(cache.epoch_info(2)["drift"]["shift"]) > 0.01 * float(emb.std())
    split = np.asarray(reader.static().split)
    tr, te = np.nonzero(split == 0)[0], np.nonzero(split == 1)[0]
    reps = np.asarray(reader.epoch(2).representations)
    # test rows were placed by the same function: transform gives back their drawn positions (to float32
    # rounding, which the snapping's 40 Adam steps amplify to ~1e-4 on a layout a few units wide)
    spread = float(emb.std())
    assert np.allclose(proj.transform(reps[te]), emb[te], atol=1e-4 * spread + 1e-4)
    # training rows projected as new points keep the map's neighbours (issue: >= 0.95x)
    y = proj.transform(reps[tr])
    assert M.nn_preservation(reps[tr], y, 15) >= 0.95 * M.nn_preservation(reps[tr], emb[tr], 15)
    # inverse and predict: the head on the decoded drawn positions is what PPR measured
    assert proj.inverse_transform(emb[:5]).shape == (5, reps.shape[1])
    pred = np.asarray(reader.epoch(2).logits).argmax(1)
    assert np.mean(proj.predict(emb[tr]) == pred[tr]) == pytest.approx(cache.metrics(2)["ppr_train"])
    assert proj.border_embedding_.shape == (len(cache.border_embedding(2)[1]), 2)


def test_projection_refuses_bad_input(fitted):
    run, cache_dir = fitted
    proj = tensorboard_dvi.load_projection(run, 1, cache_dir=cache_dir)
    width = proj.inverse_transform(np.zeros((1, 2))).shape[1]
    with pytest.raises(ValueError, match=rf"X must have shape \(n, {width}\), got \(3, 5\)"):
        proj.transform(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="NaN"):
        proj.predict(np.array([[np.nan, 0.0]]))
    with pytest.raises(NotFittedError, match="epoch 7"):
        tensorboard_dvi.load_projection(run, 7, cache_dir=cache_dir)
