"""Browser test of "Fitted from A" in Compare runs (compare_from.js, engine/reference.py) on the
demo's code path: a real `tensorboard` over two runs written by demo/train_mnist.py's `train_run`
(SmallCNN on real MNIST, the real DVIWriter; the same 600 + 150 logged samples, clean vs 20 % noisy
labels, 3 epochs), both fitted beforehand (harness.fitted_tensorboard). Switching the alignment to
"Fitted from A" starts the fit of `noisy` laid out from `clean` in TensorBoard's worker: pane B says
what it shows and the fit's progress, then draws the map, whose residual to the reference is far
below the rotation's (Procrustes). Expected values are computed from the served data.

Run: pytest -m e2e tests/e2e/test_compare_fitted_e2e.py
"""

import os

import numpy as np
import pytest

from harness import browser, checked_page
from test_compare_e2e import cmp, demo_tensorboard, fetch_container, open_compare, ready
from test_compare_e2e import pytestmark  # noqa: F401 (marks)

RUNS = {
    "clean": dict(epochs=3, noise=0.0, train_size=2000, n_logged_train=600, n_logged_test=150),
    "noisy": dict(epochs=3, noise=0.2, train_size=2000, n_logged_train=600, n_logged_test=150),
}
SHOTS = os.environ.get("DVI_SHOTS", "/tmp")


@pytest.fixture(scope="module")
def tb(tmp_path_factory):
    with demo_tensorboard(tmp_path_factory.mktemp("dvi-fitted"), RUNS) as base:
        yield base


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


def test_fitted_from_a_shows_progress_then_a_map_laid_out_like_a(chromium, tb):
    with checked_page(chromium, {"width": 1440, "height": 900}) as page:
        frame = open_compare(page, tb, "#dvi&dvi.compare=clean,noisy&dvi.epoch=3")
        ready(frame, [3, 3])
        rotated = cmp(frame, "c.panes[1].map.proj.align.med")
        assert frame.locator(".dvi-cmp-pane[data-pane='1'] .dvi-cmp-align").text_content().startswith("aligned to clean @ 3")

        frame.locator(".dvi-seg[data-name='Alignment'] button[data-value='fitted']").click()
        assert "dvi.align=fitted" in page.evaluate("() => location.hash")
        # pane B says what it will show and that it is fitting (before the map is there)
        label = frame.locator(".dvi-cmp-pane[data-pane='1'] [data-testid='from-label']")
        label.wait_for()
        frame.wait_for_function("() => ['queued', 'running'].includes(document.querySelector(\".dvi-cmp-pane[data-pane='1']\").dataset.from)")
        assert label.text_content().startswith("noisy, laid out from clean: ")
        busy = frame.locator(".dvi-cmp-pane[data-pane='1'] .dvi-empty")
        assert "laid out from clean" in busy.text_content() and not busy.is_hidden()
        page.screenshot(path=os.path.join(SHOTS, "dvi-compare-fitted-progress.png"))

        # then the map: epoch 3 of noisy laid out from clean @ 3
        frame.wait_for_function("() => { const c = window.__dvi.compare, p = c.panes[1]; "
                                "return c.ready && p.map.proj && p.map.proj.from && p.shown === 3 && p.empty.hidden; }")
        # epoch 3 can be drawn while later epochs are still being laid out: the state ends "done"
        frame.wait_for_function("() => document.querySelector(\".dvi-cmp-pane[data-pane='1']\").dataset.from === 'done'",
                                timeout=120_000)
        text = label.text_content()
        assert text.startswith("noisy @ 3, laid out from clean @ 3 · median distance ") and text.endswith("of spread, no rotation")
        fitted = cmp(frame, "c.panes[1].map.proj.from.med")
        assert fitted < 0.5 * rotated, (fitted, rotated)
        # what is drawn is the served fit from clean (not noisy's own map), and noisy's own predictions
        ref = fetch_container(tb, "projection", run="noisy", epoch=3, ref="clean")
        own = fetch_container(tb, "projection", run="noisy", epoch=3)
        drawn = np.array(cmp(frame, "Array.from(c.panes[1].map.proj.coords)"), np.float32).reshape(-1, 2)
        assert np.allclose(drawn, ref["coords"]) and not np.allclose(drawn, own["coords"])
        assert np.array_equal(ref["predictions"], own["predictions"])
        bg = cmp(frame, "c.panes[1].map.bg && c.panes[1].map.bg.image.src")
        assert "ref=clean" in bg
        page.screenshot(path=os.path.join(SHOTS, "dvi-compare-fitted.png"))
        print(f"median residual / spread at epoch 3: rotate {rotated:.3f}, fitted from clean {fitted:.3f}")

        # trails of a selected sample in pane B follow it in the layout laid out from clean
        sid = int(cmp(frame, "c.panes[1].session.samples.ids[0]"))
        frame.evaluate(f"() => window.__dvi.store.set({{sel: [{sid}], trails: true}})")
        frame.wait_for_function("() => document.querySelector(\".dvi-cmp-pane[data-pane='1']\").dataset.trails === '1'")
        frame.wait_for_function("() => !!window.__dvi.compare.panes[1].map.trails")
        last = cmp(frame, "c.panes[1].map.trails.positions[0][2]")
        assert np.allclose(last, ref["coords"][0], atol=1e-4), (last, ref["coords"][0])

        # back to the rotation: pane B is noisy's own map, aligned again
        frame.locator(".dvi-seg[data-name='Alignment'] button[data-value='procrustes']").click()
        frame.wait_for_function("() => { const c = window.__dvi.compare, p = c.panes[1]; return c.ready && p.map.proj && p.map.proj.align && !p.map.proj.from; }")
        assert cmp(frame, "c.panes[1].el.dataset.from") == ""
