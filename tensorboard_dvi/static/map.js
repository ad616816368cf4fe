// MapView: a reusable 2-D map of samples over the classifier's decision regions.
//
//   const map = new MapView(container, {onHover, onSelect, onViewChange});
//   map.setSource({samples, palette, projection: (e) => Promise, background: (e) => Promise});
//   await map.showEpoch(5);               // animates from the current positions
//   map.setEncoding({colorMode, filter, selection});
//   map.setExtraMask(mask, {emphasis}); map.setBoundsHook(fn); map.setView(v | null); map.refit();
//
// Public state the pages read: proj, mask, visibleCount, colors, epoch, view, autoFit, samples.
// Everything underscored is internal (map_layers.js and map_input.js are parts of this component).
//
// Three stacked layers: a 2-D canvas with the background image (cross-faded between epochs),
// a WebGL canvas with all points in one draw call (positions of two epochs in two buffers,
// interpolated in the vertex shader by a uniform t), and a 2-D overlay for trails, the lasso and
// the hover ring. A canvas-2D point renderer is used when WebGL is unavailable.
// The view (centre, scale) follows each epoch's extent until the user zooms or pans.

import { computeMask, computeStyle } from "./encode.js";
import { extent } from "./align.js";
import { pointsInPolygon } from "./lasso.js";
import { measure } from "./ui.js";
import { createLayers, compositeLayers, drawBackground, drawOverlay, lerpInto } from "./map_layers.js";
import { bindMapInput } from "./map_input.js";
import { ZoomBackground } from "./map_zoom.js";

// Layers to redraw.
const BG = 1, PTS = 2, OV = 4, ALL = 7;

const ease = (t) => (t < 0.5 ? 4 * t * t * t : 1 - Math.pow(-2 * t + 2, 3) / 2);

export class MapView {
  /**
   * @param {HTMLElement} container
   * @param {object} opts  onHover({index, dataX, dataY, clientX, clientY} | null),
   *   onSelect({indices: Uint32Array, mode: "replace"|"add"|"toggle"}), onViewChange(view),
   *   renderer: "auto" | "webgl" | "canvas", animationMs, pointSize
   */
  constructor(container, opts = {}) {
    this.opts = { animationMs: 550, pointSize: 5, renderer: "auto", ...opts };
    this.container = container;
    Object.assign(this, createLayers(container, this.opts.renderer));

    this.source = null;
    this.samples = null;
    this.proj = null;
    this.epoch = null;
    this.view = { cx: 0, cy: 0, k: 1, sizeScale: 1 };
    this.autoFit = true;
    this.fitFrom = null;
    this.fitTo = null;
    this.anim = null;
    this.bg = null;          // {image, bounds}
    this.prevBg = null;
    this.zoomBg = new ZoomBackground(this);  // map_zoom.js: the crisp tile of a zoomed view
    this.showBackground = true;
    this.encoding = { colorMode: "label", filter: {}, selection: [] };
    this.extraMask = null;   // setExtraMask: a second mask from the page (e.g. compare's differences)
    this.emphasis = 0;
    this.boundsHook = null;  // setBoundsHook: the page widens the bounds the view fits
    this.mask = null;
    this.visibleCount = 0;
    this.selectedFlags = null;
    this.selectedIdx = new Uint32Array(0);
    this.trails = null;
    this.trailDrift = false; // setTrailDrift
    this.highlight = -1;
    this.tool = "pan";
    this.drag = null;
    this.lasso = null;
    this._token = 0;
    this._frameReq = 0;
    this._settled = [];
    this.lastFrameMs = 0;

    this.resizeObs = new ResizeObserver(() => this.resize());
    this.resizeObs.observe(this.root);
    bindMapInput(this);
    this.resize();
  }

  get rendererKind() { return this.points.kind; }

  destroy() {
    this.resizeObs.disconnect();
    cancelAnimationFrame(this._frameReq);
    this.root.remove();
  }

  // ------------------------------------------------------------------------- data
  /** source: {samples, palette, projection(epoch) → Promise, background(epoch) → Promise}. */
  setSource(source) {
    this.source = source;
    this.samples = source ? source.samples : null;
    this.proj = null;
    this.epoch = null;
    this.bg = this.prevBg = null;
    this.pos0 = this.pos1 = null;
    this.color1 = this._colorSpare = this.style = this.mask = this._scratch = null;
    this.selectedFlags = null;
    this.selectedIdx = new Uint32Array(0);
    this.anim = null;
    this.autoFit = true;
    this.trails = null;
    this.highlight = -1;
    this.points.setPositions(new Float32Array(0), new Float32Array(0));
    this.points.setSelected(new Uint32Array(0));
    this.requestFrame();
  }

