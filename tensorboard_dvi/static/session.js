// RunSession: one run as the tab sees it, the data every panel shares. It holds the runs of the
// logdir, the open run's entry, samples, class palette and names, fitted epochs, fitting job,
// faithfulness metrics and the shown epoch; it owns the status polling and the runs refresh.
// Panels subscribe to its events instead of calling each other:
//   runs     the list of runs changed (or was first loaded)
//   run      a run was opened and its samples loaded (session.samples, palette, classNames set)
//   job      a status poll answered (session.job); {error} when it failed
//   fitted   the fitted epochs changed (session.fitted), also once right after `run`
//   metrics  the faithfulness metrics of the fitted epochs were (re)loaded (session.metrics)
//   epoch    an epoch is on the map (session.shownEpoch; payload {epoch, want})
//   provisional  {epoch, seconds}: a provisional layout of an unfitted epoch is on the map
//            (session.provisional; the run has no fitted epoch yet), {epoch: null} when it went
//   palette  the background's served palette replaced the catalogue's
//   error    {key, text}: something the user should read (key "error", "epoch", ...)
//   server   {up, since}: the server stopped answering (up false; probed every PROBE_MS) or
//            answers again (up true: the tab reloads what failed meanwhile)
// "Compare runs" opens one session per pane without a map (only run data and polling).

import { ApiError, errorText } from "./api.js";
import { Emitter } from "./events.js";
import { classPalette } from "./colors.js";
import { catalogue } from "./catalogue.js";
import { clampEpoch, prefetchOrder, sortedEpochs, epochsDiffer } from "./epochs.js";

export const POLL_MS = 1500;
export const PROBE_MS = 2000;  // while the server does not answer: how often to try again

export class RunSession extends Emitter {
  /** @param api Api; opts.map: the MapView that shows this session's epochs (null: data only);
   *  opts.metrics: load the faithfulness metrics when epochs are fitted. */
  constructor(api, { map = null, pollMs = POLL_MS, metrics = true } = {}) {
    super();
    this.api = api;
    this.map = map;
    this.pollMs = pollMs;
    this.wantMetrics = metrics;
    this.runs = [];
    this.run = null;          // entry of `runs` for the open run
    this.samples = null;
    this.palette = [];
    this.classNames = [];
    this.fitted = [];
    this.job = null;
    this.metrics = { epochs: [], metrics: [] };
    this.shownEpoch = null;
    this.provisional = null;  // the epoch whose provisional layout the map shows (nothing fitted yet)
    this._load = 0;
    this._statusTimer = 0;
    this._paletteFromServer = false;
    this.unreachableSince = null;  // Date.now() of the first request without an answer
    this._probeTimer = 0;
  }

  get name() { return this.run ? this.run.name : null; }

  /** Reloads the list of runs; a changed fitted/logged count of the open run starts a status poll. */
  async refreshRuns() {
    let data;
    try { data = await this.api.runs(); } catch (e) { this.noteFailure(e); throw e; }
    this.noteAnswer();
    const runs = data.runs || [];
    const changedNames = runs.map((r) => r.name).join("\n") !== this.runs.map((r) => r.name).join("\n");
    this.runs = runs;
    const cur = this.run && runs.find((r) => r.name === this.run.name);
    if (cur) {
      // Live training: new epochs logged (or fitted elsewhere) since the last status poll.
      const changed = cur.epochs.length !== this.run.epochs.length || (cur.fitted || []).length !== this.fitted.length;
      this.run.damaged = cur.damaged;
      this.run.epochs = cur.epochs;
      if (changed && !this._statusTimer) this.pollStatus();
    }
    this.emit("runs", { changedNames });
    return runs;
  }

