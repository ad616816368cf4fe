"""Metrics on cases small enough to check by hand, and against scikit-learn."""

import numpy as np
import pytest

from tensorboard_dvi.engine import metrics as M


def test_nn_preservation_counts_self_and_shared_neighbours():
    high = np.array([[0.0], [1.0], [2.5], [4.5]], dtype=np.float32)
    # a faithful layout keeps every 2-NN list: count 2 (self + neighbour)
    assert M.nn_preservation(high, np.c_[high, np.zeros(4)], k=2) == 2.0
    # high 2-NN: 0:{0,1} 1:{1,0} 2:{2,1} 3:{3,2}
    low = np.array([[1.0, 0], [0.0, 0], [3.0, 0], [2.2, 0]], dtype=np.float32)
    # low 2-NN:  0:{0,1} 1:{1,0} 2:{2,3} 3:{3,2}  -> shared 2, 2, 1, 2
    assert M.nn_preservation(high, low, k=2) == pytest.approx(7 / 4)


def test_boundary_nn_counts_shared_border_neighbours():
    high = np.array([[0.0], [10.0]], dtype=np.float32)
    border_high = np.array([[1.0], [2.0], [9.0]], dtype=np.float32)
    low = np.array([[0.0, 0], [10.0, 0]], dtype=np.float32)
    border_low = np.array([[1.0, 0], [8.0, 0], [9.0, 0]], dtype=np.float32)
    # point 0: high {b0, b1}, low {b0, b1 at 8 vs b2 at 9 -> b1}: 2 ; point 1: high {b2, b1}, low {b2, b1}: 2
    assert M.boundary_nn(high, border_high, low, border_low, k=2) == 2.0
    border_low = np.array([[1.0, 0], [-3.0, 0], [9.0, 0]], dtype=np.float32)
    # point 0 low: {b0 (1), b1 (3)} still; point 1 low: {b2, b0}: shared {b2} -> (2 + 1) / 2
    assert M.boundary_nn(high, border_high, low, border_low, k=2) == 1.5
    assert M.boundary_nn(high, border_high[:1], low, border_low[:1], k=2) is None


def test_ppr_and_inverse_confidence_difference():
    assert M.ppr(np.array([0, 1, 2, 2]), np.array([0, 1, 1, 2])) == 0.75
    assert M.ppr(np.array([]), np.array([])) is None
    logits = np.array([[2.0, 0.0], [0.0, 0.0]])
    recon = np.array([[0.0, 0.0], [0.0, 0.0]])
    p = np.exp(2) / (np.exp(2) + 1)
    assert M.inverse_confidence_difference(logits, recon) == pytest.approx(((p - 0.5) + 0) / 2)


@pytest.mark.parametrize("k", [5, 10])
def test_trustworthiness_matches_scikit_learn(k):
    from sklearn.manifold import trustworthiness
    rng = np.random.RandomState(0)
    high = rng.randn(300, 10).astype(np.float32)
    low = (high[:, :2] + 0.5 * rng.randn(300, 2)).astype(np.float32)
    ours = M.trustworthiness(high, low, k, chunk=77)
    assert ours == pytest.approx(trustworthiness(high, low, n_neighbors=k), abs=1e-6)
    assert M.trustworthiness(high, high[:, :2], k) > M.trustworthiness(high, rng.randn(300, 2), k)


def test_trustworthiness_from_the_metrics_2d_knn_equals_its_own_search():
    """spatial_metrics passes its 20-column 2-D kNN instead of a second search: the same value."""
    rng = np.random.RandomState(1)
    high = rng.randn(400, 12).astype(np.float32)
    low = (high[:, :2] + 0.3 * rng.randn(400, 2)).astype(np.float32)
    low20 = M.knn(low, 20)
    for rows in (None, 150):
        assert M.trustworthiness(high, low, 15, max_rows=rows, low_knn=low20) == \
            M.trustworthiness(high, low, 15, max_rows=rows)
    assert M.trustworthiness(high, low, 15, low_knn=low20[:, :10]) == M.trustworthiness(high, low, 15)  # too few


def test_trustworthiness_ranks_by_buckets_equal_a_full_sort_with_ties():
    """The counts below each threshold (bucketed among the row's thresholds) are exactly
    those of sorting the row and searching it, ties and the infinite self distance included."""
    import torch
    rs = np.random.RandomState(0)
    for _ in range(20):
        m, n, k = rs.randint(1, 40), rs.randint(20, 2000), rs.randint(1, 16)
        d = torch.as_tensor(rs.randint(0, 30, (m, n)).astype(np.float32))  # many equal distances
        d[torch.as_tensor(rs.rand(m, n) < 0.01)] = float("inf")
        thr = torch.gather(d, 1, torch.as_tensor(rs.randint(0, n, (m, k))))
        by_sort = torch.searchsorted(torch.sort(d, 1).values, thr.contiguous(), side="left")
        assert torch.equal(M._ranks_below(d, thr), by_sort)


