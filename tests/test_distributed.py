"""Fitting a sweep on a Dask cluster of 2 worker processes; one worker killed mid-run resumes."""

import json
import os
import signal
import time
import uuid

import pytest
from conftest import make_run
from engine_testdata import TINY

from tensorboard_dvi.engine import EngineConfig
from tensorboard_dvi.engine.cache import RunCache

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    d = tmp_path_factory.mktemp("sweep")
    make_run(d / "a", epochs=4, n_train=300, n_test=60, seed=0)
    make_run(d / "b", epochs=2, n_train=300, n_test=60, seed=1)
    return d


@pytest.fixture(scope="module")
def cluster(moto_s3, tmp_path_factory):
    """2 worker processes; they inherit the S3 server's variables and a mirror folder."""
    from distributed import Client, LocalCluster
    saved = os.environ.get("TENSORBOARD_DVI_MIRROR")
    os.environ["TENSORBOARD_DVI_MIRROR"] = str(tmp_path_factory.mktemp("worker-mirror"))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      worker_dashboard_address=None) as lc, Client(lc) as client:
        yield client
    if saved is None:
        os.environ.pop("TENSORBOARD_DVI_MIRROR", None)
    else:
        os.environ["TENSORBOARD_DVI_MIRROR"] = saved


def _epoch_json(cache_dir, epoch):
    with open(os.path.join(RunCache(cache_dir).epoch_path(epoch), "epoch.json"), encoding="utf-8") as f:
        return json.load(f)


@pytest.mark.parametrize("where", ["local", "s3"])
def test_sweep_fans_out_and_a_killed_worker_resumes(sweep, cluster, tmp_path, where, moto_s3):
    from tensorboard_dvi.distributed import fit_runs_on_cluster
    cfg = EngineConfig(**TINY, threads=1)
    base = str(tmp_path) if where == "local" else moto_s3.url(uuid.uuid4().hex[:8])
    caches = {n: f"{base}/cache-{n}" for n in ("a", "b")}
    runs = [(n, str(sweep / n), caches[n]) for n in ("a", "b")]
    events = []
    killed = {}
    pids = cluster.run(os.getpid)  # worker address -> pid (the handler below runs in the client's loop)

    def progress(msg):
        events.append(msg)
        # Kill the worker fitting run "a" as soon as its first epoch is published.
        if not killed and msg["run"] == "a" and RunCache(caches["a"]).fitted_epochs():
            killed["first"] = _epoch_json(caches["a"], 1)
            killed["worker"] = msg["worker"]
            os.kill(pids[msg["worker"]], signal.SIGKILL)

    t0 = time.time()
    out = fit_runs_on_cluster(runs, cluster, config=cfg, progress=progress, timeout=300)
    assert killed, "run a finished before the kill could happen"
    assert out["b"] == [1, 2]
    # The resumed task fitted only what was not published before the kill.
    assert isinstance(out["a"], list) and out["a"] and 1 not in out["a"] and out["a"][-1] == 4
    assert RunCache(caches["a"]).fitted_epochs() == [1, 2, 3, 4]
    assert _epoch_json(caches["a"], 1) == killed["first"]  # epoch 1 was not refit
    workers_a = {m["worker"] for m in events if m["run"] == "a" and m["stage"] == "started"}
    assert len(workers_a) == 2 and killed["worker"] in workers_a  # started again elsewhere
    assert {m["run"] for m in events if m["stage"] == "done"} == {"a", "b"}
    # No temporary leftovers that a reader could mistake for an epoch.
    for n in ("a", "b"):
        names = os.listdir(RunCache(caches[n]).epochs_dir)
        assert all(x.startswith("epoch-") or x.startswith(".") for x in names)
    if where == "s3":  # every committed epoch is whole: a fresh mirror reads all of them
        os.environ["TENSORBOARD_DVI_MIRROR"] = str(tmp_path / "fresh-mirror")
        assert RunCache(caches["a"]).fitted_epochs() == [1, 2, 3, 4]
        assert all(RunCache(caches["a"]).embedding(e).shape == (360, 2) for e in (1, 2, 3, 4))
    assert time.time() - t0 < 300


def test_a_failing_run_does_not_stop_the_sweep(sweep, cluster, tmp_path):
    from tensorboard_dvi.distributed import fit_runs_on_cluster
    empty = tmp_path / "empty"
    empty.mkdir()
    out = fit_runs_on_cluster([("b", str(sweep / "b"), str(tmp_path / "cb")), ("bad", str(empty), str(tmp_path / "cx"))],
                              cluster, config=EngineConfig(**TINY, threads=1), progress=lambda m: None,
                              retries=0, timeout=300)
    assert out["b"] == [1, 2]
    assert type(out["bad"]).__name__ == "EngineError" and "no DVI data" in str(out["bad"]), out["bad"]


def test_cli_fit_all_runs_on_a_scheduler_from_s3(cluster, moto_s3, tmp_path, monkeypatch, capsys):
    """`tensorboard-dvi fit s3://.../logs --all-runs --scheduler ADDRESS --cache-root s3://...`."""
    from tensorboard_dvi import cli
    from tensorboard_dvi.engine.cache import default_cache_dir
    monkeypatch.setenv("TENSORBOARD_DVI_MIRROR", str(tmp_path / "client-mirror"))
    monkeypatch.setattr(cli, "_config", lambda args: EngineConfig(**TINY, threads=1), raising=False)
    logs = moto_s3.url(uuid.uuid4().hex[:8], "logs")
    for i, n in enumerate(("x", "y")):
        make_run(f"{logs}/{n}", epochs=2, n_train=150, n_test=30, seed=i, thumbnails=False)
    address = cluster.scheduler.address
    cache_root = moto_s3.url(uuid.uuid4().hex[:8], "cache")
    assert cli.main(["fit", logs, "--all-runs", "--scheduler", address, "--cache-root", cache_root, "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "x: fitted 2 epoch(s): 1, 2" in out and "y: fitted 2 epoch(s): 1, 2" in out
    for n in ("x", "y"):
        key = default_cache_dir(f"{logs}/{n}").rsplit("/", 1)[-1]
        assert RunCache(f"{cache_root}/{key}").fitted_epochs() == [1, 2]
