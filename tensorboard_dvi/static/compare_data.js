// The data side of "Compare runs": rows paired by sample id, each pane's projection aligned onto
// the reference pane's map of the same epoch (Procrustes, align.js) or fitted from the reference
// run (align "fitted": the fit_from routes), the warped backgrounds and zoomed tiles, and the
// differences between the runs (diff.js). Cached per pane and epoch; compare.js shows them.

import { clampEpoch } from "./epochs.js";
import { robustProcrustes, applySimilarity, pairResidual, tileGeometry } from "./align.js";
import { pairByIds, compareRuns } from "./diff.js";
import { warpBackground, warpTile } from "./compare_pane.js";

export class CompareData {
  /** @param panes () → the panes (reference first); @param mode () → "none" | "procrustes" | "fitted". */
  constructor(api, panes, mode) {
    Object.assign(this, { api, panes, mode });
    this._alignCache = new Map();
    this._bgCache = new Map();
    this._pairCache = new Map();
  }

  clear() { this._alignCache.clear(); this._bgCache.clear(); this._pairCache.clear(); }

  /** Rows of the ids both panes' runs logged (diff.js pairByIds), cached per pair of runs. */
  pairs(a, b) {
    const key = a.run + "\u0000" + b.run;
    let pr = this._pairCache.get(key);
    if (!pr) { pr = pairByIds(a.session.samples, b.session.samples); this._pairCache.set(key, pr); }
    return pr;
  }

  /** Fitted from the reference run (not the reference pane itself). */
  fromRef(p) { const ref = this.panes()[0]; return this.mode() === "fitted" && !!ref && p !== ref; }

  /** The pane's projection, mapped onto the reference pane's shown map when aligned ("procrustes"),
   *  or its epoch fitted from the reference run ("fitted", with `from`: the residual as drawn). */
  async projection(p, ep) {
    const ref = this.panes()[0];
    if (this.fromRef(p)) return this._fromRef(p, ref, ep);
    const raw = await this.api.projection(p.run, ep);
    if (this.mode() !== "procrustes" || p === ref || !ref || !ref.session.fitted.length) return raw;
    // onto the reference map on screen (its shown epoch), so that aligned panes match what is
    // beside them even when this pane shows another epoch (not fitted yet in one run)
    const refEp = ref.shown !== null && ref.session.fitted.includes(ref.shown) ? ref.shown : clampEpoch(ref.session.fitted, ep);
    const key = `${p.run}\u0000${ep}\u0000${ref.run}\u0000${refEp}`;
    let out = this._alignCache.get(key);
    if (!out) {
      out = this.api.projection(ref.run, refEp).then((rp) => {
        const pr = this.pairs(ref, p);
        const T = robustProcrustes(rp.coords, raw.coords, pr.ia, pr.ib);
        T.refEpoch = refEp;
        return { ...raw, coords: T.identity ? raw.coords : applySimilarity(T, raw.coords), align: T };
      });
      this._alignCache.set(key, out);
      out.catch(() => this._alignCache.delete(key));
      while (this._alignCache.size > 48) this._alignCache.delete(this._alignCache.keys().next().value);
    }
    return out;
  }

  _fromRef(p, ref, ep) {
    const key = `from\u0000${p.run}\u0000${ep}\u0000${ref.run}`;
    let out = this._alignCache.get(key);
    if (!out) {
      out = Promise.all([this.api.projection(p.run, ep, ref.run), this.api.projection(ref.run, ep).catch(() => null)]).then(([raw, rp]) => {
        const pr = this.pairs(ref, p);
        return { ...raw, from: { ref: ref.run, refEpoch: ep, n: pr.ia.length, med: rp ? pairResidual(rp.coords, raw.coords, pr.ia, pr.ib) : NaN } };
      });
      this._alignCache.set(key, out);
      out.catch(() => this._alignCache.delete(key));
    }
    return out;
  }

  /** The zoomed background tile (MapView's source.zoomBackground): an aligned pane's is fetched over
   *  the box that covers the view once mapped back, and warped like its background. */
  async zoomTile(p, ep, bounds, res) {
    const ref = this.panes()[0];
    if (this.fromRef(p)) return this.api.backgroundTile(p.run, ep, bounds, res, ref.run);
    const T = (await this.projection(p, ep)).align;
    if (!T || T.identity) return this.api.backgroundTile(p.run, ep, bounds, res);
    const own = await this.api.background(p.run, ep);  // cached: the bounds of the run's own regions
    const g = tileGeometry(bounds, T, res, res, res, res, own.bounds);
    if (!g) throw new Error("the zoomed view lies outside this run's regions");
    return warpTile(await this.api.backgroundTile(p.run, ep, g.src, res), g.transform, res, res);
  }

  async background(p, ep) {
    if (this.fromRef(p)) {
      const bg = await this.api.background(p.run, ep, this.panes()[0].run);
      p.session.takePalette(bg, p.source);
      return bg;
    }
    const bg = await this.api.background(p.run, ep);
    p.session.takePalette(bg, p.source);
    const proj = await this.projection(p, ep);
    if (!proj.align || proj.align.identity) return bg;
    const key = `${p.run}\u0000${ep}\u0000${this.panes()[0].run}\u0000${proj.align.refEpoch}`;
    let w = this._bgCache.get(key);
    if (!w) {
      w = warpBackground(bg, proj.align);
      this._bgCache.set(key, w);
      while (this._bgCache.size > 24) this._bgCache.delete(this._bgCache.keys().next().value);
    }
    return w;
  }

  /** diff.js's comparison of the reference pane with the others at their shown epochs (null until all show one). */
  async difference(panes) {
    const ref = panes[0];
    if (!ref || panes.some((p) => !p.map.proj)) return null;
    const prevEpoch = (p) => { const f = p.session.fitted; return f[f.indexOf(p.shown) - 1]; };
    const prevOf = async (p) => {
      const e = prevEpoch(p);
      if (e === undefined) return null;
      try { return (await this.api.projection(p.run, e)).predictions; } catch (err) { return null; }
    };
    const prev = await Promise.all(panes.map(prevOf));
    const C = Math.max(...panes.map((p) => p.entry.num_classes || 1));
    const others = panes.slice(1).map((p, j) => ({ n: p.session.samples.n, predictions: p.map.proj.predictions, prev: prev[j + 1], pairs: this.pairs(ref, p) }));
    const d = compareRuns({ n: ref.session.samples.n, predictions: ref.map.proj.predictions, prev: prev[0] }, others, C);
    d.pairs.forEach((r, j) => Object.assign(r, { run: panes[j + 1].run, epoch: panes[j + 1].shown, prevA: prevEpoch(ref), prevB: prevEpoch(panes[j + 1]) }));
    return { ref: ref.run, refEpoch: ref.shown, C, ...d };
  }

}
