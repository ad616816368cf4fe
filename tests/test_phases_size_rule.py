"""umap-learn's size rule in the training phases (EngineConfig ``large_*``): above ``large_nodes``
nodes the encoder draws ``large_edges_factor`` x its edge samples, the decoder takes at most
``large_decoder_steps`` steps and the refinement ``refine_steps`` instead of ``refine_steps_small``;
warm-started epochs draw ``warm_edges_factor`` x the encoder's edge samples (``large_warm_edges_factor`` x
there), a run's first epoch ``cold_edges_factor`` x (``large_cold_edges_factor`` x and
``large_cold_refine_steps`` refinement steps there)."""

import numpy as np
import torch
from sklearn.datasets import load_digits

from tensorboard_dvi.engine import phases
from tensorboard_dvi.engine.complex import build_complex
from tensorboard_dvi.engine.config import EngineConfig
from tensorboard_dvi.engine.model import Visualizer


def _fit(monkeypatch, warm=False, start=False, **kw):
    draws, schedules = [], []
    real_sample, real_lrs = phases.sample_edges, phases.warmup_cosine_lrs
    monkeypatch.setattr(phases, "sample_edges", lambda w, n, g: draws.append(n) or real_sample(w, n, g))
    monkeypatch.setattr(phases, "warmup_cosine_lrs", lambda lr, n, w: schedules.append(n) or real_lrs(lr, n, w))
    torch.set_num_threads(1)
    x = load_digits().data[:300].astype(np.float32)
    cx = build_complex(x, np.zeros((0, x.shape[1]), np.float32), min_border=5)
    kw = {"large_cold_edges_factor": 1.0, "large_cold_refine_steps": None, **kw}  # the first epoch's rule: its own test
    cfg = EngineConfig(max_trainer_epochs=1, edges_per_node=2, decoder_epochs=1, decoder_min_steps=12,
                       decoder_batch=100, refine_steps_small=30, refine_steps=10, **kw)
    rep = phases.train_visualizer(Visualizer(x.shape[1], cfg.hidden), cx, cfg, device="cpu", seed=0, warm=warm,
                                  init_positions=torch.zeros((len(cx.nodes), 2)) if start else None)
    # schedules: the encoder's steps, then the decoder's
    return draws[0], schedules[1], rep["refine_steps"], len(cx.nodes)


def test_the_size_rule_acts_only_above_large_nodes(monkeypatch):
    small = _fit(monkeypatch, large_nodes=10_000, large_edges_factor=0.5, large_decoder_steps=7)
    n = small[3]
    assert small[:3] == (2 * n, 12, 30)       # 3 passes of 100 rows reach decoder_min_steps 12
    large = _fit(monkeypatch, large_nodes=n - 1, large_edges_factor=0.5, large_decoder_steps=7)
    assert large[:3] == (n, 9, 10)            # half the edges; passes capped at ceil(7 / 3) = 3 (9 steps)
    uncapped = _fit(monkeypatch, large_nodes=n - 1, large_edges_factor=1.0, large_decoder_steps=None)
    assert uncapped[:3] == (2 * n, 12, 10)


def test_warm_and_first_epochs_draw_their_own_share_of_the_encoder_edges(monkeypatch):
    n = _fit(monkeypatch, large_nodes=10_000)[3]
    shares = dict(warm_edges_factor=0.5, large_warm_edges_factor=0.125, cold_edges_factor=0.25)
    # up to large_nodes: warm_edges_factor, cold_edges_factor; above: the large_* shares instead (not on top)
    assert _fit(monkeypatch, warm=True, large_nodes=10_000, **shares)[0] == n
    assert _fit(monkeypatch, warm=True, large_nodes=n - 1, **shares)[0] == int(2 * n * 0.125)
    assert _fit(monkeypatch, large_nodes=10_000, **shares)[0] == int(2 * n * 0.25)
    assert _fit(monkeypatch, large_nodes=n - 1, **shares)[0] == 2 * n      # large_cold_edges_factor 1 (_fit's)
    # the defaults: the warm encoder draws 0.2 x up to large_nodes, 0.125 x above (docs/QUALITY_RESULTS.md)
    assert _fit(monkeypatch, warm=True, large_nodes=10_000)[0] == int(2 * n * 0.2)
    assert _fit(monkeypatch, warm=True, large_nodes=n - 1)[0] == int(2 * n * 0.125)


def test_cold_refine_lr_acts_only_where_the_refinement_starts_at_the_encoder(monkeypatch):
    """``cold_refine_lr`` (None: ``refine_lr``) is the refinement's rate without a start from the previous map."""
    lrs = []
    real = phases.refine_positions
    monkeypatch.setattr(phases, "refine_positions", lambda *a, **k: lrs.append(k["lr"]) or real(*a, **k))
    torch.set_num_threads(1)
    x = load_digits().data[:200].astype(np.float32)
    cx = build_complex(x, np.zeros((0, x.shape[1]), np.float32), min_border=5)

    def fit(start=None, **kw):
        cfg = EngineConfig(max_trainer_epochs=1, edges_per_node=2, decoder_epochs=1, decoder_min_steps=2,
                           refine_steps_small=5, refine_lr=0.05, **kw)
        phases.train_visualizer(Visualizer(x.shape[1], cfg.hidden), cx, cfg, device="cpu", seed=0,
                                init_positions=start)
        return lrs[-1]
    start = torch.zeros((len(cx.nodes), 2))
    assert fit() == 0.05 and fit(start) == 0.05
    assert fit(cold_refine_lr=0.2) == 0.2
    assert fit(start, cold_refine_lr=0.2) == 0.05



def test_a_large_first_epoch_draws_fewer_encoder_edges_and_refines_longer(monkeypatch):
    """Above ``large_nodes``, a cold epoch (no previous epoch, the refinement from the encoder's output) draws
    ``large_cold_edges_factor`` x the encoder's edges and refines ``large_cold_refine_steps`` steps; warm
    epochs, small complexes and a refinement started elsewhere keep the rule above."""
    n = _fit(monkeypatch, large_nodes=10_000)[3]
    cold = dict(large_cold_edges_factor=0.25, large_cold_refine_steps=17)
    assert _fit(monkeypatch, large_nodes=10_000, **cold)[::2] == (2 * n, 30)              # small: unchanged
    assert _fit(monkeypatch, large_nodes=n - 1, **cold)[::2] == (int(2 * n * 0.25), 17)    # large, cold
    assert _fit(monkeypatch, large_nodes=n - 1, large_edges_factor=0.5, **cold)[0] == int(2 * n * 0.5 * 0.25)
    assert _fit(monkeypatch, warm=True, large_nodes=n - 1, large_warm_edges_factor=0.5, **cold)[::2] == (n, 10)
    assert _fit(monkeypatch, large_nodes=n - 1, large_cold_edges_factor=1.0,
                large_cold_refine_steps=None)[::2] == (2 * n, 10)                          # off: refine_steps
    assert _fit(monkeypatch, large_nodes=n - 1, start=True, **cold)[2] == 10  # started at given positions
