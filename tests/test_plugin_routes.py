"""HTTP routes of the plugin (docs/HTTP_API.md) on TensorBoardWSGI with a real data provider.

The logdir is written by the real writer; the cache holds results of the fake
fit (tests/plugin_fakes.py) written in-process, so no worker runs here.
"""

import json
import os
import shutil

import numpy as np
import pytest

from conftest import make_run
from plugin_fakes import PREFIX, fake_fit, make_client
from tensorboard_dvi.engine.cache import default_cache_dir
from tensorboard_dvi.plugin import wire
from tensorboard_dvi.plugin.jobs import JobManager
from tensorboard_dvi.scoring import near_boundary, softmax_confidence
from tensorboard_dvi.storage import RunReader


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("routes")
    logdir = root / "logs"
    cache_root = root / "cache"
    make_run(logdir / "clean", epochs=3, seed=0)
    make_run(logdir / "sub" / "noisy", epochs=2, seed=1, noisy_fraction=0.2, thumbnails=False)
    shutil.copytree(logdir / "clean", logdir / "damaged")
    # Damage epoch 2 of "damaged": truncate its logits.
    logits = logdir / "damaged" / "plugins" / "dvi" / "epochs" / "epoch-000002" / "logits.npy"
    logits.write_bytes(logits.read_bytes()[:200])

    def cache_dir(run):
        return os.path.join(cache_root, os.path.basename(default_cache_dir(os.path.join(logdir, run))))

    fake_fit(os.fspath(logdir / "clean"), cache_dir("clean"), epochs=[1, 2])
    fake_fit(os.fspath(logdir / "sub" / "noisy"), cache_dir("sub/noisy"))
    fake_fit(os.fspath(logdir / "damaged"), cache_dir("damaged"), epochs=[1])
    jobs = JobManager(fit="plugin_fakes:fake_fit")
    client, plugin = make_client(logdir, jobs=jobs, cache_root=os.fspath(cache_root), autofit=False,
                                 watch_interval_s=0)
    yield {"client": client, "plugin": plugin, "logdir": logdir, "cache_dir": cache_dir}
    plugin.close()


def get(env, route, **params):
    return env["client"].get(PREFIX + route, query_string=params)


def get_json(env, route, **params):
    r = get(env, route, **params)
    assert r.status_code == 200, (route, params, r.status_code, r.get_data(as_text=True))
    assert r.headers["Content-Type"].startswith("application/json")
    return json.loads(r.get_data())


def test_plugin_listed_and_frontend_metadata(env):
    r = env["client"].get("/data/plugins_listing")
    listing = json.loads(r.get_data())
    assert listing["dvi"]["enabled"] is True
    assert listing["dvi"]["tab_name"] == "DVI"
    assert listing["dvi"]["disable_reload"] is True
    assert listing["dvi"]["loading_mechanism"]["type"] == "IFRAME"
    assert env["client"].get("/data/plugin_entry.html?name=dvi").status_code == 200


def test_runs(env):
    runs = {r["name"]: r for r in get_json(env, "runs")["runs"]}
    assert set(runs) == {"clean", "damaged", "sub/noisy"}
    clean = runs["clean"]
    assert clean["epochs"] == [1, 2, 3] and clean["fitted"] == [1, 2] and clean["damaged"] == {}
    assert clean["num_classes"] == 10 and clean["class_names"][3] == "digit 3"
    assert clean["n_train"] == 400 and clean["n_test"] == 100 and clean["dim"] == 32
    assert clean["has_thumbnails"] is True and clean["has_noisy"] is False
    assert clean["job"]["state"] == "idle"
    assert set(clean["job"]) >= {"state", "stage", "epoch", "epochs_done", "epochs_total", "eta_s", "error",
                                 "message"}
    assert runs["sub/noisy"]["has_noisy"] is True and runs["sub/noisy"]["fitted"] == [1, 2]
    damaged = runs["damaged"]
    assert list(damaged["damaged"]) == ["2"] and "logits.npy" in damaged["damaged"]["2"]
    assert damaged["fitted"] == [1]


