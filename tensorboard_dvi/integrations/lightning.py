"""PyTorch Lightning callback: log DVI data at the end of every training epoch.

    trainer = L.Trainer(callbacks=[DVICallback(train_x, train_y, test_data=..., test_labels=...)],
                        logger=TensorBoardLogger("runs", name="my_run"))

The writer is created on first use, in the TensorBoard logger's folder when
there is one (else ``logdir`` or ``trainer.log_dir``), with the LightningModule
as the model. Only the global-zero process writes. Importing this module
without Lightning installed raises an ImportError that says what to install.
"""

from __future__ import annotations

from typing import Optional

from ._common import WriterHolder

try:
    import lightning.pytorch as pl
except ImportError:  # pragma: no cover - depends on the environment
    try:
        import pytorch_lightning as pl
    except ImportError as e:
        raise ImportError("DVICallback needs PyTorch Lightning: pip install 'tensorboard-dvi[lightning]'") from e


class DVICallback(pl.Callback, WriterHolder):
    """Calls :meth:`DVIWriter.log_epoch` after each training epoch (every ``every_n_epochs``).

    All keyword arguments other than ``logdir`` and ``every_n_epochs`` go to
    :class:`tensorboard_dvi.DVIWriter`; epochs are logged 1-based.
    """

    def __init__(self, train_data, train_labels=None, *, logdir: Optional[str] = None, every_n_epochs: int = 1,
                 **writer_kwargs):
        super().__init__()
        self._hold(train_data, train_labels, logdir, every_n_epochs, writer_kwargs)
        self._target_now = self._folder = None

    def setup(self, trainer, pl_module, stage: str) -> None:
        """Resolve the run folder on every rank (``trainer.log_dir`` is a collective call).

        Each ``fit`` of a new Trainer gets its own writer, in that Trainer's logger folder
        (a second Trainer's ``version_1``), so training in stages never writes into
        the first Trainer's run.
        """
        if stage != "fit":
            return
        target = self._target(trainer)
        folder = target.get_logdir() if hasattr(target, "get_logdir") else target
        if self.writer is not None and self._folder != folder:
            self.writer.close()
            self.writer = None
        self._target_now, self._folder = target, folder

    def _target(self, trainer):
        if self.logdir is not None:
            return self.logdir
        if not trainer.loggers:
            raise ValueError("DVICallback: the Trainer has no logger (logger=False), so there is no run folder to "
                             "log into; pass DVICallback(..., logdir='runs/my_run') or give the Trainer a "
                             "TensorBoardLogger")
        folder = trainer.log_dir  # all ranks (it broadcasts)
        if trainer.is_global_zero:
            for logger in trainer.loggers:
                experiment = getattr(logger, "experiment", None)
                if hasattr(experiment, "file_writer") and hasattr(experiment, "get_logdir"):
                    return experiment  # a torch SummaryWriter: the tab's summary goes to its event file
        return folder

    def on_train_epoch_end(self, trainer, pl_module):
        epoch = trainer.current_epoch + 1
        if epoch % self.every_n_epochs or not trainer.is_global_zero:
            return
        if self.writer is None:
            from ..writer import DVIWriter
            target = getattr(self, "_target_now", None) or self._target(trainer)
            self.writer = DVIWriter(target, pl_module, self.train_data, self.train_labels, **self.writer_kwargs)
        self.writer.log_epoch(epoch, step=trainer.global_step)

    def on_fit_end(self, trainer, pl_module):
        self._close_writer()
