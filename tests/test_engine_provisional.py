"""The provisional first map (engine/provisional.py): a quick layout that keeps neighbours,
published beside the fitted epochs but never among them, and removed once an epoch is fitted."""

import os

import numpy as np
import pytest

from conftest import make_run
from tensorboard_dvi.engine import EngineConfig
from tensorboard_dvi.engine import provisional as P
from tensorboard_dvi.engine.cache import RunCache
from tensorboard_dvi.engine.metrics import nn_preservation
from tensorboard_dvi.engine.progress import Stopped
from tensorboard_dvi.storage import RunReader

SMALL = dict(max_trainer_epochs=1, hidden=(32, 32), background_resolution=16, threads=1, batch_size=256,
             decoder_min_steps=50, refine_steps_small=None, refine_steps=20, temporal_sample=100,
             trust_rows=200)


def clusters(n=1500, dim=64, seed=0):
    """Class clusters of intrinsic dimension 8 embedded in ``dim`` dimensions (ReLU'd)."""
    rng = np.random.default_rng(seed)
    lab = rng.integers(0, 10, n)
    z = rng.normal(0, 4, (10, 8))[lab] + rng.normal(0, 1, (n, 8))
    return np.maximum(z @ rng.normal(0, 1, (8, dim)) + 0.3 * rng.normal(0, 1, (n, dim)), 0).astype(np.float32)


def test_layout_keeps_neighbours_far_above_random():
    x = clusters()
    pos, (idx, _) = P.layout(x)
    assert pos.shape == (len(x), 2) and pos.dtype == np.float32 and np.isfinite(pos).all()
    nn = nn_preservation(x, pos, 15, high_knn=idx)
    rnd = nn_preservation(x, np.random.default_rng(1).normal(size=pos.shape), 15, high_knn=idx)
    start = nn_preservation(x, P.pca_init(x, 3.0), 15, high_knn=idx)
    assert rnd < 1.3
    assert nn > 2.5 * rnd, (nn, rnd)
    assert nn > start + 0.5, (nn, start)  # the optimisation, not the PCA start, keeps them


def test_place_rows_puts_rows_next_to_their_neighbours():
    x = clusters(800)
    pos, _ = P.layout(x[:600])
    out = P.place_rows(x[600:], x[:600], pos, k=15)
    assert out.shape == (200, 2) and np.isfinite(out).all()
    # a held-out row lands among its own cluster: nearer its nearest training row's position
    # than a random training row's, by far
    near = P.place_rows(x[600:], x[:600], pos, k=1)  # the nearest training row's position
    rng = np.random.default_rng(0)
    assert np.linalg.norm(out - near, axis=1).mean() < 0.3 * np.linalg.norm(
        out - pos[rng.integers(0, 600, 200)], axis=1).mean()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("prov")
    make_run(root / "run", epochs=2, n_train=200, n_test=50)
    return root / "run"


def test_provisional_is_not_a_fitted_epoch_and_goes_when_one_is(run, tmp_path):
    cache_dir = os.fspath(tmp_path / "cache")
    reader = RunReader(os.fspath(run))
    uids = {e: reader.epoch(e).uid for e in reader.epochs()}
    info = P.fit_provisional(reader, cache_dir, 1)
    assert info["input_uid"] == uids[1] and info["background"] is False
    cache = RunCache(cache_dir)
    assert cache.fitted_epochs() == [] and cache.fitted_epochs(uids) == []  # no leak into fitted epochs
    assert not os.path.exists(cache.epoch_path(1))
    assert P.provisional_epochs(cache_dir, uids) == [1]
    assert P.provisional_epochs(cache_dir, {1: "other input"}) == []  # stale: never served
    emb, got = P.read_provisional(cache_dir, 1, uids[1], n=250)
    assert emb.shape == (250, 2) and got["kind"] == "provisional"
    assert P.read_provisional(cache_dir, 1, "other input", n=250) is None
    assert P.read_provisional(cache_dir, 1, uids[1], n=251) is None

    seen = []
    done = P.fit_run_first_map(os.fspath(run), cache_dir, config=EngineConfig(**SMALL), progress=seen.append)
    assert done == [1, 2]
    assert P.provisional_epochs(cache_dir, uids) == []  # removed once epochs are fitted
    assert sorted(cache.fitted_epochs(uids)) == [1, 2]
    # it existed already, so the job did not compute it again
    assert all(s["stage"] != "provisional" for s in seen)


