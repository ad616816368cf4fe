// DataMap: the dataset-cartography scatter of training dynamics (Swayamdipta et al. 2020):
// x = variability (std over epochs of the confidence in the given label), y = confidence (its
// mean). Canvas 2-D, one pass over typed arrays per frame; box or lasso selection; hover picking.
//
//   const dm = new DataMap(container, {onHover: (i) => ..., onSelect: ({indices, mode}) => ...});
//   dm.setData({n, x: Float32Array, y: Float32Array});
//   dm.setStyle({colors: Uint8Array n*4 RGBA (the main map's), mask: Uint8Array|null});
//   dm.setSelection(indices); dm.setHighlight(i);
//
// The component knows nothing about the app (like MapView); static/dynamics.js links it.

import { drawLasso, extendLasso, lassoPolygon, pointsInPolygon } from "./lasso.js";
import { measure } from "./ui.js";

const PAD = { l: 34, r: 8, t: 8, b: 30 };

function niceMax(v) {
  if (!(v > 0)) return 0.5;
  for (const m of [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5]) if (v <= m) return m;
  return Math.ceil(v * 10) / 10;
}

export class DataMap {
  constructor(container, opts = {}) {
    this.opts = opts;
    this.root = document.createElement("div");
    this.root.className = "dvi-datamap";
    this.canvas = document.createElement("canvas");
    this.canvas.setAttribute("aria-label", "Data map: confidence against variability");
    this.canvas.setAttribute("role", "img");
    this.root.append(this.canvas);
    container.append(this.root);
    this.ctx = this.canvas.getContext("2d");
    this.n = 0;
    this.x = this.y = null;
    this.xMax = 0.5;
    this.colors = null;
    this.mask = null;
    this.selected = new Uint32Array(0);
    this.selectedFlags = null;
    this.highlight = -1;
    this.tool = "box";
    this.drag = null;
    this.lasso = null;
    this._frame = 0;
    this._resizeObs = new ResizeObserver(() => this._resize());
    this._resizeObs.observe(this.root);
    this._bind();
    this._resize();
  }

  destroy() { this._resizeObs.disconnect(); cancelAnimationFrame(this._frame); this.root.remove(); }

  setData(data) {
    this.n = data ? data.n : 0;
    this.x = data ? data.x : null;
    this.y = data ? data.y : null;
    let m = 0;
    for (let i = 0; i < this.n; i++) if (this.x[i] > m) m = this.x[i];
    this.xMax = niceMax(m * 1.04);
    this.highlight = -1;
    this._layerDirty = true;
    this.request();
  }

  setStyle({ colors = null, mask = null } = {}) { this.colors = colors; this.mask = mask; this._layerDirty = true; this.request(); }

  setSelection(indices) {
    this.selected = Uint32Array.from(indices || []);
    this.selectedFlags = null;
    if (this.n && this.selected.length) {
      this.selectedFlags = new Uint8Array(this.n);
      for (const i of this.selected) if (i < this.n) this.selectedFlags[i] = 1;
    }
    this._layerDirty = true;
    this.request();
  }

  setHighlight(i) { if (i !== this.highlight) { this.highlight = i; this.request(); } }

  setTool(t) { this.tool = t; }

  // ------------------------------------------------------------------------- geometry
  toScreen(x, y) {
    const w = this.cssW - PAD.l - PAD.r, h = this.cssH - PAD.t - PAD.b;
    return [PAD.l + (x / this.xMax) * w, PAD.t + (1 - y) * h];
  }

  toData(px, py) {
    const w = this.cssW - PAD.l - PAD.r, h = this.cssH - PAD.t - PAD.b;
    return [((px - PAD.l) / w) * this.xMax, 1 - (py - PAD.t) / h];
  }

  /** Nearest visible sample within maxPx CSS pixels, or -1. */
  pick(px, py, maxPx = 6) {
    let best = -1, bestD = maxPx * maxPx;
    const m = this.mask;
    for (let i = 0; i < this.n; i++) {
      if (m && !m[i]) continue;
      const [sx, sy] = this.toScreen(this.x[i], this.y[i]);
      const dx = sx - px, dy = sy - py, d = dx * dx + dy * dy;
      if (d <= bestD) { bestD = d; best = i; }
    }
    return best;
  }

  /** Visible samples inside a polygon given in CSS pixels. */
  pickPolygon(poly) { return pointsInPolygon(poly, this.n, this.mask, (i) => this.toScreen(this.x[i], this.y[i])); }

  // ------------------------------------------------------------------------- drawing
  _resize() {
    const { dpr, cssW, cssH, W, H } = measure(this.root);
    Object.assign(this, { dpr, cssW, cssH });
    if (this.canvas.width !== W || this.canvas.height !== H) { this.canvas.width = W; this.canvas.height = H; this._layerDirty = true; }
    this.drawNow();
  }

