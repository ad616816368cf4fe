"""End-to-end tests of the "Training dynamics" panel of the DVI tab (static/dynamics.js,
static/datamap.js): a real `tensorboard` over a small noisy run written by the real DVIWriter
(engine cache precomputed with fit_run), headless Chromium, canvas pixels checked.

Run: pytest -m e2e tests/e2e/test_dynamics_e2e.py   (skipped without /usr/bin/chromium or playwright)
"""

import csv
import io
import json
import re
import urllib.parse

import pytest

from harness import wait_hash, browser, checked_page, chromium_missing_reason, dvi_frame, fitted_tensorboard, wait_ready, write_logdir

pytestmark = [pytest.mark.e2e]

_missing = chromium_missing_reason()
if _missing:
    pytestmark.append(pytest.mark.skip(reason=_missing))

EPOCHS = 4
N = 500  # make_run: 400 train + 100 test, 20 % noisy train labels


@pytest.fixture(scope="module")
def tb(tmp_path_factory):
    root = tmp_path_factory.mktemp("dvi-dyn-e2e")

    def write(logdir):
        write_logdir(str(logdir), runs=(("noisy", 1, 0.2),), epochs=EPOCHS)

    with fitted_tensorboard(root, write, ["noisy"]) as base:
        yield base


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


@pytest.fixture
def page(chromium):
    with checked_page(chromium, {"width": 1400, "height": 900}, accept_downloads=True) as pg:
        yield pg


def tab_frame(page):
    """dvi_frame, once more after a reload when TensorBoard's own shell never created the plugin
    iframe (seen about once in 30 runs on a loaded 2-core machine; a failure of the tab itself,
    iframe present, is not retried)."""
    try:
        return dvi_frame(page)
    except AssertionError:
        if any("plugin_entry.html" in f.url for f in page.frames):
            raise
        page.reload()
        return dvi_frame(page)


def open_dynamics(page, base, extra=""):
    page.goto(base + "#dvi&dvi.run=noisy&dvi.dyn=1" + extra)
    frame = tab_frame(page)
    frame.wait_for_function("() => window.__dvi.dyn.data !== null && window.__dvi.dyn.dm.n === %d" % N)
    frame.evaluate("() => window.__dvi.dyn.dm.canvas.scrollIntoView({block: 'center'})")
    return frame


def settle(frame):
    wait_ready(frame)


def iframe_offset(page):
    box = page.locator("iframe").first.bounding_box()
    return box["x"], box["y"]


def top_hash(page):
    return urllib.parse.unquote(page.evaluate("() => location.hash"))


def sel(frame):
    return frame.evaluate("() => window.__dvi.store.get().sel")


# --- pixels --------------------------------------------------------------------------------

JS_MAP_PIXELS = """() => {
  const m = window.__dvi.map, gl = m.points.gl;
  m.drawNow(); m.finish();
  const W = m.ptCanvas.width, H = m.ptCanvas.height, px = new Uint8Array(W * H * 4);
  gl.readPixels(0, 0, W, H, gl.RGBA, gl.UNSIGNED_BYTE, px);
  let opaque = 0, black = 0, yellow = 0, purple = 0, hash = 0;
  for (let i = 0; i < W * H; i++) {
    const r = px[4 * i], g = px[4 * i + 1], b = px[4 * i + 2], a = px[4 * i + 3];
    if (a > 0) { opaque++; hash = (hash * 31 + i * 7 + r + 3 * g) | 0; }
    if (a > 200 && r < 12 && g < 12 && b < 12) black++;
    if (a > 150 && r > 170 && g > 190 && b < 90) yellow++;   // the top of the viridis ramp
    if (a > 150 && r > 30 && r < 110 && g < 70 && b > 50 && b < 150 && b > r) purple++;   // its bottom
  }
  return {opaque, black, yellow, purple, hash};
}"""

