"""CPU time of a cold and a warm epoch of one logged run, in one fresh process (docs/SCALE.md, growth).

    python benchmarks/bench_warm_cpu.py RUN_FOLDER [--threads 1]

Fits epoch 1 (cold) and then epoch 2 (warm-started from it) into a temporary cache with the engine's
default settings (run-level metrics off) and prints, per epoch, CPU seconds (getrusage around each
``fit_run`` call: comparable across sizes even on a loaded machine), wall seconds, the stage timings
the cache records, CPU seconds per stage (from the stage the engine's progress reports name at its start:
"complex", "train", "background", "metrics"), and the process's peak RSS. The runs of bench_scale.py's ``write`` step fit here.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class StageCPU:
    """CPU seconds per stage, filed under the stage the engine's progress callback last named."""

    def __init__(self):
        self.label, self.t, self.cpu = "start", cpu_s(), {}

    def __call__(self, p):
        # (the train stage's phases report at their ends, so only the stages are told apart)
        self.switch(p["stage"])

    def switch(self, label):
        now = cpu_s()
        self.cpu[self.label] = round(self.cpu.get(self.label, 0.0) + now - self.t, 2)
        self.t, self.label = now, label


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from tensorboard_dvi.engine import EngineConfig, fit_run
    from tensorboard_dvi.engine.cache import RunCache
    cache_dir = tempfile.mkdtemp(prefix="dvi-warm-cpu-")
    cfg = EngineConfig(threads=args.threads, run_metrics=False)
    for e in (1, 2):
        stages = StageCPU()
        c0, t0 = cpu_s(), time.perf_counter()
        fit_run(args.run, cache_dir, epochs=[e], config=cfg, progress=stages)
        stages.switch("end")
        info = RunCache(cache_dir).epoch_info(e)
        print(json.dumps({"epoch": e, "cpu_s": round(cpu_s() - c0, 2), "wall_s": round(time.perf_counter() - t0, 2),
                          "stages_cpu_s": stages.cpu, "stages_s": info["timings"],
                          "train_s": info["train_timings"]}), flush=True)
    print(f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; load average "
          f"{os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
