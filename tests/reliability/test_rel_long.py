"""The long reliability checks (``pytest -m reliability``), against real processes.

* 25 real writer processes SIGKILLed at random moments while logging (new epochs and
  replacements): no corrupt, partial or lost epoch.
* A real TensorBoard whose worker fits a run with the real engine: 300 requests from 20
  concurrent clients (zero errors, p50/p95), hostile raw paths, a run deleted and one renamed
  while it runs, then SIGTERM during fitting (exit < 2 s, no orphan process).
* The real engine's worker SIGKILLed 3 times mid-fit: each restart resumes from the finished
  epochs (their cache folders untouched) and the run ends fully fitted.
* Memory: a 100-epoch x 10k x 512 float32 logdir (2 GB) browsed through every route:
  TensorBoard's resident memory stays under 1 GB.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid

import numpy as np
import pytest

from relkit import (PREFIX, TB, all_descendants, append_epoch, dot_entries, epoch_dir, fake_fit,
                    make_client, make_run, percentile, proc_status, sigterm_exit, wait_until)
from tensorboard_dvi import metadata as md
from tensorboard_dvi import storage
from tensorboard_dvi.engine.cache import RunCache, default_cache_dir

pytestmark = pytest.mark.reliability

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
SMALL = dict(max_trainer_epochs=1, hidden=(32, 32), background_resolution=20, threads=1, batch_size=256)
# Long enough to be caught mid-fit: many trainer epochs, no early stop.
SLOW = dict(SMALL, max_trainer_epochs=100000, patience=100000, min_delta=-1.0)


def cache_dir_for(cache_root, run_path):
    return os.path.join(os.fspath(cache_root), os.path.basename(default_cache_dir(os.fspath(run_path))))


# --------------------------------------------------------------------------- writer: random SIGKILLs

WRITER = textwrap.dedent("""
    import sys, torch
    from tensorboard_dvi import DVIWriter
    torch.set_num_threads(1)
    torch.manual_seed(int(sys.argv[2]))
    model = torch.nn.Sequential(torch.nn.Linear(16, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 5))
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(3000, 16, generator=g), torch.randint(0, 5, (3000,), generator=g)
    w = DVIWriter(sys.argv[1], model, x, y, border_points=50, on_exists="replace", seed=1)
    e = int(sys.argv[2])
    while True:
        w.log_epoch(e % 8)  # new epochs at first, replacements after
        print(e % 8, flush=True)
        e += 1
