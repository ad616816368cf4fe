// Export panel: PNG of the view and SVG of the view (each with a caption and the legend beside
// the map, export_image.js), CSV of the shown epoch, the selected ids.

import { h, download, safeName } from "../ui.js";
import { isWrong, isNearBoundary, isNoisy, countBy, countWrong } from "../encode.js";
import { CORRECT, WRONG } from "../colors.js";
import { catalogue } from "../catalogue.js";
import { RAMP_STOPS } from "../signals.js";
import { LEGEND_W, legendHeight, drawLegend, svgDocument } from "../export_image.js";

const quote = (v) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

/** CSV lines of one epoch (pure: tests/js/export.test.mjs). */
export function epochCsv(s, p, names, mask) {
  const lines = ["id,split,label,label_name,prediction,prediction_name,confidence,x,y,misclassified,near_boundary,noisy,shown"];
  for (let i = 0; i < s.n; i++) {
    lines.push([s.ids[i], s.split[i] ? "test" : "train", s.labels[i], quote(names[s.labels[i]] ?? ""), p.predictions[i],
      quote(names[p.predictions[i]] ?? ""), p.confidence[i].toFixed(5), p.coords[2 * i].toPrecision(7), p.coords[2 * i + 1].toPrecision(7),
      isWrong(p, i) ? 1 : 0, isNearBoundary(p, i) ? 1 : 0, isNoisy(s, p, i) ? 1 : 0, mask && !mask[i] ? 0 : 1].join(","));
  }
  return lines.join("\n") + "\n";
}

export class ExportPanel {
  constructor({ store, session, map, panels }) {
    Object.assign(this, { store, session, map, panels });
    const btn = (label, onclick) => h("button", { type: "button", class: "dvi-btn", onclick }, label);
    this.el = h("section", {}, h("h3", { text: "Export" }), h("div", { class: "dvi-exports" },
      btn("PNG of the view", () => this.png()), btn("SVG of the view", () => this.svg()),
      btn("CSV of the epoch", () => this.csv()), btn("Selected ids", () => this.ids())));
  }

  /** The legend of what the map shows (export_image.js): class colours with counts, or the signal ramp. */
  legend() {
    const s = this.store.get(), session = this.session, map = this.map, proj = map.proj, mask = map.mask;
    const dyn = this.panels.get("dynamics"), d = dyn && dyn._derived, key = s.colorby.replace(/^signal:/, "");
    const wrong = countWrong(proj, mask);
    if (s.colorby && d && d.colors && d.domain[key]) {
      const sig = catalogue().signal[key] || { label: key };
      return { title: `Colour: ${sig.label}`, rows: [], ramp: { stops: RAMP_STOPS, lo: d.domain[key].lo, hi: d.domain[key].hi },
        notes: [`light ring: misclassified (${wrong.toLocaleString("en-US")})`] };
    }
    const notes = [`dark ring: misclassified (${wrong.toLocaleString("en-US")})`];
    if (s.color === "correct") {
      const shown = mask ? mask.reduce((a, v) => a + v, 0) : session.samples.n;
      return { title: "Colour: correctness", rows: [{ color: CORRECT, label: "correct", count: shown - wrong }, { color: WRONG, label: "misclassified", count: wrong }], notes: [] };
    }
    const byPred = s.color === "prediction" && proj;
    const counts = countBy(byPred ? proj.predictions : session.samples.labels, mask, session.run.num_classes);
    return { title: `Colour: ${byPred ? "prediction" : "label"}`, notes,
      rows: session.classNames.map((name, c) => ({ color: session.palette[c], label: name, count: counts[c] })) };
  }

  caption() { return `${this.session.name} · epoch ${this.session.shownEpoch}`; }

  fileBase() { return `dvi-${safeName(this.session.name)}-epoch${this.session.shownEpoch}`; }

  png() {
    const map = this.map, legend = this.legend();
    const view = map.composite();
    const dpr = map.dpr, W = view.width / dpr, H = Math.max(view.height / dpr, legendHeight(legend));
    const c = document.createElement("canvas");
    c.width = Math.round((W + LEGEND_W) * dpr);
    c.height = Math.round(H * dpr);
    const ctx = c.getContext("2d");
    ctx.fillStyle = "#fff";
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.drawImage(view, 0, 0);
    ctx.scale(dpr, dpr);
    const text = this.caption();
    ctx.font = "12px Roboto, Arial, sans-serif";
    ctx.fillStyle = "rgba(255,255,255,0.85)";
    ctx.fillRect(8, 8, ctx.measureText(text).width + 16, 22);
    ctx.fillStyle = "#333";
    ctx.fillText(text, 16, 23);
    drawLegend(ctx, legend, W, 0);
    this.lastExport = { width: c.width, height: c.height, legend };  // for the tests
    c.toBlob((b) => download(b, this.fileBase() + ".png"), "image/png");
  }

  /** The view as SVG: the drawn background embedded as an image, the shown samples as circles. */
  svg() {
    const map = this.map, n = map.samples ? map.samples.n : 0;
    if (!map.proj || !n) return;
    map.drawNow();
    const xy = new Float32Array(2 * n), r = new Float32Array(n), wrong = new Uint8Array(n);
    const scale = map.view.sizeScale || 1;
    for (let i = 0; i < n; i++) {
      const [x, y] = map.toScreen(map.pos1[2 * i], map.pos1[2 * i + 1]);
      xy[2 * i] = x; xy[2 * i + 1] = y;
      r[i] = (map.style[2 * i] * 0.25 * scale) / 2;
      wrong[i] = map.style[2 * i + 1] === 1 || map.style[2 * i + 1] === 4 ? 1 : 0;
    }
    const signal = !!(this.store.get().colorby && map.encoding.colors);
    const doc = svgDocument({
      width: map.cssW, height: map.cssH, caption: this.caption(), legend: this.legend(),
      background: map.showBackground && map.bg ? map.bgCanvas.toDataURL("image/png") : null,
      points: { n, xy, r, rgba: map.color1, wrong, wrongStroke: signal ? "#d0d0d0" : "#222", order: map.encoding.order || null, selected: map.selectedIdx },
    });
    this.lastSvg = doc;  // for the tests
    download(new Blob([doc], { type: "image/svg+xml" }), this.fileBase() + ".svg");
  }

  csv() {
    const s = this.session.samples, p = this.map.proj;
    if (!s || !p) return;
    download(new Blob([epochCsv(s, p, this.session.classNames, this.map.mask)], { type: "text/csv" }), this.fileBase() + ".csv");
  }

  ids() {
    const sel = this.store.get().sel;
    if (!sel.length) { this.panels.get("selection").hint("Nothing selected: click a point or drag a box first."); return; }
    download(new Blob([sel.join("\n") + "\n"], { type: "text/plain" }), `dvi-${safeName(this.session.name)}-selection.txt`);
  }
}
