// The "Training dynamics" panel of the DVI tab (docs/DYNAMICS.md, routes in docs/HTTP_API.md):
// colour / size / filter the map's points by a per-sample signal, the data map (confidence against
// variability) linked both ways with the map's selection and hover, ready-made queries that select
// their result, and export of the selection or the query result with its signals.
//
// State lives in the app's store (URL keys dvi.dyn, dvi.colorby, dvi.sizeby, dvi.dfilter,
// dvi.query; static/store.js). index.js calls: encoding(basePointSize) and mask() when it builds
// the map's encoding, renderLegend(el) for the legend, setHighlight(i) on map hover, onRun() and
// onEpochShown(). Signals are fetched only while the panel is open or a dynamics key is set.

import { ApiError } from "./api.js";
import { DataMap } from "./datamap.js";
import { h } from "./ui.js";

/** [key, label, description, kind]; kind: "unit" (in [0, 1]), "count", "flag", "real" (robust range). */
export const SIGNALS = [
  ["mislabel_score", "Mislabel score", "How likely the given label is wrong, in [0, 1]: ½(1 − correctness) + ½(1 − geometric-mean confidence).", "unit"],
  ["conf_mean", "Confidence (mean)", "Mean over epochs of the softmax probability of the given label (cartography confidence).", "unit"],
  ["conf_std", "Variability", "Standard deviation over epochs of that probability (cartography variability).", "real0"],
  ["correct_rate", "Correct-epoch rate", "Fraction of epochs in which the prediction equals the given label.", "unit"],
  ["forgetting", "Forgetting events", "Times the sample went from correctly to wrongly predicted between consecutive epochs.", "count"],
  ["flips", "Prediction flips", "Times the predicted class changed between consecutive epochs.", "count"],
  ["boundary_crossings", "Boundary crossings", "Times the sample crossed the boundary of its labelled class's region, either way.", "count"],
  ["near_boundary_epochs", "Epochs close to a boundary", "Epochs with normalised top-1 − top-2 logit margin below 0.1.", "count"],
  ["distance_travelled", "Distance travelled (2-D)", "Sum of the 2-D steps on the map between consecutive fitted epochs.", "real0"],
  ["loss_mean", "Loss (mean)", "Mean over epochs of the cross-entropy of the given label.", "real0"],
  ["final_loss", "Loss (last epoch)", "Cross-entropy of the given label at the last epoch.", "real0"],
  ["margin_mean", "Margin (AUM)", "Mean over epochs of logit[label] − max other logit (area under the margin).", "real"],
  ["final_correct", "Correct at the last epoch", "1 when the last epoch predicts the given label.", "flag"],
  ["final_near_boundary", "Close to a boundary at the last epoch", "1 when the last epoch's normalised margin is below 0.1.", "flag"],
];
const SIGNAL = Object.fromEntries(SIGNALS.map(([k, label, help, kind]) => [k, { key: k, label, help, kind }]));

/** [key, label, parameter (null: none), default, help]. */
export const QUERIES = [
  ["likely_mislabelled", "Likely mislabelled", "n", 100, "Highest mislabel score first."],
  ["crossed_boundary", "Crossed the boundary ≥ k times", "k", 2, "Boundary crossings (correct ↔ wrong) of at least k."],
  ["largest_movers", "Largest movers on the map", "n", 50, "The n samples that travelled the longest 2-D distance."],
  ["stuck_near_boundary", "Stuck close to a boundary", "fraction", 0.3, "Near the boundary in at least this fraction of epochs, and at the last one."],
  ["still_misclassified", "Still misclassified at the last epoch", null, null, "Wrong at the last logged epoch."],
];
const QUERY = Object.fromEntries(QUERIES.map(([k, label, param, def, help]) => [k, { key: k, label, param, def, help }]));
const MISLABEL_PARAMS = [["n", "top n"], ["fraction", "top fraction"], ["threshold", "score ≥"]];

