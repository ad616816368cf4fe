// The single-run tab: its layout (slots for the panels), the store ↔ session glue (which run is
// open, which epoch is wanted), messages over the map, and the ready signal the browser tests
// wait on: root[data-ready="1"] (and a resolved window.dvi.ready) once an epoch is painted and its
// transition has finished; root[data-renders] counts those paints.

import { errorText } from "./api.js";
import { bindUrl, followUrl } from "./store.js";
import { MapView } from "./map.js";
import { RunSession } from "./session.js";
import { MapBinding } from "./binding.js";
import { RunExtras } from "./extras.js";
import { PANELS } from "./panels/registry.js";
import { h, Banners, injectStyle } from "./ui.js";

const RUNS_POLL_MS = 10000;

export class Tab {
  constructor(root, { api, store }) {
    Object.assign(this, { root, api, store });
    const slots = {
      left: h("aside", { class: "dvi-panel dvi-left" }),
      top: h("div", { class: "dvi-topbar" }),
      status: h("div", {}),
      right: h("aside", { class: "dvi-panel dvi-right" }),
    };
    this.bannerEl = h("div", { class: "dvi-banners" });
    this.mapWrap = h("div", { class: "dvi-mapwrap" });
    this.empty = h("div", { class: "dvi-empty", hidden: true });
    this.mapWarning = h("div", { class: "dvi-warn", hidden: true });
    this.provisionalEl = h("div", { class: "dvi-provisional", hidden: true });  // what a provisional map is
    root.append(h("div", { class: "dvi-app" }, slots.left,
      h("main", { class: "dvi-main" }, slots.top, slots.status, this.bannerEl, this.mapWrap), slots.right));
    this.banners = new Banners(this.bannerEl);
    this.map = new MapView(this.mapWrap, {
      onHover: (ev) => this.binding.emit("hover", ev),
      onSelect: (ev) => this.binding.select(ev),
      onViewChange: (v) => this.binding.emit("view", v),
    });
    this.session = new RunSession(api, { map: this.map });
    this.binding = new MapBinding({ api, store, session: this.session, map: this.map, banners: this.banners, root });
    this.panels = new Map();
    this.extras = new RunExtras(api, this.session);
    injectStyle("features.css");
    const ctx = { api, store, session: this.session, map: this.map, binding: this.binding, banners: this.banners,
      panels: this.panels, mapWrap: this.mapWrap, mapWarning: this.mapWarning, root, extras: this.extras };
    const mapLayer = [];
    for (const { name, slot, Panel } of PANELS) {
      const panel = new Panel(ctx);
      this.panels.set(name, panel);
      if (slot === "map") mapLayer.push(panel.el);
      else if (slots[slot] && panel.el) slots[slot].append(panel.el);
    }
    this.mapWrap.append(...mapLayer, this.empty, this.mapWarning, this.provisionalEl);  // above the canvases
    bindUrl(store);
    followUrl(store);  // back / forward / an edited hash move the tab
    this._wireReady();
    this._wire();
  }

  // Compatibility getters for the tests and the benchmark (window.__dvi).
  get samples() { return this.session.samples; }
  get run() { return this.session.run; }
  get fitted() { return this.session.fitted; }
  get job() { return this.session.job; }
  get playing() { return this.panels.get("playback").playing; }
  get dyn() { return this.panels.get("dynamics"); }
  get compare() { return this.panels.get("compare"); }
  selectionIndices() { return this.binding.selectionIndices(); }

  _wire() {
    const { store, session } = this;
    store.subscribe((s, changed) => {
      if (changed.has("run") && s.run && s.run !== session.name && this._started) this.openRun(s.run);
      else if (changed.has("epoch") && session.run && session.fitted.length && s.epoch !== null) session.showEpoch(s.epoch);
    });
    session.on("runs", () => this._onRuns());
    session.on("job", ({ job, changed }) => { if (job && !changed && session.shownEpoch === null) this.ensureEpoch(); });
    session.on("fitted", () => this.ensureEpoch());
    session.on("error", ({ key, text }) => this.banners.set(key, text));
    session.on("provisional", (p) => this._onProvisional(p));
    session.on("run", () => this._onProvisional({ epoch: null }));
    session.on("server", ({ up, since }) => this._onServer(up, since));
  }

  /** The server stopped answering: say so; when it is back, reload what failed meanwhile. */
  _onServer(up, since) {
    this.root.dataset.server = up ? "up" : "unreachable";
    this.banners.set("server", up ? null : `Server unreachable since ${new Date(since).toLocaleTimeString()}: ` +
      "TensorBoard does not answer. Retrying every few seconds; the tab recovers by itself when it is back.");
    if (!up) return;
    this.banners.set("error", null);
    if (!this._started) this.start();
    else if (!this.session.run) this._onRuns();
    else if (!this.session.samples) this.openRun(this.session.name);
    else if (this.map.epoch !== this.session.shownEpoch || this.map.epoch === null) this.ensureEpoch();
  }

