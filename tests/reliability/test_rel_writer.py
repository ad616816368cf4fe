"""The writer under faults, step by step (fast).

Every filesystem step of writing an epoch (mkdtemp, each open, write, fsync, chmod, rename)
is counted through proxies of the ``os``/``tempfile``/``open`` names that storage.py uses.
Then, for every step k:

* an OSError (ENOSPC, EACCES, EROFS in turn) at step k, through the real DVIWriter, for a new
  epoch and for replacing an existing one: a StorageError naming the folder and the reason,
  every earlier epoch byte-identical, no temporary folder left, and the next write works;
* a SIGKILL at step k, in a forked child writing the epoch (new and replace): the epoch is
  afterwards absent or whole (new epoch), old or new and whole (replace) — never missing,
  never partial.

The random-timing SIGKILL test against real writer processes is in test_rel_long.py.
"""

import errno
import json
import os
import shutil
import signal
import tempfile

import numpy as np
import pytest
import torch

from relkit import dot_entries, epoch_dir, tree_digest
from tensorboard_dvi import DVIWriter
from tensorboard_dvi import metadata as md
from tensorboard_dvi import storage


class Steps:
    def __init__(self, fail_at=None, action=None):
        self.n, self.fail_at, self.action, self.log = 0, fail_at, action, []

    def hit(self, what):
        self.n += 1
        self.log.append(what)
        if self.n == self.fail_at:
            self.action(what)


class _File:
    """A file whose first write is a step (a fault there leaves an empty or partial file)."""

    def __init__(self, f, steps):
        self._f, self._s, self._written = f, steps, False

    def write(self, data):
        if not self._written:
            self._written = True
            self._s.hit("write")
        return self._f.write(data)

    def __getattr__(self, name):
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()


class _Os:
    def __init__(self, steps):
        self._s = steps

    def __getattr__(self, name):
        return getattr(os, name)

    def _wrap(name):  # noqa: N805
        def f(self, *a, **k):
            self._s.hit(name)
            return getattr(os, name)(*a, **k)
        return f

    fsync, chmod, rename, makedirs, replace = \
        _wrap("fsync"), _wrap("chmod"), _wrap("rename"), _wrap("makedirs"), _wrap("replace")


class _Tempfile:
    def __init__(self, steps):
        self._s = steps

    def __getattr__(self, name):
        return getattr(tempfile, name)

    def mkdtemp(self, *a, **k):
        self._s.hit("mkdtemp")
        return tempfile.mkdtemp(*a, **k)


def instrument(monkeypatch, steps):
    monkeypatch.setattr(storage, "os", _Os(steps))
    monkeypatch.setattr(storage, "tempfile", _Tempfile(steps))

    def counted_open(path, mode="r", *a, **k):
        steps.hit("open")
        return _File(open(path, mode, *a, **k), steps)

    monkeypatch.setattr(storage, "open", counted_open, raising=False)
    for name in ("_exchange",):  # an atomic-swap helper, if storage has one
        if hasattr(storage, name):
            real = getattr(storage, name)

            def wrapped(*a, _real=real, _name=name, **k):
                steps.hit(_name)
                return _real(*a, **k)
            monkeypatch.setattr(storage, name, wrapped)


def _writer(run, on_exists="error"):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 24), torch.nn.ReLU(), torch.nn.Linear(24, 3))
    g = torch.Generator().manual_seed(1)
    return DVIWriter(os.fspath(run), model, torch.randn(120, 6, generator=g), torch.randint(0, 3, (120,), generator=g),
                     border_points=0, on_exists=on_exists), model


def _epochs_dir(run):
    return os.path.join(os.fspath(run), *md.PLUGIN_DIR, md.EPOCHS_DIR)


