"""Takes the screenshots in docs/screenshots/ from a real run, a real `tensorboard` process and
headless Chromium. With --logdir: the demo's runs (`python demo/train_mnist.py --logdir DIR`:
MNIST, clean and 20 % noisy labels, what `scripts/demo.sh` shows), fitted with the engine's
defaults into --cache (a TensorBoard --dvi_cache_dir; fitted here when missing). Without: a logdir
written by the real DVIWriter (sklearn digits, tiny MLP) in --workdir.

    python tests/e2e/screenshots.py --logdir demo/runs --cache /tmp/dvi-demo-cache [--out docs/screenshots]
    python tests/e2e/screenshots.py [--workdir /tmp/dvi-shots]
"""

import argparse
import os
import shutil
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))

import harness  # noqa: E402


def wait_epoch(frame, epoch):
    harness.wait_ready(frame, epoch)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "docs", "screenshots"))
    ap.add_argument("--workdir", default=None)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--logdir", default=None, help="the demo's runs (clean, noisy)")
    ap.add_argument("--cache", default=None, help="their engine cache root (with --logdir)")
    ap.add_argument("--no-progress", action="store_true", help="skip the fitting-progress screenshot")
    ap.add_argument("--only-progress", action="store_true", help="only the fitting-progress screenshot")
    a = ap.parse_args()
    out = os.path.abspath(a.out)
    os.makedirs(out, exist_ok=True)
    work = a.workdir or tempfile.mkdtemp(prefix="dvi-shots-")
    logdir, cache, fresh_cache = (os.path.join(work, x) for x in ("logs", "cache", "cache-fresh"))
    from conftest import make_run

    if a.logdir:
        logdir, cache = os.path.abspath(a.logdir), os.path.abspath(a.cache or os.path.join(work, "cache"))
        from tensorboard_dvi.storage import RunReader
        a.epochs = max(RunReader(os.path.join(logdir, "clean")).epochs())
    elif not os.path.isdir(os.path.join(logdir, "noisy")):
        kw = dict(epochs=a.epochs, n_train=1400, n_test=397, steps_per_epoch=6, hidden=64)
        make_run(os.path.join(logdir, "clean"), seed=0, **kw)
        make_run(os.path.join(logdir, "noisy"), seed=1, noisy_fraction=0.2, **kw)
    os.makedirs(cache, exist_ok=True)
    from tensorboard_dvi.engine import EngineConfig, fit_run
    from tensorboard_dvi.engine.cache import default_cache_dir

    cfg = EngineConfig()  # the defaults, as the tab fits
    for run in ("clean", "noisy"):
        path = os.path.abspath(os.path.join(logdir, run))
        if a.logdir and os.path.isdir(os.path.join(cache, os.path.basename(default_cache_dir(path)), "epochs")):
            continue  # fitted before (e.g. by `tensorboard-dvi fit --cache-dir`)
        t = time.time()
        fit_run(path, os.path.join(cache, os.path.basename(default_cache_dir(path))), config=cfg)
        print(f"fitted {run} in {time.time() - t:.0f}s", flush=True)

    shot = lambda page, name: (page.screenshot(path=os.path.join(out, name)), print("wrote", name))  # noqa: E731
    if not a.only_progress:
        tab_shots(logdir, cache, a.epochs, shot)
    if a.no_progress:
        print("screenshots in", out)
        return
    progress_shot(logdir, fresh_cache, shot)
    print("screenshots in", out)


def figures_filled(frame, timeout_ms=120_000):
    """Waits until the Faithfulness panel shows every figure of the last epoch and of the whole
    run; a dash left after that means a cache fitted by an older engine (stale metric keys), and
    the screenshot is refused rather than taken."""
    try:
        frame.wait_for_function(
            "() => { const c = [...document.querySelectorAll('.dvi-metrics td.num')];"
            " return c.length > 0 && c.every((td) => td.textContent.trim() !== '\u2014'); }", timeout=timeout_ms)
    except Exception:
        rows = frame.evaluate("() => [...document.querySelectorAll('.dvi-metrics tr')].map((r) => r.innerText)")
        raise SystemExit("error: the Faithfulness panel still shows dashes (refit the runs with the current "
                         f"engine): {rows}")


