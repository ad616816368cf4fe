"""First map and hover latency of the DVI tab at a given size, against the fake backend
(tests/e2e/fake_api.py, with the sample extras: texts, metadata), in headless Chromium.

    python benchmarks/bench_first_map_hover.py [--n 60000] [--loads 3] [--hovers 30]

- first map: from `page.goto` to the tab's ready signal (first epoch painted, transition done),
  i.e. the page, the scripts, `runs`, `samples`, the epoch's projection and background.
- hover: from a synthetic `mousemove` over a sample to the tooltip showing that sample's id
  (pick + tooltip DOM; the top-k detail comes later from `GET sample` and is not counted).
Reports medians and the spread; the numbers include SwiftShader (software WebGL).
"""

import argparse
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))

from fake_api import FakeServer  # noqa: E402
from harness import browser, dvi_frame, wait_ready  # noqa: E402

HOVER_JS = """async (k) => {
  const m = window.__dvi.map, s = m.samples, p = m.pos1, tip = document.querySelector('.dvi-tooltip');
  const out = [];
  for (let j = 0; j < k; j++) {
    const i = (j * 7919) % s.n;
    if (m.mask && !m.mask[i]) continue;
    const [x, y] = m.toScreen(p[2 * i], p[2 * i + 1]);
    if (x < 5 || y < 5 || x > m.cssW - 5 || y > m.cssH - 5) continue;
    const r = m.root.getBoundingClientRect();
    const t0 = performance.now();
    m.root.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + x, clientY: r.top + y, bubbles: true}));
    await new Promise((res) => { const f = () => (tip.dataset.id && !tip.hidden) ? res() : requestAnimationFrame(f); f(); });
    out.push(performance.now() - t0);
    tip.hidden = true; delete tip.dataset.id;
    await new Promise((res) => setTimeout(res, 30));
  }
  return out;
}"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=60000)
    ap.add_argument("--loads", type=int, default=3)
    ap.add_argument("--hovers", type=int, default=30)
    a = ap.parse_args()
    with FakeServer(n=a.n, epochs=4) as srv, browser() as b:
        firsts = []
        for _ in range(a.loads):
            page = b.new_page(viewport={"width": 1400, "height": 900})
            t0 = time.perf_counter()
            page.goto(srv.url + "#dvi")
            frame = dvi_frame(page)
            wait_ready(frame)
            firsts.append((time.perf_counter() - t0) * 1000)
            page.close()
        page = b.new_page(viewport={"width": 1400, "height": 900})
        page.goto(srv.url + "#dvi")
        frame = dvi_frame(page)
        wait_ready(frame)
        hovers = frame.evaluate(HOVER_JS, a.hovers)
    print(f"n={a.n}: first map {statistics.median(firsts):.0f} ms median of {len(firsts)} "
          f"({min(firsts):.0f}-{max(firsts):.0f}); hover {statistics.median(hovers):.1f} ms median of {len(hovers)} "
          f"(p90 {sorted(hovers)[int(0.9 * (len(hovers) - 1))]:.1f}, max {max(hovers):.1f})")


if __name__ == "__main__":
    main()
