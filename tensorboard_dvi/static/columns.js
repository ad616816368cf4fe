// Pure helpers for per-sample metadata columns and texts (no DOM): what kind a column is, its
// colours (categorical → the class palette, numeric → the viridis ramp), a filter mask, and short
// text snippets. Tested in tests/js/columns.test.mjs.

import { hexToRgb } from "./colors.js";
import { colorize } from "./signals.js";

const MISSING_RGB = [190, 190, 190];
export const MAX_CATEGORIES = 20;

/** "numeric" when every non-null value is a finite number, else "categorical". */
export function columnKind(values) {
  let seen = 0;
  for (const v of values) {
    if (v === null || v === undefined) continue;
    if (typeof v !== "number" || !Number.isFinite(v)) return "categorical";
    seen++;
  }
  return seen ? "numeric" : "categorical";
}

/** Distinct values of a categorical column, most frequent first: [{value, count}]. */
export function categories(values) {
  const counts = new Map();
  for (const v of values) if (v !== null && v !== undefined) counts.set(String(v), (counts.get(String(v)) || 0) + 1);
  return [...counts].map(([value, count]) => ({ value, count })).sort((a, b) => b.count - a.count || (a.value < b.value ? -1 : 1));
}

/** {lo, hi} of a numeric column (nulls skipped); {lo: NaN, hi: NaN} when empty. */
export function numericDomain(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (typeof v === "number" && Number.isFinite(v)) { if (v < lo) lo = v; if (v > hi) hi = v; }
  return lo <= hi ? { lo, hi } : { lo: NaN, hi: NaN };
}

/**
 * Colours of a column (Uint8Array n*3) and its legend. Categorical: the `MAX_CATEGORIES - 1` most
 * frequent values get palette colours, the rest "other" grey; numeric: viridis over [lo, hi].
 */
export function columnColors(values, palette) {
  const n = values.length;
  if (columnKind(values) === "numeric") {
    const dom = numericDomain(values);
    const xs = Float64Array.from(values, (v) => (typeof v === "number" ? v : NaN));
    return { kind: "numeric", colors: colorize(xs, dom), domain: dom };
  }
  const cats = categories(values);
  const shown = cats.slice(0, cats.length > MAX_CATEGORIES ? MAX_CATEGORIES - 1 : MAX_CATEGORIES);
  const index = new Map(shown.map((c, i) => [c.value, i]));
  const rgb = shown.map((_, i) => hexToRgb(palette[i % palette.length]));
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const k = v === null || v === undefined ? undefined : index.get(String(v));
    out.set(k === undefined ? MISSING_RGB : rgb[k], 3 * i);
  }
  const legend = shown.map((c, i) => ({ ...c, color: palette[i % palette.length] }));
  const other = n - shown.reduce((a, c) => a + c.count, 0);  // other values and missing ones
  return { kind: "categorical", colors: out, legend, other };
}

/** 1 where the column's value passes: categorical `{values: [...]}` (as strings), numeric `{lo, hi}`. */
export function columnMask(values, spec) {
  const n = values.length;
  const mask = new Uint8Array(n);
  if (spec.values) {
    const want = new Set(spec.values.map(String));
    for (let i = 0; i < n; i++) mask[i] = values[i] !== null && values[i] !== undefined && want.has(String(values[i])) ? 1 : 0;
  } else {
    const lo = Number.isFinite(spec.lo) ? spec.lo : -Infinity, hi = Number.isFinite(spec.hi) ? spec.hi : Infinity;
    for (let i = 0; i < n; i++) { const v = values[i]; mask[i] = typeof v === "number" && v >= lo && v <= hi ? 1 : 0; }
  }
  return mask;
}

/** The first `max` characters of a text on one line, with an ellipsis when cut. */
export function snippet(text, max = 80) {
  if (text === null || text === undefined) return "";
  const one = String(text).replace(/\s+/g, " ").trim();
  return one.length > max ? one.slice(0, max - 1) + "…" : one;
}

/** A value as shown in a tooltip: numbers with at most 4 significant digits, null as "–". */
export function showValue(v) {
  if (v === null || v === undefined) return "–";
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : Number(v.toPrecision(4)).toString();
  return String(v);
}
