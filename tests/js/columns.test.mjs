// Pure helpers of the metadata / text features (static/columns.js) and the history text.
import { test } from "node:test";
import assert from "node:assert/strict";
import { columnKind, categories, columnColors, columnMask, numericDomain, snippet, showValue, MAX_CATEGORIES } from "../../tensorboard_dvi/static/columns.js";
import { predictionRuns } from "../../tensorboard_dvi/static/panels/history.js";

const PAL = ["#ff0000", "#00ff00", "#0000ff"];

test("column kind: numbers (nulls allowed) are numeric, anything else categorical", () => {
  assert.equal(columnKind([1, 2.5, null]), "numeric");
  assert.equal(columnKind([1, "2"]), "categorical");
  assert.equal(columnKind([null, null]), "categorical");
  assert.equal(columnKind([1, NaN]), "categorical");
});

test("categories are counted and ordered by frequency, nulls left out", () => {
  assert.deepEqual(categories(["b", "a", "b", null, 3, "3"]), [{ value: "3", count: 2 }, { value: "b", count: 2 }, { value: "a", count: 1 }]);
});

test("categorical colours: one palette colour per value, grey for missing, legend counts", () => {
  const c = columnColors(["x", "y", null, "x"], PAL);
  assert.equal(c.kind, "categorical");
  assert.deepEqual([...c.colors.slice(0, 3)], [255, 0, 0]);
  assert.deepEqual([...c.colors.slice(3, 6)], [0, 255, 0]);
  assert.deepEqual([...c.colors.slice(6, 9)], [190, 190, 190]);
  assert.deepEqual([...c.colors.slice(9, 12)], [255, 0, 0]);
  assert.deepEqual(c.legend.map((r) => [r.value, r.count]), [["x", 2], ["y", 1]]);
  assert.equal(c.other, 1);
});

test("many categories: the most frequent get colours, the rest are 'other'", () => {
  const vals = Array.from({ length: 100 }, (_, i) => `v${i % 40}`);
  const c = columnColors(vals, PAL);
  assert.equal(c.legend.length, MAX_CATEGORIES - 1);
  assert.equal(c.other, 100 - c.legend.reduce((a, r) => a + r.count, 0));
});

test("numeric colours follow the ramp from the minimum to the maximum", () => {
  const c = columnColors([0, 10, null, 5], PAL);
  assert.equal(c.kind, "numeric");
  assert.deepEqual(c.domain, { lo: 0, hi: 10 });
  assert.deepEqual([...c.colors.slice(0, 3)], [0x44, 0x01, 0x54]);  // viridis start
  assert.deepEqual([...c.colors.slice(3, 6)], [0xfd, 0xe7, 0x25]);  // viridis end
  assert.notDeepEqual([...c.colors.slice(9, 12)], [...c.colors.slice(0, 3)]);
  assert.deepEqual(numericDomain([null]), { lo: NaN, hi: NaN });
});

test("column masks: values of a categorical column, a range of a numeric one", () => {
  assert.deepEqual([...columnMask(["a", "b", null, 1], { values: ["a", "1"] })], [1, 0, 0, 1]);
  assert.deepEqual([...columnMask([1, 5, null, 9], { lo: 2, hi: 9 })], [0, 1, 0, 1]);
  assert.deepEqual([...columnMask([1, 5], { lo: NaN, hi: 3 })], [1, 0]);
});

test("snippets and shown values", () => {
  assert.equal(snippet("  a\n b  "), "a b");
  assert.equal(snippet("x".repeat(100), 10), "xxxxxxxxx…");
  assert.equal(snippet(null), "");
  assert.equal(showValue(null), "–");
  assert.equal(showValue(3), "3");
  assert.equal(showValue(0.123456), "0.1235");
});

test("prediction history as runs of epochs", () => {
  assert.equal(predictionRuns([1, 2, 3, 5], [5, 5, 3, 3], ["a", "b", "c", "three", "d", "five"]), "five at 1–2 · three at 3–5");
  assert.equal(predictionRuns([4], [0], ["zero"]), "zero at 4");
});

test("point size follows the zoom: 1 at the fitted view, √zoom, at most 3", async () => {
  const { sizeScaleFor } = await import("../../tensorboard_dvi/static/panels/zoom.js");
  assert.equal(sizeScaleFor(1), 1);
  assert.equal(sizeScaleFor(0.5), 1);
  assert.equal(sizeScaleFor(4), 2);
  assert.equal(sizeScaleFor(100), 3);
});
