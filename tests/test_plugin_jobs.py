"""Job lifecycle end to end: lazy start, progress, epochs arriving, a new epoch
mid-job, cancel (polite and forced), crash and resume, changed data.

Workers are real spawn processes running the fake fit (tests/plugin_fakes.py);
test_plugin_engine.py runs the same path with the real engine.
"""

import json
import os
import shutil
import time
import uuid

import numpy as np
import pytest

from conftest import make_run
from plugin_fakes import PREFIX, make_client
from tensorboard_dvi import metadata as md
from tensorboard_dvi.plugin.jobs import JobManager


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    root = tmp_path_factory.mktemp("jobs-template")
    make_run(root / "run", epochs=3, seed=0, n_train=200, n_test=50)
    return root / "run"


def append_epoch(run_dir, src_epoch, new_epoch):
    """Publish a new epoch the way the writer does (temporary folder, then rename)."""
    epochs = os.path.join(run_dir, *md.PLUGIN_DIR, md.EPOCHS_DIR)
    tmp = os.path.join(epochs, md.TEMP_PREFIX + uuid.uuid4().hex)
    shutil.copytree(os.path.join(epochs, md.epoch_dir_name(src_epoch)), tmp)
    with open(os.path.join(tmp, md.EPOCH_FILE)) as f:
        info = json.load(f)
    info.update(epoch=new_epoch, uid=uuid.uuid4().hex)
    with open(os.path.join(tmp, md.EPOCH_FILE), "w") as f:
        json.dump(info, f)
    final = os.path.join(epochs, md.epoch_dir_name(new_epoch))
    if os.path.exists(final):
        shutil.rmtree(final)
    os.rename(tmp, final)


@pytest.fixture
def setup(template, tmp_path):
    made = []

    def build(config, grace=5.0, watch=0.2, runs=("run",)):
        logdir = tmp_path / "logs"
        for r in runs:
            shutil.copytree(template, logdir / r)
        jobs = JobManager(fit="plugin_fakes:fake_fit", config=config, cancel_grace_s=grace, poll_s=0.1)
        client, plugin = make_client(logdir, jobs=jobs, cache_root=os.fspath(tmp_path / "cache"),
                                     watch_interval_s=watch)
        made.append(plugin)
        return client, plugin, jobs, logdir

    yield build
    for p in made:
        p.close()


def status(client, run="run"):
    r = client.post(PREFIX + "status", query_string={"run": run})  # the tab's poll: opens the run
    assert r.status_code == 200, r.get_data(as_text=True)
    return json.loads(r.get_data())


