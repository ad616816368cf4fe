"""Hostile logdir and cache *content* (fast, in-process on TensorBoardWSGI): issue 17, faults 1-4.

* every JSON file of the format (meta.json, epoch.json, head.json, the cache's epoch.json,
  background.json, metrics.json) replaced by JSON of every wrong type, 100k-deep nesting,
  invalid UTF-8, and with each field set to null / a string / a list / a huge number;
  ``epochs`` being a regular file. ``GET runs`` must answer 200, the damage must stay in its
  run or epoch and name the file; no route may answer 5xx or show an absolute server path.
* special files (FIFO, UNIX socket, character device) in place of every kind of file: no
  request may block, each is reported.
* memory: a run declaring a huge class count; ``/sample`` on a 2000 x 30000 sparse logits file
  reads one row; the projection's confidence/flags are computed in bounded blocks.
* work amplification: 5000 empty epoch folders (revalidated once, not per request or per watcher
  pass) and a flood of unknown run names (at most one logdir walk per ``min_rescan_s``).
"""

import json
import os
import shutil
import socket
import stat
import threading
import time
import tracemalloc

import numpy as np
import pytest

from relkit import PREFIX, epoch_dir, fake_fit, make_client, make_run, static_dir
from test_plugin_jobs import append_epoch
from tensorboard_dvi import metadata as md
from tensorboard_dvi import storage
from tensorboard_dvi.engine.cache import default_cache_dir
from tensorboard_dvi.plugin.jobs import JobManager

DEEP = ("[" * 100_000 + "]" * 100_000).encode()
WHOLE = {"list": b"[1, 2]", "string": b'"x"', "number": b"7", "null": b"null", "bool": b"true",
         "deep": DEEP, "deep_obj": ('{"a":' * 50_000 + "1" + "}" * 50_000).encode(), "bad_utf8": b'{"a": "\xff\xfe"}',
         "truncated": b'{"format_version": 1, "n_tr', "empty": b"", "huge_number": b"1e999999"}
FIELD_VALUES = {"null": None, "string": "x", "list": [], "object": {}, "negative": -1, "huge": 10 ** 30,
                "bool": True, "float": 2.5}
META_FIELDS = ("format_version", "n_train", "n_test", "dim", "num_classes", "class_names")
ROUTES = ["status", "samples", "projection", "background", "background_meta", "predict_at", "metrics", "sample",
          "thumbnail", "trajectories", "dynamics", "dynamics_query", "dynamics_export",
          "texts", "metadata", "search", "history", "neighbours", "tags"]
