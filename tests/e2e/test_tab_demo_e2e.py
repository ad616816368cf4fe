"""Issue 15's tab fixes on runs written by the demo's code path (demo/train_mnist.py `train_run`:
SmallCNN on real MNIST, the real DVIWriter, clean vs 20 % noisy labels), served by a real
`tensorboard` (the fake-backend versions are in test_tab_fixes_fake.py): the URL hash moves the
tab (edited, back, forward), the slider and its ticks share the logged epochs, the PNG carries a
legend and the SVG the points, a training signal colours the map with its strongest values on top,
trails are capped with a note, copy link and dark mode, the data map is large and its region
names are drawn above the points.

Run: pytest -m e2e tests/e2e/test_tab_demo_e2e.py
"""

import xml.etree.ElementTree as ET

import numpy as np
import pytest

from harness import checked_page, download, plugin_frame, wait_ready
from test_compare_e2e import demo_tensorboard
from test_compare_e2e import pytestmark  # noqa: F401 (marks)
from test_compare_fitted_e2e import chromium  # noqa: F401 (the module's browser fixture)

EPOCHS = 4
RUNS = {
    "clean": dict(epochs=EPOCHS, noise=0.0, train_size=2000, n_logged_train=500, n_logged_test=100),
    "noisy": dict(epochs=EPOCHS, noise=0.2, train_size=2000, n_logged_train=500, n_logged_test=100),
}
N = 600


@pytest.fixture(scope="module")
def tb(tmp_path_factory):
    with demo_tensorboard(tmp_path_factory.mktemp("dvi-tab-demo"), RUNS) as base:
        yield base


def _open(page, base, hash_):
    page.goto(base + hash_)
    return plugin_frame(page)


def test_hash_edited_back_and_forward_move_the_tab(chromium, tb):
    with checked_page(chromium, {"width": 1300, "height": 850}) as page:
        f = _open(page, tb, "#dvi&dvi.run=clean&dvi.epoch=1")
        wait_ready(f, 1)
        # the case: an edited hash in a page already showing epoch 1
        page.evaluate(f"() => {{ location.hash = '#dvi&dvi.run=noisy&dvi.epoch={EPOCHS}'; }}")
        wait_ready(f, EPOCHS)
        assert f.evaluate("() => window.__dvi.run.name") == "noisy"
        assert f.locator("[data-testid=epoch]").inner_text() == str(EPOCHS)
        page.go_back()
        wait_ready(f, 1)
        assert f.evaluate("() => [window.__dvi.run.name, window.__dvi.session.shownEpoch]") == ["clean", 1]
        page.go_forward()
        wait_ready(f, EPOCHS)
        assert f.evaluate("() => window.__dvi.run.name") == "noisy"


