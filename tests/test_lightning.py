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
