// Selection panel: the selected samples (first 100) with label → prediction and confidence at the
// shown epoch, and the start of each sample's text when the run logged texts; hovering a row rings the sample on the map.

import { h, swatch } from "../ui.js";
import { isWrong } from "../encode.js";
import { MAX_TRAILS } from "../trails.js";
import { snippet } from "../columns.js";

export class SelectionPanel {
  constructor({ store, session, map, binding, extras }) {
    Object.assign(this, { store, session, map, binding, extras });
    this.title = h("h3", { text: "Selection" });
    this.info = h("div", { class: "dvi-hint", text: "Click a point, or drag with Box / Lasso (shift+drag)." });
    this.list = h("div", { class: "dvi-sellist" });
    this.clear = h("button", { type: "button", class: "dvi-link", onclick: () => store.set({ sel: [] }) }, "Clear");
    this.el = h("section", { class: "dvi-sel-section" }, h("h3", {}, this.title, this.clear), this.info, this.list);
    binding.on("selection", () => this.render());
    session.on("epoch", () => this.render());
    extras.on("extras", () => this.render());
  }

  /** A hint in place of the list (e.g. "nothing selected" from the export panel). */
  hint(text) { this.info.hidden = false; this.info.textContent = text; }

  render() {
    const sel = this.binding.selectionIndices();
    const { samples: s, palette, classNames: names } = this.session;
    const proj = this.map.proj;
    this.title.textContent = sel.length ? `Selection · ${sel.length.toLocaleString()}` : "Selection";
    this.clear.hidden = !sel.length;
    this.info.hidden = sel.length > 0;
    if (!sel.length || !s) { this.list.replaceChildren(); return; }
    let wrong = 0;
    if (proj) for (const i of sel) if (isWrong(proj, i)) wrong++;
    const rows = sel.slice(0, 100).map((i) => {
      const pred = proj ? proj.predictions[i] : null;
      return h("div", {
        class: `dvi-sel-row${proj && isWrong(proj, i) ? " wrong" : ""}`,
        onmouseenter: () => this.map.setHighlight(i), onmouseleave: () => this.map.setHighlight(-1),
      },
      h("span", { class: "id", text: `#${s.ids[i]}` }),
      swatch(palette[s.labels[i]]),
      h("span", { class: "lab", text: names[s.labels[i]] }),
      h("span", { class: "arrow", text: "→" }),
      pred === null ? "" : swatch(palette[pred]),
      h("span", { class: "lab", text: pred === null ? "" : names[pred] }),
      h("span", { class: "conf", text: proj ? `${(proj.confidence[i] * 100).toFixed(0)}%` : "" }),
      this.extras.texts ? h("span", { class: "dvi-sel-text", text: snippet(this.extras.textOf(i), 90) }) : null);
    });
    this.list.replaceChildren(
      h("div", { class: "dvi-hint", text: `${wrong} misclassified at this epoch${sel.length > 100 ? " · first 100 listed" : ""}${sel.length > MAX_TRAILS ? ` · trails for the first ${MAX_TRAILS}` : ""}` }),
      ...rows);
  }
}
