// Export panel: PNG of the view (with a caption), CSV of the shown epoch, the selected ids.

import { h, download, safeName } from "../ui.js";
import { isWrong, isNearBoundary, isNoisy } from "../encode.js";

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
      btn("PNG of the view", () => this.png()), btn("CSV of the epoch", () => this.csv()), btn("Selected ids", () => this.ids())));
  }

  fileBase() { return `dvi-${safeName(this.session.name)}-epoch${this.session.shownEpoch}`; }

  png() {
    const s = this.store.get();
    const canvas = this.map.composite((ctx, dpr) => {
      ctx.save();
      ctx.scale(dpr, dpr);
      const text = `${this.session.name} · epoch ${this.session.shownEpoch} · colour: ${s.color}`;
      ctx.font = "12px Roboto, Arial, sans-serif";
      const w = ctx.measureText(text).width + 16;
      ctx.fillStyle = "rgba(255,255,255,0.85)";
      ctx.fillRect(8, 8, w, 22);
      ctx.fillStyle = "#333";
      ctx.fillText(text, 16, 23);
      ctx.restore();
    });
    canvas.toBlob((b) => download(b, this.fileBase() + ".png"), "image/png");
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
