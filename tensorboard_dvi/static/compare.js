// "Compare runs": two to four runs side by side (docs/COMPARE.md).
//
// One MapView per pane (compare_pane.js), linked by sample id: hovering a sample rings it in every
// pane, the selection (the store's `sel`, ids) is shown with its trails in every pane. One epoch
// slider drives all panes while "Lock epochs" is on; unlocked, every pane has its own epoch. A run
// without the wanted epoch shows its closest fitted epoch before it (epochs.js clampEpoch).
//
// Aligned coordinates: every pane after the first (the reference) is mapped onto the reference's
// map of the same epoch by an orthogonal Procrustes fit on the shared sample ids (align.js); its
// background is warped by the same transform, so regions and points stay together. "Fitted from A"
// (align "fitted") shows instead each other pane's run fitted with the reference run's maps as its
// layout (compare_from.js, engine/reference.py): no rotation needed. Zoomed panes re-render their
// regions like the single map (MapView's source.zoomBackground, compare_data.js zoomTile). The
// difference panel (compare_side.js) shows diff.js's comparison of the reference with the others.
//
// State lives in the store (URL keys dvi.compare, dvi.lock, dvi.align, dvi.cdiff, dvi.ceps,
// dvi.cmat; the shared epoch, selection, colouring and background reuse dvi.epoch, dvi.sel,
// dvi.color, dvi.bg). The view uses the tab's session (the runs, the open run), MapView's public
// interface and its own RunSession per pane.

import { h, setSegmented, Banners, injectStyle, typingIn } from "./ui.js";
import { clampEpoch, stepEpoch } from "./epochs.js";
import { unionBounds } from "./align.js";
import { selectPairs } from "./diff.js";
import { mergeSelection, indicesOf } from "./selection.js";
import { pointSizeFor } from "./encode.js";
import { makePane, destroyPane, paneMessage, renderPaneHead, showPaneTooltip, loadPaneTrails } from "./compare_pane.js";
import { CompareData } from "./compare_data.js";
import { CompareSide, buildTopBar, syncSlider, renderAdd, compareKey } from "./compare_side.js";
import { FromFits } from "./compare_from.js";

export const MAX_PANES = 4;
const EMPHASIS_PX = 2;  // samples kept by the difference highlight are drawn this much larger

export class CompareView {
  /** A panel of the tab (panels/registry.js): shows itself while `compare` lists ≥ 2 runs. */
  constructor({ api, store, session, map, banners, panels, root }) {
    Object.assign(this, { api, store, session, map, banners, root });
    this.active = false;
    this.ready = false;       // all panes show their epoch (tests wait for it)
    this.panes = [];
    this.diff = null;
    this.hoverId = null;
    this.data = new CompareData(api, () => this.panes, () => this.store.get().align);
    this.from = new FromFits(api, (p) => this._onFrom(p));  // "fitted from A": one fit per other pane
    this._gen = 0;
    this._linking = false;
    injectStyle("compare.css");
    this._build();
    // entry point in the single-run view
    this.openBtn = h("button", { type: "button", class: "dvi-btn dvi-cmp-open", title: "Show two or more runs side by side", onclick: () => this.open() }, "Compare runs");
    panels.get("run").addAction(this.openBtn);
    store.subscribe((s, changed) => this._onState(s, changed));
    document.addEventListener("keydown", (e) => this._onKey(e), true);
    this._sync();
  }

  // ---------------------------------------------------------------------------- layout
  _build() {
    const { E, top } = buildTopBar(this);
    this.el = E;
    const notes = h("div", { class: "dvi-cmp-notes" });
    this.notes = new Banners(notes);
    E.panes = h("div", { class: "dvi-cmp-panes" });
    this.side = new CompareSide(this);
    this.rootEl = h("div", { class: "dvi-compare", hidden: true }, top, notes, h("div", { class: "dvi-cmp-body" }, E.panes, this.side.el));
    this.root.append(this.rootEl);
  }

  // ---------------------------------------------------------------------------- state
  get union() {
    const set = new Set();
    for (const p of this.panes) for (const e of p.session.fitted) set.add(e);
    return [...set].sort((a, b) => a - b);
  }

  open(runs = null) {
    const names = this.session.runs.map((r) => r.name);
    if (names.length < 2) { this.openBtn.title = "Needs at least two runs in the logdir"; this.openBtn.disabled = true; return; }
    const cur = this.session.name || names[0];
    this.store.set({ compare: runs || [cur, names.find((n) => n !== cur)] });
  }

  close() { this.store.set({ compare: [], ceps: [], cdiff: "off", cmat: "" }); }

