"""Takes docs/screenshots/compare-*.png ("Compare runs", docs/COMPARE.md) with a real
`tensorboard` and headless Chromium.

    python tests/e2e/compare_screenshots.py --logdir demo/runs --cache /tmp/dvi-demo/cache
    python tests/e2e/compare_screenshots.py            # small runs written here (make_run)

With --logdir, the runs `clean` and `noisy` must be fitted in --cache (the plugin's
--dvi_cache_dir layout, e.g. fit_run into <cache>/<basename of default_cache_dir(run)>).
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


def ready(frame, timeout=60000):
    frame.wait_for_function("() => window.__dvi.compare && window.__dvi.compare.ready", timeout=timeout)
    time.sleep(0.4)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "docs", "screenshots"))
    ap.add_argument("--logdir", default=None)
    ap.add_argument("--cache", default=None)
    ap.add_argument("--fitted-epoch", type=int, default=None,
                    help="also compare-fitted.png: \"Fitted from A\" at this epoch (TensorBoard fits noisy from clean up to it)")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    if a.logdir:
        logdir, cache = a.logdir, a.cache
    else:
        work = tempfile.mkdtemp(prefix="dvi-compare-shots-")
        logdir, cache = os.path.join(work, "logs"), os.path.join(work, "cache")
        os.makedirs(cache)
        from conftest import make_run

        kw = dict(epochs=8, n_train=1400, n_test=397, steps_per_epoch=6, hidden=64)
        make_run(os.path.join(logdir, "clean"), seed=0, **kw)
        make_run(os.path.join(logdir, "noisy"), seed=0, noisy_fraction=0.2, **kw)
        harness.precompute_cache(logdir, cache, ["clean", "noisy"])

    shot = lambda page, name: (page.screenshot(path=os.path.join(out, name)), print("wrote", name))  # noqa: E731
    with harness.tensorboard(logdir, cache, timeout=180) as base, harness.browser() as b:
        page = b.new_page(viewport={"width": 1600, "height": 900}, device_scale_factor=1)
        page.goto(base + "#dvi&dvi.compare=clean,noisy")
        frame = harness.dvi_frame(page, timeout=120000)
        ready(frame)
        last = frame.evaluate("() => window.__dvi.compare.union[window.__dvi.compare.union.length - 1]")
        mid = frame.evaluate("() => { const u = window.__dvi.compare.union; return u[Math.floor(u.length / 2)]; }")
        # a few noisy-label training samples that the noisy run predicts as their (wrong) label
        frame.evaluate("""(ep) => window.__dvi.store.set({epoch: ep})""", last)
        ready(frame)
        frame.evaluate("""() => {
          const c = window.__dvi.compare, b = c.panes[1], a = c.panes[0];
          const ids = [];
          for (let i = 0; i < b.session.samples.n && ids.length < 6; i += 7) {
            if (!(b.session.samples.noisy && b.session.samples.noisy[i])) continue;
            const j = a.session.samples.indexOf(b.session.samples.ids[i]);
            if (j >= 0 && b.map.proj.predictions[i] === b.session.samples.labels[i]) ids.push(b.session.samples.ids[i]);
          }
          window.__dvi.store.set({sel: ids});
        }""")
        frame.wait_for_function("() => document.querySelector(\".dvi-cmp-pane[data-pane='1']\").dataset.trails !== '0'")
        time.sleep(0.5)
        # hover one of them in the reference pane: ringed in both panes
        pt = frame.evaluate("""() => { const c = window.__dvi.compare, m = c.panes[0].map;
          const id = window.__dvi.store.get().sel[0], i = c.panes[0].session.samples.indexOf(id);
          const [x, y] = m.toScreen(m.pos1[2 * i], m.pos1[2 * i + 1]); const r = m.root.getBoundingClientRect();
          return [r.left + x, r.top + y]; }""")
        box = page.locator("iframe").bounding_box()
        page.mouse.move(box["x"] + pt[0], box["y"] + pt[1])
        frame.locator(".dvi-cmp-pane[data-pane='0'] .dvi-tooltip").wait_for(state="visible")
        time.sleep(0.3)
        shot(page, "compare-aligned.png")

        page.mouse.move(5, 5)
        frame.get_by_role("radio", name="Raw").click()
        frame.wait_for_function("() => !window.__dvi.compare.panes[1].map.proj.align")
        ready(frame)
        shot(page, "compare-raw.png")

        frame.get_by_role("radio", name="Rotate").click()
        frame.evaluate("(ep) => window.__dvi.store.set({sel: [], color: 'prediction', cdiff: 'disagree', epoch: ep})", mid)
        frame.wait_for_function("() => !!window.__dvi.compare.panes[1].map.proj.align")
        ready(frame)
        shot(page, "compare-difference.png")

        # unlocked epochs: the reference early, the other run late
        frame.evaluate("(ep) => window.__dvi.store.set({cdiff: 'flip', color: 'correct', lock: false, ceps: [2, ep]})", last)
        ready(frame)
        shot(page, "compare-unlocked-flipped.png")

        if a.fitted_epoch:
            fitted_shot(page, frame, a.fitted_epoch, shot)


def fitted_shot(page, frame, epoch, shot):
    """compare-fitted: noisy laid out from clean ("Fitted from A", fitted by TensorBoard's worker
    from the first epoch on), once pane B shows `epoch`, coloured by label."""
    frame.evaluate("(ep) => window.__dvi.store.set({cdiff: 'off', color: 'label', lock: true, ceps: [], epoch: ep})", epoch)
    ready(frame)
    frame.locator(".dvi-seg[data-name='Alignment'] button[data-value='fitted']").click()
    frame.wait_for_function("(ep) => { const c = window.__dvi.compare, p = c.panes[1]; "
                            "return c.ready && p.map.proj && p.map.proj.from && p.shown === ep && p.empty.hidden; }",
                            arg=epoch, polling=500, timeout=1_800_000)
    ready(frame)
    shot(page, "compare-fitted.png")


if __name__ == "__main__":
    main()