def test_neighbour_preserving_rate_ignores_self():
    prev = np.array([[0, 1, 2], [1, 0, 2]])
    cur = np.array([[0, 2, 3], [1, 3, 4]])
    assert np.allclose(M.neighbour_preserving_rate(prev, cur), [0.5, 0.0])


def test_temporal_correlation_by_hand():
    # sample 0 moves less when its neighbourhood is preserved (r = -1), sample 1 the opposite
    npr = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    disp = np.array([[0.0, 0.0], [1.0, 1.0], [2.0, 2.0]])
    assert M.temporal_correlation(npr, disp) == pytest.approx(0.0)
    assert M.temporal_correlation(npr[:, :1], disp[:, :1]) == pytest.approx(-1.0)
    assert M.temporal_correlation(npr[:2], disp[:2]) is None  # fewer than 3 pairs


def test_temporal_ranking_by_hand():
    # one sample, 4 epochs on a line; the 2-D trajectory keeps the order -> perfect
    high = np.array([[[0.0]], [[1.0]], [[3.0]], [[6.0]]])
    low = np.array([[[0.0, 0]], [[2.0, 0]], [[6.0, 0]], [[12.0, 0]]])
    tnn, tr = M.temporal_ranking(high, low, k=1)
    assert tnn == 1.0 and tr == pytest.approx(1.0)
    # anchor 0: high distances to epochs 1, 2, 3 are 1, 3, 6; in 2-D 9, 7, 4 -> reversed ranks
    low_rev = np.array([[[0.0, 0]], [[9.0, 0]], [[7.0, 0]], [[4.0, 0]]])
    tnn, tr = M.temporal_ranking(high, low_rev, k=1, anchors=[0])
    assert tnn == 0.0 and tr == pytest.approx(-1.0)
    assert M.temporal_ranking(high[:2], low[:2], k=5) == (None, None)


def test_trustworthiness_estimate_on_a_row_subset_is_close():
    rng = np.random.RandomState(1)
    high = rng.randn(600, 8).astype(np.float32)
    low = (high[:, :2] + 0.3 * rng.randn(600, 2)).astype(np.float32)
    full = M.trustworthiness(high, low, 10)
    assert M.trustworthiness(high, low, 10, max_rows=300) == pytest.approx(full, abs=0.01)


def test_knn_in_two_dimensions_matches_the_dense_search():
    from tensorboard_dvi.engine.complex import knn_exact
    rng = np.random.RandomState(2)
    y = rng.randn(500, 2).astype(np.float32)
    y[10] = y[11]  # a duplicate: the point itself must still come first
    tree = M.knn(y, 8)
    dense = knn_exact(y, y, 8, exclude_self_first=True)[0]
    assert np.array_equal(tree[:, 0], np.arange(500))
    assert np.mean(tree == dense) > 0.99  # ties may order differently
    b = rng.randn(40, 2).astype(np.float32)
    assert np.array_equal(M.knn(y, 5, base=b), knn_exact(y, b, 5)[0])


def test_run_level_figures_use_every_epoch_as_anchor():
    from tensorboard_dvi.engine.run_metrics import temporal_figures
    # 2 samples, 8 epochs: sample 0 drifts steadily in both spaces (rank order kept);
    # sample 1's 2-D path is the reverse of its high-D path
    t = 8
    steps = np.cumsum(np.arange(1, t + 1, dtype=np.float64)) - 1  # 0, 2, 5, 9, ... distinct gaps
    high = np.zeros((t, 2, 3))
    low = np.zeros((t, 2, 2))
    high[:, 0, 0] = steps
    low[:, 0, 0] = 2 * steps
    high[:, 1, 1] = steps
    low[:, 1, 1] = -2 * steps[::-1]
    knns = [np.tile(np.arange(2), (2, 1))] * t  # neighbourhoods never change
    out = temporal_figures(lambda e: high[e], lambda e: low[e], t, knns)
    # sample 0 is perfect (tnn@5 = 5 at every anchor, rho = 1); sample 1's ranks are reversed
    # for anchors at the ends, so the mean tr is below 1 and equals the direct computation
    tnn5, tr = M.temporal_ranking(high, low, 5)
    assert out["tnn_5"] == pytest.approx(tnn5) and out["tr"] == pytest.approx(tr)
    assert out["tnn_5"] < 5 and tr < 1
    tnn_0, tr_0 = M.temporal_ranking(high[:, :1], low[:, :1], 5)
    assert tnn_0 == 5.0 and tr_0 == pytest.approx(1.0)
    assert out["epochs_used"] == t and out["temporal_corr"] is None  # constant NPR: undefined


