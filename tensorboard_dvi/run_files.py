"""What the writer puts in a run besides epochs: the static folder and the event summary.

The static folder is written once per run (docs/FORMAT.md). A later writer on the
same run must log the same samples with the same kind of model: its sample ids,
labels and split, its representation width, class count and head layout are
checked against what the run holds, with an error that says to use a new run.
"""

from __future__ import annotations

import json
import os
import time

import numpy as np

from . import metadata as md
from . import storage


def head_layout(spec: dict) -> list:
    """The head's layer types and sizes (its weights aside), to compare two models."""
    return [(layer.get("type"), layer.get("in"), layer.get("out"), layer.get("dim"))
            for layer in spec.get("layers", [])]


def check_same_model(logdir: str, dim: int, num_classes: int, head_spec: dict) -> None:
    reader = storage.RunReader(logdir)
    meta = reader.meta
    if (meta.get("dim"), meta.get("num_classes")) != (dim, num_classes):
        raise ValueError(f"{logdir} holds a model with {meta.get('dim')}-dim representations and "
                         f"{meta.get('num_classes')} classes; this model has {dim} and {num_classes}. "
                         "A different model needs its own run folder")
    epochs = reader.epochs()
    if not epochs:
        return
    try:
        with open(os.path.join(reader.epoch_path(epochs[-1]), md.HEAD_SPEC_FILE), encoding="utf-8") as f:
            logged = json.load(f)
    except (OSError, ValueError):
        return  # a damaged epoch is reported by the reader, not here
    if head_layout(logged) != head_layout(head_spec):
        raise ValueError(f"{logdir} holds epochs of a model whose head is {head_layout(logged)}; this model's head "
                         f"is {head_layout(head_spec)}. A different model needs its own run folder")


def write_static(logdir: str, root: str, *, ids, labels, n_train: int, n_test: int, meta_extra: dict,
                 arrays: dict, jsons: dict) -> None:
    """Write static/ once; if it exists, check that it describes the same samples."""
    split = np.concatenate([np.full(n_train, md.SPLIT_TRAIN, np.uint8), np.full(n_test, md.SPLIT_TEST, np.uint8)])
    if storage.folder_exists(root, md.STATIC_DIR):  # a committed folder on object stores
        st = storage.RunReader(logdir).static()
        if not (np.array_equal(st.ids, ids) and np.array_equal(st.labels, labels) and np.array_equal(st.split, split)):
            raise ValueError(f"{logdir} already holds DVI data for a different sample subset "
                             "(ids, labels or split differ); log to a new run folder")
        return
    meta = {"format_version": md.FORMAT_VERSION, "n_train": n_train, "n_test": n_test,
            "created": time.time(), "writer": "tensorboard_dvi.DVIWriter", **meta_extra}
    all_arrays = {md.IDS_FILE: ids, md.LABELS_FILE: labels, md.SPLIT_FILE: split,
                  **{k: v for k, v in arrays.items() if v is not None}}
    try:
        storage.write_folder(root, md.STATIC_DIR, all_arrays,
                             {md.META_FILE: meta, **{k: v for k, v in jsons.items() if v is not None}})
    except storage.EpochExistsError:
        pass  # another process wrote it first


def write_summary(summary_writer, logdir: str, own: dict, step: int, epoch: int) -> None:
    """One small TENSOR summary per epoch, so TensorBoard enables the tab.

    A SummaryWriter that was closed (Lightning closes its logger's after ``lr_find``;
    users close theirs) has ``file_writer = None``; ``_get_file_writer()`` reopens it,
    as torch's own ``add_scalar`` does.
    """
    from tensorboard.compat.proto.summary_pb2 import DATA_CLASS_TENSOR, Summary, SummaryMetadata
    from tensorboard.util import tensor_util

    meta = SummaryMetadata(plugin_data=SummaryMetadata.PluginData(
        plugin_name=md.PLUGIN_NAME, content=json.dumps({"version": md.FORMAT_VERSION}).encode()),
        data_class=DATA_CLASS_TENSOR)
    summary = Summary(value=[Summary.Value(
        tag="dvi/epoch", metadata=meta, tensor=tensor_util.make_tensor_proto(np.array(epoch, dtype=np.int64)))])
    writer = summary_writer
    if writer is None:
        if own.get("writer") is None:
            from torch.utils.tensorboard import SummaryWriter
            own["writer"] = SummaryWriter(logdir)
        writer = own["writer"]
    file_writer = writer._get_file_writer() if hasattr(writer, "_get_file_writer") else writer.file_writer
    file_writer.add_summary(summary, global_step=step)
    file_writer.flush()
