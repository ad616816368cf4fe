"""Browser test: compare panes are crisp when zoomed (issue 15), like the single map. Zooming one
pane (views are linked while aligned) makes every pane ask for ``background?bounds=`` of its visible
part and draw that tile; the rotated pane ("Rotate", Procrustes) asks for the box that covers its view
in its own coordinates and draws the tile warped, so its pixels follow its run's decision function
at the back-mapped points. Zooming out drops the tiles. Fake backend (tests/e2e/fake_api.py)."""

import numpy as np

from harness import dvi_frame
from test_tab_e2e import chromium, page, pytestmark  # noqa: F401 (fixtures, marks)
from test_zoom_background_fake import expected_rgb, srv  # noqa: F401 (srv: the fake server fixture)

# background pixels of pane k at CSS points, with the points' data coordinates mapped back into the
# run's own coordinates (through the inverse of the pane's alignment)
JS_SAMPLE = """([k, pts]) => {
  const p = window.__dvi.compare.panes[k], m = p.map, ctx = m.bgCanvas.getContext('2d'), out = [];
  const T = m.proj.align, inv = T && !T.identity ? (() => { const [a, b, c, d] = T.m, det = a * d - b * c;
    const mi = [d / det, -b / det, -c / det, a / det]; return (x, y) => [mi[0] * (x - T.t[0]) + mi[1] * (y - T.t[1]), mi[2] * (x - T.t[0]) + mi[3] * (y - T.t[1])]; })() : (x, y) => [x, y];
  for (const [x, y] of pts) {
    const d = ctx.getImageData(Math.floor(x * m.dpr), Math.floor(y * m.dpr), 1, 1).data;
    out.push([d[0], d[1], d[2], ...inv(...m.toData(x, y))]);
  }
  return out;
}"""


def agreement(frame, k, pts, run, epoch):
    """Share of the points (those inside the run's own regions, in its own coordinates) whose pixel is
    within 4 levels of the run's decision function there."""
    got = np.array(frame.evaluate(JS_SAMPLE, [k, pts]), dtype=np.float64)
    x0, y0, x1, y1 = run.bounds(epoch)
    mx, my = 0.02 * (x1 - x0), 0.02 * (y1 - y0)
    inside = (got[:, 3] > x0 + mx) & (got[:, 3] < x1 - mx) & (got[:, 4] > y0 + my) & (got[:, 4] < y1 - my)
    assert inside.sum() >= 100, inside.sum()
    got = got[inside]
    return (np.abs(got[:, :3] - expected_rgb(run, epoch, got[:, 3:])).max(1) <= 4).mean()


def test_zoomed_compare_panes_redraw_their_regions(page, srv):
    page.goto(srv.url + "#dvi&dvi.compare=clean,noisy%2Flabels-20&dvi.align=procrustes")
    frame = dvi_frame(page)
    frame.wait_for_function("() => { const c = window.__dvi.compare; return c && c.active && c.ready && c.panes.every(p => p.map.bg); }")
    T = frame.evaluate("() => window.__dvi.compare.panes[1].map.proj.align")
    assert not T.get("identity") and abs(T["angle"]) > 1, T  # the fake runs are rotated against each other
    srv.api.zoom_requests.clear()
    # zoom (about 100x) into the middle of the rotated pane's own points, where its class boundaries meet;
    # the other pane follows
    box = frame.locator(".dvi-cmp-pane[data-pane='1'] .dvi-map").bounding_box()
    at = frame.evaluate("""() => { const m = window.__dvi.compare.panes[1].map, [x0, y0, x1, y1] = m.ownBounds();
      return m.toScreen((x0 + x1) / 2, (y0 + y1) / 2); }""")
    page.mouse.move(box["x"] + at[0], box["y"] + at[1])
    for _ in range(8):
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(40)
    frame.wait_for_function("() => window.__dvi.compare.panes.every(p => p.map.view.k / p.map.fitTo.k > 50)")
    frame.wait_for_function("() => window.__dvi.compare.panes.every(p => p.map.zoomBg.current() !== null)", timeout=20000)
    asked = {q["run"]: q for q in srv.api.zoom_requests if "bounds" in q}
    assert set(asked) == {"clean", "noisy/labels-20"}, srv.api.zoom_requests
    epoch = frame.evaluate("() => window.__dvi.compare.panes[0].shown")
    kinds = frame.evaluate("() => window.__dvi.compare.panes.map(p => p.map.zoomBg.current().image.tagName)")
    assert kinds == ["IMG", "CANVAS"]  # the rotated pane's tile is warped onto its view
    runs = [srv.api.runs["clean"], srv.api.runs["noisy/labels-20"]]
    for k in (0, 1):
        # points of the view inside the tile (the rotated pane's regions cover only part of the shared view)
        x0, y0, x1, y1 = frame.evaluate(f"""() => {{ const m = window.__dvi.compare.panes[{k}].map, b = m.zoomBg.current().bounds;
          const [ax, ay] = m.toScreen(b[0], b[3]), [bx, by] = m.toScreen(b[2], b[1]);
          return [Math.max(ax, 0), Math.max(ay, 0), Math.min(bx, m.cssW), Math.min(by, m.cssH)]; }}""")
        assert x1 - x0 > 40 and y1 - y0 > 40, (k, x0, y0, x1, y1)
        pts = np.random.RandomState(k).uniform([x0 + 5, y0 + 5], [x1 - 5, y1 - 5], (400, 2)).tolist()
        with_tile = agreement(frame, k, pts, runs[k], epoch)
        frame.evaluate(f"() => {{ const z = window.__dvi.compare.panes[{k}].map.zoomBg; z._kept = z.tile; z.tile = null; window.__dvi.compare.panes[{k}].map.drawNow(); }}")
        stretched = agreement(frame, k, pts, runs[k], epoch)
        frame.evaluate(f"() => {{ const z = window.__dvi.compare.panes[{k}].map.zoomBg; z.tile = z._kept; window.__dvi.compare.panes[{k}].map.drawNow(); }}")
        print(f"pane {k}: agreement with the tile {with_tile:.2f}, stretched image alone {stretched:.2f}")
        assert with_tile >= 0.85 and with_tile > stretched + 0.1, (k, with_tile, stretched)
    page.screenshot(path="/tmp/dvi-compare-zoomed.png")
    # zooming out drops every tile
    frame.evaluate("() => window.__dvi.compare.panes[0].map.resetView()")
    frame.wait_for_function("() => window.__dvi.compare.panes.every(p => p.map.zoomBg.current() === null)")
