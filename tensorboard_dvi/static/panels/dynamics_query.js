// "Find samples" and "Export with signals" of the Training dynamics panel: the catalogue's
// ready-made queries with their parameters and defaults (GET catalogue), run on the server, their
// result selected; the selection or the query result exported as CSV / JSON with its signals.

import { h, download, safeName } from "../ui.js";
import { errorText } from "../api.js";
import { catalogue } from "../catalogue.js";
import { parseQuery, formatQuery } from "../urlstate.js";

/** The numeric parameters of a query (one is set at a time) and its choice parameters (e.g. split). */
export function queryParams(q) {
  const ps = q ? q.params || [] : [];
  return { numeric: ps.filter((p) => p.type !== "choice"), choice: ps.filter((p) => p.type === "choice") };
}

export class QuerySection {
  constructor({ store, session, api }) {
    Object.assign(this, { store, session, api });
    this.querySel = null;     // the ids a query put into the selection
    const Q = catalogue().queries;
    this.query = h("select", { class: "dvi-select", "aria-label": "Query", onchange: () => this.syncParam() },
      ...Q.map((q) => h("option", { value: q.name, title: q.help }, q.label)));
    this.kind = h("select", { class: "dvi-select dvi-dyn-small", "aria-label": "Query parameter kind", onchange: () => this.syncParam(true) });
    this.plabel = h("span", { class: "dvi-dyn-plabel" });
    this.param = h("input", { type: "number", class: "dvi-input dvi-dyn-small", step: "any", "aria-label": "Query parameter" });
    this.split = h("select", { class: "dvi-select dvi-dyn-small", "aria-label": "Query split" },
      h("option", { value: "all" }, "all samples"), h("option", { value: "train" }, "train only"), h("option", { value: "test" }, "test only"));
    this.info = h("div", { class: "dvi-hint dvi-dyn-qinfo" });
    this.expInfo = h("div", { class: "dvi-hint" });
    const btn = (label, onclick) => h("button", { type: "button", class: "dvi-btn", onclick }, label);
    this.findBlock = h("div", { class: "dvi-dyn-block" },
      h("div", { class: "dvi-dyn-sub" }, h("span", { text: "Find samples" })),
      this.query,
      h("div", { class: "dvi-dyn-qrow" }, this.kind, this.plabel, this.param),
      h("div", { class: "dvi-dyn-qrow" }, this.split, btn("Run query", () => this.run())), this.info);
    this.exportBlock = h("div", { class: "dvi-dyn-block" },
      h("div", { class: "dvi-dyn-sub" }, h("span", { text: "Export with signals" })),
      h("div", { class: "dvi-exports" }, btn("Signals CSV", () => this.exportSignals("csv")), btn("Signals JSON", () => this.exportSignals("json"))),
      this.expInfo);
    this.syncParam();
  }

  get known() { return new Set(catalogue().queries.map((q) => q.name)); }

  /** Shows the parameter of the chosen query, pre-filled with the catalogue's default. */
  syncParam(kindChanged = false) {
    const q = catalogue().query[this.query.value];
    const { numeric } = queryParams(q);
    this.kind.hidden = numeric.length < 2;
    if (numeric.length >= 2 && this.kind.dataset.for !== q.name) {
      this.kind.replaceChildren(...numeric.map((p) => h("option", { value: p.name, title: p.help }, p.label || p.name)));
      this.kind.dataset.for = q.name;
    }
    const p = numeric.length >= 2 ? numeric.find((x) => x.name === this.kind.value) : numeric[0];
    this.param.hidden = !p;
    this.plabel.hidden = !p || numeric.length >= 2;
    this.plabel.textContent = p ? `${p.name} =` : "";
    if (p && (kindChanged || this.param.dataset.for !== `${q.name}.${p.name}`)) {
      this.param.value = p.default === undefined || p.default === null ? "" : String(p.default);
      this.param.placeholder = p.min !== undefined && p.max !== undefined ? `${p.min}–${p.max}` : "";
      this.param.dataset.for = `${q.name}.${p.name}`;
    }
    if (p) {
      this.param.step = p.type === "int" ? "1" : "0.05";
      this.param.min = p.min === undefined ? "" : String(p.min);
      if (p.max !== undefined) this.param.max = String(p.max); else this.param.removeAttribute("max");
    }
    this.param.title = q.help;
  }

