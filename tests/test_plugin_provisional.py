"""The provisional first map behind the routes: `status` lists it while the run has no fitted
epoch, `projection?provisional=1` serves it flagged, the plain routes never do, and the fitted
epoch replaces it. The last test runs the real job (engine/provisional.fit_run_first_map) in a
worker process."""

import json
import os
import time

import numpy as np
import pytest

from conftest import make_run
from plugin_fakes import PREFIX, fake_fit, make_client
from test_plugin_jobs import wait_for
from tensorboard_dvi.engine import EngineConfig
from tensorboard_dvi.engine import provisional as P
from tensorboard_dvi.engine.cache import default_cache_dir
from tensorboard_dvi.plugin import wire
from tensorboard_dvi.plugin.jobs import JobManager
from tensorboard_dvi.storage import RunReader


@pytest.fixture
def env(tmp_path):
    logdir, cache_root = tmp_path / "logs", tmp_path / "cache"
    make_run(logdir / "run", epochs=2, n_train=200, n_test=50)
    run_path = os.fspath(logdir / "run")
    cache_dir = os.path.join(cache_root, os.path.basename(default_cache_dir(run_path)))
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"),
                                 cache_root=os.fspath(cache_root), autofit=False, watch_interval_s=0)
    yield client, run_path, cache_dir
    plugin.close()


def _get(client, route, **q):
    return client.get(PREFIX + route, query_string={"run": "run", **q})


def test_provisional_served_flagged_then_replaced_by_the_fitted_epoch(env):
    client, run_path, cache_dir = env
    reader = RunReader(run_path)
    P.fit_provisional(reader, cache_dir, 1)
    st = json.loads(_get(client, "status").get_data())
    assert st["fitted"] == [] and st["provisional"] == [1]
    runs = json.loads(client.get(PREFIX + "runs").get_data())["runs"]
    assert runs[0]["provisional"] == [1]

    r = _get(client, "projection", epoch=1, provisional=1)
    assert r.status_code == 200, r.get_data(as_text=True)
    header, arrays = wire.decode(r.get_data())
    assert header["provisional"] is True and header["background"] is False and header["epoch"] == 1
    assert header["seconds"] > 0
    stored, _ = P.read_provisional(cache_dir, 1, reader.epoch(1).uid, 250)
    assert np.array_equal(arrays["coords"], stored)
    assert np.array_equal(arrays["predictions"], reader.epoch(1).predictions)

    # readers of fitted epochs never see it
    for route in ("projection", "background", "background_meta", "metrics"):
        r = _get(client, route, epoch=1)
        assert r.status_code == 404 and r.headers["X-DVI-Error"] == "not_fitted", route
    r = _get(client, "projection", epoch=2, provisional=1)  # epoch 2 has none
    assert r.status_code == 404 and r.headers["X-DVI-Error"] == "not_fitted"
    assert _get(client, "projection", epoch=1, provisional="yes").status_code == 400
    assert _get(client, "projection", epoch=9, provisional=1).headers["X-DVI-Error"] == "unknown_epoch"

    fake_fit(run_path, cache_dir, epochs=[1])  # the fitted epoch arrives (provisional still on disk)
    time.sleep(1.1)  # written behind the job manager's back: the "fitted" memo lives 1 s (runs.py)
    st = json.loads(_get(client, "status").get_data())
    assert st["fitted"] == [1] and st["provisional"] == []
    header, arrays = wire.decode(_get(client, "projection", epoch=1, provisional=1).get_data())
    assert "provisional" not in header
    assert not np.array_equal(arrays["coords"], stored)


def test_a_stale_provisional_layout_is_not_served(env):
    client, run_path, cache_dir = env
    n = 250
    P.write_provisional(cache_dir, 1, np.zeros((n, 2), np.float32), {"input_uid": "older input"})
    assert json.loads(_get(client, "status").get_data())["provisional"] == []
    r = _get(client, "projection", epoch=1, provisional=1)
    assert r.status_code == 404 and r.headers["X-DVI-Error"] == "not_fitted"


SLOW = dict(max_trainer_epochs=100000, patience=100000, min_delta=-1.0, hidden=(32, 32), threads=1,
            batch_size=256, background_resolution=16)


def test_the_real_job_shows_a_provisional_map_before_the_first_fitted_epoch(tmp_path):
    logdir, cache_root = tmp_path / "logs", tmp_path / "cache"
    make_run(logdir / "run", epochs=2, n_train=200, n_test=50)
    jobs = JobManager(config=EngineConfig(**SLOW), cancel_grace_s=5.0, poll_s=0.1)  # the default fit
    client, plugin = make_client(logdir, jobs=jobs, cache_root=os.fspath(cache_root), watch_interval_s=0)
    try:
        post = lambda: json.loads(client.post(PREFIX + "status", query_string={"run": "run"}).get_data())  # noqa: E731
        st = wait_for(lambda: (lambda s: s if s["provisional"] else None)(post()), timeout=120)
        assert st["provisional"] == [1] and st["fitted"] == [] and st["state"] == "running"
        header, _ = wire.decode(_get(client, "projection", epoch=1, provisional=1).get_data())
        assert header["provisional"] is True
        # the one job goes on with the real fit of the same run (no second job, no second copy)
        st = wait_for(lambda: (lambda s: s if s["stage"] in ("load", "complex", "train") else None)(post()),
                      timeout=120)
        assert st["state"] == "running" and st["provisional"] == [1]
        client.post(PREFIX + "cancel", query_string={"run": "run"})
        st = wait_for(lambda: (lambda s: s if s["state"] == "cancelled" else None)(post()), timeout=60)
        assert st["fitted"] == []
    finally:
        plugin.close()