""")


def test_writer_sigkilled_at_random_moments(tmp_path, report):
    run = tmp_path / "run"
    rng = np.random.default_rng(2024)
    kills, mid_write, problems, lost = 0, 0, [], 0
    seen = set()
    t_epoch = None
    for i in range(25):
        p = subprocess.Popen([sys.executable, "-c", WRITER, os.fspath(run), str(i * 3)], stdout=subprocess.PIPE,
                             text=True, cwd=TESTS)
        first = p.stdout.readline()
        t0 = time.monotonic()
        if not first:
            p.wait()
            problems.append((i, "writer died before its first epoch"))
            continue
        if t_epoch is None:  # measure one epoch to spread the kills over it
            p.stdout.readline()
            t_epoch = time.monotonic() - t0
            t0 = time.monotonic()
        time.sleep(float(rng.uniform(0.0, 1.5 * t_epoch)))
        tmp_present = any(n.startswith(md.TEMP_PREFIX) for n in dot_entries(run))
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
        left = [n for n in dot_entries(run) if n.startswith(md.TEMP_PREFIX)]
        mid_write += bool(left or tmp_present)
        r = storage.RunReader(os.fspath(run))
        visible = set(r.epochs())
        if r.damaged():
            problems.append((i, "damaged", r.damaged()))
        for e in visible:
            ep = r.epoch(e)
            reps, logits = ep.representations, ep.logits
            if reps.shape != (3000, 1024) or logits.shape != (3000, 5) or not np.isfinite(reps).all():
                problems.append((i, e, "partial"))
        if not seen <= visible:
            lost += len(seen - visible)
            problems.append((i, "lost", sorted(seen - visible)))
        seen |= visible
    report("writer", "real DVIWriter processes (3000 x 1024 epochs, new + replace) SIGKILLed at random moments",
           kills, not problems and kills >= 20,
           f"{kills} kills, {mid_write} while an epoch was being written (temp folder present); "
           f"{len(problems)} corrupt/partial, {lost} epochs lost; {len(seen)} epochs visible at the end; "
           f"one epoch takes {t_epoch:.2f} s")
    assert kills >= 20
    assert not problems, problems[:10]


# --------------------------------------------------------------------------- a real TensorBoard

@pytest.fixture(scope="module")
def tb_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("tb")
    logdir = root / "logs"
    make_run(logdir / "fitted", epochs=4, n_train=400, n_test=100, seed=0)
    make_run(logdir / "fitting", epochs=3, n_train=200, n_test=50, seed=1)
    for name in ("victim", "mover"):
        shutil.copytree(logdir / "fitted", logdir / name)
    outside = root / "outside"
    shutil.copytree(logdir / "fitted", outside / "secret_run")
    (outside / "secret.txt").write_text("TOP-SECRET-7f3a9c")
    workdir = root / "tb"
    cache_root = workdir / "cache"
    for name in ("fitted", "victim", "mover"):
        fake_fit(os.fspath(logdir / name), cache_dir_for(cache_root, logdir / name))
    tb = TB(logdir, workdir, config=SLOW)
    yield {"tb": tb, "logdir": logdir, "root": root, "outside": outside}
    tb.kill()


def _fitting_running(tb):
    s = tb.json("status", run="fitting")
    return s if s["state"] == "running" and s["stage"] in ("train", "complex", "load") else None


def test_load_20_clients_while_fitting(tb_env, report):
    tb = tb_env["tb"]
    assert wait_until(lambda: _fitting_running(tb), 120), tb.stderr()[-2000:]
    runs = tb.json("runs")["runs"]
    ids = [0, 5, 17, 123, 450]
    paths = [("runs", {}), ("status", {"run": "fitted"}), ("status", {"run": "fitting"}), ("samples", {"run": "fitted"}),
             ("metrics", {"run": "fitted"}), ("trajectories", {"run": "fitted", "ids": ",".join(map(str, ids))}),
             ("index.js", {})]
    for e in (1, 2, 3, 4):
        paths += [("projection", {"run": "fitted", "epoch": e}), ("background", {"run": "fitted", "epoch": e}),
                  ("background_meta", {"run": "fitted", "epoch": e}), ("metrics", {"run": "fitted", "epoch": e}),
                  ("predict_at", {"run": "fitted", "epoch": e, "x": 0.1, "y": -0.2}),
                  ("sample", {"run": "fitted", "id": ids[e], "epoch": e}), ("thumbnail", {"run": "fitted", "id": ids[e]})]
    clients, per_client = 20, 50
    lat, errors, lock = [], [], threading.Lock()
    barrier = threading.Barrier(clients)

    def client(i):
        barrier.wait()
        for k in range(per_client):
            route, params = paths[(i * 7 + k) % len(paths)]
            t0 = time.perf_counter()
            try:
                code, body = tb.get(route, timeout=30, **params)
            except Exception as e:  # noqa: BLE001 - counted as an error
                code, body = f"{type(e).__name__}: {e}", b""
            dt = time.perf_counter() - t0
            with lock:
                lat.append(dt)
                if code != 200:
                    errors.append((route, params, code, body[:100]))

    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    wall = time.perf_counter() - t0
    still_fitting = tb.json("status", run="fitting")["state"] == "running"
    n = len(lat)
    p50, p95 = percentile(lat, 50) * 1000, percentile(lat, 95) * 1000
    report("load", f"{clients} concurrent clients x {per_client} requests (13 routes) against a real TensorBoard "
                   "while the real engine fits another run", n, not errors and n >= 200 and still_fitting,
           f"{len(errors)} errors; p50 {p50:.0f} ms, p95 {p95:.0f} ms, max {max(lat) * 1000:.0f} ms; "
           f"{n / wall:.0f} req/s on 2 shared cores; fitting still running: {still_fitting}")
    print(f"load: {n} requests, p50 {p50:.1f} ms, p95 {p95:.1f} ms")
    assert n >= 200 and not errors, errors[:10]
    assert len(runs) >= 4


def test_hostile_raw_paths_on_the_real_server(tb_env, report):
    tb, outside = tb_env["tb"], tb_env["outside"]
    out = os.fspath(outside / "secret_run")
    raw = [f"{PREFIX}../../../../etc/passwd", f"{PREFIX}..%2f..%2f..%2fetc%2fpasswd", f"{PREFIX}%2e%2e/%2e%2e/plugin.py",
           f"{PREFIX}%2e%2e%2f%2e%2e%2fplugin%2fplugin.py", f"{PREFIX}/etc/passwd", f"{PREFIX}//etc/passwd",
           f"{PREFIX}index.js%00.png", f"{PREFIX}.%2e/static/index.js", f"{PREFIX}..%5c..%5cplugin.py",
           f"{PREFIX}{'a' * 8000}", f"{PREFIX}%c0%ae%c0%ae/plugin.py",
           f"{PREFIX}status?run=..%2Foutside%2Fsecret_run", f"{PREFIX}status?run=%2e%2e%2foutside%2fsecret_run",
           f"{PREFIX}samples?run={out}", f"{PREFIX}samples?run=%2F{out.lstrip('/').replace('/', '%2F')}",
           f"{PREFIX}projection?run=fitted%00&epoch=1", f"{PREFIX}projection?run=fitted&epoch=1%00",
           f"{PREFIX}projection?run=fitted&epoch=-1", f"{PREFIX}sample?run=fitted&id=1e999",
           f"{PREFIX}trajectories?run=fitted&ids=" + ",".join(["1"] * 5001),
           f"{PREFIX}status?run=" + "..%2f" * 2000 + "etc"]
    bad = []
    for path in raw:
        try:
            code, body = tb.raw(path)
        except Exception as e:  # noqa: BLE001
            code, body = repr(e), b""
        if not (isinstance(code, int) and 400 <= code < 500) or b"TOP-SECRET" in body or b"root:" in body:
            bad.append((path[:80], code, body[:80]))
    alive_after = tb.proc.poll() is None
    report("security", "hostile raw request paths and queries (encoded, NUL, overlong, 8 KB) against a real "
                       "TensorBoard", len(raw), not bad and alive_after,
           f"{len(raw) - len(bad)}/{len(raw)} answered 4xx, no secret in any body; server alive: {alive_after}")
    assert not bad, bad


def test_runs_deleted_and_renamed_while_tensorboard_runs(tb_env, report):
    tb, logdir = tb_env["tb"], tb_env["logdir"]
    routes = [("status", {}), ("samples", {}), ("projection", {"epoch": 2}), ("background", {"epoch": 2}),
              ("metrics", {}), ("sample", {"id": 3, "epoch": 1}), ("thumbnail", {"id": 3}),
              ("trajectories", {"ids": "1,2"})]
    for run in ("victim", "mover"):
        for route, params in routes:
            assert tb.get(route, run=run, **params)[0] == 200
    codes = {}
    shutil.rmtree(logdir / "victim")
    os.rename(logdir / "mover", logdir / "moved")
    deadline = time.monotonic() + 4.0  # across the 2 s run-list cache
    n = 0
    while time.monotonic() < deadline:
        for run in ("victim", "mover", "moved"):
            for route, params in routes:
                code, _ = tb.get(route, run=run, **params)
                codes[code] = codes.get(code, 0) + 1
                n += 1
    final = {(run, route): tb.get(route, run=run, **params)[0] for run in ("victim", "mover", "moved")
             for route, params in routes}
    bad_during = {k: v for k, v in codes.items() if k not in (200, 404)}
    bad_final = {k: v for k, v in final.items() if (k[0] != "moved" and v != 404)
                 or (k[0] == "moved" and k[1] in ("status", "samples") and v != 200)}
    alive_after = tb.proc.poll() is None
    names = [r["name"] for r in tb.json("runs")["runs"]]
    ok = not bad_during and not bad_final and alive_after and "victim" not in names and "moved" in names
    report("backend", "a run deleted and a run renamed while a real TensorBoard serves them", n + len(final), ok,
           f"during: {codes.get(200, 0)} x 200, {codes.get(404, 0)} x 404, {sum(bad_during.values())} other; "
           f"after: old names 404 on {len(routes)} routes, new name listed and served; server alive: {alive_after}")
    assert not bad_during, bad_during
    assert not bad_final, bad_final
    assert alive_after and "victim" not in names and "moved" in names


def test_sigterm_during_real_fitting(tb_env, report):
    """Last test of the module: stops the server."""
    tb = tb_env["tb"]
    s = wait_until(lambda: _fitting_running(tb), 60)
    elapsed, exited, orphans, workers = sigterm_exit(tb)
    report("faults", "SIGTERM to a real TensorBoard while its worker fits with the real engine", 1,
           bool(s) and exited and not orphans,
           f"stage {s and s['stage']}; exit after {elapsed:.2f} s (the delay over an idle TensorBoard: "
           f"test_rel_load.py); {workers} worker processes before, {len(orphans)} left after")
    assert s, "the run was not being fitted"
    assert exited, elapsed
    assert not orphans, orphans


# --------------------------------------------------------------------------- worker killed mid-fit

def test_worker_killed_mid_fit_resumes(tmp_path, report):
    from tensorboard_dvi.engine import EngineConfig
    from tensorboard_dvi.plugin.jobs import JobManager
    logdir = tmp_path / "logs"
    make_run(logdir / "run", epochs=6, n_train=300, n_test=60, seed=2)
    cfg = dict(SMALL, max_trainer_epochs=25, patience=100, min_delta=-1.0)
    jobs = JobManager(config=EngineConfig(**cfg), poll_s=0.1)
    client, plugin = make_client(logdir, jobs=jobs, cache_root=os.fspath(tmp_path / "cache"), watch_interval_s=0.2)
    cache = RunCache(cache_dir_for(tmp_path / "cache", logdir / "run"))

    def status():
        return json.loads(client.post(PREFIX + "status", query_string={"run": "run"}).get_data())

    def stamp(e):
        st = os.stat(cache.epoch_path(e))
        return (st.st_ino, st.st_mtime_ns)

    kills, problems, history = 0, [], []
    try:
        status()
        for want in (1, 3, 5):
            s = wait_until(lambda: (lambda s: s if s["state"] == "running" and len(s["fitted"]) >= want
                                    and s["stage"] == "train" else None)(status()), 240, 0.05)
            if not s:
                problems.append(("never reached", want, status()))
                break
            before = {e: stamp(e) for e in status()["fitted"]}
            pids = jobs.worker_pids()
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
            kills += 1
            s = wait_until(lambda: (lambda s: s if s["state"] == "error" else None)(status()), 30)
            if not s or "SIGKILL" not in (s.get("error") or ""):
                problems.append(("no error status after the kill", s))
            history.append(len(before))
            client.post(PREFIX + "fit", query_string={"run": "run"})
            s = wait_until(lambda: (lambda s: s if len(s["fitted"]) > len(before) or s["state"] == "done" else None)(
                status()), 240)
            changed = [e for e, st in before.items() if e in cache.fitted_epochs() and stamp(e) != st]
            if changed:
                problems.append(("refitted finished epochs", changed))
        s = wait_until(lambda: (lambda s: s if s["state"] in ("done", "error") and s["state"] != "running" else None)(
            status()), 300)
        final = status()
    finally:
        plugin.close()
    ok = not problems and final["state"] == "done" and final["fitted"] == [1, 2, 3, 4, 5, 6]
    report("faults", "engine worker SIGKILLed mid-fit 3 times (after 1, 3, 5 fitted epochs), fit restarted", kills,
           ok, f"fitted epochs kept at each kill: {history}; finished epochs never refitted; final state "
               f"{final['state']}, fitted {final['fitted']}")
    assert not problems, problems
    assert final["state"] == "done" and final["fitted"] == [1, 2, 3, 4, 5, 6], final


# --------------------------------------------------------------------------- memory

def _write_big_logdir(root, epochs=100, n=10000, dim=512, classes=10):
    run = os.path.join(root, "big")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, classes, n).astype(np.int64)
    n_train = 9000
    meta = {"format_version": md.FORMAT_VERSION, "n_train": n_train, "n_test": n - n_train, "num_classes": classes,
            "class_names": [str(c) for c in range(classes)], "dim": dim, "has_noisy": False,
            "has_thumbnails": True, "dtype": "float32"}
    split = np.concatenate([np.zeros(n_train, np.uint8), np.ones(n - n_train, np.uint8)])
    storage.write_folder(storage.plugin_dir(run), md.STATIC_DIR,
                         {md.IDS_FILE: np.arange(n, dtype=np.int64), md.LABELS_FILE: labels, md.SPLIT_FILE: split,
                          md.THUMBNAILS_FILE: rng.integers(0, 255, (n, 28, 28), dtype=np.uint8)},
                         {md.META_FILE: meta})
    import torch
    from tensorboard_dvi.heads import head_files
    head = torch.nn.Linear(dim, classes)
    extra = head_files(head)
    w = head.weight.detach().numpy().T.copy()
    b = head.bias.detach().numpy()
    centers = rng.standard_normal((classes, dim)).astype(np.float32) * 2
    for e in range(1, epochs + 1):
        reps = (centers[labels] + rng.standard_normal((n, dim), dtype=np.float32)).astype(np.float32)
        logits = reps @ w + b
        info = {"epoch": e, "step": e, "uid": uuid.uuid4().hex, "time": time.time(), "n": n, "dim": dim,
                "num_classes": classes, "n_border": 500, "border_requested": 500, "border_attempted": 500,
                "dtype": "float32", "seed": 0, "train_accuracy": 0.5}
        storage.write_folder(os.path.join(storage.plugin_dir(run), md.EPOCHS_DIR), md.epoch_dir_name(e),
                             {md.REPRESENTATIONS_FILE: reps, md.LOGITS_FILE: logits.astype(np.float32),
                              md.PREDICTIONS_FILE: logits.argmax(1).astype(np.int64),
                              md.BORDER_FILE: reps[:500] * 0.5}, {md.EPOCH_FILE: info}, extra_files=extra)
    return run


def _fill_cache(run, cache_dir):
    """Stand-in projections in the engine's cache format (plugin_fakes), one epoch at a time."""
    from plugin_fakes import fake_epoch_results
    reader = storage.RunReader(run)
    cache = RunCache(cache_dir)
    prev = None
    for e in reader.epochs():
        arrays, jsons, blobs = fake_epoch_results(reader, e, prev)
        cache.write_epoch(e, arrays, jsons, blobs)
        prev = e
        reader = storage.RunReader(run)  # drop the epoch's mapped arrays


