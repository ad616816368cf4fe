// Metadata columns (`DVIWriter(metadata={...})`, `GET metadata`): colour the map by any column
// (categorical → the palette, numeric → the viridis ramp, with a legend) and filter by it (one
// value of a categorical column, a range of a numeric one). An encoder of the map binding.
// Searching a column is the search panel's (GET search, field = the column).

import { h } from "../ui.js";
import { RAMP_CSS } from "../signals.js";
import { catalogue } from "../catalogue.js";
import { columnKind, categories, columnColors, columnMask, numericDomain, showValue } from "../columns.js";

export class MetadataPanel {
  constructor({ store, session, map, binding, extras }) {
    Object.assign(this, { store, session, map, binding, extras });
    this.colourBy = h("select", { class: "dvi-select", "aria-label": "Colour by column", onchange: () => this.changed() });
    this.filterCol = h("select", { class: "dvi-select", "aria-label": "Filter by column", onchange: () => this.filterControls() });
    this.filterVal = h("span", { class: "dvi-meta-filter" });
    this.el = h("section", { class: "dvi-meta", hidden: true }, h("h3", { text: "Metadata" }),
      h("label", { class: "dvi-hint", text: "Colour by" }), this.colourBy,
      h("label", { class: "dvi-hint", text: "Filter by" }), this.filterCol, this.filterVal);
    this.coloured = null;
    this.mask = null;
    binding.addEncoder({ encoding: () => this.encoding(), legend: (el) => this.legend(el) });
    extras.on("extras", () => this.render());
    session.on("run", () => { this.coloured = null; this.mask = null; });
    store.subscribe((s, changed) => { if ((changed.has("color") || changed.has("colorby")) && this.colourBy.value) { this.colourBy.value = ""; this.changed(); } });
  }

  render() {
    const cols = this.extras.columnNames;
    this.el.hidden = !cols.length;
    const opts = (none) => [h("option", { value: "", text: none }), ...cols.map((c) => h("option", { value: c, text: c }))];
    this.colourBy.replaceChildren(...opts("— (classes)"));
    this.filterCol.replaceChildren(...opts("— (no filter)"));
    this.filterVal.replaceChildren();
  }

  changed() {
    const col = this.colourBy.value;
    this.coloured = col ? { column: col, ...columnColors(this.extras.columns[col], catalogue().palette) } : null;
    this.binding.apply();
  }

  /** The value picker of the filtered column: a select of values, or min / max fields. */
  filterControls() {
    const col = this.filterCol.value, values = this.extras.columns[col];
    this.mask = null;
    if (!col) { this.filterVal.replaceChildren(); this.binding.apply(); return; }
    if (columnKind(values) === "numeric") {
      const dom = numericDomain(values);
      const lo = h("input", { type: "number", class: "dvi-input", step: "any", value: dom.lo, "aria-label": "at least" });
      const hi = h("input", { type: "number", class: "dvi-input", step: "any", value: dom.hi, "aria-label": "at most" });
      const apply = () => this.setMask(columnMask(values, { lo: parseFloat(lo.value), hi: parseFloat(hi.value) }));
      lo.onchange = apply; hi.onchange = apply;
      this.filterVal.replaceChildren(h("div", { class: "dvi-row" }, lo, h("span", { text: "–" }), hi));
      apply();
      return;
    }
    const pick = h("select", { class: "dvi-select", "aria-label": "Value",
      onchange: () => this.setMask(pick.value === "\u0000" ? null : columnMask(values, { values: [pick.value] })) },
    h("option", { value: "\u0000", text: "any value" }),
    categories(values).slice(0, 200).map((c) => h("option", { value: c.value, text: `${c.value} (${c.count})` })));
    this.filterVal.replaceChildren(pick);
    this.binding.apply();
  }

  setMask(mask) { this.mask = mask; this.binding.apply(); }

  encoding() {
    if (!this.session.samples) return null;
    const n = this.session.samples.n, ok = (a, k) => a && a.length === n * k;
    return { colors: this.coloured && ok(this.coloured.colors, 3) ? this.coloured.colors : undefined, mask: ok(this.mask, 1) ? this.mask : undefined };
  }

  legend(el) {
    const c = this.coloured;
    if (!c) return false;
    const rows = [h("div", { class: "dvi-dyn-legend-title", text: `Colour: ${c.column}` })];
    if (c.kind === "numeric") {
      rows.push(h("div", { class: "dvi-meta-ramp", style: `background:${RAMP_CSS}` }),
        h("div", { class: "dvi-meta-ends" }, h("span", { text: showValue(c.domain.lo) }), h("span", { text: showValue(c.domain.hi) })));
    } else {
      for (const r of c.legend) rows.push(h("div", { class: "dvi-legend-row" }, h("i", { style: `background:${r.color}` }), h("span", { text: r.value }), h("b", { text: r.count.toLocaleString() })));
      if (c.other) rows.push(h("div", { class: "dvi-legend-note" }, h("span", { text: `grey: other values or none (${c.other.toLocaleString()})` })));
    }
    el.replaceChildren(...rows);
    return true;
  }
}
