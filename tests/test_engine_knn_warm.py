"""The warm epoch's self-kNN (knn_warm.py): searched from the previous epoch's graph, checked
against the exact search, refused (and the full search run) when it cannot be trusted."""

import os

import numpy as np
import pytest

from engine_testdata import TINY, FakeReader, blobs_run
import tensorboard_dvi.engine.knn_warm as W
from tensorboard_dvi.engine import EngineConfig, fit_run
from tensorboard_dvi.engine.cache import RunCache
from tensorboard_dvi.engine.complex import knn_exact, knn_self


def drifting(n=4000, dim=32, epochs=3, seed=0):
    """Clustered rows whose positions drift a little from epoch to epoch (same samples)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(12, dim))[rng.integers(0, 12, n)] * 3 + rng.normal(size=(n, dim))
    out = []
    for _ in range(epochs):
        x = x + 0.25 * rng.normal(size=x.shape)
        out.append(x.astype(np.float32))
    return out


def recall(a, b, k):
    return np.mean([len(np.intersect1d(p[1:k], q[1:k])) for p, q in zip(a, b)]) / (k - 1)


def test_warm_search_matches_the_exact_one_on_drifting_rows():
    x0, x1, x2 = drifting()
    prev = knn_exact(x0, x0, 15, exclude_self_first=True)[0]
    info = {}
    found = W.knn_warm(x1, prev, 20, info=info)
    assert found is not None, info
    idx, dist = found
    ex_idx, ex_dist = knn_exact(x1, x1, 20, exclude_self_first=True)
    assert idx.shape == (4000, 20) and idx.dtype == np.int64 and dist.dtype == np.float32
    assert (idx[:, 0] == np.arange(4000)).all() and (dist[:, 0] == 0).all()
    assert recall(idx, ex_idx, 15) >= 0.99 and recall(idx, ex_idx, 20) >= 0.99
    assert 0.99 <= info["recall"] <= 1 and info["candidate_share"] < W.MAX_CANDIDATE_SHARE
    assert (np.diff(dist, axis=1) >= 0).all()
    via = {}
    assert np.array_equal(knn_self(x1, 20, prev_idx=prev, info=via)[0], idx) and via["search"] == "warm"
    # the distances are the true ones of the pairs returned
    true = np.linalg.norm(x1[:, None, :] - x1[idx], axis=-1)
    np.testing.assert_allclose(dist, true, rtol=1e-5, atol=1e-5)
    # a chain of warm searches (the previous graph itself warm) stays as good
    idx2 = W.knn_warm(x2, idx, 20)[0]
    assert recall(idx2, knn_exact(x2, x2, 20, exclude_self_first=True)[0], 15) >= 0.99


def test_knn_self_falls_back_when_the_graph_is_absent_or_of_other_rows():
    x0, x1, _ = drifting(n=2600)
    exact = knn_exact(x1, x1, 15, exclude_self_first=True)
    prev = knn_exact(x0, x0, 15, exclude_self_first=True)[0]
    for graph in (None, prev[:2500], prev[:, :0], prev - 10 ** 6):
        info = {}
        assert W.knn_warm(x1, graph, 15, info=info) is None and info["reason"]
        idx, dist = knn_self(x1, 15, prev_idx=graph, info=info)
        assert info["search"] == "exact" and np.array_equal(idx, exact[0]) and np.array_equal(dist, exact[1])
    info = {}
    knn_self(x1, 15, prev_idx=prev, info=info)  # 2,600 rows: below MIN_ROWS the exact search runs
    assert info["search"] == "exact" and "too few rows" in info["reason"]


def test_a_graph_unrelated_to_the_rows_is_refused_on_its_recall(monkeypatch):
    monkeypatch.setattr(W, "MIN_ROWS", 0)
    x0, x1, _ = drifting(n=3000)
    rng = np.random.default_rng(1)
    unrelated = np.concatenate([np.arange(3000)[:, None], rng.integers(0, 3000, (3000, 4))], axis=1)
    info = {}
    # one round: refused on its candidates, before any distance is computed (no recall measured)
    assert W.knn_warm(x1, unrelated, 15, rounds=1, max_share=1.0, info=info) is None
    assert "recall" not in info and info["candidate_recall"] < W.MIN_RECALL and "candidates hold" in info["reason"]
    idx, _ = knn_self(x1, 15, prev_idx=unrelated, info=info)
    assert info["search"] == "exact"


def test_the_candidate_check_predicts_the_rounds_recall():
    """A round finds a row's neighbours exactly when they are among its block's candidates, so the
    early estimate equals the one measured after the round (up to ties)."""
    x0, x1, _ = drifting()
    prev = knn_exact(x0, x0, 15, exclude_self_first=True)[0]
    for hop in (2, 20):
        info = {}
        W.knn_warm(x1, prev, 20, rounds=1, min_recall=0.0, hop_columns=hop, info=info)
        assert abs(info["candidate_recall"] - info["recall"]) <= 0.002, info
    assert info["recall"] >= 0.99


def test_from_the_approximate_threshold_one_warm_round_replaces_nndescent(monkeypatch):
    """Above ``approx_from`` rows knn_self tries one warm round with LARGE_HOP_COLUMNS, and runs
    NNDescent when it is refused."""
    x0, x1, _ = drifting()
    prev = knn_exact(x0, x0, 15, exclude_self_first=True)[0]
    calls = []
    real = W._search_round
    monkeypatch.setattr(W, "_search_round", lambda *a: calls.append(a[7]) or real(*a))
    info = {}
    idx, dist = knn_self(x1, 20, approx_from=1000, prev_idx=prev, info=info)
    assert info["search"] == "warm" and info["rounds"] == 1 and calls == [W.LARGE_HOP_COLUMNS]
    assert recall(idx, knn_exact(x1, x1, 20, exclude_self_first=True)[0], 15) >= 0.99
    rng = np.random.default_rng(1)
    unrelated = np.concatenate([np.arange(4000)[:, None], rng.integers(0, 4000, (4000, 14))], axis=1)
    info = {}
    knn_self(x1, 20, approx_from=1000, prev_idx=unrelated, info=info)
    assert info["search"] == "nndescent" and "candidates" in info["reason"]


def test_a_resumed_fit_searches_from_the_cached_graph(tmp_path, monkeypatch):
    """Epoch 3 fitted in a fresh fit_run call starts from epoch 2's cached kNN."""
    monkeypatch.setattr(W, "MIN_ROWS", 0)
    monkeypatch.setattr(W, "BLOCK_ROWS", 32)
    monkeypatch.setattr(W, "MAX_CANDIDATE_SHARE", 1.0)
    monkeypatch.setattr(W, "CHECK_ROWS", 64)
    labels, split, epochs = blobs_run()
    cache_dir = str(tmp_path / "c")
    fit_run(FakeReader(labels, split, {e: epochs[e] for e in (1, 2)}), cache_dir, config=EngineConfig(**TINY))
    done = fit_run(FakeReader(labels, split, epochs), cache_dir, config=EngineConfig(**TINY))
    cache = RunCache(cache_dir)
    assert done == [3]
    assert cache.epoch_info(1)["knn_search"]["search"] == "exact"
    info = cache.epoch_info(3)["knn_search"]
    assert info["search"] == "warm" and info["recall"] >= W.MIN_RECALL
    x = np.asarray(epochs[3][0], np.float32)[np.asarray(split) == 0]
    assert recall(np.asarray(cache.knn(3)), knn_exact(x, x, 15, exclude_self_first=True)[0], 15) >= 0.99
    # the search's 20 columns are kept (knn.npy: the complex's 15, knn_more.npy: the rest), and the
    # next epoch's warm search starts from all of them
    wide = cache.knn_wide(2)
    assert wide.shape == (len(x), 20) and np.array_equal(wide[:, :15], np.asarray(cache.knn(2)))
    x2 = np.asarray(epochs[2][0], np.float32)[np.asarray(split) == 0]
    assert recall(wide, knn_exact(x2, x2, 20, exclude_self_first=True)[0], 20) >= 0.99
    seen = []
    monkeypatch.setattr(W, "knn_warm", lambda x, prev, *a, **kw: seen.append(np.shape(prev)))
    fit_run(FakeReader(labels, split, epochs), str(tmp_path / "c"), config=EngineConfig(**TINY, seed=1))
    assert seen == [(len(x), 20), (len(x), 20)]
    # a cache written before knn_more.npy existed: the 15 columns
    os.remove(os.path.join(cache.epochs_dir, "epoch-000002", "knn_more.npy"))
    assert np.array_equal(cache.knn_wide(2), np.asarray(cache.knn(2)))