def wait_for(pred, timeout=30.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def test_lazy_start_progress_and_epochs_one_by_one(setup):
    client, plugin, jobs, _ = setup({"delay": 0.4})
    runs = json.loads(client.get(PREFIX + "runs").get_data())["runs"]
    assert runs[0]["job"]["state"] == "idle" and runs[0]["fitted"] == []  # listing schedules nothing
    time.sleep(0.3)
    assert jobs.status("run")["state"] == "idle"
    first = status(client)
    assert first["state"] in ("queued", "running") and first["epochs"] == [1, 2, 3]
    seen_fitted, seen_eta, seen_running = set(), False, False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        s = status(client)
        seen_fitted.add(tuple(s["fitted"]))
        if s["state"] == "running":
            seen_running = True
            assert s["stage"] is not None and s["epochs_total"] == 3
            seen_eta |= s["eta_s"] is not None and s["eta_s"] >= 0
        if s["state"] == "done":
            break
        time.sleep(0.05)
    assert s["state"] == "done" and s["fitted"] == [1, 2, 3] and s["error"] is None
    assert seen_running and seen_eta
    assert {(1,), (1, 2)} & seen_fitted, seen_fitted  # epochs became available one by one
    r = client.get(PREFIX + "projection", query_string={"run": "run", "epoch": 3})
    assert r.status_code == 200
    assert len(jobs.worker_pids()) == 1


def test_new_epoch_mid_job_and_after(setup):
    client, plugin, jobs, logdir = setup({"delay": 0.5})
    status(client)
    wait_for(lambda: jobs.status("run")["state"] == "running")
    append_epoch(logdir / "run", 3, 4)  # appears while the job runs
    wait_for(lambda: status(client)["fitted"] == [1, 2, 3, 4], timeout=60)
    wait_for(lambda: jobs.status("run")["state"] == "done")
    # Training goes on while TensorBoard runs: the watcher picks the epoch up, no request needed.
    append_epoch(logdir / "run", 3, 5)
    wait_for(lambda: jobs.status("run")["state"] == "running" or 5 in plugin.runs.fitted(
        plugin.runs.known("run"), plugin.runs.scan(plugin.runs.known("run"))[1]), timeout=10)
    wait_for(lambda: status(client)["fitted"] == [1, 2, 3, 4, 5], timeout=60)


def test_cancel_then_restart(setup):
    client, plugin, jobs, _ = setup({"delay": 1.0})
    status(client)
    wait_for(lambda: jobs.status("run")["state"] == "running")
    r = client.post(PREFIX + "cancel", query_string={"run": "run"})
    assert r.status_code == 202
    wait_for(lambda: jobs.status("run")["state"] == "cancelled", timeout=5)
    pid = jobs.worker_pids()
    # A cancelled run is not restarted by polling or by the watcher.
    for _ in range(5):
        assert status(client)["state"] == "cancelled"
        time.sleep(0.1)
    r = client.post(PREFIX + "fit", query_string={"run": "run"})
    assert r.status_code == 202 and json.loads(r.get_data())["state"] in ("queued", "running")
    wait_for(lambda: status(client)["state"] == "done", timeout=60)
    assert status(client)["fitted"] == [1, 2, 3]
    assert jobs.worker_pids() == pid  # the polite cancel kept the worker (and its warm JIT)


def test_cancel_of_a_stubborn_worker_terminates_it(setup):
    client, plugin, jobs, _ = setup({"delay": 30.0, "ignore_stop": True}, grace=0.5)
    status(client)
    wait_for(lambda: jobs.status("run")["state"] == "running")
    wait_for(lambda: jobs.worker_pids())
    pid = jobs.worker_pids()[0]
    t0 = time.monotonic()
    client.post(PREFIX + "cancel", query_string={"run": "run"})
    wait_for(lambda: jobs.status("run")["state"] == "cancelled", timeout=10)
    assert time.monotonic() - t0 < 5
    wait_for(lambda: not _alive(pid), timeout=5)


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_crash_becomes_error_then_resumes(setup, tmp_path):
    flag = tmp_path / "crash"
    flag.write_text("1")
    marker = tmp_path / "marker"
    client, plugin, jobs, _ = setup({"crash_at": 2, "crash_flag": os.fspath(flag), "marker": os.fspath(marker)})
    status(client)
    s = wait_for(lambda: (lambda s: s if s["state"] == "error" else None)(status(client)), timeout=60)
    assert "worker process died" in s["error"] and "SIGKILL" in s["error"]
    assert s["fitted"] == [1]
    # The server stays up and serves what was finished.
    assert client.get(PREFIX + "projection", query_string={"run": "run", "epoch": 1}).status_code == 200
    # The same input failed: polling does not loop on it.
    time.sleep(0.5)
    assert status(client)["state"] == "error"
    flag.unlink()
    client.post(PREFIX + "fit", query_string={"run": "run"})
    wait_for(lambda: status(client)["state"] == "done", timeout=60)
    assert status(client)["fitted"] == [1, 2, 3]
    lines = marker.read_text().splitlines()
    assert len(lines) == 2 and lines[0].split()[0] != lines[1].split()[0]  # a fresh worker resumed


def test_engine_exception_is_an_error_status(setup):
    client, plugin, jobs, _ = setup({"raise_at": 2})
    status(client)
    s = wait_for(lambda: (lambda s: s if s["state"] == "error" else None)(status(client)), timeout=60)
    assert s["error"] == "RuntimeError: boom at epoch 2"
    assert s["fitted"] == [1]
    assert client.get(PREFIX + "runs").status_code == 200


def test_changed_epoch_invalidates_it_and_later_ones(setup):
    client, plugin, jobs, logdir = setup({"delay": 0.0})
    status(client)
    wait_for(lambda: status(client)["fitted"] == [1, 2, 3], timeout=60)
    before = client.get(PREFIX + "projection", query_string={"run": "run", "epoch": 3}).get_data()
    plugin.close()  # no watcher: look at the invalidation itself
    append_epoch(logdir / "run", 1, 2)  # epoch 2 re-logged with new data
    client2, plugin2 = make_client(logdir, jobs=JobManager(fit="plugin_fakes:fake_fit"),
                                   cache_root=os.fspath(logdir.parent / "cache"), autofit=False, watch_interval_s=0)
    try:
        runs = json.loads(client2.get(PREFIX + "runs").get_data())["runs"]
        assert runs[0]["fitted"] == [1]
        r = client2.get(PREFIX + "projection", query_string={"run": "run", "epoch": 3})
        assert r.status_code == 404 and "not fitted" in r.get_data(as_text=True)
        assert before
    finally:
        plugin2.close()


def test_at_most_one_job_per_run_and_bounded_workers(setup, tmp_path):
    marker = tmp_path / "marker"
    client, plugin, jobs, _ = setup({"delay": 0.3, "marker": os.fspath(marker)}, runs=("a", "b"))
    for _ in range(5):
        status(client, "a")
        status(client, "b")
    assert jobs.status("b")["state"] == "queued"  # one worker: b waits for a
    wait_for(lambda: status(client, "a")["state"] == "done" and status(client, "b")["state"] == "done", timeout=60)
    assert len(marker.read_text().splitlines()) == 2
    assert len(set(line.split()[0] for line in marker.read_text().splitlines())) == 1  # same worker reused


def test_shutdown_leaves_no_workers(template, tmp_path):
    logdir = tmp_path / "logs"
    shutil.copytree(template, logdir / "run")
    jobs = JobManager(fit="plugin_fakes:fake_fit", config={"delay": 30.0, "ignore_stop": True})
    client, plugin = make_client(logdir, jobs=jobs, cache_root=os.fspath(tmp_path / "cache"))
    status(client)
    pids = wait_for(lambda: jobs.worker_pids())
    wait_for(lambda: jobs.status("run")["state"] == "running")
    t0 = time.monotonic()
    plugin.close(timeout=1.0)
    assert time.monotonic() - t0 < 2.0
    assert not any(_alive(p) for p in pids)


def test_eta_from_measured_epoch_times():
    now = [100.0]
    jobs = JobManager(fit="plugin_fakes:fake_fit", clock=lambda: now[0])
    try:
        from tensorboard_dvi.plugin.jobs import Job
        job = Job("r")
        job.state, job.started_at, job.epochs_total = "running", 100.0, 10
        job.done_times = [110.0, 114.0, 118.0]  # first epoch pays the start-up
        job.epochs_done = 3
        now[0] = 119.0
        assert job.raw_eta(now[0]) == pytest.approx(4.0 * 7 - 1.0)
        job.update_eta(now[0])
        assert job.eta_s == pytest.approx(4.0 * 7 - 1.0)  # the first estimate is the raw one
        assert job.s_per_epoch == pytest.approx(4.0) and job.snapshot()["s_per_epoch"] == pytest.approx(4.0)
        job.fraction = 0.35  # halfway through the 4th epoch
        assert job.raw_eta(now[0]) == pytest.approx(4.0 * 6.5)
    finally:
        jobs.shutdown()


def test_eta_counts_down_and_does_not_jump_up():
    """Issue 15: "36 min left" became "49 min" within 25 s while a stage reported no progress.
    The shown estimate counts down between reports, rises only a quarter of the way to a higher
    raw estimate, and falls half-way to a lower one."""
    from tensorboard_dvi.plugin.job import Job
    job = Job("r")
    job.state, job.started_at, job.epochs_total, job.fraction = "running", 0.0, 8, 0.05
    job.update_eta(100.0)
    first = job.raw_eta(100.0)
    assert job.eta_s == pytest.approx(first, abs=0.1)  # 100 / 0.05 * 0.95 = 1900 s
    # 25 s without progress: the raw estimate grows (elapsed grows, fraction does not) ...
    raw_later = job.raw_eta(125.0)
    assert raw_later > first + 400
    job.update_eta(125.0)
    # ... the shown one counts down from where it was and moves up only a quarter of the way
    predicted = first - 25.0
    assert job.eta_s == pytest.approx(predicted + 0.25 * (raw_later - predicted), abs=0.1)
    assert job.eta_s < first + 0.3 * (raw_later - first)
    shown = []
    for t in range(130, 400, 5):  # a long stall: the shown estimate never jumps by more than a quarter step
        prev = job.eta_s
        job.update_eta(float(t))
        shown.append(job.eta_s - prev)
    assert max(shown) <= 0.25 * (job.raw_eta(395.0) - 0) + 1
    # progress arrives and the rate is better than feared: it falls half-way each report
    job.fraction, before = 0.6, job.eta_s
    job.update_eta(400.0)
    assert job.eta_s == pytest.approx(max(before - 5.0, 0) + 0.5 * (job.raw_eta(400.0) - max(before - 5.0, 0)), abs=0.1)
