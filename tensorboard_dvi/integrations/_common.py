"""What the Lightning and Transformers callbacks share: their arguments and the writer they hold."""

from __future__ import annotations

from typing import Optional


class WriterHolder:
    """Keeps the subset to log and the writer's arguments until the first epoch ends."""

    def _hold(self, train_data, train_labels, logdir: Optional[str], every_n_epochs: int, writer_kwargs: dict):
        if every_n_epochs < 1:
            raise ValueError(f"every_n_epochs must be >= 1, got {every_n_epochs}")
        self.train_data, self.train_labels = train_data, train_labels
        self.logdir, self.every_n_epochs = logdir, every_n_epochs
        self.writer_kwargs = writer_kwargs
        self.writer = None

    def _close_writer(self) -> None:
        if self.writer is not None:
            self.writer.close()
