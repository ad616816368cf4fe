// Encodings: filter mask, per-point style, counts; training-dynamics signal colours, sizes, ranges.
import { test } from "node:test";
import assert from "node:assert/strict";
import { computeMask, computeStyle, countBy, countWrong, pointSizeFor, SHAPE_WRONG, SHAPE_WRONG_LIGHT, SHAPE_FADED, isNoisy } from "../../tensorboard_dvi/static/encode.js";
import { domainOf, colorize, sizesFor, rangeMask, histogram, fmt, LUT, NAN_RGB, drawOrder } from "../../tensorboard_dvi/static/signals.js";
import { useCatalogue, FALLBACK, FLAGS, signalRange } from "../../tensorboard_dvi/static/catalogue.js";

const samples = { n: 4, ids: [10, 11, 12, 13], labels: Int16Array.from([0, 1, 1, 2]), split: Uint8Array.from([0, 0, 1, 1]), noisy: Uint8Array.from([0, 1, 0, 0]) };
const proj = { predictions: Int16Array.from([0, 2, 1, 2]), flags: Uint8Array.from([0, 1 | 2, 4, 0]) };

test("filter mask: split, label, prediction, correctness, boundary, noisy, extra", () => {
  const m = (f) => Array.from(computeMask(samples, proj, f).mask);
  assert.deepEqual(m({}), [1, 1, 1, 1]);
  assert.deepEqual(m({ split: "test" }), [0, 0, 1, 1]);
  assert.deepEqual(m({ labels: [1] }), [0, 1, 1, 0]);
  assert.deepEqual(m({ preds: [2] }), [0, 1, 0, 1]);
  assert.deepEqual(m({ correct: "wrong" }), [0, 1, 0, 0]);
  assert.deepEqual(m({ correct: "correct" }), [1, 0, 1, 1]);
  assert.deepEqual(m({ boundary: true }), [0, 0, 1, 0]);
  assert.deepEqual(m({ noisy: true }), [0, 1, 0, 0]);
  assert.deepEqual(m({ extra: Uint8Array.from([1, 1, 0, 1]), split: "train" }), [1, 1, 0, 0]);
  assert.equal(computeMask(samples, null, { noisy: true }).count, 1);  // from the samples before any epoch
  assert.equal(countWrong(proj, null), 1);
  assert.equal(countWrong(proj, Uint8Array.from([1, 0, 1, 1])), 0);
  assert.ok(isNoisy(samples, null, 1) && !isNoisy(samples, proj, 3));
  assert.deepEqual(countBy(samples.labels, Uint8Array.from([1, 1, 0, 1]), 3), [1, 1, 1]);
  assert.deepEqual([pointSizeFor(100), pointSizeFor(10000), pointSizeFor(60000)], [7, 5, 3.5]);
});

test("style: palette colour per mode, misclassified ring, faded when filtered or not selected, overrides", () => {
  const palette = ["#ff0000", "#00ff00", "#0000ff"];
  const { mask } = computeMask(samples, proj, { split: "train" });
  const { color, style } = computeStyle(samples, proj, { colorMode: "prediction", palette, mask, selected: Uint8Array.from([1, 0, 0, 0]), hasSelection: true, pointSize: 5 });
  assert.deepEqual(Array.from(color.slice(0, 4)), [255, 0, 0, 235]);   // selected, correct
  assert.deepEqual(Array.from(color.slice(4, 8)), [0, 0, 255, 70]);    // predicted 2, not selected
  assert.equal(style[3], SHAPE_FADED);
  assert.equal(color[11], 28);                                         // filtered out
  const plain = computeStyle(samples, proj, { colorMode: "label", palette, mask: null, selected: null, hasSelection: false, pointSize: 5 });
  assert.equal(plain.style[3], SHAPE_WRONG);
  assert.equal(plain.style[2], 24);                                    // (5 + 1) px · 4 for a misclassified point
  const own = computeStyle(samples, proj, { colorMode: "label", palette, mask: null, hasSelection: false, colors: new Uint8Array(12).fill(9), sizes: Float32Array.from([2, 2, 2, 2]) });
  assert.deepEqual(Array.from(own.color.slice(0, 3)), [9, 9, 9]);
  assert.equal(own.style[0], 8);
  // a signal colours the map: the misclassified mark is the light one, not the dark ring
  assert.equal(own.style[3], SHAPE_WRONG_LIGHT);
  assert.equal(plain.style[3], SHAPE_WRONG);
});