  addRun(name) {
    const c = this.store.get().compare;
    if (c.length >= MAX_PANES || c.includes(name)) return;
    const patch = { compare: [...c, name] };
    if (!this.store.get().lock) patch.ceps = [...this.panes.map((p) => p.shown), null];
    this.store.set(patch);
  }

  removePane(k) {
    const s = this.store.get();
    this.store.set({ compare: s.compare.filter((_, i) => i !== k), ceps: s.ceps.filter((_, i) => i !== k), cmat: s.compare[k] === s.cmat ? "" : s.cmat });
  }

  setPaneRun(k, name) {
    const c = this.store.get().compare.slice();
    const j = c.indexOf(name);
    if (j >= 0) c[j] = c[k];  // already shown in another pane: swap the two
    c[k] = name;
    this.store.set({ compare: c });
  }

  setEpoch(ep) {
    if (this.store.get().lock) this.store.set({ epoch: ep });
    else this.store.set({ epoch: ep, ceps: this.panes.map(() => ep) });
  }

  setLock(on) {
    const s = this.store.get();
    if (on) this.store.set({ lock: true, ceps: [], epoch: this.panes.length ? this.panes[0].shown : s.epoch });
    else this.store.set({ lock: false, ceps: this.panes.map((p) => p.shown) });
  }

  step(d) {
    const cur = this.store.get().epoch ?? (this.panes[0] && this.panes[0].shown);
    const ep = stepEpoch(this.union, cur, d);
    if (ep !== null) this.setEpoch(ep);
  }

  stepPane(k, d) {
    const p = this.panes[k];
    const ep = stepEpoch(p.session.fitted, p.shown, d);
    this.store.set({ ceps: this.panes.map((q, j) => (j === k ? ep : (this.store.get().ceps[j] ?? q.shown))) });
  }

  _aligned() { return this.store.get().align !== "none"; }

  async _sync() {
    const want = this.store.get().compare;
    if (!want || want.length < 2) { this._deactivate(); return; }
    const gen = ++this._gen;
    if (want.some((n) => !this.session.runs.find((r) => r.name === n))) {
      try { await this.session.refreshRuns(); } catch (e) { /* judged below */ }
      if (gen !== this._gen) return;
    }
    const runs = this.session.runs;
    const known = want.filter((n, i) => runs.find((r) => r.name === n) && want.indexOf(n) === i).slice(0, MAX_PANES);
    const dropped = want.filter((n) => !known.includes(n));
    if (known.length < 2) {
      const msg = `Cannot compare ${want.join(", ")}: ${dropped.length ? `no run named ${dropped.map((d) => `"${d}"`).join(", ")} in this logdir` : "needs two runs"}.`;
      this.store.set({ compare: [] });
      // shown in the single-run view once it has opened its run (opening clears its banners)
      if (!this.session.samples) await new Promise((r) => { const off = this.session.on("run", () => { off(); r(); }); });
      if (!this.active) this.banners.set("compare", msg);
      return;
    }
    if (known.length !== want.length) {
      this._pendingNote = `Not in this logdir, left out: ${dropped.join(", ")}.`;
      this.store.set({ compare: known });
      return;
    }
    this._activate();
    await this._buildPanes(known, gen);
  }

  _activate() {
    if (this.active) return;
    this.active = true;
    this.rootEl.hidden = false;
    this.root.classList.add("dvi-comparing");
  }

  _deactivate() {
    this._gen++;
    this.ready = false;
    if (!this.active) return;
    this.active = false;
    for (const p of this.panes) destroyPane(p);
    this.panes = [];
    this.from.sync([], false);
    this.el.panes.replaceChildren();
    this.rootEl.hidden = true;
    this.root.classList.remove("dvi-comparing");
    // the single-run map was hidden: let it measure itself again
    requestAnimationFrame(() => this.map.resize());
  }

  async _buildPanes(names, gen) {
    this.ready = false;
    const same = this.panes.length === names.length && this.panes.every((p, i) => p.run === names[i]);
    if (!same) {
      for (const p of this.panes) destroyPane(p);
      const runs = this.session.runs;
      this.panes = names.map((n, k) => makePane(this, runs.find((r) => r.name === n), k, runs));
      this.el.panes.replaceChildren(...this.panes.map((p) => p.el));
      this.el.panes.style.gridTemplateColumns = `repeat(${this.panes.length}, minmax(0, 1fr))`;
      this.data.clear();
    }
    this._renderAdd();
    try {
      await Promise.all(this.panes.map((p) => this._loadPane(p)));
    this.from.sync(this.panes, this.store.get().align === "fitted");
    } catch (e) {
      if (gen === this._gen) this.notes.set("error", `Could not load the runs: ${e.message || e}`);
      return;
    }
    if (gen !== this._gen) return;
    this.notes.set("shared", this.side.renderShared());
    this._renderSlider();
    this.notes.set("dropped", this._pendingNote || null);
    this._pendingNote = null;
    await this._showAll(false);
  }

