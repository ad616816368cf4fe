"""The Lightning callback logs every epoch through the TensorBoard logger's run folder."""

import numpy as np
import pytest
import torch

L = pytest.importorskip("lightning.pytorch")

from tensorboard_dvi import DVICallback, storage  # noqa: E402


class Tiny(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, _):
        x, y = batch
        return torch.nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-2)


def test_lightning_callback_logs_each_epoch(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger
    torch.manual_seed(0)
    x = torch.randn(120, 5)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    logger = TensorBoardLogger(str(tmp_path), name="lit", version="v0")
    cb = DVICallback(x, y, test_data=x[:20], test_labels=y[:20], border_points=10)
    trainer = L.Trainer(max_epochs=3, logger=logger, callbacks=[cb], enable_progress_bar=False,
                        enable_checkpointing=False, enable_model_summary=False, accelerator="cpu")
    trainer.fit(Tiny(), loader)
    r = storage.RunReader(str(tmp_path / "lit" / "v0"))
    assert r.epochs() == [1, 2, 3]
    e = r.epoch(3)
    assert e.representations.shape == (140, 16)
    assert e.info["step"] == trainer.global_step
    with torch.no_grad():
        np.testing.assert_allclose(e.head_module()(torch.from_numpy(e.representations)).numpy(), e.logits, atol=1e-5)
    # the tab's summary went into the logger's own event file
    from tensorboard.backend.event_processing import event_accumulator
    acc = event_accumulator.EventAccumulator(str(tmp_path / "lit" / "v0"))
    acc.Reload()
    assert len(acc.Tensors("dvi/epoch")) == 3


def _data():
    torch.manual_seed(0)
    x = torch.randn(96, 5)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    return x, y, torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)


def _trainer(**kw):
    kw.setdefault("max_epochs", 2)
    return L.Trainer(enable_progress_bar=False, enable_checkpointing=False, enable_model_summary=False,
                     accelerator="cpu", **kw)


class WithLR(Tiny):
    def __init__(self):
        super().__init__()
        self.lr = 1e-2

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


def test_lr_find_then_fit(tmp_path):
    """lr_find closes the logger's SummaryWriter; the writer reopens it instead of crashing."""
    from lightning.pytorch.loggers import TensorBoardLogger
    from lightning.pytorch.tuner import Tuner
    x, y, loader = _data()
    trainer = _trainer(logger=TensorBoardLogger(str(tmp_path), name="lit"),
                       callbacks=[DVICallback(x, y, border_points=5)])
    model = WithLR()
    Tuner(trainer).lr_find(model, loader, num_training=5, min_lr=1e-3, max_lr=1e-1)
    trainer.fit(model, loader)
    assert storage.RunReader(str(tmp_path / "lit" / "version_0")).epochs() == [1, 2]


def test_second_trainer_logs_into_its_own_version(tmp_path):
    from lightning.pytorch.loggers import TensorBoardLogger
    x, y, loader = _data()
    cb = DVICallback(x, y, border_points=5)
    model = Tiny()
    for _ in range(2):  # training in stages, one Trainer (and logger) per stage
        _trainer(logger=TensorBoardLogger(str(tmp_path), name="lit"), callbacks=[cb]).fit(model, loader)
    for version in ("version_0", "version_1"):
        assert storage.RunReader(str(tmp_path / "lit" / version)).epochs() == [1, 2]


def test_no_logger_needs_a_logdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    x, y, loader = _data()
    with pytest.raises(ValueError, match="logger=False.*logdir="):
        _trainer(logger=False, callbacks=[DVICallback(x, y)], default_root_dir=str(tmp_path)).fit(Tiny(), loader)
    assert storage.list_runs(str(tmp_path)) == []
    _trainer(logger=False, callbacks=[DVICallback(x, y, logdir=str(tmp_path / "given"))]).fit(Tiny(), loader)
    assert storage.RunReader(str(tmp_path / "given")).epochs() == [1, 2]