FULL = {"epoch": "1", "id": "1", "ids": "1,2", "x": "0", "y": "0", "query": "forgotten", "format": "json"}


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _cache_dir(cache_root, run):
    return os.path.join(cache_root, os.path.basename(default_cache_dir(os.fspath(run))))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    logdir, cache_root = root / "logs", root / "cache"
    make_run(logdir / "good", epochs=1, n_train=100, n_test=20, hidden=8, seed=3)
    meta_path = os.path.join(static_dir(logdir / "good"), md.META_FILE)
    with open(meta_path) as f:
        meta = json.load(f)
    cases = {}  # run name -> (what, file expected in the error)
    for what, data in WHOLE.items():
        name = f"meta_{what}"
        shutil.copytree(logdir / "good", logdir / name)
        _write(os.path.join(static_dir(logdir / name), md.META_FILE), data)
        cases[name] = ("meta.json", "meta.json")
    for field in META_FIELDS:
        for what, value in FIELD_VALUES.items():
            if field == "class_names" and what in ("null", "list"):
                continue  # allowed values
            name = f"metafield_{field}_{what}"
            shutil.copytree(logdir / "good", logdir / name)
            _write(os.path.join(static_dir(logdir / name), md.META_FILE), json.dumps({**meta, field: value}).encode())
            cases[name] = ("meta.json", "meta.json")
    # `epochs` is a regular file; a run whose meta declares a huge class count
    shutil.copytree(logdir / "good", logdir / "epochs_file")
    shutil.rmtree(os.path.join(logdir / "epochs_file", *md.PLUGIN_DIR, md.EPOCHS_DIR))
    _write(os.path.join(logdir / "epochs_file", *md.PLUGIN_DIR, md.EPOCHS_DIR), b"not a folder")
    # One run with every kind of epoch damage: epoch 1 intact, the others one JSON problem each.
    make_run(logdir / "epochs", epochs=1, n_train=100, n_test=20, hidden=8, seed=4)
    epoch_cases = {}
    k = 2
    for fname in (md.EPOCH_FILE, md.HEAD_SPEC_FILE):
        for what, data in WHOLE.items():
            append_epoch(logdir / "epochs", 1, k)
            _write(os.path.join(epoch_dir(logdir / "epochs", k), fname), data)
            epoch_cases[k] = fname
            k += 1
    for field, value in (("uid", None), ("uid", 5), ("epoch", "2"), ("epoch", None)):
        append_epoch(logdir / "epochs", 1, k)
        p = os.path.join(epoch_dir(logdir / "epochs", k), md.EPOCH_FILE)
        with open(p) as f:
            info = json.load(f)
        _write(p, json.dumps({**info, field: value if field != "epoch" or value is None else value}).encode())
        epoch_cases[k] = md.EPOCH_FILE
        k += 1
    for layers in (None, [1], [{"type": "Linear", "in": None}], [{"type": "Linear", "in": "8", "out": [1]}]):
        append_epoch(logdir / "epochs", 1, k)
        _write(os.path.join(epoch_dir(logdir / "epochs", k), md.HEAD_SPEC_FILE),
               json.dumps({"format": "dvi-head-1", "layers": layers}).encode())
        epoch_cases[k] = md.HEAD_SPEC_FILE
        k += 1
    # Cached results of every wrong type (one run, fitted, epoch k damaged one way each).
    make_run(logdir / "cached", epochs=1, n_train=100, n_test=20, hidden=8, seed=6)
    cache_cases = {}
    k = 2
    for fname in ("epoch.json", "background.json", "metrics.json"):
        for what, data in WHOLE.items():
            append_epoch(logdir / "cached", 1, k)
            cache_cases[k] = (fname, data)
            k += 1
    for bounds in ([0, 0, "x", 1], [0, 0, 0, 0], None, [1e308, 0, float("inf"), 1]):
        append_epoch(logdir / "cached", 1, k)
        cache_cases[k] = ("background.json", json.dumps({"bounds": bounds, "resolution": 16}).encode())
        k += 1
    for name in ("good", "cached"):
        fake_fit(os.fspath(logdir / name), _cache_dir(cache_root, logdir / name))
    cdir = _cache_dir(cache_root, logdir / "cached")
    for e, (fname, data) in cache_cases.items():
        _write(os.path.join(cdir, md.EPOCHS_DIR, md.epoch_dir_name(e), fname), data)
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"), cache_root=os.fspath(cache_root),
                                 autofit=False, watch_interval_s=0)
    yield {"client": client, "plugin": plugin, "logdir": logdir, "root": root, "cases": cases,
           "epoch_cases": epoch_cases, "cache_cases": cache_cases, "cache_root": cache_root}
    plugin.close()


def _get(client, route, **params):
    r = client.get(PREFIX + route, query_string=params)
    return r.status_code, r.get_data()


def test_malformed_json_stays_local(hostile, report):
    client, root = hostile["client"], os.fspath(hostile["root"])
    t0 = time.perf_counter()
    code, body = _get(client, "runs")
    dt = time.perf_counter() - t0
    runs = {r["name"]: r for r in json.loads(body)["runs"]} if code == 200 else {}
    problems = []
    for name, (_, fname) in hostile["cases"].items():
        err = (runs.get(name) or {}).get("error") or ""
        if fname not in err or root in err:
            problems.append((name, err[:120]))
    if "epochs_file" not in runs or runs["epochs_file"].get("epochs") != [] or runs["epochs_file"].get("error"):
        problems.append(("epochs_file", runs.get("epochs_file")))
    ep = runs.get("epochs") or {}
    damaged = {int(k): v for k, v in (ep.get("damaged") or {}).items()}
    for e, fname in hostile["epoch_cases"].items():
        if fname not in damaged.get(e, ""):
            problems.append((f"epochs/{e}", damaged.get(e)))
    if 1 in damaged or runs.get("good", {}).get("fitted") != [1]:
        problems.append(("intact run or epoch reported damaged", runs.get("good"), damaged.get(1)))
    n = len(hostile["cases"]) + len(hostile["epoch_cases"]) + 1
    report("damage", "malformed JSON in meta.json / epoch.json / head.json (11 wrong types incl. 100k-deep "
                     "nesting, bad UTF-8; 6 meta fields x 8 wrong values; 8 field-level epoch/head cases), "
                     "`epochs` as a regular file", n, code == 200 and not problems,
           f"GET runs: {code} in {dt * 1000:.0f} ms; {n - len(problems)}/{n} reported locally with the "
           "run-relative file named; 0 absolute paths")
    assert code == 200, body[:300]
    assert not problems, problems[:10]


