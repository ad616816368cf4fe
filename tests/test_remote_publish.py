"""fs.py (URLs through fsspec) and publish.py (files first, commit marker last) on memory:// and a
real S3 server (moto, started by the fixture)."""

import io
import json
import uuid

import numpy as np
import pytest
from s3_fixtures import clear_fs_cache

from tensorboard_dvi import fs as dfs
from tensorboard_dvi import publish


def test_url_helpers(tmp_path):
    assert dfs.protocol("/a/b") == "file" and dfs.protocol("S3://b/k") == "s3"
    assert dfs.is_local("file:///tmp/x") and dfs.is_local("rel/dir") and not dfs.is_local("memory://x")
    assert dfs.local_path("file:///tmp/x") == "/tmp/x"
    assert dfs.join("s3://b/run/", "plugins", "dvi") == "s3://b/run/plugins/dvi"
    assert dfs.join(str(tmp_path), "a") == str(tmp_path / "a")
    assert dfs.normalise("s3://b/run/") == "s3://b/run"
    assert dfs.normalise(f"file://{tmp_path}") == str(tmp_path)
    with pytest.raises(ValueError, match="not a local path"):
        dfs.local_path("s3://b/k")


def test_unknown_or_uninstalled_scheme_names_the_url():
    with pytest.raises(dfs.RemoteError, match="nosuchscheme://b/run"):
        dfs.get_fs("nosuchscheme://b/run")
    try:
        import gcsfs  # noqa: F401
    except ImportError:
        with pytest.raises(dfs.RemoteError, match=r"gs://b/run: .*needs gcsfs \(pip install gcsfs\)"):
            dfs.get_fs("gs://b/run")


def _files(tag: str):
    arr = np.arange(12, dtype=np.float32).reshape(3, 4) + len(tag)
    return {"a.npy": publish.npy_bytes("a.npy", arr), "info.json": publish.json_bytes({"tag": tag})}, arr


def _read(fs, parent, name):
    folder = publish.committed_folder(fs, parent, name)
    if folder is None:
        return None
    arr = np.load(io.BytesIO(fs.cat_file(folder + "/a.npy")), allow_pickle=False)
    return json.loads(fs.cat_file(folder + "/info.json"))["tag"], arr


def test_npy_bytes_round_trip_and_refuse_objects():
    arr = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float16)
    back = np.load(io.BytesIO(publish.npy_bytes("x.npy", arr)), allow_pickle=False)
    assert back.dtype == np.float16 and np.array_equal(back, arr)
    with pytest.raises(TypeError, match="x.npy: object arrays"):
        publish.npy_bytes("x.npy", np.array([{}], dtype=object))


def _reset():
    raise ConnectionResetError("connection reset by peer")


class FlakyFS:
    """Wraps a filesystem; before the n-th pipe_file ``action()`` runs (default: the connection drops)."""

    def __init__(self, fs, at: int, action=_reset):
        self._fs, self._n, self._at, self._action = fs, 0, at, action

    def pipe_file(self, path, data, **kw):
        self._n += 1
        if self._n == self._at:
            self._action()
        return self._fs.pipe_file(path, data, **kw)

    def __getattr__(self, name):
        return getattr(self._fs, name)