JS_DM_PIXELS = """() => {
  const dm = window.__dvi.dyn.dm;
  dm.drawNow();
  const c = dm.canvas, d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let dark = 0, coloured = 0, orange = 0;
  for (let i = 0; i < d.length; i += 4) {
    const r = d[i], g = d[i + 1], b = d[i + 2], a = d[i + 3];
    if (a > 200 && r < 40 && g < 40 && b < 40) dark++;
    if (a > 0 && Math.max(r, g, b) - Math.min(r, g, b) > 40) coloured++;
    if (a > 200 && r > 220 && g > 100 && g < 150 && b < 60) orange++;   // the hover ring (#f57c00)
  }
  return {dark, coloured, orange};
}"""

JS_OVERLAY_PIXELS = """() => {
  const m = window.__dvi.map;
  m.drawNow();
  const c = m.ovCanvas, d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}"""


def dm_page_point(page, frame, x, y):
    """Page coordinates of data-map point (variability x, confidence y)."""
    sx, sy = frame.evaluate("""([x, y]) => { const dm = window.__dvi.dyn.dm, r = dm.canvas.getBoundingClientRect();
      const [u, v] = dm.toScreen(x, y); return [r.left + u, r.top + v]; }""", [x, y])
    ox, oy = iframe_offset(page)
    return ox + sx, oy + sy


def drag(page, a, b):
    page.mouse.move(*a)
    page.mouse.down()
    page.mouse.move((a[0] + b[0]) / 2, (a[1] + b[1]) / 2, steps=3)
    page.mouse.move(*b, steps=3)
    page.mouse.up()


# --- tests ---------------------------------------------------------------------------------

