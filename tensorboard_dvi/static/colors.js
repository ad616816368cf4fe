// Colours of the tab. The class palette itself is served by the backend (catalogue.js; the
// background's own palette from background_meta wins when present, so points and regions agree).

export const CORRECT = "#43a047";
export const WRONG = "#e53935";
export const ACCENT = "#f57c00";

export function hexToRgb(hex) {
  const h = hex.replace("#", "");
  const n = parseInt(h.length === 3 ? h.split("").map((c) => c + c).join("") : h, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** n class colours as hex strings: the served palette (background_meta, else the catalogue's), cycled
 *  like the engine's background image (engine/palette.py: class c → palette[c % length]). */
export function classPalette(n, base) {
  const out = [];
  for (let i = 0; i < n; i++) out.push(base[i % base.length]);
  return out;
}
