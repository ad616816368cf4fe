"""GET metrics (without epoch) carries the run-level figures of run_metrics.json, and only the
documented fields of it: a damaged or hostile file is served as null figures, never a 500."""

import json
import os

import pytest

from conftest import make_run
from plugin_fakes import fake_fit, make_client
from tensorboard_dvi.engine.cache import RUN_METRICS_FILE, RunCache, default_cache_dir
from tensorboard_dvi.plugin.jobs import JobManager


@pytest.fixture()
def env(tmp_path):
    logdir, cache_root = tmp_path / "logs", tmp_path / "cache"
    make_run(logdir / "r", epochs=3, seed=0)
    path = os.fspath(logdir / "r")
    cache_dir = os.path.join(cache_root, os.path.basename(default_cache_dir(path)))
    fake_fit(path, cache_dir, epochs=[1, 2, 3])
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"),
                                 cache_root=os.fspath(cache_root), autofit=False, watch_interval_s=0)
    yield client, RunCache(cache_dir)
    plugin.close()


def _run_level(client):
    r = client.get("/data/plugin/dvi/metrics", query_string={"run": "r"})
    assert r.status_code == 200, r.get_data(as_text=True)
    return r.get_json()["run"]


def test_run_level_figures_served(env):
    client, cache = env
    assert _run_level(client) is None                     # not computed yet
    cache.write_run_metrics({"epochs": [1, 2, 3], "tnn_3": 2.1, "tnn_5": 4.25, "tr": 0.72,
                             "temporal_corr": -0.31, "mean": {"nn_15": 6.5}, "input_uids": {"1": "a"}})
    run = _run_level(client)
    assert (run["tnn_5"], run["tr"], run["temporal_corr"], run["epochs"]) == (4.25, 0.72, -0.31, [1, 2, 3])
    assert run["mean"] == {"nn_15": 6.5}


@pytest.mark.parametrize("content", [
    "[1, 2]", '"text"', "{" * 5000 + "}" * 5000, '{"tr": "0.9", "tnn_5": [1], "temporal_corr": NaN, '
    '"epochs": "1,2", "mean": [], "tnn_3": true}', "not json"])
def test_damaged_or_hostile_run_metrics(env, content):
    client, cache = env
    with open(os.path.join(cache.cache_dir, RUN_METRICS_FILE), "w") as f:
        f.write(content)
    run = _run_level(client)
    if run is not None:
        assert all(run[k] is None for k in ("tnn_3", "tnn_5", "tr", "temporal_corr"))
        assert run["epochs"] == [] and run["mean"] == {}
    json.dumps(run, allow_nan=False)                      # valid JSON for the tab
