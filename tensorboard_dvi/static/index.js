// Entry point of the DVI tab. TensorBoard imports this module inside the plugin iframe
// (<base href="plugin/dvi/">) and calls render().

import { Api, ApiError } from "./api.js";
import { Store, DEFAULTS, readUrlState, bindUrl } from "./store.js";
import { MapView } from "./map.js";
import { MetricsChart } from "./chart.js";
import { classPalette, CORRECT, WRONG } from "./colors.js";
import { countBy, FLAG_WRONG, FLAG_BOUNDARY, FLAG_NOISY } from "./encode.js";
import { DynamicsPanel } from "./dynamics.js";
import { CompareView } from "./compare.js";
import { h } from "./ui.js";

const POLL_MS = 1500;
const RUNS_POLL_MS = 10000;
const MAX_TRAILS = 300;
const DWELL_MS = 350;

// Units follow the engine (docs/HTTP_API.md): NN@k and boundary NN@k are counts in [0, k],
// PPR a fraction, the temporal correlation a Pearson r (more negative is better).
const count = (k) => (v) => (v === null || v === undefined || !Number.isFinite(v) ? "—" : `${v.toFixed(2)} / ${k}`);
const pct = (v) => (v === null || v === undefined || !Number.isFinite(v) ? "—" : `${(100 * v).toFixed(1)}%`);
const num = (v) => (v === null || v === undefined || !Number.isFinite(v) ? "—" : v.toFixed(3));
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

const ICONS = {
  play: "M8 5v14l11-7z",
  pause: "M6 19h4V5H6v14zm8-14v14h4V5h-4z",
  prev: "M6 6h2v12H6zm3.5 6l8.5 6V6z",
  next: "M6 18l8.5-6L6 6v12zM16 6v12h2V6h-2z",
};
function icon(name) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "22");
  svg.setAttribute("height", "22");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", ICONS[name]);
  path.setAttribute("fill", "currentColor");
  svg.appendChild(path);
  return svg;
}


function fmtEta(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return "";
  if (s < 60) return `about ${Math.max(1, Math.round(s))} s left`;
  if (s < 3600) return `about ${Math.round(s / 60)} min left`;
  return `about ${(s / 3600).toFixed(1)} h left`;
}

function download(blob, name) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name, style: "display:none" });
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(url); a.remove(); }, 1000);
}

function errorText(e, what) {
  if (e instanceof ApiError) {
    if (e.status === 0) return `${what}: TensorBoard does not answer. Check that it is still running, then reload this page.`;
    if (e.status === 404) return `${what}: ${e.message}.`;
    if (e.status === 400) return `${what}: the request was refused (${e.message}).`;
    return `${what}: the server failed (HTTP ${e.status}: ${e.message}). See TensorBoard's console output for details.`;
  }
  return `${what}: ${e && e.message ? e.message : e}`;
}

function segmented(name, options, onPick) {
  const wrap = h("div", { class: "dvi-seg", role: "radiogroup", "data-name": name });
  for (const [value, label] of options) {
    wrap.append(h("button", { type: "button", "data-value": value, role: "radio", onclick: () => onPick(value) }, label));
  }
  return wrap;
}

function setSegmented(wrap, value) {
  for (const b of wrap.querySelectorAll("button")) {
    const on = b.dataset.value === value;
    b.classList.toggle("on", on);
    b.setAttribute("aria-checked", on ? "true" : "false");
  }
}

class App {
  constructor(root) {
    this.root = root;
    this.api = new Api("./");
    this.store = new Store(readUrlState());
    this.runs = [];
    this.run = null;          // entry of `runs` for the current run
    this.samples = null;
    this.palette = [];
    this.fitted = [];
    this.metricsAll = { epochs: [], metrics: [] };
    this.shownEpoch = null;
    this.playing = false;
    this._statusTimer = 0;
    this._runLoad = 0;
    this._hoverReq = 0;
    this._build();
    bindUrl(this.store);
    this.store.subscribe((s, changed) => this._onState(s, changed));
    window.__dvi = this;  // for tests and the benchmark
    this.compare = new CompareView(this);  // "Compare runs" (static/compare.js)
  }

