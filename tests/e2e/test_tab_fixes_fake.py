"""Browser tests of issue 15's tab bugs against the fake backend (tests/e2e/fake_api.py, which
follows docs/HTTP_API.md; fitting can be staged and the server stopped and started again):
the URL hash moves the tab (back / forward / edited), "server unreachable" and recovery, the
"k of N epochs ready" count after a resume, and the slider and its ticks sharing one domain."""

import pytest

from fake_api import FakeServer
from harness import browser, e2e_marks, plugin_frame, wait_ready

pytestmark = e2e_marks()


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


def _open(chromium, srv, hash_="#dvi"):
    page = chromium.new_page(viewport={"width": 1300, "height": 800})
    page.set_default_timeout(90_000)  # the fake backend answers at once
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(srv.url + hash_)
    f = plugin_frame(page)
    f.wait_for_function("() => window.__dvi && window.__dvi.job")
    return page, f, errors


def test_hash_change_back_and_forward_move_the_tab(chromium):
    with FakeServer(n=300, epochs=8) as srv:
        page, f, errors = _open(chromium, srv, "#dvi&dvi.run=clean&dvi.epoch=1")
        wait_ready(f, 1)
        # an edited hash in a page already showing epoch 1 (the case)
        page.evaluate("() => { location.hash = '#dvi&dvi.run=noisy%2Flabels-20&dvi.epoch=8'; }")
        wait_ready(f, 8)
        assert f.evaluate("() => window.__dvi.run.name") == "noisy/labels-20"
        assert f.locator("[data-testid=epoch]").inner_text() == "8"
        page.go_back()
        wait_ready(f, 1)
        assert f.evaluate("() => window.__dvi.run.name") == "clean"
        page.go_forward()
        wait_ready(f, 8)
        assert f.evaluate("() => window.__dvi.run.name") == "noisy/labels-20"
        # another TensorBoard tab's hash is not followed
        page.evaluate("() => { location.hash = '#scalars&dvi.epoch=3'; }")
        page.wait_for_timeout(500)
        assert f.evaluate("() => window.__dvi.session.shownEpoch") == 8
        assert not errors, errors
        page.close()


def test_server_gone_is_shown_and_the_tab_recovers(chromium):
    srv = FakeServer(n=300, epochs=4).__enter__()
    port = srv.port
    try:
        page, f, errors = _open(chromium, srv, "#dvi&dvi.epoch=1")
        wait_ready(f, 1)
        srv.__exit__(None, None, None)
        srv = None
        # the next request (here: stepping to an epoch not loaded yet) finds no server
        f.evaluate("() => window.__dvi.store.set({ epoch: 2 })")
        banner = f.locator(".dvi-banner[data-key=server]")
        banner.wait_for(state="visible")
        assert "Server unreachable" in banner.inner_text()
        assert f.evaluate("() => document.querySelector('.dvi-root').dataset.server") == "unreachable"
        srv = FakeServer(port=port, n=300, epochs=4).__enter__()
        # recovers without a reload: the banner goes, the wanted epoch is drawn
        banner.wait_for(state="detached")
        wait_ready(f, 2)
        assert f.locator(".dvi-banner.error").count() == 0
        assert not errors, errors
        page.close()
    finally:
        if srv is not None:
            srv.__exit__(None, None, None)


def test_resume_after_cancel_counts_the_runs_epochs(chromium):
    with FakeServer(n=300, epochs=8, fit_seconds=0.8) as srv:
        page, f, errors = _open(chromium, srv)
        f.wait_for_function("() => window.__dvi.fitted.length >= 1")
        f.get_by_role("button", name="Cancel").click()
        f.wait_for_function("() => window.__dvi.job.state === 'cancelled'")
        k = f.evaluate("() => window.__dvi.fitted.length")
        assert f"{k} of 8 epochs are ready" in f.locator(".dvi-progress").inner_text()
        f.get_by_role("button", name="Resume").click()
        f.wait_for_function("() => window.__dvi.job.state === 'running' && window.__dvi.job.epochs_total < 8")
        f.wait_for_function("() => window.__dvi.fitted.length > %d" % k)
        text = f.locator(".dvi-progress").inner_text()
        done = f.evaluate("() => window.__dvi.fitted.length")
        # the job fits 8 - k epochs, the run has 8: the count is the run's
        assert f"of 8 epochs ready" in text and (f"{done} of 8" in text or f"{done + 1} of 8" in text), text
        assert not errors, errors
        page.close()


