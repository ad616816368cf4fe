// "Compare runs": two to four runs side by side (docs/COMPARE.md).
//
// One MapView per pane, linked by sample id: hovering a sample rings it in every pane, the
// selection (the app's `sel`, ids) is shown with its trails in every pane. One epoch slider
// drives all panes while "Lock epochs" is on; unlocked, every pane has its own epoch. A run
// without the wanted epoch shows its closest fitted epoch before it (clamped, with a note).
//
// Aligned coordinates: every pane after the first (the reference) is mapped onto the reference's
// map of the same epoch by an orthogonal Procrustes fit on the shared sample ids (rotation or
// reflection, uniform scale, translation; closed form in 2-D, see `procrustes`). The map's own
// background is warped by the same transform, so regions and points stay together.
//
// The difference panel compares the reference with the other panes on shared ids at the shown
// epochs: predicted differently, flipped (prediction changed since the previous fitted epoch) in
// one run only, and the agreement matrix (reference prediction × other prediction).
//
// State lives in the app's store (URL keys dvi.compare, dvi.lock, dvi.align, dvi.cdiff,
// dvi.ceps, dvi.cmat; the shared epoch, selection, colouring and background reuse dvi.epoch,
// dvi.sel, dvi.color, dvi.bg).

import { MapView } from "./map.js";
import { classPalette } from "./colors.js";
import { computeStyle, FLAG_WRONG, FLAG_NOISY } from "./encode.js";
import { h } from "./ui.js";

export const MAX_PANES = 4;
const MAX_TRAILS = 300;
const REF_COLOR = "#f57c00";

// ------------------------------------------------------------------------------------ math

/**
 * Orthogonal Procrustes with uniform scale in 2-D: finds s, R (rotation or reflection) and t
 * minimising sum_k |a_k - (s R b_k + t)|^2 over the pairs (ia[k], ib[k]) of the coordinate
 * arrays A and B (N×2, flat). Closed form: with centred x = b - mean(b), y = a - mean(a),
 *   rotation by θ:    p = Σ x·y,            q = Σ (x1 y2 - x2 y1),   score √(p²+q²), θ = atan2(q, p)
 *   reflection:       p' = Σ (x1 y1 - x2 y2), q' = Σ (x1 y2 + x2 y1), score √(p'²+q'²)
 * (the trace of the 2×2 SVD's singular values, with and without a sign flip); the larger score
 * wins, s = score / Σ|x|², t = mean(a) - s R mean(b).
 * Returns {s, m: [m00, m01, m10, m11] (= s R), t: [tx, ty], angle (degrees), reflect, rms,
 * rel (rms / rms spread of a), n}.
 */
export function procrustes(A, B, ia, ib) {
  const n = ia.length;
  if (n < 3) return { s: 1, m: [1, 0, 0, 1], t: [0, 0], angle: 0, reflect: false, rms: NaN, rel: NaN, n, identity: true };
  let ax = 0, ay = 0, bx = 0, by = 0;
  for (let k = 0; k < n; k++) {
    ax += A[2 * ia[k]]; ay += A[2 * ia[k] + 1];
    bx += B[2 * ib[k]]; by += B[2 * ib[k] + 1];
  }
  ax /= n; ay /= n; bx /= n; by /= n;
  let p = 0, q = 0, pr = 0, qr = 0, xx = 0, yy = 0;
  for (let k = 0; k < n; k++) {
    const x1 = B[2 * ib[k]] - bx, x2 = B[2 * ib[k] + 1] - by;
    const y1 = A[2 * ia[k]] - ax, y2 = A[2 * ia[k] + 1] - ay;
    p += x1 * y1 + x2 * y2;
    q += x1 * y2 - x2 * y1;
    pr += x1 * y1 - x2 * y2;
    qr += x1 * y2 + x2 * y1;
    xx += x1 * x1 + x2 * x2;
    yy += y1 * y1 + y2 * y2;
  }
  const rot = Math.hypot(p, q), ref = Math.hypot(pr, qr);
  const reflect = ref > rot * (1 + 1e-9);
  const th = reflect ? Math.atan2(qr, pr) : Math.atan2(q, p);
  const c = Math.cos(th), sn = Math.sin(th);
  const s = xx > 0 ? (reflect ? ref : rot) / xx : 1;
  // rotation: [[c, -s], [s, c]]; reflection: rotation · diag(1, -1) = [[c, s], [s, -c]]
  const R = reflect ? [c, sn, sn, -c] : [c, -sn, sn, c];
  const m = R.map((v) => v * s);
  const t = [ax - (m[0] * bx + m[1] * by), ay - (m[2] * bx + m[3] * by)];
  // residual: Σ|y|² - s² Σ|x|² (exact for the optimum), guarded against rounding
  const res = Math.max(0, yy - s * s * xx);
  return { s, m, t, angle: (th * 180) / Math.PI, reflect, rms: Math.sqrt(res / n), rel: yy > 0 ? Math.sqrt(res / yy) : 0, n };
}

/** Applies {m, t} to a flat N×2 array (a new Float32Array). */
export function applySimilarity(T, coords) {
  const out = new Float32Array(coords.length);
  const [a, b, c, d] = T.m, [tx, ty] = T.t;
  for (let i = 0; i < coords.length; i += 2) {
    const x = coords[i], y = coords[i + 1];
    out[i] = a * x + b * y + tx;
    out[i + 1] = c * x + d * y + ty;
  }
  return out;
}

function applyPoint(T, x, y) {
  const [a, b, c, d] = T.m, [tx, ty] = T.t;
  return [a * x + b * y + tx, c * x + d * y + ty];
}

/** The background image warped by T, as a canvas with its new axis-aligned bounds. */
function warpBackground(bg, T) {
  const [x0, y0, x1, y1] = bg.bounds;
  const corners = [[x0, y0], [x1, y0], [x0, y1], [x1, y1]].map(([x, y]) => applyPoint(T, x, y));
  const X0 = Math.min(...corners.map((p) => p[0])), X1 = Math.max(...corners.map((p) => p[0]));
  const Y0 = Math.min(...corners.map((p) => p[1])), Y1 = Math.max(...corners.map((p) => p[1]));
  const iw = bg.image.naturalWidth || bg.image.width, ih = bg.image.naturalHeight || bg.image.height;
  const side = Math.max(iw, ih) * 1.5;
  const cw = Math.max(2, Math.round(side)), ch = Math.max(2, Math.round(side * (Y1 - Y0) / Math.max(X1 - X0, 1e-12)));
  const canvas = document.createElement("canvas");
  canvas.width = cw;
  canvas.height = Math.min(ch, 4 * cw);
  // image pixel (u, v) → data (x, y) → warped data (X, Y) → canvas pixel (U, V); all affine
  const toCanvas = (u, v) => {
    const x = x0 + (u / iw) * (x1 - x0), y = y1 - (v / ih) * (y1 - y0);
    const [X, Y] = applyPoint(T, x, y);
    return [((X - X0) / (X1 - X0)) * canvas.width, ((Y1 - Y) / (Y1 - Y0)) * canvas.height];
  };
  const o = toCanvas(0, 0), eu = toCanvas(1, 0), ev = toCanvas(0, 1);
  const ctx = canvas.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.setTransform(eu[0] - o[0], eu[1] - o[1], ev[0] - o[0], ev[1] - o[1], o[0], o[1]);
  ctx.drawImage(bg.image, 0, 0);
  return { image: canvas, bounds: [X0, Y0, X1, Y1], resolution: bg.resolution, palette: bg.palette };
}

