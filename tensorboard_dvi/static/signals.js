// Per-sample training-dynamics signals turned into encodings: colour domain, viridis colours,
// point sizes, range mask, histogram, number format. Pure (tests/js/signals.test.mjs); the panel
// is dynamics.js. Signal kinds come from the catalogue: "float" | "count" | "flag".

// viridis (matplotlib), 9 stops; interpolated into a 256-entry table.
const VIRIDIS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"];
export const LUT = (() => {
  const stops = VIRIDIS.map((h) => [1, 3, 5].map((o) => parseInt(h.slice(o, o + 2), 16)));
  const out = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = (i / 255) * (stops.length - 1), a = Math.min(stops.length - 2, Math.floor(t)), f = t - a;
    for (let c = 0; c < 3; c++) out[3 * i + c] = Math.round(stops[a][c] + (stops[a + 1][c] - stops[a][c]) * f);
  }
  return out;
})();
export const RAMP_CSS = `linear-gradient(to right, ${VIRIDIS.join(", ")})`;
export const RAMP_STOPS = VIRIDIS;
export const NAN_RGB = [170, 170, 170];

export function quantile(sorted, q) {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.round(q * (sorted.length - 1))));
  return sorted[i];
}

/**
 * Colour domain {lo, hi, clipLo, clipHi, nan} of a signal's values. `range` (the catalogue's
 * [min, max] of a bounded signal, e.g. a rate) wins; flags: [0, 1]; counts:
 * [0, max]; floats that are never negative span [0, 99th percentile]; other floats the 1st–99th
 * percentiles (outliers clipped). full: the plain [min, max].
 */
export function domainOf(values, kind, full = false, range = null) {
  const finite = [];
  let nan = 0;
  for (let i = 0; i < values.length; i++) (Number.isFinite(values[i]) ? finite.push(values[i]) : nan++);
  finite.sort((a, b) => a - b);
  const min = finite.length ? finite[0] : 0, max = finite.length ? finite[finite.length - 1] : 1;
  if (full) return { lo: min, hi: max, nan };
  let lo = min, hi = max, clipLo = false, clipHi = false;
  if (range) { lo = range[0]; hi = range[1]; clipLo = lo > min; clipHi = hi < max; }
  else if (kind === "flag") { lo = 0; hi = 1; }
  else if (kind === "count") { lo = 0; hi = Math.max(1, max); }
  else if (min >= 0) {
    lo = 0;
    hi = quantile(finite, 0.99);
    clipHi = hi < max;
  } else {
    lo = quantile(finite, 0.01); hi = quantile(finite, 0.99);
    clipLo = lo > min; clipHi = hi < max;
  }
  return { lo, hi, clipLo, clipHi, nan };
}

/** t in [0, 1] of v in the domain (0.5 for an empty domain, NaN for a missing value). */
export function position(v, dom) {
  if (!Number.isFinite(v)) return NaN;
  return dom.hi > dom.lo ? Math.min(1, Math.max(0, (v - dom.lo) / (dom.hi - dom.lo))) : 0.5;
}

/** RGB per sample (Uint8Array n*3) on the viridis ramp; missing values grey. */
export function colorize(values, dom) {
  const n = values.length;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const t = position(values[i], dom);
    if (!Number.isFinite(t)) { out.set(NAN_RGB, 3 * i); continue; }
    const j = Math.round(t * 255) * 3;
    out[3 * i] = LUT[j]; out[3 * i + 1] = LUT[j + 1]; out[3 * i + 2] = LUT[j + 2];
  }
  return out;
}

/** Draw order (Uint32Array of indices): missing values first, then by value ascending, so the
 *  strongest values are drawn last, on top of the others (a high mislabel score stays visible). */
export function drawOrder(values) {
  const n = values.length, idx = new Uint32Array(n);
  for (let i = 0; i < n; i++) idx[i] = i;
  const key = (i) => (Number.isFinite(values[i]) ? values[i] : -Infinity);
  return idx.sort((a, b) => key(a) - key(b) || a - b);
}

/** Point sizes in CSS px (Float32Array n): base·(0.45 + 1.6 t), missing values the smallest. */
export function sizesFor(values, dom, base, out = null) {
  const n = values.length;
  const sizes = out && out.length === n ? out : new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const t = position(values[i], dom);
    sizes[i] = Number.isFinite(t) ? base * (0.45 + 1.6 * t) : base * 0.45;
  }
  return sizes;
}

/** 1 where lo ≤ v ≤ hi (NaN bounds open; missing values fail). */
export function rangeMask(values, lo, hi) {
  const a = Number.isFinite(lo) ? lo : -Infinity, b = Number.isFinite(hi) ? hi : Infinity;
  const out = new Uint8Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = values[i] >= a && values[i] <= b ? 1 : 0;
  return out;
}

/** Counts of finite values in `bins` equal bins over [dom.lo, dom.hi]. */
export function histogram(values, dom, bins) {
  const out = new Array(bins).fill(0);
  if (!(dom.hi > dom.lo)) return out;
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) continue;
    out[Math.max(0, Math.min(bins - 1, Math.floor(((values[i] - dom.lo) / (dom.hi - dom.lo)) * bins)))]++;
  }
  return out;
}

/** Short number for the legend and readouts: integers for counts and flags, 2–3 significant digits else. */
export function fmt(v, kind) {
  if (v === null || v === undefined || !Number.isFinite(v)) return "—";
  if (kind === "count" || kind === "flag") return String(Math.round(v));
  const a = Math.abs(v);
  return a !== 0 && (a < 0.01 || a >= 1000) ? v.toPrecision(3) : String(+v.toFixed(a < 1 ? 3 : 2));
}
