"""The D-wide layers trained in a subspace (engine/subspace.py): the basis, the layers' round trip, and a
reduced decoder step that is the full step restricted to the span."""

import numpy as np
import pytest
import torch
from torch import nn

from tensorboard_dvi.engine.decoder_grads import relu_mlp_linears, set_decoder_grads
from tensorboard_dvi.engine.model import Visualizer
from tensorboard_dvi.engine.phases import TemporalTerm, folded_head, head_weight
from tensorboard_dvi.engine.subspace import ReducedLayers, basis


def _rows(n=400, d=256, rank=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, rank, generator=g, dtype=torch.float64) @ torch.randn(rank, d, generator=g, dtype=torch.float64)
    x = x + 0.01 * torch.randn(n, d, generator=g, dtype=torch.float64)
    return x - x.mean(0)


def test_basis_holds_the_top_directions_and_the_head_rows_and_is_refused_when_too_wide():
    xn = _rows()
    head = torch.randn(3, 256, dtype=torch.float64)
    p = basis(xn, 8, head)
    assert p.shape == (256, 11)
    assert torch.allclose(p.T @ p, torch.eye(11, dtype=torch.float64), atol=1e-10)
    assert torch.allclose(p @ (p.T @ head.T), head.T, atol=1e-8)          # every logit stays reachable
    kept = (xn @ p).pow(2).sum() / xn.pow(2).sum()
    assert kept > 0.999                                                   # the rank-6 signal is inside
    assert basis(xn, 200, head).shape == (256, 128)                       # at most D/2 in all: 125 + 3
    assert basis(xn, None) is None and basis(xn, 0) is None
    assert basis(xn, 8).shape == (256, 8)
    assert basis(_rows(d=128), 8) is None                                 # narrow: D-wide products are cheap
    assert basis(xn, 200, torch.randn(121, 256, dtype=torch.float64)) is None  # 7 directions left: too few


def test_reduced_layers_expand_to_networks_that_compute_what_the_reduced_ones_did():
    torch.manual_seed(0)
    model = Visualizer(256, (16, 12)).double()
    xn = _rows()
    p = basis(xn, 8)
    prev = {k: v.detach().clone() for k, v in model.state_dict().items()}
    red = ReducedLayers(model, p, prev)
    red.reduce_encoder()
    red.reduce_decoder()
    assert model.encoder_net[0].weight.shape == (16, 8) and model.decoder_net[-1].weight.shape == (8, 16)
    assert red.prev["encoder_net.0.weight"].shape == (16, 8) and red.prev["decoder_net.4.weight"].shape == (8, 16)
    with torch.no_grad():
        for prm in model.parameters():                                     # "training" in the subspace
            prm.add_(0.1 * torch.randn_like(prm))
        y_small = model.encoder_net(xn @ p)
        pos = torch.randn(20, 2, dtype=torch.float64)
        z_small = model.decoder_net(pos)
    red.expand()
    assert model.encoder_net[0].weight.shape == (16, 256) and model.decoder_net[-1].weight.shape == (256, 16)
    with torch.no_grad():
        assert torch.allclose(model.encoder_net(xn), y_small, atol=1e-10)  # transform of a row = its reduced code
        assert torch.allclose(model.decoder_net(pos), z_small @ p.T, atol=1e-10)
    assert prev["encoder_net.0.weight"].shape == (16, 256)                # the caller's dict is left alone


def test_a_reduced_decoder_step_is_the_full_step_restricted_to_the_span():
    """With the last layer and the targets inside span(P), the full gradient of the last layer is P times
    the reduced one and the other layers' gradients are equal (the loss keeps its 1/D mean)."""
    torch.manual_seed(1)
    xn = _rows(n=60, d=256, rank=5)
    head = nn.Linear(256, 4).double()
    p = basis(xn, 8, head.weight)
    x = xn @ p @ p.T                                                       # targets inside the span
    full = Visualizer(256, (10, 12)).double()
    with torch.no_grad():                                                  # a last layer inside the span
        last = full.decoder_net[-1]
        last.weight.copy_(p @ (p.T @ last.weight))
        last.bias.copy_(p @ (p.T @ last.bias))
    small = Visualizer(256, (10, 12)).double()
    small.load_state_dict(full.state_dict())
    red = ReducedLayers(small, p)
    red.reduce_decoder()
    pos = torch.randn(60, 2, dtype=torch.float64)
    target = torch.softmax(torch.randn(60, 4, dtype=torch.float64), 1)
    fw, fb, _ = folded_head(head, 1.3, torch.zeros(256, dtype=torch.float64))
    set_decoder_grads(relu_mlp_linears(full.decoder_net), pos, x, 0.8, fw, fb, target, 0.3)
    set_decoder_grads(relu_mlp_linears(small.decoder_net), pos, x @ p, 0.8, fw @ p, fb, target, 0.3, dim=256)
    gf, gs = [q.grad for q in full.decoder_net.parameters()], [q.grad for q in small.decoder_net.parameters()]
    for a, b in zip(gf[:-2], gs[:-2]):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)
    assert torch.allclose(gf[-2], p @ gs[-2], atol=1e-12) and torch.allclose(gf[-1], p @ gs[-1], atol=1e-12)