  /** Labels a provisional map (a quick layout of an unfitted epoch) for what it is;
   *  root[data-provisional] holds its epoch once painted (the benchmark's signal). */
  async _onProvisional({ epoch, seconds }) {
    const el = this.provisionalEl;
    if (epoch === null) { el.hidden = true; delete this.root.dataset.provisional; return; }
    const took = typeof seconds === "number" ? ` (computed in ${seconds.toFixed(1)} s)` : "";
    el.replaceChildren(h("b", { text: `Provisional layout of epoch ${epoch}` }),
      h("span", { text: ` — the fitted map replaces it when ready. Nearest neighbours only${took}: ` +
        "no decision regions and no faithfulness figures yet." }));
    el.hidden = false;
    await this.map.settled();
    if (this.session.provisional === epoch) this.root.dataset.provisional = String(epoch);
  }

  _wireReady() {
    let first;
    window.dvi = { tab: this, ready: new Promise((r) => { first = r; }) };
    this.root.dataset.ready = "0";
    this.root.dataset.renders = "0";
    this.session.on("showing", () => { this.root.dataset.ready = "0"; });
    this.session.on("epoch", async ({ epoch }) => {
      this.root.dataset.epoch = String(epoch);
      await this.map.settled();
      if (this.session.shownEpoch !== epoch || this.map.epoch !== epoch) return;
      this.root.dataset.renders = String(Number(this.root.dataset.renders) + 1);
      this.root.dataset.ready = "1";
      first(epoch);
    });
  }

  async start() {
    this.showEmpty("Loading runs…", true);
    try {
      await this.session.refreshRuns();
    } catch (e) {
      this.showEmpty(errorText(e, "Could not list the runs"), false, true);
      return;
    }
    this._started = true;
    setInterval(() => this.session.refreshRuns().catch(() => {}), RUNS_POLL_MS);
    if (this.session.runs.length) await this._openFromUrl(true);
  }

  /** Opens the run the URL names, else the first; a name that is not in the logdir gets a notice. */
  _openFromUrl(notice) {
    const s = this.store.get(), runs = this.session.runs;
    const want = runs.find((r) => r.name === s.run) ? s.run : runs[0].name;
    const missing = s.run && s.run !== want ? s.run : null;
    this.store.set(missing ? { run: want, epoch: null, sel: [], fl: [], fp: [] } : { run: want });
    // the store listener has opened it when `run` changed
    const loading = this.session.name === want ? this._opening : this.openRun(want);
    if (missing && notice) this.banners.set("info", `Run "${missing}" from the link is not in this logdir; showing "${want}".`);
    return loading;
  }

  _onRuns() {
    if (!this.session.runs.length) {
      this.showEmpty("No DVI data in this logdir yet. Log representations during training with " +
        "tensorboard_dvi.DVIWriter (see the README); runs appear here automatically.", false);
    } else if (!this.session.run && this._started) this._openFromUrl(false);  // the first run appeared
  }

  openRun(name) {
    this._opening = this._open(name);
    return this._opening;
  }

  async _open(name) {
    this.banners.clear();
    this.map.setSource(null);
    this.showEmpty("Loading samples…", true);
    try {
      await this.session.open(name);
    } catch (e) {
      this.session.noteFailure(e);
      if (this.session.name === name) this.showEmpty(errorText(e, `Could not load the samples of run "${name}"`), false, true);
    }
  }

  /** Shows the wanted epoch once fitted (the session clamps); before any, says why the map is empty. */
  ensureEpoch() {
    const session = this.session;
    if (!session.fitted.length) {
      const job = session.job || {};
      if (session.provisional !== null) return;  // the provisional map is on screen, labelled
      const msg = job.state === "error" ? "No epoch could be fitted. See the message above."
        : job.state === "cancelled" ? "Fitting was cancelled before any epoch was ready. Press Resume above."
        : "Fitting the visualizer: the first map appears as soon as its epoch is ready.";
      const busy = job.state === "queued" || job.state === "running";
      const prov = job.provisional || [];
      if (!prov.length) { this.showEmpty(msg, busy); return; }
      this.showEmpty(null);  // a provisional layout of the first epoch exists: show it (the next poll retries)
      session.showProvisional(prov[0]).then((ok) => { if (!ok && !session.fitted.length) this.showEmpty(msg, busy); });
      return;
    }
    this.showEmpty(null);
    const want = this.store.get().epoch;
    if (want === null || want === undefined) this.store.set({ epoch: session.fitted[0] });  // the store listener shows it
    else session.showEpoch(want);
  }

  showEmpty(text, busy = false, error = false) {
    const el = this.empty;
    if (!text) { el.hidden = true; return; }
    el.hidden = false;
    el.className = `dvi-empty${error ? " error" : ""}`;
    el.replaceChildren(...(busy ? [h("div", { class: "dvi-spinner" })] : []), h("p", { text }));
  }
}