def test_data_map_selection_and_hover_are_linked_with_the_map(tb, page):
    frame = open_dynamics(page, tb)
    settle(frame)
    dm0 = frame.evaluate(JS_DM_PIXELS)
    assert dm0["coloured"] > 500, dm0  # hundreds of points in class colours
    map0 = frame.evaluate(JS_MAP_PIXELS)
    x_max, q30 = frame.evaluate("""() => { const c = Array.from(window.__dvi.dyn.data.arrays.conf_mean).sort((a, b) => a - b);
      return [window.__dvi.dyn.dm.xMax, c[Math.floor(0.3 * c.length)]]; }""")

    # data map → map: box-select the least confident 30 % (where the wrong labels end up)
    drag(page, dm_page_point(page, frame, -0.02 * x_max, q30), dm_page_point(page, frame, x_max * 1.02, -0.02))
    frame.wait_for_function("() => window.__dvi.store.get().sel.length > 5")
    ids = sel(frame)
    got = frame.evaluate(f"""() => {{ const d = window.__dvi.dyn, s = window.__dvi.samples;
      const idx = window.__dvi.selectionIndices();
      return {{conf: idx.map(i => d.data.arrays.conf_mean[i]), noisy: idx.map(i => s.noisy[i]),
              below: Array.from(d.data.arrays.conf_mean).filter(v => v <= {q30} - 0.01).length,
              mapSel: window.__dvi.map.selectedIdx.length}}; }}""")
    assert max(got["conf"]) <= q30 + 0.01 and len(ids) >= got["below"] and len(ids) < 0.4 * N, (q30, got)
    assert sum(got["noisy"]) / len(ids) > 1.5 * 80 / N, got  # enriched in noisy labels (80 of 500 overall)
    assert got["mapSel"] == len(ids)
    map1 = frame.evaluate(JS_MAP_PIXELS)
    assert map1["black"] > map0["black"] + 20 * len(ids) // 2, (map0, map1)  # black selection rings
    assert map1["hash"] != map0["hash"]
    frame.wait_for_function("() => document.querySelector('.dvi-root').dataset.trails !== '0'")
    dm1 = frame.evaluate(JS_DM_PIXELS)
    assert dm1["dark"] > dm0["dark"] + 100, (dm0, dm1)  # black rings on the data map too (they overlap)
    wait_hash(page, "dvi.sel=")

    # data map hover → the map's highlight ring
    i = frame.evaluate("() => window.__dvi.selectionIndices()[0]")
    xy = frame.evaluate(f"() => [window.__dvi.dyn.data.arrays.conf_std[{i}], window.__dvi.dyn.data.arrays.conf_mean[{i}]]")
    page.mouse.move(*dm_page_point(page, frame, *xy))
    frame.wait_for_function("() => window.__dvi.map.highlight >= 0")
    h = frame.evaluate("() => window.__dvi.map.highlight")
    hxy = frame.evaluate(f"() => [window.__dvi.dyn.data.arrays.conf_std[{h}], window.__dvi.dyn.data.arrays.conf_mean[{h}]]")
    assert abs(hxy[0] - xy[0]) < 0.02 and abs(hxy[1] - xy[1]) < 0.03  # the hovered point (or one on top of it)
    assert frame.evaluate(JS_OVERLAY_PIXELS) > 30
    assert str(frame.evaluate(f"() => window.__dvi.samples.ids[{h}]")) in frame.locator(".dvi-dyn-readout").inner_text()

    # map → data map: clear, then box-select on the map
    frame.locator(".dvi-map").focus()
    page.keyboard.press("Escape")
    frame.wait_for_function("() => window.__dvi.store.get().sel.length === 0 && window.__dvi.dyn.dm.selected.length === 0")
    dm2 = frame.evaluate(JS_DM_PIXELS)
    assert dm2["dark"] <= dm0["dark"] + 5
    frame.get_by_role("radio", name="Box").click()
    box = frame.locator(".dvi-map").bounding_box()
    ox, oy = iframe_offset(page)
    cx, cy = ox + box["x"] + box["width"] / 2, oy + box["y"] + box["height"] / 2
    drag(page, (cx - 110, cy - 110), (cx + 110, cy + 110))
    frame.wait_for_function("() => window.__dvi.store.get().sel.length > 3")
    n_sel = len(sel(frame))
    frame.wait_for_function(f"() => window.__dvi.dyn.dm.selected.length === {n_sel}")
    dm3 = frame.evaluate(JS_DM_PIXELS)
    assert dm3["dark"] > dm2["dark"] + 100, (dm2, dm3)
    # and the map's hover shows on the data map
    frame.get_by_role("radio", name="Pan").click()
    j = frame.evaluate("() => window.__dvi.selectionIndices()[0]")
    pt = frame.evaluate(f"""() => {{ const m = window.__dvi.map, r = m.root.getBoundingClientRect();
      const [x, y] = m.toScreen(m.pos1[2 * {j}], m.pos1[2 * {j} + 1]); return [r.left + x, r.top + y]; }}""")
    orange0 = frame.evaluate(JS_DM_PIXELS)["orange"]
    page.mouse.move(ox + pt[0], oy + pt[1])
    frame.wait_for_function("() => window.__dvi.dyn.dm.highlight >= 0")
    assert frame.evaluate("() => window.__dvi.dyn.dm.highlight") == frame.evaluate("() => window.__dvi.map.highlight")
    assert frame.evaluate(JS_DM_PIXELS)["orange"] > orange0 + 10  # the orange hover ring