  // --------------------------------------------------------------------------- layout
  _build() {
    const s = this.store.get();
    const st = this.store;
    this.el = {};
    const E = this.el;

    E.runSelect = h("select", { class: "dvi-select", "aria-label": "Run", onchange: (e) => this.selectRun(e.target.value) });
    E.runInfo = h("div", { class: "dvi-runinfo" });
    E.color = segmented("color", [["label", "Label"], ["prediction", "Prediction"], ["correct", "Correctness"]],
      (v) => st.set({ color: v, colorby: "" }));
    E.split = segmented("split", [["all", "All"], ["train", "Train"], ["test", "Test"]], (v) => st.set({ split: v }));
    E.bg = h("input", { type: "checkbox", id: "dvi-bg", onchange: (e) => st.set({ bg: e.target.checked }) });
    E.trails = h("input", { type: "checkbox", id: "dvi-trails", onchange: (e) => st.set({ trails: e.target.checked }) });
    E.search = h("input", {
      type: "search", class: "dvi-input", placeholder: "id, ids (1,2,3) or class name",
      "aria-label": "Search by id or class", onkeydown: (e) => { if (e.key === "Enter") this.search(e.target.value); },
    });
    E.searchMsg = h("div", { class: "dvi-hint" });
    E.fLabel = h("select", { class: "dvi-select", "aria-label": "Filter by label", onchange: (e) => st.set({ fl: e.target.value === "" ? [] : [Number(e.target.value)] }) });
    E.fPred = h("select", { class: "dvi-select", "aria-label": "Filter by prediction", onchange: (e) => st.set({ fp: e.target.value === "" ? [] : [Number(e.target.value)] }) });
    E.fCorrect = segmented("fc", [["all", "All"], ["correct", "Correct"], ["wrong", "Misclassified"]], (v) => st.set({ fc: v }));
    E.fBoundary = h("input", { type: "checkbox", id: "dvi-fb", onchange: (e) => st.set({ fb: e.target.checked }) });
    E.fNoisy = h("input", { type: "checkbox", id: "dvi-fn", onchange: (e) => st.set({ fn: e.target.checked }) });
    E.noisyRow = h("label", { class: "dvi-check", for: "dvi-fn" }, E.fNoisy, "Noisy labels only");
    E.filterInfo = h("div", { class: "dvi-hint" });
    E.clearFilters = h("button", { type: "button", class: "dvi-link", onclick: () => st.set({ fl: [], fp: [], fc: "all", fb: false, fn: false, split: "all", dfilter: "" }) }, "Clear filters");
    E.legend = h("div", { class: "dvi-legend" });

    this.dyn = new DynamicsPanel(this);  // "Training dynamics" panel (static/dynamics.js)
    const left = h("aside", { class: "dvi-panel dvi-left" },
      h("section", {}, h("h3", { text: "Run" }), E.runSelect, E.runInfo),
      h("section", {}, h("h3", { text: "Colour by" }), E.color,
        h("div", { class: "dvi-row" }, E.split),
        h("label", { class: "dvi-check", for: "dvi-bg" }, E.bg, "Decision regions (background)"),
        h("label", { class: "dvi-check", for: "dvi-trails" }, E.trails, "Trails of the selection")),
      this.dyn.section,
      h("section", {}, h("h3", { text: "Search" }), E.search, E.searchMsg),
      h("section", {}, h("h3", {}, "Filters", E.clearFilters),
        h("div", { class: "dvi-field" }, h("span", { text: "Label" }), E.fLabel),
        h("div", { class: "dvi-field" }, h("span", { text: "Prediction" }), E.fPred),
        h("div", { class: "dvi-row" }, E.fCorrect),
        h("label", { class: "dvi-check", for: "dvi-fb" }, E.fBoundary, "Near the decision boundary"),
        E.noisyRow, E.filterInfo),
      h("section", { class: "dvi-legend-section" }, h("h3", { text: "Legend" }), E.legend),
    );

    // Top bar: epoch controls and map tools.
    E.play = h("button", { type: "button", class: "dvi-icon", title: "Play / pause (space)", "aria-label": "Play", onclick: () => this.togglePlay() }, icon("play"));
    E.prev = h("button", { type: "button", class: "dvi-icon", title: "Previous epoch (←)", "aria-label": "Previous epoch", onclick: () => this.step(-1) }, icon("prev"));
    E.next = h("button", { type: "button", class: "dvi-icon", title: "Next epoch (→)", "aria-label": "Next epoch", onclick: () => this.step(1) }, icon("next"));
    E.slider = h("input", { type: "range", class: "dvi-slider", min: 0, max: 0, value: 0, step: 1, "aria-label": "Epoch",
      oninput: (e) => { const ep = this.fitted[Number(e.target.value)]; if (ep !== undefined) st.set({ epoch: ep }); } });
    E.ticks = h("div", { class: "dvi-ticks" });
    E.epochLabel = h("div", { class: "dvi-epoch" });
    E.tools = segmented("tool", [["pan", "Pan"], ["box", "Box"], ["lasso", "Lasso"]], (v) => this.setTool(v));
    E.tools.title = "Drag to pan (Pan), or to select (Box, Lasso). Shift+drag always lassoes; shift+click adds to the selection.";
    E.resetView = h("button", { type: "button", class: "dvi-btn", title: "Fit the view (double-click the map)", onclick: () => this.map.resetView() }, "Fit view");
    const top = h("div", { class: "dvi-topbar" },
      h("div", { class: "dvi-playback" }, E.play, E.prev, h("div", { class: "dvi-sliderwrap" }, E.slider, E.ticks), E.next, E.epochLabel),
      h("div", { class: "dvi-tools" }, E.tools, E.resetView));

    E.progress = h("div", { class: "dvi-progress", hidden: true });
    E.banner = h("div", { class: "dvi-banners" });
    E.mapWrap = h("div", { class: "dvi-mapwrap" });
    E.tooltip = h("div", { class: "dvi-tooltip", hidden: true });
    E.empty = h("div", { class: "dvi-empty", hidden: true });
    E.warn = h("div", { class: "dvi-warn", hidden: true });
    E.mapWrap.append(E.tooltip, E.empty, E.warn);
    const main = h("main", { class: "dvi-main" }, top, E.progress, E.banner, E.mapWrap);

    // Right panel.
    E.metricsTitle = h("h3", { text: "Faithfulness" });
    E.metricsTable = h("table", { class: "dvi-metrics" });
    E.metricsWarn = h("div", { class: "dvi-metrics-warn", hidden: true });
    E.chartBox = h("div", {});
    E.selTitle = h("h3", { text: "Selection" });
    E.selInfo = h("div", { class: "dvi-hint", text: "Click a point, or drag with Box / Lasso (shift+drag)." });
    E.selList = h("div", { class: "dvi-sellist" });
    E.selClear = h("button", { type: "button", class: "dvi-link", onclick: () => st.set({ sel: [] }) }, "Clear");
    E.expPng = h("button", { type: "button", class: "dvi-btn", onclick: () => this.exportPng() }, "PNG of the view");
    E.expCsv = h("button", { type: "button", class: "dvi-btn", onclick: () => this.exportCsv() }, "CSV of the epoch");
    E.expSel = h("button", { type: "button", class: "dvi-btn", onclick: () => this.exportSelection() }, "Selected ids");
    const right = h("aside", { class: "dvi-panel dvi-right" },
      h("section", {}, E.metricsTitle, E.metricsWarn, E.metricsTable, E.chartBox),
      h("section", { class: "dvi-sel-section" }, h("h3", {}, E.selTitle, E.selClear), E.selInfo, E.selList),
      h("section", {}, h("h3", { text: "Export" }), h("div", { class: "dvi-exports" }, E.expPng, E.expCsv, E.expSel)));

    this.root.append(h("div", { class: "dvi-app" }, left, main, right));

    this.map = new MapView(E.mapWrap, {
      onHover: (ev) => this.onHover(ev),
      onSelect: (ev) => this.onSelect(ev),
    });
    E.mapWrap.append(E.tooltip, E.empty, E.warn);  // keep above the canvases
    this.chart = new MetricsChart(E.chartBox, { series: CHART_SERIES, onPick: (ep) => st.set({ epoch: ep }) });

    document.addEventListener("keydown", (e) => this.onKey(e));
    this.setTool("pan");
    this._syncControls(s);
  }