def test_memory_browsing_100_epochs_of_10k_x_512(report):
    root = tempfile.mkdtemp(prefix="dvi-rel-mem-", dir="/tmp")
    tb = None
    try:
        t0 = time.monotonic()
        logdir = os.path.join(root, "logs")
        run = _write_big_logdir(logdir)
        size = sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(logdir) for f in fs)
        workdir = os.path.join(root, "tb")
        _fill_cache(run, cache_dir_for(os.path.join(workdir, "cache"), run))
        t_write = time.monotonic() - t0
        tb = TB(logdir, workdir, fit="plugin_fakes:fake_fit", config={})
        samples, stop = [], threading.Event()

        def sampler():
            while not stop.is_set():
                st = proc_status(tb.pid)
                if st:
                    samples.append(st.get("VmRSS", 0))
                time.sleep(0.05)

        th = threading.Thread(target=sampler, daemon=True)
        th.start()
        rss_start = proc_status(tb.pid).get("VmRSS", 0)
        errors, n = [], 0

        def get(route, **params):
            nonlocal n
            code, body = tb.get(route, timeout=120, **params)
            n += 1
            if code != 200:
                errors.append((route, params, code, body[:100]))
            return body

        status = json.loads(get("status", run="big"))
        get("runs")
        get("samples", run="big")
        for e in range(1, 101):
            get("projection", run="big", epoch=e)
            get("background", run="big", epoch=e)
            get("background_meta", run="big", epoch=e)
            get("metrics", run="big", epoch=e)
            get("sample", run="big", id=e * 37, epoch=e)
            get("predict_at", run="big", epoch=e, x=0.5, y=0.5)
            get("thumbnail", run="big", id=e)
        get("metrics", run="big")
        rng = np.random.default_rng(1)
        for _ in range(3):
            get("trajectories", run="big", ids=",".join(map(str, rng.choice(10000, 5000, replace=False))))
        for e in range(1, 101, 7):  # a second pass (LRU hits and misses)
            get("projection", run="big", epoch=e)
        stop.set()
        th.join(5)
        st = proc_status(tb.pid)
        peak_kb = max(samples + [st.get("VmRSS", 0)])
        hwm_kb = st.get("VmHWM", 0)
        workers = all_descendants(tb.pid)
        fitted = len(status["fitted"])
    finally:
        if tb is not None:
            tb.kill()
        shutil.rmtree(root, ignore_errors=True)
    held = not errors and hwm_kb < 1024 * 1024 and fitted == 100
    report("memory", f"browse a 100-epoch x 10k x 512 float32 logdir ({size / 2 ** 30:.2f} GiB, written in "
                     f"{t_write:.0f} s) through every route", n, held,
           f"TensorBoard RSS: {rss_start / 1024:.0f} MB at start, peak {peak_kb / 1024:.0f} MB sampled, VmHWM "
           f"{hwm_kb / 1024:.0f} MB (limit 1024 MB); {len(errors)} errors; {len(workers)} workers")
    print(f"memory: peak RSS {peak_kb / 1024:.0f} MB, VmHWM {hwm_kb / 1024:.0f} MB")
    assert not errors, errors[:5]
    assert fitted == 100
    assert hwm_kb < 1024 * 1024