def test_samples_container(env):
    r = get(env, "samples", run="sub/noisy")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/octet-stream"
    blob = r.get_data()
    header, arrays = wire.decode(blob)
    static = RunReader(os.fspath(env["logdir"] / "sub" / "noisy")).static()
    assert header["n"] == 500
    assert (4 + int.from_bytes(blob[:4], "little")) % 8 == 0
    assert arrays["ids"].dtype == np.int32 and np.array_equal(arrays["ids"], static.ids)
    assert arrays["labels"].dtype == np.int16 and np.array_equal(arrays["labels"], static.labels)
    assert arrays["split"].dtype == np.uint8 and arrays["split"].sum() == 100
    assert arrays["noisy"].dtype == np.uint8 and arrays["noisy"].sum() == 80
    assert "noisy" not in wire.decode(get(env, "samples", run="clean").get_data())[1]


def test_projection(env):
    r = get(env, "projection", run="sub/noisy", epoch=2)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/octet-stream"
    header, a = wire.decode(r.get_data())
    assert header["n"] == 500 and header["epoch"] == 2
    for spec in header["arrays"].values():
        assert spec["offset"] % 8 == 0
    run_path = os.fspath(env["logdir"] / "sub" / "noisy")
    reader = RunReader(run_path)
    ep, static = reader.epoch(2), reader.static()
    emb = np.load(os.path.join(env["cache_dir"]("sub/noisy"), "epochs", "epoch-000002", "embedding.npy"))
    assert a["coords"].dtype == np.float32 and a["coords"].shape == (500, 2)
    assert np.array_equal(a["coords"], emb)
    assert a["predictions"].dtype == np.int16 and np.array_equal(a["predictions"], ep.predictions)
    logits = ep.logits
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    assert np.allclose(a["confidence"], p.max(1), atol=1e-6)
    flags = a["flags"]
    assert np.array_equal((flags & 1) > 0, ep.predictions != static.labels)
    assert np.array_equal((flags & 2) > 0, static.noisy)
    norm = (logits - logits.min(1, keepdims=True)) / (logits.max(1, keepdims=True) - logits.min(1, keepdims=True))
    s = np.sort(norm, axis=1)
    assert np.array_equal((flags & 4) > 0, (s[:, -1] - s[:, -2]) < 0.1)
    # Cached encoding served again, identical.
    assert get(env, "projection", run="sub/noisy", epoch=2).get_data() == r.get_data()


def test_boundary_and_confidence_helpers():
    logits = np.array([[0.0, 1.0, 1.05], [0.0, 0.0, 0.0], [5.0, 0.0, -5.0]], np.float32)
    assert near_boundary(logits).tolist() == [True, True, False]
    assert np.allclose(softmax_confidence(logits), [np.exp(1.05) / np.exp([0, 1, 1.05]).sum(), 1 / 3,
                                                   1 / np.exp([0, -5, -10]).sum()])


def test_not_fitted_damaged_unknown(env):
    r = get(env, "projection", run="clean", epoch=3)
    assert r.status_code == 404 and "not fitted" in r.get_data(as_text=True)
    r = get(env, "projection", run="clean", epoch=9)
    assert r.status_code == 404 and "epoch 9" in r.get_data(as_text=True)
    r = get(env, "projection", run="damaged", epoch=2)
    assert r.status_code == 404 and "damaged" in r.get_data(as_text=True)
    assert "logits.npy" in r.get_data(as_text=True)
    assert get(env, "projection", run="damaged", epoch=1).status_code == 200
    r = get(env, "projection", run="nope", epoch=1)
    assert r.status_code == 404 and "unknown run" in r.get_data(as_text=True)


@pytest.mark.parametrize("params", [{}, {"run": "clean"}, {"run": "clean", "epoch": "x"},
                                    {"run": "clean", "epoch": "-1"}, {"run": "clean", "epoch": "1.5"},
                                    {"epoch": "1"}])
def test_malformed_parameters(env, params):
    r = get(env, "projection", **params)
    assert r.status_code == 400, r.get_data(as_text=True)
    assert r.get_data(as_text=True)


def test_background(env):
    r = get(env, "background", run="clean", epoch=1)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    assert r.get_data()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = get_json(env, "background_meta", run="clean", epoch=1)
    assert len(meta["bounds"]) == 4 and meta["resolution"] == 16
    assert get(env, "background", run="clean", epoch=3).status_code == 404