def check_protocol(fs, parent):
    """The protocol's guarantees on one filesystem (shared by memory:// and S3)."""
    name = "epoch-000001"
    assert publish.committed_names(fs, parent) == [] and _read(fs, parent, name) is None
    files, arr = _files("one")
    publish.write_folder(fs, parent, name, files)
    tag, back = _read(fs, parent, name)
    assert tag == "one" and np.array_equal(back, arr)
    assert publish.committed_names(fs, parent) == [name]
    with pytest.raises(publish.FolderExistsError, match="epoch-000001 already exists"):
        publish.write_folder(fs, parent, name, _files("two")[0])
    # A replace that dies after its first file: the old version stays the visible one.
    with pytest.raises(dfs.RemoteError, match=rf"could not write {fs.unstrip_protocol(parent)}/epoch-000001: .*reset"):
        publish.write_folder(FlakyFS(fs, 2), parent, name, _files("two")[0], replace=True)
    assert _read(fs, parent, name)[0] == "one"
    # A first write that dies before its marker: the epoch is not visible at all.
    with pytest.raises(dfs.RemoteError):
        publish.write_folder(FlakyFS(fs, 3), parent, "epoch-000002", _files("x")[0])
    assert publish.committed_names(fs, parent) == [name]
    assert publish.committed_folder(fs, parent, "epoch-000002") is None
    # Replace: new content visible; the previous version is kept, older ones collected.
    first = publish.committed_folder(fs, parent, name)
    publish.write_folder(fs, parent, name, _files("two")[0], replace=True)
    second = publish.committed_folder(fs, parent, name)
    assert _read(fs, parent, name)[0] == "two" and fs.exists(first + "/a.npy")
    publish.write_folder(fs, parent, name, _files("three")[0], replace=True)
    assert _read(fs, parent, name)[0] == "three" and fs.exists(second + "/a.npy")
    assert not fs.exists(first + "/a.npy")
    versions = [p for p in fs.ls(parent, detail=False) if ".v-" in p and name in p]
    assert len(versions) == 2
    # A second epoch, then removal: gone at once, versions deleted.
    publish.write_folder(fs, parent, "epoch-000002", _files("x")[0])
    assert publish.committed_names(fs, parent) == [name, "epoch-000002"]
    publish.remove_folder(fs, parent, name)
    assert publish.committed_names(fs, parent) == ["epoch-000002"]
    assert not [p for p in fs.ls(parent, detail=False) if name + ".v-" in p]


def test_protocol_on_memory_filesystem():
    fs, parent = dfs.get_fs(f"memory://dvi-{uuid.uuid4().hex[:8]}/run/epochs")
    check_protocol(fs, parent)


def test_marker_cannot_point_elsewhere():
    fs, parent = dfs.get_fs(f"memory://dvi-{uuid.uuid4().hex[:8]}/epochs")
    publish.write_folder(fs, parent, "epoch-000001", _files("one")[0])
    for bad in ("../../secret", "epoch-000002.v-0123456789ab", "epoch-000001.v-../../x", 7):
        fs.pipe_file(publish.marker_path(parent, "epoch-000001"), json.dumps({"folder": bad}).encode())
        assert publish.committed_folder(fs, parent, "epoch-000001") is None


def test_protocol_on_s3(moto_s3, s3_prefix):
    fs, parent = dfs.get_fs(s3_prefix + "/run/epochs")
    check_protocol(fs, parent)


def test_s3_faults_name_the_url(moto_s3, s3_prefix, monkeypatch):
    import s3fs
    files = _files("one")[0]
    fs, parent = dfs.get_fs(s3_prefix + "/run")
    with pytest.raises(dfs.RemoteError, match=r"could not write s3://dvi-test/.*: access denied"):
        wrong = s3fs.S3FileSystem(key="AKIAWRONGWRONGWRONG", secret="nope", skip_instance_cache=True)
        publish.write_folder(wrong, parent, "epoch-000001", files, url=s3_prefix + "/run/epoch-000001")
    with pytest.raises(dfs.RemoteError, match=r"could not write s3://no-such-bucket-dvi/run/x: the bucket does not"):
        fsb, pb = dfs.get_fs("s3://no-such-bucket-dvi/run")
        publish.write_folder(fsb, pb, "x", files, url="s3://no-such-bucket-dvi/run/x")
    for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(k)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    clear_fs_cache()
    with pytest.raises(dfs.RemoteError, match=r"could not write s3://dvi-test/.*: no credentials found"):
        fsn, pn = dfs.get_fs(s3_prefix + "/run")
        publish.write_folder(fsn, pn, "epoch-000001", files, url=s3_prefix + "/run/epoch-000001")
    monkeypatch.undo()
    clear_fs_cache()
    fs, parent = dfs.get_fs(s3_prefix + "/run")
    assert publish.committed_names(fs, parent) == []  # nothing half-written became visible
    publish.write_folder(fs, parent, "epoch-000001", files)  # and the next write succeeds
    assert publish.committed_names(fs, parent) == ["epoch-000001"]