  _syncControls(s) {
    const E = this.el;
    setSegmented(E.color, s.colorby ? "" : s.color);
    setSegmented(E.split, s.split);
    setSegmented(E.fCorrect, s.fc);
    E.bg.checked = s.bg;
    E.trails.checked = s.trails;
    E.fBoundary.checked = s.fb;
    E.fNoisy.checked = s.fn;
    E.fLabel.value = s.fl.length === 1 ? String(s.fl[0]) : "";
    E.fPred.value = s.fp.length === 1 ? String(s.fp[0]) : "";
    if (s.run) E.runSelect.value = s.run;
  }

  setTool(t) {
    this.tool = t;
    setSegmented(this.el.tools, t);
    this.map.setTool(t);
  }

  // --------------------------------------------------------------------------- startup
  async start() {
    this._showEmpty("Loading runs…", true);
    try {
      await this.refreshRuns();
    } catch (e) {
      this._showEmpty(errorText(e, "Could not list the runs"), false, true);
      return;
    }
    this._started = true;
    setInterval(() => this.refreshRuns().catch(() => {}), RUNS_POLL_MS);
    if (!this.runs.length) return;
    const s = this.store.get();
    const want = this.runs.find((r) => r.name === s.run) ? s.run : this.runs[0].name;
    const missing = s.run && s.run !== want ? s.run : null;
    const loading = this.loadRun(want, !missing);
    if (missing) this._banner("info", `Run "${missing}" from the link is not in this logdir; showing "${want}".`);
    await loading;
  }

  async refreshRuns() {
    const data = await this.api.runs();
    this.runs = data.runs || [];
    const sel = this.el.runSelect;
    const names = this.runs.map((r) => r.name);
    if ([...sel.options].map((o) => o.value).join("\n") !== names.join("\n")) {
      sel.replaceChildren(...this.runs.map((r) => h("option", { value: r.name }, r.name)));
      if (this.run) sel.value = this.run.name;
    }
    if (!this.runs.length) {
      this._showEmpty("No DVI data in this logdir yet. Log representations during training with " +
        "tensorboard_dvi.DVIWriter (see the README); runs appear here automatically.", false);
      return;
    }
    if (!this.run && this._started) {
      // the first run appeared while the tab was open
      const s = this.store.get();
      const want = this.runs.find((r) => r.name === s.run) ? s.run : this.runs[0].name;
      this.loadRun(want, want === s.run);
      return;
    }
    // Live training: new epochs logged (or fitted elsewhere) since the last status poll.
    const cur = this.run && this.runs.find((r) => r.name === this.run.name);
    if (cur) {
      const changed = cur.epochs.length !== this.run.epochs.length || (cur.fitted || []).length !== this.fitted.length;
      this.run.damaged = cur.damaged;
      if (changed && !this._statusTimer) this.pollStatus();
    }
  }

  selectRun(name) {
    if (this.run && this.run.name === name) return;
    this.loadRun(name, false);
  }

  async loadRun(name, keepUrlState) {
    const token = ++this._runLoad;
    this.stopPlay();
    const entry = this.runs.find((r) => r.name === name);
    if (!entry) return;
    this.run = entry;
    this.el.runSelect.value = name;
    const patch = { run: name };
    if (!keepUrlState) Object.assign(patch, { epoch: null, sel: [], fl: [], fp: [] });
    this.store.set(patch);
    this._clearBanners();
    this.fitted = [];
    this.shownEpoch = null;
    this.map.setSource(null);
    this._showEmpty("Loading samples…", true);
    let samples;
    try {
      samples = await this.api.samples(name);
    } catch (e) {
      if (token === this._runLoad) this._showEmpty(errorText(e, `Could not load the samples of run "${name}"`), false, true);
      return;
    }
    if (token !== this._runLoad) return;
    this.samples = samples;
    this.palette = classPalette(entry.num_classes);
    this.classNames = entry.class_names && entry.class_names.length ? entry.class_names
      : Array.from({ length: entry.num_classes }, (_, i) => String(i));
    this._fillClassSelects();
    this.el.noisyRow.hidden = !entry.has_noisy;
    const nTrain = entry.n_train ?? 0, nTest = entry.n_test ?? 0;
    this.el.runInfo.textContent = `${samples.n.toLocaleString()} samples (${nTrain.toLocaleString()} train, ` +
      `${nTest.toLocaleString()} test) · ${entry.num_classes} classes · ${entry.dim}-d · ${entry.epochs.length} epochs logged`;
    this.source = {
      samples, palette: this.palette,
      projection: (e) => this.api.projection(name, e),
      background: (e) => this.api.background(name, e).then((bg) => {
        if (bg.palette && !this._paletteFromServer) {
          this._paletteFromServer = true;
          this.palette = classPalette(entry.num_classes, bg.palette);
          this.source.palette = this.palette;
          this._applyEncoding();
        }
        return bg;
      }),
    };
    this._paletteFromServer = false;
    this.map.setSource(this.source);
    this._applyEncoding();
    this.map.setBackgroundVisible(this.store.get().bg);
    this.dyn.onRun();
    this._selectionChanged();
    await this.pollStatus(true);
  }

  _fillClassSelects() {
    const opts = () => [h("option", { value: "" }, "any"), ...this.classNames.map((n, i) => h("option", { value: String(i) }, n))];
    this.el.fLabel.replaceChildren(...opts());
    this.el.fPred.replaceChildren(...opts());
    this._syncControls(this.store.get());
  }

