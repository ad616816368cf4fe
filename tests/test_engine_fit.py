"""fit_run end to end on small runs: outputs, incremental fitting, bad input."""

import numpy as np
import pytest
import torch

from engine_testdata import TINY, FakeReader, blobs_run, border_points, linear_head
from tensorboard_dvi.engine import EngineConfig, EngineError, fit_run
from tensorboard_dvi.engine.cache import METRIC_KEYS, RunCache
from tensorboard_dvi.engine.png import decode_png_rgb


def cfg(**kw):
    return EngineConfig(**{**TINY, **kw})


@pytest.fixture(scope="module")
def blobs():
    return blobs_run()


def _fit(reader, tmp_path, name="c", **kw):
    cache_dir = str(tmp_path / name)
    kw.setdefault("config", cfg())
    return fit_run(reader, cache_dir, **kw), RunCache(cache_dir)


def test_fit_writes_every_output(blobs, tmp_path):
    labels, split, epochs = blobs
    done, cache = _fit(FakeReader(labels, split, epochs), tmp_path)
    assert done == [1, 2, 3] and cache.fitted_epochs() == [1, 2, 3]
    for e in done:
        emb = cache.embedding(e)
        assert emb.shape == (300, 2) and emb.dtype == np.float32 and np.isfinite(emb).all()
        img = decode_png_rgb(cache.background_png(e))
        assert img.shape == (16, 16, 3)
        cls, conf = cache.grid(e)
        assert cls.shape == conf.shape == (16, 16) and set(np.unique(cls)) <= {0, 1, 2, 3}
        meta = cache.background_meta(e)
        x0, y0, x1, y1 = meta["bounds"]
        assert x0 < emb[:, 0].min() and x1 > emb[:, 0].max() and x1 - x0 == pytest.approx(y1 - y0)
        m = cache.metrics(e)
        assert set(METRIC_KEYS) <= set(m) and isinstance(m["poor"], bool) and isinstance(m["warnings"], list)
        assert 1 <= m["nn_15"] <= 15 and 0 <= m["ppr_train"] <= 1 and 0 <= m["ppr_test"] <= 1
        assert 0 <= m["boundary_nn_15"] <= 15 and 0 < m["trustworthiness"] <= 1
    assert cache.metrics(1)["tnn_5_chain"] is None and cache.metrics(1)["temporal_corr_chain"] is None
    assert cache.epoch_info(2)["prev_epoch"] == 1 and cache.epoch_info(3)["prev_epoch"] == 2
    # tr needs 3 other epochs, tnn@5 six: undefined here, not a made-up number
    assert cache.metrics(3)["tr_chain"] is None and cache.metrics(3)["tnn_5_chain"] is None
    assert 0 <= cache.metrics(3)["npr_mean"] <= 1
    state = torch.load(cache.state_path(3), weights_only=True)
    assert "encoder_net.0.weight" in state and "center" in state


def test_well_separated_blobs_are_mapped_faithfully(tmp_path):
    labels, split, epochs = blobs_run(epochs=(1,), spread=0.5, n_border=60)
    done, cache = _fit(FakeReader(labels, split, epochs), tmp_path,
                       config=cfg(hidden=(64, 64), max_trainer_epochs=8, edges_per_trainer_epoch=20000))
    m = cache.metrics(1)
    assert m["ppr_train"] > 0.9 and m["ppr_test"] > 0.9 and m["poor"] is False
    assert m["trustworthiness"] > 0.8


def test_fitting_is_reproducible(blobs, tmp_path):
    labels, split, epochs = blobs
    sub = {e: epochs[e] for e in (1, 2)}
    _, c1 = _fit(FakeReader(labels, split, sub), tmp_path, "a")
    _, c2 = _fit(FakeReader(labels, split, sub), tmp_path, "b")
    for e in (1, 2):
        assert np.array_equal(c1.embedding(e), c2.embedding(e))
        assert c1.background_png(e) == c2.background_png(e)


def test_incremental_fit_continues_from_the_last_epoch(blobs, tmp_path):
    labels, split, epochs = blobs
    first = {e: epochs[e] for e in (1, 2)}
    done, cache = _fit(FakeReader(labels, split, first), tmp_path)
    assert done == [1, 2]
    before = np.array(cache.embedding(2))
    done, cache = _fit(FakeReader(labels, split, epochs), tmp_path)
    assert done == [3] and cache.epoch_info(3)["prev_epoch"] == 2
    assert np.array_equal(cache.embedding(2), before)
    done, _ = _fit(FakeReader(labels, split, epochs), tmp_path)
    assert done == []