// viridis (matplotlib), 9 stops; interpolated into a 256-entry table.
const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"];
const LUT = (() => {
  const stops = VIRIDIS.map((h) => [1, 3, 5].map((o) => parseInt(h.slice(o, o + 2), 16)));
  const out = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (stops.length - 1), a = Math.min(stops.length - 2, Math.floor(t)), f = t - a;
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.round(stops[a][c] + (stops[a + 1][c] - stops[a][c]) * f);
  }
  return out;
})();
export const RAMP_CSS = `linear-gradient(to right, ${VIRIDIS.join(", ")})`;
const NAN_RGB = [170, 170, 170];

/** Parses "name:k=v;k=v" (the dvi.query URL value) into {query, params}. */
export function parseQuery(str) {
  if (!str) return null;
  const [name, rest] = str.split(/:(.*)/s);
  if (!QUERY[name]) return null;
  const params = {};
  for (const kv of (rest || "").split(";")) {
    if (!kv) continue;
    const [k, v] = kv.split("=");
    if (k && v !== undefined && v !== "") params[k] = v;
  }
  return { query: name, params };
}

export function formatQuery(query, params) {
  const kv = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => `${k}=${v}`);
  return kv.length ? `${query}:${kv.join(";")}` : query;
}

/** "name:lo:hi" → {signal, lo, hi} (NaN for an open bound). */
export function parseRange(str) {
  if (!str) return null;
  const [signal, lo, hi] = str.split(":");
  if (!SIGNAL[signal]) return null;
  const num = (v) => (v === undefined || v === "" ? NaN : Number(v));
  return { signal, lo: num(lo), hi: num(hi) };
}

function fmt(v, kind) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  if (kind === "count" || kind === "flag") return String(Math.round(v));
  const a = Math.abs(v);
  return a !== 0 && (a < 0.01 || a >= 1000) ? v.toPrecision(3) : String(+v.toFixed(a < 1 ? 3 : 2));
}

function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i];
}

function signalOptions(none) {
  return [h("option", { value: "" }, none), ...SIGNALS.map(([k, label, help]) => h("option", { value: k, title: help }, label))];
}

function errText(e, what) {
  if (e instanceof ApiError) {
    if (e.status === 0) return `${what}: TensorBoard does not answer.`;
    return `${what}: ${e.message}`;
  }
  return `${what}: ${e && e.message ? e.message : e}`;
}

export class DynamicsPanel {
  constructor(app) {
    this.app = app;
    this.store = app.store;
    this.data = null;          // {n, arrays, header, run}
    this._loadKey = null;      // run|epochs|fitted of the loaded (or loading) signals
    this._loading = null;
    this._querySel = null;     // the ids a query put into the selection
    this._derived = { colors: null, sizes: null, mask: null, domain: {} };
    this._build();
    this.store.subscribe((s, changed) => this._onState(s, changed));
  }

