"""Lightning strategy="ddp" on CPU (2 processes) with a BatchNorm1d model and DVICallback.

Usage: python lightning_ddp.py ROOT_DIR. Lightning re-launches this script for rank 1.
"""

import sys

import torch
import torch.nn as nn

import lightning.pytorch as L
from lightning.pytorch.loggers import TensorBoardLogger


class Net(L.LightningModule):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))

    def forward(self, x):
        return self.net(x)

    def training_step(self, batch, _):
        x, y = batch
        return nn.functional.cross_entropy(self(x), y)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


if __name__ == "__main__":
    from tensorboard_dvi import DVICallback
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.randn(128, 6)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=16)
    trainer = L.Trainer(max_epochs=4, strategy="ddp", devices=2, accelerator="cpu",
                        logger=TensorBoardLogger(sys.argv[1], name="lit"),
                        callbacks=[DVICallback(x[:64], y[:64], border_points=6)], enable_progress_bar=False,
                        enable_checkpointing=False, enable_model_summary=False)
    trainer.fit(Net(), loader)
    print("done")