def test_slider_and_ticks_share_the_logged_epochs(chromium):
    with FakeServer(n=300, epochs=6, fit_seconds=1.5) as srv:
        page, f, errors = _open(chromium, srv)
        f.wait_for_function("() => window.__dvi.fitted.length >= 2")
        geo = f.evaluate("""() => {
          const s = document.querySelector('input[aria-label=Epoch]'), r = s.getBoundingClientRect();
          const ticks = [...document.querySelectorAll('.dvi-ticks .tick')].map((t) => {
            const b = t.getBoundingClientRect(); return { ep: Number(t.dataset.epoch), x: b.left + b.width / 2, cls: t.className }; });
          return { max: Number(s.max), left: r.left, width: r.width, ticks, fitted: window.__dvi.fitted };
        }""")
        n = len(geo["ticks"])
        assert n == 6 and geo["max"] == n - 1, geo
        # Chromium's range thumb is 16 px wide: value k is drawn at left + 8 + (width - 16) * k / (n - 1)
        for k, t in enumerate(geo["ticks"]):
            thumb = geo["left"] + 8 + (geo["width"] - 16) * k / (n - 1)
            assert abs(t["x"] - thumb) < 3, (k, t, thumb)
        pending = [t["ep"] for t in geo["ticks"] if "pending" in t["cls"]]
        assert pending and not set(pending) & set(geo["fitted"])
        # picking an unfitted epoch on the slider: the map keeps a fitted one and says so
        last = geo["ticks"][-1]["ep"]
        f.locator("input[aria-label=Epoch]").evaluate("(s, v) => { s.value = String(v); s.dispatchEvent(new Event('input')); }", n - 1)
        f.locator("[data-testid=epoch-pending]").wait_for()
        assert f"{last} not fitted yet" in f.locator("[data-testid=epoch-pending]").inner_text()
        assert f.evaluate("() => window.__dvi.session.shownEpoch") in geo["fitted"] + [last]
        assert not errors, errors
        page.close()


def test_compare_while_one_run_is_still_fitting(chromium):
    """The reference fits 6x slower than the other run: before its first epoch the other pane says
    it is not aligned yet because the reference is not fitted (not "too few shared samples"); then,
    locked at epoch 3, the reference shows epoch 1 and says so, the other pane is aligned onto the
    reference map on screen, and the agreement matrix names both epochs."""
    slow = "noisy/labels-20"
    with FakeServer(n=400, epochs=6, fit_seconds=0.5, slow={slow: 6}) as srv:
        page, f, errors = _open(chromium, srv, "#dvi&dvi.run=clean&dvi.epoch=3&dvi.compare=noisy%2Flabels-20,clean")
        f.wait_for_function("() => { const c = window.__dvi.compare; return c && c.active && c.panes.length === 2 && c.panes[1].shown !== null; }")
        # the reference's first epoch comes 3 s after the other pane's first
        f.wait_for_function("() => document.querySelector(\".dvi-cmp-pane[data-pane='1'] .dvi-cmp-align\").textContent.includes('not aligned yet')",
                            timeout=10_000)
        align = f.locator(".dvi-cmp-pane[data-pane='1'] .dvi-cmp-align").inner_text()
        assert slow in align and "is not fitted yet" in align and "too few" not in align, align
        f.wait_for_function("""() => { const c = window.__dvi.compare; return c.ready && c.panes[0].shown === 1
          && c.panes[1].shown === 3 && c.panes[1].map.proj && c.panes[1].map.proj.align; }""")
        clamp = f.locator(".dvi-cmp-pane[data-pane='0'] .dvi-cmp-clamp")
        assert clamp.is_visible() and "shows epoch 1, not 3" in clamp.inner_text() and "not fitted yet" in clamp.inner_text()
        assert "aligned to %s @ 1" % slow in f.locator(".dvi-cmp-pane[data-pane='1'] .dvi-cmp-align").inner_text()
        warn = f.locator("[data-testid=matrix-epochs]")
        assert warn.text_content() == ("Different epochs: %s has no fitted epoch 3 yet, so this compares %s @ 1 with clean @ 3."
                                       % (slow, slow))
        assert "%s @ 1 vs clean @ 3" % slow in f.locator(".dvi-compare h3", has_text="Differences").text_content()
        # when the reference catches up, both show epoch 3 and the warning goes
        f.wait_for_function("() => { const c = window.__dvi.compare; return c.ready && c.panes[0].shown === 3 && c.panes[1].shown === 3; }")
        f.wait_for_function("() => !document.querySelector('[data-testid=matrix-epochs]')")
        assert not errors, errors
        page.close()


