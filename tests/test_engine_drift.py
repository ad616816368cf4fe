"""The map's centre follows the representations' mean (engine/drift.py)."""

import numpy as np
import pytest
import torch

from tensorboard_dvi.engine import drift as D
from tensorboard_dvi.engine.cache import map_shift
from tensorboard_dvi.engine.model import Visualizer


def test_translating_the_model_moves_its_frame_and_nothing_else():
    torch.manual_seed(0)
    model = Visualizer(12, (16, 16))
    x, y = torch.randn(50, 12), torch.randn(50, 2)
    with torch.no_grad():
        enc, dec = model.encoder(x).clone(), model.decoder(y).clone()
    delta = np.array([3.0, -1.5], np.float32)
    D.translate_model(model, delta)
    with torch.no_grad():
        torch.testing.assert_close(model.encoder(x), enc + torch.as_tensor(delta), atol=1e-5, rtol=0)
        torch.testing.assert_close(model.decoder(y + torch.as_tensor(delta)), dec, atol=1e-4, rtol=1e-5)


def test_the_centre_path_reproduces_the_centroid_path():
    """Distances between the map centres are ``scale`` x the centroids' distances along a straight
    drift; a drift that comes back brings the centre back; the path is one line."""
    v = np.zeros(8)
    v[0] = 1.0
    cents = [0 * v, v, 2 * v, 3.5 * v, 1.5 * v]
    shifts = [np.zeros(2)]
    for c in cents[1:]:
        shifts.append(D.next_shift(shifts, cents[:len(shifts)], c, scale=2.0))
    for a in range(len(cents)):
        assert shifts[a][1] == 0.0
        for b in range(a):
            np.testing.assert_allclose(np.linalg.norm(shifts[a] - shifts[b]),
                                       2.0 * np.linalg.norm(cents[a] - cents[b]), rtol=1e-6, atol=1e-6)


def test_no_drift_record_starts_a_new_chain(tmp_path):
    """An epoch fitted before drift existed (or with it off) has no record: the next epoch starts
    a chain (shift 0, its own scale) instead of failing or moving."""
    from types import SimpleNamespace

    cache = SimpleNamespace(epoch_info=lambda e: {"prev_epoch": None}, centroid=lambda e: None)
    model = Visualizer(4, (8,))
    pos = torch.randn(30, 2)
    before = pos.clone()
    rec, c = D.follow_mean(cache, 1, 0.25, model, pos, np.random.randn(30, 4).astype(np.float32), 30)
    assert rec["shift"] == [0.0, 0.0] and rec["scale"] > 0 and c.shape == (4,)
    torch.testing.assert_close(pos, before)
    assert D.follow_mean(cache, 1, 0.0, model, pos, np.zeros((30, 4), np.float32), 30) == (None, None)
    assert map_shift({"drift": {"shift": ["a", 1]}}) == [0.0, 0.0]  # a damaged record moves nothing
    assert map_shift({"drift": {"shift": [float("nan"), 1]}}) == [0.0, 0.0]
    assert map_shift({"drift": {"shift": [2.5, 0]}}) == [2.5, 0.0]


def test_spread_in_blocks_is_the_rms_distance_to_the_mean():
    x = (np.random.RandomState(0).randn(1000, 6) * 3 + 5).astype(np.float32)
    want = np.sqrt(((x.astype(np.float64) - x.mean(0, dtype=np.float64)) ** 2).sum(1).mean())
    assert D.spread(x, block=64) == pytest.approx(want, rel=1e-9)
    assert D.spread(np.zeros((0, 3), np.float32)) == 0.0


def test_a_damaged_record_starts_a_new_chain_instead_of_failing():
    """epoch.json comes from a cache that may have been edited: a shift or scale that is not a number
    must neither stop the fit nor move the map by garbage."""
    from types import SimpleNamespace

    c = np.ones(4, np.float32)
    for rec in ({"shift": [0.0, 0.0], "scale": "big"}, {"shift": [0.0, 0.0], "scale": float("nan")},
                {"shift": [0.0, 0.0], "scale": True}):
        cache = SimpleNamespace(epoch_info=lambda e, rec=rec: {"prev_epoch": None, "drift": rec},
                                centroid=lambda e: c)
        assert D.chain(cache, 1) == ([], [], None)
    # a shift that is not a number reads as no move; the chain and its scale stay usable
    cache = SimpleNamespace(epoch_info=lambda e: {"prev_epoch": None, "drift": {"shift": ["a", 1], "scale": 2.0}},
                            centroid=lambda e: c)
    shifts, cents, scale = D.chain(cache, 1)
    assert [s.tolist() for s in shifts] == [[0.0, 0.0]] and scale == 2.0
    model, pos = Visualizer(4, (8,)), torch.zeros(30, 2)
    rec, _ = D.follow_mean(cache, 1, 0.25, model, pos, np.full((30, 4), 2.0, np.float32), 30)
    assert np.isfinite(rec["shift"]).all() and np.isfinite(pos.numpy()).all()


def test_the_plan_made_before_the_layout_is_the_translation_applied():
    """drift.plan gives this epoch's translation from the centroids alone (the stretch of the moves
    uses it before the map is translated); follow_mean with that plan moves the map by it, as without."""
    from types import SimpleNamespace

    c1 = np.zeros(4, np.float32)
    cache = SimpleNamespace(epoch_info=lambda e: {"prev_epoch": None, "drift": {"shift": [1.0, 0.0], "scale": 2.0}},
                            centroid=lambda e: c1)
    x = np.full((30, 4), 0.5, np.float32)  # centroid 1.0 away from c1: the centre moves 2.0 on
    p = D.plan(cache, 1, 0.25, x)
    np.testing.assert_allclose(p["delta"], [2.0, 0.0], atol=1e-6)
    assert D.plan(cache, 1, 0.0, x) is None and "delta" not in D.plan(cache, None, 0.25, x)
    moved = []
    for planned in (None, p):
        model, pos = Visualizer(4, (8,)), torch.zeros(30, 2)
        rec, _ = D.follow_mean(cache, 1, 0.25, model, pos, x, 30, planned=planned)
        moved.append((rec["shift"], pos.clone()))
    assert moved[0][0] == moved[1][0] == [3.0, 0.0]
    torch.testing.assert_close(moved[0][1], torch.full((30, 2), 0.0) + torch.tensor([2.0, 0.0]))
    torch.testing.assert_close(moved[1][1], moved[0][1])
