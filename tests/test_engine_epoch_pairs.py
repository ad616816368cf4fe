"""Remembered per-sample distances between epochs (engine/epoch_pairs.py): the same numbers as computing them
afresh, only the new pairs computed and read, and a changed epoch (new uid) never served old distances."""

import numpy as np
import pytest

from tensorboard_dvi.engine.epoch_pairs import PairDistances
from tensorboard_dvi.engine.run_metrics import pairwise_epoch_distances


def _epochs(t=5, n=40, d=8, seed=0):
    rng = np.random.RandomState(seed)
    return [rng.randn(n, d).astype(np.float32) for _ in range(t)]


class _Loads:
    def __init__(self, arrays):
        self.arrays, self.calls = arrays, []

    def __call__(self, i):
        self.calls.append(i)
        return self.arrays[i]


def test_table_equals_fresh_computation_and_reuses_pairs():
    vs = _epochs()
    rows = np.arange(40)
    pairs = PairDistances()
    first = _Loads(vs[:4])
    d4 = pairs.table(["u0", "u1", "u2", "u3"], rows, first)
    np.testing.assert_array_equal(d4, pairwise_epoch_distances(lambda i: vs[i], 4))
    assert pairs.computed == 6
    # a fifth epoch: only its 4 pairs are computed, and each epoch is read once
    second = _Loads(vs)
    d5 = pairs.table(["u0", "u1", "u2", "u3", "u4"], rows, second)
    np.testing.assert_array_equal(d5, pairwise_epoch_distances(lambda i: vs[i], 5))
    assert pairs.computed == 10
    assert sorted(second.calls) == [0, 1, 2, 3, 4]
    # the same epochs again: nothing read
    third = _Loads(vs)
    np.testing.assert_array_equal(pairs.table(["u0", "u1", "u2", "u3", "u4"], rows, third), d5)
    assert third.calls == [] and pairs.computed == 10


def test_new_uid_or_other_rows_are_computed_again():
    vs = _epochs()
    pairs = PairDistances()
    pairs.table(["a", "b", "c"], np.arange(40), lambda i: vs[i])
    changed = [vs[0], vs[1], vs[3]]  # epoch c rewritten: the writer gives it a new uid
    d = pairs.table(["a", "b", "c2"], np.arange(40), lambda i: changed[i])
    np.testing.assert_array_equal(d, pairwise_epoch_distances(lambda i: changed[i], 3))
    sub = [v[:20] for v in vs]
    d = pairs.table(["a", "b"], np.arange(20), lambda i: sub[i])
    np.testing.assert_array_equal(d, pairwise_epoch_distances(lambda i: sub[i], 2))
    # no uid: never remembered
    before = pairs.computed
    pairs.table([None, "b"], np.arange(40), lambda i: vs[i])
    pairs.table([None, "b"], np.arange(40), lambda i: vs[i])
    assert pairs.computed == before + 2


def test_bounded_memory_and_a_failed_read_raises_then_the_next_call_is_right():
    vs = _epochs(t=6)
    pairs = PairDistances(max_bytes=3 * 40 * 4)  # three pairs of 40 rows
    pairs.table([f"u{i}" for i in range(6)], np.arange(40), lambda i: vs[i])
    assert pairs._bytes <= pairs.max_bytes and len(pairs._pairs) == 3

    def broken(i):
        if i == 2:
            raise OSError("epoch 3's representations are unreadable")
        return vs[i]
    fresh = PairDistances()
    with pytest.raises(OSError, match="unreadable"):
        fresh.table(["x0", "x1", "x2"], np.arange(40), broken)
    d = fresh.table(["x0", "x1", "x2"], np.arange(40), lambda i: vs[i])
    np.testing.assert_array_equal(d, pairwise_epoch_distances(lambda i: vs[i], 3))


def test_a_fit_computes_only_the_new_epochs_pairs_and_the_figures_match_a_fresh_computation(tmp_path):
    # epochs 1-4 fitted, then epoch 5: the rank terms compute its 4 pairs, the chain's metrics and the
    # run-level figures find them remembered; the stored run figures equal ones computed afresh
    from engine_testdata import TINY, FakeReader, blobs_run
    from tensorboard_dvi.engine import EngineConfig, fit_run
    from tensorboard_dvi.engine.cache import RunCache
    from tensorboard_dvi.engine.epoch_pairs import PAIRS
    from tensorboard_dvi.engine.run_metrics import run_metrics

    labels, split, epochs = blobs_run(epochs=(1, 2, 3, 4, 5), drift=0.5)
    PAIRS.clear()
    cfg = EngineConfig(**TINY)
    fit_run(FakeReader(labels, split, {e: epochs[e] for e in (1, 2, 3, 4)}), str(tmp_path), config=cfg)
    before = PAIRS.computed
    reader = FakeReader(labels, split, epochs)
    assert fit_run(reader, str(tmp_path), config=cfg) == [5]
    assert PAIRS.computed - before == 4
    cache = RunCache(str(tmp_path))
    stored = cache.run_metrics()
    PAIRS.clear()
    fresh = run_metrics(reader, cache)
    PAIRS.clear()  # leaves no pairs to the tests after it
    assert stored["epochs"] == [1, 2, 3, 4, 5]
    for k in ("tnn_3", "tnn_5", "tr", "temporal_corr"):
        assert stored[k] == fresh[k], k