def test_png_has_a_legend_and_svg_export(chromium, tmp_path):
    import io
    import xml.etree.ElementTree as ET

    with FakeServer(n=300, epochs=3) as srv:
        page = chromium.new_page(viewport={"width": 1300, "height": 800}, accept_downloads=True)
        page.set_default_timeout(90_000)
        page.goto(srv.url + "#dvi&dvi.epoch=2")
        f = plugin_frame(page)
        wait_ready(f, 2)
        with page.expect_download() as d:
            f.get_by_role("button", name="PNG of the view").click()
        png = tmp_path / d.value.suggested_filename
        d.value.save_as(png)
        from PIL import Image
        img = Image.open(io.BytesIO(png.read_bytes())).convert("RGB")
        geo = f.evaluate("() => ({ w: window.__dvi.map.bgCanvas.width, h: window.__dvi.map.bgCanvas.height, dpr: window.__dvi.map.dpr,"
                         " names: window.__dvi.session.classNames, palette: window.__dvi.session.palette })")
        assert img.size == (geo["w"] + round(190 * geo["dpr"]), max(geo["h"], img.size[1]))
        # the legend strip beside the map holds each class colour (its swatches)
        strip = img.crop((geo["w"], 0, img.size[0], img.size[1]))
        colours = {strip.getpixel((x, y)) for x in range(strip.size[0]) for y in range(strip.size[1])}
        for hexc in geo["palette"][:10]:
            rgb = tuple(int(hexc[k:k + 2], 16) for k in (1, 3, 5))
            assert any(sum(abs(a - b) for a, b in zip(rgb, c)) < 12 for c in colours), hexc
        legend = f.evaluate("() => window.__dvi.panels.get('export').lastExport.legend")
        assert [r["label"] for r in legend["rows"]] == geo["names"]
        assert sum(r["count"] for r in legend["rows"]) == 300
        # SVG: one circle per sample inside the view, the legend's names as text
        with page.expect_download() as d:
            f.get_by_role("button", name="SVG of the view").click()
        svg = tmp_path / d.value.suggested_filename
        d.value.save_as(svg)
        assert svg.name.endswith(".svg")
        root = ET.parse(svg).getroot()
        ns = "{http://www.w3.org/2000/svg}"
        pts = root.find(f"{ns}g[@class='points']").findall(f"{ns}circle")
        inside = f.evaluate("""() => { const m = window.__dvi.map; let k = 0;
          for (let i = 0; i < m.samples.n; i++) { const [x, y] = m.toScreen(m.pos1[2*i], m.pos1[2*i+1]);
            if (x >= 0 && x <= m.cssW && y >= 0 && y <= m.cssH && m.color1[4*i+3] > 0) k++; } return k; }""")
        assert abs(len(pts) - inside) <= 3 and inside > 250, (len(pts), inside)
        texts = [t.text for t in root.iter(f"{ns}text")]
        assert any(geo["names"][0] in (t or "") for t in texts)
        assert root.find(f"{ns}image") is not None  # the background
        page.close()


def test_trails_are_capped_with_a_note_and_clipped_to_the_map(chromium):
    with FakeServer(n=400, epochs=6) as srv:
        page, f, errors = _open(chromium, srv, "#dvi&dvi.epoch=3")
        wait_ready(f, 3)
        f.evaluate("() => window.__dvi.store.set({ sel: Array.from(window.__dvi.samples.ids.slice(0, 150)) })")
        f.wait_for_function("() => document.querySelector('.dvi-root').dataset.trails === '100'")
        note = f.locator(".dvi-banner[data-key=trails]")
        assert "first 100 of the 150 selected samples" in note.inner_text()
        # zoom out so that the data map is smaller than the canvas: nothing is drawn outside it
        res = f.evaluate("""async () => {
          const m = window.__dvi.map; m.setView({ ...m.view, k: m.view.k * 0.5 }); m.drawNow();
          const c = m.ovCanvas, d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data, dpr = m.dpr;
          const [x0, y0, x1, y1] = m.bg.bounds, [sx0, sy0] = m.toScreen(x0, y1), [sx1, sy1] = m.toScreen(x1, y0);
          let inside = 0, outside = 0;
          for (let y = 0; y < c.height; y++) for (let x = 0; x < c.width; x++) {
            if (!d[4 * (y * c.width + x) + 3]) continue;
            const px = x / dpr, py = y / dpr;
            if (px >= sx0 - 1 && px <= sx1 + 1 && py >= sy0 - 1 && py <= sy1 + 1) inside++; else outside++;
          }
          return { inside, outside, box: [sx0, sy0, sx1, sy1], W: c.width / dpr, H: c.height / dpr };
        }""")
        assert res["inside"] > 1000 and res["outside"] == 0, res
        assert res["box"][0] > 5 or res["box"][1] > 5, res  # the map really was smaller than the canvas
        f.evaluate("() => window.__dvi.store.set({ sel: Array.from(window.__dvi.samples.ids.slice(0, 5)) })")
        f.wait_for_function("() => document.querySelector('.dvi-root').dataset.trails === '5'")
        note.wait_for(state="detached")
        assert not errors, errors
        page.close()