def test_changed_epoch_refits_from_there(blobs, tmp_path):
    labels, split, epochs = blobs
    _fit(FakeReader(labels, split, epochs), tmp_path)
    changed = dict(epochs)
    x, head, border = epochs[2]
    changed[2] = (x + 0.1, head, border)
    done, cache = _fit(FakeReader(labels, split, changed), tmp_path)
    assert done == [2, 3]
    # a different configuration refits everything
    done, _ = _fit(FakeReader(labels, split, changed), tmp_path, config=cfg(lambda_temporal=1.0))
    assert done == [1, 2, 3]


def test_independent_epochs_ablation_has_no_chain(blobs, tmp_path):
    labels, split, epochs = blobs
    done, cache = _fit(FakeReader(labels, split, epochs), tmp_path, config=cfg(temporal=False))
    assert done == [1, 2, 3]
    assert all(cache.epoch_info(e)["prev_epoch"] is None for e in done)


def test_progress_and_cancel(blobs, tmp_path):
    labels, split, epochs = blobs
    seen = []
    stop = {"now": False}

    def progress(p):
        seen.append(p)
        if p["stage"] == "metrics":
            stop["now"] = True  # ask to stop while epoch 1 is finishing

    done, cache = _fit(FakeReader(labels, split, epochs), tmp_path, progress=progress,
                       should_stop=lambda: stop["now"])
    assert done == [1] and cache.fitted_epochs() == [1]
    assert {"stage", "epoch", "epochs_done", "epochs_total", "fraction", "message"} <= set(seen[0])
    stages = {p["stage"] for p in seen}
    assert {"load", "complex", "train", "background", "metrics", "done"} <= stages
    fr = [p["fraction"] for p in seen]
    assert fr == sorted(fr) and 0 <= fr[0] and fr[-1] <= 1
    assert seen[0]["epochs_total"] == 3
    # stopping in the middle of training leaves no half-written epoch
    calls = {"n": 0}

    def stop_in_training():
        calls["n"] += 1
        return calls["n"] > 4

    done, cache = _fit(FakeReader(labels, split, epochs), tmp_path, "d", should_stop=stop_in_training)
    assert cache.fitted_epochs() == done


# ----------------------------------------------------------------------------- bad input


def test_damaged_epoch_is_skipped_and_the_chain_continues(blobs, tmp_path):
    labels, split, epochs = blobs
    reader = FakeReader(labels, split, {1: epochs[1], 3: epochs[3]}, damaged={2: "logits.npy: truncated"})
    with pytest.warns(RuntimeWarning, match="epoch 2"):
        done, cache = _fit(reader, tmp_path)
    assert done == [1, 3] and cache.epoch_info(3)["prev_epoch"] == 1


def test_nan_representations_raise_and_keep_earlier_epochs(blobs, tmp_path):
    labels, split, epochs = blobs
    bad = dict(epochs)
    x, head, border = epochs[2]
    x = x.copy()
    x[5, 3] = np.nan
    x[7, 0] = np.inf
    bad[2] = (x, head, border)
    with pytest.raises(EngineError, match="epoch 2: 2 of 300 samples have NaN or infinite"):
        _fit(FakeReader(labels, split, bad), tmp_path)
    assert RunCache(str(tmp_path / "c")).fitted_epochs() == [1]


def test_run_with_one_epoch(tmp_path):
    labels, split, epochs = blobs_run(epochs=(7,))
    done, cache = _fit(FakeReader(labels, split, epochs), tmp_path)
    assert done == [7]
    m = cache.metrics(7)
    assert m["tnn_5_chain"] is None and m["tr_chain"] is None and m["temporal_corr_chain"] is None


