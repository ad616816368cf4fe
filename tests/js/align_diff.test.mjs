// Procrustes alignment and the compare difference computation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { procrustes, applySimilarity, applyPoint, alignTrajectories, warpGeometry, extent, unionBounds } from "../../tensorboard_dvi/static/align.js";
import { pairByIds, compareRuns, selectPairs } from "../../tensorboard_dvi/static/diff.js";

function randomCloud(n, seed) {
  let x = seed;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  return Float32Array.from({ length: 2 * n }, rnd);
}
const idx = (n) => Int32Array.from({ length: n }, (_, i) => i);

for (const reflect of [false, true]) {
  test(`procrustes recovers a known similarity (${reflect ? "reflection" : "rotation"})`, () => {
    const B = randomCloud(50, 7);
    const th = 0.7, s = 2.5, c = Math.cos(th), sn = Math.sin(th);
    const R = reflect ? [c, sn, sn, -c] : [c, -sn, sn, c];
    const T = { m: R.map((v) => v * s), t: [3, -1] };
    const A = applySimilarity(T, B);
    const fit = procrustes(A, B, idx(50), idx(50));
    assert.equal(fit.reflect, reflect);
    assert.ok(Math.abs(fit.s - s) < 1e-4, fit.s);
    for (let k = 0; k < 4; k++) assert.ok(Math.abs(fit.m[k] - T.m[k]) < 1e-4);
    assert.ok(Math.abs(fit.t[0] - 3) < 1e-4 && Math.abs(fit.t[1] + 1) < 1e-4);
    assert.ok(fit.rel < 1e-4, fit.rel);
    const back = applySimilarity(fit, B);
    for (let i = 0; i < A.length; i++) assert.ok(Math.abs(back[i] - A[i]) < 1e-3);
  });
}

test("procrustes uses only the paired rows and reports its residual", () => {
  const B = randomCloud(20, 3);
  const A = new Float32Array(40);
  // A's row i is B's row 19 - i shifted by (1, 1)
  for (let i = 0; i < 20; i++) { A[2 * i] = B[2 * (19 - i)] + 1; A[2 * i + 1] = B[2 * (19 - i) + 1] + 1; }
  const ia = idx(20), ib = Int32Array.from({ length: 20 }, (_, i) => 19 - i);
  const fit = procrustes(A, B, ia, ib);
  assert.ok(Math.abs(fit.s - 1) < 1e-5 && Math.abs(fit.angle) < 1e-3 && fit.rms < 1e-5);
  const noisy = Float32Array.from(A, (v, i) => v + (i % 3 ? 0.05 : -0.05));
  assert.ok(procrustes(noisy, B, ia, ib).rms > 0.01);
  assert.equal(procrustes(A, B, ia.slice(0, 2), ib.slice(0, 2)).identity, true);
});

test("trajectories and background bounds follow the same transform", () => {
  const T = { m: [0, -2, 2, 0], t: [1, 0] };  // rotate 90°, scale 2, shift
  assert.deepEqual(applyPoint(T, 1, 0), [1, 2]);
  assert.deepEqual(alignTrajectories([[[1, 0], null]], [T, T]), [[[1, 2], null]]);
  assert.deepEqual(alignTrajectories([[[1, 0]]], [{ ...T, identity: true }]), [[[1, 0]]]);
  const g = warpGeometry([0, 0, 2, 1], 200, 100, T);
  assert.deepEqual(g.bounds, [-1, 0, 1, 4]);
  assert.equal(g.width, 300);
  assert.equal(g.height, 600);
  assert.deepEqual(extent(Float32Array.from([1, 5, -2, 3])), [-2, 3, 1, 5]);
  assert.deepEqual(extent(new Float32Array(0)), [-1, -1, 1, 1]);
  assert.deepEqual(unionBounds([[0, 0, 1, 1], null, [-1, 0.5, 0.5, 3]]), [-1, 0, 1, 3]);
  assert.equal(unionBounds([null]), null);
});

const samples = (ids) => ({ n: ids.length, ids, indexOf: (id) => ids.indexOf(id) });

