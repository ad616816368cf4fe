"""The first map of an unfitted run, in a real TensorBoard (no precomputed cache: the worker
fits with the default engine settings) and headless Chromium: the provisional layout is drawn,
labelled as such, without a background; the fitted map then replaces it and the label goes.

Run: pytest -m e2e tests/e2e/test_provisional_e2e.py   (skipped without Chromium/playwright)
"""

import os

import pytest

from harness import browser, checked_page, e2e_marks, plugin_frame, tensorboard, wait_ready

pytestmark = e2e_marks()

SHOTS = os.environ.get("DVI_SHOTS_DIR")  # keep the screenshots there (to look at them)

STATE_JS = """() => {
  const r = document.querySelector('.dvi-root'), el = document.querySelector('.dvi-provisional');
  const m = window.__dvi.map;
  return {provisional: r.dataset.provisional || null, ready: r.dataset.ready, label: el && !el.hidden ? el.innerText : null,
          bg: !!m.bg, epoch: m.epoch, n: m.proj ? m.proj.n : 0, flagged: !!(m.proj && m.proj.provisional),
          fitted: window.__dvi.session.fitted.slice()};
}"""


@pytest.fixture(scope="module")
def tb(tmp_path_factory):
    import sys
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from conftest import make_run
    root = tmp_path_factory.mktemp("dvi-provisional")
    # ~1,700 samples: the default engine takes long enough on the first epoch for the tab to
    # show the provisional layout first (it appears a few seconds after the run is opened)
    make_run(root / "logs" / "run", epochs=2, n_train=1400, n_test=300)
    (root / "cache").mkdir()
    with tensorboard(root / "logs", root / "cache") as base:
        yield base


def test_provisional_map_labelled_then_replaced_by_the_fitted_map(tb, tmp_path):
    shots = SHOTS or os.fspath(tmp_path)
    with browser() as chromium, checked_page(chromium, {"width": 1300, "height": 850}) as page:
        page.goto(tb + "#dvi")
        frame = plugin_frame(page)
        frame.wait_for_function("() => { const r = document.querySelector('.dvi-root'); "
                                "return !!r && (!!r.dataset.provisional || r.dataset.ready === '1'); }", polling=100)
        st = frame.evaluate(STATE_JS)
        assert st["fitted"] == [], "the fitted map came before the provisional one: " + str(st)
        assert st["provisional"] == "1" and st["epoch"] == 1 and st["n"] == 1700 and st["flagged"]
        assert st["label"].startswith("Provisional layout of epoch 1")
        assert "the fitted map replaces it when ready" in st["label"] and "no decision regions" in st["label"]
        assert st["bg"] is False  # no background drawn under a provisional layout
        assert st["ready"] == "0"  # the tab's ready signal means a fitted epoch
        page.screenshot(path=os.path.join(shots, "dvi-provisional-first-map.png"))

        wait_ready(frame, 1)  # the fitted epoch 1 replaces it
        st = frame.evaluate(STATE_JS)
        assert st["label"] is None and st["provisional"] is None and not st["flagged"]
        assert st["epoch"] == 1 and 1 in st["fitted"] and st["bg"] is True
        page.screenshot(path=os.path.join(shots, "dvi-provisional-replaced.png"))