def test_no_route_answers_5xx_on_hostile_content(hostile, report):
    client, root = hostile["client"], os.fspath(hostile["root"]).encode()
    names = list(hostile["cases"]) + ["epochs_file", "epochs", "cached"]
    epochs = {"epochs": list(hostile["epoch_cases"]), "cached": list(hostile["cache_cases"])}
    bad, leaked, n, codes_seen = [], [], 0, {}
    for name in names:
        for e in epochs.get(name, [1]):
            for route in ROUTES:
                params = {**FULL, "run": name, "epoch": str(e)}
                code, body = _get(client, route, **params)
                n += 1
                codes_seen[code] = codes_seen.get(code, 0) + 1
                if code >= 500:
                    bad.append((name, e, route, code, body[:120]))
                if root in body:
                    leaked.append((name, e, route))
    # cached results of the wrong type: answered "damaged"/"not fitted", never served
    served = []
    for e in hostile["cache_cases"]:
        for route in ("background_meta", "predict_at", "projection", "background"):
            code, _ = _get(client, route, run="cached", epoch=str(e), x="0", y="0")
            if code == 200 and route != "background" and hostile["cache_cases"][e][0] != "metrics.json":
                served.append((e, route))
    code_m, body_m = _get(client, "metrics", run="cached")
    report("backend", "every route on every hostile run/epoch/cached result above", n,
           not bad and not leaked and not served and code_m == 200,
           f"answers {dict(sorted(codes_seen.items()))}; 5xx: {len(bad)}; absolute paths in bodies: {len(leaked)}; "
           f"wrong-typed cache JSON served: {len(served)}; GET metrics (all epochs): {code_m}")
    assert not bad, bad[:10]
    assert not leaked, leaked[:10]
    assert not served, served[:10]
    assert code_m == 200


# --------------------------------------------------------------------------- special files

def _special(path, kind):
    if os.path.lexists(path):
        os.remove(path)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        cwd = os.getcwd()
        os.chdir(os.path.dirname(path))  # a relative name: AF_UNIX paths are limited to 108 bytes
        try:
            s.bind(os.path.basename(path))
        finally:
            os.chdir(cwd)
        return s
    elif kind == "chardev":
        os.mknod(path, 0o644 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero (needs root)
    return None


SPECIAL_TARGETS = [("static", md.META_FILE), ("static", md.LABELS_FILE), ("static", md.THUMBNAILS_FILE),
                   ("epoch", md.EPOCH_FILE), ("epoch", md.LOGITS_FILE), ("epoch", md.REPRESENTATIONS_FILE),
                   ("epoch", md.HEAD_SPEC_FILE), ("epoch", md.HEAD_WEIGHTS_FILE),
                   ("cache", "epoch.json"), ("cache", "background.json"), ("cache", "metrics.json"),
                   ("cache", "embedding.npy"), ("cache", "background.png")]


def test_special_files_never_block(tmp_path, report):
    logdir, cache_root = tmp_path / "logs", tmp_path / "cache"
    make_run(logdir / "template", epochs=1, n_train=60, n_test=10, hidden=8, seed=7)
    kinds = ["fifo", "socket"] + (["chardev"] if os.geteuid() == 0 else [])
    made, sockets = [], []
    for kind in kinds:
        for where, fname in SPECIAL_TARGETS:
            name = f"{kind}_{where}_{fname.replace('.', '_')}"
            shutil.copytree(logdir / "template", logdir / name)
            cdir = _cache_dir(cache_root, logdir / name)
            fake_fit(os.fspath(logdir / name), cdir)
            folder = {"static": static_dir(logdir / name), "epoch": epoch_dir(logdir / name, 1),
                      "cache": os.path.join(cdir, md.EPOCHS_DIR, md.epoch_dir_name(1))}[where]
            try:
                s = _special(os.path.join(folder, fname), kind)
            except OSError:
                shutil.rmtree(logdir / name)
                continue
            if s is not None:
                sockets.append(s)
            made.append(name)
    shutil.rmtree(logdir / "template")
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"), cache_root=os.fspath(cache_root),
                                 autofit=False, watch_interval_s=0)
    results, n = {}, 0

    def run_all():
        nonlocal n
        results["runs"] = _get(client, "runs")[0]
        for name in made:
            for route in ROUTES:
                code, body = _get(client, route, **{**FULL, "run": name})
                n += 1
                if code >= 500:
                    results.setdefault("5xx", []).append((name, route, code, body[:100]))

    t0 = time.perf_counter()
    th = threading.Thread(target=run_all, daemon=True)
    th.start()
    th.join(120)
    dt = time.perf_counter() - t0
    blocked = th.is_alive()
    runs = {} if blocked else {r["name"]: r for r in json.loads(_get(client, "runs")[1])["runs"]}
    unreported = [m for m in made if m.split("_")[1] == "static" and "thumbnails" not in m and "labels" not in m
                  and "regular file" not in (runs.get(m, {}).get("error") or "")]
    unreported += [m for m in made if m.split("_")[1] == "epoch"
                   and "1" not in (runs.get(m, {}).get("damaged") or {})]
    report("damage", f"special files ({', '.join(kinds)}) in place of {len(SPECIAL_TARGETS)} kinds of logdir and "
                     "cache files, every route", len(made), not blocked and not results.get("5xx") and not unreported,
           f"{n} requests in {dt:.1f} s, blocked: {blocked}; 5xx: {len(results.get('5xx', []))}; "
           f"not reported as damaged: {len(unreported)}")
    plugin.close()
    for s in sockets:
        s.close()
    assert not blocked, "a request blocked on a special file"
    assert not results.get("5xx"), results["5xx"][:5]
    assert not unreported, unreported


