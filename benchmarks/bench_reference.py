"""Compare "fitted from A" against the tab's Procrustes alignment (docs/COMPARE.md).

Two runs of one model written by DVIWriter, same samples and seed, clean vs 20 % noisy labels:
sklearn digits MLP (tests/conftest.make_run, default) or, with ``--mnist``, the demo's code path
(demo/train_mnist.py train_run: SmallCNN on real MNIST; ``--n-train`` logged training samples). A and B are fitted on their own; then B is fitted
laid out from A (engine/reference.py). Per epoch it prints, on the shared training+test samples:
the residual of B to A (median distance / RMS spread of A) after the tab's robust Procrustes of
B's own map, and of the reference fit as drawn (no alignment), with B's NN@15 in both fits.

Run: PYTHONPATH=. python benchmarks/bench_reference.py [--n-train 1200] [--epochs 4] [--mnist]
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-train", type=int, default=1200)
    ap.add_argument("--n-test", type=int, default=300)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--steps", type=int, default=30, help="training steps per logged epoch")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--mnist", action="store_true", help="the demo's SmallCNN on MNIST instead of digits")
    ap.add_argument("--strength", type=float, nargs="*", default=[None],
                    help="values of engine.reference.REFERENCE_STRENGTH to compare (default: its value)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from conftest import make_run

    from tensorboard_dvi.engine import EngineConfig, fit_run
    from tensorboard_dvi.engine.cache import RunCache
    from tensorboard_dvi.engine import reference
    from tensorboard_dvi.engine.reference import fit_from_reference, reference_cache_dir, residual

    root = tempfile.mkdtemp(prefix="dvi-ref-")
    a, b = os.path.join(root, "clean"), os.path.join(root, "noisy")
    for path, noise in ((a, 0.0), (b, 0.2)):
        if args.mnist:
            demo = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "demo")
            sys.path.insert(0, demo)
            import mnist_data
            import train_mnist
            train_mnist.train_run(os.path.basename(path), root, mnist_data.load(), epochs=args.epochs, noise=noise,
                                  train_size=4 * args.n_train, n_logged_train=args.n_train,
                                  n_logged_test=args.n_test, seed=0)
        else:
            make_run(path, epochs=args.epochs, n_train=args.n_train, n_test=args.n_test, seed=0,
                     noisy_fraction=noise, thumbnails=False, steps_per_epoch=args.steps)
    cfg = EngineConfig(threads=args.threads)
    ca, cb = os.path.join(root, "cache-a"), os.path.join(root, "cache-b")
    t = {}
    for name, fn in (("A", lambda: fit_run(a, ca, config=cfg)), ("B", lambda: fit_run(b, cb, config=cfg))):
        t0 = time.perf_counter()
        fn()
        t[name] = time.perf_counter() - t0
    A, B = RunCache(ca), RunCache(cb)
    for strength in args.strength:
        if strength is not None:
            reference.REFERENCE_STRENGTH = strength
        cr = reference_cache_dir(cb, a) + f"-{reference.REFERENCE_STRENGTH:g}"
        t0 = time.perf_counter()
        fit_from_reference(b, cr, reference_path=a, reference_cache=ca, config=cfg)
        t["B from A"] = time.perf_counter() - t0
        R = RunCache(cr)
        print(f"{'MNIST SmallCNN' if args.mnist else 'digits MLP'}: n_train={args.n_train} n_test={args.n_test} "
              f"epochs={args.epochs} threads={args.threads} strength={reference.REFERENCE_STRENGTH:g}; "
              f"fit seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))
        print("epoch  residual: Procrustes  fitted-from-A   NN@15: B own  B from A")
        for e in range(1, args.epochs + 1):
            ea, eb, er = (np.asarray(c.embedding(e)) for c in (A, B, R))
            print(f"{e:5d}  {residual(ea, eb):20.3f}  {residual(ea, er, align=False):13.3f}  "
                  f"{B.metrics(e)['nn_15']:13.3f}  {R.metrics(e)['nn_15']:8.3f}")


if __name__ == "__main__":
    main()
