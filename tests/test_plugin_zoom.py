"""Zoomed backgrounds (``background?bounds=``): a real fitted epoch, tiles drawn by the render worker."""

import io
import json
import os
import sys

import numpy as np
import pytest

from conftest import make_run
from plugin_fakes import PREFIX, make_client
from tensorboard_dvi.engine import EngineConfig
from tensorboard_dvi.engine.fit import fit_run
from tensorboard_dvi.engine.png import decode_png_rgb
from tensorboard_dvi.plugin.jobs import JobManager

CFG = dict(max_trainer_epochs=1, hidden=(32, 32), background_resolution=40, threads=1, batch_size=256)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    root = tmp_path_factory.mktemp("zoom")
    make_run(root / "logs" / "run", epochs=1, seed=0, n_train=200, n_test=50)
    jobs = JobManager(config=EngineConfig(**CFG))
    client, plugin = make_client(root / "logs", jobs=jobs, cache_root=os.fspath(root / "cache"), autofit=False)
    fit_run(os.fspath(root / "logs" / "run"), plugin.runs.cache_dir(os.fspath(root / "logs" / "run")),
            config=EngineConfig(**CFG))
    yield client, plugin
    plugin.close()


def _get(client, route, **q):
    return client.get(PREFIX + route, query_string={"run": "run", "epoch": 1, **q})


def test_zoomed_tile_matches_the_full_rendering(fitted):
    client, plugin = fitted
    full = decode_png_rgb(_get(client, "background").get_data())
    meta = json.loads(_get(client, "background_meta").get_data())
    x0, y0, x1, y1 = meta["bounds"]
    r = meta["resolution"]
    assert full.shape == (r, r, 3)
    # Cells 8..28 (x) and 10..30 (rows from the top) of the full grid, at the same cell size.
    cx, cy = (x1 - x0) / r, (y1 - y0) / r
    b = (x0 + 8 * cx, y1 - 30 * cy, x0 + 28 * cx, y1 - 10 * cy)
    q = {"bounds": ",".join(repr(v) for v in b), "resolution": 20}
    resp = _get(client, "background", **q)
    assert resp.status_code == 200, resp.get_data()
    tile = decode_png_rgb(resp.get_data())
    assert tile.shape == (20, 20, 3)
    expect = full[10:30, 8:28]
    close = (np.abs(tile.astype(int) - expect.astype(int)).max(-1) <= 2).mean()
    assert close >= 0.97, close
    m = json.loads(_get(client, "background_meta", **q).get_data())
    assert m["resolution"] == 20 and np.allclose(m["bounds"], b, rtol=0, atol=1e-5 * (x1 - x0))
    assert m["full_bounds"] == meta["bounds"]
    # A finer tile of the same region: each of its 2x2 blocks mostly agrees with the full grid's cell.
    fine = decode_png_rgb(_get(client, "background", bounds=q["bounds"], resolution=40).get_data())
    assert fine.shape == (40, 40, 3)
    same = (np.abs(fine[::2, ::2].astype(int) - expect.astype(int)).max(-1) <= 40).mean()
    assert same >= 0.8, same
    # Cached: the same request again is answered from the tile LRU.
    assert _get(client, "background", **q).get_data() == resp.get_data()
    pids = [p.pid for p in plugin.zoom._pool._processes.values()]
    assert pids and os.getpid() not in pids  # drawn in the render worker, not in TensorBoard's process


@pytest.mark.parametrize("bounds,res,word", [
    ("1,2,3", None, "four finite"), ("0,0,nan,1", None, "four finite"), ("a,b,c,d", None, "four finite"),
    ("1,0,0,1", None, "x0 < x1"), ("0,0,1e-9,1e-9", None, "less than"), ("1e6,1e6,1e6+1,1e6+1", None, "four"),
    ("1e6,1e6,2e6,2e6", None, "too far"), ("0,0,1,1", "401", "resolution"), ("0,0,1,1", "x", "resolution"),
])
def test_bad_bounds_are_400(fitted, bounds, res, word):
    client, _ = fitted
    q = {"bounds": bounds, **({"resolution": res} if res else {})}
    for route in ("background", "background_meta"):
        r = _get(client, route, **q)
        assert r.status_code == 400 and r.headers.get("X-DVI-Error") == "bad_param", (route, r.get_data())
        assert word in r.get_data(as_text=True)


def test_without_bounds_the_stored_image_is_unchanged(fitted):
    client, plugin = fitted
    run = plugin.runs.open({"run": "run"})
    assert _get(client, "background").get_data() == run.cache.background_png(1)


def test_the_plugin_side_does_not_import_torch():
    import subprocess
    code = ("import sys, tensorboard_dvi.plugin.plugin, tensorboard_dvi.plugin.zoom_route; "
            "print('torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def _tile_query(client, frac, resolution=30):
    meta = json.loads(_get(client, "background_meta").get_data())
    x0, y0, x1, y1 = meta["bounds"]
    s = (x1 - x0) * frac
    return {"bounds": f"{x0},{y0},{x0 + s},{y0 + s}", "resolution": resolution}


def test_a_stuck_or_dead_worker_is_replaced(fitted):
    import signal
    client, plugin = fitted
    _get(client, "background", **_tile_query(client, 0.3))  # the worker is up
    timeout, plugin.zoom.timeout_s = plugin.zoom.timeout_s, 1e-3
    try:
        r = _get(client, "background", **_tile_query(client, 0.31, resolution=400))  # 160,000 cells
    finally:
        plugin.zoom.timeout_s = timeout
    assert r.status_code == 503 and r.headers.get("X-DVI-Error") == "busy", r.get_data()
    assert _get(client, "background", **_tile_query(client, 0.32)).status_code == 200
    pid = next(iter(plugin.zoom._pool._processes.values())).pid
    os.kill(pid, signal.SIGKILL)
    r = _get(client, "background", **_tile_query(client, 0.33))
    assert r.status_code == 200, r.get_data()
    assert pid not in [p.pid for p in plugin.zoom._pool._processes.values()]


def test_an_unreadable_cached_state_is_damaged(fitted):
    client, plugin = fitted
    path = plugin.runs.open({"run": "run"}).cache.state_path(1)
    with open(path, "rb") as f:
        good = f.read()
    try:
        with open(path, "wb") as f:
            f.write(b"not a torch file")
        r = _get(client, "background", **_tile_query(client, 0.41))
        assert r.status_code == 404 and r.headers.get("X-DVI-Error") == "damaged", r.get_data()
        assert "cannot draw the zoomed background" in r.get_data(as_text=True)
        assert os.path.dirname(path) not in r.get_data(as_text=True)  # no server paths in answers
    finally:
        with open(path, "wb") as f:
            f.write(good)
