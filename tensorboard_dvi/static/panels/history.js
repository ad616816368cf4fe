// History of the focused sample (`GET history`): its label, the prediction and the confidence at
// every logged epoch as a small SVG chart (confidence line, probability of the label dashed, one
// dot per epoch in the predicted class's colour, the shown epoch marked).

import { h } from "../ui.js";
import { errorText } from "../api.js";
import { focusedIndex } from "./focus.js";

const W = 256, H = 96, PAD = { l: 26, r: 6, t: 8, b: 18 };
const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

/** Changes of prediction as text: "5 at 1–2 · 3 at 3–8". */
export function predictionRuns(epochs, preds, names) {
  const out = [];
  for (let i = 0; i < preds.length; i++) {
    if (i && preds[i] === preds[i - 1]) { out[out.length - 1].end = epochs[i]; continue; }
    out.push({ c: preds[i], start: epochs[i], end: epochs[i] });
  }
  return out.map((r) => `${names[r.c] ?? r.c} at ${r.start === r.end ? r.start : `${r.start}–${r.end}`}`).join(" · ");
}

export class HistoryPanel {
  constructor({ api, session, binding }) {
    Object.assign(this, { api, session, binding });
    this.key = null;
    this.info = h("div", { class: "dvi-hint" });
    this.chart = h("div", { class: "dvi-history" });
    this.el = h("section", { class: "dvi-hist", hidden: true }, h("h3", { text: "History of the sample" }), this.info, this.chart);
    binding.on("selection", () => this.load());
    session.on("epoch", () => { if (this.data) this.draw(this.data); });
  }

  render() {}

  async load() {
    const i = focusedIndex(this.binding);
    this.el.hidden = i < 0;
    if (i < 0) { this.key = null; this.data = null; return; }
    const run = this.session.name, id = this.session.samples.ids[i], key = `${run}|${id}`;
    if (key === this.key) return;
    this.key = key;
    try {
      const r = await this.api.history(run, id);
      if (this.key === key) { this.data = r; this.draw(r); }
    } catch (e) {
      this.info.textContent = errorText(e, "Could not load the history");
      this.chart.replaceChildren();
    }
  }

  draw(r) {
    const { palette, classNames: names } = this.session;
    const n = r.epochs.length, shown = this.session.shownEpoch;
    const x = (k) => PAD.l + (n > 1 ? (k / (n - 1)) * (W - PAD.l - PAD.r) : (W - PAD.l - PAD.r) / 2);
    const y = (p) => PAD.t + (1 - p) * (H - PAD.t - PAD.b);
    const el = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img", "aria-label": "confidence per epoch" });
    for (const p of [0, 0.5, 1]) {
      el.append(svg("line", { x1: PAD.l, x2: W - PAD.r, y1: y(p), y2: y(p), class: "grid" }));
      el.append(Object.assign(svg("text", { x: PAD.l - 4, y: y(p) + 3, "text-anchor": "end" }), { textContent: `${p * 100}%` }));
    }
    const k = r.epochs.indexOf(shown);
    if (k >= 0) el.append(svg("line", { x1: x(k), x2: x(k), y1: PAD.t, y2: H - PAD.b, class: "now" }));
    const path = (vals) => vals.map((v, j) => `${j ? "L" : "M"}${x(j).toFixed(1)},${y(v).toFixed(1)}`).join("");
    el.append(svg("path", { d: path(r.label_prob), class: "labelp" }), svg("path", { d: path(r.confidence), class: "conf" }));
    r.epochs.forEach((e, j) => {
      const dot = svg("circle", { cx: x(j), cy: y(r.confidence[j]), r: 3.5, fill: palette[r.predictions[j]] || "#999",
        class: r.predictions[j] === r.label ? "ok" : "wrong" });
      dot.append(Object.assign(svg("title"), { textContent: `epoch ${e}: ${names[r.predictions[j]]} ${(r.confidence[j] * 100).toFixed(1)}%` }));
      el.append(dot);
    });
    const every = Math.max(1, Math.ceil(n / 8));
    r.epochs.forEach((e, j) => { if (j % every === 0 || j === n - 1) el.append(Object.assign(svg("text", { x: x(j), y: H - 4, "text-anchor": "middle" }), { textContent: String(e) })); });
    const skipped = Object.keys(r.skipped || {});
    this.info.textContent = `#${r.id} labelled ${r.label_name}; predicted ${predictionRuns(r.epochs, r.predictions, names)}` +
      `${skipped.length ? ` (epochs ${skipped.join(", ")} unreadable)` : ""}. Solid: confidence; dashed: probability of the label.`;
    this.chart.replaceChildren(el);
  }
}
