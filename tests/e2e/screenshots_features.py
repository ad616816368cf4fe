"""Screenshots of the sample extras and the tools that act on samples (docs/FRONTEND.md,
"Samples: texts, metadata, neighbours, history, tags") from a real run: digits written by the real
DVIWriter with texts= (a short synthetic description per sample), metadata= and feature_names=,
fitted with a small engine config (as the browser tests), a real `tensorboard`, headless Chromium.

    python tests/e2e/screenshots_features.py [--out docs/screenshots]
"""

import argparse
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import harness  # noqa: E402
from test_tab_e2e import JS_ISOLATED_SAMPLE, to_page  # noqa: E402

N_TRAIN, N_TEST = 1400, 397
EPOCHS = 7  # tnn@5 (chain and run) needs 7 fitted epochs: no dash in the Faithfulness panel
STROKES = ["thin", "bold", "slanted", "small", "wide"]


def write(logdir):
    from conftest import make_run

    n = N_TRAIN + N_TEST
    texts = [f"scan {i}: a {STROKES[i % 5]} stroke, scanned on form {'ABCD'[i % 4]}" for i in range(n)]
    meta = {"writer": [f"w{(i * 7) % 12:02d}" for i in range(n)], "ink": [round((i * 37 % 100) / 100, 2) for i in range(n)]}
    make_run(os.path.join(logdir, "digits"), epochs=EPOCHS, n_train=N_TRAIN, n_test=N_TEST, steps_per_epoch=6, hidden=64,
             seed=0, noisy_fraction=0.1,
             writer_kwargs={"texts": texts, "metadata": meta, "feature_names": [f"px{r}{c}" for r in range(8) for c in range(8)]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "docs", "screenshots"))
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    root = tempfile.mkdtemp(prefix="dvi-feat-shots-")
    shot = lambda page, name: (page.screenshot(path=os.path.join(out, name)), print("wrote", name))  # noqa: E731
    import pathlib
    with harness.fitted_tensorboard(pathlib.Path(root), write, ["digits"]) as base, harness.browser() as b:
        page = b.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        page.goto(base + f"#dvi&dvi.epoch={EPOCHS}")
        frame = harness.dvi_frame(page)
        harness.wait_ready(frame, EPOCHS)
        frame.wait_for_function("() => window.dvi.tab.extras.texts !== null")
        s = frame.evaluate(JS_ISOLATED_SAMPLE)
        page.mouse.move(*to_page(page, s))
        frame.wait_for_function(f"() => document.querySelector('.dvi-tooltip').dataset.detail === '{s['id']}'")
        time.sleep(0.3)
        shot(page, "features-tooltip.png")
        page.mouse.click(*to_page(page, s))
        frame.wait_for_function("() => document.querySelector('.dvi-root').dataset.neighbours === '10'")
        frame.wait_for_function(f"() => document.querySelectorAll('.dvi-history circle').length === {EPOCHS}")
        frame.locator("input[aria-label='Tag name']").fill("relabel as 7")
        frame.get_by_role("button", name="Tag selection").click()
        frame.wait_for_function("() => document.querySelector('.dvi-tag-row')")
        page.mouse.move(5, 5)
        time.sleep(0.3)
        shot(page, "features-neighbours-history-tags.png")
        frame.evaluate("() => window.__dvi.store.set({sel: []})")
        frame.locator("select[aria-label='Colour by column']").select_option("ink")
        frame.locator("select[aria-label='Search in']").select_option("text")
        frame.locator("label[for=dvi-search-regex]").click()
        frame.locator("input[type=search]").fill("bold stroke.*form [AB]")
        frame.locator("input[type=search]").press("Enter")
        frame.wait_for_function("() => window.__dvi.store.get().sel.length > 0")
        time.sleep(0.5)
        shot(page, "features-metadata-search.png")
        frame.evaluate("() => window.__dvi.store.set({sel: []})")
        frame.locator("select[aria-label='Colour by column']").select_option("")
        page.mouse.move(*to_page(page, s))
        for _ in range(12):  # zoom in until thumbnails are drawn (at most 120 samples in view)
            page.mouse.wheel(0, -150)
            time.sleep(0.3)
            if int(frame.evaluate("() => document.querySelector('.dvi-root').dataset.mapThumbs || '0'")) > 0:
                break
        page.mouse.move(5, 5)
        time.sleep(1.0)
        shot(page, "features-zoom-thumbnails.png")
        frame.get_by_role("button", name="Fit view").click()
        page.evaluate("() => document.body.classList.add('dark-mode')")
        frame.wait_for_function("() => document.querySelector('.dvi-root').classList.contains('dvi-dark')")
        page.mouse.move(*to_page(page, s))
        frame.wait_for_function("() => !document.querySelector('.dvi-tooltip').hidden")
        time.sleep(0.4)
        shot(page, "features-dark.png")


if __name__ == "__main__":
    main()