def tab_shots(logdir, cache, epochs, shot):
    """dvi-tab (clean, last epoch), dvi-hover-correctness, dvi-selection-trails, dvi-filter-misclassified."""
    with harness.tensorboard(logdir, cache) as base, harness.browser() as b:
        page = b.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        page.goto(base + "#dvi&dvi.run=clean&dvi.epoch=%d" % epochs)
        frame = harness.dvi_frame(page)
        wait_epoch(frame, epochs)
        figures_filled(frame)
        time.sleep(0.3)
        shot(page, "dvi-tab.png")

        # epoch 7 (the first with every temporal chain metric: tnn@5 needs more than 5 other epochs),
        # coloured by correctness, hovering a sample
        early = min(7, epochs)
        frame.get_by_role("radio", name="Correctness").click()
        frame.evaluate("() => window.__dvi.store.set({epoch: %d})" % early)
        wait_epoch(frame, early)
        pt = frame.evaluate("""() => { const m = window.__dvi.map, p = m.pos1, r = m.root.getBoundingClientRect();
          let best = 0, bd = Infinity; for (let i = 0; i < m.samples.n; i++) { const [x, y] = m.toScreen(p[2*i], p[2*i+1]);
          const d = Math.hypot(x - m.cssW * 0.45, y - m.cssH * 0.45); if (d < bd) { bd = d; best = i; } }
          const [x, y] = m.toScreen(p[2*best], p[2*best+1]); return [r.left + x, r.top + y]; }""")
        box = page.locator("iframe").bounding_box()
        page.mouse.move(box["x"] + pt[0], box["y"] + pt[1])
        frame.locator(".dvi-tooltip").wait_for(state="visible")
        time.sleep(0.3)
        shot(page, "dvi-hover-correctness.png")

        # a selection with its trails across epochs (noisy run, by label)
        frame.locator("select[aria-label=Run]").select_option("noisy")
        frame.wait_for_function("() => window.__dvi.run.name === 'noisy' && window.__dvi.map.epoch !== null")
        frame.evaluate("() => window.__dvi.store.set({color: 'label', epoch: %d})" % epochs)
        wait_epoch(frame, epochs)
        # the first 10 samples labelled 3 (noisy-label ones where the run logs them), followed across epochs
        sel = frame.evaluate("() => { const s = window.__dvi.samples, out = []; for (let i = 0; i < s.n && out.length < 10; i++)"
                             " if (s.labels[i] === 3 && (!s.noisy || s.noisy[i])) out.push(s.ids[i]); return out; }")
        frame.evaluate(f"() => window.__dvi.store.set({{sel: {sel}}})")
        frame.wait_for_function("() => document.querySelector('.dvi-root').dataset.trails === '%d'" % len(sel))
        page.mouse.move(5, 5)
        time.sleep(0.3)
        shot(page, "dvi-selection-trails.png")

        # filters: misclassified near the boundary, noisy labels
        frame.locator(".dvi-map").focus()
        page.keyboard.press("Escape")
        frame.evaluate("() => window.__dvi.store.set({fc: 'wrong', color: 'prediction'})")
        time.sleep(0.4)
        shot(page, "dvi-filter-misclassified.png")


def provisional_shot(page, shot):
    """dvi-provisional-first-map: the provisional layout of epoch 1 the tab draws before the first
    epoch is fitted (the run opened into an empty cache), once it is painted."""
    frame = harness.plugin_frame(page)  # not dvi_frame: that waits for a fitted epoch
    frame.wait_for_function("() => { const r = document.querySelector('.dvi-root');"
                            " return !!r && (!!r.dataset.provisional || r.dataset.ready === '1'); }", polling=100)
    if not frame.evaluate("() => !!document.querySelector('.dvi-root').dataset.provisional"):
        raise SystemExit("error: the fitted map came before the provisional layout")
    frame.wait_for_function("() => window.__dvi.map.anim === null")
    time.sleep(0.3)
    shot(page, "dvi-provisional-first-map.png")


def progress_shot(logdir, fresh_cache, shot, fitted=7):
    """dvi-provisional-first-map, then dvi-fitting-progress: the same logdir with an empty cache;
    TensorBoard fits in the background.
    Taken at the newest fitted epoch once `fitted` epochs are ready (7: every temporal chain metric
    is defined), while the fit still runs; 40 px taller, for the progress banner above the map."""
    shutil.rmtree(fresh_cache, ignore_errors=True)
    os.makedirs(fresh_cache)
    with harness.tensorboard(logdir, fresh_cache) as base, harness.browser() as b:
        page = b.new_page(viewport={"width": 1440, "height": 940}, device_scale_factor=1)
        page.goto(base + "#dvi&dvi.run=clean")
        page.wait_for_selector("iframe")
        provisional_shot(page, shot)
        deadline = time.time() + 900
        while time.time() < deadline:
            frame = next((f for f in page.frames if "plugin_entry.html" in f.url), None)
            try:
                ready = frame is not None and frame.evaluate(
                    "() => !!(window.__dvi && window.__dvi.fitted.length >= %d && window.__dvi.job && "
                    "['running', 'queued'].includes(window.__dvi.job.state) && window.__dvi.map.anim === null && "
                    "window.__dvi.map.epoch !== null)" % fitted)
            except Exception:
                ready = False
            if ready:
                break
            time.sleep(0.3)
        newest = frame.evaluate("() => window.__dvi.fitted[window.__dvi.fitted.length - 1]")
        frame.evaluate("(ep) => window.__dvi.store.set({epoch: ep})", newest)
        wait_epoch(frame, newest)
        time.sleep(0.5)
        shot(page, "dvi-fitting-progress.png")


if __name__ == "__main__":
    main()