  /**
   * Shows an epoch; resolves when its data is on screen (the first frame of the transition).
   * Later calls supersede earlier ones that are still loading.
   */
  async showEpoch(epoch, { animate = true } = {}) {
    if (!this.source) return;
    const token = ++this._token;
    const src = this.source;
    const [proj, bg] = await Promise.all([
      src.projection(epoch),
      src.background ? src.background(epoch).catch(() => null) : Promise.resolve(null),
    ]);
    if (token !== this._token || src !== this.source) return false;
    this._applyEpoch(epoch, proj, bg, animate);
    return true;
  }

  /** Synchronous part of an epoch switch (used by the benchmark with cached data). */
  _applyEpoch(epoch, proj, bg, animate) {
    const n = this.samples.n;
    const now = performance.now();
    const doAnim = animate && this.pos1 && this.opts.animationMs > 0 && this.proj;
    // Where the points are right now becomes the start of the transition.
    let from;
    if (doAnim) {
      // A scratch buffer owned by the map (never a cached projection, which must stay intact).
      const t = this._currentT(now);
      if (!this._scratch || this._scratch.length !== n * 2) this._scratch = new Float32Array(n * 2);
      from = this._scratch;
      if (t >= 1 || this.pos0 === this.pos1) from.set(this.pos1);
      else lerpInto(from, this.pos0, this.pos1, t);
    } else {
      from = proj.coords;
    }
    const fromColor = doAnim ? this.color1 : null;
    this.pos0 = from;
    this.pos1 = proj.coords;
    this.proj = proj;
    this.epoch = epoch;
    if (bg) { this.prevBg = doAnim ? this.bg : null; this.bg = bg; }
    else if (!doAnim) this.prevBg = null;
    this.points.setPositions(this.pos0, this.pos1);
    this._restyle(fromColor);
    // Target view.
    const fit = this._fitView(extent(proj.coords, n));  // the samples, not the background's margins
    if (this.autoFit) {
      this.fitFrom = doAnim ? { ...this.view } : null;
      this.fitTo = fit;
      if (!doAnim) Object.assign(this.view, fit);
    }
    this.anim = doAnim ? { start: now, dur: this.opts.animationMs } : null;
    this._drawFrame(now, ALL);
  }

  _currentT(now) {
    if (!this.anim) return 1;
    return ease(Math.min(1, (now - this.anim.start) / this.anim.dur));
  }

  /** Resolves when the running transition has finished. */
  settled() {
    if (!this.anim) return Promise.resolve();
    return new Promise((r) => this._settled.push(r));
  }

  _settle() {
    const fns = this._settled;
    this._settled = [];
    for (const f of fns) f();
  }

  // ------------------------------------------------------------------------- encoding
  /** {colorMode, filter, selection: sample indices[], palette, pointSize, colors, sizes}. Partial updates.
   *  colors: Uint8Array n*3 RGB / sizes: Float32Array n (CSS px) per point, or null (encode.js). */
  setEncoding(enc) {
    Object.assign(this.encoding, enc);
    if (!this.samples) return;
    if ("selection" in enc) {
      const n = this.samples.n;
      this.selectedFlags = new Uint8Array(n);
      const idx = [];
      for (const i of this.encoding.selection || []) if (i >= 0 && i < n && !this.selectedFlags[i]) { this.selectedFlags[i] = 1; idx.push(i); }
      this.selectedIdx = Uint32Array.from(idx);
      this.points.setSelected(this.selectedIdx);
    }
    if ("order" in enc) this.points.setOrder(enc.order && enc.order.length === this.samples.n ? enc.order : null);
    if (this.proj) this._restyle(null);
    this.requestFrame(PTS);
  }

  /**
   * Fades every sample outside `mask` (Uint8Array, 1 = keep) on top of the encoding's filter, and
   * draws the kept ones `emphasis` px larger; null removes it.
   */
  setExtraMask(mask, { emphasis = 0 } = {}) {
    this.extraMask = mask;
    this.emphasis = mask ? emphasis : 0;
    if (this.proj) this._restyle(null);
    this.requestFrame(PTS);
  }

  /** Per-point RGBA of the current epoch (Uint8Array n*4, as drawn), or null before one is shown. */
  get colors() { return this.color1 || null; }