def test_a_refused_warm_search_is_skipped_by_the_next_epochs_then_tried_again():
    refused = {"search": "ivf", "candidate_share": 0.3, "reason": "candidates hold 0.95 < 0.993"}
    assert W.skips_after(refused) == 1
    assert [W.skips_after({"search": "ivf", "warm_skipped": n}) for n in range(1, W.RETRY_AFTER + 1)] \
        == list(range(2, W.RETRY_AFTER + 1)) + [0]
    # nothing to skip after a warm result, no record, or a search that was never tried (too few rows)
    for record in ({"search": "warm", "candidate_share": 0.2}, None, {},
                   {"search": "exact", "reason": "no previous graph of these rows, or too few rows"}):
        assert W.skips_after(record) == 0
    # an edited epoch.json: a skip count that is not a count reads as none (no crash, no endless skipping)
    for bad in ("x", -4, 2.5, True, [1]):
        assert W.skips_after({"search": "ivf", "warm_skipped": bad}) == 0


def test_epochs_that_skip_a_refused_warm_search_get_the_graph_a_refused_try_gives(tmp_path, monkeypatch):
    """Every warm search refused (an unreachable recall bar): with the skips, epochs 3-5 do not try it
    (epoch 6 tries again), and every epoch's graph and map equal those of a fit that tries it each time."""
    monkeypatch.setattr(W, "MIN_ROWS", 0)
    monkeypatch.setattr(W, "BLOCK_ROWS", 32)
    monkeypatch.setattr(W, "MAX_CANDIDATE_SHARE", 1.0)
    monkeypatch.setattr(W, "CHECK_ROWS", 64)
    monkeypatch.setattr(W, "MIN_RECALL", 1.01)
    tries = []
    real = W.knn_warm
    monkeypatch.setattr(W, "knn_warm", lambda *a, **kw: tries.append(1) or real(*a, **kw))
    labels, split, epochs = blobs_run(epochs=(1, 2, 3, 4, 5, 6))
    caches = []
    for retry in (W.RETRY_AFTER, 0):  # 0: never skipped
        monkeypatch.setattr(W, "RETRY_AFTER", retry)
        tries.clear()
        fit_run(FakeReader(labels, split, epochs), str(tmp_path / f"c{retry}"), config=EngineConfig(**TINY))
        caches.append((RunCache(str(tmp_path / f"c{retry}")), len(tries)))
    (skipping, n_skipping), (trying, n_trying) = caches
    assert n_trying == 5 and n_skipping == 2  # epochs 2 and 6 tried
    assert [skipping.epoch_info(e)["knn_search"].get("warm_skipped") for e in range(2, 7)] == [None, 1, 2, 3, None]
    for e in range(1, 7):
        assert trying.epoch_info(e)["knn_search"]["search"] == skipping.epoch_info(e)["knn_search"]["search"] == "exact"
        assert np.array_equal(np.asarray(skipping.knn(e)), np.asarray(trying.knn(e)))
        assert np.array_equal(np.asarray(skipping.embedding(e)), np.asarray(trying.embedding(e)))