def test_server_stopped_mid_write(threaded_moto):
    """The server goes away after the first uploaded file: clear error, no partial epoch, then
    (server back) the old epoch is still whole and the next write succeeds."""
    import s3fs
    fs = s3fs.S3FileSystem(key="k", secret="s", endpoint_url=threaded_moto.endpoint, skip_instance_cache=True,
                           config_kwargs={"retries": {"max_attempts": 1}, "connect_timeout": 2})
    fs.mkdir("faults")
    parent = "faults/run/epochs"
    publish.write_folder(fs, parent, "epoch-000001", _files("one")[0])

    for name, replace in (("epoch-000001", True), ("epoch-000002", False)):
        with pytest.raises(dfs.RemoteError, match=rf"could not write s3://faults/run/epochs/{name}: "
                                                  r"cannot reach the storage server"):
            publish.write_folder(FlakyFS(fs, 2, threaded_moto.stop), parent, name, _files("two")[0], replace=replace,
                                 url=f"s3://faults/run/epochs/{name}")
        threaded_moto.start()
        fs.invalidate_cache()
        assert publish.committed_names(fs, parent) == ["epoch-000001"]
        assert _read(fs, parent, "epoch-000001")[0] == "one"
    publish.write_folder(fs, parent, "epoch-000002", _files("two")[0])
    assert publish.committed_names(fs, parent) == ["epoch-000001", "epoch-000002"]
    assert _read(fs, parent, "epoch-000002")[0] == "two"


def test_writer_survives_the_server_going_away(threaded_moto, moto_s3, monkeypatch, tmp_path):
    """DVIWriter on s3://: the server stops while epoch 2 uploads; the error names the URL,
    epoch 2 is not visible, and once the server is back the writer logs epoch 2 fine."""
    from conftest import make_run
    from tensorboard_dvi import storage
    for k, v in {"AWS_ENDPOINT_URL": threaded_moto.endpoint, "AWS_ACCESS_KEY_ID": moto_s3.key,
                 "AWS_SECRET_ACCESS_KEY": moto_s3.secret, "AWS_DEFAULT_REGION": "us-east-1",
                 "TENSORBOARD_DVI_MIRROR": str(tmp_path / "mirror"), "AWS_MAX_ATTEMPTS": "1"}.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("FSSPEC_S3_ENDPOINT_URL", raising=False)
    clear_fs_cache()
    dfs.get_fs("s3://faults-writer")[0].mkdir("faults-writer")  # (moto's data is per process)
    url = "s3://faults-writer/logs/run"
    writer = make_run(url, epochs=1, n_train=60, n_test=20, thumbnails=False)
    real = publish.write_folder
    calls = {"n": 0}

    def stop_midway(fsys, parent, name, files, **kw):
        calls["n"] += 1
        return real(FlakyFS(fsys, 2, threaded_moto.stop) if calls["n"] == 1 else fsys, parent, name, files, **kw)

    monkeypatch.setattr(publish, "write_folder", stop_midway)
    writer.trained_model.train()
    with pytest.raises(storage.StorageError, match=r"could not write s3://faults-writer/logs/run/plugins/dvi/epochs/"
                                                   r"epoch-000002: cannot reach the storage server"):
        writer.log_epoch(2)
    threaded_moto.start()
    assert storage.RunReader(url).epochs() == [1]
    assert writer.log_epoch(2) is not None
    assert storage.RunReader(url).epochs() == [1, 2] and not storage.RunReader(url).damaged()
