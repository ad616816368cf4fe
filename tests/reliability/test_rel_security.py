"""Hostile inputs against every route (fast, in-process on TensorBoardWSGI).

Run names, epochs, ids, coordinates and static paths built to escape the logdir ('..',
absolute paths, encoded and double-encoded separators, NUL bytes, backslashes, very long
strings) and symlinks placed in the logdir that point at a complete DVI run outside it.
Every answer must be 4xx, no body may contain the outside data's secret, and an audit hook
on ``open``/``listdir``/``scandir`` proves that nothing outside the logdir, the cache and the
static folder was opened. tests/reliability/test_rel_long.py repeats the raw-path part against
a real TensorBoard server.
"""

import os
import shutil
import sys
import urllib.parse

import numpy as np
import pytest

from relkit import PREFIX, OpenAudit, epoch_dir, fake_fit, make_client, make_run, static_dir
from tensorboard_dvi import metadata as md
from tensorboard_dvi.engine.cache import default_cache_dir
from tensorboard_dvi.plugin.jobs import JobManager
from tensorboard_dvi.plugin.plugin import STATIC_ROOT

SECRET = "TOP-SECRET-7f3a9c"
ROUTES = ["status", "samples", "projection", "background", "background_meta", "predict_at", "metrics", "sample",
          "thumbnail", "trajectories", "dynamics", "dynamics_query", "dynamics_export"]
FULL = {"epoch": "1", "id": "1", "ids": "1,2", "x": "0", "y": "0"}


@pytest.fixture(scope="module")
def sec_env(tmp_path_factory):
    root = tmp_path_factory.mktemp("sec")
    logdir, outside, cache_root = root / "logs", root / "outside", root / "cache"
    make_run(logdir / "a", epochs=1, n_train=100, n_test=20, hidden=8, seed=5)
    # A complete, fitted DVI run outside the logdir: reaching it would answer 200.
    shutil.copytree(logdir / "a", outside / "secret_run")
    (outside / "secret.txt").write_text(SECRET)
    np.save(outside / "secret_thumbs.npy", np.full((120, 8, 8), 7, np.uint8))

    def cache_dir(run_path):
        return os.path.join(cache_root, os.path.basename(default_cache_dir(os.fspath(run_path))))

    fake_fit(os.fspath(logdir / "a"), cache_dir(logdir / "a"))
    fake_fit(os.fspath(outside / "secret_run"), cache_dir(outside / "secret_run"))
    secret_plugin = os.path.join(outside / "secret_run", *md.PLUGIN_DIR)
    # Symlinks out of the logdir, at every level of a run.
    os.symlink(outside / "secret_run", logdir / "link_run")
    (logdir / "c" / "plugins").mkdir(parents=True)
    os.symlink(secret_plugin, logdir / "c" / "plugins" / "dvi")
    for name in ("d", "e", "f", "g"):
        shutil.copytree(logdir / "a", logdir / name)
        fake_fit(os.fspath(logdir / name), cache_dir(logdir / name))
    shutil.rmtree(os.path.join(logdir / "d", *md.PLUGIN_DIR, md.EPOCHS_DIR))
    os.symlink(os.path.join(secret_plugin, md.EPOCHS_DIR), os.path.join(logdir / "d", *md.PLUGIN_DIR, md.EPOCHS_DIR))
    os.symlink(epoch_dir(outside / "secret_run", 1), epoch_dir(logdir / "e", 9))
    fake_fit(os.fspath(outside / "secret_run"), cache_dir(logdir / "e"), epochs=[1])  # as if 9 were fitted
    shutil.rmtree(static_dir(logdir / "f"))
    os.symlink(os.path.join(secret_plugin, md.STATIC_DIR), static_dir(logdir / "f"))
    thumbs = os.path.join(static_dir(logdir / "g"), md.THUMBNAILS_FILE)
    os.remove(thumbs)
    os.symlink(outside / "secret_thumbs.npy", thumbs)
    # The static folder, copied, with symlinks out of it.
    static_root = root / "static"
    shutil.copytree(STATIC_ROOT, static_root)
    os.symlink(outside / "secret.txt", static_root / "evil.js")
    os.symlink(outside, static_root / "outdir")
    client, plugin = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"), cache_root=os.fspath(cache_root),
                                 autofit=False, watch_interval_s=0, static_root=os.fspath(static_root))
    yield {"client": client, "plugin": plugin, "logdir": logdir, "outside": outside, "cache_root": cache_root,
           "static_root": static_root, "root": root}
    plugin.close()