  // ------------------------------------------------------------------------- layout
  _build() {
    const st = this.store;
    const E = this.el = {};
    E.colorBy = h("select", { class: "dvi-select", "aria-label": "Colour by signal",
      onchange: (e) => st.set({ colorby: e.target.value ? `signal:${e.target.value}` : "" }) }, signalOptions("class (as above)"));
    E.colorBar = h("div", { class: "dvi-dyn-bar", hidden: true });
    E.sizeBy = h("select", { class: "dvi-select", "aria-label": "Size by signal",
      onchange: (e) => st.set({ sizeby: e.target.value ? `signal:${e.target.value}` : "" }) }, signalOptions("constant"));
    E.rangeSignal = h("select", { class: "dvi-select", "aria-label": "Range filter signal",
      onchange: () => this._commitRange(true) }, signalOptions("none"));
    E.rangeLo = h("input", { type: "number", class: "dvi-input", step: "any", "aria-label": "Range minimum", placeholder: "min",
      onchange: () => this._commitRange(false) });
    E.rangeHi = h("input", { type: "number", class: "dvi-input", step: "any", "aria-label": "Range maximum", placeholder: "max",
      onchange: () => this._commitRange(false) });
    E.hist = h("canvas", { class: "dvi-dyn-hist", width: 232, height: 34 });
    E.rangeRow = h("div", { class: "dvi-dyn-range" }, E.rangeLo, h("span", { text: "to" }), E.rangeHi);
    E.rangeInfo = h("div", { class: "dvi-hint" });

    E.dmTools = h("div", { class: "dvi-dyn-tools" },
      ...[["box", "Box select"], ["lasso", "Lasso select"]].map(([v, label]) => h("button", {
        type: "button", class: "dvi-dyn-tool", "data-tool": v, "aria-pressed": v === "box" ? "true" : "false",
        onclick: () => this._setDmTool(v),
      }, label)));
    E.dmBox = h("div", { class: "dvi-dyn-dmbox" });
    E.dmInfo = h("div", { class: "dvi-hint dvi-dyn-readout", text: "Drag to select; hover a point to find it on the map." });

    E.query = h("select", { class: "dvi-select", "aria-label": "Query", onchange: () => this._syncQueryParam() },
      ...QUERIES.map(([k, label, , , help]) => h("option", { value: k, title: help }, label)));
    E.qParamKind = h("select", { class: "dvi-select dvi-dyn-small", "aria-label": "Query parameter kind", onchange: () => this._syncQueryParam(true) },
      ...MISLABEL_PARAMS.map(([k, label]) => h("option", { value: k }, label)));
    E.qParamLabel = h("span", { class: "dvi-dyn-plabel" });
    E.qParam = h("input", { type: "number", class: "dvi-input dvi-dyn-small", step: "any", "aria-label": "Query parameter" });
    E.qSplit = h("select", { class: "dvi-select dvi-dyn-small", "aria-label": "Query split" },
      h("option", { value: "all" }, "all samples"), h("option", { value: "train" }, "train only"), h("option", { value: "test" }, "test only"));
    E.qRun = h("button", { type: "button", class: "dvi-btn", onclick: () => this.runQuery() }, "Run query");
    E.qInfo = h("div", { class: "dvi-hint dvi-dyn-qinfo" });

    E.expCsv = h("button", { type: "button", class: "dvi-btn", onclick: () => this.exportSignals("csv") }, "Signals CSV");
    E.expJson = h("button", { type: "button", class: "dvi-btn", onclick: () => this.exportSignals("json") }, "Signals JSON");
    E.expInfo = h("div", { class: "dvi-hint" });
    E.status = h("div", { class: "dvi-hint dvi-dyn-status" });

    E.details = h("details", { class: "dvi-dyn", ontoggle: () => { if (this.store.get().dyn !== E.details.open) st.set({ dyn: E.details.open }); } },
      h("summary", {}, h("span", { text: "Training dynamics" }), h("span", { class: "dvi-dyn-count" })),
      E.status,
      h("div", { class: "dvi-dyn-block" },
        h("div", { class: "dvi-field" }, h("span", { text: "Colour" }), E.colorBy), E.colorBar,
        h("div", { class: "dvi-field" }, h("span", { text: "Size" }), E.sizeBy)),
      h("div", { class: "dvi-dyn-block" },
        h("div", { class: "dvi-dyn-sub" }, h("span", { text: "Data map" }), E.dmTools),
        E.dmBox, E.dmInfo),
      h("div", { class: "dvi-dyn-block" },
        h("div", { class: "dvi-dyn-sub" }, h("span", { text: "Range filter" }),
          h("button", { type: "button", class: "dvi-link", onclick: () => st.set({ dfilter: "" }) }, "Reset")),
        E.rangeSignal, E.hist, E.rangeRow, E.rangeInfo),
      h("div", { class: "dvi-dyn-block" },
        h("div", { class: "dvi-dyn-sub" }, h("span", { text: "Find samples" })),
        E.query,
        h("div", { class: "dvi-dyn-qrow" }, E.qParamKind, E.qParamLabel, E.qParam),
        h("div", { class: "dvi-dyn-qrow" }, E.qSplit, E.qRun), E.qInfo),
      h("div", { class: "dvi-dyn-block" },
        h("div", { class: "dvi-dyn-sub" }, h("span", { text: "Export with signals" })),
        h("div", { class: "dvi-exports" }, E.expCsv, E.expJson), E.expInfo));
    this.section = h("section", { class: "dvi-dyn-section" }, E.details);
    this.dm = new DataMap(E.dmBox, {
      onHover: (i) => this._dmHover(i),
      onSelect: (ev) => this.app.onSelect(ev),
    });
    this._syncQueryParam();
    this._sync(this.store.get());
  }

