"""Tags (issue 15) and run naming (issue 13): POST/GET tags with the request header, persistence
beside the cache across plugin instances, export; ``--logdir_spec`` runs in process and in a
real TensorBoard; folders whose names cannot be opened are not listed; live epoch counts."""

import csv
import io
import json
import os
import shutil
import sys
import urllib.error
import urllib.request
from argparse import Namespace

import pytest

from conftest import make_run
from plugin_fakes import PREFIX, make_client
from tensorboard_dvi.plugin.jobs import JobManager
from tensorboard_dvi.storage import RunReader

HEADER = {"X-DVI-Request": "1"}


@pytest.fixture(scope="module")
def logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tags")
    make_run(root / "A" / "clean", epochs=2, seed=0, thumbnails=False)
    shutil.copytree(root / "A" / "clean", root / "B" / "clean")
    shutil.copytree(root / "A" / "clean", root / "A" / "we\\ird")
    shutil.copytree(root / "A" / "clean", root / "A" / "C:drive")
    os.rename(root / "A" / "C:drive", os.path.join(os.fsencode(root / "A"), b"C:drive"))
    # TensorBoard's own multiplexer fails on a non-UTF-8 folder name: only served through a spec
    shutil.copytree(root / "A" / "clean", root / "U" / "tmpname")
    os.rename(root / "U" / "tmpname", os.path.join(os.fsencode(root / "U"), b"bad\xff"))
    return root


def client(logs, logdir=None, flags=None):
    c, plugin = make_client(logdir if logdir is not None else logs / "A", flags=flags,
                            jobs=JobManager(fit="plugin_fakes:fake_fit"), cache_root=os.fspath(logs / "cache"),
                            autofit=False, watch_interval_s=0)
    return c, plugin


@pytest.fixture
def env(logs):
    c, plugin = client(logs)
    yield {"client": c, "plugin": plugin, "logs": logs, "ids": RunReader(os.fspath(logs / "A" / "clean")).static().ids}
    plugin.close()


def post_tags(env, body, headers=HEADER, run="clean"):
    return env["client"].post(PREFIX + "tags", query_string={"run": run}, headers=headers,
                              data=body if isinstance(body, (bytes, str)) else json.dumps(body))


def get_tags(c, run="clean"):
    r = c.get(PREFIX + "tags", query_string={"run": run})
    assert r.status_code == 200, r.get_data(as_text=True)
    return json.loads(r.get_data())["tags"]


def test_tags_change_persist_and_export(env):
    ids = [int(i) for i in env["ids"][:6]]
    assert get_tags(env["client"]) == {}
    r = post_tags(env, {"tag": "mislabelled", "ids": [ids[2], ids[0]], "op": "add"})
    assert r.status_code == 200 and json.loads(r.get_data())["tags"] == {"mislabelled": sorted([ids[0], ids[2]])}
    assert post_tags(env, {"tag": "relabel as 7", "ids": ids[3:5], "op": "set"}).status_code == 200
    assert post_tags(env, {"tag": "mislabelled", "ids": [ids[0], ids[1]], "op": "remove"}).status_code == 200
    assert post_tags(env, {"tag": "gone", "ids": ids[:1], "op": "add"}).status_code == 200
    assert post_tags(env, {"tag": "gone", "op": "delete"}).status_code == 200
    want = {"mislabelled": [ids[2]], "relabel as 7": sorted(ids[3:5])}
    assert get_tags(env["client"]) == want
    # kept in the run's cache folder, never in the logdir
    run = env["plugin"].runs.resolve("clean")
    assert json.load(open(os.path.join(run.cache_dir, "tags.json")))["tags"] == want
    assert not any("tags" in f for _, _, files in os.walk(env["logs"] / "A" / "clean") for f in files)
    c2, plugin2 = client(env["logs"])  # a restarted TensorBoard
    try:
        assert get_tags(c2) == want
    finally:
        plugin2.close()
    r = env["client"].get(PREFIX + "tags_export", query_string={"run": "clean", "format": "csv"})
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    assert r.headers["Content-Disposition"] == 'attachment; filename="clean-tags.csv"'
    rows = list(csv.reader(io.StringIO(r.get_data(as_text=True))))
    assert rows == [["id", "tag"], [str(ids[2]), "mislabelled"]] + [[str(i), "relabel as 7"] for i in sorted(ids[3:5])]
    r = env["client"].get(PREFIX + "tags_export", query_string={"run": "clean", "format": "json"})
    doc = json.loads(r.get_data())
    assert doc["count"] == 3 and doc["rows"][0] == {"id": ids[2], "tag": "mislabelled"}
    assert "attachment" in r.headers["Content-Disposition"]