@pytest.fixture
def tmp_path(tmp_path):
    """On tmpfs where there is one: hundreds of fsyncs cost nothing there."""
    if not os.path.isdir("/dev/shm") or not os.access("/dev/shm", os.W_OK):
        yield tmp_path
        return
    d = tempfile.mkdtemp(prefix="dvi-rel-", dir="/dev/shm")
    try:
        from pathlib import Path
        yield Path(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def base_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("wbase") / "run"
    w, model = _writer(run)
    w.log_epoch(1)
    w.close()
    return run


def _no_exchange(m):
    """The portable path: no renameat2 (other systems, filesystems without RENAME_EXCHANGE)."""
    m.setattr(storage, "_exchange", lambda a, b: False)


def _count_steps(base_run, tmp_path, monkeypatch, mode):
    replace = mode != "new"
    run = tmp_path / f"count-{mode}"
    shutil.copytree(base_run, run)
    w, model = _writer(run, "replace" if replace else "error")
    steps = Steps()
    with monkeypatch.context() as m:
        if mode == "replace-fallback":
            _no_exchange(m)
        instrument(m, steps)
        w.log_epoch(1 if replace else 2)
    w.close()
    return steps.log


ERRNOS = (errno.ENOSPC, errno.EACCES, errno.EROFS)
REASON = {errno.ENOSPC: "no space left on device", errno.EACCES: os.strerror(errno.EACCES),
          errno.EROFS: os.strerror(errno.EROFS)}


def test_oserror_at_every_write_step(base_run, tmp_path, monkeypatch, report):
    results = {"new": [], "replace": [], "replace-fallback": []}
    problems = []
    n_steps = {}
    harmless = 0
    for mode in results:
        log = _count_steps(base_run, tmp_path, monkeypatch, mode)
        n_steps[mode] = len(log)
        for k in range(1, len(log) + 1):
            err = ERRNOS[k % 3]
            run = tmp_path / f"{mode}-{k}"
            shutil.copytree(base_run, run)
            before = tree_digest(_epochs_dir(run))
            before_uid = storage.RunReader(os.fspath(run)).epoch(1).uid
            w, _ = _writer(run, "error" if mode == "new" else "replace")
            w._static_written = True

            def fail(what, _err=err):
                raise OSError(_err, os.strerror(_err))

            steps = Steps(k, fail)
            raised = None
            with monkeypatch.context() as m:
                if mode == "replace-fallback":
                    _no_exchange(m)
                instrument(m, steps)
                try:
                    w.log_epoch(2 if mode == "new" else 1)
                except Exception as e:  # noqa: BLE001 - classified below
                    raised = e
            after = tree_digest(_epochs_dir(run))
            r = storage.RunReader(os.fspath(run))
            msg = str(raised)
            names_folder = ("could not write" in msg and md.epoch_dir_name(2 if mode == "new" else 1) in msg) \
                or ("cannot create" in msg and _epochs_dir(run) in msg)
            ok_exc = isinstance(raised, storage.StorageError) and names_folder and REASON[err] in msg
            intact = after == before and r.epochs() == [1] and r.damaged() == {} and not dot_entries(run)
            if raised is None:  # a fault that does not matter (the directory fsync after the rename)
                harmless += 1
                ok_exc = True
                intact = r.epochs() == [1, 2] if mode == "new" else r.epoch(1).uid != json.loads(
                    json.dumps(before_uid))
                intact = intact and r.damaged() == {} and not dot_entries(run)
            if not (ok_exc and intact):
                problems.append((mode, k, log[k - 1], os.strerror(err), repr(raised)[:120],
                                 "intact" if intact else f"epochs {r.epochs()} dot {dot_entries(run)}"))
            # The next write works.
            w.on_exists = "replace"
            w.log_epoch(2 if mode == "new" else 1)
            w.close()
            if storage.RunReader(os.fspath(run)).epochs() != ([1, 2] if mode == "new" else [1]):
                problems.append((mode, k, "next write failed"))
            results[mode].append(ok_exc and intact)
            shutil.rmtree(run)
    n = sum(len(v) for v in results.values())
    report("writer", "OSError (ENOSPC/EACCES/EROFS in turn) at every filesystem step of log_epoch: new epoch, "
                     "replace, replace without renameat2", n, not problems,
           f"{n_steps['new']} + {n_steps['replace']} + {n_steps['replace-fallback']} steps; {n - len(problems)}/{n} "
           f"held: {n - harmless - len(problems)} StorageErrors naming folder and reason, earlier epochs "
           f"byte-identical, no temp folder left; {harmless} faults in a directory fsync were harmless (epoch "
           f"written whole)")
    assert not problems, problems[:10]


def _child_write(run, epoch, arrays, info, extra, replace, kill_at):
    """In a forked child: write an epoch, SIGKILL ourselves at step ``kill_at``."""
    pid = os.fork()
    if pid == 0:  # child: numpy and file I/O only
        try:
            steps = Steps(kill_at, lambda what: os.kill(os.getpid(), signal.SIGKILL))

            class M:
                def setattr(self, obj, name, value, raising=True):
                    setattr(obj, name, value)
            instrument(M(), steps)
            storage.write_folder(_epochs_dir(run), md.epoch_dir_name(epoch), arrays, {md.EPOCH_FILE: info},
                                 replace=replace, extra_files=extra)
        finally:
            os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_sigkill_at_every_write_step(base_run, tmp_path, report):
    src = epoch_dir(base_run, 1)
    arrays = {f: np.load(os.path.join(src, f)) for f in (md.REPRESENTATIONS_FILE, md.LOGITS_FILE,
                                                         md.PREDICTIONS_FILE, md.BORDER_FILE)}
    arrays[md.REPRESENTATIONS_FILE] = arrays[md.REPRESENTATIONS_FILE] + 1.0  # distinguishable from the old one
    with open(os.path.join(src, md.EPOCH_FILE)) as f:
        info = json.load(f)
    extra = {}
    for name in (md.HEAD_SPEC_FILE, md.HEAD_WEIGHTS_FILE):
        with open(os.path.join(src, name), "rb") as f:
            extra[name] = f.read()
    old_reps = np.load(os.path.join(src, md.REPRESENTATIONS_FILE))
    problems, killed, outcomes = [], 0, {"absent": 0, "old": 0, "new": 0}
    for mode in ("new", "replace"):
        epoch = 2 if mode == "new" else 1
        k = 0
        while True:
            k += 1
            run = tmp_path / f"kill-{mode}-{k}"
            shutil.copytree(base_run, run)
            info_e = dict(info, epoch=epoch, uid=f"new-{k}")
            was_killed = _child_write(run, epoch, arrays, info_e, extra, mode == "replace", k)
            r = storage.RunReader(os.fspath(run))
            visible = r.epochs()
            damaged = r.damaged()
            if damaged:
                problems.append((mode, k, "damaged", damaged))
            if epoch in visible and epoch not in damaged:
                reps = r.epoch(epoch).representations
                state = "new" if np.array_equal(reps, arrays[md.REPRESENTATIONS_FILE]) else \
                    "old" if np.array_equal(reps, old_reps) else "other"
            else:
                state = "absent"
            if mode == "replace" and state not in ("old", "new"):
                problems.append((mode, k, f"epoch 1 {state} after the kill", sorted(os.listdir(_epochs_dir(run)))))
            if mode == "new" and (state not in ("absent", "new") or 1 not in visible):
                problems.append((mode, k, f"epoch 2 {state}, visible {visible}"))
            outcomes[state] = outcomes.get(state, 0) + 1
            shutil.rmtree(run)
            if not was_killed:
                break  # the write finished before step k: every step has been covered
            killed += 1
    report("writer", "SIGKILL at every filesystem step of an epoch write (forked writer), new epoch and replace",
           killed, not problems,
           f"{killed} kills; afterwards absent {outcomes['absent']}, old {outcomes['old']}, new {outcomes['new']}; "
           f"{len(problems)} missing/partial/damaged")
    assert not problems, problems[:10]


def test_real_full_and_read_only_filesystem(tmp_path_factory, report):
    """A real 4 MiB tmpfs: filled to 12 levels so ENOSPC hits different files; then remounted read-only."""
    import subprocess
    mnt = tmp_path_factory.mktemp("fs") / "mnt"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", os.fspath(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    problems, outcomes = [], {"StorageError": 0, "written": 0}
    try:
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 2000), torch.nn.ReLU(), torch.nn.Linear(2000, 3))
        x, y = torch.randn(120, 6), torch.randint(0, 3, (120,))
        run = mnt / "run"
        w = DVIWriter(os.fspath(run), model, x, y, border_points=0, on_exists="replace")
        w.log_epoch(1)  # ~1 MB
        before = tree_digest(_epochs_dir(run))
        epoch_bytes = sum(size for size, _ in before.values())
        levels = np.linspace(0, epoch_bytes * 1.05, 12).astype(int)
        for i, free in enumerate(levels):
            st = os.statvfs(mnt)
            ballast = max(st.f_bavail * st.f_frsize - int(free), 0)
            with open(mnt / "ballast", "wb") as f:
                f.truncate(0)
                f.write(b"\0" * ballast)
            for epoch in (1, 2):  # replace the existing epoch, add a new one
                try:
                    w.log_epoch(epoch)
                    outcomes["written"] += 1
                except storage.StorageError as e:
                    outcomes["StorageError"] += 1
                    if "no space left on device" not in str(e):
                        problems.append((int(free), epoch, str(e)))
                except Exception as e:  # noqa: BLE001
                    problems.append((int(free), epoch, repr(e)))
                r = storage.RunReader(os.fspath(run))
                if r.damaged() or 1 not in r.epochs() or dot_entries(run):
                    problems.append((int(free), epoch, "damaged or lost", r.damaged(), dot_entries(run)))
            os.remove(mnt / "ballast")
        # Read-only: the whole filesystem remounted ro.
        assert subprocess.run(["mount", "-o", "remount,ro", os.fspath(mnt)], capture_output=True).returncode == 0
        snapshot = tree_digest(_epochs_dir(run))
        for epoch in (1, 3):
            try:
                w.log_epoch(epoch)
                problems.append(("ro", epoch, "no error"))
            except storage.StorageError as e:
                outcomes["StorageError"] += 1
                if os.strerror(errno.EROFS) not in str(e):
                    problems.append(("ro", epoch, str(e)))
        if tree_digest(_epochs_dir(run)) != snapshot or storage.RunReader(os.fspath(run)).damaged():
            problems.append(("ro", "changed"))
        w.close()
    finally:
        subprocess.run(["umount", "-l", os.fspath(mnt)], capture_output=True)
    report("writer", "real disk full (4 MiB tmpfs at 12 fill levels, replace + new) and a read-only remount", 26,
           not problems, f"{outcomes['StorageError']} StorageErrors ('no space left on device' / 'Read-only file "
                         f"system'), {outcomes['written']} writes fitted; 0 epochs lost or damaged" if not problems
           else f"{len(problems)} problems")
    assert not problems, problems[:5]
