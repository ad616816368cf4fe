// Reading the map at scale: points grow with the zoom (the map's `sizeScale`, √zoom up to 3×),
// and once zoomed in far enough that few samples are in view (at most MAX_THUMBS), their logged
// thumbnails are drawn beside them on a canvas of their own above the points.

import { h, measure } from "../ui.js";

export const MAX_THUMBS = 120;
const MIN_ZOOM = 2.5, THUMB_PX = 28, MAX_IMAGES = 600;

/** Point size factor for a zoom (view scale over the fitted scale): 1 at fit, √zoom, at most 3. */
export function sizeScaleFor(zoom) { return Math.min(3, Math.max(1, Math.sqrt(zoom || 1))); }

export class ZoomPanel {
  constructor({ api, session, map, binding, root }) {
    Object.assign(this, { api, session, map, root });
    this.el = h("canvas", { class: "dvi-thumbs-layer", "aria-hidden": "true" });
    this.images = new Map();
    binding.on("view", () => this.onView());
    binding.on("encoded", () => this.schedule());
    session.on("run", () => { this.images.clear(); this.schedule(); });
    session.on("epoch", async () => { await map.settled(); this.schedule(); });
  }

  render() {}

  get zoom() { return this.map.fitTo ? this.map.view.k / this.map.fitTo.k : 1; }

  onView() {
    const s = sizeScaleFor(this.zoom);
    if (s !== this.map.view.sizeScale) { this.map.view.sizeScale = s; this.map.requestFrame(); }
    this.schedule();
  }

  schedule() {
    if (this._raf) return;
    this._raf = requestAnimationFrame(() => { this._raf = 0; this.draw(); });
  }

  /** Visible samples inside the view, or null when there are more than MAX_THUMBS. */
  inView() {
    const m = this.map, s = m.samples, p = m.pos1;
    if (!s || !p) return null;
    const out = [];
    for (let i = 0; i < s.n; i++) {
      if (m.mask && !m.mask[i]) continue;
      const [x, y] = m.toScreen(p[2 * i], p[2 * i + 1]);
      if (x < -THUMB_PX || y < -THUMB_PX || x > m.cssW || y > m.cssH) continue;
      out.push([i, x, y]);
      if (out.length > MAX_THUMBS) return null;
    }
    return out;
  }

  draw() {
    const c = this.el, run = this.session.run;
    const pts = run && run.has_thumbnails && this.zoom >= MIN_ZOOM ? this.inView() : null;
    this.root.dataset.mapThumbs = pts ? String(pts.length) : "0";
    if (!pts && !this._drawn) return;  // nothing drawn, nothing to draw
    this._drawn = !!pts;
    const { dpr, cssW, cssH, W, H } = measure(this.map.root);
    if (c.width !== W || c.height !== H) { c.width = W; c.height = H; c.style.width = `${cssW}px`; c.style.height = `${cssH}px`; }
    const ctx = c.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, W, H);
    if (!pts) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.imageSmoothingEnabled = false;
    for (const [i, x, y] of pts) {
      const img = this.image(run.name, this.map.samples.ids[i]);
      if (!img.complete || !img.naturalWidth) continue;
      ctx.fillStyle = "rgba(255,255,255,0.9)";
      ctx.fillRect(x + 5, y - THUMB_PX - 5, THUMB_PX + 2, THUMB_PX + 2);
      ctx.drawImage(img, x + 6, y - THUMB_PX - 4, THUMB_PX, THUMB_PX);
    }
  }

  image(run, id) {
    const key = `${run}\u0000${id}`;
    let img = this.images.get(key);
    if (!img) {
      if (this.images.size >= MAX_IMAGES) this.images.delete(this.images.keys().next().value);
      img = new Image();
      img.onload = () => this.schedule();
      img.src = this.api.thumbnailUrl(run, id);
      this.images.set(key, img);
    }
    return img;
  }
}