def _q(**params):
    return urllib.parse.urlencode(params, safe="")


def hostile_requests(outside):
    """(label, route, raw query string or None, raw path suffix or None)."""
    out_abs = os.fspath(outside / "secret_run")
    runs = {
        "dot-dot": "..", "dot-dot to outside run": "../outside/secret_run", "absolute path": out_abs,
        "absolute path, double slash": "/" + out_abs, "inner dot-dot": "a/../../outside/secret_run",
        "a/..": "a/..", "./a": "./a", "trailing slash": "a/", "empty component": "a//a", "backslash": "..\\outside",
        "windows drive": "C:\\Windows", "NUL byte": "a\0", "NUL then traversal": "a\0/../../outside",
        "very long (10k)": "a" * 10000, "very long (200k)": "../" * 70000, "home": "~", "newline": "a\n",
        "spaces": " a ", "fullwidth a": "\uff41", "symlinked run": "link_run", "symlinked plugins/dvi": "c",
        "symlinked static/": "f", "unicode dots": "\u2024\u2024/outside",
        "name of outside folder": "outside", "percent-encoded ..": "%2e%2e", "percent-encoded slash": "..%2foutside",
    }
    reqs = [(f"run: {k}", route, _q(run=v, **FULL), None) for k, v in runs.items() for route in ROUTES]
    # Run d's own static data lies inside the logdir (servable); only its epochs/ points out.
    reqs += [("run d: epochs/ symlinked out", route, _q(run="d", **FULL), None)
             for route in ("projection", "background", "background_meta", "predict_at", "sample", "dynamics",
                           "dynamics_query", "dynamics_export")]
    # Encoded separators sent raw (the query is decoded once by the server: these decode to '../...').
    for label, raw in (("run: %2e%2e%2f raw", "run=%2e%2e%2foutside%2fsecret_run"),
                       ("run: double-encoded", "run=%252e%252e%252foutside%252fsecret_run"),
                       ("run: overlong UTF-8 dot", "run=%c0%ae%c0%ae%2foutside"),
                       ("run: %00 raw", "run=a%00"), ("run: repeated run=", "run=../outside/secret_run&run=a")):
        reqs += [(label, route, raw + "&" + _q(**FULL), None) for route in ROUTES]
    epochs = {"negative": "-1", "float": "1.0", "exponent": "1e3", "hex": "0x1", "plus": "+1", "space": " 1",
              "arabic digit": "\u0661", "huge": "9" * 30, "very long": "9" * 5000, "list": "1,2", "NUL": "1\0",
              "traversal": "../1", "nan": "nan", "symlinked epoch (run e, epoch 9)": "9"}
    for k, v in epochs.items():
        run = "e" if "symlinked" in k else "a"
        for route in ("projection", "background", "background_meta", "metrics", "sample", "predict_at"):
            reqs.append((f"epoch: {k}", route, _q(**dict(FULL, run=run, epoch=v)), None))
        if run == "a":
            reqs.append((f"epoch: {k} (trajectories start)", "trajectories", _q(run=run, ids="1", start=v), None))
    ids = {"float": "1.5", "exponent": "1e999", "hex": "0x1", "empty item": "1,,2", "5001 ids": ",".join(["1"] * 5001),
           "huge": "9" * 40, "NUL": "1\0", "unknown": "123456789", "space only": " ", "negative unknown": "-5"}
    for k, v in ids.items():
        reqs.append((f"id: {k}", "sample", _q(run="a", id=v), None))
        reqs.append((f"id: {k}", "thumbnail", _q(run="a", id=v), None))
        reqs.append((f"ids: {k}", "trajectories", _q(run="a", ids=v), None))
    for k, v in {"nan": "nan", "inf": "inf", "overflow": "1e309", "long": "1" * 100, "text": "x"}.items():
        reqs.append((f"x: {k}", "predict_at", _q(run="a", epoch="1", x=v, y="0"), None))
    reqs.append(("thumbnail through a file symlinked out", "thumbnail", _q(run="g", id="1"), None))
    statics = {"dot-dot": "../plugin.py", "encoded dot-dot": "%2e%2e/%2e%2e/plugin/plugin.py",
               "encoded slashes": "..%2f..%2fplugin%2fplugin.py", "absolute": "/etc/passwd",
               "double slash absolute": "/" + os.fspath(outside / "secret.txt"), "dot file": ".hidden",
               "symlinked file": "evil.js", "symlinked folder": "outdir/secret.txt", "NUL": "index.js%00.png",
               "backslash": "..%5c..%5cplugin.py", "very long": "a" * 5000, "home": "~/.bashrc",
               "encoded NUL": "index.js%2500", "dot segment": "./index.js", "overlong UTF-8": "%c0%ae%c0%ae/plugin.py"}
    reqs += [(f"static: {k}", None, None, v) for k, v in statics.items()]
    return reqs


