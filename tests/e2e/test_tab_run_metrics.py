"""The Faithfulness panel shows the run-level temporal figures (reference definitions: every
fitted epoch an anchor) next to the per-epoch chain variants, labelled as such."""

import pytest

from fake_api import FakeServer
from harness import browser, chromium_missing_reason, guarded, plugin_frame

pytestmark = [pytest.mark.e2e]
_missing = chromium_missing_reason()
if _missing:
    pytestmark.append(pytest.mark.skip(reason=_missing))


def test_run_level_figures_and_labelled_chain_variants():
    with browser() as chromium, FakeServer(n=300, epochs=4, fit_seconds=0.2) as srv:
        page = guarded(chromium.new_page(viewport={"width": 1300, "height": 800}))
        page.goto(srv.url + "#dvi")
        f = plugin_frame(page)
        f.wait_for_function("() => window.__dvi && window.__dvi.fitted && window.__dvi.fitted.length >= 4")
        run_rows = "[data-run-metrics] [data-metric={}] td.num"
        f.wait_for_function(f"() => document.querySelector('{run_rows.format('tr')}')?.textContent === '0.710'")
        assert f.locator(run_rows.format("tnn_5")).inner_text() == "4.20 / 5"
        assert f.locator(run_rows.format("temporal_corr")).inner_text() == "-0.330"
        assert "epochs 1–4" in f.locator("h4", has_text="Whole run").inner_text()
        chain = f.locator("[data-metric=tnn_5_chain]")
        assert "(chain)" in chain.locator("td").first.inner_text()
