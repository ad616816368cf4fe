"""Case study: find the wrong labels of a noisy-label run from its logged training dynamics.

Ranks the *train* rows of a run by candidate "label is wrong" scores computed from
the logged logits (tensorboard_dvi.engine.dynamics) and compares them with the
logged noisy ids: precision and recall at k = number of noisy train rows (so the
two are equal), and AUROC, next to the baseline (final-epoch loss ranking).

Two modes:

  python benchmarks/noisy_label_study.py --tune [--workdir DIR]
      Held-out tuning set: writes sklearn-digits runs (tests/conftest.py::make_run:
      an MLP, 20 % / 40 % symmetric noise, 3 seeds, three training regimes from
      "fits the clean labels only" to "memorises the wrong ones") and compares every
      candidate there (about a minute on one core). The score used by the product (dynamics.mislabel_score) is
      chosen from this table, *not* from the demo.

  python benchmarks/noisy_label_study.py [--run demo/runs/noisy] [--json out.json]
      The test: the demo's MNIST noisy run (20 % symmetric noise, demo/train_mnist.py).

Streams epochs one at a time (O(N) memory). torch is only needed for --tune.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path[:0] = [ROOT, os.path.join(ROOT, "tests")]

from tensorboard_dvi import storage  # noqa: E402
from tensorboard_dvi.engine import dynamics  # noqa: E402

PRODUCT = "mislabel_score = avg(1 - correct_rate, 1 - geomean conf)"
BASELINE = "final_loss (baseline)"


def _avg_ranks(x: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    ranks = np.empty(len(x))
    i = 0
    while i < len(x):
        j = i
        while j + 1 < len(x) and xs[j + 1] == xs[i]:
            j += 1
        ranks[order[i:j + 1]] = (i + j) / 2.0 + 1
        i = j + 1
    return ranks


def auroc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney AUROC (ties count one half)."""
    pos = positive.astype(bool)
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = _avg_ranks(np.asarray(score, dtype=np.float64))
    return float((r[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def at_k(score: np.ndarray, positive: np.ndarray, k: int):
    """(precision, recall) of the top k (ties broken by row order, as run_queries does)."""
    order = np.lexsort((np.arange(len(score)), -np.asarray(score, dtype=np.float64)))[:k]
    hits = int(positive[order].sum())
    return hits / max(k, 1), hits / max(int(positive.sum()), 1)


def candidate_scores(run_path: str):
    """(signals, {candidate name: score over all rows}, static, epochs) for one run, streamed."""
    reader = storage.RunReader(run_path)
    static = reader.static()
    acc = dynamics.SignalAccumulator(static.labels)
    epochs = []
    for e in reader.epochs():
        try:
            logits = reader.epoch(e).logits
        except storage.DamagedEpochError as err:
            print(f"  skipping damaged epoch {e}: {err.reason}", file=sys.stderr)
            continue
        acc.add(logits)
        epochs.append(e)
    s = acc.result()
    conf, var = s["conf_mean"].astype(np.float64), s["conf_std"].astype(np.float64)
    labels = static.labels
    # Confident-learning style per-class threshold: the mean confidence of samples given that label.
    thr = np.array([conf[labels == c].mean() if np.any(labels == c) else 1.0 for c in range(labels.max() + 1)])
    never = (s["correct_rate"] == 0).astype(np.float64)
    cands = {
        BASELINE: s["final_loss"],
        PRODUCT: s["mislabel_score"],
        "1 - conf_mean (cartography confidence)": 1 - conf,
        "AUM (-margin_mean)": -s["margin_mean"],
        "loss_mean (= 1 - geomean conf ranking)": s["loss_mean"],
        "hard-to-learn: 1 - conf_mean - 0.5 conf_std": 1 - conf - 0.5 * var,
        "hard-to-learn: 1 - conf_mean - conf_std": 1 - conf - var,
        "CL-style: 1 - conf_mean / class threshold": 1 - conf / thr[labels],
        "1 - correct_rate": 1 - s["correct_rate"],
        "avg(1 - correct_rate, 1 - conf_mean)": (2 - s["correct_rate"] - conf) / 2,
        "forgetting (never learned = max)": s["forgetting"] + never * (s["forgetting"].max() + 1),
        "rank mean(1 - conf_mean, final_loss)": _avg_ranks(1 - conf) + _avg_ranks(s["final_loss"]),
    }
    return s, cands, static, epochs


def evaluate(run_path: str):
    s, cands, static, epochs = candidate_scores(run_path)
    if static.noisy is None:
        raise SystemExit(f"{run_path} has no logged noisy ids (static/noisy.npy)")
    train = static.split == 0
    noisy = static.noisy[train]
    k = int(noisy.sum())
    rows = {}
    for name, score in cands.items():
        sc = np.asarray(score, dtype=np.float64)[train]
        p, r = at_k(sc, noisy, k)
        rows[name] = {"precision_at_k": p, "recall_at_k": r, "auroc": auroc(sc, noisy)}
    info = {"run": run_path, "epochs": epochs, "n_train": int(train.sum()), "n_noisy": k,
            "noise_rate": k / max(int(train.sum()), 1),
            "final_train_accuracy_given_labels": float(s["final_correct"][train].mean())}
    return info, rows


def table(rows) -> str:
    head = "| score | precision@k | recall@k | AUROC |\n|---|---|---|---|\n"
    return head + "".join(f"| {name} | {v['precision_at_k']:.3f} | {v['recall_at_k']:.3f} | {v['auroc']:.4f} |\n"
                          for name, v in rows.items())


#: Held-out regimes: "fit" stops near the clean accuracy (little memorisation), "memorise" trains a
#: wider MLP ~4x longer per epoch so that it fits most wrong labels by the end (as deep nets do).
REGIMES = {"fit": dict(epochs=20, hidden=64, steps_per_epoch=20),
           "memorise": dict(epochs=30, hidden=256, steps_per_epoch=80),
           "few-epochs": dict(epochs=10, hidden=256, steps_per_epoch=160)}


def tune(workdir: str, seeds=(0, 1, 2), noises=(0.2, 0.4)):
    import torch
    torch.set_num_threads(1)
    from conftest import make_run
    out = {}
    for regime, kw in REGIMES.items():
        per = {}
        accs = []
        for noise in noises:
            for seed in seeds:
                path = os.path.join(workdir, f"digits-{regime}-noise{int(noise * 100)}-seed{seed}")
                if not os.path.isdir(os.path.join(path, "plugins")):
                    t = time.perf_counter()
                    make_run(path, n_train=1300, n_test=200, seed=100 + seed, noisy_fraction=noise,
                             border_points=0, thumbnails=False, **kw)
                    print(f"  wrote {path} in {time.perf_counter() - t:.0f}s", file=sys.stderr)
                info, rows = evaluate(path)
                accs.append(info["final_train_accuracy_given_labels"])
                print(f"{regime} noise {noise:.0%} seed {seed}: final train acc (given labels) "
                      f"{accs[-1]:.3f}, k={info['n_noisy']}", file=sys.stderr)
                for name, v in rows.items():
                    per.setdefault(name, []).append(v)
        mean = {name: {k: float(np.mean([v[k] for v in vs])) for k in vs[0]} for name, vs in per.items()}
        print(f"\nHeld-out tuning set, regime '{regime}' ({kw}): sklearn digits, 1300 train rows, "
              f"{len(seeds)} seeds x noise {noises} (mean over {len(per[BASELINE])} runs; final train "
              f"accuracy on the given labels {min(accs):.2f}-{max(accs):.2f})\n")
        print(table(mean))
        out[regime] = mean
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default=os.path.join(ROOT, "demo", "runs", "noisy"))
    ap.add_argument("--tune", action="store_true", help="evaluate on held-out sklearn-digits runs instead")
    ap.add_argument("--workdir", default=os.path.join(tempfile.gettempdir(), "dvi-noisy-study"))
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)
    if args.tune:
        result = {"tuning": tune(args.workdir)}
    else:
        t = time.perf_counter()
        info, rows = evaluate(args.run)
        info["seconds"] = round(time.perf_counter() - t, 2)
        print(f"Run {info['run']}: {len(info['epochs'])} epochs, {info['n_train']} logged train samples, "
              f"{info['n_noisy']} noisy ({info['noise_rate']:.1%}), k = {info['n_noisy']}; "
              f"final train accuracy on the given labels {info['final_train_accuracy_given_labels']:.3f}; "
              f"signals computed in {info['seconds']} s\n")
        print(table(rows))
        result = {"info": info, "results": rows}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