def test_predict_at(env):
    meta = get_json(env, "background_meta", run="clean", epoch=1)
    x0, y0, x1, y1 = meta["bounds"]
    out = get_json(env, "predict_at", run="clean", epoch=1, x=(x0 + x1) / 2, y=(y0 + y1) / 2)
    assert out["inside"] is True and 0 <= out["class"] < 10
    assert out["class_name"] == f"digit {out['class']}" and 0 <= out["confidence"] <= 1
    # Top-left cell: row 0 is y_max.
    out = get_json(env, "predict_at", run="clean", epoch=1, x=x0, y=y1)
    assert out["class"] == 0
    out = get_json(env, "predict_at", run="clean", epoch=1, x=x1 + 100, y=y0 - 100)
    assert out["inside"] is False
    for bad in ({"x": "nan", "y": "0"}, {"x": "1"}, {"x": "a", "y": "1"}, {"x": "inf", "y": "1"}):
        assert get(env, "predict_at", run="clean", epoch=1, **bad).status_code == 400


def test_metrics(env):
    m = get_json(env, "metrics", run="clean", epoch=2)
    assert m["epoch"] == 2 and m["nn_15"] == 0.55 and m["ppr_test"] is None and m["tnn_5"] == 0.3
    allm = get_json(env, "metrics", run="clean")
    assert allm["epochs"] == [1, 2] and [x["epoch"] for x in allm["metrics"]] == [1, 2]
    assert get(env, "metrics", run="clean", epoch=3).status_code == 404


def test_sample_and_thumbnail(env):
    reader = RunReader(os.fspath(env["logdir"] / "clean"))
    static, ep = reader.static(), reader.epoch(2)
    i = 450
    sid = int(static.ids[i])
    s = get_json(env, "sample", run="clean", id=sid)
    assert s == {"id": sid, "index": i, "split": "test", "label": int(static.labels[i]),
                 "label_name": f"digit {static.labels[i]}", "noisy": False, "has_thumbnail": True,
                 "text": None, "features": None, "metadata": {}}  # no extras logged (test_plugin_features)
    s = get_json(env, "sample", run="clean", id=sid, epoch=2)
    assert s["prediction"] == int(ep.predictions[i]) and s["prediction_name"] == f"digit {ep.predictions[i]}"
    assert np.isclose(s["confidence"], softmax_confidence(ep.logits[i:i + 1])[0])
    # prediction of a logged but unfitted epoch is fine: it comes from the logged logits
    assert get_json(env, "sample", run="clean", id=sid, epoch=3)["epoch"] == 3
    assert get(env, "sample", run="clean", id=10 ** 9).status_code == 404
    assert get(env, "sample", run="clean", id="abc").status_code == 400
    r = get(env, "thumbnail", run="clean", id=sid)
    assert r.status_code == 200 and r.headers["Content-Type"] == "image/png"
    from PIL import Image
    import io
    img = Image.open(io.BytesIO(r.get_data()))
    assert img.size == (8, 8)
    r = get(env, "thumbnail", run="sub/noisy", id=0)
    assert r.status_code == 404 and "thumbnail" in r.get_data(as_text=True)


def test_trajectories(env):
    static = RunReader(os.fspath(env["logdir"] / "clean")).static()
    ids = [int(static.ids[0]), int(static.ids[7]), int(static.ids[499])]
    out = get_json(env, "trajectories", run="clean", ids=",".join(map(str, ids)))
    assert out["ids"] == ids and out["epochs"] == [1, 2, 3]
    emb1 = np.load(os.path.join(env["cache_dir"]("clean"), "epochs", "epoch-000001", "embedding.npy"))
    assert len(out["positions"]) == 3 and len(out["positions"][1]) == 3
    assert np.allclose(out["positions"][1][0], emb1[7])
    assert out["positions"][0][2] is None  # epoch 3 not fitted
    # each fitted epoch's move of the whole map (engine/drift.py), as its epoch.json records it
    info2 = json.load(open(os.path.join(env["cache_dir"]("clean"), "epochs", "epoch-000002", "epoch.json")))
    assert out["shifts"][0] == [0.0, 0.0] and out["shifts"][2] is None  # a chain starts at 0; 3 not fitted
    assert out["shifts"][1] == info2["drift"]["shift"] and out["shifts"][1] != [0.0, 0.0]
    out = get_json(env, "trajectories", run="clean", ids=str(ids[0]), start=2, end=3)
    assert out["epochs"] == [2, 3]
    assert get(env, "trajectories", run="clean", ids="1,x").status_code == 400
    assert get(env, "trajectories", run="clean", ids=",".join(["1"] * 5001)).status_code == 400
    assert get(env, "trajectories", run="clean", ids="1", start=3, end=2).status_code == 400
    assert get(env, "trajectories", run="clean", ids="123456789").status_code == 404


