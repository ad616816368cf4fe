"""The snapping (engine/consistency.py): samples on a region of another class move into their own;
with ``stop_margin`` they stop once they have crossed (eighth pass, docs/QUALITY_RESULTS.md)."""

import numpy as np
import torch

from tensorboard_dvi.engine.consistency import snap_to_prediction


def two_classes(q: torch.Tensor) -> torch.Tensor:
    """Class 1 right of x = 0, class 0 left of it; logits lead by 2|x|."""
    return torch.stack([-q[:, 0], q[:, 0]], dim=1)


def points():
    rng = np.random.default_rng(0)
    wrong = np.stack([rng.uniform(-0.6, -0.1, 20), rng.uniform(-1, 1, 20)], 1)   # class 1 drawn on class 0
    right = np.stack([rng.uniform(0.2, 1.0, 10), rng.uniform(-1, 1, 10)], 1)     # class 1 on class 1
    pos = np.concatenate([wrong, right]).astype(np.float32)
    return pos, np.ones(len(pos), np.int64)


def test_stop_margin_crosses_the_boundary_and_goes_no_deeper():
    pos, target = points()
    kw = dict(steps=40, lr=0.05, mu=0.15, max_move=1.0, scale=2.0)
    deep = snap_to_prediction(pos, target, two_classes, **kw)
    near = snap_to_prediction(pos, target, two_classes, stop_margin=0.05, **kw)
    # every wrong sample reaches its region either way (the PPR the snapping exists for)
    assert (deep[:, 0] > 0).all() and (near[:, 0] > 0).all()
    # samples already in their region do not move
    np.testing.assert_array_equal(near[20:], pos[20:])
    np.testing.assert_array_equal(deep[20:], pos[20:])
    # with the margin each stops just past the boundary: lead 2x >= 0.05, within one step of it
    lead = 2 * near[:20, 0]
    assert (lead >= 0.05).all()
    step = 0.05 * 1.0 * 2.0  # lr x max_move x scale: Adam's largest step per iteration
    assert (near[:20, 0] < 0.025 + 2 * step).all()
    move_near = np.linalg.norm(near[:20] - pos[:20], axis=1)
    move_deep = np.linalg.norm(deep[:20] - pos[:20], axis=1)
    assert (move_near <= move_deep + 1e-6).all() and move_near.mean() < 0.8 * move_deep.mean()


def test_stop_margin_leaves_unreachable_samples_in_place():
    pos, target = points()
    pos[0] = (-50.0, 0.0)  # cannot reach x > 0 within max_move x scale = 2
    kw = dict(steps=40, lr=0.05, mu=0.15, max_move=1.0, scale=2.0)
    out = snap_to_prediction(pos, target, two_classes, stop_margin=0.05, **kw)
    np.testing.assert_array_equal(out[0], pos[0])
    assert (out[1:20, 0] > 0).all()
