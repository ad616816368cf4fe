"""Continuity against neighbours: sweep one engine setting over every quality subject and plot.

    python benchmarks/quality_tradeoff.py --param anchor_strength --values 0 0.5 1 2 4 \
        --default 1 --png docs/quality_tradeoff.png [--set key=json ...] [--json rows.json]
    python benchmarks/quality_tradeoff.py ... --from-json docs/quality_tradeoff.json   # plot only
    python benchmarks/quality_tradeoff.py --param drift --values 0 0.15 0.25 0.4 --default 0.25 --x tr ...
    python benchmarks/quality_tradeoff.py --param rank_goal --values 0.75 0.8 0.85 0.9 1 --default 0.85 \
        --runs demo/runs/clean demo/runs/noisy --png docs/quality_tradeoff_rank_goal.png   # the demo's runs too

For each value, ``bench_quality.run_method('ours', ...)`` on all subjects (cached);
the plot shows, per subject and averaged over subjects, the run-level tr (and
temporal r) against NN@15 relative to umap-learn on the same epochs; the default
is marked. matplotlib is a development dependency (requirements-dev.txt).
"""

from __future__ import annotations

import argparse
import json

import bench_quality as BQ
import numpy as np
import quality_subjects as QS


def _subjects(subjects, runs):
    """(name, arrays) of each quality subject, then of each logged run (bench_quality's ``--runs``)."""
    for name in subjects:
        yield name, QS.load_subject(name)
    for run in runs:
        yield QS.run_name(run), QS.load_logged_run(run)


def sweep(param, values, sets, subjects, runs=()):
    rows = []
    for v in values:
        for name, d in _subjects(subjects, runs):
            ours = BQ.run_method("ours", name, d, {**sets, param: v})
            umap = BQ.run_method("umap", name, d, {})
            nn_o = BQ.mean([a["nn_15"] for a in ours["per_epoch"]])
            nn_u = BQ.mean([a["nn_15"] for a in umap["per_epoch"]])
            rows.append({"value": v, "subject": name, "nn_ratio": nn_o / nn_u, **ours["run"],
                         "ppr_train_min": min(a["ppr_train"] for a in ours["per_epoch"][2:])})
            print(json.dumps(rows[-1]), flush=True)
    return rows


#: what each panel plots against the x axis, with its target line
PANELS = {"nn_ratio": (("tr", "run-level tr (higher is better)", 0.70),
                       ("temporal_corr", "temporal r (lower is better)", -0.30)),
          "tr": (("temporal_corr", "temporal r (lower is better)", -0.30),
                 ("tnn_5", "tnn@5 (higher is better)", 4.15))}
XLABEL = {"nn_ratio": ("NN@15 train / umap-learn's (mean over the epochs)", 0.95), "tr": ("run-level tr", 0.70)}


def plot(rows, param, default, png, xkey="nn_ratio"):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for ax, (key, label, target) in zip(axes, PANELS[xkey]):
        for name in sorted({r["subject"] for r in rows}):
            rs = [r for r in rows if r["subject"] == name]
            ax.plot([r[xkey] for r in rs], [r[key] for r in rs], "o-", alpha=0.5, label=name)
        values = sorted({r["value"] for r in rows})
        mx = [np.mean([r[xkey] for r in rows if r["value"] == v]) for v in values]
        my = [np.mean([r[key] for r in rows if r["value"] == v]) for v in values]
        ax.plot(mx, my, "ks-", lw=2, label="mean over subjects")
        for v, x, y in zip(values, mx, my):
            ax.annotate(f"{param}={v:g}", (x, y), fontsize=7, xytext=(4, 4), textcoords="offset points")
            if v == default:
                ax.plot([x], [y], marker="*", ms=16, color="crimson", label=f"default ({param}={v:g})")
        ax.axvline(XLABEL[xkey][1], color="grey", ls=":", lw=1)
        ax.axhline(target, color="grey", ls=":", lw=1)
        ax.set_xlabel(XLABEL[xkey][0])
        ax.set_ylabel(label)
    axes[0].legend(fontsize=7)
    fig.suptitle(("Continuity vs neighbours" if xkey == "nn_ratio" else f"{param}: ranking of a sample's epochs vs its moves")
                 + " (quality subjects, 8 epochs, 2,500–5,000 train samples"
                 + ("; run-*: logged runs" if any(r["subject"].startswith("run-") for r in rows) else "")
                 + "; dotted: targets)")
    fig.tight_layout()
    fig.savefig(png, dpi=110)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--param", default="anchor_strength")
    ap.add_argument("--values", nargs="+", type=float, required=True)
    ap.add_argument("--default", type=float, required=True)
    ap.add_argument("--set", nargs="*", default=[])
    ap.add_argument("--subjects", nargs="*", default=list(QS.SUBJECTS))
    ap.add_argument("--runs", nargs="*", default=[], help="logged runs swept as more subjects (e.g. demo/runs/noisy)")
    ap.add_argument("--png", required=True)
    ap.add_argument("--x", choices=sorted(PANELS), default="nn_ratio",
                    help="x axis: NN@15 against umap-learn's (continuity vs neighbours) or tr (tr vs temporal r, tnn@5)")
    ap.add_argument("--json", help="write the sweep's rows here")
    ap.add_argument("--from-json", help="plot the rows an earlier sweep wrote (no fitting)")
    args = ap.parse_args(argv)
    BQ.torch.set_num_threads(1)
    if args.from_json:
        with open(args.from_json) as fh:
            names = set(args.subjects) | {QS.run_name(r) for r in args.runs}
        rows = [r for r in json.load(fh) if r["value"] in args.values and r["subject"] in names]
    else:
        rows = sweep(args.param, args.values, BQ.parse_sets(args.set), args.subjects, args.runs)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    plot(rows, args.param, args.default, args.png, args.x)


if __name__ == "__main__":
    main()
