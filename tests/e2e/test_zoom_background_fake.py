"""Browser test of the crisp zoomed background (issue 15, "Reading the map at scale") on the fake
backend: after zooming in, the tab asks for ``background?bounds=`` of the visible part and the
background layer draws that tile, aligned with the data; zooming out drops it."""

import numpy as np
import pytest

from fake_api import PALETTE, FakeServer
from harness import dvi_frame
from test_tab_e2e import chromium, page, pytestmark  # noqa: F401 (fixtures, marks)

# Pixels of the background canvas at the given CSS points, and the data coordinates of those points.
JS_SAMPLE = """(pts) => {
  const m = window.__dvi.map, ctx = m.bgCtx, out = [];
  for (const [x, y] of pts) {
    const d = ctx.getImageData(Math.floor(x * m.dpr), Math.floor(y * m.dpr), 1, 1).data;
    out.push([d[0], d[1], d[2], ...m.toData(x, y)]);
  }
  return out;
}"""


@pytest.fixture(scope="module")
def srv():
    with FakeServer(n=600, epochs=3) as s:
        yield s


def expected_rgb(run, epoch, xy):
    cls, conf = run._grid_predict(epoch, xy[:, 0], xy[:, 1])
    col = np.array(PALETTE, dtype=np.float32)[cls % len(PALETTE)]
    a = (0.15 + 0.45 * conf)[:, None]
    return (col * a + 255 * (1 - a)).clip(0, 255)


def agreement(frame, pts, run, epoch):
    # (measured: 0.95 with the tile, 0.21 with the stretched image alone)
    assert with_tile >= 0.85 and stretched < with_tile - 0.3, (with_tile, stretched)
    # Zooming out drops the tile.
    frame.get_by_role("button", name="Fit view").click()
    frame.wait_for_function("() => window.__dvi.map.zoomBg.current() === null")
