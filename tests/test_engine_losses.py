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
