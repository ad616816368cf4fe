"""Time the engine's fit of one run on a given device, by stage and epoch.

    python benchmarks/bench_fit_device.py LOGDIR --run clean --device cuda

Used for the GPU check (the device machine has torch but not umap-learn, so
benchmarks/bench_engine.py's baselines cannot run there). Prints per epoch the
seconds spent in each stage (from the engine's own progress events) and the
cached NN@15 / boundary NN@15 / PPR, then the median time per warm epoch.
"""

import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tensorboard_dvi.engine import fit_run  # noqa: E402
from tensorboard_dvi.engine.cache import RunCache  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("logdir")
    p.add_argument("--run", default="clean")
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    stages, last = {}, {"t": time.perf_counter(), "key": None}

    def progress(ev):
        now = time.perf_counter()
        if last["key"] is not None:
            stages[last["key"]] = stages.get(last["key"], 0.0) + now - last["t"]
        last["t"], last["key"] = now, (ev.get("epoch"), ev.get("stage"))

    with tempfile.TemporaryDirectory() as cache_dir:
        t0 = time.perf_counter()
        epochs = fit_run(os.path.join(args.logdir, args.run), cache_dir, device=args.device, progress=progress)
        total = time.perf_counter() - t0
        cache = RunCache(cache_dir)
        per_epoch = {}
        for (e, stage), s in stages.items():
            if e is not None:
                per_epoch.setdefault(e, {})[stage] = s
        print(f"device {args.device}: fitted epochs {epochs} in {total:.1f}s")
        for e in sorted(per_epoch):
            m = cache.metrics(e)
            st = ", ".join(f"{k} {v:.2f}s" for k, v in sorted(per_epoch[e].items()))
            print(f"epoch {e:3d}: {sum(per_epoch[e].values()):6.2f}s ({st})  NN@15 {m.get('nn_15'):.2f}  "
                  f"bNN@15 {m.get('boundary_nn_15'):.2f}  PPR {m.get('ppr_train'):.3f}/{m.get('ppr_test'):.3f}")
        warm = [sum(v.values()) for e, v in sorted(per_epoch.items())][1:]
        if warm:
            print(f"median time per warm-started epoch on {args.device}: {statistics.median(warm):.2f}s")


if __name__ == "__main__":
    main()
