// URL codecs: TensorBoard's hash format, every key's round trip, defaults left out, bad values dropped.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DEFAULTS, parseHash, formatHash, decodeState, encodeState, parseQuery, formatQuery, parseRange, stateFromHash } from "../../tensorboard_dvi/static/urlstate.js";

test("hash: tab and pairs, foreign keys kept", () => {
  const p = parseHash("#dvi&dvi.run=a%2Fb&other=1&dvi.epoch=5");
  assert.equal(p.tab, "dvi");
  assert.deepEqual(p.pairs, [["dvi.run", "a/b"], ["other", "1"], ["dvi.epoch", "5"]]);
  assert.equal(formatHash(p), "dvi&dvi.run=a%2Fb&other=1&dvi.epoch=5");
  const out = encodeState({ ...DEFAULTS, run: "x" }, p.pairs);
  assert.deepEqual(out, [["other", "1"], ["dvi.run", "x"]]);
});

test("every non-default value survives encode → decode", () => {
  const state = {
    ...DEFAULTS, run: "noisy/labels-20", epoch: 7, color: "correct", split: "test", bg: false, sel: [3, 1, 2],
    fl: [4], fp: [1, 2], fc: "wrong", fb: true, fn: true, trails: false, tdrift: true, dyn: true, colorby: "signal:conf_mean",
    sizeby: "signal:forgetting", dfilter: "conf_mean:0.1:", query: "likely_mislabelled:n=30;split=train",
    compare: ["a,b", "c"], lock: false, align: "none", cdiff: "flip", ceps: [2, null, 4], cmat: "c",
  };
  const pairs = encodeState(state);
  const text = formatHash({ tab: "dvi", pairs });
  const back = decodeState(parseHash("#" + text).pairs);
  for (const [k, v] of Object.entries(state)) if (k in back || v !== DEFAULTS[k]) assert.deepEqual(back[k], v, k);
  assert.deepEqual(encodeState(DEFAULTS), []);  // defaults are not written
});

test("values that do not parse are dropped, not guessed", () => {
  const back = decodeState([["dvi.color", "purple"], ["dvi.epoch", "-1"], ["dvi.colorby", "signal:x;y"], ["dvi.unknown", "1"], ["run", "x"]]);
  assert.deepEqual(back, {});
  assert.deepEqual(decodeState([["dvi.sel", "1,,x,3"]]).sel, [1, 3]);
});

test("at most 500 selected ids go into the URL", () => {
  const sel = Array.from({ length: 800 }, (_, i) => i);
  const [[, v]] = encodeState({ ...DEFAULTS, sel });
  assert.equal(v.split(",").length, 500);
});

test("query and range values", () => {
  assert.deepEqual(parseQuery("largest_movers:n=5;split=test"), { query: "largest_movers", params: { n: "5", split: "test" } });
  assert.equal(parseQuery("nope:n=1", new Set(["largest_movers"])), null);
  assert.equal(formatQuery("q", { n: 3, k: "", split: null }), "q:n=3");
  assert.equal(formatQuery("q", {}), "q");
  const r = parseRange("conf_mean::0.5");
  assert.equal(r.signal, "conf_mean");
  assert.ok(Number.isNaN(r.lo));
  assert.equal(r.hi, 0.5);
  assert.equal(parseRange("x:1:2", new Set(["conf_mean"])), null);
});

test("stateFromHash: an edited / back-navigated hash becomes a full store patch", () => {
  const p = stateFromHash("#dvi&dvi.run=noisy&dvi.epoch=8&other=1", ["run", "epoch", "color", "sel"], "dvi");
  assert.deepEqual(p, { run: "noisy", epoch: 8, color: DEFAULTS.color, sel: [] });
  // keys the hash lacks go back to their defaults (the user removed them)
  assert.equal(stateFromHash("#dvi").epoch, null);
  // another TensorBoard tab's hash is not ours to follow
  assert.equal(stateFromHash("#scalars&dvi.epoch=3", ["epoch"], "dvi"), null);
  assert.deepEqual(stateFromHash("#scalars&dvi.epoch=3", ["epoch"], null), { epoch: 3 });
});
