"""Time to the first map of an unfitted run in the DVI tab: a real TensorBoard, headless Chromium.

    python benchmarks/bench_first_map.py [--n 10000] [--dim 512] [--epochs 2] [--repeats 3] [--baseline]

1. Writes a run with the real writer (DVIWriter; bench_backend.write_run): ``--n`` samples
   (80 % train) of generated class clusters (10 classes, 32-d inputs) through an MLP whose
   ``--dim``-wide ReLU layer is the logged representation, ``--epochs`` epochs.
2. Per repeat, with an empty engine cache: starts ``tensorboard --logdir ... --dvi_cache_dir``
   (the installed plugin, default engine settings, one worker), waits until it serves the run
   list, then opens the tab in headless Chromium and reports, from ``page.goto``:
   - the first map drawn: the provisional layout (``.dvi-root[data-provisional]``: painted
     and labelled as such; engine/provisional.py);
   - the first fitted map (the tab's ready signal: epoch 1 fitted, painted, transition done).
   Both include the worker process's start (spawn, torch import) and the page load.
   With ``--baseline`` every repeat is run a second time with ``TENSORBOARD_DVI_PROVISIONAL=0``
   (no provisional map: the first map is the fitted one, as before it existed), alternating, so
   the cost of the provisional layout on the first fitted map is measured under the same load.
3. After TensorBoard stopped: NN@15 of the provisional layout (fetched through
   ``projection?provisional=1`` while it was shown) and of the fitted epoch 1 (its
   metrics.json), on the training rows.
Prints medians over the repeats and the 1-minute load average before each repeat (the machine
may be shared: timings on a loaded machine are longer than on an idle one).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, HERE, os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "e2e")]

import numpy as np  # noqa: E402

from bench_backend import write_run  # noqa: E402
from harness import browser, plugin_frame, tensorboard, wait_ready  # noqa: E402

PROVISIONAL_JS = "() => { const r = document.querySelector('.dvi-root'); return !!r && (!!r.dataset.provisional || r.dataset.ready === '1'); }"


def once(b, logdir, cache, log, provisional=True):
    """(seconds to the provisional map or None, seconds to the first fitted map, provisional coords)."""
    os.environ["TENSORBOARD_DVI_PROVISIONAL"] = "1" if provisional else "0"  # inherited by TensorBoard
    with tensorboard(logdir, cache) as base:
        page = b.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(900_000)
        t0 = time.perf_counter()
        page.goto(base + "#dvi")
        frame = plugin_frame(page)
        frame.wait_for_function(PROVISIONAL_JS, polling=50, timeout=900_000)
        t_prov = time.perf_counter() - t0
        prov = frame.evaluate("() => document.querySelector('.dvi-root').dataset.provisional || null")
        coords = None
        if prov is None:
            t_prov = None
            log("  the fitted map came first (no provisional map was drawn)")
        else:
            url = base + "data/plugin/dvi/projection?run=run&epoch=1&provisional=1"
            from tensorboard_dvi.plugin import wire
            with urllib.request.urlopen(url, timeout=60) as r:
                header, arrays = wire.decode(r.read())
            coords = arrays["coords"].copy() if header.get("provisional") else None
            log(f"  provisional map drawn at {t_prov:.1f} s (layout computed in {header.get('seconds')} s in the worker)")
        wait_ready(frame, 1)
        t_fit = time.perf_counter() - t0
        log(f"  fitted map drawn at {t_fit:.1f} s")
        page.close()
    return t_prov, t_fit, coords


def nn15(run_dir, coords):
    from tensorboard_dvi.engine.metrics import nn_preservation
    from tensorboard_dvi.storage import RunReader
    r = RunReader(run_dir)
    train = np.nonzero(np.asarray(r.static().split) == 0)[0]
    reps = np.asarray(r.epoch(1).representations, np.float32)[train]
    return nn_preservation(reps, np.asarray(coords)[train], 15)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--baseline", action="store_true", help="also time each repeat without the provisional map")
    a = ap.parse_args()
    log = lambda s: print(s, flush=True)  # noqa: E731
    work = a.workdir or tempfile.mkdtemp(prefix="dvi-first-map-")
    logdir = os.path.join(work, "logs")
    run_dir = os.path.join(logdir, "run")
    t0 = time.perf_counter()
    write_run(run_dir, a.n, a.epochs, a.dim)
    log(f"wrote {a.n} samples x {a.dim}-d, {a.epochs} epochs in {time.perf_counter() - t0:.1f} s ({run_dir})")
    provs, fits, loads, nn_prov, nn_fit, base_fits = [], [], [], [], [], []
    with browser() as b:
        for i in range(a.repeats):
            cache = os.path.join(work, f"cache-{i}")
            os.makedirs(cache)
            loads.append(os.getloadavg()[0])
            log(f"repeat {i + 1}: load average {loads[-1]:.2f}")
            t_prov, t_fit, coords = once(b, logdir, cache, log)
            fits.append(t_fit)
            if t_prov is not None:
                provs.append(t_prov)
            if coords is not None:
                nn_prov.append(nn15(run_dir, coords))
            for root, _, files in os.walk(cache):
                if "metrics.json" in files and root.endswith("epoch-000001"):
                    with open(os.path.join(root, "metrics.json")) as f:
                        nn_fit.append(json.load(f).get("nn_15"))
            if a.baseline:
                cache = os.path.join(work, f"cache-base-{i}")
                os.makedirs(cache)
                log(f"repeat {i + 1} without the provisional map: load average {os.getloadavg()[0]:.2f}")
                base_fits.append(once(b, logdir, cache, log, provisional=False)[1])
    med = lambda v: f"{statistics.median(v):.1f} s (of {len(v)}: {', '.join(f'{x:.1f}' for x in v)})" if v else "n/a"  # noqa: E731
    log(f"n={a.n} x {a.dim}-d, {os.cpu_count()} CPUs, load average before each repeat: "
        f"{', '.join(f'{x:.2f}' for x in loads)}")
    log(f"first map (provisional, labelled): {med(provs)}")
    log(f"first fitted map:                  {med(fits)}")
    if base_fits:
        log(f"without the provisional map, first (fitted) map: {med(base_fits)}")
    if nn_prov and nn_fit:
        log(f"NN@15 (train rows, epoch 1): provisional {statistics.median(nn_prov):.2f}, "
            f"fitted {statistics.median([v for v in nn_fit if v is not None]):.2f}")


if __name__ == "__main__":
    main()
