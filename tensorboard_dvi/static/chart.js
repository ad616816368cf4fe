// A small SVG line chart of metrics across epochs (no dependencies).

const SVG = "http://www.w3.org/2000/svg";

function el(name, attrs = {}, parent = null) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (parent) parent.appendChild(e);
  return e;
}

export class MetricsChart {
  /**
   * @param {HTMLElement} container
   * @param {object} opts  series: [{key, label, color}], onPick(epoch)
   */
  constructor(container, { series, onPick = null, height = 150 }) {
    this.series = series;
    this.onPick = onPick;
    this.height = height;
    this.root = document.createElement("div");
    this.root.className = "dvi-chart";
    container.appendChild(this.root);
    this.svg = el("svg", { class: "dvi-chart-svg", height, width: "100%" }, this.root);
    this.legend = document.createElement("div");
    this.legend.className = "dvi-chart-legend";
    this.root.appendChild(this.legend);
    for (const s of series) {
      const item = document.createElement("span");
      item.innerHTML = `<i style="background:${s.color}"></i>`;
      item.append(s.label);
      this.legend.appendChild(item);
    }
    this.data = { epochs: [], metrics: [] };
    this.current = null;
    this.svg.addEventListener("click", (e) => {
      if (!this.onPick || !this.data.epochs.length) return;
      const r = this.svg.getBoundingClientRect();
      const x = e.clientX - r.left;
      let best = null, bestD = Infinity;
      this.data.epochs.forEach((ep, i) => {
        const d = Math.abs(this._x(i) - x);
        if (d < bestD) { bestD = d; best = ep; }
      });
      if (best !== null) this.onPick(best);
    });
    new ResizeObserver(() => this.render()).observe(this.root);
  }

  setData(epochs, metrics) { this.data = { epochs, metrics }; this.render(); }
  setCurrent(epoch) { this.current = epoch; this.render(); }

  _x(i) {
    const n = this.data.epochs.length;
    const w = this.w;
    return n <= 1 ? w / 2 : this.pad.l + (i * (w - this.pad.l - this.pad.r)) / (n - 1);
  }

  render() {
    const svg = this.svg;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    this.w = this.root.clientWidth || 260;
    const w = this.w, h = this.height;
    this.pad = { l: 30, r: 8, t: 8, b: 20 };
    const { epochs, metrics } = this.data;
    const y = (v) => this.pad.t + (1 - v) * (h - this.pad.t - this.pad.b);
    for (const v of [0, 0.5, 1]) {
      el("line", { x1: this.pad.l, x2: w - this.pad.r, y1: y(v), y2: y(v), class: "grid" }, svg);
      el("text", { x: this.pad.l - 5, y: y(v) + 3, class: "tick", "text-anchor": "end" }, svg).textContent = v.toFixed(1);
    }
    if (!epochs.length) {
      el("text", { x: w / 2, y: h / 2, class: "empty", "text-anchor": "middle" }, svg).textContent = "no fitted epochs yet";
      return;
    }
    // poor epochs: a red band
    metrics.forEach((m, i) => {
      if (m && m.poor) {
        const x = this._x(i);
        el("rect", { x: x - 4, y: this.pad.t, width: 8, height: h - this.pad.t - this.pad.b, class: "poor" }, svg);
      }
    });
    const ci = epochs.indexOf(this.current);
    if (ci >= 0) {
      const x = this._x(ci);
      el("line", { x1: x, x2: x, y1: this.pad.t, y2: h - this.pad.b, class: "cursor" }, svg);
    }
    const step = Math.max(1, Math.ceil(epochs.length / 8));
    epochs.forEach((ep, i) => {
      if (i % step === 0 || i === epochs.length - 1) {
        el("text", { x: this._x(i), y: h - 6, class: "tick", "text-anchor": "middle" }, svg).textContent = ep;
      }
    });
    for (const s of this.series) {
      let d = "";
      let pen = false;
      metrics.forEach((m, i) => {
        const v = m && m[s.key] !== null && m[s.key] !== undefined ? m[s.key] * (s.scale || 1) : null;
        if (v === null || !Number.isFinite(v)) { pen = false; return; }
        d += `${pen ? "L" : "M"}${this._x(i).toFixed(1)},${y(Math.max(0, Math.min(1, v))).toFixed(1)}`;
        pen = true;
      });
      if (d) el("path", { d, stroke: s.color, class: "series" }, svg);
      metrics.forEach((m, i) => {
        const v = m && m[s.key] !== null && m[s.key] !== undefined ? m[s.key] * (s.scale || 1) : null;
        if (v === null || !Number.isFinite(v)) return;
        el("circle", { cx: this._x(i), cy: y(Math.max(0, Math.min(1, v))), r: i === ci ? 3.2 : 1.8, fill: s.color }, svg);
      });
    }
  }
}
