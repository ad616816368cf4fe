"""End to end on a real S3 server (moto): the writer logs to s3://, `tensorboard-dvi fit` writes a
shared cache there, and a TensorBoard started elsewhere (`--logdir s3://...`, its own empty local
mirror and no local cache) serves the fitted epochs without refitting."""

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest
from conftest import make_run
from engine_testdata import TINY
from test_plugin_process import get, start

from tensorboard_dvi import cli
from tensorboard_dvi import fs as dfs
from tensorboard_dvi import publish
from tensorboard_dvi.engine import EngineConfig
from tensorboard_dvi.engine.cache import RunCache, default_cache_dir
from tensorboard_dvi.storage import RunReader


@pytest.fixture
def fit_machine(tmp_path, monkeypatch):
    """This process plays the GPU box: its own mirror folder, cwd in a scratch folder."""
    monkeypatch.setenv("TENSORBOARD_DVI_MIRROR", str(tmp_path / "fit-mirror"))
    monkeypatch.setenv("TENSORBOARD_DVI_SYNC_S", "0")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli, "_config", lambda args: EngineConfig(**TINY, threads=1), raising=False)
    return tmp_path


def start_tensorboard(logdir, cache_root, tmp_path, monkeypatch):
    """Another machine: its own (empty) mirror and user cache; only the URLs are shared."""
    monkeypatch.setenv("TENSORBOARD_DVI_MIRROR", str(tmp_path / "viewer-mirror"))
    monkeypatch.setenv("TENSORBOARD_DVI_SYNC_S", "0.5")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "viewer-xdg"))
    exe = shutil.which("tensorboard", path=os.path.dirname(sys.executable))
    return start(logdir, tmp_path, [exe, "--dvi_cache_dir", cache_root])


def committed_versions(cache_url):
    fsys, parent = dfs.get_fs(dfs.join(cache_url, "epochs"))
    return {n: publish.read_marker(fsys, parent, n)["folder"] for n in publish.committed_names(fsys, parent)}


def test_log_fit_and_view_through_s3(moto_s3, s3_prefix, fit_machine, capsys, monkeypatch):
    logs = s3_prefix + "/logs"
    make_run(logs + "/run", epochs=2, n_train=120, n_test=30, thumbnails=False)
    assert not os.path.exists(fit_machine / "s3:")  # no local folder named after the scheme
    fsys, root = dfs.get_fs(logs)
    keys = fsys.find(root)
    assert any(k.endswith("run/plugins/dvi/epochs/epoch-000002.commit.json") for k in keys)
    assert any("events.out.tfevents" in k for k in keys)  # TensorBoard's own event file, also on S3

    cache_root = s3_prefix + "/dvi-cache"
    assert cli.main(["fit", logs, "--all-runs", "--cache-root", cache_root, "--quiet"]) == 0
    assert "fitted 2 epoch(s)" in capsys.readouterr().out
    run_cache = dfs.join(cache_root, default_cache_dir(logs + "/run").rsplit("/", 1)[-1])
    versions = committed_versions(run_cache)
    assert sorted(versions) == ["epoch-000001", "epoch-000002"]
    monkeypatch.setenv("TENSORBOARD_DVI_MIRROR", str(fit_machine / "other-mirror"))
    assert RunCache(run_cache).run_metrics() is not None  # run-level figures shared too

    # Viewed from elsewhere: an empty local mirror, the same URLs.
    proc, port = start_tensorboard(logs, cache_root, fit_machine, monkeypatch)
    try:
        assert [r["name"] if isinstance(r, dict) else r for r in get(port, "runs")["runs"]] == ["run"]
        st = get(port, "status?run=run", timeout=30)
        assert st["epochs"] == [1, 2] and st["fitted"] == [1, 2], st
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugin/dvi/projection?run=run&epoch=2",
                                    timeout=30) as r:
            assert r.status == 200 and len(r.read()) > 150 * 8
        time.sleep(1.5)
        st = get(port, "status?run=run", timeout=30)
        assert st["fitted"] == [1, 2] and st.get("state") in (None, "idle", "done"), st
    finally:
        proc.terminate()
        proc.wait(10)
    assert committed_versions(run_cache) == versions  # served, never refitted


def test_remote_errors_name_the_url(moto_s3, s3_prefix, fit_machine):
    with pytest.raises(SystemExit, match=r"s3://no-such-bucket-dvi/logs: the bucket does not exist"):
        cli.main(["fit", "s3://no-such-bucket-dvi/logs", "--quiet"])
    # Wrong credentials, in child processes (clients cache credentials in-process).
    env = dict(os.environ, AWS_SECRET_ACCESS_KEY="wrong",
               PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.abspath(__file__)), os.environ.get("PYTHONPATH", "")]))
    p = subprocess.run([sys.executable, "-m", "tensorboard_dvi.cli", "fit", s3_prefix + "/logs", "--quiet"],
                       env=env, capture_output=True, text=True, timeout=120)
    assert p.returncode != 0 and f"{s3_prefix}/logs: access denied" in p.stderr, p.stderr[-2000:]
    code = f"from conftest import make_run; make_run({s3_prefix + '/run'!r}, epochs=1, n_train=60, n_test=20)"
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode != 0 and re.search(rf"could not (read|write) {s3_prefix}/run\S*: access denied", p.stderr), \
        p.stderr[-2000:]
    assert RunReader(s3_prefix + "/run").epochs() == []  # nothing half-written is visible