  _setDmTool(t) {
    this.dm.setTool(t);
    for (const b of this.el.dmTools.querySelectorAll("button")) b.setAttribute("aria-pressed", b.dataset.tool === t ? "true" : "false");
  }

  _syncQueryParam(kindChanged = false) {
    const E = this.el;
    const q = QUERY[E.query.value];
    const isMis = q.key === "likely_mislabelled";
    E.qParamKind.hidden = !isMis;
    const param = isMis ? E.qParamKind.value : q.param;
    E.qParam.hidden = !param;
    E.qParamLabel.hidden = !param || isMis;
    E.qParamLabel.textContent = param ? `${param} =` : "";
    const defaults = { n: q.key === "likely_mislabelled" ? 100 : q.def, fraction: isMis ? 0.2 : q.def, threshold: 0.5, k: q.def };
    if (param && (kindChanged || E.qParam.dataset.for !== `${q.key}.${param}`)) {
      E.qParam.value = String(defaults[param] ?? q.def ?? "");
      E.qParam.dataset.for = `${q.key}.${param}`;
    }
    E.qParam.step = param === "fraction" || param === "threshold" ? "0.05" : "1";
    E.qParam.min = "0";
    E.qParam.title = q.help;
  }

  _sync(s) {
    const E = this.el;
    if (E.details.open !== !!s.dyn) E.details.open = !!s.dyn;
    E.colorBy.value = s.colorby ? s.colorby.slice(7) : "";
    E.sizeBy.value = s.sizeby ? s.sizeby.slice(7) : "";
    const r = parseRange(s.dfilter);
    if (document.activeElement !== E.rangeSignal) E.rangeSignal.value = r ? r.signal : "";
    if (document.activeElement !== E.rangeLo) E.rangeLo.value = r && Number.isFinite(r.lo) ? String(r.lo) : "";
    if (document.activeElement !== E.rangeHi) E.rangeHi.value = r && Number.isFinite(r.hi) ? String(r.hi) : "";
    E.rangeRow.hidden = !r;
    E.hist.hidden = !r;
    const q = parseQuery(s.query);
    if (q) {
      E.query.value = q.query;
      this._syncQueryParam();
      const p = QUERY[q.query].param;
      const kind = q.query === "likely_mislabelled" ? MISLABEL_PARAMS.map(([k]) => k).find((k) => k in q.params) : p;
      if (q.query === "likely_mislabelled" && kind) { E.qParamKind.value = kind; this._syncQueryParam(); }
      if (kind && q.params[kind] !== undefined) E.qParam.value = q.params[kind];
      E.qSplit.value = q.params.split || "all";
    }
  }

  /** True when signals are wanted: the panel is open or a dynamics key is set. */
  _wanted(s = this.store.get()) { return !!(s.dyn || s.colorby || s.sizeby || s.dfilter || s.query); }

  // ------------------------------------------------------------------------- app hooks
  onRun() {
    this.data = null;
    this._loadKey = null;
    this._querySel = null;
    this._derive();
    this.dm.setData(null);
    this.el.qInfo.textContent = "";
    this.el.expInfo.textContent = "";
    this._ensure();
  }

  onEpochShown() {
    this._ensure();
    this._restyleDataMap();
  }

  /** Per-point overrides for the map's encoding (see encode.js computeStyle). */
  encoding(basePointSize) {
    const d = this._derived;
    let sizes = null;
    if (d.sizeT) {
      const n = d.sizeT.length;
      if (!this._sizes || this._sizes.length !== n) this._sizes = new Float32Array(n);
      for (let i = 0; i < n; i++) {
        const t = d.sizeT[i];
        this._sizes[i] = Number.isFinite(t) ? basePointSize * (0.45 + 1.6 * t) : basePointSize * 0.45;
      }
      sizes = this._sizes;
    }
    return { colors: d.colors, sizes };
  }