  request() {
    if (this._frame) return;
    this._frame = requestAnimationFrame(() => { this._frame = 0; this.drawNow(); });
  }

  drawNow() {
    const ctx = this.ctx, dpr = this.dpr || 1;
    const W = this.cssW, H = this.cssH;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const [ax0, ay0] = this.toScreen(0, 1), [ax1, ay1] = this.toScreen(this.xMax, 0);
    // plot area, grid and the cartography regions
    ctx.fillStyle = "#fff";
    ctx.fillRect(ax0, ay0, ax1 - ax0, ay1 - ay0);
    ctx.strokeStyle = "#eeeeee";
    ctx.lineWidth = 1;
    ctx.font = "10px Roboto, Arial, sans-serif";
    ctx.fillStyle = "#757575";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    for (const v of [0, 0.25, 0.5, 0.75, 1]) {
      const [, y] = this.toScreen(0, v);
      ctx.beginPath(); ctx.moveTo(ax0, Math.round(y) + 0.5); ctx.lineTo(ax1, Math.round(y) + 0.5); ctx.stroke();
      ctx.fillText(String(v), ax0 - 4, y);
    }
    ctx.textAlign = "center";
    ctx.textBaseline = "top";
    const step = this.xMax / 4;
    for (let k = 0; k <= 4; k++) {
      const v = k * step;
      const [x] = this.toScreen(v, 0);
      ctx.beginPath(); ctx.moveTo(Math.round(x) + 0.5, ay0); ctx.lineTo(Math.round(x) + 0.5, ay1); ctx.stroke();
      ctx.fillText(String(+v.toFixed(3)), x, ay1 + 3);
    }
    ctx.fillStyle = "#616161";
    ctx.fillText("variability (std of confidence)", (ax0 + ax1) / 2, ay1 + 15);
    ctx.save();
    ctx.translate(9, (ay0 + ay1) / 2);
    ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle";
    ctx.fillText("confidence (mean)", 0, 0);
    ctx.restore();
    ctx.strokeStyle = "#bdbdbd";
    ctx.strokeRect(ax0 + 0.5, ay0 + 0.5, ax1 - ax0 - 1, ay1 - ay0 - 1);
    if (!this.n) { regionLabels(ctx, ax0, ay0, ax1, ay1); return; }

    // points (cached in an offscreen layer: hover and lasso redraw only what is above them)
    if (this._layerDirty || !this.layer || this.layer.width !== this.canvas.width || this.layer.height !== this.canvas.height) {
      this._renderPoints(ax0, ay0, ax1, ay1);
    }
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(this.layer, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    regionLabels(ctx, ax0, ay0, ax1, ay1);  // above the points, readable on them
    const n = this.n;
    if (this.highlight >= 0 && this.highlight < n) {
      const [x, y] = this.toScreen(this.x[this.highlight], this.y[this.highlight]);
      ctx.beginPath(); ctx.arc(x, y, 6, 0, 2 * Math.PI);
      ctx.lineWidth = 2.5; ctx.strokeStyle = "#f57c00"; ctx.stroke();
      ctx.beginPath(); ctx.arc(x, y, 8, 0, 2 * Math.PI);
      ctx.lineWidth = 1; ctx.strokeStyle = "rgba(255,255,255,0.9)"; ctx.stroke();
    }
    if (this.lasso && this.lasso.length > 1) drawLasso(ctx, this.lasso);
  }

  /** Draws the points into the offscreen layer: faded ones (filtered out / not selected) first,
   *  then the visible ones, then the selection; one fillStyle per colour (bucketed). */
  _renderPoints(ax0, ay0, ax1, ay1) {
    this._layerDirty = false;
    if (!this.layer) this.layer = document.createElement("canvas");
    const L = this.layer, dpr = this.dpr || 1;
    if (L.width !== this.canvas.width || L.height !== this.canvas.height) { L.width = this.canvas.width; L.height = this.canvas.height; }
    const ctx = L.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, L.width, L.height);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const n = this.n, c = this.colors, m = this.mask, sel = this.selectedFlags;
    if (!n) return;
    const r = n <= 3000 ? 2.2 : n <= 20000 ? 1.5 : 1;
    const sx = (ax1 - ax0) / this.xMax, sy = ay1 - ay0;
    const X = this.x, Y = this.y;
    const css = (i, minAlpha) => (c ? `rgba(${c[4 * i]},${c[4 * i + 1]},${c[4 * i + 2]},${Math.max(minAlpha, c[4 * i + 3] / 255).toFixed(2)})` : "rgba(96,96,96,0.8)");
    const key = (i, pass) => (c ? ((c[4 * i] << 16) | (c[4 * i + 1] << 8) | c[4 * i + 2]) * 512 + c[4 * i + 3] * 2 + pass : pass);
    for (const pass of [0, 1]) {
      const buckets = new Map();
      for (let i = 0; i < n; i++) {
        if (!Number.isFinite(X[i]) || !Number.isFinite(Y[i])) continue;
        const faded = (m && !m[i]) || (sel && !sel[i]);
        if ((pass === 0) !== !!faded || (sel && sel[i])) continue;
        const k = key(i, pass);
        let b = buckets.get(k);
        if (!b) buckets.set(k, (b = [i]));
        else b.push(i);
      }
      for (const idx of buckets.values()) {
        ctx.fillStyle = css(idx[0], pass === 0 ? 0.08 : 0.55);
        ctx.beginPath();
        for (const i of idx) ctx.rect(ax0 + X[i] * sx - r, ay0 + (1 - Y[i]) * sy - r, 2 * r, 2 * r);
        ctx.fill();
      }
    }
    if (sel) {
      const ring = this.selected.length <= 5000;
      for (const i of this.selected) {
        if (i >= n || (m && !m[i]) || !Number.isFinite(X[i]) || !Number.isFinite(Y[i])) continue;
        const x = ax0 + X[i] * sx, y = ay0 + (1 - Y[i]) * sy;
        if (ring) {
          ctx.beginPath();
          ctx.arc(x, y, r + 2.2, 0, 2 * Math.PI);
          ctx.fillStyle = "#000";
          ctx.fill();
        }
        ctx.fillStyle = css(i, 1);
        ctx.beginPath();
        ctx.arc(x, y, r + 0.9, 0, 2 * Math.PI);
        ctx.fill();
      }
    }
  }

