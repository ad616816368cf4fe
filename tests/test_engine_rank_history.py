"""The rank terms against a sample's earlier epochs (engine/rank_history.py)."""

import numpy as np
import pytest
import torch

from tensorboard_dvi.engine import metrics as M
from tensorboard_dvi.engine import rank_history as RH


def _pearson(d, z):
    dc = d - d.mean(0, keepdim=True)
    return (dc / dc.pow(2).mean(0, keepdim=True).sqrt() * z).mean(0)


def _history(h=5, n=40, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    high = np.cumsum(rng.normal(size=(h + 1, n, dim)), axis=0).astype(np.float32)   # random walks
    dist = np.linalg.norm(high[:, None] - high[None, :], axis=3).astype(np.float32)
    pos = rng.normal(size=(h, n, 2)).astype(np.float32)
    npr = rng.uniform(0.2, 0.9, size=(h, n)).astype(np.float32)
    return pos, dist, npr, rng


def test_the_gradient_is_that_of_the_stated_objective():
    pos, dist, npr, rng = _history()
    h = len(pos)
    rh = RH.RankHistory(pos, dist, npr, npr_weight=0.7, shift=np.array([0.3, -0.2]))
    y = torch.tensor(rng.normal(size=(pos.shape[1], 2)).astype(np.float32), requires_grad=True)
    prev = torch.tensor(pos)
    yd = y + torch.tensor([0.3, -0.2])
    dh = torch.tensor(dist)
    terms = [_pearson(torch.linalg.vector_norm(yd[None] - prev, dim=2), RH._rank_z(dh[h, :h]))]
    for a in range(h):
        others = [b for b in range(h) if b != a]
        d = torch.cat([torch.linalg.vector_norm(prev[others] - prev[a][None], dim=2),
                       torch.linalg.vector_norm(yd - prev[a], dim=1)[None]], 0)
        terms.append(_pearson(d, RH._rank_z(torch.cat([dh[a, others], dh[a, h][None]], 0))))
    steps = torch.cat([torch.linalg.vector_norm(prev[1:] - prev[:-1], dim=2),
                       torch.linalg.vector_norm(yd - prev[-1], dim=1)[None]], 0)
    z = torch.tensor(npr)
    z = (z - z.mean(0)) / z.std(0, unbiased=False)
    loss = -torch.stack(terms).mean(0).sum() + 0.7 * _pearson(steps, z).sum()
    loss.backward()
    np.testing.assert_allclose(rh.grad(y.detach()).numpy(), y.grad.numpy(), rtol=1e-3, atol=1e-5)


def test_descending_it_ranks_the_earlier_epochs_as_the_representations_do():
    pos, dist, _, rng = _history(h=6, n=200)
    h = len(pos)
    rh = RH.RankHistory(pos, dist, None, npr_weight=0.0)
    y = torch.tensor(pos[-1] + rng.normal(scale=0.3, size=pos[-1].shape).astype(np.float32))

    def spearman(y):
        d_low = np.linalg.norm(y.numpy()[None] - pos, axis=2)
        return float(np.mean(M._pearson_rows(M._ranks(dist[h, :h].T), M._ranks(d_low.T))))

    before = spearman(y)
    for i in range(300):
        g = rh.grad(y)
        y -= 0.1 * (1 - i / 300) * g / g.norm(dim=1, keepdim=True).clamp_min(1e-9)
    assert spearman(y) > before + 0.1, (before, spearman(y))


def test_a_sample_that_did_not_move_has_no_order_to_keep():
    pos, dist, _, rng = _history()
    dist[:, :, :10] = 0.0          # the first ten samples' representations never changed
    rh = RH.RankHistory(pos, dist, None, npr_weight=0.0)
    g = rh.grad(torch.tensor(rng.normal(size=(pos.shape[1], 2)).astype(np.float32)))
    assert torch.all(g[:10] == 0) and torch.any(g[10:] != 0)


def test_too_short_a_history_or_the_terms_off_give_nothing_to_add():
    class Cfg:
        rank_steps, rank_history, rank_npr = 200, 8, 0.5

    class Cache:
        def epoch_info(self, e):
            return {"prev_epoch": e - 1 if e > 1 else None}

    assert RH.chain(Cache(), 5, 3) == [3, 4, 5]
    assert RH.chain(Cache(), 2, 8) == [1, 2]
    assert RH.build(None, Cache(), 1, np.zeros((4, 2)), None, np.arange(4), Cfg()) is None   # one earlier epoch
    Cfg.rank_steps = 0
    assert RH.build(None, Cache(), 5, np.zeros((4, 2)), None, np.arange(4), Cfg()) is None


def test_the_smoother_shares_a_gradient_with_the_neighbours_only():
    # two groups of three training rows (a chain 0-1-2 and a pair 3-4), row 5 unlinked, and node 6
    # (a border point) linked to row 0: it must not leak into the rows' gradients
    head = torch.tensor([0, 1, 1, 2, 3, 4, 6, 0])
    tail = torch.tensor([1, 0, 2, 1, 4, 3, 0, 6])
    share = RH.smoother(head, tail, torch.ones(8), 6, alpha=0.5, iters=1)
    g = torch.zeros(6, 2)
    g[0, 0] = 1.0
    out = share(g)
    assert out[0, 0] == 0.5 and out[1, 0] == 0.25 and out[2, 0] == 0.0      # half kept, a quarter to row 1
    assert torch.all(out[3:] == 0) and torch.all(out[:, 1] == 0)
    assert torch.allclose(share(torch.ones(6, 2)), torch.ones(6, 2))          # a uniform push stays as it is
    assert RH.smoother(head, tail, torch.ones(8), 6, alpha=0.0, iters=2) is None


def test_a_fitted_run_keeps_more_of_each_samples_history_with_the_terms(tmp_path):
    # blobs whose samples random-walk a little every epoch: with the rank terms the drawn distances to a
    # sample's earlier places follow its high-D ones better (tr, the evaluator's measure) than without
    from engine_testdata import TINY, FakeReader, blobs_run
    from tensorboard_dvi.engine import EngineConfig, fit_run
    from tensorboard_dvi.engine.cache import RunCache

    labels, split, epochs = blobs_run(epochs=(1, 2, 3, 4, 5), drift=0.5)
    tr = {}
    for name, kw in (("on", {}), ("off", {"rank_steps": 0})):
        torch.manual_seed(0)
        fit_run(FakeReader(labels, split, epochs), str(tmp_path / name), config=EngineConfig(**{**TINY, **kw}))
        tr[name] = RunCache(str(tmp_path / name)).run_metrics()["tr"]
    assert tr["on"] > tr["off"] + 0.05, tr


def test_a_term_that_reached_its_goal_stops_pushing_and_one_far_from_it_pushes_in_full():
    pos, dist, npr, rng = _history(h=5, n=60, seed=3)
    y = torch.tensor(rng.normal(size=(pos.shape[1], 2)).astype(np.float32))    # no order: means near 0
    free = RH.RankHistory(pos, dist, npr, npr_weight=0.7).grad(y)
    far = RH.RankHistory(pos, dist, npr, npr_weight=0.7, goal=0.85, npr_goal=-0.45).grad(y)
    np.testing.assert_allclose(far.numpy(), free.numpy(), rtol=1e-5, atol=1e-7)
    reached = RH.RankHistory(pos, dist, npr, npr_weight=0.7, goal=-1.0, npr_goal=1.0).grad(y)
    assert float(free.abs().max()) > 0 and float(reached.abs().max()) == 0.0
    # only the step-NPR term reached its goal: what is left is the rank terms' gradient
    ranks_only = RH.RankHistory(pos, dist, None, npr_weight=0.0).grad(y)
    no_npr = RH.RankHistory(pos, dist, npr, npr_weight=0.7, npr_goal=1.0).grad(y)
    np.testing.assert_allclose(no_npr.numpy(), ranks_only.numpy(), rtol=1e-5, atol=1e-7)


def test_the_fade_is_linear_over_the_ramp_below_the_goal():
    def fade(mean, goal, sign=1.0):          # the means arrive as 0-d tensors (no device sync per step)
        return float(RH._fade(torch.tensor(mean, dtype=torch.float64), goal, sign))
    assert fade(0.5, 0.85) == 1.0 and fade(0.9, 0.85) == 0.0
    assert abs(fade(0.80, 0.85) - 0.5) < 1e-9
    assert abs(fade(-0.40, -0.45, -1.0) - 0.5) < 1e-9 and fade(-0.6, -0.45, -1.0) == 0.0
    assert RH._fade(None, 0.85) == 1.0


def test_each_earlier_epochs_list_fades_by_its_own_mean():
    """The lists are computed all at once (only this epoch's row moves); each still fades by its own mean:
    the same gradient as a per-list Pearson over its whole column, each list faded on its own."""
    pos, dist, npr, rng = _history(h=6, n=80, seed=5)
    h = len(pos)
    y = torch.tensor(pos[-1] + rng.normal(scale=0.3, size=pos[-1].shape).astype(np.float32))  # some order
    prev, dh = torch.tensor(pos), torch.tensor(dist)
    diff = y[None] - prev
    d_now = torch.linalg.vector_norm(diff, dim=2)
    unit = diff / d_now.unsqueeze(2)
    equal = torch.full((1, len(y)), 1.0 / len(y))
    lists = [(d_now, RH._rank_z(dh[h, :h]), None)]            # this epoch as the anchor, then each earlier one
    for a in range(h):
        others = [b for b in range(h) if b != a]
        lists.append((torch.cat([torch.linalg.vector_norm(prev[others] - prev[a][None], dim=2), d_now[a][None]], 0),
                      RH._rank_z(torch.cat([dh[a, others], dh[a, h][None]], 0)), a))
    means = [float(RH._pearson_grad(d, z, equal)[1]) for d, z, _ in lists]
    goal = float(np.median(means)) + 0.05                      # some lists past it, some on the ramp, some short
    want, fades = torch.zeros_like(y), []
    for d, z, a in lists:
        dd, mean = RH._pearson_grad(d, z, equal)
        fades.append(float(RH._fade(mean, goal)))
        want -= fades[-1] * ((dd.unsqueeze(2) * unit).sum(0) if a is None else dd[-1].unsqueeze(1) * unit[a])
    want /= h + 1
    assert len(set(round(f, 3) for f in fades)) > 2, fades      # the lists fade differently
    got = RH.RankHistory(pos, dist, None, npr_weight=0.0, goal=goal).grad(y)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-3, atol=1e-6)


