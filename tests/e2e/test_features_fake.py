"""Browser tests of the sample extras and the tools that act on samples (issue 15, "What people
expect"; issue 13, texts and tabular values), against the fake backend (tests/e2e/fake_api.py +
fake_extras.py, which follow docs/HTTP_API.md): tooltip (text, metadata, top-k, features), search
(substring / regular expression over texts and metadata), neighbours, history, metadata colour
and filter, tags (persisted on the server), copy link and TensorBoard's dark mode.
The same features over a real TensorBoard and DVIWriter run: test_features_e2e.py."""

import json
import re
import urllib.request

import numpy as np
import pytest

from fake_api import FakeServer
from harness import dvi_frame
from test_tab_e2e import JS_ISOLATED_SAMPLE, chromium, page, pytestmark, to_page  # noqa: F401 (fixtures, marks)


@pytest.fixture(scope="module")
def srv():
    with FakeServer(n=600, epochs=4) as s:
        yield s


def open_tab(page, srv, hash_="#dvi"):
    page.goto(srv.url + hash_)
    return dvi_frame(page)


def search(frame, field, q, regex=False):
    frame.locator("select[aria-label='Search in']").select_option(field)
    box = frame.locator("#dvi-search-regex")
    if field and box.is_checked() != regex:
        box.click()
    frame.locator("input[type=search]").fill(q)
    frame.locator("input[type=search]").press("Enter")


def test_tooltip_shows_text_metadata_topk_and_features(page, srv):
    frame = open_tab(page, srv)
    frame.wait_for_function("() => window.dvi.tab.extras.texts !== null")
    s = frame.evaluate(JS_ISOLATED_SAMPLE)
    page.mouse.move(*to_page(page, s))
    frame.wait_for_function(f"() => document.querySelector('.dvi-tooltip').dataset.detail === '{s['id']}'")
    run = srv.api.runs["clean"]
    k = s["index"]
    tip = frame.locator(".dvi-tooltip")
    assert tip.locator(".dvi-tip-text").inner_text() == run.texts[k]
    meta = tip.locator(".dvi-tip-meta").inner_text()
    assert "source" in meta and "length" in meta and str(int(run.metadata["length"][k])) in meta
    rows = tip.locator(".dvi-topk-row")
    assert rows.count() == 5
    pred = int(run.data[1]["predictions"][k])  # the tab opens at the first fitted epoch
    names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
    assert names[pred] in rows.nth(0).inner_text()
    assert f"{run.data[1]['confidence'][k] * 100:.1f}%" in rows.nth(0).inner_text()
    feat = tip.locator(".dvi-tip-feat").inner_text()
    assert "age" in feat and "income" in feat and "score" in feat


def test_search_substring_regex_and_metadata_column(page, srv):
    frame = open_tab(page, srv)
    run = srv.api.runs["clean"]
    frame.wait_for_function("() => window.dvi.tab.extras.texts !== null")
    search(frame, "text", "MOVIE")
    want = sorted(int(run.ids[i]) for i, t in enumerate(run.texts) if "movie" in t)
    frame.wait_for_function(f"() => window.__dvi.store.get().sel.length === {len(want)}")
    assert sorted(frame.evaluate("() => window.__dvi.store.get().sel")) == want
    assert f"{len(want)} samples" in frame.locator(".dvi-left .dvi-hint").filter(has_text="selected").first.inner_text()
    search(frame, "meta:source", "^(web|book)$", regex=True)
    want = sorted(int(run.ids[i]) for i, v in enumerate(run.metadata["source"]) if v in ("web", "book"))
    frame.wait_for_function(f"() => window.__dvi.store.get().sel.length === {len(want)}")
    assert sorted(frame.evaluate("() => window.__dvi.store.get().sel")) == want
    search(frame, "text", "(", regex=True)  # an invalid pattern: the server's message
    frame.wait_for_function("() => [...document.querySelectorAll('.dvi-hint')].some(e => e.textContent.includes('Search failed'))")
    assert "invalid regular expression" in frame.locator(".dvi-left .dvi-hint").filter(has_text="Search failed").inner_text()
    page.dvi_errors[:] = [e for e in page.dvi_errors if "status of 400" not in e]  # the browser logs the refused request
    # "Id or class" still selects by id, and falls back to the texts when no class matches
    search(frame, "", "boring")
    want = sorted(int(run.ids[i]) for i, t in enumerate(run.texts) if "boring" in t)
    frame.wait_for_function(f"() => window.__dvi.store.get().sel.length === {len(want)}")


