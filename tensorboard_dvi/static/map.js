// MapView: a reusable 2-D map of samples over the classifier's decision regions.
//
//   const map = new MapView(container, {onHover, onSelect, onViewChange});
//   map.setSource({samples, palette, projection: (e) => Promise, background: (e) => Promise});
//   await map.showEpoch(5);               // animates from the current positions
//   map.setEncoding({colorMode, filter, selection});
//
// Three stacked layers: a 2-D canvas with the background image (cross-faded between epochs),
// a WebGL canvas with all points in one draw call (positions of two epochs in two buffers,
// interpolated in the vertex shader by a uniform t), and a 2-D overlay for trails, the lasso and
// the hover ring. A canvas-2D point renderer is used when WebGL is unavailable.
// The view (centre, scale) follows each epoch's extent until the user zooms or pans.

import { computeMask, computeStyle } from "./encode.js";
import { hexToRgb } from "./colors.js";
import { drawLasso, extendLasso, insidePolygon, lassoPolygon, polygonBounds } from "./lasso.js";

const VS = `
attribute vec2 a_p0; attribute vec2 a_p1;
attribute vec4 a_c0; attribute vec4 a_c1;
attribute vec2 a_s;
uniform float u_t; uniform vec4 u_view; uniform float u_scale; uniform float u_sel;
varying vec4 v_c; varying float v_shape; varying float v_px;
void main() {
  vec2 p = mix(a_p0, a_p1, u_t);
  gl_Position = vec4((p.x - u_view.x) * u_view.z, (p.y - u_view.y) * u_view.w, 0.0, 1.0);
  float px = a_s.x * 0.25 * u_scale;
  v_shape = a_s.y;
  v_c = mix(a_c0, a_c1, u_t);
  if (u_sel > 0.5) { px = px + 6.0 * u_scale; v_shape = 3.0; v_c.a = 1.0; }
  gl_PointSize = px;
  v_px = px;
}`;

const FS = `
precision mediump float;
varying vec4 v_c; varying float v_shape; varying float v_px;
void main() {
  vec2 d = gl_PointCoord * 2.0 - 1.0;
  float r = length(d);
  float aa = 2.0 / max(v_px, 1.0);
  float alpha = 1.0 - smoothstep(1.0 - aa, 1.0, r);
  if (alpha <= 0.0) discard;
  vec3 col = v_c.rgb;
  float a = v_c.a;
  // Rims need room: small points (dense maps) get none, and misclassified ones are darkened.
  float big = step(5.5, v_px);
  if (v_shape < 0.5) {            // disc with a thin white rim
    float rim = smoothstep(1.0 - 2.6 / v_px - aa, 1.0 - 2.6 / v_px, r);
    col = mix(col, vec3(1.0), rim * 0.8 * big);
  } else if (v_shape < 1.5) {     // misclassified: near-black ring around the colour
    float ring = smoothstep(1.0 - 3.4 / v_px - aa, 1.0 - 3.4 / v_px, r);
    col = big > 0.5 ? mix(col, vec3(0.08), ring) : col * 0.35;
  } else if (v_shape > 2.5) {     // selected: black ring, white gap, colour core
    float outer = smoothstep(1.0 - 5.0 / v_px - aa, 1.0 - 5.0 / v_px, r);
    float gap = smoothstep(1.0 - 8.0 / v_px - aa, 1.0 - 8.0 / v_px, r) * (1.0 - outer);
    col = mix(mix(col, vec3(1.0), gap), vec3(0.0), outer);
  }
  gl_FragColor = vec4(col * a * alpha, a * alpha);
}`;

function compile(gl, type, src) {
  const s = gl.createShader(type);
  gl.shaderSource(s, src);
  gl.compileShader(s);
  if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(gl.getShaderInfoLog(s));
  return s;
}