def test_run_level_temporal_corr_pairs_npr_with_displacement():
    from tensorboard_dvi.engine.run_metrics import temporal_figures
    # 4 samples, 4 epochs: sample 0 moves most where its neighbour list changes (r < 0),
    # sample 1 moves most where its list is kept (r > 0); samples 2, 3 never move
    t = 4
    base = np.array([[0, 1, 2], [1, 0, 2], [2, 1, 0], [3, 2, 1]])
    knns = [base.copy() for _ in range(t)]
    knns[2] = base.copy()
    knns[2][0] = [0, 3, 1]  # sample 0 changes one of its two neighbours at pair (1, 2)
    knns[3] = knns[2].copy()
    knns[1][1] = [1, 3, 2]  # sample 1 changes one at pair (0, 1)
    knns[2][1] = [1, 3, 2]
    knns[3][1] = [1, 3, 2]
    low = np.zeros((t, 4, 2))
    low[:, 0, 0] = [0, 0, 5, 5.5]   # displacements 0, 5, 0.5
    low[:, 1, 0] = [0, 0, 3, 3]     # displacements 0, 3, 0
    high = np.random.RandomState(0).randn(t, 4, 3)
    out = temporal_figures(lambda e: high[e], lambda e: low[e], t, knns)
    series = np.stack([M.neighbour_preserving_rate(knns[i], knns[i + 1]) for i in range(t - 1)])
    assert np.allclose(series[:, 0], [1, .5, 1]) and np.allclose(series[:, 1], [.5, 1, 1])
    disp = np.stack([np.linalg.norm(low[i + 1] - low[i], axis=1) for i in range(t - 1)])
    r0 = np.corrcoef(series[:, 0], disp[:, 0])[0, 1]
    r1 = np.corrcoef(series[:, 1], disp[:, 1])[0, 1]
    assert r0 < 0 < r1  # samples 2, 3: constant series, left out
    assert out["temporal_corr"] == pytest.approx((r0 + r1) / 2)


def test_nn_test_is_measured_among_train_and_test_together():
    # 3 train + 2 test points on a line; in 2-D the two test points swap sides
    high = np.array([[0.0], [1.1], [2.0], [0.4], [1.6]], dtype=np.float32)
    low = np.c_[np.array([0.0, 1.0, 2.0, 1.6, 0.4]), np.zeros(5)].astype(np.float32)
    rows = M.nn_preservation_rows(high, low, 2)
    hk, lk = M.knn(high, 2), M.knn(low, 2)
    assert np.array_equal(rows, [len(set(a) & set(b)) for a, b in zip(hk, lk)])
    assert rows[3] == 1 and rows[4] == 1  # each test point lost its true neighbour


def test_knn_joint_equals_a_full_search_of_the_stacked_rows():
    from tensorboard_dvi.engine.complex import knn_exact
    rng = np.random.default_rng(3)
    a = rng.normal(size=(400, 16)).astype(np.float32)
    b = rng.normal(size=(60, 16)).astype(np.float32)
    joint = M.knn_joint(a, b, knn_exact(a, a, 20, exclude_self_first=True), 15)
    full = M.knn(np.concatenate([a, b]), 15)
    assert joint.shape == (460, 15)
    assert (joint[:, 0] == np.arange(460)).all()
    assert (joint == full).all()
    # the test rows' training neighbours the fit's placement already searched give the same result
    reused = M.knn_joint(a, b, knn_exact(a, a, 20, exclude_self_first=True), 15, knn_ba=knn_exact(b, a, 15))
    assert (reused == full).all()


def test_trustworthiness_rows_shrink_with_the_epoch_but_not_below_the_floor():
    from tensorboard_dvi.engine.config import EngineConfig
    from tensorboard_dvi.engine.faithfulness import TRUST_MIN_ROWS, trust_rows
    cfg = EngineConfig()
    assert trust_rows(cfg, 5_000) == cfg.trust_rows               # small epochs: the full 2,000 rows
    assert trust_rows(cfg, 20_000) == cfg.trust_distances // 20_000 < cfg.trust_rows
    assert trust_rows(cfg, 1_000_000) == TRUST_MIN_ROWS
    assert trust_rows(EngineConfig(trust_distances=None), 1_000_000) == cfg.trust_rows
    assert trust_rows(EngineConfig(trust_rows=None), 20_000) == cfg.trust_distances // 20_000