def test_block_candidates_by_marks_equal_the_sorted_unique_ones():
    from tensorboard_dvi.engine import knn_warm as W
    rng = np.random.default_rng(4)
    graph = rng.integers(0, 3000, (3000, 15))
    seen = np.zeros(3000, bool)
    for rows in (np.arange(512), rng.choice(3000, 200, replace=False), np.array([7])):
        for hop in (5, 10):
            want = np.unique(np.concatenate([rows, graph[rows].ravel(), graph[graph[rows]][:, :, :hop].ravel()]))
            assert np.array_equal(W._block_candidates(graph, rows, hop, seen), want)
            assert not seen.any()  # left clean for the next block


def test_blocks_are_halved_where_they_gather_too_many_candidates(monkeypatch):
    """A graph whose blocks gather more than SPLIT_SHARE of the rows is searched in smaller (halved
    SPLITS times)
    blocks: fewer candidates per row, the same neighbours; a clustered one keeps full blocks."""
    x0, x1, _ = drifting()
    prev = knn_exact(x0, x0, 15, exclude_self_first=True)[0]
    exact = knn_exact(x1, x1, 20, exclude_self_first=True)[0]
    monkeypatch.setattr(W, "MAX_CANDIDATE_SHARE", 1.0)
    runs = {}
    for split in (1.0, 0.0):  # never halved / always halved
        monkeypatch.setattr(W, "SPLIT_SHARE", split)
        info = {}
        idx = W.knn_warm(x1, prev, 20, info=info)[0]
        assert recall(idx, exact, 15) >= 0.99
        runs[split] = info
    assert runs[1.0]["block_rows"] == W.BLOCK_ROWS and runs[0.0]["block_rows"] == W.BLOCK_ROWS >> W.SPLITS
    assert runs[0.0]["candidate_share"] < runs[1.0]["candidate_share"]
