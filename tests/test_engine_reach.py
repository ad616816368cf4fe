"""Prediction-preserving placement (ninth pass, docs/QUALITY_RESULTS.md): the search that moves a sample
the snapping's descent left outside its class's region to the nearest point of it
(consistency.reach_region), and the decoder's sharpened prediction targets (losses.prediction_targets)."""

import numpy as np
import torch

from tensorboard_dvi.engine.consistency import reach_region, snap_to_prediction
from tensorboard_dvi.engine.losses import prediction_targets


def island(q: torch.Tensor) -> torch.Tensor:
    """Class 1 inside the disc of radius 1 around (3, 0), class 0 elsewhere: from the origin the
    gradient of class 1's logit is flat (a plateau of class 0), so only a search finds the disc."""
    d = torch.linalg.norm(q - torch.tensor([3.0, 0.0]), dim=1)
    inside = (d < 1.0).float()
    return torch.stack([1.0 - inside, inside], dim=1) * 4.0


def test_descent_stalls_on_a_plateau_and_the_search_reaches_the_region():
    pos = np.array([[0.0, 0.0], [0.5, 0.3], [3.0, 0.2], [-9.0, 0.0]], np.float32)
    target = np.array([1, 1, 1, 1])
    kw = dict(steps=40, lr=0.05, mu=0.15, max_move=1.0, scale=3.0, stop_margin=0.05)
    stalled = snap_to_prediction(pos, target, island, **kw)
    np.testing.assert_array_equal(stalled, pos)  # no gradient: nobody moved
    out = snap_to_prediction(pos, target, island, reach_move=1.0, **kw)
    pred = island(torch.as_tensor(out)).argmax(1).numpy()
    assert (pred[:3] == 1).all()
    np.testing.assert_array_equal(out[2], pos[2])  # already in its region
    np.testing.assert_array_equal(out[3], pos[3])  # the region is 11 away, beyond max_move x scale = 3
    # the nearest point: on the first circle that meets the disc (distance 2 from the origin, rings 3/16 apart)
    move = np.linalg.norm(out[0] - pos[0])
    assert 2.0 <= move <= 2.0 + 3.0 / 16 + 1e-5
    assert np.linalg.norm(out[1] - pos[1]) <= np.linalg.norm(pos[1] - [3.0, 0.0]) - 1.0 + 3.0 / 16 + 1e-5


def test_reach_region_respects_the_margin_and_the_radius():
    pos = np.array([[0.0, 0.0]], np.float32)
    assert np.array_equal(reach_region(pos, [1], island, max_move=1.5), pos)  # the disc starts at 2
    out = reach_region(pos, [1], island, max_move=2.5, rings=10, margin=0.05)
    assert island(torch.as_tensor(out)).argmax(1).item() == 1
    assert reach_region(np.zeros((0, 2), np.float32), [], island, max_move=1.0).shape == (0, 2)


def test_prediction_targets_give_the_argmax_a_lead():
    logits = torch.tensor([[0.1, 0.0, -0.2], [5.0, 0.0, 0.0]])
    soft = prediction_targets(logits, 0.0)
    torch.testing.assert_close(soft, torch.softmax(logits, 1))
    sharp = prediction_targets(logits, 0.5)
    torch.testing.assert_close(sharp.sum(1), torch.ones(2))
    assert (sharp.argmax(1) == logits.argmax(1)).all()
    lead = sharp[0, 0] - sharp[0, 1:].max()
    assert lead >= 0.5 and soft[0, 0] - soft[0, 1:].max() < 0.05


def test_fit_with_reach_keeps_more_predictions_and_transform_agrees(tmp_path):
    """On a fitted run: the search raises PPR over the descent alone (same seed), only samples the descent
    left wrong move, and ``Projection.transform`` still gives back the test rows' drawn positions."""
    import tensorboard_dvi
    from conftest import make_run
    from engine_testdata import TINY
    from tensorboard_dvi.engine import EngineConfig, fit_run
    from tensorboard_dvi.engine.cache import RunCache
    from tensorboard_dvi.storage import RunReader
    run = str(tmp_path / "run")
    make_run(run, epochs=1, n_train=400, n_test=100, seed=3)
    # a weak decoder leaves samples outside their regions for the snapping to repair
    cfg = {**TINY, "decoder_min_steps": 20, "lambda_pred": 0.0, "transform_steps": 20}
    caches = {}
    for move in (0.0, 1.0):
        caches[move] = RunCache(str(tmp_path / f"c{move}"))
        fit_run(run, caches[move].cache_dir, config=EngineConfig(**cfg, snap_reach_move=move))
    off, on = caches[0.0].metrics(1), caches[1.0].metrics(1)
    assert on["ppr_train"] > off["ppr_train"] and on["ppr_test"] >= off["ppr_test"]
    proj = tensorboard_dvi.load_projection(run, 1, cache_dir=caches[1.0].cache_dir)
    emb_off, emb_on = caches[0.0].embedding(1), caches[1.0].embedding(1)
    reader = RunReader(run)
    te = np.nonzero(np.asarray(reader.static().split) == 1)[0]
    reps = np.asarray(reader.epoch(1).representations)
    spread = float(np.std(emb_on))
    assert np.allclose(proj.transform(reps[te]), emb_on[te], atol=1e-4 * spread + 1e-4)
    # the only training rows that moved are ones the descent had left outside their region, now inside it
    tr = np.nonzero(np.asarray(reader.static().split) == 0)[0]
    pred = np.asarray(reader.epoch(1).logits).argmax(1)[tr]
    was_wrong = tensorboard_dvi.load_projection(run, 1, cache_dir=caches[0.0].cache_dir).predict(emb_off[tr]) != pred
    moved = np.linalg.norm(emb_on[tr] - emb_off[tr], axis=1) > 1e-6
    assert moved.any() and not (moved & ~was_wrong).any()
    assert (proj.predict(emb_on[tr])[moved] == pred[moved]).all()
