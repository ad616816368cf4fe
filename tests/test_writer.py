"""The writer and the on-disk format: round trip, atomicity, border points, determinism."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from tensorboard_dvi import DVIWriter, metadata as md, storage
from tensorboard_dvi.border import normalised_margin
from tensorboard_dvi.heads import UnsupportedHeadError

from conftest import make_run


def test_round_trip_arrays_identical(tmp_path):
    w = make_run(tmp_path / "run", epochs=2)
    model = w.trained_model.eval()
    r = storage.RunReader(str(tmp_path / "run"))
    assert r.epochs() == [1, 2]
    st = r.static()
    np.testing.assert_array_equal(st.labels, w.labels)
    np.testing.assert_array_equal(st.ids, w.ids)
    assert st.n_train == 400 and (st.split[400:] == md.SPLIT_TEST).all()
    e = r.epoch(2)
    x = torch.cat([w.train.tensor, w.test.tensor])
    with torch.no_grad():
        hidden = model[:4](x)
        logits = model(x)
    np.testing.assert_array_equal(e.representations, hidden.numpy())
    np.testing.assert_array_equal(e.logits, logits.numpy())
    np.testing.assert_array_equal(e.predictions, logits.argmax(1).numpy())
    # The stored head is rebuilt without pickle and reproduces the logits exactly.
    with torch.no_grad():
        np.testing.assert_allclose(e.head_module()(torch.from_numpy(e.representations)).numpy(), e.logits,
                                   rtol=0, atol=1e-6)
    assert r.meta["dim"] == 32 and r.meta["num_classes"] == 10
    assert r.thumbnails().shape == (500, 8, 8)
    assert r.damaged() == {}


def test_border_points_lie_on_the_logged_heads_boundary(tmp_path):
    make_run(tmp_path / "run", epochs=2, steps_per_epoch=40)
    e = storage.RunReader(str(tmp_path / "run")).epoch(2)
    border = e.border
    assert 30 <= len(border) <= 40  # auto = N_train / 10
    with torch.no_grad():
        margin = normalised_margin(e.head_module()(torch.from_numpy(border)))
    assert float(margin.max()) < 0.1
    # Not degenerate copies of logged samples: they lie between them.
    d = torch.cdist(torch.from_numpy(border), torch.from_numpy(e.representations)).min(1).values
    assert float(d.median()) > 1e-3


def test_same_seed_same_output(tmp_path):
    make_run(tmp_path / "a", epochs=1, seed=3)
    make_run(tmp_path / "b", epochs=1, seed=3)
    make_run(tmp_path / "c", epochs=1, seed=4)
    a, b, c = (storage.RunReader(str(tmp_path / n)).epoch(1) for n in "abc")
    np.testing.assert_array_equal(a.representations, b.representations)
    np.testing.assert_array_equal(a.border, b.border)
    assert a.border.shape != c.border.shape or not np.array_equal(a.border, c.border)


def test_event_file_activates_the_plugin(tmp_path):
    from tensorboard.backend.event_processing import event_accumulator
    make_run(tmp_path / "run", epochs=2)
    acc = event_accumulator.EventAccumulator(str(tmp_path / "run"))
    acc.Reload()
    assert md.PLUGIN_NAME in acc.PluginTagToContent(md.PLUGIN_NAME) or acc.PluginTagToContent(md.PLUGIN_NAME)
    assert [ev.step for ev in acc.Tensors("dvi/epoch")] == [1, 2]


def test_float16_storage(tmp_path):
    make_run(tmp_path / "run", epochs=1, writer_kwargs={"dtype": "float16"})
    e = storage.RunReader(str(tmp_path / "run")).epoch(1)
    assert e.representations_raw.dtype == np.float16 and e.representations.dtype == np.float32


def test_logging_an_epoch_twice(tmp_path):
    w = make_run(tmp_path / "run", epochs=1)
    with pytest.raises(storage.EpochExistsError, match="already logged"):
        w.log_epoch(1)
    uid = storage.RunReader(str(tmp_path / "run")).epoch(1).uid
    w.on_exists = "skip"
    assert w.log_epoch(1) is None
    assert storage.RunReader(str(tmp_path / "run")).epoch(1).uid == uid
    w.on_exists = "replace"
    w.log_epoch(1)
    r = storage.RunReader(str(tmp_path / "run"))
    assert r.epoch(1).uid != uid and r.damaged() == {}
    leftovers = [n for n in os.listdir(os.path.join(r.root, md.EPOCHS_DIR)) if n.startswith(".")]
    assert leftovers == []


def test_writer_restores_train_mode_and_logs_under_no_grad(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.5), torch.nn.Linear(8, 3))
    model.train()
    x, y = torch.randn(50, 4), torch.randint(0, 3, (50,))
    w = DVIWriter(str(tmp_path / "run"), model, x, y, border_points=0)
    w.log_epoch(0)
    assert model.training
    e = storage.RunReader(str(tmp_path / "run")).epoch(0)
    model.eval()
    with torch.no_grad():
        np.testing.assert_allclose(e.logits, model(x).numpy(), atol=1e-6)  # eval mode: dropout off
    assert e.border.shape == (0, 8)


def test_dataset_input_named_head_and_feature_head(tmp_path):
    from torch.utils.data import TensorDataset
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 16), torch.nn.ReLU(),
                                torch.nn.Sequential(torch.nn.Linear(16, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)))
    x, y = torch.randn(80, 6), torch.randint(0, 4, (80,))
    DVIWriter(str(tmp_path / "a"), model, TensorDataset(x, y), head_module="2", border_points=0).log_epoch(1)
    e = storage.RunReader(str(tmp_path / "a")).epoch(1)
    assert e.representations.shape == (80, 16)
    feature, head = model[:2], model[2]
    DVIWriter(str(tmp_path / "b"), model, x, y, feature=feature, head=head, border_points=0).log_epoch(1)
    np.testing.assert_allclose(storage.RunReader(str(tmp_path / "b")).epoch(1).representations, e.representations)


def test_static_data_written_once_and_checked(tmp_path):
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(20, 4), torch.randint(0, 3, (20,))
    DVIWriter(str(tmp_path / "run"), model, x, y, border_points=0).log_epoch(0)
    static = os.path.join(storage.plugin_dir(str(tmp_path / "run")), md.STATIC_DIR, md.LABELS_FILE)
    mtime = os.stat(static).st_mtime_ns
    with pytest.raises(storage.EpochExistsError, match="already holds logged epochs 0..0.*on_exists='error' to add epochs"):
        DVIWriter(str(tmp_path / "run"), model, x, y, border_points=0)  # checked before any training
    DVIWriter(str(tmp_path / "run"), model, x, y, border_points=0, on_exists="error").log_epoch(1)  # resumed
    assert os.stat(static).st_mtime_ns == mtime
    with pytest.raises(ValueError, match="different sample subset"):
        DVIWriter(str(tmp_path / "run"), model, x, (y + 1) % 3, border_points=0, on_exists="skip").log_epoch(2)
    assert storage.RunReader(str(tmp_path / "run")).epochs() == [0, 1]


# ----------------------------------------------------------------------------- bad input

def _model():
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


@pytest.mark.parametrize("kwargs,error,match", [
    (dict(train_data=torch.randn(10, 4), train_labels=torch.zeros(9, dtype=torch.long)), ValueError, r"train_labels has shape \(9,\).*\(10,\)"),
    (dict(train_data=["a text"] * 10, train_labels=[0] * 10), TypeError, "cannot batch a list of str.*collate_fn="),
    (dict(train_data=torch.randn(10, 4), train_labels=None), ValueError, "train_labels are missing"),
    (dict(train_data=torch.randn(10, 4), train_labels=[0] * 10, test_data=torch.randn(5, 4), test_labels=[0] * 4),
     ValueError, r"test_labels has shape \(4,\)"),
    (dict(train_data=torch.randn(10, 4), train_labels=[0] * 10, train_ids=[1] * 10), ValueError, "unique"),
    (dict(train_data=torch.randn(10, 4), train_labels=[0] * 10, class_names=["a", "b"]), ValueError, "class_names has 2"),
    (dict(train_data=torch.randn(10, 5), train_labels=[0] * 10), RuntimeError, r"2x5 and 4x8|shapes"),
])
def test_bad_input_names_the_problem(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        DVIWriter(str(tmp_path / "run"), _model(), **kwargs).log_epoch(0)


def test_model_without_linear(tmp_path):
    model = torch.nn.Sequential(torch.nn.Conv1d(1, 2, 3), torch.nn.Flatten())
    with pytest.raises(ValueError, match="no nn.Linear"):
        DVIWriter(str(tmp_path / "run"), model, torch.randn(10, 1, 5), [0] * 10)


def test_unsupported_head_says_what_to_do(tmp_path):
    class Weird(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(4, 3)

        def forward(self, x):
            return self.fc(x) * 2

    model = torch.nn.Sequential(torch.nn.Linear(4, 4), Weird())
    with pytest.raises(UnsupportedHeadError, match="cannot store a head containing Weird.*feature="):
        DVIWriter(str(tmp_path / "run"), model, torch.randn(10, 4), [0] * 10, head_module="1")


def test_head_not_last_step_is_detected(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 3))
    with pytest.raises(ValueError, match="does not reproduce the model's predictions"):
        DVIWriter(str(tmp_path / "run"), model, torch.randn(200, 4), [0] * 200, head_module="0",
                  border_points=0).log_epoch(0)


def test_nan_representations_rejected_and_nothing_written(tmp_path):
    model = _model()
    w = DVIWriter(str(tmp_path / "run"), model, torch.randn(10, 4), [0] * 10, border_points=0)
    w.log_epoch(0)
    with torch.no_grad():
        model[0].weight[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN or inf"):
        w.log_epoch(1)
    assert storage.RunReader(str(tmp_path / "run")).epochs() == [0]


@pytest.mark.parametrize("err", [28, 30, 13])  # ENOSPC, EROFS, EACCES
def test_disk_errors_leave_earlier_epochs_intact(tmp_path, monkeypatch, err):
    w = make_run(tmp_path / "run", epochs=1)
    before = storage.RunReader(str(tmp_path / "run")).epoch(1).representations.copy()
    calls = {"n": 0}
    real = storage._save_array

    def failing(folder, name, array):
        calls["n"] += 1
        if calls["n"] >= 2:
            raise OSError(err, os.strerror(err))
        return real(folder, name, array)

    monkeypatch.setattr(storage, "_save_array", failing)
    w.on_exists = "replace"
    with pytest.raises(storage.StorageError, match="could not write .*epoch-000001"):
        w.log_epoch(1)  # replacing epoch 1 fails half-way: the old epoch 1 must survive
    with pytest.raises(storage.StorageError, match=os.strerror(err) if err != 28 else "no space left"):
        w.log_epoch(2)
    r = storage.RunReader(str(tmp_path / "run"))
    assert r.epochs() == [1] and r.damaged() == {}
    np.testing.assert_array_equal(r.epoch(1).representations, before)
    assert not [n for n in os.listdir(os.path.join(r.root, md.EPOCHS_DIR)) if n.startswith(".")]


def test_really_full_disk(tmp_path):
    """A 1 MiB tmpfs: the second epoch does not fit."""
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 256), torch.nn.ReLU(), torch.nn.Linear(256, 3))
        w = DVIWriter(str(mnt / "run"), model, torch.randn(600, 8), torch.randint(0, 3, (600,)), border_points=0)
        w.log_epoch(0)  # ~0.6 MB
        with pytest.raises(storage.StorageError, match="no space left on device"):
            w.log_epoch(1)
        r = storage.RunReader(str(mnt / "run"))
        assert r.epochs() == [0] and r.damaged() == {}
    finally:
        subprocess.run(["umount", str(mnt)])


def test_sigkill_mid_epoch_leaves_no_partial_epoch(tmp_path):
    """Kill a writer repeatedly while it logs large epochs: every visible epoch is whole."""
    script = textwrap.dedent(f"""
        import sys, torch
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from tensorboard_dvi import DVIWriter
        torch.set_num_threads(1)
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(16, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 5))
        x, y = torch.randn(3000, 16), torch.randint(0, 5, (3000,))
        w = DVIWriter(sys.argv[1], model, x, y, border_points=0, on_exists="replace")
        e = 0
        while True:
            w.log_epoch(e % 4)
            e += 1
            print(e, flush=True)
    """)
    run = tmp_path / "run"
    rng = np.random.default_rng(0)
    kills = 0
    for _ in range(6):
        p = subprocess.Popen([sys.executable, "-c", script, str(run)], stdout=subprocess.PIPE, text=True)
        p.stdout.readline()  # at least one epoch done
        time.sleep(float(rng.uniform(0.0, 0.3)))
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
        r = storage.RunReader(str(run))
        assert r.epochs(), "no epoch visible"
        assert r.damaged() == {}, r.damaged()
        for e in r.epochs():
            assert r.epoch(e).representations.shape == (3000, 1024)
    assert kills == 6
