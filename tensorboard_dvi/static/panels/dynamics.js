// The "Training dynamics" panel (docs/DYNAMICS.md, routes in docs/HTTP_API.md): colour / size /
// range-filter the map's points by a per-sample signal (an encoder of the map binding), the data
// map (confidence against variability) linked both ways with the selection and hover, queries and
// export (dynamics_query.js). Signals and queries come from the backend's catalogue.
//
// State lives in the store (URL keys dvi.dyn, dvi.colorby, dvi.sizeby, dvi.dfilter, dvi.query).
// Signals are fetched only while the panel is open or a dynamics key is set.

import { h } from "../ui.js";
import { errorText } from "../api.js";
import { DataMap } from "../datamap.js";
import { catalogue, signalRange } from "../catalogue.js";
import { parseQuery, parseRange } from "../urlstate.js";
import { RAMP_CSS, domainOf, colorize, sizesFor, rangeMask, histogram, fmt, drawOrder } from "../signals.js";
import { countWrong } from "../encode.js";
import { QuerySection } from "./dynamics_query.js";

const DYN_KEYS = ["dyn", "colorby", "sizeby", "dfilter", "query"];
const signalKey = (v) => (v ? v.slice(7) : "");  // "signal:<name>" → name

function signalOptions(none) {
  return [h("option", { value: "" }, none), ...catalogue().signals.map((s) => h("option", { value: s.name, title: s.help }, s.label))];
}

export class DynamicsPanel {
  constructor({ store, session, map, binding, api }) {
    Object.assign(this, { store, session, map, binding, api });
    this.data = null;          // {n, arrays, header, run}
    this._loadKey = null;      // run|epochs|fitted of the loaded (or loading) signals
    this._derived = { colors: null, sizeT: null, mask: null, domain: {} };
    this.queries = new QuerySection({ store, session, api });
    this._build();
    binding.addEncoder({ encoding: (ps) => this.encoding(ps), legend: (el) => this.renderLegend(el) });
    binding.on("hover", (ev) => { if (this.data) this.dm.setHighlight(ev && ev.index >= 0 ? ev.index : -1); });
    binding.on("selection", () => this._restyleDataMap());
    binding.on("encoded", () => this._restyleDataMap());
    session.on("run", () => this.onRun());
    session.on("epoch", () => { this._ensure(); this._restyleDataMap(); });
    store.subscribe((s, changed) => this._onState(s, changed));
  }

  get known() { return new Set(catalogue().signals.map((s) => s.name)); }

  _build() {
    const st = this.store;
    const pick = (key) => (e) => st.set({ [key]: e.target.value ? `signal:${e.target.value}` : "" });
    this.colorBy = h("select", { class: "dvi-select", "aria-label": "Colour by signal", onchange: pick("colorby") }, signalOptions("class (as above)"));
    this.colorBar = h("div", { class: "dvi-dyn-bar", hidden: true });
    this.sizeBy = h("select", { class: "dvi-select", "aria-label": "Size by signal", onchange: pick("sizeby") }, signalOptions("constant"));
    this.rangeSignal = h("select", { class: "dvi-select", "aria-label": "Range filter signal", onchange: () => this._commitRange(true) }, signalOptions("none"));
    const bound = (label, placeholder) => h("input", { type: "number", class: "dvi-input", step: "any", "aria-label": label, placeholder,
      onchange: () => this._commitRange(false) });
    this.rangeLo = bound("Range minimum", "min");
    this.rangeHi = bound("Range maximum", "max");
    this.hist = h("canvas", { class: "dvi-dyn-hist", width: 232, height: 34 });
    this.rangeRow = h("div", { class: "dvi-dyn-range" }, this.rangeLo, h("span", { text: "to" }), this.rangeHi);
    this.rangeInfo = h("div", { class: "dvi-hint" });
    this.dmTools = h("div", { class: "dvi-dyn-tools" },
      ...[["box", "Box select"], ["lasso", "Lasso select"]].map(([v, label]) => h("button", {
        type: "button", class: "dvi-dyn-tool", "data-tool": v, "aria-pressed": v === "box" ? "true" : "false",
        onclick: () => this._setDmTool(v),
      }, label)));
    const dmBox = h("div", { class: "dvi-dyn-dmbox" });
    this.dmInfo = h("div", { class: "dvi-hint dvi-dyn-readout", text: "Drag to select; hover a point to find it on the map." });
    this.status = h("div", { class: "dvi-hint dvi-dyn-status" });
    this.count = h("span", { class: "dvi-dyn-count" });
    this.details = h("details", { class: "dvi-dyn", ontoggle: () => { if (st.get().dyn !== this.details.open) st.set({ dyn: this.details.open }); } },
      h("summary", {}, h("span", { text: "Training dynamics" }), this.count),
      this.status,
      h("div", { class: "dvi-dyn-block" },
        h("div", { class: "dvi-field" }, h("span", { text: "Colour" }), this.colorBy), this.colorBar,
        h("div", { class: "dvi-field" }, h("span", { text: "Size" }), this.sizeBy)),
      h("div", { class: "dvi-dyn-block" },
        h("div", { class: "dvi-dyn-sub" }, h("span", { text: "Data map" }), this.dmTools,
          h("button", { type: "button", class: "dvi-dyn-tool dvi-dyn-enlarge", "aria-pressed": "false", title: "Show the data map larger, over the map",
            onclick: (e) => { const big = dmBox.classList.toggle("big"); e.currentTarget.setAttribute("aria-pressed", String(big)); } }, "⤢")), dmBox, this.dmInfo),
      h("div", { class: "dvi-dyn-block" },
        h("div", { class: "dvi-dyn-sub" }, h("span", { text: "Range filter" }),
          h("button", { type: "button", class: "dvi-link", onclick: () => st.set({ dfilter: "" }) }, "Reset")),
        this.rangeSignal, this.hist, this.rangeRow, this.rangeInfo),
      this.queries.findBlock, this.queries.exportBlock);
    this.el = h("section", { class: "dvi-dyn-section" }, this.details);
    this.dm = new DataMap(dmBox, { onHover: (i) => this._dmHover(i), onSelect: (ev) => this.binding.select(ev) });
    this.render();
  }

