"""Browser tests of the fitting-progress and error states of the tab, against the fake backend
(tests/e2e/fake_api.py, which follows docs/HTTP_API.md) so that fitting can be staged quickly
and a failure forced. The real-TensorBoard tests are in test_tab_e2e.py."""

import pytest

from fake_api import FakeServer
from harness import browser, chromium_missing_reason, guarded, plugin_frame

pytestmark = [pytest.mark.e2e]
_missing = chromium_missing_reason()
if _missing:
    pytestmark.append(pytest.mark.skip(reason=_missing))


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


def guarded_new_page(chromium, **kw):
    return guarded(chromium.new_page(**kw))


def _frame(page):
    f = plugin_frame(page)
    f.wait_for_function("() => window.__dvi && window.__dvi.job")
    return f


def _open(chromium, srv, hash_="#dvi"):
    """A page on the fake TensorBoard at hash_: (page, plugin frame, list of page errors)."""
    page = guarded_new_page(chromium, viewport={"width": 1300, "height": 800})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(srv.url + hash_)
    return page, _frame(page), errors


def test_progress_bar_and_epochs_appearing(chromium):
    with FakeServer(n=800, epochs=5, fit_seconds=1.2) as srv:
        page, f, errors = _open(chromium, srv)
        prog = f.locator(".dvi-progress")
        prog.wait_for(state="visible")
        # before the first epoch: a waiting message over the map
        f.wait_for_function("() => window.__dvi.fitted.length >= 1 && window.__dvi.map.epoch !== null")
        assert "Fitting the visualizer" in prog.inner_text()
        assert "epochs ready" in prog.inner_text()
        width = f.evaluate("() => parseFloat(document.querySelector('.dvi-bar-fill').style.width)")
        assert 0 < width < 100
        # while the run is being fitted, the whole-run table says when its figures come (engine/fit.py
        # writes them when the fit finishes), not a bare column of dashes
        note = f.locator("[data-testid=run-metrics-note]")
        note.wait_for(state="visible")
        assert "when the fit of the run finishes" in note.inner_text()
        assert f.locator("[data-run-metrics] [data-metric=tr] td.num").inner_text() == "\u2014"
        # epochs appear as they are fitted; the slider grows
        f.wait_for_function("() => window.__dvi.fitted.length >= 3")
        assert int(f.locator("input[aria-label=Epoch]").get_attribute("max")) >= 2
        assert f.locator(".dvi-ticks .tick.pending").count() >= 1
        # cancel, then resume
        f.get_by_role("button", name="Cancel").click()
        f.wait_for_function("() => window.__dvi.job.state === 'cancelled'")
        assert "cancelled" in prog.inner_text()
        f.get_by_role("button", name="Resume").click()
        f.wait_for_function("() => window.__dvi.job.state === 'done'")
        assert prog.is_hidden()
        assert f.evaluate("() => window.__dvi.fitted.length") == 5
        # the fit finished: the run-level figures replace the note
        note.wait_for(state="hidden")
        assert f.locator("[data-run-metrics] [data-metric=tr] td.num").inner_text() == "0.710"
        assert not errors


def test_fitting_error_is_explained(chromium):
    with FakeServer(n=300, epochs=5, fit_seconds=0.5, fail_run="clean") as srv:
        page = guarded_new_page(chromium, viewport={"width": 1300, "height": 800})
        page.goto(srv.url + "#dvi")
        f = _frame(page)
        f.wait_for_function("() => window.__dvi.job.state === 'error'")
        text = f.locator(".dvi-progress").inner_text()
        assert "Fitting failed" in text and "diverged" in text and "2 of 5 epochs ready" in text
        assert f.get_by_role("button", name="Retry").is_visible()
        # the epochs fitted before the failure are still shown
        f.wait_for_function("() => window.__dvi.map.epoch !== null")


def test_unknown_run_in_link_falls_back(chromium):
    with FakeServer(n=300, epochs=3) as srv:
        page = guarded_new_page(chromium, viewport={"width": 1300, "height": 800})
        page.goto(srv.url + "#dvi&dvi.run=gone&dvi.epoch=2")
        f = _frame(page)
        f.wait_for_function("() => window.__dvi.map.epoch !== null")
        assert "not in this logdir" in f.locator(".dvi-banners").inner_text()


def test_canvas2d_fallback_draws_the_same_points(chromium):
    with FakeServer(n=400, epochs=3) as srv:
        page = guarded_new_page(chromium, viewport={"width": 1300, "height": 800})
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(srv.url + "#dvi")
        f = _frame(page)
        f.wait_for_function("() => window.__dvi.map.epoch !== null && window.__dvi.map.anim === null")
        res = f.evaluate("""async () => {
          const { MapView } = await import('./map.js');
          const app = window.__dvi;
          const box = document.createElement('div');
          box.style.cssText = 'position:fixed;left:0;top:0;width:500px;height:400px';
          document.body.appendChild(box);
          const m = new MapView(box, { renderer: 'canvas' });
          m.setSource(app.map.source);
          m.setEncoding({ colorMode: 'label', filter: {}, selection: [0, 1] });
          await m.showEpoch(app.map.epoch, { animate: false });
          m.drawNow();
          const d = m.ptCanvas.getContext('2d').getImageData(0, 0, m.ptCanvas.width, m.ptCanvas.height).data;
          let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
          const kind = m.rendererKind; m.destroy(); box.remove();
          return { kind, n };
        }""")
        assert res["kind"] == "canvas2d" and res["n"] > 2000, res
        assert not errors


@pytest.mark.parametrize("served", [True, False])
def test_query_controls_follow_the_served_catalogue(chromium, served):
    """The dynamics queries and their defaults come from GET catalogue (the fake serves n = 77 for
    largest_movers and only two queries); a server without the route gets the built-in fallback
    (the engine's defaults: five queries, n = 100)."""
    with FakeServer(n=300, epochs=3, catalogue=served) as srv:
        page, f, errors = _open(chromium, srv, "#dvi&dvi.dyn=1")
        names = f.evaluate("() => Array.from(document.querySelectorAll('select[aria-label=Query] option'), o => o.value)")
        f.locator("select[aria-label=Query]").select_option("largest_movers")
        value = f.locator("input[aria-label='Query parameter']").input_value()
        if served:
            assert names == ["largest_movers", "crossed_boundary"] and value == "77"
            f.locator("select[aria-label=Query]").select_option("crossed_boundary")
            assert f.locator("input[aria-label='Query parameter']").input_value() == "3"
        else:
            assert names == ["likely_mislabelled", "crossed_boundary", "largest_movers", "stuck_near_boundary",
                             "still_misclassified"] and value == "100"
        assert not errors, errors
        page.close()
