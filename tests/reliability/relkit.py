"""Helpers of the reliability suite: epoch cloning and damage, an ``open`` audit, a real
TensorBoard process with a configurable fit, /proc readings.

Reuses tests/conftest.py (make_run), tests/plugin_fakes.py (fake fit, werkzeug client)
and tests/test_plugin_process.py / test_plugin_jobs.py (process and epoch helpers).
"""

import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import numpy as np

from conftest import make_run  # noqa: F401  (re-exported by tests/reliability/conftest.py)
from plugin_fakes import PREFIX, fake_fit, make_client  # noqa: F401
from test_plugin_jobs import append_epoch  # noqa: F401
from test_plugin_process import alive, children, free_port  # noqa: F401
from tensorboard_dvi import metadata as md

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
ROOT = os.path.dirname(TESTS)


def epoch_dir(run_dir, epoch):
    return os.path.join(os.fspath(run_dir), *md.PLUGIN_DIR, md.EPOCHS_DIR, md.epoch_dir_name(epoch))


def static_dir(run_dir):
    return os.path.join(os.fspath(run_dir), *md.PLUGIN_DIR, md.STATIC_DIR)


def tree_digest(folder):
    """{relative path: (size, sha1)} of every file below ``folder`` (dot-entries included)."""
    import hashlib
    out = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            p = os.path.join(dirpath, name)
            with open(p, "rb") as f:
                out[os.path.relpath(p, folder)] = (os.path.getsize(p), hashlib.sha1(f.read()).hexdigest())
    return out


def dot_entries(run_dir):
    """Temporary / trash folders left in a run's epochs/ and plugin folder."""
    out = []
    for d in (os.path.join(os.fspath(run_dir), *md.PLUGIN_DIR), os.path.join(os.fspath(run_dir), *md.PLUGIN_DIR,
                                                                               md.EPOCHS_DIR)):
        if os.path.isdir(d):
            out += [n for n in os.listdir(d) if n.startswith(".")]
    return out


# --------------------------------------------------------------------------- open() audit

class OpenAudit:
    """Records every path opened by this process (``open``/``os.open``/``os.listdir`` audit events)
    while active. Python audit hooks cannot be removed: one hook, switched on and off."""

    _installed = None

    def __init__(self):
        self.paths = []
        self.active = False
        self._lock = threading.Lock()

    @classmethod
    def get(cls):
        if cls._installed is None:
            cls._installed = cls()
            sys.addaudithook(cls._installed._hook)
        return cls._installed

    def _hook(self, event, args):
        if not self.active or event not in ("open", "os.listdir", "os.scandir", "os.chdir"):
            return
        path = args[0] if args else None
        if isinstance(path, int) or path is None:
            return
        try:
            path = os.fsdecode(path)
        except Exception:
            return
        with self._lock:
            self.paths.append(path)

    def __enter__(self):
        with self._lock:
            self.paths = []
        self.active = True
        return self

    def __exit__(self, *exc):
        self.active = False


# --------------------------------------------------------------------------- real TensorBoard

LAUNCHER = textwrap.dedent('''
    import json, os, sys
    from tensorboard import default, program
    from tensorboard_dvi.plugin.loader import DVILoader

    class RelLoader(DVILoader):
        """The real loader; fit function and its config come from the environment."""
        def load(self, context):
            from tensorboard_dvi.plugin.jobs import JobManager
            from tensorboard_dvi.plugin.plugin import DVIPlugin
            fit = os.environ.get("DVI_REL_FIT", "tensorboard_dvi.engine:fit_run")
            config = json.loads(os.environ.get("DVI_REL_CONFIG", "null"))
            if config is not None and fit.startswith("tensorboard_dvi.engine"):
                from tensorboard_dvi.engine import EngineConfig
                config = EngineConfig(**config)
            jobs = JobManager(fit=fit, config=config, poll_s=0.1,
                              max_workers=int(os.environ.get("DVI_REL_WORKERS", "1")))
            return DVIPlugin(context, jobs=jobs, watch_interval_s=0.5,
                             runs_ttl_s=float(os.environ.get("DVI_REL_RUNS_TTL", "2.0")))

    if __name__ == "__main__":
        tb = program.TensorBoard(plugins=default.get_static_plugins() + [RelLoader()])
        tb.configure(argv=[None] + sys.argv[1:])
        sys.exit(tb.main())
''')