def test_tags_bad_input(env):
    ids = [int(i) for i in env["ids"][:3]]
    r = post_tags(env, {"tag": "x", "ids": ids, "op": "add"}, headers={})
    assert r.status_code == 403 and r.headers["X-DVI-Error"] == "cross_site"  # plugin/guard.py answers first
    assert "X-DVI-Request" in r.get_data(as_text=True)
    cases = [({"tag": "x", "ids": [ids[0], ids[0]], "op": "add"}, "duplicates"),
             ({"tag": "x" * 65, "ids": ids, "op": "add"}, "at most 64"),
             ({"tag": "=cmd()", "ids": ids, "op": "add"}, "formula"),
             ({"tag": "x", "ids": ids, "op": "merge"}, "'op'"),
             ({"tag": "x", "ids": ["1"], "op": "add"}, "integer"),
             ({"tag": "x", "ids": ids, "op": "add", "extra": 1}, "body must be"),
             ({"tag": "never", "ids": ids, "op": "remove"}, "no tag named"),
             ("not json", "not JSON")]
    for body, words in cases:
        r = post_tags(env, body)
        assert r.status_code == 400 and r.headers["X-DVI-Error"] == "bad_param", body
        assert words in r.get_data(as_text=True), (body, r.get_data(as_text=True))
    r = post_tags(env, {"tag": "x", "ids": [10 ** 9], "op": "add"})
    assert r.status_code == 404 and r.headers["X-DVI-Error"] == "unknown_sample"
    for t in range(100 - len(get_tags(env["client"]))):
        assert post_tags(env, {"tag": f"t{t}", "ids": [], "op": "set"}).status_code == 200
    r = post_tags(env, {"tag": "one too many", "ids": [], "op": "set"})
    assert r.status_code == 400 and "at most 100 tags" in r.get_data(as_text=True)
    assert env["client"].put(PREFIX + "tags", query_string={"run": "clean"}).status_code == 405


def test_only_openable_run_names_are_listed(env):
    doc = json.loads(env["client"].get(PREFIX + "runs").get_data())
    assert [r["name"] for r in doc["runs"]] == ["clean"]
    reasons = {s["name"]: s["reason"] for s in doc["skipped"]}
    assert set(reasons) == {"we\\ird", "C:drive"}
    assert "invalid run name" in reasons["we\\ird"] and "absolute" in reasons["C:drive"]


def test_live_epoch_count(env):
    c = env["client"]
    runs = lambda: {r["name"]: r for r in json.loads(c.get(PREFIX + "runs").get_data())["runs"]}  # noqa: E731
    assert runs()["clean"]["epochs"] == [1, 2]
    epochs = env["logs"] / "A" / "clean" / "plugins" / "dvi" / "epochs"
    shutil.copytree(epochs / "epoch-000002", epochs / ".tmp-epoch-000003")
    info = json.loads((epochs / ".tmp-epoch-000003" / "epoch.json").read_text())
    (epochs / ".tmp-epoch-000003" / "epoch.json").write_text(json.dumps({**info, "epoch": 3, "uid": "live-3"}))
    try:
        assert runs()["clean"]["epochs"] == [1, 2]  # a folder being written is not an epoch yet
        os.rename(epochs / ".tmp-epoch-000003", epochs / "epoch-000003")
        assert runs()["clean"]["epochs"] == [1, 2, 3]
    finally:
        shutil.rmtree(epochs / "epoch-000003", ignore_errors=True)