# --------------------------------------------------------------------------- memory

def _sparse_run(run_dir, n=2000, c=30000, dim=8):
    """A run with an N x C logits file that is sparse on disk (a few KB, 240 MB declared)."""
    from tensorboard_dvi.heads import head_files
    import torch
    static = static_dir(run_dir)
    os.makedirs(static)
    np.save(os.path.join(static, md.IDS_FILE), np.arange(n, dtype=np.int64))
    np.save(os.path.join(static, md.LABELS_FILE), np.zeros(n, np.int64))
    np.save(os.path.join(static, md.SPLIT_FILE), np.zeros(n, np.uint8))
    with open(os.path.join(static, md.META_FILE), "w") as f:
        json.dump({"format_version": 1, "n_train": n, "n_test": 0, "dim": dim, "num_classes": c}, f)
    folder = epoch_dir(run_dir, 1)
    os.makedirs(folder)
    with open(os.path.join(folder, md.EPOCH_FILE), "w") as f:
        json.dump({"epoch": 1, "uid": "sparse"}, f)
    np.save(os.path.join(folder, md.REPRESENTATIONS_FILE), np.zeros((n, dim), np.float32))
    np.save(os.path.join(folder, md.PREDICTIONS_FILE), np.zeros(n, np.int64))
    np.save(os.path.join(folder, md.BORDER_FILE), np.zeros((4, dim), np.float32))
    np.lib.format.open_memmap(os.path.join(folder, md.LOGITS_FILE), "w+", np.float32, (n, c)).flush()
    for fname, blob in head_files(torch.nn.Linear(dim, c)).items():
        _write(os.path.join(folder, fname), blob)


def test_memory_sparse_logits_and_caps(tmp_path, report):
    from tensorboard_dvi.plugin.plugin import _confidence_and_flags
    logdir = tmp_path / "logs"
    make_run(logdir / "good", epochs=1, n_train=60, n_test=10, hidden=8, seed=8)
    _sparse_run(logdir / "sparse")
    shutil.copytree(logdir / "good", logdir / "classes")
    p = os.path.join(static_dir(logdir / "classes"), md.META_FILE)
    with open(p) as f:
        meta = json.load(f)
    _write(p, json.dumps({**meta, "num_classes": 10 ** 7}).encode())
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"), cache_root=os.fspath(tmp_path / "c"),
                                 autofit=False, watch_interval_s=0)
    runs = {r["name"]: r for r in json.loads(_get(client, "runs")[1])["runs"]}
    _get(client, "sample", run="sparse", id="5", epoch="1")  # warm up: static arrays, id index
    tracemalloc.start()
    code, body = _get(client, "sample", run="sparse", id="7", epoch="1")
    _, peak_sample = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    ep = storage.RunReader(os.fspath(logdir / "sparse")).epoch(1)
    preds, labels = ep.predictions, np.zeros(2000, np.int64)
    tracemalloc.start()
    conf, flags = _confidence_and_flags(preds, labels, ep.logits_raw, None)
    _, peak_proj = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    declared = 2000 * 30000 * 4
    dup = _get(client, "trajectories", run="good", ids="1,1,1")[0]
    cap_err = runs.get("classes", {}).get("error") or ""
    report("memory", "2000 x 30000 sparse logits.npy (240 MB declared): /sample and the projection's confidence; "
                     "meta declaring 10^7 classes; repeated ids", 4,
           code == 200 and peak_sample < 4 << 20 and peak_proj < 64 << 20 and "num_classes" in cap_err and dup == 400,
           f"/sample peak {peak_sample / 2 ** 20:.2f} MiB, projection confidence+flags peak {peak_proj / 2 ** 20:.1f} "
           f"MiB (declared array {declared / 2 ** 20:.0f} MiB; Python allocations, tracemalloc); 10^7 classes: "
           f"'{cap_err[:90]}'; ids=1,1,1: {dup}")
    plugin.close()
    assert code == 200, body[:200]
    assert peak_sample < 4 << 20 and peak_proj < 64 << 20, (peak_sample, peak_proj)
    assert "num_classes" in cap_err and dup == 400
    assert np.allclose(conf, 1 / 30000) and flags.dtype == np.uint8