class TB:
    """A real ``tensorboard`` process on 127.0.0.1 (stderr to a file, never a pipe)."""

    def __init__(self, logdir, workdir, *, fit=None, config=None, runs_ttl=2.0, workers=1, wait_runs=True):
        self.workdir = os.fspath(workdir)
        os.makedirs(self.workdir, exist_ok=True)
        launcher = os.path.join(self.workdir, "launch_tb.py")
        with open(launcher, "w") as f:
            f.write(LAUNCHER)
        self.port = free_port()
        self.cache = os.path.join(self.workdir, "cache")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join([TESTS, ROOT, os.environ.get("PYTHONPATH", "")]),
                   TENSORBOARD_DVI_CACHE=self.cache, DVI_REL_CONFIG=json.dumps(config),
                   DVI_REL_RUNS_TTL=str(runs_ttl), DVI_REL_WORKERS=str(workers))
        if fit:
            env["DVI_REL_FIT"] = fit
        self.stderr_path = os.path.join(self.workdir, "tb.stderr")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, launcher, "--logdir", os.fspath(logdir), "--host", "127.0.0.1",
             "--port", str(self.port)], env=env, stdout=subprocess.DEVNULL, stderr=self._err, cwd=self.workdir)
        deadline = time.monotonic() + 90
        while True:
            try:
                runs = self.json("runs")["runs"]
                if runs or not wait_runs:
                    break
            except (urllib.error.URLError, OSError, ValueError):
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                raise AssertionError("TensorBoard did not start: " + self.stderr()[-3000:])
            time.sleep(0.2)

    @property
    def pid(self):
        return self.proc.pid

    def stderr(self):
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def url(self, route, **params):
        q = ("?" + urllib.parse.urlencode(params)) if params else ""
        return f"http://127.0.0.1:{self.port}{PREFIX}{route}{q}"

    def get(self, route, timeout=30.0, method="GET", **params):
        """(status, body) — never raises for HTTP errors."""
        if route == "status" and method == "GET" and params.pop("_open", True):
            method = "POST"  # like the tab: POST status opens the run (lazy fitting)
        url = self.url(route, **params)
        req = urllib.request.Request(url, method=method, headers={"X-DVI-Request": "1"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def json(self, route, **params):
        code, body = self.get(route, **params)
        if code != 200:
            raise ValueError(f"{route} {params}: {code} {body[:200]!r}")
        return json.loads(body)

    def raw(self, path, timeout=10.0):
        """A raw GET with ``path`` sent byte for byte (no client-side normalisation)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.putrequest("GET", path, skip_accept_encoding=True)
            conn.endheaders()
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def workers(self):
        return children(self.pid)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        for p in children(self.proc.pid):
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        self._err.close()


def wait_until(pred, timeout, interval=0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    return None


# --------------------------------------------------------------------------- /proc

def proc_status(pid):
    """{'VmRSS': kB, 'VmHWM': kB, ...} from /proc/<pid>/status."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if v.strip().endswith("kB"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


def all_descendants(pid):
    out, todo = [], [pid]
    while todo:
        kids = children(todo.pop())
        out += kids
        todo += kids
    return out


def sigterm_exit(tb, wait_s=20.0, gone=None):
    """SIGTERM a relkit.TB; (seconds to exit, exited, worker pids still alive 0.5 s later, workers before).
    ``gone`` (a list) receives the seconds until every worker process had ended."""
    workers = all_descendants(tb.pid)
    t0 = time.monotonic()
    tb.proc.send_signal(signal.SIGTERM)
    if gone is not None:  # the fitting workers (not multiprocessing's resource tracker, which ends with TB)
        fitting = [p for p in workers if "spawn_main" in _cmdline(p)]
        while any(alive(p) and not _zombie(p) for p in fitting) and time.monotonic() - t0 < wait_s:
            time.sleep(0.005)
        gone.append(time.monotonic() - t0)
    try:
        tb.proc.wait(timeout=wait_s)
    except subprocess.TimeoutExpired:
        pass
    dt = time.monotonic() - t0
    time.sleep(0.5)
    orphans = [p for p in workers if alive(p)]
    exited = tb.proc.poll() is not None
    tb.kill()
    return dt, exited, orphans, len(workers)


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def percentile(values, q):
    return float(np.percentile(np.asarray(values, dtype=float), q)) if values else float("nan")
