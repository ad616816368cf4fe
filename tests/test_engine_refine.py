"""Per-sample refinement (engine/refine.py): boundary share, the layout it improves, offsets of
new points."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA

from tensorboard_dvi.engine import metrics as M
from tensorboard_dvi.engine.complex import build_complex
from tensorboard_dvi.engine.losses import UMAP_A, UMAP_B
from tensorboard_dvi.engine.refine import (interpolate, membership_weights, refine_positions, sampling_weights,
                                          stretch_moves)


def test_sampling_weights_give_the_boundary_complex_its_share():
    w = torch.tensor([1.0, 2.0, 3.0, 10.0, 20.0])
    for share in (0.1, 0.3, 0.8):
        out = sampling_weights(w, 3, share)
        assert float(out[3:].sum() / out.sum()) == pytest.approx(share, rel=1e-5)
        assert torch.equal(out[:3], w[:3])                      # spatial weights untouched
        assert torch.allclose(out[3:] / out[3], w[3:] / w[3])   # ratios inside the boundary kept
    assert torch.equal(sampling_weights(w, 3, None), w)
    assert torch.equal(sampling_weights(w, 5, 0.3), w)          # no boundary edges: nothing to rescale


def _umap_loss(p, cx, n_neg=20000, seed=0):
    """UMAP's cross-entropy of a layout: weighted attraction over all edges + repulsion of random pairs."""
    h, t, w = torch.as_tensor(cx.head), torch.as_tensor(cx.tail), torch.as_tensor(cx.weight)
    d2 = ((p[h] - p[t]) ** 2).sum(1)
    att = (w * torch.log1p(UMAP_A * d2 ** UMAP_B)).sum() / w.sum()
    g = torch.Generator().manual_seed(seed)
    i, j = torch.randint(0, len(p), (2, n_neg), generator=g)
    dn = ((p[i] - p[j]) ** 2).sum(1)
    rep = -torch.log((1 - 1 / (1 + UMAP_A * dn ** UMAP_B)).clamp_min(1e-4)).mean()
    return float(att + 5 * rep)


def test_refinement_improves_a_pca_layout_of_digits():
    x = load_digits().data.astype(np.float32)
    x = x[:800]
    cx = build_complex(x, np.zeros((0, x.shape[1]), np.float32), min_border=5)
    p0 = torch.as_tensor(PCA(2, random_state=0).fit_transform(x).astype(np.float32))
    p0 = p0 / p0.std() * 3  # the encoder's scale: a few units
    gen = torch.Generator().manual_seed(0)
    delta = refine_positions(p0, torch.as_tensor(cx.head), torch.as_tensor(cx.tail),
                             torch.as_tensor(cx.weight), steps=150, edges_per_step=5000, lr=0.05,
                             negative_sample_rate=5, generator=gen)
    p = p0 + delta
    nn_before = M.nn_preservation(x, p0.numpy(), 15)
    nn_after = M.nn_preservation(x, p.numpy(), 15)
    assert nn_after > nn_before + 1.0, (nn_before, nn_after)
    assert _umap_loss(p, cx) < _umap_loss(p0, cx)
    # same seed, same offsets
    delta2 = refine_positions(p0, torch.as_tensor(cx.head), torch.as_tensor(cx.tail),
                              torch.as_tensor(cx.weight), steps=150, edges_per_step=5000, lr=0.05,
                              negative_sample_rate=5, generator=torch.Generator().manual_seed(0))
    assert torch.equal(delta, delta2)


def test_more_repulsion_spreads_points_apart_locally():
    """``repulsion`` (config ``refine_repulsion``) scales the negative samples' force: the same
    graph, steps and random stream give a layout whose points sit further from their nearest
    2-D neighbour relative to the layout's overall spread."""
    x = load_digits().data.astype(np.float32)[:600]
    cx = build_complex(x, np.zeros((0, x.shape[1]), np.float32), min_border=5)
    p0 = torch.as_tensor(PCA(2, random_state=0).fit_transform(x).astype(np.float32))
    p0 = p0 / p0.std() * 3

    def spacing(rep):
        p = p0 + refine_positions(p0, torch.as_tensor(cx.head), torch.as_tensor(cx.tail),
                                  torch.as_tensor(cx.weight), steps=150, edges_per_step=4000, lr=0.05,
                                  negative_sample_rate=5, generator=torch.Generator().manual_seed(0),
                                  repulsion=rep)
        p = p.numpy()
        d = np.linalg.norm(p[:, None] - p[None], axis=2)
        np.fill_diagonal(d, np.inf)
        return float(np.median(d.min(1)) / p.std())

    assert spacing(2.5) > 1.2 * spacing(1.0)


