// Search panel: select samples by id ("12", "1,2,3") or by class name ("cat", "pred: cat").

import { h } from "../ui.js";

export class SearchPanel {
  constructor({ store, session, map }) {
    Object.assign(this, { store, session, map });
    this.input = h("input", {
      type: "search", class: "dvi-input", placeholder: "id, ids (1,2,3) or class name",
      "aria-label": "Search by id or class", onkeydown: (e) => { if (e.key === "Enter") this.search(e.target.value); },
    });
    this.msg = h("div", { class: "dvi-hint" });
    this.el = h("section", {}, h("h3", { text: "Search" }), this.input, this.msg);
  }

  render() {}

  search(q) {
    q = q.trim();
    const s = this.session.samples, names = this.session.classNames;
    if (!q || !s) { this.msg.textContent = ""; return; }
    if (/^[\d\s,]+$/.test(q)) {
      const ids = q.split(/[\s,]+/).filter(Boolean).map(Number);
      const found = ids.filter((id) => s.indexOf(id) >= 0);
      const missing = ids.length - found.length;
      this.store.set({ sel: found });
      this.msg.textContent = found.length
        ? `${found.length} selected${missing ? `, ${missing} id${missing > 1 ? "s" : ""} not in this run` : ""}`
        : `No sample with id ${ids.join(", ")} in this run.`;
      return;
    }
    let key = "label";
    let term = q.toLowerCase();
    const m = /^(label|pred|prediction):\s*(.*)$/.exec(term);
    if (m) { key = m[1] === "label" ? "label" : "pred"; term = m[2]; }
    let c = names.findIndex((n) => n.toLowerCase() === term);
    if (c < 0) c = names.findIndex((n) => n.toLowerCase().startsWith(term));
    if (c < 0) c = names.findIndex((n) => n.toLowerCase().includes(term));
    if (c < 0) { this.msg.textContent = `No class matches "${q}". Classes: ${names.slice(0, 12).join(", ")}${names.length > 12 ? ", …" : ""}`; return; }
    const vals = key === "pred" && this.map.proj ? this.map.proj.predictions : s.labels;
    const ids = [];
    const mask = this.map.mask;
    for (let i = 0; i < s.n; i++) if (vals[i] === c && (!mask || mask[i])) ids.push(s.ids[i]);
    this.store.set({ sel: ids });
    this.msg.textContent = `${ids.length.toLocaleString()} samples ${key === "pred" ? "predicted as" : "labelled"} "${names[c]}" selected`;
  }
}