  // ------------------------------------------------------------------------- events
  _local(e) {
    const r = this.canvas.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  _bind() {
    const el = this.canvas;
    let hoverReq = 0, last = null;
    el.addEventListener("pointermove", (e) => {
      const [px, py] = this._local(e);
      const d = this.drag;
      if (d) {
        if (Math.abs(px - d.x) + Math.abs(py - d.y) > 3) d.moved = true;
        this.lasso = extendLasso(this.lasso, px, py);
        this.request();
        return;
      }
      last = [px, py];
      if (!hoverReq) {
        hoverReq = requestAnimationFrame(() => {
          hoverReq = 0;
          if (!last || this.drag) return;
          const i = this.pick(last[0], last[1]);
          this.setHighlight(i);
          if (this.opts.onHover) this.opts.onHover(i);
        });
      }
    });
    el.addEventListener("mouseleave", () => {
      last = null;
      if (this.drag) return;
      this.setHighlight(-1);
      if (this.opts.onHover) this.opts.onHover(-1);
    });
    el.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      const [px, py] = this._local(e);
      this.drag = { x: px, y: py, moved: false };
      this.lasso = [[px, py]];
      this.lasso.box = this.tool === "box";
      el.setPointerCapture(e.pointerId);
      e.preventDefault();
    });
    const end = (e) => {
      const d = this.drag;
      if (!d) return;
      this.drag = null;
      const [px, py] = this._local(e);
      const mode = e.shiftKey || e.ctrlKey || e.metaKey ? "add" : "replace";
      const poly = this.lasso;
      this.lasso = null;
      if (!d.moved) {
        const i = this.pick(px, py);
        if (this.opts.onSelect) {
          if (i >= 0) this.opts.onSelect({ indices: Uint32Array.of(i), mode: mode === "add" ? "toggle" : "replace" });
          else if (mode === "replace") this.opts.onSelect({ indices: new Uint32Array(0), mode: "replace" });
        }
      } else {
        if (this.opts.onSelect) this.opts.onSelect({ indices: this.pickPolygon(lassoPolygon(poly)), mode });
      }
      this.request();
    };
    el.addEventListener("pointerup", end);
    el.addEventListener("pointercancel", () => { this.drag = null; this.lasso = null; this.request(); });
  }
}

/** The cartography regions' names (Swayamdipta et al.), with a white halo so points do not hide them. */
function regionLabels(ctx, ax0, ay0, ax1, ay1) {
  ctx.save();
  ctx.font = "italic 11px Roboto, Arial, sans-serif";
  ctx.lineWidth = 3;
  ctx.strokeStyle = "rgba(255,255,255,0.9)";
  ctx.fillStyle = "rgba(0,0,0,0.62)";
  const label = (text, x, y, align, base) => { ctx.textAlign = align; ctx.textBaseline = base; ctx.strokeText(text, x, y); ctx.fillText(text, x, y); };
  label("easy to learn", ax0 + 4, ay0 + 3, "left", "top");
  label("hard to learn", ax0 + 4, ay1 - 3, "left", "bottom");
  label("ambiguous", ax1 - 4, (ay0 + ay1) / 2, "right", "middle");
  ctx.restore();
}
