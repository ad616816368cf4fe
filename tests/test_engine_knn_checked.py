"""Checked IVF joins (knn_checked.py): the epoch's cross-searches between 15k and 20k training rows, and
the first epoch's IVF index shared by its self-kNN and its joins."""

import numpy as np
import torch

from tensorboard_dvi.engine import complex as C
from tensorboard_dvi.engine import knn as K
from tensorboard_dvi.engine import knn_checked as KC
from tensorboard_dvi.engine.complex import knn_exact


def _sets(n_base=2400, n_q=300, dim=24, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(8, dim)) * 4.0
    base = (centers[rng.integers(0, 8, n_base)] + rng.normal(size=(n_base, dim))).astype(np.float32)
    q = (centers[rng.integers(0, 8, n_q)] + rng.normal(size=(n_q, dim))).astype(np.float32)
    return q, base


def _recall(a, b):
    return np.mean([len(np.intersect1d(u, v)) for u, v in zip(a, b)]) / a.shape[1]


def test_checked_join_finds_the_exact_neighbours_both_ways():
    torch.set_num_threads(1)
    q, base = _sets()
    among = K.Among(base, approx=False, cells_per_sqrt=1.0, checked=KC.CheckedJoins())
    (qi, qd), (bi, bd) = among.join(q, 15, probe_share=K.TEST_PROBE_SHARE, name="test")
    rec = among.checked.record["test"]
    assert len(rec["recall"]) == 2 and min(rec["recall"]) >= KC.JOIN_MIN_RECALL and rec["kept"]
    (ei, ed), (fi, fd) = K.exact_join(q, base, 15)
    assert qi.shape == ei.shape and bi.shape == fi.shape and qi.dtype == np.int64 and qd.dtype == np.float32
    assert _recall(qi, ei) == 1.0 and _recall(bi, fi) == 1.0
    np.testing.assert_allclose(qd, ed, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bd, fd, rtol=1e-4, atol=1e-4)
    assert np.all(np.diff(qd, axis=1) >= 0) and np.all(np.diff(bd, axis=1) >= 0)


def test_checked_join_hands_over_to_the_exact_join_below_its_recall():
    torch.set_num_threads(1)
    q, base = _sets(seed=1)
    recalls = []
    among = K.Among(base, approx=False, cells_per_sqrt=1.0)
    got = KC.checked_join(among, q, 15, probe_share=0.02, min_recall=1.01, recalls=recalls)
    want = K.exact_join(q, base, 15)
    assert len(recalls) == 2
    for (gi, gd), (wi, wd) in zip(got, want):
        assert np.array_equal(gi, wi) and np.array_equal(gd, wd)


def test_checked_rows_keep_the_exact_lists():
    """One probed cell misses neighbours; with the bar lowered the IVF answer is kept, and the checked rows
    (the same random draw as checked_join's) carry knn_exact's lists."""
    torch.set_num_threads(1)
    q, base = _sets(seed=2)
    among = K.Among(base, approx=False, cells_per_sqrt=1.0)
    (qi, qd), (bi, bd) = KC.checked_join(among, q, 15, probe_share=0.001, min_recall=0.0)
    rs = np.random.RandomState(0)
    q_rows = np.sort(rs.choice(len(q), min(K.CHECKED_QUERIES, len(q)), replace=False))
    b_rows = np.sort(rs.choice(len(base), min(K.CHECKED_QUERIES, len(base)), replace=False))
    eq, eb = knn_exact(q[q_rows], base, 15), knn_exact(base[b_rows], q, 15)
    assert np.array_equal(qi[q_rows], eq[0]) and np.array_equal(qd[q_rows], eq[1])
    assert np.array_equal(bi[b_rows], eb[0]) and np.array_equal(bd[b_rows], eb[1])
    assert _recall(qi, K.exact_join(q, base, 15)[0][0]) < 1.0  # the rest is the (poor) IVF answer


def test_among_train_switches_at_the_thresholds():
    x = np.zeros((4, 3), np.float32)
    small = KC.among_train(x, "cpu")
    assert not small.approx and small.checked is None
    assert not KC.applies(KC.JOIN_IVF_FROM - 1, "cpu") and KC.applies(KC.JOIN_IVF_FROM, "cpu")
    assert not KC.applies(C.APPROX_KNN_FROM, "cpu") and not KC.applies(KC.JOIN_IVF_FROM, "cuda")


def test_self_ivf_through_a_shared_index_gives_the_same_graph():
    """The first epoch's self-kNN built through the cross-searches' index (Among.index): the same
    neighbours and distances as through an index of its own; the index's probe count is left as it was."""
    torch.set_num_threads(1)
    _, x = _sets(n_base=3000, seed=3)
    among = KC.among_train(x, "cpu")
    own = K.knn_self_ivf(x, 20)
    shared = K.knn_self_ivf(x, 20, index=among.index)
    assert own is not None and shared is not None
    assert np.array_equal(own[0], shared[0]) and np.array_equal(own[1], shared[1])
    assert among.index().n_probe == among.index().probes(0.125)
    assert among._index is among.index()  # built once, kept for the joins


