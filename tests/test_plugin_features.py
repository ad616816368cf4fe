"""Routes of issues 13 and 15 (docs/HTTP_API.md): run extras, texts/metadata/search, sample
top-k, history, neighbours. Runs come from the real writer; the extra files are written here
as docs/FORMAT.md describes them (the writer's side is tested with the writer)."""

import json
import os
import re
import shutil

import numpy as np
import pytest

from conftest import make_run
from plugin_fakes import fake_fit, make_client
from test_plugin_routes import get, get_json
from tensorboard_dvi.engine.cache import default_cache_dir
from tensorboard_dvi.plugin.jobs import JobManager
from tensorboard_dvi.scoring import softmax
from tensorboard_dvi.storage import RunReader

WORDS = ["Alpha", "beta", "gamma", "DELTA", "epsilon"]


def static_dir(logdir, run):
    return logdir / run / "plugins" / "dvi" / "static"


def write_extras(folder, n, rng):
    texts = [f"{WORDS[i % 5]} sample {i}" + (" needle" if i % 7 == 0 else "") for i in range(n)]
    (folder / "texts.json").write_text(json.dumps(texts))
    (folder / "feature_names.json").write_text(json.dumps(["f0", "f1", "f2"]))
    feats = rng.standard_normal((n, 3)).astype(np.float32)
    feats[3, 1] = np.nan
    np.save(folder / "features.npy", feats)
    cols = {"source": [["web", "scan", None][i % 3] for i in range(n)], "score": [i % 4 for i in range(n)]}
    (folder / "metadata.json").write_text(json.dumps({"columns": cols}))
    meta = json.loads((folder / "meta.json").read_text())
    (folder / "meta.json").write_text(json.dumps({**meta, "border_space": "representation"}))
    return texts, feats, cols


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    logdir, cache_root = root / "logs", root / "cache"
    make_run(logdir / "txt", epochs=3, seed=0)
    shutil.copytree(logdir / "txt", logdir / "bad")
    shutil.copytree(logdir / "txt", logdir / "plain")
    n = 500
    texts, feats, cols = write_extras(static_dir(logdir, "txt"), n, np.random.default_rng(0))
    bad = static_dir(logdir, "bad")
    (bad / "texts.json").write_text(json.dumps(["too short"]))
    (bad / "metadata.json").write_text(json.dumps({"columns": {"x": [1, 2]}}))
    np.save(bad / "features.npy", np.zeros((n, 2), np.float32))
    (bad / "feature_names.json").write_text(json.dumps(["a", "b", "c"]))
    shutil.copytree(logdir / "txt", logdir / "nometa")
    meta_path = static_dir(logdir, "nometa") / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["n_train"]
    meta_path.write_text(json.dumps(meta))
    path = os.fspath(logdir / "txt")
    fake_fit(path, os.path.join(cache_root, os.path.basename(default_cache_dir(path))), epochs=[1, 2])
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"),
                                 cache_root=os.fspath(cache_root), autofit=False, watch_interval_s=0)
    yield {"client": client, "plugin": plugin, "logdir": logdir, "texts": texts, "feats": feats, "cols": cols,
           "reader": RunReader(path), "cache_root": cache_root}
    plugin.close()


def error(env, route, status, code, **params):
    r = get(env, route, **params)
    assert r.status_code == status and r.headers.get("X-DVI-Error") == code, (r.status_code, r.headers,
                                                                               r.get_data(as_text=True))
    return r.get_data(as_text=True)


def test_runs_list_extras_and_name_damaged_files(env):
    runs = {r["name"]: r for r in get_json(env, "runs")["runs"]}
    assert runs["txt"]["has_texts"] and runs["txt"]["feature_names"] == ["f0", "f1", "f2"]
    assert runs["txt"]["metadata_columns"] == ["source", "score"] and runs["txt"]["border_space"] == "representation"
    assert runs["txt"]["damaged_extras"] == {}
    assert runs["plain"]["has_texts"] is False and runs["plain"]["feature_names"] is None
    assert runs["plain"]["metadata_columns"] == [] and runs["plain"]["border_space"] == "input"   # float inputs: mixed as they are
    bad = runs["bad"]
    assert bad["epochs"] == [1, 2, 3] and not bad["has_texts"] and bad["metadata_columns"] == []
    assert set(bad["damaged_extras"]) == {"texts.json", "metadata.json", "feature_names.json"}
    assert "1 entries, expected 500" in bad["damaged_extras"]["texts.json"]
    assert "features.npy has shape (500, 2)" in bad["damaged_extras"]["feature_names.json"]
    assert "column 'x'" in bad["damaged_extras"]["metadata.json"]
    assert "n_train" in runs["nometa"]["error"] and runs["nometa"]["epochs"] == []  # malformed meta.json: listed with its reason, no 500