  /** Opens a run of `runs` (or an entry object): loads its samples, then polls its status. */
  async open(nameOrEntry) {
    const token = ++this._load;
    clearTimeout(this._statusTimer);
    this._statusTimer = 0;
    const entry = typeof nameOrEntry === "string" ? this.runs.find((r) => r.name === nameOrEntry) : nameOrEntry;
    if (!entry) throw new Error(`no run named "${nameOrEntry}"`);
    this.run = entry;
    this.samples = null;
    this.fitted = [];
    this.job = null;
    this.shownEpoch = null;
    this.provisional = null;
    this.metrics = { epochs: [], metrics: [] };
    const samples = await this.api.samples(entry.name);
    if (token !== this._load) return false;
    this.samples = samples;
    this._paletteFromServer = false;
    this.palette = classPalette(entry.num_classes, catalogue().palette);
    this.classNames = entry.class_names && entry.class_names.length ? entry.class_names
      : Array.from({ length: entry.num_classes }, (_, i) => String(i));
    this.emit("run", entry);
    await this.pollStatus(true);
    return token === this._load;
  }

  /** Stops polling (a closed compare pane). */
  close() { this._load++; clearTimeout(this._statusTimer); clearTimeout(this._probeTimer); this._statusTimer = this._probeTimer = 0; }

  /** The map source of this run: projections and backgrounds through the API's caches. */
  source() {
    const name = this.run.name;
    const prov = (e) => this.provisional === e && !this.fitted.includes(e);  // no background then
    const src = { samples: this.samples, palette: this.palette,
      projection: (e) => (prov(e) ? this.api.provisionalProjection(name, e) : this.api.projection(name, e)) };
    src.background = (e) => (prov(e) ? Promise.resolve(null)
      : this.api.background(name, e).then((bg) => { this.takePalette(bg, src); return bg; }));
    src.zoomBackground = (e, bounds, res) => this.api.backgroundTile(name, e, bounds, res);
    return src;
  }

  /** The background image reports the palette it was drawn with: points follow it. */
  takePalette(bg, src) {
    if (!bg.palette || this._paletteFromServer || !this.run) return;
    this._paletteFromServer = true;
    this.palette = classPalette(this.run.num_classes, bg.palette);
    if (src) src.palette = this.palette;
    this.emit("palette", this.palette);
  }

  // ------------------------------------------------------------------------- server gone
  /** A request failed: without an answer (HTTP status 0) the server is gone; probe until it is back. */
  noteFailure(e) {
    if (!(e instanceof ApiError) || e.status !== 0) return;
    if (this.unreachableSince === null) {
      this.unreachableSince = Date.now();
      this.emit("server", { up: false, since: this.unreachableSince });
    }
    if (!this._probeTimer) {
      this._probeTimer = setTimeout(() => { this._probeTimer = 0; this.refreshRuns().catch(() => {}); }, PROBE_MS);
    }
  }

  /** Any answer: the server is back (the tab then reloads what failed meanwhile). */
  noteAnswer(poll = true) {
    if (this.unreachableSince === null) return;
    this.unreachableSince = null;
    this.emit("server", { up: true });
    if (poll && this.run) this.pollStatus();
  }

  // ------------------------------------------------------------------------- fitting status
  async pollStatus(first = false) {
    clearTimeout(this._statusTimer);
    this._statusTimer = 0;
    if (!this.run) return;
    const name = this.run.name, token = this._load;
    let st;
    try {
      st = await this.api.status(name);
    } catch (e) {
      if (token !== this._load) return;
      this.noteFailure(e);
      this.emit("job", { error: errorText(e, "Could not get the fitting status") });
      this._statusTimer = setTimeout(() => this.pollStatus(), this.pollMs * 3);
      return;
    }
    if (token !== this._load) return;
    this.noteAnswer(false);
    this.job = st;
    const fitted = sortedEpochs(st.fitted);
    const grew = epochsDiffer(fitted, this.fitted);
    this.fitted = fitted;
    if (st.epochs) this.run.epochs = st.epochs;
    this.emit("job", { job: st, changed: grew || first });
    if (grew || first) {
      this.emit("fitted", { first });
      if (this.wantMetrics) this.refreshMetrics();
    }
    // while the provisional layout is computed (a few seconds), poll faster so it shows at once
    const ms = st.stage === "provisional" && !this.fitted.length ? Math.min(this.pollMs, 400) : this.pollMs;
    if (st.state === "queued" || st.state === "running") this._statusTimer = setTimeout(() => this.pollStatus(), ms);
  }

