// The tab's state as URL text: defaults, one encoder/decoder per key, TensorBoard's hash format
// ("#tab&k=v&k2=v2", tf_storage) and the dynamics query / range values. Pure (no window): store.js
// reads and writes the real URL with these; tests/js/urlstate.test.mjs checks the round trips.

export const DEFAULTS = Object.freeze({
  run: null,
  epoch: null,
  color: "label",        // label | prediction | correct
  split: "all",          // all | train | test
  bg: true,              // background on/off
  sel: [],               // selected sample ids
  fl: [],                // filter: labels (empty = all)
  fp: [],                // filter: predictions (empty = all)
  fc: "all",             // filter: all | correct | wrong
  fb: false,             // filter: near the boundary only
  fn: false,             // filter: noisy only
  trails: true,          // draw trails of the selection
  tdrift: false,         // trails include the map's drift (else drawn in the shown epoch's frame)
  // training dynamics (static/dynamics.js)
  dyn: false,            // the Dynamics panel is open
  colorby: "",           // "signal:<name>": colour points by a signal (overrides `color`)
  sizeby: "",            // "signal:<name>": size points by a signal
  dfilter: "",           // "<signal>:<min>:<max>" (either bound may be empty)
  query: "",             // "<query>[:k=v;k=v]": the selection is this query's result
  // compare runs (static/compare.js, docs/COMPARE.md)
  compare: [],           // runs side by side (≥ 2 turns the comparison on)
  lock: true,            // one epoch for every pane
  align: "procrustes",   // procrustes (rotate) | fitted (fitted from the first run) | none
  cdiff: "off",          // off | disagree | flip: difference highlight
  ceps: [],              // per-pane epochs while unlocked
  cmat: "",              // run the agreement matrix compares with the reference ("": the second pane)
});

export const PREFIX = "dvi.";
export const MAX_SEL_IN_URL = 500;

const enc = {
  run: (v) => v,
  epoch: (v) => String(v),
  color: (v) => v,
  split: (v) => v,
  bg: (v) => (v ? "1" : "0"),
  sel: (v) => v.slice(0, MAX_SEL_IN_URL).join(","),
  fl: (v) => v.join(","),
  fp: (v) => v.join(","),
  fc: (v) => v,
  fb: (v) => (v ? "1" : "0"),
  fn: (v) => (v ? "1" : "0"),
  trails: (v) => (v ? "1" : "0"),
  tdrift: (v) => (v ? "1" : "0"),
  dyn: (v) => (v ? "1" : "0"),
  colorby: (v) => v,
  sizeby: (v) => v,
  dfilter: (v) => v,
  query: (v) => v,
  compare: (v) => v.map(encodeURIComponent).join(","),
  lock: (v) => (v ? "1" : "0"),
  align: (v) => v,
  cdiff: (v) => v,
  ceps: (v) => v.map((e) => (e === null || e === undefined ? "" : String(e))).join(","),
  cmat: (v) => v,
};
const numList = (s) => s.split(",").filter((x) => x !== "").map(Number).filter((x) => Number.isFinite(x));
const dec = {
  run: (s) => s,
  epoch: (s) => (/^\d+$/.test(s) ? Number(s) : undefined),
  color: (s) => (["label", "prediction", "correct"].includes(s) ? s : undefined),
  split: (s) => (["all", "train", "test"].includes(s) ? s : undefined),
  bg: (s) => s !== "0",
  sel: numList,
  fl: numList,
  fp: numList,
  fc: (s) => (["all", "correct", "wrong"].includes(s) ? s : undefined),
  fb: (s) => s === "1",
  fn: (s) => s === "1",
  trails: (s) => s !== "0",
  tdrift: (s) => s === "1",
  dyn: (s) => s === "1",
  colorby: (s) => (/^signal:[a-z_]+$/.test(s) ? s : undefined),
  sizeby: (s) => (/^signal:[a-z_]+$/.test(s) ? s : undefined),
  dfilter: (s) => (/^[a-z_]+:[-+0-9.eE]*:[-+0-9.eE]*$/.test(s) ? s : undefined),
  query: (s) => (/^[a-z_]+(:[a-z_]+=[-+0-9.eEa-z_]*(;[a-z_]+=[-+0-9.eEa-z_]*)*)?$/.test(s) ? s : undefined),
  compare: (s) => { try { return s.split(",").filter(Boolean).map(decodeURIComponent); } catch (e) { return undefined; } },
  lock: (s) => s !== "0",
  align: (s) => (["procrustes", "fitted", "none"].includes(s) ? s : undefined),
  cdiff: (s) => (["off", "disagree", "flip"].includes(s) ? s : undefined),
  ceps: (s) => s.split(",").map((x) => (/^\d+$/.test(x) ? Number(x) : null)),
  cmat: (s) => s,
};

