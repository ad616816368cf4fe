// Trails of selected samples (GET trajectories), one loader for the single-run map and every
// compare pane: fetches the positions of at most MAX_TRAILS ids, optionally maps them (alignment),
// colours them by label, hands them to a MapView and skips refetching an unchanged request.

// Past ~100 trails the map turns into a hairball: trails are drawn for the first MAX_TRAILS
// selected samples only, and onCount(n, total) lets the caller say so.
export const MAX_TRAILS = 100;

/** Opacity of the trail segment from epoch index e0 to e1 while epoch index `cur` is shown (of
 *  nEpochs): 0.95 at the shown epoch, fading linearly to 0.15 at the farthest epoch; `dense` (< 1
 *  for many trails) scales it down. cur < 0 (shown epoch not on the trail): full. */
export function segmentAlpha(e0, e1, cur, nEpochs, dense = 1) {
  const age = cur >= 0 ? Math.min(Math.abs(e0 - cur), Math.abs(e1 - cur)) / Math.max(1, nEpochs - 1) : 0;
  return (0.95 - 0.8 * age) * dense;
}

/** The arrowhead of `size` px on segment a→b (the epoch order): [tip, left, right] screen points
 *  around 55 % of the way, the tip towards b; null when the segment is too short to carry one. */
export function arrowHeadPoints(xa, ya, xb, yb, size) {
  const dx = xb - xa, dy = yb - ya, len = Math.hypot(dx, dy);
  if (len < 3 * size) return null;
  const ux = dx / len, uy = dy / len, mx = xa + dx * 0.55, my = ya + dy * 0.55;
  return [[mx + ux * size * 0.6, my + uy * size * 0.6],
    [mx - ux * size * 0.6 - uy * size * 0.5, my - uy * size * 0.6 + ux * size * 0.5],
    [mx - ux * size * 0.6 + uy * size * 0.5, my - uy * size * 0.6 - ux * size * 0.5]];
}

/**
 * Trails in the frame of the shown epoch: every map is moved as a whole to follow the
 * representations' mean (engine/drift.py, `shifts[e]` = [x, y] per trail epoch, null = none), so a
 * trail as logged is mostly that common move. Position p at epoch e becomes p − shifts[e] +
 * shifts[cur]: each sample's move relative to the map, ending where the shown epoch draws it.
 * Unchanged when there are no shifts or the shown epoch `cur` (an index) is not on the trails.
 */
export function inMapFrame(positions, shifts, cur) {
  if (!shifts || cur < 0 || cur >= shifts.length) return positions;
  const sc = shifts[cur] || [0, 0];
  return positions.map((traj) => traj.map((p, e) => {
    if (!p) return p;
    const se = shifts[e] || [0, 0];
    return [p[0] - se[0] + sc[0], p[1] - se[1] + sc[1]];
  }));
}

export class TrailLoader {
  /** @param api Api; @param map MapView; @param onCount(n, total) told how many trails are drawn, of how many wanted. */
  constructor(api, map, onCount = () => {}) {
    this.api = api;
    this.map = map;
    this.onCount = onCount;
    this.key = null;
  }

  /** Forget the last request (the next load fetches again). */
  reset() { this.key = null; }

  /**
   * Loads the trails of `ids` of run `run` (session-like {samples, palette, fitted}); `on` false or no
   * ids clears them. transform(tr) → positions (Promise) maps them (e.g. onto a reference run);
   * `ref` (a run name) loads the positions of `run` laid out from that run (compare, "fitted from A").
   * Rejects with the API error (the caller shows it).
   */
  async load(run, data, ids, { on = true, transform = null, keyExtra = "", ref = undefined } = {}) {
    const known = ids.filter((id) => data.samples && data.samples.indexOf(id) >= 0);
    ids = known.slice(0, MAX_TRAILS);
    if (!on || !ids.length || !data.fitted.length) {
      this.key = null;
      this.map.setTrails(null);
      this.onCount(0);
      return;
    }
    const key = `${run}|${ids.join(",")}|${data.fitted.join(",")}|${keyExtra}|${ref || ""}`;
    if (key === this.key) return;
    this.key = key;
    try {
      const tr = await this.api.trajectories(run, ids, undefined, undefined, ref);
      const positions = transform ? await transform(tr) : tr.positions;
      if (key !== this.key) return;
      const indices = tr.ids.map((id) => data.samples.indexOf(id));
      const colors = indices.map((i) => data.palette[data.samples.labels[i]] || "#333");
      // aligned panes map every epoch on its own (transform): the maps' moves are not known there
      this.map.setTrails({ epochs: tr.epochs, positions, colors, indices, shifts: transform ? null : tr.shifts || null });
      this.onCount(ids.length, known.length);
    } catch (e) {
      this.key = null;
      throw e;
    }
  }
}