def test_queries_select_their_result_and_colour_size_filter_by_signal(tb, page):
    frame = open_dynamics(page, tb)
    settle(frame)
    api = frame.evaluate("""async () => (await (await fetch('./dynamics_query?run=noisy&query=likely_mislabelled&n=30&split=train')).json())""")
    frame.locator("select[aria-label=Query]").select_option("likely_mislabelled")
    frame.locator("input[aria-label='Query parameter']").fill("30")
    frame.locator("select[aria-label='Query split']").select_option("train")
    frame.get_by_role("button", name="Run query").click()
    frame.wait_for_function("() => window.__dvi.store.get().query !== ''")
    assert sel(frame) == api["ids"] and len(api["ids"]) == 30
    assert frame.locator(".dvi-dyn-qinfo").inner_text().startswith(f"30 of {N} samples selected")
    frame.wait_for_function("() => window.parent.location.hash.includes('dvi.query=')")
    assert "dvi.query=likely_mislabelled:n=30;split=train" in top_hash(page)
    assert frame.evaluate("() => window.__dvi.map.selectedIdx.length") == 30

    api2 = frame.evaluate("""async () => (await (await fetch('./dynamics_query?run=noisy&query=crossed_boundary&k=1')).json())""")
    frame.locator("select[aria-label=Query]").select_option("crossed_boundary")
    frame.locator("input[aria-label='Query parameter']").fill("1")
    frame.locator("select[aria-label='Query split']").select_option("all")
    frame.get_by_role("button", name="Run query").click()
    frame.wait_for_function("() => window.__dvi.store.get().query.startsWith('crossed_boundary')")
    assert sel(frame) == api2["ids"] and api2["count"] > 0
    # a selection made by hand is no longer the query's result
    frame.evaluate("() => window.__dvi.store.set({sel: [window.__dvi.samples.ids[0]]})")
    frame.wait_for_function("() => window.__dvi.store.get().query === ''")

    # colour by a signal: the points change colour, the legend becomes a colour bar
    frame.locator(".dvi-map").focus()
    page.keyboard.press("Escape")
    frame.wait_for_function("() => window.__dvi.store.get().sel.length === 0")
    before = frame.evaluate(JS_MAP_PIXELS)
    frame.locator("select[aria-label='Colour by signal']").select_option("conf_mean")
    frame.wait_for_function("() => window.__dvi.store.get().colorby === 'signal:conf_mean'")
    after = frame.evaluate(JS_MAP_PIXELS)
    assert after["hash"] != before["hash"]
    # this small run is not confident yet (conf_mean < 0.5): the points take the ramp's dark purple end
    assert after["purple"] > before["purple"] + 1000, (before, after)
    assert frame.locator(".dvi-legend .dvi-dyn-colorbar[data-signal=conf_mean]").count() == 1
    assert frame.locator(".dvi-seg[data-name=color] button.on").count() == 0
    colours = frame.evaluate("""() => { const c = window.__dvi.map.color1, d = window.__dvi.dyn._derived.colors, n = window.__dvi.samples.n;
      let same = 0; const set = new Set();
      for (let i = 0; i < n; i++) { if (c[4*i] === d[3*i] && c[4*i+1] === d[3*i+1] && c[4*i+2] === d[3*i+2]) same++; set.add(c[4*i] << 16 | c[4*i+1] << 8 | c[4*i+2]); }
      return {same, distinct: set.size}; }""")
    assert colours["same"] == N and colours["distinct"] > 30, colours  # a continuous ramp
    # the strongest values are drawn last (on top); misclassified points get the light mark
    drawn = frame.evaluate("""() => { const m = window.__dvi.map, v = window.__dvi.dyn.data.arrays.conf_mean, pts = m.points;
      const order = window.__dvi.dyn._derived.order, n = window.__dvi.samples.n;
      let sorted = true; for (let k = 1; k < n; k++) if (v[order[k]] < v[order[k - 1]]) sorted = false;
      let light = 0, dark = 0; for (let i = 0; i < n; i++) { light += m.style[2*i+1] === 4; dark += m.style[2*i+1] === 1; }
      return { sorted, used: (pts.nOrder ?? (pts.order ? pts.order.length : 0)) === n, light, dark, wrong: window.__dvi.map.proj.flags.filter(f => f & 1).length }; }""")
    assert drawn["sorted"] and drawn["used"] and drawn["dark"] == 0 and drawn["light"] > 0, drawn
    # size by a signal changes the drawn area
    frame.locator("select[aria-label='Size by signal']").select_option("conf_std")
    frame.wait_for_function("() => window.__dvi.store.get().sizeby === 'signal:conf_std'")
    sized = frame.evaluate(JS_MAP_PIXELS)
    assert abs(sized["opaque"] - after["opaque"]) > 0.05 * after["opaque"], (after, sized)
    # the range filter keeps the samples in range only
    frame.locator("select[aria-label='Range filter signal']").select_option("conf_mean")
    med = frame.evaluate("""() => { const c = Array.from(window.__dvi.dyn.data.arrays.conf_mean).sort((a, b) => a - b);
      return +c[Math.floor(c.length / 2)].toFixed(3); }""")
    frame.locator("input[aria-label='Range maximum']").fill(str(med))
    frame.locator("input[aria-label='Range maximum']").press("Enter")
    frame.wait_for_function(f"() => window.__dvi.store.get().dfilter === 'conf_mean::{med}'")
    expect = frame.evaluate(f"() => Array.from(window.__dvi.dyn.data.arrays.conf_mean).filter(v => v <= {med}).length")
    frame.wait_for_function(f"() => window.__dvi.map.visibleCount === {expect}")
    assert 0 < expect < N
    filtered = frame.evaluate(JS_MAP_PIXELS)
    assert filtered["opaque"] < after["opaque"]
    # the legend's button restores class colours; the state survives a reload
    frame.get_by_role("radio", name="Correctness").click()
    frame.wait_for_function("() => window.__dvi.store.get().colorby === ''")
    frame.locator("select[aria-label='Colour by signal']").select_option("forgetting")
    frame.locator("select[aria-label=Query]").select_option("still_misclassified")
    frame.get_by_role("button", name="Run query").click()
    frame.wait_for_function("() => window.__dvi.store.get().query === 'still_misclassified'")
    n_q = len(sel(frame))
    frame.wait_for_function("() => window.parent.location.hash.includes('dvi.query=still')")
    page.reload()
    frame = tab_frame(page)
    frame.wait_for_function(f"() => window.__dvi.dyn.data !== null && window.__dvi.store.get().sel.length === {n_q}")
    state = frame.evaluate("() => { const s = window.__dvi.store.get(); return [s.dyn, s.colorby, s.sizeby, s.dfilter, s.query]; }")
    assert state == [True, "signal:forgetting", "signal:conf_std", f"conf_mean::{med}", "still_misclassified"]
    frame.wait_for_function(f"() => window.__dvi.map.visibleCount === {expect}")


