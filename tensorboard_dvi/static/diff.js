// The difference computation of "Compare runs" (docs/COMPARE.md): pairs of rows by sample id,
// agreement / disagreement, one-sided flips and the agreement matrix between a reference run and
// the others. Pure (tests/js/diff.test.mjs); compare_side.js draws the result.

/** Rows of the ids both runs logged: {ia, ib (Int32Array), n, onlyA, onlyB}; A, B: {n, ids, indexOf}. */
export function pairByIds(A, B) {
  const ia = [], ib = [];
  for (let j = 0; j < B.n; j++) {
    const i = A.indexOf(B.ids[j]);
    if (i >= 0) { ia.push(i); ib.push(j); }
  }
  return { ia: Int32Array.from(ia), ib: Int32Array.from(ib), n: ia.length, onlyA: A.n - ia.length, onlyB: B.n - ia.length };
}

/**
 * ref: {n, predictions, prev (predictions at the previous fitted epoch, or null)};
 * others: [{n, predictions, prev, pairs (pairByIds(refSamples, its samples))}]; C: number of classes.
 * Returns {pairs: [{n, agree, disagree, flipA, flipB, flipBoth, matrix (C×C, rows: reference), hasPrev}],
 * disagreeMasks, flipMasks} with one mask per run (reference first; 1 = differs / flipped in one run only).
 */
export function compareRuns(ref, others, C) {
  const disagreeMasks = [new Uint8Array(ref.n), ...others.map((o) => new Uint8Array(o.n))];
  const flipMasks = [new Uint8Array(ref.n), ...others.map((o) => new Uint8Array(o.n))];
  const pa = ref.predictions, prevA = ref.prev;
  const pairs = others.map((o, j) => {
    const pr = o.pairs, pb = o.predictions, prevB = o.prev;
    const matrix = Array.from({ length: C }, () => new Array(C).fill(0));
    let agree = 0, flipA = 0, flipB = 0, flipBoth = 0;
    const dm = disagreeMasks[j + 1], fm = flipMasks[j + 1];
    for (let k = 0; k < pr.n; k++) {
      const i = pr.ia[k], q = pr.ib[k];
      const a = pa[i], b = pb[q];
      matrix[a][b]++;
      if (a === b) agree++;
      else { dm[q] = 1; disagreeMasks[0][i] = 1; }
      const fa = prevA ? prevA[i] !== a : false, fb = prevB ? prevB[q] !== b : false;
      if (fa && fb) flipBoth++;
      else if (fa || fb) {
        if (fa) flipA++; else flipB++;
        fm[q] = 1; flipMasks[0][i] = 1;
      }
    }
    return { n: pr.n, agree, disagree: pr.n - agree, flipA, flipB, flipBoth, matrix, hasPrev: !!(prevA && prevB) };
  });
  return { pairs, disagreeMasks, flipMasks };
}

/** Reference rows of the pairs for which test(predA, predB, rowA, rowB) holds. */
export function selectPairs(pairs, pa, pb, test) {
  const out = [];
  for (let k = 0; k < pairs.n; k++) if (test(pa[pairs.ia[k]], pb[pairs.ib[k]], pairs.ia[k], pairs.ib[k])) out.push(pairs.ia[k]);
  return out;
}