def test_the_rank_steps_reuse_their_gradient_and_draw_their_share_of_the_edges(monkeypatch):
    """``rank_grad_every`` k: the rank gradient is computed on every k-th rank step and reused in between;
    ``rank_edges_factor``: a rank step draws that share of a refinement step's edges, and the terms'
    unit (rank_weight x edges per step / rows) follows it."""
    from sklearn.datasets import load_digits
    from tensorboard_dvi.engine import phases
    from tensorboard_dvi.engine.complex import build_complex
    from tensorboard_dvi.engine.config import EngineConfig
    from tensorboard_dvi.engine.model import Visualizer

    x = load_digits().data[:200].astype(np.float32)
    cx = build_complex(x, np.zeros((0, x.shape[1]), np.float32), min_border=5)
    n = cx.n_train

    class Rank:  # a constant gradient; counts its calls
        calls = 0

        def grad(self, p):
            Rank.calls += 1
            return torch.ones(n, 2)

    real = phases.refine_positions
    seen = []

    def spy(*a, **kw):
        if kw.get("extra_grad") is not None:
            eg = kw["extra_grad"]
            kw["extra_grad"] = lambda p: seen.append(eg(p)) or seen[-1]
            seen.append(kw["edges_per_step"])
        return real(*a, **kw)
    monkeypatch.setattr(phases, "refine_positions", spy)
    base = dict(max_trainer_epochs=1, edges_per_node=2, decoder_epochs=1, decoder_min_steps=4, refine_steps_small=10,
                rank_steps=9, rank_smooth=0.0, border_place_steps=0, border_moves_sweeps=0)
    out = {}
    for every, share in ((1, 1.0), (3, 0.5)):
        Rank.calls, seen[:] = 0, []
        cfg = EngineConfig(rank_grad_every=every, rank_edges_factor=share, **base)
        phases.train_visualizer(Visualizer(x.shape[1], cfg.hidden), cx, cfg, device="cpu", seed=0, warm=True,
                                init_positions=torch.zeros((len(cx.nodes), 2)), rank=Rank())
        edges, grads = seen[0], seen[1:]
        out[every] = (Rank.calls, edges, float(grads[0][0, 0]))
        assert len(grads) == 9 and all(torch.equal(g, grads[0]) for g in grads)
    full_edges = int(cfg.refine_edges_per_node * len(cx.nodes))
    assert out[1] == (9, full_edges, pytest.approx(cfg.rank_weight * full_edges / n))
    assert out[3] == (3, int(full_edges * 0.5), pytest.approx(cfg.rank_weight * int(full_edges * 0.5) / n))


def test_every_returns_the_last_value_between_calls():
    from tensorboard_dvi.engine.phases import every
    vals = iter(range(100))
    f = every(lambda p: next(vals), 3)
    assert [f(None) for _ in range(7)] == [0, 0, 0, 1, 1, 1, 2]
    g = lambda p: p
    assert every(g, 1) is g
