"""The exact join (knn.exact_join): both directions of an exact cross-search from one pass over the
distances, as the epoch uses them below the IVF threshold (border points and test rows <-> training rows)."""

import numpy as np
import pytest
import torch

from tensorboard_dvi.engine import complex as C
from tensorboard_dvi.engine import knn as K
from tensorboard_dvi.engine.complex import knn_exact


def _sets(n_base=1500, n_q=230, dim=24, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(6, dim)) * 2.0
    base = (centers[rng.integers(0, 6, n_base)] + rng.normal(size=(n_base, dim))).astype(np.float32)
    q = (centers[rng.integers(0, 6, n_q)] + rng.normal(size=(n_q, dim))).astype(np.float32)
    q[:5] = base[10:15]  # exact duplicates: distance 0, recomputed from differences
    return q, base


@pytest.mark.parametrize("block", [C.KNN_BLOCK_ELEMENTS, 230 * 97])  # one block; many blocks of 97 base rows
def test_exact_join_gives_knn_exact_both_ways(monkeypatch, block):
    torch.set_num_threads(1)
    monkeypatch.setattr(K, "KNN_BLOCK_ELEMENTS", block)
    q, base = _sets()
    (qi, qd), (bi, bd) = K.exact_join(q, base, 15)
    for (i, d), (ei, ed) in (((qi, qd), knn_exact(q, base, 15)), ((bi, bd), knn_exact(base, q, 15))):
        assert i.shape == ei.shape and i.dtype == np.int64 and d.dtype == np.float32
        np.testing.assert_allclose(d, ed, rtol=1e-5, atol=1e-5)
        assert (i == ei).mean() > 0.999  # only float ties may swap places
        assert np.all(np.diff(d, axis=1) >= 0)
    assert np.array_equal(qi[:5, 0], np.arange(10, 15)) and np.all(qd[:5, 0] == 0)


def test_exact_join_with_fewer_rows_than_k():
    q, base = _sets(n_base=40, n_q=7)
    (qi, qd), (bi, bd) = K.exact_join(q, base, 15)
    assert qi.shape == (7, 15) and bi.shape == (40, 7)
    assert np.array_equal(np.sort(bi, 1), np.tile(np.arange(7), (40, 1)))
    np.testing.assert_allclose(qd, knn_exact(q, base, 15)[1], rtol=1e-5, atol=1e-5)


def test_self_ivf_keeps_its_recall_or_hands_over_to_the_exact_search(monkeypatch):
    """knn_self_ivf: self first and a true recall@15 >= 0.985 whenever it answers (its estimate on 512
    rows >= 0.993, probing twice the share when needed); complex.knn_self searches from the
    previous graph when knn_warm accepts it, else IVF, else (estimate short) exactly; the switch
    follows SELF_IVF_FROM / complex.APPROX_KNN_FROM (CPU only)."""
    torch.set_num_threads(1)
    _, x = _sets(n_base=3000, dim=32, seed=1)
    exact_i, _ = knn_exact(x, x, 20, exclude_self_first=True)
    info = {}
    idx, dist = K.knn_self_ivf(x, 20, info=info)
    assert np.array_equal(idx[:, 0], np.arange(len(x))) and np.all(dist[:, 0] == 0)
    recall = np.mean([len(set(a[:15]) & set(b[:15])) / 15 for a, b in zip(idx, exact_i)])
    assert info["recall"] >= 0.99 and recall >= 0.985
    monkeypatch.setattr(K, "SELF_IVF_FROM", 1000)  # these 3,000 rows in knn_self's IVF range
    info = {}
    C.knn_self(x, 20, info=info)
    assert info["search"] == "ivf"
    from tensorboard_dvi.engine import knn_warm
    monkeypatch.setattr(knn_warm, "knn_warm", lambda x, prev, k, **kw: (prev, None))  # accepted
    info = {}
    assert C.knn_self(x, 20, prev_idx=exact_i, info=info)[0] is exact_i and info["search"] == "warm"
    monkeypatch.setattr(knn_warm, "knn_warm", lambda x, prev, k, **kw: None)  # refused: IVF
    info = {}
    C.knn_self(x, 20, prev_idx=exact_i, info=info)
    assert info["search"] == "ivf"
    monkeypatch.setattr(knn_warm, "MIN_RECALL", 1.01)  # no estimate reaches it: refused, searched exactly
    info = {}
    assert K.knn_self_ivf(x, 20) is None
    got_i, _ = C.knn_self(x, 20, prev_idx=None, info=info)
    assert info["search"] == "exact" and np.array_equal(got_i, exact_i)
    assert not K.self_ivf_applies(K.SELF_IVF_FROM - 1, "cpu") and K.self_ivf_applies(K.SELF_IVF_FROM, "cpu")
    assert K.self_ivf_applies(C.APPROX_KNN_FROM, "cpu") and not K.self_ivf_applies(K.SELF_IVF_UNTIL, "cpu")
    assert not K.self_ivf_applies(K.SELF_IVF_FROM, "cuda")


def test_self_ivf_where_nndescent_would_run_probes_less_and_keeps_its_recall(monkeypatch):
    """From complex.APPROX_KNN_FROM rows up to SELF_IVF_UNTIL, knn_self tries IVF before NNDescent (no numba
    compile): the first of LARGE_SELF_PROBE_SHARES, kept at an estimate >= LARGE_SELF_MIN_RECALL, the true
    recall@15 close to it; the same rows below the threshold keep the exact search's bar."""
    torch.set_num_threads(1)
    _, x = _sets(n_base=3000, dim=32, seed=1)
    exact_i, _ = knn_exact(x, x, 20, exclude_self_first=True)
    monkeypatch.setattr(K, "SELF_IVF_FROM", 1000)
    monkeypatch.setattr(K, "LARGE_SELF_PROBE_SHARES", (0.25, 0.5))  # ~55 cells here, not ~210 (45k rows)
    shares = []
    real = K.knn_self_ivf
    monkeypatch.setattr(K, "knn_self_ivf", lambda *a, **kw: shares.append(kw) or real(*a, **kw))
    info = {}
    idx, dist = C.knn_self(x, 20, approx_from=2000, info=info)  # 3,000 rows: NNDescent's side of the threshold
    assert info["search"] == "ivf" and shares[-1]["shares"] == K.LARGE_SELF_PROBE_SHARES
    assert shares[-1]["min_recall"] == K.LARGE_SELF_MIN_RECALL and info["recall"] >= K.LARGE_SELF_MIN_RECALL
    assert info["probe_share"] in K.LARGE_SELF_PROBE_SHARES
    assert np.array_equal(idx[:, 0], np.arange(len(x))) and np.all(dist[:, 0] == 0)
    recall = np.mean([len(set(a[:15]) & set(b[:15])) / 15 for a, b in zip(idx, exact_i)])
    assert recall >= 0.97
    C.knn_self(x, 20, approx_from=4000)  # the exact search's side: the default shares and bar
    assert "shares" not in shares[-1] and "min_recall" not in shares[-1]
    monkeypatch.setattr(K, "SELF_IVF_UNTIL", 2500)  # above SELF_IVF_UNTIL: not tried
    n = len(shares)
    C.knn_self(x, 20, approx_from=4000)
    assert len(shares) == n
