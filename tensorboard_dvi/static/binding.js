// MapBinding: the single-run map follows the store and the session. It turns the state
// (colouring, filters, selection, trails, background) into MapView calls, merges map picks into
// the selection, and lets panels contribute to the encoding.
//
// Extension point: binding.addEncoder({encoding(pointSize) → {colors?, sizes?, mask?, order?}, legend?(el) → bool})
// (order: the draw order, indices drawn last on top: colour by a signal draws its strongest values last)
// (the "Training dynamics" panel colours, sizes and range-filters points this way; a legend()
// that returns true replaces the class legend). Events: `encoded` (after every re-encoding),
// `selection` (selection indices changed), `hover` (map hover, {index, px, py, dataX, dataY} or null).

import { Emitter } from "./events.js";
import { errorText } from "./api.js";
import { pointSizeFor } from "./encode.js";
import { mergeSelection, indicesOf } from "./selection.js";
import { TrailLoader } from "./trails.js";

const ENCODING_KEYS = ["color", "split", "fl", "fp", "fc", "fb", "fn"];

export class MapBinding extends Emitter {
  constructor({ api, store, session, map, banners, root }) {
    super();
    Object.assign(this, { api, store, session, map, banners, root });
    this.encoders = [];
    this.trails = new TrailLoader(api, map, (n, total) => {
      root.dataset.trails = String(n);
      banners.set("trails", total > n ? `Trails are drawn for the first ${n} of the ${total.toLocaleString("en-US")} selected samples (more would hide the map).` : null);
    });
    store.subscribe((s, changed) => {
      if (ENCODING_KEYS.some((k) => changed.has(k))) this.apply();
      if (changed.has("bg")) map.setBackgroundVisible(s.bg);
      if (changed.has("tdrift")) map.setTrailDrift(s.tdrift);
      if (changed.has("sel") || changed.has("trails")) this.selectionChanged();
    });
    session.on("run", () => {
      map.setSource(session.source());
      this.trails.reset();
      this.apply();
      map.setBackgroundVisible(store.get().bg);
      map.setTrailDrift(store.get().tdrift);
      this.selectionChanged();
    });
    session.on("palette", () => this.apply());
    session.on("fitted", () => { if (store.get().sel.length) this.loadTrails(); });
  }

  addEncoder(encoder) { this.encoders.push(encoder); }

  /** The filter of the store plus every encoder's mask (AND). */
  filterSpec(s = this.store.get(), extras = []) {
    let extra = null;
    for (const m of extras) {
      if (!m) continue;
      if (!extra) extra = Uint8Array.from(m);
      else for (let i = 0; i < extra.length; i++) extra[i] &= m[i];
    }
    return { split: s.split, labels: s.fl, preds: s.fp, correct: s.fc, boundary: s.fb, noisy: s.fn, extra };
  }

  /** Re-encodes the map from the state and the encoders; emits `encoded`. */
  apply() {
    const samples = this.session.samples;
    if (!samples) return;
    const s = this.store.get();
    const ps = pointSizeFor(samples.n);
    const parts = this.encoders.map((e) => e.encoding(ps) || {});
    const enc = { colorMode: s.color, filter: this.filterSpec(s, parts.map((p) => p.mask)), pointSize: ps, colors: null, sizes: null, order: null };
    for (const p of parts) for (const k of ["colors", "sizes", "order"]) if (p[k]) enc[k] = p[k];
    this.map.setEncoding(enc);
    this.emit("encoded");
  }

  /** Legend drawn by an encoder (true), or false when the class legend applies. */
  encoderLegend(el) { return this.encoders.some((e) => e.legend && e.legend(el)); }

  /** Row indices of the selected ids in this run. */
  selectionIndices() { return indicesOf(this.session.samples, this.store.get().sel); }

  /** A pick on a view ({indices, mode}) merged into the selection. */
  select({ indices, mode }) {
    const ids = Array.from(indices, (i) => this.session.samples.ids[i]);
    this.store.set({ sel: mergeSelection(this.store.get().sel, ids, mode) });
  }

  selectionChanged() {
    if (!this.session.samples) return;
    this.map.setEncoding({ selection: this.selectionIndices() });
    this.loadTrails();
    this.emit("selection");
  }

  loadTrails() {
    const s = this.store.get(), session = this.session;
    if (!session.run) return;
    this.trails.load(session.run.name, session, s.sel, { on: s.trails })
      .catch((e) => this.banners.set("error", errorText(e, "Could not load the trajectories")));
  }
}
