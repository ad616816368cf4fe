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
  ["nn_15_test", "NN@15 test", count(15), "NN@15 as the DVI evaluator defines it for test data: training and test samples embedded together, neighbours among all of them."],
  ["boundary_nn_15", "Boundary NN@15", count(15), "How many of each sample's 15 nearest boundary points (this epoch's border points) stay its nearest boundary points in 2-D (higher is better)."],
  ["ppr_train", "PPR train", pct, "Prediction preserving rate: share of training samples that lie, in 2-D, in the region of the class the model predicts for them (higher is better)."],
  ["ppr_test", "PPR test", pct, "Prediction preserving rate on the test samples."],
  ["temporal_corr_chain", "Temporal r (chain)", num, "Our per-epoch variant of DVI's temporal metric, over the epochs fitted up to this one (more negative is better; needs 4 fitted epochs). The run-level figure below is the reference definition."],
  ["tnn_5_chain", "tnn@5 (chain)", count(5), "Our per-epoch variant of TimeVis tnn@5, with only the epochs up to this one as candidates (needs 7 fitted epochs: with fewer, the top 5 of the other epochs would be all of them). The run-level figure below is the reference definition."],
];
// Run-level figures as the DVI/TimeVis evaluator defines them: every fitted epoch an anchor.
const RUN_ROWS = [
  ["tnn_5", "tnn@5", count(5), "TimeVis tnn@5: for each sample and epoch, how many of its 5 nearest other-epoch versions in high-D are also nearest in 2-D (mean over samples and epochs; higher is better)."],
  ["tr", "tr", num, "Temporal ranking: Spearman's rho between a sample's distances to its other-epoch versions in high-D and in 2-D (mean; higher is better)."],
  ["temporal_corr", "Temporal r", num, "DVI's temporal metric: per sample, Pearson r between how much its 15-neighbourhood changes and how far it moves in 2-D over consecutive epochs, mean over samples (more negative is better)."],
];
// The chart shows everything on one 0–1 scale: counts divided by k.
const CHART_SERIES = [
  { key: "nn_15", label: "NN@15 / 15", color: "#f57c00", scale: 1 / 15 },
  { key: "boundary_nn_15", label: "B-NN@15 / 15", color: "#8e24aa", scale: 1 / 15 },
  { key: "ppr_train", label: "PPR train", color: "#1e88e5" },
  { key: "ppr_test", label: "PPR test", color: "#43a047" },
];

const metricRows = (rows, m) => rows.map(([key, label, f, help]) =>
  h("tr", { title: help, "data-metric": key }, h("td", { text: label }), h("td", { class: "num", text: m ? f(m[key]) : "—" })));

const sentence = (t) => t.charAt(0).toUpperCase() + t.slice(1).replace(/\.?$/, ".");

export class FaithfulnessPanel {
  constructor({ store, session, mapWarning }) {
    this.session = session;
    this.title = h("h3", { text: "Faithfulness" });
    this.table = h("table", { class: "dvi-metrics" });
    this.runTitle = h("h4", { text: "Whole run" });
    this.runTable = h("table", { class: "dvi-metrics", "data-run-metrics": "" });
    // the run-level figures are computed when a fit of the run finishes (engine/fit.py): say so
    // rather than leave a table of dashes while the run is being fitted
    this.runNote = h("p", { class: "dvi-metrics-note", "data-testid": "run-metrics-note", hidden: true,
      text: "Computed when the fit of the run finishes (every fitted epoch an anchor)." });
    this.warn = h("div", { class: "dvi-metrics-warn", hidden: true });
    this.mapWarn = mapWarning;  // the warning box over the map (tab.js)
    const chartBox = h("div", {});
    this.el = h("section", {}, this.title, this.warn, this.table, this.runTitle, this.runNote, this.runTable, chartBox);
    this.chart = new MetricsChart(chartBox, { series: CHART_SERIES, onPick: (ep) => store.set({ epoch: ep }) });
    session.on("metrics", (m) => { this.chart.setData(m.epochs, m.metrics); this.render(); });
    session.on("epoch", () => this.render());
  }

  render() {
    const ep = this.session.shownEpoch;
    const m = ep === null ? null : this.session.metricsOf(ep);
    this.chart.setCurrent(ep);
    this.title.textContent = ep === null ? "Faithfulness" : `Faithfulness · epoch ${ep}`;
    this.table.replaceChildren(...metricRows(METRIC_ROWS, m));
    const run = this.session.metrics.run;
    const covered = run && run.epochs && run.epochs.length ? run.epochs : null;
    this.runTitle.textContent = covered ? `Whole run · epochs ${covered[0]}–${covered[covered.length - 1]}` : "Whole run";
    this.runTable.replaceChildren(...metricRows(RUN_ROWS, covered ? run : null));
    this.runNote.hidden = !!covered || ep === null;
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