def test_neighbours_and_history_of_a_clicked_sample(page, srv):
    frame = open_tab(page, srv)
    s = frame.evaluate(JS_ISOLATED_SAMPLE)
    page.mouse.click(*to_page(page, s))
    frame.wait_for_function("() => document.querySelector('.dvi-root').dataset.neighbours === '10'")
    nn = json.load(urllib.request.urlopen(srv.url + f"data/plugin/dvi/neighbours?run=clean&epoch=1&id={s['id']}&k=10"))
    rows = frame.locator(".dvi-nn-row")
    assert rows.count() == 10
    assert [int(rows.nth(i).get_attribute("data-id")) for i in range(10)] == [n["id"] for n in nn["neighbours"]]
    assert f"{nn['neighbours'][0]['distance']:.3g}" in rows.nth(0).inner_text()
    assert f"keeps {round(nn['map_recall'] * 100)}%" in frame.locator(".dvi-nn .dvi-hint").inner_text()
    lost = sum(1 for n in nn["neighbours"] if not n["kept_on_map"])
    assert frame.locator(".dvi-nn-row.lost").count() == lost
    # drawn larger on the map: the neighbours' point size is twice the others'
    sizes = frame.evaluate("() => { const st = window.__dvi.map.style; return [...new Set([%s].map(i => st[2 * i]))]; }"
                           % ",".join(str(n["index"]) for n in nn["neighbours"] if True))
    other = frame.evaluate("() => window.__dvi.map.style[2 * %d]" % next(
        i for i in range(600) if i not in {n["index"] for n in nn["neighbours"]} | {s["index"]}
        and not srv.api.runs["clean"].data[1]["flags"][i] & 1))
    assert min(sizes) >= 2 * other - 4  # 2.2x, rounded to quarter pixels
    # history: one dot per epoch, the shown epoch marked
    frame.wait_for_function("() => document.querySelectorAll('.dvi-history circle').length === 4")
    assert frame.locator(".dvi-history line.now").count() == 1
    run = srv.api.runs["clean"]
    preds = [int(run.data[e]["predictions"][s["index"]]) for e in run.epochs]
    wrong = sum(p != int(run.labels[s["index"]]) for p in preds)
    assert frame.locator(".dvi-history circle.wrong").count() == wrong
    assert "labelled" in frame.locator(".dvi-hist .dvi-hint").inner_text()
    # selecting two samples hides both panels
    frame.evaluate("() => window.__dvi.store.set({sel: [7, 10]})")
    frame.wait_for_function("() => document.querySelector('.dvi-nn').hidden && document.querySelector('.dvi-hist').hidden")


def test_metadata_colour_and_filter(page, srv):
    frame = open_tab(page, srv)
    run = srv.api.runs["clean"]
    frame.wait_for_function("() => !document.querySelector('.dvi-meta').hidden")
    frame.locator("select[aria-label='Colour by column']").select_option("source")
    frame.wait_for_function("() => document.querySelector('.dvi-legend').textContent.includes('Colour: source')")
    colors = frame.evaluate("() => Array.from(window.__dvi.map.colors)")
    rgb = lambda i: tuple(colors[4 * i:4 * i + 3])
    by_value = {}
    for i, v in enumerate(run.metadata["source"]):
        by_value.setdefault(v, set()).add(rgb(i))
    assert all(len(c) == 1 for c in by_value.values())  # one colour per value
    assert len({next(iter(c)) for c in by_value.values()}) == 4  # 3 values + grey for none
    # numeric filter: only samples with length in [20, 21]
    frame.locator("select[aria-label='Filter by column']").select_option("length")
    frame.locator("input[aria-label='at least']").fill("20")
    frame.locator("input[aria-label='at least']").dispatch_event("change")
    frame.locator("input[aria-label='at most']").fill("21")
    frame.locator("input[aria-label='at most']").dispatch_event("change")
    want = int(np.sum((np.array(run.metadata["length"]) >= 20) & (np.array(run.metadata["length"]) <= 21)))
    frame.wait_for_function(f"() => window.__dvi.map.visibleCount === {want}")
    # back to class colours by the colour panel
    frame.get_by_role("radio", name="Prediction").click()
    frame.wait_for_function("() => !document.querySelector('.dvi-legend').textContent.includes('Colour: source')")


