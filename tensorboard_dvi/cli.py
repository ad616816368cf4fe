"""``tensorboard-dvi fit | eval``: precompute DVI visualizations offline.

Results go to the same cache the TensorBoard plugin reads
(``engine.cache.default_cache_dir`` unless ``--cache-dir``), so a run can be
fitted on a GPU machine and viewed later.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence

from . import fs as dfs


def _parse_epochs(text: Optional[str]):
    """'A:B' (inclusive, either side optional) or 'E' -> (lo, hi) or None."""
    if text is None:
        return None
    try:
        if ":" in text:
            a, b = text.split(":", 1)
            lo = int(a) if a.strip() else None
            hi = int(b) if b.strip() else None
        else:
            lo = hi = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--epochs wants A:B, A: or :B with integers, got {text!r}") from None
    return lo, hi


def _runs(logdir: str, run: Optional[str]) -> List[str]:
    from .storage import list_runs
    if dfs.is_local(logdir) and not os.path.isdir(logdir):
        raise SystemExit(f"error: {logdir} is not a folder")
    try:
        runs = list_runs(logdir)
    except OSError as e:  # a remote logdir: credentials, bucket, network (the message names the URL)
        raise SystemExit(f"error: {e}") from None
    if run is not None:
        if run in runs:
            return [run]
        prefix = run.strip("/") + "/"
        matches = [r for r in runs if r.startswith(prefix)]  # TensorBoardLogger("runs", name=run): run/version_N
        if len(matches) == 1:
            print(f"--run {run}: using {matches[0]}", file=sys.stderr)
            return matches
        if matches:
            raise SystemExit(f"error: --run {run} matches {len(matches)} runs: {', '.join(matches)}; pick one")
        raise SystemExit(f"error: no DVI run named {run!r} in {logdir}; runs: {', '.join(runs) or 'none'}")
    if not runs:
        raise SystemExit(f"error: {logdir} contains no DVI runs (nothing logged with the DVI writer)")
    return runs


def _run_path(logdir: str, run: str) -> str:
    return logdir if run == "." else dfs.join(logdir, *run.split("/"))


def _cache_dir(args, run_path: str, n_runs: int) -> str:
    from .engine.cache import default_cache_dir
    if args.cache_dir:
        if n_runs > 1:
            raise SystemExit("error: --cache-dir names one run's cache; pick the run with --run")
        return args.cache_dir
    if args.cache_root:  # the same layout as TensorBoard's --dvi_cache_dir (may be a URL)
        return dfs.join(args.cache_root, default_cache_dir(run_path).replace(os.sep, "/").rsplit("/", 1)[-1])
    return default_cache_dir(run_path)


def _epoch_filter(reader, span):
    if span is None:
        return None
    lo, hi = span
    return [e for e in reader.epochs() if (lo is None or e >= lo) and (hi is None or e <= hi)]


def _config(args):
    from .engine import EngineConfig
    return EngineConfig(threads=args.threads) if args.threads else EngineConfig()


def _fitted(run_path: str, cache_dir: str, config_hash: Optional[str] = None):
    """(uid per readable epoch, epochs already fitted in the cache, with these settings when given)."""
    from .engine.cache import RunCache
    from .storage import DamagedEpochError, RunReader
    reader = RunReader(run_path)
    uids = {}
    for e in reader.epochs():
        try:
            uids[e] = reader.epoch(e).uid
        except DamagedEpochError:
            pass
    return uids, RunCache(cache_dir).fitted_epochs(uids, config_hash)


def _fit_one(name: str, run_path: str, cache_dir: str, args) -> int:
    from tqdm import tqdm

    from .engine import fit_run
    from .storage import RunReader
    cfg = _config(args)
    epochs = _epoch_filter(RunReader(run_path), args.epochs)
    uids, fresh = _fitted(run_path, cache_dir, cfg.config_hash())  # as fit_run decides
    wanted = [e for e in (epochs if epochs is not None else uids) if e in uids]
    if wanted and all(e in fresh for e in wanted):
        print(f"{name}: already fitted ({len(wanted)} epoch(s)); cache: {cache_dir}")
        return 0
    bar = tqdm(total=1000, desc=f"{name}", unit="", bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}",
               file=sys.stderr, disable=args.quiet)
    state = {"n": 0}

    def progress(p):
        target = int(round(p["fraction"] * 1000))
        if target > state["n"]:
            bar.update(target - state["n"])
            state["n"] = target
        ep = "" if p["epoch"] is None else f" epoch {p['epoch']}"
        bar.set_description(f"{name}{ep} [{p['epochs_done']}/{p['epochs_total']}] {p['stage']}", refresh=False)

    try:
        done = fit_run(run_path, cache_dir, epochs=epochs, config=cfg, device=args.device, progress=progress)
    finally:
        bar.close()
    print(f"{name}: fitted {len(done)} epoch(s){': ' + ', '.join(map(str, done)) if done else ''}; "
          f"cache: {cache_dir}")
    return 0


def _fmt(v, digits=3):
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


COLUMNS = [("epoch", "epoch"), ("nn_15", "NN@15"), ("nn_15_test", "NN@15 test"), ("boundary_nn_15", "bNN@15"),
           ("ppr_train", "PPR train"), ("ppr_test", "PPR test"), ("inv_conf_diff", "conf.diff"),
           ("trustworthiness", "trust"), ("tnn_5_chain", "tnn@5 chain"), ("tr_chain", "tr chain"),
           ("temporal_corr_chain", "t.corr chain"), ("poor", "poor")]
RUN_FIGURES = [("tnn_5", "tnn@5"), ("tnn_3", "tnn@3"), ("tr", "tr"), ("temporal_corr", "temporal r")]


def run_figures(run: dict) -> str:
    """The run-level lines of ``eval``: the reference evaluator's figures over all epochs."""
    mean = run.get("mean") or {}
    head = (f"run level over {len(run.get('epochs') or [])} epochs, {run.get('n_samples')} training samples "
            "(every epoch an anchor, as the DVI/TimeVis evaluator):")
    temporal = "  " + "  ".join(f"{title} {_fmt(run.get(key))}" for key, title in RUN_FIGURES)
    means = "  mean over epochs: " + "  ".join(f"{k} {_fmt(v)}" for k, v in mean.items())
    return "\n".join([head, temporal, means])


