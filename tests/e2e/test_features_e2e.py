"""The sample extras and the tools that act on samples over a real `tensorboard` and a run written
by the real DVIWriter with texts=, feature_names= and metadata= (tests/conftest.py's make_run):
tooltip (text, metadata, top-k, feature values), text and metadata search (GET search),
neighbours, history, and tags that survive a reload. The fake-backend variants, with more
detail per feature: test_features_fake.py."""

import json
import os
import re

import pytest

from harness import dvi_frame, fitted_tensorboard
from test_tab_e2e import JS_ISOLATED_SAMPLE, chromium, page, pytestmark, to_page  # noqa: F401 (fixtures, marks)


JS_SAMPLE_ON_SCREEN = """(i) => {
  const m = window.__dvi.map, r = m.root.getBoundingClientRect();
  const [x, y] = m.toScreen(m.pos1[2 * i], m.pos1[2 * i + 1]);
  return {x: r.left + x, y: r.top + y};
}"""

N = 500  # make_run: 400 train + 100 test
WORDS = ["alpha", "bravo", "charlie", "delta", "echo"]
TEXTS = [f"review {WORDS[i % 5]} number {i}" for i in range(N)]
SOURCES = [["web", "book", None][i % 3] for i in range(N)]


def write(logdir):
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from conftest import make_run

    make_run(os.path.join(str(logdir), "textrun"), epochs=3, seed=0, thumbnails=False,
             writer_kwargs={"texts": TEXTS, "feature_names": [f"px{i}" for i in range(64)],
                            "metadata": {"source": SOURCES, "rank": [float(i % 7) for i in range(N)]}})


@pytest.fixture(scope="module")
def tb(tmp_path_factory):
    with fitted_tensorboard(tmp_path_factory.mktemp("dvi-feat"), write, ["textrun"]) as base:
        yield base


def test_extras_neighbours_history_and_tags_on_a_real_run(tb, page):
    page.goto(tb + "#dvi")
    frame = dvi_frame(page)
    frame.wait_for_function("() => window.dvi.tab.extras.texts !== null")
    api = lambda route: json.loads(frame.evaluate(f"() => fetch('./{route}').then(r => r.text())"))
    # tooltip: text in place of the thumbnail, metadata, top-k classes and feature values
    s = frame.evaluate(JS_ISOLATED_SAMPLE)
    page.mouse.move(*to_page(page, s))
    frame.wait_for_function(f"() => document.querySelector('.dvi-tooltip').dataset.detail === '{s['id']}'")
    tip = frame.locator(".dvi-tooltip")
    detail = api(f"sample?run=textrun&id={s['id']}&epoch=1")
    assert tip.locator(".dvi-tip-text").inner_text() == detail["text"] == TEXTS[s["index"]]
    assert "source" in tip.locator(".dvi-tip-meta").inner_text()
    rows = tip.locator(".dvi-topk-row")
    assert rows.count() == 5
    assert detail["top_k"][0]["class_name"] in rows.nth(0).inner_text()
    assert f"{detail['top_k'][0]['prob'] * 100:.1f}%" in rows.nth(0).inner_text()
    assert "px0" in tip.locator(".dvi-tip-feat").inner_text() and "+52 more" in tip.locator(".dvi-tip-feat").inner_text()
    # search: substring over the texts, regular expression over a metadata column
    frame.locator("select[aria-label='Search in']").select_option("text")
    frame.locator("input[type=search]").fill("CHARLIE")
    frame.locator("input[type=search]").press("Enter")
    frame.wait_for_function(f"() => window.__dvi.store.get().sel.length === {N // 5}")
    frame.locator("select[aria-label='Search in']").select_option("meta:source")
    frame.locator("label[for=dvi-search-regex]").click()
    frame.locator("input[type=search]").fill("^b..k$")
    frame.locator("input[type=search]").press("Enter")
    want = sum(1 for v in SOURCES if v == "book")
    frame.wait_for_function(f"() => window.__dvi.store.get().sel.length === {want}")
    # neighbours and history of one clicked sample
    frame.evaluate("() => window.__dvi.store.set({sel: []})")
    # the click goes where the sample is drawn now, once the map is hovering it again (not at the place
    # measured before the searches re-encoded the map)
    page.mouse.move(5, 5)
    frame.wait_for_function("() => document.querySelector('.dvi-tooltip').hidden")
    at = to_page(page, frame.evaluate(JS_SAMPLE_ON_SCREEN, s["index"]))
    page.mouse.move(*at)
    frame.wait_for_function(f"() => {{ const t = document.querySelector('.dvi-tooltip'); return !t.hidden && t.dataset.detail === '{s['id']}'; }}")
    page.mouse.click(*at)
    frame.wait_for_function("() => document.querySelector('.dvi-root').dataset.neighbours === '10'")
    nn = api(f"neighbours?run=textrun&epoch=1&id={s['id']}&k=10")
    got = frame.locator(".dvi-nn-row")
    assert [int(got.nth(i).get_attribute("data-id")) for i in range(10)] == [n["id"] for n in nn["neighbours"]]
    assert re.search(r"keeps \d+%", frame.locator(".dvi-nn .dvi-hint").inner_text())
    frame.wait_for_function("() => document.querySelectorAll('.dvi-history circle').length === 3")
    # tags persist on the server (beside the cache) across a reload
    frame.locator("input[aria-label='Tag name']").fill("mislabelled")
    frame.get_by_role("button", name="Tag selection").click()
    frame.wait_for_function("() => document.querySelector('.dvi-tag-row[data-tag=\"mislabelled\"]')")
    page.reload()
    frame = dvi_frame(page)
    frame.locator(".dvi-tag-row[data-tag='mislabelled']").wait_for()
    csv = frame.evaluate("() => fetch(document.querySelector('.dvi-tag-export a[data-format=csv]').href).then(r => r.text())")
    assert csv.strip().splitlines() == ["id,tag", f"{s['id']},mislabelled"]