  _setDmTool(t) {
    this.dm.setTool(t);
    for (const b of this.dmTools.querySelectorAll("button")) b.setAttribute("aria-pressed", b.dataset.tool === t ? "true" : "false");
  }

  /** Controls from the state. */
  render(s = this.store.get()) {
    if (this.details.open !== !!s.dyn) this.details.open = !!s.dyn;
    this.colorBy.value = signalKey(s.colorby);
    this.sizeBy.value = signalKey(s.sizeby);
    const r = parseRange(s.dfilter, this.known);
    const idle = (el) => document.activeElement !== el;
    if (idle(this.rangeSignal)) this.rangeSignal.value = r ? r.signal : "";
    if (idle(this.rangeLo)) this.rangeLo.value = r && Number.isFinite(r.lo) ? String(r.lo) : "";
    if (idle(this.rangeHi)) this.rangeHi.value = r && Number.isFinite(r.hi) ? String(r.hi) : "";
    this.rangeRow.hidden = !r;
    this.hist.hidden = !r;
    this.queries.sync(s);
  }

  _wanted(s = this.store.get()) { return DYN_KEYS.some((k) => !!s[k]); }

  onRun() {
    this.data = null;
    this._loadKey = null;
    this.queries.reset();
    this._derive();
    this.dm.setData(null);
    this._ensure();
  }

  /** Encoder of the map binding: per-point colours, sizes and the range mask. */
  encoding(basePointSize) {
    const d = this._derived, A = this.data && this.data.arrays;
    const sKey = signalKey(this.store.get().sizeby);
    const sizes = d.sizeDom && A && A[sKey] ? (this._sizes = sizesFor(A[sKey], d.sizeDom, basePointSize, this._sizes)) : null;
    return { colors: d.colors, sizes, mask: d.mask, order: d.order };
  }

  /** Encoder legend for colour / size by signal; false when the class legend applies. */
  renderLegend(L) {
    const s = this.store.get(), d = this._derived;
    if (!s.colorby || !d.colors) return false;
    const key = signalKey(s.colorby), sig = catalogue().signal[key];
    const dom = d.domain[key];
    const rows = [h("div", { class: "dvi-dyn-legend-title", title: sig.help }, `Colour: ${sig.label}`), this._bar(key, dom)];
    if (dom.nan) rows.push(h("div", { class: "dvi-legend-note" }, h("i", { class: "nan" }), h("span", { text: `grey: no value (${dom.nan.toLocaleString()})` })));
    const size = catalogue().signal[signalKey(s.sizeby)];
    if (size) rows.push(h("div", { class: "dvi-legend-note" }, h("span", { text: `Size: ${size.label} (larger = higher)` })));
    rows.push(h("div", { class: "dvi-legend-note" }, h("i", { class: "ring light" }), h("span", { text: `light ring: misclassified (${countWrong(this.map.proj, this.map.mask).toLocaleString()})` })));
    rows.push(h("button", { type: "button", class: "dvi-link", onclick: () => this.store.set({ colorby: "" }) }, "Back to class colours"));
    L.replaceChildren(...rows);
    return true;
  }