def test_the_job_makes_the_provisional_map_first_and_reports_it(run, tmp_path):
    cache_dir = os.fspath(tmp_path / "cache")
    seen, during = [], []

    def progress(info):
        seen.append(info)
        if info["stage"] == "load" and not during:  # the real fit started: the preview is there
            reader = RunReader(os.fspath(run))
            during.append(P.provisional_epochs(cache_dir, {e: reader.epoch(e).uid for e in reader.epochs()}))

    P.fit_run_first_map(os.fspath(run), cache_dir, epochs=[1], config=EngineConfig(**SMALL), progress=progress)
    assert seen[0]["stage"] == "provisional" and seen[0]["epoch"] == 1
    assert during == [[1]]
    assert os.listdir(P.provisional_root(cache_dir)) == []


def test_a_stopped_job_stops_in_the_provisional_layout(run, tmp_path):
    cache_dir = os.fspath(tmp_path / "cache")
    assert P.fit_run_first_map(os.fspath(run), cache_dir, config=EngineConfig(**SMALL),
                               should_stop=lambda: True) == []
    assert RunCache(cache_dir).fitted_epochs() == []
    with pytest.raises(Stopped):
        P.fit_provisional(RunReader(os.fspath(run)), cache_dir, 1, should_stop=lambda: True)


def test_large_runs_lay_out_a_subset_and_place_the_rest(run, tmp_path):
    cache_dir = os.fspath(tmp_path / "cache")
    reader = RunReader(os.fspath(run))
    info = P.fit_provisional(reader, cache_dir, 1, settings=P.ProvisionalSettings(max_layout_rows=120))
    emb, _ = P.read_provisional(cache_dir, 1, info["input_uid"], n=250)
    assert np.isfinite(emb).all() and len(np.unique(emb, axis=0)) == 250
    split = np.asarray(reader.static().split)
    reps = np.asarray(reader.epoch(1).representations)[split == 0]
    nn = nn_preservation(reps, np.asarray(emb)[split == 0], 15)
    rnd = nn_preservation(reps, np.random.default_rng(0).normal(size=(len(reps), 2)), 15)
    assert nn > 2 * rnd, (nn, rnd)


def test_switched_off_by_the_environment(run, tmp_path, monkeypatch):
    monkeypatch.setenv(P.ENV_SWITCH, "0")
    seen = []
    P.fit_run_first_map(os.fspath(run), os.fspath(tmp_path / "cache"), epochs=[1], config=EngineConfig(**SMALL),
                        progress=seen.append)
    assert seen and all(s["stage"] != "provisional" for s in seen)


def test_wide_representations_are_laid_out_from_their_principal_directions(tmp_path):
    """From 256 dims the layout reads the top principal directions of the training rows (the same projection
    for the rows placed after it), and keeps neighbours as the full-width layout does."""
    x = clusters(1200, dim=300)
    train = np.arange(1000)
    xp = P.project(x, train, 32)
    assert xp.shape == (1200, 32)
    assert P.project(x[:, :200], train, 32) is not None and P.project(x[:, :200], train, 32).shape == (1200, 200)
    assert P.project(x, train, None).shape == (1200, 300)
    # distances between rows are kept where the data lives in the directions (rank-8 clusters, ReLU'd)
    d_full = np.linalg.norm(x[:50, None] - x[None, :50], axis=-1)
    d_proj = np.linalg.norm(xp[:50, None] - xp[None, :50], axis=-1)
    assert np.all(d_proj <= d_full + 1e-3) and np.median(d_proj / np.maximum(d_full, 1e-6)) > 0.9
    pos_p, (idx, _) = P.layout(xp[train])
    pos_f, _ = P.layout(x[train])
    nn_p, nn_f = nn_preservation(x[train], pos_p, 15), nn_preservation(x[train], pos_f, 15)
    assert nn_p > 0.9 * nn_f, (nn_p, nn_f)


def test_the_worker_lays_out_a_wide_run_in_the_subspace(tmp_path):
    make_run(tmp_path / "wide", epochs=1, n_train=300, n_test=60, hidden=256, seed=2)
    reader = RunReader(str(tmp_path / "wide"))
    info = P.fit_provisional(reader, str(tmp_path / "cache"), 1)
    assert info["settings"]["subspace_dim"] == 128 and "project" in info["timings"]
    emb, _ = P.read_provisional(str(tmp_path / "cache"), 1, info["input_uid"], 360)
    split = np.asarray(reader.static().split)
    reps = np.asarray(reader.epoch(1).representations)
    tr = np.nonzero(split == 0)[0]
    assert np.isfinite(emb).all()
    assert nn_preservation(reps[tr], emb[tr], 15) > 2.5 * nn_preservation(
        reps[tr], np.random.default_rng(0).normal(size=(len(tr), 2)), 15)