  // --------------------------------------------------------------------------- fitting status
  async pollStatus(first = false) {
    clearTimeout(this._statusTimer);
    if (!this.run) return;
    const name = this.run.name;
    let st;
    try {
      st = await this.api.status(name);
    } catch (e) {
      if (this.run && this.run.name === name) {
        this._renderProgress(null, errorText(e, "Could not get the fitting status"));
        this._statusTimer = setTimeout(() => { this._statusTimer = 0; this.pollStatus(); }, POLL_MS * 3);
      }
      return;
    }
    if (!this.run || this.run.name !== name) return;
    this.job = st;
    const fitted = (st.fitted || []).slice().sort((a, b) => a - b);
    const grew = fitted.length !== this.fitted.length || fitted.some((e, i) => e !== this.fitted[i]);
    this.fitted = fitted;
    if (st.epochs) this.run.epochs = st.epochs;
    this._renderProgress(st);
    if (grew || first) {
      this._renderSlider();
      this.refreshMetrics();
      if (this.store.get().sel.length) this._loadTrails();
    }
    if (grew || first || this.shownEpoch === null) this._ensureEpoch();
    this._statusTimer = 0;
    if (st.state === "queued" || st.state === "running") {
      this._statusTimer = setTimeout(() => { this._statusTimer = 0; this.pollStatus(); }, POLL_MS);
    }
  }

  _renderProgress(job, err = null) {
    const P = this.el.progress;
    P.replaceChildren();
    P.className = "dvi-progress";
    if (err) {
      P.hidden = false;
      P.classList.add("error");
      P.append(h("span", { class: "dvi-progress-msg", text: err }));
      return;
    }
    if (!job) { P.hidden = true; return; }
    const total = job.epochs_total || (this.run ? this.run.epochs.length : 0) || 1;
    const done = Math.max(job.epochs_done ?? 0, this.fitted.length);
    const pct = Math.max(0, Math.min(100, (100 * done) / total));
    const bar = h("div", { class: "dvi-bar" }, h("div", { class: "dvi-bar-fill", style: `width:${pct.toFixed(1)}%` }));
    const name = this.run.name;
    if (job.state === "queued" || job.state === "running") {
      P.hidden = false;
      const stage = job.state === "queued" ? "Waiting for a worker" : (job.message || `Fitting epoch ${job.epoch}`);
      P.append(
        h("div", { class: "dvi-progress-text" },
          h("b", { text: "Fitting the visualizer" }),
          h("span", { text: ` · ${stage} · ${done} of ${total} epochs ready` }),
          h("span", { class: "dvi-eta", text: job.eta_s ? ` · ${fmtEta(job.eta_s)}` : "" })),
        bar,
        h("button", { type: "button", class: "dvi-link", onclick: () => this.cancelFit(name) }, "Cancel"));
      bar.classList.toggle("indeterminate", job.state === "queued");
    } else if (job.state === "error") {
      P.hidden = false;
      P.classList.add("error");
      P.append(h("span", { class: "dvi-progress-msg" },
        h("b", { text: "Fitting failed: " }), job.error || job.message || "unknown error",
        ` (${done} of ${total} epochs ready). Fix the cause, then retry.`),
        h("button", { type: "button", class: "dvi-btn", onclick: () => this.startFit(name) }, "Retry"));
    } else if (job.state === "cancelled") {
      P.hidden = false;
      P.classList.add("paused");
      P.append(h("span", { class: "dvi-progress-msg", text: `Fitting was cancelled; ${done} of ${total} epochs are ready.` }),
        h("button", { type: "button", class: "dvi-btn", onclick: () => this.startFit(name) }, "Resume"));
    } else {
      P.hidden = true;
    }
    // damaged epochs
    const damaged = this.run && this.run.damaged ? Object.entries(this.run.damaged) : [];
    this._banner("damaged", damaged.length
      ? `Skipped damaged epoch${damaged.length > 1 ? "s" : ""}: ${damaged.map(([e, why]) => `${e} (${why})`).join("; ")}.`
      : null);
  }

  async startFit(name) {
    try { await this.api.fit(name); } catch (e) { this._banner("error", errorText(e, "Could not start fitting")); }
    this.pollStatus();
  }

  async cancelFit(name) {
    try { await this.api.cancel(name); } catch (e) { this._banner("error", errorText(e, "Could not cancel")); }
    this.pollStatus();
  }

  _renderSlider() {
    const E = this.el;
    const n = this.fitted.length;
    E.slider.max = String(Math.max(0, n - 1));
    E.slider.disabled = n === 0;
    const all = this.run ? this.run.epochs : [];
    const damaged = (this.run && this.run.damaged) || {};
    const poor = new Set(this.metricsAll.metrics.filter((m) => m && m.poor).map((m) => m.epoch));
    const fittedSet = new Set(this.fitted);
    E.ticks.replaceChildren(...all.map((ep) => {
      const cls = damaged[ep] !== undefined ? "damaged" : !fittedSet.has(ep) ? "pending" : poor.has(ep) ? "poor" : "ready";
      const title = `epoch ${ep}: ${cls === "ready" ? "fitted" : cls === "pending" ? "not fitted yet" : cls === "poor" ? "fitted, poor faithfulness" : "damaged: " + damaged[ep]}`;
      return h("span", { class: `tick ${cls}`, title, "data-epoch": ep, onclick: () => fittedSet.has(ep) && this.store.set({ epoch: ep }) });
    }));
    this._syncSlider();
  }

  _syncSlider() {
    const E = this.el;
    const i = this.fitted.indexOf(this.shownEpoch);
    if (i >= 0) E.slider.value = String(i);
    const all = this.run ? this.run.epochs : [];
    E.epochLabel.replaceChildren(
      h("span", { class: "dvi-epoch-label", text: "Epoch" }),
      h("b", { "data-testid": "epoch", text: this.shownEpoch === null ? "—" : String(this.shownEpoch) }),
      h("span", { class: "dvi-epoch-of", text: all.length ? ` / ${all[all.length - 1]}` : "" }));
    for (const t of E.ticks.children) t.classList.toggle("current", Number(t.dataset.epoch) === this.shownEpoch);
  }

  /** Shows the wanted epoch once fitted; until then the closest fitted one before it. */
  _ensureEpoch() {
    if (!this.fitted.length) {
      const job = this.job || {};
      const msg = job.state === "error" ? "No epoch could be fitted. See the message above."
        : job.state === "cancelled" ? "Fitting was cancelled before any epoch was ready. Press Resume above."
        : "Fitting the visualizer: the first map appears as soon as its epoch is ready.";
      this._showEmpty(msg, job.state === "queued" || job.state === "running");
      return;
    }
    this._showEmpty(null);
    let want = this.store.get().epoch;
    if (want === null || want === undefined) {
      want = this.fitted[0];
      this.store.set({ epoch: want });
      return;  // _onState shows it
    }
    this._showEpoch(want);
  }

