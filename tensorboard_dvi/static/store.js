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
// hash is used instead. Back, forward and an edited hash do fire hashchange: followUrl() reads the
// new hash into the store (keys it lacks go back to their defaults), like TensorBoard's dashboards.

import { DEFAULTS, sameValue, parseHash, formatHash, decodeState, encodeState, URL_KEYS, stateFromHash } from "./urlstate.js";

export { DEFAULTS };

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
// The real URL: TensorBoard's top-level hash when the tab is inside its iframe, else our own.

function hashWindow() {
  try {
    if (window.parent && window.parent !== window && window.parent.location.href) return window.parent;
  } catch (e) { /* cross-origin parent: fall back to our own URL */ }
  return window;
}

/** Reads the state stored in the URL (only the keys present). */
export function readUrlState() {
  return decodeState(parseHash(hashWindow().location.hash).pairs);
}

/** Writes the non-default parts of the state into the URL (replaceState, no history entry). */
export function writeUrlState(state, tabName = "dvi") {
  const w = hashWindow();
  const parsed = parseHash(w.location.hash);
  // Another TensorBoard tab is active (our iframe may be kept alive hidden): leave its URL alone.
  if (w !== window && parsed.tab && parsed.tab !== tabName) return;
  const hash = formatHash({ tab: w !== window ? parsed.tab || tabName : parsed.tab, pairs: encodeState(state, parsed.pairs) });
  const url = new URL(w.location.href);
  url.hash = hash;
  if (url.href !== w.location.href) w.history.replaceState(w.history.state, "", url.href);
}

/** Keeps the URL in sync with the store (coalesced to one write per animation frame). */
export function bindUrl(store, keys = URL_KEYS) {
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

/** Follows back / forward / an edited hash: the store takes the URL's state (our own writes use
 *  replaceState, which fires no hashchange). Another TensorBoard tab's hash is left alone. */
export function followUrl(store, keys = URL_KEYS) {
  const w = hashWindow();
  const onChange = () => {
    const patch = stateFromHash(w.location.hash, keys, w !== window ? "dvi" : null);
    if (patch) store.set(patch);
  };
  w.addEventListener("hashchange", onChange);
  return () => w.removeEventListener("hashchange", onChange);
}