  /** The range filter's mask (Uint8Array, 1 = passes) or null. */
  mask() { return this._derived.mask; }

  setHighlight(i) { if (this.data) this.dm.setHighlight(i); }

  /** Draws the legend for colour / size by signal; false when the class legend applies. */
  renderLegend(L) {
    const s = this.store.get();
    const d = this._derived;
    if (!s.colorby || !d.colors) return false;
    const key = s.colorby.slice(7);
    const sig = SIGNAL[key];
    const dom = d.domain[key];
    const rows = [
      h("div", { class: "dvi-dyn-legend-title", title: sig.help }, `Colour: ${sig.label}`),
      this._bar(key, dom),
    ];
    if (dom.nan) rows.push(h("div", { class: "dvi-legend-note" }, h("i", { class: "nan" }), h("span", { text: `grey: no value (${dom.nan.toLocaleString()})` })));
    if (s.sizeby && SIGNAL[s.sizeby.slice(7)]) rows.push(h("div", { class: "dvi-legend-note" }, h("span", { text: `Size: ${SIGNAL[s.sizeby.slice(7)].label} (larger = higher)` })));
    const mask = this.app.map.mask, proj = this.app.map.proj;
    let wrong = 0;
    if (proj) for (let i = 0; i < proj.flags.length; i++) if ((!mask || mask[i]) && (proj.flags[i] & 1)) wrong++;
    rows.push(h("div", { class: "dvi-legend-note" }, h("i", { class: "ring" }), h("span", { text: `dark ring: misclassified (${wrong.toLocaleString()})` })));
    rows.push(h("button", { type: "button", class: "dvi-link", onclick: () => this.store.set({ colorby: "" }) }, "Back to class colours"));
    L.replaceChildren(...rows);
    return true;
  }

  _bar(key, dom) {
    const sig = SIGNAL[key];
    return h("div", { class: "dvi-dyn-colorbar", "data-signal": key },
      h("div", { class: "ramp", style: `background:${RAMP_CSS}` }),
      h("div", { class: "ticks" },
        h("span", { text: `${dom.clipLo ? "≤ " : ""}${fmt(dom.lo, sig.kind)}` }),
        h("span", { text: fmt((dom.lo + dom.hi) / 2, sig.kind === "count" ? "real" : sig.kind) }),
        h("span", { text: `${dom.clipHi ? "≥ " : ""}${fmt(dom.hi, sig.kind)}` })));
  }

  // ------------------------------------------------------------------------- state
  _onState(s, changed) {
    this._sync(s);
    if (changed.has("sel") && !changed.has("query") && s.query) {
      // the selection is no longer the query's result
      const same = this._querySel && this._querySel.length === s.sel.length && this._querySel.every((x, i) => x === s.sel[i]);
      if (!same) queueMicrotask(() => { if (this.store.get().query === s.query) this.store.set({ query: "" }); });
    }
    if (["dyn", "colorby", "sizeby", "dfilter", "query"].some((k) => changed.has(k))) this._ensure();
    if (["colorby", "sizeby", "dfilter"].some((k) => changed.has(k))) this._derive();
    if (changed.has("query") && !s.query) this.el.qInfo.textContent = "";
    // the map restyles after this listener (index.js); the data map follows on the next frame
    this._restyleDataMap();
  }

  _restyleDataMap() {
    if (!this.data || !this.app.samples || !this.el.details.open) return;  // closed: nothing to draw
    cancelAnimationFrame(this._dmFrame);
    this._dmFrame = requestAnimationFrame(() => {
      const map = this.app.map;
      this.dm.setStyle({ colors: map.proj ? map.color1 : null, mask: map.proj ? map.mask : this._derived.mask });
      this.dm.setSelection(this.app._selectionIndices());
      this._renderSummary();
    });
  }

