"""Long checks of issue 17 (``-m reliability``): 250 concurrent clients while fitting, and the
SIGTERM delay that fitting adds over an idle TensorBoard.

Both run a real ``tensorboard`` process on 127.0.0.1 (relkit.TB) whose worker fits a run with
the real engine, slowed down so that it is still fitting at the end.
"""

import os
import shutil
import threading
import time
import urllib.request

import pytest

from relkit import TB, fake_fit, make_run, percentile, proc_status, sigterm_exit, wait_until
from test_rel_long import SLOW, _fitting_running, cache_dir_for

pytestmark = pytest.mark.reliability


@pytest.fixture(scope="module")
def load_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("load")
    logdir, workdir = root / "logs", root / "tb"
    for seed, (name, n) in enumerate((("fitted", 400), ("fitting", 200))):
        make_run(logdir / name, epochs=3, n_train=n, n_test=n // 4, seed=seed)
    fake_fit(os.fspath(logdir / "fitted"), cache_dir_for(workdir / "cache", logdir / "fitted"))
    return {"root": root, "logdir": logdir, "workdir": workdir}


def test_250_concurrent_clients_while_fitting(load_env, report):
    tb = TB(load_env["logdir"], load_env["workdir"], config=SLOW)
    try:
        assert wait_until(lambda: _fitting_running(tb), 120), tb.stderr()[-2000:]
        routes = [("runs", {}), ("status", {"run": "fitted", "_open": False}), ("samples", {"run": "fitted"}),
                  ("metrics", {"run": "fitted"}), ("trajectories", {"run": "fitted", "ids": "0,5,17"}),
                  ("index.js", {})]
        for e in (1, 2, 3):
            routes += [("projection", {"run": "fitted", "epoch": e}), ("background", {"run": "fitted", "epoch": e}),
                       ("predict_at", {"run": "fitted", "epoch": e, "x": 0.1, "y": -0.2}),
                       ("sample", {"run": "fitted", "id": 17, "epoch": e}), ("dynamics", {"run": "fitted"})]
        clients, per_client = 250, 8
        lat, errors, lock = [], [], threading.Lock()
        tb_lat, tb_err = [], []
        rss, stop = [], threading.Event()
        barrier = threading.Barrier(clients + 1)

        def client(i):
            barrier.wait()
            for k in range(per_client):
                route, params = routes[(i * 5 + k) % len(routes)]
                t0 = time.perf_counter()
                try:
                    code, body = tb.get(route, timeout=120, **dict(params))
                except Exception as e:  # noqa: BLE001 - counted
                    code, body = f"{type(e).__name__}: {e}", b""
                with lock:
                    lat.append(time.perf_counter() - t0)
                    if code != 200:
                        errors.append((route, code, body[:80]))

        def tensorboard_own():  # TensorBoard's own dashboards keep answering
            barrier.wait()
            while not stop.is_set():
                for path in ("/data/runs", "/data/plugins_listing", "/data/environment"):
                    t0 = time.perf_counter()
                    try:
                        with urllib.request.urlopen(f"http://127.0.0.1:{tb.port}{path}", timeout=60) as r:
                            ok = r.status == 200
                    except Exception:  # noqa: BLE001
                        ok = False
                    tb_lat.append(time.perf_counter() - t0)
                    if not ok:
                        tb_err.append(path)
                rss.append(proc_status(tb.pid).get("VmRSS", 0))
                time.sleep(0.2)

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        own = threading.Thread(target=tensorboard_own)
        for t in threads + [own]:
            t.start()
        t0 = time.perf_counter()
        for t in threads:
            t.join(600)
        wall = time.perf_counter() - t0
        stop.set()
        own.join(60)
        still = tb.json("status", run="fitting", _open=False)["state"] == "running"
        hwm = proc_status(tb.pid).get("VmHWM", 0)
    finally:
        tb.kill()
    n = len(lat)
    p50, p95 = percentile(lat, 50) * 1000, percentile(lat, 95) * 1000
    tb95 = percentile(tb_lat, 95) * 1000
    held = n == clients * per_client and not errors and not tb_err and len(tb_lat) >= 3 and still
    report("load", f"{clients} concurrent clients x {per_client} requests (16 DVI routes) against a real TensorBoard "
                   "on 127.0.0.1 while the real engine fits another run; TensorBoard's own /data routes polled",
           n, held,
           f"{len(errors)} errors; p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max(lat) * 1000:.0f} ms; {n / wall:.0f} "
           f"req/s; TensorBoard's own routes: {len(tb_lat)} answers, {len(tb_err)} errors, p95 {tb95:.0f} ms; "
           f"TensorBoard RSS max {max(rss or [0]) / 1024:.0f} MB (VmHWM {hwm / 1024:.0f} MB); still fitting: {still}")
    assert not errors, errors[:10]
    assert n == clients * per_client and not tb_err and still


def test_sigterm_delay_added_by_fitting(load_env, report):
    idle, busy, problems, gone = [], [], [], []
    for i in range(5):
        wd = load_env["root"] / f"idle{i}"
        tb = TB(load_env["logdir"], wd, config=SLOW)
        tb.json("runs")  # no run opened: nothing fits
        time.sleep(1.0)
        dt, exited, orphans, _ = sigterm_exit(tb)
        idle.append(dt)
        if not exited or orphans:
            problems.append(("idle", exited, orphans))
        wd = load_env["root"] / f"busy{i}"
        shutil.copytree(load_env["workdir"] / "cache", wd / "cache", dirs_exist_ok=True)
        tb = TB(load_env["logdir"], wd, config=SLOW)
        s = wait_until(lambda: _fitting_running(tb), 120)
        time.sleep(1.0)
        dt, exited, orphans, _ = sigterm_exit(tb, gone=gone)
        busy.append(dt)
        if not s or not exited or orphans:
            problems.append(("fitting", bool(s), exited, orphans))
    med_idle, med_busy = sorted(idle)[2], sorted(busy)[2]
    added = med_busy - med_idle
    report("faults", "SIGTERM to a real TensorBoard: idle vs. while its worker fits with the real engine "
                     "(5 of each, alternating)", 10, not problems and added < 0.5 and max(gone) < 0.5,
           f"exit after: idle {', '.join(f'{x:.2f}' for x in idle)} s (median {med_idle:.2f}); fitting "
           f"{', '.join(f'{x:.2f}' for x in busy)} s (median {med_busy:.2f}); added by fitting {added:.2f} s; "
           f"workers gone {', '.join(f'{x:.2f}' for x in gone)} s after the signal; 0 processes left: {not problems}")
    assert not problems, problems
    assert added < 0.5, (idle, busy)
    assert max(gone) < 0.5, gone
