"""A real TensorBoard process: the loader's import cost, exit within 2 s of SIGTERM while
a worker is fitting, and no orphan worker when TensorBoard is SIGKILLed."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import pytest

from conftest import make_run

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

LAUNCHER = textwrap.dedent('''
    import sys
    from tensorboard import default, program
    from tensorboard_dvi.plugin.loader import DVILoader

    class SlowLoader(DVILoader):
        """The real loader, with a fit that never finishes and ignores cancel."""
        def load(self, context):
            from tensorboard_dvi.plugin.jobs import JobManager
            from tensorboard_dvi.plugin.plugin import DVIPlugin
            jobs = JobManager(fit="plugin_fakes:fake_fit", config={"delay": 600, "ignore_stop": True})
            return DVIPlugin(context, jobs=jobs, watch_interval_s=0.2)

    if __name__ == "__main__":
        tb = program.TensorBoard(plugins=default.get_static_plugins() + [SlowLoader()])
        tb.configure(argv=[None] + sys.argv[1:])
        sys.exit(tb.main())
''')


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(name))
    return out


def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def get(port, route, timeout=2.0):
    """GET, except ``status`` which is POSTed like the tab does (it opens the run: lazy fitting)."""
    method = "POST" if route.startswith("status") else "GET"
    req = urllib.request.Request(f"http://127.0.0.1:{port}/data/plugin/dvi/{route}", method=method,
                                 headers={"X-DVI-Request": "1"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def logdir(tmp_path_factory):
    d = tmp_path_factory.mktemp("proc") / "logs"
    make_run(d / "run", epochs=2, seed=0, n_train=100, n_test=20)
    return d


def start(logdir, tmp_path, cmd):
    port = free_port()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, ROOT, os.environ.get("PYTHONPATH", "")]),
               TENSORBOARD_DVI_CACHE=os.fspath(tmp_path / "cache"))
    proc = subprocess.Popen(cmd + ["--logdir", os.fspath(logdir), "--host", "127.0.0.1", "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=os.fspath(tmp_path))
    deadline = time.monotonic() + 60
    while True:
        try:
            runs = get(port, "runs")["runs"]
            if runs:
                return proc, port
        except (urllib.error.URLError, OSError, ValueError):
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("TensorBoard did not start: " + proc.stderr.read().decode()[-2000:])
        time.sleep(0.2)


def start_fitting(proc, port):
    get(port, "status?run=run")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if get(port, "status?run=run")["state"] == "running" and children(proc.pid):
            return children(proc.pid)
        time.sleep(0.1)
    raise AssertionError("no worker started")


@pytest.fixture
def launcher(tmp_path):
    path = tmp_path / "launch_tb.py"
    path.write_text(LAUNCHER)
    return [sys.executable, os.fspath(path)]


def test_sigterm_exits_within_2s_while_fitting(logdir, tmp_path, launcher):
    proc, port = start(logdir, tmp_path, launcher)
    try:
        workers = start_fitting(proc, port)
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        elapsed = time.monotonic() - t0
        print(f"exit after SIGTERM: {elapsed:.2f} s")
        assert elapsed < 2.0, elapsed
        time.sleep(0.2)
        assert not any(alive(p) for p in workers)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigkill_of_tensorboard_leaves_no_orphan(logdir, tmp_path, launcher):
    proc, port = start(logdir, tmp_path, launcher)
    try:
        workers = start_fitting(proc, port)
        proc.kill()
        proc.wait(timeout=5)
        deadline = time.monotonic() + 3
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(alive(p) for p in workers)
    finally:
        if proc.poll() is None:
            proc.kill()
        for p in children(proc.pid):
            os.kill(p, signal.SIGKILL)


def test_real_tensorboard_command_loads_the_plugin(logdir, tmp_path):
    exe = shutil.which("tensorboard", path=os.path.dirname(sys.executable))
    if exe is None:
        pytest.skip("the tensorboard command is not installed next to this python")
    # Copy so that the real engine's fit does not touch the module's logdir cache.
    proc, port = start(logdir, tmp_path, [exe])
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/plugins_listing", timeout=5) as r:
            listing = json.loads(r.read())
        assert "dvi" in listing and listing["dvi"]["tab_name"] == "DVI"
        s = get(port, "status?run=run")
        assert s["state"] in ("queued", "running", "done")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
        assert time.monotonic() - t0 < 2.0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_loader_is_import_light():
    code = ("import sys, time; t=time.perf_counter(); import tensorboard_dvi.plugin.loader as l; "
            "dt=time.perf_counter()-t; bad=[m for m in ('torch','numpy','numba','tensorboard_dvi.engine') "
            "if m in sys.modules]; print(dt, bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    dt, bad = out.stdout.split(" ", 1)
    assert bad.strip() == "[]", out.stdout


def test_flags():
    import argparse

    from tensorboard.plugins import base_plugin

    from tensorboard_dvi.plugin.loader import DVILoader

    parser = argparse.ArgumentParser()
    DVILoader().define_flags(parser)
    flags = parser.parse_args(["--dvi_cache_dir", "/tmp/x", "--dvi_device", "cuda:1", "--dvi_workers", "2"])
    assert (flags.dvi_cache_dir, flags.dvi_device, flags.dvi_workers) == ("/tmp/x", "cuda:1", 2)
    DVILoader().fix_flags(flags)
    defaults = parser.parse_args([])
    assert (defaults.dvi_cache_dir, defaults.dvi_device, defaults.dvi_workers) == ("", "cpu", 1)
    for bad in (["--dvi_workers", "0"], ["--dvi_device", "gpu; rm -rf"]):
        with pytest.raises(base_plugin.FlagsError):
            DVILoader().fix_flags(parser.parse_args(bad))