def test_the_temporal_term_keeps_its_per_weight_mean_over_the_full_layers():
    from tensorboard_dvi.engine.config import EngineConfig
    torch.manual_seed(2)
    model = Visualizer(256, (16, 12)).double()
    prev = {k: v.detach().clone() + 0.01 for k, v in model.state_dict().items()}
    full_count = sum(q.numel() for q in model.encoder_net.parameters())
    term = TemporalTerm(model, EngineConfig(), prev, 1.0)
    red = ReducedLayers(model, basis(_rows(), 8), term.prev)
    term.prev = red.prev
    red.reduce_encoder()
    term.add_grad("encoder_net.")
    w = model.encoder_net[0].weight
    want = 2 * EngineConfig().lambda_temporal / full_count * (w - red.prev["encoder_net.0.weight"])
    assert torch.allclose(w.grad, want)


def test_head_weight_reads_the_first_linear_of_the_head():
    lin = nn.Linear(8, 3)
    assert torch.equal(head_weight(lin), lin.weight)
    assert torch.equal(head_weight(nn.Sequential(lin, nn.ReLU(), nn.Linear(3, 2))), lin.weight)
    assert head_weight(None) is None and head_weight(nn.Sequential(nn.ReLU(), lin)) is None


def test_a_fit_in_the_subspace_stores_d_wide_networks_whose_transform_is_the_drawn_map(tmp_path):
    """A run written by the real writer (256-d representations, 10 classes) fitted with an 8-dimensional
    basis (+ the head's 10 rows): the stored encoder's first layer has rank <= 18 (it trained in the span),
    the full fit's does not, and both projections place test rows where the map draws them."""
    from conftest import make_run
    from engine_testdata import TINY
    import tensorboard_dvi
    from tensorboard_dvi.engine import EngineConfig, fit_run
    from tensorboard_dvi.engine.cache import RunCache
    from tensorboard_dvi.storage import RunReader
    run = str(tmp_path / "run")
    make_run(run, epochs=2, n_train=300, n_test=60, seed=4, hidden=256)
    reader = RunReader(run)
    te = np.nonzero(np.asarray(reader.static().split) == 1)[0]
    reps = np.asarray(reader.epoch(2).representations)
    ranks = {}
    for dim in (8, None):
        cache_dir = str(tmp_path / f"cache{dim}")
        fit_run(run, cache_dir, config=EngineConfig(**{**TINY, "subspace_dim": dim, "transform_steps": 60}))
        proj = tensorboard_dvi.load_projection(run, 2, cache_dir=cache_dir)
        emb = np.asarray(RunCache(cache_dir).embedding(2))
        assert np.isfinite(emb).all() and emb.std() > 0
        assert np.allclose(proj.transform(reps[te]), emb[te], atol=1e-4 * float(emb.std()) + 1e-4)
        ranks[dim] = int(torch.linalg.matrix_rank(proj._model.encoder_net[0].weight.detach().double(), rtol=1e-6))
    assert ranks[8] <= 18 < ranks[None]


@pytest.mark.parametrize("kind", ["linear", "mlp", "none"])
def test_the_decoder_trains_in_the_span_only_where_its_step_is_written_by_hand(kind):
    """A Linear head (folded) or none: the decoder's last layer ends inside span(P); a head whose first layer
    is followed by more (a classifier MLP) takes the autograd path, D-wide, and is left alone."""
    from tensorboard_dvi.engine.config import EngineConfig
    from tensorboard_dvi.engine.phases import train_decoder
    torch.manual_seed(3)
    cfg = EngineConfig(decoder_min_steps=20, decoder_epochs=2)
    x = _rows(n=300, rank=12).float() + 1.0
    model = Visualizer(256, (16, 12))
    model.set_normalization(x)
    xn = (x - model.center) / model.scale
    head = {"linear": nn.Linear(256, 3), "mlp": nn.Sequential(nn.Linear(256, 16), nn.Tanh(), nn.Linear(16, 3)),
            "none": None}[kind]
    p = basis(xn, 8, head_weight(head))
    red = ReducedLayers(model, p)
    train_decoder(model, x, xn, torch.randn(300, 2), cfg, torch.Generator().manual_seed(0),
                  TemporalTerm(model, cfg, None, 0.0), "cpu", head_fn=head, reduced=red)
    w = model.decoder_net[-1].weight.detach()
    assert w.shape == (256, 16) and not red.swapped
    inside = torch.allclose(p @ (p.T @ w), w, atol=1e-5)
    assert inside is (kind != "mlp")