def test_refinement_warm_starts_from_given_offsets_and_zero_steps_keeps_them():
    p0 = torch.zeros(4, 2)
    off = torch.arange(8, dtype=torch.float32).view(4, 2)
    out = refine_positions(p0, torch.tensor([0, 1]), torch.tensor([1, 0]), torch.tensor([1.0, 1.0]), steps=0,
                           edges_per_step=2, lr=0.1, negative_sample_rate=1, generator=torch.Generator(),
                           offsets=off)
    assert torch.equal(out, off)


def test_interpolate_is_a_membership_weighted_mean():
    values = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], np.float32)
    idx = np.array([[0, 1, 2], [1, 2, 0]])
    dist = np.array([[0.1, 5.0, 5.0], [1.0, 1.0, 1.0]], np.float32)
    w = membership_weights(dist)
    assert np.allclose(w.sum(1), 1.0)
    # UMAP's memberships: the nearest neighbour 1, all k summing to log2(k) before normalising
    assert w[0, 0] == pytest.approx(1 / np.log2(3), rel=1e-3)
    assert w[0, 1] == pytest.approx(w[0, 2]) and w[0, 1] < w[0, 0]
    assert np.allclose(w[1], 1 / 3)      # equidistant neighbours count the same
    out = interpolate(values, idx, dist)
    assert np.allclose(out[1], values.mean(0), atol=1e-5)
    assert np.allclose(out[0], (w[0][:, None] * values[idx[0]]).sum(0), atol=1e-6)
    const = np.full((3, 2), 2.5, np.float32)
    assert np.allclose(interpolate(const, idx, dist), 2.5)


def test_warm_refinement_steps_scale_with_how_much_the_graph_changed():
    from tensorboard_dvi.engine.config import EngineConfig
    from tensorboard_dvi.engine.model import Visualizer
    from tensorboard_dvi.engine.phases import train_visualizer
    x = load_digits().data[:300].astype(np.float32)
    cx = build_complex(x, np.zeros((0, x.shape[1]), np.float32), min_border=5)
    cfg = EngineConfig(refine_steps_small=40, max_trainer_epochs=1, edges_per_node=2, decoder_min_steps=5,
                       decoder_epochs=1, warm_refine_min=0.25)
    init = torch.zeros(len(cx.nodes), 2)
    steps = {}
    for change in (0.1, 0.5, None):
        model = Visualizer(x.shape[1], cfg.hidden)
        rep = train_visualizer(model, cx, cfg, device="cpu", seed=0, warm=True, init_positions=init,
                               graph_change=change)
        steps[change] = rep["refine_steps"]
        assert set(rep["timings"]) == {"encoder", "refine", "decoder"}
    # floor of 25 % when little changed, half the steps when half the neighbourhoods changed, all without NPR
    assert steps == {0.1: 10, 0.5: 20, None: 40}


def test_alias_table_gives_each_edge_its_share_of_the_draws():
    from tensorboard_dvi.engine.sampling import alias_draw_strided, alias_probabilities, alias_table
    g = torch.Generator().manual_seed(0)
    for m in (1, 2, 7, 300):
        w = torch.rand(m, generator=g) ** 3 * 10
        w[torch.rand(m, generator=g) < 0.2] = 0.0
        w[0] = 5.0
        accept, alias = alias_table(w)
        exact = alias_probabilities(accept, alias)               # what the table draws, in closed form
        assert torch.allclose(exact, w.double() / w.double().sum(), atol=1e-6), m
    w = torch.tensor([1.0, 2.0, 7.0, 0.0, 0.5])
    table = alias_table(w)
    idx = torch.cat([alias_draw_strided(*table, 5, g) for _ in range(40000)])
    freq = torch.bincount(idx, minlength=5).double() / len(idx)
    assert torch.allclose(freq, w.double() / w.sum(), atol=0.005)  # sampled, not only tabulated
    assert freq[3] == 0 and freq[2] > freq[0] * 5                  # zero weight never drawn; heavy edges more
    with pytest.raises(ValueError, match="weights"):
        alias_table(torch.tensor([0.0, 0.0]))
    with pytest.raises(ValueError, match="weights"):
        alias_table(torch.tensor([1.0, -1.0]))


