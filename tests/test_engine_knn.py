"""The approximate cross-searches of large epochs (engine/knn.py): recall against the exact
search, the exact path unchanged, and the metrics they feed within 0.01 of the exact ones."""

import numpy as np
import pytest
import torch

from tensorboard_dvi.engine import knn as K
from tensorboard_dvi.engine.complex import knn_exact


def _sets(n_train=3000, n_test=500, n_border=300, dim=32, seed=0):
    """Gaussian clusters (as bench_scale.py's runs) and border points between two of them."""
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(10, dim)) * 2.5
    y = rng.integers(0, 10, n_train + n_test)
    x = (centers[y] + rng.normal(size=(len(y), dim))).astype(np.float32)
    a, b = rng.integers(0, n_train, n_border), rng.integers(0, n_train, n_border)
    lam = rng.uniform(0.3, 0.7, (n_border, 1))
    border = (lam * x[a] + (1 - lam) * x[b]).astype(np.float32)
    return x[:n_train], x[n_train:], border, y


def _recall(found, exact):
    return float(np.mean([len(set(f) & set(e)) / len(e) for f, e in zip(found, exact)]))


def test_ivf_recall_of_every_cross_search_against_the_exact_search():
    """Each search the fit and the metrics make across sets, through the IVF index (test rows and
    border points joined with the training rows both ways, as the fit does): recall of the
    15 nearest >= 0.98 (measured 0.99-1.0 here; 0.978-1.0 on the 100k bench run, docs/SCALE.md),
    exact distances of what was found, sorted, self first where asked."""
    train, test, border, _ = _sets()
    cases = [(test, train, False), (border, train, False), (train, test, False), (test, test, True),
             (border, border, True), (test, border, False)]
    joined = {}
    for name, q, share in (("test", test, K.TEST_PROBE_SHARE), ("border", border, K.BORDER_PROBE_SHARE)):
        joined[name] = K.Among(train, approx=True, cells_per_sqrt=1.0).join(q, 15, probe_share=share)
    found = {(id(test), id(train)): joined["test"][0], (id(train), id(test)): joined["test"][1],
             (id(border), id(train)): joined["border"][0]}
    cases.append((train, border, False))
    found[(id(train), id(border))] = joined["border"][1]
    for queries, base, self_first in cases:
        among = K.Among(base, approx=True) if base is not border else \
            K.Among(border, approx=True, cells_per_sqrt=K.BORDER_CELLS_PER_SQRT, min_recall=K.BORDER_MIN_RECALL)
        idx, dist = found.get((id(queries), id(base))) or among(queries, 15, exclude_self_first=self_first)
        e_idx, e_dist = knn_exact(queries, base, 15, exclude_self_first=self_first)
        assert idx.shape == dist.shape == (len(queries), 15) and idx.dtype == np.int64
        assert _recall(idx, e_idx) >= 0.98, (len(queries), len(base), _recall(idx, e_idx))
        true = np.linalg.norm(queries[:, None, :] - base[idx], axis=-1)
        assert np.allclose(dist, true, atol=1e-4) and (np.diff(dist, axis=1) >= 0).all()
        assert (dist[:, 0] >= e_dist[:, 0] - 1e-4).all()  # never nearer than the true nearest
        if self_first:
            assert (idx[:, 0] == np.arange(len(queries))).all() and (dist[:, 0] == 0).all()


def test_ivf_handles_fewer_members_than_k_and_tiny_bases():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(12, 8)).astype(np.float32)
    q = rng.normal(size=(40, 8)).astype(np.float32)
    idx, dist = K.IVFIndex(base, probe_share=1.0).query(q, 15)  # every cell probed: exact
    e_idx, e_dist = knn_exact(q, base, 15)
    assert idx.shape == (40, 12) and np.array_equal(np.sort(idx, 1), np.sort(e_idx, 1))
    assert np.allclose(dist, e_dist, atol=1e-5)


def test_exact_path_is_knn_exact_bit_for_bit_and_the_switch_follows_the_threshold(monkeypatch):
    train, test, _, _ = _sets(600, 100, 50)
    among = K.Among(train, approx=False)
    for got, want in zip(among(test, 15), knn_exact(test, train, 15)):
        assert np.array_equal(got, want)
    for got, want in zip(among(train, 9, exclude_self_first=True), knn_exact(train, train, 9, exclude_self_first=True)):
        assert np.array_equal(got, want)
    from tensorboard_dvi.engine import complex as C
    monkeypatch.setattr(C, "APPROX_KNN_FROM", 500)
    assert K.approximate(500, "cpu") and not K.approximate(499, "cpu") and not K.approximate(10**6, "cuda:0")