  async _loadPane(p) {
    if (p.source) return;
    p.session.on("palette", () => this._encode(p));
    p.session.on("fitted", ({ first }) => {
      if (p.k === 0) this.from.refAdvanced();
      if (!first && this.active && p.source) { this._renderSlider(); this._showAll(true); }
    });
    await p.session.open(p.entry);
    const session = p.session;
    p.source = {
      samples: session.samples, palette: session.palette,
      projection: (ep) => this.data.projection(p, ep),
      background: (ep) => this.data.background(p, ep),
      zoomBackground: (ep, bounds, res) => this.data.zoomTile(p, ep, bounds, res),
    };
    p.map.setSource(p.source);
    this._encode(p);
    p.map.setBackgroundVisible(this.store.get().bg);
    p.map.setTrailDrift(this.store.get().tdrift);
  }

  // ---------------------------------------------------------------------------- data
  pairs(a, b) { return this.data.pairs(a, b); }

  /** A pane's fit from the reference changed: its head, and its map once it has the epoch. */
  _onFrom(p) {
    if (!this.active || !this.panes.includes(p) || !p.fromFit) return;
    const { ep } = this._target(p);
    if (ep === null) paneMessage(p, p.fromFit.text.text, p.fromFit.text);
    else if (ep !== p.shown || !p.empty.hidden) { this._showAll(true); return; }
    renderPaneHead(p, this._headState());
    loadPaneTrails(this, p, this.store.get());  // unchanged requests are not fetched again
  }

  // ---------------------------------------------------------------------------- epochs
  /** The epochs pane p can show: its run's fitted ones, or those fitted from the reference. */
  fittedOf(p) { return this.data.fromRef(p) ? (p.fromFit ? p.fromFit.fitted : []) : p.session.fitted; }

  _target(p) {
    const s = this.store.get();
    let want = s.lock ? s.epoch : (s.ceps[p.k] ?? s.epoch);
    if (want === null || want === undefined) want = this.union[0] ?? null;
    return { want, ep: clampEpoch(this.fittedOf(p), want) };
  }

  _headState() { return { lock: this.store.get().lock, panes: this.panes, aligned: this._aligned(), mode: this.store.get().align, fittedOf: (p) => this.fittedOf(p) }; }

  async _showAll(animate = true) {
    const gen = this._gen;
    const tok = (this._showTok = (this._showTok || 0) + 1);
    this.ready = false;
    this.rootEl.dataset.ready = "0";
    await Promise.all(this.panes.map(async (p) => {
      const { want, ep } = this._target(p);
      p.want = want;
      if (ep === null) {
        const from = this.data.fromRef(p) && p.fromFit ? p.fromFit.text : null;
        paneMessage(p, from ? from.text : `Fitting "${p.run}": its first map appears as soon as an epoch is ready.`, from || { busy: true });
        renderPaneHead(p, this._headState());
        return;
      }
      p.shown = ep;
      renderPaneHead(p, this._headState());
      try {
        await p.map.showEpoch(ep, { animate: animate && p.map.epoch !== null });
        paneMessage(p, null);
      } catch (e) {
        paneMessage(p, `Could not load epoch ${ep} of "${p.run}": ${e.message || e}`, { error: true });
      }
    }));
    if (gen !== this._gen || tok !== this._showTok) return;
    for (const p of this.panes) { p.map.refit(); renderPaneHead(p, this._headState()); }
    this._syncSlider();
    this._applySelection();
    await this._computeDiff();
    if (gen !== this._gen || tok !== this._showTok) return;
    await Promise.all(this.panes.map((p) => p.map.settled()));
    if (gen !== this._gen || tok !== this._showTok) return;
    this.ready = true;
    this.rootEl.dataset.ready = "1";
    // prefetch the next epoch of every pane
    for (const p of this.panes) {
      const f = this.fittedOf(p), e2 = f[f.indexOf(p.shown) + 1];
      if (e2 !== undefined) this.data.projection(p, e2).catch(() => {});
    }
  }

  _renderSlider() {
    this.el.slider.max = String(Math.max(0, this.union.length - 1));
    this._syncSlider();
  }

  _syncSlider() { syncSlider(this); }

  _renderAdd() { renderAdd(this, MAX_PANES); }

