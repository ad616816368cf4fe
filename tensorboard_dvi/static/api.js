// All access to the DVI plugin's HTTP API (docs/HTTP_API.md) goes through this module.
// URLs are relative: the plugin page has <base href="plugin/dvi/">, so "./runs" resolves to
// /data/plugin/dvi/runs under TensorBoard. Errors are recognised by their X-DVI-Error code, never by
// their text.

import { parseContainer } from "./container.js";
import { makeSamples } from "./selection.js";

export { parseContainer };

/** A failed request: HTTP status (0: no answer), the server's message (shown to the user) and its
 *  machine code from the X-DVI-Error header (null from a server that does not send one). */
export class ApiError extends Error {
  constructor(status, message, route, code = null) {
    super(message);
    this.status = status;
    this.route = route;
    this.code = code;
  }
  /** The epoch is not fitted (yet, or any more): by the error code; a server without codes says
   *  it with a 404 on an epoch's data, which the caller then re-checks against `status`. */
  get notFitted() {
    return this.code === "not_fitted" || (this.code === null && this.status === 404 && EPOCH_ROUTES.has(this.route));
  }
}

const EPOCH_ROUTES = new Set(["projection", "background", "background_meta"]);

/** The user-facing sentence for an error while doing `what`. */
export function errorText(e, what) {
  if (e instanceof ApiError) {
    if (e.status === 0) return `${what}: the server is unreachable (TensorBoard does not answer). The tab retries and recovers when it is back.`;
    if (e.status === 404) return `${what}: ${e.message}.`;
    if (e.status === 400) return `${what}: the request was refused (${e.message}).`;
    return `${what}: the server failed (HTTP ${e.status}: ${e.message}). See TensorBoard's console output for details.`;
  }
  return `${what}: ${e && e.message ? e.message : e}`;
}

async function failure(res, route) {
  let text = "";
  try { text = (await res.text()).trim(); } catch (e) { /* ignore */ }
  return new ApiError(res.status, text || `${route}: HTTP ${res.status}`, route, res.headers.get("X-DVI-Error") || null);
}

const unreachable = (route) => new ApiError(0, "TensorBoard is not reachable (is it still running?)", route);

function qs(params) {
  const u = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null) u.set(k, String(v));
  return u.toString();
}

/** A tiny LRU map. */
class Lru {
  constructor(max) { this.max = max; this.map = new Map(); }
  get(k) {
    const v = this.map.get(k);
    if (v !== undefined) { this.map.delete(k); this.map.set(k, v); }
    return v;
  }
  set(k, v) {
    this.map.delete(k);
    this.map.set(k, v);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value);
  }
  delete(k) { this.map.delete(k); }
  clear() { this.map.clear(); }
}

export class Api {
  constructor(base = "./") {
    this.base = base;
    this._samples = new Map();
    this._proj = new Lru(12);
    this._bg = new Lru(12);
    this._predict = new Lru(400);
  }

  url(route, params = {}) {
    const q = qs(params);
    return this.base + route + (q ? "?" + q : "");
  }

  async _fetch(route, params, { method = "GET", as = "json", body = undefined, headers = undefined } = {}) {
    let res;
    try {
      res = await fetch(this.url(route, params), { method, body, credentials: "same-origin",
        headers: { "X-DVI-Request": "1", ...(headers || {}) } });
    } catch (e) {
      throw unreachable(route);
    }
    if (!res.ok) throw await failure(res, route);
    if (as === "json") return res.json();
    if (as === "buffer") return res.arrayBuffer();
    if (as === "blob") return res.blob();
    return res;
  }

  runs() { return this._fetch("runs", {}); }
  /** The catalogue (catalogue.js), or null from a server that predates it (404 without a code). */
  catalogue() {
    return this._fetch("catalogue", {}).catch((e) => {
      if (e instanceof ApiError && e.status === 404 && e.code === null) return null;
      throw e;
    });
  }
  status(run) { return this._fetch("status", { run }, { method: "POST" }); }  // POST: opens the run (lazy fitting)
  fit(run) { return this._fetch("fit", { run }, { method: "POST" }); }
  cancel(run) { return this._fetch("cancel", { run }, { method: "POST" }); }
  /** Run `run` laid out from run `ref` (docs/HTTP_API.md, fit_from): "start" (POST), "cancel", or
   *  null (GET, the state only). */
  fitFrom(run, ref, action = null) {
    const route = action === "cancel" ? "fit_from_cancel" : "fit_from";
    return this._fetch(route, { run, ref }, { method: action ? "POST" : "GET" });
  }
  metrics(run, epoch) { return this._fetch("metrics", { run, epoch }); }
  sample(run, id, epoch) { return this._fetch("sample", { run, id, epoch }); }
  thumbnailUrl(run, id) { return this.url("thumbnail", { run, id }); }
  /** Positions of `ids` at every epoch; with `ref`, of run `run` laid out from run `ref`. */
  trajectories(run, ids, start, end, ref) {
    return this._fetch("trajectories", { run, ids: ids.join(","), start, end, ref });
  }

  /** The promise cached under `key` in `cache`, else make() (a failed promise is dropped again). */
  _cached(cache, key, make) {
    let p = cache.get(key);
    if (!p) {
      p = make();
      p.catch(() => cache.delete(key));
      cache.set(key, p);
    }
    return p;
  }

