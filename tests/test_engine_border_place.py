"""Border points placed by their training rows' neighbour lists (engine/border_place.py)."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from engine_testdata import TINY, FakeReader, blobs_run
from tensorboard_dvi.engine import EngineConfig, fit_run
from tensorboard_dvi.engine import metrics as M
from tensorboard_dvi.engine.border_place import _grad, place_border, place_in_layout
from tensorboard_dvi.engine.cache import RunCache
from tensorboard_dvi.engine.complex import knn_exact
from tensorboard_dvi.engine.model import Visualizer
from tensorboard_dvi.scoring import normalised_margin


def test_closed_form_gradient_matches_autograd():
    g = torch.Generator().manual_seed(0)
    y, z = torch.randn(300, 2, generator=g), torch.randn(40, 2, generator=g).requires_grad_(True)
    knn = torch.stack([torch.randperm(40, generator=g)[:15] for _ in range(300)])
    scale = 0.3
    logit = -torch.log1p(torch.cdist(y, z).pow(2) / scale)
    loss = -(logit.gather(1, knn).mean(1) - torch.logsumexp(logit, 1)).mean()
    loss.backward()
    assert torch.allclose(_grad(y, z.detach(), knn, scale, 15), z.grad, atol=1e-6, rtol=1e-4)


def _digits_case():
    """Digits' PCA layout as the fixed training positions; border points = midpoints of rows of two
    classes (as mixup finds them), drawn first at the mean of their rows' 2-D positions."""
    x = load_digits().data.astype(np.float32)[:600]
    y = load_digits().target[:600]
    rng = np.random.RandomState(0)
    a = rng.randint(0, 600, 400)
    b = rng.randint(0, 600, 400)
    keep = y[a] != y[b]
    a, b = a[keep][:150], b[keep][:150]
    border = 0.5 * (x[a] + x[b])
    pos = PCA(2, random_state=0).fit_transform(x).astype(np.float32)
    start = 0.5 * (pos[a] + pos[b])
    return x, border, pos, start


def test_placement_raises_boundary_nn_and_keeps_the_training_rows():
    x, border, pos, start = _digits_case()
    knn, _ = knn_exact(x, border, 15)
    before = M.boundary_nn(x, border, pos, start, 15)
    train = torch.as_tensor(pos)
    placed = place_border(train, torch.as_tensor(start), knn, steps=50)
    after = M.boundary_nn(x, border, pos, placed.numpy(), 15)
    assert after > before + 1.0, (before, after)       # 5.5 -> 7.0 when written
    assert torch.equal(train, torch.as_tensor(pos))          # the training rows are not moved
    assert torch.equal(place_border(train, torch.as_tensor(start), knn, steps=0), torch.as_tensor(start))