def test_stretch_moves_lengthens_short_moves_of_mobile_rows_along_their_direction():
    g = torch.Generator().manual_seed(0)
    prev = torch.randn(200, 2, generator=g)
    v = torch.randn(200, 2, generator=g) * 0.1
    mob = torch.rand(200, generator=g) * 0.9 + 0.05
    pos = torch.cat([prev[:150] + v[:150], prev[150:] + 5.0])  # rows from 150: border points
    out = stretch_moves(pos, prev, mob, 150, 0.5, cap=1e9)
    before, after = (pos - prev)[:150], (out - prev)[:150]
    lb, la = before.norm(dim=1), after.norm(dim=1)
    assert torch.all(la >= lb - 1e-6)  # never shortened
    # the direction is kept
    cos = (before * after).sum(1) / (lb * la)
    assert torch.all(cos > 1 - 1e-5)
    grown = la > lb * (1 + 1e-4)
    assert 0 < int(grown.sum()) < 150
    # the rows that grew reach |v|^(1-p) * target^p with target = mob * mean|v| / mean mob
    target = mob[:150] * lb.mean() / mob[:150].mean()
    np.testing.assert_allclose(la[grown].numpy(), (lb.sqrt() * target.sqrt())[grown].numpy(), rtol=1e-4)
    # the moves' lengths follow mobility more closely than before
    r = lambda a: float(np.corrcoef(a.numpy(), mob[:150].numpy())[0, 1])
    assert r(la) > r(lb) + 0.1
    assert torch.equal(out[150:], pos[150:])  # border points untouched
    assert torch.equal(stretch_moves(pos, prev, mob, 150, 0.0, cap=1e9), pos)
    # the cap: no row is moved on by more than cap x its distance to its 15th nearest row
    from scipy.spatial import cKDTree
    local = torch.as_tensor(cKDTree(pos[:150].numpy()).query(pos[:150].numpy(), k=16)[0][:, -1], dtype=pos.dtype)
    capped = stretch_moves(pos, prev, mob, 150, 0.5, cap=0.1)
    extra = (capped - pos)[:150].norm(dim=1)
    assert torch.all(extra <= 0.1 * local + 1e-6)
    assert bool((extra > 0.1 * local - 1e-6).any())  # the cap binds somewhere
    assert torch.all(extra <= (out - pos)[:150].norm(dim=1) + 1e-6)
    # with the map's shift after it (drift.py), the extra length goes along the drawn move v + shift:
    # that move grows by exactly the extra, also for rows moving against the shift (along v they would shrink)
    shift = torch.tensor([0.3, 0.0])
    along = stretch_moves(pos, prev, mob, 150, 0.5, cap=1e9, shift=shift)
    drawn_before, drawn_after = (pos - prev)[:150] + shift, (along - prev)[:150] + shift
    extra_s = (along - pos)[:150].norm(dim=1)
    np.testing.assert_allclose(extra_s.numpy(), (out - pos)[:150].norm(dim=1).numpy(), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(drawn_after.norm(dim=1).numpy(), (drawn_before.norm(dim=1) + extra_s).numpy(),
                               rtol=1e-5, atol=1e-6)
    against = (before[:, 0] < 0) & grown  # rows moving against the shift that were lengthened
    assert bool(against.any())
    assert torch.all(((out - prev)[:150] + shift).norm(dim=1)[against] < drawn_after.norm(dim=1)[against])


def _forces_reference(p, h, t, neg, rep):
    """The sampled gradient pair by pair in float64 numpy (np.add.at), for SampledForces."""
    p = p.astype(np.float64)
    a, b = UMAP_A, UMAP_B
    g = np.zeros_like(p)
    dv = p[h] - p[t]
    d2 = (dv ** 2).sum(1) + 1e-12
    f = (2 * a * b * d2 ** (b - 1) / (1 + a * d2 ** b))[:, None] * dv
    np.add.at(g, h, f)
    np.add.at(g, t, -f)
    for q in neg:                                  # one row of negatives per draw of the edges
        dn = p[h] - p[q]
        d2n = (dn ** 2).sum(1)
        fn = (-2 * rep * b / ((1e-3 + d2n) * (1 + a * (d2n + 1e-12) ** b)))[:, None] * dn
        np.add.at(g, h, fn)
        np.add.at(g, q, -fn)
    return g


def test_sampled_forces_match_a_pair_by_pair_reference():
    from tensorboard_dvi.engine.refine import SampledForces
    rng = np.random.default_rng(3)
    n, c, k = 40, 300, 5
    p = rng.normal(size=(n, 2)).astype(np.float32)
    h, t = rng.integers(0, n, c), rng.integers(0, n, c)
    neg = rng.integers(0, n, (k, c))
    forces = SampledForces(n, c, k, torch.float32, "cpu")
    for rep, shift in ((1.0, 0), (0.3, 17)):
        # negative j is node (neg[j] + shift) mod n (NegativeDraws' window and shift)
        got = forces(torch.as_tensor(p), torch.as_tensor(h), torch.as_tensor(t), torch.as_tensor(neg.reshape(-1)),
                     shift, rep)
        want = _forces_reference(p, h, t, (neg + shift) % n, rep)
        assert got.shape == (n, 2)
        np.testing.assert_allclose(got.numpy(), want, rtol=2e-4, atol=2e-4 * np.abs(want).max())


def test_negative_draws_are_uniform_over_the_nodes_at_every_step():
    from tensorboard_dvi.engine.refine import NegativeDraws
    n, length, steps = 7, 700, 400
    draws = NegativeDraws(n, length, steps, torch.Generator().manual_seed(0), "cpu")
    counts, firsts = np.zeros(n), np.zeros(n)
    for _ in range(steps):
        window, shift = draws.next()
        assert window.min() >= 0 and window.max() < n and len(window) == length and 0 <= shift < n
        idx = (window.numpy() + shift) % n
        counts += np.bincount(idx, minlength=n)
        firsts[idx[0] % n] += 1                        # one slot across steps: the shifts spread it too
    assert np.abs(counts / counts.sum() * n - 1).max() < 0.02
    assert np.abs(firsts / steps * n - 1).max() < 0.5


def test_strided_alias_draws_keep_each_edges_expected_count():
    from tensorboard_dvi.engine.sampling import alias_draw_strided, alias_table
    g = torch.Generator().manual_seed(1)
    w = torch.rand(500, generator=g) ** 4
    w[::7] = 0.0
    accept, alias = alias_table(w)
    count, steps = 120, 4000
    hits = torch.zeros(500, dtype=torch.float64)
    for _ in range(steps):
        idx = alias_draw_strided(accept, alias, count, g)
        assert len(idx) == count and idx.dtype == torch.int64
        hits += torch.bincount(idx, minlength=500)
    want = count * steps * w.double() / w.sum()
    assert hits[::7].sum() == 0                                        # zero weight: never drawn
    # each edge its own share: within 5 sampling standard deviations (Poisson's) of it, every one of 500
    assert torch.all((hits - want).abs() <= 5 * want.sqrt() + 1)
    assert float((hits - want).abs().max()) > 0                        # sampled, not tabulated
    assert abs(float(hits.sum()) - count * steps) < 1e-9
    # every step covers the whole table: both halves get their share at every single step
    idx = alias_draw_strided(accept, alias, count, g)
    share = float(w[:250].sum() / w.sum())
    assert abs(float((idx < 250).double().mean()) - share) < 0.2
    with pytest.raises(ValueError, match="count"):
        alias_draw_strided(accept, alias, 501, g)
