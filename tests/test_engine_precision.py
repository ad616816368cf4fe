"""bfloat16 products of the training phases (engine/precision.py): where they run, and that they
compute what the float32 path computes, up to bf16 rounding of the representations."""

import numpy as np
import torch
from torch import nn

from tensorboard_dvi.engine import precision as P
from tensorboard_dvi.engine.decoder_grads import relu_mlp_linears, set_decoder_grads


def test_bf16_runs_only_where_asked_native_and_wide_enough(monkeypatch):
    monkeypatch.setattr(P, "native_bf16_cpu", lambda: True)
    assert P.use_bf16(True, "cpu", P.MIN_DIM) and P.use_bf16(True, "cpu", 512)
    assert not P.use_bf16(False, "cpu", 512)           # switched off (EngineConfig.bf16_products)
    assert not P.use_bf16(True, "cpu", P.MIN_DIM - 1)  # narrow representations: float32
    assert not P.use_bf16(True, "cuda", 512)           # GPUs keep float32 (not measured there)
    monkeypatch.setattr(P, "native_bf16_cpu", lambda: False)
    assert not P.use_bf16(True, "cpu", 512)            # emulated bf16 is slower: float32


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path, monkeypatch):
    import builtins
    real_open = builtins.open
    for flags, want in (("fpu avx512f avx512_bf16 sse", True), ("fpu amx_bf16", True), ("fpu avx2 avx512f", False)):
        info = tmp_path / "cpuinfo"
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        monkeypatch.setattr(builtins, "open", lambda p, *a, **k: real_open(info if p == "/proc/cpuinfo" else p, *a, **k))
        P.native_bf16_cpu.cache_clear()
        assert P.native_bf16_cpu() is want
    monkeypatch.setattr(builtins, "open", real_open)
    P.native_bf16_cpu.cache_clear()


def test_linear_bf16_gives_float32_outputs_and_weight_gradients_close_to_float32():
    torch.manual_seed(0)
    layer = nn.Linear(256, 64)
    x = torch.randn(300, 256)
    g = torch.randn(300, 64)
    want = layer(x)
    (want * g).sum().backward()
    w_grad, b_grad = layer.weight.grad.clone(), layer.bias.grad.clone()
    layer.zero_grad()
    got = P.linear_bf16(x.to(torch.bfloat16), layer)
    (got * g).sum().backward()
    assert got.dtype == torch.float32 and layer.weight.grad.dtype == torch.float32
    err = float((got - want).detach().abs().max() / want.detach().abs().max())
    assert 0 < err < 0.02  # rounded (bf16), and close
    assert float((layer.weight.grad - w_grad).norm() / w_grad.norm()) < 0.01
    assert torch.allclose(layer.bias.grad, b_grad)  # the bias is added in float32


def test_decoder_gradients_with_bf16_representations_are_those_of_the_rounded_targets():
    """set_decoder_grads on bf16 targets: the gradient of the loss towards those rounded targets,
    up to the bf16 rounding of the two D-wide products' other factor."""
    from tensorboard_dvi.engine.model import Visualizer
    torch.manual_seed(0)
    model = Visualizer(256, (32, 32))
    linears = relu_mlp_linears(model.decoder_net)
    pos = torch.randn(200, 2)
    x = torch.relu(torch.randn(200, 256))
    xb = x.to(torch.bfloat16)
    set_decoder_grads(linears, pos, xb.float(), 1.0)
    want = [(lin.weight.grad.clone(), lin.bias.grad.clone()) for lin in linears]
    set_decoder_grads(linears, pos, xb, 1.0)
    for (gw, gb), lin in zip(want, linears):
        assert lin.weight.grad.dtype == torch.float32
        assert float((lin.weight.grad - gw).norm() / gw.norm()) < 0.01
        assert float((lin.bias.grad - gb).norm() / gb.norm()) < 0.01


def test_encoder_and_decoder_trained_with_bf16_products_match_float32(monkeypatch):
    """The phases with bf16 products (forced on) learn what they learn in float32: the same encoder
    loss curve and a decoder that reconstructs as well, on 256-d representations."""
    from tensorboard_dvi.engine.config import EngineConfig
    from tensorboard_dvi.engine.model import Visualizer
    from tensorboard_dvi.engine.phases import TemporalTerm, train_decoder, train_encoder
    rng = np.random.RandomState(0)
    centres = rng.randn(4, 256) * 3
    x = torch.as_tensor(np.maximum(centres[rng.randint(4, size=600)] + rng.randn(600, 256), 0), dtype=torch.float32)
    head = torch.as_tensor(rng.randint(600, size=6000))
    tail = torch.as_tensor((head.numpy() + rng.randint(1, 5, size=6000)) % 600)
    w = torch.ones(6000)
    cfg = EngineConfig(max_trainer_epochs=3, batch_size=500, decoder_min_steps=200, decoder_batch=100)
    out = {}
    for on in (False, True):
        monkeypatch.setattr(P, "native_bf16_cpu", lambda: on)
        torch.manual_seed(1)
        model = Visualizer(256, (32, 32))
        model.set_normalization(x)
        xn = (x - model.center) / model.scale
        temporal = TemporalTerm(model, cfg, None, 0.0)
        losses = train_encoder(model, xn, head, tail, w, 6000, cfg, torch.Generator().manual_seed(2), temporal, "cpu")
        pos = torch.randn(600, 2)
        train_decoder(model, x, xn, pos, cfg, torch.Generator().manual_seed(3), temporal, "cpu")
        with torch.no_grad():
            out[on] = (np.array(losses), float(((model.decoder(pos) - x) ** 2).mean()))
    np.testing.assert_allclose(out[True][0], out[False][0], rtol=0.1)  # training is chaotic: close, not equal
    assert out[True][0][-1] < out[True][0][0]  # it trained
    assert abs(out[True][1] - out[False][1]) < 0.02 * out[False][1]


def test_mlp_bf16_rounds_every_product_but_the_output_layers_and_stays_close_to_float32():
    """mlp_bf16: float32 out, outputs and every weight's gradient within bf16 rounding of the float32
    MLP's; the 2-D output layer's product is float32 (its result equals that layer on the hidden output)."""
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(256, 64), torch.nn.ReLU(), torch.nn.Linear(64, 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, 2))
    x = torch.randn(500, 256)
    ref = seq(x)
    ref.square().sum().backward()
    ref_grads = [p.grad.clone() for p in seq.parameters()]
    seq.zero_grad()
    got = P.mlp_bf16(seq, x.to(torch.bfloat16))
    assert got.dtype == torch.float32
    rel = float((got - ref).norm() / ref.norm())
    assert 0 < rel < 0.03                              # rounded (bf16), and close
    got.square().sum().backward()
    for g, r in zip((p.grad for p in seq.parameters()), ref_grads):
        assert float((g - r).norm() / r.norm()) < 0.05
    with torch.no_grad():  # the output layer in float32 on the (bf16-path) hidden activations
        hidden = P.linear_bf16(torch.relu(P.linear_bf16(x.to(torch.bfloat16), seq[0])).to(torch.bfloat16), seq[2])
        torch.testing.assert_close(got, seq[4](torch.relu(hidden)), rtol=0, atol=0)