def test_a_fit_in_the_checked_range_joins_through_the_first_epochs_index(tmp_path, monkeypatch):
    """Thresholds lowered onto a small run: each epoch records its tried join (test rows) in
    epoch.json, the first epoch's self-kNN and joins build one IVF index, and the maps are finite."""
    from engine_testdata import TINY, FakeReader, blobs_run
    from tensorboard_dvi.engine import EngineConfig, fit_run
    from tensorboard_dvi.engine.cache import RunCache
    torch.set_num_threads(1)
    monkeypatch.setattr(KC, "JOIN_IVF_FROM", 100)
    monkeypatch.setattr(K, "SELF_IVF_FROM", 100)
    built = []
    real = K.IVFIndex.__init__
    monkeypatch.setattr(K.IVFIndex, "__init__", lambda self, base, **kw: built.append(len(base)) or real(self, base, **kw))
    labels, split, epochs = blobs_run(n_train=600, n_test=120, n_border=60, epochs=(1, 2))
    cache = RunCache(str(tmp_path / "c"))
    fit_run(FakeReader(labels, split, {1: epochs[1]}), str(tmp_path / "c"), config=EngineConfig(**TINY))
    # epoch 1 tried the IVF self-kNN (kept or refused) through the index its joins used: one index
    assert "probe_share" in cache.epoch_info(1)["knn_search"] and built == [600]
    fit_run(FakeReader(labels, split, epochs), str(tmp_path / "c"), config=EngineConfig(**TINY))
    for e in (1, 2):
        joins = cache.epoch_info(e)["joins"]
        assert set(joins) == {"test"}  # the border points' join is exact, never tried
        assert all(r.get("skipped") or len(r["recall"]) == 2 for r in joins.values())
        assert np.isfinite(np.asarray(cache.embedding(e))).all()
    assert all(not r.get("skipped") for r in cache.epoch_info(1)["joins"].values())


def test_a_damaged_joins_record_reads_as_nothing_to_skip():
    """epoch.json may have been edited: a skip count that is not a count neither stops the fit nor skips forever."""
    for bad in ("x", -1, 2.5, True, None, [3]):
        assert KC.skips_after({"skipped": bad}) == 0
    assert [KC.skips_after({"skipped": n}) for n in range(1, KC.RETRY_AFTER + 1)] \
        == list(range(2, KC.RETRY_AFTER + 1)) + [0]
    assert KC.skips_after({"kept": False, "recall": [0.9, 0.9]}) == 1 and KC.skips_after("junk") == 0


def test_the_border_points_join_is_exact_and_never_tried():
    torch.set_num_threads(1)
    q, base = _sets(seed=5)
    among = K.Among(base, approx=False, cells_per_sqrt=1.0, checked=KC.CheckedJoins())
    got = among.join(q, 15, probe_share=K.BORDER_PROBE_SHARE, name="border")
    want = K.exact_join(q, base, 15)
    assert all(np.array_equal(g[0], w[0]) and np.array_equal(g[1], w[1]) for g, w in zip(got, want))
    assert among.checked.record == {} and among._index is None  # no index built, nothing recorded


def test_a_refused_join_is_skipped_by_the_next_epochs_then_tried_again(monkeypatch):
    """The exact join runs where the checked one was refused (its answer is exact_join's), and the next
    RETRY_AFTER epochs join exactly without trying; then the try comes back."""
    torch.set_num_threads(1)
    q, base = _sets(seed=4)
    among = K.Among(base, approx=False, cells_per_sqrt=1.0, checked=KC.CheckedJoins())
    monkeypatch.setitem(KC.PROBE_SHARES, "tiny", 0.001)  # one probed cell: refused
    got = among.join(q, 15, probe_share=0.25, name="tiny")
    want = K.exact_join(q, base, 15)
    assert all(np.array_equal(g[0], w[0]) and np.array_equal(g[1], w[1]) for g, w in zip(got, want))
    record = among.checked.record
    assert record["tiny"]["kept"] is False
    seen = []
    for _ in range(KC.RETRY_AFTER + 1):
        joins = KC.CheckedJoins(record)
        among = K.Among(base, approx=False, cells_per_sqrt=1.0, checked=joins)
        got = among.join(q, 15, probe_share=0.25, name="tiny")
        assert all(np.array_equal(g[0], w[0]) for g, w in zip(got, want))
        record = joins.record
        seen.append(record["tiny"].get("skipped", 0))
    assert seen == list(range(1, KC.RETRY_AFTER + 1)) + [0]  # skipped 1, 2, 3 epochs in a row, then tried
    assert KC.skips_after(None) == 0 and KC.skips_after({"recall": [1.0, 1.0], "kept": True}) == 0
