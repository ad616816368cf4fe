"""Peak memory of the engine's exact searches at 100k base rows (docs/SCALE.md).

Each case runs in a fresh process and reports the growth of its peak RSS (``ru_maxrss``)
over its RSS once the inputs are built: the exact kNN of one 2048-row block of queries among N
base rows (what placing test rows, the border points' neighbours and the joint test kNN
do) and trustworthiness on 1024 sampled rows (one chunk) among N.

Usage: python benchmarks/bench_knn_memory.py [--n 100000] [--dim 256] [--code ROOT]
(``--code``: another checkout's root, to compare with an older engine).
"""

import argparse
import json
import os
import subprocess
import sys

CASE = r"""
import json, resource, sys, time
import numpy as np, torch
torch.set_num_threads(1)
from tensorboard_dvi.engine import metrics as M
from tensorboard_dvi.engine.complex import knn_exact
n, dim, case = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rs = np.random.RandomState(0)
base = np.empty((n, dim), np.float32)
for s in range(0, n, 4096):  # no float64 temporary of the whole set
    base[s:s + 4096] = rs.randn(min(4096, n - s), dim)
low = rs.randn(n, 2).astype(np.float32)
q = base[:2048].copy()
_ = knn_exact(q[:8], base[:1000], 15)  # warm the libraries up before the baseline
import psutil
before = psutil.Process().memory_info().rss / 1024  # now, in kB like ru_maxrss
t = time.perf_counter()
if case == "knn":
    import tensorboard_dvi.engine.complex as C
    out = [C.__file__, knn_exact(q, base, 15)[0][:2, :5].tolist()]
else:
    out = M.trustworthiness(base, low, 15, max_rows=1024)
print(json.dumps({"case": case, "peak_growth_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024,
                  "seconds": time.perf_counter() - t, "result": out}))
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--code", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = ap.parse_args()
    env = dict(os.environ, PYTHONPATH=os.path.abspath(args.code))
    for case in ("knn", "trust"):
        p = subprocess.run([sys.executable, "-c", CASE, str(args.n), str(args.dim), case], env=env, cwd=args.code,
                           capture_output=True, text=True)
        print(p.stdout.strip() or p.stderr.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