def test_metrics_from_approximate_searches_within_001_of_the_exact_ones():
    """The epoch's metrics (faithfulness.spatial_metrics) on one map: the searches the fit and the
    metrics make across sets exact vs through IVF (the self-kNN the same in both)."""
    from tensorboard_dvi.engine.config import EngineConfig
    from tensorboard_dvi.engine.faithfulness import spatial_metrics
    train, test, border, y = _sets(3000, 500, 300, seed=2)
    reps = np.concatenate([train, test])
    rng = np.random.default_rng(3)
    proj = rng.normal(size=(reps.shape[1], 2)).astype(np.float32)
    emb = (reps @ proj + rng.normal(size=(len(reps), 2)) * 0.5).astype(np.float32)
    emb_border = (border @ proj).astype(np.float32)
    logits = np.eye(10, dtype=np.float32)[y] * 3
    recon = logits + rng.normal(size=logits.shape).astype(np.float32)
    tr_rows, te_rows = np.arange(3000), np.arange(3000, 3500)
    knn20 = knn_exact(train, train, 20, exclude_self_first=True)
    out = {}
    for approx in (False, True):
        among_train = K.Among(train, approx=approx, cells_per_sqrt=1.0)  # as the fit searches
        border_knn = among_train.join(border, 15, probe_share=K.BORDER_PROBE_SHARE)[1][0]
        test_knn, train_test_knn = among_train.join(test, 15, probe_share=K.TEST_PROBE_SHARE)
        test_border = K.Among(border, approx=True, cells_per_sqrt=K.BORDER_CELLS_PER_SQRT,
                              min_recall=K.BORDER_MIN_RECALL)(test, 15)[0] if approx else None
        out[approx] = spatial_metrics(EngineConfig(), "cpu", tr_rows, te_rows, reps, logits, border, emb,
                                      emb_border, recon, knn20, border_knn, test_knn, approx, train_test_knn,
                                      test_border)
    for key in ("nn_15", "nn_15_test", "nn_15_test_rows", "boundary_nn_15", "boundary_nn_15_test",
                "trustworthiness", "ppr_train", "ppr_test"):
        assert out[True][key] == pytest.approx(out[False][key], abs=0.01), key
    assert out[True]["nn_15_test"] > 1.0 and out[True]["boundary_nn_15"] > 0


def test_a_fit_above_the_threshold_searches_across_sets_through_ivf(monkeypatch, tmp_path):
    """fit_run with the cross-search switch on (the self-kNN left exact, so no numba compile):
    every cross-search of the epoch builds an IVF index and the metrics are written."""
    from engine_testdata import TINY, blobs_run, FakeReader
    from tensorboard_dvi.engine import EngineConfig, fit_run
    from tensorboard_dvi.engine.cache import RunCache
    built = []
    real_init = K.IVFIndex.__init__

    def spy(self, base, **kw):
        built.append(len(base))
        real_init(self, base, **kw)

    monkeypatch.setattr(K.IVFIndex, "__init__", spy)
    monkeypatch.setattr(K, "approximate", lambda n, device: True)
    labels, split, epochs = blobs_run()
    torch.set_num_threads(1)
    fit_run(FakeReader(labels, split, epochs), str(tmp_path / "c"), epochs=[1, 2], config=EngineConfig(**TINY))
    n_train, n_test = int((split == 0).sum()), int((split == 1).sum())
    n_border = [len(epochs[e][2]) for e in (1, 2)]
    # per epoch: the training rows (border points and test rows, both ways), the test rows (joint NN),
    # the border points (among themselves, and the test rows' boundary NN)
    assert sorted(built) == sorted([n_train, n_test] * 2 + n_border)
    m = RunCache(str(tmp_path / "c")).metrics(2)
    assert m["nn_15_test"] is not None and m["boundary_nn_15_test"] is not None and 0 < m["trustworthiness"] <= 1


def test_kmeans_iterates_on_a_subsample_and_assigns_every_row_to_its_nearest_centroid(monkeypatch):
    """Lloyd's iterations see at most KMEANS_ROWS_PER_CELL rows per cell (2.0 -> 0.6 s at 100k),
    the final assignment all rows; the joins keep their recall (docs/SCALE.md, "Growth, fifth session, second round")."""
    train, test, border, _ = _sets()
    monkeypatch.setattr(K, "KMEANS_ROWS_PER_CELL", 10)
    seen = []
    real = K._nearest_cells
    monkeypatch.setattr(K, "_nearest_cells", lambda q, c, p, **kw: seen.append(len(q)) or real(q, c, p, **kw))
    index = K.IVFIndex(train, cells_per_sqrt=1.0, iters=6)
    assert seen[:6] == [10 * index.n_cells] * 6 and seen[6] == len(train)  # 6 iterations, then all rows
    cell = torch.empty(len(train), dtype=torch.int64)
    cell[index.order] = torch.repeat_interleave(torch.arange(index.n_cells), index.sizes)
    d = torch.cdist(torch.as_tensor(train), index.centroids)
    assert torch.allclose(d.gather(1, cell[:, None])[:, 0], d.min(1).values, atol=1e-4)
    for q, share in ((test, K.TEST_PROBE_SHARE), (border, K.BORDER_PROBE_SHARE)):
        (qi, _), (ti, _) = index.join(q, 15, probe_share=share)
        assert _recall(qi, knn_exact(q, train, 15)[0]) >= 0.98
        assert _recall(ti, knn_exact(train, q, 15)[0]) >= 0.98


