"""Hugging Face ``transformers.Trainer`` callback: log DVI data at the end of every epoch.

    trainer = Trainer(model=model, args=args, train_dataset=train_ds,
                      callbacks=[DVICallback(encodings, labels, texts=sentences)])

The representation is the input of the classification head: ``model.classifier``
when it is a head the format can store (BERT, DistilBERT, ...), else the last
``nn.Linear`` called (e.g. RoBERTa's ``classifier.out_proj``). Token ids are kept
as integers; border points mix the outputs of the word embeddings. Only the
process with ``state.is_world_process_zero`` writes. Importing this module without
transformers installed raises an ImportError that says what to install.
"""

from __future__ import annotations

import os
from typing import Optional

from ._common import WriterHolder

try:
    from transformers import TrainerCallback
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("this DVICallback needs Hugging Face Transformers: pip install 'tensorboard-dvi[transformers]'") \
        from e


def _default_head(model) -> Optional[str]:
    """"classifier" when the model has one the format can store, else None (the writer guesses)."""
    from ..heads import UnsupportedHeadError, describe_head
    head = getattr(model, "classifier", None)
    if head is None:
        return None
    try:
        describe_head(head)
    except UnsupportedHeadError:
        return None
    return "classifier"


class DVICallback(TrainerCallback, WriterHolder):
    """Calls :meth:`DVIWriter.log_epoch` after each epoch (every ``every_n_epochs``).

    Args:
        train_data, train_labels: the fixed subset to log: a tokenizer's output (dict /
            ``BatchEncoding``, labels separately or under "labels") or a Dataset of dicts.
        logdir: the run folder; default ``$TENSORBOARD_LOGGING_DIR`` (the folder transformers'
            own TensorBoard callback uses when set), else ``<output_dir>/dvi``.
        every_n_epochs: log every n-th epoch.
        **writer_kwargs: passed to :class:`tensorboard_dvi.DVIWriter` (``test_data``,
            ``texts``, ``class_names``, ``head_module``, ...).
    """

    def __init__(self, train_data, train_labels=None, *, logdir: Optional[str] = None, every_n_epochs: int = 1,
                 **writer_kwargs):
        self._hold(train_data, train_labels, logdir, every_n_epochs, writer_kwargs)

    def _folder(self, args) -> str:
        if self.logdir is not None:
            return os.fspath(self.logdir)
        return os.getenv("TENSORBOARD_LOGGING_DIR") or os.path.join(args.output_dir, "dvi")

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        if not state.is_world_process_zero or state.epoch is None:
            return
        epoch = int(round(state.epoch))
        if epoch % self.every_n_epochs:
            return
        if self.writer is None:
            from ..writer import DVIWriter
            kw = dict(self.writer_kwargs)
            if "head_module" not in kw and "feature" not in kw:
                kw["head_module"] = _default_head(model)
            self.writer = DVIWriter(self._folder(args), model, self.train_data, self.train_labels, **kw)
        self.writer.log_epoch(epoch, step=state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        self._close_writer()
