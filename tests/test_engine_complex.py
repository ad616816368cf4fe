"""The complex: exact kNN, the fuzzy simplicial set (vs umap-learn), pruning, sampling."""

import numpy as np
import pytest
import torch

from tensorboard_dvi.engine.complex import (build_complex, fuzzy_simplicial_set, knn_exact, prune,
                                            sample_edges, smooth_knn_dist)


def _brute_knn(q, b, k):
    d = np.linalg.norm(q[:, None] - b[None], axis=-1)
    return np.argsort(d, axis=1, kind="stable")[:, :k], np.sort(d, axis=1)[:, :k]


def test_knn_exact_matches_brute_force_and_puts_self_first():
    rng = np.random.RandomState(0)
    x = rng.randn(300, 7).astype(np.float32)
    idx, dist = knn_exact(x, x, 6, exclude_self_first=True, chunk=64)
    bi, bd = _brute_knn(x, x, 6)
    assert np.array_equal(idx[:, 0], np.arange(300))
    assert np.array_equal(idx, bi)
    assert np.allclose(dist, bd, atol=1e-5)
    q = rng.randn(20, 7).astype(np.float32)
    idx2, dist2 = knn_exact(q, x, 4)
    bi2, bd2 = _brute_knn(q, x, 4)
    assert np.array_equal(idx2, bi2) and np.allclose(dist2, bd2, atol=1e-5)


def test_knn_keeps_self_first_with_duplicate_points():
    x = np.zeros((10, 3), dtype=np.float32)
    idx, dist = knn_exact(x, x, 4, exclude_self_first=True)
    assert np.array_equal(idx[:, 0], np.arange(10))
    assert np.all(dist == 0)


def test_knn_blocks_bound_memory_without_changing_results(monkeypatch):
    """A small distance block (many row chunks, some of one row) gives the same neighbours,
    distances and trustworthiness as the default block (docs/SCALE.md: O(N) memory at 100k)."""
    from tensorboard_dvi.engine import complex as C
    from tensorboard_dvi.engine import metrics as M
    rs = np.random.RandomState(3)
    x, q, low = rs.randn(700, 12).astype(np.float32), rs.randn(90, 12).astype(np.float32), rs.randn(700, 2)
    full = knn_exact(x, x, 9, exclude_self_first=True), knn_exact(q, x, 9), M.trustworthiness(x, low, 5)
    for block in (700 * 7, 300):  # 7 rows per block; fewer elements than one row: 1 row per block
        monkeypatch.setattr(C, "KNN_BLOCK_ELEMENTS", block)
        small = knn_exact(x, x, 9, exclude_self_first=True), knn_exact(q, x, 9), M.trustworthiness(x, low, 5)
        for (i_a, d_a), (i_b, d_b) in zip(full[:2], small[:2]):
            np.testing.assert_array_equal(i_a, i_b)
            np.testing.assert_array_equal(d_a, d_b)
        assert small[2] == full[2]
    from sklearn.manifold import trustworthiness
    assert abs(full[2] - trustworthiness(x, low, n_neighbors=5)) < 1e-9


def test_listed_distances_in_row_chunks_equal_the_whole_difference_tensor(monkeypatch):
    """The exact search's distances, formed a few rows at a time, are the values the one-tensor
    form gives (bit for bit), chunk boundaries included."""
    from tensorboard_dvi.engine import complex as C
    rs = np.random.RandomState(5)
    q, b = torch.as_tensor(rs.randn(37, 9).astype(np.float32)), torch.as_tensor(rs.randn(50, 9).astype(np.float32))
    idx = torch.as_tensor(rs.randint(0, 50, (37, 4)))
    diff = q[:, None, :] - b[idx]
    whole = torch.sqrt((diff * diff).sum(-1))
    for rows in (1, 5, 37, 128):
        monkeypatch.setattr(C, "DIFF_ROWS", rows)
        assert torch.equal(C.listed_distances(q, b, idx), whole)


def test_smooth_knn_dist_hits_the_target_sum():
    rng = np.random.RandomState(1)
    x = rng.randn(200, 5).astype(np.float32)
    _, d = knn_exact(x, x, 15, exclude_self_first=True)
    sigma, rho = smooth_knn_dist(d, 15)
    assert np.allclose(rho, d[:, 1])
    psum = np.exp(-np.maximum(d[:, 1:] - rho[:, None], 0) / sigma[:, None]).sum(1)
    assert np.allclose(psum, np.log2(15), atol=1e-3)


def test_fuzzy_simplicial_set_equals_umap_learn():
    umap_ = pytest.importorskip("umap.umap_")
    rng = np.random.RandomState(0)
    x = (rng.randn(400, 12) + rng.randint(0, 4, (400, 1)) * 3).astype(np.float32)
    i, d = knn_exact(x, x, 15, exclude_self_first=True)
    ours = fuzzy_simplicial_set(i, d, 400)
    ref, _, _ = umap_.fuzzy_simplicial_set(x, 15, 0, "euclidean", knn_indices=i, knn_dists=d)
    assert ours.nnz == ref.nnz
    assert abs(ours - ref).max() < 1e-5
    # boundary-style kNN: rows of stacked points, neighbours among the last 50 only
    b = rng.randn(50, 12).astype(np.float32)
    z = np.concatenate([x, b])
    bi, bd = knn_exact(z, b, 15)
    ours = fuzzy_simplicial_set(bi + 400, bd, 450)
    ref, _, _ = umap_.fuzzy_simplicial_set(z, 15, 0, "euclidean", knn_indices=bi + 400, knn_dists=bd)
    assert abs(ours - ref).max() < 1e-5


