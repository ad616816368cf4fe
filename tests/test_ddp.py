"""Distributed training does not hang: 2-process gloo DDP with BatchNorm, writer and Lightning callback.

Each case runs a script in its own process group; a hang becomes a failure after TIMEOUT
seconds (the group is killed). Measured on the loaded 2-core dev machine: ~19 s (writer)
and ~15 s (Lightning), so the limit leaves room without letting a hang stall CI for long.
"""

import os
import signal
import subprocess
import sys

import pytest

from tensorboard_dvi import storage

HERE = os.path.dirname(os.path.abspath(__file__))
TIMEOUT = 150


def _run(args, cwd, port):
    env = dict(os.environ, DVI_TEST_PORT=str(port), OMP_NUM_THREADS="1",
               PYTHONPATH=os.pathsep.join([os.path.dirname(HERE), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, *args], cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"hung for {TIMEOUT} s (a logging pass entered a collective?):\n{out[-3000:]}")
    assert proc.returncode == 0, out[-3000:]
    return out


def test_writer_on_a_ddp_model_with_batchnorm(tmp_path):
    out = _run([os.path.join(HERE, "ddp_scripts", "writer_ddp.py"), str(tmp_path / "run"), "4"], tmp_path, 29533)
    assert "rank 0 done" in out and "rank 1 done" in out, out[-3000:]
    r = storage.RunReader(str(tmp_path / "run"))
    assert r.epochs() == [1, 2, 3, 4]
    assert r.epoch(4).representations.shape == (64, 16)


def test_lightning_callback_with_strategy_ddp(tmp_path):
    pytest.importorskip("lightning.pytorch")
    _run([os.path.join(HERE, "ddp_scripts", "lightning_ddp.py"), str(tmp_path)], tmp_path, 29534)
    assert storage.list_runs(str(tmp_path)) == ["lit/version_0"]
    assert storage.RunReader(str(tmp_path / "lit" / "version_0")).epochs() == [1, 2, 3, 4]


def test_fsdp_is_refused_with_what_to_do(tmp_path):
    out = _run([os.path.join(HERE, "ddp_scripts", "fsdp_refused.py")], tmp_path, 29535)
    assert "refused: FSDP-sharded models cannot be logged from rank 0 alone" in out
    assert "unsharded copy" in out and not (tmp_path / "unused_run").exists()
