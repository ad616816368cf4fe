"""The job lifecycle with the real engine (small configuration) behind the real routes:
start, progress, epochs arriving, a new epoch appended while TensorBoard runs,
cancel, a worker killed mid-fit and the resume after it."""

import json
import os
import signal
import shutil
import time

import numpy as np
import pytest

from conftest import make_run
from plugin_fakes import PREFIX, make_client
from test_plugin_jobs import _alive, append_epoch, status, wait_for
from tensorboard_dvi.engine import EngineConfig
from tensorboard_dvi.plugin import wire
from tensorboard_dvi.plugin.jobs import JobManager

SMALL = dict(max_trainer_epochs=1, hidden=(32, 32), background_resolution=20, threads=1, batch_size=256)
# Long enough to be caught running: many trainer epochs, no early stop.
SLOW = dict(SMALL, max_trainer_epochs=100000, patience=100000, min_delta=-1.0)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("engine-template")
    make_run(root / "run", epochs=3, seed=0, n_train=200, n_test=50)
    return root / "run"


@pytest.fixture
def build(template, tmp_path):
    made = []

    def make(config, grace=5.0):
        logdir = tmp_path / "logs"
        shutil.copytree(template, logdir / "run")
        jobs = JobManager(config=EngineConfig(**config), cancel_grace_s=grace, poll_s=0.1)
        client, plugin = make_client(logdir, jobs=jobs, cache_root=os.fspath(tmp_path / "cache"),
                                     watch_interval_s=0.2)
        made.append(plugin)
        return client, plugin, jobs, logdir

    yield make
    for p in made:
        p.close()


def test_real_engine_end_to_end(build):
    client, plugin, jobs, logdir = build(SMALL)
    s = status(client)
    assert s["state"] in ("queued", "running")
    s = wait_for(lambda: (lambda s: s if s["state"] in ("done", "error") else None)(status(client)), timeout=120)
    assert s["state"] == "done", s
    assert s["fitted"] == [1, 2, 3]
    r = client.get(PREFIX + "projection", query_string={"run": "run", "epoch": 2})
    assert r.status_code == 200
    header, a = wire.decode(r.get_data())
    assert a["coords"].shape == (250, 2) and np.isfinite(a["coords"]).all()
    r = client.get(PREFIX + "background", query_string={"run": "run", "epoch": 2})
    assert r.status_code == 200 and r.get_data()[:4] == b"\x89PNG"
    meta = json.loads(client.get(PREFIX + "background_meta", query_string={"run": "run", "epoch": 2}).get_data())
    assert meta["resolution"] == 20
    x0, y0, x1, y1 = meta["bounds"]
    p = json.loads(client.get(PREFIX + "predict_at", query_string={"run": "run", "epoch": 2, "x": (x0 + x1) / 2,
                                                                   "y": (y0 + y1) / 2}).get_data())
    assert p["inside"] is True and 0 <= p["class"] < 10
    m = json.loads(client.get(PREFIX + "metrics", query_string={"run": "run"}).get_data())
    assert m["epochs"] == [1, 2, 3] and "nn_15" in m["metrics"][0]
    # Training goes on: a new epoch is picked up by the watcher and fitted incrementally.
    append_epoch(logdir / "run", 3, 4)
    wait_for(lambda: status(client)["fitted"] == [1, 2, 3, 4], timeout=120)


def test_real_engine_cancel_and_kill(build):
    client, plugin, jobs, logdir = build(SLOW, grace=3.0)
    status(client)
    wait_for(lambda: (lambda s: s["state"] == "running" and s["stage"] == "train")(status(client)), timeout=120)
    t0 = time.monotonic()
    client.post(PREFIX + "cancel", query_string={"run": "run"})
    wait_for(lambda: status(client)["state"] == "cancelled", timeout=10)
    assert time.monotonic() - t0 < 4
    # Restart, then kill the worker mid-fit: an error status with the reason; the server stays up.
    client.post(PREFIX + "fit", query_string={"run": "run"})
    wait_for(lambda: (lambda s: s["state"] == "running" and s["stage"] == "train")(status(client)), timeout=120)
    pid = jobs.worker_pids()[0]
    os.kill(pid, signal.SIGKILL)
    s = wait_for(lambda: (lambda s: s if s["state"] == "error" else None)(status(client)), timeout=10)
    assert "SIGKILL" in s["error"]
    wait_for(lambda: not _alive(pid), timeout=5)
    assert client.get(PREFIX + "runs").status_code == 200


def _cuda():
    import torch
    return torch.cuda.is_available()


@pytest.mark.skipif(not _cuda(), reason="needs a CUDA GPU")
def test_real_engine_on_cuda_in_a_spawned_worker(template, tmp_path):
    """--dvi_device cuda: the worker (spawn, so CUDA initialises cleanly) fits on the GPU."""
    logdir = tmp_path / "logs"
    shutil.copytree(template, logdir / "run")
    jobs = JobManager(config=EngineConfig(**SMALL), device="cuda", poll_s=0.1)
    client, plugin = make_client(logdir, jobs=jobs, cache_root=os.fspath(tmp_path / "cache"), watch_interval_s=0.2)
    try:
        status(client)
        s = wait_for(lambda: (lambda s: s if s["state"] in ("done", "error") else None)(status(client)), timeout=300)
        assert s["state"] == "done", s
        assert s["fitted"] == [1, 2, 3]
        header, a = wire.decode(client.get(PREFIX + "projection", query_string={"run": "run", "epoch": 3}).get_data())
        assert np.isfinite(a["coords"]).all() and a["coords"].std() > 0
    finally:
        plugin.close()