  /** Static per-sample arrays of a run, fetched once: {n, ids, labels, split, noisy, indexOf}. */
  samples(run) {
    return this._cached(this._samples, run, () => this._fetch("samples", { run }, { as: "buffer" }).then((buf) => {
      const { header, arrays } = parseContainer(buf);
      return makeSamples(header, arrays);
    }));
  }

  /** One fitted epoch: {epoch, n, coords, predictions, confidence, flags}. Cached (LRU).
   *  `ref`: the run laid out from run `ref` (fit_from). */
  projection(run, epoch, ref = null) {
    const key = run + "\u0000" + epoch + (ref ? "\u0000" + ref : "");
    return this._cached(this._proj, key, () => this._fetch("projection", { run, epoch, ref }, { as: "buffer" }).then((buf) => {
      const { header, arrays } = parseContainer(buf);
      return { epoch, n: header.n, ...arrays };
    }));
  }

  /** Until `epoch` is fitted, its provisional layout (docs/HTTP_API.md): {epoch, n, coords, ...,
   *  provisional: true, seconds}; the fitted projection when it is fitted by now. Not cached. */
  provisionalProjection(run, epoch) {
    return this._fetch("projection", { run, epoch, provisional: 1 }, { as: "buffer" }).then((buf) => {
      const { header, arrays } = parseContainer(buf);
      return { epoch, n: header.n, provisional: !!header.provisional, seconds: header.seconds ?? null, ...arrays };
    });
  }

  /** Background image and its bounds: {image: HTMLImageElement, bounds, resolution}. */
  background(run, epoch, ref = null) {
    return this._cached(this._bg, run + "\u0000" + epoch + (ref ? "\u0000" + ref : ""), () => {
      const meta = this._fetch("background_meta", { run, epoch, ref });
      const img = new Image();
      const loaded = new Promise((resolve, reject) => {
        img.onload = () => resolve(img);
        img.onerror = () => reject(new ApiError(404, `background of epoch ${epoch} could not be loaded`, "background"));
      });
      img.src = this.url("background", { run, epoch, ref });
      return Promise.all([meta, loaded]).then(([m]) => ({ image: img, bounds: m.bounds, resolution: m.resolution, palette: m.palette || null }));
    });
  }

  /** The decision regions re-drawn over data `bounds` [x0, y0, x1, y1] (a zoomed view): an image. */
  backgroundTile(run, epoch, bounds, resolution, ref = null) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new ApiError(0, `zoomed background of epoch ${epoch} could not be loaded`, "background"));
      img.src = this.url("background", { run, epoch, bounds: bounds.map((v) => v.toPrecision(9)).join(","), resolution, ref });
    });
  }

  /** What the model predicts at a 2-D point; cached on a coarse grid of the query. */
  predictAt(run, epoch, x, y) {
    const key = `${run}\u0000${epoch}\u0000${x.toPrecision(4)}\u0000${y.toPrecision(4)}`;
    return this._cached(this._predict, key, () => this._fetch("predict_at", { run, epoch, x: x.toPrecision(6), y: y.toPrecision(6) }));
  }

  // Training dynamics (docs/HTTP_API.md, "Training dynamics"); the panel is static/panels/dynamics.js.
  /** Per-sample signals: {header, arrays} of the binary container (not cached: it grows with training). */
  dynamics(run) {
    return this._fetch("dynamics", { run }, { as: "buffer" }).then(parseContainer);
  }
  /** A ready-made query: {query, params, count, total, ids, indices, epochs[, warning]}. */
  dynamicsQuery(run, query, params = {}) { return this._fetch("dynamics_query", { ...params, run, query }); }
  /** Export of ids or of a query result as a Response (a download); large id lists go in a POST body. */
  dynamicsExport(run, format, { ids = null, query = null, params = {} } = {}) {
    const args = ids ? { run, format } : { ...params, run, format, query };
    const joined = ids ? ids.join(",") : "";
    if (ids && joined.length < 1500) args.ids = joined;
    const post = ids && !args.ids;
    return this._fetch("dynamics_export", args, post ? { method: "POST", body: new URLSearchParams({ ids: joined }), as: "response" }
      : { as: "response" });
  }

  // Per-sample extras, neighbours, history and tags (docs/HTTP_API.md); panels/sample_*.js, tags.js.
  texts(run) { return this._fetch("texts", { run }); }
  metadata(run) { return this._fetch("metadata", { run }); }
  search(run, q, field = "text", regex = false) { return this._fetch("search", { run, q, field, regex: regex ? 1 : 0 }); }
  neighbours(run, epoch, id, k = 10) { return this._fetch("neighbours", { run, epoch, id, k }); }
  history(run, id) { return this._fetch("history", { run, id }); }
  tags(run) { return this._fetch("tags", { run }); }
  /** op: add | remove | set | delete; the header proves the request comes from this page. */
  changeTags(run, tag, ids, op) {
    const body = JSON.stringify({ tag, ids, op });
    return this._fetch("tags", { run }, { method: "POST", body, headers: { "X-DVI-Request": "1", "Content-Type": "application/json" } });
  }
  tagsExportUrl(run, format) { return this.url("tags_export", { run, format }); }

  /** Forget cached data of a run (e.g. after a refit). */
  invalidate(run) {
    this._samples.delete(run);
    for (const cache of [this._proj, this._bg, this._predict]) {
      for (const k of [...cache.map.keys()]) if (k.startsWith(run + "\u0000")) cache.delete(k);
    }
  }
}