  get fitting() { return !!this.job && (this.job.state === "queued" || this.job.state === "running"); }

  async startFit() {
    try { await this.api.fit(this.run.name); } catch (e) { this.emit("error", { key: "error", text: errorText(e, "Could not start fitting") }); }
    this.pollStatus();
  }

  async cancelFit() {
    try { await this.api.cancel(this.run.name); } catch (e) { this.emit("error", { key: "error", text: errorText(e, "Could not cancel") }); }
    this.pollStatus();
  }

  async refreshMetrics() {
    if (!this.run) return;
    const name = this.run.name;
    let m = { epochs: [], metrics: [] };
    try {
      const all = await this.api.metrics(name);
      m = { epochs: all.epochs || [], metrics: all.metrics || [], run: all.run || null };
    } catch (e) { /* no metrics yet: the panel shows dashes */ }
    if (!this.run || this.run.name !== name) return;
    this.metrics = m;
    this.emit("metrics", m);
  }

  /** Metrics of one epoch, or null. */
  metricsOf(epoch) {
    const i = this.metrics.epochs.indexOf(epoch);
    return i >= 0 ? this.metrics.metrics[i] : null;
  }

  /** Epochs whose map the engine flagged as poor. */
  poorEpochs() { return new Set(this.metrics.metrics.filter((m) => m && m.poor).map((m) => m.epoch)); }

  // ------------------------------------------------------------------------- epochs
  /** Before any epoch is fitted: the provisional layout of `epoch` (no decision regions), until
   *  showEpoch replaces it with a fitted map. False when it could not be shown. */
  async showProvisional(epoch) {
    if (!this.map || this.fitted.length) return false;
    const name = this.run.name;
    this.provisional = epoch;
    try {
      if (await this.map.showEpoch(epoch, { animate: false }) === false) return false;
    } catch (e) {
      if (this.provisional === epoch) this.provisional = null;  // gone meanwhile (fitted): the poll shows it
      return false;
    }
    if (this.provisional !== epoch || !this.run || this.run.name !== name) return false;
    this.emit("provisional", { epoch, seconds: this.map.proj && this.map.proj.seconds });
    return true;
  }

  /** Shows the wanted epoch on the map once fitted; until then the closest fitted one before it. */
  async showEpoch(want) {
    if (!this.map || !this.fitted.length) return false;
    const ep = clampEpoch(this.fitted, want);
    if (ep !== want) {
      const pending = this.run.epochs.includes(want);
      this.emit("error", { key: "epoch", text: pending ? `Epoch ${want} is not fitted yet; showing epoch ${ep} until it is ready.`
        : `Epoch ${want} was not logged in run "${this.run.name}"; showing epoch ${ep}.` });
    } else this.emit("error", { key: "epoch", text: null });
    const animate = this.shownEpoch !== null || this.provisional !== null;  // provisional → fitted: a move
    if (this.provisional !== null) { this.provisional = null; this.emit("provisional", { epoch: null }); }
    this.shownEpoch = ep;
    this.emit("showing", { epoch: ep, want });
    try {
      const shown = await this.map.showEpoch(ep, { animate });
      if (shown === false) return false;
    } catch (e) {
      if (e instanceof ApiError && e.notFitted) { this.pollStatus(); return false; }
      this.noteFailure(e);
      this.emit("error", { key: "error", text: errorText(e, `Could not load epoch ${ep}`) });
      return false;
    }
    this.emit("error", { key: "error", text: null });
    this.emit("epoch", { epoch: ep, want });
    // prefetch the neighbours so stepping is instant
    for (const e2 of prefetchOrder(this.fitted, ep)) {
      this.api.projection(this.run.name, e2).catch(() => {});
      this.api.background(this.run.name, e2).catch(() => {});
    }
    return true;
  }
}
