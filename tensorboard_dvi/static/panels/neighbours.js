// Nearest neighbours of the focused sample in the representation space (`GET neighbours`): listed
// with distances and whether the 2-D map keeps each one among its nearest (map recall), and drawn
// larger on the map (an encoder of the binding). "Select" turns them into the selection.

import { h, swatch } from "../ui.js";
import { errorText } from "../api.js";
import { focusedIndex } from "./focus.js";

const K_CHOICES = [5, 10, 20, 50];

export class NeighboursPanel {
  constructor({ api, store, session, map, binding, root }) {
    Object.assign(this, { api, store, session, map, binding, root });
    this.result = null;
    this.k = h("select", { class: "dvi-select dvi-k", "aria-label": "How many neighbours", onchange: () => this.load() },
      K_CHOICES.map((k) => h("option", { value: k, text: `k = ${k}`, selected: k === 10 })));
    this.info = h("div", { class: "dvi-hint" });
    this.list = h("div", { class: "dvi-nn-list" });
    this.el = h("section", { class: "dvi-nn", hidden: true }, h("h3", { text: "Nearest neighbours" }, this.k), this.info, this.list);
    binding.addEncoder({ encoding: (ps) => this.encoding(ps) });
    binding.on("selection", () => this.load());
    session.on("epoch", () => this.load());
  }

  render() {}

  async load() {
    const i = focusedIndex(this.binding), s = this.session.samples, epoch = this.session.shownEpoch;
    this.el.hidden = i < 0;
    if (i < 0 || epoch === null) { if (this.result) this.show(null); return; }  // no re-encoding when nothing changes
    const id = s.ids[i], run = this.session.name, k = Number(this.k.value);
    const key = `${run}|${id}|${epoch}|${k}`;
    if (this.result && this.result.key === key) return;
    this.info.textContent = "Finding neighbours…";
    try {
      const r = await this.api.neighbours(run, epoch, id, k);
      if (focusedIndex(this.binding) !== i || this.session.shownEpoch !== epoch || this.session.name !== run) return;
      this.show({ ...r, key });
    } catch (e) {
      this.info.textContent = errorText(e, "Could not find the neighbours");
      this.show(null, true);
    }
  }

  show(r, keepInfo = false) {
    this.result = r;
    this.root.dataset.neighbours = r ? String(r.neighbours.length) : "0";
    this.binding.apply();
    if (!r) { this.list.replaceChildren(); if (!keepInfo) this.info.textContent = ""; return; }
    const { samples: s, palette, classNames: names } = this.session;
    const recall = r.map_recall === null ? "the map of this epoch is not fitted"
      : `the map keeps ${Math.round(r.map_recall * 100)}% of them among its ${r.k} nearest`;
    this.info.textContent = `${r.k} nearest of #${r.id} at epoch ${r.epoch} (${r.space}, Euclidean); ${recall}.`;
    this.list.replaceChildren(...r.neighbours.map((n) => h("div", {
      class: `dvi-nn-row${n.kept_on_map === false ? " lost" : ""}`, "data-id": n.id,
      onmouseenter: () => this.map.setHighlight(n.index), onmouseleave: () => this.map.setHighlight(-1),
    }, h("span", { class: "id", text: `#${n.id}` }), swatch(palette[s.labels[n.index]]),
    h("span", { class: "lab", text: names[s.labels[n.index]] }),
    h("span", { class: "d", text: n.distance.toPrecision(3) }),
    h("span", { class: "kept", title: "also among the nearest on the map", text: n.kept_on_map === null ? "" : n.kept_on_map ? "✓ map" : "✗ map" }))),
    h("button", { type: "button", class: "dvi-link", onclick: () => this.store.set({ sel: [r.id, ...r.neighbours.map((n) => n.id)] }) }, "Select them with the sample"));
  }

  /** Neighbours drawn 2.2 times as large while listed (the sample itself 2.5 times). */
  encoding(ps) {
    const r = this.result, s = this.session.samples;
    if (!r || !s) return null;
    const sizes = new Float32Array(s.n).fill(ps);
    for (const n of r.neighbours) sizes[n.index] = ps * 2.2;
    sizes[r.index] = ps * 2.5;
    return { sizes };
  }
}