test("drawOrder: missing values first, then ascending, so the strongest is drawn last (on top)", () => {
  const order = Array.from(drawOrder(Float32Array.from([0.5, NaN, 0.9, 0.1, 0.9])));
  assert.deepEqual(order, [1, 3, 0, 2, 4]);
});

test("flag bits come from the catalogue", () => {
  try {
    useCatalogue({ flags: { misclassified: 8, noisy: 2, near_boundary: 4 } });
    assert.equal(FLAGS.WRONG, 8);
    assert.equal(countWrong({ flags: Uint8Array.from([1, 8, 9]) }, null), 2);
  } finally { useCatalogue(null); }
  assert.equal(FLAGS.WRONG, FALLBACK.flags.misclassified);
});

test("a served catalogue replaces the fallback's queries and defaults; missing parts fall back", () => {
  try {
    const c = useCatalogue({ queries: [{ name: "largest_movers", label: "L", help: "", params: [{ name: "n", type: "int", default: 7 }] }],
      signals: [{ name: "conf_mean", label: "C", help: "", kind: "float", min: 0, max: 1 }, { name: "new_one", label: "N", help: "", kind: "float", min: 0 }] });
    assert.deepEqual(c.queries.map((q) => q.name), ["largest_movers"]);
    assert.equal(c.query.largest_movers.params[0].default, 7);
    assert.deepEqual(signalRange(c.signal.conf_mean), [0, 1]);   // a bounded signal is coloured on its bounds
    assert.equal(signalRange(c.signal.new_one), null);          // only a lower bound: the data decide
    assert.equal(c.palette, FALLBACK.palette);
  } finally { useCatalogue(null); }
});

test("fallback query defaults are the engine's (docs/DYNAMICS.md)", () => {
  const d = Object.fromEntries(FALLBACK.queries.flatMap((q) => q.params.filter((p) => p.type !== "choice").map((p) => [`${q.name}.${p.name}`, p.default])));
  assert.equal(d["crossed_boundary.k"], 1);
  assert.equal(d["largest_movers.n"], 100);
  assert.equal(d["stuck_near_boundary.fraction"], 0.5);
  assert.equal(d["likely_mislabelled.n"], 100);
});

test("signal domains, colours, sizes, range mask, histogram, format", () => {
  const v = Float32Array.from([0, 1, 2, 3, NaN]);
  assert.deepEqual(domainOf(v, "count"), { lo: 0, hi: 3, clipLo: false, clipHi: false, nan: 1 });
  assert.deepEqual(domainOf(v, "float", true), { lo: 0, hi: 3, nan: 1 });
  assert.deepEqual(domainOf(Float32Array.from([0.1, 0.2]), "float", false, [0, 1]).hi, 1);
  const big = Float32Array.from({ length: 1000 }, (_, i) => i);
  const dom = domainOf(big, "float");
  assert.equal(dom.lo, 0);
  assert.ok(dom.hi < 999 && dom.clipHi);
  const neg = domainOf(Float32Array.from({ length: 1000 }, (_, i) => i - 500), "float");
  assert.ok(neg.clipLo && neg.lo > -500);
  const c = colorize(v, { lo: 0, hi: 3 });
  assert.deepEqual(Array.from(c.slice(0, 3)), Array.from(LUT.slice(0, 3)));
  assert.deepEqual(Array.from(c.slice(9, 12)), Array.from(LUT.slice(255 * 3, 256 * 3)));
  assert.deepEqual(Array.from(c.slice(12, 15)), NAN_RGB);
  const s = sizesFor(v, { lo: 0, hi: 3 }, 10);
  assert.ok(Math.abs(s[0] - 4.5) < 1e-6 && Math.abs(s[3] - 20.5) < 1e-5 && Math.abs(s[4] - 4.5) < 1e-6);
  assert.deepEqual(Array.from(rangeMask(v, 1, NaN)), [0, 1, 1, 1, 0]);
  assert.deepEqual(histogram(v, { lo: 0, hi: 3 }, 3), [1, 1, 2]);
  assert.deepEqual([fmt(2.4, "count"), fmt(0.12345, "float"), fmt(12345, "float"), fmt(NaN, "float")], ["2", "0.123", "1.23e+4", "—"]);
});
