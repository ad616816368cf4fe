// Search panel: select samples by id ("12", "1,2,3"), by class name ("cat", "pred: cat"), or on
// the server (`GET search`) by substring or regular expression over the texts, the label names or
// any metadata column.

import { h } from "../ui.js";
import { errorText } from "../api.js";

export class SearchPanel {
  constructor({ store, session, map, api, extras }) {
    Object.assign(this, { store, session, map, api, extras });
    this.input = h("input", {
      type: "search", class: "dvi-input", placeholder: "id, ids (1,2,3) or class name",
      "aria-label": "Search", onkeydown: (e) => { if (e.key === "Enter") this.search(e.target.value); },
    });
    this.field = h("select", { class: "dvi-select", "aria-label": "Search in", onchange: () => this.render() });
    this.regex = h("input", { type: "checkbox", id: "dvi-search-regex" });
    this.regexLabel = h("label", { class: "dvi-check", for: "dvi-search-regex", title: "A regular expression (Python re, case-insensitive)" }, this.regex, "Regular expression");
    this.msg = h("div", { class: "dvi-hint" });
    this.el = h("section", {}, h("h3", { text: "Search" }), h("div", { class: "dvi-row dvi-search-row" }, this.field), this.input, this.regexLabel, this.msg);
    session.on("run", () => this.render());
    extras.on("extras", () => this.render());
    this.render();
  }

  /** Fields: ids and classes (here), then the server's: texts, label names, each metadata column. */
  render() {
    const run = this.session.run, cur = this.field.value;
    const opts = [["", "Id or class"]];
    if (run && run.has_texts) opts.push(["text", "Text"]);
    if (run) opts.push(["label", "Label name"]);
    for (const c of (run && run.metadata_columns) || []) opts.push([`meta:${c}`, c]);
    this.field.replaceChildren(...opts.map(([v, l]) => h("option", { value: v, text: l })));
    this.field.value = opts.some(([v]) => v === cur) ? cur : "";
    const server = this.field.value !== "";
    this.regexLabel.hidden = !server;
    this.input.placeholder = server ? (this.regex.checked ? "regular expression" : "text to find") : "id, ids (1,2,3) or class name";
  }

  search(q) {
    q = q.trim();
    const s = this.session.samples;
    if (!q || !s) { this.msg.textContent = ""; return; }
    if (this.field.value) { this.searchServer(q, this.field.value); return; }
    if (/^[\d\s,]+$/.test(q)) { this.searchIds(q); return; }
    if (!this.searchClass(q) && this.session.run.has_texts) this.searchServer(q, "text");  // no class: the texts
  }

  async searchServer(q, f) {
    const field = f.startsWith("meta:") ? f.slice(5) : f, run = this.session.name;
    const regex = this.regex.checked;
    this.msg.textContent = "Searching…";
    try {
      const r = await this.api.search(run, q, field, regex);
      if (this.session.name !== run) return;
      const ids = r.indices.map((i) => this.session.samples.ids[i]);
      this.store.set({ sel: ids });
      const what = field === "text" ? "texts" : field === "label" ? "label names" : `"${field}"`;
      this.msg.textContent = `${r.count.toLocaleString()} samples whose ${what} ${regex ? "match" : "contain"} "${q}" selected`;
    } catch (e) {
      this.msg.textContent = errorText(e, "Search failed");
    }
  }

  searchIds(q) {
    const s = this.session.samples;
    const ids = q.split(/[\s,]+/).filter(Boolean).map(Number);
    const found = ids.filter((id) => s.indexOf(id) >= 0);
    const missing = ids.length - found.length;
    this.store.set({ sel: found });
    this.msg.textContent = found.length
      ? `${found.length} selected${missing ? `, ${missing} id${missing > 1 ? "s" : ""} not in this run` : ""}`
      : `No sample with id ${ids.join(", ")} in this run.`;
  }

  searchClass(q) {
    const s = this.session.samples, names = this.session.classNames;
    let key = "label";
    let term = q.toLowerCase();
    const m = /^(label|pred|prediction):\s*(.*)$/.exec(term);
    if (m) { key = m[1] === "label" ? "label" : "pred"; term = m[2]; }
    let c = names.findIndex((n) => n.toLowerCase() === term);
    if (c < 0) c = names.findIndex((n) => n.toLowerCase().startsWith(term));
    if (c < 0) c = names.findIndex((n) => n.toLowerCase().includes(term));
    if (c < 0) { this.msg.textContent = `No class matches "${q}". Classes: ${names.slice(0, 12).join(", ")}${names.length > 12 ? ", …" : ""}`; return false; }
    const vals = key === "pred" && this.map.proj ? this.map.proj.predictions : s.labels;
    const ids = [];
    const mask = this.map.mask;
    for (let i = 0; i < s.n; i++) if (vals[i] === c && (!mask || mask[i])) ids.push(s.ids[i]);
    this.store.set({ sel: ids });
    this.msg.textContent = `${ids.length.toLocaleString()} samples ${key === "pred" ? "predicted as" : "labelled"} "${names[c]}" selected`;
    return true;
  }
}