def test_logdir_spec_in_process(logs):
    spec = f"a:{logs / 'A'},b:{logs / 'B'},u:{logs / 'U'}"
    c, plugin = client(logs, logdir="", flags=Namespace(logdir_spec=spec))
    try:
        doc = json.loads(c.get(PREFIX + "runs").get_data())
        assert [r["name"] for r in doc["runs"]] == ["a/clean", "b/clean"]
        reasons = {s["name"]: s["reason"] for s in doc["skipped"]}
        assert set(reasons) == {"a/we\\ird", "a/C:drive", "u/bad\\xff"}
        assert "not valid UTF-8" in reasons["u/bad\\xff"]
        for name in ("a/clean", "b/clean"):
            assert c.get(PREFIX + "samples", query_string={"run": name}).status_code == 200
        assert c.get(PREFIX + "samples", query_string={"run": "clean"}).status_code == 404
        assert c.get(PREFIX + "samples", query_string={"run": "a/../b/clean"}).status_code == 400
        listing = json.loads(c.get("/data/plugins_listing").get_data())
        assert listing["dvi"]["enabled"]
    finally:
        plugin.close()


def test_logdir_spec_real_tensorboard(logs, tmp_path):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "e2e"))
    import harness
    sid = int(RunReader(os.fspath(logs / "B" / "clean")).static().ids[5])
    spec = f"a:{logs / 'A'},b:{logs / 'B'}"
    with harness.tensorboard(None, tmp_path, extra_args=["--logdir_spec", spec]) as base:
        doc = json.loads(urllib.request.urlopen(base + "data/plugin/dvi/runs", timeout=10).read())
        assert [r["name"] for r in doc["runs"]] == ["a/clean", "b/clean"]
        assert all(r["epochs"] == [1, 2] for r in doc["runs"])
        r = urllib.request.urlopen(base + f"data/plugin/dvi/sample?run=b/clean&id={sid}", timeout=10)
        assert json.loads(r.read())["index"] == 5
        body = json.dumps({"tag": "mislabelled", "ids": [sid], "op": "add"}).encode()
        url = base + "data/plugin/dvi/tags?run=b/clean"
        r = urllib.request.urlopen(urllib.request.Request(url, data=body, headers=HEADER), timeout=10)
        assert json.loads(r.read())["tags"] == {"mislabelled": [sid]}
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(urllib.request.Request(url, data=body), timeout=10)
        assert err.value.code == 403 and err.value.headers["X-DVI-Error"] == "cross_site"


def test_parse_spec_and_unnamed_roots(logs):
    from tensorboard_dvi.plugin import logdirs
    roots = logdirs.parse_spec(f"a:{logs / 'A'}, {logs / 'B'},gs://bucket/x,b:gs://y,,")
    assert roots == [logdirs.Root("a", os.path.realpath(logs / "A")), logdirs.Root(None, os.path.realpath(logs / "B"))]
    found, skipped = logdirs.list_runs([logdirs.Root(None, str(logs / "A")), logdirs.Root(None, str(logs / "B"))])
    assert list(found) == ["clean"] and found["clean"][0].path == str(logs / "A")  # first entry wins
    assert {"name": "clean", "reason": "the name is taken by an earlier --logdir_spec entry"} in skipped


def test_damaged_tags_file_is_reported_not_overwritten(env):
    path = os.path.join(env["plugin"].runs.resolve("clean").cache_dir, "tags.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    saved = open(path, "rb").read() if os.path.exists(path) else None
    try:
        with open(path, "w") as f:
            f.write('{"tags": {"x": ["not an id"]}}')
        r = env["client"].get(PREFIX + "tags", query_string={"run": "clean"})
        assert r.status_code == 404 and r.headers["X-DVI-Error"] == "damaged" and "tags.json" in r.get_data(as_text=True)
        r = post_tags(env, {"tag": "y", "ids": [], "op": "set"})
        assert r.status_code == 404 and r.headers["X-DVI-Error"] == "damaged"
        assert open(path).read() == '{"tags": {"x": ["not an id"]}}'
    finally:
        if saved is None:
            os.unlink(path)
        else:
            open(path, "wb").write(saved)