/** Index of the shown epoch for a wanted one: the wanted epoch, else the closest fitted before it. */
export function clampEpoch(fitted, want) {
  if (!fitted.length) return null;
  if (want === null || want === undefined) return fitted[0];
  if (fitted.includes(want)) return want;
  const before = fitted.filter((e) => e <= want);
  return before.length ? before[before.length - 1] : fitted[0];
}

function extent(coords) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (let i = 0; i < coords.length; i += 2) {
    const x = coords[i], y = coords[i + 1];
    if (x < x0) x0 = x; if (x > x1) x1 = x;
    if (y < y0) y0 = y; if (y > y1) y1 = y;
  }
  return Number.isFinite(x0) ? [x0, y0, x1, y1] : [-1, -1, 1, 1];
}

// ------------------------------------------------------------------------------------ map pane

/** A MapView that can fade samples outside an extra mask (difference view) and fit a shared view. */
class PaneMap extends MapView {
  constructor(container, opts) {
    super(container, opts);
    this.extraMask = null;
    this.boundsHook = null;
  }

  _restyle(fromColor) {
    super._restyle(fromColor);
    const x = this.extraMask;
    if (!x || x.length !== this.samples.n) return;
    let count = 0;
    for (let i = 0; i < x.length; i++) { this.mask[i] &= x[i]; count += this.mask[i]; }
    this.visibleCount = count;
    const e = this.encoding;
    computeStyle(this.samples, this.proj, {
      colorMode: e.colorMode, palette: (this.source && this.source.palette) || [], mask: this.mask,
      // the highlighted samples are drawn a little larger than usual
      selected: this.selectedFlags, hasSelection: this.selectedIdx.length > 0, pointSize: (e.pointSize || this.opts.pointSize) + 2,
      colors: e.colors || null, sizes: e.sizes || null,
    }, this.color1, this.style);
    this.points.setColors(fromColor || this.color1, this.color1);
    this.points.setStyle(this.style);
  }

  _fitView(b) {
    return super._fitView(this.boundsHook ? this.boundsHook(this, b) : b);
  }

  /** Own bounds (background, else points) of the current epoch. */
  ownBounds() {
    if (this.bg) return this.bg.bounds;
    return this.pos1 ? extent(this.pos1) : null;
  }

  refit() {
    if (!this.pos1) return;
    this.fitTo = this._fitView(this.ownBounds());
    if (this.autoFit && !this.anim) Object.assign(this.view, this.fitTo);
    this._requestFrame();
  }
}

// ------------------------------------------------------------------------------------ DOM helpers

function seg(name, options, onPick) {
  const wrap = h("div", { class: "dvi-seg", role: "radiogroup", "data-name": name, "aria-label": name });
  for (const [value, label, title] of options) {
    wrap.append(h("button", { type: "button", "data-value": value, role: "radio", title, onclick: () => onPick(value) }, label));
  }
  return wrap;
}

function setSeg(wrap, value) {
  for (const b of wrap.querySelectorAll("button")) {
    const on = b.dataset.value === value;
    b.classList.toggle("on", on);
    b.setAttribute("aria-checked", on ? "true" : "false");
  }
}

function injectCss() {
  if (document.querySelector("link[data-dvi-compare-style]")) return;
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("./compare.css", import.meta.url).href;
  link.dataset.dviCompareStyle = "1";
  document.head.appendChild(link);
}

const pctText = (a, n) => (n ? `${((100 * a) / n).toFixed(1)}%` : "—");

// ------------------------------------------------------------------------------------ view

export class CompareView {
  /** @param app the tab's App (store, api, root); the view shows itself while `compare` lists ≥ 2 runs. */
  constructor(app) {
    this.app = app;
    this.api = app.api;
    this.store = app.store;
    this.active = false;
    this.ready = false;       // all panes show their epoch (tests wait for it)
    this.panes = [];
    this.runs = [];
    this.diff = null;
    this.hoverId = null;
    this._alignCache = new Map();
    this._bgCache = new Map();
    this._gen = 0;
    this._linking = false;
    injectCss();
    this._build();
    this.store.subscribe((s, changed) => this._onState(s, changed));
    document.addEventListener("keydown", (e) => this._onKey(e), true);
    this._sync();
  }

