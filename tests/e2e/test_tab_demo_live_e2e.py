"""Issue 15's fixes that need a live server, on runs written by the demo's code path
(demo/train_mnist.py `train_run`, real MNIST, the real DVIWriter) and a real `tensorboard` (the
fake-backend versions are in test_tab_fixes_fake.py and test_tab_progress_fake.py):

- a run opened unfitted is fitted by TensorBoard's worker: the progress bar says what the machine
  does and "k of N epochs ready" with N the run's logged epochs, also after Cancel and Resume
  (issue 15: "1 of 7 epochs ready" on an 8-epoch run), with the measured time per epoch;
- "Compare runs" with a run still being fitted: before its first epoch the pane says it is not
  fitted yet (not "too few shared samples"), then, locked at epoch 3, it shows its newest fitted
  epoch and says so, and the agreement matrix names both epochs;
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
    """(logdir, cache): `clean` fitted beforehand; `fresh` and `late` (20 % noisy labels) left to the tab."""
    import torch

    mnist_data, train_mnist = demo_modules()
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("dvi-live")
    logdir, cache = root / "logs", root / "cache"
    cache.mkdir()
    data = mnist_data.load()
    train_mnist.train_run("clean", str(logdir), data, seed=0, noise=0.0, **RUN)
    for name in ("fresh", "late"):
        train_mnist.train_run(name, str(logdir), data, seed=0, noise=0.2, **RUN)
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
        # after an epoch, the estimate comes from the rate measured on this machine, shown beside it
        f.wait_for_function("() => /about .+ left \\(measured [\\d.]+ (s|min) per epoch\\)/.test(document.querySelector('.dvi-progress').innerText)")
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


def test_compare_while_one_run_is_still_fitting(chromium, dirs):  # noqa: F811
    logdir, cache = dirs
    pane = ".dvi-cmp-pane[data-pane='1']"
    with tensorboard(logdir, cache) as base, checked_page(chromium, {"width": 1440, "height": 900}) as page:
        page.goto(base + "#dvi&dvi.compare=clean,late&dvi.epoch=3")
        f = plugin_frame(page)
        f.wait_for_function("() => { const c = window.__dvi && window.__dvi.compare; return c && c.active && c.panes.length === 2; }")
        align = f.locator(f"{pane} .dvi-cmp-align")
        # TensorBoard fits `late` (600 samples, 4 epochs) while the tab waits: not "too few shared samples"
        f.wait_for_function(f"() => {{ const c = window.__dvi.compare; return c.panes[1].session.fitted.length > 0"
                            f" || document.querySelector(\"{pane} .dvi-cmp-align\").textContent.includes('not fitted yet'); }}")
        if not f.evaluate("() => window.__dvi.compare.panes[1].session.fitted.length"):
            assert align.text_content() == 'not aligned yet: "late" is not fitted yet', align.text_content()
        # an epoch of `late` before 3 is fitted, 3 is not: the pane shows the newest and says why
        f.wait_for_function("""() => { const c = window.__dvi.compare, p = c.panes[1], e = p.session.fitted;
          return (c.ready && p.shown !== null && p.shown < 3 && p.map.proj && p.map.proj.align) || e.includes(3); }""")
        state = f.evaluate("""() => { const c = window.__dvi.compare, p = c.panes[1];
          return { shown: p.shown, fitted: p.session.fitted.slice(), clamp: p.clampEl.hidden ? null : p.clampEl.textContent,
                   align: p.alignEl.textContent, warn: (document.querySelector('[data-testid=matrix-epochs]') || {}).textContent || null }; }""")
        print("compare while fitting:", state)
        if 3 not in state["fitted"]:  # (a fast machine may fit epochs 1-3 before the check)
            e = state["shown"]
            assert state["clamp"] == f"shows epoch {e}, not 3: epoch 3 is not fitted yet", state
            assert state["align"].startswith(f"aligned to clean @ 3") and "too few" not in state["align"], state
            assert state["warn"] == f"Different epochs: late has no fitted epoch 3 yet, so this compares clean @ 3 with late @ {e}.", state
        # once `late` has epoch 3, both panes show it and the warning goes
        f.wait_for_function("() => { const c = window.__dvi.compare; return c.ready && c.panes[0].shown === 3 && c.panes[1].shown === 3; }")
        f.wait_for_function("() => !document.querySelector('[data-testid=matrix-epochs]')")
        assert f.locator(f"{pane} .dvi-cmp-clamp").is_hidden()