  async _showEpoch(want) {
    let ep = want;
    if (!this.fitted.includes(want)) {
      const before = this.fitted.filter((e) => e <= want);
      ep = before.length ? before[before.length - 1] : this.fitted[0];
      const pending = this.run.epochs.includes(want);
      this._banner("epoch", pending ? `Epoch ${want} is not fitted yet; showing epoch ${ep} until it is ready.`
        : `Epoch ${want} was not logged in run "${this.run.name}"; showing epoch ${ep}.`);
    } else {
      this._banner("epoch", null);
    }
    const animate = this.shownEpoch !== null;
    this.shownEpoch = ep;
    this._syncSlider();
    try {
      const shown = await this.map.showEpoch(ep, { animate });
      if (shown === false) return;
    } catch (e) {
      if (e instanceof ApiError && e.notFitted) { this.pollStatus(); return; }
      this._banner("error", errorText(e, `Could not load epoch ${ep}`));
      return;
    }
    this._banner("error", null);
    this._afterEpochShown();
    // prefetch the neighbours so stepping is instant
    const i = this.fitted.indexOf(ep);
    for (const j of [i + 1, i - 1, i + 2]) {
      const e2 = this.fitted[j];
      if (e2 !== undefined) {
        this.api.projection(this.run.name, e2).catch(() => {});
        this.api.background(this.run.name, e2).catch(() => {});
      }
    }
  }

  _afterEpochShown() {
    this._updateLegend();
    this._renderMetrics();
    this._renderSelection();
    this.chart.setCurrent(this.shownEpoch);
    this.root.dataset.epoch = String(this.shownEpoch);
    this.dyn.onEpochShown();
  }

  // --------------------------------------------------------------------------- state → view
  _onState(s, changed) {
    this._syncControls(s);
    if (changed.has("epoch") && this.run && this.fitted.length && s.epoch !== null) this._showEpoch(s.epoch);
    if (["color", "split", "fl", "fp", "fc", "fb", "fn"].some((k) => changed.has(k))) {
      this._applyEncoding();
      this._updateLegend();
    }
    if (changed.has("bg")) this.map.setBackgroundVisible(s.bg);
    if (changed.has("sel") || changed.has("trails")) this._selectionChanged();
  }

  _filterSpec(s = this.store.get()) {
    return { split: s.split, labels: s.fl, preds: s.fp, correct: s.fc, boundary: s.fb, noisy: s.fn, extra: this.dyn ? this.dyn.mask() : null };
  }

  _applyEncoding() {
    if (!this.samples) return;
    const s = this.store.get();
    const n0 = this.samples.n;
    const ps = n0 <= 3000 ? 7 : n0 <= 20000 ? 5 : 3.5;
    this.map.setEncoding({ colorMode: s.color, filter: this._filterSpec(s), pointSize: ps, ...(this.dyn ? this.dyn.encoding(ps) : {}) });
    const n = this.samples.n;
    const vis = this.map.visibleCount;
    this.el.filterInfo.textContent = this.map.proj ? `${vis.toLocaleString()} of ${n.toLocaleString()} samples shown` : "";
  }

  _selectionIndices() {
    if (!this.samples) return [];
    const out = [];
    for (const id of this.store.get().sel) {
      const i = this.samples.indexOf(id);
      if (i >= 0) out.push(i);
    }
    return out;
  }

  _selectionChanged() {
    if (!this.samples) return;
    this.map.setEncoding({ selection: this._selectionIndices() });
    this._loadTrails();
    this._renderSelection();
  }

  async _loadTrails() {
    const s = this.store.get();
    const ids = s.sel.filter((id) => this.samples && this.samples.indexOf(id) >= 0).slice(0, MAX_TRAILS);
    if (!s.trails || !ids.length || !this.fitted.length) {
      this._trailKey = null;
      this.map.setTrails(null);
      this.root.dataset.trails = "0";
      return;
    }
    const key = this.run.name + "|" + ids.join(",") + "|" + this.fitted.join(",");
    if (key === this._trailKey) return;
    this._trailKey = key;
    try {
      const tr = await this.api.trajectories(this.run.name, ids);
      if (key !== this._trailKey) return;
      const indices = tr.ids.map((id) => this.samples.indexOf(id));
      const colors = indices.map((i) => this.palette[this.samples.labels[i]] || "#333");
      // keep only epochs that are fitted (positions null elsewhere)
      this.map.setTrails({ epochs: tr.epochs, positions: tr.positions, colors, indices });
      this.root.dataset.trails = String(ids.length);
    } catch (e) {
      this._trailKey = null;
      this._banner("error", errorText(e, "Could not load the trajectories"));
    }
  }

  _updateLegend() {
    const L = this.el.legend;
    if (!this.samples || !this.run) { L.replaceChildren(); return; }
    if (this.dyn && this.dyn.renderLegend(L)) { this._applyEncodingInfo(); return; }  // colour by a signal
    const s = this.store.get();
    const mask = this.map.mask;
    const proj = this.map.proj;
    const rows = [];
    if (s.color === "correct") {
      let ok = 0, bad = 0;
      if (proj) for (let i = 0; i < this.samples.n; i++) if (!mask || mask[i]) (proj.flags[i] & FLAG_WRONG) ? bad++ : ok++;
      rows.push(h("div", { class: "dvi-legend-row", onclick: () => this.store.set({ fc: s.fc === "correct" ? "all" : "correct" }) },
        h("i", { style: `background:${CORRECT}` }), h("span", { text: "Correct" }), h("b", { text: ok.toLocaleString() })));
      rows.push(h("div", { class: "dvi-legend-row", onclick: () => this.store.set({ fc: s.fc === "wrong" ? "all" : "wrong" }) },
        h("i", { class: "wrong", style: `background:${WRONG}` }), h("span", { text: "Misclassified" }), h("b", { text: bad.toLocaleString() })));
    } else {
      const byPred = s.color === "prediction" && proj;
      const counts = countBy(byPred ? proj.predictions : this.samples.labels, mask, this.run.num_classes);
      const key = byPred ? "fp" : "fl";
      const active = new Set(s[key]);
      this.classNames.forEach((name, c) => {
        rows.push(h("div", {
          class: `dvi-legend-row${active.size && !active.has(c) ? " off" : ""}`, title: `Show only ${byPred ? "predicted" : "labelled"} "${name}" (click again for all)`,
          onclick: () => this.store.set({ [key]: active.size === 1 && active.has(c) ? [] : [c] }),
        }, h("i", { style: `background:${this.palette[c]}` }), h("span", { text: name }), h("b", { text: counts[c].toLocaleString() })));
      });
    }
    let wrong = 0;
    if (proj) for (let i = 0; i < this.samples.n; i++) if ((!mask || mask[i]) && (proj.flags[i] & FLAG_WRONG)) wrong++;
    rows.push(h("div", { class: "dvi-legend-note" },
      h("i", { class: "ring" }), h("span", { text: `dark ring${this.samples.n > 3000 ? " / darker dot" : ""}: misclassified (${wrong.toLocaleString()})` })));
    L.replaceChildren(...rows);
    this._applyEncodingInfo();
  }

