"""Frontend benchmark: time to switch epochs and redraw the DVI map in headless Chromium.

    python benchmarks/bench_frontend.py [--sizes 10000 60000] [--repeats 20] [--json out.json]

The tab is served by the fake backend of tests/e2e/fake_api.py (it follows docs/HTTP_API.md,
binary container included) inside a TensorBoard-like iframe, so the numbers measure the
frontend alone. For each size it reports, over `repeats` epoch switches (median / p95, ms):

- map, cached:   MapView.showEpoch(e) with the epoch's data already fetched: upload both
                 position buffers, recompute colours and filter mask, draw background + points +
                 overlay, gl.finish(). This is what one step of the slider costs.
- first frame:   the same with the animated transition on (the first frame of the transition).
- anim frame:    one frame during the transition (uniform t only; no uploads).
- tab, cached:   the whole tab's epoch switch (map + legend counts + metrics panel + slider)
                 with the animation off.
- tab, painted:  "tab, cached" until the second animation frame after it, i.e. until the browser
                 has composited the new map (includes waiting for vsync, ~16 ms at most).
- tab, fetch:    as "tab, cached" but with the epoch not yet fetched (HTTP + parse included).

Target: < 100 ms for 60k points. Chromium runs with SwiftShader (software WebGL) here, as in CI.
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

from fake_api import FakeServer  # noqa: E402
from harness import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

JS_BENCH = """async ({repeats}) => {
  const app = window.__dvi, map = app.map, api = app.api, run = app.run.name;
  const epochs = app.fitted.slice();
  const pick = (k) => epochs[k % epochs.length];
  // Force the GPU process and the 2-D canvases to finish: read one pixel back from each layer.
  const px = new Uint8Array(4);
  const sync = () => {
    const gl = map.points.gl;
    if (gl) gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, px);
    map.bgCtx.getImageData(0, 0, 1, 1);
    map.ovCtx.getImageData(0, 0, 1, 1);
  };
  const nextPaint = () => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  for (const e of epochs) { await api.projection(run, e); await api.background(run, e); }
  const res = {mapCached: [], firstFrame: [], animFrame: [], tabCached: [], tabPainted: [], tabFetch: []};
  // warm-up
  for (let k = 0; k < 3; k++) { await map.showEpoch(pick(k), {animate: false}); sync(); }
  for (let k = 0; k < REPEATS; k++) {
    await nextPaint();
    const t0 = performance.now();
    await map.showEpoch(pick(k + 1), {animate: false});
    sync();
    res.mapCached.push(performance.now() - t0);
  }
  for (let k = 0; k < REPEATS; k++) {
    sync();
    await nextPaint();
    const t0 = performance.now();
    await map.showEpoch(pick(k + 1), {animate: true});
    sync();
    res.firstFrame.push(performance.now() - t0);
    // one mid-transition frame
    const t1 = performance.now();
    map.drawNow(); sync();
    res.animFrame.push(performance.now() - t1);
    await map.settled();
  }
  map.opts.animationMs = 0;
  for (let k = 0; k < REPEATS; k++) {
    const e = pick(k + 1);
    const t0 = performance.now();
    await app.session.showEpoch(e);
    sync();
    res.tabCached.push(performance.now() - t0);
  }
  for (let k = 0; k < REPEATS; k++) {
    const e = pick(k + 1);
    await nextPaint();
    const t0 = performance.now();
    await app.session.showEpoch(e);
    await nextPaint();
    res.tabPainted.push(performance.now() - t0);
  }
  for (let k = 0; k < REPEATS; k++) {
    const e = pick(k + 1);
    api.invalidate(run);
    // samples are per run: keep them (invalidate dropped them, refetch outside the timing)
    await api.samples(run);
    const t0 = performance.now();
    await app.session.showEpoch(e);
    sync();
    res.tabFetch.push(performance.now() - t0);
  }
  return {res, renderer: map.rendererKind, n: map.samples.n,
          gl: (() => { const gl = map.points.gl; if (!gl) return null;
                       const d = gl.getExtension('WEBGL_debug_renderer_info');
                       return d ? gl.getParameter(d.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER); })()};
}"""


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(q * (len(xs) - 1))))]


def bench_size(browser, n, repeats, epochs):
    with FakeServer(n=n, epochs=epochs) as srv:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.url + "#dvi")
        frame = None
        for _ in range(300):
            frame = next((f for f in page.frames if "plugin_entry.html" in f.url), None)
            if frame is not None:
                try:
                    frame.wait_for_function("() => window.__dvi && window.__dvi.map.epoch !== null && "
                                            "window.__dvi.map.anim === null", timeout=60000)
                    break
                except Exception:
                    pass
            time.sleep(0.1)
        out = frame.evaluate(JS_BENCH.replace("REPEATS", str(int(repeats))), {"repeats": repeats})
        page.close()
        if errors:
            raise RuntimeError("page errors: %s" % errors)
        return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10000, 60000])
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright

    results = {}
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            for n in a.sizes:
                r = bench_size(b, n, a.repeats, a.epochs)
                results[n] = r
                print(f"\n{n:,} points  renderer={r['renderer']} ({r['gl']})")
                print(f"  {'':14s} {'median':>8s} {'p95':>8s}   ms")
                for key, label in [("mapCached", "map, cached"), ("firstFrame", "first frame"),
                                   ("animFrame", "anim frame"), ("tabCached", "tab, cached"),
                                   ("tabPainted", "tab, painted"),
                                   ("tabFetch", "tab, fetch")]:
                    xs = r["res"][key]
                    print(f"  {label:14s} {statistics.median(xs):8.1f} {pct(xs, 0.95):8.1f}")
        finally:
            b.close()
    if a.json:
        summary = {str(n): {k: {"median_ms": statistics.median(v), "p95_ms": pct(v, 0.95)} for k, v in r["res"].items()}
                   | {"renderer": r["renderer"], "gl": r["gl"]} for n, r in results.items()}
        with open(a.json, "w") as f:
            json.dump(summary, f, indent=2)
    worst = max(statistics.median(results[n]["res"]["tabPainted"]) for n in results)
    print(f"\nworst median epoch switch until painted: {worst:.1f} ms (target < 100 ms)")


if __name__ == "__main__":
    main()
