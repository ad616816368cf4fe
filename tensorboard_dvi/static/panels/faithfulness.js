// Faithfulness panel: the engine's metrics of the shown epoch, a chart across epochs (click an
// epoch to show it) and, for a map the engine flags as poor, a warning in the panel and on the map.

import { h } from "../ui.js";
import { MetricsChart } from "../chart.js";

// Units follow the engine (docs/HTTP_API.md): NN@k and boundary NN@k are counts in [0, k],
// PPR a fraction, the temporal correlation a Pearson r (more negative is better).
const missing = (v) => v === null || v === undefined || !Number.isFinite(v);
const count = (k) => (v) => (missing(v) ? "—" : `${v.toFixed(2)} / ${k}`);
const pct = (v) => (missing(v) ? "—" : `${(100 * v).toFixed(1)}%`);
const num = (v) => (missing(v) ? "—" : v.toFixed(3));
const METRIC_ROWS = [
  ["nn_15", "NN@15", count(15), "Neighbourhood preservation: how many of each sample's 15 nearest neighbours (itself included) stay among its 15 nearest in 2-D (mean; higher is better)."],
  ["boundary_nn_15", "Boundary NN@15", count(15), "How many of each sample's 15 nearest boundary points stay its nearest boundary points in 2-D (higher is better)."],
  ["ppr_train", "PPR train", pct, "Prediction preserving rate: share of training samples that lie, in 2-D, in the region of the class the model predicts for them (higher is better)."],
  ["ppr_test", "PPR test", pct, "Prediction preserving rate on the test samples."],
  ["temporal_corr", "Temporal", num, "DVI's temporal metric: correlation between how much a sample's neighbourhood changes and how far it moves in 2-D between epochs (more negative is better; needs 4 fitted epochs)."],
  ["tnn_5", "Temporal NN@5", count(5), "TimeVis tnn@5: temporal neighbours (across epochs) kept in 2-D (higher is better)."],
];
// The chart shows everything on one 0–1 scale: counts divided by k.
const CHART_SERIES = [
  { key: "nn_15", label: "NN@15 / 15", color: "#f57c00", scale: 1 / 15 },
  { key: "boundary_nn_15", label: "B-NN@15 / 15", color: "#8e24aa", scale: 1 / 15 },
  { key: "ppr_train", label: "PPR train", color: "#1e88e5" },
  { key: "ppr_test", label: "PPR test", color: "#43a047" },
];

const sentence = (t) => t.charAt(0).toUpperCase() + t.slice(1).replace(/\.?$/, ".");

export class FaithfulnessPanel {
  constructor({ store, session, mapWarning }) {
    this.session = session;
    this.title = h("h3", { text: "Faithfulness" });
    this.table = h("table", { class: "dvi-metrics" });
    this.warn = h("div", { class: "dvi-metrics-warn", hidden: true });
    this.mapWarn = mapWarning;  // the warning box over the map (tab.js)
    const chartBox = h("div", {});
    this.el = h("section", {}, this.title, this.warn, this.table, chartBox);
    this.chart = new MetricsChart(chartBox, { series: CHART_SERIES, onPick: (ep) => store.set({ epoch: ep }) });
    session.on("metrics", (m) => { this.chart.setData(m.epochs, m.metrics); this.render(); });
    session.on("epoch", () => this.render());
  }

  render() {
    const ep = this.session.shownEpoch;
    const m = ep === null ? null : this.session.metricsOf(ep);
    this.chart.setCurrent(ep);
    this.title.textContent = ep === null ? "Faithfulness" : `Faithfulness · epoch ${ep}`;
    this.table.replaceChildren(...METRIC_ROWS.map(([key, label, f, help]) =>
      h("tr", { title: help, "data-metric": key }, h("td", { text: label }), h("td", { class: "num", text: m ? f(m[key]) : "—" }))));
    const poor = !!(m && m.poor);
    this.warn.hidden = !poor;
    this.mapWarn.hidden = !poor;
    if (!poor) return;
    const warns = (m.warnings && m.warnings.length) ? m.warnings : ["some faithfulness metrics are low"];
    this.warn.replaceChildren(h("b", { text: "⚠ Poor faithfulness at this epoch" }),
      h("ul", {}, ...warns.map((w) => h("li", { text: sentence(w) }))));
    this.mapWarn.replaceChildren(h("b", { text: `⚠ Epoch ${ep}: this map is not faithful. ` }),
      h("span", { text: `${sentence(warns[0])}${warns.length > 1 ? ` ${warns.length - 1} more in the Faithfulness panel.` : ""} Treat distances and regions with care.` }));
  }
}