def test_static_files(env, tmp_path):
    static_root = tmp_path / "static"
    static_root.mkdir()
    (static_root / "index.js").write_text("export function render() {}\n")
    (static_root / "style.css").write_text("body{}")
    (static_root / "sub").mkdir()
    (static_root / "sub" / "a.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("TOPSECRET")
    os.symlink(tmp_path / "secret.txt", static_root / "link.js")
    client, plugin = make_client(env["logdir"], jobs=JobManager(fit="plugin_fakes:fake_fit"),
                                 static_root=os.fspath(static_root), autofit=False, watch_interval_s=0)
    try:
        r = client.get(PREFIX + "index.js")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/javascript")
        assert client.get(PREFIX + "style.css").headers["Content-Type"].startswith("text/css")
        assert client.get(PREFIX + "sub/a.svg").headers["Content-Type"].startswith("image/svg+xml")
        for bad in ("link.js", "../secret.txt", "..%2Fsecret.txt", "sub/../../secret.txt", "%2e%2e/secret.txt",
                    "nothing.js", ".hidden", "sub", "%00.js"):
            r = client.get(PREFIX + bad)
            assert r.status_code == 404, bad
            assert b"TOPSECRET" not in r.get_data()
    finally:
        plugin.close()


def test_real_static_index_served(env):
    r = get(env, "api.js")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/javascript")


@pytest.mark.parametrize("name", ["..", "../logs", "/etc", "clean/..", "clean/../clean", "./clean", "clean/",
                                  "%2e%2e", "..%2fclean", "clean\\..", "clean\0", "C:/x", "//clean"])
def test_run_name_traversal(env, name):
    r = get(env, "samples", run=name)
    assert r.status_code in (400, 404), (name, r.status_code)


def test_symlinked_run_out_of_logdir(env, tmp_path):
    outside = tmp_path / "outside"
    make_run(outside, epochs=1, seed=3)
    logdir = tmp_path / "logs"
    logdir.mkdir()
    os.symlink(outside, logdir / "evil", target_is_directory=True)
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"), autofit=False,
                                 watch_interval_s=0)
    try:
        assert json.loads(client.get(PREFIX + "runs").get_data())["runs"] == []
        assert client.get(PREFIX + "samples", query_string={"run": "evil"}).status_code == 404
    finally:
        plugin.close()


def test_fit_and_cancel_need_post(env):
    r = get(env, "fit", run="clean")
    assert r.status_code == 405
    r = env["client"].post(PREFIX + "cancel", query_string={"run": "clean"})
    assert r.status_code == 202 and json.loads(r.get_data())["state"] == "cancelled"
    assert env["client"].post(PREFIX + "fit", query_string={"run": "../x"}).status_code == 400


def test_plugin_dir_symlinked_out_of_logdir(tmp_path):
    outside = tmp_path / "outside"
    make_run(outside, epochs=1, seed=3)
    logdir = tmp_path / "logs"
    (logdir / "run" / "plugins").mkdir(parents=True)
    os.symlink(outside / "plugins" / "dvi", logdir / "run" / "plugins" / "dvi", target_is_directory=True)
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"), autofit=False,
                                 watch_interval_s=0)
    try:
        assert json.loads(client.get(PREFIX + "runs").get_data())["runs"] == []
        r = client.get(PREFIX + "samples", query_string={"run": "run"})
        assert r.status_code == 404 and "outside" in r.get_data(as_text=True)
    finally:
        plugin.close()


def test_many_runs_keep_bounded_per_sample_state(env):
    plugin = env["plugin"]
    old = plugin.runs._loaded._max_items
    plugin.runs._loaded._max_items = 1
    try:
        for name in ("clean", "sub/noisy", "damaged", "clean"):
            assert get(env, "samples", run=name).status_code == 200
        assert len(plugin.runs._loaded) == 1
        assert plugin.runs.known("sub/noisy").samples_blob is None  # dropped, reloaded on demand
        assert get(env, "projection", run="sub/noisy", epoch=1).status_code == 200
    finally:
        plugin.runs._loaded._max_items = old