  _restyle(fromColor) {
    const s = this.samples;
    const e = this.encoding;
    const palette = (this.source && this.source.palette) || [];
    const { mask, count } = computeMask(s, this.proj, e.filter || {}, this.mask);
    this.mask = mask;
    this.visibleCount = count;
    const x = this.extraMask;
    if (x && x.length === s.n) {
      let kept = 0;
      for (let i = 0; i < x.length; i++) { mask[i] &= x[i]; kept += mask[i]; }
      this.visibleCount = kept;
    }
    const hasSelection = this.selectedIdx.length > 0;
    // While a transition fades from the old colours, write the new ones into the spare array.
    let target = this.color1;
    if (fromColor) {
      target = this._colorSpare && this._colorSpare !== fromColor ? this._colorSpare : null;
      this._colorSpare = fromColor;
    }
    const { color, style } = computeStyle(s, this.proj, {
      colorMode: e.colorMode, palette, mask, selected: this.selectedFlags, hasSelection,
      pointSize: (e.pointSize || this.opts.pointSize) + (x ? this.emphasis : 0), colors: e.colors || null, sizes: e.sizes || null,
    }, target, this.style);
    this.color1 = color;
    this.style = style;
    this.points.setColors(fromColor || color, color);
    this.points.setStyle(style);
  }

  setBackgroundVisible(on) { this.showBackground = !!on; this.requestFrame(BG); }

  /** Trails: {epochs: number[], positions: ([x,y]|null)[][], colors: string[]} or null. */
  setTrails(trails) { this.trails = trails; this.requestFrame(OV); }
  /** Trails with the maps' common move (drift) or, off (default), in the shown epoch's frame. */
  setTrailDrift(on) { this.trailDrift = !!on; this.requestFrame(OV); }

  /** Highlights one sample (linked hover from another view); -1 for none. */
  setHighlight(index) {
    if (index === this.highlight) return;
    this.highlight = index;
    this.requestFrame(OV);
  }

  setTool(tool) { this.tool = tool; this.root.dataset.tool = tool; }

  resetView() {
    this.autoFit = true;
    if (this.fitTo) Object.assign(this.view, this.fitTo);
    this.emitView();
    this.requestFrame();
  }

  /** Follows another view (linked panes): {cx, cy, k}, or null to fit this map's own extent again. */
  setView(v) {
    this.fitFrom = null;
    if (!v) { this.autoFit = true; if (this.fitTo) Object.assign(this.view, this.fitTo); }
    else { this.autoFit = false; Object.assign(this.view, { cx: v.cx, cy: v.cy, k: v.k }); }
    this.requestFrame();
  }

  /** hook(bounds) → the bounds the view fits instead (e.g. the union of several panes), or null. */
  setBoundsHook(hook) { this.boundsHook = hook; }

  /** Bounds of the current epoch: the points' extent (the view fits the samples, so the square
   *  background with its margins fills the map instead of leaving bands), else the background's. */
  ownBounds() {
    if (this.pos1) return extent(this.pos1, this.samples.n);
    return this.bg ? this.bg.bounds : null;
  }

  /** Recomputes the fitted view (after the bounds hook's answer changed). */
  refit() {
    if (!this.pos1) return;
    this.fitTo = this._fitView(this.ownBounds());
    if (this.autoFit && !this.anim) Object.assign(this.view, this.fitTo);
    this.requestFrame();
  }

  // ------------------------------------------------------------------------- geometry
  _fitView(bounds) {
    const b = this.boundsHook ? this.boundsHook(bounds) || bounds : bounds;
    const w = this.cssW || 1, h = this.cssH || 1;
    const pad = 24;
    const dx = Math.max(b[2] - b[0], 1e-9), dy = Math.max(b[3] - b[1], 1e-9);
    const k = Math.min((w - 2 * pad) / dx, (h - 2 * pad) / dy);
    return { cx: (b[0] + b[2]) / 2, cy: (b[1] + b[3]) / 2, k: Math.max(k, 1e-9) };
  }

  /** Data → CSS pixel (relative to the map). */
  toScreen(x, y, view = this.view) {
    return [(x - view.cx) * view.k + this.cssW / 2, this.cssH / 2 - (y - view.cy) * view.k];
  }

  toData(px, py, view = this.view) {
    return [(px - this.cssW / 2) / view.k + view.cx, view.cy - (py - this.cssH / 2) / view.k];
  }