def read_download(page, tmp_path, click):
    with page.expect_download() as d:
        click()
    path = tmp_path / d.value.suggested_filename
    d.value.save_as(path)
    return d.value.suggested_filename, path.read_text()


def test_export_of_a_query_result_and_of_a_selection(tb, page, tmp_path):
    frame = open_dynamics(page, tb)
    frame.locator("select[aria-label=Query]").select_option("still_misclassified")
    frame.get_by_role("button", name="Run query").click()
    frame.wait_for_function("() => window.__dvi.store.get().query === 'still_misclassified'")
    ids = sel(frame)
    assert ids
    name, text = read_download(page, tmp_path, lambda: frame.get_by_role("button", name="Signals CSV").click())
    assert name == "dvi-dynamics-noisy-still_misclassified.csv"
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [int(r["id"]) for r in rows] == ids
    assert list(rows[0])[:4] == ["id", "label", "split", "noisy"] and "mislabel_score" in rows[0]
    assert all(r["final_correct"] == "0" for r in rows)

    # a hand-made selection, as JSON
    pick = frame.evaluate("() => Array.from(window.__dvi.samples.ids.slice(3, 8)).reverse()")
    frame.evaluate(f"() => window.__dvi.store.set({{sel: {pick}}})")
    frame.wait_for_function("() => window.__dvi.store.get().query === ''")
    name, text = read_download(page, tmp_path, lambda: frame.get_by_role("button", name="Signals JSON").click())
    assert name == "dvi-dynamics-noisy-selection.json"
    data = json.loads(text)
    assert data["count"] == 5 and [s["id"] for s in data["samples"]] == pick
    conf = frame.evaluate("() => window.__dvi.selectionIndices().map(i => window.__dvi.dyn.data.arrays.conf_mean[i])")
    assert all(abs(s["conf_mean"] - c) < 1e-5 for s, c in zip(data["samples"], conf))

    # every sample: the ids go in a POST body
    frame.evaluate("() => window.__dvi.store.set({sel: Array.from(window.__dvi.samples.ids)})")
    name, text = read_download(page, tmp_path, lambda: frame.get_by_role("button", name="Signals CSV").click())
    lines = text.strip().split("\n")
    assert len(lines) == N + 1
    assert re.match(r"^id,label,split,noisy,", lines[0])