def test_tags_persist_and_export(page, srv):
    frame = open_tab(page, srv)
    frame.evaluate("() => window.__dvi.store.set({sel: [7, 10, 13]})")
    frame.locator("input[aria-label='Tag name']").fill("relabel as 7")
    frame.get_by_role("button", name="Tag selection").click()
    frame.wait_for_function("() => document.querySelector('.dvi-tag-row[data-tag=\"relabel as 7\"]')")
    assert srv.api.runs["clean"].tags == {"relabel as 7": [7, 10, 13]}
    page.reload()
    frame = dvi_frame(page)
    row = frame.locator(".dvi-tag-row[data-tag='relabel as 7']")
    row.wait_for()
    assert "3" in row.inner_text()
    frame.evaluate("() => window.__dvi.store.set({sel: []})")
    row.locator("button.name").click()  # selects the tagged samples
    frame.wait_for_function("() => window.__dvi.store.get().sel.join() === '7,10,13'")
    href = frame.locator(".dvi-tag-export a[data-format=csv]").get_attribute("href")
    assert "tags_export" in href and "format=csv" in href
    csv = urllib.request.urlopen(srv.url + "data/plugin/dvi/" + href.lstrip("./")).read().decode()
    assert csv.splitlines() == ["id,tag", "7,relabel as 7", "10,relabel as 7", "13,relabel as 7"]
    frame.evaluate("() => window.__dvi.store.set({sel: [10]})")
    row.get_by_role("button", name="− sel").click()
    frame.wait_for_function("() => document.querySelector('.dvi-tag-row b').textContent === '2'")
    row.get_by_role("button", name="Delete tag relabel as 7").click()
    frame.wait_for_function("() => !document.querySelector('.dvi-tag-row')")
    assert srv.api.runs["clean"].tags == {}


def test_copy_link_and_dark_mode(page, srv):
    frame = open_tab(page, srv, "#dvi&dvi.epoch=3")
    frame.evaluate("() => window.__dvi.store.set({sel: [7, 10]})")
    frame.get_by_role("button", name="Copy link").click()
    frame.wait_for_function("() => document.querySelector('.dvi-root').dataset.link")
    link = frame.evaluate("() => document.querySelector('.dvi-root').dataset.link")
    assert link.startswith(srv.url) and "dvi.epoch=3" in link and re.search(r"dvi\.sel=7(%2C|,)10", link)
    assert not frame.evaluate("() => document.querySelector('.dvi-root').classList.contains('dvi-dark')")
    page.evaluate("() => document.body.classList.add('dark-mode')")  # TensorBoard's dark theme
    frame.wait_for_function("() => document.querySelector('.dvi-root').classList.contains('dvi-dark')")
    bg = frame.evaluate("() => getComputedStyle(document.querySelector('.dvi-left')).backgroundColor")
    assert bg == "rgb(38, 38, 38)"
    # the decision regions turn dark too (lightness inverted, hues kept): no white map in a dark page
    assert "invert" in frame.evaluate("() => getComputedStyle(document.querySelector('.dvi-map-bg')).filter")
    page.evaluate("() => document.body.classList.remove('dark-mode')")
    frame.wait_for_function("() => !document.querySelector('.dvi-root').classList.contains('dvi-dark')")
    assert frame.evaluate("() => getComputedStyle(document.querySelector('.dvi-map-bg')).filter") == "none"


JS_THUMB_PIXELS = """() => {
  const c = document.querySelector('.dvi-thumbs-layer'), d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}"""


def test_zoom_grows_points_and_draws_thumbnails(page, srv):
    frame = open_tab(page, srv)
    assert frame.evaluate("() => window.__dvi.map.view.sizeScale") == 1
    assert frame.evaluate("() => document.querySelector('.dvi-root').dataset.mapThumbs") == "0"
    s = frame.evaluate(JS_ISOLATED_SAMPLE)
    page.mouse.move(*to_page(page, s))
    for _ in range(6):
        page.mouse.wheel(0, -400)
        page.wait_for_timeout(50)
    frame.wait_for_function("() => window.__dvi.map.view.k / window.__dvi.map.fitTo.k > 4")
    zoom = frame.evaluate("() => window.__dvi.map.view.k / window.__dvi.map.fitTo.k")
    scale = frame.evaluate("() => window.__dvi.map.view.sizeScale")
    assert abs(scale - min(3, zoom ** 0.5)) < 1e-6
    frame.wait_for_function("() => Number(document.querySelector('.dvi-root').dataset.mapThumbs) > 0")
    n = int(frame.evaluate("() => document.querySelector('.dvi-root').dataset.mapThumbs"))
    assert n <= 120
    frame.wait_for_function(JS_THUMB_PIXELS.replace("return n;", "return n > 200;"))
    # back to the fitted view: normal size, no thumbnails
    frame.get_by_role("button", name="Fit view").click()
    frame.wait_for_function("() => window.__dvi.map.view.sizeScale === 1 && document.querySelector('.dvi-root').dataset.mapThumbs === '0'")
    assert frame.evaluate(JS_THUMB_PIXELS) == 0