  // ---------------------------------------------------------------------------- layout
  _build() {
    const st = this.store;
    const E = (this.el = {});
    E.back = h("button", { type: "button", class: "dvi-btn", title: "Back to one run", onclick: () => this.close() }, "← One run");
    E.prev = h("button", { type: "button", class: "dvi-btn dvi-cmp-step", "aria-label": "Previous epoch", title: "Previous epoch (←)", onclick: () => this.step(-1) }, "‹");
    E.next = h("button", { type: "button", class: "dvi-btn dvi-cmp-step", "aria-label": "Next epoch", title: "Next epoch (→)", onclick: () => this.step(1) }, "›");
    E.slider = h("input", { type: "range", class: "dvi-slider", min: 0, max: 0, value: 0, step: 1, "aria-label": "Compare epoch",
      oninput: (e) => { const ep = this.union[Number(e.target.value)]; if (ep !== undefined) this.setEpoch(ep); } });
    E.epoch = h("div", { class: "dvi-epoch" });
    E.lock = h("input", { type: "checkbox", id: "dvi-cmp-lock", onchange: (e) => this.setLock(e.target.checked) });
    E.align = seg("Alignment", [["procrustes", "Aligned", "Map every pane onto the first one (Procrustes on shared ids)"], ["none", "Raw", "Each run's own coordinates"]],
      (v) => st.set({ align: v }));
    E.color = seg("Colour", [["label", "Label"], ["prediction", "Prediction"], ["correct", "Correctness"]], (v) => st.set({ color: v }));
    E.bg = h("input", { type: "checkbox", id: "dvi-cmp-bg", onchange: (e) => st.set({ bg: e.target.checked }) });
    E.add = h("select", { class: "dvi-select dvi-cmp-add", "aria-label": "Add a run", onchange: (e) => { if (e.target.value) this.addRun(e.target.value); e.target.value = ""; } });
    const top = h("div", { class: "dvi-cmp-top" },
      E.back,
      h("div", { class: "dvi-cmp-playback" }, E.prev, E.slider, E.next, E.epoch),
      h("label", { class: "dvi-check dvi-cmp-lock", for: "dvi-cmp-lock", title: "One epoch for every pane" }, E.lock, "Lock epochs"),
      E.align, E.color,
      h("label", { class: "dvi-check", for: "dvi-cmp-bg" }, E.bg, "Regions"),
      E.add);
    E.notes = h("div", { class: "dvi-cmp-notes" });
    E.panes = h("div", { class: "dvi-cmp-panes" });
    // side panel
    E.shared = h("div", { class: "dvi-cmp-shared" });
    E.diffTitle = h("h3", { text: "Differences" });
    E.diffMode = seg("Highlight", [["off", "Off"], ["disagree", "Differ"], ["flip", "Flipped"]], (v) => st.set({ cdiff: v }));
    E.diffMode.title = "Fade every sample except those predicted differently by the runs (Differ) or whose prediction changed since the previous epoch in one run only (Flipped)";
    E.counts = h("div", { class: "dvi-cmp-counts" });
    E.matrixTitle = h("h3", { text: "Agreement matrix" });
    E.matrix = h("div", { class: "dvi-cmp-matrix" });
    // with more than two panes: which pane the matrix compares with the reference
    E.matSel = h("select", { class: "dvi-select dvi-cmp-matsel", "aria-label": "Agreement matrix: reference vs",
      onchange: (e) => st.set({ cmat: e.target.value }) });
    E.matPick = h("label", { class: "dvi-cmp-matpick", hidden: true }, "vs ", E.matSel);
    E.selTitle = h("h3", {}, "Selection");
    E.selClear = h("button", { type: "button", class: "dvi-link", onclick: () => st.set({ sel: [] }) }, "Clear");
    E.selTitle.append(E.selClear);
    E.sel = h("div", { class: "dvi-cmp-sel" });
    const side = h("aside", { class: "dvi-panel dvi-cmp-side" },
      h("section", {}, h("h3", { text: "Shared samples" }), E.shared),
      h("section", {}, E.diffTitle, h("div", { class: "dvi-row" }, E.diffMode), E.counts),
      h("section", {}, E.matrixTitle, E.matPick, E.matrix),
      h("section", {}, E.selTitle, E.sel));
    this.rootEl = h("div", { class: "dvi-compare", hidden: true },
      top, E.notes, h("div", { class: "dvi-cmp-body" }, E.panes, side));
    this.app.root.append(this.rootEl);
    // entry point in the single-run view
    this.openBtn = h("button", { type: "button", class: "dvi-btn dvi-cmp-open", title: "Show two or more runs side by side", onclick: () => this.open() }, "Compare runs");
    const runInfo = this.app.el && this.app.el.runInfo;
    if (runInfo) runInfo.after(h("div", { class: "dvi-row" }, this.openBtn));
  }

  // ---------------------------------------------------------------------------- state
  get union() {
    const set = new Set();
    for (const p of this.panes) for (const e of p.fitted || []) set.add(e);
    return [...set].sort((a, b) => a - b);
  }

  open(runs = null) {
    const names = this.app.runs.map((r) => r.name);
    if (names.length < 2) { this.openBtn.title = "Needs at least two runs in the logdir"; this.openBtn.disabled = true; return; }
    const cur = this.app.run ? this.app.run.name : names[0];
    const other = names.find((n) => n !== cur);
    this.store.set({ compare: runs || [cur, other] });
  }

  close() { this.store.set({ compare: [], ceps: [], cdiff: "off", cmat: "" }); }

  addRun(name) {
    const c = this.store.get().compare;
    if (c.length >= MAX_PANES || c.includes(name)) return;
    const patch = { compare: [...c, name] };
    if (!this.store.get().lock) patch.ceps = [...this.panes.map((p) => p.shown), null];
    this.store.set(patch);
  }

  removePane(k) {
    const s = this.store.get();
    const c = s.compare.filter((_, i) => i !== k);
    const ceps = s.ceps.filter((_, i) => i !== k);
    this.store.set({ compare: c, ceps, cmat: s.compare[k] === s.cmat ? "" : s.cmat });
  }

  setPaneRun(k, name) {
    const c = this.store.get().compare.slice();
    const j = c.indexOf(name);
    if (j >= 0) c[j] = c[k];  // already shown in another pane: swap the two
    c[k] = name;
    this.store.set({ compare: c });
  }

  setEpoch(ep) {
    const s = this.store.get();
    if (s.lock) this.store.set({ epoch: ep });
    else this.store.set({ epoch: ep, ceps: this.panes.map(() => ep) });
  }

  setLock(on) {
    const s = this.store.get();
    if (on) this.store.set({ lock: true, ceps: [], epoch: this.panes.length ? this.panes[0].shown : s.epoch });
    else this.store.set({ lock: false, ceps: this.panes.map((p) => p.shown) });
  }

  step(d) {
    const u = this.union;
    if (!u.length) return;
    const cur = this.store.get().epoch ?? (this.panes[0] && this.panes[0].shown);
    let i = u.indexOf(cur);
    if (i < 0) i = Math.max(0, u.filter((e) => e <= cur).length - 1);
    this.setEpoch(u[Math.max(0, Math.min(u.length - 1, i + d))]);
  }

  stepPane(k, d) {
    const p = this.panes[k];
    const i = p.fitted.indexOf(p.shown);
    const ep = p.fitted[Math.max(0, Math.min(p.fitted.length - 1, i + d))];
    const ceps = this.panes.map((q, j) => (j === k ? ep : (this.store.get().ceps[j] ?? q.shown)));
    this.store.set({ ceps });
  }

  _aligned() { return this.store.get().align !== "none"; }

  async _sync() {
    const want = this.store.get().compare;
    if (!want || want.length < 2) { this._deactivate(); return; }
    const gen = ++this._gen;
    if (!this.runs.length || want.some((n) => !this.runs.find((r) => r.name === n))) {
      try { this.runs = (await this.api.runs()).runs || []; } catch (e) { this.runs = []; }
      if (gen !== this._gen) return;
    }
    const known = want.filter((n, i) => this.runs.find((r) => r.name === n) && want.indexOf(n) === i).slice(0, MAX_PANES);
    const dropped = want.filter((n) => !known.includes(n));
    if (known.length < 2) {
      const msg = `Cannot compare ${want.join(", ")}: ${dropped.length ? `no run named ${dropped.map((d) => `"${d}"`).join(", ")} in this logdir` : "needs two runs"}.`;
      this.store.set({ compare: [] });
      // shown in the single-run view once it has loaded its run (loading clears its banners)
      for (let k = 0; k < 200 && !this.app.run; k++) await new Promise((r) => setTimeout(r, 50));
      if (this.app._banner && !this.active) this.app._banner("compare", msg);
      return;
    }
    if (known.length !== want.length) {
      this._pendingNote = `Not in this logdir, left out: ${dropped.join(", ")}.`;
      this.store.set({ compare: known });
      return;
    }
    this._activate();
    await this._buildPanes(known, gen);
  }