def test_sample_extras_and_top_k(env):
    static = env["reader"].static()
    i = 3
    s = get_json(env, "sample", run="txt", id=int(static.ids[i]))
    assert s["text"] == env["texts"][i] and s["metadata"] == {"source": "web", "score": 3}
    assert s["features"]["f1"] is None and np.isclose(s["features"]["f0"], env["feats"][i, 0])
    assert "top_k" not in s
    s = get_json(env, "sample", run="txt", id=int(static.ids[i]), epoch=3)
    p = softmax(env["reader"].epoch(3).logits[i:i + 1].astype(np.float64))[0]
    order = np.argsort(-p, kind="stable")[:5]
    assert [t["class"] for t in s["top_k"]] == order.tolist()
    assert np.allclose([t["prob"] for t in s["top_k"]], p[order], rtol=1e-6)
    assert s["top_k"][0]["class_name"] == f"digit {order[0]}" and s["top_k"][0]["class"] == s["prediction"]
    plain = get_json(env, "sample", run="plain", id=int(static.ids[i]))
    assert plain["text"] is None and plain["features"] is None and plain["metadata"] == {}


def test_texts_and_metadata_routes(env):
    assert get_json(env, "texts", run="txt")["texts"] == env["texts"]
    assert get_json(env, "metadata", run="txt")["columns"] == env["cols"]
    assert "no texts" in error(env, "texts", 404, "unknown_file", run="plain")
    assert "texts.json" in error(env, "texts", 404, "damaged", run="bad")
    assert get_json(env, "metadata", run="plain") == {"columns": {}}
    assert "metadata.json" in error(env, "metadata", 404, "damaged", run="bad")


def test_search_substring_regex_label_and_metadata(env):
    texts = env["texts"]
    r = get_json(env, "search", run="txt", q="ALPHA")
    assert r["indices"] == [i for i, t in enumerate(texts) if "alpha" in t.lower()] and r["count"] == 100
    r = get_json(env, "search", run="txt", q=r"^(beta|gamma) sample \d+ needle$", regex="1")
    want = [i for i, t in enumerate(texts) if re.match(r"^(beta|gamma) sample \d+ needle$", t, re.I)]
    assert r["indices"] == want and 0 < len(want) < 100
    labels = env["reader"].static().labels
    assert get_json(env, "search", run="txt", q="digit 7", field="label")["indices"] == \
        np.flatnonzero(labels == 7).tolist()
    assert get_json(env, "search", run="txt", q="sca", field="source")["indices"] == list(range(1, 500, 3))
    assert get_json(env, "search", run="txt", q="^2$", field="score", regex="1")["count"] == 125


def test_search_bad_input(env):
    assert "not a valid regular expression" in error(env, "search", 400, "bad_param", run="txt", q="(ab", regex="1")
    assert "(a+)+" in error(env, "search", 400, "bad_param", run="txt", q="(x+)+y", regex="1")
    assert "backreferences" in error(env, "search", 400, "bad_param", run="txt", q=r"(a)\1", regex="1")
    assert "unbounded repeats" in error(env, "search", 400, "bad_param", run="txt", q="a.*b.*c.*d", regex="1")
    assert "at most 200" in error(env, "search", 400, "bad_param", run="txt", q="a" * 201, regex="1")
    assert "unknown search field 'nope'" in error(env, "search", 400, "bad_param", run="txt", q="a", field="nope")
    error(env, "search", 400, "bad_param", run="txt", q="")
    error(env, "search", 400, "bad_param", run="txt", q="a", regex="yes")
    assert "no texts" in error(env, "search", 400, "bad_param", run="plain", q="a")


def test_history_reads_every_epoch(env):
    reader = env["reader"]
    static = reader.static()
    i = 42
    h = get_json(env, "history", run="txt", id=int(static.ids[i]))
    assert h["epochs"] == [1, 2, 3] and h["label"] == int(static.labels[i]) and h["skipped"] == {}
    for j, e in enumerate(h["epochs"]):
        logits = reader.epoch(e).logits[i].astype(np.float64)
        p = softmax(logits[None, :])[0]
        assert h["predictions"][j] == int(reader.epoch(e).predictions[i])
        assert np.isclose(h["confidence"][j], p.max()) and np.isclose(h["label_prob"][j], p[h["label"]])
        assert [t["class"] for t in h["top_k"][j]] == np.argsort(-p, kind="stable")[:5].tolist()
    error(env, "history", 404, "unknown_sample", run="txt", id=10 ** 9)


