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