  _activate() {
    if (this.active) return;
    this.active = true;
    this.app.stopPlay && this.app.stopPlay();
    this.rootEl.hidden = false;
    this.app.root.classList.add("dvi-comparing");
  }

  _deactivate() {
    this._gen++;
    this.ready = false;
    if (!this.active) return;
    this.active = false;
    for (const p of this.panes) { clearTimeout(p.timer); p.map.destroy(); }
    this.panes = [];
    this.el.panes.replaceChildren();
    this.rootEl.hidden = true;
    this.app.root.classList.remove("dvi-comparing");
    // the single-run map was hidden: let it measure itself again
    if (this.app.map) requestAnimationFrame(() => this.app.map._resize());
  }

  async _buildPanes(names, gen) {
    this.ready = false;
    const same = this.panes.length === names.length && this.panes.every((p, i) => p.run === names[i]);
    if (!same) {
      for (const p of this.panes) { clearTimeout(p.timer); p.map.destroy(); }
      this.panes = names.map((n, k) => this._makePane(n, k));
      this.el.panes.replaceChildren(...this.panes.map((p) => p.el));
      this.el.panes.style.gridTemplateColumns = `repeat(${this.panes.length}, minmax(0, 1fr))`;
      this._alignCache.clear();
      this._bgCache.clear();
      this._pairCache = new Map();
    }
    this._renderAdd();
    try {
      await Promise.all(this.panes.map((p) => this._loadPane(p)));
    } catch (e) {
      if (gen === this._gen) this._note("error", `Could not load the runs: ${e.message || e}`);
      return;
    }
    if (gen !== this._gen) return;
    this._renderShared();
    this._renderSlider();
    this._note("dropped", this._pendingNote || null);
    this._pendingNote = null;
    await this._showAll(false);
  }

  _makePane(run, k) {
    const entry = this.runs.find((r) => r.name === run);
    const p = { run, k, entry, fitted: [], shown: null, want: null, samples: null, trailKey: null };
    p.runSel = h("select", { class: "dvi-select dvi-cmp-runsel", "aria-label": `Run of pane ${k + 1}`, onchange: (e) => this.setPaneRun(k, e.target.value) },
      ...this.runs.map((r) => h("option", { value: r.name, selected: r.name === run }, r.name)));
    p.epochEl = h("span", { class: "dvi-cmp-ep" });
    p.clampEl = h("span", { class: "dvi-cmp-clamp", hidden: true });
    p.alignEl = h("div", { class: "dvi-cmp-align" });
    p.prev = h("button", { type: "button", class: "dvi-cmp-mini", "aria-label": `Previous epoch of pane ${k + 1}`, onclick: () => this.stepPane(k, -1) }, "‹");
    p.next = h("button", { type: "button", class: "dvi-cmp-mini", "aria-label": `Next epoch of pane ${k + 1}`, onclick: () => this.stepPane(k, 1) }, "›");
    p.steps = h("span", { class: "dvi-cmp-steps" }, p.prev, p.next);
    p.remove = h("button", { type: "button", class: "dvi-x", "aria-label": `Remove pane ${k + 1}`, title: "Remove this run from the comparison", onclick: () => this.removePane(k) }, "×");
    p.role = h("span", { class: `dvi-cmp-role${k === 0 ? " ref" : ""}`, text: k === 0 ? "reference" : String.fromCharCode(65 + k) });
    p.head = h("div", { class: "dvi-cmp-head" },
      h("div", { class: "dvi-cmp-head-row" }, p.role, p.runSel, h("span", { class: "dvi-cmp-eplabel" }, "epoch ", p.epochEl), p.steps, p.clampEl, p.remove),
      p.alignEl);
    p.wrap = h("div", { class: "dvi-mapwrap dvi-cmp-mapwrap" });
    p.tip = h("div", { class: "dvi-tooltip", hidden: true });
    p.empty = h("div", { class: "dvi-empty", hidden: false }, h("div", { class: "dvi-spinner" }), h("p", { text: "Loading…" }));
    p.el = h("div", { class: "dvi-cmp-pane", "data-run": run, "data-pane": String(k) }, p.head, p.wrap);
    p.map = new PaneMap(p.wrap, {
      onHover: (ev) => this._onHover(p, ev),
      onSelect: (ev) => this._onSelect(p, ev),
      onViewChange: (v) => this._onView(p, v),
    });
    p.map.boundsHook = (m, b) => this._commonBounds(m, b);
    p.wrap.append(p.tip, p.empty);
    p.map.setTool("pan");
    return p;
  }

  async _loadPane(p) {
    p.samples = await this.api.samples(p.run);
    const st = await this.api.status(p.run);
    p.fitted = (st.fitted || []).slice().sort((a, b) => a - b);
    p.job = st;
    const e = p.entry;
    p.palette = classPalette(e.num_classes);
    p.classNames = e.class_names && e.class_names.length ? e.class_names : Array.from({ length: e.num_classes }, (_, i) => String(i));
    p.source = {
      samples: p.samples, palette: p.palette,
      projection: (ep) => this._projection(p, ep),
      background: (ep) => this._background(p, ep),
    };
    p.map.setSource(p.source);
    this._encode(p);
    p.map.setBackgroundVisible(this.store.get().bg);
    this._poll(p);
  }

  _poll(p) {
    clearTimeout(p.timer);
    if (!(p.job && (p.job.state === "queued" || p.job.state === "running"))) return;
    p.timer = setTimeout(async () => {
      try {
        const st = await this.api.status(p.run);
        const fitted = (st.fitted || []).slice().sort((a, b) => a - b);
        const grew = fitted.length !== p.fitted.length;
        p.fitted = fitted;
        p.job = st;
        if (grew && this.active) { this._renderSlider(); this._showAll(true); }
      } catch (e) { /* retried below */ }
      if (this.active && this.panes.includes(p)) this._poll(p);
    }, 2000);
  }

  // ---------------------------------------------------------------------------- data
  _pairs(a, b) {
    const key = a.run + "\u0000" + b.run;
    let pr = this._pairCache.get(key);
    if (pr) return pr;
    const ia = [], ib = [];
    const A = a.samples, B = b.samples;
    for (let j = 0; j < B.n; j++) {
      const i = A.indexOf(B.ids[j]);
      if (i >= 0) { ia.push(i); ib.push(j); }
    }
    pr = { ia: Int32Array.from(ia), ib: Int32Array.from(ib), n: ia.length, onlyA: A.n - ia.length, onlyB: B.n - ia.length };
    this._pairCache.set(key, pr);
    return pr;
  }

