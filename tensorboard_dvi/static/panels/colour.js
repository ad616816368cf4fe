// "Colour by" panel: label / prediction / correctness, the split shown, the decision-region
// background and the trails of the selection.

import { h, segmented, setSegmented } from "../ui.js";

export class ColourPanel {
  constructor({ store }) {
    this.store = store;
    this.color = segmented("color", [["label", "Label"], ["prediction", "Prediction"], ["correct", "Correctness"]],
      (v) => store.set({ color: v, colorby: "" }));
    this.split = segmented("split", [["all", "All"], ["train", "Train"], ["test", "Test"]], (v) => store.set({ split: v }));
    this.bg = h("input", { type: "checkbox", id: "dvi-bg", onchange: (e) => store.set({ bg: e.target.checked }) });
    this.trails = h("input", { type: "checkbox", id: "dvi-trails", onchange: (e) => store.set({ trails: e.target.checked }) });
    this.tdrift = h("input", { type: "checkbox", id: "dvi-tdrift", onchange: (e) => store.set({ tdrift: e.target.checked }) });
    this.el = h("section", {}, h("h3", { text: "Colour by" }), this.color,
      h("div", { class: "dvi-row" }, this.split),
      h("label", { class: "dvi-check", for: "dvi-bg" }, this.bg, "Decision regions (background)"),
      h("label", { class: "dvi-check", for: "dvi-trails" }, this.trails, "Trails of the selection"),
      h("label", { class: "dvi-check dvi-sub", for: "dvi-tdrift",
        title: "Each epoch's whole map moves with the mean of the representations. Off: trails show each sample's move relative to the map, in the shown epoch's frame." },
      this.tdrift, "…with the map's drift"));
    store.subscribe(() => this.render());
    this.render();
  }

  render() {
    const s = this.store.get();
    setSegmented(this.color, s.colorby ? "" : s.color);
    setSegmented(this.split, s.split);
    this.bg.checked = s.bg;
    this.trails.checked = s.trails;
    this.tdrift.checked = s.tdrift;
    this.tdrift.disabled = !s.trails;
  }
}
