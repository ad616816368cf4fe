// Blocks that describe one sample beyond label and prediction, shared by the tooltip and the
// selection panel: its text, its metadata columns, its tabular feature values, the top-k classes.

import { h, swatch } from "../ui.js";
import { snippet, showValue } from "../columns.js";

const MAX_FEATURES = 12;

/** The sample's text (a quoted snippet), or null without one. */
export function textBlock(text, max = 220) {
  return text === null || text === undefined ? null : h("div", { class: "dvi-tip-text", text: snippet(text, max) });
}

/** "column value" pairs as a small two-column grid, or null when empty. */
export function pairsBlock(pairs, cls = "dvi-tip-meta", max = MAX_FEATURES) {
  if (!pairs || !pairs.length) return null;
  const rows = pairs.slice(0, max).flatMap(([k, v]) => [h("span", { class: "k", text: k }), h("span", { text: showValue(v) })]);
  if (pairs.length > max) rows.push(h("span", { class: "k", text: `+${pairs.length - max} more` }), h("span"));
  return h("div", { class: cls }, rows);
}

/** Top-k classes as bars with probabilities, or null. */
export function topKBlock(topK, palette) {
  if (!topK || !topK.length) return null;
  return h("div", { class: "dvi-topk" }, topK.map((t) => h("div", { class: "dvi-topk-row" },
    swatch(palette[t.class] || "#999"), h("span", { class: "n", text: t.class_name }),
    h("span", { class: "bar" }, h("i", { style: `width:${Math.round(t.prob * 100)}%;background:${palette[t.class] || "#999"}` })),
    h("span", { class: "p", text: `${(t.prob * 100).toFixed(1)}%` }))));
}

/** Features and top-k of a `GET sample?epoch` answer, as one element. */
export function detailBlock(detail, palette) {
  const feats = detail.features ? Object.entries(detail.features) : null;
  return h("div", { class: "dvi-tip-detail" }, topKBlock(detail.top_k, palette), pairsBlock(feats, "dvi-tip-feat"));
}