  _bar(key, dom) {
    const kind = catalogue().signal[key].kind;
    return h("div", { class: "dvi-dyn-colorbar", "data-signal": key },
      h("div", { class: "ramp", style: `background:${RAMP_CSS}` }),
      h("div", { class: "ticks" },
        h("span", { text: `${dom.clipLo ? "≤ " : ""}${fmt(dom.lo, kind)}` }),
        h("span", { text: fmt((dom.lo + dom.hi) / 2, kind === "count" ? "float" : kind) }),
        h("span", { text: `${dom.clipHi ? "≥ " : ""}${fmt(dom.hi, kind)}` })));
  }

  _onState(s, changed) {
    this.render(s);
    if (changed.has("sel") && !changed.has("query")) this.queries.onSelection(s);
    if (DYN_KEYS.some((k) => changed.has(k))) this._ensure();
    if (["colorby", "sizeby", "dfilter"].some((k) => changed.has(k))) this._derive();
    if (changed.has("query") && !s.query) this.queries.info.textContent = "";
    this._restyleDataMap();
  }

  _restyleDataMap() {
    if (!this.data || !this.session.samples || !this.details.open) return;  // closed: nothing to draw
    cancelAnimationFrame(this._dmFrame);
    this._dmFrame = requestAnimationFrame(() => {
      const map = this.map;
      this.dm.setStyle({ colors: map.proj ? map.colors : null, mask: map.proj ? map.mask : this._derived.mask });
      this.dm.setSelection(this.binding.selectionIndices());
      this._renderSummary();
    });
  }

  _renderSummary() {
    const s = this.store.get();
    const r = parseRange(s.dfilter, this.known);
    if (r && this._derived.mask) {
      let k = 0;
      for (const v of this._derived.mask) k += v;
      this.rangeInfo.textContent = `${k.toLocaleString()} of ${this.data.n.toLocaleString()} in range`;
    } else this.rangeInfo.textContent = r ? "" : "Show only samples whose signal lies in a range.";
    this.queries.renderExportInfo(s);
  }

  _key() {
    const { run, samples, fitted } = this.session;
    return run && samples ? `${run.name}|${(run.epochs || []).length}|${fitted.length}` : null;
  }

  /** Loads (or reloads after new epochs) the signals when they are wanted. */
  _ensure() {
    if (!this._wanted()) return;
    const key = this._key();
    if (!key || key === this._loadKey) return;
    this._loadKey = key;
    const run = this.session.name, samples = this.session.samples;
    this.status.textContent = "Loading the training dynamics…";
    this.status.classList.remove("error");
    this.api.dynamics(run).then(({ header, arrays }) => {
      if (this.session.name !== run || this.session.samples !== samples || this._loadKey !== key) return;
      if (header.n !== samples.n) throw new Error(`the signals have ${header.n} rows, the run ${samples.n} samples`);
      const first = !this.data;
      this.data = { n: header.n, arrays, header, run };
      const ep = header.epochs || [], fe = header.fitted_epochs || [];
      this.status.textContent = `Signals over ${header.n_epochs} epoch${header.n_epochs === 1 ? "" : "s"}` +
        (ep.length ? ` (${ep[0]}–${ep[ep.length - 1]})` : "") + `; distance over ${fe.length} fitted map${fe.length === 1 ? "" : "s"}.`;
      this.dm.setData({ n: header.n, x: arrays.conf_std, y: arrays.conf_mean });
      this._derive();
      const q = parseQuery(this.store.get().query, this.queries.known);
      if (first && q) this.queries.run(q);
    }).catch((e) => {
      if (this._loadKey !== key) return;
      this._loadKey = null;
      this.status.textContent = errorText(e, "Training dynamics unavailable");
      this.status.classList.add("error");
    });
  }