def test_neighbours_exact_and_kept_on_map(env):
    reader, static = env["reader"], env["reader"].static()
    i, k = 17, 10
    reps = reader.epoch(2).representations.astype(np.float64)
    d = np.sqrt(((reps - reps[i]) ** 2).sum(axis=1))
    d[i] = np.inf
    want = np.lexsort((np.arange(len(d)), d))[:k]
    r = get_json(env, "neighbours", run="txt", epoch=2, id=int(static.ids[i]), k=k)
    assert [n["index"] for n in r["neighbours"]] == want.tolist()
    assert [n["id"] for n in r["neighbours"]] == static.ids[want].tolist()
    assert np.allclose([n["distance"] for n in r["neighbours"]], d[want], rtol=1e-5)
    cache = env["plugin"].runs.get("txt", os.fspath(env["logdir"] / "txt")).cache
    coords = np.asarray(cache.embedding(2), dtype=np.float64)
    d2 = ((coords - coords[i]) ** 2).sum(axis=1)
    d2[i] = np.inf
    on_map = set(np.lexsort((np.arange(len(d2)), d2))[:k].tolist())
    assert [n["kept_on_map"] for n in r["neighbours"]] == [int(w) in on_map for w in want]
    assert r["map_recall"] == pytest.approx(len(on_map & set(want.tolist())) / k)
    r3 = get_json(env, "neighbours", run="txt", epoch=3, id=int(static.ids[i]))  # logged, not fitted
    assert len(r3["neighbours"]) == 10 and r3["map_recall"] is None
    assert all(n["kept_on_map"] is None for n in r3["neighbours"])


def test_neighbours_bad_input(env):
    sid = int(env["reader"].static().ids[0])
    error(env, "neighbours", 404, "unknown_sample", run="txt", epoch=1, id=10 ** 9)
    for k in ("0", "201", "abc", "-1"):
        assert "'k'" in error(env, "neighbours", 400, "bad_param", run="txt", epoch=1, id=sid, k=k)
    error(env, "neighbours", 404, "unknown_epoch", run="txt", epoch=9, id=sid)
    error(env, "neighbours", 400, "bad_param", run="txt", id=sid)


def test_new_routes_answer_hostile_parameters_with_4xx(env):
    sid = str(int(env["reader"].static().ids[0]))
    good = {"run": "txt", "id": sid, "epoch": "1", "q": "a", "k": "3", "format": "csv"}
    hostile = {"run": ["..", "/etc", "a\\b", "C:x", "txt/../bad", "txt\0", "x" * 5000, "nope"],
               "id": ["-1", "abc", "9" * 30, "1.5", ""], "epoch": ["-1", "x", "99", "1e3"],
               "k": ["", "1000", "2.5"], "q": ["", "(", "x" * 2000], "field": ["__proto__", ""],
               "regex": ["2"], "format": ["xml"]}
    routes = ["texts", "metadata", "search", "history", "neighbours", "tags", "tags_export", "sample"]
    for route in routes:
        for name, values in hostile.items():
            for v in values:
                r = get(env, route, **{**good, name: v, **({"regex": "1"} if name == "q" else {})})
                assert r.status_code < 500, (route, name, v, r.get_data(as_text=True)[:200])
                if name == "run":  # every route reads the run
                    assert r.status_code in (400, 404) and r.headers.get("X-DVI-Error"), (route, v)


def test_nearest_float16_ties_and_tiny_runs(tmp_path):
    from tensorboard_dvi.plugin.neighbours import CHUNK, nearest
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((CHUNK + 300, 8)) * 100 + 1000).astype(np.float16)  # large offset: cancellation
    x[CHUNK + 5] = x[7]  # an exact duplicate of the query, across a chunk boundary
    np.save(tmp_path / "r.npy", x)
    reps = np.load(tmp_path / "r.npy", mmap_mode="r")
    full = x.astype(np.float64)
    d = np.sqrt(((full - full[7]) ** 2).sum(axis=1))
    d[7] = np.inf
    rows, dist = nearest(reps, 7, 25)
    assert rows.tolist() == np.lexsort((np.arange(len(d)), d))[:25].tolist() and rows[0] == CHUNK + 5
    assert dist[0] == 0 and np.allclose(dist, d[rows])
    one = np.zeros((1, 3), np.float32)
    assert len(nearest(one, 0, 10)[0]) == 0 and nearest(np.eye(3, dtype=np.float32), 0, 10)[0].tolist() == [1, 2]
