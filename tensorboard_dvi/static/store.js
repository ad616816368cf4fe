// App state: one small store that serializes to the URL.
//
// Where the state lives in the URL: the tab runs in an iframe (data/plugin_entry.html) whose
// own URL TensorBoard does not keep. The top-level TensorBoard URL keeps its hash across a
// reload and is what users copy, and TensorBoard parses that hash as "tab&key=value&..."
// (tf_storage), keeping keys it does not know. So the state is written to the *top* page's
// hash with keys prefixed "dvi.", e.g.
//     http://localhost:6006/#dvi&dvi.run=clean&dvi.epoch=5&dvi.color=correct&dvi.sel=12,40
// The iframe is same-origin, so it may read window.parent.location and call
// window.parent.history.replaceState (no hashchange event: TensorBoard does not re-route, and no
// history entry per slider step). When the page is opened on its own (no parent), the page's own
// hash is used instead.

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
  // training dynamics (static/dynamics.js)
  dyn: false,            // the Dynamics panel is open
  colorby: "",           // "signal:<name>": colour points by a signal (overrides `color`)
  sizeby: "",            // "signal:<name>": size points by a signal
  dfilter: "",           // "<signal>:<min>:<max>" (either bound may be empty)
  query: "",             // "<query>[:k=v;k=v]": the selection is this query's result
  // compare runs (static/compare.js, docs/COMPARE.md)
  compare: [],           // runs side by side (≥ 2 turns the comparison on)
  lock: true,            // one epoch for every pane
  align: "procrustes",   // procrustes | none
  cdiff: "off",          // off | disagree | flip: difference highlight
  ceps: [],              // per-pane epochs while unlocked
  cmat: "",              // run the agreement matrix compares with the reference ("": the second pane)
});

const PREFIX = "dvi.";
const MAX_SEL_IN_URL = 500;

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
  dyn: (s) => s === "1",
  colorby: (s) => (/^signal:[a-z_]+$/.test(s) ? s : undefined),
  sizeby: (s) => (/^signal:[a-z_]+$/.test(s) ? s : undefined),
  dfilter: (s) => (/^[a-z_]+:[-+0-9.eE]*:[-+0-9.eE]*$/.test(s) ? s : undefined),
  query: (s) => (/^[a-z_]+(:[a-z_]+=[-+0-9.eEa-z_]*(;[a-z_]+=[-+0-9.eEa-z_]*)*)?$/.test(s) ? s : undefined),
  compare: (s) => { try { return s.split(",").filter(Boolean).map(decodeURIComponent); } catch (e) { return undefined; } },
  lock: (s) => s !== "0",
  align: (s) => (["procrustes", "none"].includes(s) ? s : undefined),
  cdiff: (s) => (["off", "disagree", "flip"].includes(s) ? s : undefined),
  ceps: (s) => s.split(",").map((x) => (/^\d+$/.test(x) ? Number(x) : null)),
  cmat: (s) => s,
};

function sameValue(a, b) {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => x === b[i]);
  return a === b;
}

export class Store {
  constructor(initial = {}) {
    this.state = { ...DEFAULTS, ...initial };
    this.listeners = new Set();
  }
  get() { return this.state; }
  /** Merge a patch; listeners get (state, changedKeys:Set) when something changed. */
  set(patch) {
    const changed = new Set();
    for (const [k, v] of Object.entries(patch)) {
      if (!sameValue(this.state[k], v)) changed.add(k);
    }
    if (!changed.size) return changed;
    this.state = { ...this.state, ...patch };
    for (const fn of this.listeners) fn(this.state, changed);
    return changed;
  }
  subscribe(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }
}

// ---------------------------------------------------------------------------------------------
// Hash handling, compatible with TensorBoard's tf_storage: "#tab&k=v&k2=v2".

function hashWindow() {
  try {
    if (window.parent && window.parent !== window && window.parent.location.href) return window.parent;
  } catch (e) { /* cross-origin parent: fall back to our own URL */ }
  return window;
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

/** Reads the state stored in the URL (only the keys present). */
export function readUrlState() {
  const w = hashWindow();
  const { pairs } = parseHash(w.location.hash);
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

/** Writes the non-default parts of the state into the URL (replaceState, no history entry). */
export function writeUrlState(state, tabName = "dvi") {
  const w = hashWindow();
  const parsed = parseHash(w.location.hash);
  // Another TensorBoard tab is active (our iframe may be kept alive hidden): leave its URL alone.
  if (w !== window && parsed.tab && parsed.tab !== tabName) return;
  const pairs = parsed.pairs.filter(([k]) => !k.startsWith(PREFIX));
  for (const key of Object.keys(enc)) {
    const v = state[key];
    if (v === null || v === undefined || sameValue(v, DEFAULTS[key])) continue;
    pairs.push([PREFIX + key, enc[key](v)]);
  }
  const hash = formatHash({ tab: w !== window ? parsed.tab || tabName : parsed.tab, pairs });
  const url = new URL(w.location.href);
  url.hash = hash;
  if (url.href !== w.location.href) w.history.replaceState(w.history.state, "", url.href);
}

/** Keeps the URL in sync with the store (coalesced to one write per animation frame). */
export function bindUrl(store, keys = Object.keys(enc)) {
  let pending = false;
  store.subscribe((state, changed) => {
    if (![...changed].some((k) => keys.includes(k)) || pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      try { writeUrlState(store.get()); } catch (e) { /* URL is best effort */ }
    });
  });
}