export function sameValue(a, b) {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

export function parseHash(hash) {
  const out = { tab: null, pairs: [] };
  const h = hash.replace(/^#/, "");
  if (!h) return out;
  for (const part of h.split("&")) {
    const kv = part.split("=");
    if (kv.length === 1) out.tab = kv[0];
    else if (kv.length === 2) {
      try { out.pairs.push([decodeURIComponent(kv[0]), decodeURIComponent(kv[1])]); } catch (e) { /* skip */ }
    }
  }
  return out;
}

export function formatHash({ tab, pairs }) {
  const rest = pairs.map(([k, v]) => encodeURIComponent(k) + "=" + encodeURIComponent(v)).join("&");
  return (tab || "") + (rest ? (tab ? "&" : "") + rest : "");
}

/** State keys found in hash pairs ("dvi.<key>" → decoded value; unknown keys and bad values skipped). */
export function decodeState(pairs) {
  const out = {};
  for (const [k, v] of pairs) {
    if (!k.startsWith(PREFIX)) continue;
    const key = k.slice(PREFIX.length);
    if (!(key in dec)) continue;
    const val = dec[key](v);
    if (val !== undefined) out[key] = val;
  }
  return out;
}

/** Hash pairs: the foreign ones of `pairs` kept, then "dvi.<key>" for every non-default value of `state`. */
export function encodeState(state, pairs = []) {
  const out = pairs.filter(([k]) => !k.startsWith(PREFIX));
  for (const key of Object.keys(enc)) {
    const v = state[key];
    if (v === null || v === undefined || sameValue(v, DEFAULTS[key])) continue;
    out.push([PREFIX + key, enc[key](v)]);
  }
  return out;
}

export const URL_KEYS = Object.keys(enc);

/** The store patch a (changed) hash asks for: every key of `keys`, the hash's value or the
 *  default; null when the hash belongs to another tab than `tabName` (null: any). */
export function stateFromHash(hash, keys = URL_KEYS, tabName = null) {
  const parsed = parseHash(hash);
  if (tabName && parsed.tab && parsed.tab !== tabName) return null;
  const found = decodeState(parsed.pairs), patch = {};
  for (const k of keys) patch[k] = k in found ? found[k] : DEFAULTS[k];
  return patch;
}

/** Parses "name:k=v;k=v" (the dvi.query value) into {query, params}; null when empty or not in `known`. */
export function parseQuery(str, known = null) {
  if (!str) return null;
  const [name, rest] = str.split(/:(.*)/s);
  if (known && !known.has(name)) return null;
  const params = {};
  for (const kv of (rest || "").split(";")) {
    if (!kv) continue;
    const [k, v] = kv.split("=");
    if (k && v !== undefined && v !== "") params[k] = v;
  }
  return { query: name, params };
}

/** The inverse of parseQuery (empty values left out). */
export function formatQuery(query, params) {
  const kv = Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== "").map(([k, v]) => `${k}=${v}`);
  return kv.length ? `${query}:${kv.join(";")}` : query;
}

/** "name:lo:hi" (dvi.dfilter) → {signal, lo, hi} (NaN for an open bound); null when empty or not in `known`. */
export function parseRange(str, known = null) {
  if (!str) return null;
  const [signal, lo, hi] = str.split(":");
  if (known && !known.has(signal)) return null;
  const num = (v) => (v === undefined || v === "" ? NaN : Number(v));
  return { signal, lo: num(lo), hi: num(hi) };
}
