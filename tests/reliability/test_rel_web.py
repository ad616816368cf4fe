"""Cross-site requests, Host headers, the fitting queue and the smaller faults of issue 17
(faults 5-8; fast, in-process on TensorBoardWSGI, with spawn workers running the fake fit).
"""

import json
import os
import shutil
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from relkit import PREFIX, epoch_dir, fake_fit, make_client, make_run, static_dir, wait_until
from test_plugin_jobs import append_epoch
from tensorboard_dvi import metadata as md
from tensorboard_dvi import storage
from tensorboard_dvi.engine.cache import RunCache, default_cache_dir
from tensorboard_dvi.plugin.jobs import JobManager


def _cache_dir(cache_root, run):
    return os.path.join(cache_root, os.path.basename(default_cache_dir(os.fspath(run))))


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    root = tmp_path_factory.mktemp("web")
    logdir = root / "logs"
    make_run(logdir / "run", epochs=2, n_train=80, n_test=20, hidden=8, seed=11)
    return root


def _client(root, **kw):
    kw.setdefault("jobs", JobManager(fit="plugin_fakes:fake_fit", poll_s=0.05))
    kw.setdefault("autofit", True)
    kw.setdefault("watch_interval_s", 0)
    return make_client(root / "logs", cache_root=os.fspath(root / "cache"), **kw)


def test_cross_site_and_host_headers(web, report):
    client, plugin = _client(web, autofit=False)
    q = {"run": "run"}
    cases = [  # (what, method, route, headers, expected status)
        ("form POST fit, no header", "POST", "fit", {}, 403),
        ("form POST cancel, no header", "POST", "cancel", {}, 403),
        ("POST fit, cross-site Origin", "POST", "fit", {"Origin": "http://evil.example"}, 403),
        ("POST fit, Origin null", "POST", "fit", {"Origin": "null"}, 403),
        ("POST status, no header", "POST", "status", {}, 403),
        ("POST status, cross-site Origin + Referer", "POST", "status",
         {"Origin": "http://evil.example", "Referer": "http://localhost/"}, 403),
        ("GET runs, rebinding Host", "GET", "runs", {"Host": "evil.example"}, 403),
        ("GET status, rebinding Host:port", "GET", "status", {"Host": "evil.example:6006"}, 403),
        ("POST fit, header + rebinding Host", "POST", "fit", {"X-DVI-Request": "1", "Host": "attacker.test"}, 403),
        ("GET index.js, rebinding Host", "GET", "index.js", {"Host": "evil.example"}, 403),
        ("POST cancel with X-DVI-Request", "POST", "cancel", {"X-DVI-Request": "1"}, 202),
        ("POST fit, same-origin Origin", "POST", "fit", {"Origin": "http://localhost"}, 202),
        ("GET runs, Host 127.0.0.1:6006", "GET", "runs", {"Host": "127.0.0.1:6006"}, 200),
        ("GET runs, Host [::1]:6006", "GET", "runs", {"Host": "[::1]:6006"}, 200),
        ("GET runs, Host localhost", "GET", "runs", {"Host": "localhost"}, 200),
        ("GET runs, Host 10.1.2.3 (an IP cannot be rebound)", "GET", "runs", {"Host": "10.1.2.3"}, 200),
    ]
    wrong, acted = [], None
    for what, method, route, headers, want in cases:
        if want != 403 and acted is None:
            acted = plugin._jobs.status("run")  # after every refused request: nothing happened
        r = client.open(PREFIX + route, method=method, query_string=q, headers=headers)
        if r.status_code != want:
            wrong.append((what, r.status_code, want))
    # GET status has no side effect: no job, no watched run
    client2, plugin2 = _client(web)
    r = client2.get(PREFIX + "status", query_string=q, headers={})
    time.sleep(0.3)
    get_state = plugin2._jobs.status("run")["state"]
    watched = len(plugin2.fitter._opened)
    r2 = client2.post(PREFIX + "status", query_string=q)  # the tab (X-DVI-Request)
    post_state = r2.status_code == 200 and plugin2._jobs.status("run")["state"] in ("queued", "running", "done")
    plugin2.close()
    plugin.close()
    # --dvi_allowed_hosts
    client3, plugin3 = _client(web, autofit=False)
    plugin3._guard.__init__(allowed_hosts=["dvi.example.org"])
    ok_named = client3.get(PREFIX + "runs", headers={"Host": "dvi.example.org:6006"}).status_code
    plugin3._guard.__init__(allowed_hosts=["*"])
    ok_any = client3.get(PREFIX + "runs", headers={"Host": "anything.example"}).status_code
    plugin3.close()
    n = len(cases) + 4
    held = not wrong and acted["state"] == "idle" and r.status_code == 200 and get_state == "idle" and watched == 0 and post_state \
        and ok_named == 200 and ok_any == 200
    report("security", "cross-site form POSTs (no header, foreign/null Origin), DNS-rebinding Host headers, "
                       "GET status side effects, --dvi_allowed_hosts", n, held,
           f"{len(cases) - len(wrong)}/{len(cases)} answered as expected (403 cross_site/bad_host vs 2xx); "
           f"GET status: job {get_state}, {watched} runs watched; POST status (tab): queued a fit: {post_state}; "
           f"allowed name: {ok_named}, '*': {ok_any}")
    assert not wrong, wrong
    assert get_state == "idle" and watched == 0 and post_state
    assert ok_named == 200 and ok_any == 200
    assert acted["state"] == "idle"  # the refused requests did nothing


