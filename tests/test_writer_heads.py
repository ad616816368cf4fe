"""Heads that are not a single last nn.Linear: BERT's classifier, ResNet-18's fc, timm's get_classifier()."""

import json

import numpy as np
import pytest
import torch
import torch.nn as nn

from tensorboard_dvi import DVIWriter, storage


def _stored_head_reproduces(run):
    e = storage.RunReader(str(run)).epoch(1)
    with torch.no_grad():
        np.testing.assert_allclose(e.head_module()(torch.from_numpy(e.representations)).numpy(), e.logits,
                                   atol=1e-5)
    return e


class BertStyle(nn.Module):
    """Pooled features -> classifier = Sequential(dense, tanh, dropout, Linear)."""

    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(6, 16), nn.GELU())
        self.classifier = nn.Sequential(nn.Linear(16, 16), nn.Tanh(), nn.Dropout(0.1), nn.Linear(16, 3))

    def forward(self, x):
        return self.classifier(self.encoder(x))


def test_sequential_classifier_head(tmp_path):
    torch.manual_seed(0)
    model, x, y = BertStyle(), torch.randn(40, 6), torch.arange(40) % 3
    w = DVIWriter(str(tmp_path / "run"), model, x, y, head_module="classifier", border_points=0)
    w.log_epoch(1)
    e = _stored_head_reproduces(tmp_path / "run")
    assert e.representations.shape == (40, 16)
    with open(tmp_path / "run" / "plugins" / "dvi" / "epochs" / "epoch-000001" / "head.json") as f:
        assert [layer["type"] for layer in json.load(f)["layers"]] == ["Linear", "Tanh", "Linear"]
    with torch.no_grad():  # the representation is the classifier's input, not the last Linear's
        np.testing.assert_allclose(e.representations, model.encoder(x).numpy(), atol=1e-6)


def _resnet18():
    try:
        from torchvision.models import resnet18
    except (ImportError, RuntimeError):
        from resnet_standin import resnet18
    return resnet18(num_classes=4, weights=None)


def test_resnet18_fc(tmp_path):
    torch.manual_seed(0)
    model = _resnet18()
    x, y = torch.randn(16, 3, 32, 32), torch.arange(16) % 4
    w = DVIWriter(str(tmp_path / "run"), model, x, y, border_points=0, batch_size=16)
    assert w.head is model.fc
    w.log_epoch(1)
    assert _stored_head_reproduces(tmp_path / "run").representations.shape == (16, 512)
    assert model.training  # restored, and BatchNorm statistics untouched by logging
    before = model.bn1.running_mean.clone()
    DVIWriter(str(tmp_path / "fc"), model, x, y, head_module="fc", border_points=0).log_epoch(1)
    assert torch.equal(before, model.bn1.running_mean)


class TimmStyle(nn.Module):
    """timm's layout: forward_features, a head reached through get_classifier()."""

    def __init__(self, classes=3):
        super().__init__()
        self.stem = nn.Linear(5, 12)
        self.head = nn.Linear(12, classes)
        self.aux = nn.Linear(12, 2)  # registered last and called last, but not the classifier

    def get_classifier(self):
        return self.head

    def forward(self, x):
        f = torch.relu(self.stem(x))
        out = self.head(f)
        self.last_aux = self.aux(f)
        return out


def test_timm_get_classifier_is_used(tmp_path):
    torch.manual_seed(0)
    model, x, y = TimmStyle(), torch.randn(30, 5), torch.arange(30) % 3
    w = DVIWriter(str(tmp_path / "run"), model, x, y, border_points=3)
    assert w.head is model.head
    w.log_epoch(1)
    _stored_head_reproduces(tmp_path / "run")

    class NoGetter(TimmStyle):
        get_classifier = None

    with pytest.raises(ValueError, match=r"default guess.*\(aux\).*head_module=.*'head'.*feature= and head="):
        DVIWriter(str(tmp_path / "guess"), NoGetter(), x, y)
