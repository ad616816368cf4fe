"""Training setups people already have: closed SummaryWriters, epoch numbers, two models, torch.compile."""

import warnings

import numpy as np
import pytest
import torch
import torch.nn as nn

from tensorboard_dvi import DVIWriter, storage


class Net(nn.Module):
    def __init__(self, hidden=8, classes=3):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(4, hidden), nn.ReLU())
        self.fc = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.fc(self.body(x))


X, Y = torch.randn(30, 4), torch.arange(30) % 3


def test_closed_summary_writer_is_reopened(tmp_path):
    from torch.utils.tensorboard import SummaryWriter
    from tensorboard.backend.event_processing import event_accumulator
    sw = SummaryWriter(str(tmp_path / "run"))
    w = DVIWriter(sw, Net(), X, Y, border_points=0)
    w.log_epoch(1)
    sw.close()  # the user (or Lightning after lr_find) closes it
    w.log_epoch(2)
    sw.close()
    acc = event_accumulator.EventAccumulator(str(tmp_path / "run"))
    acc.Reload()
    assert [int(e.step) for e in acc.Tensors("dvi/epoch")] == [1, 2]


def test_epoch_numbers(tmp_path):
    w = DVIWriter(str(tmp_path / "run"), Net(), X, Y, border_points=0)
    w.log_epoch(0)  # before training
    w.log_epoch(np.int64(3))
    w.log_epoch(torch.tensor(5))
    with pytest.warns(UserWarning, match="logging epoch 4 after epoch 5"):
        w.log_epoch(torch.tensor([4]))
    assert storage.RunReader(str(tmp_path / "run")).epochs() == [0, 3, 4, 5]
    for bad in (2.0, -1, True, torch.tensor(6.0), "7", torch.tensor([1, 2])):
        with pytest.raises(ValueError, match="epoch must be an integer"):
            w.log_epoch(bad)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        w.log_epoch(6)


def test_a_different_model_in_the_same_run_is_detected(tmp_path):
    DVIWriter(str(tmp_path / "run"), Net(), X, Y, border_points=0).log_epoch(1)
    with pytest.raises(ValueError, match="8-dim representations and 3 classes; this model has 16 and 3"):
        DVIWriter(str(tmp_path / "run"), Net(hidden=16), X, Y, border_points=0, on_exists="skip").log_epoch(2)

    class OtherHead(Net):
        def __init__(self):
            super().__init__()
            self.fc = nn.Sequential(nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 3))

    with pytest.raises(ValueError, match="holds epochs of a model whose head is"):
        DVIWriter(str(tmp_path / "run"), OtherHead(), X, Y, head_module="fc", border_points=0,
                  on_exists="skip").log_epoch(2)
    assert storage.RunReader(str(tmp_path / "run")).epochs() == [1]


def test_torch_compile_and_ddp_wrappers_are_looked_through(tmp_path):
    model = Net()
    compiled = torch.compile(model, backend="eager")
    compiled(X)
    for name, kw in (("named", {"head_module": "fc"}), ("prefixed", {"head_module": "_orig_mod.fc"}),
                     ("default", {})):
        w = DVIWriter(str(tmp_path / name), compiled, X, Y, border_points=0, **kw)
        assert w.model is model and w.head is model.fc
        w.log_epoch(1)
    with torch.no_grad():
        np.testing.assert_allclose(storage.RunReader(str(tmp_path / "named")).epoch(1).logits, model(X).numpy(),
                                   atol=1e-6)
    dp = nn.DataParallel(model)
    assert DVIWriter(str(tmp_path / "dp"), dp, X, Y, border_points=0).model is model


def test_existing_epochs_fail_at_construction_not_after_training(tmp_path):
    DVIWriter(str(tmp_path / "run"), Net(), X, Y, border_points=0).log_epoch(1)
    with pytest.raises(storage.EpochExistsError, match="already holds logged epochs 1..1"):
        DVIWriter(str(tmp_path / "run"), Net(), X, Y, border_points=0)
    resumed = DVIWriter(str(tmp_path / "run"), Net(), X, Y, border_points=0, on_exists="error")
    resumed.log_epoch(2)
    with pytest.raises(storage.EpochExistsError, match="epoch 1 is already logged"):
        resumed.log_epoch(1)


def test_thumbnails_true_on_flat_inputs_says_what_to_pass(tmp_path):
    with pytest.raises(ValueError, match=r"thumbnails=True needs image inputs.*got \(30, 4\).*pass thumbnails= "
                                         r"an image array \[30, H, W\].*or drop the option"):
        DVIWriter(str(tmp_path / "run"), Net(), X, Y, thumbnails=True)


def test_wrong_head_name_and_wrong_guess_say_what_to_pass(tmp_path):
    with pytest.raises(ValueError, match=r"head_module='fcc'.*did you mean 'fc'"):
        DVIWriter(str(tmp_path / "run"), Net(), X, Y, head_module="fcc")

    class Scaled(Net):  # the last Linear is not the last step
        def forward(self, x):
            return -self.fc(self.body(x))

    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"default guess.*\(fc\).*head_module=.*feature= and head="):
        DVIWriter(str(tmp_path / "run"), Scaled(), torch.randn(30, 4), Y)
