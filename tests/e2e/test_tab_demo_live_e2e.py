"""Issue 15's fixes that need a live server, on runs written by the demo's code path
(demo/train_mnist.py `train_run`, real MNIST, the real DVIWriter) and a real `tensorboard` (the
fake-backend versions are in test_tab_fixes_fake.py and test_tab_progress_fake.py):

- a run opened unfitted is fitted by TensorBoard's worker: the progress bar says what the machine
  does and "k of N epochs ready" with N the run's logged epochs, also after Cancel and Resume
  (issue 15: "1 of 7 epochs ready" on an 8-epoch run), with the measured time per epoch;
- TensorBoard stops: the tab says the server is unreachable, and when a server answers again on
  the same address it recovers without a reload.

Run: pytest -m e2e tests/e2e/test_tab_demo_live_e2e.py
"""

import re

import pytest

from harness import checked_page, plugin_frame, precompute_cache, tensorboard, wait_ready
from test_compare_e2e import demo_modules
from test_compare_e2e import pytestmark  # noqa: F401 (marks)
from test_compare_fitted_e2e import chromium  # noqa: F401 (the module's browser fixture)

EPOCHS = 4
RUN = dict(epochs=EPOCHS, train_size=2000, n_logged_train=500, n_logged_test=100)


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    """(logdir, cache): `clean` fitted beforehand, `fresh` (20 % noisy labels) left to the tab."""
    import torch

    mnist_data, train_mnist = demo_modules()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("dvi-live")
    logdir, cache = root / "logs", root / "cache"
    cache.mkdir()
    data = mnist_data.load()
    train_mnist.train_run("clean", str(logdir), data, seed=0, noise=0.0, **RUN)
    train_mnist.train_run("fresh", str(logdir), data, seed=0, noise=0.2, **RUN)
    precompute_cache(str(logdir), str(cache), ["clean"])
    return logdir, cache


def _progress(f):
    return f.locator(".dvi-progress").inner_text()


def test_progress_counts_the_runs_epochs_after_cancel_and_resume(chromium, dirs):  # noqa: F811
    logdir, cache = dirs
    with tensorboard(logdir, cache) as base, checked_page(chromium, {"width": 1300, "height": 850}) as page:
        page.goto(base + "#dvi&dvi.run=fresh")
        f = plugin_frame(page)
        f.wait_for_function("() => window.__dvi && window.__dvi.job && ['queued', 'running'].includes(window.__dvi.job.state)")
        # what the machine is doing, and how many of the run's epochs are ready
        f.locator(".dvi-progress-text").wait_for()
        assert re.search(rf"Fitting the visualizer · .+ · 0 of {EPOCHS} epochs ready", _progress(f)), _progress(f)
        f.wait_for_function("() => window.__dvi.fitted.length >= 1 && window.__dvi.job.state === 'running'")
        f.get_by_role("button", name="Cancel").click()
        f.wait_for_function("() => window.__dvi.job.state === 'cancelled'")
        k = f.evaluate("() => window.__dvi.fitted.length")
        assert 1 <= k < EPOCHS and f"{k} of {EPOCHS} epochs are ready" in _progress(f), (k, _progress(f))
        f.get_by_role("button", name="Resume").click()
        # the resumed job fits only the rest (its epochs_total); the bar still counts the run's epochs
        f.wait_for_function(f"() => window.__dvi.job.state === 'done' || (window.__dvi.job.state === 'running'"
                            f" && window.__dvi.job.epochs_total < {EPOCHS} && !!document.querySelector('.dvi-progress-text'))")
        text, done, state = f.evaluate("() => [document.querySelector('.dvi-progress').innerText, window.__dvi.fitted.length,"
                                       " window.__dvi.job.state]")
        if state == "running":  # (a fast machine may finish the rest before the check)
            m = re.search(rf"(\d+) of {EPOCHS} epochs ready", text)
            assert m and int(m.group(1)) in (done, done + 1), (text, done)
        f.wait_for_function("() => window.__dvi.job.state === 'done'")
        assert f.evaluate("() => window.__dvi.fitted.length") == EPOCHS


def test_server_gone_is_shown_and_the_tab_recovers_when_it_is_back(chromium, dirs):  # noqa: F811
    logdir, cache = dirs
    with checked_page(chromium, {"width": 1300, "height": 850}) as page:
        with tensorboard(logdir, cache) as base:
            port = int(base.rstrip("/").rsplit(":", 1)[1])
            page.goto(base + "#dvi&dvi.run=clean&dvi.epoch=1")
            f = plugin_frame(page)
            wait_ready(f, 1)
        # TensorBoard is gone: the next request (an epoch not loaded yet) finds no server
        f.evaluate("() => window.__dvi.store.set({ epoch: 3 })")
        banner = f.locator(".dvi-banner[data-key=server]")
        banner.wait_for(state="visible")
        assert "Server unreachable" in banner.inner_text()
        assert f.evaluate("() => document.querySelector('.dvi-root').dataset.server") == "unreachable"
        with tensorboard(logdir, cache, port=port):
            banner.wait_for(state="detached")
            wait_ready(f, 3)
            assert f.locator(".dvi-banner.error").count() == 0
        # failed requests while the server was away are console errors of the browser, not the tab's
        page.dvi_errors[:] = [e for e in page.dvi_errors if "Failed to load resource" not in e]