  _renderSummary() {
    const s = this.store.get();
    const r = parseRange(s.dfilter);
    const E = this.el;
    if (r && this._derived.mask) {
      let k = 0;
      for (const v of this._derived.mask) k += v;
      E.rangeInfo.textContent = `${k.toLocaleString()} of ${this.data.n.toLocaleString()} in range`;
    } else E.rangeInfo.textContent = r ? "" : "Show only samples whose signal lies in a range.";
    const nSel = s.sel.length;
    E.expInfo.textContent = s.query ? `Exports the query result (${nSel.toLocaleString()} samples).`
      : nSel ? `Exports the ${nSel.toLocaleString()} selected samples.` : "Select samples (map, data map or a query) to export them.";
  }

  // ------------------------------------------------------------------------- data
  _key() {
    const app = this.app;
    if (!app.run || !app.samples) return null;
    return `${app.run.name}|${(app.run.epochs || []).length}|${app.fitted.length}`;
  }

  /** Loads (or reloads after new epochs) the signals when they are wanted. */
  _ensure() {
    const s = this.store.get();
    if (!this._wanted(s)) return;
    const key = this._key();
    if (!key || key === this._loadKey) return;
    this._loadKey = key;
    const run = this.app.run.name;
    const samples = this.app.samples;
    this.el.status.textContent = "Loading the training dynamics…";
    this.el.status.classList.remove("error");
    this._loading = this.app.api.dynamics(run).then(({ header, arrays }) => {
      if (!this.app.run || this.app.run.name !== run || this.app.samples !== samples || this._loadKey !== key) return;
      if (header.n !== samples.n) throw new Error(`the signals have ${header.n} rows, the run ${samples.n} samples`);
      const first = !this.data;
      this.data = { n: header.n, arrays, header, run };
      const ep = header.epochs || [];
      this.el.status.textContent = `Signals over ${header.n_epochs} epoch${header.n_epochs === 1 ? "" : "s"}` +
        (ep.length ? ` (${ep[0]}–${ep[ep.length - 1]})` : "") +
        `; distance over ${(header.fitted_epochs || []).length} fitted map${(header.fitted_epochs || []).length === 1 ? "" : "s"}.`;
      this.dm.setData({ n: header.n, x: arrays.conf_std, y: arrays.conf_mean });
      this._derive();
      if (first && this.store.get().query) this.runQuery(parseQuery(this.store.get().query));
    }).catch((e) => {
      if (this._loadKey !== key) return;
      this._loadKey = null;
      this.el.status.textContent = errText(e, "Training dynamics unavailable");
      this.el.status.classList.add("error");
    });
  }

  /** Recomputes the per-point colours, sizes and range mask from the state, then restyles the map. */
  _derive() {
    const s = this.store.get();
    const d = this._derived = { colors: null, sizeT: null, mask: null, domain: this._derived.domain || {} };
    if (this.data) {
      const A = this.data.arrays, n = this.data.n;
      const cKey = s.colorby ? s.colorby.slice(7) : "";
      if (SIGNAL[cKey] && A[cKey]) {
        const dom = d.domain[cKey] = this._domain(cKey);
        d.colors = new Uint8Array(n * 3);
        for (let i = 0; i < n; i++) {
          const v = A[cKey][i];
          if (!Number.isFinite(v)) { d.colors.set(NAN_RGB, 3 * i); continue; }
          const t = dom.hi > dom.lo ? Math.min(1, Math.max(0, (v - dom.lo) / (dom.hi - dom.lo))) : 0.5;
          const j = Math.round(t * 255) * 3;
          d.colors[3 * i] = LUT[j]; d.colors[3 * i + 1] = LUT[j + 1]; d.colors[3 * i + 2] = LUT[j + 2];
        }
        this.el.colorBar.hidden = false;
        this.el.colorBar.replaceChildren(this._bar(cKey, dom));
      } else this.el.colorBar.hidden = true;
      const sKey = s.sizeby ? s.sizeby.slice(7) : "";
      if (SIGNAL[sKey] && A[sKey]) {
        const dom = d.domain[sKey] = this._domain(sKey);
        d.sizeT = new Float32Array(n);
        for (let i = 0; i < n; i++) {
          const v = A[sKey][i];
          d.sizeT[i] = Number.isFinite(v) ? (dom.hi > dom.lo ? Math.min(1, Math.max(0, (v - dom.lo) / (dom.hi - dom.lo))) : 0.5) : NaN;
        }
      }
      const r = parseRange(s.dfilter);
      if (r && A[r.signal]) {
        d.mask = new Uint8Array(n);
        const lo = Number.isFinite(r.lo) ? r.lo : -Infinity, hi = Number.isFinite(r.hi) ? r.hi : Infinity;
        const v = A[r.signal];
        for (let i = 0; i < n; i++) d.mask[i] = v[i] >= lo && v[i] <= hi ? 1 : 0;  // NaN fails
        const dom = this._domain(r.signal, true);
        this.el.rangeLo.placeholder = `min ${fmt(dom.lo, SIGNAL[r.signal].kind)}`;
        this.el.rangeHi.placeholder = `max ${fmt(dom.hi, SIGNAL[r.signal].kind)}`;
        this._drawHist(r, v, dom);
      }
    } else this.el.colorBar.hidden = true;
    const c = this.el.details.querySelector(".dvi-dyn-count");
    c.textContent = [s.colorby && "colour", s.sizeby && "size", s.dfilter && "filter", s.query && "query"].filter(Boolean).join(" · ");
    if (this.app.samples) { this.app._applyEncoding(); this.app._updateLegend(); }
    this._restyleDataMap();
  }