  /** The pane's projection, mapped onto the reference pane's map of the same epoch when aligned. */
  async _projection(p, ep) {
    const raw = await this.api.projection(p.run, ep);
    const ref = this.panes[0];
    if (!this._aligned() || p === ref || !ref || !ref.fitted.length) return raw;
    const refEp = clampEpoch(ref.fitted, ep);
    const key = `${p.run}\u0000${ep}\u0000${ref.run}\u0000${refEp}`;
    let out = this._alignCache.get(key);
    if (!out) {
      out = this.api.projection(ref.run, refEp).then((rp) => {
        const pr = this._pairs(ref, p);
        const T = procrustes(rp.coords, raw.coords, pr.ia, pr.ib);
        T.refEpoch = refEp;
        return { ...raw, coords: T.identity ? raw.coords : applySimilarity(T, raw.coords), align: T };
      });
      this._alignCache.set(key, out);
      out.catch(() => this._alignCache.delete(key));
      while (this._alignCache.size > 48) this._alignCache.delete(this._alignCache.keys().next().value);
    }
    return out;
  }

  async _background(p, ep) {
    const bg = await this.api.background(p.run, ep);
    if (bg.palette && !p.paletteFromServer) {
      p.paletteFromServer = true;
      p.palette = classPalette(p.entry.num_classes, bg.palette);
      p.source.palette = p.palette;
      this._encode(p);
    }
    const proj = await this._projection(p, ep);
    if (!proj.align || proj.align.identity) return bg;
    const key = `${p.run}\u0000${ep}\u0000${this.panes[0].run}\u0000${proj.align.refEpoch}`;
    let w = this._bgCache.get(key);
    if (!w) {
      w = warpBackground(bg, proj.align);
      this._bgCache.set(key, w);
      while (this._bgCache.size > 24) this._bgCache.delete(this._bgCache.keys().next().value);
    }
    return w;
  }

  // ---------------------------------------------------------------------------- epochs
  _target(p) {
    const s = this.store.get();
    let want = s.lock ? s.epoch : (s.ceps[p.k] ?? s.epoch);
    if (want === null || want === undefined) want = this.union[0] ?? null;
    return { want, ep: clampEpoch(p.fitted, want) };
  }

  async _showAll(animate = true) {
    const gen = this._gen;
    const tok = (this._showTok = (this._showTok || 0) + 1);
    this.ready = false;
    this.rootEl.dataset.ready = "0";
    const jobs = this.panes.map(async (p) => {
      const { want, ep } = this._target(p);
      p.want = want;
      if (ep === null) {
        p.empty.hidden = false;
        p.empty.replaceChildren(h("div", { class: "dvi-spinner" }), h("p", { text: `Fitting "${p.run}": its first map appears as soon as an epoch is ready.` }));
        return;
      }
      p.shown = ep;
      this._renderPaneHead(p);
      try {
        await p.map.showEpoch(ep, { animate: animate && p.map.epoch !== null });
        p.empty.hidden = true;
      } catch (e) {
        p.empty.hidden = false;
        p.empty.className = "dvi-empty error";
        p.empty.replaceChildren(h("p", { text: `Could not load epoch ${ep} of "${p.run}": ${e.message || e}` }));
      }
    });
    await Promise.all(jobs);
    if (gen !== this._gen || tok !== this._showTok) return;
    for (const p of this.panes) { p.map.refit(); this._renderPaneHead(p); }
    this._syncSlider();
    this._applySelection();
    await this._computeDiff();
    if (gen !== this._gen || tok !== this._showTok) return;
    await Promise.all(this.panes.map((p) => p.map.settled()));
    if (gen !== this._gen || tok !== this._showTok) return;
    this.ready = true;
    this.rootEl.dataset.ready = "1";
    // prefetch the next epoch of every pane
    for (const p of this.panes) {
      const e2 = p.fitted[p.fitted.indexOf(p.shown) + 1];
      if (e2 !== undefined) this._projection(p, e2).catch(() => {});
    }
  }

  _renderSlider() {
    const u = this.union;
    this.el.slider.max = String(Math.max(0, u.length - 1));
    this._syncSlider();
  }

  _syncSlider() {
    const E = this.el, s = this.store.get();
    const u = this.union;
    const cur = s.lock ? (s.epoch ?? u[0]) : (this.panes[0] && this.panes[0].shown);
    const i = u.indexOf(cur);
    if (i >= 0) E.slider.value = String(i);
    E.slider.disabled = !s.lock || u.length < 2;
    E.prev.disabled = E.next.disabled = !s.lock;
    E.lock.checked = s.lock;
    E.epoch.replaceChildren(h("span", { class: "dvi-epoch-label", text: s.lock ? "Epoch" : "Epochs" }),
      h("b", { "data-testid": "compare-epoch", text: s.lock ? (cur ?? "—") : this.panes.map((p) => p.shown ?? "—").join(" · ") }),
      h("span", { class: "dvi-epoch-of", text: u.length ? ` / ${u[u.length - 1]}` : "" }));
  }

  _renderPaneHead(p) {
    const s = this.store.get();
    p.epochEl.textContent = p.shown === null ? "—" : String(p.shown);
    p.epochEl.dataset.epoch = String(p.shown);
    const clamped = p.want !== null && p.shown !== null && p.want !== p.shown;
    p.clampEl.hidden = !clamped;
    if (clamped) {
      const logged = p.entry.epochs && p.entry.epochs.includes(p.want);
      p.clampEl.textContent = logged ? `epoch ${p.want} not fitted yet` : `no epoch ${p.want} in this run (last: ${p.fitted[p.fitted.length - 1]})`;
      p.clampEl.title = `"${p.run}" shows epoch ${p.shown}, the closest fitted epoch before ${p.want}.`;
    }
    p.steps.hidden = s.lock;
    p.remove.hidden = this.panes.length <= 2;
    p.el.dataset.epoch = String(p.shown);
    p.el.dataset.clamped = clamped ? "1" : "0";
    const T = p.map.proj && p.map.proj.align;
    if (p.k === 0) {
      p.alignEl.textContent = this._aligned() ? "other panes are aligned to this map" : "own coordinates";
    } else if (!this._aligned()) {
      p.alignEl.textContent = "own coordinates (alignment off)";
    } else if (T && !T.identity) {
      const ref = this.panes[0];
      const deg = Math.round(T.angle) || 0;  // no "-0°"
      p.alignEl.textContent = `aligned to ${ref.run} @ ${T.refEpoch}: ${T.reflect ? "mirrored, " : ""}rotated ${deg}°, ×${T.s.toPrecision(2)} · residual ${(100 * T.rel).toFixed(0)}% of spread${T.rel > 0.5 ? " (the maps differ in shape)" : ""}`;
      p.alignEl.title = `Orthogonal Procrustes on ${T.n} shared samples (docs/COMPARE.md). Residual: RMS distance to the reference positions after alignment, relative to the reference map's RMS spread.`;
    } else {
      p.alignEl.textContent = "too few shared samples to align";
    }
  }

  _renderAdd() {
    const used = new Set(this.store.get().compare);
    const free = this.runs.filter((r) => !used.has(r.name));
    this.el.add.replaceChildren(h("option", { value: "" }, "+ Add run"), ...free.map((r) => h("option", { value: r.name }, r.name)));
    this.el.add.hidden = !free.length || this.panes.length >= MAX_PANES;
  }