def test_hostile_inputs_are_4xx_and_nothing_is_read_outside(sec_env, report):
    c, outside = sec_env["client"], sec_env["outside"]
    reqs = hostile_requests(outside)
    labels = sorted({label for label, *_ in reqs})
    real_outside = os.path.realpath(outside)
    allowed = [os.path.realpath(p) for p in (sec_env["logdir"], sec_env["cache_root"], sec_env["static_root"],
                                               sys.prefix, sys.base_prefix, "/usr/lib", "/usr/share", "/etc/mime.types",
                                               "/proc", os.path.dirname(os.path.dirname(STATIC_ROOT)))]
    bad, leaks = [], []
    with OpenAudit.get() as audit:  # control: the audit sees a read outside
        with open(outside / "secret.txt") as f:
            f.read()
    assert os.path.realpath(outside / "secret.txt") in {os.path.realpath(p) for p in audit.paths}
    with OpenAudit.get() as audit:
        for label, route, query, raw_path in reqs:
            if raw_path is not None:
                r = c.get(PREFIX + raw_path)
            else:
                r = c.get(PREFIX + route + "?" + query)
            body = r.get_data()
            if not 400 <= r.status_code < 500:
                bad.append((label, route, r.status_code, body[:100]))
            if SECRET.encode() in body:
                leaks.append((label, route))
    opened = {os.path.realpath(p) for p in audit.paths}
    outside_opened = sorted(p for p in opened if p == real_outside or p.startswith(real_outside + os.sep))
    unexpected = sorted(p for p in opened if not any(p == a or p.startswith(a.rstrip(os.sep) + os.sep) for a in allowed))
    ok = not bad and not leaks and not outside_opened and not unexpected
    report("security", f"hostile run names, epochs, ids, x/y, static paths, symlinks ({len(labels)} kinds) "
                       "x every route", len(reqs), ok,
           f"{len(reqs) - len(bad)}/{len(reqs)} answered 4xx; {len(leaks)} bodies with the secret; files opened "
           f"outside the logdir: {len(outside_opened)} (audit hook, {len(opened)} paths opened)")
    assert not bad, sorted({(b[0], b[1], b[2]) for b in bad})
    assert not leaks, leaks[:10]
    assert not outside_opened, outside_opened
    assert not unexpected, unexpected[:10]


def test_symlinked_runs_are_not_listed_as_readable(sec_env, report):
    import json
    runs = {r["name"]: r for r in json.loads(sec_env["client"].get(PREFIX + "runs").get_data())["runs"]}
    problems = []
    for name in ("link_run", "c"):
        if name in runs and runs[name].get("epochs"):
            problems.append((name, "listed with epochs"))
    if runs.get("d", {}).get("epochs"):
        problems.append(("d", "epochs/ symlinked out, yet epochs listed", runs["d"]["epochs"]))
    if 9 in runs.get("e", {}).get("epochs", []) and "9" not in runs["e"].get("damaged", {}):
        problems.append(("e", "an epoch folder symlinked out is listed as a readable epoch"))
    if runs.get("f", {}).get("n_train") and not runs["f"].get("error"):
        problems.append(("f", "static/ symlinked out, yet its meta is served"))
    report("security", "runs listing with symlinks out of the logdir (run, plugins/dvi, epochs/, epoch, static/)", 5,
           not problems, f"{len(problems)} symlinked parts exposed")
    assert not problems, problems