/** WebGL point renderer. */
class GLPoints {
  constructor(canvas) {
    const gl = canvas.getContext("webgl", {
      alpha: true, premultipliedAlpha: true, antialias: false, preserveDrawingBuffer: false, depth: false,
    });
    if (!gl) throw new Error("WebGL unavailable");
    this.gl = gl;
    this.kind = "webgl";
    const prog = gl.createProgram();
    gl.attachShader(prog, compile(gl, gl.VERTEX_SHADER, VS));
    gl.attachShader(prog, compile(gl, gl.FRAGMENT_SHADER, FS));
    gl.linkProgram(prog);
    if (!gl.getProgramParameter(prog, gl.LINK_STATUS)) throw new Error(gl.getProgramInfoLog(prog));
    this.prog = prog;
    this.uintIndex = !!gl.getExtension("OES_element_index_uint");
    const loc = (n) => gl.getAttribLocation(prog, n);
    this.attr = { p0: loc("a_p0"), p1: loc("a_p1"), c0: loc("a_c0"), c1: loc("a_c1"), s: loc("a_s") };
    this.uni = {};
    for (const u of ["u_t", "u_view", "u_scale", "u_sel"]) this.uni[u] = gl.getUniformLocation(prog, u);
    this.buf = {};
    for (const k of ["p0", "p1", "c0", "c1", "s"]) this.buf[k] = gl.createBuffer();
    this.selBuf = gl.createBuffer();
    this.n = 0;
    this.nSel = 0;
    this.maxPointSize = gl.getParameter(gl.ALIASED_POINT_SIZE_RANGE)[1];
  }
  _upload(key, data) {
    const gl = this.gl;
    gl.bindBuffer(gl.ARRAY_BUFFER, this.buf[key]);
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.DYNAMIC_DRAW);
  }
  setPositions(p0, p1) { this._upload("p0", p0); this._upload("p1", p1); this.n = p1.length / 2; }
  setColors(c0, c1) { this._upload("c0", c0); this._upload("c1", c1); }
  setStyle(s) { this._upload("s", s); }
  setSelected(indices) {
    const gl = this.gl;
    let idx = indices;
    if (!this.uintIndex) idx = Uint16Array.from(indices.filter((i) => i < 65536));
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.selBuf);
    gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, idx, gl.DYNAMIC_DRAW);
    this.nSel = idx.length;
    this.selType = idx instanceof Uint32Array ? gl.UNSIGNED_INT : gl.UNSIGNED_SHORT;
  }
  resize(w, h) { this.gl.viewport(0, 0, w, h); }
  draw(view, t, dpr, canvasW, canvasH) {
    const gl = this.gl;
    gl.clearColor(0, 0, 0, 0);
    gl.clear(gl.COLOR_BUFFER_BIT);
    if (!this.n) return;
    gl.useProgram(this.prog);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.ONE, gl.ONE_MINUS_SRC_ALPHA);
    const bind = (key, size, type, norm) => {
      gl.bindBuffer(gl.ARRAY_BUFFER, this.buf[key]);
      gl.enableVertexAttribArray(this.attr[key]);
      gl.vertexAttribPointer(this.attr[key], size, type, norm, 0, 0);
    };
    bind("p0", 2, gl.FLOAT, false);
    bind("p1", 2, gl.FLOAT, false);
    bind("c0", 4, gl.UNSIGNED_BYTE, true);
    bind("c1", 4, gl.UNSIGNED_BYTE, true);
    bind("s", 2, gl.UNSIGNED_BYTE, false);
    gl.uniform1f(this.uni.u_t, t);
    gl.uniform4f(this.uni.u_view, view.cx, view.cy, (2 * view.k * dpr) / canvasW, (2 * view.k * dpr) / canvasH);
    gl.uniform1f(this.uni.u_scale, dpr * view.sizeScale);
    gl.uniform1f(this.uni.u_sel, 0);
    gl.drawArrays(gl.POINTS, 0, this.n);
    if (this.nSel) {
      gl.uniform1f(this.uni.u_sel, 1);
      gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, this.selBuf);
      gl.drawElements(gl.POINTS, this.nSel, this.selType, 0);
    }
  }
  finish() { this.gl.finish(); }
}

