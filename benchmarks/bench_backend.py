"""Plugin backend benchmark: projection serving time and TensorBoard's memory while browsing.

1. Writes a run with the real writer (DVIWriter, a small MLP on synthetic data):
   ``--n`` samples (80 % train), ``--epochs`` epochs, ``--dim``-dimensional representations.
2. Fills the run's cache with results in the engine's real cache format
   (engine.cache.RunCache.write_epoch; a cheap linear "projection" stands in for the
   trained visualizer: serving does not depend on how the coordinates were found).
3. Server-side time of ``projection`` on TensorBoardWSGI (werkzeug test client, the
   same in-process path TensorBoard's server calls): the first request of an epoch
   (encoded from the memory-mapped files) and a repeated one (LRU), median over epochs,
   next to a baseline: ``np.load`` of the same epoch's logits + embedding (the
   unavoidable file reads).
4. Starts a real ``tensorboard`` process (the installed entry point) on the logdir and
   browses every epoch the way the tab does (runs, status, samples, then per epoch:
   projection, background_meta, background, metrics, a few sample details; then
   trajectories of 1000 ids over all epochs), reporting the process's RSS before and
   after and its peak, next to the size of all logged epochs (what "loading every epoch"
   would cost).

Usage: python benchmarks/bench_backend.py [--n 10000] [--epochs 50] [--dim 128] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

import numpy as np  # noqa: E402


def write_run(run_dir, n, epochs, dim, seed=0):
    import torch

    from tensorboard_dvi import DVIWriter

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(seed)
    centers = torch.randn(10, 32, generator=g) * 3
    y = torch.randint(0, 10, (n,), generator=g)
    x = centers[y] + torch.randn(n, 32, generator=g)
    n_train = int(n * 0.8)
    model = torch.nn.Sequential(torch.nn.Linear(32, dim), torch.nn.ReLU(), torch.nn.Linear(dim, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    w = DVIWriter(run_dir, model, x[:n_train], y[:n_train], test_data=x[n_train:], test_labels=y[n_train:],
                  border_points=200, thumbnails=np.random.default_rng(0).integers(0, 255, (n, 8, 8), np.uint8))
    for e in range(1, epochs + 1):
        idx = torch.randint(0, n_train, (256,), generator=g)
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
        opt.step()
        w.log_epoch(e)
    w.close()


def fill_cache(run_dir, cache_dir):
    from plugin_fakes import fake_epoch_results
    from tensorboard_dvi.engine.cache import RunCache
    from tensorboard_dvi.storage import RunReader

    reader, cache = RunReader(run_dir), RunCache(cache_dir)
    prev = None
    for e in reader.epochs():
        arrays, jsons, blobs = fake_epoch_results(reader, e, prev)
        cache.write_epoch(e, arrays, jsons, blobs)
        prev = e


def bench_projection(logdir, cache_root, epochs):
    from plugin_fakes import PREFIX, make_client
    from tensorboard_dvi.plugin.jobs import JobManager

    client, plugin = make_client(logdir, jobs=JobManager(), cache_root=cache_root, autofit=False,
                                 watch_interval_s=0)
    try:
        client.get(PREFIX + "runs")
        client.get(PREFIX + "samples", query_string={"run": "run"})
        cold, warm, base, sizes = [], [], [], []
        run = plugin.runs.known("run")
        for e in epochs:
            q = {"run": "run", "epoch": e}
            t = time.perf_counter()
            r = client.get(PREFIX + "projection", query_string=q)
            body = r.get_data()
            cold.append(time.perf_counter() - t)
            assert r.status_code == 200, r.get_data(as_text=True)
            sizes.append(len(body))
            t = time.perf_counter()
            r = client.get(PREFIX + "projection", query_string=q)
            r.get_data()
            warm.append(time.perf_counter() - t)
            t = time.perf_counter()
            np.load(os.path.join(run.reader.epoch_path(e), "logits.npy"))
            np.load(os.path.join(run.cache.epoch_path(e), "embedding.npy"))
            base.append(time.perf_counter() - t)
        return cold, warm, base, sizes
    finally:
        plugin.close()


def rss_kb(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS", "VmHWM", "RssAnon", "RssFile")):
                k, v = line.split(":")
                out[k] = int(v.split()[0])
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browse_real_tensorboard(logdir, cache_root, epochs, ids):
    exe = shutil.which("tensorboard", path=os.path.dirname(sys.executable)) or shutil.which("tensorboard")
    port = free_port()
    proc = subprocess.Popen([exe, "--logdir", logdir, "--host", "127.0.0.1", "--port", str(port),
                             "--dvi_cache_dir", cache_root], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}/data/plugin/dvi/"

    def fetch(route):
        with urllib.request.urlopen(base + route, timeout=60) as r:
            return r.read()

    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if json.loads(fetch("runs"))["runs"]:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("tensorboard did not start")
            time.sleep(0.3)
        time.sleep(2.0)  # let the data server settle
        before = rss_kb(proc.pid)
        status = json.loads(fetch("status?run=run"))
        fetch("samples?run=run")
        http = []
        for e in epochs:
            t = time.perf_counter()
            fetch(f"projection?run=run&epoch={e}")
            http.append(time.perf_counter() - t)
            fetch(f"background_meta?run=run&epoch={e}")
            fetch(f"background?run=run&epoch={e}")
            fetch(f"metrics?run=run&epoch={e}")
            for sid in ids[:3]:
                fetch(f"sample?run=run&id={sid}&epoch={e}")
        fetch("metrics?run=run")
        t = time.perf_counter()
        fetch("trajectories?run=run&ids=" + ",".join(map(str, ids[:1000])))
        traj = time.perf_counter() - t
        for e in epochs:  # a second pass (scrubbing the epoch slider back and forth)
            fetch(f"projection?run=run&epoch={e}")
        after = rss_kb(proc.pid)
        return before, after, http, traj, status
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--no-tensorboard", action="store_true", help="skip the real-process memory part")
    args = ap.parse_args()

    work = args.workdir or tempfile.mkdtemp(prefix="dvi-bench-")
    logdir = os.path.join(work, "logs")
    run_dir = os.path.join(logdir, "run")
    cache_root = os.path.join(work, "cache")
    from tensorboard_dvi.engine.cache import default_cache_dir
    cache_dir = os.path.join(cache_root, os.path.basename(default_cache_dir(run_dir)))
    if not os.path.isdir(run_dir):
        t = time.perf_counter()
        write_run(run_dir, args.n, args.epochs, args.dim)
        print(f"wrote {args.epochs} epochs of {args.n} samples (dim {args.dim}) in {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        fill_cache(run_dir, cache_dir)
        print(f"filled the cache in {time.perf_counter() - t:.1f} s")
    from tensorboard_dvi.storage import RunReader
    reader = RunReader(run_dir)
    epochs = reader.epochs()
    logged_bytes = sum(os.path.getsize(os.path.join(dp, f)) for dp, _, fs in
                       os.walk(os.path.join(run_dir, "plugins", "dvi", "epochs")) for f in fs)

    cold, warm, base, sizes = bench_projection(logdir, cache_root, epochs)
    ms = lambda xs: statistics.median(xs) * 1e3  # noqa: E731
    print(f"\nprojection of {args.n} samples ({sizes[0] / 1024:.0f} KiB on the wire), server side, "
          f"median over {len(epochs)} epochs:")
    print(f"  first request (encode from mmap): {ms(cold):6.2f} ms   (max {max(cold) * 1e3:.2f} ms)   target < 50 ms")
    print(f"  repeated request (LRU):           {ms(warm):6.2f} ms")
    print(f"  baseline np.load(logits)+np.load(embedding): {ms(base):6.2f} ms  "
          f"-> first request / baseline = {ms(cold) / ms(base):.1f}x")

    if args.no_tensorboard:
        return
    ids = [int(i) for i in reader.static().ids[:: max(1, args.n // 1000)]]
    before, after, http, traj, status = browse_real_tensorboard(logdir, cache_root, epochs, ids)
    print(f"\nreal tensorboard process, browsing all {len(epochs)} epochs (job state: {status['state']}):")
    print(f"  RSS before browsing: {before['VmRSS'] / 1024:7.1f} MiB")
    print(f"  RSS after browsing:  {after['VmRSS'] / 1024:7.1f} MiB  (anon {after.get('RssAnon', 0) / 1024:.1f} MiB, "
          f"file-backed {after.get('RssFile', 0) / 1024:.1f} MiB), peak {after['VmHWM'] / 1024:.1f} MiB")
    print(f"  growth: {(after['VmRSS'] - before['VmRSS']) / 1024:.1f} MiB, vs {logged_bytes / 2 ** 20:.1f} MiB of "
          f"logged epoch files (all epochs in RAM would add at least that)")
    print(f"  projection over HTTP (client side, incl. loopback): median {ms(http):.1f} ms")
    print(f"  trajectories of 1000 ids over {len(epochs)} epochs: {traj * 1e3:.0f} ms")
    print(f"\nworkdir: {work}")


if __name__ == "__main__":
    main()