  _applyEncodingInfo() {
    if (!this.samples) return;
    this.el.filterInfo.textContent = this.map.proj
      ? `${this.map.visibleCount.toLocaleString()} of ${this.samples.n.toLocaleString()} samples shown` : "";
  }

  // --------------------------------------------------------------------------- metrics
  async refreshMetrics() {
    if (!this.run) return;
    const name = this.run.name;
    try {
      const all = await this.api.metrics(name);
      if (!this.run || this.run.name !== name) return;
      this.metricsAll = { epochs: all.epochs || [], metrics: all.metrics || [] };
    } catch (e) {
      this.metricsAll = { epochs: [], metrics: [] };
    }
    this.chart.setData(this.metricsAll.epochs, this.metricsAll.metrics);
    this.chart.setCurrent(this.shownEpoch);
    this._renderMetrics();
    this._renderSliderTicksOnly();
  }

  _renderSliderTicksOnly() {
    const poor = new Set(this.metricsAll.metrics.filter((m) => m && m.poor).map((m) => m.epoch));
    for (const t of this.el.ticks.children) {
      const ep = Number(t.dataset.epoch);
      if (t.classList.contains("ready") || t.classList.contains("poor")) {
        t.classList.toggle("poor", poor.has(ep));
        t.classList.toggle("ready", !poor.has(ep));
      }
    }
  }

  _renderMetrics() {
    const E = this.el;
    const ep = this.shownEpoch;
    const i = this.metricsAll.epochs.indexOf(ep);
    const m = i >= 0 ? this.metricsAll.metrics[i] : null;
    E.metricsTitle.textContent = ep === null ? "Faithfulness" : `Faithfulness · epoch ${ep}`;
    E.metricsTable.replaceChildren(...METRIC_ROWS.map(([key, label, f, help]) =>
      h("tr", { title: help, "data-metric": key }, h("td", { text: label }), h("td", { class: "num", text: m ? f(m[key]) : "—" }))));
    const poor = m && m.poor;
    E.metricsWarn.hidden = !poor;
    E.warn.hidden = !poor;
    if (poor) {
      const warns = (m.warnings && m.warnings.length) ? m.warnings : ["some faithfulness metrics are low"];
      const cap = (t) => t.charAt(0).toUpperCase() + t.slice(1).replace(/\.?$/, ".");
      E.metricsWarn.replaceChildren(h("b", { text: "⚠ Poor faithfulness at this epoch" }),
        h("ul", {}, ...warns.map((w) => h("li", { text: cap(w) }))));
      E.warn.replaceChildren(h("b", { text: `⚠ Epoch ${ep}: this map is not faithful. ` }),
        h("span", { text: `${cap(warns[0])}${warns.length > 1 ? ` ${warns.length - 1} more in the Faithfulness panel.` : ""} Treat distances and regions with care.` }));
    }
  }

  // --------------------------------------------------------------------------- hover
  onHover(ev) {
    const T = this.el.tooltip;
    clearTimeout(this._hoverTimer);
    if (this.dyn) this.dyn.setHighlight(ev && ev.index >= 0 ? ev.index : -1);  // data map
    if (!ev || !this.samples || !this.map.proj) { T.hidden = true; this.map.setHighlight(-1); return; }
    const s = this.samples;
    const proj = this.map.proj;
    const place = () => {
      T.hidden = false;
      const W = this.el.mapWrap.clientWidth, H = this.el.mapWrap.clientHeight;
      const tw = T.offsetWidth, th = T.offsetHeight;
      let x = ev.px + 14, y = ev.py + 14;
      if (x + tw > W - 4) x = ev.px - tw - 14;
      if (y + th > H - 4) y = ev.py - th - 14;
      T.style.left = `${Math.max(4, x)}px`;
      T.style.top = `${Math.max(4, y)}px`;
    };
    if (ev.index >= 0) {
      const i = ev.index;
      this.map.setHighlight(i);
      const id = s.ids[i];
      const label = s.labels[i], pred = proj.predictions[i];
      const flags = proj.flags[i];
      const wrong = (flags & FLAG_WRONG) !== 0;
      const tags = [];
      if (wrong) tags.push(h("span", { class: "tag wrong", text: "misclassified" }));
      if (flags & FLAG_BOUNDARY) tags.push(h("span", { class: "tag", text: "near boundary" }));
      if ((flags & FLAG_NOISY) || (s.noisy && s.noisy[i])) tags.push(h("span", { class: "tag noisy", text: "noisy label" }));
      const thumb = this.run.has_thumbnails
        ? h("img", { class: "dvi-thumb", src: this.api.thumbnailUrl(this.run.name, id), alt: "" }) : null;
      if (thumb) thumb.addEventListener("error", () => thumb.remove());
      T.replaceChildren(
        thumb,
        h("div", { class: "dvi-tip-body" },
          h("div", { class: "dvi-tip-title" }, h("b", { text: `#${id}` }), h("span", { class: "dvi-tip-split", text: s.split[i] ? "test" : "train" })),
          h("div", {}, h("span", { class: "k", text: "label " }), h("i", { class: "sw", style: `background:${this.palette[label]}` }), this.classNames[label] ?? String(label)),
          h("div", {}, h("span", { class: "k", text: "prediction " }), h("i", { class: "sw", style: `background:${this.palette[pred]}` }),
            this.classNames[pred] ?? String(pred), h("span", { class: "k", text: ` · ${(proj.confidence[i] * 100).toFixed(1)}%` })),
          tags.length ? h("div", { class: "dvi-tags" }, tags) : null));
      T.dataset.kind = "sample";
      T.dataset.id = String(id);
      place();
    } else {
      this.map.setHighlight(-1);
      if (!this.store.get().bg) { T.hidden = true; return; }
      const run = this.run.name, ep = this.shownEpoch;
      this._hoverTimer = setTimeout(async () => {
        try {
          const r = await this.api.predictAt(run, ep, ev.dataX, ev.dataY);
          if (this.shownEpoch !== ep || !this.run || this.run.name !== run) return;
          if (!r.inside) { T.hidden = true; return; }
          const c = r.class;
          T.replaceChildren(h("div", { class: "dvi-tip-body" },
            h("div", { class: "k", text: "the model predicts here" }),
            h("div", {}, h("i", { class: "sw", style: `background:${this.palette[c]}` }), h("b", { text: r.class_name ?? this.classNames[c] }),
              h("span", { class: "k", text: ` · ${(r.confidence * 100).toFixed(1)}%` }))));
          T.dataset.kind = "background";
          delete T.dataset.id;
          place();
        } catch (e) { T.hidden = true; }
      }, 90);
    }
  }

