// A crisp background when zoomed (issue 15): once the view is zoomed in >= 1.5x past the fitted view
// and has settled for 250 ms, the decision regions of the visible part are fetched again at screen
// resolution (background?bounds=, drawn by the server's render worker) and drawn over the stretched
// epoch image, at their own data bounds (so always aligned). While loading, on error, for another
// epoch or during a transition, only the stretched image shows; zooming out drops the tile.

const MIN_ZOOM = 1.5, DEBOUNCE_MS = 250, MIN_RES = 32, MAX_RES = 400;
const BG_LAYER = 1;  // map.js's background layer bit

export class ZoomBackground {
  constructor(map) {
    this.map = map;
    this.tile = null;      // {image, bounds, epoch, source}
    this.want = null;      // the request wanted for the current view: {key, source, ...}
    this.timer = 0;
    this.requests = 0;     // tiles requested so far (tests, debugging)
  }

  /** The tile to draw over this epoch's image now, or null. */
  current() {
    const m = this.map, t = this.tile;
    return t && m.bg && m.showBackground && t.source === m.source && t.epoch === m.epoch ? t : null;
  }

  /** After each settled frame: (re)schedules the tile for the current view, drops it when zoomed out. */
  update() {
    const req = this._wanted();
    if (!req) {
      clearTimeout(this.timer);
      this.want = null;
      if (this.tile) { this.tile = null; this.map.requestFrame(BG_LAYER); }
      return;
    }
    if (this.want && this.want.key === req.key && this.want.source === req.source) return;
    this.want = req;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this._fetch(req), DEBOUNCE_MS);
  }

  /** The visible part of the epoch's bounds and its resolution, or null when no tile is wanted. */
  _wanted() {
    const m = this.map, src = m.source;
    if (!src || !src.zoomBackground || !m.bg || !m.showBackground || m.anim || !m.fitTo) return null;
    if (m.view.k < MIN_ZOOM * m.fitTo.k) return null;
    const [vx0, vy0] = m.toData(0, m.cssH);
    const [vx1, vy1] = m.toData(m.cssW, 0);
    const [fx0, fy0, fx1, fy1] = m.bg.bounds;
    const b = [Math.max(vx0, fx0), Math.max(vy0, fy0), Math.min(vx1, fx1), Math.min(vy1, fy1)];
    if (!(b[0] < b[2] && b[1] < b[3])) return null;
    const px = Math.max(b[2] - b[0], b[3] - b[1]) * m.view.k;
    const resolution = Math.max(MIN_RES, Math.min(MAX_RES, Math.ceil(px)));
    const key = `${m.epoch}|${b.map((v) => v.toPrecision(7)).join(",")}|${resolution}`;
    return { key, source: src, epoch: m.epoch, bounds: b, resolution };
  }

  _fetch(req) {
    this.requests++;
    req.source.zoomBackground(req.epoch, req.bounds, req.resolution).then((image) => {
      if (this.want !== req) return;  // the view moved on; its own request follows
      this.tile = { image, bounds: req.bounds, epoch: req.epoch, source: req.source };
      this.map.requestFrame(BG_LAYER);
    }, () => { /* silently keep the stretched image */ });
  }
}