def test_slider_ticks_png_legend_and_svg(chromium, tb, tmp_path):
    from PIL import Image

    with checked_page(chromium, {"width": 1300, "height": 850}, accept_downloads=True) as page:
        f = _open(page, tb, "#dvi&dvi.run=clean&dvi.epoch=2")
        wait_ready(f, 2)
        # one domain: a tick per logged epoch, each under the slider value that selects it
        geo = f.evaluate("""() => {
          const s = document.querySelector('input[aria-label=Epoch]'), r = s.getBoundingClientRect();
          const ticks = [...document.querySelectorAll('.dvi-ticks .tick')].map((t) => {
            const b = t.getBoundingClientRect(); return { ep: Number(t.dataset.epoch), x: b.left + b.width / 2 }; });
          return { max: Number(s.max), value: Number(s.value), left: r.left, width: r.width, ticks };
        }""")
        assert [t["ep"] for t in geo["ticks"]] == list(range(1, EPOCHS + 1)) and geo["max"] == EPOCHS - 1, geo
        assert geo["value"] == 1  # epoch 2 is the second tick
        for k, t in enumerate(geo["ticks"]):
            assert abs(t["x"] - (geo["left"] + 8 + (geo["width"] - 16) * k / (EPOCHS - 1))) < 3, (k, t, geo)

        # the fitted view frames the samples (not the background's margins): they span the map's
        # width or height less its 24 px padding, and stay inside it
        ext = f.evaluate("""() => { const m = window.__dvi.map, p = m.pos1; let x0 = 1e9, y0 = 1e9, x1 = -1e9, y1 = -1e9;
          for (let i = 0; i < m.samples.n; i++) { const [x, y] = m.toScreen(p[2*i], p[2*i+1]);
            x0 = Math.min(x0, x); x1 = Math.max(x1, x); y0 = Math.min(y0, y); y1 = Math.max(y1, y); }
          return { x0, x1, y0, y1, W: m.cssW, H: m.cssH }; }""")
        assert ext["x0"] >= 0 and ext["y0"] >= 0 and ext["x1"] <= ext["W"] and ext["y1"] <= ext["H"], ext
        assert max(ext["x1"] - ext["x0"] - (ext["W"] - 48), ext["y1"] - ext["y0"] - (ext["H"] - 48)) > -2, ext

        # PNG of the view: the map and, beside it, the legend with every class colour
        img = Image.open(download(page, f, "PNG of the view", tmp_path)).convert("RGB")
        geo = f.evaluate("() => ({ w: window.__dvi.map.bgCanvas.width, dpr: window.__dvi.map.dpr,"
                         " names: window.__dvi.session.classNames, palette: window.__dvi.session.palette })")
        assert img.size[0] == geo["w"] + round(190 * geo["dpr"]), (img.size, geo["w"])
        strip = img.crop((geo["w"], 0, img.size[0], img.size[1]))
        colours = {tuple(int(v) for v in c) for c in np.unique(np.asarray(strip).reshape(-1, 3), axis=0)}
        for hexc in geo["palette"][:len(geo["names"])]:
            rgb = tuple(int(hexc[k:k + 2], 16) for k in (1, 3, 5))
            assert any(sum(abs(a - b) for a, b in zip(rgb, c)) < 12 for c in colours), hexc
        legend = f.evaluate("() => window.__dvi.panels.get('export').lastExport.legend")
        assert [r["label"] for r in legend["rows"]] == geo["names"] and sum(r["count"] for r in legend["rows"]) == N

        # SVG: a circle per sample in view, the class names as text, the regions as an image
        root = ET.parse(download(page, f, "SVG of the view", tmp_path)).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        circles = root.find(f"{ns}g[@class='points']").findall(f"{ns}circle")
        assert abs(len(circles) - N) <= 3, len(circles)  # the fitted view shows every sample
        texts = " ".join(t.text or "" for t in root.iter(f"{ns}text"))
        assert all(name in texts for name in geo["names"])
        assert root.find(f"{ns}image") is not None


def test_signal_colouring_strongest_on_top_and_capped_trails(chromium, tb):
    with checked_page(chromium, {"width": 1300, "height": 850}) as page:
        f = _open(page, tb, f"#dvi&dvi.run=noisy&dvi.epoch={EPOCHS}&dvi.colorby=signal%3Amislabel_score")
        wait_ready(f, EPOCHS)
        f.wait_for_function("() => { const d = window.__dvi.dyn; return d && d.data && d._derived && d._derived.order; }")
        drawn = f.evaluate("""() => { const m = window.__dvi.map, v = window.__dvi.dyn.data.arrays.mislabel_score;
          const order = window.__dvi.dyn._derived.order, n = window.__dvi.samples.n;
          let sorted = true; for (let k = 1; k < n; k++) if (v[order[k]] < v[order[k - 1]]) sorted = false;
          let light = 0, dark = 0; for (let i = 0; i < n; i++) { light += m.style[2*i+1] === 4; dark += m.style[2*i+1] === 1; }
          return { sorted, n, last: v[order[n - 1]], max: Math.max(...v), light, dark }; }""")
        # the highest mislabel scores are drawn last (on top); misclassified points carry the light mark
        assert drawn["sorted"] and drawn["last"] == drawn["max"], drawn
        assert drawn["dark"] == 0 and drawn["light"] > 0, drawn

        # 150 selected samples: trails for the first 100, and a note that says so
        f.evaluate("() => window.__dvi.store.set({ colorby: '', sel: Array.from(window.__dvi.samples.ids.slice(0, 150)) })")
        f.wait_for_function("() => document.querySelector('.dvi-root').dataset.trails === '100'")
        assert "first 100 of the 150 selected samples" in f.locator(".dvi-banner[data-key=trails]").inner_text()