def test_vanished_cache_is_refitted(web, report):
    shutil.rmtree(web / "cache", ignore_errors=True)  # an earlier test of the module may have fitted it
    client, plugin = _client(web)
    q = {"run": "run"}

    def st():
        return json.loads(client.post(PREFIX + "status", query_string=q).get_data())

    first = wait_until(lambda: (lambda s: s if s["state"] == "done" and s["fitted"] == [1, 2] else None)(st()), 60)
    shutil.rmtree(web / "cache")
    time.sleep(1.1)  # the fitted memo lives 1 s
    again = wait_until(lambda: (lambda s: s if s["state"] == "done" and s["fitted"] == [1, 2] else None)(st()), 60)
    shutil.rmtree(os.path.join(_cache_dir(web / "cache", web / "logs" / "run"), md.EPOCHS_DIR,
                               md.epoch_dir_name(2)))
    time.sleep(1.1)
    one = wait_until(lambda: (lambda s: s if s["state"] == "done" and s["fitted"] == [1, 2] else None)(st()), 60)
    plugin.close()
    report("lifecycle", "cache folder deleted after a finished fit; then one cached epoch deleted", 2,
           bool(first and again and one),
           f"fitted after the first fit: {first and first['fitted']}; after deleting the cache: "
           f"{again and again['fitted']}; after deleting epoch 2's results: {one and one['fitted']}")
    assert first and again and one


def test_fair_queue_and_memory_guard(tmp_path, report):
    logdir = tmp_path / "logs"
    make_run(logdir / "long", epochs=1, n_train=60, n_test=10, hidden=8, seed=12)
    for e in range(2, 9):
        append_epoch(logdir / "long", 1, e)
    shutil.copytree(logdir / "long", logdir / "short")
    for e in range(2, 9):
        shutil.rmtree(epoch_dir(logdir / "short", e))
    jobs = JobManager(fit="plugin_fakes:fake_fit", config={"delay": 0.5}, poll_s=0.05, slice_s=1.0)
    c = str(tmp_path / "cache")
    jobs.submit("long", os.fspath(logdir / "long"), os.path.join(c, "long"), list(range(1, 9)))
    jobs.submit("short", os.fspath(logdir / "short"), os.path.join(c, "short"), [1])
    t0 = time.monotonic()
    order = []
    while time.monotonic() - t0 < 60 and len(order) < 2:
        for run in ("long", "short"):
            if run not in order and jobs.status(run)["state"] == "done" and jobs.job(run).rerun is None:
                order.append(run)
        time.sleep(0.05)
    long_fitted = sorted(RunCache(os.path.join(c, "long")).fitted_epochs())
    jobs.shutdown()
    jobs2 = JobManager(fit="plugin_fakes:fake_fit", config={"delay": 5.0}, poll_s=0.05, max_worker_mb=1)
    jobs2.submit("long", os.fspath(logdir / "long"), os.path.join(c, "x"), [1])
    s = wait_until(lambda: (lambda s: s if s["state"] == "error" else None)(jobs2.status("long")), 60)
    jobs2.shutdown()
    report("faults", "a long fit (8 epochs x 0.5 s) queued before a short one, 1 s time slices; a worker over "
                     "its memory limit (1 MiB)", 2,
           order == ["short", "long"] and long_fitted == list(range(1, 9)) and bool(s) and "memory" in s["error"],
           f"finished in the order {order}; long run fitted {long_fitted} across its slices; memory guard: "
           f"{s and s['error'][:90]}")
    assert order == ["short", "long"], order
    assert long_fitted == list(range(1, 9))
    assert s and "memory" in s["error"]


