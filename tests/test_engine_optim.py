"""The training phases' hand-rolled pieces equal what they replace (engine/optim.py, losses.py, phases.py)."""

import math

import torch
from torch import nn

from tensorboard_dvi.engine import losses
from tensorboard_dvi.engine.optim import Adam, warmup_cosine_lrs
from tensorboard_dvi.engine.phases import folded_head


def test_adam_and_schedule_equal_torch_optim_adam_with_lambdalr():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    ref = nn.Sequential(nn.Linear(6, 5), nn.ReLU(), nn.Linear(5, 3))
    ref.load_state_dict(net.state_dict())
    total, warm = 37, 0.1
    opt_ref = torch.optim.Adam(ref.parameters(), lr=0.01, weight_decay=1e-5, fused=True)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt_ref, lambda s: min(1.0, (s + 1) / max(1.0, warm * total)) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    opt = Adam(net.parameters(), 1e-5)
    lrs = warmup_cosine_lrs(0.01, total, warm)
    assert len(lrs) == total and lrs[0] > 0 and max(lrs) <= 0.01
    for step in range(total):
        x = torch.randn(8, 6)
        for model, o in ((ref, opt_ref), (net, opt)):
            o.zero_grad()
            (model(x) ** 2).mean().backward()
        assert opt_ref.param_groups[0]["lr"] == lrs[step]
        opt_ref.step()
        sched.step()
        opt.step(lrs[step])
        for p, q in zip(net.parameters(), ref.parameters()):
            assert torch.equal(p, q), step


def test_linear_reconstruction_equals_mse_of_the_linear_layer():
    torch.manual_seed(0)
    for dtype, tol in ((torch.float64, 1e-12), (torch.float32, 2e-5)):
        h = torch.relu(torch.randn(50, 7, dtype=dtype)).requires_grad_()
        w = torch.randn(30, 7, dtype=dtype).requires_grad_()
        b = torch.randn(30, dtype=dtype).requires_grad_()
        x = torch.randn(50, 30, dtype=dtype) * 2 + 1
        want = losses.reconstruction(x, nn.functional.linear(h, w, b))
        got = losses.linear_reconstruction(h, w, b, x)
        assert abs(float(want.detach()) - float(got.detach())) <= tol * float(want.detach())
        for g1, g2 in zip(torch.autograd.grad(want, (h, w, b)), torch.autograd.grad(got, (h, w, b))):
            assert torch.allclose(g1, g2, rtol=tol, atol=tol * float(g1.abs().max()))


def test_folded_head_equals_the_head_on_the_denormalised_input():
    torch.manual_seed(0)
    x, center, scale = torch.randn(9, 12), torch.randn(12), 2.5
    for head in (nn.Linear(12, 4), nn.Sequential(nn.Linear(12, 6), nn.ReLU(), nn.Linear(6, 3)),
                 nn.Sequential(nn.Linear(12, 4, bias=False))):
        w, b, rest = folded_head(head, scale, center)
        got = x @ w.t() + b
        got = got if rest is None else rest(got)
        assert torch.allclose(got, head(x * scale + center), atol=1e-5)
    assert folded_head(nn.Sequential(nn.LayerNorm(12), nn.Linear(12, 4)), scale, center) is None
    assert folded_head(lambda t: t, scale, center) is None   # any other callable: the plain path


def test_decoded_prediction_is_the_head_on_the_decoded_point_and_passes_gradients():
    """What the background, the snapping, PPR, zoom and Projection.predict evaluate: the folded form
    equals head(decoder(y)), for heads it folds and heads it cannot, with the gradient to y (snap)."""
    from tensorboard_dvi.engine.model import Visualizer, decoded_prediction
    torch.manual_seed(0)
    model = Visualizer(40, (16, 16))
    model.set_normalization(torch.rand(50, 40) * 3 + 1)
    heads = (nn.Linear(40, 5), nn.Sequential(nn.Linear(40, 8), nn.ReLU(), nn.Linear(8, 3)),
             nn.Sequential(nn.LayerNorm(40), nn.Linear(40, 4)), lambda t: t[:, :6])
    for head in heads:
        y = (torch.randn(30, 2) * 4).requires_grad_(True)
        want = head(model.decoder(y))
        (g_want,) = torch.autograd.grad(want.square().sum(), y)
        got = decoded_prediction(model, head)(y)
        (g_got,) = torch.autograd.grad(got.square().sum(), y)
        assert got.shape == want.shape
        assert torch.allclose(got, want, atol=1e-5 * float(want.abs().max()))
        assert torch.allclose(g_got, g_want, atol=1e-4 * float(g_want.abs().max()))


def test_decoder_with_a_folded_head_trains_like_the_plain_path():
    """train_decoder's fast path (folded head, expanded reconstruction) against the plain path
    (a head it cannot fold: the same Linear behind a lambda), same data and random stream."""
    from tensorboard_dvi.engine.config import EngineConfig
    from tensorboard_dvi.engine.model import Visualizer
    from tensorboard_dvi.engine.phases import TemporalTerm, train_decoder
    torch.manual_seed(0)
    pos = torch.randn(300, 2)
    x = torch.relu(pos @ torch.randn(2, 20) + 0.1 * torch.randn(300, 20) + 0.5)   # a function of the position
    head = nn.Linear(20, 4).requires_grad_(False)
    cfg = EngineConfig(decoder_min_steps=60, decoder_batch=50, decoder_epochs=1)
    out = []
    for fn in (head, lambda t: head(t)):
        torch.manual_seed(1)
        model = Visualizer(20, cfg.hidden)
        model.set_normalization(x)
        xn = (x - model.center) / model.scale
        prev = {k: v.detach().clone() + 0.01 for k, v in model.state_dict().items()}
        train_decoder(model, x, xn, pos, cfg, torch.Generator().manual_seed(3), TemporalTerm(model, cfg, prev, 0.5),
                      "cpu", head_fn=fn)
        with torch.no_grad():
            out.append(model.decoder(pos))
    assert (out[0] - x).pow(2).mean() < 0.5 * (x - x.mean(0)).pow(2).mean()   # it learned something
    assert torch.allclose(out[0], out[1], atol=1e-3 * float(out[1].abs().max()))


def test_decoder_gradients_by_hand_equal_autograd():
    from tensorboard_dvi.engine.decoder_grads import relu_mlp_linears, set_decoder_grads
    from tensorboard_dvi.engine.model import Visualizer
    torch.manual_seed(0)
    model = Visualizer(30, (16, 12, 8)).double()
    dec = model.decoder_net
    pos, x = torch.randn(40, 2, dtype=torch.float64), torch.randn(40, 30, dtype=torch.float64)
    head = nn.Linear(30, 5).double()
    target = torch.softmax(torch.randn(40, 5, dtype=torch.float64), 1)
    fw, fb, _ = folded_head(head, 1.7, torch.randn(30, dtype=torch.float64))
    linears = relu_mlp_linears(dec)
    assert linears is not None and len(linears) == 4
    for lam_p in (0.0, 0.3):
        dec.zero_grad()
        xr = dec(pos)
        loss = 0.9 * losses.reconstruction(x, xr) + lam_p * losses.prediction(xr @ fw.t() + fb, target)
        loss.backward()
        want = [p.grad.clone() for p in dec.parameters()]
        set_decoder_grads(linears, pos, x, 0.9, fw, fb, target, lam_p)
        for g, p in zip(want, dec.parameters()):
            assert torch.allclose(g, p.grad, rtol=1e-9, atol=1e-12)
    assert relu_mlp_linears(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 4))) is None
