"""mirror.py: remote runs read through the local reader, on memory:// and the moto S3 server."""

import os
import uuid

import numpy as np
import pytest
from conftest import make_run

from tensorboard_dvi import fs as dfs
from tensorboard_dvi import metadata as md
from tensorboard_dvi import mirror, publish
from tensorboard_dvi.storage import DamagedEpochError, RunReader


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("src") / "run"
    make_run(d, epochs=2, n_train=120, n_test=30, thumbnails=False)
    return d


@pytest.fixture(autouse=True)
def mirror_root(tmp_path, monkeypatch):
    monkeypatch.setenv("TENSORBOARD_DVI_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("TENSORBOARD_DVI_SYNC_S", "0")
    return tmp_path / "mirror"


def upload_folder(local_folder, url_parent, name, replace=False):
    files = {f: open(os.path.join(local_folder, f), "rb").read() for f in sorted(os.listdir(local_folder))}
    fsys, parent = dfs.get_fs(url_parent)
    return publish.write_folder(fsys, parent, name, files, replace=replace)


def upload_run(local_run, url, epochs=None, static=True):
    plugin = os.path.join(local_run, *md.PLUGIN_DIR)
    if static:
        upload_folder(os.path.join(plugin, md.STATIC_DIR), dfs.join(url, *md.PLUGIN_DIR), md.STATIC_DIR)
    for e in epochs or RunReader(str(local_run)).epochs():
        upload_folder(os.path.join(plugin, md.EPOCHS_DIR, md.epoch_dir_name(e)),
                      dfs.join(url, *md.PLUGIN_DIR, md.EPOCHS_DIR), md.epoch_dir_name(e))


def test_paths(mirror_root):
    local = mirror.local_for("s3://bucket/logs/run/")
    assert local == str(mirror_root / "s3" / "bucket" / "logs" / "run")
    assert mirror.source_url(local) == "s3://bucket/logs/run"
    assert mirror.source_url("/elsewhere/run") is None
    assert mirror.localize("file:///tmp/x") == "/tmp/x"
    for bad in ("s3://bucket/../etc", "s3://bucket/a/./b", "s3://"):
        with pytest.raises(dfs.RemoteError, match="not a usable location"):
            mirror.local_for(bad)


def check_mirror(local_run, url):
    upload_run(local_run, url, epochs=[1])
    names = mirror.remote_runs(url.rsplit("/", 1)[0])
    assert names == ["run"]
    src = RunReader(str(local_run))
    local = mirror.sync_run(url)
    r = RunReader(local)
    assert r.epochs() == [1] and r.meta == src.meta
    assert np.array_equal(r.static().labels, src.static().labels)
    assert r.epoch(1).uid == src.epoch(1).uid and not r.damaged()
    np.testing.assert_array_equal(r.epoch(1).representations, src.epoch(1).representations)
    # A half-uploaded epoch (files, no marker) stays invisible.
    fsys, parent = dfs.get_fs(dfs.join(url, *md.PLUGIN_DIR, md.EPOCHS_DIR))
    fsys.pipe_file(parent + "/epoch-000002.v-0123456789ab/representations.npy", b"partial")
    assert mirror.refresh(local) and RunReader(local).epochs() == [1]
    # Committed: appears. Replaced remotely: the mirror follows (new uid). Removed: gone.
    upload_run(local_run, url, epochs=[2], static=False)
    mirror.refresh(local)
    assert RunReader(local).epochs() == [1, 2]
    assert RunReader(local).epoch(2).uid == src.epoch(2).uid
    upload_folder(os.path.join(local_run, *md.PLUGIN_DIR, md.EPOCHS_DIR, md.epoch_dir_name(1)),
                  dfs.join(url, *md.PLUGIN_DIR, md.EPOCHS_DIR), md.epoch_dir_name(2), replace=True)
    mirror.refresh(local)
    with pytest.raises(Exception, match="does not describe epoch 2"):
        RunReader(local).epoch(2)  # the content (of epoch 1) came through as published
    publish.remove_folder(fsys, parent, md.epoch_dir_name(2))
    mirror.refresh(local)
    assert RunReader(local).epochs() == [1]
    assert not [n for n in os.listdir(os.path.dirname(RunReader(local).epoch_path(1))) if n.startswith(".")]


def test_mirror_on_memory(local_run):
    check_mirror(local_run, f"memory://m{uuid.uuid4().hex[:8]}/logs/run")


def test_mirror_on_s3(local_run, moto_s3, s3_prefix):
    check_mirror(local_run, s3_prefix + "/logs/run")


def test_mirror_refuses_a_marker_with_wrong_sizes(local_run):
    url = f"memory://m{uuid.uuid4().hex[:8]}/logs/run"
    upload_run(local_run, url, epochs=[1])
    fsys, parent = dfs.get_fs(dfs.join(url, *md.PLUGIN_DIR, md.EPOCHS_DIR))
    folder = publish.committed_folder(fsys, parent, "epoch-000001")
    fsys.pipe_file(folder + "/logits.npy", b"truncated")
    with pytest.raises(dfs.RemoteError, match=r"logits.npy: 9 bytes, the commit marker says"):
        mirror.sync_run(url)
    local = mirror.local_for(url)
    assert not mirror.refresh(local)  # non-strict: logged, the mirror kept as it was
    lenient = RunReader(local)  # the plugin's reader (a mirror path): listed, reported damaged
    assert lenient.epochs() == [1]
    with pytest.raises(DamagedEpochError, match=r"could not be mirrored: .*logits.npy: 9 bytes"):
        lenient.epoch(1)
    assert not os.path.isdir(lenient.epoch_path(1))


def test_missing_bucket_names_the_url(moto_s3):
    with pytest.raises(dfs.RemoteError, match="could not list s3://no-such-bucket-dvi/logs: the bucket does not"):
        mirror.remote_runs("s3://no-such-bucket-dvi/logs")
