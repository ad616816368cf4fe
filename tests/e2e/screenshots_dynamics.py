"""Takes the training-dynamics screenshots (docs/screenshots/dynamics-*.png) from a real run:
a noisy sklearn-digits run written by the real DVIWriter (tests/conftest.py::make_run, 1,797
samples, 20 % symmetric label noise, 10 epochs of about one pass over the 1,400 training rows), engine cache fitted with fit_run, a real
`tensorboard`, headless Chromium. (The demo's demo/runs/noisy is used instead when given with
--logdir/--cache and already fitted.)

    python tests/e2e/screenshots_dynamics.py [--out docs/screenshots] [--workdir /tmp/dvi-dyn-shots]
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


def prepare(work, epochs=10):
    from conftest import make_run
    from tensorboard_dvi.engine import EngineConfig, fit_run
    from tensorboard_dvi.engine.cache import default_cache_dir

    logdir, cache = os.path.join(work, "logs"), os.path.join(work, "cache")
    os.makedirs(cache, exist_ok=True)
    path = os.path.abspath(os.path.join(logdir, "noisy"))
    if not os.path.isdir(path):
        make_run(path, epochs=epochs, n_train=1400, n_test=397, steps_per_epoch=22, hidden=64, seed=1, noisy_fraction=0.2)
    fit_run(path, os.path.join(cache, os.path.basename(default_cache_dir(path))),
            config=EngineConfig())
    return logdir, cache


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "docs", "screenshots"))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--logdir", default=None, help="an already fitted logdir with a run named 'noisy'")
    ap.add_argument("--cache", default=None, help="its --dvi_cache_dir")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    if a.logdir:
        logdir, cache = a.logdir, a.cache
    else:
        logdir, cache = prepare(a.workdir or tempfile.mkdtemp(prefix="dvi-dyn-shots-"))

    def shot(page, name):
        page.screenshot(path=os.path.join(out, name))
        print("wrote", name, flush=True)

    with harness.tensorboard(logdir, cache) as base, harness.browser() as b:
        page = b.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        page.goto(base + "#dvi&dvi.run=noisy&dvi.dyn=1&dvi.colorby=signal:mislabel_score")
        frame = harness.dvi_frame(page)
        last = frame.evaluate("() => window.__dvi.fitted[window.__dvi.fitted.length - 1]")
        frame.evaluate(f"() => window.__dvi.store.set({{epoch: {last}}})")
        frame.wait_for_function(f"() => window.__dvi.map.epoch === {last} && window.__dvi.map.anim === null "
                                "&& window.__dvi.dyn.data !== null", timeout=30000)
        frame.evaluate("() => window.__dvi.dyn.el.scrollIntoView({block: 'start'})")

        # 1. colour by mislabel score; box-select the data map's hard-to-learn corner
        r = frame.evaluate("""() => { const dm = window.__dvi.dyn.dm, c = dm.canvas.getBoundingClientRect();
          const a = dm.toScreen(-0.005, 0.3), b = dm.toScreen(dm.xMax * 0.35, -0.02);
          return [c.left + a[0], c.top + a[1], c.left + b[0], c.top + b[1]]; }""")
        box = page.locator("iframe").bounding_box()
        ox, oy = box["x"], box["y"]
        page.mouse.move(ox + r[0], oy + r[1])
        page.mouse.down()
        page.mouse.move(ox + (r[0] + r[2]) / 2, oy + (r[1] + r[3]) / 2, steps=4)
        page.mouse.move(ox + r[2], oy + r[3], steps=4)
        page.mouse.up()
        frame.wait_for_function("() => window.__dvi.store.get().sel.length > 0")
        frame.evaluate("() => window.__dvi.store.set({trails: false})")
        page.mouse.move(700, 10)
        time.sleep(0.6)
        shot(page, "dynamics-datamap-selection.png")
        # the data map enlarged over the map (its ⤢ button), region names above the points
        frame.locator(".dvi-dyn-enlarge").click()
        time.sleep(0.6)
        shot(page, "dynamics-datamap-large.png")
        frame.locator(".dvi-dyn-enlarge").click()

        # 2. a ready-made query: likely mislabelled (score >= 0.5, train), coloured by correctness
        frame.evaluate("() => window.__dvi.store.set({colorby: '', color: 'correct', sizeby: 'signal:mislabel_score'})")
        frame.locator("select[aria-label=Query]").select_option("likely_mislabelled")
        frame.locator("select[aria-label='Query parameter kind']").select_option("threshold")
        frame.locator("input[aria-label='Query parameter']").fill("0.5")
        frame.locator("select[aria-label='Query split']").select_option("train")
        frame.get_by_role("button", name="Run query").click()
        frame.wait_for_function("() => window.__dvi.store.get().query.startsWith('likely_mislabelled')")
        frame.evaluate("() => window.__dvi.dyn.queries.query.scrollIntoView({block: 'center'})")
        time.sleep(0.6)
        print(frame.evaluate("() => window.__dvi.dyn.queries.info.textContent"))
        shot(page, "dynamics-query-mislabelled.png")
    print("screenshots in", out)


if __name__ == "__main__":
    main()