# --------------------------------------------------------------------------- floods

def test_empty_epoch_folder_flood_is_validated_once(tmp_path, report, monkeypatch):
    logdir = tmp_path / "logs"
    make_run(logdir / "run", epochs=1, n_train=60, n_test=10, hidden=8, seed=9)
    epochs = os.path.join(logdir / "run", *md.PLUGIN_DIR, md.EPOCHS_DIR)
    flood = 5000
    for e in range(100, 100 + flood):
        os.mkdir(os.path.join(epochs, md.epoch_dir_name(e)))
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"), cache_root=os.fspath(tmp_path / "c"),
                                 autofit=True, watch_interval_s=0)
    calls = []
    real = storage.RunReader.epoch
    monkeypatch.setattr(storage.RunReader, "epoch", lambda self, e: (calls.append(e), real(self, e))[1])
    t0 = time.perf_counter()
    code1 = _get(client, "runs")[0]
    t1 = time.perf_counter() - t0
    first = len(calls)
    t0 = time.perf_counter()
    code2 = _get(client, "runs")[0]
    code3 = _get(client, "status", run="run")[0]
    run = plugin.runs.known("run")
    for _ in range(3):  # what the watcher does every interval
        plugin.fitter.schedule(run)
    t2 = time.perf_counter() - t0
    again = len(calls) - first
    plugin.close()
    report("work", f"{flood} empty epoch-* folders: GET runs twice, GET status, 3 watcher passes", flood,
           code1 == code2 == code3 == 200 and again == 0,
           f"first GET runs {t1 * 1000:.0f} ms ({first} epoch reads); afterwards 4 passes {t2 * 1000:.0f} ms with "
           f"{again} epoch re-reads")
    assert code1 == code2 == code3 == 200
    assert again == 0, again


def test_unknown_run_flood_walks_the_logdir_rarely(tmp_path, report, monkeypatch):
    logdir = tmp_path / "logs"
    make_run(logdir / "run", epochs=1, n_train=60, n_test=10, hidden=8, seed=10)
    for i in range(300):
        os.makedirs(logdir / f"tb_only_{i}" / "sub")
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"), cache_root=os.fspath(tmp_path / "c"),
                                 autofit=False, watch_interval_s=0)
    walks = []
    real = storage.list_runs
    import tensorboard_dvi.plugin.runs as runs_mod
    monkeypatch.setattr(runs_mod.storage, "list_runs", lambda d: (walks.append(1), real(d))[1])
    n, codes_seen = 200, set()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=lambda i=i: codes_seen.add(_get(client, "status", run=f"nope{i}")[0]))
               for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    dt = time.perf_counter() - t0
    t0 = time.perf_counter()
    ok = _get(client, "status", run="run")[0]
    t_normal = time.perf_counter() - t0
    allowed = 1 + int(dt / 1.0) + 1
    plugin.close()
    report("work", f"{n} concurrent requests for unknown run names, then a normal request", n,
           codes_seen == {404} and len(walks) <= allowed and ok == 200,
           f"{len(walks)} logdir walks in {dt:.2f} s (allowed {allowed}: one per second); answers {sorted(codes_seen)}; "
           f"normal request after: {ok} in {t_normal * 1000:.0f} ms")
    assert codes_seen == {404}
    assert len(walks) <= allowed, len(walks)
    assert ok == 200
