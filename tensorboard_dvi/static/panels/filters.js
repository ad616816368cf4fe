// Filters panel: label, prediction, correctness, near the boundary, noisy labels; "n of N shown".

import { h, segmented, setSegmented } from "../ui.js";

export class FiltersPanel {
  constructor({ store, session, map, binding }) {
    Object.assign(this, { store, session, map });
    const pick = (key) => (e) => store.set({ [key]: e.target.value === "" ? [] : [Number(e.target.value)] });
    this.fLabel = h("select", { class: "dvi-select", "aria-label": "Filter by label", onchange: pick("fl") });
    this.fPred = h("select", { class: "dvi-select", "aria-label": "Filter by prediction", onchange: pick("fp") });
    this.fCorrect = segmented("fc", [["all", "All"], ["correct", "Correct"], ["wrong", "Misclassified"]], (v) => store.set({ fc: v }));
    this.fBoundary = h("input", { type: "checkbox", id: "dvi-fb", onchange: (e) => store.set({ fb: e.target.checked }) });
    this.fNoisy = h("input", { type: "checkbox", id: "dvi-fn", onchange: (e) => store.set({ fn: e.target.checked }) });
    this.noisyRow = h("label", { class: "dvi-check", for: "dvi-fn" }, this.fNoisy, "Noisy labels only");
    this.info = h("div", { class: "dvi-hint" });
    const clear = h("button", { type: "button", class: "dvi-link",
      onclick: () => store.set({ fl: [], fp: [], fc: "all", fb: false, fn: false, split: "all", dfilter: "" }) }, "Clear filters");
    this.el = h("section", {}, h("h3", {}, "Filters", clear),
      h("div", { class: "dvi-field" }, h("span", { text: "Label" }), this.fLabel),
      h("div", { class: "dvi-field" }, h("span", { text: "Prediction" }), this.fPred),
      h("div", { class: "dvi-row" }, this.fCorrect),
      h("label", { class: "dvi-check", for: "dvi-fb" }, this.fBoundary, "Near the decision boundary"),
      this.noisyRow, this.info);
    session.on("run", () => this.fillClasses());
    binding.on("encoded", () => this.renderCount());
    session.on("epoch", () => this.renderCount());
    store.subscribe(() => this.render());
    this.render();
  }

  fillClasses() {
    const opts = () => [h("option", { value: "" }, "any"), ...this.session.classNames.map((n, i) => h("option", { value: String(i) }, n))];
    this.fLabel.replaceChildren(...opts());
    this.fPred.replaceChildren(...opts());
    this.noisyRow.hidden = !this.session.run.has_noisy;
    this.render();
  }

  render() {
    const s = this.store.get();
    setSegmented(this.fCorrect, s.fc);
    this.fBoundary.checked = s.fb;
    this.fNoisy.checked = s.fn;
    this.fLabel.value = s.fl.length === 1 ? String(s.fl[0]) : "";
    this.fPred.value = s.fp.length === 1 ? String(s.fp[0]) : "";
  }

  renderCount() {
    const samples = this.session.samples;
    if (!samples) return;
    this.info.textContent = this.map.proj ? `${this.map.visibleCount.toLocaleString()} of ${samples.n.toLocaleString()} samples shown` : "";
  }
}