/** Canvas-2D fallback with the same interface (slower: one path per point). */
class CanvasPoints {
  constructor(canvas) {
    this.ctx = canvas.getContext("2d");
    this.kind = "canvas2d";
    this.canvas = canvas;
    this.n = 0;
    this.sel = new Uint32Array(0);
  }
  setPositions(p0, p1) { this.p0 = p0; this.p1 = p1; this.n = p1.length / 2; }
  setColors(c0, c1) { this.c0 = c0; this.c1 = c1; }
  setStyle(s) { this.s = s; }
  setSelected(indices) { this.sel = indices; }
  resize() {}
  draw(view, t, dpr, W, H) {
    const ctx = this.ctx;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, W, H);
    if (!this.n) return;
    const sx = view.k * dpr, cx = W / 2, cy = H / 2;
    const { p0, p1, c1, s } = this;
    const drawOne = (i, extra, ring) => {
      const x = (p0[2 * i] + (p1[2 * i] - p0[2 * i]) * t - view.cx) * sx + cx;
      const y = cy - (p0[2 * i + 1] + (p1[2 * i + 1] - p0[2 * i + 1]) * t - view.cy) * sx;
      const r = ((s[2 * i] * 0.25 * view.sizeScale + extra) * dpr) / 2;
      ctx.beginPath();
      ctx.arc(x, y, r, 0, 6.2832);
      ctx.fillStyle = `rgba(${c1[4 * i]},${c1[4 * i + 1]},${c1[4 * i + 2]},${ring ? 1 : c1[4 * i + 3] / 255})`;
      ctx.fill();
      if (ring || s[2 * i + 1] === 1) {
        ctx.lineWidth = (ring ? 2 : 1.5) * dpr;
        ctx.strokeStyle = ring ? "#000" : "rgba(30,30,30,0.9)";
        ctx.stroke();
      }
    };
    for (let i = 0; i < this.n; i++) drawOne(i, 0, false);
    for (const i of this.sel) drawOne(i, 5, true);
  }
  finish() {}
}

// Layers to redraw.
const BG = 1, PTS = 2, OV = 4, ALL = 7;

const ease = (t) => (t < 0.5 ? 4 * t * t * t : 1 - Math.pow(-2 * t + 2, 3) / 2);

