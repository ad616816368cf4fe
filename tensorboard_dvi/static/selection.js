// The selection is a list of sample ids (store key `sel`); views select by row index. These are
// the only places that translate and merge them (tests/js/selection.test.mjs).

/** New id list after a pick of `ids` with mode "replace" | "add" | "toggle". */
export function mergeSelection(current, ids, mode) {
  if (mode === "replace") return Array.from(ids);
  const set = new Set(current);
  if (mode === "add") for (const id of ids) set.add(id);
  else if (mode === "toggle") for (const id of ids) (set.has(id) ? set.delete(id) : set.add(id));
  else throw new Error(`unknown selection mode "${mode}"`);
  return [...set];
}

/** Row indices of the ids present in `samples` (ids not logged in this run are skipped). */
export function indicesOf(samples, ids) {
  const out = [];
  if (!samples) return out;
  for (const id of ids) {
    const i = samples.indexOf(id);
    if (i >= 0) out.push(i);
  }
  return out;
}

/** {n, ids, labels, split, noisy, indexOf} from the arrays of GET samples. */
export function makeSamples(header, arrays) {
  const n = header.n;
  const ids = arrays.ids;
  const index = new Map();
  for (let i = 0; i < n; i++) index.set(ids[i], i);
  return {
    n, ids, labels: arrays.labels, split: arrays.split, noisy: arrays.noisy || null,
    indexOf: (id) => (index.has(id) ? index.get(id) : -1),
  };
}
