"""Retakes the screenshots of the README and docs/ from the demo's real runs, so that what they
show is what `scripts/demo.sh` shows: MNIST, clean vs 20 % noisy labels, fitted with the engine's
defaults (the settings the tab fits with). One entry point over the screenshot steps in tests/e2e/
(a real `tensorboard`, headless Chromium at /usr/bin/chromium, each step waits for the tab's ready
signal `.dvi-root[data-ready]`), then it stores every PNG with a 256-colour palette (at most about
300 KB each) so that the repository stays small.

    python demo/train_mnist.py --logdir demo/runs
    tensorboard-dvi fit demo/runs --all-runs --cache-root .cache/dvi-demo
    python scripts/screenshots.py [--logdir demo/runs] [--cache-root .cache/dvi-demo] [--only tab,compare]

Steps (--only): `tab` (dvi-tab, dvi-hover-correctness, dvi-selection-trails,
dvi-filter-misclassified), `progress` (dvi-provisional-first-map, dvi-fitting-progress: TensorBoard fitting the clean run
into an empty cache), `compare` (compare-aligned, -raw, -difference, -unlocked-flipped, -fitted:
"Fitted from A" at --fitted-epoch, fitted by TensorBoard's worker) and `dynamics` (dynamics-*).
It refuses to start unless every logged epoch of both runs is fitted, with the current engine
settings, in --cache-root (the layout of TensorBoard's --dvi_cache_dir).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
E2E = os.path.join(ROOT, "tests", "e2e")
RUNS = ("clean", "noisy")
STEPS = ("tab", "progress", "compare", "dynamics")


def unfitted(logdir: str, cache_root: str) -> dict:
    """Run -> logged epochs not fitted (fresh, with today's EngineConfig()) in the cache root."""
    from tensorboard_dvi.cli import _fitted
    from tensorboard_dvi.engine import EngineConfig
    from tensorboard_dvi.engine.cache import RunCache, default_cache_dir

    out = {}
    for run in RUNS:
        path = os.path.join(logdir, run)
        if not os.path.isdir(path):
            raise SystemExit(f"error: no run {run!r} in {logdir}; train the demo: python demo/train_mnist.py --logdir {logdir}")
        cache = os.path.join(cache_root, os.path.basename(default_cache_dir(path)))
        uids, _ = _fitted(path, cache)
        fresh = set(RunCache(cache).fitted_epochs(uids, EngineConfig().config_hash()))
        out[run] = [e for e in sorted(uids) if e not in fresh]
    return out


def shrink(path: str, max_kb: int = 320) -> tuple:
    """Re-encodes a screenshot as a 256-colour palette PNG: octree palette (keeps rare UI colours,
    e.g. the chart's lines), Floyd-Steinberg dithered so that the map's soft regions do not band;
    without dithering (a little banding) where that stays above `max_kb`. (bytes before, after)."""
    from PIL import Image

    before = os.path.getsize(path)
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    pal = rgb.quantize(colors=256, method=Image.Quantize.FASTOCTREE)
    rgb.quantize(palette=pal, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)
    if os.path.getsize(path) > max_kb * 1024:
        pal.save(path, optimize=True)
    return before, os.path.getsize(path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logdir", default=os.path.join(ROOT, "demo", "runs"))
    ap.add_argument("--cache-root", default=os.path.join(ROOT, ".cache", "dvi-demo"),
                    help="where `tensorboard-dvi fit --cache-root` put both runs' maps")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "screenshots"))
    ap.add_argument("--only", default=",".join(STEPS), help="comma-separated steps: " + ", ".join(STEPS))
    ap.add_argument("--fitted-epoch", type=int, default=3,
                    help="epoch of compare-fitted.png (TensorBoard fits noisy from clean up to it)")
    a = ap.parse_args(argv)
    steps = [s for s in a.only.split(",") if s]
    bad = [s for s in steps if s not in STEPS]
    if bad:
        raise SystemExit(f"error: unknown step(s) {', '.join(bad)}; steps: {', '.join(STEPS)}")
    logdir, cache, out = (os.path.abspath(p) for p in (a.logdir, a.cache_root, a.out))
    missing = {run: eps for run, eps in unfitted(logdir, cache).items() if eps}
    if missing:
        raise SystemExit("error: not fitted with the current engine settings: "
                         + "; ".join(f"{r} epoch(s) {', '.join(map(str, e))}" for r, e in missing.items())
                         + f"\nrun: tensorboard-dvi fit {a.logdir} --all-runs --cache-root {a.cache_root}")
    os.makedirs(out, exist_ok=True)
    common = ["--logdir", logdir, "--cache", cache, "--out", out]
    commands = {
        "tab": ["screenshots.py", *common, "--no-progress"],
        "progress": ["screenshots.py", *common, "--only-progress"],
        "compare": ["compare_screenshots.py", *common, "--fitted-epoch", str(a.fitted_epoch)],
        "dynamics": ["screenshots_dynamics.py", *common],
    }
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep))
    since = time.time()
    for step in steps:
        t = time.time()
        script, *args = commands[step]
        subprocess.run([sys.executable, os.path.join(E2E, script), *args], check=True, env=env)
        print(f"[{step}] {time.time() - t:.0f}s", flush=True)
    for name in sorted(os.listdir(out)):
        p = os.path.join(out, name)
        if name.endswith(".png") and os.path.getmtime(p) >= since:
            before, after = shrink(p)
            print(f"{name}: {before // 1024} KB -> {after // 1024} KB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
