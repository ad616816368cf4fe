"""The loss terms added to / changed from the spec (docs/ENGINE_RESULTS.md)."""

import torch

from tensorboard_dvi.engine import losses
from tensorboard_dvi.engine.model import Visualizer


def test_temporal_term_sum_and_mean():
    torch.manual_seed(0)
    model = Visualizer(8, (4,))
    prev = {k: v.detach().clone() for k, v in model.named_parameters()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5)
    n = sum(p.numel() for p in model.parameters())
    s = losses.temporal(model, prev)                      # the spec's sum
    m = losses.temporal(model, prev, reduction="mean")    # per weight
    assert torch.isclose(s, torch.tensor(0.25 * n))
    assert torch.isclose(m, torch.tensor(0.25))


def test_prediction_term_is_cross_entropy_against_soft_targets():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    target = torch.softmax(torch.tensor([[5.0, 0.0, 0.0], [1.0, 1.0, 0.0]]), dim=1)
    got = losses.prediction(logits, target)
    want = -(target * torch.log_softmax(logits, 1)).sum(1).mean()
    assert torch.isclose(got, want)
    # minimised (over logits) at the target distribution itself
    at_target = losses.prediction(torch.log(target), target)
    assert at_target < got


def test_temporal_term_in_closed_form_matches_autograd():
    """phases.TemporalTerm adds 2c(θ − θ_prev) after backward(); it must equal autograd of the term."""
    from tensorboard_dvi.engine.config import EngineConfig
    from tensorboard_dvi.engine.phases import TemporalTerm
    torch.manual_seed(0)
    model = Visualizer(8, (6, 5))
    prev = {k: v.detach().clone() + 0.1 * torch.randn_like(v) for k, v in model.state_dict().items()}
    x = torch.randn(16, 8)
    for reduction in ("sum", "mean"):
        cfg = EngineConfig(temporal_reduction=reduction, lambda_temporal=0.3)
        sub = {k[len("encoder_net."):]: v for k, v in prev.items() if k.startswith("encoder_net.")}
        model.zero_grad()
        want = (model.encoder_net(x) ** 2).mean() + 0.3 * 0.7 * losses.temporal(model.encoder_net, sub, reduction)
        want.backward()
        grads = [p.grad.clone() for p in model.encoder_net.parameters()]
        model.zero_grad()
        got = (model.encoder_net(x) ** 2).mean()
        got.backward()
        value = TemporalTerm(model, cfg, prev, 0.7).add_grad("encoder_net.")
        assert abs(got.item() + value - want.item()) < 1e-5 * max(1.0, want.item())
        for g, p in zip(grads, model.encoder_net.parameters()):
            assert torch.allclose(g, p.grad, rtol=1e-5, atol=1e-7)
        assert all(p.grad is None for p in model.decoder_net.parameters())  # only the named sub-network
    assert TemporalTerm(model, EngineConfig(), None, 0.7).add_grad("encoder_net.") == 0.0  # off: nothing added