def test_join_with_every_cell_probed_is_the_exact_search_both_ways():
    """The join keeps a query's distances up to its k-th in its nearest cells (an upper bound of its
    k-th overall): with every cell probed the result is the exact search, both directions, also where
    the nearest cells hold fewer than k rows (cells of ~2 rows: the bound is then infinite)."""
    train, test, border, _ = _sets(400, 120, 60, dim=16)
    for cells_per_sqrt in (1.0, 10.0):  # 20 cells of ~20 rows; 200 cells of ~2 rows
        index = K.IVFIndex(train, cells_per_sqrt=cells_per_sqrt)
        for q in (test, border):
            (qi, qd), (bi, bd) = index.join(q, 15, probe_share=1.0)
            for (i, d), (ei, ed) in (((qi, qd), knn_exact(q, train, 15)), ((bi, bd), knn_exact(train, q, 15))):
                assert i.shape == ei.shape and _recall(i, ei) == 1.0
                assert np.allclose(d, ed, atol=1e-4) and (np.diff(d, axis=1) >= 0).all()


def test_first_k_picks_each_rows_smallest_and_pads_short_rows():
    rows = torch.tensor([2, 0, 2, 0, 2, 0, 2], dtype=torch.int64)
    idx = torch.tensor([10, 11, 12, 13, 14, 15, 16], dtype=torch.int32)
    d2 = torch.tensor([5.0, 1.0, 3.0, 0.5, 4.0, 9.0, 3.0])
    found, found_d = K._first_k(rows, idx, d2, 3, 3)
    assert found.tolist() == [[13, 11, 15], [-1, -1, -1], [12, 16, 14]]
    assert found_d[0].tolist() == [0.5, 1.0, 9.0] and torch.isinf(found_d[1]).all()


@pytest.mark.parametrize("self_first", [False, True])
def test_a_checked_search_falls_back_to_the_exact_one_below_its_recall(self_first):
    """Among(min_recall=...): the IVF result with the sampled rows' exact neighbours put in, or,
    when the sample's recall is below the threshold, the exact search bit for bit."""
    train, test, border, _ = _sets(2000, 300, 300, dim=32)
    queries = border if self_first else test
    exact = knn_exact(queries, border, 15, exclude_self_first=self_first)
    refused = K.Among(border, approx=True, min_recall=1.01)  # no estimate reaches it
    for got, want in zip(refused(queries, 15, exclude_self_first=self_first), exact):
        assert np.array_equal(got, want)
    assert len(refused.recalls) == 1 and refused.recalls[0] <= 1.0
    kept = K.Among(border, approx=True, cells_per_sqrt=1.0, min_recall=0.0)
    idx, dist = kept(queries, 15, exclude_self_first=self_first)
    plain = K.IVFIndex(border, cells_per_sqrt=1.0).query(queries, 15, exclude_self_first=self_first)[0]
    rows = np.sort(np.random.RandomState(0).choice(len(queries), K.CHECKED_QUERIES, replace=False))
    others = np.setdiff1d(np.arange(len(queries)), rows)
    assert np.array_equal(idx[others], plain[others]) and np.array_equal(idx[rows], exact[0][rows])
    assert kept.recalls[0] == pytest.approx(_recall(plain[rows], exact[0][rows]))
    assert kept.recalls[0] < 1.0  # this index misses some neighbours: the check sees the approximation
    same = (idx == exact[0]).all(1)  # distances as the exact search computes them (the complex's weights)
    assert same.mean() > 0.5 and np.array_equal(dist[same], exact[1][same])


def test_ivf_searches_with_no_queries_and_with_many_duplicate_rows(monkeypatch):
    """No queries: empty results. Hundreds of identical rows (all tied at a query's bound): each
    block keeps a top-k per query instead of every tie, and the neighbours are still at distance 0."""
    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 8)).astype(np.float32)
    base = np.concatenate([x, np.repeat(x[:1], 300, axis=0)])
    index = K.IVFIndex(base, probe_share=0.5)
    idx, dist = index.query(base[:0], 15)
    assert idx.shape == dist.shape == (0, 15)
    (qi, qd), (bi, bd) = index.join(base[:0], 15, probe_share=0.5)
    assert qi.shape == (0, 15) and bi.shape == (len(base), 0)
    kept = []
    real = K._first_k
    monkeypatch.setattr(K, "_first_k", lambda rows, *a: kept.append(len(rows)) or real(rows, *a))
    idx, dist = index.query(base[3000:3040], 15)  # 301 rows at distance 0 from each
    assert (dist == 0).all() and np.isin(idx, np.r_[0, 3000:3300]).all()
    assert 15 * 40 <= kept[-1] <= 2 * 15 * 40  # not 40 x 301 ties: a top-15 per query in that cell