def test_class_never_predicted_and_class_predicted_once(tmp_path):
    rng = np.random.RandomState(0)
    n_train, n_test, dim = 200, 50, 8
    centres = np.zeros((5, dim), np.float32)
    centres[0, 0], centres[1, 1], centres[2, 2] = 6, 6, 6
    centres[3, 3] = 6
    centres[4, 4] = 60          # class 4: far away, never predicted
    labels = rng.randint(3, size=n_train + n_test)
    x = (centres[labels] + 0.8 * rng.randn(n_train + n_test, dim)).astype(np.float32)
    x[10] = centres[3]          # the only sample predicted as class 3
    head = linear_head(centres)
    with torch.no_grad():
        pred = head(torch.from_numpy(x)).argmax(1).numpy()
    assert (pred == 3).sum() == 1 and (pred == 4).sum() == 0
    border = border_points(x[:n_train], head, 30, rng)
    split = np.r_[np.zeros(n_train), np.ones(n_test)].astype(np.uint8)
    reader = FakeReader(labels, split, {1: (x, head, border), 2: (x + 0.01, head, border)}, num_classes=5)
    done, cache = _fit(reader, tmp_path)
    assert done == [1, 2]
    m = cache.metrics(2)
    assert all(v is None or np.isfinite(v) for k, v in m.items() if k not in ("poor", "warnings"))
    assert np.isfinite(cache.embedding(2)).all()


@pytest.mark.parametrize("n_border", [0, 3, 8])
def test_too_few_border_points_fall_back_with_a_warning(n_border, tmp_path):
    labels, split, epochs = blobs_run(epochs=(1,), n_border=max(n_border, 1))
    x, head, border = epochs[1]
    done, cache = _fit(FakeReader(labels, split, {1: (x, head, border[:n_border])}), tmp_path)
    assert done == [1]
    m = cache.metrics(1)
    assert m["boundary_nn_15"] is None
    assert any("border points" in w for w in m["warnings"])
    assert cache.epoch_info(1)["n_border"] == (n_border if n_border >= 5 else 0)


def test_representation_width_change_raises(blobs, tmp_path):
    labels, split, epochs = blobs
    x, head, border = epochs[1]
    x2 = np.concatenate([x, x[:, :4]], axis=1)
    head2 = linear_head(np.concatenate([head.weight.detach().numpy(), np.zeros((4, 4), np.float32)], axis=1))
    reader = FakeReader(labels, split, {1: epochs[1], 2: (x2, head2, np.zeros((0, 20), np.float32))})
    with pytest.raises(EngineError, match="20-dimensional representations but epoch 1 had 16"):
        _fit(reader, tmp_path)


def test_mismatched_sample_count_raises(blobs, tmp_path):
    labels, split, epochs = blobs
    x, head, border = epochs[1]
    reader = FakeReader(labels, split, {1: epochs[1]})
    reader._epochs[1].representations = x[:-5]
    with pytest.raises(EngineError, match="295"):
        _fit(reader, tmp_path)


def test_head_disagreeing_with_logits_is_flagged(blobs, tmp_path):
    labels, split, epochs = blobs
    reader = FakeReader(labels, split, {1: epochs[1]})
    reader._epochs[1].logits = reader._epochs[1].logits + 5 * np.random.RandomState(0).randn(300, 4).astype(np.float32)
    _, cache = _fit(reader, tmp_path)
    assert any("does not reproduce the logged logits" in w for w in cache.metrics(1)["warnings"])


def test_too_few_samples_raise(tmp_path):
    labels, split, epochs = blobs_run(n_train=30, n_test=5, epochs=(1,), n_border=5)
    with pytest.raises(EngineError, match="training samples"):
        _fit(FakeReader(labels, split, epochs), tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only machine's message")
def test_cuda_without_gpu_is_a_clear_error(blobs, tmp_path):
    labels, split, epochs = blobs
    with pytest.raises(EngineError, match="cuda"):
        _fit(FakeReader(labels, split, epochs), tmp_path, device="cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_fit_on_cuda_matches_cpu_quality(tmp_path):
    labels, split, epochs = blobs_run(epochs=(1, 2), spread=0.5, n_border=60)
    c = cfg(hidden=(64, 64), max_trainer_epochs=8, edges_per_trainer_epoch=20000)
    done, cache = _fit(FakeReader(labels, split, epochs), tmp_path, config=c, device="cuda")
    assert done == [1, 2] and cache.epoch_info(2)["device"] == "cuda"
    m = cache.metrics(2)
    assert m["ppr_train"] > 0.9 and np.isfinite(cache.embedding(2)).all()
    torch.load(cache.state_path(2), weights_only=True, map_location="cpu")
