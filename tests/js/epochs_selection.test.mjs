// Epoch clamping / stepping and selection merging (one definition each, used by the tab and compare).
import { test } from "node:test";
import assert from "node:assert/strict";
import { clampEpoch, stepEpoch, prefetchOrder, sortedEpochs, epochsDiffer } from "../../tensorboard_dvi/static/epochs.js";
import { mergeSelection, indicesOf, makeSamples } from "../../tensorboard_dvi/static/selection.js";

test("clampEpoch: the wanted epoch, else the closest fitted one before it, else the first", () => {
  const f = [2, 4, 7];
  assert.equal(clampEpoch(f, 4), 4);
  assert.equal(clampEpoch(f, 6), 4);
  assert.equal(clampEpoch(f, 100), 7);
  assert.equal(clampEpoch(f, 1), 2);
  assert.equal(clampEpoch(f, null), 2);
  assert.equal(clampEpoch([], 3), null);
});

test("stepEpoch stays within the fitted epochs; prefetch next, previous, next-but-one", () => {
  const f = [1, 2, 5, 9];
  assert.equal(stepEpoch(f, 2, 1), 5);
  assert.equal(stepEpoch(f, 9, 1), 9);
  assert.equal(stepEpoch(f, 1, -1), 1);
  assert.equal(stepEpoch(f, 6, 1), 9);  // between fitted epochs: from the one before
  assert.equal(stepEpoch(f, null, 1), 2);
  assert.deepEqual(prefetchOrder(f, 2), [5, 1, 9]);
  assert.deepEqual(prefetchOrder(f, 9), [5]);
  assert.deepEqual(sortedEpochs([3, 1, 2]), [1, 2, 3]);
  assert.ok(epochsDiffer([1, 2], [1, 3]) && !epochsDiffer([1, 2], [1, 2]));
});

test("selection: replace, add, toggle; ids → rows skip ids the run did not log", () => {
  assert.deepEqual(mergeSelection([1, 2], [5], "replace"), [5]);
  assert.deepEqual(mergeSelection([1, 2], [2, 3], "add"), [1, 2, 3]);
  assert.deepEqual(mergeSelection([1, 2], [2, 3], "toggle"), [1, 3]);
  assert.throws(() => mergeSelection([], [1], "xor"), /unknown selection mode "xor"/);
  const s = makeSamples({ n: 3 }, { ids: Int32Array.from([10, 20, 30]), labels: Int16Array.from([0, 1, 0]), split: Uint8Array.from([0, 0, 1]) });
  assert.equal(s.indexOf(30), 2);
  assert.equal(s.indexOf(31), -1);
  assert.equal(s.noisy, null);
  assert.deepEqual(indicesOf(s, [30, 99, 10]), [2, 0]);
});