  _note(key, text) {
    const N = this.el.notes;
    let el = N.querySelector(`[data-key="${key}"]`);
    if (!text) { if (el) el.remove(); return; }
    if (!el) { el = h("div", { "data-key": key, class: `dvi-banner ${key === "error" ? "error" : "info"}` }); N.append(el); }
    el.replaceChildren(h("span", { text }), h("button", { type: "button", class: "dvi-x", "aria-label": "Dismiss", onclick: () => el.remove() }, "×"));
  }

  _renderShared() {
    const ref = this.panes[0];
    const lines = [];
    let notShared = false;
    for (const p of this.panes.slice(1)) {
      const pr = this._pairs(ref, p);
      if (pr.onlyA || pr.onlyB) {
        notShared = true;
        lines.push(`${pr.onlyA.toLocaleString()} sample${pr.onlyA === 1 ? "" : "s"} only in ${ref.run}, ${pr.onlyB.toLocaleString()} only in ${p.run} are not compared.`);
      }
    }
    const n = this.panes.length > 1 ? this._pairs(ref, this.panes[1]).n : 0;
    const all = this.panes.slice(1).map((p) => this._pairs(ref, p).n);
    this.el.shared.replaceChildren(
      h("div", { class: "dvi-cmp-bignum" }, h("b", { text: Math.min(...all, n).toLocaleString() }), " samples shared by id"),
      ...lines.map((t) => h("div", { class: "dvi-cmp-warn", "data-testid": "not-shared", text: t })));
    if (!notShared) this.el.shared.append(h("div", { class: "dvi-hint", text: "All runs logged the same samples." }));
    this._note("shared", notShared ? `Different sample subsets: ${lines.join(" ")} Alignment and differences use the shared ids.` : null);
  }

  // ---------------------------------------------------------------------------- encoding, selection
  _encode(p) {
    const s = this.store.get();
    const n = p.samples ? p.samples.n : 0;
    p.map.setEncoding({ colorMode: s.color, filter: {}, pointSize: n <= 3000 ? 7 : n <= 20000 ? 5 : 3.5 });
  }

  _applyDiffMasks() {
    const mode = this.store.get().cdiff;
    for (const p of this.panes) {
      p.map.extraMask = mode !== "off" && this.diff ? (mode === "flip" ? this.diff.flipMasks[p.k] : this.diff.disagreeMasks[p.k]) : null;
      if (p.map.proj) p.map.setEncoding({});
      p.el.dataset.visible = String(p.map.visibleCount);
    }
  }

  _onSelect(p, { indices, mode }) {
    const ids = Array.from(indices, (i) => p.samples.ids[i]);
    let sel = this.store.get().sel;
    if (mode === "replace") sel = ids;
    else if (mode === "add") { const set = new Set(sel); for (const id of ids) set.add(id); sel = [...set]; }
    else if (mode === "toggle") { const set = new Set(sel); for (const id of ids) (set.has(id) ? set.delete(id) : set.add(id)); sel = [...set]; }
    this.store.set({ sel });
  }

  _applySelection() {
    const sel = this.store.get().sel;
    for (const p of this.panes) {
      if (!p.samples) continue;
      const idx = [];
      for (const id of sel) { const i = p.samples.indexOf(id); if (i >= 0) idx.push(i); }
      p.map.setEncoding({ selection: idx });
      this._loadTrails(p, idx);
    }
    this._renderSelection();
  }

  async _loadTrails(p, idx) {
    const s = this.store.get();
    const ids = idx.slice(0, MAX_TRAILS).map((i) => p.samples.ids[i]);
    if (!s.trails || !ids.length || !p.fitted.length) {
      p.trailKey = null;
      p.map.setTrails(null);
      p.el.dataset.trails = "0";
      return;
    }
    const key = `${ids.join(",")}|${p.fitted.join(",")}|${this._aligned() ? this.panes[0].run : ""}`;
    if (key === p.trailKey) return;
    p.trailKey = key;
    try {
      const tr = await this.api.trajectories(p.run, ids);
      let positions = tr.positions;
      if (this._aligned() && p.k > 0) {
        const T = {};
        for (const ep of tr.epochs) if (p.fitted.includes(ep)) T[ep] = (await this._projection(p, ep)).align;
        positions = positions.map((traj) => traj.map((xy, j) => {
          const t = T[tr.epochs[j]];
          return xy && t && !t.identity ? applyPoint(t, xy[0], xy[1]) : xy;
        }));
      }
      if (key !== p.trailKey) return;
      const indices = tr.ids.map((id) => p.samples.indexOf(id));
      const colors = indices.map((i) => p.palette[p.samples.labels[i]] || "#333");
      p.map.setTrails({ epochs: tr.epochs, positions, colors, indices });
      p.el.dataset.trails = String(ids.length);
    } catch (e) {
      p.trailKey = null;
      this._note("error", `Could not load the trajectories of "${p.run}": ${e.message || e}`);
    }
  }

  _renderSelection() {
    const sel = this.store.get().sel;
    const E = this.el;
    E.selClear.hidden = !sel.length;
    E.selTitle.firstChild.textContent = sel.length ? `Selection · ${sel.length.toLocaleString()}` : "Selection";
    if (!sel.length) { E.sel.replaceChildren(h("div", { class: "dvi-hint", text: "Click a sample in any pane (shift+drag to lasso): it is selected, with its trail, in every pane." })); return; }
    const head = h("div", { class: "dvi-cmp-selrow head" }, h("span", { text: "id" }), ...this.panes.map((p) => h("span", { class: "run", title: p.run, text: p.run })));
    const rows = sel.slice(0, 60).map((id) => h("div", {
      class: "dvi-cmp-selrow",
      onmouseenter: () => this._highlight(id), onmouseleave: () => this._highlight(null),
    }, h("span", { class: "id", text: `#${id}` }), ...this.panes.map((p) => {
      const i = p.samples.indexOf(id);
      if (i < 0 || !p.map.proj) return h("span", { class: "na", text: i < 0 ? "not logged" : "" });
      const pred = p.map.proj.predictions[i], lab = p.samples.labels[i];
      return h("span", { class: pred !== lab ? "wrong" : "" }, h("i", { class: "sw", style: `background:${p.palette[pred]}` }), p.classNames[pred] ?? String(pred));
    })));
    E.sel.replaceChildren(head, ...rows);
    if (sel.length > 60) E.sel.append(h("div", { class: "dvi-hint", text: `first 60 of ${sel.length.toLocaleString()} listed` }));
  }

  // ---------------------------------------------------------------------------- hover, view
  _highlight(id) {
    this.hoverId = id;
    this.rootEl.dataset.hover = id === null ? "" : String(id);
    for (const p of this.panes) p.map.setHighlight(id === null || !p.samples ? -1 : p.samples.indexOf(id));
  }