  /** Colour domain of a signal: [0, 1] for rates, [0, max] for counts, a 1–99 % range otherwise. */
  _domain(key, full = false) {
    const v = this.data.arrays[key];
    const kind = SIGNAL[key].kind;
    const finite = [];
    let nan = 0;
    for (let i = 0; i < v.length; i++) (Number.isFinite(v[i]) ? finite.push(v[i]) : nan++);
    finite.sort((a, b) => a - b);
    const min = finite.length ? finite[0] : 0, max = finite.length ? finite[finite.length - 1] : 1;
    let lo = min, hi = max, clipLo = false, clipHi = false;
    if (full) return { lo: min, hi: max, nan };
    if (kind === "unit" || kind === "flag") { lo = 0; hi = 1; }
    else if (kind === "count" || kind === "real0") {
      lo = 0;
      hi = kind === "count" ? Math.max(1, max) : quantile(finite, 0.99);
      clipHi = hi < max;
    } else {
      lo = quantile(finite, 0.01); hi = quantile(finite, 0.99);
      clipLo = lo > min; clipHi = hi < max;
    }
    return { lo, hi, clipLo, clipHi, nan };
  }

  _drawHist(r, v, dom) {
    const c = this.el.hist, ctx = c.getContext("2d");
    const W = c.width, H = c.height, B = 40;
    ctx.clearRect(0, 0, W, H);
    if (!(dom.hi > dom.lo)) return;
    const bins = new Array(B).fill(0);
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i])) continue;
      bins[Math.min(B - 1, Math.floor(((v[i] - dom.lo) / (dom.hi - dom.lo)) * B))]++;
    }
    const top = Math.max(...bins.map((b) => Math.sqrt(b))) || 1;
    const lo = Number.isFinite(r.lo) ? r.lo : -Infinity, hi = Number.isFinite(r.hi) ? r.hi : Infinity;
    for (let b = 0; b < B; b++) {
      const x0 = dom.lo + ((dom.hi - dom.lo) * b) / B, x1 = dom.lo + ((dom.hi - dom.lo) * (b + 1)) / B;
      const inside = x1 >= lo && x0 <= hi;
      const bh = (Math.sqrt(bins[b]) / top) * (H - 2);
      ctx.fillStyle = inside ? "#f57c00" : "#cfcfcf";
      ctx.fillRect((b * W) / B + 0.5, H - bh, W / B - 1, bh);
    }
  }

  _commitRange(signalChanged) {
    const E = this.el;
    const sig = E.rangeSignal.value;
    if (!sig) { this.store.set({ dfilter: "" }); return; }
    if (signalChanged) { E.rangeLo.value = ""; E.rangeHi.value = ""; }
    const lo = E.rangeLo.value.trim(), hi = E.rangeHi.value.trim();
    const ok = (x) => x === "" || Number.isFinite(Number(x));
    if (!ok(lo) || !ok(hi)) return;
    this.store.set({ dfilter: `${sig}:${lo}:${hi}` });
  }

  // ------------------------------------------------------------------------- data-map hover
  _dmHover(i) {
    const app = this.app;
    app.map.setHighlight(i);
    const E = this.el;
    if (i < 0 || !this.data || !app.samples) { E.dmInfo.textContent = "Drag to select; hover a point to find it on the map."; return; }
    const A = this.data.arrays, s = app.samples;
    const name = (c) => (app.classNames && app.classNames[c]) ?? String(c);
    E.dmInfo.replaceChildren(
      h("b", { text: `#${s.ids[i]}` }), ` ${name(s.labels[i])}${s.noisy && s.noisy[i] ? " (noisy label)" : ""} · `,
      `conf ${fmt(A.conf_mean[i], "unit")} ± ${fmt(A.conf_std[i], "unit")} · correct ${Math.round(100 * A.correct_rate[i])}% · ` +
      `forgot ${A.forgetting[i]}× · mislabel ${fmt(A.mislabel_score[i], "unit")}`);
    E.dmInfo.dataset.id = String(s.ids[i]);
  }

  // ------------------------------------------------------------------------- queries
  _queryFromControls() {
    const E = this.el;
    const q = QUERY[E.query.value];
    const params = {};
    const param = q.key === "likely_mislabelled" ? E.qParamKind.value : q.param;
    if (param && E.qParam.value.trim() !== "") params[param] = E.qParam.value.trim();
    if (E.qSplit.value !== "all") params.split = E.qSplit.value;
    return { query: q.key, params };
  }

  /** Runs a query (from the controls by default) and selects its result. */
  async runQuery(spec = null) {
    const { query, params } = spec || this._queryFromControls();
    const app = this.app;
    if (!app.run || !app.samples) return;
    const run = app.run.name;
    const E = this.el;
    E.qInfo.classList.remove("error");
    E.qInfo.textContent = "Running…";
    let r;
    try {
      r = await app.api.dynamicsQuery(run, query, params);
    } catch (e) {
      if (app.run && app.run.name === run) { E.qInfo.textContent = errText(e, "The query failed"); E.qInfo.classList.add("error"); }
      return;
    }
    if (!app.run || app.run.name !== run) return;
    const ids = r.ids;
    this._querySel = ids.slice();
    this._lastQuery = r;
    this.store.set({ sel: ids, query: formatQuery(query, params) });
    let noisy = 0;
    const sn = app.samples.noisy;
    if (sn) for (const i of r.indices) noisy += sn[i] ? 1 : 0;
    E.qInfo.textContent = `${r.count.toLocaleString()} of ${r.total.toLocaleString()} samples selected` +
      (sn ? ` · ${noisy.toLocaleString()} with a noisy label` : "") + (r.warning ? ` · ${r.warning}` : "");
    E.qInfo.dataset.count = String(r.count);
  }

  // ------------------------------------------------------------------------- export
  async exportSignals(format) {
    const app = this.app;
    const s = this.store.get();
    const E = this.el;
    if (!app.run) return;
    const q = parseQuery(s.query);
    if (!q && !s.sel.length) { E.expInfo.textContent = "Nothing selected: select samples or run a query first."; return; }
    try {
      const res = await app.api.dynamicsExport(app.run.name, format, q ? { query: q.query, params: q.params } : { ids: s.sel });
      const blob = await res.blob();
      const cd = res.headers.get("Content-Disposition") || "";
      const m = /filename="([^"]+)"/.exec(cd);
      const name = m ? m[1] : `dvi-dynamics-${app.run.name.replace(/[^A-Za-z0-9_.-]+/g, "_")}.${format}`;
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: name, style: "display:none" });
      document.body.append(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 1000);
      E.expInfo.textContent = `Downloaded ${name}.`;
    } catch (e) {
      E.expInfo.textContent = errText(e, "Export failed");
    }
  }
}
