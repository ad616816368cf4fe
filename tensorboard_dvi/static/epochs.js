// Epoch arithmetic shared by the single-run tab and "Compare runs": which fitted epoch to show
// for a wanted one, stepping, prefetch order. Pure (tests/js/epochs.test.mjs).

/** The epoch to show for a wanted one: the wanted epoch, else the closest fitted before it, else the first. */
export function clampEpoch(fitted, want) {
  if (!fitted.length) return null;
  if (want === null || want === undefined) return fitted[0];
  if (fitted.includes(want)) return want;
  let best = null;
  for (const e of fitted) if (e <= want && (best === null || e > best)) best = e;
  return best === null ? fitted[0] : best;
}

/** The fitted epoch d steps from `current` (clamped to the ends; an unknown current counts as the first). */
export function stepEpoch(fitted, current, d) {
  if (!fitted.length) return null;
  let i = fitted.indexOf(current);
  if (i < 0) i = current === null || current === undefined ? 0 : Math.max(0, fitted.filter((e) => e <= current).length - 1);
  return fitted[Math.max(0, Math.min(fitted.length - 1, i + d))];
}

/** Epochs worth prefetching after showing `epoch`: next, previous, next-but-one (those that exist). */
export function prefetchOrder(fitted, epoch) {
  const i = fitted.indexOf(epoch);
  if (i < 0) return [];
  return [i + 1, i - 1, i + 2].filter((j) => j >= 0 && j < fitted.length).map((j) => fitted[j]);
}

/** Sorted copy of a list of epochs (the server does not promise an order). */
export function sortedEpochs(list) { return (list || []).slice().sort((a, b) => a - b); }

/** Whether two sorted epoch lists differ. */
export function epochsDiffer(a, b) { return a.length !== b.length || a.some((e, i) => e !== b[i]); }