def test_subsampled_steps_are_reproducible_and_still_help():
    x, border, pos, start = _digits_case()
    knn, _ = knn_exact(x, border, 15)
    before = M.boundary_nn(x, border, pos, start, 15)
    # 2,000 elements per step: 256 of the 600 rows per step
    run = [place_border(torch.as_tensor(pos), torch.as_tensor(start), knn, steps=50, elements_per_step=2000,
                        generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(run[0], run[1])
    assert M.boundary_nn(x, border, pos, run[0].numpy(), 15) > before + 1.0
    # ``sampled_steps`` replaces ``steps`` only where a step reads a subset of the rows
    kw = dict(steps=50, sampled_steps=0, generator=torch.Generator().manual_seed(3))
    assert torch.equal(place_border(torch.as_tensor(pos), torch.as_tensor(start), knn, elements_per_step=2000, **kw),
                       torch.as_tensor(start))
    full = place_border(torch.as_tensor(pos), torch.as_tensor(start), knn, elements_per_step=None, **kw)
    assert M.boundary_nn(x, border, pos, full.numpy(), 15) > before + 1.0


def test_the_kernel_whose_trial_keeps_more_border_neighbours_places_them():
    x, border, pos, start = _digits_case()
    knn, _ = knn_exact(x, border, 15)
    cx = SimpleNamespace(nodes=np.concatenate([x, border]), n_train=len(pos), n_border=len(border), border_knn=knn)
    nodes = torch.as_tensor(np.concatenate([pos, start]))
    kernels = ((1.0, 0.05), (2.0, 0.05), (1.0, 1.0))
    single = {}
    for dof, temp in kernels:
        out, chosen = place_in_layout(nodes, cx, EngineConfig(border_place_dof=dof, border_place_temp=temp,
                                                              border_place_kernels=(), border_moves_sweeps=0),
                                      0, False)
        assert chosen["trials"] is None and chosen["kept"] is None and (chosen["dof"], chosen["temp"]) == (dof, temp)
        assert torch.equal(out[:len(pos)], nodes[:len(pos)])          # the training rows are not moved
        single[(dof, temp)] = out[len(pos):]
    score = {k: M.boundary_nn(x, border, pos, z.numpy(), 15) for k, z in single.items()}
    assert max(score.values()) > min(score.values()) + 0.2, score   # the kernels differ here
    order = [(1.0, 1.0), (1.0, 0.05), (2.0, 0.05)]                  # the base kernel first
    best = max(score, key=score.get)
    for trial in (1.0, 0.2):
        out, chosen = place_in_layout(nodes, cx, EngineConfig(border_place_dof=1.0, border_place_temp=1.0,
                                                              border_place_kernels=kernels[:2],
                                                              border_place_trial=trial, border_moves_sweeps=0),
                                      0, False)
        # every kernel tried; the best try's kernel places the points (a short trial: again with all the steps)
        assert len(chosen["trials"]) == 3
        picked = order[int(np.argmax(chosen["trials"]))]
        assert (chosen["dof"], chosen["temp"]) == picked == best, (trial, chosen, score)
        assert torch.equal(out[len(pos):], single[best])
        assert chosen["kept"] == pytest.approx(score[best])
    # off: the positions as they were, nothing chosen
    out, chosen = place_in_layout(nodes, cx, EngineConfig(border_place_steps=0), 0, False)
    assert chosen is None and torch.equal(out, nodes)


def _decode(cache, e, pts):
    """The epoch's stored decoder on 2-D points (as load_projection builds it)."""
    state = torch.load(cache.state_path(e), map_location="cpu", weights_only=True)
    info = cache.epoch_info(e)
    model = Visualizer(int(state["center"].shape[0]), info["config"]["hidden"], info["config"].get("decoder_hidden"))
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        return model.decoder(torch.as_tensor(pts, dtype=torch.float32)).numpy()


def test_fit_places_the_border_points_before_the_decoder_learns_them(tmp_path):
    steps = EngineConfig().border_place_steps
    assert steps > 0                                              # on by default
    labels, split, epochs = blobs_run(epochs=(1,))
    caches = {}
    for name, s in (("off", 0), ("on", steps)):
        fit_run(FakeReader(labels, split, epochs), str(tmp_path / name),
                config=EngineConfig(**{**TINY, "border_place_steps": s}))
        caches[name] = RunCache(str(tmp_path / name))
    off, on = caches["off"], caches["on"]
    # the training rows keep their refined places (only the snapping, which asks the decoder, may differ)
    tr = split == 0
    same = np.all(off.embedding(1)[tr] == on.embedding(1)[tr], axis=1).mean()
    assert same > 0.8, same
    assert abs(on.metrics(1)["nn_15"] - off.metrics(1)["nn_15"]) < 0.3
    assert on.metrics(1)["boundary_nn_15"] > off.metrics(1)["boundary_nn_15"] + 0.5
    # the decoder learns the border points where they were placed: decoded from their stored places
    # they come back as border points of the head (its top-1 - top-2 margin small) with or without the
    # placement. Whether the placement lowers that margin is a real-data effect (text_docs 0.195 -> 0.175);
    # on these blobs it went either way (3 of 6 engine seeds lower, before and after the refinement's
    # strided draws: docs/QUALITY_RESULTS.md, "Sixteenth pass"), so it is not asserted here.
    pos_on, rows = on.border_embedding(1)
    pos_off, rows_off = off.border_embedding(1)
    assert np.array_equal(rows, rows_off) and not np.allclose(pos_on, pos_off)
    head = epochs[1][1]
    rows_margin = float(normalised_margin(head(torch.as_tensor(epochs[1][0][:len(labels)][tr])).numpy()).mean())
    for c in caches.values():
        decoded = float(normalised_margin(head(torch.as_tensor(_decode(c, 1, c.border_embedding(1)[0]))).numpy()).mean())
        assert decoded < 0.5 * rows_margin, (decoded, rows_margin)


def test_large_complexes_are_left_alone_unless_asked(tmp_path):
    labels, split, epochs = blobs_run(epochs=(1,))
    runs = {}
    # 240 training rows + 40 border points: "large" above 100 nodes
    for name, kw in (("off", {"border_place_steps": 0}), ("default", {}), ("asked", {"border_place_large": True})):
        fit_run(FakeReader(labels, split, epochs), str(tmp_path / name),
                config=EngineConfig(**{**TINY, "large_nodes": 100, **kw}))
        runs[name] = RunCache(str(tmp_path / name)).border_embedding(1)[0]
    assert np.array_equal(runs["off"], runs["default"])
    assert not np.array_equal(runs["off"], runs["asked"])