def test_copy_link_and_dark_mode(chromium, tb):
    with checked_page(chromium, {"width": 1300, "height": 850}) as page:
        f = _open(page, tb, "#dvi&dvi.run=clean&dvi.epoch=3")
        wait_ready(f, 3)
        f.evaluate("() => window.__dvi.store.set({ sel: [window.__dvi.samples.ids[4]] })")
        f.get_by_role("button", name="Copy link").click()
        f.wait_for_function("() => document.querySelector('.dvi-root').dataset.link")
        link = f.evaluate("() => document.querySelector('.dvi-root').dataset.link")
        assert link.startswith(tb) and "dvi.run=clean" in link and "dvi.epoch=3" in link and "dvi.sel=" in link
        page.evaluate("() => document.body.classList.add('dark-mode')")  # TensorBoard's dark theme
        f.wait_for_function("() => document.querySelector('.dvi-root').classList.contains('dvi-dark')")
        assert f.evaluate("() => getComputedStyle(document.querySelector('.dvi-left')).backgroundColor") == "rgb(38, 38, 38)"
        page.evaluate("() => document.body.classList.remove('dark-mode')")
        f.wait_for_function("() => !document.querySelector('.dvi-root').classList.contains('dvi-dark')")


# In the data map's canvas: pixels inside the box of a region name where the points layer below
# has a point and the canvas shows something else (the name's text or its halo drawn over it).
JS_LABEL_OVER_POINTS = """() => {
  const dm = window.__dvi.dyn.dm; dm.drawNow();
  const c = dm.canvas, L = dm.layer, dpr = dm.dpr || 1, [ax0] = dm.toScreen(0, 1), [, ay1] = dm.toScreen(dm.xMax, 0);
  const W = c.width, box = [Math.round((ax0 + 2) * dpr), Math.round((ay1 - 18) * dpr), Math.round((ax0 + 80) * dpr), Math.round((ay1 - 2) * dpr)];
  const dc = c.getContext('2d').getImageData(0, 0, W, c.height).data, dl = L.getContext('2d').getImageData(0, 0, W, c.height).data;
  let point = 0, over = 0;
  for (let y = box[1]; y < box[3]; y++) for (let x = box[0]; x < box[2]; x++) {
    const k = 4 * (y * W + x); if (dl[k + 3] < 200) continue; point++;
    if (Math.abs(dc[k] - dl[k]) + Math.abs(dc[k + 1] - dl[k + 1]) + Math.abs(dc[k + 2] - dl[k + 2]) > 60) over++;
  }
  return { point, over, cssW: c.getBoundingClientRect().width };
}"""


def test_data_map_is_large_and_its_region_names_sit_above_the_points(chromium, tb):
    with checked_page(chromium, {"width": 1440, "height": 900}) as page:
        f = _open(page, tb, f"#dvi&dvi.run=noisy&dvi.epoch={EPOCHS}&dvi.dyn=1&dvi.colorby=signal%3Amislabel_score")
        wait_ready(f, EPOCHS)
        f.wait_for_function(f"() => window.__dvi.dyn.data !== null && window.__dvi.dyn.dm.n === {N}")
        small = f.evaluate(JS_LABEL_OVER_POINTS)
        assert small["cssW"] >= 200, small  # the issue: ~190 px
        # 'hard to learn' sits where the wrong labels crowd: the points there are under its letters
        assert small["point"] > 20 and small["over"] > 0.2 * small["point"], small
        f.locator(".dvi-dyn-enlarge").click()
        f.wait_for_function("() => window.__dvi.dyn.dm.canvas.getBoundingClientRect().width >= 500")
        large = f.evaluate(JS_LABEL_OVER_POINTS)
        assert large["point"] > 0 and large["over"] > 0, large