  // ---------------------------------------------------------------------------- differences
  async _computeDiff() {
    this.diff = await this.data.difference(this.panes);
    this.side.renderDiff(this.diff);
    if (this.diff) this._applyDiffMasks();
  }

  /** Selects the shared samples of pair j (reference vs pane j + 1) for which test(predA, predB) holds. */
  selectPairs(j, test) {
    const ref = this.panes[0], p = this.panes[j + 1];
    const rows = selectPairs(this.pairs(ref, p), ref.map.proj.predictions, p.map.proj.predictions, test);
    this.store.set({ sel: rows.map((i) => ref.session.samples.ids[i]) });
  }

  _applyDiffMasks() {
    const mode = this.store.get().cdiff;
    for (const p of this.panes) {
      const mask = mode !== "off" && this.diff ? (mode === "flip" ? this.diff.flipMasks[p.k] : this.diff.disagreeMasks[p.k]) : null;
      p.map.setExtraMask(mask, { emphasis: EMPHASIS_PX });
      p.el.dataset.visible = String(p.map.visibleCount);
    }
  }

  // ---------------------------------------------------------------------------- encoding, selection, hover
  _encode(p) {
    const n = p.session.samples ? p.session.samples.n : 0;
    if (p.source) p.source.palette = p.session.palette;
    p.map.setEncoding({ colorMode: this.store.get().color, filter: {}, pointSize: pointSizeFor(n) });
  }

  onPaneSelect(p, { indices, mode }) {
    const ids = Array.from(indices, (i) => p.session.samples.ids[i]);
    this.store.set({ sel: mergeSelection(this.store.get().sel, ids, mode) });
  }

  _applySelection() {
    const s = this.store.get();
    for (const p of this.panes) {
      if (!p.session.samples) continue;
      p.map.setEncoding({ selection: indicesOf(p.session.samples, s.sel) });
      loadPaneTrails(this, p, s);
    }
    this.side.renderSelection();
  }

  highlight(id) {
    this.hoverId = id;
    this.rootEl.dataset.hover = id === null ? "" : String(id);
    for (const p of this.panes) p.map.setHighlight(id === null || !p.session.samples ? -1 : p.session.samples.indexOf(id));
  }

  onPaneHover(p, ev) {
    for (const q of this.panes) if (q !== p) q.tip.hidden = true;
    if (!ev || ev.index < 0 || !p.map.proj) { p.tip.hidden = true; this.highlight(null); return; }
    this.highlight(p.session.samples.ids[ev.index]);
    showPaneTooltip(p, this.panes, ev.index, ev, this.api);
  }

  /** Aligned: every pane fits the union of the panes' bounds, so equal regions sit at equal pixels. */
  commonBounds(pane, b) {
    if (!this._aligned() || !b) return b;
    return unionBounds([b, ...this.panes.filter((p) => p !== pane).map((p) => p.map.ownBounds())]);
  }

  /** Aligned: zoom and pan are linked across panes. */
  onPaneView(p, v) {
    if (this._linking || !this._aligned()) return;
    this._linking = true;
    try {
      for (const q of this.panes) if (q !== p) q.map.setView(v.autoFit ? null : v);
    } finally { this._linking = false; }
  }

  // ---------------------------------------------------------------------------- store, keys
  _onState(s, changed) {
    const E = this.el;
    setSegmented(E.align, s.align);
    setSegmented(E.color, s.color);
    setSegmented(this.side.diffMode, s.cdiff);
    E.bg.checked = s.bg;
    E.lock.checked = s.lock;
    if (changed.has("compare")) { this._sync(); return; }
    if (!this.active || !this.panes.length || !this.panes.every((p) => p.source)) return;
    if (changed.has("align")) {
      this.from.sync(this.panes, s.align === "fitted");
      for (const p of this.panes) { p.trails.reset(); p.map.setView(null); }
      this._showAll(true);
      return;
    }
    if (changed.has("epoch") || changed.has("ceps") || changed.has("lock")) { this._syncSlider(); this._showAll(true); }
    if (changed.has("color")) for (const p of this.panes) this._encode(p);
    if (changed.has("bg")) for (const p of this.panes) p.map.setBackgroundVisible(s.bg);
    if (changed.has("tdrift")) for (const p of this.panes) p.map.setTrailDrift(s.tdrift);
    if (changed.has("sel") || changed.has("trails")) this._applySelection();
    if (changed.has("cdiff")) this._applyDiffMasks();
    if (changed.has("cmat")) this.side.renderDiff(this.diff);
  }

  _onKey(e) { if (this.active && !typingIn(e.target)) compareKey(this, e); }
}