  // --------------------------------------------------------------------------- selection
  onSelect({ indices, mode }) {
    const ids = Array.from(indices, (i) => this.samples.ids[i]);
    let sel = this.store.get().sel;
    if (mode === "replace") sel = ids;
    else if (mode === "add") { const set = new Set(sel); for (const id of ids) set.add(id); sel = [...set]; }
    else if (mode === "toggle") {
      const set = new Set(sel);
      for (const id of ids) (set.has(id) ? set.delete(id) : set.add(id));
      sel = [...set];
    }
    this.store.set({ sel });
  }

  _renderSelection() {
    const E = this.el;
    const sel = this._selectionIndices();
    E.selTitle.textContent = sel.length ? `Selection · ${sel.length.toLocaleString()}` : "Selection";
    E.selClear.hidden = !sel.length;
    E.selInfo.hidden = sel.length > 0;
    const proj = this.map.proj;
    const s = this.samples;
    if (!sel.length || !s) { E.selList.replaceChildren(); return; }
    let wrong = 0;
    if (proj) for (const i of sel) if (proj.flags[i] & FLAG_WRONG) wrong++;
    const rows = sel.slice(0, 100).map((i) => {
      const pred = proj ? proj.predictions[i] : null;
      const isWrong = proj && (proj.flags[i] & FLAG_WRONG);
      return h("div", {
        class: `dvi-sel-row${isWrong ? " wrong" : ""}`,
        onmouseenter: () => this.map.setHighlight(i), onmouseleave: () => this.map.setHighlight(-1),
      },
      h("span", { class: "id", text: `#${s.ids[i]}` }),
      h("i", { class: "sw", style: `background:${this.palette[s.labels[i]]}` }),
      h("span", { class: "lab", text: this.classNames[s.labels[i]] }),
      h("span", { class: "arrow", text: "→" }),
      pred === null ? "" : h("i", { class: "sw", style: `background:${this.palette[pred]}` }),
      h("span", { class: "lab", text: pred === null ? "" : this.classNames[pred] }),
      h("span", { class: "conf", text: proj ? `${(proj.confidence[i] * 100).toFixed(0)}%` : "" }));
    });
    E.selList.replaceChildren(
      h("div", { class: "dvi-hint", text: `${wrong} misclassified at this epoch${sel.length > 100 ? " · first 100 listed" : ""}${sel.length > MAX_TRAILS ? ` · trails for the first ${MAX_TRAILS}` : ""}` }),
      ...rows);
  }

  search(q) {
    q = q.trim();
    const msg = this.el.searchMsg;
    if (!q || !this.samples) { msg.textContent = ""; return; }
    const s = this.samples;
    if (/^[\d\s,]+$/.test(q)) {
      const ids = q.split(/[\s,]+/).filter(Boolean).map(Number);
      const found = ids.filter((id) => s.indexOf(id) >= 0);
      const missing = ids.length - found.length;
      this.store.set({ sel: found });
      msg.textContent = found.length
        ? `${found.length} selected${missing ? `, ${missing} id${missing > 1 ? "s" : ""} not in this run` : ""}`
        : `No sample with id ${ids.join(", ")} in this run.`;
      return;
    }
    let key = "label";
    let term = q.toLowerCase();
    const m = /^(label|pred|prediction):\s*(.*)$/.exec(term);
    if (m) { key = m[1] === "label" ? "label" : "pred"; term = m[2]; }
    let c = this.classNames.findIndex((n) => n.toLowerCase() === term);
    if (c < 0) c = this.classNames.findIndex((n) => n.toLowerCase().startsWith(term));
    if (c < 0) c = this.classNames.findIndex((n) => n.toLowerCase().includes(term));
    if (c < 0) { msg.textContent = `No class matches "${q}". Classes: ${this.classNames.slice(0, 12).join(", ")}${this.classNames.length > 12 ? ", …" : ""}`; return; }
    const vals = key === "pred" && this.map.proj ? this.map.proj.predictions : s.labels;
    const ids = [];
    const mask = this.map.mask;
    for (let i = 0; i < s.n; i++) if (vals[i] === c && (!mask || mask[i])) ids.push(s.ids[i]);
    this.store.set({ sel: ids });
    msg.textContent = `${ids.length.toLocaleString()} samples ${key === "pred" ? "predicted as" : "labelled"} "${this.classNames[c]}" selected`;
  }

  // --------------------------------------------------------------------------- playback
  step(d) {
    if (!this.fitted.length) return;
    const i = this.fitted.indexOf(this.shownEpoch);
    const j = Math.max(0, Math.min(this.fitted.length - 1, (i < 0 ? 0 : i) + d));
    this.store.set({ epoch: this.fitted[j] });
  }

