"""Scale benchmark: cost growth from 5k to 100k logged training samples (docs/SCALE.md).

Per N (training samples; N // 6 test samples, like MNIST's 60k/10k), on synthetic data
(a 10-class Gaussian mixture through a small MLP whose ``--dim``-wide hidden layer is the
logged representation, trained a few SGD steps between epochs):

1. ``write``: the real ``DVIWriter`` logs ``--epochs`` epochs (forward passes, border
   search, the atomic storage path); time per epoch (median) and disk per epoch.
2. ``knn``: k = 15 neighbours of the train representations: the engine's exact chunked
   search vs its NNDescent path (``complex.knn_self``; numba compile paid on a warm-up set
   first and reported apart), with NNDescent's recall against the exact result. The fit
   itself switches to NNDescent from ``complex.APPROX_KNN_FROM`` training rows.
3. ``fit``: ``engine.fit_run`` with the default ``EngineConfig`` in a child process (its
   peak RSS from ``ru_maxrss``), time per warm-started epoch from the cache's timings.
4. ``serve``: server-side time of the ``projection`` route (bench_backend.bench_projection:
   the werkzeug test client on TensorBoard's WSGI app), first request of an epoch, median.
5. ``f16`` (at the smallest N): the same run stored as float16 vs float32: disk per epoch
   and the difference of the fitted maps' metrics.

Every step runs in its own process under ``--step-timeout`` seconds, so the benchmark
stays bounded on a small shared machine; a step that runs out is printed as ``>T s``.

Usage: python benchmarks/bench_scale.py [--sizes 5000,10000,20000,50000,100000] [--dim 256]
       [--epochs 3] [--threads 1] [--step-timeout 900] [--workdir DIR] [--steps write,knn,fit,serve,f16]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests"), HERE]

import numpy as np  # noqa: E402

K = 15


def _dir_bytes(path):
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def run_dir(work, n, dtype="float32"):
    return os.path.join(work, f"n{n}-{dtype}", "logs", "run")


def cache_root(work, n, dtype="float32"):
    return os.path.join(work, f"n{n}-{dtype}", "cache")


def cache_dir(work, n, dtype="float32"):
    from tensorboard_dvi.engine.cache import default_cache_dir
    return os.path.join(cache_root(work, n, dtype), os.path.basename(default_cache_dir(run_dir(work, n, dtype))))


def step_write(args, n, dtype="float32"):
    import torch

    from tensorboard_dvi import DVIWriter
    torch.set_num_threads(args.threads)
    g = torch.Generator().manual_seed(0)
    n_test = n // 6
    centers = torch.randn(10, 64, generator=g) * 2.5
    y = torch.randint(0, 10, (n + n_test,), generator=g)
    x = centers[y] + torch.randn(n + n_test, 64, generator=g)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, args.dim), torch.nn.ReLU(), torch.nn.Linear(args.dim, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    path = run_dir(args.workdir, n, dtype)
    w = DVIWriter(path, model, x[:n], y[:n], test_data=x[n:], test_labels=y[n:], dtype=dtype, seed=0)
    times = []
    for e in range(1, args.epochs + 1):
        for _ in range(20):
            idx = torch.randint(0, n, (256,), generator=g)
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        t = time.perf_counter()
        w.log_epoch(e)
        times.append(time.perf_counter() - t)
    w.close()
    from tensorboard_dvi.storage import RunReader
    r = RunReader(path)
    ep = r.epoch(r.epochs()[-1])
    return {"write_s": statistics.median(times), "write_all_s": times, "epoch_bytes": _dir_bytes(ep.folder),
            "reps_bytes": os.path.getsize(os.path.join(ep.folder, "representations.npy")),
            "n_border": int(ep.info.get("n_border", 0))}


def step_knn(args, n):
    import torch

    from tensorboard_dvi.engine.complex import knn_exact
    from tensorboard_dvi.storage import RunReader
    torch.set_num_threads(args.threads)
    r = RunReader(run_dir(args.workdir, n))
    ep = r.epoch(r.epochs()[-1])
    x = np.ascontiguousarray(ep.representations[:n])
    t = time.perf_counter()
    exact, _ = knn_exact(x, x, K, exclude_self_first=True)
    t_exact = time.perf_counter() - t
    from tensorboard_dvi.engine.complex import knn_self  # the engine's NNDescent settings
    from tensorboard_dvi.engine import knn as KN
    KN.SELF_IVF_UNTIL = 0  # this step times NNDescent itself (the engine tries IVF first up to 50k rows)
    t = time.perf_counter()
    knn_self(x[:2000], K, approx_from=0)  # numba compile, paid once per process
    t_compile = time.perf_counter() - t
    t = time.perf_counter()
    approx = knn_self(x, K, approx_from=0)[0]
    t_nnd = time.perf_counter() - t
    recall = float(np.mean([len(set(a) & set(b)) / K for a, b in zip(exact, approx)]))
    return {"knn_exact_s": t_exact, "knn_nnd_s": t_nnd, "nnd_compile_s": t_compile, "nnd_recall": recall}


class StageRSS:
    """Peak RSS per fit stage: a thread samples the process's RSS every 0.2 s and files it under
    the stage the engine's progress callback last named ("e2 train: refine", ...), the cache
    write and the run-level metrics (patched in here, benchmark only)."""

    def __init__(self):
        import threading

        import psutil
        self.proc, self.label, self.peaks, self.stop = psutil.Process(), "start", {}, threading.Event()
        self.cpu, self.t_cpu = {}, time.process_time()  # CPU seconds per label: comparable under load
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self.stop.wait(0.2):
            self.sample()

    def switch(self, label):
        now = time.process_time()
        self.cpu[self.label] = self.cpu.get(self.label, 0.0) + now - self.t_cpu
        self.t_cpu, self.label = now, label

    def sample(self):
        rss = self.proc.memory_info().rss / 2**20
        self.peaks[self.label] = max(self.peaks.get(self.label, 0.0), rss)

    def progress(self, p):
        msg = p.get("message", "")
        sub = next((w for w in ("encoder", "refine", "decoder") if w in msg), "")
        self.sample()
        self.switch(f"e{p.get('epoch')} {p['stage']}" + (f": {sub}" if sub else ""))

    def wrap(self, owner, name, label):
        real = getattr(owner, name)

        def labelled(*a, **kw):
            before = self.label
            self.switch(label)
            try:
                return real(*a, **kw)
            finally:
                self.sample()
                self.switch(before.replace(" (after)", "") + " (after)")
        setattr(owner, name, labelled)


def step_fit(args, n, dtype="float32"):
    import resource

    import torch

    from tensorboard_dvi.engine import EngineConfig, fit_run
    from tensorboard_dvi.engine import fit as fit_mod
    from tensorboard_dvi.engine.cache import RunCache
    torch.set_num_threads(args.threads)
    rss = StageRSS()
    rss.wrap(RunCache, "write_epoch", "cache write")
    rss.wrap(fit_mod, "update_run_metrics", "run metrics")
    rss.thread.start()
    t = time.perf_counter()
    done = fit_run(run_dir(args.workdir, n, dtype), cache_dir(args.workdir, n, dtype),
                   config=EngineConfig(threads=args.threads), progress=rss.progress)
    total = time.perf_counter() - t
    rss.stop.set()
    rss.switch("end")
    cpu_epoch = {}
    for label, sec in rss.cpu.items():
        ep = label.split(" ")[0]
        if ep.startswith("e") and ep[1:].isdigit():
            cpu_epoch[int(ep[1:])] = cpu_epoch.get(int(ep[1:]), 0.0) + sec
    cache = RunCache(cache_dir(args.workdir, n, dtype))
    timings = {e: cache.epoch_info(e).get("timings", {}) for e in done}
    warm = [sum(timings[e].values()) for e in done[1:]]
    metrics = {e: {k: cache.metrics(e).get(k) for k in ("nn_15", "boundary_nn_15", "ppr_train", "ppr_test")}
               for e in done}
    return {"fit_total_s": total, "fit_cold_s": sum(timings[done[0]].values()),
            "fit_warm_s": statistics.median(warm) if warm else None, "warm_stages": timings[done[-1]],
            "cold_stages": timings[done[0]], "train_timings": cache.epoch_info(done[-1]).get("train_timings"),
            "stage_rss_mb": {k: round(v) for k, v in rss.peaks.items()},
            "stage_cpu_s": {k: round(v, 1) for k, v in rss.cpu.items()},
            "fit_warm_cpu_s": statistics.median([cpu_epoch[e] for e in done[1:] if e in cpu_epoch]) if warm else None,
            "fit_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "metrics": metrics}


def step_serve(args, n):
    from bench_backend import bench_projection, fill_cache
    from tensorboard_dvi.storage import RunReader
    r = RunReader(run_dir(args.workdir, n))
    if not os.path.isdir(os.path.join(cache_dir(args.workdir, n), "epochs")):
        fill_cache(run_dir(args.workdir, n), cache_dir(args.workdir, n))  # fit skipped: serve stand-ins
    cold, warm, base, sizes = bench_projection(os.path.dirname(run_dir(args.workdir, n)),
                                               cache_root(args.workdir, n), r.epochs())
    return {"serve_first_ms": 1000 * statistics.median(cold), "serve_repeat_ms": 1000 * statistics.median(warm),
            "serve_bytes": sizes[0]}


def step_f16(args, n):
    out = {"f32": step_write(args, n, "float32") if not os.path.isdir(run_dir(args.workdir, n)) else None}
    w16 = step_write(args, n, "float16")
    f32 = step_fit(args, n, "float32") if not os.path.isdir(cache_dir(args.workdir, n)) else None
    f16 = step_fit(args, n, "float16")
    from tensorboard_dvi.engine.cache import RunCache
    c32 = RunCache(cache_dir(args.workdir, n))
    last = c32.fitted_epochs()[-1]
    m32 = c32.metrics(last)
    m16 = f16["metrics"][last]
    from tensorboard_dvi.storage import RunReader
    r32 = RunReader(run_dir(args.workdir, n))
    bytes32 = os.path.getsize(os.path.join(r32.epoch_path(last), "representations.npy"))
    out.update({"reps_bytes_f32": bytes32, "reps_bytes_f16": w16["reps_bytes"],
                "epoch_bytes_f16": w16["epoch_bytes"], "epoch": last, "f32_fit": f32 is not None,
                "metric_diff": {k: (None if m32.get(k) is None or m16.get(k) is None else
                                    (m16[k] - m32[k]) / (K if k.endswith("15") else 1.0))
                                for k in ("nn_15", "boundary_nn_15", "ppr_train", "ppr_test")}})
    return out


STEPS = {"write": step_write, "knn": step_knn, "fit": step_fit, "serve": step_serve, "f16": step_f16}


def child(args):
    res = STEPS[args.step](args, args.n)
    print("RESULT " + json.dumps(res, default=float), flush=True)


def run_step(args, step, n):
    cmd = [sys.executable, os.path.abspath(__file__), "--_step", step, "--_n", str(n), "--dim", str(args.dim),
           "--epochs", str(args.epochs), "--threads", str(args.threads), "--workdir", args.workdir]
    t = time.perf_counter()
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.step_timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": args.step_timeout}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        return {"error": (p.stderr or p.stdout).strip().splitlines()[-1:] or ["exit %d" % p.returncode],
                "wall_s": time.perf_counter() - t}
    return json.loads(lines[-1][7:])


def fmt(res, key, scale=1.0, digits=1):
    if "timeout" in res:
        return f">{res['timeout']}s"
    if "error" in res:
        return "error"
    v = res.get(key)
    return "-" if v is None else f"{v * scale:.{digits}f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="5000,10000,20000,50000,100000")
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--step-timeout", type=int, default=900)
    ap.add_argument("--steps", default="write,knn,fit,serve,f16")
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--_step", dest="step", help=argparse.SUPPRESS)
    ap.add_argument("--_n", dest="n", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.workdir = args.workdir or tempfile.mkdtemp(prefix="dvi-scale-")
    if args.step:
        return child(args)
    sizes = [int(s) for s in args.sizes.split(",")]
    steps = args.steps.split(",")
    print(f"# bench_scale: dim {args.dim}, {args.epochs} epochs, torch threads {args.threads}, "
          f"step timeout {args.step_timeout}s, workdir {args.workdir}", flush=True)
    rows = {}
    for n in sizes:
        res = {}
        for step in [s for s in ("write", "knn", "fit", "serve") if s in steps]:
            res[step] = run_step(args, step, n)
            print(f"N={n} {step}: {json.dumps(res[step], default=float)}", flush=True)
        rows[n] = res
    print("\n| N train | write s/epoch | MB/epoch | kNN exact s | kNN NNDescent s (recall) | fit s/warm epoch "
          "| fit peak RSS MB | projection first ms |")
    print("|---|---|---|---|---|---|---|---|")
    base = None
    for n, r in rows.items():
        w, k, f, s = (r.get(x, {"error": "skipped"}) for x in ("write", "knn", "fit", "serve"))
        recall = "" if "nnd_recall" not in k else f" ({k['nnd_recall']:.3f})"
        print(f"| {n} | {fmt(w, 'write_s', digits=2)} | {fmt(w, 'epoch_bytes', 1e-6)} | {fmt(k, 'knn_exact_s', digits=2)} "
              f"| {fmt(k, 'knn_nnd_s', digits=2)}{recall} | {fmt(f, 'fit_warm_s')} | {fmt(f, 'fit_rss_mb', digits=0)} "
              f"| {fmt(s, 'serve_first_ms')} |")
        if base is None and f.get("fit_warm_s"):
            base = (n, f["fit_warm_s"])
    if base:
        print("\nfit time per warm epoch relative to N=%d: " % base[0] + ", ".join(
            f"{n}: {r['fit']['fit_warm_s'] / base[1]:.2f}x" for n, r in rows.items()
            if r.get("fit", {}).get("fit_warm_s")))
    if "f16" in steps:
        r = run_step(args, "f16", sizes[0])
        print(f"\nfloat16 storage at N={sizes[0]}: {json.dumps(r, default=float)}", flush=True)


if __name__ == "__main__":
    main()
