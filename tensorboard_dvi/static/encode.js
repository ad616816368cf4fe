// Visual encoding of samples: which points are visible (filters) and how they look
// (colour, size, shape). Pure functions over typed arrays, shared by every map view; the flag bits
// come from the backend's catalogue (catalogue.js). Tested in tests/js/encode.test.mjs.

import { hexToRgb, CORRECT, WRONG } from "./colors.js";
import { FLAGS } from "./catalogue.js";

// Shape codes understood by the point shader.
export const SHAPE_DISC = 0;
export const SHAPE_WRONG = 1; // misclassified: dark ring
export const SHAPE_FADED = 2; // filtered out / not selected: no rim
export const SHAPE_WRONG_LIGHT = 4; // misclassified while a signal colours the map: thin light ring

/**
 * Filter spec: {split: "all"|"train"|"test", labels: number[], preds: number[],
 * correct: "all"|"correct"|"wrong", boundary: bool, noisy: bool}. Empty lists mean "all".
 * Returns a Uint8Array mask (1 = passes) and the number passing.
 */
export function computeMask(samples, proj, f, out = null) {
  const n = samples.n;
  const mask = out && out.length === n ? out : new Uint8Array(n);
  const split = f.split === "train" ? 0 : f.split === "test" ? 1 : -1;
  const labels = f.labels && f.labels.length ? new Set(f.labels) : null;
  const preds = f.preds && f.preds.length ? new Set(f.preds) : null;
  const wantWrong = f.correct === "wrong" ? 1 : f.correct === "correct" ? 0 : -1;
  const flags = proj ? proj.flags : null;
  const predictions = proj ? proj.predictions : null;
  const noisy = samples.noisy;
  const extra = f.extra && f.extra.length === n ? f.extra : null;  // e.g. a training-dynamics range
  let count = 0;
  for (let i = 0; i < n; i++) {
    let ok = 1;
    if (split >= 0 && samples.split[i] !== split) ok = 0;
    else if (labels && !labels.has(samples.labels[i])) ok = 0;
    else if (preds && predictions && !preds.has(predictions[i])) ok = 0;
    else if (flags) {
      const fl = flags[i];
      if (wantWrong >= 0 && ((fl & FLAGS.WRONG) ? 1 : 0) !== wantWrong) ok = 0;
      else if (f.boundary && !(fl & FLAGS.BOUNDARY)) ok = 0;
      else if (f.noisy && !((fl & FLAGS.NOISY) || (noisy && noisy[i]))) ok = 0;
    } else if (f.noisy && !(noisy && noisy[i])) ok = 0;
    if (extra && !extra[i]) ok = 0;
    mask[i] = ok;
    count += ok;
  }
  return { mask, count };
}

/**
 * Per-point RGBA (Uint8Array n*4) and style (Uint8Array n*2: size in quarter pixels, shape).
 * colorMode: "label" | "prediction" | "correct". selected: Uint8Array|null (1 = selected).
 * colors (Uint8Array n*3 RGB) / sizes (Float32Array n, CSS px) override the colour / size per point
 * (training dynamics: colour or size by a signal); misclassified points then get a thin light ring
 * (SHAPE_WRONG_LIGHT) instead of the dark one, which would hide the signal's colour.
 */
export function computeStyle(samples, proj, { colorMode, palette, mask, selected, hasSelection, pointSize = 5, colors = null, sizes = null },
  outColor = null, outStyle = null) {
  const n = samples.n;
  const color = outColor && outColor.length === n * 4 ? outColor : new Uint8Array(n * 4);
  const style = outStyle && outStyle.length === n * 2 ? outStyle : new Uint8Array(n * 2);
  const rgb = palette.map(hexToRgb);
  const ok = hexToRgb(CORRECT);
  const bad = hexToRgb(WRONG);
  const grey = [150, 150, 150];
  const labels = samples.labels;
  const preds = proj ? proj.predictions : null;
  const flags = proj ? proj.flags : null;
  const size = Math.round(pointSize * 4);
  const sizeWrong = Math.round((pointSize + 1) * 4);
  const useColors = !!colors && colors.length === n * 3, useSizes = !!sizes && sizes.length === n;
  const own = [0, 0, 0];
  for (let i = 0; i < n; i++) {
    const wrong = flags ? (flags[i] & FLAGS.WRONG) !== 0 : false;
    let c;
    if (colorMode === "prediction" && preds) c = rgb[preds[i]] || grey;
    else if (colorMode === "correct") c = flags ? (wrong ? bad : ok) : grey;
    else c = rgb[labels[i]] || grey;
    if (useColors) { c = own; own[0] = colors[3 * i]; own[1] = colors[3 * i + 1]; own[2] = colors[3 * i + 2]; }
    let a = 235;
    let shape = wrong ? (useColors ? SHAPE_WRONG_LIGHT : SHAPE_WRONG) : SHAPE_DISC;
    let sz = wrong ? sizeWrong : size;
    if (useSizes) sz = Math.round((sizes[i] + (wrong ? 1 : 0)) * 4);
    if (mask && !mask[i]) {
      c = [190, 190, 190];
      a = 28;
      shape = SHAPE_FADED;
      sz = Math.max(4, size - 4);
    } else if (hasSelection && !(selected && selected[i])) {
      a = 70;
      shape = SHAPE_FADED;
    }
    const j = i * 4;
    color[j] = c[0]; color[j + 1] = c[1]; color[j + 2] = c[2]; color[j + 3] = a;
    style[i * 2] = Math.min(255, sz);
    style[i * 2 + 1] = shape;
  }
  return { color, style };
}

/** Counts of visible samples per class for the legend (by label or by prediction). */
export function countBy(values, mask, numClasses) {
  const counts = new Array(numClasses).fill(0);
  for (let i = 0; i < values.length; i++) if (!mask || mask[i]) counts[values[i]]++;
  return counts;
}

/** Whether sample i is misclassified / near the boundary / noisy at this epoch (noisy also from the samples). */
export function isWrong(proj, i) { return (proj.flags[i] & FLAGS.WRONG) !== 0; }
export function isNearBoundary(proj, i) { return (proj.flags[i] & FLAGS.BOUNDARY) !== 0; }
export function isNoisy(samples, proj, i) { return ((proj && (proj.flags[i] & FLAGS.NOISY)) || (samples.noisy && samples.noisy[i])) ? true : false; }

/** Number of visible (mask) misclassified samples. */
export function countWrong(proj, mask) {
  let wrong = 0;
  if (proj) for (let i = 0; i < proj.flags.length; i++) if ((!mask || mask[i]) && (proj.flags[i] & FLAGS.WRONG)) wrong++;
  return wrong;
}

/** Point size in CSS px for a map of n samples (dense maps get smaller points). */
export function pointSizeFor(n) { return n <= 3000 ? 7 : n <= 20000 ? 5 : 3.5; }