  _onHover(p, ev) {
    for (const q of this.panes) if (q !== p) q.tip.hidden = true;
    if (!ev || ev.index < 0 || !p.map.proj) { p.tip.hidden = true; this._highlight(null); return; }
    const id = p.samples.ids[ev.index];
    this._highlight(id);
    const thumb = p.entry.has_thumbnails ? h("img", { class: "dvi-thumb", src: this.api.thumbnailUrl(p.run, id), alt: "" }) : null;
    if (thumb) thumb.addEventListener("error", () => thumb.remove());
    const rows = this.panes.map((q) => {
      const i = q.samples.indexOf(id);
      if (i < 0 || !q.map.proj) return h("div", { class: "dvi-cmp-tiprow" }, h("span", { class: "k", text: q.run }), h("span", { class: "k", text: " not logged" }));
      const lab = q.samples.labels[i], pred = q.map.proj.predictions[i];
      const noisy = (q.map.proj.flags[i] & FLAG_NOISY) || (q.samples.noisy && q.samples.noisy[i]);
      return h("div", { class: "dvi-cmp-tiprow" },
        h("span", { class: "k", text: `${q.run} @ ${q.shown}` }),
        h("span", {}, h("i", { class: "sw", style: `background:${q.palette[lab]}` }), q.classNames[lab] ?? String(lab), noisy ? h("span", { class: "tag noisy", text: "noisy" }) : null,
          h("span", { class: "k", text: " → " }),
          h("i", { class: "sw", style: `background:${q.palette[pred]}` }), h("b", { class: (q.map.proj.flags[i] & FLAG_WRONG) ? "wrong" : "", text: q.classNames[pred] ?? String(pred) }),
          h("span", { class: "k", text: ` ${(q.map.proj.confidence[i] * 100).toFixed(0)}%` })));
    });
    const T = p.tip;
    T.replaceChildren(...[thumb].filter(Boolean), h("div", { class: "dvi-tip-body" },
      h("div", { class: "dvi-tip-title" }, h("b", { text: `#${id}` }), h("span", { class: "dvi-tip-split", text: p.samples.split[ev.index] ? "test" : "train" })),
      h("div", { class: "k dvi-cmp-tipcap", text: "label → prediction" }), ...rows));
    T.dataset.id = String(id);
    T.hidden = false;
    const W = p.wrap.clientWidth, H = p.wrap.clientHeight;
    let x = ev.px + 14, y = ev.py + 14;
    if (x + T.offsetWidth > W - 4) x = ev.px - T.offsetWidth - 14;
    if (y + T.offsetHeight > H - 4) y = ev.py - T.offsetHeight - 14;
    T.style.left = `${Math.max(4, x)}px`;
    T.style.top = `${Math.max(4, y)}px`;
  }

  /** Aligned: every pane fits the union of the panes' bounds, so equal regions sit at equal pixels. */
  _commonBounds(m, b) {
    if (!this._aligned() || !b) return b;
    let [x0, y0, x1, y1] = b;
    for (const p of this.panes) {
      const o = p.map === m ? null : p.map.ownBounds();
      if (!o) continue;
      x0 = Math.min(x0, o[0]); y0 = Math.min(y0, o[1]); x1 = Math.max(x1, o[2]); y1 = Math.max(y1, o[3]);
    }
    return [x0, y0, x1, y1];
  }

  /** Aligned: zoom and pan are linked across panes. */
  _onView(p, v) {
    if (this._linking || !this._aligned()) return;
    this._linking = true;
    try {
      for (const q of this.panes) {
        if (q === p) continue;
        q.map.autoFit = v.autoFit;
        q.map.fitFrom = null;
        if (v.autoFit) { if (q.map.fitTo) Object.assign(q.map.view, q.map.fitTo); } else Object.assign(q.map.view, { cx: v.cx, cy: v.cy, k: v.k });
        q.map._requestFrame();
      }
    } finally { this._linking = false; }
  }

  // ---------------------------------------------------------------------------- differences
  async _computeDiff() {
    const ref = this.panes[0];
    if (!ref || !ref.map.proj || this.panes.some((p) => !p.map.proj)) { this.diff = null; this._renderDiff(); return; }
    const prevOf = async (p) => {
      const i = p.fitted.indexOf(p.shown);
      if (i <= 0) return null;
      try { return (await this.api.projection(p.run, p.fitted[i - 1])).predictions; } catch (e) { return null; }
    };
    const prev = await Promise.all(this.panes.map(prevOf));
    const C = Math.max(...this.panes.map((p) => p.entry.num_classes || 1));
    const disagreeMasks = this.panes.map((p) => new Uint8Array(p.samples.n));
    const flipMasks = this.panes.map((p) => new Uint8Array(p.samples.n));
    const pa = ref.map.proj.predictions;
    const pairs = this.panes.slice(1).map((p, j) => {
      const pr = this._pairs(ref, p);
      const pb = p.map.proj.predictions;
      const prevA = prev[0], prevB = prev[j + 1];
      const matrix = Array.from({ length: C }, () => new Array(C).fill(0));
      let agree = 0, flipA = 0, flipB = 0, flipBoth = 0;
      const dm = disagreeMasks[p.k], fm = flipMasks[p.k];
      for (let k = 0; k < pr.n; k++) {
        const i = pr.ia[k], q = pr.ib[k];
        const a = pa[i], b = pb[q];
        matrix[a][b]++;
        if (a === b) agree++;
        else { dm[q] = 1; disagreeMasks[0][i] = 1; }
        const fa = prevA ? prevA[i] !== a : false, fb = prevB ? prevB[q] !== b : false;
        if (fa && fb) flipBoth++;
        else if (fa || fb) {
          fa ? flipA++ : flipB++;
          fm[q] = 1; flipMasks[0][i] = 1;
        }
      }
      return { run: p.run, epoch: p.shown, n: pr.n, agree, disagree: pr.n - agree, flipA, flipB, flipBoth, matrix,
        hasPrev: !!(prevA && prevB), prevA: ref.fitted[ref.fitted.indexOf(ref.shown) - 1], prevB: p.fitted[p.fitted.indexOf(p.shown) - 1] };
    });
    this.diff = { ref: ref.run, refEpoch: ref.shown, C, pairs, disagreeMasks, flipMasks };
    this._renderDiff();
    this._applyDiffMasks();
  }

  _selectPairs(j, test) {
    const ref = this.panes[0], p = this.panes[j + 1];
    const pr = this._pairs(ref, p);
    const pa = ref.map.proj.predictions, pb = p.map.proj.predictions;
    const ids = [];
    for (let k = 0; k < pr.n; k++) if (test(pa[pr.ia[k]], pb[pr.ib[k]], pr.ia[k], pr.ib[k])) ids.push(ref.samples.ids[pr.ia[k]]);
    this.store.set({ sel: ids });
  }

