// All access to the DVI plugin's HTTP API (docs/HTTP_API.md) goes through this module.
// URLs are relative: the plugin page has <base href="plugin/dvi/">, so "./runs" resolves to
// /data/plugin/dvi/runs under TensorBoard.

export class ApiError extends Error {
  constructor(status, message, route) {
    super(message);
    this.status = status;
    this.route = route;
  }
  get notFitted() {
    return this.status === 404 && /not fitted/i.test(this.message);
  }
}

const DTYPES = {
  float32: Float32Array, float64: Float64Array, int32: Int32Array, uint32: Uint32Array,
  int16: Int16Array, uint16: Uint16Array, int8: Int8Array, uint8: Uint8Array,
};

/** Parses the binary container: uint32 LE header length, JSON header, 8-aligned arrays. */
export function parseContainer(buf) {
  const dv = new DataView(buf);
  const len = dv.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 4, len)));
  const base = 4 + len;
  const arrays = {};
  for (const [name, spec] of Object.entries(header.arrays || {})) {
    const T = DTYPES[spec.dtype];
    if (!T) throw new Error(`unsupported dtype ${spec.dtype} for ${name}`);
    const count = spec.shape.reduce((a, b) => a * b, 1);
    const start = base + spec.offset;
    // Typed arrays need aligned offsets; the container guarantees 8-byte alignment, but copy
    // defensively if a server ever gets it wrong.
    arrays[name] = start % T.BYTES_PER_ELEMENT === 0
      ? new T(buf, start, count)
      : new T(buf.slice(start, start + count * T.BYTES_PER_ELEMENT));
  }
  return { header, arrays };
}

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

  async _fetch(route, params, { method = "GET", as = "json" } = {}) {
    let res;
    try {
      res = await fetch(this.url(route, params), { method, credentials: "same-origin", headers: { "X-DVI-Request": "1" } });
    } catch (e) {
      throw new ApiError(0, "TensorBoard is not reachable (is it still running?)", route);
    }
    if (!res.ok) {
      let text = "";
      try { text = (await res.text()).trim(); } catch (e) { /* ignore */ }
      throw new ApiError(res.status, text || `${route}: HTTP ${res.status}`, route);
    }
    if (as === "json") return res.json();
    if (as === "buffer") return res.arrayBuffer();
    if (as === "blob") return res.blob();
    return res;
  }

  runs() { return this._fetch("runs", {}); }
  status(run) { return this._fetch("status", { run }, { method: "POST" }); }  // POST: opens the run (lazy fitting)
  fit(run) { return this._fetch("fit", { run }, { method: "POST" }); }
  cancel(run) { return this._fetch("cancel", { run }, { method: "POST" }); }
  metrics(run, epoch) { return this._fetch("metrics", { run, epoch }); }
  sample(run, id, epoch) { return this._fetch("sample", { run, id, epoch }); }
  thumbnailUrl(run, id) { return this.url("thumbnail", { run, id }); }
  trajectories(run, ids, start, end) {
    return this._fetch("trajectories", { run, ids: ids.join(","), start, end });
  }

  /** Static per-sample arrays of a run, fetched once: {n, ids, labels, split, noisy, indexOf}. */
  samples(run) {
    let p = this._samples.get(run);
    if (!p) {
      p = this._fetch("samples", { run }, { as: "buffer" }).then((buf) => {
        const { header, arrays } = parseContainer(buf);
        const n = header.n;
        const ids = arrays.ids;
        const index = new Map();
        for (let i = 0; i < n; i++) index.set(ids[i], i);
        return {
          n, ids, labels: arrays.labels, split: arrays.split, noisy: arrays.noisy || null,
          indexOf: (id) => (index.has(id) ? index.get(id) : -1),
        };
      });
      p.catch(() => this._samples.delete(run));
      this._samples.set(run, p);
    }
    return p;
  }

  /** One fitted epoch: {epoch, n, coords, predictions, confidence, flags}. Cached (LRU). */
  projection(run, epoch) {
    const key = run + "\u0000" + epoch;
    let p = this._proj.get(key);
    if (!p) {
      p = this._fetch("projection", { run, epoch }, { as: "buffer" }).then((buf) => {
        const { header, arrays } = parseContainer(buf);
        return { epoch, n: header.n, ...arrays };
      });
      p.catch(() => this._proj.delete(key));
      this._proj.set(key, p);
    }
    return p;
  }

  /** Background image and its bounds: {image: HTMLImageElement, bounds, resolution}. */
  background(run, epoch) {
    const key = run + "\u0000" + epoch;
    let p = this._bg.get(key);
    if (!p) {
      const meta = this._fetch("background_meta", { run, epoch });
      const img = new Image();
      const loaded = new Promise((resolve, reject) => {
        img.onload = () => resolve(img);
        img.onerror = () => reject(new ApiError(404, `background of epoch ${epoch} could not be loaded`, "background"));
      });
      img.src = this.url("background", { run, epoch });
      p = Promise.all([meta, loaded]).then(([m]) => ({ image: img, bounds: m.bounds, resolution: m.resolution, palette: m.palette || null }));
      p.catch(() => this._bg.delete(key));
      this._bg.set(key, p);
    }
    return p;
  }

  /** What the model predicts at a 2-D point; cached on a coarse grid of the query. */
  predictAt(run, epoch, x, y) {
    const key = `${run}\u0000${epoch}\u0000${x.toPrecision(4)}\u0000${y.toPrecision(4)}`;
    let p = this._predict.get(key);
    if (!p) {
      p = this._fetch("predict_at", { run, epoch, x: x.toPrecision(6), y: y.toPrecision(6) });
      p.catch(() => this._predict.delete(key));
      this._predict.set(key, p);
    }
    return p;
  }

  // Training dynamics (docs/HTTP_API.md, "Training dynamics"); the panel is static/dynamics.js.
  /** Per-sample signals: {header, arrays} of the binary container (not cached: it grows with training). */
  dynamics(run) {
    return this._fetch("dynamics", { run }, { as: "buffer" }).then(parseContainer);
  }
  /** A ready-made query: {query, params, count, total, ids, indices, epochs[, warning]}. */
  dynamicsQuery(run, query, params = {}) { return this._fetch("dynamics_query", { ...params, run, query }); }
  /** Export of ids or of a query result as a Response (a download); large id lists go in a POST body. */
  async dynamicsExport(run, format, { ids = null, query = null, params = {} } = {}) {
    const args = ids ? { run, format } : { ...params, run, format, query };
    const body = ids ? new URLSearchParams({ ids: ids.join(",") }) : null;
    if (ids && ids.join(",").length < 1500) args.ids = ids.join(",");
    let res;
    try {
      res = await fetch(this.url("dynamics_export", args), args.ids || !ids ? { credentials: "same-origin" }
        : { method: "POST", body, credentials: "same-origin" });
    } catch (e) {
      throw new ApiError(0, "TensorBoard is not reachable (is it still running?)", "dynamics_export");
    }
    if (!res.ok) throw new ApiError(res.status, ((await res.text().catch(() => "")) || "").trim() || `HTTP ${res.status}`, "dynamics_export");
    return res;
  }

  /** Forget cached data of a run (e.g. after a refit). */
  invalidate(run) {
    this._samples.delete(run);
    for (const cache of [this._proj, this._bg, this._predict]) {
      for (const k of [...cache.map.keys()]) if (k.startsWith(run + "\u0000")) cache.delete(k);
    }
  }
}
