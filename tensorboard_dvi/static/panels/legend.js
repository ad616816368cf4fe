// Legend panel: one row per class (or correct / misclassified) with the visible counts; a click
// filters to that class. An encoder of the map binding (e.g. colour by a dynamics signal) may
// draw its own legend instead.

import { h } from "../ui.js";
import { CORRECT, WRONG } from "../colors.js";
import { countBy, countWrong, isWrong } from "../encode.js";

export class LegendPanel {
  constructor({ store, session, map, binding }) {
    Object.assign(this, { store, session, map, binding });
    this.list = h("div", { class: "dvi-legend" });
    this.el = h("section", { class: "dvi-legend-section" }, h("h3", { text: "Legend" }), this.list);
    binding.on("encoded", () => this.render());
    session.on("epoch", () => this.render());
  }

  render() {
    const L = this.list, samples = this.session.samples, run = this.session.run;
    if (!samples || !run) { L.replaceChildren(); return; }
    if (this.binding.encoderLegend(L)) return;
    const s = this.store.get();
    const mask = this.map.mask, proj = this.map.proj;
    const rows = [];
    const row = (attrs, color, cls, label, count) => h("div", { class: "dvi-legend-row", ...attrs },
      h("i", { class: cls, style: `background:${color}` }), h("span", { text: label }), h("b", { text: count.toLocaleString() }));
    if (s.color === "correct") {
      let ok = 0, bad = 0;
      if (proj) for (let i = 0; i < samples.n; i++) if (!mask || mask[i]) (isWrong(proj, i) ? bad++ : ok++);
      rows.push(row({ onclick: () => this.store.set({ fc: s.fc === "correct" ? "all" : "correct" }) }, CORRECT, null, "Correct", ok));
      rows.push(row({ onclick: () => this.store.set({ fc: s.fc === "wrong" ? "all" : "wrong" }) }, WRONG, "wrong", "Misclassified", bad));
    } else {
      const byPred = s.color === "prediction" && proj;
      const counts = countBy(byPred ? proj.predictions : samples.labels, mask, run.num_classes);
      const key = byPred ? "fp" : "fl";
      const active = new Set(s[key]);
      this.session.classNames.forEach((name, c) => {
        rows.push(row({
          class: `dvi-legend-row${active.size && !active.has(c) ? " off" : ""}`, title: `Show only ${byPred ? "predicted" : "labelled"} "${name}" (click again for all)`,
          onclick: () => this.store.set({ [key]: active.size === 1 && active.has(c) ? [] : [c] }),
        }, this.session.palette[c], null, name, counts[c]));
      });
    }
    rows.push(h("div", { class: "dvi-legend-note" },
      h("i", { class: "ring" }), h("span", { text: `dark ring${samples.n > 3000 ? " / darker dot" : ""}: misclassified (${countWrong(proj, mask).toLocaleString()})` })));
    L.replaceChildren(...rows);
  }
}