def metrics_table(cache, epochs: Sequence[int]) -> str:
    rows = [[title for _, title in COLUMNS]]
    for e in epochs:
        m = dict(cache.metrics(e))
        m["epoch"] = e
        rows.append([_fmt(m.get(key)) for key, _ in COLUMNS])
    widths = [max(len(r[i]) for r in rows) for i in range(len(COLUMNS))]
    return "\n".join("  ".join(c.rjust(w) for c, w in zip(r, widths)) for r in rows)


def _eval_one(name: str, run_path: str, cache_dir: str, args) -> int:
    from .engine.cache import RunCache
    uids, fresh = _fitted(run_path, cache_dir)
    cache = RunCache(cache_dir)
    missing = [e for e in uids if e not in fresh]
    if missing and args.fit:
        _fit_one(name, run_path, cache_dir, args)
        fresh = cache.fitted_epochs(uids)
        missing = [e for e in uids if e not in fresh]
    print(f"== {name} ({cache_dir})")
    if fresh:
        from .engine.run_metrics import update_run_metrics
        print(metrics_table(cache, fresh))
        from .storage import RunReader
        print(run_figures(update_run_metrics(RunReader(run_path), cache, uids)))
        for e in fresh:
            for w in cache.metrics(e).get("warnings") or []:
                print(f"  epoch {e}: {w}")
    if missing:
        cmd = f"tensorboard-dvi fit {args.logdir}" + ("" if name == "." else f" --run {name}")
        print(f"{len(missing)} epoch(s) not fitted yet ({', '.join(map(str, missing))}); "
              f"run `{cmd}` or pass --fit")
    return 0


def _fit_on_cluster(logdir: str, runs: List[str], args) -> int:
    """``fit --scheduler``: the runs fan out over a Dask cluster (distributed.py)."""
    from .distributed import fit_runs_on_cluster
    from .storage import RunReader
    jobs = []
    for name in runs:
        path = _run_path(logdir, name)
        jobs.append((name, path, _cache_dir(args, path, len(runs)), _epoch_filter(RunReader(path), args.epochs)))
    out = fit_runs_on_cluster(jobs, args.scheduler, config=_config(args), device=args.device,
                              progress=(lambda msg: None) if args.quiet else None)
    rc = 0
    for name, _, cache_dir, _ in jobs:
        res = out.get(name)
        if isinstance(res, BaseException):
            print(f"error: {name}: {res}", file=sys.stderr)
            rc = 1
        else:
            print(f"{name}: fitted {len(res)} epoch(s){': ' + ', '.join(map(str, res)) if res else ''}; cache: {cache_dir}")
    return rc


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="tensorboard-dvi",
                                     description="Fit and evaluate DeepVisualInsight maps of logged runs.")
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd, help_ in (("fit", "fit the visualizer for every logged epoch not yet in the cache"),
                       ("eval", "print the quality metrics of the fitted epochs")):
        p = sub.add_parser(cmd, help=help_)
        p.add_argument("logdir", help="TensorBoard logdir (or one run folder)")
        p.add_argument("--run", help="run name as TensorBoard lists it (default: every run)")
        p.add_argument("--epochs", type=_parse_epochs, help="A:B inclusive range of epochs (default: all)")
        p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
        p.add_argument("--cache-dir", help="cache folder (or URL) of one run (default: the plugin's cache)")
        p.add_argument("--cache-root", help="cache root shared with TensorBoard's --dvi_cache_dir, e.g. "
                                            "s3://bucket/dvi-cache (one sub-folder per run, keyed by its URL)")
        p.add_argument("--threads", type=int, help="torch CPU threads")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        if cmd == "eval":
            p.add_argument("--fit", action="store_true", help="fit missing epochs first")
        else:
            p.add_argument("--all-runs", action="store_true", help="every run of the logdir (the default without --run)")
            p.add_argument("--scheduler", help="address of a Dask distributed scheduler (tcp://host:8786): "
                                               "one task per run on its workers")
    args = parser.parse_args(argv)
    from .engine.fit import EngineError
    logdir = os.path.abspath(dfs.local_path(args.logdir)) if dfs.is_local(args.logdir) else args.logdir
    if getattr(args, "all_runs", False) and args.run:
        raise SystemExit("error: --all-runs and --run exclude each other")
    runs = _runs(logdir, args.run)
    if args.command == "fit" and args.scheduler:
        return _fit_on_cluster(logdir, runs, args)
    rc = 0
    for name in runs:
        run_path = _run_path(logdir, name)
        cache_dir = _cache_dir(args, run_path, len(runs))
        try:
            if args.command == "fit":
                _fit_one(name, run_path, cache_dir, args)
            else:
                _eval_one(name, run_path, cache_dir, args)
        except (EngineError, OSError) as e:  # OSError: a remote store (the message names the URL)
            print(f"error: {name}: {e}", file=sys.stderr)
            rc = 1
        except KeyboardInterrupt:
            print("interrupted; finished epochs are kept", file=sys.stderr)
            return 130
    return rc


if __name__ == "__main__":
    sys.exit(main())
