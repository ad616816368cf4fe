// Tags: named sets of samples kept on the server beside the run's cache (`GET/POST tags`), for
// acting on what the map shows ("mislabelled", "relabel as 7"). Tag the selection under a free
// name, click a tag to select its samples, remove the selection from it or delete it, export all
// tags as CSV or JSON (`GET tags_export`) for relabelling. Reloading the page shows them again.

import { h } from "../ui.js";
import { errorText } from "../api.js";

export class TagsPanel {
  constructor({ api, store, session, binding }) {
    Object.assign(this, { api, store, session, binding });
    this.tags = {};
    this.name = h("input", { type: "text", class: "dvi-input", placeholder: "tag name, e.g. mislabelled", "aria-label": "Tag name",
      maxlength: 64, list: "dvi-tag-names", onkeydown: (e) => { if (e.key === "Enter") this.change("add"); } });
    this.names = h("datalist", { id: "dvi-tag-names" });
    this.add = h("button", { type: "button", class: "dvi-btn", onclick: () => this.change("add") }, "Tag selection");
    this.msg = h("div", { class: "dvi-hint" });
    this.list = h("div", { class: "dvi-tag-list" });
    this.exports = h("div", { class: "dvi-row dvi-tag-export" }, h("span", { class: "dvi-hint", text: "Export:" }),
      h("a", { class: "dvi-link", "data-format": "csv", download: "" }, "CSV"), h("a", { class: "dvi-link", "data-format": "json", download: "" }, "JSON"));
    this.el = h("section", { class: "dvi-tags-section" }, h("h3", { text: "Tags" }),
      h("div", { class: "dvi-row" }, this.name, this.add), this.names, this.msg, this.list, this.exports);
    session.on("run", () => this.load());
    binding.on("selection", () => this.render());
  }

  async load() {
    const run = this.session.name;
    this.tags = {};
    for (const a of this.exports.querySelectorAll("a")) a.href = this.api.tagsExportUrl(run, a.dataset.format);
    try {
      const r = await this.api.tags(run);
      if (this.session.name === run) this.tags = r.tags;
    } catch (e) { this.msg.textContent = errorText(e, "Could not load the tags"); }
    this.render();
  }

  selectedIds() { return [...new Set(this.store.get().sel)]; }

  /** add / remove the selection to / from a tag, or delete the tag. */
  async change(op, tag = this.name.value.trim()) {
    const ids = op === "delete" ? [] : this.selectedIds(), run = this.session.name;
    if (!tag) { this.msg.textContent = "Type a tag name first."; return; }
    if (op !== "delete" && !ids.length) { this.msg.textContent = "Select samples first (click, box or lasso, or search)."; return; }
    try {
      const r = await this.api.changeTags(run, tag, ids, op);
      if (this.session.name !== run) return;
      this.tags = r.tags;
      this.msg.textContent = op === "delete" ? `Tag "${tag}" deleted.` : `${ids.length.toLocaleString()} sample${ids.length > 1 ? "s" : ""} ${op === "add" ? "tagged" : "untagged"} "${tag}".`;
    } catch (e) { this.msg.textContent = errorText(e, "Could not change the tags"); }
    this.render();
  }

  render() {
    const names = Object.keys(this.tags), nsel = this.store.get().sel.length;
    this.add.disabled = !nsel;
    this.names.replaceChildren(...names.map((n) => h("option", { value: n })));
    this.exports.hidden = !names.length;
    this.list.replaceChildren(...names.map((n) => h("div", { class: "dvi-tag-row", "data-tag": n },
      h("button", { type: "button", class: "dvi-link name", title: "Select these samples", onclick: () => this.store.set({ sel: [...this.tags[n]] }) }, n),
      h("b", { text: this.tags[n].length.toLocaleString() }),
      nsel ? h("button", { type: "button", class: "dvi-link", title: "Remove the selected samples from this tag", onclick: () => this.change("remove", n) }, "− sel") : null,
      h("button", { type: "button", class: "dvi-x", "aria-label": `Delete tag ${n}`, title: "Delete this tag", onclick: () => this.change("delete", n) }, "×"))));
  }
}
