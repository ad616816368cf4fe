// Class palette. The background image uses a fixed palette per class too; when the backend
// reports it (background_meta.palette) the map uses that one so points and regions agree.

export const TAB10 = [
  "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf",
];
const TAB20_EXTRA = [
  "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5",
  "#c49c94", "#f7b6d2", "#c7c7c7", "#dbdb8d", "#9edae5",
];

export const CORRECT = "#43a047";
export const WRONG = "#e53935";
export const ACCENT = "#f57c00";

export function hexToRgb(hex) {
  const h = hex.replace("#", "");
  const n = parseInt(h.length === 3 ? h.split("").map((c) => c + c).join("") : h, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function hsl(h, s, l) {
  const a = s * Math.min(l, 1 - l);
  const f = (n) => {
    const k = (n + h / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return "#" + [f(0), f(8), f(4)].map((v) => v.toString(16).padStart(2, "0")).join("");
}

/** n class colours as hex strings: tab10, then tab20's light half, then golden-angle hues. */
export function classPalette(n, given = null) {
  const out = [];
  for (let i = 0; i < n; i++) {
    if (given && given[i]) out.push(given[i]);
    else if (i < 10) out.push(TAB10[i]);
    else if (i < 20) out.push(TAB20_EXTRA[i - 10]);
    else out.push(hsl((i * 137.508) % 360, 0.55, 0.5));
  }
  return out;
}
