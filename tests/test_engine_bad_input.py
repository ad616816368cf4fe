"""Bad input the engine issue 12 added: one predicted class, epochs out of order, two classes."""

import numpy as np
import torch

from engine_testdata import TINY, FakeReader, blobs_run, linear_head
from tensorboard_dvi.engine import EngineConfig, fit_run
from tensorboard_dvi.engine.cache import RunCache


def _fit(reader, path, **kw):
    cache_dir = str(path)
    return fit_run(reader, cache_dir, config=EngineConfig(**{**TINY, **kw})), RunCache(cache_dir)


def test_epoch_predicting_one_class_is_fitted_with_a_warning(tmp_path):
    labels, split, epochs = blobs_run(epochs=(1, 2))
    x, _, _ = epochs[2]
    centres = np.zeros((4, x.shape[1]), np.float32)
    head = linear_head(centres)
    with torch.no_grad():
        head.bias.copy_(torch.tensor([0.0, -5.0, -5.0, -5.0]))  # class 0 wins everywhere
    reader = FakeReader(labels, split, {1: epochs[1], 2: (x, head, np.zeros((0, x.shape[1]), np.float32))})
    done, cache = _fit(reader, tmp_path)
    assert done == [1, 2]
    m = cache.metrics(2)
    assert any("predicted as class 0" in w and "no decision boundary" in w for w in m["warnings"])
    assert m["boundary_nn_15"] is None and m["ppr_train"] == 1.0
    classes, _ = cache.grid(2)
    assert set(np.unique(classes)) == {0}  # the background shows that one class, nothing made up
    assert not any("predicted as class" in w for w in cache.metrics(1)["warnings"])


def test_epoch_logged_out_of_order_refits_the_later_chain(tmp_path):
    labels, split, epochs = blobs_run(epochs=(1, 2, 3, 4))
    done, cache = _fit(FakeReader(labels, split, {e: epochs[e] for e in (1, 3, 4)}), tmp_path)
    assert done == [1, 3, 4] and cache.epoch_info(3)["prev_epoch"] == 1
    # epoch 2 arrives late: 3 and 4 are refitted so the chain follows epoch order
    done, cache = _fit(FakeReader(labels, split, epochs), tmp_path)
    assert done == [2, 3, 4]
    assert [cache.epoch_info(e)["prev_epoch"] for e in (1, 2, 3, 4)] == [None, 1, 2, 3]
    assert cache.run_metrics()["epochs"] == [1, 2, 3, 4]
    done, _ = _fit(FakeReader(labels, split, epochs), tmp_path)
    assert done == []  # in order now: nothing to refit


def test_two_class_subject(tmp_path):
    labels, split, epochs = blobs_run(classes=2, epochs=(1, 2, 3, 4), n_border=40)
    done, cache = _fit(FakeReader(labels, split, epochs), tmp_path)
    assert done == [1, 2, 3, 4]
    m = cache.metrics(3)
    assert 1 <= m["nn_15"] <= 15 and m["boundary_nn_15"] is not None and m["ppr_train"] > 0.9
    classes, _ = cache.grid(3)
    assert set(np.unique(classes)) == {0, 1}
    run = cache.run_metrics()
    assert run["epochs"] == [1, 2, 3, 4] and -1 <= run["tr"] <= 1
