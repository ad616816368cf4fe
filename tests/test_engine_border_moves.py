"""Border points moved one at a time on the exact boundary-NN count (engine/border_moves.py)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from tensorboard_dvi.engine import EngineConfig
from tensorboard_dvi.engine import metrics as M
from tensorboard_dvi.engine.border_moves import move_border_points
from tensorboard_dvi.engine.border_place import place_border, place_in_layout
from tensorboard_dvi.engine.complex import knn_exact


def _digits(n=900, held_out=300):
    """Digits' PCA layout as fixed positions (the first ``n - held_out`` rows train, the rest are held
    out); border points = midpoints of rows of two classes, placed by the smooth objective first."""
    x = load_digits().data.astype(np.float32)[:n]
    y = load_digits().target[:n]
    rng = np.random.RandomState(0)
    a, b = rng.randint(0, n - held_out, 500), rng.randint(0, n - held_out, 500)
    keep = y[a] != y[b]
    a, b = a[keep][:200], b[keep][:200]
    border = 0.5 * (x[a] + x[b])
    pos = PCA(2, random_state=0).fit_transform(x).astype(np.float32)
    tr = slice(0, n - held_out)
    knn, _ = knn_exact(x[tr], border, 15)
    start = place_border(torch.as_tensor(pos[tr]), torch.as_tensor(0.5 * (pos[a] + pos[b])), knn, steps=50)
    return x, border, pos, tr, knn, start


def test_moves_raise_the_exact_count_and_leave_the_training_rows():
    x, border, pos, tr, knn, start = _digits()
    train = torch.as_tensor(pos[tr])
    moved, rec = move_border_points(train, start, knn, seed=0)
    before = M.boundary_nn(x[tr], border, pos[tr], start.numpy(), 15)
    after = M.boundary_nn(x[tr], border, pos[tr], moved.numpy(), 15)
    assert rec["before"] == pytest.approx(before, abs=1e-6) and rec["after"] == pytest.approx(after, abs=1e-6)
    assert after > before + 0.3, (before, after)
    assert 0 < rec["moved"] <= len(border)
    # the lists kept up to date move by move agree with a search from scratch
    assert rec["tally"] == pytest.approx(after, abs=1e-6)
    assert torch.equal(train, torch.as_tensor(pos[tr]))
    # the same seed, the same moves
    again, _ = move_border_points(train, start, knn, seed=0)
    assert torch.equal(again, moved)


def test_moves_are_skipped_when_too_large_or_off():
    x, border, pos, tr, knn, start = _digits()
    train = torch.as_tensor(pos[tr])
    for kw in ({"max_elements": len(pos[tr]) * len(border) - 1}, {"sweeps": 0}):
        out, rec = move_border_points(train, start, knn, **kw)
        assert rec is None and out is start
    out, rec = move_border_points(train, start[:15], knn.clip(max=14))   # no more than k border points
    assert rec is None


def test_the_placement_records_the_moves():
    x, border, pos, tr, knn, start = _digits()
    cx = SimpleNamespace(nodes=np.concatenate([x[tr], border]), n_train=len(pos[tr]), n_border=len(border),
                         border_knn=knn)
    nodes = torch.cat([torch.as_tensor(pos[tr]), start])
    n = len(pos[tr])
    for kernels in ((), ((2.0, 0.05),)):               # one kernel (the default) and a choice of two
        out, chosen = place_in_layout(nodes, cx, EngineConfig(border_place_kernels=kernels), 0, False)
        smooth, chosen0 = place_in_layout(nodes, cx, EngineConfig(border_place_kernels=kernels,
                                                                  border_moves_sweeps=0), 0, False)
        assert torch.equal(out[:n], nodes[:n]) and "moves" not in chosen0
        rec = chosen["moves"]
        # the moves start from the smooth placement and end where the evaluator's count says
        assert rec["before"] == pytest.approx(M.boundary_nn(x[tr], border, pos[tr], smooth[n:].numpy(), 15), abs=1e-6)
        assert rec["after"] == pytest.approx(M.boundary_nn(x[tr], border, pos[tr], out[n:].numpy(), 15), abs=1e-6)
        assert rec["after"] > rec["before"]
        if kernels:
            assert chosen["kept"] == pytest.approx(rec["before"], abs=1e-6)