  togglePlay() { if (this.playing) this.stopPlay(); else this.startPlay(); }

  startPlay() {
    if (this.fitted.length < 2) return;
    this.playing = true;
    this.el.play.replaceChildren(icon("pause"));
    this.el.play.setAttribute("aria-label", "Pause");
    if (this.fitted.indexOf(this.shownEpoch) >= this.fitted.length - 1) this.store.set({ epoch: this.fitted[0] });
    const tick = async () => {
      if (!this.playing) return;
      // wait until the epoch is on screen (its data may still be loading), then for the transition
      for (let k = 0; k < 300 && this.playing && this.map.epoch !== this.shownEpoch; k++) {
        await new Promise((r) => setTimeout(r, 30));
      }
      await this.map.settled();
      await new Promise((r) => setTimeout(r, DWELL_MS));
      if (!this.playing) return;
      const i = this.fitted.indexOf(this.shownEpoch);
      if (i >= this.fitted.length - 1) { this.stopPlay(); return; }
      this.store.set({ epoch: this.fitted[i + 1] });
      this._playTimer = setTimeout(tick, 30);
    };
    this._playTimer = setTimeout(tick, 30);
  }

  stopPlay() {
    this.playing = false;
    clearTimeout(this._playTimer);
    this.el.play.replaceChildren(icon("play"));
    this.el.play.setAttribute("aria-label", "Play");
  }

  onKey(e) {
    const t = e.target;
    const tag = t && t.tagName;
    if (tag === "INPUT" && (t.type === "text" || t.type === "search")) return;
    if (tag === "SELECT" || tag === "TEXTAREA") return;
    if (tag === "INPUT" && t.type === "range") return;  // the slider handles its own arrows
    if (e.key === "ArrowRight") { this.step(1); e.preventDefault(); }
    else if (e.key === "ArrowLeft") { this.step(-1); e.preventDefault(); }
    else if (e.key === " " && tag !== "BUTTON") { this.togglePlay(); e.preventDefault(); }
    else if (e.key === "Escape") { this.store.set({ sel: [] }); }
  }

  // --------------------------------------------------------------------------- export
  _fileBase() {
    const run = (this.run ? this.run.name : "run").replace(/[^A-Za-z0-9_.-]+/g, "_");
    return `dvi-${run}-epoch${this.shownEpoch}`;
  }

  exportPng() {
    const s = this.store.get();
    const canvas = this.map.composite((ctx, dpr) => {
      ctx.save();
      ctx.scale(dpr, dpr);
      const text = `${this.run.name} · epoch ${this.shownEpoch} · colour: ${s.color}`;
      ctx.font = "12px Roboto, Arial, sans-serif";
      const w = ctx.measureText(text).width + 16;
      ctx.fillStyle = "rgba(255,255,255,0.85)";
      ctx.fillRect(8, 8, w, 22);
      ctx.fillStyle = "#333";
      ctx.fillText(text, 16, 23);
      ctx.restore();
    });
    canvas.toBlob((b) => download(b, this._fileBase() + ".png"), "image/png");
  }

  exportCsv() {
    const s = this.samples, p = this.map.proj;
    if (!s || !p) return;
    const names = this.classNames;
    const q = (v) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);
    const lines = ["id,split,label,label_name,prediction,prediction_name,confidence,x,y,misclassified,near_boundary,noisy,shown"];
    const mask = this.map.mask;
    for (let i = 0; i < s.n; i++) {
      const f = p.flags[i];
      lines.push([s.ids[i], s.split[i] ? "test" : "train", s.labels[i], q(names[s.labels[i]] ?? ""), p.predictions[i],
        q(names[p.predictions[i]] ?? ""), p.confidence[i].toFixed(5), p.coords[2 * i].toPrecision(7), p.coords[2 * i + 1].toPrecision(7),
        f & FLAG_WRONG ? 1 : 0, f & FLAG_BOUNDARY ? 1 : 0, (f & FLAG_NOISY) || (s.noisy && s.noisy[i]) ? 1 : 0,
        mask && !mask[i] ? 0 : 1].join(","));
    }
    download(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }), this._fileBase() + ".csv");
  }

  exportSelection() {
    const sel = this.store.get().sel;
    if (!sel.length) { this.el.selInfo.hidden = false; this.el.selInfo.textContent = "Nothing selected: click a point or drag a box first."; return; }
    const run = (this.run ? this.run.name : "run").replace(/[^A-Za-z0-9_.-]+/g, "_");
    download(new Blob([sel.join("\n") + "\n"], { type: "text/plain" }), `dvi-${run}-selection.txt`);
  }

  // --------------------------------------------------------------------------- messages
  _showEmpty(text, busy = false, error = false) {
    const el = this.el.empty;
    if (!text) { el.hidden = true; return; }
    el.hidden = false;
    el.className = `dvi-empty${error ? " error" : ""}`;
    el.replaceChildren(busy ? h("div", { class: "dvi-spinner" }) : null, h("p", { text }));
  }

  _banner(key, text) {
    const B = this.el.banner;
    let el = B.querySelector(`[data-key="${key}"]`);
    if (!text) { if (el) el.remove(); return; }
    if (!el) {
      el = h("div", { "data-key": key, class: `dvi-banner ${key === "error" ? "error" : "info"}` });
      B.append(el);
    }
    el.replaceChildren(h("span", { text }), h("button", { type: "button", class: "dvi-x", "aria-label": "Dismiss", onclick: () => el.remove() }, "×"));
  }

  _clearBanners() { this.el.banner.replaceChildren(); }
}

function injectStyle() {
  if (document.querySelector("link[data-dvi-style]")) return Promise.resolve();
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("./style.css", import.meta.url).href;
  link.dataset.dviStyle = "1";
  const p = new Promise((r) => { link.onload = r; link.onerror = r; });
  document.head.appendChild(link);
  return p;
}

export async function render() {
  await injectStyle();
  document.body.classList.add("dvi-body");
  const root = document.createElement("div");
  root.className = "dvi-root";
  document.body.appendChild(root);
  const app = new App(root);
  await app.start();
  return app;
}

export { App, DEFAULTS };