def test_prune_drops_edges_below_max_over_n_epochs():
    import scipy.sparse
    g = scipy.sparse.csr_matrix(np.array([[0, 1.0, 0.05], [1.0, 0, 0.2], [0.05, 0.2, 0]]))
    p = prune(g, 10)
    kept = {(r, c): v for r, c, v in zip(p.row, p.col, p.data)}
    assert kept == {(0, 1): 1.0, (1, 0): 1.0, (1, 2): 0.2, (2, 1): 0.2}


def test_edges_are_sampled_proportionally_to_weight():
    w = np.array([1.0, 2.0, 7.0])
    g = torch.Generator().manual_seed(0)
    idx = sample_edges(w, 100000, g).numpy()
    freq = np.bincount(idx, minlength=3) / len(idx)
    assert np.allclose(freq, w / w.sum(), atol=0.01)
    assert freq[2] > freq[0] * 5  # high-weight edges are drawn more, not less


def test_build_complex_has_spatial_and_boundary_edges():
    rng = np.random.RandomState(0)
    x = rng.randn(120, 6).astype(np.float32)
    border = rng.randn(20, 6).astype(np.float32)
    cx = build_complex(x, border, n_neighbors=10, boundary_neighbors=10)
    assert cx.nodes.shape == (140, 6) and cx.n_border == 20
    assert cx.head.max() < 140 and cx.tail.max() < 140
    spatial = slice(0, cx.n_spatial_edges)
    assert cx.head[spatial].max() < 120 and cx.tail[spatial].max() < 120
    b_head, b_tail = cx.head[cx.n_spatial_edges:], cx.tail[cx.n_spatial_edges:]
    assert len(b_head) > 0 and np.all((b_head >= 120) | (b_tail >= 120))
    assert np.all(cx.weight > 0) and cx.border_knn.shape == (120, 10)
    assert cx.warnings == []


def test_boundary_complex_without_the_border_points_own_lists():
    rng = np.random.RandomState(0)
    x = rng.randn(120, 6).astype(np.float32)
    border = rng.randn(20, 6).astype(np.float32)
    full = build_complex(x, border, n_neighbors=10, boundary_neighbors=10)
    part = build_complex(x, border, n_neighbors=10, boundary_neighbors=10, border_rows=False)
    ends = lambda cx: (cx.head[cx.n_spatial_edges:], cx.tail[cx.n_spatial_edges:])
    fh, ft = ends(full)
    ph, pt = ends(part)
    assert np.any((fh >= 120) & (ft >= 120))               # border <-> border edges in the full complex
    assert not np.any((ph >= 120) & (pt >= 120))           # none without the border points' own lists
    assert np.all((ph < 120) != (pt < 120))                # every edge joins a training row and a border point
    # the spatial part and each training row's border neighbours are the same
    assert part.n_spatial_edges == full.n_spatial_edges
    assert np.array_equal(part.border_knn, full.border_knn)
    # each training row -> border point membership is in the boundary complex (both directions, fuzzy union)
    pairs = set(zip(ph.tolist(), pt.tolist()))
    row, col = np.repeat(np.arange(120), 10), part.border_knn.reshape(-1) + 120
    assert np.mean([(a, b) in pairs and (b, a) in pairs for a, b in zip(row, col)]) > 0.9


def test_build_complex_without_enough_border_points_warns():
    rng = np.random.RandomState(0)
    x = rng.randn(60, 4).astype(np.float32)
    cx = build_complex(x, np.zeros((2, 4), np.float32), n_neighbors=10, min_border=5)
    assert cx.n_border == 0 and cx.nodes.shape[0] == 60 and cx.border_knn is None
    assert "border points" in cx.warnings[0]
    cx = build_complex(x, rng.randn(8, 4).astype(np.float32), n_neighbors=10, boundary_neighbors=15)
    assert cx.n_border == 8 and cx.border_knn.shape == (60, 8)
    assert "boundary NN@15 is undefined" in cx.warnings[0]


@pytest.mark.slow
def test_knn_self_switches_to_nndescent_and_keeps_self_first():
    """Above the threshold the approximate search answers: same shape, self first at 0,
    recall >= 0.97 against the exact search (pays numba's compile: slow)."""
    from tensorboard_dvi.engine.complex import knn_exact, knn_self
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(10, 32))[rng.integers(0, 10, 3000)] + rng.normal(size=(3000, 32)) * 0.5).astype(np.float32)
    x[5] = x[4]  # a duplicate
    exact_idx, _ = knn_exact(x, x, 15, exclude_self_first=True)
    torch.set_num_threads(1)
    idx, dist = knn_self(x, 15, approx_from=1000)
    assert torch.get_num_threads() == 1  # numba's OpenMP layer must not leave torch on every core
    assert idx.shape == (3000, 15) and dist.shape == (3000, 15) and idx.dtype == np.int64
    assert (idx[:, 0] == np.arange(3000)).all() and (dist[:, 0] == 0).all()
    recall = np.mean([len(set(a) & set(b)) / 15 for a, b in zip(idx, exact_idx)])
    assert recall >= 0.97, recall
    small_idx, _ = knn_self(x[:500], 15, approx_from=1000)  # below the threshold: exact
    assert np.array_equal(small_idx, knn_exact(x[:500], x[:500], 15, exclude_self_first=True)[0])
