"""The "B laid out from A" routes (plugin/reference_route.py) with the real engine in worker
processes: 409 before A is fitted, the job, its status, and the map routes with ``ref=A``."""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import make_run
from plugin_fakes import PREFIX, make_client
from test_plugin_jobs import wait_for
from tensorboard_dvi.engine import EngineConfig
from tensorboard_dvi.engine.cache import RunCache
from tensorboard_dvi.plugin import wire
from tensorboard_dvi.plugin.jobs import JobManager

SMALL = dict(max_trainer_epochs=1, hidden=(32, 32), background_resolution=20, threads=1, batch_size=256)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("ref-template")
    make_run(root / "clean", epochs=2, seed=0, n_train=200, n_test=50, thumbnails=False)
    make_run(root / "noisy", epochs=2, seed=0, n_train=200, n_test=50, noisy_fraction=0.2, thumbnails=False)
    return root


@pytest.fixture
def tab(template, tmp_path):
    logdir = tmp_path / "logs"
    shutil.copytree(template, logdir)
    jobs = JobManager(config=EngineConfig(**SMALL), poll_s=0.1)
    client, plugin = make_client(logdir, jobs=jobs, cache_root=os.fspath(tmp_path / "cache"), autofit=False,
                                 watch_interval_s=0)
    yield client, plugin
    plugin.close()


def _json(r, code=200):
    assert r.status_code == code, r.get_data(as_text=True)
    return json.loads(r.get_data())


def _done(client, route, q):
    s = _json(client.get(PREFIX + route, query_string=q))
    return s if s["state"] in ("done", "error", "cancelled") else None


def test_fit_from_needs_a_then_serves_b_laid_out_from_a(tab):
    client, plugin = tab
    q = {"run": "noisy", "ref": "clean"}
    r = client.post(PREFIX + "fit_from", query_string=q)
    assert r.status_code == 409 and r.headers["X-DVI-Error"] == "reference_not_fitted"
    assert "'clean' has fitted none" in r.get_data(as_text=True)
    s = _json(client.get(PREFIX + "fit_from", query_string=q))
    assert s["waiting_for_ref"] == [1, 2] and s["ready"] == [] and s["fitted"] == []
    r = client.get(PREFIX + "projection", query_string={**q, "epoch": 1})
    assert r.status_code == 409 and r.headers["X-DVI-Error"] == "reference_not_fitted"

    # fit A (and B on its own, to compare), then B from A
    for run in ("clean", "noisy"):
        _json(client.post(PREFIX + "fit", query_string={"run": run}), 202)
    for run in ("clean", "noisy"):
        s = wait_for(lambda: _done(client, "status", {"run": run}), timeout=180)
        assert s["fitted"] == [1, 2], s
    s = _json(client.post(PREFIX + "fit_from", query_string=q), 202)
    assert s["state"] in ("queued", "running") and s["ready"] == [1, 2]
    s = wait_for(lambda: _done(client, "fit_from", q), timeout=180)
    assert s["state"] == "done" and s["fitted"] == [1, 2] and s["waiting_for_ref"] == [], s
    # a second POST with everything fresh starts nothing
    assert _json(client.post(PREFIX + "fit_from", query_string=q), 202)["state"] == "done"

    own = wire.decode(client.get(PREFIX + "projection", query_string={"run": "noisy", "epoch": 2}).get_data())[1]
    ref = wire.decode(client.get(PREFIX + "projection", query_string={**q, "epoch": 2}).get_data())[1]
    a = wire.decode(client.get(PREFIX + "projection", query_string={"run": "clean", "epoch": 2}).get_data())[1]
    assert ref["coords"].shape == own["coords"].shape == (250, 2)
    assert np.array_equal(ref["predictions"], own["predictions"])  # B's own model output
    assert not np.allclose(ref["coords"], own["coords"])
    spread = np.sqrt(((a["coords"] - a["coords"].mean(0)) ** 2).sum(1).mean())
    assert np.median(np.linalg.norm(ref["coords"] - a["coords"], axis=1)) < 0.5 * spread
    # B's own cache was not touched: its folder holds B's own embedding
    b_own = RunCache(plugin.runs.known("noisy").cache_dir).embedding(2)
    assert np.allclose(b_own, own["coords"])

    # trails of a pane laid out from A: B's positions in that layout, epoch by epoch
    ids = [int(i) for i in wire.decode(client.get(PREFIX + "samples", query_string={"run": "noisy"}).get_data())[1]["ids"][:3]]
    tr = _json(client.get(PREFIX + "trajectories", query_string={**q, "ids": ",".join(map(str, ids))}))
    own_tr = _json(client.get(PREFIX + "trajectories", query_string={"run": "noisy", "ids": ",".join(map(str, ids))}))
    assert tr["epochs"] == own_tr["epochs"] == [1, 2]
    assert np.allclose(np.asarray(tr["positions"])[:, 1], ref["coords"][:3])
    assert np.allclose(np.asarray(own_tr["positions"])[:, 1], own["coords"][:3])

    r = client.get(PREFIX + "background", query_string={**q, "epoch": 2})
    assert r.status_code == 200 and r.get_data()[:4] == b"\x89PNG"
    meta = _json(client.get(PREFIX + "background_meta", query_string={**q, "epoch": 2}))
    x0, y0, x1, y1 = meta["bounds"]
    zoom = client.get(PREFIX + "background", query_string={**q, "epoch": 2, "resolution": 16,
                                                          "bounds": f"{x0},{y0},{(x0 + x1) / 2},{(y0 + y1) / 2}"})
    assert zoom.status_code == 200 and zoom.get_data()[:4] == b"\x89PNG"
    p = _json(client.get(PREFIX + "predict_at", query_string={**q, "epoch": 2, "x": (x0 + x1) / 2,
                                                              "y": (y0 + y1) / 2}))
    assert 0 <= p["class"] < 10


@pytest.mark.parametrize("query, code, err", [
    ({"run": "noisy"}, 400, "bad_param"),
    ({"run": "noisy", "ref": ""}, 400, "bad_param"),
    ({"run": "noisy", "ref": "noisy"}, 400, "bad_param"),
    ({"run": "noisy", "ref": "../clean"}, 400, "forbidden"),
    ({"run": "noisy", "ref": "nope"}, 404, "unknown_run"),
    ({"run": "noisy", "ref": "/etc"}, 400, "forbidden"),
    ({"run": "noisy", "ref": ".."}, 400, "forbidden"),
    ({"run": "noisy", "ref": "clean\0x"}, 400, "bad_param"),
    ({"run": "../noisy", "ref": "clean"}, 400, "forbidden"),
])
def test_fit_from_validates_both_runs(tab, query, code, err):
    client, _ = tab
    r = client.get(PREFIX + "fit_from", query_string=query)
    assert r.status_code == code and r.headers["X-DVI-Error"] == err, r.get_data(as_text=True)
    if "ref" in query:  # without it, projection is B's own map
        r = client.get(PREFIX + "projection", query_string={**query, "epoch": 1})
        assert r.status_code == code and r.headers["X-DVI-Error"] == err


def test_fit_from_cancel_is_post_only(tab):
    client, _ = tab
    q = {"run": "noisy", "ref": "clean"}
    assert client.get(PREFIX + "fit_from_cancel", query_string=q).status_code == 405
    s = _json(client.post(PREFIX + "fit_from_cancel", query_string=q), 202)
    assert s["state"] == "cancelled" and s["run"] == "noisy" and s["ref"] == "clean"
