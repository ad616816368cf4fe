"""Runs and epochs that disappear while the backend serves them (fast, in-process).

Four client threads request every route of three runs while the main thread deletes one run,
renames another, deletes an epoch folder of the third and replaces one of its epochs. During
the changes only 200 and 404 are acceptable (never a 5xx or an exception); afterwards the
deleted and the old names answer 404 on every route, the renamed run is served under its new
name, and the untouched epochs keep answering 200.
"""

import os
import shutil
import threading
import time

from werkzeug import test as wtest
from werkzeug import wrappers

from relkit import PREFIX, append_epoch, epoch_dir, fake_fit, make_client, make_run
from tensorboard_dvi.engine.cache import default_cache_dir
from tensorboard_dvi.plugin.jobs import JobManager

ROUTES = [("status", {}), ("samples", {}), ("projection", {"epoch": 1}), ("projection", {"epoch": 2}),
          ("background", {"epoch": 2}), ("background_meta", {"epoch": 1}), ("metrics", {}),
          ("metrics", {"epoch": 1}), ("predict_at", {"epoch": 1, "x": 0, "y": 0}), ("sample", {"id": 3, "epoch": 2}),
          ("thumbnail", {"id": 3}), ("trajectories", {"ids": "1,2,3"})]


def test_runs_deleted_and_renamed_while_served(tmp_path, report):
    logdir, cache_root = tmp_path / "logs", tmp_path / "cache"
    make_run(logdir / "doomed", epochs=2, n_train=100, n_test=20, hidden=8, seed=6)
    for name in ("moved", "kept"):
        shutil.copytree(logdir / "doomed", logdir / name)
    append_epoch(logdir / "kept", 2, 3)
    for name in ("doomed", "moved", "kept"):
        fake_fit(os.fspath(logdir / name), os.path.join(cache_root, os.path.basename(
            default_cache_dir(os.fspath(logdir / name)))))
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"), cache_root=os.fspath(cache_root),
                                 autofit=False, watch_interval_s=0, runs_ttl_s=0.3)
    app = client.application
    codes, errors = {}, []
    stop = threading.Event()
    lock = threading.Lock()

    def hammer(i):
        c = wtest.Client(app, wrappers.Response)
        k = 0
        while not stop.is_set() and k < 2000:
            run = ("doomed", "moved", "kept", "moved2")[(i + k) % 4]
            route, params = ROUTES[k % len(ROUTES)]
            k += 1
            try:
                code = c.get(PREFIX + route, query_string=dict(params, run=run)).status_code
            except Exception as e:  # noqa: BLE001 - an exception is a failure
                code = f"exception {type(e).__name__}: {e}"
                with lock:
                    errors.append(code)
            with lock:
                codes[code] = codes.get(code, 0) + 1

    threads = [threading.Thread(target=hammer, args=(i,), daemon=True) for i in range(4)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.3)
        shutil.rmtree(logdir / "doomed")
        time.sleep(0.3)
        os.rename(logdir / "moved", logdir / "moved2")
        time.sleep(0.3)
        shutil.rmtree(epoch_dir(logdir / "kept", 1))
        append_epoch(logdir / "kept", 3, 2)  # epoch 2 replaced (new uid) while served
        time.sleep(0.6)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    during_bad = {k: v for k, v in codes.items() if k not in (200, 404)}
    after = {}
    c = wtest.Client(app, wrappers.Response)
    for run in ("doomed", "moved", "moved2", "kept"):
        for route, params in ROUTES:
            after[(run, route, tuple(sorted(params.items())))] = c.get(
                PREFIX + route, query_string=dict(params, run=run)).status_code
    plugin.close()
    gone_bad = {k: v for k, v in after.items() if k[0] in ("doomed", "moved") and v != 404}
    moved2_bad = {k: v for k, v in after.items() if k[0] == "moved2" and k[1] in ("status", "samples", "thumbnail")
                  and v != 200}
    kept = {k: v for k, v in after.items() if k[0] == "kept"}
    kept_bad = {k: v for k, v in kept.items() if v >= 500 or (("epoch", 1) in k[2] and v != 404)
                or (k[1] in ("status", "samples", "metrics", "thumbnail", "trajectories") and ("epoch", 1) not in k[2]
                    and v != 200)}
    total = sum(codes.values())
    ok = not during_bad and not errors and not gone_bad and not moved2_bad and not kept_bad
    report("backend", "run deleted, run renamed, epoch deleted, epoch replaced while 4 clients request every route",
           total + len(after), ok,
           f"{total} requests during the changes: {codes.get(200, 0)} x 200, {codes.get(404, 0)} x 404, "
           f"{sum(during_bad.values())} other; afterwards deleted/old names 404 on {len(ROUTES)} routes, "
           f"renamed run served")
    assert not errors, errors[:5]
    assert not during_bad, during_bad
    assert not gone_bad, gone_bad
    assert not moved2_bad, moved2_bad
    assert not kept_bad, kept_bad
