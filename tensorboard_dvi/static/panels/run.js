// Run panel: the run picker, a one-line summary of the open run, and a row for actions on it
// (`actions`: "Compare runs" adds its button there).

import { h } from "../ui.js";

export class RunPanel {
  constructor({ session, store }) {
    this.session = session;
    this.store = store;
    this.select = h("select", { class: "dvi-select", "aria-label": "Run",
      onchange: (e) => store.set({ run: e.target.value, epoch: null, sel: [], fl: [], fp: [] }) });
    this.info = h("div", { class: "dvi-runinfo" });
    this.actions = h("div", { class: "dvi-row", hidden: true });
    this.el = h("section", {}, h("h3", { text: "Run" }), this.select, this.info, this.actions);
    // "N epochs logged" follows live training: the runs list and the status both carry the epochs.
    session.on("runs", () => { this.renderOptions(); this.render(); });
    session.on("run", () => this.render());
    session.on("job", () => this.render());
    store.subscribe((s, changed) => { if (changed.has("run") && s.run) this.select.value = s.run; });
  }

  /** Adds a button (or any element) to the run's action row. */
  addAction(el) { this.actions.append(el); this.actions.hidden = false; }

  renderOptions() {
    const names = this.session.runs.map((r) => r.name);
    if ([...this.select.options].map((o) => o.value).join("\n") !== names.join("\n")) {
      this.select.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
    }
    if (this.session.run) this.select.value = this.session.run.name;
  }

  render() {
    const { run: entry, samples } = this.session;
    if (!entry || !samples) { this.info.textContent = ""; return; }
    this.select.value = entry.name;
    const nTrain = entry.n_train ?? 0, nTest = entry.n_test ?? 0;
    this.info.textContent = `${samples.n.toLocaleString()} samples (${nTrain.toLocaleString()} train, ` +
      `${nTest.toLocaleString()} test) · ${entry.num_classes} classes · ${entry.dim}-d · ${entry.epochs.length} epochs logged`;
  }
}
