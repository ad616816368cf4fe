"""RunCache, the engine's results the plugin reads: written by the format's atomic folder writer."""

import errno
import json
import os

import numpy as np
import pytest

from tensorboard_dvi import storage
from tensorboard_dvi.engine.cache import CACHE_FORMAT, RunCache


def _write(cache, epoch, value, uid="u"):
    return cache.write_epoch(epoch, {"embedding.npy": np.full((5, 2), value, np.float32)},
                             {"epoch.json": {"cache_format": CACHE_FORMAT, "input_uid": uid},
                              "metrics.json": {"nn_10": value}},
                             {"background.png": b"png" + bytes([int(value)])})


def test_write_goes_through_storage_and_replaces_atomically(tmp_path, monkeypatch):
    cache = RunCache(str(tmp_path / "c"))
    calls, fsyncs = [], []
    real_write, real_fsync = storage.write_folder, os.fsync
    monkeypatch.setattr(storage, "write_folder", lambda *a, **k: calls.append(a[1]) or real_write(*a, **k))
    monkeypatch.setattr(os, "fsync", lambda fd: fsyncs.append(fd) or real_fsync(fd))
    _write(cache, 3, 1.0)
    assert calls == ["epoch-000003"] and len(fsyncs) >= 4  # 3 files + the folder at least
    _write(cache, 3, 2.0, uid="v")
    assert cache.fitted_epochs({3: "v"}) == [3] and cache.fitted_epochs({3: "u"}) == []
    assert np.all(np.asarray(cache.embedding(3)) == 2.0) and cache.metrics(3) == {"nn_10": 2.0}
    assert cache.background_png(3) == b"png\x02"
    assert sorted(os.listdir(cache.epochs_dir)) == ["epoch-000003"]  # no temp or trash folder left


def test_failed_write_keeps_the_old_epoch(tmp_path, monkeypatch):
    cache = RunCache(str(tmp_path / "c"))
    _write(cache, 1, 1.0)

    def full(folder, name, obj):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(storage, "_save_json", full)
    with pytest.raises(storage.StorageError, match="no space left"):
        _write(cache, 1, 5.0)
    assert np.all(np.asarray(cache.embedding(1)) == 1.0)
    assert json.load(open(os.path.join(cache.epoch_path(1), "epoch.json")))["input_uid"] == "u"
    assert sorted(os.listdir(cache.epochs_dir)) == ["epoch-000001"]