  /** Recomputes the per-point colours, sizes and range mask from the state, then re-encodes the map. */
  _derive() {
    const s = this.store.get(), C = catalogue().signal;
    const d = this._derived = { colors: null, sizeDom: null, mask: null, order: null, domain: this._derived.domain || {} };
    this.colorBar.hidden = true;
    if (this.data) {
      const A = this.data.arrays;
      const cKey = signalKey(s.colorby);
      if (C[cKey] && A[cKey]) {
        const dom = d.domain[cKey] = domainOf(A[cKey], C[cKey].kind, false, signalRange(C[cKey]));
        d.colors = colorize(A[cKey], dom);
        d.order = drawOrder(A[cKey]);  // strongest on top
        this.colorBar.hidden = false;
        this.colorBar.replaceChildren(this._bar(cKey, dom));
      }
      const sKey = signalKey(s.sizeby);
      if (C[sKey] && A[sKey]) {
        d.sizeDom = d.domain[sKey] = domainOf(A[sKey], C[sKey].kind, false, signalRange(C[sKey]));
        if (!d.order) d.order = drawOrder(A[sKey]);
      }
      const r = parseRange(s.dfilter, this.known);
      if (r && A[r.signal]) {
        d.mask = rangeMask(A[r.signal], r.lo, r.hi);
        const full = domainOf(A[r.signal], C[r.signal].kind, true);
        this.rangeLo.placeholder = `min ${fmt(full.lo, C[r.signal].kind)}`;
        this.rangeHi.placeholder = `max ${fmt(full.hi, C[r.signal].kind)}`;
        this._drawHist(r, A[r.signal], full);
      }
    }
    this.count.textContent = [s.colorby && "colour", s.sizeby && "size", s.dfilter && "filter", s.query && "query"].filter(Boolean).join(" · ");
    if (this.session.samples) this.binding.apply();
    this._restyleDataMap();
  }

  _drawHist(r, v, dom) {
    const c = this.hist, ctx = c.getContext("2d");
    const W = c.width, H = c.height, B = 40;
    ctx.clearRect(0, 0, W, H);
    if (!(dom.hi > dom.lo)) return;
    const bins = histogram(v, dom, B);
    const top = Math.max(...bins.map((b) => Math.sqrt(b))) || 1;
    const lo = Number.isFinite(r.lo) ? r.lo : -Infinity, hi = Number.isFinite(r.hi) ? r.hi : Infinity;
    for (let b = 0; b < B; b++) {
      const x0 = dom.lo + ((dom.hi - dom.lo) * b) / B, x1 = dom.lo + ((dom.hi - dom.lo) * (b + 1)) / B;
      const bh = (Math.sqrt(bins[b]) / top) * (H - 2);
      ctx.fillStyle = x1 >= lo && x0 <= hi ? "#f57c00" : "#cfcfcf";
      ctx.fillRect((b * W) / B + 0.5, H - bh, W / B - 1, bh);
    }
  }

  _commitRange(signalChanged) {
    const sig = this.rangeSignal.value;
    if (!sig) { this.store.set({ dfilter: "" }); return; }
    if (signalChanged) { this.rangeLo.value = ""; this.rangeHi.value = ""; }
    const lo = this.rangeLo.value.trim(), hi = this.rangeHi.value.trim();
    const ok = (x) => x === "" || Number.isFinite(Number(x));
    if (ok(lo) && ok(hi)) this.store.set({ dfilter: `${sig}:${lo}:${hi}` });
  }

  _dmHover(i) {
    this.map.setHighlight(i);
    const s = this.session.samples;
    if (i < 0 || !this.data || !s) { this.dmInfo.textContent = "Drag to select; hover a point to find it on the map."; return; }
    const A = this.data.arrays, names = this.session.classNames;
    const name = (c) => (names && names[c]) ?? String(c);
    this.dmInfo.replaceChildren(
      h("b", { text: `#${s.ids[i]}` }), ` ${name(s.labels[i])}${s.noisy && s.noisy[i] ? " (noisy label)" : ""} · `,
      `conf ${fmt(A.conf_mean[i], "float")} ± ${fmt(A.conf_std[i], "float")} · correct ${Math.round(100 * A.correct_rate[i])}% · ` +
      `forgot ${A.forgetting[i]}× · mislabel ${fmt(A.mislabel_score[i], "float")}`);
    this.dmInfo.dataset.id = String(s.ids[i]);
  }
}