test("pairs by id, agreement, disagreement masks and the matrix", () => {
  const A = samples([1, 2, 3, 4]), B = samples([4, 3, 9, 1]);
  const pr = pairByIds(A, B);
  assert.equal(pr.n, 3);
  assert.equal(pr.onlyA, 1);
  assert.equal(pr.onlyB, 1);
  const pa = Int16Array.from([0, 1, 1, 2]);   // ids 1, 2, 3, 4
  const pb = Int16Array.from([2, 0, 1, 1]);   // ids 4, 3, 9, 1
  const d = compareRuns({ n: 4, predictions: pa, prev: null }, [{ n: 4, predictions: pb, prev: null, pairs: pr }], 3);
  const r = d.pairs[0];
  // id 4: 2 vs 2 agree; id 3: 1 vs 0 differ; id 1: 0 vs 1 differ
  assert.equal(r.agree, 1);
  assert.equal(r.disagree, 2);
  assert.equal(r.matrix[2][2], 1);
  assert.equal(r.matrix[1][0], 1);
  assert.equal(r.matrix[0][1], 1);
  assert.equal(r.hasPrev, false);
  assert.deepEqual(Array.from(d.disagreeMasks[0]), [1, 0, 1, 0]);
  assert.deepEqual(Array.from(d.disagreeMasks[1]), [0, 1, 0, 1]);  // B rows of ids 3 and 1
  assert.deepEqual(selectPairs(pr, pa, pb, (a, b) => a !== b).map((i) => A.ids[i]).sort(), [1, 3]);
});

test("flips in one run only, in both", () => {
  const A = samples([1, 2, 3]), B = samples([1, 2, 3]);
  const pr = pairByIds(A, B);
  const d = compareRuns(
    { n: 3, predictions: Int16Array.from([1, 1, 0]), prev: Int16Array.from([0, 1, 1]) },
    [{ n: 3, predictions: Int16Array.from([1, 0, 0]), prev: Int16Array.from([1, 1, 1]), pairs: pr }], 2);
  const r = d.pairs[0];
  // id 1: flipped in A only; id 2: flipped in B only; id 3: flipped in both
  assert.deepEqual([r.flipA, r.flipB, r.flipBoth, r.hasPrev], [1, 1, 1, true]);
  assert.deepEqual(Array.from(d.flipMasks[0]), [1, 1, 0]);
  assert.deepEqual(Array.from(d.flipMasks[1]), [1, 1, 0]);
});

test("robustProcrustes aligns the part of the maps that agrees (30 % moved elsewhere)", async () => {
  const { robustProcrustes } = await import("../../tensorboard_dvi/static/align.js");
  const n = 200, B = new Float32Array(2 * n), A = new Float32Array(2 * n);
  let seed = 7; const rnd = () => ((seed = (seed * 16807) % 2147483647) / 2147483647);
  const th = 0.8, s = 1.7, c = Math.cos(th), sn = Math.sin(th);
  for (let i = 0; i < n; i++) {
    const x = rnd() * 10 - 5, y = rnd() * 10 - 5;
    B[2 * i] = x; B[2 * i + 1] = y;
    A[2 * i] = s * (c * x - sn * y) + 3; A[2 * i + 1] = s * (sn * x + c * y) - 2;
    if (i % 10 < 3) { A[2 * i] = rnd() * 40 - 20; A[2 * i + 1] = rnd() * 40 - 20; }  // a region laid out differently
  }
  const idx = Array.from({ length: n }, (_, i) => i);
  const plain = procrustes(A, B, idx, idx), robust = robustProcrustes(A, B, idx, idx);
  assert.ok(Math.abs(robust.s - s) < 1e-3 && Math.abs(robust.t[0] - 3) < 1e-3 && Math.abs(robust.t[1] + 2) < 1e-3, JSON.stringify(robust));
  assert.ok(Math.abs(plain.s - s) > 0.05);  // the plain fit is pulled off by the moved region
  assert.ok(robust.med < 1e-4 && robust.plainMed > 0.05, `${robust.med} ${robust.plainMed}`);
  assert.equal(robust.kept, 140);
  assert.equal(robustProcrustes(A, B, idx.slice(0, 2), idx.slice(0, 2)).identity, true);
});