  /** Controls from the URL's dvi.query. */
  sync(s) {
    const q = parseQuery(s.query, this.known);
    if (!q) return;
    this.query.value = q.query;
    this.syncParam();
    const { numeric } = queryParams(catalogue().query[q.query]);
    const p = numeric.find((x) => x.name in q.params);
    if (p && numeric.length >= 2) { this.kind.value = p.name; this.syncParam(); }
    if (p) this.param.value = q.params[p.name];
    this.split.value = q.params.split || "all";
  }

  fromControls() {
    const q = catalogue().query[this.query.value];
    const { numeric } = queryParams(q);
    const p = numeric.length >= 2 ? numeric.find((x) => x.name === this.kind.value) : numeric[0];
    const params = {};
    if (p && this.param.value.trim() !== "") params[p.name] = this.param.value.trim();
    if (this.split.value !== "all") params.split = this.split.value;
    return { query: q.name, params };
  }

  /** The selection changed: if it is no longer the query's result, forget the query. */
  onSelection(s) {
    if (!s.query) return;
    const same = this.querySel && this.querySel.length === s.sel.length && this.querySel.every((x, i) => x === s.sel[i]);
    if (!same) queueMicrotask(() => { if (this.store.get().query === s.query) this.store.set({ query: "" }); });
  }

  /** Runs a query (from the controls by default) and selects its result. */
  async run(spec = null) {
    const { query, params } = spec || this.fromControls();
    const session = this.session;
    if (!session.run || !session.samples) return;
    const run = session.name;
    this.info.classList.remove("error");
    this.info.textContent = "Running…";
    let r;
    try {
      r = await this.api.dynamicsQuery(run, query, params);
    } catch (e) {
      if (session.name === run) { this.info.textContent = errorText(e, "The query failed"); this.info.classList.add("error"); }
      return;
    }
    if (session.name !== run) return;
    this.querySel = r.ids.slice();
    this.store.set({ sel: r.ids, query: formatQuery(query, params) });
    let noisy = 0;
    const sn = session.samples.noisy;
    if (sn) for (const i of r.indices) noisy += sn[i] ? 1 : 0;
    this.info.textContent = `${r.count.toLocaleString()} of ${r.total.toLocaleString()} samples selected` +
      (sn ? ` · ${noisy.toLocaleString()} with a noisy label` : "") + (r.warning ? ` · ${r.warning}` : "");
    this.info.dataset.count = String(r.count);
  }

  renderExportInfo(s) {
    const n = s.sel.length;
    this.expInfo.textContent = s.query ? `Exports the query result (${n.toLocaleString()} samples).`
      : n ? `Exports the ${n.toLocaleString()} selected samples.` : "Select samples (map, data map or a query) to export them.";
  }

  async exportSignals(format) {
    const s = this.store.get(), session = this.session;
    if (!session.run) return;
    const q = parseQuery(s.query, this.known);
    if (!q && !s.sel.length) { this.expInfo.textContent = "Nothing selected: select samples or run a query first."; return; }
    try {
      const res = await this.api.dynamicsExport(session.name, format, q ? { query: q.query, params: q.params } : { ids: s.sel });
      const blob = await res.blob();
      const m = /filename="([^"]+)"/.exec(res.headers.get("Content-Disposition") || "");
      const name = m ? m[1] : `dvi-dynamics-${safeName(session.name)}.${format}`;
      download(blob, name);
      this.expInfo.textContent = `Downloaded ${name}.`;
    } catch (e) {
      this.expInfo.textContent = errorText(e, "Export failed");
    }
  }

  reset() { this.querySel = null; this.info.textContent = ""; this.expInfo.textContent = ""; }
}