  _renderDiff() {
    const E = this.el, d = this.diff, s = this.store.get();
    setSeg(E.diffMode, s.cdiff);
    if (!d) {
      E.counts.replaceChildren(h("div", { class: "dvi-hint", text: "Waiting for the maps…" }));
      E.matrix.replaceChildren();
      E.matPick.hidden = true;
      return;
    }
    const ref = this.panes[0];
    E.diffTitle.textContent = `Differences · epoch ${ref.shown}`;
    const blocks = d.pairs.map((r, j) => {
      const row = (label, value, cls, testid, pick, title) => h("div", { class: `dvi-cmp-count ${cls || ""}`, "data-testid": testid, title },
        h("span", { class: "lab", text: label }), h("b", { text: value.toLocaleString() }),
        pick && value ? h("button", { type: "button", class: "dvi-link", onclick: pick, title: "Select these samples" }, "select") : h("span"));
      const flipNote = r.hasPrev ? `Flipped: prediction changed since ${ref.run} @ ${r.prevA} / ${r.run} @ ${r.prevB}` : "Flipped: no earlier fitted epoch to compare with";
      return h("div", { class: "dvi-cmp-pair", "data-run": r.run },
        d.pairs.length > 1 ? h("div", { class: "dvi-cmp-pairhead", text: `${ref.run} vs ${r.run}` }) : null,
        h("div", { class: "dvi-cmp-agree" },
          h("div", { class: "dvi-cmp-agreebar" }, h("div", { style: `width:${r.n ? (100 * r.agree) / r.n : 0}%` })),
          h("span", { text: `${pctText(r.agree, r.n)} agree` })),
        row("Same prediction", r.agree, "ok", "agree", null),
        row("Predicted differently", r.disagree, "bad", "disagree", () => this._selectPairs(j, (a, b) => a !== b),
          `${ref.run} @ ${ref.shown} and ${r.run} @ ${r.epoch} predict a different class`),
        h("div", { class: "dvi-cmp-sub", text: flipNote }),
        row(`only in ${ref.run}`, r.flipA, "flip", "flip-a", null),
        row(`only in ${r.run}`, r.flipB, "flip", "flip-b", null),
        row("in both", r.flipBoth, "flip both", "flip-both", null));
    });
    E.counts.replaceChildren(...blocks);
    // agreement matrix of the reference vs the picked pane (dvi.cmat; default and fallback: the second)
    const jm = Math.max(0, d.pairs.findIndex((q) => q.run === s.cmat));
    const r = d.pairs[jm];
    const p = this.panes[jm + 1];
    E.matPick.hidden = d.pairs.length < 2;
    E.matSel.replaceChildren(...d.pairs.map((q) => h("option", { value: q.run, text: `${q.run} @ ${q.epoch}` })));
    E.matSel.value = r.run;
    const names = ref.classNames;
    let max = 1;
    for (let a = 0; a < d.C; a++) for (let b = 0; b < d.C; b++) if (a !== b) max = Math.max(max, r.matrix[a][b]);
    let maxDiag = 1;
    for (let a = 0; a < d.C; a++) maxDiag = Math.max(maxDiag, r.matrix[a][a]);
    const short = (n) => (n.length > 3 ? n.replace(/^(digit|class)\s*/i, "").slice(0, 3) : n);
    const head = h("tr", {}, h("th", { class: "corner", title: `rows: ${ref.run}, columns: ${p.run}`, text: "↓→" }),
      ...Array.from({ length: d.C }, (_, b) => h("th", { title: names[b] ?? String(b), text: short(names[b] ?? String(b)) })));
    const rows = Array.from({ length: d.C }, (_, a) => h("tr", {},
      h("th", { title: names[a] ?? String(a), text: short(names[a] ?? String(a)) }),
      ...Array.from({ length: d.C }, (_, b) => {
        const v = r.matrix[a][b];
        const diag = a === b;
        const f = v ? (diag ? 0.15 + 0.85 * Math.sqrt(v / maxDiag) : 0.2 + 0.8 * Math.sqrt(v / max)) : 0;
        const bg = v ? (diag ? `rgba(67,160,71,${(0.12 + 0.5 * f).toFixed(3)})` : `rgba(229,57,53,${(0.15 + 0.75 * f).toFixed(3)})`) : "transparent";
        return h("td", {
          class: `${diag ? "diag" : "off"}${v ? "" : " zero"}`, style: `background:${bg}`, "data-a": a, "data-b": b,
          title: `${v} sample${v === 1 ? "" : "s"}: ${ref.run} predicts ${names[a]}, ${p.run} predicts ${names[b]}${v ? " (click to select)" : ""}`,
          onclick: v ? () => this._selectPairs(jm, (x, y) => x === a && y === b) : null,
        }, v ? String(v) : "");
      })));
    E.matrixTitle.textContent = `Agreement · ${ref.run} @ ${ref.shown} vs ${p.run} @ ${p.shown}`;
    E.matrix.replaceChildren(h("table", { class: "dvi-cmp-mtable", "data-total": String(r.n), "data-vs": p.run }, head, ...rows),
      h("div", { class: "dvi-hint", text: `rows: ${ref.run}'s prediction, columns: ${p.run}'s; ${r.n.toLocaleString()} shared samples. Click a cell to select its samples.` }));
  }

  // ---------------------------------------------------------------------------- store
  _onState(s, changed) {
    setSeg(this.el.align, s.align);
    setSeg(this.el.color, s.color);
    setSeg(this.el.diffMode, s.cdiff);
    this.el.bg.checked = s.bg;
    this.el.lock.checked = s.lock;
    if (changed.has("compare")) { this._sync(); return; }
    if (!this.active || !this.panes.length || !this.panes.every((p) => p.source)) return;
    if (changed.has("align")) {
      for (const p of this.panes) { p.trailKey = null; p.map.autoFit = true; }
      this._showAll(true);
      return;
    }
    if (changed.has("epoch") || changed.has("ceps") || changed.has("lock")) { this._syncSlider(); this._showAll(true); }
    if (changed.has("color")) for (const p of this.panes) this._encode(p);
    if (changed.has("bg")) for (const p of this.panes) p.map.setBackgroundVisible(s.bg);
    if (changed.has("sel") || changed.has("trails")) this._applySelection();
    if (changed.has("cdiff")) this._applyDiffMasks();
    if (changed.has("cmat")) this._renderDiff();
  }

  _onKey(e) {
    if (!this.active) return;
    const t = e.target, tag = t && t.tagName;
    if (tag === "SELECT" || tag === "TEXTAREA" || (tag === "INPUT" && t.type !== "checkbox")) return;
    if (e.key === "ArrowRight" || e.key === "ArrowLeft") {
      if (this.store.get().lock) this.step(e.key === "ArrowRight" ? 1 : -1);
      e.preventDefault();
      e.stopImmediatePropagation();
    } else if (e.key === "Escape") {
      this.store.set({ sel: [] });
      e.stopImmediatePropagation();
    } else if (e.key === " ") {
      e.stopImmediatePropagation();
    }
  }
}