  /** Current (possibly interpolated) position of sample i in data units. */
  positionOf(i, t = this._currentT(performance.now())) {
    if (!this.pos1) return null;
    const x = this.pos0[2 * i] + (this.pos1[2 * i] - this.pos0[2 * i]) * t;
    const y = this.pos0[2 * i + 1] + (this.pos1[2 * i + 1] - this.pos0[2 * i + 1]) * t;
    return [x, y];
  }

  /** Nearest visible sample to a CSS pixel within maxPx, or -1. */
  pick(px, py, maxPx = 8) {
    if (!this.pos1) return -1;
    const [x, y] = this.toData(px, py);
    const r = maxPx / this.view.k;
    let best = -1, bestD = r * r;
    const p = this.pos1, m = this.mask, n = this.samples.n;
    for (let i = 0; i < n; i++) {
      if (m && !m[i]) continue;
      const dx = p[2 * i] - x;
      if (dx > r || dx < -r) continue;
      const dy = p[2 * i + 1] - y;
      const d = dx * dx + dy * dy;
      if (d <= bestD) { bestD = d; best = i; }
    }
    return best;
  }

  /** Visible samples inside a polygon given in CSS pixels. */
  pickPolygon(poly) {
    if (!this.pos1) return new Uint32Array(0);
    const p = this.pos1;
    return pointsInPolygon(poly.map(([px, py]) => this.toData(px, py)), this.samples.n, this.mask, (i) => [p[2 * i], p[2 * i + 1]]);
  }

  // ------------------------------------------------------------------------- drawing
  /** Measures the container again (call after it was hidden or changed size without a resize event). */
  resize() {
    const { dpr, cssW, cssH, W, H } = measure(this.root);
    Object.assign(this, { dpr, cssW, cssH });
    for (const c of [this.bgCanvas, this.ptCanvas, this.ovCanvas]) {
      if (c.width !== W || c.height !== H) { c.width = W; c.height = H; }
    }
    this.points.resize(W, H);
    if (this.pos1 && this.autoFit) {
      this.fitTo = this._fitView(this.ownBounds());
      if (!this.anim) Object.assign(this.view, this.fitTo);
    }
    this._drawFrame(performance.now());
  }

  requestFrame(layers = ALL) {
    this._dirty = (this._dirty || 0) | layers;
    if (this._frameReq) return;
    this._frameReq = requestAnimationFrame(() => {
      this._frameReq = 0;
      this._drawFrame(performance.now(), this._dirty);
    });
  }

  /** Draws everything now (synchronously). */
  drawNow() { this._drawFrame(performance.now(), ALL); }

  _drawFrame(now, layers = ALL) {
    const t0 = performance.now();
    this._dirty = 0;
    let t = 1;
    if (this.anim) {
      layers = ALL;
      const raw = Math.min(1, (now - this.anim.start) / this.anim.dur);
      t = ease(raw);
      if (raw >= 1) {
        // Done: the GPU keeps both epochs and draws t = 1; on the CPU side hover and picking
        // use the final positions.
        this.anim = null;
        this.pos0 = this.pos1;
        this.prevBg = null;
        t = 1;
      }
    }
    if (this.autoFit && this.fitTo) {
      if (this.fitFrom && t < 1) {
        const a = this.fitFrom, b = this.fitTo;
        // Interpolate the scale geometrically, the centre linearly.
        this.view.k = a.k * Math.pow(b.k / a.k, t);
        this.view.cx = a.cx + (b.cx - a.cx) * t;
        this.view.cy = a.cy + (b.cy - a.cy) * t;
      } else {
        Object.assign(this.view, this.fitTo);
        this.fitFrom = null;
      }
    }
    if (layers & BG) drawBackground(this, t);
    if (layers & PTS) {
      const W = this.ptCanvas.width, H = this.ptCanvas.height;
      this.points.draw(this.view, t, this.dpr, W, H);
    }
    if (layers & OV) drawOverlay(this, t);
    this.lastFrameMs = performance.now() - t0;
    if (this.anim) this.requestFrame();
    else { this._settle(); this.zoomBg.update(); }
  }

  /** The current view as one canvas (background, points, overlay), for PNG export. */
  composite(extraDraw = null) {
    this.drawNow();
    return compositeLayers(this, extraDraw);
  }

  /** Finishes GPU work (for timing). */
  finish() { this.points.finish(); }

  // ------------------------------------------------------------------------- events
  emitView() { if (this.opts.onViewChange) this.opts.onViewChange({ ...this.view, autoFit: this.autoFit }); }

  /** CSS pixel of a pointer event relative to the map. */
  localPoint(e) {
    const r = this.root.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }
}