def _head_bomb(folder, n=12000):
    """head.json declaring Linear(n -> n) and a 576 MB float32 weight that deflates to ~0.5 MB."""
    with open(os.path.join(folder, md.HEAD_SPEC_FILE), "w") as f:
        json.dump({"format": "dvi-head-1", "layers": [{"type": "Linear", "in": n, "out": n, "bias": False,
                                                        "prefix": ""}]}, f)
    header = {"descr": "<f4", "fortran_order": False, "shape": (n, n)}
    with zipfile.ZipFile(os.path.join(folder, md.HEAD_WEIGHTS_FILE), "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("weight.npy", "w", force_zip64=True) as out:
            np.lib.format.write_array_header_1_0(out, header)
            zeros = bytes(n * 4 * 100)
            for _ in range(n // 100):
                out.write(zeros)


def test_head_bomb_is_refused_before_allocating(tmp_path, report):
    from tensorboard_dvi.heads import load_head
    run = tmp_path / "logs" / "run"
    make_run(run, epochs=1, n_train=60, n_test=10, hidden=8, seed=13)
    folder = epoch_dir(run, 1)
    _head_bomb(folder)
    size = os.path.getsize(os.path.join(folder, md.HEAD_WEIGHTS_FILE))
    reader = storage.RunReader(os.fspath(run))
    t0 = time.perf_counter()
    tracemalloc.start()
    damaged = reader.damaged()
    try:
        reader.epoch(1).head_module()
        refused = ""
    except storage.DamagedEpochError as e:
        refused = e.reason
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    dt = time.perf_counter() - t0
    _head_bomb(folder, n=100)  # small, but wider than the 8-dimensional representations
    try:
        load_head(folder, in_dim=8)
        width = ""
    except ValueError as e:
        width = str(e)
    report("memory", f"head zip bomb: {size / 1024:.0f} KB head.npz declaring a 12000 x 12000 Linear", 3,
           "limit" in damaged.get(1, "") and "limit" in refused and "inputs" in width and peak < 32 << 20,
           f"validate and load: '{damaged.get(1, '')[:80]}'; a 100-wide head over 8-dim representations: "
           f"'{width[:70]}'; "
           f"{dt * 1000:.0f} ms, peak Python allocation {peak / 2 ** 20:.1f} MiB (tracemalloc)")
    assert "limit" in damaged.get(1, "") and "limit" in refused and "inputs" in width
    assert peak < 32 << 20


def test_smaller_faults(tmp_path, report, monkeypatch):
    logdir, cache_root = tmp_path / "logs", tmp_path / "cache"
    make_run(logdir / "run", epochs=1, n_train=60, n_test=10, hidden=8, seed=14)
    fake_fit(os.fspath(logdir / "run"), _cache_dir(cache_root, logdir / "run"))
    results = {}
    # duplicate spellings of one epoch
    epochs = os.path.join(logdir / "run", *md.PLUGIN_DIR, md.EPOCHS_DIR)
    for alias in ("epoch-1", "epoch-0000001"):
        shutil.copytree(os.path.join(epochs, md.epoch_dir_name(1)), os.path.join(epochs, alias))
    # a symlinked static file out of the logdir: the engine must not follow it either
    make_run(tmp_path / "outside", epochs=1, n_train=60, n_test=10, hidden=8, seed=15)
    shutil.copytree(logdir / "run", logdir / "linked")
    labels = os.path.join(static_dir(logdir / "linked"), md.LABELS_FILE)
    os.remove(labels)
    os.symlink(os.path.join(static_dir(tmp_path / "outside"), md.LABELS_FILE), labels)
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"), cache_root=os.fspath(cache_root),
                                 autofit=False, watch_interval_s=0)
    # a non-UTF-8 run folder (made after TensorBoard's own multiplexer scanned: it fails on such names)
    bad = os.path.join(os.fsencode(logdir), b"bad-\xff-name")
    shutil.copytree(os.fsencode(logdir / "run"), bad)
    runs = json.loads(client.get(PREFIX + "runs").get_data())["runs"]
    entry = [r for r in runs if r["name"] == "run"][0]
    results["duplicate spellings listed once"] = entry["epochs"] == [1]
    results["non-UTF-8 run not listed"] = all("\udcff" not in r["name"] and "bad-" not in r["name"] for r in runs)
    r = client.get(PREFIX + "predict_at", query_string={"run": "run", "epoch": "1", "x": "1e308", "y": "-1e308"})
    results["predict_at x=1e308"] = r.status_code == 200 and json.loads(r.get_data())["inside"] is False
    plugin.close()
    from tensorboard_dvi.engine import fit_run
    from tensorboard_dvi.engine.fit import EngineError
    try:
        fit_run(os.fspath(logdir / "linked"), os.fspath(tmp_path / "c2"), confine=os.fspath(logdir))
        results["engine refuses a static link out of the logdir"] = False
    except EngineError as e:
        results["engine refuses a static link out of the logdir"] = "link out of the logdir" in str(e)
    # stale temporary folders of a killed writer are removed by the next write
    stale = os.path.join(epochs, md.TEMP_PREFIX + "epoch-000009-dead")
    fresh = os.path.join(epochs, md.TEMP_PREFIX + "epoch-000010-live")
    os.makedirs(stale)
    os.makedirs(fresh)
    old = time.time() - 2 * storage.STALE_TEMP_S
    os.utime(stale, (old, old))
    storage.write_folder(epochs, "scratch", {"a.npy": np.zeros(3)}, {})
    results["stale .tmp- folder cleaned, a recent one kept"] = not os.path.exists(stale) and os.path.exists(fresh)
    # a short write (numpy's "requested and written" OSError without errno) is "disk full"
    import tensorboard_dvi.storage as st

    def short(*a, **k):
        raise OSError("40000 requested and 11232 written")
    monkeypatch.setattr(st, "_save_array", short)
    try:
        RunCache(os.fspath(tmp_path / "c3")).write_epoch(1, {"embedding.npy": np.zeros((4, 2))}, {}, {})
        msg = ""
    except storage.StorageError as e:
        msg = str(e)
    monkeypatch.undo()
    results["short write reported as 'cache disk full'"] = "cache disk full" in msg and "requested" not in msg
    # a refused visualizer.pt: no unsafe advice, the epoch is cold-started
    from tensorboard_dvi.engine.model import load_state
    cdir = _cache_dir(cache_root, logdir / "run")
    cache = RunCache(cdir)
    import pickle
    with open(os.path.join(cache.epoch_path(1), "visualizer.pt"), "wb") as f:
        pickle.dump({"center": os.getcwd}, f)
    results["refused visualizer.pt -> cold start"] = load_state(cache.state_path(1), "cpu") is None
    report("faults", "smaller faults: " + "; ".join(results), len(results), all(results.values()),
           "; ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in results.items()))
    assert all(results.values()), results


def test_guard_heavy_slot_and_path_scrub(report):
    import threading
    from werkzeug import test as wtest
    from werkzeug import wrappers
    from tensorboard_dvi.plugin import codes
    from tensorboard_dvi.plugin.guard import Guard
    secret = "/srv/secret/logs"
    guard = Guard(scrub={secret: "<logdir>"}, max_concurrent=8)
    lock, active, peak = threading.Lock(), [0], [0]

    @wrappers.Request.application
    def export(request):
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.2)
        with lock:
            active[0] -= 1
        if request.args.get("fail"):
            raise codes.Damaged(f"could not read {secret}/run/plugins/dvi/static/meta.json")
        return wrappers.Response(json.dumps({"error": f"could not write {secret}/run/x"}), mimetype="application/json")

    client = wtest.Client(guard.wrap(export, heavy=True), wrappers.Response)
    bodies = []
    threads = [threading.Thread(target=lambda i=i: bodies.append(
        client.get("/", query_string={"fail": "1"} if i % 2 else {}).get_data(as_text=True))) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    leaked = [b for b in bodies if secret in b]
    report("memory", "4 concurrent exports (heavy routes) through the guard; absolute paths in JSON and error "
                     "bodies", 4, peak[0] == 1 and not leaked and len(bodies) == 4,
           f"at most {peak[0]} export at a time; bodies with the absolute path: {len(leaked)} of {len(bodies)}")
    assert peak[0] == 1 and not leaked and len(bodies) == 4, (peak, bodies)


def test_guard_cleans_gzipped_answers(report):
    """TensorBoard gzips answers for browsers (Accept-Encoding: gzip): still clean, still 200."""
    import gzip
    from tensorboard.backend import http_util
    from werkzeug import test as wtest
    from werkzeug import wrappers
    from tensorboard_dvi.plugin.guard import Guard
    secret = "/srv/secret/logs"

    @wrappers.Request.application
    def app(request):
        return http_util.Respond(request, json.dumps({"error": f"{secret}/x", "pad": "y" * 2000}), "application/json")

    client = wtest.Client(Guard(scrub={secret: "<logdir>"}).wrap(app), wrappers.Response)
    r = client.get("/", headers={"Accept-Encoding": "gzip"})
    body = gzip.decompress(r.get_data()) if r.headers.get("Content-Encoding") == "gzip" else r.get_data()
    ok = r.status_code == 200 and secret.encode() not in body and b"<logdir>/x" in body
    report("security", "absolute paths in a gzipped JSON answer (a browser's Accept-Encoding)", 1, ok,
           f"status {r.status_code}, {r.headers.get('Content-Encoding')}; path left: {secret.encode() in body}")
    assert ok, (r.status_code, body[:100])