function extentOf(coords, n) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < n; i++) {
    const x = coords[2 * i], y = coords[2 * i + 1];
    if (x < x0) x0 = x; if (x > x1) x1 = x;
    if (y < y0) y0 = y; if (y > y1) y1 = y;
  }
  if (!Number.isFinite(x0)) return [-1, -1, 1, 1];
  return [x0, y0, x1, y1];
}

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
    this.root = document.createElement("div");
    this.root.className = "dvi-map";
    this.root.tabIndex = 0;
    this.bgCanvas = document.createElement("canvas");
    this.bgCanvas.className = "dvi-map-bg";
    this.ptCanvas = document.createElement("canvas");
    this.ptCanvas.className = "dvi-map-points";
    this.ovCanvas = document.createElement("canvas");
    this.ovCanvas.className = "dvi-map-overlay";
    this.root.append(this.bgCanvas, this.ptCanvas, this.ovCanvas);
    container.appendChild(this.root);
    this.bgCtx = this.bgCanvas.getContext("2d");
    this.ovCtx = this.ovCanvas.getContext("2d");
    this.points = null;
    if (this.opts.renderer !== "canvas") {
      try { this.points = new GLPoints(this.ptCanvas); } catch (e) { this.points = null; }
    }
    if (!this.points) this.points = new CanvasPoints(this.ptCanvas);

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
    this.showBackground = true;
    this.encoding = { colorMode: "label", filter: {}, selection: [] };
    this.mask = null;
    this.visibleCount = 0;
    this.selectedFlags = null;
    this.selectedIdx = new Uint32Array(0);
    this.trails = null;
    this.highlight = -1;
    this.tool = "pan";
    this.drag = null;
    this.lasso = null;
    this._token = 0;
    this._frameReq = 0;
    this._settled = [];
    this.lastFrameMs = 0;

    this._resizeObs = new ResizeObserver(() => this._resize());
    this._resizeObs.observe(this.root);
    this._bindEvents();
    this._resize();
  }

  get rendererKind() { return this.points.kind; }

  destroy() {
    this._resizeObs.disconnect();
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
    this._requestFrame();
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
      else {
        const a = this.pos0, b = this.pos1;
        for (let i = 0; i < n * 2; i++) from[i] = a[i] + (b[i] - a[i]) * t;
      }
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
    const fit = this._fitView(bg ? bg.bounds : extentOf(proj.coords, n));
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
    if (this.proj) this._restyle(null);
    this._requestFrame(PTS);
  }

  _restyle(fromColor) {
    const s = this.samples;
    const e = this.encoding;
    const palette = (this.source && this.source.palette) || [];
    const { mask, count } = computeMask(s, this.proj, e.filter || {}, this.mask);
    this.mask = mask;
    this.visibleCount = count;
    const hasSelection = this.selectedIdx.length > 0;
    // While a transition fades from the old colours, write the new ones into the spare array.
    let target = this.color1;
    if (fromColor) {
      target = this._colorSpare && this._colorSpare !== fromColor ? this._colorSpare : null;
      this._colorSpare = fromColor;
    }
    const { color, style } = computeStyle(s, this.proj, {
      colorMode: e.colorMode, palette, mask, selected: this.selectedFlags, hasSelection,
      pointSize: e.pointSize || this.opts.pointSize, colors: e.colors || null, sizes: e.sizes || null,
    }, target, this.style);
    this.color1 = color;
    this.style = style;
    this.points.setColors(fromColor || color, color);
    this.points.setStyle(style);
  }

  setBackgroundVisible(on) { this.showBackground = !!on; this._requestFrame(BG); }

  /** Trails: {epochs: number[], positions: ([x,y]|null)[][], colors: string[]} or null. */
  setTrails(trails) { this.trails = trails; this._requestFrame(OV); }

  /** Highlights one sample (linked hover from another view); -1 for none. */
  setHighlight(index) {
    if (index === this.highlight) return;
    this.highlight = index;
    this._requestFrame(OV);
  }

  setTool(tool) { this.tool = tool; this.root.dataset.tool = tool; }

  resetView() {
    this.autoFit = true;
    if (this.fitTo) Object.assign(this.view, this.fitTo);
    this._emitView();
    this._requestFrame();
  }

  // ------------------------------------------------------------------------- geometry
  _fitView(b) {
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
    if (!this.pos1 || poly.length < 3) return new Uint32Array(0);
    const pts = poly.map(([px, py]) => this.toData(px, py));
    const [x0, y0, x1, y1] = polygonBounds(pts);
    const out = [];
    const p = this.pos1, m = this.mask, n = this.samples.n;
    for (let i = 0; i < n; i++) {
      if (m && !m[i]) continue;
      const x = p[2 * i], y = p[2 * i + 1];
      if (x < x0 || x > x1 || y < y0 || y > y1) continue;
      if (insidePolygon(pts, x, y)) out.push(i);
    }
    return Uint32Array.from(out);
  }

  // ------------------------------------------------------------------------- drawing
  _resize() {
    const r = this.root.getBoundingClientRect();
    const dpr = window.devicePixelRatio || 1;
    this.dpr = dpr;
    this.cssW = Math.max(1, r.width);
    this.cssH = Math.max(1, r.height);
    const W = Math.round(this.cssW * dpr), H = Math.round(this.cssH * dpr);
    for (const c of [this.bgCanvas, this.ptCanvas, this.ovCanvas]) {
      if (c.width !== W || c.height !== H) { c.width = W; c.height = H; }
    }
    this.points.resize(W, H);
    if (this.pos1 && this.autoFit) {
      this.fitTo = this._fitView(this.bg ? this.bg.bounds : extentOf(this.pos1, this.samples.n));
      if (!this.anim) Object.assign(this.view, this.fitTo);
    }
    this._drawFrame(performance.now());
  }

  _requestFrame(layers = ALL) {
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
    if (layers & BG) this._drawBackground(t);
    if (layers & PTS) {
      const W = this.ptCanvas.width, H = this.ptCanvas.height;
      this.points.draw(this.view, t, this.dpr, W, H);
    }
    if (layers & OV) this._drawOverlay(t);
    this.lastFrameMs = performance.now() - t0;
    if (this.anim) this._requestFrame();
    else this._settle();
  }

  _drawBgImage(ctx, bg, alpha) {
    const [x0, y0, x1, y1] = bg.bounds;
    const [sx0, sy0] = this.toScreen(x0, y1);
    const [sx1, sy1] = this.toScreen(x1, y0);
    ctx.globalAlpha = alpha;
    ctx.imageSmoothingEnabled = true;
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(bg.image, sx0, sy0, sx1 - sx0, sy1 - sy0);
    ctx.globalAlpha = 1;
  }

  _drawBackground(t) {
    const ctx = this.bgCtx;
    const dpr = this.dpr;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, this.bgCanvas.width, this.bgCanvas.height);
    if (!this.showBackground) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (this.prevBg && t < 1) this._drawBgImage(ctx, this.prevBg, 1);
    if (this.bg) this._drawBgImage(ctx, this.bg, this.prevBg && t < 1 ? t : 1);
  }

  _drawOverlay(t) {
    const ctx = this.ovCtx;
    const dpr = this.dpr;
    const empty = !(this.trails && this.pos1) && !(this.highlight >= 0 && this.pos1) && !(this.lasso && this.lasso.length > 1);
    if (empty && this._ovEmpty) return;
    this._ovEmpty = empty;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.ovCanvas.width, this.ovCanvas.height);
    this.ovCanvas.style.visibility = empty ? "hidden" : "visible";
    if (empty) return;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    if (this.trails && this.pos1) this._drawTrails(ctx, t);
    if (this.highlight >= 0 && this.pos1) {
      const p = this.positionOf(this.highlight, t);
      const [x, y] = this.toScreen(p[0], p[1]);
      ctx.beginPath();
      ctx.arc(x, y, 9, 0, 2 * Math.PI);
      ctx.lineWidth = 2.5;
      ctx.strokeStyle = "#f57c00";
      ctx.stroke();
      ctx.beginPath();
      ctx.arc(x, y, 11, 0, 2 * Math.PI);
      ctx.lineWidth = 1;
      ctx.strokeStyle = "rgba(255,255,255,0.9)";
      ctx.stroke();
    }
    if (this.lasso && this.lasso.length > 1) drawLasso(ctx, this.lasso);
  }

  _drawTrails(ctx, t) {
    const { epochs, positions, colors, indices } = this.trails;
    const cur = epochs.indexOf(this.epoch);
    ctx.lineJoin = "round";
    ctx.lineCap = "round";
    for (let j = 0; j < positions.length; j++) {
      const traj = positions[j];
      const col = colors ? colors[j] : "#333";
      const pts = [];
      for (let e = 0; e < traj.length; e++) if (traj[e]) pts.push([e, ...this.toScreen(traj[e][0], traj[e][1])]);
      if (pts.length < 2) continue;
      // halo then colour, segments fade towards the earliest epoch
      for (const pass of [0, 1]) {
        for (let s = 1; s < pts.length; s++) {
          const [e0, xa, ya] = pts[s - 1];
          const [, xb, yb] = pts[s];
          const age = cur >= 0 ? Math.abs(e0 - cur) / Math.max(1, epochs.length) : 0;
          ctx.beginPath();
          ctx.moveTo(xa, ya);
          ctx.lineTo(xb, yb);
          if (pass === 0) { ctx.strokeStyle = "rgba(255,255,255,0.85)"; ctx.lineWidth = 4.5; }
          else { ctx.strokeStyle = col; ctx.globalAlpha = 0.95 - 0.55 * age; ctx.lineWidth = 2; }
          ctx.stroke();
          ctx.globalAlpha = 1;
        }
      }
      for (const [e, x, y] of pts) {
        ctx.beginPath();
        ctx.arc(x, y, e === 0 ? 3.5 : 2.2, 0, 2 * Math.PI);
        ctx.fillStyle = e === 0 ? "#fff" : col;
        ctx.fill();
        ctx.lineWidth = 1.2;
        ctx.strokeStyle = e === 0 ? col : "rgba(255,255,255,0.9)";
        ctx.stroke();
      }
      // Connect the current animated position to the trail.
      if (indices && indices[j] >= 0 && t < 1) {
        const p = this.positionOf(indices[j], t);
        const [x, y] = this.toScreen(p[0], p[1]);
        ctx.beginPath();
        ctx.arc(x, y, 4, 0, 2 * Math.PI);
        ctx.strokeStyle = col;
        ctx.stroke();
      }
    }
  }

  /** The current view as one canvas (background, points, overlay), for PNG export. */
  composite(extraDraw = null) {
    this.drawNow();
    const c = document.createElement("canvas");
    c.width = this.bgCanvas.width;
    c.height = this.bgCanvas.height;
    const ctx = c.getContext("2d");
    ctx.drawImage(this.bgCanvas, 0, 0);
    ctx.drawImage(this.ptCanvas, 0, 0);
    ctx.drawImage(this.ovCanvas, 0, 0);
    if (extraDraw) extraDraw(ctx, this.dpr);
    return c;
  }

  /** Finishes GPU work (for timing). */
  finish() { this.points.finish(); }

  // ------------------------------------------------------------------------- events
  _emitView() { if (this.opts.onViewChange) this.opts.onViewChange({ ...this.view, autoFit: this.autoFit }); }

  _local(e) {
    const r = this.root.getBoundingClientRect();
    return [e.clientX - r.left, e.clientY - r.top];
  }

  _bindEvents() {
    const el = this.root;
    let hoverReq = 0, lastMove = null;
    const doHover = () => {
      hoverReq = 0;
      if (!lastMove || !this.opts.onHover || this.drag) return;
      const [px, py] = this._local(lastMove);
      const i = this.anim ? -1 : this.pick(px, py);
      const [x, y] = this.toData(px, py);
      this.opts.onHover({ index: i, dataX: x, dataY: y, px, py, clientX: lastMove.clientX, clientY: lastMove.clientY });
    };
    el.addEventListener("mousemove", (e) => {
      if (this.drag) return;
      lastMove = e;
      if (!hoverReq) hoverReq = requestAnimationFrame(doHover);
    });
    el.addEventListener("mouseleave", () => {
      lastMove = null;
      if (this.opts.onHover) this.opts.onHover(null);
    });
    el.addEventListener("wheel", (e) => {
      e.preventDefault();
      const [px, py] = this._local(e);
      const [x, y] = this.toData(px, py);
      const f = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015));
      this.autoFit = false;
      this.anim && (this.fitFrom = null);
      this.view.k = Math.min(1e9, Math.max(1e-9, this.view.k * f));
      // keep the data point under the cursor fixed
      this.view.cx = x - (px - this.cssW / 2) / this.view.k;
      this.view.cy = y + (py - this.cssH / 2) / this.view.k;
      this._emitView();
      this._requestFrame();
    }, { passive: false });
    el.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      el.focus({ preventScroll: true });
      const [px, py] = this._local(e);
      const mode = e.shiftKey && this.tool === "pan" ? "lasso" : this.tool;
      this.drag = { mode, x: px, y: py, view: { ...this.view }, moved: false, ev: e };
      if (mode !== "pan") { this.lasso = [[px, py]]; this.lasso.box = mode === "box"; }
      el.setPointerCapture(e.pointerId);
      if (this.opts.onHover) this.opts.onHover(null);
    });
    el.addEventListener("pointermove", (e) => {
      const d = this.drag;
      if (!d) return;
      const [px, py] = this._local(e);
      if (Math.abs(px - d.x) + Math.abs(py - d.y) > 3) d.moved = true;
      if (d.mode === "pan") {
        if (!d.moved) return;
        this.autoFit = false;
        this.fitFrom = null;
        this.view.cx = d.view.cx - (px - d.x) / this.view.k;
        this.view.cy = d.view.cy + (py - d.y) / this.view.k;
        this.root.classList.add("dragging");
        this._emitView();
      } else {
        this.lasso = extendLasso(this.lasso, px, py);
      }
      this._requestFrame(d.mode === "pan" ? ALL : OV);
    });
    const end = (e) => {
      const d = this.drag;
      if (!d) return;
      this.drag = null;
      this.root.classList.remove("dragging");
      const [px, py] = this._local(e);
      const mode = e.shiftKey || e.ctrlKey || e.metaKey ? "add" : "replace";
      if (!d.moved) {
        this.lasso = null;
        const i = this.pick(px, py);
        if (this.opts.onSelect) {
          if (i >= 0) this.opts.onSelect({ indices: Uint32Array.of(i), mode: mode === "add" ? "toggle" : "replace", click: true });
          else if (mode === "replace") this.opts.onSelect({ indices: new Uint32Array(0), mode: "replace", click: true });
        }
      } else if (d.mode !== "pan") {
        const poly = lassoPolygon(this.lasso);
        this.lasso = null;
        const idx = this.pickPolygon(poly);
        if (this.opts.onSelect) this.opts.onSelect({ indices: idx, mode });
      }
      this._requestFrame(OV);
    };
    el.addEventListener("pointerup", end);
    el.addEventListener("pointercancel", () => { this.drag = null; this.lasso = null; this._requestFrame(OV); });
    el.addEventListener("dblclick", () => this.resetView());
  }
}

export { hexToRgb };
